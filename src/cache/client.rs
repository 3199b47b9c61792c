//! A blocking client of the cache daemon (std only).
//!
//! Every call opens its own connection with bounded connect, read and write
//! times, sends one request and reads one answer. A [`ClaimHandle`] (from
//! [`Client::get_or_claim`]) keeps its connection open: the daemon ties the
//! claim to it, and closing it (dropping the handle) releases the claim.
//!
//! Nothing here reads the environment: the caller passes what it read in a
//! [`SocketEnv`] to [`default_socket_path`].

use std::fmt;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use zeroize::Zeroizing;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use super::proto::{
    self, CacheKey, Certified, Credential, EntryInfo, Op, RekorTarget, Request, Response,
    PEER_REFUSED_PREFIX, VERSION,
};

/// The socket's file name inside its directory.
pub const SOCKET_FILE_NAME: &str = "credential-cache.sock";

/// The directory (under the runtime or cache directory) that holds the socket.
pub const SOCKET_DIR_NAME: &str = "gitsign";

/// The environment values that choose the socket path, read by the caller
/// (gitsign's `config`, or the daemon's `main`). Empty values count as unset.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SocketEnv {
    /// `GITSIGN_CREDENTIAL_CACHE`: the socket path, when set.
    pub gitsign_credential_cache: Option<String>,
    /// `XDG_RUNTIME_DIR`: the per-user runtime directory (`/run/user/UID`).
    pub xdg_runtime_dir: Option<String>,
    /// `XDG_CACHE_HOME`: the user's cache directory, when set.
    pub xdg_cache_home: Option<String>,
    /// `HOME` (or the passwd entry's home directory when `HOME` is unset).
    pub home: Option<String>,
    /// The process's working directory, against which a relative
    /// `GITSIGN_CREDENTIAL_CACHE` is resolved (as Go gitsign resolves it).
    pub current_dir: Option<PathBuf>,
}

/// Where gitsign and the daemon look for the socket, in this order:
/// `GITSIGN_CREDENTIAL_CACHE`; `$XDG_RUNTIME_DIR/gitsign/credential-cache.sock`;
/// the user's cache directory (`$XDG_CACHE_HOME`, else `~/.cache`; on macOS
/// `~/Library/Caches`) + `gitsign/credential-cache.sock` (containers often
/// lack `XDG_RUNTIME_DIR`). A relative `GITSIGN_CREDENTIAL_CACHE` is taken
/// from the working directory, as Go gitsign takes it; git runs gitsign in
/// the repository's top directory, so each repository then has a socket of
/// its own (the documentation recommends an absolute path).
pub fn default_socket_path(env: &SocketEnv) -> Result<PathBuf, CacheError> {
    fn set(v: &Option<String>) -> Option<&str> {
        v.as_deref().filter(|s| !s.is_empty())
    }
    if let Some(p) = set(&env.gitsign_credential_cache) {
        let path = PathBuf::from(p);
        if path.is_absolute() {
            return Ok(path);
        }
        return match env.current_dir.as_deref().filter(|d| d.is_absolute()) {
            Some(d) => Ok(d.join(path)),
            None => Err(CacheError::SocketPath {
                reason: format!(
                    "{} is `{p}`, a relative path, and the working directory is unknown; set it \
                     to an absolute path such as /run/user/1000/gitsign/{SOCKET_FILE_NAME}",
                    proto::SOCKET_ENV
                ),
            }),
        };
    }
    if let Some(dir) = set(&env.xdg_runtime_dir).filter(|d| Path::new(d).is_absolute()) {
        return Ok(Path::new(dir).join(SOCKET_DIR_NAME).join(SOCKET_FILE_NAME));
    }
    let home = set(&env.home).filter(|d| Path::new(d).is_absolute());
    let cache = if cfg!(target_os = "macos") {
        home.map(|h| Path::new(h).join("Library").join("Caches"))
    } else {
        match set(&env.xdg_cache_home).filter(|d| Path::new(d).is_absolute()) {
            Some(c) => Some(PathBuf::from(c)),
            None => home.map(|h| Path::new(h).join(".cache")),
        }
    };
    match cache {
        Some(c) => Ok(c.join(SOCKET_DIR_NAME).join(SOCKET_FILE_NAME)),
        None => Err(CacheError::SocketPath {
            reason: format!(
                "none of {}, XDG_RUNTIME_DIR and HOME names a directory; set {} to the \
                 daemon's socket path",
                proto::SOCKET_ENV,
                proto::SOCKET_ENV
            ),
        }),
    }
}

/// A failure to use the cache daemon, as a sentence a user can act on.
#[derive(Debug)]
#[non_exhaustive]
pub enum CacheError {
    /// No daemon listens on the socket (no file, or a stale one).
    NotRunning {
        /// The socket path.
        path: PathBuf,
    },
    /// The socket or its directory is not ours, or the daemon serves
    /// another user.
    PermissionDenied {
        /// The socket path.
        path: PathBuf,
        /// What refused (the operating system's or the daemon's words).
        detail: String,
    },
    /// The socket's directory or the process listening on it is not this
    /// user's own: nothing was sent.
    NotOurs {
        /// The socket path.
        path: PathBuf,
        /// What is wrong, and how to fix it.
        detail: String,
    },
    /// The daemon speaks another protocol version.
    VersionMismatch {
        /// The daemon's version.
        daemon: u32,
        /// This client's version ([`VERSION`]).
        client: u32,
    },
    /// The daemon did not answer in time.
    Timeout {
        /// The socket path.
        path: PathBuf,
        /// What timed out ("connecting", "sending the request", ...).
        action: &'static str,
        /// The time allowed.
        after: Duration,
    },
    /// The daemon answered with an error.
    Daemon {
        /// The socket path.
        path: PathBuf,
        /// The daemon's sentence.
        message: String,
    },
    /// The daemon's answer was not what the protocol allows.
    Protocol {
        /// The socket path.
        path: PathBuf,
        /// What was wrong.
        detail: String,
    },
    /// Another input/output failure.
    Io {
        /// The socket path.
        path: PathBuf,
        /// What was being done.
        action: &'static str,
        /// The operating system's error.
        source: io::Error,
    },
    /// No socket path could be chosen.
    SocketPath {
        /// Why, and what to set.
        reason: String,
    },
    /// The daemon cannot be used on this platform (it is reached over a
    /// Unix socket, whose directory and peer are checked the Unix way).
    Unsupported {
        /// The socket path.
        path: PathBuf,
    },
}

impl fmt::Display for CacheError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CacheError::NotRunning { path } => write!(
                f,
                "the gitsign credential cache is not running at {}: start `gitsign-credential-cache` \
                 (or its systemd socket), or unset {} to sign without it",
                path.display(),
                proto::SOCKET_ENV
            ),
            CacheError::PermissionDenied { path, detail } => write!(
                f,
                "the gitsign credential cache at {} refused this user ({detail}): the socket must \
                 belong to the user who runs gitsign; start a daemon as yourself or point {} at yours",
                path.display(),
                proto::SOCKET_ENV
            ),
            CacheError::NotOurs { path, detail } => write!(
                f,
                "gitsign sent nothing to the credential cache at {}: {detail}",
                path.display()
            ),
            CacheError::VersionMismatch { daemon, client } => write!(
                f,
                "gitsign-credential-cache speaks protocol {daemon}, this gitsign {client}: restart \
                 the daemon (from the same release as gitsign)"
            ),
            CacheError::Timeout { path, action, after } => write!(
                f,
                "the gitsign credential cache at {} did not respond within {} ms while {action}: \
                 restart the daemon if it hangs",
                path.display(),
                after.as_millis()
            ),
            CacheError::Daemon { path, message } => write!(
                f,
                "the gitsign credential cache at {} answered: {message}",
                path.display()
            ),
            CacheError::Protocol { path, detail } => write!(
                f,
                "the gitsign credential cache at {} answered something unexpected ({detail}): make \
                 sure the socket belongs to gitsign-credential-cache and restart it",
                path.display()
            ),
            CacheError::Io { path, action, source } => write!(
                f,
                "the gitsign credential cache at {} failed while {action}: {source}",
                path.display()
            ),
            CacheError::SocketPath { reason } => {
                write!(f, "cannot choose the credential cache's socket: {reason}")
            }
            CacheError::Unsupported { path } => write!(
                f,
                "the gitsign credential cache at {} is not supported on this platform (it needs \
                 Unix sockets and Unix owners): set gitsign.credentialCache to off, or unset {}, \
                 to sign without it",
                path.display(),
                proto::SOCKET_ENV
            ),
        }
    }
}

impl std::error::Error for CacheError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CacheError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// What [`Client::list`] returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing {
    /// The cached entries (no secrets).
    pub entries: Vec<EntryInfo>,
    /// The daemon's process id.
    pub pid: u32,
    /// The daemon's protocol version.
    pub version: u32,
}

/// What [`Client::sign`] returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    /// ECDSA P-256 SHA-256, DER.
    pub signature: Vec<u8>,
    /// When asked to log: the entry Rekor created (parsed, not yet
    /// checked), or why the daemon has none.
    pub rekor: Option<Result<crate::sigstore::tlog::LogEntry, String>>,
}

/// The outcome of [`Client::get_or_claim`].
#[derive(Debug)]
pub enum Claim {
    /// The credential was cached, or another client's login stored it
    /// while this one waited.
    Hit(Certified),
    /// This client must log in, then [`ClaimHandle::store`] the credential
    /// (or [`ClaimHandle::release`] the claim if the login failed).
    Claimed(ClaimHandle),
    /// Another client's login did not finish within the wait.
    Timeout,
}

/// A blocking client bound to one socket path.
#[derive(Debug, Clone)]
pub struct Client {
    path: PathBuf,
    connect_timeout: Duration,
    io_timeout: Duration,
}

impl Client {
    /// A client of the daemon at `path`, with 1 s to connect and 5 s for
    /// each read or write.
    pub fn new(path: impl Into<PathBuf>) -> Client {
        Client {
            path: path.into(),
            connect_timeout: Duration::from_secs(1),
            io_timeout: Duration::from_secs(5),
        }
    }

    /// Sets the time allowed to connect, and for each read or write
    /// (a claim's wait is added to the read time of
    /// [`get_or_claim`](Client::get_or_claim)). Zero durations become 1 ms.
    pub fn with_timeouts(mut self, connect: Duration, io: Duration) -> Client {
        self.connect_timeout = connect.max(Duration::from_millis(1));
        self.io_timeout = io.max(Duration::from_millis(1));
        self
    }

    /// The socket path.
    pub fn socket_path(&self) -> &Path {
        &self.path
    }

    /// The cached credential for `key`, if any (never waits for a login).
    pub fn get(&self, key: &CacheKey) -> Result<Option<Certified>, CacheError> {
        let mut conn = self.connect()?;
        let op = Op::Get {
            key: key.clone(),
            claim: false,
            wait_ms: 0,
        };
        match conn.call(op, self.io_timeout)? {
            Response::Hit { credential } => Ok(Some(credential)),
            Response::Miss => Ok(None),
            other => Err(conn.unexpected(&other, "Hit or Miss")),
        }
    }

    /// Single flight: the cached credential; or, if nobody is logging in
    /// for `key`, a claim that makes this client the one to log in; or, if
    /// another client is, waits up to `wait` for its credential (and takes
    /// over the claim if that client gives up or disconnects).
    pub fn get_or_claim(&self, key: &CacheKey, wait: Duration) -> Result<Claim, CacheError> {
        let mut conn = self.connect()?;
        let wait_ms = u64::try_from(wait.as_millis())
            .unwrap_or(u64::MAX)
            .min(proto::CLAIM_LEASE_MS);
        let op = Op::Get {
            key: key.clone(),
            claim: true,
            wait_ms,
        };
        let read_time = self
            .io_timeout
            .saturating_add(Duration::from_millis(wait_ms));
        match conn.call(op, read_time)? {
            Response::Hit { credential } => Ok(Claim::Hit(credential)),
            Response::Claimed => Ok(Claim::Claimed(ClaimHandle {
                conn: Some(conn),
                path: self.path.clone(),
                key: key.clone(),
                io_timeout: self.io_timeout,
            })),
            Response::Timeout => Ok(Claim::Timeout),
            other => Err(conn.unexpected(&other, "Hit, Claimed or Timeout")),
        }
    }

    /// Has the daemon sign `message` with the key cached under `key`
    /// (`None`: nothing live is cached); with `rekor`, the daemon also logs
    /// the signature there (the read may take that long as well).
    pub fn sign(
        &self,
        key: &CacheKey,
        message: &[u8],
        rekor: Option<RekorTarget>,
    ) -> Result<Option<Signed>, CacheError> {
        let mut conn = self.connect()?;
        let read_time = self.io_timeout.saturating_add(Duration::from_millis(
            rekor.as_ref().map_or(0, |r| r.timeout_ms),
        ));
        let logging = rekor.is_some();
        let op = Op::Sign {
            key: key.clone(),
            message_b64: STANDARD.encode(message),
            rekor,
        };
        match conn.call(op, read_time)? {
            Response::Signed {
                signature_b64,
                entry_b64,
                rekor_error,
            } => {
                let signature =
                    STANDARD
                        .decode(signature_b64)
                        .map_err(|_| CacheError::Protocol {
                            path: self.path.clone(),
                            detail: "the daemon's signature is not base64".into(),
                        })?;
                let rekor = match (entry_b64, rekor_error) {
                    (Some(entry), _) => Some(
                        STANDARD
                            .decode(entry)
                            .map_err(|_| "the daemon's log entry is not base64".to_string())
                            .and_then(|der| {
                                crate::sigstore::tlog::LogEntry::from_protobuf(&der)
                                    .map_err(|e| e.0)
                            }),
                    ),
                    (None, Some(why)) => Some(Err(why)),
                    (None, None) if logging => {
                        Some(Err("the daemon did not say what Rekor answered".to_string()))
                    }
                    (None, None) => None,
                };
                Ok(Some(Signed { signature, rekor }))
            }
            Response::Miss => Ok(None),
            other => Err(conn.unexpected(&other, "Signed or Miss")),
        }
    }

    /// Caches `credential` under `key` until its `expires_at` (the daemon
    /// serves it no longer than its certificate's notAfter less a margin).
    /// The daemon takes a `Store` only from the client that holds the
    /// key's claim, and never over a live entry: this claims the key
    /// without waiting, then stores on the claim's connection. A live
    /// entry, or another client's claim, is an error saying so.
    pub fn store(&self, key: &CacheKey, credential: &Credential) -> Result<(), CacheError> {
        let refused = |message: &str| CacheError::Daemon {
            path: self.path.clone(),
            message: message.to_string(),
        };
        match self.get_or_claim(key, Duration::ZERO)? {
            Claim::Claimed(handle) => handle.store(credential),
            Claim::Hit(live) => Err(refused(&format!(
                "a credential is already cached for this key until {}; the daemon never \
                 replaces a live one, so nothing was stored",
                crate::encoding::time::format_time(live.expires_at)
            ))),
            Claim::Timeout => Err(refused(
                "another client holds this key's login claim, and only it may store a \
                 credential for it, so nothing was stored",
            )),
        }
    }

    /// What the daemon holds (no secrets), its pid and protocol version.
    pub fn list(&self) -> Result<Listing, CacheError> {
        let mut conn = self.connect()?;
        match conn.call(Op::List, self.io_timeout)? {
            Response::Entries {
                entries,
                pid,
                version,
            } => Ok(Listing {
                entries,
                pid,
                version,
            }),
            other => Err(conn.unexpected(&other, "Entries")),
        }
    }

    /// Forgets every cached credential.
    pub fn clear(&self) -> Result<(), CacheError> {
        self.connect()?.expect_ok(Op::Clear, self.io_timeout)
    }

    /// Stops the daemon.
    pub fn shutdown(&self) -> Result<(), CacheError> {
        self.connect()?.expect_ok(Op::Shutdown, self.io_timeout)
    }

    /// Off Unix there is no daemon to reach: nothing is sent (see
    /// [`CacheError::Unsupported`]).
    #[cfg(not(unix))]
    fn connect(&self) -> Result<Conn, CacheError> {
        Err(CacheError::Unsupported {
            path: self.path.clone(),
        })
    }

    /// Connects within the connect timeout. `connect(2)` on a Unix socket
    /// blocks only when the daemon's backlog is full (it is hung), so the
    /// socket is non-blocking while connecting: a full backlog answers
    /// EAGAIN (Linux; retried until the timeout) or EINPROGRESS (waited
    /// for with poll). No helper thread: a warm signature pays for none.
    #[cfg(unix)]
    fn connect(&self) -> Result<Conn, CacheError> {
        use rustix::net::{self as rnet, AddressFamily, SocketAddrUnix, SocketFlags, SocketType};
        let deadline = std::time::Instant::now() + self.connect_timeout;
        let timeout = || CacheError::Timeout {
            path: self.path.clone(),
            action: "connecting",
            after: self.connect_timeout,
        };
        // A directory another user controls lets them swap the socket:
        // refuse it before connecting (the daemon refuses to listen there).
        let euid = super::socket::euid();
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            if let Err(detail) = super::socket::check_dir(dir, euid, proto::SOCKET_ENV) {
                // A missing directory is a daemon that is not running.
                if !dir.exists() {
                    return Err(CacheError::NotRunning {
                        path: self.path.clone(),
                    });
                }
                return Err(CacheError::NotOurs {
                    path: self.path.clone(),
                    detail,
                });
            }
        }
        let addr =
            SocketAddrUnix::new(self.path.as_path()).map_err(|e| self.connect_error(e.into()))?;
        let fd = rnet::socket_with(
            AddressFamily::UNIX,
            SocketType::STREAM,
            SocketFlags::NONBLOCK | SocketFlags::CLOEXEC,
            None,
        )
        .map_err(|e| self.connect_error(e.into()))?;
        loop {
            match rnet::connect(&fd, &addr) {
                Ok(()) => break,
                Err(rustix::io::Errno::INTR) => continue,
                Err(rustix::io::Errno::AGAIN) => {
                    if std::time::Instant::now() >= deadline {
                        return Err(timeout());
                    }
                    std::thread::sleep(Duration::from_millis(2));
                }
                Err(rustix::io::Errno::INPROGRESS) => {
                    let left = deadline.saturating_duration_since(std::time::Instant::now());
                    let ts = rustix::event::Timespec {
                        tv_sec: left.as_secs() as _,
                        tv_nsec: left.subsec_nanos() as _,
                    };
                    let mut pfd = [rustix::event::PollFd::new(
                        &fd,
                        rustix::event::PollFlags::OUT,
                    )];
                    match rustix::event::poll(&mut pfd, Some(&ts)) {
                        Ok(0) => return Err(timeout()),
                        Ok(_) => {}
                        Err(e) => return Err(self.connect_error(e.into())),
                    }
                    match rnet::sockopt::socket_error(&fd) {
                        Ok(Ok(())) => break,
                        Ok(Err(e)) | Err(e) => return Err(self.connect_error(e.into())),
                    }
                }
                Err(e) => return Err(self.connect_error(e.into())),
            }
        }
        // Whoever listens must be this user (the kernel's word, not the
        // peer's): a Store carries the private key.
        match super::socket::peer_uid(&fd) {
            Ok(uid) if uid == euid => {}
            Ok(uid) => {
                return Err(CacheError::NotOurs {
                    path: self.path.clone(),
                    detail: format!(
                        "the process listening on it runs as uid {uid}, not as you (uid {euid}); \
                         start gitsign-credential-cache as yourself, or unset {} to sign without it",
                        proto::SOCKET_ENV
                    ),
                })
            }
            Err(e) => {
                return Err(CacheError::NotOurs {
                    path: self.path.clone(),
                    detail: format!(
                        "the user of the process listening on it cannot be checked ({e}); unset {} \
                         to sign without the cache",
                        proto::SOCKET_ENV
                    ),
                })
            }
        }
        let stream = std::os::unix::net::UnixStream::from(fd);
        stream
            .set_nonblocking(false)
            .map_err(|e| self.connect_error(e))?;
        Ok(Conn {
            stream,
            path: self.path.clone(),
        })
    }

    #[cfg(unix)]
    fn connect_error(&self, e: io::Error) -> CacheError {
        let path = self.path.clone();
        match e.kind() {
            io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused => {
                CacheError::NotRunning { path }
            }
            io::ErrorKind::PermissionDenied => CacheError::PermissionDenied {
                path,
                detail: format!("connecting was denied: {e}"),
            },
            _ => CacheError::Io {
                path,
                action: "connecting",
                source: e,
            },
        }
    }
}

/// A claim on a key's login, held by an open connection. Dropping it
/// without storing releases the claim (the next waiting client gets it).
#[derive(Debug)]
pub struct ClaimHandle {
    conn: Option<Conn>,
    path: PathBuf,
    key: CacheKey,
    io_timeout: Duration,
}

impl ClaimHandle {
    /// The claimed key.
    pub fn key(&self) -> &CacheKey {
        &self.key
    }

    /// Stores the credential the login produced; waiting clients get it.
    pub fn store(mut self, credential: &Credential) -> Result<(), CacheError> {
        let op = Op::Store {
            key: self.key.clone(),
            credential: credential.clone(),
        };
        self.finish(op)
    }

    /// Gives the claim up (the login failed); the next waiting client
    /// becomes the claimer.
    pub fn release(mut self) -> Result<(), CacheError> {
        let op = Op::Release {
            key: self.key.clone(),
        };
        self.finish(op)
    }

    fn finish(&mut self, op: Op) -> Result<(), CacheError> {
        match self.conn.take() {
            Some(mut conn) => conn.expect_ok(op, self.io_timeout),
            None => Err(CacheError::Protocol {
                path: self.path.clone(),
                detail: "the claim was already finished".into(),
            }),
        }
    }
}

impl Drop for ClaimHandle {
    fn drop(&mut self) {
        // Closing the connection releases the claim; say so explicitly too
        // (best effort, without waiting for the answer).
        if let Some(mut conn) = self.conn.take() {
            let release = Request {
                version: VERSION,
                op: Op::Release {
                    key: self.key.clone(),
                },
            };
            if let Ok(frame) = proto::encode(&release) {
                let _ = conn
                    .stream
                    .set_write_timeout(Some(Duration::from_millis(100)));
                let _ = conn.stream.write_all(&frame);
            }
        }
    }
}

/// One open connection.
#[derive(Debug)]
struct Conn {
    stream: Stream,
    path: PathBuf,
}

/// The connection to the daemon: a Unix socket.
#[cfg(unix)]
type Stream = std::os::unix::net::UnixStream;

/// Off Unix no connection is ever made ([`Client::connect`] refuses), so
/// the stream type has no values; the code that uses one still compiles.
#[cfg(not(unix))]
#[derive(Debug)]
enum Stream {}

#[cfg(not(unix))]
impl Stream {
    fn set_read_timeout(&self, _: Option<Duration>) -> io::Result<()> {
        match *self {}
    }

    fn set_write_timeout(&self, _: Option<Duration>) -> io::Result<()> {
        match *self {}
    }
}

#[cfg(not(unix))]
impl Read for Stream {
    fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
        match *self {}
    }
}

#[cfg(not(unix))]
impl Write for Stream {
    fn write(&mut self, _: &[u8]) -> io::Result<usize> {
        match *self {}
    }

    fn flush(&mut self) -> io::Result<()> {
        match *self {}
    }
}

impl Conn {
    fn call(&mut self, op: Op, read_time: Duration) -> Result<Response, CacheError> {
        let request = Request {
            version: VERSION,
            op,
        };
        let frame = proto::encode_secret(&request).map_err(|detail| CacheError::Protocol {
            path: self.path.clone(),
            detail,
        })?;
        let write_time = read_time.min(Duration::from_secs(60));
        self.stream
            .set_write_timeout(Some(write_time))
            .and_then(|_| self.stream.set_read_timeout(Some(read_time)))
            .map_err(|e| self.io(e, "setting socket timeouts"))?;
        let written = self.stream.write_all(&frame);
        // A daemon that refuses this peer answers and closes at once, so a
        // failed write may still leave its answer to read.
        let answer = self.read_response(read_time);
        let response = match (written, answer) {
            (_, Ok(r)) => r,
            (Err(e), Err(_)) => return Err(self.io_error(e, "sending the request", write_time)),
            (Ok(()), Err(e)) => return Err(e),
        };
        if let Response::Error { message } = &response {
            return Err(self.daemon_error(message));
        }
        Ok(response)
    }

    fn expect_ok(&mut self, op: Op, time: Duration) -> Result<(), CacheError> {
        match self.call(op, time)? {
            Response::Ok => Ok(()),
            other => Err(self.unexpected(&other, "Ok")),
        }
    }

    fn read_response(&mut self, time: Duration) -> Result<Response, CacheError> {
        let mut header = [0u8; 4];
        self.stream
            .read_exact(&mut header)
            .map_err(|e| self.io_error(e, "reading the answer", time))?;
        let n = proto::frame_len(header).map_err(|detail| CacheError::Protocol {
            path: self.path.clone(),
            detail,
        })?;
        let mut body = Zeroizing::new(vec![0u8; n]);
        self.stream
            .read_exact(&mut body)
            .map_err(|e| self.io_error(e, "reading the answer", time))?;
        proto::decode_response(&body).map_err(|e| {
            // A daemon of another version may answer in a shape we do not know.
            CacheError::Protocol {
                path: self.path.clone(),
                detail: format!("not a protocol {VERSION} answer: {e}"),
            }
        })
    }

    fn daemon_error(&self, message: &str) -> CacheError {
        if let Some((daemon, client)) = proto::parse_version_mismatch(message) {
            return CacheError::VersionMismatch { daemon, client };
        }
        if message.starts_with(PEER_REFUSED_PREFIX) {
            return CacheError::PermissionDenied {
                path: self.path.clone(),
                detail: message.to_string(),
            };
        }
        CacheError::Daemon {
            path: self.path.clone(),
            message: message.to_string(),
        }
    }

    fn unexpected(&self, got: &Response, wanted: &str) -> CacheError {
        let name = match got {
            Response::Hit { .. } => "Hit",
            Response::Signed { .. } => "Signed",
            Response::Miss => "Miss",
            Response::Claimed => "Claimed",
            Response::Timeout => "Timeout",
            Response::Ok => "Ok",
            Response::Entries { .. } => "Entries",
            Response::Error { .. } => "Error",
        };
        CacheError::Protocol {
            path: self.path.clone(),
            detail: format!("{name} where {wanted} was due"),
        }
    }

    fn io(&self, e: io::Error, action: &'static str) -> CacheError {
        CacheError::Io {
            path: self.path.clone(),
            action,
            source: e,
        }
    }

    fn io_error(&self, e: io::Error, action: &'static str, after: Duration) -> CacheError {
        match e.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => CacheError::Timeout {
                path: self.path.clone(),
                action,
                after,
            },
            io::ErrorKind::UnexpectedEof
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::BrokenPipe => CacheError::Protocol {
                path: self.path.clone(),
                detail: format!("the daemon closed the connection while {action}"),
            },
            _ => self.io(e, action),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(cache: Option<&str>, xdg: Option<&str>, home: Option<&str>) -> SocketEnv {
        SocketEnv {
            gitsign_credential_cache: cache.map(String::from),
            xdg_runtime_dir: xdg.map(String::from),
            xdg_cache_home: None,
            home: home.map(String::from),
            current_dir: None,
        }
    }

    #[test]
    fn socket_path_order() {
        let p =
            default_socket_path(&env(Some("/s/c.sock"), Some("/run/user/1"), Some("/h"))).unwrap();
        assert_eq!(p, PathBuf::from("/s/c.sock"));
        let p = default_socket_path(&env(Some(""), Some("/run/user/1"), Some("/h"))).unwrap();
        assert_eq!(
            p,
            PathBuf::from("/run/user/1/gitsign/credential-cache.sock")
        );
        let p = default_socket_path(&env(None, None, Some("/h"))).unwrap();
        if cfg!(target_os = "macos") {
            assert_eq!(
                p,
                PathBuf::from("/h/Library/Caches/gitsign/credential-cache.sock")
            );
        } else {
            assert_eq!(p, PathBuf::from("/h/.cache/gitsign/credential-cache.sock"));
            let mut e = env(None, Some("relative"), Some("/h"));
            e.xdg_cache_home = Some("/xc".into());
            assert_eq!(
                default_socket_path(&e).unwrap(),
                PathBuf::from("/xc/gitsign/credential-cache.sock")
            );
        }
        let err = default_socket_path(&env(Some("rel.sock"), None, None))
            .unwrap_err()
            .to_string();
        assert!(err.contains("relative path"), "{err}");
        // Go gitsign's reading of a relative path: from the working
        // directory.
        let mut e = env(Some("s/c.sock"), Some("/run/user/1"), None);
        e.current_dir = Some("/repo".into());
        assert_eq!(
            default_socket_path(&e).unwrap(),
            PathBuf::from("/repo/s/c.sock")
        );
        let err = default_socket_path(&env(None, None, None))
            .unwrap_err()
            .to_string();
        assert!(err.contains("GITSIGN_CREDENTIAL_CACHE"), "{err}");
    }

    #[test]
    fn not_running_is_a_sentence() {
        let dir = std::env::temp_dir().join(format!("gitsign-cc-unit-{}", std::process::id()));
        let client = Client::new(dir.join("none.sock"));
        let err = client.list().unwrap_err();
        assert!(matches!(err, CacheError::NotRunning { .. }), "{err:?}");
        assert!(err.to_string().contains("is not running"));
        let v = CacheError::VersionMismatch {
            daemon: 1,
            client: 2,
        }
        .to_string();
        assert!(v.starts_with(
            "gitsign-credential-cache speaks protocol 1, this gitsign 2: restart the daemon"
        ));
    }
}
