//! Promises of docs/configuration.md, docs/signing.md and docs/cache.md
//! that no other test pinned, through the user's path: the precedence of
//! each configuration layer (default < git config, where `git -c` wins
//! over the files < `SIGSTORE_*` < `GITSIGN_*`) as `gitsign version`
//! prints it and as signing obeys it, a bad value named with exit 2,
//! `gitsign.matchCommitter` for tags, the cache's `auto` mode at the
//! default socket and `gitsign.cachePerRepo`. Each row of
//! docs/promises.md that names this file is one assertion here.

mod common;

use std::process::{Command, Output};

use common::{gitsign_bin, text, Daemon, Repo, TempDir, Testbed};

/// Variables of the caller that would add a layer the test did not set.
fn scrub(c: &mut Command) {
    for (k, _) in std::env::vars() {
        if k.starts_with("GITSIGN_") || k.starts_with("SIGSTORE_") || k == "GIT_CONFIG_PARAMETERS" {
            c.env_remove(k);
        }
    }
}

/// `gitsign version` as git runs a program it spawns: through an alias, so
/// that `-c key=value` given to git reaches gitsign as it does when git
/// signs or verifies.
fn version(repo: &Repo, dash_c: &[&str], env: &[(&str, &str)]) -> Output {
    let alias = format!("alias.gsv=!'{}' version", gitsign_bin().display());
    let mut args = vec!["-c", alias.as_str()];
    for kv in dash_c {
        args.push("-c");
        args.push(kv);
    }
    args.push("gsv");
    let mut c = repo.git_cmd(&args);
    scrub(&mut c);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

/// The value and origin `gitsign version` prints for `key`.
fn line_for(o: &Output, key: &str) -> String {
    text(o)
        .lines()
        .find(|l| l.split_whitespace().next() == Some(key))
        .unwrap_or_else(|| panic!("`gitsign version` prints no {key}:\n{}", text(o)))
        .split_whitespace()
        .skip(1)
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn version_prints_each_value_and_the_layer_that_set_it() {
    let repo = Repo::new("prom-version");
    // Defaults.
    let o = version(&repo, &[], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("gitsign "), "{}", text(&o));
    assert_eq!(line_for(&o, "timeout"), "30 [default]");
    assert_eq!(line_for(&o, "rekorMode"), "offline [default]");
    assert_eq!(line_for(&o, "credentialCache"), "auto [default]");
    assert_eq!(line_for(&o, "verifyTlog"), "require [default]");
    assert_eq!(line_for(&o, "matchCommitter"), "false [default]");
    assert_eq!(line_for(&o, "cachePerRepo"), "false [default]");
    assert_eq!(line_for(&o, "loginTimeout"), "300 [default]");
    assert_eq!(line_for(&o, "tufRefresh"), "24h [default]");
    assert_eq!(line_for(&o, "rekorVersion"), "1 [default]");
    assert_eq!(line_for(&o, "clientID"), "sigstore [default]");
    assert_eq!(
        line_for(&o, "fulcio"),
        "https://fulcio.sigstore.dev [default]"
    );
    assert_eq!(
        line_for(&o, "rekor"),
        "https://rekor.sigstore.dev [default]"
    );
    assert_eq!(
        line_for(&o, "issuer"),
        "https://oauth2.sigstore.dev/auth [default]"
    );
    assert_eq!(line_for(&o, "autocloseTimeout"), "6 [default]");
    assert!(
        text(&o).contains("trusted root: the public-good snapshot built into gitsign"),
        "{}",
        text(&o)
    );

    // The user's global config, then the repository's (git's own order).
    let global = repo.dir.path().join("home/gitconfig");
    let st = Command::new("git")
        .args(["config", "-f"])
        .arg(&global)
        .args(["gitsign.timeout", "10"])
        .status()
        .unwrap();
    assert!(st.success());
    let o = version(&repo, &[], &[]);
    assert_eq!(line_for(&o, "timeout"), "10 [git config]");
    repo.git_ok(&["config", "gitsign.timeout", "11"]);
    let o = version(&repo, &[], &[]);
    assert_eq!(line_for(&o, "timeout"), "11 [git config]");
    // `git -c` wins over the files.
    let o = version(&repo, &["gitsign.timeout=12"], &[]);
    assert_eq!(line_for(&o, "timeout"), "12 [git config]");
    // The environment wins over `git -c`.
    let o = version(&repo, &["gitsign.timeout=12"], &[("GITSIGN_TIMEOUT", "13")]);
    assert_eq!(line_for(&o, "timeout"), "13 [environment]");

    // SIGSTORE_* wins over git config; GITSIGN_* wins over SIGSTORE_*.
    repo.git_ok(&["config", "gitsign.rekor", "https://rekor.git.example"]);
    let o = version(&repo, &[], &[]);
    assert_eq!(
        line_for(&o, "rekor"),
        "https://rekor.git.example [git config]"
    );
    let o = version(
        &repo,
        &["gitsign.rekor=https://rekor.dash-c.example"],
        &[("SIGSTORE_REKOR_URL", "https://rekor.sigstore-env.example")],
    );
    assert_eq!(
        line_for(&o, "rekor"),
        "https://rekor.sigstore-env.example [environment]"
    );
    let o = version(
        &repo,
        &[],
        &[
            ("SIGSTORE_REKOR_URL", "https://rekor.sigstore-env.example"),
            ("GITSIGN_REKOR_URL", "https://rekor.gitsign-env.example"),
        ],
    );
    assert_eq!(
        line_for(&o, "rekor"),
        "https://rekor.gitsign-env.example [environment]"
    );
    // The same for Fulcio, and SIGSTORE_ROOT_FILE among the Fulcio root's
    // variables loses to GITSIGN_FULCIO_ROOT.
    let o = version(
        &repo,
        &[],
        &[
            ("SIGSTORE_FULCIO_URL", "https://fulcio.sigstore-env.example"),
            ("GITSIGN_FULCIO_URL", "https://fulcio.gitsign-env.example"),
        ],
    );
    assert_eq!(
        line_for(&o, "fulcio"),
        "https://fulcio.gitsign-env.example [environment]"
    );

    // A value that is not one of the documented ones: a configuration error
    // naming the key, exit 2, whichever layer gave it.
    for (dash_c, env) in [
        (vec!["gitsign.rekorMode=sideways"], vec![]),
        (vec![], vec![("GITSIGN_REKOR_MODE", "sideways")]),
    ] {
        let o = version(&repo, &dash_c, &env);
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        assert!(
            text(&o).contains("configuration error") && text(&o).contains("gitsign.rekorMode"),
            "{}",
            text(&o)
        );
    }
    for bad in [
        "gitsign.timeout=0",
        "gitsign.matchCommitter=maybe",
        "gitsign.verifyTlog=sometimes",
        "gitsign.credentialCache=disk",
    ] {
        let o = version(&repo, &[bad], &[]);
        let key = bad.split('=').next().unwrap();
        assert_eq!(o.status.code(), Some(2), "{bad}: {}", text(&o));
        assert!(text(&o).contains(key), "{bad}: {}", text(&o));
    }
}

/// A repository that signs with the testbed, its settings from git config
/// only (the testbed's URLs through `gitsign.*`, not the environment).
fn signer(tb: &Testbed, tag: &str) -> Repo {
    let mut repo = Repo::new(tag);
    repo.env
        .push(("GITSIGN_TOKEN_PROVIDER".into(), "environment".into()));
    repo.env.push((
        "SIGSTORE_ID_TOKEN".into(),
        tb.token(tb.var("TESTBED_EMAIL"), 1800),
    ));
    for (k, e) in [
        ("gitsign.fulcio", "GITSIGN_FULCIO_URL"),
        ("gitsign.rekor", "GITSIGN_REKOR_URL"),
        ("gitsign.issuer", "GITSIGN_OIDC_ISSUER"),
        ("gitsign.trustedRoot", "GITSIGN_TRUSTED_ROOT"),
    ] {
        repo.git_ok(&["config", k, tb.var(e)]);
    }
    repo
}

fn commit_with(repo: &Repo, n: usize, dash_c: &[&str], env: &[(&str, &str)]) -> Output {
    std::fs::write(repo.path().join(format!("f{n}")), format!("{n}\n")).unwrap();
    repo.git_ok(&["add", "."]);
    let mut args = Vec::new();
    for kv in dash_c {
        args.push("-c");
        args.push(kv);
    }
    let msg = format!("change {n}");
    args.extend(["commit", "-q", "-S", "-m", msg.as_str()]);
    let mut c = repo.git_cmd(&args);
    scrub(&mut c);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

/// How HEAD's log entry was found: "embedded" or "found online".
fn entry_kind(tb: &Testbed, repo: &Repo) -> &'static str {
    let mut c = repo.gitsign_cmd(&[
        "verify",
        "--certificate-identity",
        tb.var("TESTBED_EMAIL"),
        "--certificate-oidc-issuer",
        tb.var("GITSIGN_OIDC_ISSUER"),
        "HEAD",
    ]);
    scrub(&mut c);
    let o = c.output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let t = text(&o);
    match (t.contains("embedded"), t.contains("found online")) {
        (true, false) => "embedded",
        (false, true) => "found online",
        _ => panic!("neither or both: {t}"),
    }
}

#[test]
fn each_configuration_layer_decides_how_a_commit_is_signed() {
    let tb = Testbed::start();
    let repo = signer(&tb, "prom-layers");
    // Default: offline, the entry embedded.
    let o = commit_with(&repo, 1, &[], &[]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(entry_kind(&tb, &repo), "embedded");
    // git config: online.
    repo.git_ok(&["config", "gitsign.rekorMode", "online"]);
    let o = commit_with(&repo, 2, &[], &[]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(entry_kind(&tb, &repo), "found online");
    // `git -c` over the repository's config.
    let o = commit_with(&repo, 3, &["gitsign.rekorMode=offline"], &[]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(entry_kind(&tb, &repo), "embedded");
    // The environment over `git -c`.
    let o = commit_with(
        &repo,
        4,
        &["gitsign.rekorMode=offline"],
        &[("GITSIGN_REKOR_MODE", "online")],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(entry_kind(&tb, &repo), "found online");

    // A service URL from the environment wins over git config: a dead
    // Fulcio in the environment stops signing, naming its URL, and nothing
    // is committed.
    let head = repo.git_ok(&["rev-parse", "HEAD"]);
    let o = commit_with(
        &repo,
        5,
        &[],
        &[("GITSIGN_FULCIO_URL", "http://127.0.0.1:9")],
    );
    assert!(!o.status.success(), "signed: {}", text(&o));
    assert!(text(&o).contains("127.0.0.1:9"), "{}", text(&o));
    assert_eq!(repo.git_ok(&["rev-parse", "HEAD"]), head);
    // SIGSTORE_FULCIO_URL too (over git config) ...
    let o = commit_with(
        &repo,
        5,
        &[],
        &[("SIGSTORE_FULCIO_URL", "http://127.0.0.1:9")],
    );
    assert!(!o.status.success(), "signed: {}", text(&o));
    assert!(text(&o).contains("127.0.0.1:9"), "{}", text(&o));
    // ... but GITSIGN_FULCIO_URL wins over SIGSTORE_FULCIO_URL.
    let o = commit_with(
        &repo,
        5,
        &[],
        &[
            ("SIGSTORE_FULCIO_URL", "http://127.0.0.1:9"),
            ("GITSIGN_FULCIO_URL", tb.var("GITSIGN_FULCIO_URL")),
        ],
    );
    assert!(o.status.success(), "{}", text(&o));

    // A bad value through `git -c`: nothing signed, the key named.
    let head = repo.git_ok(&["rev-parse", "HEAD"]);
    let o = commit_with(&repo, 6, &["gitsign.rekorMode=sideways"], &[]);
    assert!(!o.status.success(), "signed: {}", text(&o));
    assert!(text(&o).contains("gitsign.rekorMode"), "{}", text(&o));
    assert_eq!(repo.git_ok(&["rev-parse", "HEAD"]), head);
}

#[test]
fn match_committer_holds_for_tags_too() {
    let tb = Testbed::start();
    let repo = signer(&tb, "prom-tagger");
    let email = tb.var("TESTBED_EMAIL").to_string();
    let o = commit_with(&repo, 1, &[], &[]);
    assert!(o.status.success(), "{}", text(&o));
    repo.git_ok(&["config", "gitsign.matchCommitter", "true"]);
    let certs = tb.stats()["fulcio_certificates"].as_u64().unwrap();
    // The tagger is test@example.com, the certificate is the testbed's
    // account: refused, naming both, and no tag is made.
    let o = repo.git(&["tag", "-s", "v1", "-m", "release 1"]);
    assert!(!o.status.success(), "tagged: {}", text(&o));
    assert!(
        text(&o).contains("gitsign.matchCommitter is set")
            && text(&o).contains("does not match the committer Test <test@example.com>")
            && text(&o).contains(&email),
        "{}",
        text(&o)
    );
    assert!(repo
        .git(&["rev-parse", "-q", "--verify", "v1"])
        .stdout
        .is_empty());
    assert!(tb.stats()["fulcio_certificates"].as_u64().unwrap() > certs);
    assert_eq!(
        tb.stats()["rekor_entries"].as_u64(),
        Some(1),
        "nothing logged for the refused tag"
    );
    // The tagger the certificate names: signed.
    let o = repo
        .git_cmd(&["tag", "-s", "v1", "-m", "release 1"])
        .env("GIT_COMMITTER_EMAIL", &email)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let o = repo.git(&["verify-tag", "v1"]);
    assert!(o.status.success(), "{}", text(&o));
}

/// A 0700 directory for a daemon's socket, as `$XDG_RUNTIME_DIR` is.
fn runtime_dir(tag: &str) -> TempDir {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new(tag);
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    dir
}

fn cache_signer(tb: &Testbed, tag: &str, runtime: &std::path::Path) -> Repo {
    let mut repo = Repo::new(tag);
    repo.env.extend(tb.gitsign_env());
    repo.env
        .push(("GITSIGN_TOKEN_PROVIDER".into(), "interactive".into()));
    repo.env
        .push(("XDG_RUNTIME_DIR".into(), runtime.display().to_string()));
    repo
}

fn logins(tb: &Testbed) -> u64 {
    tb.stats()["opener_calls"].as_u64().unwrap()
}

fn sign_n(repo: &Repo, n: usize) {
    std::fs::write(repo.path().join(format!("f{n}")), format!("{n}\n")).unwrap();
    repo.git_ok(&["add", "."]);
    let mut c = repo.git_cmd(&["commit", "-q", "-S", "-m", "change"]);
    c.env_remove("GITSIGN_CREDENTIAL_CACHE")
        .env_remove("GITSIGN_CREDENTIAL_CACHE_MODE")
        .env_remove("GITSIGN_CACHE_PER_REPO");
    let o = c.output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn auto_finds_the_daemon_at_the_default_socket() {
    let tb = Testbed::start();
    let runtime = runtime_dir("prom-runtime");
    let sockdir = runtime.path().join("gitsign");
    std::fs::create_dir(&sockdir).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&sockdir, std::fs::Permissions::from_mode(0o700)).unwrap();
    let repo = cache_signer(&tb, "prom-auto", runtime.path());
    // No daemon yet: auto means no cache, each signature logs in.
    sign_n(&repo, 1);
    sign_n(&repo, 2);
    assert_eq!(logins(&tb), 2, "{}", tb.stats());
    // A daemon at $XDG_RUNTIME_DIR/gitsign/credential-cache.sock, named
    // nowhere: auto uses it, one login for the next three signatures.
    let _d = Daemon::start_at(
        &tb,
        sockdir.join("credential-cache.sock"),
        TempDir::new("prom-auto-unused"),
    );
    sign_n(&repo, 3);
    sign_n(&repo, 4);
    sign_n(&repo, 5);
    assert_eq!(logins(&tb), 3, "{}", tb.stats());
    let o = repo.gitsign(&["cache", "status"]);
    assert!(text(&o).contains(tb.var("TESTBED_EMAIL")), "{}", text(&o));
    // `off` ignores it: every signature logs in again.
    repo.git_ok(&["config", "gitsign.credentialCache", "off"]);
    sign_n(&repo, 6);
    sign_n(&repo, 7);
    assert_eq!(logins(&tb), 5, "{}", tb.stats());
}

#[test]
fn cache_per_repo_gives_each_repository_its_own_login() {
    let tb = Testbed::start();
    let runtime = runtime_dir("prom-perrepo");
    let d = Daemon::start(&tb);
    let mk = |tag: &str| {
        let mut r = cache_signer(&tb, tag, runtime.path());
        r.env.push((
            "GITSIGN_CREDENTIAL_CACHE".into(),
            d.socket.display().to_string(),
        ));
        r
    };
    let a = mk("prom-repo-a");
    let b = mk("prom-repo-b");
    let sign = |repo: &Repo, n: usize| {
        std::fs::write(repo.path().join(format!("f{n}")), format!("{n}\n")).unwrap();
        repo.git_ok(&["add", "."]);
        let o = repo.git(&["commit", "-q", "-S", "-m", "change"]);
        assert!(o.status.success(), "{}", text(&o));
    };
    // By default one login serves both repositories.
    sign(&a, 1);
    sign(&b, 1);
    assert_eq!(logins(&tb), 1, "{}", tb.stats());
    // cachePerRepo: each repository logs in once for itself.
    a.git_ok(&["config", "gitsign.cachePerRepo", "true"]);
    b.git_ok(&["config", "gitsign.cachePerRepo", "true"]);
    sign(&a, 2);
    assert_eq!(logins(&tb), 2, "{}", tb.stats());
    sign(&a, 3);
    assert_eq!(logins(&tb), 2, "a's own credential is reused");
    sign(&b, 2);
    assert_eq!(logins(&tb), 3, "b does not use a's credential");
    sign(&b, 3);
    assert_eq!(logins(&tb), 3, "{}", tb.stats());
}
