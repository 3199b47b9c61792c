//! More signing paths against the testbed: SHA-256 repositories
//! (`gpgsig-sha256`), the GitHub Actions ambient token with workflow-claim
//! policies, and trust given piecewise (Go gitsign's SIGSTORE_ROOT_FILE,
//! SIGSTORE_REKOR_PUBLIC_KEY, SIGSTORE_CT_LOG_PUBLIC_KEY_FILE).

mod common;

use std::path::Path;

use common::{text, Repo, Testbed};

fn env_token_repo(tb: &Testbed, tag: &str) -> Repo {
    Repo::signer(tb, tag, tb.var("TESTBED_EMAIL"))
}

#[test]
fn sha256_repositories_both_modes() {
    let tb = Testbed::start();
    let repo = env_token_repo(&tb, "sha256");
    // Re-initialise with SHA-256 object ids.
    std::fs::remove_dir_all(repo.path().join(".git")).unwrap();
    repo.git_ok(&["init", "-q", "--object-format=sha256", "-b", "main"]);
    repo.git_ok(&["config", "gpg.format", "x509"]);
    repo.git_ok(&[
        "config",
        "gpg.x509.program",
        &common::gitsign_bin().display().to_string(),
    ]);
    let email = tb.var("TESTBED_EMAIL");
    let issuer = tb.var("GITSIGN_OIDC_ISSUER");
    for mode in ["offline", "online"] {
        std::fs::write(repo.path().join("f"), mode).unwrap();
        repo.git_ok(&["add", "f"]);
        let o = repo
            .git_cmd(&["commit", "-q", "-S", "-m", mode])
            .env("GITSIGN_REKOR_MODE", mode)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o));
        let raw = repo.git_ok(&["cat-file", "commit", "HEAD"]);
        assert!(
            raw.contains("\ngpgsig-sha256 -----BEGIN SIGNED MESSAGE-----"),
            "{raw}"
        );
        assert_eq!(repo.git_ok(&["rev-parse", "HEAD"]).len(), 64);
        let o = repo.git(&["verify-commit", "HEAD"]);
        assert!(o.status.success(), "{}", text(&o));
        let o = repo.gitsign(&[
            "verify",
            "--certificate-identity",
            email,
            "--certificate-oidc-issuer",
            issuer,
            "HEAD",
        ]);
        assert!(o.status.success(), "{mode}: {}", text(&o));
        let found = if mode == "online" {
            "found online"
        } else {
            "embedded"
        };
        assert!(text(&o).contains(found), "{}", text(&o));
    }
}

#[test]
fn github_actions_token_and_workflow_claims() {
    let tb = Testbed::start();
    let repo = Repo::actions(&tb, "gha");
    std::fs::write(repo.path().join("f"), "ci").unwrap();
    repo.git_ok(&["add", "f"]);
    let o = repo.git(&["commit", "-q", "-S", "-m", "signed in CI"]);
    assert!(o.status.success(), "{}", text(&o));
    let gha = tb.var("TESTBED_GHA_ISSUER");
    let identity =
        "https://github.com/testbed-org/testbed-repo/.github/workflows/ci.yml@refs/heads/main";
    let verify = |extra: &[&str]| {
        let mut args = vec![
            "verify",
            "--certificate-identity",
            identity,
            "--certificate-oidc-issuer",
            gha,
        ];
        args.extend_from_slice(extra);
        args.push("HEAD");
        repo.gitsign(&args)
    };
    let o = verify(&[
        "--certificate-github-workflow-repository",
        "testbed-org/testbed-repo",
        "--certificate-github-workflow-trigger",
        "push",
        "--certificate-github-workflow-ref",
        "refs/heads/main",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains(&format!("Good signature from {identity}")),
        "{}",
        text(&o)
    );
    let o = verify(&["--certificate-github-workflow-repository", "someone/else"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("workflow repository"), "{}", text(&o));
    // The same policy from git config, for git verify-commit.
    repo.git_ok(&[
        "config",
        "gitsign.certificateIdentityRegexp",
        "https://github\\.com/testbed-org/.*",
    ]);
    repo.git_ok(&["config", "gitsign.certificateOidcIssuer", gha]);
    repo.git_ok(&[
        "config",
        "gitsign.certificateGithubWorkflowRepository",
        "testbed-org/testbed-repo",
    ]);
    assert_eq!(repo.git_ok(&["log", "-1", "--format=%G?"]), "G");
    repo.git_ok(&[
        "config",
        "gitsign.certificateGithubWorkflowRepository",
        "someone/else",
    ]);
    assert_eq!(repo.git_ok(&["log", "-1", "--format=%G?|%GT"]), "U|never");
}

#[test]
fn trust_given_piecewise_like_go_gitsign() {
    let tb = Testbed::start();
    let repo = env_token_repo(&tb, "piecewise");
    std::fs::write(repo.path().join("f"), "x").unwrap();
    repo.git_ok(&["add", "f"]);
    let o = repo.git(&["commit", "-q", "-S", "-m", "signed"]);
    assert!(o.status.success(), "{}", text(&o));
    let state = Path::new(tb.var("TESTBED_STATE"));
    let verify = |env: &[(&str, &Path)]| {
        let mut c = repo.git_cmd(&["verify-commit", "HEAD"]);
        c.env_remove("GITSIGN_TRUSTED_ROOT");
        for (k, v) in env {
            c.env(k, v);
        }
        c.output().unwrap()
    };
    // The embedded public-good root does not know the testbed.
    let o = verify(&[]);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("does not chain to a Fulcio CA"),
        "{}",
        text(&o)
    );
    let chain = state.join("fulcio_chain.pem");
    let rekor_key = state.join("rekor_pub.pem");
    let ct_key = state.join("ctlog_pub.pem");
    let o = verify(&[
        ("SIGSTORE_ROOT_FILE", &chain),
        ("SIGSTORE_REKOR_PUBLIC_KEY", &rekor_key),
        ("SIGSTORE_CT_LOG_PUBLIC_KEY_FILE", &ct_key),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let o = verify(&[
        ("GITSIGN_FULCIO_ROOT", &chain),
        ("SIGSTORE_REKOR_PUBLIC_KEY", &rekor_key),
        ("SIGSTORE_CT_LOG_PUBLIC_KEY_FILE", &ct_key),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    // Each piece matters.
    let o = verify(&[
        ("SIGSTORE_ROOT_FILE", &chain),
        ("SIGSTORE_REKOR_PUBLIC_KEY", &rekor_key),
    ]);
    assert!(!o.status.success());
    assert!(text(&o).contains("SCT"), "{}", text(&o));
    let o = verify(&[
        ("SIGSTORE_ROOT_FILE", &chain),
        ("SIGSTORE_CT_LOG_PUBLIC_KEY_FILE", &ct_key),
    ]);
    assert!(!o.status.success());
    assert!(text(&o).contains("unknown log"), "{}", text(&o));
    // A missing file is named.
    let o = verify(&[("SIGSTORE_ROOT_FILE", Path::new("/nonexistent/root.pem"))]);
    assert!(text(&o).contains("/nonexistent/root.pem"), "{}", text(&o));
}

/// Fulcio's other response shape: the SCT comes beside the certificate.
/// A signature cannot carry it and verification requires an SCT embedded
/// in the certificate, so gitsign refuses the certificate before signing
/// (nothing is logged, nothing committed) and says why.
#[test]
fn detached_sct_response() {
    let tb = Testbed::start();
    let repo = env_token_repo(&tb, "detached");
    tb.fault("fulcio", "detached-sct", None, None);
    std::fs::write(repo.path().join("f"), "x").unwrap();
    repo.git_ok(&["add", "f"]);
    let o = repo.git(&["commit", "-q", "-S", "-m", "detached sct"]);
    assert!(!o.status.success(), "signed: {}", text(&o));
    let err = text(&o);
    assert!(
        err.contains("detached SCT") && err.contains("embedded"),
        "{err}"
    );
    assert!(repo
        .git(&["rev-parse", "-q", "--verify", "HEAD"])
        .stdout
        .is_empty());
    assert_eq!(tb.stats()["rekor_entries"].as_u64(), Some(0));
}
