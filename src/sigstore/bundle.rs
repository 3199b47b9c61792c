//! Sigstore bundles (media types v0.1, v0.2, v0.3): message signatures and
//! DSSE envelopes with Rekor v1 and Rekor v2 entries, verified against a
//! trusted root.
//! This lets gitsign signatures be exported to other Sigstore clients and
//! other clients' bundles be checked here.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::Deserialize;

use crate::encoding::asn1::{hex_decode, hex_lower};
use crate::encoding::pem;
use crate::pki::chain;
use crate::pki::claims::Claims;
use crate::pki::crypto::{self, PublicKey};
use crate::pki::x509::Certificate;
use crate::sigstore::tlog::{self, InclusionProof, LogEntry};
use crate::sigstore::trust::TrustedRoot;

/// Largest bundle accepted.
pub const MAX_BUNDLE: usize = 4 * 1024 * 1024;
/// Largest artifact hashed from a file is unbounded (streamed); bundles
/// whose DSSE payload exceeds this are refused.
const MAX_PAYLOAD: usize = 2 * 1024 * 1024;

/// What was signed: the bytes, or only their SHA-256.
#[derive(Debug, Clone)]
pub enum Artifact {
    /// The artifact's bytes.
    Bytes(Vec<u8>),
    /// Its SHA-256 digest.
    Digest([u8; 32]),
}

impl Artifact {
    /// From the CLI form: a file path, or `sha256:HEX`.
    pub fn from_arg(arg: &str) -> Result<Artifact, String> {
        if let Some(hex) = arg.strip_prefix("sha256:") {
            let d = hex_decode(hex).filter(|d| d.len() == 32).ok_or_else(|| {
                format!("\"{arg}\" is not a SHA-256 digest (sha256: followed by 64 hex digits)")
            })?;
            let mut out = [0u8; 32];
            out.copy_from_slice(&d);
            return Ok(Artifact::Digest(out));
        }
        std::fs::read(arg)
            .map(Artifact::Bytes)
            .map_err(|e| format!("cannot read the artifact {arg}: {e}"))
    }

    /// SHA-256 of the artifact.
    pub fn digest(&self) -> [u8; 32] {
        match self {
            Artifact::Bytes(b) => crypto::sha256(b),
            Artifact::Digest(d) => *d,
        }
    }
}

/// Verification options.
pub struct Options<'a> {
    /// Trust material.
    pub root: &'a TrustedRoot,
    /// Require an SCT for certificates.
    pub require_sct: bool,
    /// For key-signed bundles: the expected key.
    pub key: Option<&'a PublicKey>,
}

/// What a verified bundle establishes.
#[derive(Debug, Clone)]
pub struct Verified {
    /// Signer claims (certificate bundles only).
    pub claims: Option<Claims>,
    /// Human-readable details.
    pub details: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Bundle {
    media_type: String,
    verification_material: Material,
    message_signature: Option<MessageSignature>,
    dsse_envelope: Option<Envelope>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Material {
    certificate: Option<RawBytes>,
    x509_certificate_chain: Option<Chain>,
    public_key: Option<serde_json::Value>,
    #[serde(default)]
    tlog_entries: Vec<TlogEntry>,
    timestamp_verification_data: Option<TimestampData>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TimestampData {
    #[serde(default)]
    rfc3161_timestamps: Vec<SignedTimestamp>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SignedTimestamp {
    signed_timestamp: String,
}

/// The most RFC 3161 timestamps one bundle may carry (each costs a chain
/// verification).
const MAX_TIMESTAMPS: usize = 16;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawBytes {
    raw_bytes: String,
}

#[derive(Deserialize)]
struct Chain {
    certificates: Vec<RawBytes>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MessageSignature {
    message_digest: Option<MessageDigest>,
    signature: String,
}

#[derive(Deserialize)]
struct MessageDigest {
    algorithm: String,
    digest: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Envelope {
    payload: String,
    payload_type: String,
    signatures: Vec<EnvelopeSig>,
}

#[derive(Deserialize)]
struct EnvelopeSig {
    sig: String,
}

/// Integers in protobuf JSON may be strings or numbers.
#[derive(Deserialize)]
#[serde(untagged)]
enum Int {
    S(String),
    N(i64),
}

impl Int {
    fn get(&self, what: &str) -> Result<i64, String> {
        match self {
            Int::N(n) => Ok(*n),
            Int::S(s) => s
                .parse()
                .map_err(|_| format!("the bundle's {what} is not an integer")),
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TlogEntry {
    log_index: Int,
    log_id: KeyId,
    kind_version: Option<KindVersion>,
    /// Absent in Rekor v2 entries (protobuf JSON omits zero).
    integrated_time: Option<Int>,
    inclusion_promise: Option<Promise>,
    inclusion_proof: Option<Proof>,
    canonicalized_body: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct KeyId {
    key_id: String,
}

#[derive(Deserialize)]
struct KindVersion {
    kind: String,
    version: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Promise {
    signed_entry_timestamp: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Proof {
    log_index: Int,
    root_hash: String,
    tree_size: Int,
    #[serde(default)]
    hashes: Vec<String>,
    checkpoint: Option<Checkpoint>,
}

#[derive(Deserialize)]
struct Checkpoint {
    envelope: String,
}

fn b64(s: &str, what: &str) -> Result<Vec<u8>, String> {
    STANDARD
        .decode(s)
        .map_err(|_| format!("the bundle's {what} is not valid base64"))
}

fn entry(e: &TlogEntry) -> Result<LogEntry, String> {
    let non_neg = |i: &Int, what: &str| -> Result<u64, String> {
        u64::try_from(i.get(what)?).map_err(|_| format!("the bundle's {what} is negative"))
    };
    Ok(LogEntry {
        log_index: non_neg(&e.log_index, "log index")?,
        log_id: b64(&e.log_id.key_id, "log id")?,
        integrated_time: match &e.integrated_time {
            Some(t) => t.get("integrated time")?,
            None => 0,
        },
        body: b64(&e.canonicalized_body, "log entry body")?,
        set: e
            .inclusion_promise
            .as_ref()
            .map(|p| b64(&p.signed_entry_timestamp, "SET"))
            .transpose()?,
        proof: e
            .inclusion_proof
            .as_ref()
            .map(|p| -> Result<InclusionProof, String> {
                Ok(InclusionProof {
                    log_index: non_neg(&p.log_index, "proof index")?,
                    root_hash: b64(&p.root_hash, "root hash")?,
                    tree_size: non_neg(&p.tree_size, "tree size")?,
                    hashes: p
                        .hashes
                        .iter()
                        .map(|h| b64(h, "proof hash"))
                        .collect::<Result<_, _>>()?,
                    checkpoint: p.checkpoint.as_ref().map(|c| c.envelope.clone()),
                })
            })
            .transpose()?,
        kind_version: e
            .kind_version
            .as_ref()
            .map(|k| (k.kind.clone(), k.version.clone())),
    })
}

/// Decodes one `TransparencyLogEntry` in protobuf JSON (what a bundle's
/// `tlogEntries` hold and what Rekor v2 answers to a new entry).
pub fn tlog_entry_from_json(json: &[u8]) -> Result<LogEntry, String> {
    if json.len() > 16 * tlog::MAX_ENTRY_LEN {
        return Err("the log entry is too large".into());
    }
    let e: TlogEntry =
        serde_json::from_slice(json).map_err(|e| format!("not a TransparencyLogEntry: {e}"))?;
    entry(&e)
}

/// DSSE pre-authentication encoding.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {} {} ",
        payload_type.len(),
        payload_type,
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}

/// The signed content, for matching against log entry bodies.
enum Content {
    Message {
        digest: [u8; 32],
        signature: Vec<u8>,
    },
    Dsse {
        payload: Vec<u8>,
        pae: Vec<u8>,
        signature: Vec<u8>,
    },
}

/// Verifies a bundle over an artifact.
pub fn verify_bundle(
    json: &[u8],
    artifact: &Artifact,
    opts: &Options<'_>,
) -> Result<Verified, String> {
    if json.len() > MAX_BUNDLE {
        return Err("the bundle is too large".into());
    }
    let b: Bundle =
        serde_json::from_slice(json).map_err(|e| format!("not a Sigstore bundle: {e}"))?;
    let version = match b.media_type.as_str() {
        "application/vnd.dev.sigstore.bundle+json;version=0.1" => 1,
        "application/vnd.dev.sigstore.bundle+json;version=0.2" => 2,
        "application/vnd.dev.sigstore.bundle.v0.3+json"
        | "application/vnd.dev.sigstore.bundle+json;version=0.3" => 3,
        other => return Err(format!("unsupported bundle media type \"{other}\"")),
    };
    let m = &b.verification_material;
    let cert = match (&m.certificate, &m.x509_certificate_chain) {
        (Some(c), _) => Some(b64(&c.raw_bytes, "certificate")?),
        (None, Some(ch)) => Some(b64(
            &ch.certificates
                .first()
                .ok_or("the bundle's certificate chain is empty")?
                .raw_bytes,
            "certificate",
        )?),
        (None, None) => None,
    };
    let cert = cert
        .map(|d| Certificate::from_der(d).map_err(|e| format!("the bundle's {e}")))
        .transpose()?;
    let key = match (&cert, opts.key, &m.public_key) {
        (Some(c), _, _) => c.public_key().map_err(|e| e.to_string())?,
        (None, Some(k), _) => k.clone(),
        (None, None, Some(_)) => {
            return Err("the bundle is signed with a key: pass it with --key".into())
        }
        (None, None, None) => return Err("the bundle has no certificate or public key".into()),
    };
    if let (Some(_), Some(_)) = (&cert, opts.key) {
        return Err("the bundle is signed with a certificate, not the given --key".into());
    }
    let artifact_digest = artifact.digest();
    let mut details = Vec::new();

    let content = match (&b.message_signature, &b.dsse_envelope) {
        (Some(ms), None) => {
            let sig = b64(&ms.signature, "signature")?;
            if let Some(md) = &ms.message_digest {
                if md.algorithm != "SHA2_256" {
                    return Err(format!(
                        "unsupported message digest algorithm {}",
                        md.algorithm
                    ));
                }
                if b64(&md.digest, "message digest")? != artifact_digest {
                    return Err("the artifact does not match the bundle's message digest".into());
                }
            }
            let scheme = crypto::default_scheme(&key);
            let ok = match artifact {
                Artifact::Bytes(bytes) => crypto::verify(&key, scheme, bytes, &sig),
                Artifact::Digest(d) => crypto::verify_prehashed(&key, scheme, d, &sig),
            };
            ok.map_err(|_| "the bundle's signature does not verify over the artifact".to_string())?;
            Content::Message {
                digest: artifact_digest,
                signature: sig,
            }
        }
        (None, Some(env)) => {
            let payload = b64(&env.payload, "DSSE payload")?;
            if payload.len() > MAX_PAYLOAD {
                return Err("the DSSE payload is too large".into());
            }
            let [s] = env.signatures.as_slice() else {
                return Err("the DSSE envelope must carry exactly one signature".into());
            };
            let sig = b64(&s.sig, "DSSE signature")?;
            let pae = pae(&env.payload_type, &payload);
            crypto::verify(&key, crypto::default_scheme(&key), &pae, &sig)
                .map_err(|_| "the DSSE envelope's signature does not verify".to_string())?;
            check_statement_subject(&env.payload_type, &payload, &artifact_digest)?;
            Content::Dsse {
                payload,
                pae,
                signature: sig,
            }
        }
        _ => {
            return Err(
                "the bundle must hold exactly one of messageSignature and dsseEnvelope".into(),
            )
        }
    };

    // Transparency log: every entry must verify; at least one is required.
    if m.tlog_entries.is_empty() {
        return Err("the bundle has no transparency log entry".into());
    }
    let mut logged = Vec::new();
    for e in &m.tlog_entries {
        let le = entry(e)?;
        if version >= 2 && le.proof.is_none() {
            return Err(
                "the bundle's log entry has no inclusion proof (required from bundle v0.2)".into(),
            );
        }
        check_kind_version(&le)?;
        if le.is_v2() {
            check_v2_body(&le, &content, cert.as_ref(), &key)?;
        } else {
            check_body(&le.body, &content, cert.as_ref(), &key)?;
        }
        logged.push(tlog::verify_entry(&le, opts.root).map_err(|e| e.0)?);
    }

    // RFC 3161 timestamps over the signature bytes: each must verify
    // against the trusted root's timestamp authorities and, with a
    // certificate, date the signature inside its validity.
    let stamps = m
        .timestamp_verification_data
        .as_ref()
        .map(|t| t.rfc3161_timestamps.as_slice())
        .unwrap_or_default();
    if stamps.len() > MAX_TIMESTAMPS {
        return Err(format!(
            "the bundle carries {} RFC 3161 timestamps, more than the {MAX_TIMESTAMPS} accepted",
            stamps.len()
        ));
    }
    let signature = match &content {
        Content::Message { signature, .. } | Content::Dsse { signature, .. } => signature,
    };
    let mut stamp_times = Vec::new();
    for (i, st) in stamps.iter().enumerate() {
        if stamps[..i]
            .iter()
            .any(|o| o.signed_timestamp == st.signed_timestamp)
        {
            return Err(format!(
                "the bundle carries RFC 3161 timestamp {} twice: one timestamp cannot count as two",
                i + 1
            ));
        }
        let n = i + 1;
        // A whole TimeStampResp (the bundle format says so), not a bare token.
        let response = b64(&st.signed_timestamp, "RFC 3161 timestamp")?;
        let token = crate::pki::tsa::parse_response(&response)
            .map_err(|e| format!("the bundle's RFC 3161 timestamp {n}: {}", e.0))?;
        let v = crate::pki::tsa::verify_token(&token, signature, None, opts.root)
            .map_err(|e| format!("the bundle's RFC 3161 timestamp {n}: {}", e.0))?;
        // The token's genTime inside the certificate's validity, both ends
        // inclusive, as sigstore-go and sigstore-python check bundles (the
        // conformance suite's TSA cases: a token whose genTime equals the
        // certificate's notBefore, with one second of accuracy, is good).
        if let Some(c) = &cert {
            if v.gen_time < c.not_before || v.gen_time > c.not_after {
                return Err(format!(
                    "the bundle's RFC 3161 timestamp {n} dates the signature {}, outside the \
                     certificate's validity ({} to {})",
                    crate::encoding::time::format_time(v.gen_time),
                    crate::encoding::time::format_time(c.not_before),
                    crate::encoding::time::format_time(c.not_after)
                ));
            }
        }
        details.push(format!(
            "RFC 3161 timestamp by {} at {}",
            v.tsa_name(),
            crate::encoding::time::format_time(v.gen_time)
        ));
        stamp_times.push(v.gen_time);
    }

    // The verified times: those the logs signed (SETs) and the verified
    // timestamps'. An entry without a SET is dated by the timestamps alone
    // (its integratedTime is covered by no signature), and its log's key
    // must have been valid then.
    let mut times = Vec::new();
    for v in &logged {
        match (v.time(), stamp_times.first()) {
            (Some(t), _) => {
                details.push(format!(
                    "{} integrated {}",
                    v.describe(),
                    crate::encoding::time::format_time(t)
                ));
                times.push(t);
            }
            (None, Some(&t)) => {
                v.check_log_valid_at(t).map_err(|e| e.0)?;
                details.push(v.describe());
            }
            // With a key (no certificate) no time is needed to judge the
            // signature: as sigstore-go's WithCurrentTime, the entry is
            // judged now, so its log's key must be trusted now (the
            // conformance suite's key-based one-leaf logs carry no time).
            (None, None) if cert.is_none() => {
                v.check_log_valid_at(crate::encoding::time::now())
                    .map_err(|e| e.0)?;
                details.push(format!(
                    "{} (no signed time, none needed for a key: the log's key is trusted now)",
                    v.describe()
                ));
            }
            (None, None) if v.v2 => {
                return Err(
                    "the bundle's Rekor v2 log entry has no time of its own (Rekor v2 signs none) and the bundle \
                     carries no RFC 3161 timestamp: nothing the trusted root vouches for says when it was signed \
                     (rekorTimestamp)"
                        .into(),
                )
            }
            (None, None) => {
                return Err(
                    "the bundle's log entry carries no signed entry timestamp (SET) and the bundle no RFC 3161 \
                     timestamp: nothing the trusted root vouches for says when it was signed (rekorSET)"
                        .into(),
                )
            }
        }
    }
    times.extend(stamp_times);

    // The certificate must hold at every verified time (as sigstore-go
    // checks it).
    times.sort_unstable();
    times.dedup();
    let claims = match &cert {
        Some(c) => {
            let issuers = chain::find_issuers(c, opts.root)?;
            let mut claims = None;
            for &t in &times {
                if t < c.not_before || t > c.not_after {
                    return Err(format!(
                        "the signature is dated {} (verified), outside the certificate's validity ({} to {})",
                        crate::encoding::time::format_time(t),
                        crate::encoding::time::format_time(c.not_before),
                        crate::encoding::time::format_time(c.not_after)
                    ));
                }
                let (_, cl, _) =
                    crate::verify::certificate_at(c, &issuers, t, opts.root, opts.require_sct)?;
                claims = Some(cl);
            }
            claims
        }
        None => None,
    };
    Ok(Verified { claims, details })
}

/// The entry's kind and version, where the bundle states them, must be the
/// body's own (which the inclusion proof covers).
fn check_kind_version(le: &LogEntry) -> Result<(), String> {
    let Some((kind, version)) = &le.kind_version else {
        return Ok(());
    };
    let v: serde_json::Value = serde_json::from_slice(&le.body)
        .map_err(|_| "the log entry body is not JSON".to_string())?;
    if v["kind"].as_str() != Some(kind) || v["apiVersion"].as_str() != Some(version) {
        return Err(format!(
            "the bundle says its log entry is {kind} {version}, but the entry's body is {} {}",
            v["kind"].as_str().unwrap_or("?"),
            v["apiVersion"].as_str().unwrap_or("?")
        ));
    }
    Ok(())
}

/// A Rekor v2 entry's body, compared with the one rebuilt from the bundle:
/// hashedrekord 0.0.2 over the artifact digest (message signatures) or over
/// SHA-256 of the DSSE PAE (how Rekor v2 clients log envelopes as
/// hashedrekord), or dsse 0.0.2 over the payload's SHA-256; the signature
/// and the certificate that made it.
fn check_v2_body(
    le: &LogEntry,
    content: &Content,
    cert: Option<&Certificate>,
    key: &PublicKey,
) -> Result<(), String> {
    let cert = cert.ok_or(
        "the bundle's Rekor v2 entry is for a key-signed bundle; only certificate-signed Rekor v2 entries are \
         verified here",
    )?;
    let verifier = tlog::V2Verifier::Certificate(cert.der());
    let kind = le
        .kind_version
        .as_ref()
        .map(|(k, _)| k.as_str())
        .unwrap_or("");
    let expected = match (kind, content) {
        ("hashedrekord", Content::Message { digest, signature }) => {
            tlog::hashedrekord_v2_value(digest, signature, verifier, key)
        }
        ("hashedrekord", Content::Dsse { pae, signature, .. }) => {
            tlog::hashedrekord_v2_value(&crypto::sha256(pae), signature, verifier, key)
        }
        (
            "dsse",
            Content::Dsse {
                payload, signature, ..
            },
        ) => tlog::dsse_v2_value(&crypto::sha256(payload), signature, verifier, key),
        (k, _) => {
            return Err(format!(
                "the Rekor v2 log entry kind \"{k}\" does not match the bundle's content"
            ))
        }
    }
    .map_err(|e| e.0)?;
    tlog::check_v2_body(&le.body, &expected).map_err(|e| e.0)
}

const IN_TOTO_STATEMENT_V1: &str = "https://in-toto.io/Statement/v1";
const IN_TOTO_STATEMENT_V01: &str = "https://in-toto.io/Statement/v0.1";

/// For in-toto statements, the artifact must be one of the subjects.
fn check_statement_subject(
    payload_type: &str,
    payload: &[u8],
    digest: &[u8; 32],
) -> Result<(), String> {
    if payload_type != "application/vnd.in-toto+json" {
        return Err(format!("unsupported DSSE payload type \"{payload_type}\""));
    }
    let v: serde_json::Value = serde_json::from_slice(payload)
        .map_err(|_| "the in-toto statement is not JSON".to_string())?;
    // Only statement types whose meaning is known: a statement without a
    // `_type`, or of a later version, is not read as a v1 one.
    match v["_type"].as_str() {
        Some(IN_TOTO_STATEMENT_V1 | IN_TOTO_STATEMENT_V01) => {}
        Some(t) => {
            return Err(format!(
            "the in-toto statement has an unknown _type \"{t}\" (expected {IN_TOTO_STATEMENT_V1})"
        ))
        }
        None => {
            return Err(format!(
                "the in-toto statement has no _type (expected {IN_TOTO_STATEMENT_V1})"
            ))
        }
    }
    let want = hex_lower(digest);
    let found = v["subject"]
        .as_array()
        .map(|subs| {
            subs.iter()
                .any(|s| s["digest"]["sha256"].as_str() == Some(want.as_str()))
        })
        .unwrap_or(false);
    if !found {
        return Err("the artifact is not a subject of the in-toto statement".into());
    }
    Ok(())
}

fn names_signer(public_key_field: &[u8], cert: Option<&Certificate>, key: &PublicKey) -> bool {
    let Ok(text) = std::str::from_utf8(public_key_field) else {
        return false;
    };
    let Ok(blocks) = pem::decode_all(text) else {
        return false;
    };
    blocks.iter().any(|b| match (b.label.as_str(), cert) {
        ("CERTIFICATE", Some(c)) => b.der == c.der(),
        ("PUBLIC KEY", None) => PublicKey::from_spki(&b.der).ok().as_ref() == Some(key),
        _ => false,
    })
}

fn check_body(
    body: &[u8],
    content: &Content,
    cert: Option<&Certificate>,
    key: &PublicKey,
) -> Result<(), String> {
    let v: serde_json::Value =
        serde_json::from_slice(body).map_err(|_| "the log entry body is not JSON".to_string())?;
    let kind = v["kind"].as_str().unwrap_or("");
    let mismatch = |what: &str| {
        format!("the transparency log entry is for a different {what} than the bundle's")
    };
    match (kind, content) {
        ("hashedrekord", Content::Message { digest, signature }) => {
            let hr = tlog::parse_hashedrekord(body).map_err(|e| e.0)?;
            if hr.digest != digest {
                return Err(mismatch("artifact"));
            }
            if &hr.signature != signature {
                return Err(mismatch("signature"));
            }
            if !names_signer(&hr.public_key, cert, key) {
                return Err(mismatch("signer"));
            }
            Ok(())
        }
        // A DSSE envelope may be logged as a hashedrekord over the digest of
        // its PAE, the bytes its signature covers (client spec, "Bundle
        // content vs. Rekor entry kind"; sigstore-go logs it so for logs
        // that take only hashedrekord): the entry must hold that digest, the
        // envelope's one signature and its signer.
        ("hashedrekord", Content::Dsse { pae, signature, .. }) => {
            let hr = tlog::parse_hashedrekord(body).map_err(|e| e.0)?;
            if hr.digest != crypto::sha256(pae) {
                return Err(
                    "the transparency log entry (hashedrekord) is for a different DSSE envelope: \
                     its digest is not that of this envelope's PAE"
                        .into(),
                );
            }
            if &hr.signature != signature {
                return Err(mismatch("signature"));
            }
            if !names_signer(&hr.public_key, cert, key) {
                return Err(mismatch("signer"));
            }
            Ok(())
        }
        (
            "dsse",
            Content::Dsse {
                payload, signature, ..
            },
        ) => {
            let spec = &v["spec"];
            if spec["payloadHash"]["algorithm"].as_str() != Some("sha256")
                || spec["payloadHash"]["value"].as_str()
                    != Some(hex_lower(&crypto::sha256(payload)).as_str())
            {
                return Err(mismatch("payload"));
            }
            // The entry must be for exactly this one-signature envelope
            // (as sigstore-python requires).
            let sigs = spec["signatures"].as_array().cloned().unwrap_or_default();
            let ok = sigs.len() == 1
                && sigs.iter().all(|s| {
                    s["signature"]
                        .as_str()
                        .and_then(|x| STANDARD.decode(x).ok())
                        .as_ref()
                        == Some(signature)
                        && s["verifier"]
                            .as_str()
                            .and_then(|x| STANDARD.decode(x).ok())
                            .is_some_and(|pk| names_signer(&pk, cert, key))
                });
            if !ok {
                return Err(mismatch("signature"));
            }
            Ok(())
        }
        (
            "intoto",
            Content::Dsse {
                payload, signature, ..
            },
        ) => {
            let spec = &v["spec"]["content"];
            if spec["payloadHash"]["value"].as_str()
                != Some(hex_lower(&crypto::sha256(payload)).as_str())
            {
                return Err(mismatch("payload"));
            }
            // intoto 0.0.2 double-encodes signatures and keys in base64.
            let dec2 = |x: &serde_json::Value| {
                x.as_str()
                    .and_then(|s| STANDARD.decode(s).ok())
                    .and_then(|b| STANDARD.decode(b).ok())
            };
            let sigs = spec["envelope"]["signatures"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            // The key is the PEM base64-encoded twice by some writers and
            // once by others (the conformance suite's
            // intoto-canonical-log-entry); either way it must be the signer.
            let dec1 = |x: &serde_json::Value| x.as_str().and_then(|s| STANDARD.decode(s).ok());
            let ok = sigs.iter().any(|s| {
                dec2(&s["sig"]).as_ref() == Some(signature)
                    && [dec2(&s["publicKey"]), dec1(&s["publicKey"])]
                        .into_iter()
                        .flatten()
                        .any(|pk| names_signer(&pk, cert, key))
            });
            if !ok {
                return Err(mismatch("signature"));
            }
            Ok(())
        }
        (k, _) => Err(format!(
            "the transparency log entry kind \"{k}\" does not match the bundle's content"
        )),
    }
}

/// Projects an offline-mode git signature onto a Sigstore bundle v0.3 whose
/// artifact is the DER of the signed attributes (what the signature and the
/// Rekor entry cover), so other Sigstore clients can verify it. Returns the
/// bundle JSON and the artifact bytes.
pub fn export_signature(signature: &[u8]) -> Result<(String, Vec<u8>), String> {
    let der = crate::pki::cms::unarmor(signature).map_err(|e| e.0)?;
    let sd = crate::pki::cms::SignedData::from_der(&der).map_err(|e| e.0)?;
    let cert = sd
        .signer_certificate()
        .ok_or("the signature does not carry its certificate")?;
    let si = &sd.signer;
    let entry = crate::verify::embedded_entry(&sd, cert).map_err(|e| e.0)?.ok_or(
        "this is an online-mode signature: its Rekor entry is not embedded, so it cannot be exported offline",
    )?;
    let artifact = si.signed_attrs_der.clone();
    let digest = crypto::sha256(&artifact);
    let body = entry.body.clone();
    let proof = entry
        .proof
        .as_ref()
        .ok_or("the embedded entry has no inclusion proof")?;
    let version = if entry.is_v2() { "0.0.2" } else { "0.0.1" };
    let mut tlog = serde_json::json!({
        "logIndex": entry.log_index.to_string(),
        "logId": {"keyId": STANDARD.encode(&entry.log_id)},
        "kindVersion": {"kind": "hashedrekord", "version": version},
        "canonicalizedBody": STANDARD.encode(&body),
        "inclusionProof": {
            "logIndex": proof.log_index.to_string(),
            "rootHash": STANDARD.encode(&proof.root_hash),
            "treeSize": proof.tree_size.to_string(),
            "hashes": proof.hashes.iter().map(|h| STANDARD.encode(h)).collect::<Vec<_>>(),
            "checkpoint": {"envelope": proof.checkpoint.clone().unwrap_or_default()}
        }
    });
    // Rekor v2 entries have no integration time and no SET (protobuf JSON
    // leaves the zero time out); their time is the timestamp's.
    if !entry.is_v2() {
        tlog["integratedTime"] = serde_json::json!(entry.integrated_time.to_string());
    }
    if let Some(set) = entry.set.as_ref().filter(|_| !entry.is_v2()) {
        tlog["inclusionPromise"] =
            serde_json::json!({"signedEntryTimestamp": STANDARD.encode(set)});
    }
    let mut material = serde_json::json!({
        "certificate": {"rawBytes": STANDARD.encode(cert.der())},
        "tlogEntries": [tlog]
    });
    // A timestamp the signature carries is over its signature value: the
    // bundle's message signature, so it travels along unchanged.
    if let Some(token) = crate::pki::tsa::embedded_token(si).map_err(|e| e.0)? {
        let response = crate::pki::tsa::encode_granted_response(&token);
        material["timestampVerificationData"] = serde_json::json!({
            "rfc3161Timestamps": [{"signedTimestamp": STANDARD.encode(response)}]
        });
    }
    let bundle = serde_json::json!({
        "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
        "verificationMaterial": material,
        "messageSignature": {
            "messageDigest": {"algorithm": "SHA2_256", "digest": STANDARD.encode(digest)},
            "signature": STANDARD.encode(&si.signature)
        }
    });
    Ok((
        serde_json::to_string_pretty(&bundle).unwrap_or_default(),
        artifact,
    ))
}
