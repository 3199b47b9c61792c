//! Text from input (commit subjects, certificate claims) cannot steer the
//! terminal: control characters reach stdout and stderr escaped, so a
//! subject carrying CR and ANSI sequences cannot redraw a FAIL line as OK.

mod common;

use common::{text, Repo, Testbed};

/// Raw bytes that would move the cursor, recolour or reorder text.
fn has_raw_controls(out: &[u8]) -> bool {
    let s = String::from_utf8_lossy(out);
    s.chars().any(|c| {
        (c.is_control() && c != '\n')
            || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    })
}

const EVIL: &str =
    "fix\r\x1b[2K\x1b[32mOK   commit 000000000000 \"trusted\"\x1b[0m \u{202e}gnp.exe";

#[test]
fn commit_subjects_are_escaped() {
    let repo = Repo::new("terminal");
    std::fs::write(repo.path().join("f"), "x\n").unwrap();
    repo.git_ok(&["add", "f"]);
    repo.git_ok(&["commit", "-q", "-m", EVIL]);
    let o = repo.gitsign(&[
        "verify",
        "--certificate-identity",
        "alice@example.com",
        "--certificate-oidc-issuer",
        "https://issuer.example",
        "--all",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(!has_raw_controls(&o.stdout), "{:?}", text(&o));
    assert!(!has_raw_controls(&o.stderr), "{:?}", text(&o));
    let out = text(&o);
    assert!(out.starts_with("FAIL commit "), "{out}");
    assert!(
        out.contains("fix\\x0d\\x1b[2K\\x1b[32mOK   commit 000000000000"),
        "{out}"
    );
    assert!(out.contains("\\u{202e}gnp.exe"), "{out}");
    assert!(out.contains("not signed"), "{out}");
}

#[test]
fn certificate_claims_are_escaped() {
    let tb = Testbed::start();
    // The workflow name is chosen by whoever writes the workflow.
    tb.control(
        "POST",
        "/gha/claims",
        Some(serde_json::json!({ "workflow": EVIL })),
    );
    let repo = Repo::actions(&tb, "terminal-gha");
    std::fs::write(repo.path().join("f"), "ci").unwrap();
    repo.git_ok(&["add", "f"]);
    let o = repo.git(&["commit", "-q", "-S", "-m", "signed in CI"]);
    assert!(o.status.success(), "{}", text(&o));
    let identity =
        "https://github.com/testbed-org/testbed-repo/.github/workflows/ci.yml@refs/heads/main";
    let o = repo.gitsign(&[
        "verify",
        "--certificate-identity",
        identity,
        "--certificate-oidc-issuer",
        tb.var("TESTBED_GHA_ISSUER"),
        "--certificate-github-workflow-name",
        "Release",
        "HEAD",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(!has_raw_controls(&o.stdout), "{:?}", text(&o));
    assert!(!has_raw_controls(&o.stderr), "{:?}", text(&o));
    assert!(
        text(&o).contains("GitHub workflow name is \"fix\\x0d\\x1b[2K\\x1b[32mOK"),
        "{}",
        text(&o)
    );
    // And through git, which shows what gitsign writes to stderr.
    repo.git_ok(&["config", "gitsign.certificateIdentity", identity]);
    repo.git_ok(&[
        "config",
        "gitsign.certificateOidcIssuer",
        tb.var("TESTBED_GHA_ISSUER"),
    ]);
    repo.git_ok(&["config", "gitsign.certificateGithubWorkflowName", "Release"]);
    let o = repo.git(&["verify-commit", "HEAD"]);
    assert!(!o.status.success(), "{}", text(&o));
    assert!(!has_raw_controls(&o.stderr), "{:?}", text(&o));
    assert!(text(&o).contains("REJECTED"), "{}", text(&o));
}
