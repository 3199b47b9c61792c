//! What gitsign reads from git cannot be steered by the repository's
//! contents or the command line: replace refs (`refs/replace/*`) are never
//! followed, an object whose bytes do not hash to the id asked for is
//! refused, and a revision that looks like an option is never handed to git
//! as one. Through the commands a user runs (`gitsign verify`,
//! `verify-tag`, `export-bundle`) on real repositories with corpus
//! signatures (offline, no network).

mod common;

use common::{empty_rekor, fixtures, text, Repo};

const IDENTITY: &str = "billy@chainguard.dev";
const ISSUER: &str = "https://accounts.google.com";
/// A valid offline-mode commit and tag from the corpus (Go gitsign).
const SIGNED_COMMIT: &str = "objects/gitsign/gs_td_e2e_offline.commit";
const SIGNED_TAG: &str = "objects/gitsign/gs_tag_v0.17.1_offline.tag";

/// A repository trusting the public-good root, with one unsigned commit
/// (returned) and the corpus commit and tag added as objects.
fn repo(tag: &str) -> (Repo, String, String, String) {
    let repo = Repo::new(tag);
    let root = fixtures().join("trust/trusted_root.prod.json");
    repo.git_ok(&["config", "gitsign.trustedRoot", &root.display().to_string()]);
    repo.git_ok(&["config", "gitsign.rekor", &empty_rekor()]);
    std::fs::write(repo.path().join("f"), "x\n").unwrap();
    repo.git_ok(&["add", "f"]);
    repo.git_ok(&["commit", "-q", "-m", "an unsigned commit"]);
    let unsigned = repo.git_ok(&["rev-parse", "HEAD"]);
    let signed = repo.add_object("commit", &fixtures().join(SIGNED_COMMIT));
    let tag = repo.add_object("tag", &fixtures().join(SIGNED_TAG));
    (repo, unsigned, signed, tag)
}

fn verify(repo: &Repo, revs: &[&str]) -> std::process::Output {
    let mut args = vec![
        "verify",
        "--certificate-identity",
        IDENTITY,
        "--certificate-oidc-issuer",
        ISSUER,
    ];
    args.extend_from_slice(revs);
    repo.gitsign(&args)
}

/// The corpus objects verify as themselves: the control for the tests below.
#[test]
fn the_signed_objects_verify() {
    let (repo, unsigned, signed, tag) = repo("reads-control");
    let o = verify(&repo, &[&signed]);
    assert!(o.status.success(), "{}", text(&o));
    let o = verify(&repo, &[&unsigned]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("not signed"), "{}", text(&o));
    // Under its own name (a tag ref naming another tag is refused).
    repo.git_ok(&["update-ref", "refs/tags/v0.17.1", &tag]);
    let o = repo.gitsign(&[
        "verify-tag",
        "v0.17.1",
        "--certificate-identity",
        IDENTITY,
        "--certificate-oidc-issuer",
        ISSUER,
    ]);
    assert!(o.status.success(), "{}", text(&o));

    // The same tag object under another name: refused by verify-tag and
    // by gitsign verify (which reads the ref before git peels it).
    repo.git_ok(&["update-ref", "refs/tags/good", &tag]);
    let refusal = "refs/tags/good points at a tag object signed as v0.17.1";
    let o = repo.gitsign(&[
        "verify-tag",
        "good",
        "--certificate-identity",
        IDENTITY,
        "--certificate-oidc-issuer",
        ISSUER,
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains(refusal), "{}", text(&o));
    for rev in ["good", "refs/tags/good", "good^{commit}", "v0.17.1..good"] {
        let o = verify(&repo, &[rev]);
        assert_eq!(o.status.code(), Some(2), "{rev}: {}", text(&o));
        assert!(text(&o).contains(refusal), "{rev}: {}", text(&o));
    }

    // A branch of the same name as a tag: the short name is refused,
    // naming both; the full names are read exactly.
    repo.git_ok(&["update-ref", "refs/heads/good", &signed]);
    let o = verify(&repo, &["good"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("\"good\" is ambiguous: it names refs/tags/good and refs/heads/good")
            && text(&o).contains("write the full ref name"),
        "{}",
        text(&o)
    );
    let o = verify(&repo, &["refs/heads/good"]);
    assert!(o.status.success(), "{}", text(&o));
}

/// `refs/replace/<unsigned>` pointing at a signed commit must not make the
/// unsigned commit verify, in `gitsign verify` (git rev-list and cat-file)
/// or `export-bundle` (gix).
#[test]
fn replace_refs_are_not_followed_for_commits() {
    let (repo, unsigned, signed, _) = repo("reads-replace");
    repo.git_ok(&["update-ref", &format!("refs/replace/{unsigned}"), &signed]);
    // git itself now shows the signed commit in place of the unsigned one.
    assert!(repo
        .git_ok(&["cat-file", "commit", &unsigned])
        .contains("gpgsig"));
    let o = verify(&repo, &[&unsigned]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "an unsigned commit verified through a replace ref: {}",
        text(&o)
    );
    assert!(
        text(&o).contains(&unsigned[..12]) && text(&o).contains("not signed"),
        "{}",
        text(&o)
    );
    // A range walk reads the same way.
    let o = verify(&repo, &["--all"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains(&format!(
            "commit {} \"an unsigned commit\": not signed",
            &unsigned[..12]
        )),
        "{}",
        text(&o)
    );
    let out = repo.dir.path().join("bundle.json");
    let art = repo.dir.path().join("artifact");
    let o = repo.gitsign(&[
        "export-bundle",
        &unsigned,
        "--output",
        &out.display().to_string(),
        "--artifact",
        &art.display().to_string(),
    ]);
    assert_ne!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("is not signed"), "{}", text(&o));
    assert!(!out.exists());
}

/// A replaced tag object must not make `verify-tag` report the stand-in's
/// signature.
#[test]
fn replace_refs_are_not_followed_for_tags() {
    let (repo, _, _, signed_tag) = repo("reads-replace-tag");
    repo.git_ok(&["tag", "-a", "plain", "-m", "an unsigned tag"]);
    let plain = repo.git_ok(&["rev-parse", "refs/tags/plain"]);
    repo.git_ok(&["update-ref", &format!("refs/replace/{plain}"), &signed_tag]);
    let o = repo.gitsign(&[
        "verify-tag",
        "plain",
        "--certificate-identity",
        IDENTITY,
        "--certificate-oidc-issuer",
        ISSUER,
    ]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "an unsigned tag verified through a replace ref: {}",
        text(&o)
    );
    assert!(text(&o).contains("NOT signed"), "{}", text(&o));
}

/// The path of a loose object in `repo`.
fn loose(repo: &Repo, id: &str) -> std::path::PathBuf {
    repo.path()
        .join(".git/objects")
        .join(&id[..2])
        .join(&id[2..])
}

/// An object file whose contents are another object's (a tampered or
/// corrupted store): git hands the bytes over without checking them; we
/// must, and name both ids.
#[test]
fn objects_must_hash_to_the_id_asked_for() {
    let (repo, unsigned, signed, tag) = repo("reads-hash");
    let victim = loose(&repo, &unsigned);
    assert!(victim.exists(), "the unsigned commit is a loose object");
    std::fs::remove_file(&victim).unwrap();
    std::fs::copy(loose(&repo, &signed), &victim).unwrap();
    let o = verify(&repo, &[&unsigned]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "a swapped object file verified: {}",
        text(&o)
    );
    assert!(
        text(&o).contains(&format!("does not hash to {unsigned}")),
        "{}",
        text(&o)
    );
    // The gix path (verify-tag) checks the same way.
    repo.git_ok(&["tag", "-a", "plain", "-m", "an unsigned tag"]);
    let plain = repo.git_ok(&["rev-parse", "refs/tags/plain"]);
    let victim = loose(&repo, &plain);
    std::fs::remove_file(&victim).unwrap();
    std::fs::copy(loose(&repo, &tag), &victim).unwrap();
    let o = repo.gitsign(&[
        "verify-tag",
        "plain",
        "--certificate-identity",
        IDENTITY,
        "--certificate-oidc-issuer",
        ISSUER,
    ]);
    assert_ne!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains(&format!("does not hash to {plain}")),
        "{}",
        text(&o)
    );
}

/// Issue 10, item 6: a revision that looks like an option is refused, not
/// passed to git, which would take `--output=FILE` as an option and
/// truncate FILE.
#[test]
fn option_like_revisions_are_refused() {
    let (repo, unsigned, _, _) = repo("reads-options");
    let victim = repo.dir.path().join("precious.txt");
    std::fs::write(&victim, "keep me\n").unwrap();
    let out_opt = format!("--output={}", victim.display());
    for revs in [
        vec!["--", "HEAD", out_opt.as_str()],
        vec!["--", out_opt.as_str()],
        vec!["--all", "--", out_opt.as_str()],
        vec!["--", "--all"],
    ] {
        let o = verify(&repo, &revs);
        assert_eq!(
            std::fs::read_to_string(&victim).unwrap(),
            "keep me\n",
            "{revs:?}: git took a revision as an option"
        );
        assert_eq!(o.status.code(), Some(2), "{revs:?}: {}", text(&o));
        let last = revs.last().unwrap();
        assert!(
            text(&o).contains(&format!("\"{last}\" is not a revision")),
            "{revs:?}: {}",
            text(&o)
        );
    }
    // A revision that merely contains a dash is still one.
    repo.git_ok(&["tag", "v-1", &unsigned]);
    let o = verify(&repo, &["v-1"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("not signed"), "{}", text(&o));
}
