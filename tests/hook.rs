//! The pre-receive (and update) hook through real `git push` to a bare
//! repository: signed by an allowed identity is accepted; unsigned,
//! tampered, another identity, or after the identity's window is refused
//! with the commit named; new branches, deletions, tags, force pushes,
//! online-mode signatures and a broken policy file.

mod common;

use common::{gitsign_bin, text, Repo, TempDir, Testbed};

struct Server {
    _dir: TempDir,
    path: std::path::PathBuf,
}

fn policy_text(issuer: &str, extra: &str) -> String {
    format!(
        r#"version = 1

[signers.alice]
identity = "alice@example.com"
issuer = "{issuer}"

[signers.carol]
identity = "carol@example.com"
issuer = "{issuer}"
valid_until = 2020-01-01T00:00:00Z

[[rules]]
refs = ["refs/heads/main", "refs/heads/feature/*", "refs/tags/*"]
signers = ["alice", "carol"]
signed_tags = true

[[rules]]
refs = ["refs/heads/scratch/*"]
allow_unsigned = true
{extra}"#
    )
}

fn server(tb: &Testbed, hook: &str, policy: &str) -> Server {
    let dir = TempDir::new("server");
    let path = dir.path().join("server.git");
    let o = std::process::Command::new("git")
        .args(["init", "-q", "--bare", "-b", "main"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(o.status.success());
    std::fs::write(dir.path().join("policy.toml"), policy).unwrap();
    let cfg = |k: &str, v: &str| {
        let o = std::process::Command::new("git")
            .arg("-C")
            .arg(&path)
            .args(["config", k, v])
            .output()
            .unwrap();
        assert!(o.status.success());
    };
    cfg(
        "gitsign.policy",
        &dir.path().join("policy.toml").display().to_string(),
    );
    cfg("gitsign.trustedRoot", tb.var("GITSIGN_TRUSTED_ROOT"));
    cfg("gitsign.rekor", tb.var("GITSIGN_REKOR_URL"));
    let script = match hook {
        "pre-receive" => format!(
            "#!/bin/sh\nexec '{}' hook pre-receive\n",
            gitsign_bin().display()
        ),
        _ => format!(
            "#!/bin/sh\nexec '{}' hook update \"$1\" \"$2\" \"$3\"\n",
            gitsign_bin().display()
        ),
    };
    let hook_path = path.join("hooks").join(hook);
    std::fs::write(&hook_path, script).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&hook_path, std::fs::Permissions::from_mode(0o755)).unwrap();
    Server { _dir: dir, path }
}

/// A clone signing as `email` with a token from the testbed.
fn client(tb: &Testbed, server: &Server, tag: &str, email: &str) -> Repo {
    let mut repo = Repo::new(tag);
    repo.env
        .retain(|(k, _)| !k.starts_with("GIT_COMMITTER") && !k.starts_with("GIT_AUTHOR"));
    repo.env.extend(tb.gitsign_env());
    repo.env
        .push(("GITSIGN_TOKEN_PROVIDER".into(), "environment".into()));
    repo.env
        .push(("SIGSTORE_ID_TOKEN".into(), tb.token(email, 1800)));
    for k in ["GIT_AUTHOR", "GIT_COMMITTER"] {
        repo.env
            .push((format!("{k}_NAME"), email.split('@').next().unwrap().into()));
        repo.env.push((format!("{k}_EMAIL"), email.into()));
    }
    repo.git_ok(&[
        "remote",
        "add",
        "origin",
        &server.path.display().to_string(),
    ]);
    repo
}

fn commit(repo: &Repo, n: usize, msg: &str, sign: bool) -> String {
    std::fs::write(repo.path().join(format!("f{n}")), format!("{n}\n")).unwrap();
    repo.git_ok(&["add", "."]);
    let mut args = vec!["commit", "-q", "-m", msg];
    if sign {
        args.push("-S");
    }
    let o = repo.git(&args);
    assert!(o.status.success(), "{}", text(&o));
    repo.git_ok(&["rev-parse", "HEAD"])
}

/// Pushes as a remote user would: the signer's environment (testbed URLs,
/// token) stays on the client; the server uses its own configuration.
fn push(repo: &Repo, args: &[&str]) -> (bool, String) {
    let mut a = vec!["push", "-q", "origin"];
    a.extend_from_slice(args);
    let mut c = repo.git_cmd(&a);
    for (k, _) in &repo.env {
        if k.starts_with("GITSIGN_") || k.starts_with("SIGSTORE_") {
            c.env_remove(k);
        }
    }
    let o = c.output().unwrap();
    (o.status.success(), text(&o))
}

#[test]
fn pre_receive_enforces_the_policy() {
    let tb = Testbed::start();
    let issuer = tb.var("GITSIGN_OIDC_ISSUER").to_string();
    let srv = server(&tb, "pre-receive", &policy_text(&issuer, ""));
    let alice = client(&tb, &srv, "alice", "alice@example.com");

    // Signed by an allowed identity: accepted.
    commit(&alice, 1, "first", true);
    commit(&alice, 2, "second", true);
    let (ok, out) = push(&alice, &["main"]);
    assert!(ok, "{out}");
    assert!(out.contains("2 new objects verified"), "{out}");

    // Unsigned: refused, naming the commit and its subject, and how to fix it.
    let bad = commit(&alice, 3, "an unsigned change", false);
    let (ok, out) = push(&alice, &["main"]);
    assert!(!ok, "{out}");
    assert!(
        out.contains(&bad[..12]) && out.contains("\"an unsigned change\": not signed"),
        "{out}"
    );
    assert!(
        out.contains("git rebase --exec 'git commit --amend --no-edit -S'"),
        "{out}"
    );
    // Re-signed, it goes through; only the new commits are checked.
    let o = alice.git(&["commit", "-q", "--amend", "--no-edit", "-S"]);
    assert!(o.status.success());
    let (ok, out) = push(&alice, &["main"]);
    assert!(ok, "{out}");
    assert!(out.contains("1 new object verified"), "{out}");

    // Tampered: a signed commit whose message was changed afterwards.
    let signed = commit(&alice, 4, "honest message", true);
    let raw = alice.git_ok(&["cat-file", "commit", &signed]) + "\n";
    let forged = raw.replace("honest message", "forged message");
    let f = alice.path().join("forged.commit");
    std::fs::write(&f, forged).unwrap();
    let forged_id = alice.git_ok(&[
        "hash-object",
        "-w",
        "-t",
        "commit",
        &f.display().to_string(),
    ]);
    alice.git_ok(&["reset", "-q", "--hard", &forged_id]);
    let (ok, out) = push(&alice, &["main"]);
    assert!(!ok, "{out}");
    assert!(
        out.contains(&forged_id[..12]) && out.contains("messageDigest"),
        "{out}"
    );
    alice.git_ok(&["reset", "-q", "--hard", "origin/main"]);

    // Another identity, and an identity past its window.
    for (who, words) in [
        ("mallory@example.com", "is not an allowed signer"),
        ("carol@example.com", "could sign only until 2020-01-01"),
    ] {
        let other = client(&tb, &srv, &format!("c-{who}"), who);
        other.git_ok(&["fetch", "-q", "origin"]);
        other.git_ok(&["reset", "-q", "--hard", "origin/main"]);
        let id = commit(&other, 5, &format!("by {who}"), true);
        let (ok, out) = push(&other, &["HEAD:main"]);
        assert!(!ok, "{who}: {out}");
        assert!(
            out.contains(&id[..12]) && out.contains(words),
            "{who}: {out}"
        );
    }

    // A new branch with 200 signed commits: all checked, accepted.
    alice.git_ok(&["checkout", "-q", "-b", "feature/big"]);
    let base = alice.git_ok(&["rev-parse", "HEAD"]);
    for i in 0..200 {
        commit(&alice, 100 + i, &format!("step {i}"), false);
    }
    let mut rebase = alice.git_cmd(&[
        "rebase",
        "-q",
        "-i",
        "--exec",
        "git commit -q --amend --no-edit -S",
        &base,
    ]);
    rebase.env("GIT_SEQUENCE_EDITOR", "true");
    assert!(rebase.output().unwrap().status.success());
    let (ok, out) = push(&alice, &["feature/big"]);
    assert!(ok, "{out}");
    assert!(out.contains("200 new objects verified"), "{out}");

    // Deleting a branch passes.
    let (ok, out) = push(&alice, &[":feature/big"]);
    assert!(ok, "{out}");

    // Tags: signed annotated accepted; unsigned annotated and lightweight refused.
    assert!(alice
        .git(&["tag", "-s", "v1", "-m", "release 1"])
        .status
        .success());
    let (ok, out) = push(&alice, &["v1"]);
    assert!(ok, "{out}");
    alice.git_ok(&["tag", "-a", "v2", "-m", "unsigned release"]);
    let (ok, out) = push(&alice, &["v2"]);
    assert!(
        !ok && out.contains("tag") && out.contains("not signed"),
        "{out}"
    );
    alice.git_ok(&["tag", "v3"]);
    let (ok, out) = push(&alice, &["v3"]);
    assert!(!ok && out.contains("lightweight tag"), "{out}");

    // An unsigned scratch branch is allowed by its rule; an unknown ref is not.
    alice.git_ok(&["checkout", "-q", "-b", "scratch/wip"]);
    commit(&alice, 900, "wip", false);
    let (ok, out) = push(&alice, &["scratch/wip"]);
    assert!(ok, "{out}");
    let (ok, out) = push(&alice, &["scratch/wip:refs/heads/other"]);
    assert!(
        !ok && out.contains("no rule of the signing policy covers this ref"),
        "{out}"
    );

    // Force push: an unsigned rewrite of main is refused, a signed one accepted.
    alice.git_ok(&["checkout", "-q", "main"]);
    alice.git_ok(&["reset", "-q", "--hard", "HEAD~1"]);
    commit(&alice, 901, "rewrite, unsigned", false);
    let (ok, out) = push(&alice, &["--force", "main"]);
    assert!(!ok && out.contains("not signed"), "{out}");
    alice.git_ok(&["commit", "-q", "--amend", "--no-edit", "-S"]);
    let (ok, out) = push(&alice, &["--force", "main"]);
    assert!(ok, "{out}");
}

#[test]
fn online_mode_and_unreachable_rekor() {
    let tb = Testbed::start();
    let issuer = tb.var("GITSIGN_OIDC_ISSUER").to_string();
    let srv = server(&tb, "pre-receive", &policy_text(&issuer, ""));
    let mut alice = client(&tb, &srv, "alice-online", "alice@example.com");
    alice
        .env
        .push(("GITSIGN_REKOR_MODE".into(), "online".into()));
    commit(&alice, 1, "online mode", true);
    let (ok, out) = push(&alice, &["main"]);
    assert!(ok, "online-mode signature refused: {out}");

    // Rekor unreachable: refused by default (fail closed)...
    let cfg = |k: &str, v: &str| {
        std::process::Command::new("git")
            .arg("-C")
            .arg(&srv.path)
            .args(["config", k, v])
            .output()
            .unwrap()
    };
    cfg("gitsign.rekor", "http://127.0.0.1:9");
    commit(&alice, 2, "second online", true);
    let (ok, out) = push(&alice, &["main"]);
    assert!(
        !ok && out.contains("cannot search the transparency log"),
        "{out}"
    );
    // ...accepted with a warning when the policy says so.
    let policy = srv.path.parent().unwrap().join("policy.toml");
    std::fs::write(
        &policy,
        policy_text(
            &issuer,
            "\n[rekor]\nunreachable = \"warn\"\nbudget_seconds = 5\n",
        ),
    )
    .unwrap();
    let (ok, out) = push(&alice, &["main"]);
    assert!(ok, "{out}");
    assert!(
        out.contains("warning") && out.contains("not checked"),
        "{out}"
    );
}

#[test]
fn broken_policy_refuses_every_push_and_update_hook_works() {
    let tb = Testbed::start();
    let issuer = tb.var("GITSIGN_OIDC_ISSUER").to_string();
    let broken = "version = 1\n\n[[rules]]\nrefs = [\"refs/heads/*\"]\nsigners = [\"nobody\"]\n";
    let srv = server(&tb, "pre-receive", broken);
    let alice = client(&tb, &srv, "alice-broken", "alice@example.com");
    commit(&alice, 1, "signed", true);
    let (ok, out) = push(&alice, &["main"]);
    assert!(!ok);
    assert!(
        out.contains("policy.toml:5:") && out.contains("unknown signer \"nobody\""),
        "{out}"
    );
    assert!(
        out.contains("every push is refused until it is valid"),
        "{out}"
    );

    // The update-hook form.
    let srv = server(&tb, "update", &policy_text(&issuer, ""));
    let alice = client(&tb, &srv, "alice-update", "alice@example.com");
    commit(&alice, 1, "signed", true);
    let (ok, out) = push(&alice, &["main"]);
    assert!(ok, "{out}");
    let id = commit(&alice, 2, "not signed", false);
    let (ok, out) = push(&alice, &["main"]);
    assert!(!ok && out.contains(&id[..12]), "{out}");
}

#[test]
fn policy_check_command() {
    let tmp = TempDir::new("policycheck");
    let good = tmp.path().join("good.toml");
    std::fs::write(&good, policy_text("https://accounts.google.com", "")).unwrap();
    let repo = Repo::new("pc");
    let o = repo.gitsign(&["policy", "check", &good.display().to_string()]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("valid (version 1, 2 signers, 2 rules"),
        "{}",
        text(&o)
    );
    let bad = tmp.path().join("bad.toml");
    std::fs::write(
        &bad,
        "version = 1\n[signers.a]\nidentity = \"a\"\nissuer_regexp = \"[\"\n",
    )
    .unwrap();
    let o = repo.gitsign(&["policy", "check", &bad.display().to_string()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("bad.toml:4:"), "{}", text(&o));
}

/// With `gitsign.policy` set, plain `git verify-commit` and `%G?` report G
/// only for signers the policy file names.
#[test]
fn policy_file_drives_git_trust() {
    let tb = Testbed::start();
    let issuer = tb.var("GITSIGN_OIDC_ISSUER").to_string();
    let tmp = TempDir::new("gitpolicy");
    let policy = tmp.path().join("policy.toml");
    std::fs::write(&policy, policy_text(&issuer, "")).unwrap();
    let srv = server(&tb, "pre-receive", &policy_text(&issuer, ""));
    for (who, want) in [
        ("alice@example.com", "G|fully"),
        ("mallory@example.com", "U|never"),
    ] {
        let repo = client(&tb, &srv, &format!("trust-{who}"), who);
        repo.git_ok(&["config", "gitsign.policy", &policy.display().to_string()]);
        commit(&repo, 1, "signed", true);
        assert_eq!(
            repo.git_ok(&["log", "-1", "--format=%G?|%GT"]),
            want,
            "{who}"
        );
    }
}

/// Merge commits, garbage signatures and refs to non-commits: verdicts,
/// not crashes.
#[test]
fn merges_garbage_and_non_commits() {
    let tb = Testbed::start();
    let issuer = tb.var("GITSIGN_OIDC_ISSUER").to_string();
    let srv = server(&tb, "pre-receive", &policy_text(&issuer, ""));
    let alice = client(&tb, &srv, "alice-merge", "alice@example.com");
    commit(&alice, 1, "base", true);
    let (ok, out) = push(&alice, &["main"]);
    assert!(ok, "{out}");
    alice.git_ok(&["checkout", "-q", "-b", "feature/side"]);
    commit(&alice, 2, "side", true);
    alice.git_ok(&["checkout", "-q", "main"]);
    commit(&alice, 3, "main", true);
    // An unsigned merge of signed parents is refused, naming the merge.
    let o = alice.git(&[
        "merge",
        "-q",
        "--no-ff",
        "-m",
        "unsigned merge",
        "feature/side",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let merge = alice.git_ok(&["rev-parse", "HEAD"]);
    let (ok, out) = push(&alice, &["main"]);
    assert!(
        !ok && out.contains(&merge[..12]) && out.contains("\"unsigned merge\": not signed"),
        "{out}"
    );
    // Signed, it is accepted with both parents' new history checked.
    let o = alice.git(&["commit", "-q", "--amend", "--no-edit", "-S"]);
    assert!(o.status.success(), "{}", text(&o));
    let (ok, out) = push(&alice, &["main"]);
    assert!(ok, "{out}");
    assert!(out.contains("3 new objects verified"), "{out}");

    // A commit whose signature header holds garbage.
    let raw = alice.git_ok(&["cat-file", "commit", "HEAD"]);
    let headers_end = raw.find("\n\n").unwrap();
    let garbage = format!(
        "tree {}\nparent {}\nauthor A <alice@example.com> 1700000000 +0000\ncommitter A <alice@example.com> 1700000000 +0000\ngpgsig -----BEGIN SIGNED MESSAGE-----\n AAAAgarbage==\n -----END SIGNED MESSAGE-----\n\ngarbage signature\n",
        alice.git_ok(&["rev-parse", "HEAD^{tree}"]),
        alice.git_ok(&["rev-parse", "HEAD"])
    );
    assert!(headers_end > 0);
    let f = alice.path().join("garbage.commit");
    std::fs::write(&f, garbage).unwrap();
    let id = alice.git_ok(&[
        "hash-object",
        "-w",
        "-t",
        "commit",
        &f.display().to_string(),
    ]);
    alice.git_ok(&["reset", "-q", "--hard", &id]);
    let (ok, out) = push(&alice, &["main"]);
    assert!(
        !ok && out.contains(&id[..12]) && out.contains("unparseable signature"),
        "{out}"
    );
    alice.git_ok(&["reset", "-q", "--hard", "origin/main"]);

    // A tag of a tree where signed tags are required.
    let tree = alice.git_ok(&["rev-parse", "HEAD^{tree}"]);
    let (ok, out) = push(&alice, &[&format!("{tree}:refs/tags/just-a-tree")]);
    assert!(!ok && out.contains("points at a tree"), "{out}");
}

/// `gitsign verify --since` and JSON output over a signed history.
#[test]
fn verify_since_and_json() {
    let tb = Testbed::start();
    let issuer = tb.var("GITSIGN_OIDC_ISSUER").to_string();
    let srv = server(&tb, "pre-receive", &policy_text(&issuer, ""));
    let alice = client(&tb, &srv, "alice-since", "alice@example.com");
    for (i, date) in [
        "2020-01-01T00:00:00",
        "2021-01-01T00:00:00",
        "2022-01-01T00:00:00",
    ]
    .iter()
    .enumerate()
    {
        std::fs::write(alice.path().join(format!("s{i}")), "x").unwrap();
        alice.git_ok(&["add", "."]);
        let o = alice
            .git_cmd(&["commit", "-q", "-S", "-m", &format!("dated {i}")])
            .env("GIT_COMMITTER_DATE", date)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o));
    }
    let o = alice.gitsign(&[
        "verify",
        "--all",
        "--since=2020-06-01",
        "--format",
        "json",
        "--certificate-identity",
        "alice@example.com",
        "--certificate-oidc-issuer",
        &issuer,
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    for l in &lines {
        assert_eq!(l["verdict"], "valid");
        assert_eq!(l["passed"], true);
        assert_eq!(l["identity"], "alice@example.com");
        assert!(l["tlog_index"].is_u64());
    }
    // One unsigned commit makes the exit status 1 and says why.
    std::fs::write(alice.path().join("u"), "x").unwrap();
    alice.git_ok(&["add", "."]);
    alice.git_ok(&["commit", "-q", "-m", "unsigned"]);
    let o = alice.gitsign(&[
        "verify",
        "--all",
        "--format",
        "json",
        "--certificate-identity",
        "alice@example.com",
        "--certificate-oidc-issuer",
        &issuer,
    ]);
    assert_eq!(o.status.code(), Some(1));
    let first: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&o.stdout).lines().next().unwrap()).unwrap();
    assert_eq!(first["verdict"], "unsigned");
    assert_eq!(first["reason"], "not signed");
}

/// History accepted under a lax rule is not trusted by a strict one:
/// unsigned commits pushed first to an allow_unsigned branch are still
/// refused when the same commits are then pushed to main.
#[test]
fn lax_refs_do_not_launder_history() {
    let tb = Testbed::start();
    let issuer = tb.var("GITSIGN_OIDC_ISSUER").to_string();
    let srv = server(&tb, "pre-receive", &policy_text(&issuer, ""));
    let alice = client(&tb, &srv, "alice-launder", "alice@example.com");
    commit(&alice, 1, "signed base", true);
    let (ok, out) = push(&alice, &["main"]);
    assert!(ok, "{out}");
    let bad = commit(&alice, 2, "unsigned, via scratch", false);
    let (ok, out) = push(&alice, &["HEAD:refs/heads/scratch/launder"]);
    assert!(ok, "{out}");
    let (ok, out) = push(&alice, &["HEAD:main"]);
    assert!(
        !ok,
        "unsigned history reached main through a scratch branch: {out}"
    );
    assert!(
        out.contains(&bad[..12]) && out.contains("not signed"),
        "{out}"
    );
    // History accepted under the same rule is not checked again.
    alice.git_ok(&["reset", "-q", "--hard", "HEAD~1"]);
    commit(&alice, 3, "signed on a feature branch", true);
    let (ok, out) = push(&alice, &["HEAD:refs/heads/feature/a"]);
    assert!(ok && out.contains("1 new object verified"), "{out}");
    let (ok, out) = push(&alice, &["HEAD:main"]);
    assert!(ok && out.contains("0 new objects verified"), "{out}");
}

/// Runs `git fast-import` in `dir` with `stream`; returns the marks file's
/// `:mark id` lines.
fn fast_import(dir: &std::path::Path, stream: &str) -> Vec<String> {
    use std::io::Write;
    let marks = dir.join("fast-import.marks");
    let mut child = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["fast-import", "--quiet"])
        .arg(format!("--export-marks={}", marks.display()))
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stream.as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success());
    std::fs::read_to_string(marks)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

/// `n` unsigned commits on `branch` (a chain after `from`, when given), as
/// fast-import writes them.
fn unsigned_chain(branch: &str, from: Option<&str>, n: usize) -> String {
    let mut s = String::new();
    for i in 1..=n {
        s.push_str(&format!(
            "commit {branch}\nmark :{i}\ncommitter Bulk <bulk@example.com> 1700000000 +0000\ndata <<END\nbulk change {i}\nEND\n"
        ));
        if i == 1 {
            if let Some(f) = from {
                s.push_str(&format!("from {f}\n"));
            }
        }
        s.push_str(&format!("M 644 inline bulk.txt\ndata <<END\n{i}\nEND\n\n"));
    }
    s
}

/// Large repositories and large pushes: a server with 60,000 refs under
/// the rule of the pushed branch (more excluded tips than a command line
/// holds) still checks a push; a push of 20,000 unsigned commits is
/// refused with a bounded list.
#[test]
fn many_refs_and_many_commits() {
    let tb = Testbed::start();
    let issuer = tb.var("GITSIGN_OIDC_ISSUER").to_string();
    let srv = server(&tb, "pre-receive", &policy_text(&issuer, ""));
    let alice = client(&tb, &srv, "alice-bulk", "alice@example.com");
    let first = commit(&alice, 1, "first", true);
    let (ok, out) = push(&alice, &["main"]);
    assert!(ok, "{out}");

    // 60,000 accepted branches, each at its own commit.
    let marks = fast_import(
        &srv.path,
        &unsigned_chain("refs/heads/bulk-import", Some(&first), 60_000),
    );
    let mut packed = String::from("# pack-refs with: peeled fully-peeled sorted \n");
    let mut lines: Vec<String> = marks
        .iter()
        .map(|l| {
            let (mark, id) = l.split_once(' ').unwrap();
            format!(
                "{id} refs/heads/feature/r{:06}\n",
                mark[1..].parse::<u32>().unwrap()
            )
        })
        .collect();
    lines.sort_by(|a, b| a[41..].cmp(&b[41..]));
    packed.extend(lines);
    std::fs::write(srv.path.join("packed-refs"), packed).unwrap();
    let count = std::process::Command::new("git")
        .arg("-C")
        .arg(&srv.path)
        .args([
            "for-each-ref",
            "--count=70000",
            "--format=x",
            "refs/heads/feature/",
        ])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&count.stdout).lines().count(),
        60_000
    );

    commit(&alice, 2, "second", true);
    let (ok, out) = push(&alice, &["main"]);
    assert!(ok, "{out}");
    assert!(out.contains("1 new object verified"), "{out}");

    // 20,000 unsigned commits: refused, all counted, 50 listed.
    let tip = alice.git_ok(&["rev-parse", "HEAD"]);
    fast_import(
        &alice.path(),
        &unsigned_chain("refs/heads/main", Some(&tip), 20_000),
    );
    alice.git_ok(&["reset", "-q", "--hard", "main"]);
    let (ok, out) = push(&alice, &["main"]);
    assert!(!ok, "{}", &out[..out.len().min(2000)]);
    assert!(
        out.contains("push refused: 20000 problems"),
        "{}",
        &out[..out.len().min(2000)]
    );
    assert!(
        out.contains("... and 19950 more (the first 50 are listed)"),
        "{}",
        &out[out.len().saturating_sub(2000)..]
    );
    assert_eq!(
        out.matches(": not signed").count(),
        50,
        "{}",
        &out[..out.len().min(2000)]
    );
}
