//! Settings that decide trust come from the user, never from a repository
//! another user owns: such a repository's `gitsign.*` config could name the
//! trusted root and the identity policy a visitor verifies with. gitsign
//! applies git's own rule (`safe.directory`) to every command.

mod common;

use common::{fixtures, text, Repo};

#[test]
#[cfg_attr(
    gitsign_skip_root,
    ignore = "needs root to give a repository to another user (GITSIGN_TEST_SKIP_ROOT=1 was set)"
)]
fn a_repository_owned_by_another_user_does_not_choose_whom_we_trust() {
    // Making a directory another user owns needs root.
    common::require_root("chown gives the repository to nobody");
    let repo = Repo::new("foreign");
    let tag = fixtures().join("objects/gitsign/gs_tag_v0.17.1_offline.tag");
    let id = repo.add_object("tag", &tag);
    repo.git_ok(&["update-ref", "refs/tags/v0.17.1", &id]);
    // The owner says whom to trust: the tag's own signer.
    repo.git_ok(&[
        "config",
        "gitsign.certificateIdentity",
        "billy@chainguard.dev",
    ]);
    repo.git_ok(&[
        "config",
        "gitsign.certificateOidcIssuer",
        "https://accounts.google.com",
    ]);
    let o = repo.gitsign(&["verify-tag", "v0.17.1"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("Signer trusted"), "{}", text(&o));

    // Now the repository belongs to someone else.
    let st = std::process::Command::new("chown")
        .args(["-R", "nobody"])
        .arg(repo.path())
        .status()
        .unwrap();
    assert!(st.success());
    let work = repo.path().display().to_string();
    // The hint names the repository's absolute path, never ".".
    let hint = format!(
        "git config --global --add safe.directory {}`",
        std::fs::canonicalize(repo.path()).unwrap().display()
    );
    let refused = |o: &std::process::Output, what: &str| {
        let out = text(o);
        assert_eq!(o.status.code(), Some(2), "{what}: {out}");
        assert!(
            out.contains("is owned by another user") && out.contains("safe.directory"),
            "{what}: {out}"
        );
        assert!(out.contains(&hint), "{what}: {out}");
        assert!(!out.contains("Signer trusted"), "{what}: {out}");
    };
    refused(&repo.gitsign(&["verify-tag", "v0.17.1"]), "verify-tag");
    refused(&repo.gitsign(&["version"]), "version");
    refused(
        &repo.gitsign(&[
            "verify",
            "--certificate-identity",
            "x@example.com",
            "--certificate-oidc-issuer",
            "https://x",
            "HEAD",
        ]),
        "verify",
    );
    let bundle = fixtures().join("bundles/gs_td_oid_offline.sigstore.json");
    refused(
        &repo.gitsign(&[
            "verify-bundle",
            "--bundle",
            &bundle.display().to_string(),
            "--certificate-identity",
            "x@example.com",
            "--certificate-oidc-issuer",
            "https://x",
            &format!("sha256:{}", "0".repeat(64)),
        ]),
        "verify-bundle",
    );
    // git's own verification never reaches gitsign here; called directly
    // (as gpg.x509.program), gitsign refuses the same way.
    let sig = repo.dir.path().join("sig");
    std::fs::write(&sig, "x").unwrap();
    let o = repo.gitsign(&["--status-fd=1", "--verify", &sig.display().to_string(), "-"]);
    let out = text(&o);
    assert!(
        out.contains("[GNUPG:] ERRSIG") && out.contains("safe.directory"),
        "{out}"
    );
    assert!(!repo.git(&["verify-tag", "v0.17.1"]).status.success());

    // The user's own word makes it trusted again, as for git.
    repo.git_ok(&["config", "--global", "--add", "safe.directory", &work]);
    let o = repo.gitsign(&["verify-tag", "v0.17.1"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("Signer trusted"), "{}", text(&o));
}
