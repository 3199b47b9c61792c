//! Attacks on verification (issue 10 follow-up, attacker's side). Each test
//! drives a path a user runs (git, the gitsign binary, the testbed) and
//! asserts what must hold; a failing test is a finding.

mod common;

use common::{fixtures, text, Repo};
use gitsign::git::gitobj::{self, HashAlgo, ObjectKind};
use gitsign::pki::cms::{self, SignedData};

fn corpus_commit(name: &str) -> Vec<u8> {
    std::fs::read(fixtures().join("objects/gitsign").join(name)).unwrap()
}

/// (identity, issuer, committer time) of a corpus commit's signer.
fn corpus_signer(commit: &[u8]) -> (String, String, i64) {
    let signed = gitobj::split(commit, ObjectKind::Commit, HashAlgo::Sha1)
        .unwrap()
        .unwrap();
    let sd = SignedData::from_der(&cms::unarmor(&signed.signature).unwrap()).unwrap();
    let cert = sd.signer_certificate().unwrap();
    let claims = gitsign::pki::claims::Claims::from_certificate(cert).unwrap();
    let committer = String::from_utf8_lossy(commit)
        .lines()
        .find_map(|l| l.strip_prefix("committer ").map(str::to_string))
        .unwrap();
    let t: i64 = committer.rsplit(' ').nth(1).unwrap().parse().unwrap();
    (claims.identity, claims.issuer.unwrap(), t)
}

/// Finding (medium): `gitsign verify --since` takes which commits it checks
/// from committer dates, which whoever writes a commit chooses. A pusher's
/// unsigned commit dated in the past is left out of the range, and git's
/// date-limited walk stops there, so nothing behind it is checked either;
/// the run still reports every commit passed and exits 0. The docs show
/// `gitsign verify --all --since=...` as the way to check a repository.
#[test]
fn a_backdated_commit_is_not_left_out_of_a_since_range() {
    let good = corpus_commit("gs_commit_offline_latest.commit");
    let (identity, issuer, committed) = corpus_signer(&good);
    let repo = Repo::new("attack-since");
    let file = repo.dir.path().join("good.commit");
    std::fs::write(&file, &good).unwrap();
    let good_id = repo.add_object("commit", &file);
    repo.git_ok(&["update-ref", "refs/heads/release", &good_id]);

    // The pusher's commit on top of main: unsigned, dated 2001.
    let evil = format!(
        "tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\nparent {good_id}\n\
         author Mallory <m@example.com> 978307200 +0000\n\
         committer Mallory <m@example.com> 978307200 +0000\n\nbackdated, unsigned\n"
    );
    let file = repo.dir.path().join("evil.commit");
    std::fs::write(&file, evil).unwrap();
    let evil_id = repo.git_ok(&[
        "hash-object",
        "-w",
        "-t",
        "commit",
        &file.display().to_string(),
    ]);
    repo.git_ok(&["update-ref", "refs/heads/main", &evil_id]);

    // Without --since the range is checked and the unsigned tip fails.
    let all = repo.gitsign(&[
        "verify",
        "--certificate-identity",
        &identity,
        "--certificate-oidc-issuer",
        &issuer,
        "--all",
    ]);
    assert!(!all.status.success(), "{}", text(&all));
    assert!(text(&all).contains(&evil_id[..12]), "{}", text(&all));

    // "Everything since a day before the good commit" must still see the
    // unsigned commit on main.
    let since = gitsign::encoding::time::format_time(committed - 86400);
    let o = repo.gitsign(&[
        "verify",
        "--certificate-identity",
        &identity,
        "--certificate-oidc-issuer",
        &issuer,
        "--all",
        &format!("--since={since}"),
    ]);
    let out = text(&o);
    assert!(
        !o.status.success() || out.contains(&evil_id[..12]),
        "gitsign verify --all --since={since} passed without checking the unsigned tip of main \
         ({evil_id}), because its committer date says 2001:\n{out}"
    );
}

/// Finding (medium): a signed tag object verifies under any ref name. The
/// signature covers `tag v0.17.1`; whoever can push a tag ref points
/// `refs/tags/v9.9.9` at that object, and `gitsign verify-tag v9.9.9`
/// reports "tag v9.9.9: Good signature ... Signer trusted" (an old release
/// replayed as a new one). git fsck and git describe call such a tag "really
/// v0.17.1"; verification should too.
#[test]
fn a_signed_tag_does_not_vouch_for_another_tag_name() {
    let repo = Repo::new("attack-tagname");
    let tag = fixtures().join("objects/gitsign/gs_tag_v0.17.1_offline.tag");
    let id = repo.add_object("tag", &tag);
    repo.git_ok(&["update-ref", "refs/tags/v0.17.1", &id]);
    let args = |name: &str| {
        [
            "verify-tag".to_string(),
            "--certificate-identity".into(),
            "billy@chainguard.dev".into(),
            "--certificate-oidc-issuer".into(),
            "https://accounts.google.com".into(),
            name.into(),
        ]
    };
    let run = |name: &str| {
        let a = args(name);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        repo.gitsign(&a)
    };
    // The honest name verifies.
    let o = run("v0.17.1");
    assert!(o.status.success(), "{}", text(&o));

    // The same object under a name it was not signed for.
    repo.git_ok(&["update-ref", "refs/tags/v9.9.9", &id]);
    let o = run("v9.9.9");
    let out = text(&o);
    assert!(
        !o.status.success(),
        "gitsign verify-tag accepted the tag object signed as v0.17.1 under the name v9.9.9:\n{out}"
    );
}

const ALICE: &str = "alice@example.com";

/// A repository that signs as alice through the testbed.
fn alice_repo(tb: &common::Testbed, tag: &str) -> Repo {
    let mut repo = Repo::signer(tb, tag, ALICE);
    repo.env.push(("GIT_COMMITTER_EMAIL".into(), ALICE.into()));
    repo.env.push(("GIT_AUTHOR_EMAIL".into(), ALICE.into()));
    repo.git_ok(&["config", "gitsign.certificateIdentity", ALICE]);
    repo.git_ok(&[
        "config",
        "gitsign.certificateOidcIssuer",
        tb.var("GITSIGN_OIDC_ISSUER"),
    ]);
    repo
}

/// A bare repository whose pre-receive hook runs `gitsign hook pre-receive`
/// under `policy` (the testbed's root and Rekor configured).
fn hook_server(tb: &common::Testbed, policy: &str) -> (common::TempDir, std::path::PathBuf) {
    let dir = common::TempDir::new("attack-server");
    let path = dir.path().join("server.git");
    let git = |args: &[&str]| {
        let o = std::process::Command::new("git")
            .arg("-C")
            .arg(dir.path())
            .args(args)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o));
    };
    git(&["init", "-q", "--bare", "-b", "main", "server.git"]);
    let file = dir.path().join("policy.toml");
    std::fs::write(&file, policy).unwrap();
    let p = path.display().to_string();
    git(&[
        "-C",
        &p,
        "config",
        "gitsign.policy",
        &file.display().to_string(),
    ]);
    git(&[
        "-C",
        &p,
        "config",
        "gitsign.trustedRoot",
        tb.var("GITSIGN_TRUSTED_ROOT"),
    ]);
    git(&[
        "-C",
        &p,
        "config",
        "gitsign.rekor",
        tb.var("GITSIGN_REKOR_URL"),
    ]);
    let hook = path.join("hooks/pre-receive");
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
    (dir, path)
}

/// Finding (medium): the pre-receive hook accepts alice's signed tag
/// object under any tag name. The policy says only alice may create tags
/// (`signed_tags = true`); anyone who may push re-publishes her signed
/// `v1.0` as `refs/tags/v9.9` (an old release dressed as a new one), and
/// the hook lets it through because the signature is good, though what it
/// signed says `tag v1.0`.
#[test]
fn the_hook_refuses_a_signed_tag_pushed_under_another_name() {
    let tb = common::Testbed::start();
    let repo = alice_repo(&tb, "attack-tag-push");
    std::fs::write(repo.path().join("f"), "1\n").unwrap();
    repo.git_ok(&["add", "f"]);
    let o = repo.git(&["commit", "-q", "-S", "-m", "release 1.0"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = repo.git(&["tag", "-s", "v1.0", "-m", "v1.0"]);
    assert!(o.status.success(), "{}", text(&o));
    let policy = format!(
        "version = 1\n[signers.alice]\nidentity = \"{ALICE}\"\nissuer = \"{}\"\n\n\
         [[rules]]\nrefs = [\"refs/heads/*\", \"refs/tags/*\"]\nsigners = [\"alice\"]\nsigned_tags = true\n",
        tb.var("GITSIGN_OIDC_ISSUER")
    );
    let (_dir, server) = hook_server(&tb, &policy);
    let server = server.display().to_string();
    let o = repo.git(&["push", &server, "main", "refs/tags/v1.0"]);
    assert!(o.status.success(), "honest push refused:\n{}", text(&o));
    // The hook is in force: a lightweight tag is refused.
    repo.git_ok(&["tag", "light"]);
    let o = repo.git(&["push", &server, "refs/tags/light"]);
    assert!(!o.status.success(), "{}", text(&o));

    // The same tag object, under a name alice never signed.
    let o = repo.git(&["push", &server, "refs/tags/v1.0:refs/tags/v9.9"]);
    assert!(
        !o.status.success(),
        "the hook accepted alice's tag object (signed as \"tag v1.0\") pushed as refs/tags/v9.9:\n{}",
        text(&o)
    );
}

/// Finding (low): `gitsign verify --format json` writes commit subjects
/// through serde_json, which escapes only C0 controls, quotes and
/// backslashes: bidi overrides (U+202E, U+2066..2069) and C1 controls
/// (U+009B, a CSI to terminals that honour 8-bit controls) from a pusher's
/// commit message reach stdout raw, unlike the text output
/// (`text::printable`). A JSON line shown in a terminal or CI log can be
/// reordered by the subject.
#[test]
fn json_output_does_not_carry_raw_bidi_or_c1_from_input() {
    let repo = Repo::new("attack-json-terminal");
    std::fs::write(repo.path().join("f"), "x\n").unwrap();
    repo.git_ok(&["add", "f"]);
    let evil = "fix \u{202e}\"}:eurt\"=dessap \u{9b}31m";
    repo.git_ok(&["commit", "-q", "-m", evil]);
    let o = repo.gitsign(&[
        "verify",
        "--certificate-identity",
        "alice@example.com",
        "--certificate-oidc-issuer",
        "https://issuer.example",
        "--format",
        "json",
        "--all",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    // Still valid JSON with the subject intact...
    let line = out.lines().next().unwrap();
    let v: serde_json::Value = serde_json::from_str(line).unwrap();
    assert_eq!(v["passed"], serde_json::json!(false), "{line}");
    // ... but written with escapes, not the raw characters.
    let raw: Vec<char> = out
        .chars()
        .filter(|c| {
            (c.is_control() && *c != '\n')
                || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
        })
        .collect();
    assert!(
        raw.is_empty(),
        "gitsign verify --format json printed raw {raw:?} from a commit subject: {out:?}"
    );
}

/// Finding (medium): `gitsign verify NAME` resolves NAME as git's short-name
/// lookup does, where `refs/tags/NAME` wins over `refs/heads/NAME` (and
/// `refs/tags/origin/main` over `refs/remotes/origin/main`). Whoever can
/// push a tag called `main` pointing at an old commit a trusted signer made
/// has `gitsign verify main` check that commit instead of the branch, whose
/// tip is unsigned; gitsign reports Good and exits 0 (git's "refname 'main'
/// is ambiguous" warning is not even shown). gitsign refuses short names in
/// `gitsign.policyRef` for exactly this reason.
#[test]
fn a_tag_named_like_a_branch_does_not_choose_what_verify_checks() {
    let good = corpus_commit("gs_commit_offline_latest.commit");
    let (identity, issuer, committed) = corpus_signer(&good);
    let repo = Repo::new("attack-ambiguous");
    let file = repo.dir.path().join("good.commit");
    std::fs::write(&file, &good).unwrap();
    let good_id = repo.add_object("commit", &file);
    let evil = format!(
        "tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\nparent {good_id}\n\
         author Mallory <m@example.com> {t} +0000\ncommitter Mallory <m@example.com> {t} +0000\n\n\
         unsigned, on main\n",
        t = committed + 60
    );
    let file = repo.dir.path().join("evil.commit");
    std::fs::write(&file, evil).unwrap();
    let evil_id = repo.git_ok(&[
        "hash-object",
        "-w",
        "-t",
        "commit",
        &file.display().to_string(),
    ]);
    repo.git_ok(&["update-ref", "refs/heads/main", &evil_id]);
    let verify = |rev: &str| {
        repo.gitsign(&[
            "verify",
            "--certificate-identity",
            &identity,
            "--certificate-oidc-issuer",
            &issuer,
            rev,
        ])
    };
    // The branch alone: its unsigned tip fails.
    let o = verify("main");
    assert!(!o.status.success(), "{}", text(&o));

    // A pusher adds a tag called main at the old, signed commit.
    repo.git_ok(&["update-ref", "refs/tags/main", &good_id]);
    let o = verify("main");
    assert!(
        !o.status.success(),
        "gitsign verify main checked the tag refs/tags/main ({good_id}) instead of the branch \
         refs/heads/main, whose tip {evil_id} is unsigned:\n{}",
        text(&o)
    );
}
