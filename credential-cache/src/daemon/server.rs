//! Serving connections: the peer's uid, bounded frames and idle times,
//! requests dispatched to the cache, waiters woken.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use gitsign::cache::proto::{
    self, CacheKey, Op, RekorTarget, Request, Response, VersionProbe, VERSION,
};
use gitsign::sigstore::http::Http;
use gitsign::sigstore::rekor::{RekorApi, RekorClient, RekorError};
use gitsign::sigstore::trust::TrustedRoot;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{Notify, Semaphore};
use zeroize::Zeroizing;

use super::cache::{unix_now, Cache, ConnId, GetOutcome, Wake};
use super::log::{debug, info};

/// The most connections served at once; more are answered with an error.
pub const MAX_CONNECTIONS: usize = 512;

/// Settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// A connection idle this long between requests (or this slow to send
    /// one) is closed; a claimer's lease extends it.
    pub idle: Duration,
    /// How long a claim lasts without a store.
    pub lease: Duration,
    /// The only uid served.
    pub euid: u32,
    /// What a stored credential must chain to (the user's configuration).
    pub root: Arc<TrustedRoot>,
    /// The Rekor base URLs entries may be posted to (the user's
    /// configuration and --rekor-url), as [`rekor_base`] normalizes them.
    pub rekor_urls: Vec<String>,
}

/// A Rekor base URL as the daemon compares it: no trailing slash.
pub fn rekor_base(url: &str) -> String {
    url.trim().trim_end_matches('/').to_string()
}

/// State shared by all connections.
pub struct Shared {
    cache: Mutex<Cache>,
    /// Woken when something is cached or claimed (the sweeper sleeps
    /// otherwise).
    changed: Notify,
    /// Woken by `Shutdown`.
    pub shutdown: Notify,
    config: Config,
    slots: Arc<Semaphore>,
    next_id: AtomicU64,
    /// HTTP clients by time limit (in practice one): each keeps its
    /// connections to Rekor alive between signatures.
    http: Mutex<HashMap<u64, Http>>,
}

/// The most distinct Rekor time limits with a client of their own.
const MAX_HTTP_CLIENTS: usize = 8;

impl Shared {
    /// New state.
    pub fn new(config: Config) -> Arc<Shared> {
        Arc::new(Shared {
            cache: Mutex::new(Cache::new(config.lease, config.root.clone())),
            changed: Notify::new(),
            shutdown: Notify::new(),
            config,
            slots: Arc::new(Semaphore::new(MAX_CONNECTIONS)),
            next_id: AtomicU64::new(1),
            http: Mutex::new(HashMap::new()),
        })
    }

    /// The HTTP client for requests limited to `timeout_ms`.
    fn http(&self, timeout_ms: u64) -> Result<Http, String> {
        let mut clients = self.http.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(h) = clients.get(&timeout_ms) {
            return Ok(h.clone());
        }
        if clients.len() >= MAX_HTTP_CLIENTS {
            clients.clear();
        }
        // No redirect is ever followed: a Rekor (or anything between) must
        // not steer the daemon to another URL.
        let h = Http::new(Duration::from_millis(timeout_ms))
            .map_err(|e| e.to_string())?
            .without_redirects();
        clients.insert(timeout_ms, h.clone());
        Ok(h)
    }

    /// The cache, even if a panic poisoned the lock (the state stays
    /// consistent: each operation completes or does nothing).
    fn cache(&self) -> MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Forgets everything (on exit).
    pub fn clear(&self) -> usize {
        self.cache().clear()
    }
}

/// Accepts connections until the task is dropped.
pub async fn accept_loop(listener: UnixListener, shared: Arc<Shared>) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let shared = shared.clone();
                tokio::spawn(async move { serve(stream, shared).await });
            }
            Err(e) => {
                // Out of file descriptors, or a connection reset before it
                // was accepted: keep serving.
                info!("cannot accept a connection: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Purges expired entries and lapsed claims as their times come.
pub async fn sweeper(shared: Arc<Shared>) {
    loop {
        let next = shared.cache().sweep(unix_now(), Instant::now());
        match next {
            Some(d) => {
                tokio::select! {
                    _ = tokio::time::sleep(d.max(Duration::from_millis(5))) => {}
                    _ = shared.changed.notified() => {}
                }
            }
            None => shared.changed.notified().await,
        }
    }
}

/// Releases a connection's claims and waits however it ends.
struct ConnGuard {
    shared: Arc<Shared>,
    id: ConnId,
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        self.shared.cache().disconnect(self.id, Instant::now());
        self.shared.changed.notify_one();
    }
}

enum FrameError {
    /// The length header exceeds the limit (answered, then closed).
    Oversized(String),
    /// The connection ended inside a frame.
    Truncated,
    /// Another I/O error.
    Io(std::io::Error),
}

/// Reads one frame; `None` at a clean end of the connection.
async fn read_frame(stream: &mut UnixStream) -> Result<Option<Zeroizing<Vec<u8>>>, FrameError> {
    let mut header = [0u8; 4];
    let mut got = 0;
    while got < 4 {
        match stream.read(&mut header[got..]).await {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => return Err(FrameError::Truncated),
            Ok(n) => got += n,
            Err(e) => return Err(FrameError::Io(e)),
        }
    }
    let n = proto::frame_len(header).map_err(FrameError::Oversized)?;
    let mut body = Zeroizing::new(vec![0u8; n]);
    match stream.read_exact(&mut body).await {
        Ok(_) => Ok(Some(body)),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Err(FrameError::Truncated),
        Err(e) => Err(FrameError::Io(e)),
    }
}

/// Writes one response within `limit`; false if the client is gone or slow.
async fn write_response(stream: &mut UnixStream, response: &Response, limit: Duration) -> bool {
    let frame = match proto::encode_secret(response) {
        Ok(f) => f,
        Err(e) => {
            info!("cannot encode an answer: {e}");
            return false;
        }
    };
    matches!(
        tokio::time::timeout(limit, stream.write_all(&frame)).await,
        Ok(Ok(()))
    )
}

fn error(message: impl Into<String>) -> Response {
    Response::Error {
        message: message.into(),
    }
}

/// Parses a request: its version first, so another version's request is
/// answered with both versions named whatever its shape.
fn parse(body: &[u8]) -> Result<Request, String> {
    let probe: VersionProbe = serde_json::from_slice(body).map_err(|_| {
        "the request is not a gitsign-credential-cache message (a JSON object with a version); \
         check that the client is gitsign"
            .to_string()
    })?;
    if probe.version != VERSION {
        return Err(proto::version_mismatch_message(VERSION, probe.version));
    }
    proto::decode_request(body).map_err(|e| {
        // serde's message can quote a field's value: it goes to the client
        // (the same user), never to the log.
        format!("the request is not a valid protocol {VERSION} request: {e}")
    })
}

/// A key as the log shows it: its fields are the client's words, so each
/// is escaped (`gitsign::encoding::text::printable`) and cut to a sane length; a
/// client cannot forge or rewrite log lines with them.
fn describe(key: &CacheKey) -> String {
    let field = |v: &str| gitsign::encoding::text::excerpt(v, 200);
    let mut s = format!(
        "{} via {} ({}",
        field(&key.issuer),
        field(&key.fulcio),
        field(&key.client_id)
    );
    if !key.identity.is_empty() {
        s.push_str(&format!(", for {}", field(&key.identity)));
    }
    if !key.scope.is_empty() {
        s.push_str(&format!(", scope {}", field(&key.scope)));
    }
    s.push(')');
    s
}

/// Serves one connection.
async fn serve(mut stream: UnixStream, shared: Arc<Shared>) {
    let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
    let idle = shared.config.idle;
    match stream.peer_cred() {
        Ok(cred) if cred.uid() == shared.config.euid => {}
        Ok(cred) => {
            let pid = cred
                .pid()
                .map(|p| format!(" (pid {p})"))
                .unwrap_or_default();
            info!(
                "refused a connection from uid {}{pid}: this daemon serves only uid {}",
                cred.uid(),
                shared.config.euid
            );
            let msg = proto::peer_refused_message(shared.config.euid, cred.uid());
            write_response(&mut stream, &error(msg), Duration::from_millis(200)).await;
            return;
        }
        Err(e) => {
            info!("refused a connection whose peer cannot be identified: {e}");
            let msg = "refused: the daemon cannot identify this connection's user";
            write_response(&mut stream, &error(msg), Duration::from_millis(200)).await;
            return;
        }
    }
    let Ok(_slot) = shared.slots.clone().try_acquire_owned() else {
        info!("refused a connection: {MAX_CONNECTIONS} are already open");
        let msg = format!(
            "the daemon already serves {MAX_CONNECTIONS} connections, its limit; try again shortly"
        );
        write_response(&mut stream, &error(msg), Duration::from_millis(200)).await;
        return;
    };
    let _guard = ConnGuard {
        shared: shared.clone(),
        id,
    };
    debug!("connection {id}: opened");

    loop {
        // A claimer may take minutes to log in: its lease bounds the wait.
        let limit = match shared.cache().claim_deadline(id) {
            Some(deadline) => deadline.saturating_duration_since(Instant::now()) + idle,
            None => idle,
        };
        let body = match tokio::time::timeout(limit, read_frame(&mut stream)).await {
            Err(_) => {
                debug!(
                    "connection {id}: closed after {} ms without a request",
                    limit.as_millis()
                );
                return;
            }
            Ok(Ok(None)) => {
                debug!("connection {id}: closed by the client");
                return;
            }
            Ok(Ok(Some(body))) => body,
            Ok(Err(FrameError::Oversized(msg))) => {
                info!("connection {id}: {msg}; closing it");
                write_response(&mut stream, &error(msg), idle).await;
                return;
            }
            Ok(Err(FrameError::Truncated)) => {
                debug!("connection {id}: ended inside a message");
                return;
            }
            Ok(Err(FrameError::Io(e))) => {
                debug!("connection {id}: {e}");
                return;
            }
        };
        let request = match parse(&body) {
            Ok(r) => r,
            Err(msg) => {
                info!(
                    "connection {id}: refused a malformed or foreign request ({} bytes)",
                    body.len()
                );
                write_response(&mut stream, &error(msg), idle).await;
                return;
            }
        };
        drop(body);
        let shutdown = matches!(request.op, Op::Shutdown);
        let Some(response) = handle(&shared, id, request.op, &mut stream).await else {
            return;
        };
        let delivered = write_response(&mut stream, &response, idle).await;
        drop(response);
        // A shutdown stands whether or not its client stayed for the answer.
        if shutdown {
            shared.shutdown.notify_one();
            return;
        }
        if !delivered {
            debug!("connection {id}: the client did not take the answer");
            return;
        }
    }
}

/// Handles one request; `None` when the connection must close unanswered
/// (it went away while waiting).
async fn handle(
    shared: &Arc<Shared>,
    id: ConnId,
    op: Op,
    stream: &mut UnixStream,
) -> Option<Response> {
    let response = match op {
        Op::Get {
            key,
            claim,
            wait_ms,
        } => {
            let outcome =
                shared
                    .cache()
                    .get(id, &key, claim, wait_ms > 0, unix_now(), Instant::now());
            let what = describe(&key);
            match outcome {
                GetOutcome::Hit(credential) => {
                    debug!("connection {id}: get {what}: hit");
                    Response::Hit { credential }
                }
                GetOutcome::Miss => {
                    debug!("connection {id}: get {what}: miss");
                    Response::Miss
                }
                GetOutcome::Claimed => {
                    shared.changed.notify_one();
                    debug!("connection {id}: get {what}: claimed the login");
                    Response::Claimed
                }
                GetOutcome::Timeout => {
                    debug!("connection {id}: get {what}: another client is logging in");
                    Response::Timeout
                }
                GetOutcome::Refused(msg) => error(msg),
                GetOutcome::Wait(rx) => {
                    debug!("connection {id}: get {what}: waiting for another client's login");
                    let wait = Duration::from_millis(wait_ms).min(shared.config.lease);
                    wait_for(shared, id, &key, rx, wait, stream).await?
                }
            }
        }
        Op::Store { key, credential } => {
            let what = describe(&key);
            let result = shared.cache().store(id, key, credential, unix_now());
            match result {
                Ok(()) => {
                    shared.changed.notify_one();
                    debug!("connection {id}: stored a credential for {what}");
                    Response::Ok
                }
                Err(msg) => {
                    // The sentence may quote the client's certificate
                    // (an issuer's name): escaped like every client word.
                    debug!(
                        "connection {id}: refused to store a credential for {what}: {}",
                        gitsign::encoding::text::excerpt(&msg, 500)
                    );
                    error(msg)
                }
            }
        }
        Op::Sign {
            key,
            message_b64,
            rekor,
        } => {
            let what = describe(&key);
            let Ok(message) = STANDARD.decode(&message_b64) else {
                return Some(error("the message to sign is not base64"));
            };
            // Whoever reaches the socket may have git objects signed (as
            // with ssh-agent), never arbitrary bytes: an artifact signed
            // under the user's certificate would pass cosign verify-blob.
            if let Err(why) = gitsign::pki::cms::check_signable(&message) {
                info!("connection {id}: sign {what}: {why}");
                return Some(error(why));
            }
            let Some(entry) = shared.cache().live(&key, unix_now()) else {
                debug!("connection {id}: sign {what}: nothing cached");
                return Some(Response::Miss);
            };
            let signature = match entry.key.sign(&message) {
                Ok(s) => s,
                Err(e) => return Some(error(format!("signing failed: {e}"))),
            };
            let (rekor, rekor_error) = match rekor {
                None => (None, None),
                Some(target) => {
                    let digest = gitsign::pki::crypto::sha256(&message);
                    match post_entry(shared, &target, &digest, &signature, &entry.leaf_pem).await {
                        Ok(logged) => {
                            debug!(
                                "connection {id}: posted the entry to {}: log index {}",
                                gitsign::encoding::text::excerpt(&target.url, 200),
                                logged.log_index
                            );
                            (Some(STANDARD.encode(logged.to_protobuf(true))), None)
                        }
                        Err(why) => {
                            info!(
                                "could not log a signature for {what} in Rekor ({why}); \
                                 the client posts the entry itself"
                            );
                            (None, Some(why))
                        }
                    }
                }
            };
            debug!("connection {id}: signed for {what}");
            Response::Signed {
                signature_b64: STANDARD.encode(&signature),
                entry_b64: rekor,
                rekor_error,
            }
        }
        Op::Release { key } => {
            let what = describe(&key);
            let result = shared.cache().release(id, &key, Instant::now());
            shared.changed.notify_one();
            match result {
                Ok(()) => {
                    debug!("connection {id}: released the claim on {what}");
                    Response::Ok
                }
                Err(msg) => error(msg),
            }
        }
        Op::List => {
            let entries = shared.cache().list(unix_now());
            debug!("connection {id}: list ({} entries)", entries.len());
            Response::Entries {
                entries,
                pid: std::process::id(),
                version: VERSION,
            }
        }
        Op::Clear => {
            let n = shared.cache().clear();
            info!("cleared {n} cached credential(s) on request");
            Response::Ok
        }
        Op::Shutdown => {
            info!("shutting down on request");
            Response::Ok
        }
    };
    Some(response)
}

/// Posts the hashedrekord entry for `signature` over `digest` to the Rekor
/// `target` names, if the daemon's own configuration names it too, on a
/// connection kept alive for the next signature; follows no redirect. What
/// goes back is the entry Rekor created for exactly this signature, parsed
/// (bounded by the parser) and re-encoded by the caller, never Rekor's
/// bytes; a failure is a sentence without the server's words (the client
/// then posts the entry itself and hears them first-hand).
async fn post_entry(
    shared: &Arc<Shared>,
    target: &RekorTarget,
    digest: &[u8; 32],
    signature: &[u8],
    leaf_pem: &str,
) -> Result<gitsign::sigstore::tlog::LogEntry, String> {
    let base = rekor_base(&target.url);
    if !shared.config.rekor_urls.contains(&base) {
        return Err(format!(
            "this daemon posts only to the Rekor its own configuration names ({}), not to the \
             one this client asked for; the client posts the entry itself (give the daemon \
             --rekor-url, or gitsign.rekor in the global git config, to have it post there)",
            shared.config.rekor_urls.join(", ")
        ));
    }
    let timeout_ms = target.timeout_ms.clamp(1, proto::CLAIM_LEASE_MS);
    let http = shared.http(timeout_ms)?;
    let api = RekorApi::from_major(target.api_version).ok_or_else(|| {
        format!(
            "the client asked for Rekor API version {}, which this daemon does not speak",
            target.api_version
        )
    })?;
    let leaf = gitsign::pki::x509::certificates_from_pem(leaf_pem)
        .ok()
        .and_then(|c| c.into_iter().next())
        .ok_or("the cached certificate does not parse")?;
    let (digest, signature) = (*digest, signature.to_vec());
    let posted = tokio::task::spawn_blocking(move || {
        let rekor = RekorClient::new(&base, http).with_api(api);
        let entry = rekor
            .create_entry(&digest, &signature, &leaf)
            .map_err(|e| describe_rekor_error(&base, e))?;
        let expected = RekorClient::expected_body(api, &digest, &signature, &leaf)
            .map_err(|e| describe_rekor_error(&base, e))?;
        if entry.body != expected {
            return Err(format!(
                "Rekor at {base} returned an entry for something other than this signature"
            ));
        }
        Ok(entry)
    })
    .await
    .map_err(|e| format!("the upload task failed ({e})"))?;
    posted
}

/// A Rekor failure as the daemon passes it on: what happened, in the
/// daemon's words only (a status, a transport failure), never the body.
fn describe_rekor_error(base: &str, e: RekorError) -> String {
    match e {
        RekorError::Http(h) => match h.status {
            Some(s @ 300..=399) => {
                format!("Rekor at {base} answered HTTP {s} (a redirect, which the daemon does not follow)")
            }
            Some(s) => format!("Rekor at {base} answered HTTP {s}"),
            None => h.to_string(),
        },
        RekorError::Malformed(_) => {
            format!("Rekor at {base} did not answer with a log entry")
        }
    }
}

/// Waits for another connection's login: its credential, the claim, the
/// end of `wait`, or this client leaving (then `None`).
async fn wait_for(
    shared: &Arc<Shared>,
    id: ConnId,
    key: &CacheKey,
    mut rx: tokio::sync::oneshot::Receiver<Wake>,
    wait: Duration,
    stream: &mut UnixStream,
) -> Option<Response> {
    let mut probe = [0u8; 1];
    let woken = tokio::select! {
        r = &mut rx => r.ok(),
        _ = tokio::time::sleep(wait) => {
            if shared.cache().cancel_wait(id, key) {
                debug!("connection {id}: waited {} ms in vain", wait.as_millis());
                return Some(Response::Timeout);
            }
            // Woken in the same instant: the news is in the channel.
            rx.try_recv().ok()
        }
        r = stream.read(&mut probe) => {
            // The protocol has the client wait in silence: an end of the
            // connection, or anything sent now, ends it (the guard passes
            // on a claim it may just have received).
            match r {
                Ok(0) => debug!("connection {id}: left while waiting"),
                _ => debug!("connection {id}: sent data while waiting; closing it"),
            }
            return None;
        }
    };
    Some(match woken {
        Some(Wake::Hit(credential)) if credential.expires_at > unix_now() => {
            debug!("connection {id}: the login it waited for stored a credential");
            Response::Hit { credential }
        }
        Some(Wake::Hit(_)) => {
            // Stored already expired by the time it is served (a clock
            // jump): never serve it; try again without waiting.
            let again = shared
                .cache()
                .get(id, key, true, false, unix_now(), Instant::now());
            match again {
                GetOutcome::Hit(credential) => Response::Hit { credential },
                GetOutcome::Claimed => {
                    shared.changed.notify_one();
                    Response::Claimed
                }
                _ => Response::Timeout,
            }
        }
        Some(Wake::Claimed) => {
            shared.changed.notify_one();
            debug!("connection {id}: took over the claim");
            Response::Claimed
        }
        None => error("the login this client waited for was abandoned; try again"),
    })
}
