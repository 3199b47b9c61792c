//! A second, independent parser: RustCrypto's `cms` and `x509-cert` read
//! every signature of the real-signature corpus (tests/fixtures/CORPUS.md)
//! and our own, and must agree with the hand-written parser the verifier
//! uses (src/pki/cms.rs, src/pki/x509.rs) on what matters: the signer's
//! certificate bytes, the signed attributes, messageDigest, signingTime,
//! serial, issuer, validity, the extensions, the SANs and Fulcio's issuer
//! claim. Where the two must differ (BER input, signed attributes stored
//! out of DER order) the test pins that they do, and why the verifier
//! hashes the attributes as encoded.

mod common;

use common::{fixtures, manifest, Testbed};

use cms::cert::CertificateChoices;
use cms::content_info::ContentInfo;
use cms::signed_data::{SignedData as CrateSignedData, SignerIdentifier};
use x509_cert::der::asn1::{OctetString, Utf8StringRef};
use x509_cert::der::{Decode, Encode};
use x509_cert::ext::pkix::name::GeneralName as CrateName;
use x509_cert::ext::pkix::SubjectAltName;

use gitsign::config::RekorMode;
use gitsign::encoding::{asn1, oid};
use gitsign::git::gitobj::{self, HashAlgo, ObjectKind};
use gitsign::pki::claims::Claims;
use gitsign::pki::cms::{self as gcms, SignedData};
use gitsign::pki::crypto::{self, Hash, SigScheme};
use gitsign::pki::x509::{Certificate, GeneralName};

/// Every distinct signature of the corpus that unarmors: (label, DER).
fn corpus_signatures() -> Vec<(String, Vec<u8>)> {
    let mut seen = std::collections::BTreeSet::new();
    let mut out = Vec::new();
    for e in manifest() {
        let file = e["file"].as_str().unwrap().to_string();
        if !seen.insert(file.clone()) {
            continue;
        }
        let data = std::fs::read(fixtures().join(&file)).unwrap();
        let kind = if e["objectType"] == "tag" {
            ObjectKind::Tag
        } else {
            ObjectKind::Commit
        };
        let Ok(Some(s)) = gitobj::split(&data, kind, HashAlgo::Sha1) else {
            continue;
        };
        if let Ok(der) = gcms::unarmor(&s.signature) {
            out.push((e["label"].as_str().unwrap().to_string(), der));
        }
    }
    out
}

/// An attribute as one DER element, from our parser's view of it.
fn our_attribute(a: &gcms::Attribute) -> Vec<u8> {
    let vals: Vec<&[u8]> = a.values.iter().map(Vec::as_slice).collect();
    asn1::encode_parts(
        asn1::tag::SEQUENCE,
        &[
            &asn1::encode(asn1::tag::OID, &a.oid),
            &asn1::encode_parts(asn1::tag::SET, &vals),
        ],
    )
}

fn sorted(mut v: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    v.sort();
    v
}

/// The identities the crate reads from a certificate's subjectAltName,
/// as our [`GeneralName::identity`] gives them.
fn crate_identities(c: &x509_cert::Certificate) -> Vec<String> {
    let Some(exts) = &c.tbs_certificate.extensions else {
        return Vec::new();
    };
    let Some(san) = exts
        .iter()
        .find(|e| e.extn_id.as_bytes() == oid::SUBJECT_ALT_NAME)
    else {
        return Vec::new();
    };
    let san = SubjectAltName::from_der(san.extn_value.as_bytes()).unwrap();
    san.0
        .iter()
        .filter_map(|n| match n {
            CrateName::Rfc822Name(s) | CrateName::DnsName(s) => Some(s.to_string()),
            CrateName::UniformResourceIdentifier(s) => Some(s.to_string()),
            CrateName::IpAddress(ip) if ip.as_bytes().len() == 4 => Some(
                std::net::Ipv4Addr::from(<[u8; 4]>::try_from(ip.as_bytes()).unwrap()).to_string(),
            ),
            CrateName::OtherName(o) => Some(
                o.value
                    .decode_as::<Utf8StringRef<'_>>()
                    .unwrap()
                    .to_string(),
            ),
            _ => None,
        })
        .collect()
}

/// Fulcio's OIDC issuer claim as the crate reads it: extension .8 (a DER
/// UTF8String), else the legacy .1 (raw bytes).
fn crate_oidc_issuer(c: &x509_cert::Certificate) -> Option<String> {
    let exts = c.tbs_certificate.extensions.as_ref()?;
    let ext = |last: u8| {
        let mut id = oid::FULCIO_PREFIX.to_vec();
        id.push(last);
        exts.iter()
            .find(|e| e.extn_id.as_bytes() == id.as_slice())
            .map(|e| e.extn_value.as_bytes().to_vec())
    };
    if let Some(v) = ext(8) {
        return Some(Utf8StringRef::from_der(&v).unwrap().to_string());
    }
    ext(1).map(|v| String::from_utf8(v).unwrap())
}

/// One certificate through both parsers: `x509-cert` must read the same
/// serial, names, key, validity, extensions and SANs. Returns whether
/// its re-encoding is byte-identical (what embedding it in a signature
/// through the crate needs).
fn certificate_agrees(label: &str, ours: &Certificate) -> bool {
    let c = x509_cert::Certificate::from_der(ours.der())
        .unwrap_or_else(|e| panic!("{label}: x509-cert cannot read the certificate: {e}"));
    let tbs = &c.tbs_certificate;
    assert_eq!(tbs.serial_number.as_bytes(), ours.serial(), "{label}");
    assert_eq!(tbs.issuer.to_der().unwrap(), ours.issuer(), "{label}");
    assert_eq!(tbs.subject.to_der().unwrap(), ours.subject(), "{label}");
    assert_eq!(
        tbs.subject_public_key_info.to_der().unwrap(),
        ours.spki(),
        "{label}"
    );
    assert_eq!(
        tbs.validity.not_before.to_unix_duration().as_secs() as i64,
        ours.not_before,
        "{label}"
    );
    assert_eq!(
        tbs.validity.not_after.to_unix_duration().as_secs() as i64,
        ours.not_after,
        "{label}"
    );
    let theirs: Vec<(Vec<u8>, bool, Vec<u8>)> = tbs
        .extensions
        .iter()
        .flatten()
        .map(|e| {
            (
                e.extn_id.as_bytes().to_vec(),
                e.critical,
                e.extn_value.as_bytes().to_vec(),
            )
        })
        .collect();
    let mine: Vec<(Vec<u8>, bool, Vec<u8>)> = ours
        .extensions()
        .map(|(o, c, v)| (o.to_vec(), c, v.to_vec()))
        .collect();
    assert_eq!(theirs, mine, "{label}: extensions");
    let identities: Vec<String> = ours
        .subject_alt_names()
        .unwrap()
        .iter()
        .filter_map(GeneralName::identity)
        .collect();
    assert_eq!(crate_identities(&c), identities, "{label}: SANs");
    if let Ok(claims) = Claims::from_certificate(ours) {
        assert_eq!(crate_oidc_issuer(&c), claims.issuer, "{label}: OIDC issuer");
    }
    c.to_der().unwrap() == ours.der()
}

/// What the comparison of one signature found.
#[derive(Default, Debug)]
struct Found {
    /// The crate re-encodes the signed attributes to other bytes (it
    /// sorts them): they were stored out of DER order.
    resorted_signed_attrs: bool,
    /// Certificates whose re-encoding by x509-cert is byte-identical.
    certs_identical: usize,
    certs: usize,
}

/// Our parser's and the crate's views of one DER signature, compared.
fn signature_agrees(label: &str, ours: &SignedData, der: &[u8]) -> Found {
    let ci = ContentInfo::from_der(der).unwrap_or_else(|e| panic!("{label}: {e}"));
    assert_eq!(ci.content_type.as_bytes(), oid::SIGNED_DATA, "{label}");
    let sd: CrateSignedData = ci.content.decode_as().unwrap();
    let mut found = Found::default();

    // Certificates: the same bytes (the crate's set is re-sorted).
    let theirs: Vec<Vec<u8>> = sd
        .certificates
        .iter()
        .flat_map(|s| s.0.iter())
        .filter_map(|c| match c {
            CertificateChoices::Certificate(c) => Some(c.to_der().unwrap()),
            CertificateChoices::Other(_) => None,
        })
        .collect();
    for c in &ours.certificates {
        found.certs += 1;
        if certificate_agrees(label, c) {
            found.certs_identical += 1;
        }
    }
    if found.certs_identical == found.certs {
        let mine: Vec<Vec<u8>> = ours.certificates.iter().map(|c| c.der().to_vec()).collect();
        assert_eq!(sorted(theirs), sorted(mine), "{label}: certificates");
    }

    // The one signer: its id names the certificate we pick as the signer's.
    let signers = &sd.signer_infos.0;
    assert_eq!(signers.len(), 1, "{label}");
    let si = signers.get(0).unwrap();
    let ours_si = &ours.signer;
    // The crate's certificate named by the signer id (the swapped-cert
    // copies name none), against ours.
    let certs: Vec<&x509_cert::Certificate> = sd
        .certificates
        .iter()
        .flat_map(|s| s.0.iter())
        .filter_map(|c| match c {
            CertificateChoices::Certificate(c) => Some(c),
            CertificateChoices::Other(_) => None,
        })
        .collect();
    let named = certs.iter().find(|c| match &si.sid {
        SignerIdentifier::IssuerAndSerialNumber(ias) => {
            ias.issuer == c.tbs_certificate.issuer
                && ias.serial_number == c.tbs_certificate.serial_number
        }
        SignerIdentifier::SubjectKeyIdentifier(ski) => {
            c.tbs_certificate.extensions.iter().flatten().any(|e| {
                e.extn_id.as_bytes() == oid::SUBJECT_KEY_ID
                    && OctetString::from_der(e.extn_value.as_bytes()).ok().as_ref() == Some(&ski.0)
            })
        }
    });
    assert_eq!(
        named.map(|c| c.to_der().unwrap()),
        ours.signer_certificate().map(|c| c.der().to_vec()),
        "{label}: the signer's certificate"
    );
    assert_eq!(
        Hash::from_oid(si.digest_alg.oid.as_bytes()),
        Some(ours_si.digest),
        "{label}"
    );
    assert_eq!(
        si.signature_algorithm.to_der().unwrap(),
        ours_si.signature_algorithm,
        "{label}"
    );
    assert_eq!(si.signature.as_bytes(), ours_si.signature, "{label}");

    // Signed attributes: the same set; the same bytes exactly when they
    // were stored in DER order.
    let attrs = si.signed_attrs.as_ref().unwrap();
    let theirs: Vec<Vec<u8>> = attrs.iter().map(|a| a.to_der().unwrap()).collect();
    let mine: Vec<Vec<u8>> = ours_si.signed_attrs.iter().map(our_attribute).collect();
    assert_eq!(theirs, sorted(mine.clone()), "{label}: signed attributes");
    let reencoded = attrs.to_der().unwrap();
    found.resorted_signed_attrs = reencoded != ours_si.signed_attrs_der;
    assert_eq!(
        found.resorted_signed_attrs,
        mine != sorted(mine.clone()),
        "{label}: the crate re-sorts exactly the sets stored out of DER order"
    );

    // messageDigest and signingTime, decoded by the crate.
    let value = |id: &[u8]| {
        attrs
            .iter()
            .find(|a| a.oid.as_bytes() == id)
            .map(|a| a.values.get(0).unwrap().clone())
    };
    let digest: OctetString = value(oid::MESSAGE_DIGEST).unwrap().decode_as().unwrap();
    assert_eq!(
        digest.as_bytes(),
        ours_si.message_digest().unwrap(),
        "{label}"
    );
    let time = value(oid::SIGNING_TIME).map(|v| {
        x509_cert::time::Time::from_der(&v.to_der().unwrap())
            .unwrap()
            .to_unix_duration()
            .as_secs() as i64
    });
    assert_eq!(time, ours_si.signing_time().unwrap(), "{label}");

    // Unsigned attributes (the Rekor entry, a timestamp): the same set.
    let theirs: Vec<Vec<u8>> = si
        .unsigned_attrs
        .iter()
        .flat_map(|s| s.iter())
        .map(|a| a.to_der().unwrap())
        .collect();
    let mine: Vec<Vec<u8>> = ours_si.unsigned_attrs.iter().map(our_attribute).collect();
    assert_eq!(theirs, sorted(mine), "{label}: unsigned attributes");
    found
}

/// Every corpus signature through both parsers. Measured here: how many
/// are BER (the crate reads none), how many store their signed
/// attributes out of DER order (the crate re-sorts them), how many
/// certificates x509-cert re-encodes byte for byte.
#[test]
fn corpus_signatures_read_the_same_through_the_crates() {
    let (mut der_ok, mut ber, mut resorted, mut rejected) = (0, Vec::new(), Vec::new(), 0);
    let (mut certs, mut certs_identical, mut gitsign_certs) = (0, 0, 0);
    let categories: std::collections::HashMap<String, String> = manifest()
        .iter()
        .map(|e| {
            (
                e["label"].as_str().unwrap().to_string(),
                e["category"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    for (label, der) in corpus_signatures() {
        let ours = match SignedData::from_der(&der) {
            Ok(sd) => sd,
            Err(_) => {
                // What we cannot read, the crate cannot either.
                assert!(
                    ContentInfo::from_der(&der)
                        .ok()
                        .and_then(|ci| ci.content.decode_as::<CrateSignedData>().ok())
                        .is_none(),
                    "{label}: the crate reads what our parser refuses"
                );
                rejected += 1;
                continue;
            }
        };
        if ours.was_ber {
            assert!(
                ContentInfo::from_der(&der).is_err(),
                "{label}: the crate read BER"
            );
            ber.push(label);
            continue;
        }
        let found = signature_agrees(&label, &ours, &der);
        if found.resorted_signed_attrs {
            resorted.push(label.clone());
        }
        certs += found.certs;
        certs_identical += found.certs_identical;
        if categories.get(&label).map(String::as_str) == Some("gitsign") {
            assert_eq!(
                found.certs_identical, found.certs,
                "{label}: a Fulcio certificate that x509-cert re-encodes differently"
            );
            gitsign_certs += found.certs;
        }
        der_ok += 1;
    }
    eprintln!(
        "corpus: {der_ok} DER signatures agree; BER (crate refuses): {ber:?}; signed attributes \
         out of DER order (crate re-sorts): {resorted:?}; certificates re-encoded identically: \
         {certs_identical}/{certs} ({gitsign_certs} Fulcio ones); unparseable by both: {rejected}"
    );
    assert!(der_ok >= 30, "{der_ok}");
    assert!(!ber.is_empty(), "the corpus has a BER (gpgsm) signature");
    assert!(
        !resorted.is_empty(),
        "the corpus has unsorted signed attributes"
    );
    assert!(gitsign_certs >= 25, "{gitsign_certs}");
}

/// Why the verifier hashes the signed attributes as encoded and not as
/// the crate re-encodes them: on every corpus signature whose attributes
/// are stored out of DER order, the crate's re-sorted bytes would not
/// give the verdict Go gitsign gives. smimesign's genuine signatures
/// (signed as stored) verify only as encoded; smimesign's ECDSA bug
/// (signed sorted, stored unsorted) and the reordered tamper copy, which
/// Go gitsign rejects, would verify once re-sorted; a bad signature
/// (certum) verifies over neither.
#[test]
fn unsorted_signed_attributes_verify_only_as_encoded() {
    let expected: std::collections::HashMap<String, String> = manifest()
        .iter()
        .map(|e| {
            (
                e["label"].as_str().unwrap().to_string(),
                e["expected"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let (mut as_stored, mut only_resorted, mut neither) = (Vec::new(), Vec::new(), Vec::new());
    for (label, der) in corpus_signatures() {
        let Ok(ours) = SignedData::from_der(&der) else {
            continue;
        };
        if ours.was_ber {
            continue;
        }
        let ci = ContentInfo::from_der(&der).unwrap();
        let sd: CrateSignedData = ci.content.decode_as().unwrap();
        let signer = sd.signer_infos.0.get(0).unwrap();
        let reencoded = signer.signed_attrs.as_ref().unwrap().to_der().unwrap();
        if reencoded == ours.signer.signed_attrs_der {
            continue;
        }
        let cert = ours.signer_certificate().unwrap();
        let key = cert.public_key().unwrap();
        let scheme =
            SigScheme::from_algorithm(&ours.signer.signature_algorithm, Some(ours.signer.digest))
                .unwrap();
        let check = |msg: &[u8]| crypto::verify(&key, scheme, msg, &ours.signer.signature).is_ok();
        let (stored, resorted) = (check(&ours.signer.signed_attrs_der), check(&reencoded));
        // Hashed as encoded, the check gives the corpus's verdict...
        let bad_sig = expected[&label].contains("does not verify over signed attributes");
        assert_eq!(stored, !bad_sig, "{label}");
        // ...and re-sorted, never the same good one.
        assert!(!(stored && resorted), "{label}");
        match (stored, resorted) {
            (true, _) => as_stored.push(label),
            (false, true) => only_resorted.push(label),
            (false, false) => neither.push(label),
        }
    }
    eprintln!(
        "verify as stored only: {as_stored:?}; only once re-sorted (a verdict Go gitsign \
         does not give): {only_resorted:?}; neither: {neither:?}"
    );
    assert!(!as_stored.is_empty() && !only_resorted.is_empty());
}

/// Our own signatures (offline, with the Rekor entry inside, and online)
/// read the same through both parsers, and the crate re-encodes them to
/// the very bytes we wrote.
#[test]
fn our_signatures_read_the_same_through_the_crates() {
    use gitsign::sign;
    use gitsign::sigstore::fulcio::FulcioClient;
    use gitsign::sigstore::http::Http;
    use gitsign::sigstore::rekor::RekorClient;
    use gitsign::sigstore::trust::TrustedRoot;

    const PAYLOAD: &[u8] = b"tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\nauthor A <alice@example.com> 1700000000 +0000\ncommitter A <alice@example.com> 1700000000 +0000\n\nindependent\n";
    let tb = Testbed::start();
    let http = Http::new(std::time::Duration::from_secs(20)).unwrap();
    let root =
        TrustedRoot::from_file(std::path::Path::new(tb.var("GITSIGN_TRUSTED_ROOT"))).unwrap();
    let fulcio = FulcioClient::new(tb.var("GITSIGN_FULCIO_URL"), http.clone());
    let rekor = RekorClient::new(tb.var("GITSIGN_REKOR_URL"), http.clone());
    let token = tb.token("alice@example.com", 600);
    let now = gitsign::encoding::time::now();
    let cred = sign::request_credential(&fulcio, &token, "alice@example.com", &root, now).unwrap();
    for mode in [RekorMode::Offline, RekorMode::Online] {
        let label = format!("ours, {mode:?}");
        let s = sign::sign_payload(PAYLOAD, &cred, &rekor, &root, mode, now).unwrap();
        let der = gcms::unarmor(s.armored.as_bytes()).unwrap();
        let ours = SignedData::from_der(&der).unwrap();
        assert!(!ours.was_ber);
        let found = signature_agrees(&label, &ours, &der);
        assert!(!found.resorted_signed_attrs, "{label}");
        assert_eq!((found.certs, found.certs_identical), (1, 1), "{label}");
        assert_eq!(
            ours.signer.message_digest().unwrap(),
            crypto::sha256(PAYLOAD).to_vec()
        );
        assert_eq!(ours.signer.signing_time().unwrap(), Some(now));
        // Decoded and re-encoded by the crates: the same bytes.
        let ci = ContentInfo::from_der(&der).unwrap();
        assert_eq!(ci.to_der().unwrap(), der, "{label}");
    }
}

/// RFC 3161 2.4.2 allows fractions of a second in a TSTInfo's genTime;
/// the `der` crate's GeneralizedTime (under `x509-tsp`) refuses them, and
/// our parser reads them: one of the reasons `pki::tsa` keeps its own codec.
#[test]
fn der_refuses_fractional_generalized_time() {
    use x509_cert::der::asn1::GeneralizedTime;
    let whole = b"\x18\x0f20240102030405Z";
    let fraction = b"\x18\x1220240102030405.25Z";
    assert!(GeneralizedTime::from_der(whole).is_ok());
    assert!(GeneralizedTime::from_der(fraction).is_err());
    let ours = |der: &[u8]| {
        asn1::parse_single(der, 0x18, "genTime")
            .unwrap()
            .time("genTime")
    };
    assert_eq!(ours(whole).unwrap(), ours(fraction).unwrap());
}
