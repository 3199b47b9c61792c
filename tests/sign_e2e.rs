//! Keyless signing through real git against a private loopback testbed:
//! `commit -S`, `tag -s`, `commit --amend -S`, a 20-commit `rebase --exec`,
//! then every way git and gitsign verify, in both Rekor modes, with the
//! interactive (headless opener), device and environment-token providers.

mod common;

use common::{text, Repo, Testbed};

fn signing_repo(tb: &Testbed, tag: &str, provider: &str, mode: &str) -> Repo {
    let mut repo = Repo::new(tag);
    repo.env.extend(tb.gitsign_env());
    repo.env
        .push(("GITSIGN_TOKEN_PROVIDER".into(), provider.into()));
    repo.env.push(("GITSIGN_REKOR_MODE".into(), mode.into()));
    if provider == "environment" || provider == "env" {
        repo.env.push((
            "SIGSTORE_ID_TOKEN".into(),
            tb.token(tb.var("TESTBED_EMAIL"), 900),
        ));
    }
    let email = tb.var("TESTBED_EMAIL").to_string();
    repo.env
        .retain(|(k, _)| k != "GIT_COMMITTER_EMAIL" && k != "GIT_AUTHOR_EMAIL");
    repo.env.push(("GIT_COMMITTER_EMAIL".into(), email.clone()));
    repo.env.push(("GIT_AUTHOR_EMAIL".into(), email.clone()));
    repo.git_ok(&["config", "gitsign.certificateIdentity", &email]);
    repo.git_ok(&[
        "config",
        "gitsign.certificateOidcIssuer",
        tb.var("GITSIGN_OIDC_ISSUER"),
    ]);
    repo.git_ok(&["config", "gitsign.matchCommitter", "true"]);
    repo
}

fn commit(repo: &Repo, file: &str, content: &str, msg: &str, sign: bool) -> String {
    std::fs::write(repo.path().join(file), content).unwrap();
    repo.git_ok(&["add", file]);
    let mut args = vec!["commit", "-q", "-m", msg];
    if sign {
        args.push("-S");
    }
    let o = repo.git(&args);
    assert!(o.status.success(), "git commit failed: {}", text(&o));
    repo.git_ok(&["rev-parse", "HEAD"])
}

fn scenario(provider: &str, mode: &str) {
    let tb = Testbed::start();
    let repo = signing_repo(&tb, &format!("sign-{provider}-{mode}"), provider, mode);
    let email = tb.var("TESTBED_EMAIL").to_string();
    let issuer = tb.var("GITSIGN_OIDC_ISSUER").to_string();

    // commit -S, verified every way.
    let first = commit(&repo, "a.txt", "one\n", "first signed commit", true);
    assert_eq!(
        repo.git_ok(&["log", "-1", "--format=%G?|%GS|%GT", &first]),
        format!("G|{email}|fully")
    );
    let o = repo.git(&["verify-commit", &first]);
    assert!(o.status.success(), "{}", text(&o));
    let expect_tlog = if mode == "offline" {
        "(transparency log time; log entry embedded): Rekor entry "
    } else {
        "(transparency log time; log entry found online): Rekor entry "
    };
    assert!(text(&o).contains(expect_tlog), "{}", text(&o));
    let o = repo.git(&["log", "-1", "--show-signature"]);
    assert!(
        text(&o).contains(&format!("Good signature from {email}")),
        "{}",
        text(&o)
    );
    let o = repo.gitsign(&[
        "verify",
        "--certificate-identity",
        &email,
        "--certificate-oidc-issuer",
        &issuer,
        "HEAD",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let o = repo.gitsign(&[
        "verify",
        "--certificate-identity",
        "mallory@example.com",
        "--certificate-oidc-issuer",
        &issuer,
        "HEAD",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));

    // tag -s.
    let o = repo.git(&["tag", "-s", "v1.0", "-m", "release 1.0"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = repo.git(&["verify-tag", "v1.0"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = repo.gitsign(&[
        "verify-tag",
        "v1.0",
        "--certificate-identity",
        &email,
        "--certificate-oidc-issuer",
        &issuer,
    ]);
    assert!(o.status.success(), "{}", text(&o));

    // commit --amend -S.
    let o = repo.git(&[
        "commit",
        "-q",
        "--amend",
        "-S",
        "-m",
        "first signed commit, amended",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(repo.git_ok(&["log", "-1", "--format=%G?"]), "G");
    let base = repo.git_ok(&["rev-parse", "HEAD"]);

    // 20 unsigned commits, signed by rebase --exec.
    repo.git_ok(&["checkout", "-q", "-b", "feature"]);
    for i in 0..20 {
        commit(
            &repo,
            &format!("f{i}.txt"),
            &format!("{i}\n"),
            &format!("feature step {i}"),
            false,
        );
    }
    assert_eq!(repo.git_ok(&["log", "-1", "--format=%G?"]), "N");
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
    assert!(o.status.success(), "rebase failed: {}", text(&o));
    let marks = repo.git_ok(&["log", "--format=%G?", &format!("{base}..HEAD")]);
    assert_eq!(marks.lines().count(), 20);
    assert!(marks.lines().all(|l| l == "G"), "{marks}");
    let o = repo.gitsign(&[
        "verify",
        "--certificate-identity",
        &email,
        "--certificate-oidc-issuer",
        &issuer,
        &format!("{base}..HEAD"),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("20 commits: 20 passed, 0 failed"),
        "{}",
        text(&o)
    );

    // merge --verify-signatures accepts the signed branch, refuses an unsigned one.
    repo.git_ok(&["checkout", "-q", "main"]);
    let o = repo.git(&["merge", "-q", "--ff-only", "--verify-signatures", "feature"]);
    assert!(o.status.success(), "{}", text(&o));
    repo.git_ok(&["checkout", "-q", "-b", "unsigned"]);
    commit(&repo, "u.txt", "u\n", "unsigned change", false);
    repo.git_ok(&["checkout", "-q", "main"]);
    let o = repo.git(&["merge", "-q", "--verify-signatures", "unsigned"]);
    assert!(!o.status.success(), "an unsigned branch was merged");
    assert!(
        text(&o).contains("does not have a GPG signature"),
        "{}",
        text(&o)
    );

    let stats = tb.stats();
    assert_eq!(stats["fulcio_certificates"].as_u64(), Some(23), "{stats}");
    assert!(stats["rekor_entries"].as_u64().unwrap() >= 23, "{stats}");
    match provider {
        // One browser login per signature without the credential cache.
        "interactive" => assert_eq!(stats["opener_calls"].as_u64(), Some(23), "{stats}"),
        "device" => assert_eq!(stats["device_tokens"].as_u64(), Some(23), "{stats}"),
        _ => assert_eq!(stats["opener_calls"].as_u64(), Some(0), "{stats}"),
    }
}

#[test]
fn interactive_offline() {
    scenario("interactive", "offline");
}

#[test]
fn interactive_online() {
    scenario("interactive", "online");
}

#[test]
fn device_offline() {
    scenario("device", "offline");
}

#[test]
fn device_online() {
    scenario("device", "online");
}

#[test]
fn environment_token_offline() {
    scenario("environment", "offline");
}

#[test]
fn environment_token_online() {
    scenario("environment", "online");
}

/// The log (`gitsign.logPath`) is created 0600, is never written through a
/// symbolic link, and never holds a login's secrets: the authorization
/// URL's state and PKCE challenge, or the device flow's user code (whoever
/// reads them can finish the login with their own account).
#[test]
fn the_log_is_private_and_holds_no_login_secret() {
    use std::os::unix::fs::PermissionsExt;
    let tb = Testbed::start();
    for provider in ["interactive", "device"] {
        let mut repo = signing_repo(&tb, &format!("log-{provider}"), provider, "offline");
        let log = repo.dir.path().join("gitsign.log");
        repo.env
            .push(("GITSIGN_LOG".into(), log.display().to_string()));
        commit(&repo, "a.txt", "one\n", "signed", true);
        let mode = std::fs::metadata(&log).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{provider}: the log is owner-only");
        let logged = std::fs::read_to_string(&log).unwrap();
        assert!(
            logged.contains("signed") || logged.contains("login"),
            "{logged}"
        );
        let secrets: Vec<String> = if provider == "interactive" {
            let opens = tb.control("GET", "/opens", None);
            let url = opens[0]["url"].as_str().expect("an opened URL").to_string();
            let query = url.split_once('?').unwrap().1.to_string();
            gitsign::oidc::parse_query(&query)
                .into_iter()
                .filter(|(k, _)| k == "state" || k == "code_challenge" || k == "nonce")
                .map(|(_, v)| v)
                .collect()
        } else {
            let pending = tb.control("GET", "/device/pending", None);
            vec![pending[0]["user_code"].as_str().unwrap().to_string()]
        };
        assert!(!secrets.is_empty() && secrets.iter().all(|s| s.len() >= 8));
        for s in &secrets {
            assert!(
                !logged.contains(s.as_str()),
                "{provider}: {s} is in the log:\n{logged}"
            );
        }
    }
    // A symbolic link where the log should be (another user's trap in a
    // shared directory) is not followed: its target stays untouched, and
    // signing still works.
    let mut repo = signing_repo(&tb, "log-link", "environment", "offline");
    let target = repo.dir.path().join("target.txt");
    std::fs::write(&target, "untouched\n").unwrap();
    let link = repo.dir.path().join("link.log");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    repo.env
        .push(("GITSIGN_LOG".into(), link.display().to_string()));
    commit(&repo, "b.txt", "two\n", "signed", true);
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "untouched\n");
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
}
