//! The test harness starts gitsign, git and the credential cache daemon
//! from a scrubbed environment: a developer's (or a CI runner's) own
//! `GITSIGN_*`, `SIGSTORE_*`, `GIT_*`, `TUF_ROOT`, `HOME` and `XDG_*`
//! settings never reach them, so every test runs with what it states.
//!
//! This file holds one test, alone in its process, because it sets hostile
//! variables in the test process itself.

mod common;

use std::process::Command;

use common::{text, Daemon, Repo, Testbed};

/// Variables that would each break, or silently redirect, a signature or
/// its verification if they reached gitsign or git. Their paths are under
/// `/dev/null`, where nothing can be created, even by root, should a broken
/// harness let them through.
const HOSTILE: &[(&str, &str)] = &[
    // A Rekor, a Fulcio and a trusted root that do not exist.
    ("GITSIGN_REKOR_URL", "http://127.0.0.1:9"),
    ("GITSIGN_FULCIO_URL", "http://127.0.0.1:9"),
    (
        "GITSIGN_TRUSTED_ROOT",
        "/dev/null/nonexistent/trusted_root.json",
    ),
    ("SIGSTORE_ROOT_FILE", "/dev/null/nonexistent/root.pem"),
    (
        "SIGSTORE_REKOR_PUBLIC_KEY",
        "/dev/null/nonexistent/rekor.pub",
    ),
    ("SIGSTORE_ID_TOKEN", "not-a-token"),
    ("TUF_ROOT", "/dev/null/nonexistent/tuf"),
    // A credential cache socket that is not there, and a policy file.
    (
        "GITSIGN_CREDENTIAL_CACHE",
        "/dev/null/nonexistent/cache.sock",
    ),
    ("GITSIGN_POLICY", "/dev/null/nonexistent/policy.toml"),
    ("GITSIGN_LOG", "/dev/null/nonexistent/gitsign.log"),
    // git: another repository, and configuration given in the environment
    // that would make git sign with something else entirely.
    ("GIT_DIR", "/dev/null/nonexistent"),
    ("GIT_WORK_TREE", "/dev/null/nonexistent"),
    ("GIT_CONFIG_COUNT", "1"),
    ("GIT_CONFIG_KEY_0", "gpg.x509.program"),
    ("GIT_CONFIG_VALUE_0", "/bin/false"),
    ("GIT_CONFIG_PARAMETERS", "'gpg.format'='openpgp'"),
    // The user's directories.
    ("HOME", "/dev/null/nonexistent/home"),
    ("XDG_CONFIG_HOME", "/dev/null/nonexistent/config"),
    ("XDG_CACHE_HOME", "/dev/null/nonexistent/cache"),
    ("XDG_RUNTIME_DIR", "/dev/null/nonexistent/run"),
];

#[test]
fn ambient_settings_of_the_test_process_never_reach_gitsign_or_git() {
    // The testbed is the tests' infrastructure, started before the hostile
    // settings arrive (it finds its tools through HOME).
    let tb = Testbed::start();
    for (k, v) in HOSTILE {
        std::env::set_var(k, v);
    }

    let d = Daemon::start(&tb);
    let mut repo = Repo::new("clean-env");
    repo.env.extend(tb.gitsign_env());
    repo.env
        .push(("GITSIGN_TOKEN_PROVIDER".into(), "interactive".into()));
    repo.env.push((
        "GITSIGN_CREDENTIAL_CACHE".into(),
        d.socket.display().to_string(),
    ));
    let email = tb.var("TESTBED_EMAIL").to_string();
    repo.env
        .retain(|(k, _)| k != "GIT_COMMITTER_EMAIL" && k != "GIT_AUTHOR_EMAIL");
    repo.env.push(("GIT_COMMITTER_EMAIL".into(), email.clone()));
    repo.env.push(("GIT_AUTHOR_EMAIL".into(), email.clone()));
    // Whom this repository trusts: the testbed's account and issuer.
    repo.git_ok(&["config", "gitsign.certificateIdentity", &email]);
    repo.git_ok(&[
        "config",
        "gitsign.certificateOidcIssuer",
        tb.var("GITSIGN_OIDC_ISSUER"),
    ]);

    // The variables do bite: git started from this process's environment
    // with the test's settings added, but not scrubbed, does not even find
    // the repository.
    let o = Command::new("git")
        .args(["rev-parse", "--git-dir"])
        .current_dir(repo.path())
        .envs(repo.env.iter().map(|(k, v)| (k, v)))
        .output()
        .unwrap();
    assert!(
        !o.status.success(),
        "GIT_DIR=/dev/null/nonexistent in the test process should break an unscrubbed git, \
         or this test proves nothing: {}",
        text(&o)
    );

    // Through the harness: two signed commits (one login, the second
    // signature from the cache daemon), each verified by git and by
    // `gitsign verify` against the testbed's identity.
    for n in 1..=2 {
        std::fs::write(repo.path().join(format!("f{n}")), format!("{n}\n")).unwrap();
        repo.git_ok(&["add", "."]);
        let o = repo.git(&["commit", "-q", "-S", "-m", "signed"]);
        assert!(
            o.status.success(),
            "signing through the harness failed with hostile variables in the test process: \
             {}\nthe daemon said: {}",
            text(&o),
            d.stderr()
        );
    }
    assert_eq!(
        tb.stats()["opener_calls"].as_u64(),
        Some(1),
        "the second signature did not come from the test's cache daemon: {}",
        tb.stats()
    );
    assert_eq!(
        repo.git_ok(&["log", "-2", "--format=%G?|%GS|%GT"]),
        format!("G|{email}|fully\nG|{email}|fully"),
        "git does not show two good signatures"
    );
    let o = repo.gitsign(&[
        "verify",
        "--certificate-identity",
        &email,
        "--certificate-oidc-issuer",
        tb.var("GITSIGN_OIDC_ISSUER"),
        "HEAD~1..HEAD",
        "HEAD~1",
    ]);
    assert!(
        o.status.success(),
        "gitsign verify through the harness: {}",
        text(&o)
    );
}
