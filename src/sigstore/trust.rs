//! Trust material: the Sigstore `TrustedRoot` (protobuf-specs JSON), the
//! public-good root embedded in the binary, and the per-piece overrides Go
//! gitsign and cosign users already set (Fulcio root PEM, Rekor key, CT key).

use std::fmt;
use std::sync::OnceLock;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::Deserialize;

use crate::encoding::time;
use crate::pki::crypto::{self, PublicKey};
use crate::pki::x509::Certificate;

/// The public-good Sigstore trusted root (as shipped in sigstore-python 4.5.1).
pub const PUBLIC_GOOD_TRUSTED_ROOT: &str = include_str!("../data/trusted_root.prod.json");

/// Largest trusted_root.json accepted.
const MAX_TRUST_FILE: usize = 4 * 1024 * 1024;

/// A problem with trust material.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustError(pub String);

impl fmt::Display for TrustError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TrustError {}

/// A time window; `None` ends are open.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Validity {
    /// Start, seconds since the epoch.
    pub start: Option<i64>,
    /// End, seconds since the epoch (inclusive).
    pub end: Option<i64>,
}

impl Validity {
    /// True when `t` lies inside the window.
    pub fn contains(&self, t: i64) -> bool {
        self.start.is_none_or(|s| t >= s) && self.end.is_none_or(|e| t <= e)
    }

    /// The window for messages.
    pub fn describe(&self) -> String {
        let f = |t: Option<i64>| t.map(time::format_time).unwrap_or_else(|| "open".into());
        format!("{} to {}", f(self.start), f(self.end))
    }
}

/// A transparency log (Rekor or CT) and its key.
#[derive(Debug, Clone)]
pub struct TransparencyLog {
    /// Where the log lives.
    pub base_url: String,
    /// The log's key.
    pub key: PublicKey,
    /// The key's DER SPKI.
    pub key_spki: Vec<u8>,
    /// The log id: SHA-256 of the DER SPKI for v1 logs, or as the root gives it.
    pub log_id: Vec<u8>,
    /// When the key may be used.
    pub valid_for: Validity,
    /// The C2SP checkpoint key ID, when the root names one besides the log
    /// id (`checkpointKeyId`); entries may carry either.
    pub checkpoint_key_id: Option<Vec<u8>>,
}

/// A certificate authority (Fulcio, or a TSA) and its chain.
#[derive(Debug)]
pub struct CertificateAuthority {
    /// Where the CA lives.
    pub uri: String,
    /// The chain, issuing certificate first, root last.
    pub chain: Vec<Certificate>,
    /// When certificates it issued are trusted.
    pub valid_for: Validity,
    /// Whether the chain's own signatures have been checked (done once).
    chain_checked: OnceLock<Result<(), String>>,
}

impl Clone for CertificateAuthority {
    fn clone(&self) -> Self {
        CertificateAuthority {
            uri: self.uri.clone(),
            chain: self.chain.clone(),
            valid_for: self.valid_for,
            chain_checked: OnceLock::new(),
        }
    }
}

impl CertificateAuthority {
    /// A CA from its chain (issuing certificate first).
    pub fn new(uri: String, chain: Vec<Certificate>, valid_for: Validity) -> Self {
        CertificateAuthority {
            uri,
            chain,
            valid_for,
            chain_checked: OnceLock::new(),
        }
    }

    /// Checks once that each certificate of the chain is signed by the next
    /// (the last is the anchor and is taken as given).
    pub fn check_chain(&self) -> Result<(), String> {
        self.chain_checked
            .get_or_init(|| {
                for pair in self.chain.windows(2) {
                    pair[0].verify_signed_by(&pair[1]).map_err(|_| {
                        format!(
                            "the trusted root's chain for {} is broken: {} is not signed by {}",
                            self.uri,
                            crate::pki::x509::name_to_string(pair[0].subject()),
                            crate::pki::x509::name_to_string(pair[1].subject())
                        )
                    })?;
                }
                Ok(())
            })
            .clone()
    }
}

/// Everything verification trusts.
#[derive(Debug, Clone, Default)]
pub struct TrustedRoot {
    /// Rekor logs.
    pub tlogs: Vec<TransparencyLog>,
    /// Certificate Transparency logs (for SCTs).
    pub ctlogs: Vec<TransparencyLog>,
    /// Fulcio CAs.
    pub certificate_authorities: Vec<CertificateAuthority>,
    /// Timestamp authorities.
    pub timestamp_authorities: Vec<CertificateAuthority>,
    /// Where this root came from, for messages.
    pub source: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JsonRoot {
    media_type: Option<String>,
    #[serde(default)]
    tlogs: Vec<JsonLog>,
    #[serde(default)]
    ctlogs: Vec<JsonLog>,
    #[serde(default)]
    certificate_authorities: Vec<JsonCa>,
    #[serde(default)]
    timestamp_authorities: Vec<JsonCa>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JsonLog {
    #[serde(default)]
    base_url: String,
    public_key: JsonKey,
    log_id: Option<JsonLogId>,
    checkpoint_key_id: Option<JsonLogId>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JsonKey {
    raw_bytes: Option<String>,
    valid_for: Option<JsonValidity>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JsonLogId {
    key_id: String,
}

#[derive(Deserialize)]
struct JsonValidity {
    start: Option<String>,
    end: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JsonCa {
    #[serde(default)]
    uri: String,
    cert_chain: JsonChain,
    valid_for: Option<JsonValidity>,
}

#[derive(Deserialize)]
struct JsonChain {
    certificates: Vec<JsonCert>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JsonCert {
    raw_bytes: String,
}

fn validity(v: Option<JsonValidity>, what: &str) -> Result<Validity, TrustError> {
    let Some(v) = v else {
        return Ok(Validity::default());
    };
    let parse = |s: Option<String>| -> Result<Option<i64>, TrustError> {
        s.map(|s| {
            time::parse_rfc3339(&s)
                .ok_or_else(|| TrustError(format!("{what}: invalid time \"{s}\"")))
        })
        .transpose()
    };
    Ok(Validity {
        start: parse(v.start)?,
        end: parse(v.end)?,
    })
}

/// A log key's window: `validFor` with its `start` is required (the
/// protobuf-specs TimeRange has a required start and an optional end;
/// sigstore-go refuses log keys without either), so a malformed root cannot
/// make a key trusted since the beginning of time.
fn log_validity(
    v: Option<JsonValidity>,
    base_url: &str,
    what: &str,
) -> Result<Validity, TrustError> {
    let who = if base_url.is_empty() {
        "a log"
    } else {
        base_url
    };
    match &v {
        None => {
            return Err(TrustError(format!(
                "{what}: the key of {who} has no validFor; a trusted root must say from when a \
                 log key is trusted"
            )))
        }
        Some(JsonValidity { start: None, .. }) => {
            return Err(TrustError(format!(
                "{what}: the key of {who} has a validFor without a start; a trusted root must \
                 say from when a log key is trusted"
            )))
        }
        Some(_) => {}
    }
    validity(v, what)
}

fn b64(s: &str, what: &str) -> Result<Vec<u8>, TrustError> {
    STANDARD
        .decode(s)
        .map_err(|_| TrustError(format!("{what} is not valid base64")))
}

fn log_from_json(
    l: JsonLog,
    what: &str,
    rekor: bool,
) -> Result<Option<TransparencyLog>, TrustError> {
    // Keys without raw bytes (or of unsupported types) are skipped: a root
    // may list logs this client never uses.
    let Some(raw) = l.public_key.raw_bytes else {
        return Ok(None);
    };
    let spki = b64(&raw, what)?;
    let Ok(key) = PublicKey::from_spki(&spki) else {
        return Ok(None);
    };
    let valid_for = log_validity(l.public_key.valid_for, &l.base_url, what)?;
    let mut log = TransparencyLog {
        base_url: l.base_url,
        key,
        key_spki: spki,
        log_id: Vec::new(),
        valid_for,
        checkpoint_key_id: l
            .checkpoint_key_id
            .map(|id| b64(&id.key_id, what))
            .transpose()?,
    };
    log.log_id = match l.log_id {
        Some(id) => b64(&id.key_id, what)?,
        // A Rekor v2 (Ed25519) log is known by its C2SP key ID; other
        // logs by the SHA-256 of their key.
        None => match crate::sigstore::tlog::log_key_name(&log).filter(|_| rekor) {
            Some(name) => {
                crate::sigstore::tlog::checkpoint_key_id(&log.key, &log.key_spki, name).to_vec()
            }
            None => crypto::sha256(&log.key_spki).to_vec(),
        },
    };
    Ok(Some(log))
}

fn ca_from_json(c: JsonCa, what: &str) -> Result<CertificateAuthority, TrustError> {
    let chain = c
        .cert_chain
        .certificates
        .iter()
        .map(|cert| {
            Certificate::from_der(b64(&cert.raw_bytes, what)?)
                .map_err(|e| TrustError(format!("{what}: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if chain.is_empty() {
        return Err(TrustError(format!(
            "{what}: a certificate authority has an empty chain"
        )));
    }
    Ok(CertificateAuthority::new(
        c.uri,
        chain,
        validity(c.valid_for, what)?,
    ))
}

impl TrustedRoot {
    /// Parses a TrustedRoot JSON document; `source` names it in messages.
    pub fn from_json(json: &str, source: &str) -> Result<TrustedRoot, TrustError> {
        if json.len() > MAX_TRUST_FILE {
            return Err(TrustError(format!(
                "{source} is larger than {MAX_TRUST_FILE} bytes"
            )));
        }
        let root: JsonRoot = serde_json::from_str(json).map_err(|e| {
            TrustError(format!(
                "{source} is not a valid Sigstore trusted root: {e}"
            ))
        })?;
        if let Some(mt) = &root.media_type {
            if !mt.starts_with("application/vnd.dev.sigstore.trustedroot") {
                return Err(TrustError(format!(
                    "{source} has media type \"{mt}\", not a Sigstore trusted root"
                )));
            }
        }
        let mut out = TrustedRoot {
            source: source.to_string(),
            ..Default::default()
        };
        for l in root.tlogs {
            out.tlogs.extend(log_from_json(l, source, true)?);
        }
        for l in root.ctlogs {
            out.ctlogs.extend(log_from_json(l, source, false)?);
        }
        for c in root.certificate_authorities {
            out.certificate_authorities.push(ca_from_json(c, source)?);
        }
        for c in root.timestamp_authorities {
            out.timestamp_authorities.push(ca_from_json(c, source)?);
        }
        // A root for keys only (no Fulcio) is valid, as in sigstore-go;
        // certificates then find no CA and fail with that reason. A root
        // that lists nothing at all is the wrong file.
        if out.certificate_authorities.is_empty()
            && out.tlogs.is_empty()
            && out.timestamp_authorities.is_empty()
        {
            return Err(TrustError(format!(
                "{source} lists no certificate authorities, transparency logs or timestamp \
                 authorities"
            )));
        }
        Ok(out)
    }

    /// The embedded public-good root.
    pub fn public_good() -> TrustedRoot {
        // The embedded document is tested; failing here is a build defect.
        TrustedRoot::from_json(
            PUBLIC_GOOD_TRUSTED_ROOT,
            "the embedded public-good trusted root",
        )
        .unwrap_or_default()
    }

    /// Reads a trusted_root.json file.
    pub fn from_file(path: &std::path::Path) -> Result<TrustedRoot, TrustError> {
        let data = read_bounded(path, "trusted root")?;
        TrustedRoot::from_json(&data, &path.display().to_string())
    }

    /// Replaces the CAs by the certificates of a PEM file (Go gitsign's
    /// `GITSIGN_FULCIO_ROOT`/`SIGSTORE_ROOT_FILE`): one CA whose chain is the
    /// file's certificates ordered issuing-first, valid at all times.
    pub fn set_fulcio_roots_pem(&mut self, path: &std::path::Path) -> Result<(), TrustError> {
        let text = read_bounded(path, "Fulcio root")?;
        let certs = crate::pki::x509::certificates_from_pem(&text)
            .map_err(|e| TrustError(format!("{}: {e}", path.display())))?;
        let chain = order_chain(certs);
        self.certificate_authorities = vec![CertificateAuthority::new(
            path.display().to_string(),
            chain,
            Validity::default(),
        )];
        Ok(())
    }

    /// Replaces the Rekor keys by one PEM public key (`SIGSTORE_REKOR_PUBLIC_KEY`).
    pub fn set_rekor_key_pem(&mut self, path: &std::path::Path) -> Result<(), TrustError> {
        self.tlogs = vec![log_from_pem(path, "Rekor public key")?];
        Ok(())
    }

    /// Replaces the CT log keys by one PEM public key (`SIGSTORE_CT_LOG_PUBLIC_KEY_FILE`).
    pub fn set_ct_key_pem(&mut self, path: &std::path::Path) -> Result<(), TrustError> {
        self.ctlogs = vec![log_from_pem(path, "CT log public key")?];
        Ok(())
    }

    /// The Rekor log with this log id.
    pub fn tlog(&self, log_id: &[u8]) -> Option<&TransparencyLog> {
        self.tlogs.iter().find(|l| l.log_id == log_id).or_else(|| {
            self.tlogs
                .iter()
                .find(|l| l.checkpoint_key_id.as_deref() == Some(log_id))
        })
    }

    /// The CT log with this log id.
    pub fn ctlog(&self, log_id: &[u8]) -> Option<&TransparencyLog> {
        self.ctlogs.iter().find(|l| l.log_id == log_id)
    }
}

fn log_from_pem(path: &std::path::Path, what: &str) -> Result<TransparencyLog, TrustError> {
    let text = read_bounded(path, what)?;
    let spki = crate::encoding::pem::decode_one(&text, "PUBLIC KEY")
        .map_err(|e| TrustError(format!("{what} {}: {e}", path.display())))?;
    let key = PublicKey::from_spki(&spki)
        .map_err(|e| TrustError(format!("{what} {}: {e}", path.display())))?;
    Ok(TransparencyLog {
        base_url: String::new(),
        key,
        log_id: crypto::sha256(&spki).to_vec(),
        key_spki: spki,
        valid_for: Validity::default(),
        checkpoint_key_id: None,
    })
}

fn read_bounded(path: &std::path::Path, what: &str) -> Result<String, TrustError> {
    let meta = std::fs::metadata(path).map_err(|e| {
        TrustError(format!(
            "cannot read the {what} file {}: {e}",
            path.display()
        ))
    })?;
    if meta.len() > MAX_TRUST_FILE as u64 {
        return Err(TrustError(format!(
            "the {what} file {} is too large",
            path.display()
        )));
    }
    std::fs::read_to_string(path).map_err(|e| {
        TrustError(format!(
            "cannot read the {what} file {}: {e}",
            path.display()
        ))
    })
}

/// Orders certificates issuing-first: each certificate followed by its issuer.
fn order_chain(mut certs: Vec<Certificate>) -> Vec<Certificate> {
    // Start from the certificate no other certificate names as its issuer.
    let mut out = Vec::with_capacity(certs.len());
    let start = certs
        .iter()
        .position(|c| {
            !certs
                .iter()
                .any(|o| !std::ptr::eq(o, c) && o.issuer() == c.subject() && !o.is_self_issued())
        })
        .unwrap_or(0);
    out.push(certs.remove(start));
    while let Some(i) = certs
        .iter()
        .position(|c| out.last().is_some_and(|l| l.issuer() == c.subject()))
    {
        out.push(certs.remove(i));
    }
    out.extend(certs);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_root_parses() {
        let r = TrustedRoot::from_json(PUBLIC_GOOD_TRUSTED_ROOT, "embedded").unwrap();
        assert_eq!(r.certificate_authorities.len(), 2);
        assert_eq!(r.ctlogs.len(), 2);
        assert_eq!(r.tlogs.len(), 2);
        assert!(r
            .tlogs
            .iter()
            .any(|l| l.log_id == crypto::sha256(&l.key_spki)));
        for ca in &r.certificate_authorities {
            ca.check_chain().unwrap();
        }
    }

    #[test]
    fn rejects_bad_roots() {
        assert!(TrustedRoot::from_json("{", "x").is_err());
        assert!(TrustedRoot::from_json("{}", "x")
            .unwrap_err()
            .0
            .contains("no certificate authorities"));
        assert!(TrustedRoot::from_json(r#"{"mediaType":"text/plain"}"#, "x").is_err());
    }

    fn with_log_validity(valid_for: &str) -> Result<TrustedRoot, TrustError> {
        let key = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEXlYI/a1XM9LYk54J0H/lm4EeboY1vhheo0TbTln8aWofhvUYUH9fIKz10uhbCDlTfOF+ymQlkiuDReSCMA2zAw==";
        TrustedRoot::from_json(
            &format!(
                r#"{{"tlogs": [{{"baseUrl": "https://rekor.test", "publicKey": {{"rawBytes": "{key}"{valid_for}}}}}]}}"#
            ),
            "root.json",
        )
    }

    #[test]
    fn log_keys_need_a_validity_start() {
        // trust-root-tlog-missing-validity-start_fail: a missing start is
        // not "trusted since ever"; the root is refused, naming the log.
        let e = with_log_validity(r#", "validFor": {"end": "2030-01-01T00:00:00Z"}"#).unwrap_err();
        assert!(
            e.0.contains("https://rekor.test") && e.0.contains("without a start"),
            "{e}"
        );
        let e = with_log_validity("").unwrap_err();
        assert!(e.0.contains("has no validFor"), "{e}");
        let r = with_log_validity(r#", "validFor": {"start": "2020-01-01T00:00:00Z"}"#).unwrap();
        assert_eq!(r.tlogs[0].valid_for.start, Some(1577836800));
        assert_eq!(r.tlogs[0].valid_for.end, None);
        // A key-only root (no Fulcio CA) is a valid root.
        assert!(r.certificate_authorities.is_empty());
    }
}
