//! Signing over https: the testbed's Fulcio and Rekor behind a
//! TLS-terminating proxy (tests/tls_proxy.py) whose certificate comes from a
//! throwaway CA, trusted through SSL_CERT_FILE (rustls-platform-verifier on
//! Linux reads it via rustls-native-certs). Trusted: `git commit -S` signs
//! and verifies. Not trusted: it fails naming the URL and the certificate.
//! A plaintext server behind an https URL: it fails fast, naming the URL.
//! With the credential cache: the daemon logs warm signatures over https
//! itself; a daemon that does not trust the CA leaves that to gitsign.

mod common;

use common::{text, Daemon, Repo, TempDir, Testbed};
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Runs the `openssl` CLI in `dir` (arguments split on whitespace); panics
/// on failure.
fn openssl(dir: &Path, args: &str) {
    let o = Command::new("openssl")
        .args(args.split_whitespace())
        .current_dir(dir)
        .output()
        .expect("openssl runs");
    assert!(
        o.status.success(),
        "openssl {args} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// `openssl req` arguments for a new unencrypted P-256 key.
const P256: &str = "-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes";

/// Throwaway PKI: `ca.pem` (issuer of `leaf.pem`/`leaf.key`, a server
/// certificate for IP 127.0.0.1), `other-ca.pem` (an unrelated CA), and an
/// empty directory for SSL_CERT_DIR.
struct Pki {
    dir: TempDir,
}

impl Pki {
    fn new() -> Pki {
        let dir = TempDir::new("tls-pki");
        let d = dir.path();
        for ca in ["ca", "other-ca"] {
            openssl(
                d,
                &format!(
                    "req -x509 {P256} -keyout {ca}.key -out {ca}.pem -days 2 -subj /CN=gitsign-tls-test-{ca}"
                ),
            );
        }
        openssl(
            d,
            &format!("req -new {P256} -keyout leaf.key -out leaf.csr -subj /CN=127.0.0.1"),
        );
        std::fs::write(
            d.join("leaf.ext"),
            "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        openssl(
            d,
            "x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -set_serial 2 -days 2 -sha256 \
             -extfile leaf.ext -out leaf.pem",
        );
        std::fs::create_dir(d.join("no-certs")).unwrap();
        Pki { dir }
    }

    fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// A running tls_proxy.py; killed on drop (closing its stdin also ends it).
struct Proxy {
    child: Child,
    port: u16,
}

impl Proxy {
    fn start(pki: &Pki, upstream: &str) -> Proxy {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tls_proxy.py");
        let mut child = Command::new("python3")
            .arg(script)
            .arg("--cert")
            .arg(pki.file("leaf.pem"))
            .arg("--key")
            .arg(pki.file("leaf.key"))
            .args(["--upstream", upstream])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 runs");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = match line.trim().parse() {
            Ok(p) => p,
            Err(_) => {
                let _ = child.kill();
                panic!("tls_proxy.py printed {line:?}, not a port");
            }
        };
        Proxy { child, port }
    }

    fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `http://127.0.0.1:PORT` → `127.0.0.1:PORT`.
fn host_port(url: &str) -> String {
    url.strip_prefix("http://")
        .unwrap_or_else(|| panic!("not a plain http URL: {url}"))
        .trim_end_matches('/')
        .to_string()
}

/// A testbed whose Fulcio and Rekor are also reachable over https.
struct Https {
    fulcio: Proxy,
    rekor: Proxy,
    pki: Pki,
    tb: Testbed,
}

impl Https {
    fn start() -> Https {
        let tb = Testbed::start();
        let pki = Pki::new();
        let fulcio = Proxy::start(&pki, &host_port(tb.var("GITSIGN_FULCIO_URL")));
        let rekor = Proxy::start(&pki, &host_port(tb.var("GITSIGN_REKOR_URL")));
        Https {
            fulcio,
            rekor,
            pki,
            tb,
        }
    }

    /// A repository signing with an environment token against the https
    /// Fulcio and Rekor (online Rekor mode, so verification searches the
    /// log over https too), trusting the roots in `ca_file` only.
    fn repo(&self, tag: &str, ca_file: &Path) -> Repo {
        let tb = &self.tb;
        let email = tb.var("TESTBED_EMAIL").to_string();
        let mut repo = Repo::new(tag);
        repo.env.extend(tb.gitsign_env());
        repo.env.retain(|(k, _)| {
            ![
                "GITSIGN_FULCIO_URL",
                "GITSIGN_REKOR_URL",
                "GIT_COMMITTER_EMAIL",
                "GIT_AUTHOR_EMAIL",
            ]
            .contains(&k.as_str())
        });
        let env = [
            ("GITSIGN_FULCIO_URL", self.fulcio.url()),
            ("GITSIGN_REKOR_URL", self.rekor.url()),
            ("GITSIGN_TOKEN_PROVIDER", "environment".into()),
            ("SIGSTORE_ID_TOKEN", tb.token(&email, 900)),
            ("GITSIGN_REKOR_MODE", "online".into()),
            ("GIT_COMMITTER_EMAIL", email.clone()),
            ("GIT_AUTHOR_EMAIL", email.clone()),
            // Only `ca_file`: with SSL_CERT_DIR set too (CI images often
            // set it), its roots would be added.
            ("SSL_CERT_FILE", ca_file.display().to_string()),
            (
                "SSL_CERT_DIR",
                self.pki.file("no-certs").display().to_string(),
            ),
        ];
        repo.env
            .extend(env.into_iter().map(|(k, v)| (k.to_string(), v)));
        repo.git_ok(&["config", "gitsign.certificateIdentity", &email]);
        repo.git_ok(&[
            "config",
            "gitsign.certificateOidcIssuer",
            tb.var("GITSIGN_OIDC_ISSUER"),
        ]);
        repo.git_ok(&["config", "gitsign.matchCommitter", "true"]);
        repo
    }
}

/// Overrides one variable of the repository's environment.
fn set_env(repo: &mut Repo, key: &str, value: &str) {
    repo.env.retain(|(k, _)| k != key);
    repo.env.push((key.into(), value.into()));
}

/// An unsigned first commit; returns its id.
fn base_commit(repo: &Repo) -> String {
    std::fs::write(repo.path().join("base.txt"), "base\n").unwrap();
    repo.git_ok(&["add", "base.txt"]);
    repo.git_ok(&["commit", "-q", "-m", "unsigned base"]);
    repo.git_ok(&["rev-parse", "HEAD"])
}

/// Stages a change and runs `git commit -S`; returns its output and time.
fn commit_signed(repo: &Repo) -> (Output, Duration) {
    std::fs::write(repo.path().join("a.txt"), "signed over https\n").unwrap();
    repo.git_ok(&["add", "a.txt"]);
    let t = Instant::now();
    let o = repo.git(&["commit", "-q", "-S", "-m", "signed over https"]);
    (o, t.elapsed())
}

/// Nothing was committed: HEAD is still `base`, the change still staged.
fn assert_not_committed(repo: &Repo, base: &str) {
    assert_eq!(repo.git_ok(&["rev-parse", "HEAD"]), base);
    assert_eq!(
        repo.git_ok(&["diff", "--cached", "--name-only"]),
        "a.txt",
        "the staged change is gone"
    );
}

#[test]
fn signs_and_verifies_over_https_with_trusted_ca() {
    let h = Https::start();
    let repo = h.repo("tls-trusted", &h.pki.file("ca.pem"));
    let email = h.tb.var("TESTBED_EMAIL").to_string();

    let (o, _) = commit_signed(&repo);
    assert!(o.status.success(), "git commit -S failed: {}", text(&o));
    assert_eq!(
        repo.git_ok(&["log", "-1", "--format=%G?|%GS"]),
        format!("G|{email}")
    );
    let o = repo.git(&["verify-commit", "HEAD"]);
    assert!(o.status.success(), "{}", text(&o));
    // Online mode: the entry was found by searching Rekor over https.
    assert!(
        text(&o).contains("(transparency log time; log entry found online): Rekor entry "),
        "{}",
        text(&o)
    );

    let stats = h.tb.stats();
    assert_eq!(stats["fulcio_certificates"].as_u64(), Some(1), "{stats}");
    assert_eq!(stats["rekor_entries"].as_u64(), Some(1), "{stats}");
}

#[test]
fn untrusted_certificate_fails_naming_url() {
    let h = Https::start();
    // Another CA, so the outcome does not depend on the machine's store.
    let repo = h.repo("tls-untrusted", &h.pki.file("other-ca.pem"));
    let base = base_commit(&repo);

    let (o, _) = commit_signed(&repo);
    assert!(!o.status.success(), "signed with an untrusted certificate");
    let err = String::from_utf8_lossy(&o.stderr);
    let url = format!("{}/api/v2/signingCert", h.fulcio.url());
    assert!(err.contains(&url), "expected {url:?} in:\n{err}");
    assert!(err.contains("certificate"), "{err}");
    assert!(err.contains("not trusted here"), "the fix is named: {err}");
    assert!(err.contains("SSL_CERT_FILE"), "the fix is named: {err}");
    assert!(!err.contains("no answer within"), "{err}");
    assert_not_committed(&repo, &base);
    // The request never got through to Fulcio.
    let stats = h.tb.stats();
    assert_eq!(stats["fulcio_certificates"].as_u64(), Some(0), "{stats}");
}

#[test]
fn plaintext_server_behind_https_url_fails_fast() {
    let h = Https::start();
    let mut repo = h.repo("tls-plaintext", &h.pki.file("ca.pem"));
    // The testbed's own Rekor port speaks plain HTTP.
    let url = format!("https://{}", host_port(h.tb.var("GITSIGN_REKOR_URL")));
    set_env(&mut repo, "GITSIGN_REKOR_URL", &url);
    let timeout = 20;
    repo.git_ok(&["config", "gitsign.timeout", &timeout.to_string()]);
    let base = base_commit(&repo);

    let (o, elapsed) = commit_signed(&repo);
    assert!(!o.status.success(), "signed against a plaintext Rekor");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains(&url), "expected {url:?} in:\n{err}");
    assert!(!err.contains("no answer within"), "{err}");
    assert!(
        err.contains("does not seem to speak TLS"),
        "the cause is named: {err}"
    );
    assert!(
        elapsed < Duration::from_secs(timeout / 4),
        "took {elapsed:?} with gitsign.timeout = {timeout} s:\n{err}"
    );
    assert_not_committed(&repo, &base);
    // Fulcio (over https, trusted) did issue the certificate first.
    let stats = h.tb.stats();
    assert_eq!(stats["fulcio_certificates"].as_u64(), Some(1), "{stats}");
    assert_eq!(stats["rekor_entries"].as_u64(), Some(0), "{stats}");
}

/// Three signed commits through a cache daemon whose environment trusts
/// `daemon_ca`; returns the daemon's log.
fn three_cached_commits(h: &Https, tag: &str, daemon_ca: &Path) -> String {
    let log = h.pki.file(&format!("{tag}-daemon.log"));
    let ca = daemon_ca.display().to_string();
    let no_certs = h.pki.file("no-certs").display().to_string();
    let rekor = h.rekor.url();
    let d = Daemon::start_env(
        &h.tb,
        &[
            ("SSL_CERT_FILE", &ca),
            ("SSL_CERT_DIR", &no_certs),
            ("GITSIGN_REKOR_URL", &rekor),
        ],
        Some(Stdio::from(std::fs::File::create(&log).unwrap())),
    );
    let mut repo = h.repo(tag, &h.pki.file("ca.pem"));
    set_env(
        &mut repo,
        "GITSIGN_CREDENTIAL_CACHE",
        &d.socket.display().to_string(),
    );
    base_commit(&repo);
    for n in 0..3 {
        std::fs::write(repo.path().join("a.txt"), format!("{n}\n")).unwrap();
        repo.git_ok(&["add", "a.txt"]);
        let o = repo.git(&["commit", "-q", "-S", "-m", "cached, over https"]);
        assert!(o.status.success(), "git commit -S failed: {}", text(&o));
        let o = repo.git(&["verify-commit", "HEAD"]);
        assert!(o.status.success(), "{}", text(&o));
    }
    let stats = h.tb.stats();
    assert_eq!(stats["fulcio_certificates"].as_u64(), Some(1), "{stats}");
    std::fs::read_to_string(&log).unwrap()
}

#[test]
fn the_cache_daemon_logs_warm_signatures_over_https() {
    let h = Https::start();
    let log = three_cached_commits(&h, "tls-daemon", &h.pki.file("ca.pem"));
    assert!(!log.contains("the client posts the entry itself"), "{log}");
    // The two warm signatures' entries went up from the daemon, over https.
    let posted = format!("posted the entry to {}: log index", h.rekor.url());
    assert_eq!(log.matches(&posted).count(), 2, "{log}");
    // Online mode logs the object id's signature: one entry per commit.
    let stats = h.tb.stats();
    assert_eq!(stats["rekor_entries"].as_u64(), Some(3), "{stats}");
}

#[test]
fn a_cache_daemon_without_the_ca_leaves_the_upload_to_gitsign() {
    let h = Https::start();
    let log = three_cached_commits(&h, "tls-daemon-noca", &h.pki.file("other-ca.pem"));
    // The two warm signatures: the daemon signed, could not reach Rekor
    // (naming why), and gitsign posted the entries itself.
    assert_eq!(
        log.matches("the client posts the entry itself").count(),
        2,
        "{log}"
    );
    assert!(log.contains("not trusted here"), "{log}");
    let stats = h.tb.stats();
    assert_eq!(stats["rekor_entries"].as_u64(), Some(3), "{stats}");
}

/// A one-thread HTTP server: `route(path)` gives the status line, extra
/// headers and body of each answer; every request line it gets is sent on
/// the channel. Returns `127.0.0.1:PORT`.
fn http_stub(
    route: impl Fn(&str) -> (&'static str, String, String) + Send + 'static,
) -> (String, std::sync::mpsc::Receiver<String>) {
    use std::io::{Read, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { return };
            let mut req = Vec::new();
            let mut buf = [0u8; 4096];
            while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => req.extend_from_slice(&buf[..n]),
                }
            }
            let head = String::from_utf8_lossy(&req).to_string();
            let line = head.lines().next().unwrap_or_default().to_string();
            let _ = tx.send(line.clone());
            let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
            let (status, headers, body) = route(&path);
            let _ = write!(
                s,
                "HTTP/1.1 {status}\r\ncontent-type: application/json\r\n{headers}content-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (addr, rx)
}

/// Over https, an OIDC provider cannot steer gitsign to plain http: a
/// redirect from https to http is refused (and the http URL never
/// contacted), and so is a discovery document fetched over https that
/// names http endpoints.
#[test]
fn https_never_downgrades_to_http() {
    let tb = Testbed::start();
    let pki = Pki::new();
    // The trap: any request reaching it is a downgrade that happened.
    let (trap, trapped) = http_stub(|_| ("404 Not Found", String::new(), "{}".into()));
    let issuer = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let shared = issuer.clone();
    let trap_url = format!("http://{trap}");
    let (stub, _) = http_stub(move |path| {
        let base = shared.lock().unwrap().clone();
        if path.starts_with("/redirect/") {
            let to = format!("{trap_url}/redirect/.well-known/openid-configuration");
            ("302 Found", format!("location: {to}\r\n"), String::new())
        } else {
            let doc = serde_json::json!({
                "issuer": format!("{base}/plain"),
                "authorization_endpoint": format!("{trap_url}/auth"),
                "token_endpoint": format!("{trap_url}/token"),
                "device_authorization_endpoint": format!("{trap_url}/device"),
                "code_challenge_methods_supported": ["S256"],
            });
            ("200 OK", String::new(), doc.to_string())
        }
    });
    let proxy = Proxy::start(&pki, &stub);
    *issuer.lock().unwrap() = proxy.url();
    // The scheme's case does not matter (RFC 3986): `HTTPS://` is https.
    let upper = proxy.url().replacen("https://", "HTTPS://", 1);
    for (case, base, path, words) in [
        ("redirect", proxy.url(), "/redirect", "redirect"),
        ("discovery", proxy.url(), "/plain", "http://"),
        ("redirect from HTTPS://", upper, "/redirect", "redirect"),
    ] {
        let (code, stdout, stderr) = common::sign_direct(
            &tb,
            &[
                ("GITSIGN_OIDC_ISSUER", format!("{base}{path}")),
                ("GITSIGN_TOKEN_PROVIDER", "device".into()),
                ("SSL_CERT_FILE", pki.file("ca.pem").display().to_string()),
                ("SSL_CERT_DIR", pki.file("no-certs").display().to_string()),
            ],
        );
        assert_ne!(code, Some(0), "{case}: signed: {stderr}");
        assert!(stdout.is_empty(), "{case}");
        assert!(
            stderr.contains(words) && stderr.contains("https"),
            "{case}: the refusal is named: {stderr}"
        );
        let got: Vec<String> = trapped.try_iter().collect();
        assert!(
            got.is_empty(),
            "{case}: the http URL was contacted: {got:?}"
        );
    }
}
