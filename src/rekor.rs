//! Rekor v1 client: search by digest, fetch entries, upload hashedrekord
//! entries. Verification of what it returns lives in `tlog`.

use serde_json::json;

use crate::asn1::hex_lower;
use crate::http::{self, Http, HttpError};
use crate::tlog::{LogEntry, TlogError};
use crate::verify::{Candidates, LookupError, TlogLookup};

/// Most entries fetched for one search. A search is by digest and
/// certificate, which only the certificate's key holder can add to, so a
/// real answer lists one entry; the verifier reports any it did not fetch.
const MAX_SEARCH_RESULTS: usize = 64;
/// Most entry ids read from one search answer.
const MAX_SEARCH_IDS: usize = 100_000;

/// A Rekor client.
#[derive(Clone, Debug)]
pub struct RekorClient {
    base: String,
    http: Http,
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
        let url = http::join(&self.base, "/api/v1/index/retrieve");
        let query = json!({
            "hash": format!("sha256:{}", hex_lower(digest)),
            "publicKey": {
                "format": "x509",
                "content": base64::engine::general_purpose::STANDARD.encode(cert_pem),
            },
            "operator": "and",
        });
        let body = serde_json::to_vec(&query).unwrap_or_default();
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
                "{url} listed {} entries for one object and certificate",
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

impl TlogLookup for RekorClient {
    fn entries_for(&self, digest: &[u8; 32], cert_pem: &str) -> Result<Candidates, LookupError> {
        let uuids = self
            .search(digest, cert_pem)
            .map_err(|e| LookupError(e.to_string()))?;
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
