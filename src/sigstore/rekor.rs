//! Rekor client: v1 (search by digest, fetch entries, upload hashedrekord
//! 0.0.1 entries) and v2 (upload hashedrekord 0.0.2 entries; Rekor v2 has no
//! search). Verification of what it returns lives in `tlog`.

use serde_json::json;

use crate::encoding::asn1::hex_lower;
use crate::sigstore::http::{self, Http, HttpError};
use crate::sigstore::tlog::{LogEntry, TlogError};
use crate::verify::{Candidates, LookupError, TlogLookup};

/// Most entries fetched for one search. A search is by digest and
/// certificate, which only the certificate's key holder can add to, so a
/// real answer lists one entry (a longer answer is cut down to the
/// certificate's own entries first); the verifier reports any it did not
/// fetch.
const MAX_SEARCH_RESULTS: usize = 64;
/// Most entry ids read from one search answer.
const MAX_SEARCH_IDS: usize = 100_000;

/// Which Rekor API a log speaks (`gitsign.rekorVersion`, or a signing
/// config's `majorApiVersion`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RekorApi {
    /// Rekor v1: `/api/v1/log/entries`, hashedrekord 0.0.1, SET.
    #[default]
    V1,
    /// Rekor v2 (rekor-tiles): `/api/v2/log/entries`, hashedrekord 0.0.2,
    /// no SET and no integration time: a signature needs an RFC 3161
    /// timestamp.
    V2,
}

impl RekorApi {
    /// From the major API version number (1 or 2).
    pub fn from_major(v: u32) -> Option<RekorApi> {
        match v {
            1 => Some(RekorApi::V1),
            2 => Some(RekorApi::V2),
            _ => None,
        }
    }

    /// The major API version number.
    pub fn major(self) -> u32 {
        match self {
            RekorApi::V1 => 1,
            RekorApi::V2 => 2,
        }
    }
}

/// A Rekor client.
#[derive(Clone, Debug)]
pub struct RekorClient {
    base: String,
    http: Http,
    api: RekorApi,
}

/// A Rekor failure.
#[derive(Debug, Clone)]
pub enum RekorError {
    /// Transport or server failure.
    Http(HttpError),
    /// The answer was not what Rekor sends.
    Malformed(String),
}

impl std::fmt::Display for RekorError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RekorError::Http(e) => write!(f, "Rekor: {e}"),
            RekorError::Malformed(m) => write!(f, "Rekor: {m}"),
        }
    }
}

impl std::error::Error for RekorError {}

impl From<TlogError> for RekorError {
    fn from(e: TlogError) -> Self {
        RekorError::Malformed(e.0)
    }
}

impl RekorClient {
    /// A client for the log at `base_url`.
    pub fn new(base_url: &str, http: Http) -> RekorClient {
        RekorClient {
            base: base_url.trim_end_matches('/').to_string(),
            http,
            api: RekorApi::V1,
        }
    }

    /// The same log, spoken to through `api`.
    pub fn with_api(mut self, api: RekorApi) -> RekorClient {
        self.api = api;
        self
    }

    /// The API this client speaks.
    pub fn api(&self) -> RekorApi {
        self.api
    }

    /// Logs a signature over a SHA-256 `digest` by the certificate `cert`
    /// through this client's API: hashedrekord 0.0.1 (v1) or 0.0.2 (v2).
    pub fn create_entry(
        &self,
        digest: &[u8; 32],
        signature: &[u8],
        cert: &crate::pki::x509::Certificate,
    ) -> Result<LogEntry, RekorError> {
        match self.api {
            RekorApi::V1 => self.create_hashedrekord(
                digest,
                signature,
                &crate::encoding::pem::encode("CERTIFICATE", cert.der()),
            ),
            RekorApi::V2 => self.create_hashedrekord_v2(digest, signature, cert),
        }
    }

    /// The body the log must record for that entry (what the signer and
    /// the verifier rebuild).
    pub fn expected_body(
        api: RekorApi,
        digest: &[u8; 32],
        signature: &[u8],
        cert: &crate::pki::x509::Certificate,
    ) -> Result<Vec<u8>, RekorError> {
        match api {
            RekorApi::V1 => Ok(crate::sigstore::tlog::hashedrekord_body(
                digest,
                signature,
                &crate::encoding::pem::encode("CERTIFICATE", cert.der()),
            )),
            RekorApi::V2 => {
                let key = cert
                    .public_key()
                    .map_err(|e| RekorError::Malformed(e.to_string()))?;
                Ok(crate::sigstore::tlog::hashedrekord_v2_body(
                    digest,
                    signature,
                    crate::sigstore::tlog::V2Verifier::Certificate(cert.der()),
                    &key,
                )?)
            }
        }
    }

    /// Where Rekor v2 takes new entries.
    pub fn entries_url_v2(base: &str) -> String {
        http::join(base, "/api/v2/log/entries")
    }

    /// The JSON of a Rekor v2 `CreateEntryRequest` for a hashedrekord 0.0.2
    /// entry: the digest, the signature and the certificate (DER) with its
    /// key's details.
    pub fn hashedrekord_v2_request(
        digest: &[u8; 32],
        signature: &[u8],
        cert: &crate::pki::x509::Certificate,
    ) -> Result<Vec<u8>, RekorError> {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD;
        let key = cert
            .public_key()
            .map_err(|e| RekorError::Malformed(e.to_string()))?;
        let details = crate::sigstore::tlog::key_details(&key).ok_or_else(|| {
            RekorError::Malformed(format!(
                "a {} key cannot be logged in Rekor v2 here",
                key.describe()
            ))
        })?;
        let req = json!({
            "hashedRekordRequestV0_0_2": {
                "digest": b64.encode(digest),
                "signature": {
                    "content": b64.encode(signature),
                    "verifier": {
                        "x509Certificate": {"rawBytes": b64.encode(cert.der())},
                        "keyDetails": details
                    }
                }
            }
        });
        Ok(serde_json::to_vec(&req).unwrap_or_default())
    }

    /// Uploads a hashedrekord 0.0.2 entry to Rekor v2 and reads the
    /// `TransparencyLogEntry` it answers with.
    pub fn create_hashedrekord_v2(
        &self,
        digest: &[u8; 32],
        signature: &[u8],
        cert: &crate::pki::x509::Certificate,
    ) -> Result<LogEntry, RekorError> {
        let url = RekorClient::entries_url_v2(&self.base);
        let body = RekorClient::hashedrekord_v2_request(digest, signature, cert)?;
        let r = self
            .http
            .post_json(&url, body, &[], true)
            .map_err(RekorError::Http)?;
        self.created_v2(&r)
    }

    /// Reads Rekor v2's answer to a new entry.
    pub fn created_v2(&self, r: &http::Response) -> Result<LogEntry, RekorError> {
        let url = RekorClient::entries_url_v2(&self.base);
        match r.status {
            200 | 201 => crate::sigstore::bundle::tlog_entry_from_json(&r.body).map_err(|e| {
                RekorError::Malformed(format!("{url} did not answer with a log entry: {e}"))
            }),
            _ => Err(self.fail_status(&url, r)),
        }
    }

    /// The base URL.
    pub fn url(&self) -> &str {
        &self.base
    }

    /// Each request's time limit.
    pub fn timeout(&self) -> std::time::Duration {
        self.http.timeout()
    }

    fn fail_status(&self, url: &str, r: &http::Response) -> RekorError {
        RekorError::Http(HttpError {
            url: url.into(),
            status: Some(r.status),
            message: http::server_text(&r.body),
        })
    }

    /// Ids of entries over the artifact digest `digest` (SHA-256) logged
    /// with the certificate `cert_pem`: Rekor's index searched by hash AND
    /// public key (format x509), the query Go gitsign makes.
    pub fn search(&self, digest: &[u8; 32], cert_pem: &str) -> Result<Vec<String>, RekorError> {
        use base64::Engine;
        let query = json!({
            "hash": format!("sha256:{}", hex_lower(digest)),
            "publicKey": {
                "format": "x509",
                "content": base64::engine::general_purpose::STANDARD.encode(cert_pem),
            },
            "operator": "and",
        });
        self.retrieve(&query, "one object and certificate")
    }

    /// Ids of every entry logged with the certificate `cert_pem` (Rekor's
    /// index searched by public key alone): only the certificate's key
    /// holder can add to these.
    pub fn search_certificate(&self, cert_pem: &str) -> Result<Vec<String>, RekorError> {
        use base64::Engine;
        let query = json!({
            "publicKey": {
                "format": "x509",
                "content": base64::engine::general_purpose::STANDARD.encode(cert_pem),
            },
        });
        self.retrieve(&query, "one certificate")
    }

    fn retrieve(&self, query: &serde_json::Value, what: &str) -> Result<Vec<String>, RekorError> {
        let url = http::join(&self.base, "/api/v1/index/retrieve");
        let body = serde_json::to_vec(query).unwrap_or_default();
        let r = self
            .http
            .post_json(&url, body, &[], true)
            .map_err(RekorError::Http)?;
        if r.status != 200 {
            return Err(self.fail_status(&url, &r));
        }
        let uuids: Vec<String> = serde_json::from_slice(&r.body).map_err(|_| {
            RekorError::Malformed(format!("{url} did not answer with a list of entry ids"))
        })?;
        if uuids.len() > MAX_SEARCH_IDS {
            return Err(RekorError::Malformed(format!(
                "{url} listed {} entries for {what}",
                uuids.len()
            )));
        }
        Ok(uuids)
    }

    /// One entry by UUID (64 hex digits, or 80 with a tree id prefix).
    pub fn get_entry(&self, uuid: &str) -> Result<LogEntry, RekorError> {
        if !(uuid.len() == 64 || uuid.len() == 80) || !uuid.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(RekorError::Malformed(format!(
                "\"{uuid}\" is not a Rekor entry id"
            )));
        }
        let url = http::join(&self.base, &format!("/api/v1/log/entries/{uuid}"));
        let r = self.http.get(&url).map_err(RekorError::Http)?;
        if r.status != 200 {
            return Err(self.fail_status(&url, &r));
        }
        LogEntry::from_rekor_json(&r.body)?
            .into_iter()
            .next()
            .map(|(_, e)| e)
            .ok_or_else(|| RekorError::Malformed(format!("{url} returned no entry")))
    }

    /// Uploads a hashedrekord v0.0.1 entry (signature over a SHA-256
    /// digest, by the key of `public_key_pem`). A 409 (already logged) is
    /// success: the existing entry is fetched and returned.
    pub fn create_hashedrekord(
        &self,
        digest: &[u8; 32],
        signature: &[u8],
        public_key_pem: &str,
    ) -> Result<LogEntry, RekorError> {
        let url = RekorClient::entries_url(&self.base);
        let proposal = RekorClient::hashedrekord_proposal(digest, signature, public_key_pem);
        let r = self
            .http
            .post_json(&url, proposal, &[], true)
            .map_err(RekorError::Http)?;
        self.created(&r)
    }

    /// Logs a DSSE envelope (its JSON text, as stored) signed by the
    /// certificate `cert_pem`: a dsse 0.0.1 entry on a Rekor v1 log. Rekor
    /// checks the envelope's signature against the certificate before
    /// logging it.
    pub fn create_dsse(&self, envelope_json: &str, cert_pem: &str) -> Result<LogEntry, RekorError> {
        use base64::Engine;
        let url = RekorClient::entries_url(&self.base);
        let proposed = json!({
            "apiVersion": "0.0.1",
            "kind": "dsse",
            "spec": {"proposedContent": {
                "envelope": envelope_json,
                "verifiers": [base64::engine::general_purpose::STANDARD.encode(cert_pem)]
            }}
        });
        let r = self
            .http
            .post_json(
                &url,
                serde_json::to_vec(&proposed).unwrap_or_default(),
                &[],
                true,
            )
            .map_err(RekorError::Http)?;
        self.created(&r)
    }

    /// Where new entries are posted, under Rekor's base URL.
    pub fn entries_url(base: &str) -> String {
        http::join(base, "/api/v1/log/entries")
    }

    /// The JSON of a proposed hashedrekord v0.0.1 entry.
    pub fn hashedrekord_proposal(
        digest: &[u8; 32],
        signature: &[u8],
        public_key_pem: &str,
    ) -> Vec<u8> {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD;
        let proposed = json!({
            "apiVersion": "0.0.1",
            "kind": "hashedrekord",
            "spec": {
                "data": {"hash": {"algorithm": "sha256", "value": hex_lower(digest)}},
                "signature": {"content": b64.encode(signature), "publicKey": {"content": b64.encode(public_key_pem)}}
            }
        });
        serde_json::to_vec(&proposed).unwrap_or_default()
    }

    /// Reads Rekor's answer to a posted entry (ours, or one the credential
    /// cache posted for us): the new entry; on 409 (already logged) the
    /// existing entry, fetched.
    pub fn created(&self, r: &http::Response) -> Result<LogEntry, RekorError> {
        let url = RekorClient::entries_url(&self.base);
        match r.status {
            201 | 200 => LogEntry::from_rekor_json(&r.body)?
                .into_iter()
                .next()
                .map(|(_, e)| e)
                .ok_or_else(|| RekorError::Malformed(format!("{url} returned no entry"))),
            409 => {
                let loc = r
                    .location
                    .clone()
                    .ok_or_else(|| self.fail_status(&url, r))?;
                let uuid = loc.rsplit('/').next().unwrap_or_default().to_string();
                self.get_entry(&uuid)
            }
            _ => Err(self.fail_status(&url, r)),
        }
    }
}

/// The leaf hash part of an entry UUID (the last 64 hex digits; an
/// 80-digit UUID starts with a tree id), lower case.
fn entry_leaf(uuid: &str) -> String {
    let start = uuid.len().saturating_sub(64);
    uuid.get(start..).unwrap_or(uuid).to_ascii_lowercase()
}

impl TlogLookup for RekorClient {
    fn entries_for(&self, digest: &[u8; 32], cert_pem: &str) -> Result<Candidates, LookupError> {
        let mut uuids = self
            .search(digest, cert_pem)
            .map_err(|e| LookupError(e.to_string()))?;
        if uuids.len() > 1 {
            // A real answer to "digest AND certificate" lists one entry. A
            // Rekor that ignores `and` lists every stranger's entry over
            // the digest (anyone can log one), and enough of them would
            // push the signer's past the entries fetched: keep only the
            // entries logged with this certificate, which only its key
            // holder can add to.
            let mine = self
                .search_certificate(cert_pem)
                .map_err(|e| LookupError(e.to_string()))?;
            let mine: std::collections::HashSet<String> =
                mine.iter().map(|u| entry_leaf(u)).collect();
            uuids.retain(|u| mine.contains(&entry_leaf(u)));
        }
        let mut entries = Vec::new();
        for u in uuids.iter().take(MAX_SEARCH_RESULTS) {
            entries.push(self.get_entry(u).map_err(|e| LookupError(e.to_string()))?);
        }
        Ok(Candidates {
            entries,
            listed: uuids.len(),
        })
    }

    fn describe(&self) -> String {
        format!("Rekor at {}", self.base)
    }
}

/// A Rekor lookup that builds its HTTP client only when a search is needed,
/// so offline verification never pays for TLS setup.
pub struct LazyRekor {
    url: String,
    timeout: std::time::Duration,
    client: std::sync::OnceLock<Result<RekorClient, String>>,
    /// The first "cannot reach" error: later lookups fail at once instead of
    /// waiting for the same timeout once per commit of a range.
    unreachable: std::sync::OnceLock<LookupError>,
}

impl LazyRekor {
    /// A lookup against `url` with per-request `timeout`.
    pub fn new(url: &str, timeout: std::time::Duration) -> LazyRekor {
        LazyRekor {
            url: url.to_string(),
            timeout,
            client: std::sync::OnceLock::new(),
            unreachable: std::sync::OnceLock::new(),
        }
    }

    fn client(&self) -> Result<&RekorClient, LookupError> {
        self.client
            .get_or_init(|| {
                Http::new(self.timeout)
                    .map(|h| RekorClient::new(&self.url, h))
                    .map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(|e| LookupError(e.clone()))
    }
}

impl TlogLookup for LazyRekor {
    fn entries_for(&self, digest: &[u8; 32], cert_pem: &str) -> Result<Candidates, LookupError> {
        if let Some(e) = self.unreachable.get() {
            return Err(e.clone());
        }
        let r = self.client()?.entries_for(digest, cert_pem);
        if let Err(e) = &r {
            if e.0.contains("cannot reach") {
                let _ = self.unreachable.set(e.clone());
            }
        }
        r
    }

    fn describe(&self) -> String {
        format!("Rekor at {}", self.url)
    }
}

/// What a lookup that the time budget cut off says (hooks recognise it:
/// see [`BudgetedLookup`]).
pub const BUDGET_SPENT: &str =
    "the time budget for transparency log lookups in this push ran out before this lookup answered";

/// A lookup with a time budget: once the deadline passes, lookups fail
/// with [`BUDGET_SPENT`], and so does one that fails after the deadline
/// (it was still waiting when the budget ran out). A hook refuses what the
/// budget cut off even where an unreachable Rekor is only a warning: the
/// pusher decides how many lookups a push needs.
pub struct BudgetedLookup<'a> {
    inner: &'a (dyn TlogLookup + Sync),
    deadline: std::time::Instant,
}

impl<'a> BudgetedLookup<'a> {
    /// Allows lookups for `budget` from now.
    pub fn new(
        inner: &'a (dyn TlogLookup + Sync),
        budget: std::time::Duration,
    ) -> BudgetedLookup<'a> {
        BudgetedLookup {
            inner,
            deadline: std::time::Instant::now() + budget,
        }
    }
}

impl TlogLookup for BudgetedLookup<'_> {
    fn entries_for(&self, digest: &[u8; 32], cert_pem: &str) -> Result<Candidates, LookupError> {
        if std::time::Instant::now() >= self.deadline {
            return Err(LookupError(BUDGET_SPENT.into()));
        }
        match self.inner.entries_for(digest, cert_pem) {
            Err(e) if std::time::Instant::now() >= self.deadline => {
                Err(LookupError(format!("{BUDGET_SPENT} ({})", e.0)))
            }
            r => r,
        }
    }

    fn describe(&self) -> String {
        self.inner.describe()
    }
}
