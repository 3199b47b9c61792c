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
