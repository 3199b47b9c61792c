//! Promises of docs/verification.md, docs/policy.md and the README about
//! `gitsign verify` that no other test pinned, through the user's path
//! (real commits signed by the loopback testbed): range syntax (`^A B`,
//! `A..B`, `--all`, `--since`), `--jobs`, the JSON fields, `--policy` with
//! `--ref` (the ref's rule, `unmatched_refs`, `signers = ["*"]`,
//! `valid_from`/`valid_until`, `require_tlog`, GitHub workflow sha and name
//! claims), the transparency-log settings, and exit 1 (a bad or refused
//! signature) against exit 2 (nothing could be decided). Each row of
//! docs/promises.md that names this file is one assertion here.

mod common;

use std::process::Output;

use common::{text, Repo, Testbed};

/// A repository signing as `email` with a token from the testbed.
fn signer(tb: &Testbed, tag: &str, email: &str) -> Repo {
    let mut repo = Repo::signer(tb, tag, email);
    repo.env.push(("GIT_COMMITTER_EMAIL".into(), email.into()));
    repo
}

fn commit(repo: &Repo, n: usize, sign: bool, date: Option<&str>) -> String {
    std::fs::write(repo.path().join(format!("f{n}")), format!("{n}\n")).unwrap();
    repo.git_ok(&["add", "."]);
    let msg = format!("change {n}");
    let mut args = vec!["commit", "-q", "-m", msg.as_str()];
    if sign {
        args.push("-S");
    }
    let mut c = repo.git_cmd(&args);
    if let Some(d) = date {
        c.env("GIT_COMMITTER_DATE", d).env("GIT_AUTHOR_DATE", d);
    }
    let o = c.output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    repo.git_ok(&["rev-parse", "HEAD"])
}

/// `gitsign verify` against the testbed identity, with `args` after it.
fn verify(tb: &Testbed, repo: &Repo, email: &str, args: &[&str]) -> Output {
    let mut a = vec![
        "verify",
        "--certificate-identity",
        email,
        "--certificate-oidc-issuer",
        tb.var("GITSIGN_OIDC_ISSUER"),
    ];
    a.extend_from_slice(args);
    repo.gitsign(&a)
}

/// The commit ids `gitsign verify --format json` reported, in order.
fn json_ids(o: &Output) -> Vec<String> {
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| {
            let v: serde_json::Value =
                serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
            v["id"].as_str().unwrap().to_string()
        })
        .collect()
}

const ALICE: &str = "alice@example.com";

#[test]
fn ranges_jobs_and_json() {
    let tb = Testbed::start();
    let repo = signer(&tb, "prom-ranges", ALICE);
    let old = commit(&repo, 0, false, Some("2020-01-01T00:00:00Z"));
    let c1 = commit(&repo, 1, true, None);
    let c2 = commit(&repo, 2, true, None);
    let c3 = commit(&repo, 3, true, None);

    // `^A B`: the commits of B not in A, newest first (as rev-list).
    let o = verify(
        &tb,
        &repo,
        ALICE,
        &["--format", "json", &format!("^{c1}"), &c3],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(json_ids(&o), vec![c3.clone(), c2.clone()]);
    // The same with the ends swapped in the argument list.
    let o = verify(
        &tb,
        &repo,
        ALICE,
        &["--format", "json", &c3, &format!("^{c1}")],
    );
    assert_eq!(json_ids(&o), vec![c3.clone(), c2.clone()]);
    // `A..B`.
    let o = verify(
        &tb,
        &repo,
        ALICE,
        &["--format", "json", &format!("{old}..{c2}")],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(json_ids(&o), vec![c2.clone(), c1.clone()]);
    // Plain arguments: each is one commit.
    let o = verify(&tb, &repo, ALICE, &["--format", "json", &c1, &c3]);
    assert_eq!(json_ids(&o), vec![c1.clone(), c3.clone()]);

    // --all covers the unsigned root: exit 1, that commit failing, named.
    let o = verify(&tb, &repo, ALICE, &["--format", "json", "--all"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert_eq!(
        json_ids(&o),
        vec![c3.clone(), c2.clone(), c1.clone(), old.clone()]
    );
    let last: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&o.stdout).lines().last().unwrap()).unwrap();
    assert_eq!(last["passed"], false, "{last}");
    assert!(
        last["reason"].as_str().unwrap_or("").contains("not signed"),
        "{last}"
    );
    // --since leaves it out: every commit passes.
    let o = verify(
        &tb,
        &repo,
        ALICE,
        &["--format", "json", "--all", "--since=2021-01-01"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(json_ids(&o), vec![c3.clone(), c2.clone(), c1.clone()]);

    // Every JSON field the page names, with the verdict's values.
    let first: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&o.stdout).lines().next().unwrap()).unwrap();
    for k in [
        "id",
        "verdict",
        "identity",
        "issuer",
        "tlog_index",
        "time",
        "reason",
        "passed",
    ] {
        assert!(first.get(k).is_some(), "no {k} in {first}");
    }
    assert_eq!(first["identity"], ALICE);
    assert_eq!(first["issuer"], tb.var("GITSIGN_OIDC_ISSUER"));
    assert_eq!(first["passed"], true);
    assert!(first["tlog_index"].as_u64().is_some(), "{first}");

    // --jobs: the same lines in the same order on one thread and on four.
    let one = verify(&tb, &repo, ALICE, &["--jobs", "1", "--all"]);
    let four = verify(&tb, &repo, ALICE, &["--jobs", "4", "--all"]);
    assert_eq!(one.status.code(), Some(1), "{}", text(&one));
    assert_eq!(four.status.code(), Some(1), "{}", text(&four));
    assert_eq!(one.stdout, four.stdout);
    let j1 = verify(
        &tb,
        &repo,
        ALICE,
        &["--jobs", "1", "--format", "json", "--all"],
    );
    let j4 = verify(
        &tb,
        &repo,
        ALICE,
        &["--jobs", "4", "--format", "json", "--all"],
    );
    assert_eq!(json_ids(&j1), json_ids(&j4));

    // Another signer than the one asked for: exit 1, the identity named.
    let o = verify(&tb, &repo, "bob@example.com", &[&c3]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains(ALICE), "{}", text(&o));

    // An unknown revision, an identity without an issuer: nothing could be
    // decided, exit 2.
    let o = verify(&tb, &repo, ALICE, &["no-such-revision"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("no-such-revision"), "{}", text(&o));
    let o = repo.gitsign(&["verify", "--certificate-identity", ALICE, &c3]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).to_lowercase().contains("issuer"), "{}", text(&o));
}

#[test]
fn online_signatures_need_rekor_unless_told_otherwise() {
    let tb = Testbed::start();
    let repo = signer(&tb, "prom-online", ALICE);
    repo.git_ok(&["config", "gitsign.rekorMode", "online"]);
    let c = commit(&repo, 1, true, None);
    let o = verify(&tb, &repo, ALICE, &[&c]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));

    // Rekor unreachable: git sees E (gitsign exits 2 to git), saying so.
    let dead = |args: &[&str]| {
        let mut a = vec![
            "verify",
            "--certificate-identity",
            ALICE,
            "--certificate-oidc-issuer",
            tb.var("GITSIGN_OIDC_ISSUER"),
        ];
        a.extend_from_slice(args);
        repo.gitsign_cmd(&a)
            .env("GITSIGN_REKOR_URL", "http://127.0.0.1:9")
            .output()
            .unwrap()
    };
    let o = repo
        .git_cmd(&["verify-commit", &c])
        .env("GITSIGN_REKOR_URL", "http://127.0.0.1:9")
        .output()
        .unwrap();
    assert!(!o.status.success(), "{}", text(&o));
    assert_eq!(
        String::from_utf8_lossy(
            &repo
                .git_cmd(&["log", "-1", "--format=%G?", &c])
                .env("GITSIGN_REKOR_URL", "http://127.0.0.1:9")
                .output()
                .unwrap()
                .stdout
        )
        .trim(),
        "E"
    );
    assert!(
        text(&o).contains("cannot search the transparency log"),
        "{}",
        text(&o)
    );

    // --insecure-ignore-tlog: accepted with the warning.
    let o = dead(&["--insecure-ignore-tlog", &c]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains("WARNING: the transparency log was not checked"),
        "{}",
        text(&o)
    );
    // gitsign.verifyTlog = optional: the same.
    let o = repo
        .git_cmd(&["-c", "gitsign.verifyTlog=optional", "verify-commit", &c])
        .env("GITSIGN_REKOR_URL", "http://127.0.0.1:9")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("WARNING: the transparency log was not checked"),
        "{}",
        text(&o)
    );
    // gitsign.verifyTlog = skip: never searches, even a reachable Rekor.
    let before = tb.stats();
    let o = repo.git(&["-c", "gitsign.verifyTlog=skip", "verify-commit", &c]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("WARNING: the transparency log was not checked"),
        "{}",
        text(&o)
    );
    assert_eq!(tb.stats(), before, "skip searched Rekor");
    // require (the default) with Rekor reachable: no warning.
    let o = repo.git(&["verify-commit", &c]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(!text(&o).contains("WARNING"), "{}", text(&o));
}

fn policy_file(repo: &Repo, body: &str) -> String {
    let p = repo.dir.path().join("policy.toml");
    std::fs::write(&p, body).unwrap();
    let o = repo.gitsign(&["policy", "check", &p.display().to_string()]);
    assert!(o.status.success(), "{}", text(&o));
    p.display().to_string()
}

fn verify_policy(repo: &Repo, policy: &str, args: &[&str]) -> Output {
    let mut a = vec!["verify", "--policy", policy];
    a.extend_from_slice(args);
    repo.gitsign(&a)
}

#[test]
fn policy_files_through_gitsign_verify() {
    let tb = Testbed::start();
    let issuer = tb.var("GITSIGN_OIDC_ISSUER").to_string();
    let repo = signer(&tb, "prom-policy", ALICE);
    let unsigned = commit(&repo, 0, false, None);
    let signed = commit(&repo, 1, true, None);
    let head = |p: &str, r: Option<&str>, c: &str| {
        let mut a = vec![];
        if let Some(r) = r {
            a.extend(["--ref", r]);
        }
        a.push(c);
        verify_policy(&repo, p, &a)
    };
    let body = |extra_top: &str, signer_extra: &str, rules: &str| {
        format!(
            "version = 1\n{extra_top}\n[signers.alice]\nidentity = \"{ALICE}\"\nissuer = \"{issuer}\"\n{signer_extra}\n\
             [signers.bob]\nidentity = \"bob@example.com\"\nissuer = \"{issuer}\"\n{rules}"
        )
    };
    let rules = "[[rules]]\nrefs = [\"refs/heads/main\"]\nsigners = [\"alice\"]\n\n\
                 [[rules]]\nrefs = [\"refs/heads/bob/*\"]\nsigners = [\"bob\"]\n\n\
                 [[rules]]\nrefs = [\"refs/heads/open/*\"]\nsigners = [\"*\"]\n";
    let p = policy_file(&repo, &body("", "", rules));

    // --ref chooses the rule: alice's for main, bob's for bob/*.
    let o = head(&p, Some("refs/heads/main"), &signed);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = head(&p, Some("refs/heads/bob/x"), &signed);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("is not an allowed signer"),
        "{}",
        text(&o)
    );
    // Without --ref: any signer of the file.
    let o = head(&p, None, &signed);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    // signers = ["*"]: any valid signature, but still a signature.
    let o = head(&p, Some("refs/heads/open/x"), &signed);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = head(&p, Some("refs/heads/open/x"), &unsigned);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("not signed"), "{}", text(&o));
    // A ref no rule covers: refused by default, naming the ref ...
    let o = head(&p, Some("refs/heads/elsewhere"), &signed);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("no rule of the policy covers refs/heads/elsewhere"),
        "{}",
        text(&o)
    );
    // ... and accepted under unmatched_refs = "allow".
    let allow = policy_file(&repo, &body("unmatched_refs = \"allow\"", "", rules));
    let o = head(&allow, Some("refs/heads/elsewhere"), &signed);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));

    // valid_from after the signature: refused, naming the window.
    let later = policy_file(&repo, &body("", "valid_from = 2999-01-01T00:00:00Z", rules));
    let o = head(&later, Some("refs/heads/main"), &signed);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("signer \"alice\" may sign only from 2999-01-01"),
        "{}",
        text(&o)
    );
    // valid_until before it: refused, naming the window.
    let earlier = policy_file(&repo, &body("", "valid_until = \"2020-01-01\"", rules));
    let o = head(&earlier, Some("refs/heads/main"), &signed);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("signer \"alice\" could sign only until 2020-01-01"),
        "{}",
        text(&o)
    );
    // Both around it: accepted.
    let around = policy_file(
        &repo,
        &body(
            "",
            "valid_from = 2020-01-01T00:00:00Z\nvalid_until = 2999-01-01T00:00:00Z",
            rules,
        ),
    );
    let o = head(&around, Some("refs/heads/main"), &signed);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

#[test]
fn require_tlog_decides_an_unchecked_online_signature() {
    let tb = Testbed::start();
    let issuer = tb.var("GITSIGN_OIDC_ISSUER").to_string();
    let repo = signer(&tb, "prom-require-tlog", ALICE);
    repo.git_ok(&["config", "gitsign.rekorMode", "online"]);
    let c = commit(&repo, 1, true, None);
    let body = |rule_extra: &str| {
        format!(
            "version = 1\n[signers.alice]\nidentity = \"{ALICE}\"\nissuer = \"{issuer}\"\n\
             [[rules]]\nrefs = [\"refs/heads/main\"]\nsigners = [\"alice\"]\n{rule_extra}\n"
        )
    };
    let unchecked = |p: &str| {
        repo.gitsign_cmd(&[
            "verify",
            "--insecure-ignore-tlog",
            "--policy",
            p,
            "--ref",
            "refs/heads/main",
            &c,
        ])
        .env("GITSIGN_REKOR_URL", "http://127.0.0.1:9")
        .output()
        .unwrap()
    };
    // Default (require_tlog = true): the unchecked entry is refused, named.
    let p = policy_file(&repo, &body(""));
    let o = unchecked(&p);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("the transparency log entry could not be verified"),
        "{}",
        text(&o)
    );
    let p = policy_file(&repo, &body("require_tlog = true"));
    let o = unchecked(&p);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    // require_tlog = false: accepted, with the warning.
    let p = policy_file(&repo, &body("require_tlog = false"));
    let o = unchecked(&p);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains("the transparency log was not checked"),
        "{}",
        text(&o)
    );
    // With Rekor reachable, require_tlog = true accepts the checked entry.
    let p = policy_file(&repo, &body(""));
    let o = verify_policy(&repo, &p, &["--ref", "refs/heads/main", &c]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

#[test]
fn workflow_sha_and_name_claims_are_compared_exactly() {
    let tb = Testbed::start();
    let sha = "0123456789abcdef0123456789abcdef01234567";
    tb.control(
        "POST",
        "/gha/claims",
        Some(serde_json::json!({"sha": sha, "workflow_sha": sha, "job_workflow_sha": sha, "workflow": "Release"})),
    );
    let mut repo = Repo::new("prom-gha");
    repo.env.extend(tb.gitsign_env());
    repo.env
        .push(("GITSIGN_TOKEN_PROVIDER".into(), "github-actions".into()));
    repo.env.push((
        "ACTIONS_ID_TOKEN_REQUEST_URL".into(),
        tb.var("TESTBED_ACTIONS_ID_TOKEN_REQUEST_URL").into(),
    ));
    repo.env.push((
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN".into(),
        tb.var("TESTBED_ACTIONS_ID_TOKEN_REQUEST_TOKEN").into(),
    ));
    let c = commit(&repo, 1, true, None);
    let gha = tb.var("TESTBED_GHA_ISSUER");
    let policy = |claims: &str| {
        policy_file(
            &repo,
            &format!(
                "version = 1\n[signers.ci]\nidentity_regexp = 'https://github\\.com/testbed-org/.*'\n\
                 issuer = \"{gha}\"\n{claims}\n[[rules]]\nrefs = [\"refs/heads/main\"]\nsigners = [\"ci\"]\n"
            ),
        )
    };
    let check = |claims: &str| {
        let p = policy(claims);
        verify_policy(&repo, &p, &["--ref", "refs/heads/main", &c])
    };
    let o = check(&format!(
        "github_workflow_sha = \"{sha}\"\ngithub_workflow_name = \"Release\""
    ));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    // Another sha, a prefix of it, another name, the name in another case:
    // each refused.
    for claims in [
        "github_workflow_sha = \"ffffffffffffffffffffffffffffffffffffffff\"".to_string(),
        format!("github_workflow_sha = \"{}\"", &sha[..12]),
        "github_workflow_name = \"CI\"".to_string(),
        "github_workflow_name = \"release\"".to_string(),
    ] {
        let o = check(&claims);
        assert_eq!(o.status.code(), Some(1), "{claims}: {}", text(&o));
        assert!(
            text(&o).contains("is not an allowed signer"),
            "{claims}: {}",
            text(&o)
        );
    }
    // The identity-policy flags, for git verify-commit: the same claims.
    repo.git_ok(&[
        "config",
        "gitsign.certificateIdentityRegexp",
        "https://github\\.com/testbed-org/.*",
    ]);
    repo.git_ok(&["config", "gitsign.certificateOidcIssuer", gha]);
    repo.git_ok(&["config", "gitsign.certificateGithubWorkflowSha", sha]);
    repo.git_ok(&["config", "gitsign.certificateGithubWorkflowName", "Release"]);
    assert_eq!(repo.git_ok(&["log", "-1", "--format=%G?", &c]), "G");
    repo.git_ok(&["config", "gitsign.certificateGithubWorkflowName", "CI"]);
    assert_eq!(
        repo.git_ok(&["log", "-1", "--format=%G?|%GT", &c]),
        "U|never"
    );
}

/// README and docs/configuration.md: "2 nothing could be decided (usage,
/// configuration, unreadable input, unreachable service)". git's path
/// (`--verify`) and `gitsign verify-tag` exit 2 when Rekor cannot be
/// reached; `gitsign verify` over commits exits 1, as for a bad signature,
/// so a script cannot tell "retry later" from "refused". This test fails
/// until it exits 2.
#[test]
fn gitsign_verify_exits_2_when_rekor_is_unreachable() {
    let tb = Testbed::start();
    let repo = signer(&tb, "prom-exit2", ALICE);
    repo.git_ok(&["config", "gitsign.rekorMode", "online"]);
    let c = commit(&repo, 1, true, None);
    let o = verify(&tb, &repo, ALICE, &[&c]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = repo
        .gitsign_cmd(&[
            "verify",
            "--certificate-identity",
            ALICE,
            "--certificate-oidc-issuer",
            tb.var("GITSIGN_OIDC_ISSUER"),
            &c,
        ])
        .env("GITSIGN_REKOR_URL", "http://127.0.0.1:9")
        .output()
        .unwrap();
    assert!(
        text(&o).contains("cannot search the transparency log"),
        "{}",
        text(&o)
    );
    assert_eq!(
        o.status.code(),
        Some(2),
        "an unreachable Rekor is not a bad signature: {}",
        text(&o)
    );
}

/// docs/verification.md: "Embedded entries are always checked, whatever the
/// setting." Real Go gitsign commits whose embedded entry was edited (the
/// proof, the integration time under the SET) stay `B` under
/// `gitsign.verifyTlog` `optional` and `skip`, naming the check; the
/// untouched original stays good.
#[test]
fn embedded_entries_are_checked_whatever_verify_tlog_says() {
    let repo = Repo::new("prom-embedded");
    let root = common::fixtures().join("trust/trusted_root.prod.json");
    repo.git_ok(&["config", "gitsign.trustedRoot", &root.display().to_string()]);
    // No Rekor is asked for embedded entries; a dead one proves it.
    repo.git_ok(&["config", "gitsign.rekor", "http://127.0.0.1:9"]);
    let load = |label: &str| {
        let e = common::manifest()
            .into_iter()
            .find(|e| e["label"] == label)
            .unwrap_or_else(|| panic!("no {label} in the corpus"));
        repo.add_object(
            "commit",
            &common::fixtures().join(e["file"].as_str().unwrap()),
        )
    };
    let good = load("gs_commit_offline_latest");
    for mode in ["require", "optional", "skip"] {
        let c = format!("gitsign.verifyTlog={mode}");
        assert_eq!(
            repo.git_ok(&["-c", &c, "log", "-1", "--format=%G?", &good]),
            "U",
            "{mode}"
        );
        for (label, words) in [
            ("tamper_tlog_proof", "inclusion proof does not verify"),
            (
                "tamper_tlog_integrated_time",
                "signed entry timestamp (SET) does not verify",
            ),
        ] {
            let id = load(label);
            assert_eq!(
                repo.git_ok(&["-c", &c, "log", "-1", "--format=%G?", &id]),
                "B",
                "{mode} {label}"
            );
            let o = repo.git(&["-c", &c, "verify-commit", &id]);
            assert!(!o.status.success(), "{mode} {label}: {}", text(&o));
            assert!(text(&o).contains(words), "{mode} {label}: {}", text(&o));
        }
    }
}
