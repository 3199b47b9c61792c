//! Trust from a TUF repository, through real git, against the testbed's
//! mirror (metadata made by python-tuf, not by the client under test):
//! `gitsign initialize` in a fresh HOME, then signing and verification
//! with no service or trust setting at all; a new trusted root version; a
//! root key rotation; expired, rolled-back, badly signed and oversized
//! metadata refused with the last good root kept and the cache unchanged;
//! a tampered target refused; the mirror down; expired cached metadata and
//! an unusable cache refused (never used, never replaced by the embedded
//! root).

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Output;

use common::{text, Repo, TempDir, Testbed};
use serde_json::json;

fn initialize(tb: &Testbed, repo: &Repo) -> Output {
    repo.gitsign(&[
        "initialize",
        "--mirror",
        tb.var("TESTBED_TUF_MIRROR"),
        "--root",
        tb.var("TESTBED_TUF_ROOT"),
    ])
}

fn commit(repo: &Repo, file: &str, extra_env: &[(&str, &str)]) -> Output {
    std::fs::write(repo.path().join(file), file).unwrap();
    repo.git_ok(&["add", file]);
    let mut c = repo.git_cmd(&["commit", "-q", "-S", "-m", file]);
    c.envs(extra_env.iter().copied());
    c.output().unwrap()
}

fn verify(repo: &Repo, rev: &str, extra_env: &[(&str, &str)]) -> Output {
    let mut c = repo.git_cmd(&["verify-commit", rev]);
    c.envs(extra_env.iter().copied());
    c.output().unwrap()
}

fn tuf(tb: &Testbed, action: &str, value: Option<i64>) {
    let mut b = json!({ "action": action });
    if let Some(v) = value {
        b["value"] = v.into();
    }
    tb.control("POST", "/tuf", Some(b));
}

fn version(repo: &Repo) -> String {
    text(&repo.gitsign(&["version"]))
}

const REFRESH_NOW: (&str, &str) = ("GITSIGN_TUF_REFRESH", "0");
const REFRESH_NEVER: (&str, &str) = ("GITSIGN_TUF_REFRESH", "never");

#[test]
fn initialize_then_sign_and_verify_with_nothing_configured() {
    let tb = Testbed::start();
    let repo = Repo::newcomer(&tb, "tuf-init");
    let mirror = tb.var("TESTBED_TUF_MIRROR");

    // No --root for a mirror that is not the public-good one: refused.
    let o = repo.gitsign(&["initialize", "--mirror", mirror]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("--root FILE is required") && text(&o).contains("no root on first use"),
        "{}",
        text(&o)
    );

    let o = initialize(&tb, &repo);
    assert!(o.status.success(), "initialize: {}", text(&o));
    let out = text(&o);
    for want in [
        &format!("Initialized trust from the TUF mirror {mirror}"),
        "TUF root version 1",
        "Fulcio CA",
        "Rekor log",
        "CT log",
        "TSA",
        tb.var("GITSIGN_FULCIO_URL"),
        tb.var("GITSIGN_REKOR_URL"),
    ] {
        assert!(
            out.contains(want),
            "initialize output lacks {want:?}:\n{out}"
        );
    }
    let cache = repo.dir.path().join("home/.cache/gitsign/tuf");
    use std::os::unix::fs::MetadataExt;
    for entry in std::fs::read_dir(&cache).unwrap() {
        let e = entry.unwrap();
        if e.file_type().unwrap().is_dir() {
            assert_eq!(
                e.metadata().unwrap().mode() & 0o777,
                0o700,
                "{:?}",
                e.path()
            );
        }
    }

    // Signing uses the services the signing config names: Fulcio, the OIDC
    // issuer, Rekor and the TSA.
    let o = commit(&repo, "a.txt", &[]);
    assert!(o.status.success(), "commit -S: {}", text(&o));
    let stats = tb.stats();
    assert_eq!(stats["fulcio_certificates"], 1, "{stats}");
    assert_eq!(stats["rekor_entries"], 1, "{stats}");
    assert_eq!(stats["tsa_timestamps"], 1, "{stats}");
    assert_eq!(stats["logins"], 1, "{stats}");

    let o = verify(&repo, "HEAD", &[]);
    assert!(o.status.success(), "verify-commit: {}", text(&o));
    assert!(text(&o).contains("Good signature"), "{}", text(&o));
    assert_eq!(repo.git_ok(&["log", "-1", "--format=%G?"]), "G");
    let o = repo.git(&["tag", "-s", "v1", "-m", "v1"]);
    assert!(o.status.success(), "tag -s: {}", text(&o));
    let o = repo.git(&["verify-tag", "v1"]);
    assert!(o.status.success(), "verify-tag: {}", text(&o));
    let email = tb.var("TESTBED_EMAIL");
    let issuer = tb.var("GITSIGN_OIDC_ISSUER");
    let o = repo.gitsign(&[
        "verify",
        "--certificate-identity",
        email,
        "--certificate-oidc-issuer",
        issuer,
        "HEAD",
    ]);
    assert!(o.status.success(), "gitsign verify: {}", text(&o));
    let o = commit(&repo, "b.txt", &[]);
    assert!(o.status.success(), "second commit: {}", text(&o));
    let o = repo.gitsign(&["verify", "--all"]);
    assert!(o.status.success(), "gitsign verify --all: {}", text(&o));
    assert!(text(&o).contains("2 passed, 0 failed"), "{}", text(&o));

    let v = version(&repo);
    assert!(
        v.contains(&format!(
            "trusted root: the TUF mirror {mirror} (TUF root version 1"
        )) && v.contains("signing config: the signing config from"),
        "{v}"
    );

    // An explicit setting still wins over the signing config.
    let o = commit(
        &repo,
        "c.txt",
        &[("GITSIGN_REKOR_URL", "http://127.0.0.1:9")],
    );
    assert!(!o.status.success(), "signed with an unreachable Rekor");
    assert!(text(&o).contains("127.0.0.1:9"), "{}", text(&o));
    repo.git_ok(&["reset", "-q"]);

    // A fresh HOME that never ran initialize trusts only the embedded
    // public-good root, which does not know the testbed's CA.
    let other = TempDir::new("tuf-other-home");
    let home = other.path().display().to_string();
    let cache = other.path().join(".cache").display().to_string();
    let o = verify(
        &repo,
        "HEAD",
        &[("HOME", &home), ("XDG_CACHE_HOME", &cache)],
    );
    assert!(!o.status.success(), "a fresh HOME accepted: {}", text(&o));

    // The mirror down: verification works from the cache, and one line
    // says the refresh failed and the last good root is used.
    tb.fault("tuf", "down", None, None);
    let o = verify(&repo, "HEAD", &[REFRESH_NOW]);
    assert!(
        o.status.success(),
        "verify with the mirror down: {}",
        text(&o)
    );
    let t = text(&o);
    assert!(
        t.contains(&format!(
            "could not refresh trust from the TUF mirror {mirror}"
        )) && t.contains("using the last good trusted root"),
        "{t}"
    );
    assert_eq!(
        t.matches("could not refresh").count(),
        1,
        "one line says so: {t}"
    );
    // Offline: a refresh is never tried, nothing is said.
    let o = verify(&repo, "HEAD", &[REFRESH_NEVER]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(!text(&o).contains("refresh"), "{}", text(&o));
}

#[test]
fn a_new_trusted_root_version_is_picked_up_by_the_next_refresh() {
    let tb = Testbed::start();
    let repo = Repo::newcomer(&tb, "tuf-newroot");
    let o = initialize(&tb, &repo);
    assert!(o.status.success(), "initialize: {}", text(&o));
    let o = commit(&repo, "a.txt", &[]);
    assert!(o.status.success(), "commit: {}", text(&o));
    let first = repo.git_ok(&["rev-parse", "HEAD"]);

    // The testbed's Rekor now signs with a new key, which only the new
    // trusted root (published through TUF) lists.
    tuf(&tb, "new-trusted-root", None);
    let o = commit(&repo, "b.txt", &[REFRESH_NEVER]);
    assert!(
        !o.status.success(),
        "signed under a log key the cached root does not know"
    );
    repo.git_ok(&["reset", "-q"]);
    let o = commit(&repo, "b.txt", &[REFRESH_NOW]);
    assert!(o.status.success(), "commit after the refresh: {}", text(&o));
    let o = verify(&repo, "HEAD", &[REFRESH_NEVER]);
    assert!(o.status.success(), "the new commit: {}", text(&o));
    let o = verify(&repo, &first, &[REFRESH_NEVER]);
    assert!(
        o.status.success(),
        "the commit under the old key: {}",
        text(&o)
    );
    let v = version(&repo);
    assert!(v.contains("TUF root version 1, refreshed"), "{v}");
}

#[test]
fn a_root_key_rotation_is_followed() {
    let tb = Testbed::start();
    let repo = Repo::newcomer(&tb, "tuf-rotate");
    let o = initialize(&tb, &repo);
    assert!(o.status.success(), "initialize: {}", text(&o));
    let o = commit(&repo, "a.txt", &[]);
    assert!(o.status.success(), "commit: {}", text(&o));
    // Root version 2: a new root key and a new timestamp key; the new
    // timestamp verifies only under root version 2.
    tuf(&tb, "rotate-root", None);
    let o = verify(&repo, "HEAD", &[REFRESH_NOW]);
    assert!(o.status.success(), "verify: {}", text(&o));
    assert!(!text(&o).contains("could not refresh"), "{}", text(&o));
    let v = version(&repo);
    assert!(v.contains("TUF root version 2"), "{v}");
    assert!(!v.contains("last refresh failed"), "{v}");
    let o = commit(&repo, "b.txt", &[REFRESH_NOW]);
    assert!(
        o.status.success(),
        "commit after the rotation: {}",
        text(&o)
    );
    let o = verify(&repo, "HEAD", &[]);
    assert!(o.status.success(), "{}", text(&o));
}

/// Each bad answer: refused with a sentence naming the file and the
/// reason, by a refresh (verification goes on with the last good root)
/// and by `initialize` (which fails); then a good timestamp heals it.
#[test]
fn expired_rolled_back_and_badly_signed_metadata_are_refused() {
    let tb = Testbed::start();
    let repo = Repo::newcomer(&tb, "tuf-bad");
    let o = initialize(&tb, &repo);
    assert!(o.status.success(), "initialize: {}", text(&o));
    let o = commit(&repo, "a.txt", &[]);
    assert!(o.status.success(), "commit: {}", text(&o));
    // Snapshot version 2 trusted, so that version 1 is a rollback.
    tuf(&tb, "publish", None);
    let o = verify(&repo, "HEAD", &[REFRESH_NOW]);
    assert!(
        o.status.success() && !text(&o).contains("could not"),
        "{}",
        text(&o)
    );

    let cases: [(&str, &[&str]); 3] = [
        (
            "expire-timestamp",
            &["timestamp.json (version", "expired at", "freeze attack"],
        ),
        (
            "rollback-snapshot",
            &[
                "timestamp.json (version",
                "names snapshot version 1, older than version 2",
                "rollback attack",
            ],
        ),
        (
            "corrupt-signature",
            &[
                "timestamp.json is not signed by enough keys of the timestamp role",
                "0 of the 1",
            ],
        ),
    ];
    for (action, words) in cases {
        tuf(&tb, action, None);
        // A failed refresh or initialize leaves every trust file of the
        // cache (metadata, targets, state) byte-identical.
        let before = trust_files(&repo);
        let o = verify(&repo, "HEAD", &[REFRESH_NOW]);
        assert_eq!(
            trust_files(&repo),
            before,
            "{action}: the refresh changed the cache"
        );
        let t = text(&o);
        assert!(o.status.success(), "{action}: verification failed: {t}");
        assert!(
            t.contains("using the last good trusted root"),
            "{action}: {t}"
        );
        for w in words {
            assert!(t.contains(w), "{action}: no {w:?} in: {t}");
        }
        let v = version(&repo);
        assert!(v.contains("last refresh failed"), "{action}: {v}");
        let o = initialize(&tb, &repo);
        assert_eq!(
            o.status.code(),
            Some(2),
            "{action}: initialize: {}",
            text(&o)
        );
        for w in words {
            assert!(text(&o).contains(w), "{action}: initialize: {}", text(&o));
        }
        assert_eq!(
            trust_files(&repo),
            before,
            "{action}: initialize changed the cache"
        );
        // The last good root is still the one in use.
        let o = verify(&repo, "HEAD", &[REFRESH_NEVER]);
        assert!(o.status.success(), "{action}: {}", text(&o));
        tuf(&tb, "restore", None);
        let o = verify(&repo, "HEAD", &[REFRESH_NOW]);
        assert!(
            o.status.success() && !text(&o).contains("could not"),
            "{action}: after restore: {}",
            text(&o)
        );
    }

    // An endless timestamp.json: the download stops at its bound.
    tb.fault("tuf", "huge", Some(1), None);
    let started = std::time::Instant::now();
    let o = verify(&repo, "HEAD", &[REFRESH_NOW]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("timestamp.json") && text(&o).contains("larger than the 16384 bytes"),
        "{}",
        text(&o)
    );
    assert!(started.elapsed().as_secs() < 20);
}

/// The one mirror directory of the repository's TUF cache.
fn cache_dir(repo: &Repo) -> PathBuf {
    let base = repo.dir.path().join("home/.cache/gitsign/tuf");
    std::fs::read_dir(&base)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.is_dir())
        .unwrap_or_else(|| panic!("no mirror directory under {}", base.display()))
}

/// The cache's trust files (metadata, targets, state), by name: what a
/// failed update must leave byte-identical.
fn trust_files(repo: &Repo) -> BTreeMap<&'static str, Option<Vec<u8>>> {
    let d = cache_dir(repo);
    [
        "root.json",
        "timestamp.json",
        "snapshot.json",
        "targets.json",
        "state.json",
        "targets/trusted_root.json",
        "targets/signing_config.v0.2.json",
    ]
    .into_iter()
    .map(|n| (n, std::fs::read(d.join(n)).ok()))
    .collect()
}

fn status_letter(repo: &Repo, extra_env: &[(&str, &str)]) -> String {
    let mut c = repo.git_cmd(&["log", "-1", "--format=%G?"]);
    c.envs(extra_env.iter().copied());
    String::from_utf8_lossy(&c.output().unwrap().stdout)
        .trim()
        .to_string()
}

/// Expired cached TUF metadata is never used (as sigstore-go and
/// sigstore-python decide): when it cannot be refreshed, every command
/// fails (exit status 2; for git, an error: `%G?` is not G) with one
/// sentence naming the mirror, when the metadata expired, why the refresh
/// failed and what to do, and the cache is left as it was. `gitsign
/// version` still describes the state. Once the mirror answers, the next
/// command refreshes and works.
///
/// No sleep: the cache records the earliest expiry of its metadata
/// (`state.json`); moving that an hour back is what an hour past the
/// expiry looks like to gitsign.
#[test]
fn expired_cached_metadata_is_refused_until_refreshed() {
    let tb = Testbed::start();
    let repo = Repo::newcomer(&tb, "tuf-expired");
    let mirror = tb.var("TESTBED_TUF_MIRROR").to_string();
    let o = initialize(&tb, &repo);
    assert!(o.status.success(), "initialize: {}", text(&o));
    let o = commit(&repo, "a.txt", &[]);
    assert!(o.status.success(), "commit: {}", text(&o));
    assert_eq!(status_letter(&repo, &[REFRESH_NEVER]), "G");

    let state = cache_dir(&repo).join("state.json");
    let mut st: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    let past = gitsign::encoding::time::now() - 3600;
    st["expires"] = past.into();
    std::fs::write(&state, serde_json::to_vec_pretty(&st).unwrap()).unwrap();
    let when = gitsign::encoding::time::format_time(past);
    let before = trust_files(&repo);

    // The mirror down: the refresh is tried (expired metadata is refreshed
    // whatever the back-off says), fails, and the command fails.
    tb.fault("tuf", "down", None, None);
    let sentence = |t: &str, why: &str| {
        for w in [
            &format!("the TUF metadata cached from the mirror {mirror} expired at {when}"),
            why,
            "so gitsign does not use it",
            "connect to the mirror and run gitsign initialize",
            "gitsign.trustedRoot",
        ] {
            assert!(t.contains(w), "no {w:?} in: {t}");
        }
    };
    for _ in 0..2 {
        let o = repo
            .gitsign_cmd(&["verify", "HEAD"])
            .env(REFRESH_NOW.0, REFRESH_NOW.1)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        sentence(&text(&o), "the refresh failed");
        assert_eq!(
            trust_files(&repo),
            before,
            "a failed refresh changed the cache"
        );
    }
    let o = verify(&repo, "HEAD", &[REFRESH_NOW]);
    assert!(!o.status.success(), "{}", text(&o));
    sentence(&text(&o), "the refresh failed");
    assert_ne!(status_letter(&repo, &[REFRESH_NOW]), "G");
    // Refresh off: nothing tried, the same refusal, saying so.
    let o = verify(&repo, "HEAD", &[REFRESH_NEVER]);
    assert!(!o.status.success(), "{}", text(&o));
    sentence(&text(&o), "automatic refresh is off");
    assert_ne!(status_letter(&repo, &[REFRESH_NEVER]), "G");
    // Signing refuses too.
    let o = commit(&repo, "b.txt", &[REFRESH_NEVER]);
    assert!(
        !o.status.success(),
        "signed under expired trust: {}",
        text(&o)
    );
    sentence(&text(&o), "automatic refresh is off");
    repo.git_ok(&["reset", "-q"]);
    // `gitsign version` describes the state and does not fail.
    let o = repo.gitsign(&["version"]);
    assert!(o.status.success(), "{}", text(&o));
    sentence(&text(&o), "this command does not refresh it");
    assert_eq!(trust_files(&repo), before);

    // The mirror back: the next command refreshes and works.
    tb.clear_faults();
    let o = verify(&repo, "HEAD", &[REFRESH_NOW]);
    assert!(
        o.status.success() && !text(&o).contains("could not"),
        "{}",
        text(&o)
    );
    assert_eq!(status_letter(&repo, &[REFRESH_NEVER]), "G");
    let v = version(&repo);
    assert!(v.contains("metadata valid until"), "{v}");
}

/// A trusted root target altered on the way (its bytes no longer the ones
/// targets.json names: one byte changed, or one added) is refused by an
/// automatic refresh and by `initialize`, the cache left byte-identical
/// and the last good trusted root in use; the untampered target is then
/// picked up.
#[test]
fn a_tampered_trusted_root_target_is_refused_and_the_last_good_root_kept() {
    let tb = Testbed::start();
    let repo = Repo::newcomer(&tb, "tuf-tamper");
    let o = initialize(&tb, &repo);
    assert!(o.status.success(), "initialize: {}", text(&o));
    let o = commit(&repo, "a.txt", &[]);
    assert!(o.status.success(), "commit: {}", text(&o));
    // A new trusted root version, so that the target is fetched.
    tuf(&tb, "new-trusted-root", None);
    for (value, words) in [
        (None, "does not have the sha256 hash"),
        (Some(json!("length")), "trusted_root.json"),
    ] {
        tb.fault("tuf", "tamper-target", None, value.clone());
        let before = trust_files(&repo);
        let o = verify(&repo, "HEAD", &[REFRESH_NOW]);
        let t = text(&o);
        assert!(o.status.success(), "{value:?}: {t}");
        assert!(
            t.contains("could not refresh") && t.contains("trusted_root.json") && t.contains(words),
            "{value:?}: {t}"
        );
        assert_eq!(trust_files(&repo), before, "{value:?}: the cache changed");
        let o = initialize(&tb, &repo);
        assert_eq!(o.status.code(), Some(2), "{value:?}: {}", text(&o));
        assert!(
            text(&o).contains("trusted_root.json") && text(&o).contains("unchanged"),
            "{value:?}: {}",
            text(&o)
        );
        assert_eq!(
            trust_files(&repo),
            before,
            "{value:?}: initialize changed the cache"
        );
        tb.clear_faults();
    }
    let before = trust_files(&repo);
    let o = verify(&repo, "HEAD", &[REFRESH_NOW]);
    assert!(
        o.status.success() && !text(&o).contains("could not"),
        "{}",
        text(&o)
    );
    assert_ne!(
        trust_files(&repo)["targets/trusted_root.json"],
        before["targets/trusted_root.json"],
        "the new trusted root was not picked up"
    );
}

/// Once a mirror was initialized, a cache that cannot be used fails
/// verification (exit status 2; `%G?` not G) with a sentence, never a
/// silent fall back to the embedded public-good root: its directory or a
/// file writable by others, a file of another user, a corrupt target.
#[test]
fn an_unusable_tuf_cache_fails_verification_without_falling_back() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let tb = Testbed::start();
    let repo = Repo::newcomer(&tb, "tuf-unusable");
    let o = initialize(&tb, &repo);
    assert!(o.status.success(), "initialize: {}", text(&o));
    let o = commit(&repo, "a.txt", &[]);
    assert!(o.status.success(), "commit: {}", text(&o));
    let d = cache_dir(&repo);
    let tr = d.join("targets/trusted_root.json");
    let mode = |p: &std::path::Path, m: u32| {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap()
    };
    let refused = |what: &str, words: &str| {
        let o = repo
            .gitsign_cmd(&["verify", "HEAD"])
            .env(REFRESH_NEVER.0, REFRESH_NEVER.1)
            .output()
            .unwrap();
        let t = text(&o);
        assert_eq!(o.status.code(), Some(2), "{what}: {t}");
        assert!(t.contains(words), "{what}: no {words:?} in: {t}");
        assert!(
            t.contains("does not fall back to the embedded public-good trusted root"),
            "{what}: {t}"
        );
        let o = verify(&repo, "HEAD", &[REFRESH_NOW]);
        assert!(!o.status.success(), "{what}: git: {}", text(&o));
        assert!(text(&o).contains(words), "{what}: git: {}", text(&o));
        assert_ne!(status_letter(&repo, &[REFRESH_NOW]), "G", "{what}");
    };
    mode(&d, 0o777);
    refused("mirror directory 0777", "is writable by group or others");
    mode(&d, 0o700);
    mode(&tr, 0o666);
    refused("trusted root 0666", "is writable by group or others");
    mode(&tr, 0o600);
    if std::fs::metadata(&tr).unwrap().uid() == 0 {
        std::os::unix::fs::chown(&tr, Some(65534), None).unwrap();
        refused("trusted root of uid 65534", "belongs to uid 65534");
        std::os::unix::fs::chown(&tr, Some(0), None).unwrap();
    }
    let good = std::fs::read(&tr).unwrap();
    std::fs::write(&tr, b"{\"not\": \"a trusted root\"}").unwrap();
    let o = verify(&repo, "HEAD", &[REFRESH_NEVER]);
    assert!(!o.status.success(), "corrupt target: {}", text(&o));
    assert!(
        text(&o).contains("the TUF cache is corrupt") && text(&o).contains("does not fall back"),
        "{}",
        text(&o)
    );
    std::fs::write(&tr, good).unwrap();
    let o = verify(&repo, "HEAD", &[REFRESH_NEVER]);
    assert!(o.status.success(), "restored: {}", text(&o));
}

#[test]
fn a_cache_directory_others_may_write_is_refused() {
    let tb = Testbed::start();
    let repo = Repo::newcomer(&tb, "tuf-perm");
    let dir = TempDir::new("tuf-loose");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let mut c = repo.gitsign_cmd(&[
        "initialize",
        "--mirror",
        tb.var("TESTBED_TUF_MIRROR"),
        "--root",
        tb.var("TESTBED_TUF_ROOT"),
    ]);
    c.env("TUF_ROOT", dir.path());
    let o = c.output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("is writable by group or others"),
        "{}",
        text(&o)
    );
}

/// The server-side hook chooses its trusted root the same way: the TUF
/// cache of the server user's `initialize`, else the embedded root.
#[test]
fn the_hook_uses_the_same_trusted_root() {
    let tb = Testbed::start();
    let repo = Repo::newcomer(&tb, "tuf-hook");
    let o = initialize(&tb, &repo);
    assert!(o.status.success(), "initialize: {}", text(&o));
    let o = commit(&repo, "a.txt", &[]);
    assert!(o.status.success(), "commit: {}", text(&o));
    let srv = TempDir::new("tuf-hook-server");
    let bare = srv.path().join("server.git");
    let git = |args: &[&str]| {
        let o = std::process::Command::new("git")
            .arg("-C")
            .arg(&bare)
            .args(args)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o));
    };
    std::fs::create_dir_all(&bare).unwrap();
    git(&["init", "-q", "--bare", "-b", "main"]);
    let policy = srv.path().join("policy.toml");
    std::fs::write(
        &policy,
        format!(
            "version = 1\n[signers.me]\nidentity = \"{}\"\nissuer = \"{}\"\n[[rules]]\nrefs = [\"refs/heads/*\"]\nsigners = [\"me\"]\n",
            tb.var("TESTBED_EMAIL"),
            tb.var("GITSIGN_OIDC_ISSUER")
        ),
    )
    .unwrap();
    git(&["config", "gitsign.policy", &policy.display().to_string()]);
    let hook = bare.join("hooks/pre-receive");
    std::fs::write(
        &hook,
        format!(
            "#!/bin/sh\nexec '{}' hook pre-receive\n",
            common::gitsign_bin().display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
    let remote = bare.display().to_string();
    // A server user without `initialize`: the testbed's CA is unknown.
    let other = TempDir::new("tuf-hook-home");
    let home = other.path().display().to_string();
    let cache = other.path().join(".cache").display().to_string();
    let mut c = repo.git_cmd(&["push", "-q", &remote, "HEAD:refs/heads/main"]);
    c.envs([("HOME", home.as_str()), ("XDG_CACHE_HOME", cache.as_str())]);
    let o = c.output().unwrap();
    assert!(!o.status.success(), "pushed without trust: {}", text(&o));
    assert!(text(&o).contains("push refused"), "{}", text(&o));
    // The same server user after `initialize` (the repository's HOME).
    let o = repo.git(&["push", "-q", &remote, "HEAD:refs/heads/main"]);
    assert!(o.status.success(), "push: {}", text(&o));
}

/// `gitsign.signingConfig` (here `GITSIGN_SIGNING_CONFIG`) names a signing
/// config file: with an explicit trusted root and no service setting, it
/// chooses Fulcio, the issuer, Rekor and the TSA.
#[test]
fn a_signing_config_file_chooses_the_services() {
    let tb = Testbed::start();
    let mut repo = Repo::newcomer(&tb, "tuf-scfile");
    let sc = tb.var("TESTBED_SIGNING_CONFIG").to_string();
    repo.env.extend([
        (
            "GITSIGN_TRUSTED_ROOT".to_string(),
            tb.var("GITSIGN_TRUSTED_ROOT").to_string(),
        ),
        ("GITSIGN_SIGNING_CONFIG".to_string(), sc.clone()),
    ]);
    let o = commit(&repo, "a.txt", &[]);
    assert!(o.status.success(), "commit: {}", text(&o));
    let stats = tb.stats();
    assert_eq!(stats["fulcio_certificates"], 1, "{stats}");
    assert_eq!(stats["tsa_timestamps"], 1, "{stats}");
    let o = verify(&repo, "HEAD", &[]);
    assert!(o.status.success(), "verify: {}", text(&o));
    let v = version(&repo);
    assert!(v.contains(&format!("signing config: {sc}")), "{v}");
    assert!(
        v.contains(&format!(
            "Fulcio               {}",
            tb.var("GITSIGN_FULCIO_URL")
        )),
        "{v}"
    );
}
