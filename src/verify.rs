//! Verification of one git signature: CMS -> content binding -> signature
//! over the signed attributes -> certificate profile -> transparency log
//! (which fixes the signing time) -> chain at that time -> SCT.
//!
//! The identity policy is applied by the caller (`policy`), so a signature
//! can be reported as good-but-untrusted, as gpgsm does.

use std::fmt;

use crate::encoding::asn1::{self, tag};
use crate::encoding::oid;
use crate::encoding::pem;
use crate::git::gitobj::{self, HashAlgo, ObjectKind};
use crate::pki::chain;
use crate::pki::claims::Claims;
use crate::pki::cms::{SignedData, SignerId};
use crate::pki::crypto::{self, SigScheme};
use crate::pki::sct;
use crate::pki::tsa::{self, VerifiedTimestamp};
use crate::pki::x509::Certificate;
use crate::sigstore::tlog::{self, LogEntry, TlogError, VerifiedEntry};
use crate::sigstore::trust::TrustedRoot;

/// How far a signingTime may precede the certificate's notBefore when no
/// log entry fixes the time: signers' clocks run a little behind Fulcio's
/// (the corpus has real signatures 2 s early).
pub const SIGNING_TIME_SKEW: i64 = 60;

/// Looks up online-mode entries in a Rekor log (implemented by the Rekor
/// client; verification itself does no I/O).
pub trait TlogLookup {
    /// Entries over the artifact digest `digest` (SHA-256) logged with the
    /// certificate `cert_pem` (Rekor's search by hash AND public key, as Go
    /// gitsign searches): only the certificate's key holder can add to them,
    /// so a stranger's entries cannot crowd the signer's out.
    fn entries_for(&self, digest: &[u8; 32], cert_pem: &str) -> Result<Candidates, LookupError>;
    /// Where the lookup goes, for messages.
    fn describe(&self) -> String;
}

/// What an online search found.
#[derive(Debug, Clone, Default)]
pub struct Candidates {
    /// The entries fetched, in Rekor's order.
    pub entries: Vec<LogEntry>,
    /// How many entries the search listed (more than `entries` when the
    /// client stopped at its limit; verification then says so).
    pub listed: usize,
}

/// A failed online lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LookupError(pub String);

/// What to do when a signature carries no log entry of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MissingTlog {
    /// Search Rekor; fail if it cannot be reached or has no entry.
    #[default]
    Search,
    /// Search Rekor if reachable; if not, report the log as not checked.
    SearchOrSkip,
    /// Do not search; report the log as not checked (explicit opt-out).
    Skip,
}

/// Everything verification needs besides the signature.
pub struct Context<'a> {
    /// Trust material.
    pub root: &'a TrustedRoot,
    /// Require an SCT from a trusted CT log (gitsign's default).
    pub require_sct: bool,
    /// Online lookups; `None` means no network.
    pub rekor: Option<&'a (dyn TlogLookup + Sync)>,
    /// Policy for signatures without an embedded entry.
    pub missing_tlog: MissingTlog,
    /// Per-certificate results shared across verifications (range checks).
    pub cache: Option<&'a LeafCache>,
}

/// Results that depend only on the leaf certificate — which CA signed it
/// (one P-384 verification) and its SCT — shared by every signature the
/// same certificate made (a cached credential signs many commits). A cache
/// belongs to the first trusted root it is used with and is ignored for
/// any other.
#[derive(Default)]
pub struct LeafCache {
    map: std::sync::Mutex<std::collections::HashMap<[u8; 32], CachedLeaf>>,
    root: std::sync::OnceLock<usize>,
}

#[derive(Clone)]
struct CachedLeaf {
    issuers: Vec<(usize, usize)>,
    sct: Option<Result<u64, String>>,
}

impl LeafCache {
    /// An empty cache.
    pub fn new() -> LeafCache {
        LeafCache::default()
    }

    fn for_root(&self, root: &TrustedRoot) -> bool {
        let id = root as *const TrustedRoot as usize;
        *self.root.get_or_init(|| id) == id
    }

    fn get(&self, root: &TrustedRoot, fpr: &[u8; 32]) -> Option<CachedLeaf> {
        if !self.for_root(root) {
            return None;
        }
        self.map.lock().ok()?.get(fpr).cloned()
    }

    fn put(&self, root: &TrustedRoot, fpr: [u8; 32], v: CachedLeaf) {
        if !self.for_root(root) {
            return;
        }
        if let Ok(mut m) = self.map.lock() {
            // Bounded: a range with more distinct certificates than this
            // just stops caching new ones.
            if m.len() < 100_000 {
                m.insert(fpr, v);
            }
        }
    }
}

/// How the transparency log vouched for the signature.
#[derive(Debug, Clone)]
pub enum TlogStatus {
    /// The entry embedded in the signature verified offline.
    Embedded(VerifiedEntry),
    /// The entry found by searching Rekor verified.
    Online(VerifiedEntry),
    /// Not checked, and why (only with an explicit opt-out).
    NotChecked(String),
}

impl TlogStatus {
    /// The verified entry, if any.
    pub fn entry(&self) -> Option<&VerifiedEntry> {
        match self {
            TlogStatus::Embedded(e) | TlogStatus::Online(e) => Some(e),
            TlogStatus::NotChecked(_) => None,
        }
    }
}

/// A cryptographically valid, trusted signature (before identity policy).
#[derive(Debug, Clone)]
pub struct Verified {
    /// The signing certificate.
    pub certificate: Certificate,
    /// Who it names.
    pub claims: Claims,
    /// The certificate that issued it.
    pub issuer: Certificate,
    /// The time the checks used: the integration time the log signed (SET);
    /// else the verified RFC 3161 timestamp's genTime; else (log not
    /// checked by an explicit opt-out, no timestamp) the signer's own
    /// signingTime.
    pub time: i64,
    /// Which of those `time` is.
    pub time_source: TimeSource,
    /// The transparency log result.
    pub tlog: TlogStatus,
    /// The verified RFC 3161 timestamp, when the signature carries one.
    pub timestamp: Option<VerifiedTimestamp>,
    /// The SCT's time, when one was checked.
    pub sct_time_ms: Option<u64>,
}

/// Where a verified signature's time comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeSource {
    /// The transparency log's signed entry timestamp (SET).
    Log,
    /// A verified RFC 3161 timestamp.
    Timestamp,
    /// The signer's own clock (signingTime); only when the log was not
    /// checked by an explicit opt-out and there is no timestamp.
    SignerClock,
}

/// The class of failure, which decides the gpg status line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// Nothing checkable: unreadable signature or no signer certificate.
    Unparseable,
    /// The signature does not match the payload.
    BadSignature,
    /// The signature matches but the certificate or log entry is not trusted.
    Untrusted,
    /// A service needed to decide was unreachable.
    Unavailable,
}

/// A failed verification.
#[derive(Debug, Clone)]
pub struct Failure {
    /// The class.
    pub kind: FailureKind,
    /// A sentence for the user.
    pub message: String,
    /// The signer's certificate, when one was found.
    pub certificate: Option<Box<Certificate>>,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

fn fail(kind: FailureKind, message: impl Into<String>, cert: Option<&Certificate>) -> Failure {
    Failure {
        kind,
        message: message.into(),
        certificate: cert.map(|c| Box::new(c.clone())),
    }
}

/// What a signature is over, when known: needed to find online-mode entries,
/// which Rekor keys by the git object id.
#[derive(Debug, Clone, Copy)]
pub struct ObjectInfo {
    /// Commit or tag.
    pub kind: ObjectKind,
    /// The repository's hash algorithm.
    pub algo: HashAlgo,
}

impl ObjectInfo {
    /// Infers the object kind and hash algorithm from a payload git passed.
    pub fn from_payload(payload: &[u8]) -> ObjectInfo {
        let kind = if payload.starts_with(b"object ") {
            ObjectKind::Tag
        } else {
            ObjectKind::Commit
        };
        ObjectInfo {
            kind,
            algo: HashAlgo::detect(payload),
        }
    }
}

/// Verifies `signature` (armored or DER) over `payload`.
pub fn verify(
    payload: &[u8],
    signature: &[u8],
    object: ObjectInfo,
    ctx: &Context<'_>,
) -> Result<Verified, Failure> {
    let der = crate::pki::cms::unarmor(signature)
        .map_err(|e| fail(FailureKind::Unparseable, e.0, None))?;
    let sd = SignedData::from_der(&der).map_err(|e| fail(FailureKind::Unparseable, e.0, None))?;
    let si = &sd.signer;
    let cert = sd.signer_certificate().ok_or_else(|| {
        let which = match &si.sid {
            SignerId::IssuerSerial { issuer, serial } => format!(
                "serial {} from {}",
                asn1::hex_lower(serial),
                crate::pki::x509::name_to_string(issuer)
            ),
            SignerId::SubjectKeyId(k) => format!("key id {}", asn1::hex_lower(k)),
        };
        fail(
            FailureKind::Unparseable,
            format!("signer cert not found: the signature names a certificate ({which}) it does not carry"),
            None,
        )
    })?;
    let c = Some(cert);

    // Content binding: the signed attributes must commit to this payload.
    si.check_content_type()
        .map_err(|e| fail(FailureKind::BadSignature, e.0, c))?;
    let digest = si
        .message_digest()
        .map_err(|e| fail(FailureKind::BadSignature, e.0, c))?;
    if digest != si.digest.digest(payload) {
        return Err(fail(
            FailureKind::BadSignature,
            format!(
                "the signature does not match the signed data: messageDigest != {}(payload); \
                 the commit or tag was changed after it was signed",
                si.digest.name().to_lowercase().replace('-', "")
            ),
            c,
        ));
    }

    // The signature over the signed attributes, exactly as encoded.
    let key = cert
        .public_key()
        .map_err(|e| fail(FailureKind::Unparseable, e.to_string(), c))?;
    let scheme = SigScheme::from_algorithm(&si.signature_algorithm, Some(si.digest))
        .map_err(|e| fail(FailureKind::Unparseable, e, c))?;
    crypto::verify(&key, scheme, &si.signed_attrs_der, &si.signature).map_err(|_| {
        fail(
            FailureKind::BadSignature,
            "the CMS signature does not verify over the signed attributes with the signer's certificate key",
            c,
        )
    })?;

    // Who issued the certificate comes first; the log then fixes the time
    // at which the path is checked.
    let fpr = cert.fingerprint();
    let cached = ctx.cache.and_then(|cache| cache.get(ctx.root, &fpr));
    let issuers = match &cached {
        Some(hit) => chain::Issuers::from_indices(ctx.root, &hit.issuers),
        None => {
            chain::find_issuers(cert, ctx.root).map_err(|e| fail(FailureKind::Untrusted, e, c))?
        }
    };
    // The timestamp first: when the log entry carries no signed time, the
    // timestamp is what dates the signature. It is always checked: over
    // the signature value, by a timestamp authority of the trusted root,
    // inside the certificate's validity (as Go gitsign checks it).
    let timestamp = tsa::verify_embedded(si, ctx.root).map_err(|e| {
        fail(
            FailureKind::Untrusted,
            format!("the signature's RFC 3161 timestamp does not verify: {e}"),
            c,
        )
    })?;
    if let Some(ts) = &timestamp {
        let (earliest, latest) = ts.window();
        if earliest < cert.not_before || latest > cert.not_after {
            return Err(fail(
                FailureKind::Untrusted,
                format!(
                    "the signature's RFC 3161 timestamp ({}, by {}) lies outside the certificate's validity ({} to {})",
                    crate::encoding::time::format_time(ts.gen_time),
                    ts.tsa_name(),
                    crate::encoding::time::format_time(cert.not_before),
                    crate::encoding::time::format_time(cert.not_after)
                ),
                c,
            ));
        }
    }
    let (tlog_status, logged_time) = transparency_log(
        payload,
        signature,
        &sd,
        cert,
        object,
        timestamp.as_ref(),
        ctx,
    )?;
    let (time, time_source) = match (logged_time, &timestamp) {
        (Some(t), _) => t,
        (None, Some(ts)) => (ts.gen_time, TimeSource::Timestamp),
        (None, None) => {
            let st = si.signing_time().map_err(|e| fail(FailureKind::BadSignature, e.0, c))?.ok_or_else(|| {
                fail(
                    FailureKind::Untrusted,
                    "the signature has neither a transparency log entry nor a signing time to verify it at",
                    c,
                )
            })?;
            let st = if st < cert.not_before && cert.not_before - st <= SIGNING_TIME_SKEW {
                cert.not_before
            } else {
                st
            };
            (st, TimeSource::SignerClock)
        }
    };

    // The SCT check's result is cached with the issuers, so a range of
    // commits by one certificate checks its SCT once.
    let mut sct_of = |issuer: &Certificate| {
        let sct = match cached.as_ref().and_then(|h| h.sct.clone()) {
            Some(r) => r,
            None => sct::verify_embedded(cert, issuer, ctx.root),
        };
        if let (Some(cache), None) = (ctx.cache, &cached) {
            cache.put(
                ctx.root,
                fpr,
                CachedLeaf {
                    issuers: issuers.to_indices(ctx.root),
                    sct: Some(sct.clone()),
                },
            );
        }
        sct
    };
    let (issuer, claims, sct_time_ms) =
        leaf_checks(cert, &issuers, time, ctx.require_sct, &mut sct_of)
            .map_err(|e| fail(FailureKind::Untrusted, e, c))?;
    if !ctx.require_sct {
        if let (Some(cache), None) = (ctx.cache, &cached) {
            cache.put(
                ctx.root,
                fpr,
                CachedLeaf {
                    issuers: issuers.to_indices(ctx.root),
                    sct: None,
                },
            );
        }
    }
    Ok(Verified {
        certificate: cert.clone(),
        claims,
        issuer,
        time,
        time_source,
        tlog: tlog_status,
        timestamp,
        sct_time_ms,
    })
}

/// Checks a leaf at time `at` through the issuers already found: path,
/// profile, claims, and (when required) an SCT.
pub fn certificate_at(
    cert: &Certificate,
    issuers: &chain::Issuers<'_>,
    at: i64,
    root: &TrustedRoot,
    require_sct: bool,
) -> Result<(Certificate, Claims, Option<u64>), String> {
    leaf_checks(cert, issuers, at, require_sct, &mut |issuer| {
        sct::verify_embedded(cert, issuer, root)
    })
}

/// The checks of [`certificate_at`], with the SCT check supplied (so that
/// [`verify`] can serve it from its cache).
fn leaf_checks(
    cert: &Certificate,
    issuers: &chain::Issuers<'_>,
    at: i64,
    require_sct: bool,
    sct_of: &mut dyn FnMut(&Certificate) -> Result<u64, String>,
) -> Result<(Certificate, Claims, Option<u64>), String> {
    let path = chain::verify_path(cert, issuers, at)?;
    chain::check_leaf_profile(cert)?;
    let claims = Claims::from_certificate(cert).map_err(|e| e.to_string())?;
    let sct = if require_sct {
        Some(sct_of(path.issuer)?)
    } else {
        None
    };
    Ok((path.issuer.clone(), claims, sct))
}

/// The certificate as Rekor stores it in hashedrekord entries.
pub fn certificate_pem(cert: &Certificate) -> String {
    pem::encode("CERTIFICATE", cert.der())
}

/// The time a verified entry dates the signature at, and where it comes
/// from: the integration time the log signed (SET), else the verified
/// RFC 3161 timestamp (the log's key must have been valid then). Either
/// way inside the certificate's validity. Without both there is no time:
/// the entry's own `integratedTime` is not covered by any signature.
fn entry_time(
    v: &VerifiedEntry,
    timestamp: Option<&VerifiedTimestamp>,
    cert: &Certificate,
) -> Result<(i64, TimeSource), String> {
    if let Some(t) = v.time() {
        if t < cert.not_before || t > cert.not_after {
            return Err(format!(
                "the transparency log integrated the signature at {}, outside the certificate's validity ({} to {})",
                crate::encoding::time::format_time(t),
                crate::encoding::time::format_time(cert.not_before),
                crate::encoding::time::format_time(cert.not_after)
            ));
        }
        return Ok((t, TimeSource::Log));
    }
    match timestamp {
        // Already checked inside the certificate's validity.
        Some(ts) => {
            v.check_log_valid_at(ts.gen_time).map_err(|e| e.0)?;
            Ok((ts.gen_time, TimeSource::Timestamp))
        }
        None if v.v2 => Err(
            "the signature's Rekor v2 log entry has no time of its own (Rekor v2 signs none) and the signature \
             carries no RFC 3161 timestamp: nothing the trusted root vouches for says when it was signed; \
             sign with a timestamp authority (gitsign.timestampServerURL) when using Rekor v2 (rekorTimestamp)"
                .into(),
        ),
        None => Err(
            "the transparency log entry carries no signed entry timestamp (SET) and the signature no RFC 3161 \
             timestamp: nothing the trusted root vouches for says when it was signed (rekorSET)"
                .into(),
        ),
    }
}

fn transparency_log(
    payload: &[u8],
    signature: &[u8],
    sd: &SignedData,
    cert: &Certificate,
    object: ObjectInfo,
    timestamp: Option<&VerifiedTimestamp>,
    ctx: &Context<'_>,
) -> Result<(TlogStatus, Option<(i64, TimeSource)>), Failure> {
    let c = Some(cert);
    if let Some(entry) =
        embedded_entry(sd, cert).map_err(|e| fail(FailureKind::Untrusted, e.0, c))?
    {
        // An embedded entry is always checked, whatever the opt-outs say:
        // they concern signatures that carry none.
        let v = tlog::verify_entry(&entry, ctx.root)
            .map_err(|e| fail(FailureKind::Untrusted, e.0, c))?;
        let time =
            entry_time(&v, timestamp, cert).map_err(|e| fail(FailureKind::Untrusted, e, c))?;
        return Ok((TlogStatus::Embedded(v), Some(time)));
    }
    // Online mode: Rekor holds a hashedrekord over sha256(hex object id).
    let reason = match (ctx.missing_tlog, ctx.rekor) {
        (MissingTlog::Skip, _) => {
            return Ok((
                TlogStatus::NotChecked("transparency log checks were turned off".into()),
                None,
            ))
        }
        (_, None) => {
            if ctx.missing_tlog == MissingTlog::SearchOrSkip {
                return Ok((
                    TlogStatus::NotChecked(
                        "the signature has no embedded log entry and no Rekor lookup was possible"
                            .into(),
                    ),
                    None,
                ));
            }
            return Err(fail(
                FailureKind::Unavailable,
                "the signature has no embedded transparency log entry (online mode) and searching Rekor is not \
                 possible here; connect to the network, set gitsign.rekor, or accept unchecked log entries with \
                 --insecure-ignore-tlog / gitsign.verifyTlog=optional",
                c,
            ));
        }
        (_, Some(rekor)) => {
            let ids = candidate_object_ids(payload, signature, object);
            match find_online_entry(&ids, cert, timestamp, rekor, ctx.root) {
                Ok((v, time)) => return Ok((TlogStatus::Online(v), Some(time))),
                Err(OnlineError::Unreachable(e)) if ctx.missing_tlog == MissingTlog::SearchOrSkip => e,
                Err(OnlineError::Unreachable(e)) => {
                    return Err(fail(
                        FailureKind::Unavailable,
                        format!(
                            "cannot search the transparency log for this online-mode signature: {e}; \
                             retry when {} is reachable, or accept unchecked entries with --insecure-ignore-tlog",
                            rekor.describe()
                        ),
                        c,
                    ))
                }
                Err(OnlineError::Invalid(e)) => return Err(fail(FailureKind::Untrusted, e, c)),
            }
        }
    };
    Ok((
        TlogStatus::NotChecked(format!("Rekor could not be searched: {reason}")),
        None,
    ))
}

enum OnlineError {
    Unreachable(String),
    Invalid(String),
}

/// The object ids an online-mode entry may be keyed by: git's own id of the
/// signed object, and the id Go gitsign computes by re-encoding the object
/// as a go-git commit (it drops headers other than tree/parent/author/
/// committer, and encodes tags as commits with empty fields).
pub fn candidate_object_ids(payload: &[u8], signature: &[u8], object: ObjectInfo) -> Vec<String> {
    let mut ids = Vec::new();
    let real = match object.kind {
        ObjectKind::Commit => gitobj::join_commit(payload, signature, object.algo),
        ObjectKind::Tag => [payload, signature].concat(),
    };
    ids.push(gitobj::object_id(object.kind, &real, object.algo));
    let go = gitobj::gogit_commit_reencoding(payload, signature);
    let go_id = gitobj::object_id(ObjectKind::Commit, &go, object.algo);
    if !ids.contains(&go_id) {
        ids.push(go_id);
    }
    ids
}

/// Searches Rekor for an entry by this certificate over one of the object
/// ids, and accepts the signature when any candidate fully verifies: body
/// names this certificate and digest, signature by its key, log signatures,
/// and a signed time inside the certificate's validity. Candidates that
/// fail are named in the refusal, so nothing is dropped silently.
fn find_online_entry(
    ids: &[String],
    cert: &Certificate,
    timestamp: Option<&VerifiedTimestamp>,
    rekor: &(dyn TlogLookup + Sync),
    root: &TrustedRoot,
) -> Result<(VerifiedEntry, (i64, TimeSource)), OnlineError> {
    let key = cert
        .public_key()
        .map_err(|e| OnlineError::Invalid(e.to_string()))?;
    let cert_pem = certificate_pem(cert);
    let mut rejected = Vec::new();
    let mut unexamined = 0;
    for id in ids {
        let digest = crypto::sha256(id.as_bytes());
        let found = rekor
            .entries_for(&digest, &cert_pem)
            .map_err(|e| OnlineError::Unreachable(e.0))?;
        unexamined += found.listed.saturating_sub(found.entries.len());
        for entry in found.entries {
            let body = match tlog::parse_hashedrekord(&entry.body) {
                Ok(b) => b,
                Err(e) => {
                    rejected.push(e.0);
                    continue;
                }
            };
            if body.digest != digest || !entry_names_certificate(&body.public_key, cert) {
                rejected.push(
                    "an entry the search returned is not over this object by this certificate"
                        .into(),
                );
                continue;
            }
            if crypto::verify_prehashed(
                &key,
                crypto::default_scheme(&key),
                &digest,
                &body.signature,
            )
            .is_err()
            {
                rejected.push("an entry's signature over the object id does not verify".into());
                continue;
            }
            let checked = tlog::verify_entry(&entry, root)
                .map_err(|e| e.0)
                .and_then(|v| entry_time(&v, timestamp, cert).map(|t| (v, t)));
            match checked {
                Ok(found) => return Ok(found),
                Err(e) => rejected.push(e),
            }
        }
    }
    if rejected.len() > 8 {
        let more = rejected.len() - 8;
        rejected.truncate(8);
        rejected.push(format!("{more} more"));
    }
    let mut detail = if rejected.is_empty() {
        String::new()
    } else {
        format!(" ({})", rejected.join("; "))
    };
    if unexamined > 0 {
        detail.push_str(&format!(
            "; {unexamined} further entries Rekor listed were not examined"
        ));
    }
    Err(OnlineError::Invalid(format!(
        "no transparency log entry found for this signature: {} has no valid entry for object {} signed by this \
         certificate{detail}",
        rekor.describe(),
        ids.first().map(String::as_str).unwrap_or("?")
    )))
}

/// Whether a hashedrekord's `publicKey` is this certificate (as Go gitsign
/// requires): an entry under the bare public key could be logged by anyone
/// who ever held the key, after the certificate expired.
fn entry_names_certificate(public_key: &[u8], cert: &Certificate) -> bool {
    let Ok(text) = std::str::from_utf8(public_key) else {
        return false;
    };
    match pem::decode_all(text) {
        Ok(blocks) => blocks
            .first()
            .is_some_and(|b| b.label == "CERTIFICATE" && b.der == cert.der()),
        Err(_) => false,
    }
}

/// The entry embedded in the signature (current protobuf attribute, or the
/// early split-attribute layout), with its body rebuilt.
pub fn embedded_entry(sd: &SignedData, cert: &Certificate) -> Result<Option<LogEntry>, TlogError> {
    let si = &sd.signer;
    let mut entry = if let Some(v) = si
        .unsigned_value(oid::REKOR_TLOG_ENTRY, "Rekor log entry")
        .map_err(|e| TlogError(e.0))?
        .filter(|v| v.first() == Some(&tag::OCTET_STRING))
    {
        let os = asn1::parse_single(&v, tag::OCTET_STRING, "Rekor log entry")
            .map_err(|e| TlogError(e.to_string()))?;
        LogEntry::from_protobuf(os.value)?
    } else if let Some(e) = legacy_split_entry(sd)? {
        e
    } else {
        return Ok(None);
    };
    if entry.is_v2() {
        // Rekor v2: a hashedrekord 0.0.2 over sha256(DER signed attributes)
        // by this certificate. The body Rekor v2 wrote (canonical protobuf
        // JSON) is rebuilt when cleared, compared field by field when kept.
        match entry.kind_version.as_ref().map(|(k, _)| k.as_str()) {
            Some("hashedrekord") => {}
            other => {
                return Err(TlogError(format!(
                    "the embedded Rekor v2 log entry is a {} entry; a git signature's entry is a hashedrekord",
                    other.unwrap_or("(no kind)")
                )))
            }
        }
        let key = cert.public_key().map_err(|e| TlogError(e.to_string()))?;
        let expected = tlog::hashedrekord_v2_value(
            &crypto::sha256(&si.signed_attrs_der),
            &si.signature,
            tlog::V2Verifier::Certificate(cert.der()),
            &key,
        )?;
        if entry.body.is_empty() {
            entry.body = tlog::canonical_json(&expected);
        } else {
            tlog::check_v2_body(&entry.body, &expected).map_err(|_| {
                TlogError(
                    "the embedded log entry is for a different signature than the one it is attached to"
                        .into(),
                )
            })?;
        }
        return Ok(Some(entry));
    }
    // gitsign clears the body; rebuild the hashedrekord it logged: a
    // signature over sha256(DER signed attributes) by this certificate.
    let rebuilt = tlog::hashedrekord_body(
        &crypto::sha256(&si.signed_attrs_der),
        &si.signature,
        &certificate_pem(cert),
    );
    if !entry.body.is_empty() && entry.body != rebuilt {
        return Err(TlogError(
            "the embedded log entry is for a different signature than the one it is attached to"
                .into(),
        ));
    }
    entry.body = rebuilt;
    Ok(Some(entry))
}

/// gitsign's pre-release offline layout (early 2023): one unsigned
/// attribute per field under 1.3.6.1.4.1.57264.3.
fn legacy_split_entry(sd: &SignedData) -> Result<Option<LogEntry>, TlogError> {
    let si = &sd.signer;
    let get = |arc: u8| -> Result<Option<Vec<u8>>, TlogError> {
        let mut id = oid::REKOR_LEGACY_PREFIX.to_vec();
        id.push(arc);
        si.unsigned_value(&id, "legacy Rekor attribute")
            .map_err(|e| TlogError(e.0))
    };
    let Some(log_id) = get(1)? else {
        return Ok(None);
    };
    let bad = |what: &str| {
        TlogError(format!(
            "the legacy embedded Rekor entry has an invalid {what}"
        ))
    };
    let int = |arc: u8, what: &str| -> Result<u64, TlogError> {
        let v = get(arc)?.ok_or_else(|| bad(what))?;
        asn1::parse_single(&v, tag::INTEGER, "legacy Rekor attribute")
            .and_then(|t| t.small_uint("legacy Rekor attribute"))
            .map_err(|_| bad(what))
    };
    let text = |v: &[u8], what: &str| -> Result<String, TlogError> {
        let t = asn1::parse_single(v, v.first().copied().unwrap_or(0), "legacy Rekor attribute")
            .map_err(|_| bad(what))?;
        t.string("legacy Rekor attribute").map_err(|_| bad(what))
    };
    let log_id = asn1::hex_decode(&text(&log_id, "log id")?).ok_or_else(|| bad("log id"))?;
    let set_raw = get(3)?.ok_or_else(|| bad("SET"))?;
    let set = asn1::parse_single(&set_raw, tag::OCTET_STRING, "SET")
        .map_err(|_| bad("SET"))?
        .value
        .to_vec();
    let checkpoint = match get(4)? {
        Some(v) => Some(text(&v, "checkpoint")?),
        None => None,
    };
    let hashes_raw = get(5)?.ok_or_else(|| bad("proof hashes"))?;
    let seq = asn1::parse_single(&hashes_raw, tag::SEQUENCE, "hashes")
        .map_err(|_| bad("proof hashes"))?;
    let mut r = seq.reader();
    let mut hashes = Vec::new();
    while !r.is_empty() {
        let h = r.read_any("hash").map_err(|_| bad("proof hashes"))?;
        hashes
            .push(asn1::hex_decode(&text(h.raw, "proof hash")?).ok_or_else(|| bad("proof hash"))?);
    }
    let root_hash = asn1::hex_decode(&text(
        &get(6)?.ok_or_else(|| bad("root hash"))?,
        "root hash",
    )?)
    .ok_or_else(|| bad("root hash"))?;
    Ok(Some(LogEntry {
        log_index: int(2, "log index")?,
        log_id,
        integrated_time: i64::try_from(int(0, "integrated time")?)
            .map_err(|_| bad("integrated time"))?,
        body: Vec::new(),
        set: Some(set),
        proof: Some(tlog::InclusionProof {
            log_index: int(8, "proof index")?,
            root_hash,
            tree_size: int(7, "tree size")?,
            hashes,
            checkpoint,
        }),
        kind_version: None,
    }))
}
