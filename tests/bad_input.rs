//! Hostile and broken input: every failure is a clear error, never a panic.
//! Includes a deterministic mutation fuzzer over real signatures (bit
//! flips, truncations, splices) driving every parser and the verifier.

mod common;

use common::{fixtures, text, Repo, TempDir};
use gitsign::encoding::asn1::{self, tag};
use gitsign::git::gitobj::{self, HashAlgo, ObjectKind};
use gitsign::pki::cms::{self, SignedData};
use gitsign::sigstore::trust::TrustedRoot;
use gitsign::verify::{self, Context, MissingTlog, ObjectInfo};

fn sample(name: &str) -> (Vec<u8>, Vec<u8>) {
    let data = std::fs::read(fixtures().join("objects/gitsign").join(name)).unwrap();
    let s = gitobj::split_commit(&data, HashAlgo::Sha1)
        .unwrap()
        .unwrap();
    (s.payload, s.signature)
}

fn verify_bytes(
    payload: &[u8],
    sig: &[u8],
    root: &TrustedRoot,
) -> Result<verify::Verified, verify::Failure> {
    verify_mode(payload, sig, root, MissingTlog::Skip)
}

fn verify_mode(
    payload: &[u8],
    sig: &[u8],
    root: &TrustedRoot,
    missing_tlog: MissingTlog,
) -> Result<verify::Verified, verify::Failure> {
    let ctx = Context {
        root,
        require_sct: true,
        rekor: None,
        missing_tlog,
        cache: None,
    };
    verify::verify(payload, sig, ObjectInfo::from_payload(payload), &ctx)
}

/// The strictest mode a sample verifies in: offline-mode samples with the
/// log required (stripping their entry must then fail), online-mode ones
/// with the log skipped (they carry none).
fn strictest(payload: &[u8], sig: &[u8], root: &TrustedRoot) -> MissingTlog {
    if verify_mode(payload, sig, root, MissingTlog::Search).is_ok() {
        MissingTlog::Search
    } else {
        MissingTlog::Skip
    }
}

/// What a verification reports: who, when, under which certificate, which
/// log entry. An edit a verifier accepts must leave all of it unchanged.
type Says = (Vec<u8>, String, Option<String>, i64, Option<u64>);

fn says(v: &verify::Verified) -> Says {
    (
        v.certificate.der().to_vec(),
        v.claims.identity.clone(),
        v.claims.issuer.clone(),
        v.time,
        v.tlog.entry().and_then(|e| e.log_index()),
    )
}

#[test]
fn empty_garbage_and_wrong_labels() {
    let root = TrustedRoot::public_good();
    let (payload, _) = sample("gs_td_e2e_offline.commit");
    for (sig, words) in [
        (&b""[..], "empty"),
        (b"   \n", "empty"),
        (b"hello world", "neither PEM"),
        (
            b"-----BEGIN PGP SIGNATURE-----\nAAAA\n-----END PGP SIGNATURE-----\n",
            "labelled \"PGP SIGNATURE\"",
        ),
        (
            b"-----BEGIN SIGNED MESSAGE-----\n!!!\n-----END SIGNED MESSAGE-----\n",
            "base64",
        ),
        (b"-----BEGIN SIGNED MESSAGE-----\nMIIB\n", "no END line"),
        (
            b"-----BEGIN SIGNED MESSAGE-----\n-----END SIGNED MESSAGE-----\n",
            "empty",
        ),
        (b"\x30\x03\x02\x01\x01", "unparseable signature"),
        (b"\x30\x80\x00\x00", "unparseable"),
    ] {
        let f = verify_bytes(&payload, sig, &root).unwrap_err();
        assert_eq!(f.kind, verify::FailureKind::Unparseable, "{sig:?}");
        assert!(f.message.contains(words), "{sig:?}: {}", f.message);
    }
}

#[test]
fn every_truncation_of_a_real_signature_is_refused() {
    let root = TrustedRoot::public_good();
    let (payload, sig) = sample("gs_td_e2e_offline.commit");
    let der = cms::unarmor(&sig).unwrap();
    for n in 0..der.len() {
        let f = verify_bytes(&payload, &der[..n], &root).unwrap_err();
        assert!(!f.message.is_empty());
    }
    assert!(verify_bytes(&payload, &der, &root).is_ok());
    // Trailing bytes are refused too.
    let mut long = der.clone();
    long.push(0);
    assert!(verify_bytes(&payload, &long, &root).is_err());
}

#[test]
fn oversized_signatures_are_bounded() {
    let root = TrustedRoot::public_good();
    let big = vec![b'A'; cms::MAX_SIGNATURE_LEN + 1];
    let f = verify_bytes(b"x", &big, &root).unwrap_err();
    assert!(f.message.contains("limit"), "{}", f.message);
    // And through git's interface: the signature file is read with a bound.
    let repo = Repo::new("oversized");
    let p = repo.path().join("big.sig");
    std::fs::write(&p, &big).unwrap();
    let o = repo.gitsign(&["--status-fd=1", "--verify", &p.display().to_string(), "-"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("[GNUPG:] ERRSIG"), "{}", text(&o));
}

/// Rebuilds SignedData with its SignerInfo twice.
fn with_two_signers(der: &[u8]) -> Vec<u8> {
    let ci = asn1::parse_single(der, tag::SEQUENCE, "ci").unwrap();
    let mut r = ci.reader();
    let ct = r.read(tag::OID, "ct").unwrap();
    let content = r.read(tag::context(0, true), "content").unwrap();
    let sd = asn1::parse_single(content.value, tag::SEQUENCE, "sd").unwrap();
    let mut s = sd.reader();
    let mut parts = Vec::new();
    while let Ok(t) = s.read_any("x") {
        if t.tag == tag::SET && s.is_empty() {
            let si = t.reader().read_any("si").unwrap();
            parts.push(asn1::encode_parts(tag::SET, &[si.raw, si.raw]));
        } else {
            parts.push(t.raw.to_vec());
        }
    }
    let parts: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
    let sd = asn1::encode_parts(tag::SEQUENCE, &parts);
    let content = asn1::encode(tag::context(0, true), &sd);
    asn1::encode_parts(tag::SEQUENCE, &[ct.raw, &content])
}

#[test]
fn multiple_signers_are_refused() {
    let root = TrustedRoot::public_good();
    let (payload, sig) = sample("gs_td_e2e_offline.commit");
    let two = with_two_signers(&cms::unarmor(&sig).unwrap());
    let f = verify_bytes(&payload, &two, &root).unwrap_err();
    assert!(f.message.contains("2 signers"), "{}", f.message);
}

#[test]
fn unknown_critical_extensions_are_refused() {
    // A certificate with a critical extension no verifier understands.
    let tmp = TempDir::new("critical");
    let conf = tmp.path().join("ext.cnf");
    std::fs::write(
        &conf,
        "[req]\ndistinguished_name=dn\n[dn]\n[ext]\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=codeSigning\n\
         1.2.3.4.5=critical,ASN1:UTF8String:surprise\n",
    )
    .unwrap();
    let key = tmp.path().join("k.pem");
    let crt = tmp.path().join("c.der");
    let st = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-subj",
            "/CN=x",
        ])
        .args([
            "-keyout",
            &key.display().to_string(),
            "-outform",
            "DER",
            "-out",
            &crt.display().to_string(),
        ])
        .args([
            "-config",
            &conf.display().to_string(),
            "-extensions",
            "ext",
            "-days",
            "1",
        ])
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    let cert = gitsign::pki::x509::Certificate::from_der(std::fs::read(&crt).unwrap()).unwrap();
    let e = gitsign::pki::chain::check_leaf_profile(&cert).unwrap_err();
    assert!(e.contains("unknown critical extension 1.2.3.4.5"), "{e}");
}

#[test]
fn objects_that_are_not_what_they_seem() {
    // Unsigned commits and tags are "not signed", not errors.
    assert_eq!(
        gitobj::split_commit(b"tree 1\n\nmsg\n", HashAlgo::Sha1).unwrap(),
        None
    );
    assert!(gitobj::split_tag(b"object 1\n\nmsg\n").is_none());
    // A signature header with nothing after the headers.
    let s = gitobj::split_commit(b"tree 1\ngpgsig x", HashAlgo::Sha1)
        .unwrap()
        .unwrap();
    assert_eq!(s.signature, b"x");
}

/// xorshift64*: deterministic, dependency-free randomness for the fuzzer.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn mutate(rng: &mut Rng, input: &[u8], donor: &[u8]) -> Vec<u8> {
    let mut v = input.to_vec();
    for _ in 0..=rng.below(4) {
        if v.is_empty() {
            break;
        }
        match rng.below(7) {
            0 => {
                let i = rng.below(v.len());
                v[i] ^= 1 << rng.below(8);
            }
            1 => {
                let i = rng.below(v.len());
                v[i] = rng.next() as u8;
            }
            2 => v.truncate(rng.below(v.len())),
            3 => {
                let i = rng.below(v.len());
                let n = rng.below(8) + 1;
                let end = (i + n).min(v.len());
                v.drain(i..end);
            }
            4 => {
                let i = rng.below(v.len());
                let j = rng.below(donor.len());
                let n = rng.below(64).min(donor.len() - j);
                v.splice(i..i, donor[j..j + n].iter().copied());
            }
            5 => {
                // Lengths are where parsers go wrong: poke a length octet.
                let i = rng.below(v.len());
                v[i] = [0x00, 0x7f, 0x80, 0x81, 0x82, 0x84, 0xff][rng.below(7)];
            }
            _ => {
                let i = rng.below(v.len());
                let j = rng.below(v.len());
                v.swap(i, j);
            }
        }
    }
    v
}

#[test]
fn mutation_fuzz_never_panics() {
    let root = TrustedRoot::public_good();
    let names = [
        "gs_td_e2e_offline.commit",
        "gs_commit_offline_latest.commit",
        "gs_commit_legacy_splitattrs.commit",
        "gs_commit_2022_2certs.commit",
    ];
    let samples: Vec<(Vec<u8>, Vec<u8>)> = names.iter().map(|n| sample(n)).collect();
    let ders: Vec<Vec<u8>> = samples
        .iter()
        .map(|(_, s)| cms::unarmor(s).unwrap())
        .collect();
    let certs: Vec<Vec<u8>> = ders
        .iter()
        .map(|d| {
            SignedData::from_der(d)
                .unwrap()
                .signer_certificate()
                .unwrap()
                .der()
                .to_vec()
        })
        .collect();
    let bundle = std::fs::read(fixtures().join("bundles/gs_td_e2e_offline.sigstore.json")).unwrap();
    let gpgsm =
        std::fs::read(fixtures().join("objects/other-x509/gpgsm_siemens_ber.commit")).unwrap();
    let gpgsm_der = cms::unarmor(
        &gitobj::split_commit(&gpgsm, HashAlgo::Sha1)
            .unwrap()
            .unwrap()
            .signature,
    )
    .unwrap();
    let iterations: usize = std::env::var("GITSIGN_FUZZ_ITERATIONS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(4000);
    let modes: Vec<MissingTlog> = samples
        .iter()
        .map(|(p, s)| strictest(p, s, &root))
        .collect();
    let original: Vec<Says> = samples
        .iter()
        .zip(&modes)
        .map(|((p, s), m)| says(&verify_mode(p, s, &root, *m).unwrap()))
        .collect();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut accepted = 0;
    for i in 0..iterations {
        let k = i % samples.len();
        let (payload, _) = &samples[k];
        // The CMS and everything below it: an edit may be accepted only
        // where nothing is signed or checked, and then changes nothing
        // verification reports.
        let m = mutate(&mut rng, &ders[k], &ders[(k + 1) % ders.len()]);
        if let Ok(v) = verify_mode(payload, &m, &root, modes[k]) {
            accepted += 1;
            assert_eq!(
                says(&v),
                original[k],
                "an accepted edit changed the verdict"
            );
        }
        // BER input.
        let m = mutate(&mut rng, &gpgsm_der, &ders[k]);
        let _ = SignedData::from_der(&m);
        let _ = asn1::ber_to_der(&m);
        // Certificates and their extensions.
        let m = mutate(&mut rng, &certs[k], &certs[(k + 1) % certs.len()]);
        if let Ok(c) = gitsign::pki::x509::Certificate::from_der(m) {
            let _ = c.subject_alt_names();
            let _ = gitsign::pki::claims::Claims::from_certificate(&c);
            let _ = gitsign::pki::chain::check_leaf_profile(&c);
            let _ = gitsign::pki::sct::embedded_scts(&c);
            let _ = c.tbs_without_extensions(&[gitsign::encoding::oid::CT_SCT_LIST]);
            let _ = gitsign::pki::x509::name_to_string(c.issuer());
        }
        // Protobuf log entries.
        let m = mutate(&mut rng, &ders[k][ders[k].len() / 2..], &ders[k]);
        let _ = gitsign::sigstore::tlog::LogEntry::from_protobuf(&m);
        // Armor and git objects.
        let (p, s) = &samples[k];
        let obj = gitobj::join_commit(p, s, HashAlgo::Sha1);
        let m = mutate(&mut rng, &obj, s);
        if let Ok(Some(split)) = gitobj::split(&m, ObjectKind::Commit, HashAlgo::Sha1) {
            if let Ok(v) = verify_mode(&split.payload, &split.signature, &root, modes[k]) {
                assert_eq!(&split.payload, p, "an edited commit verified");
                assert_eq!(says(&v), original[k]);
            }
        }
        let _ = gitobj::split_tag(&m);
        // Bundles (JSON).
        if i % 4 == 0 {
            let m = mutate(&mut rng, &bundle, b"{}[]\",:0123456789");
            let opts = gitsign::sigstore::bundle::Options {
                root: &root,
                require_sct: true,
                key: None,
            };
            let _ = gitsign::sigstore::bundle::verify_bundle(
                &m,
                &gitsign::sigstore::bundle::Artifact::Digest([0; 32]),
                &opts,
            );
        }
        // Checkpoints.
        let note = "rekor.sigstore.dev - 1\n5\nAAAA\n\n\u{2014} rekor.sigstore.dev AAAAAAAA\n";
        let m = mutate(&mut rng, note.as_bytes(), "\n\u{2014} ".as_bytes());
        if let Ok(s) = std::str::from_utf8(&m) {
            let _ = gitsign::sigstore::tlog::parse_checkpoint(s);
        }
    }
    // Most edits break something; if nearly all were accepted, the
    // verifier would not be looking.
    assert!(
        accepted * 20 < iterations,
        "{accepted} of {iterations} edits accepted"
    );
}
