//! Integration tests: the real `gitsign-credential-cache` binary on sockets
//! in temporary directories, driven by the library's client and by raw
//! (hostile) frames.

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use gitsign::cache::client::{CacheError, Claim, Client};
use gitsign::cache::proto::{self, CacheKey, Certified, Credential, MAX_FRAME};
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_gitsign-credential-cache");

/// A test key (PKCS#8, base64): what must never reach a file or an answer.
const SECRET: &str = include_str!("fixtures/key-a.pkcs8.b64");
/// Its certificate chain (a testbed Fulcio's, see fixtures/README.md; the
/// daemon checks that it is for the key and chains to the trusted root).
const CERT: &str = include_str!("fixtures/chain-a.pem");

/// The trusted root the fixtures chain to: the daemons' configuration.
fn trusted_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/trusted_root.json")
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn key(scope: &str) -> CacheKey {
    CacheKey {
        fulcio: "https://fulcio.example".into(),
        issuer: "https://issuer.example".into(),
        client_id: "sigstore".into(),
        scope: scope.into(),
        identity: "alice@example.com".into(),
    }
}

fn cred(lifetime: i64) -> Credential {
    cred_as("alice@example.com", lifetime)
}

fn cred_as(identity: &str, lifetime: i64) -> Credential {
    Credential {
        private_key_pkcs8_b64: SECRET.trim().into(),
        chain_pem: CERT.into(),
        identity: identity.into(),
        expires_at: now() + lifetime,
    }
}

/// What gitsign asks the daemon to sign for a commit: the DER signed
/// attributes of its signature (the only other shape is an object id).
fn attrs(payload: &[u8]) -> Vec<u8> {
    gitsign::pki::cms::signed_attributes(payload, now()).unwrap()
}

/// What `Get` shows of a stored credential.
fn public(c: &Credential) -> Certified {
    Certified {
        chain_pem: c.chain_pem.clone(),
        identity: c.identity.clone(),
        expires_at: c.expires_at,
    }
}

/// A temporary directory only we can enter, as gitsign's client requires
/// of a socket's directory.
fn private_tempdir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o700)).unwrap();
    dir
}

fn is_root() -> bool {
    fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
}

/// For a test that needs root (it acts as another user through `setpriv`,
/// or chowns): fails, saying so, unless this process is root. Such a test
/// carries `#[cfg_attr(gitsign_skip_root, ignore = "...")]`: built with
/// `GITSIGN_TEST_SKIP_ROOT=1`, it is listed as ignored instead.
fn require_root(why: &str) {
    assert!(
        is_root(),
        "this test needs root ({why}) and runs as uid {}: run it as root (CI does), or build \
         the tests with GITSIGN_TEST_SKIP_ROOT=1 to list the tests that need root as ignored \
         (docs/testing.md)",
        fs::metadata("/proc/self")
            .map(|m| m.uid())
            .unwrap_or(u32::MAX)
    );
}

/// `c` without any variable of the test process that could steer the daemon
/// or gitsign's client (`GITSIGN_*`, `SIGSTORE_*`, `GIT_*`, `XDG_*`,
/// systemd's `LISTEN_*`, `TUF_ROOT`), and a `HOME` that holds nothing: each
/// test states what the daemon gets.
fn scrubbed(c: &mut Command) -> &mut Command {
    for (k, _) in std::env::vars_os() {
        let Some(k) = k.to_str() else { continue };
        if ["GITSIGN_", "SIGSTORE_", "GIT_", "XDG_", "LISTEN_"]
            .iter()
            .any(|p| k.starts_with(p))
            || k == "TUF_ROOT"
            // Set when the tests themselves run under systemd: the daemon
            // would then never detach.
            || k == "INVOCATION_ID"
        {
            c.env_remove(k);
        }
    }
    c.env("HOME", std::env::temp_dir().join("gitsign-cc-test-no-home"))
}

/// A daemon started by a test; killed (by its pid) when dropped.
struct Daemon {
    child: Child,
    root: tempfile::TempDir,
    sock: PathBuf,
    log: PathBuf,
}

impl Daemon {
    fn start(args: &[&str]) -> Daemon {
        let root = tempfile::tempdir().unwrap();
        let sock = root.path().join("s").join("credential-cache.sock");
        let log = root.path().join("daemon.log");
        let child = spawn(&sock, &log, args);
        let d = Daemon {
            child,
            root,
            sock,
            log,
        };
        d.wait_ready();
        d
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if self.log_text().contains("listening on") && self.client().list().is_ok() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the daemon did not start: {}",
                self.log_text()
            );
            thread::sleep(Duration::from_millis(10));
        }
    }

    fn client(&self) -> Client {
        Client::new(&self.sock).with_timeouts(Duration::from_secs(2), Duration::from_secs(10))
    }

    fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// Waits for the daemon to exit; its status code.
    fn wait_exit(&mut self) -> i32 {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s.code().unwrap_or(-1);
            }
            assert!(Instant::now() < deadline, "the daemon did not exit");
            thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The daemon's configuration: the fixtures' trusted root, and no git
/// config of the machine's.
fn configured(c: &mut Command) -> &mut Command {
    scrubbed(c)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GITSIGN_TRUSTED_ROOT", trusted_root())
}

fn spawn(sock: &Path, log: &Path, args: &[&str]) -> Child {
    configured(&mut Command::new(BIN))
        .arg("--foreground")
        .arg("--verbose")
        .arg("--socket")
        .arg(sock)
        .args(args)
        .env_remove("LISTEN_FDS")
        .env_remove("LISTEN_PID")
        .env_remove(proto::SOCKET_ENV)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(fs::File::create(log).unwrap())
        .spawn()
        .unwrap()
}

/// Runs the daemon to completion (for refusals).
fn run_daemon(sock: &Path, args: &[&str]) -> Output {
    configured(&mut Command::new(BIN))
        .arg("--foreground")
        .arg("--socket")
        .arg(sock)
        .args(args)
        .env_remove("LISTEN_FDS")
        .env_remove("LISTEN_PID")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn raw(sock: &Path) -> UnixStream {
    let s = UnixStream::connect(sock).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

fn send(s: &mut UnixStream, v: &Value) {
    try_send(s, v).unwrap();
}

/// Sends a request the daemon may refuse before reading it: it answers a
/// refused peer at once and closes, so the write can race the close (EPIPE)
/// while the answer is still there to read.
fn try_send(s: &mut UnixStream, v: &Value) -> std::io::Result<()> {
    let body = serde_json::to_vec(v).unwrap();
    s.write_all(&(body.len() as u32).to_be_bytes())?;
    s.write_all(&body)
}

/// One response frame, or `None` if the daemon closed the connection.
fn recv(s: &mut UnixStream) -> Option<Value> {
    let mut h = [0u8; 4];
    s.read_exact(&mut h).ok()?;
    let n = u32::from_be_bytes(h) as usize;
    assert!(n <= MAX_FRAME);
    let mut b = vec![0u8; n];
    s.read_exact(&mut b).ok()?;
    Some(serde_json::from_slice(&b).unwrap())
}

/// True once the daemon has closed `s` (reads EOF or a reset).
fn closed(s: &mut UnixStream) -> bool {
    let mut buf = [0u8; 64];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

fn key_json(scope: &str) -> Value {
    serde_json::to_value(key(scope)).unwrap()
}

/// Waits until the daemon's log has `n` lines containing `needle`.
fn wait_log(d: &Daemon, needle: &str, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while d.log_text().matches(needle).count() < n {
        assert!(
            Instant::now() < deadline,
            "no {n}× `{needle}` in the log: {}",
            d.log_text()
        );
        thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn store_get_list_clear_shutdown() {
    let mut d = Daemon::start(&[]);
    let dir = d.sock.parent().unwrap();
    assert_eq!(
        fs::metadata(dir).unwrap().mode() & 0o777,
        0o700,
        "socket directory mode"
    );
    let sm = fs::symlink_metadata(&d.sock).unwrap();
    assert!(sm.file_type().is_socket());
    assert_eq!(sm.mode() & 0o777, 0o600, "socket mode");

    let c = d.client();
    assert!(c.get(&key("a")).unwrap().is_none());
    let stored = cred(600);
    c.store(&key("a"), &stored).unwrap();
    assert_eq!(c.get(&key("a")).unwrap().as_ref(), Some(&public(&stored)));
    assert!(
        c.get(&key("b")).unwrap().is_none(),
        "scopes are separate keys"
    );

    let listing = c.list().unwrap();
    assert_eq!(listing.pid, d.child.id());
    assert_eq!(listing.version, proto::VERSION);
    assert_eq!(listing.entries.len(), 1);
    assert_eq!(listing.entries[0].key, key("a"));
    assert_eq!(listing.entries[0].identity, "alice@example.com");
    assert_eq!(listing.entries[0].expires_at, stored.expires_at);

    // An already-expired credential is refused with a sentence.
    let err = c.store(&key("b"), &cred(-1)).unwrap_err();
    assert!(matches!(err, CacheError::Daemon { .. }), "{err:?}");
    assert!(err.to_string().contains("expired"), "{err}");

    c.clear().unwrap();
    assert!(c.get(&key("a")).unwrap().is_none());
    assert!(c.list().unwrap().entries.is_empty());

    c.shutdown().unwrap();
    assert_eq!(d.wait_exit(), 0);
    assert!(!d.sock.exists(), "the daemon removes its socket on exit");
    let err = c.list().unwrap_err();
    assert!(matches!(err, CacheError::NotRunning { .. }), "{err:?}");
    assert!(err.to_string().contains("is not running"), "{err}");
}

#[test]
fn entries_expire_by_the_wall_clock() {
    let d = Daemon::start(&[]);
    let c = d.client();
    let short = cred(2);
    c.store(&key("e"), &short).unwrap();
    assert_eq!(
        c.get(&key("e")).unwrap().as_ref(),
        Some(&public(&short)),
        "served before expiry"
    );
    thread::sleep(Duration::from_secs(3));
    assert!(
        c.get(&key("e")).unwrap().is_none(),
        "not served after expires_at"
    );
    assert!(c.list().unwrap().entries.is_empty(), "purged");
    // A claim on an expired key is a fresh login, not a hit.
    assert!(matches!(
        c.get_or_claim(&key("e"), Duration::ZERO).unwrap(),
        Claim::Claimed(_)
    ));
}

/// libfaketime, which the test below preloads into the daemon to move its
/// wall clock (Debian/Ubuntu package `faketime`; `tests/run` installs it).
fn libfaketime() -> PathBuf {
    let candidates = fs::read_dir("/usr/lib")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("faketime/libfaketime.so.1"))
        .chain([PathBuf::from("/usr/lib/faketime/libfaketime.so.1")]);
    for c in candidates {
        if c.is_file() {
            return c;
        }
    }
    panic!("libfaketime is needed for the clock-jump test: install the `faketime` package");
}

#[test]
fn a_wall_clock_jump_past_expiry_is_honoured() {
    // The daemon's wall clock is the real one plus the offset in `offset`
    // (re-read on every call); its monotonic clock is left alone, as a
    // suspended laptop or an NTP step would.
    let dir = tempfile::tempdir().unwrap();
    let offset = dir.path().join("offset");
    fs::write(&offset, "+0\n").unwrap();
    let sock = dir.path().join("s").join("credential-cache.sock");
    let log = dir.path().join("daemon.log");
    let mut child = configured(&mut Command::new(BIN))
        .args(["--foreground", "--verbose", "--socket"])
        .arg(&sock)
        .env_remove("LISTEN_FDS")
        .env_remove("LISTEN_PID")
        .env_remove(proto::SOCKET_ENV)
        .env("LD_PRELOAD", libfaketime())
        .env("FAKETIME_TIMESTAMP_FILE", &offset)
        .env("FAKETIME_NO_CACHE", "1")
        .env("FAKETIME_DONT_FAKE_MONOTONIC", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let c = Client::new(&sock).with_timeouts(Duration::from_secs(2), Duration::from_secs(10));
    let deadline = Instant::now() + Duration::from_secs(20);
    while c.list().is_err() {
        assert!(Instant::now() < deadline, "the daemon did not start");
        thread::sleep(Duration::from_millis(10));
    }
    let ten_minutes = cred(600);
    c.store(&key("jump"), &ten_minutes).unwrap();
    assert_eq!(
        c.get(&key("jump")).unwrap().as_ref(),
        Some(&public(&ten_minutes))
    );

    // The clock jumps 20 minutes ahead: the credential is past its expiry
    // and is not served, though only milliseconds passed on the monotonic clock.
    fs::write(&offset, "+20m\n").unwrap();
    assert!(
        c.get(&key("jump")).unwrap().is_none(),
        "served after a jump past expiry"
    );
    assert!(
        c.list().unwrap().entries.is_empty(),
        "kept after a jump past expiry"
    );
    assert!(matches!(
        c.get_or_claim(&key("jump"), Duration::ZERO).unwrap(),
        Claim::Claimed(_)
    ));

    // Back to the real time: what expired stays gone, and the daemon works.
    fs::write(&offset, "+0\n").unwrap();
    assert!(c.get(&key("jump")).unwrap().is_none());
    c.store(&key("after"), &ten_minutes).unwrap();
    assert_eq!(
        c.get(&key("after")).unwrap().as_ref(),
        Some(&public(&ten_minutes))
    );
    // A clock set back an hour does not resurrect or extend anything, and
    // a credential stored now still expires at its own expires_at.
    fs::write(&offset, "-1h\n").unwrap();
    assert!(c.get(&key("jump")).unwrap().is_none(), "resurrected");
    assert_eq!(
        c.get(&key("after")).unwrap().as_ref(),
        Some(&public(&ten_minutes))
    );
    assert!(child.try_wait().unwrap().is_none(), "the daemon died");
    c.shutdown().unwrap();
    let _ = child.wait();
}

#[test]
fn single_flight_eight_claimers() {
    let d = Daemon::start(&[]);
    let k = key("sf");
    let barrier = Arc::new(Barrier::new(8));
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let c = d.client();
            let b = barrier.clone();
            let k = k.clone();
            thread::spawn(move || {
                b.wait();
                match c.get_or_claim(&k, Duration::from_secs(20)).unwrap() {
                    Claim::Claimed(h) => {
                        // The "login".
                        thread::sleep(Duration::from_millis(800));
                        h.store(&cred(600)).unwrap();
                        None
                    }
                    Claim::Hit(c) => Some(c),
                    Claim::Timeout => panic!("a waiter timed out"),
                }
            })
        })
        .collect();
    let results: Vec<Option<Certified>> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let claimed = results.iter().filter(|r| r.is_none()).count();
    assert_eq!(claimed, 1, "exactly one client logs in");
    let hits: Vec<&Certified> = results.iter().flatten().collect();
    assert_eq!(hits.len(), 7);
    let stored = d.client().get(&k).unwrap().unwrap();
    for h in hits {
        assert_eq!(h, &stored, "every waiter gets the claimer's credential");
    }
    let waited = d
        .log_text()
        .matches("waiting for another client's login")
        .count();
    assert!(
        waited >= 1,
        "some clients waited on the claim: {}",
        d.log_text()
    );
    eprintln!("{waited} of 7 clients waited on the claim; the rest hit the cache");
}

#[test]
fn a_dead_claimer_passes_the_claim_on() {
    let d = Daemon::start(&[]);
    let k = key("dead");
    // A raw client claims, then dies without storing or releasing.
    let mut a = raw(&d.sock);
    send(
        &mut a,
        &json!({"version": proto::VERSION, "op": "get", "key": key_json("dead"), "claim": true}),
    );
    assert_eq!(recv(&mut a).unwrap()["status"], "claimed");

    let c = d.client();
    let kb = k.clone();
    let b = thread::spawn(
        move || match c.get_or_claim(&kb, Duration::from_secs(20)).unwrap() {
            Claim::Claimed(h) => {
                h.store(&cred(600)).unwrap();
                true
            }
            _ => false,
        },
    );
    wait_log(&d, "waiting for another client's login", 1);
    drop(a);
    assert!(
        b.join().unwrap(),
        "the waiter became the claimer when the claimer died"
    );
    assert!(d.client().get(&k).unwrap().is_some());

    // The same through the client API: dropping a ClaimHandle releases it,
    // and so does `release`.
    let k2 = key("dead2");
    let Claim::Claimed(first) = d.client().get_or_claim(&k2, Duration::ZERO).unwrap() else {
        panic!("expected a claim")
    };
    let c = d.client();
    let kb = k2.clone();
    let waiter = thread::spawn(move || c.get_or_claim(&kb, Duration::from_secs(20)).unwrap());
    wait_log(&d, "waiting for another client's login", 2);
    drop(first);
    let Claim::Claimed(second) = waiter.join().unwrap() else {
        panic!("expected the claim")
    };
    let c = d.client();
    let kb = k2.clone();
    let waiter = thread::spawn(move || c.get_or_claim(&kb, Duration::from_secs(20)).unwrap());
    wait_log(&d, "waiting for another client's login", 3);
    second.release().unwrap();
    assert!(matches!(waiter.join().unwrap(), Claim::Claimed(_)));
}

#[test]
fn waiting_is_bounded() {
    let d = Daemon::start(&[]);
    let k = key("wait");
    let Claim::Claimed(_held) = d.client().get_or_claim(&k, Duration::ZERO).unwrap() else {
        panic!("expected a claim")
    };
    let t = Instant::now();
    assert!(matches!(
        d.client()
            .get_or_claim(&k, Duration::from_millis(400))
            .unwrap(),
        Claim::Timeout
    ));
    let waited = t.elapsed();
    assert!(
        waited >= Duration::from_millis(390) && waited < Duration::from_secs(3),
        "{waited:?}"
    );
    // wait 0: no waiting at all.
    let t = Instant::now();
    assert!(matches!(
        d.client().get_or_claim(&k, Duration::ZERO).unwrap(),
        Claim::Timeout
    ));
    assert!(t.elapsed() < Duration::from_secs(1));
    // A plain get never waits and never claims.
    assert!(d.client().get(&k).unwrap().is_none());
}

#[test]
fn a_claim_lapses_after_its_lease() {
    let d = Daemon::start(&["--claim-lease-ms", "600"]);
    let k = key("lease");
    // The claimer hangs on to its connection but never stores.
    let Claim::Claimed(_stuck) = d.client().get_or_claim(&k, Duration::ZERO).unwrap() else {
        panic!("expected a claim")
    };
    let t = Instant::now();
    let next = d
        .client()
        .get_or_claim(&k, Duration::from_secs(20))
        .unwrap();
    assert!(
        matches!(next, Claim::Claimed(_)),
        "the lease ran out and the waiter took over"
    );
    let waited = t.elapsed();
    assert!(
        waited >= Duration::from_millis(400) && waited < Duration::from_secs(5),
        "{waited:?}"
    );
    assert!(d.client().get(&k).unwrap().is_none());
}

#[test]
fn version_mismatch_names_both_versions() {
    let d = Daemon::start(&[]);
    let mut s = raw(&d.sock);
    send(
        &mut s,
        &json!({"version": 99, "op": "teleport", "key": key_json("v")}),
    );
    let r = recv(&mut s).unwrap();
    assert_eq!(r["status"], "error");
    let msg = r["message"].as_str().unwrap();
    assert!(
        msg.contains(&format!("protocol {}", proto::VERSION)) && msg.contains("protocol 99"),
        "{msg}"
    );
    assert_eq!(
        proto::parse_version_mismatch(msg),
        Some((proto::VERSION, 99))
    );

    // The client turns a daemon's mismatch into its sentence.
    let dir = private_tempdir();
    let path = dir.path().join("fake.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let server = thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut h = [0u8; 4];
        s.read_exact(&mut h).unwrap();
        let mut b = vec![0u8; u32::from_be_bytes(h) as usize];
        s.read_exact(&mut b).unwrap();
        let answer = proto::Response::Error {
            message: proto::version_mismatch_message(2, 1),
        };
        s.write_all(&proto::encode(&answer).unwrap()).unwrap();
    });
    let err = Client::new(&path).list().unwrap_err();
    server.join().unwrap();
    assert!(
        matches!(
            err,
            CacheError::VersionMismatch {
                daemon: 2,
                client: 1
            }
        ),
        "{err:?}"
    );
    assert!(
        err.to_string().starts_with(
            "gitsign-credential-cache speaks protocol 2, this gitsign 1: restart the daemon"
        ),
        "{err}"
    );
}

#[test]
fn client_timeouts_and_errors_are_sentences() {
    let dir = private_tempdir();
    // A "daemon" that accepts and never answers.
    let path = dir.path().join("mute.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let keep = thread::spawn(move || {
        let (s, _) = listener.accept().unwrap();
        thread::sleep(Duration::from_secs(2));
        drop(s);
    });
    let t = Instant::now();
    let err = Client::new(&path)
        .with_timeouts(Duration::from_millis(500), Duration::from_millis(300))
        .list()
        .unwrap_err();
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    assert!(matches!(err, CacheError::Timeout { .. }), "{err:?}");
    assert!(
        err.to_string().contains("did not respond within 300 ms"),
        "{err}"
    );
    keep.join().unwrap();

    // A stale socket file: not running.
    let stale = dir.path().join("stale.sock");
    drop(UnixListener::bind(&stale).unwrap());
    let err = Client::new(&stale).list().unwrap_err();
    assert!(matches!(err, CacheError::NotRunning { .. }), "{err:?}");
}

#[test]
fn connecting_to_a_hung_daemon_is_bounded() {
    // A "daemon" that never accepts: once its backlog is full, connect(2)
    // would block forever; the client gives up after its connect timeout.
    let dir = private_tempdir();
    let path = dir.path().join("hung.sock");
    // A backlog of one: std's listener asks for the system's maximum
    // (somaxconn, 4096 here), more connections than an ordinary user's
    // 1024 open files can queue, and then the client's connect succeeded.
    let fd = rustix::net::socket(
        rustix::net::AddressFamily::UNIX,
        rustix::net::SocketType::STREAM,
        None,
    )
    .unwrap();
    rustix::net::bind(&fd, &rustix::net::SocketAddrUnix::new(&path).unwrap()).unwrap();
    rustix::net::listen(&fd, 1).unwrap();
    let listener = UnixListener::from(fd);
    let (tx, rx) = std::sync::mpsc::channel();
    let filler_path = path.clone();
    // Fill the backlog from a helper thread: the connect that finds it full
    // blocks there, which is the moment to test.
    thread::spawn(move || {
        let mut held = Vec::new();
        loop {
            match UnixStream::connect(&filler_path) {
                Ok(s) => {
                    held.push(s);
                    if tx.send(held.len()).is_err() {
                        return;
                    }
                }
                Err(_) => return,
            }
        }
    });
    let mut filled = 0;
    while let Ok(n) = rx.recv_timeout(Duration::from_millis(500)) {
        filled = n;
    }
    assert!(filled > 0, "no connection was queued");
    let t = Instant::now();
    let err = Client::new(&path)
        .with_timeouts(Duration::from_millis(300), Duration::from_millis(300))
        .list()
        .unwrap_err();
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    assert!(matches!(err, CacheError::Timeout { .. }), "{err:?}");
    assert!(err.to_string().contains("while connecting"), "{err}");
    drop(listener);
}

#[test]
fn hostile_frames_do_not_hurt_the_daemon() {
    let mut d = Daemon::start(&[]);
    let c = d.client();
    c.store(&key("h"), &cred(600)).unwrap();

    // Garbage inside a well-formed frame: an Error, then the end.
    let mut s = raw(&d.sock);
    s.write_all(&8u32.to_be_bytes()).unwrap();
    s.write_all(b"not json").unwrap();
    let r = recv(&mut s).unwrap();
    assert_eq!(r["status"], "error");
    assert!(r["message"]
        .as_str()
        .unwrap()
        .contains("not a gitsign-credential-cache message"));
    assert!(closed(&mut s));

    // Valid JSON, unknown operation of this version.
    let mut s = raw(&d.sock);
    send(&mut s, &json!({"version": proto::VERSION, "op": "steal"}));
    let r = recv(&mut s).unwrap();
    assert_eq!(r["status"], "error");
    assert!(!r.to_string().contains(SECRET));

    // An empty frame.
    let mut s = raw(&d.sock);
    s.write_all(&0u32.to_be_bytes()).unwrap();
    assert_eq!(recv(&mut s).unwrap()["status"], "error");

    // Oversized length headers: an Error naming the limit, then the end.
    for n in [MAX_FRAME as u32 + 1, u32::MAX] {
        let mut s = raw(&d.sock);
        s.write_all(&n.to_be_bytes()).unwrap();
        let r = recv(&mut s).unwrap();
        assert_eq!(r["status"], "error");
        assert!(r["message"].as_str().unwrap().contains("limit"), "{r}");
        assert!(closed(&mut s));
    }

    // Truncated frames: the header alone, half a header, half a body.
    for bytes in [
        &[0u8, 0, 0, 100][..],
        &[0u8, 0][..],
        &[0u8, 0, 0, 100, b'{', b'"'][..],
    ] {
        let mut s = raw(&d.sock);
        s.write_all(bytes).unwrap();
        s.shutdown(std::net::Shutdown::Write).unwrap();
        assert!(closed(&mut s));
    }

    // Deterministic random frames and bytes.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for i in 0..300 {
        let mut s = raw(&d.sock);
        let len = (next() % 48) as usize;
        let mut bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        if i % 2 == 0 {
            // A well-framed random body.
            let mut framed = (bytes.len() as u32).to_be_bytes().to_vec();
            framed.append(&mut bytes);
            bytes = framed;
        }
        let _ = s.write_all(&bytes);
        let _ = s.shutdown(std::net::Shutdown::Write);
        assert!(closed(&mut s), "iteration {i}");
    }

    assert!(d.alive(), "the daemon survived: {}", d.log_text());
    assert!(c.get(&key("h")).unwrap().is_some(), "and still serves");
    assert!(!d.log_text().contains(SECRET));
}

#[test]
fn stalled_clients_are_dropped_without_blocking_others() {
    let d = Daemon::start(&["--idle-timeout-ms", "1000"]);
    let t0 = Instant::now();
    let mut silent = raw(&d.sock);
    let mut half = raw(&d.sock);
    half.write_all(&[0, 0, 0, 64, b'{']).unwrap();

    // Others are served meanwhile, at once.
    let c = d.client();
    for _ in 0..20 {
        let t = Instant::now();
        c.list().unwrap();
        assert!(
            t.elapsed() < Duration::from_millis(500),
            "{:?}",
            t.elapsed()
        );
    }
    // The stalled ones are closed after the idle time.
    assert!(closed(&mut silent));
    assert!(closed(&mut half));
    let e = t0.elapsed();
    assert!(
        e >= Duration::from_millis(900) && e < Duration::from_secs(5),
        "{e:?}"
    );
    // A client that reads nothing back does not block the daemon either.
    let mut deaf = raw(&d.sock);
    for _ in 0..50 {
        send(&mut deaf, &json!({"version": proto::VERSION, "op": "list"}));
    }
    c.list().unwrap();
}

#[test]
fn many_concurrent_clients() {
    let d = Daemon::start(&[]);
    // A live entry is never replaced, so each client stores under keys of
    // its own and reads each back (and is refused a second store).
    let threads: Vec<_> = (0..32)
        .map(|i| {
            let c = d.client();
            thread::spawn(move || {
                for j in 0..4 {
                    let k = key(&format!("c{i}x{j}"));
                    let cr = cred_as(&format!("c{i}x{j}@example.com"), 600);
                    c.store(&k, &cr).unwrap();
                    for _ in 0..5 {
                        assert_eq!(c.get(&k).unwrap().unwrap(), public(&cr));
                    }
                    assert!(c.store(&k, &cred(300)).is_err());
                    assert_eq!(c.get(&k).unwrap().unwrap(), public(&cr));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(d.client().list().unwrap().entries.len(), 128);
}

#[test]
fn a_stale_socket_is_replaced_and_a_live_daemon_kept() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("s");
    fs::create_dir(&dir).unwrap();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).unwrap();
    let sock = dir.join("credential-cache.sock");
    // A crashed daemon's socket: the file, nobody listening.
    drop(UnixListener::bind(&sock).unwrap());
    assert!(sock.exists());
    let log = root.path().join("daemon.log");
    let child = spawn(&sock, &log, &[]);
    let mut d = Daemon {
        child,
        root,
        sock: sock.clone(),
        log,
    };
    d.wait_ready();
    assert!(
        d.log_text().contains("removed a stale socket"),
        "{}",
        d.log_text()
    );

    // A second daemon on the same socket refuses to displace the first.
    let out = run_daemon(&sock, &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("already serves") && err.contains(&format!("pid {}", d.child.id())),
        "{err}"
    );
    assert!(d.alive());
    d.client().list().unwrap();

    // A file that is not a socket is never removed.
    let other = d.root.path().join("t");
    fs::create_dir(&other).unwrap();
    fs::set_permissions(&other, fs::Permissions::from_mode(0o700)).unwrap();
    fs::write(other.join("c.sock"), "data").unwrap();
    let out = run_daemon(&other.join("c.sock"), &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not a socket"));
    assert_eq!(fs::read_to_string(other.join("c.sock")).unwrap(), "data");
}

#[test]
fn unsafe_socket_directories_are_refused() {
    let root = tempfile::tempdir().unwrap();
    // Group and others can enter: refused, with the fix named.
    let loose = root.path().join("loose");
    fs::create_dir(&loose).unwrap();
    fs::set_permissions(&loose, fs::Permissions::from_mode(0o755)).unwrap();
    let out = run_daemon(&loose.join("c.sock"), &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("mode is 0755") && err.contains("chmod 700"),
        "{err}"
    );
    assert!(!loose.join("c.sock").exists());

    // A missing directory is created 0700, with its missing parents.
    let fresh = root.path().join("a").join("b");
    let sock = fresh.join("c.sock");
    let log = root.path().join("fresh.log");
    let mut child = spawn(&sock, &log, &[]);
    let deadline = Instant::now() + Duration::from_secs(20);
    while Client::new(&sock).list().is_err() {
        assert!(Instant::now() < deadline);
        thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(fs::metadata(&fresh).unwrap().mode() & 0o777, 0o700);
    let _ = child.kill();
    let _ = child.wait();
}

/// Socket directories another user owns, or could replace (a parent of
/// theirs, a symbolic link of theirs on the way): refused.
#[test]
#[cfg_attr(
    gitsign_skip_root,
    ignore = "needs root to give directories to another user (GITSIGN_TEST_SKIP_ROOT=1 was set)"
)]
fn socket_directories_another_user_controls_are_refused() {
    require_root("chown gives directories and a link to nobody");
    let root = tempfile::tempdir().unwrap();
    // Owned by another user (even with mode 0700): refused.
    let theirs = root.path().join("theirs");
    fs::create_dir(&theirs).unwrap();
    fs::set_permissions(&theirs, fs::Permissions::from_mode(0o700)).unwrap();
    std::os::unix::fs::chown(&theirs, Some(65534), Some(65534)).unwrap();
    let out = run_daemon(&theirs.join("c.sock"), &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("belongs to uid 65534"), "{err}");

    // A parent another user could rename it in: refused.
    let parent = root.path().join("p");
    fs::create_dir(&parent).unwrap();
    std::os::unix::fs::chown(&parent, Some(65534), Some(65534)).unwrap();
    let inner = parent.join("mine");
    fs::create_dir(&inner).unwrap();
    fs::set_permissions(&inner, fs::Permissions::from_mode(0o700)).unwrap();
    let out = run_daemon(&inner.join("c.sock"), &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("who could replace it"));

    // A path through another user's symbolic link, to a directory of ours:
    // that user could point the link elsewhere (in a sticky /tmp, remove
    // and recreate it), so the path as written is checked, not only where
    // it leads; and nothing is created through the link.
    let target = root.path().join("target");
    fs::create_dir(&target).unwrap();
    fs::set_permissions(&target, fs::Permissions::from_mode(0o700)).unwrap();
    let link = root.path().join("link");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    std::os::unix::fs::lchown(&link, Some(65534), Some(65534)).unwrap();
    for sock in [link.join("c.sock"), link.join("s").join("c.sock")] {
        let out = run_daemon(&sock, &[]);
        assert_eq!(out.status.code(), Some(1), "{}", sock.display());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("its path goes through")
                && err.contains("a symbolic link owned by uid 65534"),
            "{err}"
        );
    }
    assert!(!target.join("s").exists(), "created through the link");
    // gitsign's client refuses it too.
    let err = Client::new(link.join("c.sock")).list().unwrap_err();
    assert!(matches!(err, CacheError::NotOurs { .. }), "{err:?}");
}

/// Run as another user by `another_uid_is_refused` (with `--ignored`; inert
/// without its variable): tries the socket named in the environment and
/// prints what it got.
#[test]
#[ignore = "a helper process, run as nobody by another_uid_is_refused"]
fn child_client_as_another_user() {
    let Ok(sock) = std::env::var("GITSIGN_CC_TEST_CHILD_SOCKET") else {
        return;
    };
    let sock = PathBuf::from(sock);
    let mut out = String::new();
    match UnixStream::connect(&sock) {
        Ok(mut s) => {
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let _ = s.write_all(&{
                let body = serde_json::to_vec(
                    &json!({"version": proto::VERSION, "op": "get", "key": key_json("x")}),
                )
                .unwrap();
                let mut f = (body.len() as u32).to_be_bytes().to_vec();
                f.extend(body);
                f
            });
            let mut all = Vec::new();
            let _ = s.read_to_end(&mut all);
            out.push_str(&format!("RAW:{}\n", String::from_utf8_lossy(&all)));
        }
        Err(e) => out.push_str(&format!("RAW-CONNECT-ERROR:{e}\n")),
    }
    let uid = fs::metadata("/proc/self").map(|m| m.uid()).unwrap_or(0);
    match Client::new(&sock).get(&key("x")) {
        Ok(v) => out.push_str(&format!("CLIENT-OK:{}:{v:?}\n", v.is_some())),
        Err(e) => out.push_str(&format!("CLIENT-ERR:{e}\n")),
    }
    println!("CHILD-UID:{uid}\n{out}CHILD-END");
}

#[test]
#[cfg_attr(
    gitsign_skip_root,
    ignore = "needs root to act as another user (GITSIGN_TEST_SKIP_ROOT=1 was set)"
)]
fn another_uid_is_refused() {
    require_root("setpriv runs a client as nobody");
    let d = Daemon::start(&[]);
    d.client().store(&key("x"), &cred(600)).unwrap();
    // Open the way for nobody: the directories and the socket (the daemon
    // checked them at start; the peer uid check must still refuse).
    for p in [d.root.path(), d.sock.parent().unwrap()] {
        fs::set_permissions(p, fs::Permissions::from_mode(0o711)).unwrap();
    }
    fs::set_permissions(&d.sock, fs::Permissions::from_mode(0o666)).unwrap();
    let exe = std::env::current_exe().unwrap();
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(&exe)
        .args([
            "--ignored",
            "--exact",
            "child_client_as_another_user",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("GITSIGN_CC_TEST_CHILD_SOCKET", &d.sock)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        text.contains("CHILD-UID:65534"),
        "the child ran as nobody: {text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!text.contains(SECRET), "no key for another user: {text}");
    assert!(
        text.contains("refused: this gitsign-credential-cache serves only uid 0"),
        "{text}"
    );
    // gitsign's client refuses first: the directory is not the child's.
    assert!(
        text.contains("CLIENT-ERR:") && text.contains("sent nothing"),
        "{text}"
    );
    assert!(!text.contains("CLIENT-OK"), "{text}");
    wait_log(&d, "refused a connection from uid 65534", 1);
    // The owner is still served (once the directory is closed again).
    fs::set_permissions(d.sock.parent().unwrap(), fs::Permissions::from_mode(0o700)).unwrap();
    assert!(d.client().get(&key("x")).unwrap().is_some());
}

#[test]
#[cfg_attr(
    gitsign_skip_root,
    ignore = "needs root to act as another user (GITSIGN_TEST_SKIP_ROOT=1 was set)"
)]
fn hardened_process_run_as_another_user() {
    require_root("setpriv starts the daemon as nobody");
    let root = tempfile::tempdir().unwrap();
    fs::set_permissions(root.path(), fs::Permissions::from_mode(0o711)).unwrap();
    let dir = root.path().join("s");
    fs::create_dir(&dir).unwrap();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).unwrap();
    std::os::unix::fs::chown(&dir, Some(65534), Some(65534)).unwrap();
    let sock = dir.join("c.sock");
    let log = root.path().join("daemon.log");
    let mut child = configured(&mut Command::new("setpriv"))
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(BIN)
        .args(["--foreground", "--verbose", "--socket"])
        .arg(&sock)
        .stdin(Stdio::null())
        .stderr(fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let pid = child.id();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !fs::read_to_string(&log)
        .unwrap_or_default()
        .contains("listening on")
    {
        assert!(
            child.try_wait().unwrap().is_none(),
            "{}",
            fs::read_to_string(&log).unwrap_or_default()
        );
        assert!(Instant::now() < deadline);
        thread::sleep(Duration::from_millis(10));
    }
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    assert!(
        status.lines().any(|l| l.starts_with("Uid:\t65534")),
        "{status}"
    );
    // Not dumpable: /proc/PID belongs to root, not to the process's user.
    assert_eq!(
        fs::metadata(format!("/proc/{pid}/status")).unwrap().uid(),
        0
    );
    let limits = fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let core = limits
        .lines()
        .find(|l| l.starts_with("Max core file size"))
        .unwrap();
    assert_eq!(
        core.split_whitespace().skip(4).take(2).collect::<Vec<_>>(),
        ["0", "0"],
        "{core}"
    );
    // Its socket is its own and root is refused like any other uid (the
    // raw connection), and gitsign's client sends it nothing.
    assert_eq!(fs::metadata(&sock).unwrap().uid(), 65534);
    let mut s = raw(&sock);
    let _ = try_send(&mut s, &json!({"version": proto::VERSION, "op": "list"}));
    let answer = recv(&mut s).unwrap();
    assert!(
        answer["message"]
            .as_str()
            .unwrap()
            .starts_with(proto::PEER_REFUSED_PREFIX),
        "{answer}"
    );
    let err = Client::new(&sock).list().unwrap_err();
    assert!(matches!(err, CacheError::NotOurs { .. }), "{err:?}");
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn systemd_socket_activation() {
    // Without a passed socket, --systemd is a configuration error.
    let out = scrubbed(&mut Command::new(BIN))
        .arg("--systemd")
        .env_remove("LISTEN_FDS")
        .env_remove("LISTEN_PID")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no socket was passed"));
    // LISTEN_FDS naming a descriptor that is not a socket: refused.
    let out = scrubbed(&mut Command::new(BIN))
        .env("LISTEN_FDS", "1")
        .env_remove("LISTEN_PID")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot be used"));

    if let Err(e) = Command::new("systemd-socket-activate")
        .arg("--version")
        .output()
    {
        panic!(
            "systemd-socket-activate cannot be run ({e}), so the socket activation itself \
             cannot be tested: install the systemd package (tests/run does)"
        );
    }
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("s");
    fs::create_dir(&dir).unwrap();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).unwrap();
    let sock = dir.join("credential-cache.sock");
    let log = root.path().join("daemon.log");
    // It hands the daemon only the variables it is told to.
    let mut child = Command::new("systemd-socket-activate")
        .arg("--listen")
        .arg(&sock)
        .arg(format!(
            "--setenv=GITSIGN_TRUSTED_ROOT={}",
            trusted_root().display()
        ))
        .args([
            "--setenv=GIT_CONFIG_NOSYSTEM=1",
            "--setenv=GIT_CONFIG_GLOBAL=/dev/null",
        ])
        .args(["--", BIN, "--systemd", "--verbose"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !sock.exists() {
        assert!(Instant::now() < deadline);
        thread::sleep(Duration::from_millis(10));
    }
    let c = Client::new(&sock).with_timeouts(Duration::from_secs(5), Duration::from_secs(10));
    let listing = c.list().unwrap();
    // systemd-socket-activate execs the daemon in its own process.
    assert_eq!(listing.pid, child.id());
    let text = fs::read_to_string(&log).unwrap();
    assert!(text.contains("socket activation"), "{text}");
    c.store(&key("sd"), &cred(600)).unwrap();
    assert!(c.get(&key("sd")).unwrap().is_some());
    c.shutdown().unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    assert!(
        sock.exists(),
        "the activated daemon leaves systemd's socket in place"
    );
}

/// Under a service manager (systemd gives its services INVOCATION_ID) the
/// daemon stays in the foreground without --foreground, as Go gitsign's
/// recipes run it: a daemon that detached would look dead to systemd.
#[test]
fn stays_in_the_foreground_under_systemd() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("s");
    fs::create_dir(&dir).unwrap();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).unwrap();
    let sock = dir.join("c.sock");
    let mut child = scrubbed(&mut Command::new(BIN))
        .arg("--socket")
        .arg(&sock)
        .env("INVOCATION_ID", "0123456789abcdef0123456789abcdef")
        .env_remove("LISTEN_FDS")
        .env_remove("LISTEN_PID")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !sock.exists() {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the daemon exited (detached?) under systemd"
        );
        assert!(Instant::now() < deadline);
        thread::sleep(Duration::from_millis(10));
    }
    // The process systemd started is the one serving.
    let c = Client::new(&sock);
    assert_eq!(c.list().unwrap().pid, child.id());
    assert!(child.try_wait().unwrap().is_none());
    c.shutdown().unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(0));
}

#[test]
fn detaches_unless_told_to_stay() {
    let root = tempfile::tempdir().unwrap();
    let sock = root.path().join("s").join("c.sock");
    let out = scrubbed(&mut Command::new(BIN))
        .arg("--socket")
        .arg(&sock)
        .env_remove("LISTEN_FDS")
        .env_remove("LISTEN_PID")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("listening on"));
    let c = Client::new(&sock);
    let pid = c.list().unwrap().pid;
    assert!(Path::new(&format!("/proc/{pid}")).exists());
    c.shutdown().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while sock.exists() {
        assert!(
            Instant::now() < deadline,
            "the detached daemon did not stop"
        );
        thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn no_key_bytes_in_any_file() {
    let mut d = Daemon::start(&[]);
    let c = d.client();
    c.store(&key("f"), &cred(600)).unwrap();
    assert!(c.get(&key("f")).unwrap().is_some());
    let Claim::Hit(_) = c.get_or_claim(&key("f"), Duration::from_secs(1)).unwrap() else {
        panic!()
    };
    c.list().unwrap();
    // A malformed store that quotes the key back must not log it either.
    let mut s = raw(&d.sock);
    send(
        &mut s,
        &json!({"version": proto::VERSION, "op": "store", "key": key_json("f"),
        "credential": {"private_key_pkcs8_b64": SECRET, "expires_at": SECRET}}),
    );
    let _ = recv(&mut s);
    c.clear().unwrap();
    c.shutdown().unwrap();
    assert_eq!(d.wait_exit(), 0);
    let mut files = 0;
    let mut stack = vec![d.root.path().to_path_buf()];
    while let Some(p) = stack.pop() {
        for e in fs::read_dir(&p).unwrap() {
            let e = e.unwrap();
            let ft = e.file_type().unwrap();
            if ft.is_dir() {
                stack.push(e.path());
            } else if ft.is_file() {
                files += 1;
                let bytes = fs::read(e.path()).unwrap();
                assert!(
                    !String::from_utf8_lossy(&bytes).contains(SECRET),
                    "the key appears in {}",
                    e.path().display()
                );
            }
        }
    }
    assert!(files >= 2, "the log and the lock file were searched");
    assert!(
        d.log_text().contains("stored a credential"),
        "the log is verbose: {}",
        d.log_text()
    );
}

#[test]
fn get_hit_round_trip_time() {
    let d = Daemon::start(&[]);
    let c = d.client();
    c.store(&key("rtt"), &cred(600)).unwrap();
    for _ in 0..50 {
        c.get(&key("rtt")).unwrap().unwrap();
    }
    let n = 500;
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        c.get(&key("rtt")).unwrap().unwrap();
        times.push(t.elapsed());
    }
    times.sort();
    let mean = times.iter().sum::<Duration>() / n as u32;
    let (median, p99) = (times[n / 2], times[n * 99 / 100]);
    // On one open connection (the request/response alone).
    let mut s = raw(&d.sock);
    let req = json!({"version": proto::VERSION, "op": "get", "key": key_json("rtt")});
    let mut warm = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        send(&mut s, &req);
        assert_eq!(recv(&mut s).unwrap()["status"], "hit");
        warm.push(t.elapsed());
    }
    warm.sort();
    eprintln!(
        "Get hit, connect + request + answer: mean {mean:?}, median {median:?}, p99 {p99:?}; \
         on an open connection: median {:?}, p99 {:?}",
        warm[n / 2],
        warm[n * 99 / 100]
    );
    // Generous for a loaded debug build; the release figure is in the README.
    assert!(median < Duration::from_millis(5), "median {median:?}");
}

/// Verifies an ECDSA P-256 SHA-256 signature with the test certificate.
fn verifies(message: &[u8], signature: &[u8]) -> bool {
    let cert = gitsign::pki::x509::certificates_from_pem(CERT)
        .unwrap()
        .remove(0);
    let key = cert.public_key().unwrap();
    gitsign::pki::crypto::verify(
        &key,
        gitsign::pki::crypto::default_scheme(&key),
        message,
        signature,
    )
    .is_ok()
}

#[test]
fn the_daemon_signs_and_never_hands_the_key_back() {
    use base64::Engine;
    let d = Daemon::start(&[]);
    let c = d.client();
    let commit = attrs(b"a commit");
    assert_eq!(c.sign(&key("s"), &commit, None).unwrap(), None);
    c.store(&key("s"), &cred(600)).unwrap();
    let signed = c.sign(&key("s"), &commit, None).unwrap().unwrap();
    assert!(verifies(&commit, &signed.signature));
    assert!(!verifies(&attrs(b"another commit"), &signed.signature));
    assert_eq!(signed.rekor, None);
    let commit_b64 = base64::engine::general_purpose::STANDARD.encode(&commit);
    // Every answer about the entry, raw: the key is in none of them.
    let mut s = raw(&d.sock);
    let requests = [
        json!({"version": proto::VERSION, "op": "get", "key": key_json("s")}),
        json!({"version": proto::VERSION, "op": "get", "key": key_json("s"), "claim": true}),
        json!({"version": proto::VERSION, "op": "sign", "key": key_json("s"), "message_b64": commit_b64}),
        json!({"version": proto::VERSION, "op": "list"}),
    ];
    for r in &requests {
        send(&mut s, r);
        let answer = recv(&mut s).unwrap().to_string();
        assert!(!answer.contains(SECRET.trim()), "{answer}");
        assert!(!answer.contains("private"), "{answer}");
    }
    // Garbage to sign is refused with a sentence; the daemon lives on.
    send(
        &mut s,
        &json!({"version": proto::VERSION, "op": "sign", "key": key_json("s"), "message_b64": "%%"}),
    );
    let r = recv(&mut s).unwrap();
    assert_eq!(r["message"], "the message to sign is not base64");
    c.clear().unwrap();
    assert_eq!(c.sign(&key("s"), &commit, None).unwrap(), None);
    assert!(!d.log_text().contains(SECRET.trim()));
}

#[test]
fn a_key_that_does_not_match_its_certificate_is_not_cached() {
    let d = Daemon::start(&[]);
    let c = d.client();
    let mut other = cred(600);
    other.chain_pem = include_str!("fixtures/chain-b.pem").into();
    let e = c.store(&key("m"), &other).unwrap_err().to_string();
    assert!(e.contains("not for its key"), "{e}");
    let mut bad = cred(600);
    bad.private_key_pkcs8_b64 = "bm90IGEga2V5".into();
    let e = c.store(&key("m"), &bad).unwrap_err().to_string();
    assert!(e.contains("not a P-256 PKCS#8 key"), "{e}");
    // A key and its certificate, from a CA the trusted root does not know.
    let mut rogue = cred(600);
    rogue.private_key_pkcs8_b64 = include_str!("fixtures/key-rogue.pkcs8.b64").trim().into();
    rogue.chain_pem = include_str!("fixtures/chain-rogue.pem").into();
    let e = c.store(&key("m"), &rogue).unwrap_err().to_string();
    assert!(
        e.contains("not cached") && e.contains("does not chain to a Fulcio CA"),
        "{e}"
    );
    assert!(c.list().unwrap().entries.is_empty());
}

/// The log entry a Rekor would create for a hashedrekord `proposal`, as
/// Rekor's JSON (`{uuid: LogEntry}`), plus a field no entry has.
fn entry_for(proposal: &[u8]) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let v: Value = serde_json::from_slice(proposal).unwrap();
    let spec = &v["spec"];
    let digest =
        gitsign::encoding::asn1::hex_decode(spec["data"]["hash"]["value"].as_str().unwrap())
            .unwrap();
    let sig = b64
        .decode(spec["signature"]["content"].as_str().unwrap())
        .unwrap();
    let pem = b64
        .decode(spec["signature"]["publicKey"]["content"].as_str().unwrap())
        .unwrap();
    let body =
        gitsign::sigstore::tlog::hashedrekord_body(&digest, &sig, &String::from_utf8(pem).unwrap());
    json!({"ab": {
        "body": b64.encode(body), "integratedTime": now(), "logID": "00".repeat(32),
        "logIndex": 7, "FOREIGN": "FOREIGN-BYTES",
        "verification": {"signedEntryTimestamp": b64.encode("set"),
            "inclusionProof": {"checkpoint": "c", "hashes": [], "logIndex": 7,
                "rootHash": "11".repeat(32), "treeSize": 8}}}})
    .to_string()
}

/// A one-thread HTTP/1.1 server standing in for Rekor: answers every POST
/// with 201 and the entry for what was posted ([`entry_for`]), keeps
/// connections alive, and reports each request's body and how many
/// connections it accepted.
fn fake_rekor() -> (String, std::sync::mpsc::Receiver<(usize, Vec<u8>)>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    thread::spawn(move || {
        for (n, conn) in listener.incoming().enumerate() {
            let Ok(mut conn) = conn else { return };
            let mut buf = Vec::new();
            loop {
                let mut chunk = [0u8; 4096];
                let head_end = loop {
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        break i + 4;
                    }
                    match conn.read(&mut chunk) {
                        Ok(0) | Err(_) => break 0,
                        Ok(k) => buf.extend_from_slice(&chunk[..k]),
                    }
                };
                if head_end == 0 {
                    break;
                }
                let head = String::from_utf8_lossy(&buf[..head_end]).to_lowercase();
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .map(|v| v.trim().parse().unwrap())
                    .unwrap_or(0);
                while buf.len() < head_end + len {
                    match conn.read(&mut chunk) {
                        Ok(0) | Err(_) => return,
                        Ok(k) => buf.extend_from_slice(&chunk[..k]),
                    }
                }
                let body = buf[head_end..head_end + len].to_vec();
                buf.drain(..head_end + len);
                let answer = entry_for(&body);
                let _ = tx.send((n + 1, body));
                let reply = format!(
                    "HTTP/1.1 201 Created\r\ncontent-type: application/json\r\nlocation: /api/v1/log/entries/ab\r\ncontent-length: {}\r\n\r\n{answer}",
                    answer.len()
                );
                if conn.write_all(reply.as_bytes()).is_err() {
                    break;
                }
            }
        }
    });
    (url, rx)
}

#[test]
fn the_daemon_logs_signatures_on_a_kept_alive_connection() {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let (url, requests) = fake_rekor();
    // Nobody listening there.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_url = format!("http://{}", dead.local_addr().unwrap());
    drop(dead);
    let d = Daemon::start(&["--rekor-url", &url, "--rekor-url", &dead_url]);
    let c = d.client();
    c.store(&key("r"), &cred(600)).unwrap();
    let target = proto::RekorTarget {
        url: url.clone(),
        timeout_ms: 10_000,
        api_version: 1,
    };
    let leaf = gitsign::pki::x509::certificates_from_pem(CERT)
        .unwrap()
        .remove(0);
    let leaf_pem = gitsign::encoding::pem::encode("CERTIFICATE", leaf.der());
    // Signed attributes (offline mode) and an object id (online mode).
    let (first, second) = (attrs(b"first"), attrs(b"second"));
    let third = b"0123456789abcdef0123456789abcdef01234567";
    for message in [&first[..], &second[..], &third[..]] {
        let signed = c
            .sign(&key("r"), message, Some(target.clone()))
            .unwrap()
            .unwrap();
        assert!(verifies(message, &signed.signature));
        // The entry for exactly this signature, parsed and re-encoded.
        let entry = signed.rekor.unwrap().unwrap();
        assert_eq!(entry.log_index, 7);
        let digest = gitsign::pki::crypto::sha256(message);
        assert_eq!(
            entry.body,
            gitsign::sigstore::tlog::hashedrekord_body(&digest, &signed.signature, &leaf_pem)
        );
        // What was posted: a hashedrekord of this signature, over the
        // message's SHA-256, naming the certificate.
        let (connection, body) = requests.recv_timeout(Duration::from_secs(10)).unwrap();
        assert_eq!(connection, 1, "one connection serves every upload");
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["kind"], "hashedrekord");
        let spec = &v["spec"];
        assert_eq!(
            spec["data"]["hash"]["value"],
            gitsign::encoding::asn1::hex_lower(&digest)
        );
        assert_eq!(
            b64.decode(spec["signature"]["content"].as_str().unwrap())
                .unwrap(),
            signed.signature
        );
        let cert = b64
            .decode(spec["signature"]["publicKey"]["content"].as_str().unwrap())
            .unwrap();
        assert_eq!(String::from_utf8(cert).unwrap(), leaf_pem);
    }
    // Signed all the same; why Rekor has no entry comes along.
    let no_entry = |url: &str| {
        let target = proto::RekorTarget {
            url: url.into(),
            timeout_ms: 5_000,
            api_version: 1,
        };
        let x = attrs(b"x");
        let signed = c.sign(&key("r"), &x, Some(target)).unwrap().unwrap();
        assert!(verifies(&x, &signed.signature));
        signed.rekor.unwrap().unwrap_err()
    };
    let why = no_entry(&dead_url);
    assert!(
        why.contains("cannot reach") && why.contains(&dead_url),
        "{why}"
    );
    // Only the configured Rekors: no other scheme, no other path.
    for bad in [
        "file:///etc/passwd".to_string(),
        format!("{url}/private?x="),
    ] {
        let why = no_entry(&bad);
        assert!(
            why.contains("posts only to the Rekor its own configuration names"),
            "{bad}: {why}"
        );
    }
    assert!(requests.try_recv().is_err(), "nothing more was posted");
}

#[test]
fn a_shutdown_whose_client_leaves_at_once_still_stops_the_daemon() {
    let mut d = Daemon::start(&[]);
    d.client().store(&key("bye"), &cred(600)).unwrap();
    let mut s = raw(&d.sock);
    send(
        &mut s,
        &json!({"version": proto::VERSION, "op": "shutdown"}),
    );
    drop(s);
    assert_eq!(d.wait_exit(), 0);
    assert!(!d.sock.exists(), "the socket is removed on exit");
}

/// A one-request-per-connection HTTP server: answers every request with
/// `answer(request line)`, reports each request line it receives.
fn recording_server(
    answer: impl Fn(&str) -> String + Send + 'static,
) -> (String, std::sync::mpsc::Receiver<String>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                match conn.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(k) => buf.extend_from_slice(&chunk[..k]),
                }
            }
            let head = String::from_utf8_lossy(&buf).to_string();
            let line = head.lines().next().unwrap_or_default().to_string();
            let _ = tx.send(line.clone());
            let _ = conn.write_all(answer(&line).as_bytes());
        }
    });
    (url, rx)
}

/// The daemon is no HTTP client for whoever reaches its socket: asked to
/// post to another URL than the configured Rekor, or redirected by that
/// Rekor, it fetches nothing elsewhere, and it never hands back bytes
/// Rekor (or anyone) chose that are not a log entry. The redirects include
/// 307 and 308, which keep the method and body: a client that followed
/// them would POST the entry to the other host (and 303, a GET there).
#[test]
fn the_daemon_fetches_nothing_a_client_or_rekor_points_it_to() {
    use base64::Engine;
    let foreign = r#"{"FOREIGN":"FOREIGN-BYTES"}"#;
    let foreign_b64 = base64::engine::general_purpose::STANDARD.encode(foreign);
    let reply = move |status: &str, extra: &str| {
        format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\n{extra}content-length: {}\r\nconnection: close\r\n\r\n{foreign}",
            foreign.len()
        )
    };
    let (elsewhere, reached) = recording_server(move |_| reply("200 OK", ""));
    let redirector = |status: &'static str| {
        let to = format!("{elsewhere}/latest/meta-data");
        recording_server(move |_| reply(status, &format!("location: {to}\r\n")))
    };
    let (see_other, see_other_heard) = redirector("303 See Other");
    let (temporary, temporary_heard) = redirector("307 Temporary Redirect");
    let (permanent, permanent_heard) = redirector("308 Permanent Redirect");
    let (answerer, answered) = recording_server(move |_| reply("201 Created", ""));
    let post = "POST /api/v1/log/entries HTTP/1.1".to_string();
    // (case, configured Rekor, Rekor the client names, who must hear the
    // daemon's one POST, what the daemon says about it)
    let cases = [
        (
            "a client naming another URL",
            &answerer,
            &elsewhere,
            None,
            "posts only to the Rekor its own configuration names",
        ),
        (
            "a 303 redirect",
            &see_other,
            &see_other,
            Some(&see_other_heard),
            "HTTP 303 (a redirect, which the daemon does not follow)",
        ),
        (
            "a 307 redirect",
            &temporary,
            &temporary,
            Some(&temporary_heard),
            "HTTP 307 (a redirect, which the daemon does not follow)",
        ),
        (
            "a 308 redirect",
            &permanent,
            &permanent,
            Some(&permanent_heard),
            "HTTP 308 (a redirect, which the daemon does not follow)",
        ),
        (
            "an answer that is no log entry",
            &answerer,
            &answerer,
            Some(&answered),
            "did not answer with a log entry",
        ),
    ];
    let message = base64::engine::general_purpose::STANDARD.encode(attrs(b"x"));
    for (case, configured, named, hears, says) in cases {
        let root = private_tempdir();
        let sock = root.path().join("s").join("c.sock");
        let log = root.path().join("daemon.log");
        let mut child = scrubbed(&mut Command::new(BIN))
            .args(["--foreground", "--verbose", "--socket"])
            .arg(&sock)
            .env_remove("LISTEN_FDS")
            .env_remove("LISTEN_PID")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GITSIGN_REKOR_URL", configured)
            .env("GITSIGN_TRUSTED_ROOT", trusted_root())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Client::new(&sock).list().is_err() {
            assert!(
                Instant::now() < deadline,
                "{}",
                fs::read_to_string(&log).unwrap()
            );
            thread::sleep(Duration::from_millis(10));
        }
        let mut s = raw(&sock);
        send(
            &mut s,
            &json!({"version": proto::VERSION, "op": "get", "key": key_json("p"), "claim": true}),
        );
        assert_eq!(recv(&mut s).unwrap()["status"], "claimed", "{case}");
        send(
            &mut s,
            &json!({"version": proto::VERSION, "op": "store", "key": key_json("p"),
                    "credential": serde_json::to_value(cred(600)).unwrap()}),
        );
        assert_eq!(recv(&mut s).unwrap()["status"], "ok", "{case}");
        send(
            &mut s,
            &json!({"version": proto::VERSION, "op": "sign", "key": key_json("p"),
                    "message_b64": message, "rekor": {"url": named, "timeout_ms": 5000}}),
        );
        let answer = recv(&mut s).unwrap().to_string();
        let _ = child.kill();
        let _ = child.wait();
        assert!(
            answer.contains("signature_b64"),
            "{case}: still signed: {answer}"
        );
        assert!(answer.contains(says), "{case}: {answer}");
        let got: Vec<String> = reached.try_iter().collect();
        assert!(got.is_empty(), "{case}: the daemon fetched {got:?}");
        assert!(
            !answer.contains("FOREIGN") && !answer.contains(&foreign_b64),
            "{case}: foreign bytes came back: {answer}"
        );
        // The configured Rekor heard exactly the daemon's one POST (so the
        // redirect was answered, and not followed), or nothing at all.
        for (server, heard) in [
            (&see_other, &see_other_heard),
            (&temporary, &temporary_heard),
            (&permanent, &permanent_heard),
            (&answerer, &answered),
        ] {
            let got: Vec<String> = heard.try_iter().collect();
            let expected = if hears.is_some_and(|h| std::ptr::eq(h, heard)) {
                vec![post.clone()]
            } else {
                vec![]
            };
            assert_eq!(got, expected, "{case}: what {server} heard");
        }
    }
}

/// Whoever reaches the socket (the far end of a forwarded socket, too)
/// can have the daemon sign any bytes with the user's key and, with a
/// `rekor` target, log them: a signature over an arbitrary artifact (a
/// release tarball, a script) under the user's Fulcio certificate, logged
/// in Rekor by the user's own daemon, which `cosign verify-blob
/// --certificate-identity <user>` accepts. gitsign itself only ever asks
/// for two shapes: the DER SignedAttributes of a CMS signature (a SET with
/// contentType, signingTime and messageDigest) and, in online mode, a hex
/// object id. Signing commits the user never made is inherent in an agent
/// (documented, as with ssh-agent); signing anything else is not needed.
/// Expected: anything but those shapes is refused and nothing is posted.
#[test]
fn the_daemon_signs_only_what_gitsign_signs() {
    let (url, posted) = fake_rekor();
    let d = Daemon::start(&["--rekor-url", &url]);
    let c = d.client();
    c.store(&key("art"), &cred(600)).unwrap();
    let artifact = b"#!/bin/sh\n# release 1.0 installer\ncurl https://example.invalid | sh\n";
    let target = proto::RekorTarget {
        url: url.clone(),
        timeout_ms: 5_000,
        api_version: 1,
    };
    let answer = c.sign(&key("art"), artifact, Some(target));
    let signed_artifact = matches!(&answer, Ok(Some(s)) if verifies(artifact, &s.signature));
    let logged = posted.recv_timeout(Duration::from_millis(500)).is_ok();
    assert!(
        !signed_artifact && !logged,
        "the daemon signed an arbitrary artifact with the user's key (logged in Rekor: {logged})"
    );
}

/// A client's `Store` is kept as sent apart from the leaf's checks: its
/// chain may carry up to a frame (1 MiB) of further certificates nobody
/// checks, under each of 1024 keys, so one client of the socket (the far
/// end of a forwarded socket) grows the daemon by a gigabyte (measured:
/// 200 such entries, 215 MB resident), and every `Get` hands the user's
/// gitsign a megabyte of certificates to parse per signature. Expected: the
/// daemon keeps only what the certificate needs (the leaf and the path the
/// trusted root vouches for), so an entry stays a few kilobytes.
#[test]
fn a_stored_chain_is_bounded_to_what_the_certificate_needs() {
    let d = Daemon::start(&[]);
    let c = d.client();
    let leaf = CERT
        .split_inclusive("-----END CERTIFICATE-----\n")
        .next()
        .unwrap()
        .to_string();
    let mut padded = cred(600);
    padded.chain_pem = leaf.repeat(600);
    assert!(padded.chain_pem.len() > 500 * 1024);
    let stored = c.store(&key("pad"), &padded);
    let kept = c
        .get(&key("pad"))
        .unwrap()
        .map(|h| h.chain_pem.len())
        .unwrap_or(0);
    assert!(
        stored.is_err() || kept < 64 * 1024,
        "the daemon keeps and serves {kept} bytes of certificates for one entry"
    );
}

/// A `Store` is taken only from the connection holding the key's claim,
/// and never over a live entry: another client of the socket can neither
/// plant a credential for a login in progress nor replace the user's.
#[test]
fn a_store_needs_the_claim_and_never_replaces_a_live_entry() {
    let d = Daemon::start(&[]);
    let store = |s: &mut UnixStream, who: &str| {
        send(
            s,
            &json!({"version": proto::VERSION, "op": "store", "key": key_json("own"),
                    "credential": serde_json::to_value(cred_as(who, 600)).unwrap()}),
        );
        recv(s).unwrap()
    };
    // Without a claim: refused.
    let mut stranger = raw(&d.sock);
    let r = store(&mut stranger, "mallory@example.com");
    assert_eq!(r["status"], "error", "{r}");
    assert!(
        r["message"]
            .as_str()
            .unwrap()
            .contains("only the client holding"),
        "{r}"
    );
    // The user's gitsign claims; another connection's store is refused.
    let mut user = raw(&d.sock);
    send(
        &mut user,
        &json!({"version": proto::VERSION, "op": "get", "key": key_json("own"), "claim": true}),
    );
    assert_eq!(recv(&mut user).unwrap()["status"], "claimed");
    let r = store(&mut stranger, "mallory@example.com");
    assert!(
        r["message"]
            .as_str()
            .unwrap()
            .contains("only the client holding"),
        "{r}"
    );
    assert_eq!(store(&mut user, "alice@example.com")["status"], "ok");
    // A live entry stays, whoever asks, through the client API too.
    let err = d
        .client()
        .store(&key("own"), &cred_as("mallory@example.com", 600))
        .unwrap_err();
    assert!(
        err.to_string().contains("never replaces a live one"),
        "{err}"
    );
    assert_eq!(
        d.client().get(&key("own")).unwrap().unwrap().identity,
        "alice@example.com"
    );
    assert!(
        d.log_text().contains("refused to store"),
        "{}",
        d.log_text()
    );
}

/// `expires_at` is the storing client's word: the daemon never serves an
/// entry past its certificate's notAfter less the margin gitsign uses.
#[test]
fn an_entry_is_never_served_past_its_certificate() {
    let d = Daemon::start(&[]);
    let c = d.client();
    c.store(&key("long"), &cred(100 * 365 * 24 * 3600)).unwrap();
    let leaf = gitsign::pki::x509::certificates_from_pem(CERT)
        .unwrap()
        .remove(0);
    let until = leaf.not_after - gitsign::cache::margin(&leaf);
    assert_eq!(c.get(&key("long")).unwrap().unwrap().expires_at, until);
    assert_eq!(c.list().unwrap().entries[0].expires_at, until);
}

/// Key fields are the client's words: in the daemon's log they are
/// escaped, so a client cannot forge or redraw log lines.
#[test]
fn client_words_reach_the_log_escaped() {
    let d = Daemon::start(&[]);
    let mut k = key("esc");
    k.identity = "x\ngitsign-credential-cache: forged line\u{1b}[2K".into();
    let _ = d.client().get_or_claim(&k, Duration::ZERO).unwrap();
    wait_log(&d, "claimed the login", 1);
    let log = d.log_text();
    assert!(!log.contains("\ngitsign-credential-cache: forged"), "{log}");
    assert!(!log.contains('\u{1b}'), "{log}");
    assert!(
        log.contains("x\\x0agitsign-credential-cache: forged line\\x1b[2K"),
        "{log}"
    );
}
