//! The credential cache with real signing: one login for a 50-commit
//! rebase, one login for 8 concurrent cold signers, entries inside their
//! expiry margin never served, a killed daemon recovers, no key bytes in any file, and the
//! daemon-less kernel keyring.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{text, Daemon, Repo, TempDir, Testbed};

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
    let marks = repo.resign_since(&base);
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
            let mut c = common::gitsign_command();
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

// The cache serves a credential until its certificate's notAfter less a
// margin (`gitsign::cache::margin`: a tenth of the lifetime, at most 60 s),
// so that a signature never starts with a certificate about to expire. The
// two tests below make the margin decide the outcome, with wide slack for a
// slow machine: the testbed issues 600 s certificates (margin 60 s) whose
// notBefore lies in the past (`certBackdate`), so that they have 30 s or
// 70 s left when issued. Without the margin both would be served.

/// A certificate whose remaining life is inside the margin when it is
/// issued is never cached: the next signature logs in again.
#[test]
fn a_certificate_inside_its_margin_is_never_served_from_the_cache() {
    let tb = Testbed::start();
    tb.config("certTtl", 600.into());
    tb.config("certBackdate", 570.into()); // 30 s left, margin 60 s
    let d = Daemon::start(&tb);
    let repo = signer(&tb, "margin-store", Some(&d.socket));
    commit(&repo, 1, true);
    assert_eq!(logins(&tb), 1);
    commit(&repo, 2, true);
    assert_eq!(
        logins(&tb),
        2,
        "a certificate with 30 s left (inside its 60 s margin) was served from the cache\n\
         the daemon said:\n{}",
        d.stderr()
    );
    let log = std::fs::read_to_string(repo.dir.path().join("gitsign.log")).unwrap_or_default();
    assert!(
        log.contains("so it was not cached"),
        "gitsign's log does not say why the credential was not cached:\n{log}"
    );
    verify_range(&tb, &repo, "HEAD~1");
}

/// A cached certificate stops being served once its remaining life enters
/// the margin, though it is still valid: here stored with 70 s left, served
/// for 10 s, then a login.
#[test]
fn a_cached_certificate_is_not_served_once_inside_its_margin() {
    let tb = Testbed::start();
    tb.config("certTtl", 600.into());
    tb.config("certBackdate", 530.into()); // 70 s left: served for 10 s
    let d = Daemon::start(&tb);
    let repo = signer(&tb, "margin-serve", Some(&d.socket));
    commit(&repo, 1, true);
    // The certificate was issued before this instant, so it is served
    // until at most 10 s from here.
    let stored = std::time::Instant::now();
    commit(&repo, 2, true);
    assert_eq!(
        logins(&tb),
        1,
        "the cached credential was not served within its first 10 s (commit 2 took {:?}); \
         the daemon said:\n{}",
        stored.elapsed(),
        d.stderr()
    );
    std::thread::sleep(Duration::from_secs(11).saturating_sub(stored.elapsed()));
    commit(&repo, 3, true);
    assert_eq!(
        logins(&tb),
        2,
        "a certificate with about 59 s left (inside its 60 s margin) was served from the cache; \
         the daemon said:\n{}",
        d.stderr()
    );
    verify_range(&tb, &repo, "HEAD~2");
}

/// Every signature from `first` to HEAD verifies at its log time, inside its
/// certificate.
fn verify_range(tb: &Testbed, repo: &Repo, first: &str) {
    let o = repo.gitsign(&[
        "verify",
        "--certificate-identity",
        tb.var("TESTBED_EMAIL"),
        "--certificate-oidc-issuer",
        tb.var("GITSIGN_OIDC_ISSUER"),
        &format!("{first}..HEAD"),
        first,
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
    let http = gitsign::sigstore::http::Http::new(Duration::from_secs(20)).unwrap();
    let root =
        gitsign::sigstore::trust::TrustedRoot::from_file(Path::new(tb.var("GITSIGN_TRUSTED_ROOT")))
            .unwrap();
    let fulcio = gitsign::sigstore::fulcio::FulcioClient::new(tb.var("GITSIGN_FULCIO_URL"), http);
    let token = tb.token(email, 600);
    let now = gitsign::encoding::time::now();
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
    let signed = gitsign::git::gitobj::split_commit(&object, gitsign::git::gitobj::HashAlgo::Sha1)
        .unwrap()
        .expect("a signed commit");
    let der = gitsign::pki::cms::unarmor(&signed.signature).unwrap();
    let sd = gitsign::pki::cms::SignedData::from_der(&der).unwrap();
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

/// [`signer`] with the kernel keyring cache and a per-repository scope
/// (which keeps parallel tests' entries apart).
fn keyring_signer(tb: &Testbed, tag: &str) -> Repo {
    let mut repo = signer(tb, tag, None);
    repo.env
        .push(("GITSIGN_CREDENTIAL_CACHE_MODE".into(), "keyring".into()));
    repo.env
        .push(("GITSIGN_CACHE_PER_REPO".into(), "true".into()));
    repo
}

#[test]
fn kernel_keyring_without_a_daemon() {
    let _keyring = common::keyring_lock();
    let tb = Testbed::start();
    let repo = keyring_signer(&tb, "keyring");
    commit(&repo, 1, true);
    commit(&repo, 2, true);
    commit(&repo, 3, true);
    assert_eq!(logins(&tb), 1, "{}", tb.stats());
    let o = repo.gitsign(&["cache", "status"]);
    assert!(text(&o).contains("a credential for"), "{}", text(&o));
    // Every gitsign entry goes (other tests' too, which may be there).
    let o = repo.gitsign(&["cache", "clear"]);
    assert!(
        o.status.success()
            && text(&o).contains("removed")
            && !text(&o).contains("nothing to remove"),
        "{}",
        text(&o)
    );
    let o = repo.gitsign(&["cache", "status"]);
    assert!(text(&o).contains("no credential cached"), "{}", text(&o));
    commit(&repo, 4, true);
    assert_eq!(logins(&tb), 2, "cleared, so a new login");
}

/// `cmd` in a session keyring that was revoked, as pam_keyinit revokes a
/// login's when the login ends: what a tmux or a nohup job left running
/// after logout signs from. Keys there reach the user keyring only
/// through it, so nothing added straight to the user keyring is possessed.
fn in_an_ended_login(cmd: Command) -> Command {
    let mut w = Command::new("keyctl");
    w.args([
        "session",
        "-",
        "sh",
        "-c",
        "keyctl revoke @s >/dev/null && exec \"$@\"",
        "sh",
    ]);
    w.arg(cmd.get_program()).args(cmd.get_args());
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => w.env(k, v),
            None => w.env_remove(k),
        };
    }
    if let Some(d) = cmd.get_current_dir() {
        w.current_dir(d);
    }
    w
}

/// The kernel keyring from processes whose login ended (a tmux, a nohup
/// job): each signature in its own revoked session keyring. The first
/// logs in and caches, with the kernel timeout; the second is served from
/// the cache. (Adding straight to the user keyring left the entry neither
/// timed nor readable there: "setting the keyring timeout failed
/// (AccessDenied)", a login every commit.)
#[test]
fn kernel_keyring_after_the_login_ended() {
    let _keyring = common::keyring_lock();
    let tb = Testbed::start();
    let mut repo = keyring_signer(&tb, "ended-login");
    let log = repo.path().join("gitsign.log");
    repo.env
        .push(("GITSIGN_LOG".into(), log.display().to_string()));
    for n in 1..=2 {
        std::fs::write(repo.path().join(format!("f{n}")), format!("{n}\n")).unwrap();
        repo.git_ok(&["add", "."]);
        let o = in_an_ended_login(repo.git_cmd(&["commit", "-q", "-S", "-m", "after logout"]))
            .output()
            .expect("keyctl is installed (tests/run installs keyutils)");
        assert!(o.status.success(), "{}", text(&o));
        assert!(!text(&o).contains("failed"), "{}", text(&o));
        // Signed and the signature good (U: this repository names no
        // expected identity, as elsewhere in this file).
        let mark = repo.git_ok(&["log", "-1", "--format=%G?"]);
        assert!(mark == "G" || mark == "U", "{mark}");
    }
    assert_eq!(
        logins(&tb),
        1,
        "the second commit used the cache: {}\n{}",
        tb.stats(),
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    let o = in_an_ended_login(repo.gitsign_cmd(&["cache", "status"]))
        .output()
        .unwrap();
    assert!(text(&o).contains("a credential for"), "{}", text(&o));
    let scope = repo.path().join(".git").canonicalize().unwrap();
    let key = gitsign::cache::proto::CacheKey {
        scope: scope.display().to_string(),
        identity: "test@example.com".into(),
        ..users_key(&tb)
    };
    let name = gitsign::cache::keyring::description(&key);
    let line = common::proc_keys_line(&name).expect("the entry is in the user keyring");
    let timeout = common::timeout_of(&name).unwrap();
    assert_ne!(timeout, "perm", "the entry has a kernel timeout: {line}");
}

/// Stores without a timeout of their own (the macOS Keychain, the Windows
/// Credential Manager) keep an entry past its expiry: the expiry in the
/// entry decides. Here an entry whose expiry passed, with a certificate
/// still valid, is written to the kernel keyring without a timeout, as
/// those stores hold it: refused as expired and removed, one login, and
/// its replacement has the kernel timeout and serves the next signature.
#[test]
fn an_expired_keyring_entry_without_a_timeout_is_refused_and_replaced() {
    let _keyring = common::keyring_lock();
    let tb = Testbed::start();
    let repo = keyring_signer(&tb, "expired-ring");
    let scope = repo.path().join(".git").canonicalize().unwrap();
    let key = gitsign::cache::proto::CacheKey {
        scope: scope.display().to_string(),
        identity: "test@example.com".into(),
        ..users_key(&tb)
    };
    let name = gitsign::cache::keyring::description(&key);
    let mut entry =
        gitsign::cache::to_cache(&credential_of(&tb, "test@example.com", None)).unwrap();
    entry.expires_at = gitsign::encoding::time::now() - 1;
    // Through the crate, into the user keyring, and no timeout set.
    let user =
        linux_keyutils::KeyRing::from_special_id(linux_keyutils::KeyRingIdentifier::User, false)
            .unwrap();
    let store =
        keyring::Entry::new_with_credential(Box::new(keyring::keyutils::KeyutilsCredential {
            session: user,
            persistent: None,
            description: name.clone(),
        }));
    store
        .set_secret(&gitsign::cache::keyring::encode(&entry).unwrap())
        .unwrap();
    let timeout_of = common::timeout_of;
    assert_eq!(timeout_of(&name).as_deref(), Some("perm"));
    let before = logins(&tb);
    commit(&repo, 1, true);
    assert_eq!(logins(&tb), before + 1, "the expired entry was used");
    let o = repo.git(&["verify-commit", "HEAD"]);
    assert!(o.status.success(), "{}", text(&o));
    // Replaced, with the kernel timeout this time.
    let timeout = timeout_of(&name).expect("the entry was not replaced");
    assert_ne!(timeout, "perm", "the replacement has no timeout");
    commit(&repo, 2, true);
    assert_eq!(logins(&tb), before + 1, "the replacement was not served");
    let _ = gitsign::cache::keyring::clear(&key);
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
                        "expires_at": gitsign::encoding::time::now() + 300}})
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
    let http = gitsign::sigstore::http::Http::new(Duration::from_secs(20)).unwrap();
    let root =
        gitsign::sigstore::trust::TrustedRoot::from_file(Path::new(tb.var("GITSIGN_TRUSTED_ROOT")))
            .unwrap();
    let fulcio = gitsign::sigstore::fulcio::FulcioClient::new(tb.var("GITSIGN_FULCIO_URL"), http);
    let token = tb.token("test@example.com", 600);
    let now = gitsign::encoding::time::now();
    let cred =
        gitsign::sign::request_credential(&fulcio, &token, "test@example.com", &root, now).unwrap();
    let chain_pem: String = cred
        .chain
        .iter()
        .map(|c| gitsign::encoding::pem::encode("CERTIFICATE", c.der()))
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

/// Run as `nobody` by `a_stand_in_socket_of_another_user_gets_nothing`
/// (with `--ignored`; inert without its variable): listens on the socket
/// named in the environment, answers like a daemon that wants the login
/// (`claimed`, then `ok`), and prints every byte it receives, hex, one line
/// per read.
#[test]
#[ignore = "a helper process, run as nobody by a_stand_in_socket_of_another_user_gets_nothing"]
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
            println!("GOT:{}", gitsign::encoding::asn1::hex_lower(&buf[..n]));
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
            "--ignored",
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
#[cfg_attr(
    gitsign_skip_root,
    ignore = "needs root to run a stand-in as nobody (GITSIGN_TEST_SKIP_ROOT=1 was set)"
)]
fn a_stand_in_socket_of_another_user_gets_nothing() {
    use std::os::unix::fs::PermissionsExt;
    common::require_root("setpriv runs a stand-in daemon as nobody");
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
        let store = gitsign::encoding::asn1::hex_lower(b"private_key_pkcs8_b64");
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
    let http = gitsign::sigstore::http::Http::new(Duration::from_secs(20)).unwrap();
    let fulcio = gitsign::sigstore::fulcio::FulcioClient::new(tb.var("GITSIGN_FULCIO_URL"), http);
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
        .map(|c| gitsign::encoding::pem::encode("CERTIFICATE", c.der()))
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
                        "expires_at": gitsign::encoding::time::now() + 300}}),
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
    let _keyring = common::keyring_lock();
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
    let repo = keyring_signer(&tb, "poisoned-ring");
    let scope = repo.path().join(".git").canonicalize().unwrap();
    let key = gitsign::cache::proto::CacheKey {
        fulcio: tb.var("GITSIGN_FULCIO_URL").into(),
        issuer: tb.var("GITSIGN_OIDC_ISSUER").into(),
        client_id: "sigstore".into(),
        scope: scope.display().to_string(),
        identity: "test@example.com".into(),
    };
    let rogue = rogue_credential(&tb, "test@example.com");
    gitsign::cache::keyring::store(&key, &rogue, gitsign::encoding::time::now()).unwrap();
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

/// Valid credentials (the trusted root's, with the embedded SCT) that are
/// still not for this signature: another identity's under
/// gitsign.matchCommitter, and one whose `expires_at` outlives its
/// certificate. From a same-uid stand-in daemon and from the kernel
/// keyring: refused (the expired one said to have expired, not to be
/// untrusted), a login follows, the commit is the committer's; the
/// keyring's entry is replaced, so the next signature is served.
#[test]
fn valid_credentials_for_another_identity_or_past_their_certificate_are_refused() {
    let _keyring = common::keyring_lock();
    let tb = Testbed::start();
    let matching = |repo: &mut Repo| {
        repo.git_ok(&["config", "gitsign.matchCommitter", "true"]);
        repo.env.retain(|(k, _)| k != "GITSIGN_TOKEN_PROVIDER");
        repo.env
            .push(("GITSIGN_TOKEN_PROVIDER".into(), "environment".into()));
        repo.env.push((
            "SIGSTORE_ID_TOKEN".into(),
            tb.token("test@example.com", 900),
        ));
    };
    let log_of = |repo: &Repo| {
        std::fs::read_to_string(repo.dir.path().join("gitsign.log")).unwrap_or_default()
    };
    let certificates = || tb.stats()["fulcio_certificates"].as_u64().unwrap();

    // The daemon stand-in serves mallory's credential (expires_at: now + 300).
    let dir = private_dir("identity-daemon");
    let socket = dir.path().join("cache.sock");
    poisoned_daemon(&socket, credential_of(&tb, "mallory@example.com", None));
    let mut repo = signer(&tb, "identity-daemon", Some(&socket));
    matching(&mut repo);
    let before = certificates();
    commit(&repo, 1, true);
    assert_eq!(certificates(), before + 1, "logged in");
    assert_eq!(
        repo.git_ok(&["log", "-1", "--format=%GS"]),
        "test@example.com"
    );
    let log = log_of(&repo);
    assert!(
        log.contains("refused") && log.contains("mallory@example.com"),
        "{log}"
    );

    // ... a 3-second certificate with expires_at = now + 300, served after
    // its certificate expired: an expiry, not a refusal.
    let dir = private_dir("outlived-daemon");
    let socket = dir.path().join("cache.sock");
    let short = credential_of(&tb, "test@example.com", Some(3));
    let not_after = short.leaf().not_after;
    poisoned_daemon(&socket, short);
    while gitsign::encoding::time::now() <= not_after {
        std::thread::sleep(Duration::from_millis(200));
    }
    let repo = signer(&tb, "outlived-daemon", Some(&socket));
    let before = logins(&tb);
    commit(&repo, 1, true);
    assert_eq!(logins(&tb), before + 1, "logged in");
    let log = log_of(&repo);
    assert!(log.contains("the cached certificate expire"), "{log}");
    assert!(
        !log.contains("cannot be trusted") && !log.contains("refused"),
        "{log}"
    );

    // The kernel keyring: mallory's credential under the committer's key.
    let mut repo = keyring_signer(&tb, "identity-ring");
    matching(&mut repo);
    let key = gitsign::cache::proto::CacheKey {
        scope: repo
            .path()
            .join(".git")
            .canonicalize()
            .unwrap()
            .display()
            .to_string(),
        ..users_key(&tb)
    };
    let mallory = credential_of(&tb, "mallory@example.com", None);
    gitsign::cache::keyring::store(&key, &mallory, gitsign::encoding::time::now()).unwrap();
    let before = certificates();
    commit(&repo, 1, true);
    commit(&repo, 2, true);
    assert_eq!(certificates(), before + 1, "replaced, then served");
    assert_eq!(
        repo.git_ok(&["log", "-1", "--format=%GS"]),
        "test@example.com"
    );
    assert!(
        log_of(&repo).contains("mallory@example.com"),
        "{}",
        log_of(&repo)
    );
    let _ = gitsign::cache::keyring::clear(&key);

    // ... and a 3-second certificate stored with expires_at = now + 3600:
    // gone with its certificate, replaced by one login.
    let mut repo = keyring_signer(&tb, "outlived-ring");
    matching(&mut repo);
    let key = gitsign::cache::proto::CacheKey {
        scope: repo
            .path()
            .join(".git")
            .canonicalize()
            .unwrap()
            .display()
            .to_string(),
        ..users_key(&tb)
    };
    let short = credential_of(&tb, "test@example.com", Some(3));
    let not_after = short.leaf().not_after;
    let mut entry = gitsign::cache::to_cache(&short).unwrap();
    entry.expires_at = gitsign::encoding::time::now() + 3600;
    gitsign::cache::keyring::store_entry(&key, &entry, gitsign::encoding::time::now()).unwrap();
    while gitsign::encoding::time::now() <= not_after {
        std::thread::sleep(Duration::from_millis(200));
    }
    let before = certificates();
    commit(&repo, 1, true);
    commit(&repo, 2, true);
    assert_eq!(certificates(), before + 1, "one login, then served");
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
/// signers fail: with the default login timeout, each says on the
/// terminal that it waits for another gitsign's login, waits at most
/// `cache::MAX_CLAIM_WAIT` (20 s), and logs in.
#[test]
fn a_held_claim_does_not_block_another_signer() {
    use std::io::Read;
    let tb = Testbed::start();
    let d = Daemon::start(&tb);
    let repo = signer(&tb, "heldclaim", Some(&d.socket));
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
    let took = start.elapsed();
    assert!(
        took >= gitsign::cache::MAX_CLAIM_WAIT && took < Duration::from_secs(40),
        "{took:?}"
    );
    assert_eq!(logins(&tb), 1);
    let o = repo.git(&["verify-commit", "HEAD"]);
    assert!(o.status.success(), "{}", text(&o));
    // Said where the user looks (the terminal, and the log).
    let log = std::fs::read_to_string(repo.dir.path().join("gitsign.log")).unwrap();
    assert!(
        log.contains("waiting up to 20 s for another gitsign's login"),
        "{log}"
    );
    drop(held);
}

/// A daemon that trusts another root than gitsign (here the embedded
/// public-good one, not the testbed's) refuses to cache the testbed's
/// credentials: signing works, and the terminal says why, since every
/// signature would log in until the daemon is configured.
#[test]
fn a_daemon_with_another_trusted_root_is_named_on_the_terminal() {
    let tb = Testbed::start();
    let d = Daemon::start_env(&tb, &[("GITSIGN_TRUSTED_ROOT", "")], None);
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

// ---------------------------------------------------------------------------
// Attacks by a client of the daemon that is not the user's own gitsign (the
// far end of an SSH-forwarded socket, or any process that reaches it).

/// A credential the testbed's Fulcio issued for `email` (valid for the
/// trusted root), with a certificate living `ttl` seconds when given: what
/// a stranger with their own account gets from the same Fulcio.
fn credential_of(tb: &Testbed, email: &str, ttl: Option<u64>) -> gitsign::sign::Credential {
    let http = gitsign::sigstore::http::Http::new(Duration::from_secs(20)).unwrap();
    let root =
        gitsign::sigstore::trust::TrustedRoot::from_file(Path::new(tb.var("GITSIGN_TRUSTED_ROOT")))
            .unwrap();
    let fulcio = gitsign::sigstore::fulcio::FulcioClient::new(tb.var("GITSIGN_FULCIO_URL"), http);
    if let Some(s) = ttl {
        tb.fault("fulcio", "cert-ttl", Some(1), Some(s.into()));
    }
    gitsign::sign::request_credential(
        &fulcio,
        &tb.token(email, 600),
        email,
        &root,
        gitsign::encoding::time::now(),
    )
    .unwrap()
}

/// The cache key the user's signatures in `signer` repositories ask for
/// (git passes `-u "Test <test@example.com>"`; under matchCommitter the
/// committer is the same address).
fn users_key(tb: &Testbed) -> gitsign::cache::proto::CacheKey {
    gitsign::cache::proto::CacheKey {
        fulcio: tb.var("GITSIGN_FULCIO_URL").into(),
        issuer: tb.var("GITSIGN_OIDC_ISSUER").into(),
        client_id: "sigstore".into(),
        scope: String::new(),
        identity: "test@example.com".into(),
    }
}

/// Another client of the daemon (the far end of a forwarded socket) stores
/// a credential of its own identity, valid for the trusted root, under the
/// key the user's signatures ask for (`Store` needs no claim and the daemon
/// does not compare the certificate's identity with the key's). Under
/// gitsign.matchCommitter the user's next signature must not fail because
/// of it: an entry for another identity than the one asked for is refused
/// like a poisoned one, a login follows, and the commit is signed by the
/// committer. Today the entry is served and `git commit -S` fails
/// ("the certificate identity mallory@... does not match the committer").
#[test]
fn a_credential_another_client_stored_for_another_identity_does_not_fail_signing() {
    let tb = Testbed::start();
    let d = Daemon::start(&tb);
    let mut repo = signer(&tb, "foreign-identity", Some(&d.socket));
    repo.git_ok(&["config", "gitsign.matchCommitter", "true"]);
    repo.env.retain(|(k, _)| k != "GITSIGN_TOKEN_PROVIDER");
    repo.env
        .push(("GITSIGN_TOKEN_PROVIDER".into(), "environment".into()));
    repo.env.push((
        "SIGSTORE_ID_TOKEN".into(),
        tb.token("test@example.com", 900),
    ));
    let mallory = credential_of(&tb, "mallory@example.com", None);
    gitsign::cache::client::Client::new(d.socket.clone())
        .store(
            &users_key(&tb),
            &gitsign::cache::to_cache(&mallory).unwrap(),
        )
        .expect("the daemon caches another identity's credential under the user's key");
    commit(&repo, 1, true);
    assert_eq!(
        repo.git_ok(&["log", "-1", "--format=%GS"]),
        "test@example.com"
    );
    let o = repo.git(&["verify-commit", "HEAD"]);
    assert!(o.status.success(), "{}", text(&o));
}

/// Another client stores a valid credential whose `expires_at` (the
/// client's word) lies an hour past its certificate's notAfter. The daemon
/// keeps serving it after the certificate expired; gitsign treats the hit
/// as "about to expire", logs in and does not replace it (only refused
/// entries are replaced), so every later signature logs in too, silently
/// (the reason goes to the log only), until the daemon restarts. Expected:
/// a credential is never served past its certificate (or a stale hit is
/// replaced by the login it caused): one login serves the three commits.
#[test]
fn an_entry_stored_to_outlive_its_certificate_does_not_make_every_signature_log_in() {
    let tb = Testbed::start();
    let d = Daemon::start(&tb);
    let repo = signer(&tb, "outlive", Some(&d.socket));
    let short = credential_of(&tb, "mallory@example.com", Some(3));
    let not_after = short.leaf().not_after;
    let mut stored = gitsign::cache::to_cache(&short).unwrap();
    stored.expires_at = gitsign::encoding::time::now() + 3600;
    gitsign::cache::client::Client::new(d.socket.clone())
        .store(&users_key(&tb), &stored)
        .unwrap();
    while gitsign::encoding::time::now() <= not_after {
        std::thread::sleep(Duration::from_millis(200));
    }
    let before = logins(&tb);
    for n in 1..=3 {
        commit(&repo, n, true);
    }
    let o = repo.git(&["verify-commit", "HEAD"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        logins(&tb),
        before + 1,
        "every signature logged in: the stale entry was never replaced ({})",
        std::fs::read_to_string(repo.dir.path().join("gitsign.log")).unwrap_or_default()
    );
}

/// `a_held_claim_does_not_block_another_signer` sets gitsign.loginTimeout
/// to 3 s. With the default (300 s), a client that claims the user's key
/// and never stores (the far end of a forwarded socket can re-claim it
/// forever) makes every signature hang, silently, for five minutes before
/// it logs in: a 50-commit rebase takes over four hours. Expected: a held
/// claim costs a signer no more than a bounded, short wait (here: the
/// commit, whose own login takes about a second, finishes within 30 s).
#[test]
fn a_held_claim_does_not_hang_a_signer_for_the_default_login_timeout() {
    use std::io::Read;
    let tb = Testbed::start();
    let d = Daemon::start(&tb);
    let repo = signer(&tb, "heldclaim-default", Some(&d.socket));
    let request = serde_json::json!({
        "version": gitsign::cache::proto::VERSION,
        "op": "get", "key": users_key(&tb), "claim": true, "wait_ms": 0,
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
    std::fs::write(repo.path().join("f1"), "1\n").unwrap();
    repo.git_ok(&["add", "."]);
    let mut git = repo
        .git_cmd(&["commit", "-q", "-S", "-m", "change"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    let status = loop {
        if let Some(s) = git.try_wait().unwrap() {
            break Some(s);
        }
        if start.elapsed() > Duration::from_secs(30) {
            // Ours to stop, by pid: the gitsign that git started, then git.
            let children = format!("/proc/{0}/task/{0}/children", git.id());
            for pid in std::fs::read_to_string(children)
                .unwrap_or_default()
                .split_whitespace()
            {
                let _ = Command::new("kill").arg(pid).status();
            }
            let _ = git.kill();
            let _ = git.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    drop(held);
    drop(d);
    let status = status
        .unwrap_or_else(|| panic!("the commit still waited for another client's claim after 30 s"));
    assert!(status.success());
}

/// Under gitsign.matchCommitter, a login as the wrong account (another
/// browser profile; or another local user who read the login URL and
/// finished the login with their own account) is refused for this commit,
/// as it should be, but it is cached under the committer's key first: the
/// next signatures are served that credential and fail the same way for
/// the certificate's whole life (ten minutes), although the error says to
/// "sign in as" the committer, and no login is offered. Expected: after
/// logging in as the right account, the next commit signs.
#[test]
fn a_login_as_the_wrong_account_under_match_committer_does_not_stick() {
    let tb = Testbed::start();
    let d = Daemon::start(&tb);
    let repo = signer(&tb, "wrong-account", Some(&d.socket));
    repo.git_ok(&["config", "gitsign.matchCommitter", "true"]);
    tb.account("someone-else@example.com");
    std::fs::write(repo.path().join("f1"), "1\n").unwrap();
    repo.git_ok(&["add", "."]);
    let o = repo.git(&["commit", "-q", "-S", "-m", "first"]);
    assert!(
        !o.status.success() && text(&o).contains("does not match the committer"),
        "{}",
        text(&o)
    );
    // The user signs in as the committer this time.
    tb.account("test@example.com");
    let o = repo.git(&["commit", "-q", "-S", "-m", "second"]);
    assert!(
        o.status.success(),
        "the wrong account's cached credential still answers: {}",
        text(&o)
    );
    assert_eq!(
        repo.git_ok(&["log", "-1", "--format=%GS"]),
        "test@example.com"
    );
}
