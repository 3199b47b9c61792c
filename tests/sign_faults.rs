//! Every service failure while signing, through the testbed's fault
//! switches: a clear message naming what failed, nothing on stdout, a
//! non-zero exit, and git keeps the commit message.

mod common;

use common::{expect_sign_failure as expect_failure, sign_direct, text, Repo, Testbed};

/// service, fault, fault value, extra environment, words the error must hold.
type Case<'a> = (
    &'a str,
    &'a str,
    Option<serde_json::Value>,
    Vec<(&'a str, String)>,
    Vec<&'a str>,
);

#[test]
fn service_faults_fail_cleanly() {
    let tb = Testbed::start();
    let token = tb.token("testbed-user@example.com", 900);
    let env_token = || {
        vec![
            ("GITSIGN_TOKEN_PROVIDER", "environment".to_string()),
            ("SIGSTORE_ID_TOKEN", token.clone()),
        ]
    };

    // Sanity: it signs when nothing is broken.
    let (code, stdout, stderr) = sign_direct(&tb, &env_token());
    assert_eq!(code, Some(0), "{stderr}");
    assert!(String::from_utf8_lossy(&stdout).starts_with("-----BEGIN SIGNED MESSAGE-----"));
    assert!(
        stderr.contains("[GNUPG:] BEGIN_SIGNING") && stderr.contains("[GNUPG:] SIG_CREATED D"),
        "{stderr}"
    );

    let fulcio = tb.var("GITSIGN_FULCIO_URL").to_string();
    let rekor = tb.var("GITSIGN_REKOR_URL").to_string();
    let cases: Vec<Case> = vec![
        (
            "fulcio",
            "http400",
            None,
            vec![],
            vec!["Fulcio", &fulcio, "HTTP 400"],
        ),
        (
            "fulcio",
            "http500",
            None,
            vec![],
            vec!["Fulcio", &fulcio, "HTTP 500"],
        ),
        (
            "fulcio",
            "slow",
            Some(4000.into()),
            vec![("GITSIGN_TIMEOUT", "1".into())],
            vec!["Fulcio", "no answer within 1 s"],
        ),
        (
            "fulcio",
            "bad-chain",
            None,
            vec![],
            vec!["cannot be trusted", "does not chain to a Fulcio CA"],
        ),
        (
            "fulcio",
            "bad-sct",
            None,
            vec![],
            vec!["cannot be trusted", "SCT"],
        ),
        (
            "fulcio",
            "no-sct",
            None,
            vec![],
            vec!["cannot be trusted", "no embedded SCT"],
        ),
        (
            "rekor",
            "http500",
            None,
            vec![],
            vec!["Rekor", &rekor, "HTTP 500"],
        ),
        (
            "rekor",
            "slow",
            Some(4000.into()),
            vec![("GITSIGN_TIMEOUT", "1".into())],
            vec!["Rekor", "no answer within 1 s"],
        ),
        ("rekor", "bad-set", None, vec![], vec!["Rekor", "rekorSET"]),
        (
            "rekor",
            "bad-proof",
            None,
            vec![],
            vec!["Rekor", "inclusion proof"],
        ),
        (
            "rekor",
            "bad-checkpoint",
            None,
            vec![],
            vec!["Rekor", "checkpoint"],
        ),
        (
            "rekor",
            "wrong-log-key",
            None,
            vec![],
            vec!["Rekor", "unknown log"],
        ),
    ];
    for (service, fault, value, extra, words) in cases {
        tb.clear_faults();
        tb.fault(service, fault, None, value);
        let mut env = env_token();
        env.extend(extra);
        expect_failure(&tb, &format!("{service} {fault}"), &env, &words);
    }
    tb.clear_faults();

    // Identity failures.
    let expired = tb.token("testbed-user@example.com", -120);
    expect_failure(
        &tb,
        "expired token",
        &[
            ("GITSIGN_TOKEN_PROVIDER", "environment".into()),
            ("SIGSTORE_ID_TOKEN", expired),
        ],
        &["identity token", "expired"],
    );
    for (fault, words) in [
        ("deny", vec!["access_denied"]),
        // Ignored: the login waits on for its own until the timeout.
        (
            "state-mismatch",
            vec![
                "within 3 s",
                "login callback with another state was ignored",
            ],
        ),
        ("never", vec!["within 3 s"]),
    ] {
        tb.clear_faults();
        tb.fault("oidc", fault, None, None);
        expect_failure(
            &tb,
            &format!("oidc {fault}"),
            &[
                ("GITSIGN_TOKEN_PROVIDER", "interactive".into()),
                ("GITSIGN_LOGIN_TIMEOUT", "3".into()),
            ],
            &words,
        );
    }
    for (fault, words) in [
        ("device-deny", vec!["denied"]),
        ("device-expire", vec!["expired"]),
    ] {
        tb.clear_faults();
        tb.fault("oidc", fault, None, None);
        expect_failure(
            &tb,
            &format!("oidc {fault}"),
            &[("GITSIGN_TOKEN_PROVIDER", "device".into())],
            &words,
        );
    }
    tb.clear_faults();

    // gitsign.matchCommitter with another identity.
    let other = tb.token("someone-else@example.com", 900);
    expect_failure(
        &tb,
        "matchCommitter",
        &[
            ("GITSIGN_TOKEN_PROVIDER", "environment".into()),
            ("SIGSTORE_ID_TOKEN", other),
            ("GITSIGN_MATCH_COMMITTER", "true".into()),
        ],
        &[
            "matchCommitter",
            "someone-else@example.com",
            "testbed-user@example.com",
        ],
    );
}

#[test]
fn git_keeps_the_message_when_signing_fails() {
    let tb = Testbed::start();
    let repo = Repo::signer(&tb, "keepmsg", "testbed-user@example.com");
    std::fs::write(repo.path().join("f"), "x").unwrap();
    repo.git_ok(&["add", "f"]);
    tb.fault("fulcio", "http500", None, None);
    let msg = "A carefully written commit message\n\nWith a body that took a while.";
    let o = repo.git(&["commit", "-S", "-m", msg]);
    assert!(!o.status.success());
    let out = text(&o);
    assert!(
        out.contains("gitsign: signing failed") && out.contains("HTTP 500"),
        "{out}"
    );
    // No commit was made; the message is kept for `git commit -F .git/COMMIT_EDITMSG`.
    assert!(!repo
        .git(&["rev-parse", "--verify", "-q", "HEAD"])
        .status
        .success());
    let kept = std::fs::read_to_string(repo.path().join(".git/COMMIT_EDITMSG")).unwrap();
    assert!(
        kept.contains("A carefully written commit message"),
        "{kept}"
    );
    // Once the service recovers, the same message commits signed.
    tb.clear_faults();
    let o = repo.git(&["commit", "-S", "-F", ".git/COMMIT_EDITMSG"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        repo.git_ok(&["log", "-1", "--format=%s"]),
        "A carefully written commit message"
    );
}
