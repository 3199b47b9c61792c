//! RFC 3161 timestamps: the request and response codec, a client for a
//! timestamp authority (TSA), and verification of TimeStampTokens.
//!
//! What is timestamped is the CMS signature value of a git signature (the
//! OCTET STRING contents of the SignerInfo's `signature`), hashed with
//! SHA-256, exactly as Go gitsign (its fork of smimesign's ietf-cms,
//! `timestamp.go`) and smimesign do. The token travels as the unsigned
//! attribute id-aa-timeStampToken (1.2.840.113549.1.9.16.2.14).
//!
//! A token is trusted when its TSTInfo imprints the expected bytes, its CMS
//! signature verifies over the signed attributes (contentType TSTInfo,
//! messageDigest of the TSTInfo), its signer carries the critical
//! timeStamping extended key usage, and the signer chains to a
//! `timestampAuthorities` entry of the trusted root whose window contains
//! the token's genTime, every certificate of the path being valid then.
//!
//! The codec does no I/O; [`TsaClient`] is the only part that talks HTTP.
//!
//! The codec is our own, not the `x509-tsp` crate's, for measured reasons:
//! the token is a CMS SignedData whose signed attributes are hashed as
//! encoded, which the `cms` crate re-sorts on decode (see [`crate::pki::cms`]);
//! and `der`'s GeneralizedTime refuses the fractional seconds RFC 3161
//! allows in genTime (`tst_info_parses` below reads `.25Z`;
//! `der_refuses_fractional_generalized_time` in tests/independent_parse.rs).
//! `x509-tsp` would also bring `cmpv2` and `crmf` for the request alone.

use std::fmt;

use crate::encoding::asn1::{self, tag, Tlv};
use crate::encoding::oid;
use crate::encoding::time::format_time;
use crate::pki::cms::{SignedData, SignerId, SignerInfo};
use crate::pki::crypto::{self, Hash, SigScheme};
use crate::pki::x509::{name_to_string, Certificate};
use crate::sigstore::http::{self, Http};
use crate::sigstore::trust::{CertificateAuthority, TrustError, TrustedRoot, Validity};

/// Largest TimeStampToken accepted (embedded or received). Real tokens
/// are 1–4 KiB with the TSA certificate, ~10 KiB with a whole RSA chain.
pub const MAX_TOKEN_LEN: usize = 64 * 1024;

/// Largest TimeStampResp body read from a TSA.
const MAX_RESPONSE_LEN: usize = MAX_TOKEN_LEN + 4 * 1024;

/// Largest TSA certificate chain file read.
const MAX_CHAIN_FILE: u64 = 1024 * 1024;

/// Most certificates between a TSA's signing certificate and a trusted
/// anchor that are taken from the token itself.
const MAX_TOKEN_INTERMEDIATES: usize = 4;

/// The HTTP content type of a TimeStampReq.
pub const CONTENT_TYPE_QUERY: &str = "application/timestamp-query";

/// The media type of a TSA's answer (RFC 3161 section 3.4).
pub const CONTENT_TYPE_REPLY: &str = "application/timestamp-reply";

/// Random bytes in a request nonce (as Go gitsign: 16).
const NONCE_BYTES: usize = 16;

/// 1.2.840.113549.1.9.16.2.12: id-aa-signingCertificate (ESS, SHA-1).
const SIGNING_CERTIFICATE: &[u8] = &[42, 134, 72, 134, 247, 13, 1, 9, 16, 2, 12];
/// 1.2.840.113549.1.9.16.2.47: id-aa-signingCertificateV2 (RFC 5035).
const SIGNING_CERTIFICATE_V2: &[u8] = &[42, 134, 72, 134, 247, 13, 1, 9, 16, 2, 47];

/// keyUsage digitalSignature, in [`Certificate::key_usage`]'s layout.
const KU_DIGITAL_SIGNATURE: u16 = 0x8000;
/// keyUsage nonRepudiation (contentCommitment).
const KU_NON_REPUDIATION: u16 = 0x4000;
/// keyUsage keyCertSign.
const KU_KEY_CERT_SIGN: u16 = 0x0400;

/// Extensions a TSA certificate may mark critical: the same as a leaf's.
use crate::pki::chain::KNOWN_CRITICAL;

/// A timestamp failure, as a sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TsaError(pub String);

impl fmt::Display for TsaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TsaError {}

impl From<asn1::Error> for TsaError {
    fn from(e: asn1::Error) -> Self {
        TsaError(e.to_string())
    }
}

fn bad(msg: impl Into<String>) -> TsaError {
    TsaError(msg.into())
}

/// A fresh nonce: the contents of a positive DER INTEGER built from
/// [`NONCE_BYTES`] random bytes.
pub fn new_nonce() -> Result<Vec<u8>, TsaError> {
    use rand_core::RngCore;
    let mut buf = [0u8; NONCE_BYTES];
    rand_core::OsRng
        .try_fill_bytes(&mut buf)
        .map_err(|e| bad(format!("cannot make a request nonce: {e}")))?;
    Ok(positive_integer(&buf))
}

/// The contents of the minimal DER INTEGER for the unsigned big-endian
/// magnitude `bytes`.
fn positive_integer(bytes: &[u8]) -> Vec<u8> {
    let skip = bytes.iter().take_while(|b| **b == 0).count();
    let mag = &bytes[skip..];
    match mag.first() {
        None => vec![0],
        Some(b) if b & 0x80 != 0 => {
            let mut v = Vec::with_capacity(mag.len() + 1);
            v.push(0);
            v.extend_from_slice(mag);
            v
        }
        Some(_) => mag.to_vec(),
    }
}

/// An INTEGER's magnitude without sign-padding zeros, for comparisons.
fn integer_magnitude(contents: &[u8]) -> &[u8] {
    let skip = contents
        .iter()
        .take_while(|b| **b == 0)
        .count()
        .min(contents.len().saturating_sub(1));
    &contents[skip..]
}

/// Encodes a DER TimeStampReq: version 1, messageImprint SHA-256 (absent
/// parameters, as RFC 5754 and Go's encoder write it) over `imprint`,
/// no policy, the nonce when given, certReq when asked.
pub fn encode_request(imprint: &[u8; 32], nonce: Option<&[u8]>, cert_req: bool) -> Vec<u8> {
    let version = asn1::encode(tag::INTEGER, &[1]);
    let alg = asn1::encode(tag::SEQUENCE, &asn1::encode(tag::OID, oid::SHA256));
    let mi = asn1::encode_parts(
        tag::SEQUENCE,
        &[&alg, &asn1::encode(tag::OCTET_STRING, imprint)],
    );
    let nonce = nonce.map(|n| asn1::encode(tag::INTEGER, n));
    let cert_req = cert_req.then(|| asn1::encode(tag::BOOLEAN, &[0xff]));
    let mut parts: Vec<&[u8]> = vec![&version, &mi];
    if let Some(n) = &nonce {
        parts.push(n);
    }
    if let Some(c) = &cert_req {
        parts.push(c);
    }
    asn1::encode_parts(tag::SEQUENCE, &parts)
}

/// A TimeStampReq ready to send, with what its answer must echo.
#[derive(Debug, Clone)]
pub struct Request {
    /// The DER TimeStampReq.
    pub der: Vec<u8>,
    /// SHA-256 of the timestamped bytes.
    pub imprint: [u8; 32],
    /// The nonce's INTEGER contents.
    pub nonce: Vec<u8>,
}

impl Request {
    /// A request over `data` (SHA-256), with a random nonce and certReq.
    pub fn new(data: &[u8]) -> Result<Request, TsaError> {
        let imprint = crypto::sha256(data);
        let nonce = new_nonce()?;
        Ok(Request {
            der: encode_request(&imprint, Some(&nonce), true),
            imprint,
            nonce,
        })
    }
}

fn status_name(status: u64) -> String {
    match status {
        0 => "granted".into(),
        1 => "grantedWithMods".into(),
        2 => "rejection".into(),
        3 => "waiting".into(),
        4 => "revocationWarning".into(),
        5 => "revocationNotification".into(),
        n => format!("unknown status {n}"),
    }
}

fn failure_names(bits: Tlv<'_>) -> Result<Vec<String>, TsaError> {
    let (&unused, octets) = bits
        .value
        .split_first()
        .ok_or_else(|| bad("the TSA's failInfo is an empty BIT STRING"))?;
    if unused > 7 || (octets.is_empty() && unused != 0) {
        return Err(bad("the TSA's failInfo is not a valid BIT STRING"));
    }
    let names = [
        (0, "badAlg (unsupported hash algorithm)"),
        (2, "badRequest (transaction not permitted or supported)"),
        (5, "badDataFormat (the request is malformed)"),
        (
            14,
            "timeNotAvailable (the TSA's time source is not available)",
        ),
        (15, "unacceptedPolicy (policy not supported)"),
        (16, "unacceptedExtension (extension not supported)"),
        (17, "addInfoNotAvailable"),
        (25, "systemFailure"),
    ];
    let mut out = Vec::new();
    let total = (octets.len() * 8).saturating_sub(usize::from(unused));
    for bit in 0..total.min(64) {
        if octets[bit / 8] & (0x80 >> (bit % 8)) != 0 {
            out.push(
                names
                    .iter()
                    .find(|(n, _)| *n == bit)
                    .map(|(_, s)| (*s).to_string())
                    .unwrap_or_else(|| format!("failure bit {bit}")),
            );
        }
    }
    Ok(out)
}

fn free_text(t: Tlv<'_>) -> Vec<String> {
    let mut r = t.reader();
    let mut out = Vec::new();
    while let Ok(s) = r.read_any("statusString") {
        if let Ok(s) = s.string("statusString") {
            out.push(http::server_text(s.as_bytes()));
        }
        if out.len() >= 4 {
            break;
        }
    }
    out
}

/// A granted TimeStampResp (status 0) around `token`: the form Sigstore
/// bundles carry in `rfc3161Timestamps[].signedTimestamp`.
pub fn encode_granted_response(token: &[u8]) -> Vec<u8> {
    let status = asn1::encode(tag::SEQUENCE, &asn1::encode(tag::INTEGER, &[0]));
    asn1::encode_parts(tag::SEQUENCE, &[&status, token])
}

/// Parses a TimeStampResp and returns the TimeStampToken's DER (the
/// ContentInfo, as the TSA encoded it), or a sentence naming the PKIStatus
/// and failure information when the TSA did not grant the request.
pub fn parse_response(der: &[u8]) -> Result<Vec<u8>, TsaError> {
    if der.len() > MAX_RESPONSE_LEN {
        return Err(bad(format!(
            "the answer is {} bytes, larger than the {MAX_RESPONSE_LEN}-byte limit",
            der.len()
        )));
    }
    let owned;
    let der = if asn1::needs_ber_normalisation(der) {
        owned =
            asn1::ber_to_der(der).map_err(|e| bad(format!("unparseable TimeStampResp: {e}")))?;
        &owned[..]
    } else {
        der
    };
    let inner = || -> Result<Vec<u8>, TsaError> {
        let resp = asn1::parse_single(der, tag::SEQUENCE, "TimeStampResp")?;
        let mut r = resp.reader();
        let si = r.read(tag::SEQUENCE, "PKIStatusInfo")?;
        let token = r.read_optional(tag::SEQUENCE, "timeStampToken")?;
        r.finish("TimeStampResp")?;
        let mut sr = si.reader();
        let status = sr
            .read(tag::INTEGER, "PKIStatus")?
            .small_uint("PKIStatus")?;
        let text = sr
            .read_optional(tag::SEQUENCE, "statusString")?
            .map(free_text)
            .unwrap_or_default();
        let fail = match sr.read_optional(tag::BIT_STRING, "failInfo")? {
            Some(b) => failure_names(b)?,
            None => Vec::new(),
        };
        sr.finish("PKIStatusInfo")?;
        if status > 1 {
            let mut msg = format!(
                "the TSA refused the request: status {}",
                status_name(status)
            );
            if !fail.is_empty() {
                msg.push_str(&format!(", failure {}", fail.join(", ")));
            }
            if !text.is_empty() {
                msg.push_str(&format!(" (\"{}\")", text.join("; ")));
            }
            return Err(bad(msg));
        }
        let token = token.ok_or_else(|| {
            bad(format!(
                "the TSA answered status {} without a timestamp token",
                status_name(status)
            ))
        })?;
        Ok(token.raw.to_vec())
    };
    inner().map_err(|e| {
        if e.0.starts_with("the TSA") {
            e
        } else {
            bad(format!("unparseable TimeStampResp: {e}"))
        }
    })
}

/// The parts of a TSTInfo that verification and reports use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TstInfo {
    /// The TSA's policy (dotted OID).
    pub policy: String,
    /// The imprint's hash algorithm.
    pub hash: Hash,
    /// The imprint.
    pub hashed_message: Vec<u8>,
    /// serialNumber INTEGER contents.
    pub serial: Vec<u8>,
    /// genTime, seconds since the epoch (fractions truncated).
    pub gen_time: i64,
    /// accuracy in milliseconds (microseconds rounded up), when given.
    pub accuracy_ms: Option<u64>,
    /// nonce INTEGER contents, when present.
    pub nonce: Option<Vec<u8>>,
}

fn small_context_uint(t: Tlv<'_>, what: &'static str) -> Result<u64, TsaError> {
    // [n] IMPLICIT INTEGER: read the contents as an INTEGER's.
    let as_int = Tlv {
        tag: tag::INTEGER,
        value: t.value,
        raw: t.raw,
    };
    Ok(as_int.small_uint(what)?)
}

fn parse_accuracy(t: Tlv<'_>) -> Result<u64, TsaError> {
    let w = "accuracy";
    let mut r = t.reader();
    let seconds = match r.read_optional(tag::INTEGER, w)? {
        Some(s) => s.small_uint(w)?,
        None => 0,
    };
    let millis = match r.read_optional(tag::context(0, false), w)? {
        Some(m) => small_context_uint(m, w)?,
        None => 0,
    };
    let micros = match r.read_optional(tag::context(1, false), w)? {
        Some(m) => small_context_uint(m, w)?,
        None => 0,
    };
    r.finish(w)?;
    if seconds > 86_400 * 366 || millis > 999 || micros > 999 {
        return Err(bad("the TSTInfo accuracy is out of range"));
    }
    Ok(seconds * 1000 + millis + micros.div_ceil(1000))
}

/// Parses a DER TSTInfo (RFC 3161 §2.4.2); only version 1 is accepted.
pub fn parse_tst_info(der: &[u8]) -> Result<TstInfo, TsaError> {
    let w = "TSTInfo";
    let seq = asn1::parse_single(der, tag::SEQUENCE, w)?;
    let mut r = seq.reader();
    let version = r.read(tag::INTEGER, "TSTInfo version")?.small_uint(w)?;
    if version != 1 {
        return Err(bad(format!("the TSTInfo has version {version}, not 1")));
    }
    let policy = asn1::oid_to_string(r.read(tag::OID, "TSTInfo policy")?.value);
    let mi = r.read(tag::SEQUENCE, "messageImprint")?;
    let mut mr = mi.reader();
    let alg = mr.read(tag::SEQUENCE, "messageImprint hashAlgorithm")?;
    let hashed = mr.read(tag::OCTET_STRING, "messageImprint hashedMessage")?;
    mr.finish("messageImprint")?;
    let mut ar = alg.reader();
    let alg_oid = ar.read(tag::OID, "messageImprint hashAlgorithm")?.value;
    // Parameters: absent or NULL (RFC 5754 allows both for SHA-2).
    ar.read_optional(tag::NULL, "messageImprint hashAlgorithm")?;
    ar.finish("messageImprint hashAlgorithm")?;
    let hash = match Hash::from_oid(alg_oid) {
        Some(Hash::Sha1) | None => {
            return Err(bad(format!(
            "the timestamp imprints with {}, which is not accepted (SHA-256, SHA-384 or SHA-512)",
            asn1::oid_to_string(alg_oid)
        )))
        }
        Some(h) => h,
    };
    let serial = r.read(tag::INTEGER, "TSTInfo serialNumber")?;
    if serial.value.is_empty() || serial.value.len() > 21 {
        return Err(bad("the TSTInfo serial number is invalid"));
    }
    let gen = r.read(tag::GENERALIZED_TIME, "TSTInfo genTime")?;
    let gen_time = gen.time("TSTInfo genTime")?;
    let accuracy_ms = match r.read_optional(tag::SEQUENCE, "TSTInfo accuracy")? {
        Some(a) => Some(parse_accuracy(a)?),
        None => None,
    };
    if let Some(o) = r.read_optional(tag::BOOLEAN, "TSTInfo ordering")? {
        o.boolean("TSTInfo ordering")?;
    }
    let nonce = r
        .read_optional(tag::INTEGER, "TSTInfo nonce")?
        .map(|n| n.value.to_vec());
    if nonce.as_ref().is_some_and(|n| n.is_empty() || n.len() > 64) {
        return Err(bad("the TSTInfo nonce is invalid"));
    }
    r.read_optional(tag::context(0, true), "TSTInfo tsa")?;
    r.read_optional(tag::context(1, true), "TSTInfo extensions")?;
    r.finish(w)?;
    Ok(TstInfo {
        policy,
        hash,
        hashed_message: hashed.value.to_vec(),
        serial: serial.value.to_vec(),
        gen_time,
        accuracy_ms,
        nonce,
    })
}

/// A parsed, not yet verified, TimeStampToken.
#[derive(Debug, Clone)]
pub struct Token {
    /// The token's SignedData.
    pub signed_data: SignedData,
    /// The encapsulated TSTInfo DER (what messageDigest covers).
    pub tst_info_der: Vec<u8>,
    /// The parsed TSTInfo.
    pub info: TstInfo,
}

impl Token {
    /// Parses a TimeStampToken (a CMS ContentInfo of SignedData with an
    /// encapsulated TSTInfo). Size-bounded; never panics on garbage.
    pub fn from_der(der: &[u8]) -> Result<Token, TsaError> {
        if der.len() > MAX_TOKEN_LEN {
            return Err(bad(format!(
                "the timestamp token is {} bytes, larger than the {MAX_TOKEN_LEN}-byte limit",
                der.len()
            )));
        }
        let (signed_data, tst_info_der) = SignedData::from_der_encapsulated(der, oid::TST_INFO)
            .map_err(|e| bad(format!("unparseable timestamp token: {e}")))?;
        let info = parse_tst_info(&tst_info_der)
            .map_err(|e| bad(format!("unparseable timestamp token: {e}")))?;
        Ok(Token {
            signed_data,
            tst_info_der,
            info,
        })
    }
}

/// A token that verified.
#[derive(Debug, Clone)]
pub struct VerifiedTimestamp {
    /// The TSA's time (seconds since the epoch).
    pub gen_time: i64,
    /// The token's accuracy in milliseconds, when it states one.
    pub accuracy_ms: Option<u64>,
    /// The token's serial number, lower-case hex.
    pub serial: String,
    /// The TSA's policy (dotted OID).
    pub policy: String,
    /// The certificate that signed the token.
    pub certificate: Certificate,
    /// Where the trusted root says the authority lives (may be empty).
    pub authority_uri: String,
}

impl VerifiedTimestamp {
    /// The TSA, for messages: its certificate's subject.
    pub fn tsa_name(&self) -> String {
        name_to_string(self.certificate.subject())
    }

    /// The earliest and latest times the token vouches for (genTime
    /// widened by its accuracy).
    pub fn window(&self) -> (i64, i64) {
        let slack = self
            .accuracy_ms
            .map(|ms| i64::try_from(ms.div_ceil(1000)).unwrap_or(i64::MAX))
            .unwrap_or(0);
        (
            self.gen_time.saturating_sub(slack),
            self.gen_time.saturating_add(slack),
        )
    }
}

fn matches_sid(c: &Certificate, sid: &SignerId) -> bool {
    match sid {
        SignerId::IssuerSerial { issuer, serial } => {
            c.issuer() == issuer.as_slice() && c.serial() == serial.as_slice()
        }
        SignerId::SubjectKeyId(ski) => c.subject_key_id() == Some(ski.as_slice()),
    }
}

fn within(c: &Certificate, t: i64) -> bool {
    c.not_before <= t && t <= c.not_after
}

/// RFC 3161 §2.3: the TSA's certificate has exactly one extended key usage,
/// timeStamping, in a critical extension; its key usage (when present)
/// allows signatures; no critical extension is unknown.
fn check_tsa_profile(cert: &Certificate) -> Result<(), TsaError> {
    let who = name_to_string(cert.subject());
    for (id, critical, _) in cert.extensions() {
        if critical && !KNOWN_CRITICAL.contains(&id) {
            return Err(bad(format!(
                "the timestamp authority's certificate {who} has an unknown critical extension {}",
                asn1::oid_to_string(id)
            )));
        }
    }
    let ekus = cert
        .ext_key_usage()
        .map_err(|e| bad(format!("the timestamp authority's certificate {who}: {e}")))?;
    match ekus.as_deref() {
        Some([one]) if one == oid::EKU_TIME_STAMPING => {}
        _ => {
            return Err(bad(format!(
                "the certificate {who} that signed the timestamp is not a timestamping certificate \
                 (its extended key usage must be timeStamping only)"
            )))
        }
    }
    if !cert.is_critical(oid::EXT_KEY_USAGE) {
        return Err(bad(format!(
            "the certificate {who} that signed the timestamp does not mark its timeStamping \
             extended key usage critical, as RFC 3161 requires"
        )));
    }
    if let Some(ku) = cert
        .key_usage()
        .map_err(|e| bad(format!("the timestamp authority's certificate {who}: {e}")))?
    {
        if ku & (KU_DIGITAL_SIGNATURE | KU_NON_REPUDIATION) == 0 {
            return Err(bad(format!(
                "the key usage of the timestamp authority's certificate {who} does not allow signatures"
            )));
        }
    }
    Ok(())
}

/// When the token carries an ESS signingCertificate(V2) attribute, its
/// first certificate hash must be the signer's.
fn check_ess_binding(si: &SignerInfo, cert: &Certificate) -> Result<(), TsaError> {
    let what = "the timestamp's signingCertificate attribute";
    let malformed = || bad(format!("{what} is malformed"));
    let (value, v2) = match si.signed_value(SIGNING_CERTIFICATE_V2, "signingCertificateV2") {
        Ok(Some(v)) => (v, true),
        Ok(None) => match si.signed_value(SIGNING_CERTIFICATE, "signingCertificate") {
            Ok(Some(v)) => (v, false),
            Ok(None) => return Ok(()),
            Err(e) => return Err(bad(format!("the timestamp token: {e}"))),
        },
        Err(e) => return Err(bad(format!("the timestamp token: {e}"))),
    };
    let outer =
        asn1::parse_single(&value, tag::SEQUENCE, "SigningCertificate").map_err(|_| malformed())?;
    let certs = outer
        .reader()
        .read(tag::SEQUENCE, "SigningCertificate certs")
        .map_err(|_| malformed())?;
    let first = certs
        .reader()
        .read(tag::SEQUENCE, "ESSCertID")
        .map_err(|_| malformed())?;
    let mut r = first.reader();
    let hash = if v2 {
        match r
            .read_optional(tag::SEQUENCE, "ESSCertIDv2 hashAlgorithm")
            .map_err(|_| malformed())?
        {
            Some(alg) => {
                let o = alg
                    .reader()
                    .read(tag::OID, "ESSCertIDv2 hashAlgorithm")
                    .map_err(|_| malformed())?;
                Hash::from_oid(o.value).ok_or_else(|| {
                    bad(format!(
                        "{what} uses an unsupported hash algorithm {}",
                        asn1::oid_to_string(o.value)
                    ))
                })?
            }
            None => Hash::Sha256,
        }
    } else {
        Hash::Sha1
    };
    let cert_hash = r
        .read(tag::OCTET_STRING, "ESSCertID certHash")
        .map_err(|_| malformed())?;
    if cert_hash.value != hash.digest(cert.der()).as_slice() {
        return Err(bad(format!(
            "{what} names another certificate than the one that signed the timestamp"
        )));
    }
    Ok(())
}

/// Finds a path from `signer` to an authority trusted at `at`; `extra`
/// are certificates the token carries (possible intermediates).
fn chain_to_authority<'r>(
    signer: &Certificate,
    extra: &[Certificate],
    root: &'r TrustedRoot,
    at: i64,
) -> Result<&'r CertificateAuthority, TsaError> {
    let who = name_to_string(signer.subject());
    if root.timestamp_authorities.is_empty() {
        return Err(bad(format!(
            "the trusted root ({}) lists no timestamp authorities, so the timestamp signed by {who} \
             cannot be trusted; add the TSA's chain with gitsign.timestampCertChain",
            root.source
        )));
    }
    let mut problems: Vec<String> = Vec::new();
    for ca in &root.timestamp_authorities {
        let mut path: Vec<&Certificate> = vec![signer];
        let tail = loop {
            let Some(cur) = path.last().copied() else {
                break None;
            };
            if let Some(i) = ca.chain.iter().position(|c| c.der() == cur.der()) {
                break Some(i + 1);
            }
            if let Some(i) = ca
                .chain
                .iter()
                .position(|c| c.subject() == cur.issuer() && cur.verify_signed_by(c).is_ok())
            {
                break Some(i);
            }
            if path.len() > MAX_TOKEN_INTERMEDIATES {
                break None;
            }
            match extra.iter().find(|c| {
                c.subject() == cur.issuer()
                    && !path.iter().any(|p| p.der() == c.der())
                    && cur.verify_signed_by(c).is_ok()
            }) {
                Some(next) => path.push(next),
                None => break None,
            }
        };
        let Some(tail) = tail else {
            continue;
        };
        if !ca.valid_for.contains(at) {
            problems.push(format!(
                "the timestamp authority {} is trusted only from {}, which does not include the \
                 timestamp's time {}",
                if ca.uri.is_empty() { &who } else { &ca.uri },
                ca.valid_for.describe(),
                format_time(at)
            ));
            continue;
        }
        if let Err(e) = ca.check_chain() {
            problems.push(e);
            continue;
        }
        let full: Vec<&Certificate> = path
            .iter()
            .copied()
            .chain(ca.chain.get(tail..).unwrap_or_default())
            .collect();
        let mut ok = true;
        for (n, c) in full.iter().enumerate() {
            if !within(c, at) {
                problems.push(format!(
                    "the timestamp's time {} lies outside the validity of the TSA certificate {} \
                     ({} to {})",
                    format_time(at),
                    name_to_string(c.subject()),
                    format_time(c.not_before),
                    format_time(c.not_after)
                ));
                ok = false;
                break;
            }
            if n > 0 && c.version == 2 {
                let ca_ok = matches!(c.basic_constraints(), Ok(Some((true, _))));
                let ku_ok = !matches!(c.key_usage(), Ok(Some(ku)) if ku & KU_KEY_CERT_SIGN == 0);
                if !ca_ok || !ku_ok {
                    problems.push(format!(
                        "the certificate {} in the timestamp authority's path is not a CA certificate",
                        name_to_string(c.subject())
                    ));
                    ok = false;
                    break;
                }
            }
        }
        if ok {
            return Ok(ca);
        }
    }
    if problems.is_empty() {
        return Err(bad(format!(
            "the timestamp was signed by {who} (issued by {}), which does not chain to a timestamp \
             authority of the trusted root ({})",
            name_to_string(signer.issuer()),
            root.source
        )));
    }
    Err(bad(problems.join("; ")))
}

/// Verifies a TimeStampToken over `data` (SHA-256/384/512 as the token
/// says), against the trusted root's timestamp authorities. `nonce`, when
/// given, must be echoed. Every failure names the timestamp.
pub fn verify_token(
    token_der: &[u8],
    data: &[u8],
    nonce: Option<&[u8]>,
    root: &TrustedRoot,
) -> Result<VerifiedTimestamp, TsaError> {
    let token = Token::from_der(token_der)?;
    let info = &token.info;
    let sd = &token.signed_data;
    let si = &sd.signer;

    if info.hash.digest(data) != info.hashed_message {
        return Err(bad(
            "the timestamp is for other data: its message imprint is not the hash of this signature",
        ));
    }
    if let Some(n) = nonce {
        match &info.nonce {
            Some(got) if integer_magnitude(got) == integer_magnitude(n) => {}
            _ => return Err(bad(
                "the timestamp does not answer this request: its nonce differs from the one sent",
            )),
        }
    }
    let ct = si
        .content_type()
        .map_err(|e| bad(format!("the timestamp token: {e}")))?;
    if ct != oid::TST_INFO {
        return Err(bad(
            "the timestamp token's contentType attribute is not TSTInfo",
        ));
    }
    let md = si
        .message_digest()
        .map_err(|e| bad(format!("the timestamp token: {e}")))?;
    if md != si.digest.digest(&token.tst_info_der) {
        return Err(bad(
            "the timestamp token's messageDigest does not match its TSTInfo; the token was altered",
        ));
    }
    let cert = sd
        .signer_certificate()
        .cloned()
        .or_else(|| {
            root.timestamp_authorities
                .iter()
                .flat_map(|ca| ca.chain.iter())
                .find(|c| matches_sid(c, &si.sid))
                .cloned()
        })
        .ok_or_else(|| {
            bad(
                "the timestamp token names a signing certificate that neither the token nor the \
                 trusted root's timestamp authorities carry",
            )
        })?;
    let key = cert
        .public_key()
        .map_err(|e| bad(format!("the timestamp authority's key: {e}")))?;
    let scheme = SigScheme::from_algorithm(&si.signature_algorithm, Some(si.digest))
        .map_err(|e| bad(format!("the timestamp token: {e}")))?;
    crypto::verify(&key, scheme, &si.signed_attrs_der, &si.signature).map_err(|_| {
        bad(format!(
            "the timestamp token's signature does not verify with the key of {}",
            name_to_string(cert.subject())
        ))
    })?;
    check_ess_binding(si, &cert)?;
    check_tsa_profile(&cert)?;
    let ca = chain_to_authority(&cert, &sd.certificates, root, info.gen_time)?;
    Ok(VerifiedTimestamp {
        gen_time: info.gen_time,
        accuracy_ms: info.accuracy_ms,
        serial: asn1::hex_lower(&info.serial),
        policy: info.policy.clone(),
        certificate: cert,
        authority_uri: ca.uri.clone(),
    })
}

/// The unsigned attribute id-aa-timeStampToken carrying `token` (DER).
pub fn token_attribute(token: &[u8]) -> Vec<u8> {
    let id = asn1::encode(tag::OID, oid::TIMESTAMP_TOKEN);
    let set = asn1::encode(tag::SET, token);
    asn1::encode_parts(tag::SEQUENCE, &[&id, &set])
}

/// The timestamp token a signer carries, if any (its single value).
pub fn embedded_token(si: &SignerInfo) -> Result<Option<Vec<u8>>, TsaError> {
    si.unsigned_value(oid::TIMESTAMP_TOKEN, "timestamp token")
        .map_err(|e| bad(format!("the signature's timestamp: {e}")))
}

/// Verifies the timestamp a git signature carries over its signature
/// value, when it carries one.
pub fn verify_embedded(
    si: &SignerInfo,
    root: &TrustedRoot,
) -> Result<Option<VerifiedTimestamp>, TsaError> {
    match embedded_token(si)? {
        Some(token) => verify_token(&token, &si.signature, None, root).map(Some),
        None => Ok(None),
    }
}

/// A timestamp obtained and verified.
#[derive(Debug, Clone)]
pub struct Timestamp {
    /// The TimeStampToken DER, to embed.
    pub token: Vec<u8>,
    /// What it vouches for.
    pub verified: VerifiedTimestamp,
}

/// An RFC 3161 client for one TSA endpoint.
#[derive(Debug, Clone)]
pub struct TsaClient {
    url: String,
    http: Http,
}

impl TsaClient {
    /// A client for the full endpoint URL (e.g.
    /// `https://timestamp.sigstore.dev/api/v1/timestamp`).
    pub fn new(url: &str, http: Http) -> TsaClient {
        TsaClient {
            url: url.to_string(),
            http,
        }
    }

    /// The endpoint.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Sends `req` and returns the token the TSA granted (not verified).
    /// Errors speak of the TSA as "it": [`TsaClient::timestamp`] names it.
    pub fn send(&self, req: &Request) -> Result<Vec<u8>, TsaError> {
        let resp = self
            .http
            .post_bytes(&self.url, CONTENT_TYPE_QUERY, req.der.clone())
            .map_err(|e| match e.status {
                Some(s) => bad(format!("it answered HTTP {s}: {}", e.message)),
                None => bad(format!("cannot reach it: {}", e.message)),
            })?;
        if !(200..300).contains(&resp.status) {
            return Err(bad(format!(
                "it answered HTTP {}: {}",
                resp.status,
                http::server_text(&resp.body)
            )));
        }
        // RFC 3161 section 3.4; a server that names no type gets the benefit
        // of the doubt (the reply is parsed strictly either way).
        if let Some(ct) = &resp.content_type {
            let mime = ct.split(';').next().unwrap_or_default().trim();
            if !mime.eq_ignore_ascii_case(CONTENT_TYPE_REPLY) {
                return Err(bad(format!(
                    "it answered with {}, not a timestamp reply ({CONTENT_TYPE_REPLY}): check that \
                     gitsign.timestampServerURL names the authority's timestamp endpoint",
                    http::server_text(mime.as_bytes())
                )));
            }
        }
        parse_response(&resp.body)
    }

    /// Timestamps `data`: a request with a fresh nonce, then every check of
    /// [`verify_token`] against `root` before the token is returned.
    /// Errors name the TSA.
    pub fn timestamp(&self, data: &[u8], root: &TrustedRoot) -> Result<Timestamp, TsaError> {
        let wrap = |e: TsaError| {
            bad(format!(
                "cannot timestamp the signature with the timestamp authority {}: {e}",
                self.url
            ))
        };
        let req = Request::new(data).map_err(wrap)?;
        let token = self.send(&req).map_err(wrap)?;
        let verified = verify_token(&token, data, Some(&req.nonce), root).map_err(wrap)?;
        Ok(Timestamp { token, verified })
    }
}

/// Adds the certificates of a PEM chain file (Go gitsign's
/// `GITSIGN_TIMESTAMP_CERT_CHAIN`: the TSA's certificate, intermediates,
/// root) to the trusted root's timestamp authorities, trusted at all times.
pub fn add_cert_chain(root: &mut TrustedRoot, path: &std::path::Path) -> Result<(), TrustError> {
    let shown = path.display();
    let meta = std::fs::metadata(path).map_err(|e| {
        TrustError(format!(
            "cannot read the timestamp authority chain {shown}: {e}"
        ))
    })?;
    if meta.len() > MAX_CHAIN_FILE {
        return Err(TrustError(format!(
            "the timestamp authority chain {shown} is larger than {MAX_CHAIN_FILE} bytes"
        )));
    }
    let text = std::fs::read_to_string(path).map_err(|e| {
        TrustError(format!(
            "cannot read the timestamp authority chain {shown}: {e}"
        ))
    })?;
    let certs = crate::pki::x509::certificates_from_pem(&text)
        .map_err(|e| TrustError(format!("the timestamp authority chain {shown}: {e}")))?;
    if certs.is_empty() {
        return Err(TrustError(format!(
            "the timestamp authority chain {shown} holds no certificate"
        )));
    }
    root.timestamp_authorities.push(CertificateAuthority::new(
        shown.to_string(),
        order_chain(certs),
        Validity::default(),
    ));
    Ok(())
}

/// Orders certificates so that each is followed by its issuer, starting
/// from the one no other certificate in the set names as issuer.
fn order_chain(mut certs: Vec<Certificate>) -> Vec<Certificate> {
    let start = certs
        .iter()
        .position(|c| {
            !certs
                .iter()
                .any(|o| !std::ptr::eq(o, c) && !o.is_self_issued() && o.issuer() == c.subject())
        })
        .unwrap_or(0);
    let mut out = vec![certs.remove(start)];
    while let Some(i) = certs.iter().position(|c| {
        out.last()
            .is_some_and(|l| l.issuer() == c.subject() && !l.is_self_issued())
    }) {
        out.push(certs.remove(i));
    }
    out.extend(certs);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_encoding() {
        let imprint = [7u8; 32];
        let der = encode_request(&imprint, Some(&[0x01, 0x02]), true);
        let seq = asn1::parse_single(&der, tag::SEQUENCE, "req").unwrap();
        let mut r = seq.reader();
        assert_eq!(r.read(tag::INTEGER, "v").unwrap().value, &[1]);
        let mi = r.read(tag::SEQUENCE, "mi").unwrap();
        let mut mr = mi.reader();
        let alg = mr.read(tag::SEQUENCE, "alg").unwrap();
        assert_eq!(
            asn1::parse_single(alg.value, tag::OID, "oid")
                .unwrap()
                .value,
            oid::SHA256
        );
        assert_eq!(mr.read(tag::OCTET_STRING, "h").unwrap().value, &imprint);
        assert_eq!(r.read(tag::INTEGER, "nonce").unwrap().value, &[1, 2]);
        assert!(r
            .read(tag::BOOLEAN, "certReq")
            .unwrap()
            .boolean("c")
            .unwrap());
        r.finish("req").unwrap();
        let bare = encode_request(&imprint, None, false);
        assert!(bare.len() < der.len());
    }

    #[test]
    fn nonces_are_positive_minimal_integers() {
        assert_eq!(positive_integer(&[0x80, 1]), vec![0, 0x80, 1]);
        assert_eq!(positive_integer(&[0, 0, 5]), vec![5]);
        assert_eq!(positive_integer(&[0, 0]), vec![0]);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..50 {
            let n = new_nonce().unwrap();
            assert!(!n.is_empty() && n.len() <= NONCE_BYTES + 1);
            assert!(n[0] & 0x80 == 0);
            assert!(n.len() == 1 || n[0] != 0 || n[1] & 0x80 != 0);
            // 128 random bits: never repeated, and (but for 2^-16 per
            // nonce) at least 15 bytes of magnitude.
            seen.insert(integer_magnitude(&n).to_vec());
        }
        assert_eq!(seen.len(), 50, "a nonce repeated");
        assert!(seen.iter().any(|n| n.len() >= 15));
        assert_eq!(integer_magnitude(&[0, 0x80]), &[0x80]);
        assert_eq!(integer_magnitude(&[0]), &[0]);
        assert_eq!(integer_magnitude(&[]), &[] as &[u8]);
    }

    // tests/fixtures/tsa-expired (tests/fixtures/tools/make_tsa_expired.py):
    // a TSA chain valid only in 2020-2021 and tokens it issued.
    fn expired_chain_root(valid_for: crate::sigstore::trust::Validity) -> TrustedRoot {
        let leaf = Certificate::from_pem(include_str!("../../tests/fixtures/tsa-expired/leaf.pem"))
            .unwrap();
        let root = Certificate::from_pem(include_str!("../../tests/fixtures/tsa-expired/root.pem"))
            .unwrap();
        TrustedRoot {
            timestamp_authorities: vec![crate::sigstore::trust::CertificateAuthority::new(
                "https://tsa.example".into(),
                vec![leaf, root],
                valid_for,
            )],
            source: "test root".into(),
            ..Default::default()
        }
    }

    /// A certificate of tests/fixtures/tsa-profiles.
    fn profile_cert(name: &str) -> Certificate {
        let path = format!(
            "{}/tests/fixtures/tsa-profiles/{name}.pem",
            env!("CARGO_MANIFEST_DIR")
        );
        Certificate::from_pem(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    /// The path from a token's signer to a trusted authority: through the
    /// authority's own chain or the token's certificates, each link named
    /// as the issuer and signed by it, at most four from the token.
    #[test]
    fn paths_to_an_authority() {
        let ca_root =
            Certificate::from_pem(include_str!("../../tests/fixtures/tsa-expired/root.pem"))
                .unwrap();
        let from_2020 = crate::sigstore::trust::Validity {
            start: crate::encoding::time::parse_rfc3339("2020-01-01T00:00:00Z"),
            end: None,
        };
        let trusting = |chain: &[&str]| TrustedRoot {
            timestamp_authorities: vec![crate::sigstore::trust::CertificateAuthority::new(
                "https://tsa.example".into(),
                chain
                    .iter()
                    .map(|n| profile_cert(n))
                    .chain([ca_root.clone()])
                    .collect(),
                from_2020,
            )],
            source: "test root".into(),
            ..Default::default()
        };
        let at = crate::encoding::time::parse_rfc3339("2020-06-01T12:00:00Z").unwrap();
        let path = |leaf: &str, extra: &[&str], root: &TrustedRoot| {
            let extra: Vec<Certificate> = extra.iter().map(|n| profile_cert(n)).collect();
            chain_to_authority(&profile_cert(leaf), &extra, root, at)
                .map(drop)
                .map_err(|e| e.0)
        };
        let refused = |leaf: &str, issuer: &str| {
            Err(format!(
                "the timestamp was signed by CN={leaf} (issued by CN={issuer}), which does not \
                 chain to a timestamp authority of the trusted root (test root)"
            ))
        };
        let leaf1 = "leaf-under-i1";
        // The issuer in the authority's chain: found by name and signature.
        assert_eq!(path(leaf1, &[], &trusting(&["chain-i1"])), Ok(()));
        for impostor in ["fake-i1", "renamed-i1"] {
            assert_eq!(
                path(leaf1, &[], &trusting(&[impostor])),
                refused(leaf1, "chain-i1"),
                "{impostor} in the trusted chain"
            );
        }
        // The issuer among the token's certificates: the same two tests.
        let root_only = trusting(&[]);
        assert_eq!(path(leaf1, &[], &root_only), refused(leaf1, "chain-i1"));
        assert_eq!(path(leaf1, &["chain-i1"], &root_only), Ok(()));
        assert_eq!(path(leaf1, &["fake-i1", "chain-i1"], &root_only), Ok(()));
        for impostor in ["fake-i1", "renamed-i1"] {
            assert_eq!(
                path(leaf1, &[impostor], &root_only),
                refused(leaf1, "chain-i1"),
                "{impostor} in the token"
            );
        }
        // Every issuer on the path is a CA allowed to sign certificates.
        for issuer in ["notca-i1", "nocertsign-i1"] {
            let leaf = format!("leaf-under-{issuer}");
            let not_ca = Err(format!(
                "the certificate CN={issuer} in the timestamp authority's path is not a CA \
                 certificate"
            ));
            assert_eq!(path(&leaf, &[issuer], &root_only), not_ca, "{issuer}");
            assert_eq!(path(&leaf, &[], &trusting(&[issuer])), not_ca, "{issuer}");
        }
        // Four intermediates from the token, not five.
        let four = ["chain-i4", "chain-i3", "chain-i2", "chain-i1"];
        assert_eq!(path("leaf-under-i4", &four, &root_only), Ok(()));
        let five = ["chain-i5", "chain-i4", "chain-i3", "chain-i2", "chain-i1"];
        assert_eq!(
            path("leaf-under-i5", &five, &root_only),
            refused("leaf-under-i5", "chain-i5")
        );
    }

    /// A chain file's certificates in any order come out leaf first, each
    /// followed by its issuer, the self-signed root last.
    #[test]
    fn chain_files_are_ordered_leaf_first() {
        let root = Certificate::from_pem(include_str!("../../tests/fixtures/tsa-expired/root.pem"))
            .unwrap();
        let certs = [
            profile_cert("leaf-under-i1"),
            profile_cert("chain-i1"),
            root,
        ];
        let names = |v: &[Certificate]| -> Vec<String> {
            v.iter().map(|c| name_to_string(c.subject())).collect()
        };
        let want = names(&certs);
        for order in [
            [0, 1, 2],
            [0, 2, 1],
            [1, 0, 2],
            [1, 2, 0],
            [2, 0, 1],
            [2, 1, 0],
        ] {
            let given: Vec<Certificate> = order.iter().map(|&i| certs[i].clone()).collect();
            assert_eq!(
                names(&order_chain(given)),
                want,
                "given in the order {order:?}"
            );
        }
    }

    /// RFC 3161 section 2.3's profile of the certificate that signs a
    /// timestamp, one broken rule per certificate
    /// (tests/fixtures/tools/make_tsa_profiles.py).
    #[test]
    fn the_tsa_certificate_profile() {
        let check = |name: &str| check_tsa_profile(&profile_cert(name)).map_err(|e| e.0);
        assert_eq!(check("ok"), Ok(()));
        assert_eq!(check("ok-nonrep"), Ok(()));
        for name in ["no-eku", "eku-extra", "eku-other"] {
            assert_eq!(
                check(name).unwrap_err(),
                format!(
                    "the certificate CN={name} that signed the timestamp is not a timestamping \
                     certificate (its extended key usage must be timeStamping only)"
                )
            );
        }
        assert_eq!(
            check("eku-noncritical").unwrap_err(),
            "the certificate CN=eku-noncritical that signed the timestamp does not mark its \
             timeStamping extended key usage critical, as RFC 3161 requires"
        );
        assert_eq!(
            check("ku-certsign").unwrap_err(),
            "the key usage of the timestamp authority's certificate CN=ku-certsign does not \
             allow signatures"
        );
        assert_eq!(
            check("unknown-critical").unwrap_err(),
            "the timestamp authority's certificate CN=unknown-critical has an unknown critical \
             extension 1.3.6.1.4.1.57264.99.1"
        );
    }

    /// `token` without the certificates its SignedData carries (what a
    /// TSA answers when certReq is false), and with its signer named by
    /// `key_id` (a subjectKeyIdentifier) when given: neither is under the
    /// signature, which still verifies.
    fn without_certificates(token: &[u8], key_id: Option<&[u8]>) -> Vec<u8> {
        let ci = asn1::parse_single(token, tag::SEQUENCE, "ContentInfo").unwrap();
        let mut r = ci.reader();
        let ct = r.read(tag::OID, "contentType").unwrap();
        let explicit = r.read(tag::context(0, true), "content").unwrap();
        let sd = asn1::parse_single(explicit.value, tag::SEQUENCE, "SignedData").unwrap();
        let mut parts: Vec<Vec<u8>> = Vec::new();
        let mut sr = sd.reader();
        while !sr.is_empty() {
            let t = sr.read_any("SignedData field").unwrap();
            if t.tag != tag::context(0, true) {
                parts.push(t.raw.to_vec());
            }
        }
        // version, digestAlgorithms, encapContentInfo, signerInfos.
        assert_eq!(parts.len(), 4);
        if let Some(ski) = key_id {
            let set = asn1::parse_single(&parts[3], tag::SET, "SignerInfos").unwrap();
            let si = set.reader().read(tag::SEQUENCE, "SignerInfo").unwrap();
            let mut fields = vec![
                asn1::encode(tag::INTEGER, &[3]),
                asn1::encode(tag::context(0, false), ski),
            ];
            let mut fr = si.reader();
            fr.read_any("version").unwrap();
            fr.read(tag::SEQUENCE, "sid").unwrap();
            while !fr.is_empty() {
                fields.push(fr.read_any("SignerInfo field").unwrap().raw.to_vec());
            }
            let refs: Vec<&[u8]> = fields.iter().map(Vec::as_slice).collect();
            let si = asn1::encode_parts(tag::SEQUENCE, &refs);
            parts[3] = asn1::encode(tag::SET, &si);
        }
        let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
        let sd = asn1::encode_parts(tag::SEQUENCE, &refs);
        let explicit = asn1::encode(tag::context(0, true), &sd);
        asn1::encode_parts(tag::SEQUENCE, &[ct.raw, &explicit])
    }

    /// A token without its certificate is verified with the trusted
    /// root's certificate its signer id names (issuer and serial, both),
    /// and refused by name when the root has none.
    #[test]
    fn a_token_without_certificates_uses_the_roots() {
        let data: &[u8] = include_bytes!("../../tests/fixtures/tsa-expired/data.txt");
        let original: &[u8] = include_bytes!("../../tests/fixtures/tsa-expired/token.der");
        let token = without_certificates(original, None);
        assert!(Token::from_der(&token)
            .unwrap()
            .signed_data
            .certificates
            .is_empty());
        let from_2020 = crate::sigstore::trust::Validity {
            start: crate::encoding::time::parse_rfc3339("2020-01-01T00:00:00Z"),
            end: None,
        };
        let leaf = Certificate::from_pem(include_str!("../../tests/fixtures/tsa-expired/leaf.pem"))
            .unwrap();
        let ca_root =
            Certificate::from_pem(include_str!("../../tests/fixtures/tsa-expired/root.pem"))
                .unwrap();
        let authority = |chain: Vec<Certificate>| {
            crate::sigstore::trust::CertificateAuthority::new(
                "https://tsa.example".into(),
                chain,
                from_2020,
            )
        };
        let root_of = |cas| TrustedRoot {
            timestamp_authorities: cas,
            source: "test root".into(),
            ..Default::default()
        };
        // The root CA comes first: same issuer as the leaf, another serial.
        let both = root_of(vec![
            authority(vec![ca_root.clone()]),
            authority(vec![leaf.clone(), ca_root.clone()]),
        ]);
        let ts = verify_token(&token, data, None, &both).unwrap();
        assert_eq!(ts.certificate.der(), leaf.der());
        let no_leaf = root_of(vec![authority(vec![ca_root.clone()])]);
        let e = verify_token(&token, data, None, &no_leaf).unwrap_err().0;
        assert_eq!(
            e,
            "the timestamp token names a signing certificate that neither the token nor the \
             trusted root's timestamp authorities carry"
        );
        // Named by key id: the certificate with that subjectKeyIdentifier
        // is the one tried (the root CA's here: its key did not sign)...
        let root_ski = ca_root.subject_key_id().unwrap().to_vec();
        let by_root_ski = without_certificates(original, Some(&root_ski));
        let e = verify_token(&by_root_ski, data, None, &both).unwrap_err().0;
        assert_eq!(
            e,
            "the timestamp token's signature does not verify with the key of \
             CN=expired-tsa-root,O=gitsign-test"
        );
        // ...and a key id no certificate has names none.
        let by_other = without_certificates(original, Some(&[7; 20]));
        let e = verify_token(&by_other, data, None, &both).unwrap_err().0;
        assert!(e.starts_with("the timestamp token names a signing certificate that neither"));
        // The signer's certificate issued again (same key, names and
        // serial; other bytes): the signature verifies with its key, but
        // the token's signingCertificateV2 hash names the original.
        let reissued = root_of(vec![authority(vec![
            profile_cert("leaf-reissued"),
            ca_root.clone(),
        ])]);
        let e = verify_token(&token, data, None, &reissued).unwrap_err().0;
        assert_eq!(
            e,
            "the timestamp's signingCertificate attribute names another certificate than the \
             one that signed the timestamp"
        );
    }

    #[test]
    fn an_expired_tsa_chain_is_judged_at_the_timestamps_time() {
        let data: &[u8] = include_bytes!("../../tests/fixtures/tsa-expired/data.txt");
        let token: &[u8] = include_bytes!("../../tests/fixtures/tsa-expired/token.der");
        let from_2020 = crate::sigstore::trust::Validity {
            start: crate::encoding::time::parse_rfc3339("2020-01-01T00:00:00Z"),
            end: None,
        };
        // Every certificate of the chain has expired by now; at genTime
        // (2020-06-01) all were valid, which is what RFC 3161 asks.
        let ts = verify_token(token, data, None, &expired_chain_root(from_2020)).unwrap();
        assert_eq!(format_time(ts.gen_time), "2020-06-01T12:00:00Z");
        assert!(ts.gen_time < crate::encoding::time::now());

        // Issued after the leaf expired (2021-01-01): refused.
        let late: &[u8] = include_bytes!("../../tests/fixtures/tsa-expired/token-after-expiry.der");
        let err = verify_token(late, data, None, &expired_chain_root(from_2020))
            .unwrap_err()
            .0;
        assert!(
            err.contains("lies outside the validity of the TSA certificate"),
            "{err}"
        );
        // The trusted root's window for the TSA ends (inclusively) at genTime.
        let to_gen_time = crate::sigstore::trust::Validity {
            start: from_2020.start,
            end: Some(ts.gen_time),
        };
        assert!(verify_token(token, data, None, &expired_chain_root(to_gen_time)).is_ok());
        let before = crate::sigstore::trust::Validity {
            start: from_2020.start,
            end: Some(ts.gen_time - 1),
        };
        let err = verify_token(token, data, None, &expired_chain_root(before))
            .unwrap_err()
            .0;
        assert!(err.contains("is trusted only from"), "{err}");
    }

    fn status_resp(status: u8, extra: &[u8]) -> Vec<u8> {
        let si = asn1::encode_parts(
            tag::SEQUENCE,
            &[&asn1::encode(tag::INTEGER, &[status]), extra],
        );
        asn1::encode(tag::SEQUENCE, &si)
    }

    #[test]
    fn refusals_name_status_and_failure() {
        let text = asn1::encode(tag::SEQUENCE, &asn1::encode(tag::UTF8_STRING, b"bad hash"));
        // failInfo badAlg (bit 0) and badDataFormat (bit 5): 0b1000_0100, 2 unused bits.
        let fail = asn1::encode(tag::BIT_STRING, &[2, 0x84]);
        let e = parse_response(&status_resp(2, &[text, fail].concat())).unwrap_err();
        assert!(e.0.contains("rejection"), "{e}");
        assert!(e.0.contains("badAlg"), "{e}");
        assert!(e.0.contains("badDataFormat"), "{e}");
        assert!(e.0.contains("bad hash"), "{e}");
        let e = parse_response(&status_resp(3, &[])).unwrap_err();
        assert!(e.0.contains("waiting"), "{e}");
        let e = parse_response(&status_resp(0, &[])).unwrap_err();
        assert!(e.0.contains("without a timestamp token"), "{e}");
        // granted (0) and grantedWithMods (1) hand back the token's bytes;
        // from rejection (2) on, the status is the answer.
        let token = asn1::encode(tag::SEQUENCE, &asn1::encode(tag::OID, oid::SHA256));
        for status in [0, 1] {
            let si = asn1::encode(tag::SEQUENCE, &asn1::encode(tag::INTEGER, &[status]));
            let resp = asn1::encode_parts(tag::SEQUENCE, &[&si, &token]);
            assert_eq!(parse_response(&resp).unwrap(), token, "status {status}");
        }
        let si = asn1::encode(tag::SEQUENCE, &asn1::encode(tag::INTEGER, &[2]));
        let resp = asn1::encode_parts(tag::SEQUENCE, &[&si, &token]);
        let e = parse_response(&resp).unwrap_err().0;
        assert_eq!(e, "the TSA refused the request: status rejection");
        assert!(parse_response(b"").unwrap_err().0.contains("unparseable"));
        assert!(parse_response(&[0x30, 0x80, 0x00]).is_err());
    }

    /// failInfo's bits are named exactly: each set bit once, by its RFC
    /// 3161 name or its number, across octets, without the unused bits.
    #[test]
    fn failure_bits_are_named_exactly() {
        let names = |bits: &[u8]| {
            let der = asn1::encode(tag::BIT_STRING, bits);
            failure_names(asn1::parse_single(&der, tag::BIT_STRING, "failInfo").unwrap())
                .map_err(|e| e.0)
        };
        let bad_alg = "badAlg (unsupported hash algorithm)";
        let bad_format = "badDataFormat (the request is malformed)";
        assert_eq!(names(&[2, 0x84]).unwrap(), [bad_alg, bad_format]);
        assert_eq!(names(&[6, 0, 0, 0, 0x40]).unwrap(), ["systemFailure"]);
        assert_eq!(
            names(&[0, 0x40, 0x02]).unwrap(),
            [
                "failure bit 1",
                "timeNotAvailable (the TSA's time source is not available)"
            ]
        );
        // Bits past the count the unused-bits octet leaves are not read.
        assert_eq!(names(&[7, 0x01]).unwrap(), Vec::<String>::new());
        assert_eq!(names(&[1, 0x01]).unwrap(), Vec::<String>::new());
        assert_eq!(names(&[0, 0x01]).unwrap(), ["failure bit 7"]);
        // Bits past 64 are not named (no failure has such a number).
        let mut wide = vec![0; 10];
        wide[9] = 0x80;
        assert_eq!(names(&wide).unwrap(), Vec::<String>::new());
        // An empty BIT STRING has no bits; seven unused bits is the most.
        assert_eq!(names(&[0]).unwrap(), Vec::<String>::new());
        assert!(names(&[1]).unwrap_err().contains("not a valid BIT STRING"));
        assert!(names(&[8, 0])
            .unwrap_err()
            .contains("not a valid BIT STRING"));
        assert!(names(&[]).unwrap_err().contains("empty BIT STRING"));
    }

    /// The TSA's statusString: its first four UTF8Strings, in order,
    /// control characters blanked; what is not a string is skipped.
    #[test]
    fn status_text_is_four_strings_at_most() {
        let mut parts: Vec<Vec<u8>> = ["one", "two\u{1b}[31m"]
            .iter()
            .map(|t| asn1::encode(tag::UTF8_STRING, t.as_bytes()))
            .collect();
        parts.push(asn1::encode(tag::INTEGER, &[7]));
        for t in ["three", "four", "five", "six"] {
            parts.push(asn1::encode(tag::UTF8_STRING, t.as_bytes()));
        }
        let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
        let text = asn1::encode_parts(tag::SEQUENCE, &refs);
        let e = parse_response(&status_resp(2, &text)).unwrap_err().0;
        assert!(
            e.ends_with("status rejection (\"one; two [31m; three; four\")"),
            "{e}"
        );
    }

    fn tst_info(nonce: Option<&[u8]>, accuracy: Option<Vec<u8>>) -> Vec<u8> {
        tst_info_with(oid::SHA256, &[0x12, 0x34], nonce, accuracy)
    }

    fn tst_info_with(
        hash: &[u8],
        serial: &[u8],
        nonce: Option<&[u8]>,
        accuracy: Option<Vec<u8>>,
    ) -> Vec<u8> {
        let mi = asn1::encode_parts(
            tag::SEQUENCE,
            &[
                &asn1::encode_parts(tag::SEQUENCE, &[&asn1::encode(tag::OID, hash), &[5, 0]]),
                &asn1::encode(tag::OCTET_STRING, &crypto::sha256(b"sig")),
            ],
        );
        let mut parts = vec![
            asn1::encode(tag::INTEGER, &[1]),
            asn1::encode(tag::OID, &[43, 6, 1, 4, 1, 131, 191, 48, 2]),
            mi,
            asn1::encode(tag::INTEGER, serial),
            asn1::encode(tag::GENERALIZED_TIME, b"20240102030405.25Z"),
        ];
        if let Some(a) = accuracy {
            parts.push(a);
        }
        if let Some(n) = nonce {
            parts.push(asn1::encode(tag::INTEGER, n));
        }
        let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
        asn1::encode_parts(tag::SEQUENCE, &refs)
    }

    /// accuracy: seconds, millis and micros each optional, millis and
    /// micros under 1000, seconds at most a leap year; the sum in
    /// milliseconds with microseconds rounded up.
    #[test]
    fn accuracy_bounds_and_sum() {
        let int = |n: u64| {
            let b = n.to_be_bytes();
            positive_integer(&b)
        };
        let acc = |s: Option<u64>, ms: Option<u64>, us: Option<u64>| {
            let mut parts = Vec::new();
            if let Some(s) = s {
                parts.push(asn1::encode(tag::INTEGER, &int(s)));
            }
            if let Some(ms) = ms {
                parts.push(asn1::encode(tag::context(0, false), &int(ms)));
            }
            if let Some(us) = us {
                parts.push(asn1::encode(tag::context(1, false), &int(us)));
            }
            let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
            let der = asn1::encode_parts(tag::SEQUENCE, &refs);
            parse_tst_info(&tst_info(None, Some(der)))
                .map(|i| i.accuracy_ms.unwrap())
                .map_err(|e| e.0)
        };
        assert_eq!(acc(Some(2), Some(3), Some(1)).unwrap(), 2_004);
        assert_eq!(acc(Some(2), Some(3), Some(999)).unwrap(), 2_004);
        assert_eq!(acc(Some(2), Some(3), Some(0)).unwrap(), 2_003);
        assert_eq!(acc(Some(2), Some(3), None).unwrap(), 2_003);
        assert_eq!(acc(None, Some(3), Some(1_000 - 1)).unwrap(), 4);
        assert_eq!(acc(Some(7), None, None).unwrap(), 7_000);
        assert_eq!(acc(None, None, Some(1)).unwrap(), 1);
        assert_eq!(acc(None, None, None).unwrap(), 0);
        assert_eq!(acc(None, Some(999), None).unwrap(), 999);
        assert_eq!(acc(Some(31_622_400), None, None).unwrap(), 31_622_400_000);
        for out in [
            acc(Some(31_622_401), None, None),
            acc(None, Some(1_000), None),
            acc(None, None, Some(1_000)),
        ] {
            assert!(out.unwrap_err().contains("accuracy is out of range"));
        }
    }

    /// A token vouches for genTime widened by its accuracy, rounded up to
    /// whole seconds; no accuracy, no widening; never overflowing.
    #[test]
    fn windows_widen_by_the_accuracy() {
        let ts = |gen_time: i64, accuracy_ms: Option<u64>| {
            VerifiedTimestamp {
                gen_time,
                accuracy_ms,
                serial: String::new(),
                policy: String::new(),
                certificate: Certificate::from_pem(TEST_CERT).unwrap(),
                authority_uri: String::new(),
            }
            .window()
        };
        assert_eq!(ts(1_000, None), (1_000, 1_000));
        assert_eq!(ts(1_000, Some(0)), (1_000, 1_000));
        assert_eq!(ts(1_000, Some(1)), (999, 1_001));
        assert_eq!(ts(1_000, Some(1_000)), (999, 1_001));
        assert_eq!(ts(1_000, Some(1_001)), (998, 1_002));
        let most = 18_446_744_073_709_552; // u64::MAX ms in whole seconds
        assert_eq!(ts(0, Some(u64::MAX)), (-most, most));
        assert_eq!(
            ts(i64::MIN + 5, Some(u64::MAX)),
            (i64::MIN, i64::MIN + 5 + most)
        );
        assert_eq!(ts(i64::MAX, Some(2_000)), (i64::MAX - 2, i64::MAX));
        assert_eq!(ts(i64::MIN, Some(2_000)), (i64::MIN, i64::MIN + 2));
    }

    /// serialNumber: 1 to 21 bytes (RFC 3161 allows up to 160 bits and
    /// a sign byte); nonce: 1 to 64; the imprint's hash SHA-2, not SHA-1.
    #[test]
    fn tst_info_bounds_and_hashes() {
        let parse = |hash: &[u8], serial: &[u8], nonce: Option<&[u8]>| {
            parse_tst_info(&tst_info_with(hash, serial, nonce, None)).map_err(|e| e.0)
        };
        let serial_bad = "the TSTInfo serial number is invalid";
        let nonce_bad = "the TSTInfo nonce is invalid";
        assert_eq!(parse(oid::SHA256, &[1], None).unwrap().serial, [1]);
        assert_eq!(parse(oid::SHA256, &[7; 21], None).unwrap().serial, [7; 21]);
        assert_eq!(parse(oid::SHA256, &[7; 22], None).unwrap_err(), serial_bad);
        assert_eq!(parse(oid::SHA256, &[], None).unwrap_err(), serial_bad);
        let n = parse(oid::SHA256, &[1], Some(&[5])).unwrap().nonce;
        assert_eq!(n.as_deref(), Some(&[5][..]));
        let n = parse(oid::SHA256, &[1], Some(&[5; 64])).unwrap().nonce;
        assert_eq!(n.as_deref(), Some(&[5; 64][..]));
        assert_eq!(
            parse(oid::SHA256, &[1], Some(&[5; 65])).unwrap_err(),
            nonce_bad
        );
        assert_eq!(parse(oid::SHA256, &[1], Some(&[])).unwrap_err(), nonce_bad);
        assert_eq!(parse(oid::SHA384, &[1], None).unwrap().hash, Hash::Sha384);
        assert_eq!(parse(oid::SHA512, &[1], None).unwrap().hash, Hash::Sha512);
        for refused in [oid::SHA1, oid::DATA] {
            let e = parse(refused, &[1], None).unwrap_err();
            assert!(
                e.ends_with("which is not accepted (SHA-256, SHA-384 or SHA-512)"),
                "{e}"
            );
        }
    }

    #[test]
    fn tst_info_parses() {
        let acc = asn1::encode_parts(
            tag::SEQUENCE,
            &[
                &asn1::encode(tag::INTEGER, &[1]),
                &asn1::encode(tag::context(0, false), &[0x01, 0xf4]),
                &asn1::encode(tag::context(1, false), &[10]),
            ],
        );
        let i = parse_tst_info(&tst_info(Some(&[9]), Some(acc))).unwrap();
        assert_eq!(i.policy, "1.3.6.1.4.1.57264.2");
        assert_eq!(i.hash, Hash::Sha256);
        assert_eq!(i.hashed_message, crypto::sha256(b"sig"));
        assert_eq!(i.serial, vec![0x12, 0x34]);
        assert_eq!(format_time(i.gen_time), "2024-01-02T03:04:05Z");
        assert_eq!(i.accuracy_ms, Some(1501));
        assert_eq!(i.nonce, Some(vec![9]));
        let plain = parse_tst_info(&tst_info(None, None)).unwrap();
        assert_eq!(plain.nonce, None);
        assert_eq!(plain.accuracy_ms, None);
        // Truncations and trailing bytes never panic and always fail.
        let der = tst_info(Some(&[9]), None);
        for n in 0..der.len() {
            assert!(parse_tst_info(&der[..n]).is_err());
        }
        let mut trailing = der.clone();
        trailing.push(0);
        assert!(parse_tst_info(&trailing).is_err());
    }

    /// The response and token size limits admit exactly the limit.
    #[test]
    fn size_limits_are_inclusive() {
        let limit = |r: Result<(), TsaError>| matches!(r, Err(e) if e.0.contains("-byte limit"));
        let der = |n: usize| vec![0x30; n];
        assert!(!limit(parse_response(&der(MAX_RESPONSE_LEN)).map(drop)));
        assert!(limit(parse_response(&der(MAX_RESPONSE_LEN + 1)).map(drop)));
        assert!(!limit(Token::from_der(&der(MAX_TOKEN_LEN)).map(drop)));
        assert!(limit(Token::from_der(&der(MAX_TOKEN_LEN + 1)).map(drop)));
        // The limits as documented, in numbers: a token of 64 KiB, an
        // answer of 68 KiB (the token and 4 KiB of status and wrapping).
        assert!(!limit(Token::from_der(&der(65_536)).map(drop)));
        assert!(limit(Token::from_der(&der(65_537)).map(drop)));
        assert!(!limit(parse_response(&der(69_632)).map(drop)));
        assert!(limit(parse_response(&der(69_633)).map(drop)));
    }

    /// A chain file (`GITSIGN_TIMESTAMP_CERT_CHAIN`) of up to 1 MiB is
    /// read; one byte more is refused for its size, before it is read.
    #[test]
    fn chain_file_limit_is_one_mebibyte() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("chain.pem");
        let file = |len: usize| {
            // The certificate, then text outside any PEM block up to `len`.
            let mut text = format!("{TEST_CERT}\n");
            text.push_str(&"#".repeat(len - text.len() - 1));
            text.push('\n');
            assert_eq!(text.len(), len);
            std::fs::write(&path, text).unwrap();
            let mut root = TrustedRoot::default();
            add_cert_chain(&mut root, &path).map(|()| root.timestamp_authorities.len())
        };
        assert_eq!(file(1024 * 1024).unwrap(), 1);
        let e = file(1024 * 1024 + 1).unwrap_err();
        assert!(e.0.contains("is larger than 1048576 bytes"), "{e}");
    }

    #[test]
    fn garbage_tokens_fail_cleanly() {
        let root = TrustedRoot::default();
        for input in [
            &b""[..],
            &[0x30, 0x00],
            &[0x30, 0x80, 0x30, 0x80],
            &[0x30, 0x84, 0xff, 0xff, 0xff, 0xff],
            &[0xff; 40],
        ] {
            assert!(verify_token(input, b"x", None, &root).is_err());
            assert!(Token::from_der(input).is_err());
        }
        let big = vec![0x30; MAX_TOKEN_LEN + 1];
        assert!(Token::from_der(&big).unwrap_err().0.contains("limit"));
        // A git signature (detached id-data) is not a token.
        let sig = crate::pki::cms::build_signed_data(
            &crate::pki::cms::signed_attributes(b"x", 0).unwrap(),
            &[1, 2],
            &Certificate::from_pem(TEST_CERT).unwrap(),
            &[],
        )
        .unwrap();
        let e = Token::from_der(&sig).unwrap_err();
        assert!(e.0.contains("timestamp token"), "{e}");
    }

    #[test]
    fn attribute_layout() {
        let a = token_attribute(&[0x30, 0x00]);
        let seq = asn1::parse_single(&a, tag::SEQUENCE, "attr").unwrap();
        let mut r = seq.reader();
        assert_eq!(r.read(tag::OID, "oid").unwrap().value, oid::TIMESTAMP_TOKEN);
        assert_eq!(r.read(tag::SET, "set").unwrap().value, &[0x30, 0x00]);
    }

    // A self-signed P-256 certificate (any certificate will do for layout tests).
    const TEST_CERT: &str = "-----BEGIN CERTIFICATE-----
MIIBfDCCASOgAwIBAgIUbUJQXvbNtUuzmWtyr+ZW/ILkeRcwCgYIKoZIzj0EAwIw
FDESMBAGA1UEAwwJdGVzdC1sZWFmMB4XDTI2MTEyNzA1MjExM1oXDTM2MTEyNDA1
MjExM1owFDESMBAGA1UEAwwJdGVzdC1sZWFmMFkwEwYHKoZIzj0CAQYIKoZIzj0D
AQcDQgAEM18ePj7oBv6sWDvoQWmMAzAW2Ek88OMeQnEYwEUujbPLpGeGFIglTu5Q
BmqvIWqSvR7zxHNIZyWfmhBn29IWpKNTMFEwHQYDVR0OBBYEFIxKSz4yZN4W3BZs
2bgnpd3dlotGMB8GA1UdIwQYMBaAFIxKSz4yZN4W3BZs2bgnpd3dlotGMA8GA1Ud
EwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDRwAwRAIgeiVqRp6Q0G1XKgxGq+xpvCqW
WmQaV0FUw6r1TwZYpK4CIEi7lmhznAfHmKjm6BZ1zbAZ5k/T6tIhCLgYS/jsQWJl
-----END CERTIFICATE-----
";
}
