//! The credential cache with real signing: one login for a 50-commit
//! rebase, one login for 8 concurrent cold signers, expired entries never
//! served, a killed daemon recovers, no key bytes in any file, and the
//! daemon-less kernel keyring.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{gitsign_bin, text, Daemon, Repo, TempDir, Testbed};

fn signer(tb: &Testbed, tag: &str, socket: Option<&Path>) -> Repo {
    let mut repo = Repo::new(tag);
    repo.env.extend(tb.gitsign_env());
    repo.env
        .push(("GITSIGN_TOKEN_PROVIDER".into(), "interactive".into()));
    if let Some(s) = socket {
        repo.env
            .push(("GITSIGN_CREDENTIAL_CACHE".into(), s.display().to_string()));
    }
    repo.env.push((
        "GITSIGN_LOG".into(),
        repo.dir.path().join("gitsign.log").display().to_string(),
    ));
    repo
}

/// A temporary directory only we can enter, as a socket's must be.
fn private_dir(tag: &str) -> TempDir {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new(tag);
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    dir
}

fn commit(repo: &Repo, n: usize, sign: bool) {
    std::fs::write(repo.path().join(format!("f{n}")), format!("{n}\n")).unwrap();
    repo.git_ok(&["add", "."]);
    let mut args = vec!["commit", "-q", "-m", "change"];
    if sign {
        args.push("-S");
    }
    let o = repo.git(&args);
    assert!(o.status.success(), "{}", text(&o));
}

fn logins(tb: &Testbed) -> u64 {
    tb.stats()["opener_calls"].as_u64().unwrap()
}

#[test]
fn a_50_commit_rebase_logs_in_once() {
    let tb = Testbed::start();
    let d = Daemon::start(&tb);
    let repo = signer(&tb, "rebase50", Some(&d.socket));
    commit(&repo, 0, false);
    let base = repo.git_ok(&["rev-parse", "HEAD"]);
    for i in 1..=50 {
        commit(&repo, i, false);
    }
    let mut rebase = repo.git_cmd(&[
        "rebase",
        "-q",
        "-i",
        "--exec",
        "git commit -q --amend --no-edit -S",
        &base,
    ]);
    rebase.env("GIT_SEQUENCE_EDITOR", "true");
    let o = rebase.output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let marks = repo.git_ok(&["log", "--format=%G?", &format!("{base}..HEAD")]);
    assert_eq!(
        marks.lines().filter(|l| *l == "U" || *l == "G").count(),
        50,
        "{marks}"
    );
    assert_eq!(logins(&tb), 1, "{}", tb.stats());
    assert_eq!(tb.stats()["fulcio_certificates"].as_u64(), Some(1));
    assert_eq!(tb.stats()["rekor_entries"].as_u64(), Some(50));
    let o = repo.gitsign(&["cache", "status"]);
    assert!(
        o.status.success() && text(&o).contains(tb.var("TESTBED_EMAIL")),
        "{}",
        text(&o)
    );
}

#[test]
fn eight_concurrent_cold_signers_log_in_once() {
    let tb = Testbed::start();
    // A slower browser widens the window in which the others must wait.
    tb.fault("oidc", "slow", None, Some(800.into()));
    let d = Daemon::start(&tb);
    let repo = signer(&tb, "conc8", Some(&d.socket));
    let payload = "tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\nauthor A <a@x> 1 +0000\ncommitter A <a@x> 1 +0000\n\nm\n";
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let mut c = Command::new(gitsign_bin());
            c.args(["--status-fd=2", "-bsau", "x"])
                .current_dir(repo.path())
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            for (k, v) in &repo.env {
                c.env(k, v);
            }
            let mut child = c.spawn().unwrap();
            child
                .stdin
                .take()
                .unwrap()
                .write_all(payload.as_bytes())
                .unwrap();
            child
        })
        .collect();
    for h in handles {
        let o = h.wait_with_output().unwrap();
        assert!(o.status.success(), "{}", text(&o));
        assert!(String::from_utf8_lossy(&o.stdout).starts_with("-----BEGIN SIGNED MESSAGE-----"));
    }
    assert_eq!(logins(&tb), 1, "{}", tb.stats());
    assert_eq!(tb.stats()["fulcio_certificates"].as_u64(), Some(1));
}

#[test]
fn expired_entries_are_never_served() {
    let tb = Testbed::start();
    tb.config("certTtl", 20.into()); // served for 20 - 2 = 18 s
    let d = Daemon::start(&tb);
    let repo = signer(&tb, "expiry", Some(&d.socket));
    commit(&repo, 1, true);
    commit(&repo, 2, true);
    assert_eq!(logins(&tb), 1);
    std::thread::sleep(Duration::from_secs(19));
    commit(&repo, 3, true);
    assert_eq!(logins(&tb), 2, "an expired credential was served");
    // Every signature verifies at its log time, inside its certificate.
    let o = repo.gitsign(&[
        "verify",
        "--certificate-identity",
        tb.var("TESTBED_EMAIL"),
        "--certificate-oidc-issuer",
        tb.var("GITSIGN_OIDC_ISSUER"),
        "HEAD~2..HEAD",
        "HEAD~2",
    ]);
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn a_killed_daemon_recovers() {
    let tb = Testbed::start();
    let mut d = Daemon::start(&tb);
    let socket = d.socket.clone();
    let repo = signer(&tb, "killed", Some(&socket));
    commit(&repo, 1, true);
    commit(&repo, 2, true);
    assert_eq!(logins(&tb), 1);
    d.child.kill().unwrap();
    d.child.wait().unwrap();
    // The socket file is stale now: signing logs in again, without hanging.
    let start = std::time::Instant::now();
    commit(&repo, 3, true);
    assert!(start.elapsed() < Duration::from_secs(20));
    assert_eq!(logins(&tb), 2);
    let log = std::fs::read_to_string(repo.dir.path().join("gitsign.log")).unwrap();
    assert!(log.contains("credential cache not used"), "{log}");
    // A new daemon on the same path takes over the stale socket.
    let dir = std::mem::replace(&mut d._dir, TempDir::new("unused"));
    let _d2 = Daemon::start_at(&tb, socket.clone(), dir);
    commit(&repo, 4, true);
    commit(&repo, 5, true);
    assert_eq!(logins(&tb), 3);
}

#[test]
fn no_private_key_bytes_in_files() {
    use base64::Engine;
    let tb = Testbed::start();
    let d = Daemon::start(&tb);
    let repo = signer(&tb, "nokeys", Some(&d.socket));
    // A login through gitsign: its key goes to the daemon and never back.
    commit(&repo, 1, true);
    let client = gitsign::cache::client::Client::new(d.socket.clone());
    let key = gitsign::cache::proto::CacheKey {
        fulcio: tb.var("GITSIGN_FULCIO_URL").into(),
        issuer: tb.var("GITSIGN_OIDC_ISSUER").into(),
        client_id: "sigstore".into(),
        scope: String::new(),
        identity: "test@example.com".into(),
    };
    let cached = client.get(&key).unwrap().expect("a cached credential");
    assert!(!cached.chain_pem.contains("PRIVATE"));
    // A credential whose key this test knows, handed to the daemon as a
    // login would hand it; the next signatures are made with it.
    let email = "test@example.com";
    let http = gitsign::http::Http::new(Duration::from_secs(20)).unwrap();
    let root =
        gitsign::trust::TrustedRoot::from_file(Path::new(tb.var("GITSIGN_TRUSTED_ROOT"))).unwrap();
    let fulcio = gitsign::fulcio::FulcioClient::new(tb.var("GITSIGN_FULCIO_URL"), http);
    let token = tb.token(email, 600);
    let now = gitsign::time::now();
    let cred = gitsign::sign::request_credential(&fulcio, &token, email, &root, now).unwrap();
    let stored = gitsign::cache::to_cache(&cred).unwrap();
    client.clear().unwrap();
    client.store(&key, &stored).unwrap();
    let before = logins(&tb);
    commit(&repo, 2, true);
    commit(&repo, 3, true);
    assert_eq!(logins(&tb), before, "served from the cache: {}", tb.stats());
    let b64 = stored.private_key_pkcs8_b64.clone();
    let der = base64::engine::general_purpose::STANDARD
        .decode(&b64)
        .unwrap();
    // The private scalar is the 32 bytes after the ECPrivateKey OCTET STRING header.
    let scalar_at = der.windows(2).position(|w| w == [0x04, 0x20]).unwrap() + 2;
    let scalar = &der[scalar_at..scalar_at + 32];
    let log = std::fs::read_to_string(repo.dir.path().join("gitsign.log")).unwrap();
    assert!(
        log.matches("credential served from the cache").count() >= 2,
        "{log}"
    );
    let mut files = Vec::new();
    for root in [
        repo.dir.path(),
        d._dir.path(),
        Path::new(tb.var("TESTBED_STATE")),
    ] {
        collect(root, &mut files);
    }
    assert!(files.len() > 10);
    for f in files {
        let data = std::fs::read(&f).unwrap_or_default();
        assert!(
            !contains(&data, b64.as_bytes()),
            "key (base64) in {}",
            f.display()
        );
        assert!(!contains(&data, scalar), "key (raw) in {}", f.display());
    }
    // The signature is the stored key's: it verifies, with its certificate.
    let o = repo.git(&["verify-commit", "HEAD"]);
    assert!(o.status.success(), "{}", text(&o));
    let object = repo.git(&["cat-file", "commit", "HEAD"]).stdout;
    let signed = gitsign::gitobj::split_commit(&object, gitsign::gitobj::HashAlgo::Sha1)
        .unwrap()
        .expect("a signed commit");
    let der = gitsign::cms::unarmor(&signed.signature).unwrap();
    let sd = gitsign::cms::SignedData::from_der(&der).unwrap();
    assert_eq!(sd.signer_certificate().unwrap().der(), cred.leaf().der());
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            collect(&p, out);
        } else if p.is_file() {
            out.push(p);
        }
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn kernel_keyring_without_a_daemon() {
    let tb = Testbed::start();
    let mut repo = signer(&tb, "keyring", None);
    repo.env
        .push(("GITSIGN_CREDENTIAL_CACHE_MODE".into(), "keyring".into()));
    // A per-test scope keeps parallel tests' keyring entries apart.
    repo.env
        .push(("GITSIGN_CACHE_PER_REPO".into(), "true".into()));
    commit(&repo, 1, true);
    commit(&repo, 2, true);
    commit(&repo, 3, true);
    assert_eq!(logins(&tb), 1, "{}", tb.stats());
    let o = repo.gitsign(&["cache", "status"]);
    assert!(text(&o).contains("a credential for"), "{}", text(&o));
    let o = repo.gitsign(&["cache", "clear"]);
    assert!(
        o.status.success() && text(&o).contains("credential removed"),
        "{}",
        text(&o)
    );
    commit(&repo, 4, true);
    assert_eq!(logins(&tb), 2, "cleared, so a new login");
}

/// A stand-in for the daemon that serves `chain_pem` on `get` (or answers
/// `get_answer`) and answers `sign` with `sign_answer` (`None`: it closes
/// the connection, as a daemon killed mid-signature would).
fn fake_daemon(
    socket: &Path,
    chain_pem: String,
    get_answer: Option<serde_json::Value>,
    sign_answer: Option<serde_json::Value>,
) -> std::thread::JoinHandle<()> {
    use std::io::Read;
    let listener = std::os::unix::net::UnixListener::bind(socket).unwrap();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            let mut header = [0u8; 4];
            if conn.read_exact(&mut header).is_err() {
                continue;
            }
            let mut body = vec![0u8; u32::from_be_bytes(header) as usize];
            if conn.read_exact(&mut body).is_err() {
                continue;
            }
            let request: serde_json::Value = serde_json::from_slice(&body).unwrap();
            let answer = match request["op"].as_str() {
                Some("get") => get_answer.clone().unwrap_or_else(|| {
                    serde_json::json!({"status": "hit", "credential": {
                        "chain_pem": chain_pem, "identity": "test@example.com",
                        "expires_at": gitsign::time::now() + 300}})
                }),
                Some("sign") => match &sign_answer {
                    Some(a) => a.clone(),
                    None => continue,
                },
                Some("shutdown") => return,
                _ => serde_json::json!({"status": "error", "message": "not in this test"}),
            };
            let bytes = serde_json::to_vec(&answer).unwrap();
            let _ = conn.write_all(&(bytes.len() as u32).to_be_bytes());
            let _ = conn.write_all(&bytes);
        }
    })
}

#[test]
fn a_daemon_failing_mid_signature_means_a_login_not_a_failure() {
    use base64::Engine;
    let tb = Testbed::start();
    let http = gitsign::http::Http::new(Duration::from_secs(20)).unwrap();
    let root =
        gitsign::trust::TrustedRoot::from_file(Path::new(tb.var("GITSIGN_TRUSTED_ROOT"))).unwrap();
    let fulcio = gitsign::fulcio::FulcioClient::new(tb.var("GITSIGN_FULCIO_URL"), http);
    let token = tb.token("test@example.com", 600);
    let now = gitsign::time::now();
    let cred =
        gitsign::sign::request_credential(&fulcio, &token, "test@example.com", &root, now).unwrap();
    let chain_pem: String = cred
        .chain
        .iter()
        .map(|c| gitsign::pem::encode("CERTIFICATE", c.der()))
        .collect();
    // A signature by some other key: the certificate does not verify it.
    let stranger = gitsign::sign::EphemeralKey::generate().unwrap();
    let forged = base64::engine::general_purpose::STANDARD.encode(stranger.sign(b"x").unwrap());
    let cases = [
        ("killed", None, "the credential cache failed while signing"),
        (
            "forged",
            Some(serde_json::json!({"status": "signed", "signature_b64": forged})),
            "returned a signature that its certificate does not verify",
        ),
    ];
    for (tag, answer, logged) in cases {
        let dir = private_dir(tag);
        let socket = dir.path().join("cache.sock");
        let _fake = fake_daemon(&socket, chain_pem.clone(), None, answer);
        let repo = signer(&tb, tag, Some(&socket));
        let before = logins(&tb);
        commit(&repo, 1, true);
        assert_eq!(logins(&tb), before + 1, "{tag}: logged in instead");
        let log = std::fs::read_to_string(repo.dir.path().join("gitsign.log")).unwrap();
        assert!(log.contains("credential served from the cache"), "{log}");
        assert!(log.contains(logged), "{tag}: {log}");
        let o = repo.git(&["verify-commit", "HEAD"]);
        assert!(o.status.success(), "{tag}: {}", text(&o));
    }
}

/// A daemon from another release (say, still running after an upgrade):
/// signing works, by logging in, and gitsign says on the terminal (not
/// only in its log) why and what to do, since every signature would log
/// in until the daemon is restarted.
#[test]
fn a_daemon_of_another_protocol_is_named_on_the_terminal() {
    let tb = Testbed::start();
    let dir = private_dir("oldproto");
    let socket = dir.path().join("cache.sock");
    let mismatch =
        gitsign::cache::proto::version_mismatch_message(1, gitsign::cache::proto::VERSION);
    let _fake = fake_daemon(
        &socket,
        String::new(),
        Some(serde_json::json!({"status": "error", "message": mismatch})),
        None,
    );
    let (code, stdout, stderr) = common::sign_direct(
        &tb,
        &[
            ("GITSIGN_CREDENTIAL_CACHE", socket.display().to_string()),
            ("GITSIGN_TOKEN_PROVIDER", "environment".into()),
            (
                "SIGSTORE_ID_TOKEN",
                tb.token("testbed-user@example.com", 600),
            ),
        ],
    );
    assert_eq!(code, Some(0), "{stderr}");
    assert!(String::from_utf8_lossy(&stdout).contains("BEGIN SIGNED MESSAGE"));
    assert!(
        stderr.contains("credential cache not used")
            && stderr.contains("speaks protocol 1")
            && stderr.contains("restart the daemon"),
        "{stderr}"
    );
}

/// True when this process may use `setpriv` to run a stand-in as `nobody`.
/// Without root the tests that need it fail loudly, unless
/// `GITSIGN_TEST_SKIP_ROOT=1` says to skip them.
fn root_or_skip(test: &str) -> bool {
    use std::os::unix::fs::MetadataExt;
    if std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0) {
        return true;
    }
    if std::env::var("GITSIGN_TEST_SKIP_ROOT").as_deref() == Ok("1") {
        eprintln!("skipped {test}: it needs root to run a stand-in as nobody");
        return false;
    }
    panic!("{test} needs root (setpriv runs a stand-in as nobody); set GITSIGN_TEST_SKIP_ROOT=1 to skip it");
}

/// Run as `nobody` by `a_stand_in_socket_of_another_user_gets_nothing`
/// (inert otherwise): listens on the socket named in the environment,
/// answers like a daemon that wants the login (`claimed`, then `ok`), and
/// prints every byte it receives, hex, one line per read.
#[test]
fn stand_in_listener_as_another_user() {
    use std::io::Read;
    let Ok(socket) = std::env::var("GITSIGN_TEST_STAND_IN_SOCKET") else {
        return;
    };
    let listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    println!("READY");
    std::io::stdout().flush().unwrap();
    for conn in listener.incoming() {
        let Ok(mut conn) = conn else { return };
        let mut answered = false;
        loop {
            let mut buf = [0u8; 65536];
            let n = match conn.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            println!("GOT:{}", gitsign::asn1::hex_lower(&buf[..n]));
            std::io::stdout().flush().unwrap();
            let status = if answered { "ok" } else { "claimed" };
            answered = true;
            let body = format!("{{\"status\":\"{status}\"}}");
            let _ = conn.write_all(&(body.len() as u32).to_be_bytes());
            let _ = conn.write_all(body.as_bytes());
        }
    }
}

/// Starts `stand_in_listener_as_another_user` as nobody on `socket`.
fn stand_in_as_nobody(socket: &Path) -> std::process::Child {
    use std::io::BufRead;
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(&exe)
        .args([
            "--exact",
            "stand_in_listener_as_another_user",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("GITSIGN_TEST_STAND_IN_SOCKET", socket)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    while out.read_line(&mut line).unwrap() > 0 && !line.contains("READY") {
        line.clear();
    }
    assert!(line.contains("READY"), "the stand-in did not start");
    // Keep reading in the background so the stand-in never blocks.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut all = String::new();
        let _ = std::io::Read::read_to_string(&mut out, &mut all);
        let _ = tx.send(all);
    });
    STAND_IN_OUTPUT.with(|o| *o.borrow_mut() = Some(rx));
    child
}

thread_local! {
    static STAND_IN_OUTPUT: std::cell::RefCell<Option<std::sync::mpsc::Receiver<String>>> =
        const { std::cell::RefCell::new(None) };
}

/// Stops the stand-in; everything it printed after READY.
fn stand_in_output(mut child: std::process::Child) -> String {
    let _ = child.kill();
    let _ = child.wait();
    STAND_IN_OUTPUT
        .with(|o| o.borrow_mut().take())
        .and_then(|rx| rx.recv_timeout(Duration::from_secs(10)).ok())
        .unwrap_or_default()
}

/// Another local user's stand-in on the cache socket (in their directory,
/// or bound in ours while it was open to them) receives nothing, and
/// signing still works, by a login, with the problem named on the terminal.
#[test]
fn a_stand_in_socket_of_another_user_gets_nothing() {
    use std::os::unix::fs::PermissionsExt;
    if !root_or_skip("a_stand_in_socket_of_another_user_gets_nothing") {
        return;
    }
    let tb = Testbed::start();
    let base = TempDir::new("standin");
    std::fs::set_permissions(base.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    // 1. nobody's own directory (0700), nobody's socket.
    let theirs = base.path().join("theirs");
    std::fs::create_dir(&theirs).unwrap();
    std::os::unix::fs::chown(&theirs, Some(65534), Some(65534)).unwrap();
    std::fs::set_permissions(&theirs, std::fs::Permissions::from_mode(0o700)).unwrap();
    // 2. our directory, closed again (0700) after nobody bound a socket in it.
    let ours = base.path().join("ours");
    std::fs::create_dir(&ours).unwrap();
    for (case, dir, words) in [
        ("their directory", &theirs, "belongs to uid 65534"),
        ("their listener", &ours, "runs as uid 65534"),
    ] {
        let socket = dir.join("cache.sock");
        std::fs::set_permissions(&ours, std::fs::Permissions::from_mode(0o777)).unwrap();
        let child = stand_in_as_nobody(&socket);
        std::fs::set_permissions(&ours, std::fs::Permissions::from_mode(0o700)).unwrap();
        let repo = signer(&tb, "standin", Some(&socket));
        let before = logins(&tb);
        commit(&repo, 1, true);
        commit(&repo, 2, true);
        assert_eq!(logins(&tb), before + 2, "{case}: each signature logs in");
        let o = repo.git(&["verify-commit", "HEAD"]);
        assert!(o.status.success(), "{case}: {}", text(&o));
        let (code, _, stderr) = common::sign_direct(
            &tb,
            &[
                ("GITSIGN_CREDENTIAL_CACHE", socket.display().to_string()),
                ("GITSIGN_TOKEN_PROVIDER", "environment".into()),
                (
                    "SIGSTORE_ID_TOKEN",
                    tb.token("testbed-user@example.com", 600),
                ),
            ],
        );
        let got = stand_in_output(child);
        // Hex of `"private_key_pkcs8_b64"`: a Store reached the stand-in.
        let store = gitsign::asn1::hex_lower(b"private_key_pkcs8_b64");
        assert!(
            !got.contains(&store),
            "{case}: the stand-in received the private key: {got}"
        );
        assert!(
            !got.contains("GOT:"),
            "{case}: the stand-in received bytes: {got}"
        );
        assert_eq!(code, Some(0), "{case}: {stderr}");
        assert!(
            stderr.contains("credential cache not used") && stderr.contains(words),
            "{case}: the terminal names the problem: {stderr}"
        );
        let _ = std::fs::remove_file(&socket);
    }
}

/// A credential from a CA the trusted root does not know (the testbed's
/// rogue CA): what a poisoned cache entry would hold. Its key is ours.
fn rogue_credential(tb: &Testbed, email: &str) -> gitsign::sign::Credential {
    let http = gitsign::http::Http::new(Duration::from_secs(20)).unwrap();
    let fulcio = gitsign::fulcio::FulcioClient::new(tb.var("GITSIGN_FULCIO_URL"), http);
    tb.fault("fulcio", "bad-chain", Some(1), None);
    let key = gitsign::sign::EphemeralKey::generate().unwrap();
    let proof = key.sign(email.as_bytes()).unwrap();
    let issued = fulcio
        .signing_cert(&tb.token(email, 600), &key.public_key_pem(), &proof)
        .unwrap();
    gitsign::sign::Credential {
        key: gitsign::sign::KeyHolder::Local(key),
        chain: issued.chain,
    }
}

/// A stand-in daemon (ours, same uid) whose cache is poisoned: it serves
/// `cred`'s chain on `get` and signs with its key on `sign`.
fn poisoned_daemon(socket: &Path, cred: gitsign::sign::Credential) {
    use base64::Engine;
    use std::io::Read;
    let b64 = base64::engine::general_purpose::STANDARD;
    let chain_pem: String = cred
        .chain
        .iter()
        .map(|c| gitsign::pem::encode("CERTIFICATE", c.der()))
        .collect();
    let gitsign::sign::KeyHolder::Local(key) = cred.key else {
        panic!("a local key")
    };
    let listener = std::os::unix::net::UnixListener::bind(socket).unwrap();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            loop {
                let mut header = [0u8; 4];
                if conn.read_exact(&mut header).is_err() {
                    break;
                }
                let mut body = vec![0u8; u32::from_be_bytes(header) as usize];
                if conn.read_exact(&mut body).is_err() {
                    break;
                }
                let request: serde_json::Value = serde_json::from_slice(&body).unwrap();
                let answer = match request["op"].as_str() {
                    Some("get") => serde_json::json!({"status": "hit", "credential": {
                        "chain_pem": chain_pem, "identity": "test@example.com",
                        "expires_at": gitsign::time::now() + 300}}),
                    Some("sign") => {
                        let m = b64
                            .decode(request["message_b64"].as_str().unwrap())
                            .unwrap();
                        let sig = key.sign(&m).unwrap();
                        serde_json::json!({"status": "signed", "signature_b64": b64.encode(sig)})
                    }
                    _ => serde_json::json!({"status": "ok"}),
                };
                let bytes = serde_json::to_vec(&answer).unwrap();
                let _ = conn.write_all(&(bytes.len() as u32).to_be_bytes());
                let _ = conn.write_all(&bytes);
            }
        }
    });
}

/// A cached credential is checked as a fresh one would be: one that does
/// not chain to the trusted root (from the daemon, or from the kernel
/// keyring) is refused, a login follows, and the commit verifies.
#[test]
fn a_poisoned_cache_entry_is_refused_and_a_login_follows() {
    let tb = Testbed::start();
    // The daemon.
    let dir = private_dir("poisoned");
    let socket = dir.path().join("cache.sock");
    poisoned_daemon(&socket, rogue_credential(&tb, "test@example.com"));
    let repo = signer(&tb, "poisoned", Some(&socket));
    let before = logins(&tb);
    commit(&repo, 1, true);
    assert_eq!(logins(&tb), before + 1, "the poisoned entry was used");
    let o = repo.git(&["verify-commit", "HEAD"]);
    assert!(o.status.success(), "{}", text(&o));
    let log = std::fs::read_to_string(repo.dir.path().join("gitsign.log")).unwrap();
    assert!(log.contains("does not chain"), "{log}");

    // The kernel keyring, under the entry gitsign would read.
    let mut repo = signer(&tb, "poisoned-ring", None);
    repo.env
        .push(("GITSIGN_CREDENTIAL_CACHE_MODE".into(), "keyring".into()));
    repo.env
        .push(("GITSIGN_CACHE_PER_REPO".into(), "true".into()));
    let scope = repo.path().join(".git").canonicalize().unwrap();
    let key = gitsign::cache::proto::CacheKey {
        fulcio: tb.var("GITSIGN_FULCIO_URL").into(),
        issuer: tb.var("GITSIGN_OIDC_ISSUER").into(),
        client_id: "sigstore".into(),
        scope: scope.display().to_string(),
        identity: "test@example.com".into(),
    };
    let rogue = rogue_credential(&tb, "test@example.com");
    gitsign::cache::keyring::store(&key, &rogue, gitsign::time::now()).unwrap();
    let before = logins(&tb);
    commit(&repo, 1, true);
    assert_eq!(
        logins(&tb),
        before + 1,
        "the poisoned keyring entry was used"
    );
    let o = repo.git(&["verify-commit", "HEAD"]);
    assert!(o.status.success(), "{}", text(&o));
    let _ = gitsign::cache::keyring::clear(&key);
}

/// Under gitsign.matchCommitter the committer is part of the cache's key:
/// two repositories with different committers each get their own identity
/// from one daemon, and each is served its own afterwards.
#[test]
fn different_committers_get_their_own_identities() {
    let tb = Testbed::start();
    let d = Daemon::start(&tb);
    let mut repos = Vec::new();
    for who in ["alice", "bob"] {
        let mut repo = signer(&tb, who, Some(&d.socket));
        let email = format!("{who}@example.com");
        repo.env.retain(|(k, _)| !k.ends_with("_EMAIL"));
        repo.env.push(("GIT_COMMITTER_EMAIL".into(), email.clone()));
        repo.env.push(("GIT_AUTHOR_EMAIL".into(), email.clone()));
        repo.git_ok(&["config", "gitsign.matchCommitter", "true"]);
        // Each repository's login yields its committer's identity.
        repo.env.retain(|(k, _)| k != "GITSIGN_TOKEN_PROVIDER");
        repo.env
            .push(("GITSIGN_TOKEN_PROVIDER".into(), "environment".into()));
        repo.env
            .push(("SIGSTORE_ID_TOKEN".into(), tb.token(&email, 900)));
        repos.push((repo, email));
    }
    let certificates = || tb.stats()["fulcio_certificates"].as_u64().unwrap();
    for (n, (repo, email)) in repos.iter().enumerate() {
        commit(repo, n, true);
        assert_eq!(certificates(), n as u64 + 1);
        assert_eq!(repo.git_ok(&["log", "-1", "--format=%GS"]), *email);
    }
    // Warm: each repository is served its own committer's credential.
    for (repo, email) in &repos {
        commit(repo, 9, true);
        assert_eq!(repo.git_ok(&["log", "-1", "--format=%GS"]), *email);
    }
    assert_eq!(certificates(), 2, "{}", tb.stats());
}

/// A client that claimed a login and never finishes it (a hung browser
/// tab, or a hostile process at a forwarded socket) does not make other
/// signers fail: after waiting at most the login timeout they log in.
#[test]
fn a_held_claim_does_not_block_another_signer() {
    use std::io::Read;
    let tb = Testbed::start();
    let d = Daemon::start(&tb);
    let mut repo = signer(&tb, "heldclaim", Some(&d.socket));
    repo.env.push(("GITSIGN_LOGIN_TIMEOUT".into(), "3".into()));
    let key = serde_json::json!({
        "fulcio": tb.var("GITSIGN_FULCIO_URL"),
        "issuer": tb.var("GITSIGN_OIDC_ISSUER"),
        "client_id": "sigstore",
        "scope": "",
        "identity": "test@example.com",
    });
    let request = serde_json::json!({
        "version": gitsign::cache::proto::VERSION,
        "op": "get", "key": key, "claim": true, "wait_ms": 0,
    });
    let mut held = std::os::unix::net::UnixStream::connect(&d.socket).unwrap();
    let body = serde_json::to_vec(&request).unwrap();
    held.write_all(&(body.len() as u32).to_be_bytes()).unwrap();
    held.write_all(&body).unwrap();
    let mut header = [0u8; 4];
    held.read_exact(&mut header).unwrap();
    let mut answer = vec![0u8; u32::from_be_bytes(header) as usize];
    held.read_exact(&mut answer).unwrap();
    assert!(String::from_utf8_lossy(&answer).contains("claimed"));
    let start = std::time::Instant::now();
    commit(&repo, 1, true);
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(logins(&tb), 1);
    let o = repo.git(&["verify-commit", "HEAD"]);
    assert!(o.status.success(), "{}", text(&o));
    drop(held);
}

/// A daemon that trusts another root than gitsign (here the embedded
/// public-good one, not the testbed's) refuses to cache the testbed's
/// credentials: signing works, and the terminal says why, since every
/// signature would log in until the daemon is configured.
#[test]
fn a_daemon_with_another_trusted_root_is_named_on_the_terminal() {
    let tb = Testbed::start();
    let d = Daemon::start_env(&tb, &[("GITSIGN_TRUSTED_ROOT", "")], Stdio::null());
    let (code, stdout, stderr) = common::sign_direct(
        &tb,
        &[
            ("GITSIGN_CREDENTIAL_CACHE", d.socket.display().to_string()),
            ("GITSIGN_TOKEN_PROVIDER", "environment".into()),
            (
                "SIGSTORE_ID_TOKEN",
                tb.token("testbed-user@example.com", 600),
            ),
        ],
    );
    assert_eq!(code, Some(0), "{stderr}");
    assert!(String::from_utf8_lossy(&stdout).contains("BEGIN SIGNED MESSAGE"));
    assert!(
        stderr.contains("could not store the credential")
            && stderr.contains("not cached")
            && stderr.contains("trusted root"),
        "{stderr}"
    );
    let listing = gitsign::cache::client::Client::new(d.socket.clone())
        .list()
        .unwrap();
    assert!(listing.entries.is_empty());
}
