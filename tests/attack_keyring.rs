//! Attacks on the daemon-less credential cache in the kernel keyring
//! (`gitsign.credentialCache = keyring`, src/cache/keyring.rs), each
//! through `git commit -S`: another local user planting, reading or
//! linking entries, a signer whose session keyring does not reach the user
//! keyring (a system service's private keyring), and malformed entries.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::{proc_keys_line, text, timeout_of, Repo, Testbed};

const NOBODY: &str = "65534";

/// A repository whose signatures go through the kernel keyring, one scope
/// per repository (so that parallel tests' entries stay apart).
fn signer(tb: &Testbed, tag: &str) -> Repo {
    let mut repo = Repo::new(tag);
    repo.env.extend(tb.gitsign_env());
    repo.env
        .push(("GITSIGN_TOKEN_PROVIDER".into(), "interactive".into()));
    repo.env
        .push(("GITSIGN_CREDENTIAL_CACHE_MODE".into(), "keyring".into()));
    repo.env
        .push(("GITSIGN_CACHE_PER_REPO".into(), "true".into()));
    repo.env.push((
        "GITSIGN_LOG".into(),
        repo.dir.path().join("gitsign.log").display().to_string(),
    ));
    repo
}

/// The cache key (and so the entry's name) of `repo`'s signatures.
fn key_of(tb: &Testbed, repo: &Repo) -> gitsign::cache::proto::CacheKey {
    gitsign::cache::proto::CacheKey {
        fulcio: tb.var("GITSIGN_FULCIO_URL").into(),
        issuer: tb.var("GITSIGN_OIDC_ISSUER").into(),
        client_id: "sigstore".into(),
        scope: repo
            .path()
            .join(".git")
            .canonicalize()
            .unwrap()
            .display()
            .to_string(),
        identity: "test@example.com".into(),
    }
}

fn logins(tb: &Testbed) -> u64 {
    tb.stats()["opener_calls"].as_u64().unwrap()
}

/// `args` run by `program` with `repo`'s environment, in its work tree.
fn wrapped(repo: &Repo, program: &str, pre: &[&str], args: &[&str]) -> Output {
    let base = repo.git_cmd(args);
    let mut c = Command::new(program);
    c.args(pre).arg("git").args(args);
    for (k, v) in base.get_envs() {
        match v {
            Some(v) => c.env(k, v),
            None => c.env_remove(k),
        };
    }
    c.current_dir(base.get_current_dir().unwrap());
    c.output().unwrap()
}

/// `command` (a shell command line) run on a pseudo-terminal with `repo`'s
/// environment, in its work tree; stdout is what the terminal received.
fn on_a_terminal(repo: &Repo, command: &str) -> Output {
    let base = repo.git_cmd(&[]);
    let mut c = Command::new("script");
    c.args(["-q", "-e", "-c", command, "/dev/null"])
        .env("SHELL", "/bin/sh");
    for (k, v) in base.get_envs() {
        match v {
            Some(v) => c.env(k, v),
            None => c.env_remove(k),
        };
    }
    c.current_dir(base.get_current_dir().unwrap());
    c.output()
        .expect("util-linux's script runs (Debian package bsdutils; tests/run installs it)")
}

fn commit(repo: &Repo, n: usize) {
    std::fs::write(repo.path().join(format!("f{n}")), format!("{n}\n")).unwrap();
    repo.git_ok(&["add", "."]);
    let o = repo.git(&["commit", "-q", "-S", "-m", "change"]);
    assert!(o.status.success(), "{}", text(&o));
}

/// A signed commit made from a new anonymous session keyring, one that
/// does not link the user keyring: what a system service run as the user
/// gets (systemd's default `KeyringMode=private`), or `keyctl session -`.
fn commit_in_private_session(repo: &Repo, n: usize) -> Output {
    std::fs::write(repo.path().join(format!("f{n}")), format!("{n}\n")).unwrap();
    repo.git_ok(&["add", "."]);
    wrapped(
        repo,
        "keyctl",
        &["session", "-"],
        &["commit", "-q", "-S", "-m", "change"],
    )
}

fn as_nobody(args: &[&str]) -> Output {
    Command::new("setpriv")
        .args([
            &format!("--reuid={NOBODY}"),
            &format!("--regid={NOBODY}"),
            "--clear-groups",
            "--",
        ])
        .args(args)
        .output()
        .unwrap()
}

fn committer_cert_subject(repo: &Repo) -> String {
    let o = repo.git(&["verify-commit", "HEAD"]);
    assert!(o.status.success(), "{}", text(&o));
    text(&o)
}

/// Finding: a signer whose session keyring does not reach the user keyring
/// (a system service run as the user, `keyctl session`) created the entry
/// in `@u` but, not possessing it, could not set its timeout nor remove it
/// again: the private key stayed in kernel memory with no timeout, past
/// its certificate, and no later signature was ever served from it. The
/// entry must carry its timeout, and be the one the user's ordinary
/// sessions are served from.
#[test]
fn an_entry_stored_from_a_private_session_keyring_keeps_its_timeout() {
    let _keyring = common::keyring_lock();
    let tb = Testbed::start();
    let repo = signer(&tb, "ring-private-session");
    let key = key_of(&tb, &repo);
    let name = gitsign::cache::keyring::description(&key);
    let _ = gitsign::cache::keyring::clear(&key);
    let before = logins(&tb);
    let o = commit_in_private_session(&repo, 1);
    assert!(o.status.success(), "{}", text(&o));
    let timeout = timeout_of(&name);
    let _cleanup = Cleanup(key.clone());
    assert!(
        timeout.as_deref() != Some("perm"),
        "the entry stored from a private session keyring has no timeout: {:?}",
        proc_keys_line(&name)
    );
    assert!(timeout.is_some(), "no entry was stored");
    assert_eq!(logins(&tb), before + 1);
    // The user's other sessions, and the private one, are served from it.
    commit(&repo, 2);
    assert_eq!(logins(&tb), before + 1, "the entry was not served");
    let o = commit_in_private_session(&repo, 3);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        logins(&tb),
        before + 1,
        "the entry was not served to a private session keyring"
    );
}

/// Removes the entry when the test ends, pass or fail.
struct Cleanup(gitsign::cache::proto::CacheKey);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = gitsign::cache::keyring::clear(&self.0);
    }
}

/// Held: another local user cannot see, read, describe, link or time out
/// the victim's entry (its id is learnt here from the victim's
/// /proc/keys, as a guess would find it), reach it by its name or through
/// the victim's persistent keyring, or link a key of theirs into the
/// victim's user keyring.
#[test]
#[cfg_attr(
    gitsign_skip_root,
    ignore = "needs root to act as another user (GITSIGN_TEST_SKIP_ROOT=1 was set)"
)]
fn another_user_cannot_read_or_touch_the_entry() {
    let _keyring = common::keyring_lock();
    common::require_root("setpriv runs keyctl as nobody");
    let tb = Testbed::start();
    let repo = signer(&tb, "ring-nobody-read");
    let key = key_of(&tb, &repo);
    let _cleanup = Cleanup(key.clone());
    let name = gitsign::cache::keyring::description(&key);
    commit(&repo, 1);
    let line = proc_keys_line(&name).expect("no entry");
    let id = i64::from_str_radix(line.split_whitespace().next().unwrap(), 16)
        .unwrap()
        .to_string();
    for op in [
        vec!["keyctl", "read", &id],
        vec!["keyctl", "pipe", &id],
        vec!["keyctl", "print", &id],
        vec!["keyctl", "describe", &id],
        vec!["keyctl", "timeout", &id, "0"],
        vec!["keyctl", "setperm", &id, "0x3f3f3f3f"],
        vec!["keyctl", "link", &id, "@u"],
        vec!["keyctl", "invalidate", &id],
        vec!["keyctl", "revoke", &id],
        vec!["keyctl", "update", &id, "x"],
        // The victim's persistent keyring, and the name in nobody's own.
        vec!["keyctl", "get_persistent", "@u", "0"],
        vec!["keyctl", "search", "@u", "user", &name],
        vec!["keyctl", "search", "@s", "user", &name],
    ] {
        let o = as_nobody(&op);
        assert!(!o.status.success(), "{op:?} worked as nobody: {}", text(&o));
    }
    let o = as_nobody(&["cat", "/proc/keys"]);
    assert!(
        !text(&o).contains(gitsign::cache::keyring::PREFIX),
        "nobody sees gitsign entries: {}",
        text(&o)
    );
    // The victim's user keyring, by id: no link into it.
    let user = String::from_utf8(
        Command::new("keyctl")
            .args(["show", "@u"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let user_id = user
        .lines()
        .nth(1)
        .and_then(|l| l.split_whitespace().next())
        .unwrap()
        .to_string();
    let planted = as_nobody(&[
        "sh",
        "-c",
        &format!("k=$(keyctl add user {name} planted @u) && keyctl link $k {user_id}"),
    ]);
    assert!(!planted.status.success(), "{}", text(&planted));
    // Still the victim's entry, still served.
    let before = logins(&tb);
    commit(&repo, 2);
    assert_eq!(logins(&tb), before);
    let _ = as_nobody(&["keyctl", "purge", "user"]);
}

/// Held: another local user's key under the very name gitsign reads, open
/// to everyone (perm 0x3f3f3f3f), in their own user keyring: the victim's
/// signature never reads it (a login, the victim's certificate), and the
/// victim's `gitsign cache clear` neither removes it nor fails on it.
#[test]
#[cfg_attr(
    gitsign_skip_root,
    ignore = "needs root to act as another user (GITSIGN_TEST_SKIP_ROOT=1 was set)"
)]
fn another_users_key_under_the_entry_name_is_never_used_nor_cleared() {
    let _keyring = common::keyring_lock();
    common::require_root("setpriv runs keyctl as nobody");
    let tb = Testbed::start();
    let repo = signer(&tb, "ring-nobody-plant");
    let key = key_of(&tb, &repo);
    let _cleanup = Cleanup(key.clone());
    let name = gitsign::cache::keyring::description(&key);
    let _ = gitsign::cache::keyring::clear(&key);
    // A well-formed entry: a credential for mallory, valid for the root.
    let mallory = {
        let http = gitsign::sigstore::http::Http::new(std::time::Duration::from_secs(20)).unwrap();
        let root = gitsign::sigstore::trust::TrustedRoot::from_file(Path::new(
            tb.var("GITSIGN_TRUSTED_ROOT"),
        ))
        .unwrap();
        let fulcio =
            gitsign::sigstore::fulcio::FulcioClient::new(tb.var("GITSIGN_FULCIO_URL"), http);
        gitsign::sign::request_credential(
            &fulcio,
            &tb.token("mallory@evil.example", 600),
            "mallory@evil.example",
            &root,
            gitsign::encoding::time::now(),
        )
        .unwrap()
    };
    let bytes =
        gitsign::cache::keyring::encode(&gitsign::cache::to_cache(&mallory).unwrap()).unwrap();
    let file = repo.dir.path().join("planted");
    std::fs::write(&file, &bytes[..]).unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(repo.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let o = as_nobody(&[
        "sh",
        "-c",
        &format!(
            "k=$(keyctl padd user {name} @u < {}) && keyctl setperm $k 0x3f3f3f3f",
            file.display()
        ),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let before = logins(&tb);
    commit(&repo, 1);
    assert_eq!(logins(&tb), before + 1, "the planted entry was used");
    let who = committer_cert_subject(&repo);
    assert!(!who.contains("mallory"), "{who}");
    let o = repo.gitsign(&["cache", "clear"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = as_nobody(&["keyctl", "search", "@u", "user", &name]);
    assert!(
        o.status.success(),
        "the victim's clear removed nobody's key"
    );
    let _ = as_nobody(&["keyctl", "purge", "user"]);
}

/// Held: malformed entries under the name gitsign reads (as a corrupt or
/// foreign writer of the user's own uid would leave them: empty-looking,
/// truncated, a key length past the end, an older release's JSON, a huge
/// payload) never fail or hang a signature: one login each, and the entry
/// is replaced by a good one with a timeout.
#[test]
fn malformed_entries_mean_a_login_and_a_replacement() {
    let _keyring = common::keyring_lock();
    let tb = Testbed::start();
    let repo = signer(&tb, "ring-malformed");
    let key = key_of(&tb, &repo);
    let _cleanup = Cleanup(key.clone());
    let name = gitsign::cache::keyring::description(&key);
    let mut huge = b"GSC1".to_vec();
    huge.extend_from_slice(&i64::MAX.to_be_bytes());
    huge.extend_from_slice(&u16::MAX.to_be_bytes());
    huge.resize(16_000, 0x30);
    let payloads: Vec<Vec<u8>> = vec![
        b"x".to_vec(),
        b"GSC1".to_vec(),
        [
            b"GSC1".as_slice(),
            &i64::MAX.to_be_bytes(),
            &[0xff, 0xff],
            b"abc",
        ]
        .concat(),
        [
            b"GSC1".as_slice(),
            &i64::MAX.to_be_bytes(),
            &[0, 0],
            b"\x30\x00",
        ]
        .concat(),
        br#"{"private_key_pkcs8_b64":"","chain_pem":"","identity":"","expires_at":9999999999}"#
            .to_vec(),
        huge,
    ];
    let mut n = 0;
    for p in payloads {
        let file = repo.dir.path().join("payload");
        std::fs::write(&file, &p).unwrap();
        let o = Command::new("sh")
            .args([
                "-c",
                &format!("keyctl padd user {name} @u < {}", file.display()),
            ])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o));
        let before = logins(&tb);
        n += 1;
        commit(&repo, n);
        assert_eq!(logins(&tb), before + 1, "payload {p:?}");
        let t = timeout_of(&name).expect("not replaced");
        assert_ne!(t, "perm", "the replacement has no timeout");
        n += 1;
        commit(&repo, n);
        assert_eq!(logins(&tb), before + 1, "the replacement was not served");
    }
}

/// Root's kernel key quota cut to what is in use, restored when dropped.
struct TightQuota(String);

impl TightQuota {
    const FILE: &'static str = "/proc/sys/kernel/keys/root_maxbytes";

    fn new() -> TightQuota {
        let old = std::fs::read_to_string(Self::FILE).unwrap();
        let users = std::fs::read_to_string("/proc/key-users").unwrap();
        // "    0:    11 10/10 3/1000000 1736/25000000": bytes in use / quota.
        let used: u64 = users
            .lines()
            .find(|l| l.trim_start().starts_with("0:"))
            .and_then(|l| l.split_whitespace().nth(4))
            .and_then(|f| f.split('/').next())
            .and_then(|n| n.parse().ok())
            .expect("root's line in /proc/key-users");
        std::fs::write(Self::FILE, (used + 16).to_string()).unwrap_or_else(|e| {
            panic!(
                "cannot lower root's kernel key quota ({}: {e}): this test needs root with a \
                 writable /proc/sys",
                Self::FILE
            )
        });
        TightQuota(old)
    }
}

impl Drop for TightQuota {
    fn drop(&mut self) {
        let _ = std::fs::write(Self::FILE, self.0.trim());
    }
}

/// A full kernel key quota (many repositories with `cachePerRepo`, or
/// other programs' keys): each signature is still made, after a login,
/// and the signer is told, not only the log, why every signature logs in
/// and what to do. Once there is room, the entry is stored and served.
#[test]
#[cfg_attr(
    gitsign_skip_root,
    ignore = "needs root to lower the kernel key quota (GITSIGN_TEST_SKIP_ROOT=1 was set)"
)]
fn a_full_key_quota_is_told_to_the_signer() {
    let _keyring = common::keyring_lock();
    common::require_root("the test lowers root's kernel key quota");
    let tb = Testbed::start();
    let repo = signer(&tb, "ring-quota");
    let key = key_of(&tb, &repo);
    let _cleanup = Cleanup(key.clone());
    let _ = gitsign::cache::keyring::clear(&key);
    let name = gitsign::cache::keyring::description(&key);
    let before = logins(&tb);
    {
        let _quota = TightQuota::new();
        for n in 1..=2 {
            std::fs::write(repo.path().join(format!("f{n}")), "x\n").unwrap();
            repo.git_ok(&["add", "."]);
            // git keeps a signer's stderr to itself when signing works:
            // what gitsign tells the signer goes to the terminal.
            let o = on_a_terminal(&repo, "git commit -q -S -m change");
            let said = text(&o);
            assert!(o.status.success(), "{said}");
            assert!(said.contains("key quota is full"), "{said}");
            assert!(said.contains("gitsign cache clear"), "{said}");
            assert!(said.contains("every signature logs in"), "{said}");
            assert_eq!(logins(&tb), before + n as u64);
        }
        assert_eq!(proc_keys_line(&name), None, "an entry was stored");
    }
    commit(&repo, 3);
    commit(&repo, 4);
    assert_eq!(logins(&tb), before + 3, "the entry was not stored again");
    assert!(timeout_of(&name).is_some());
}
