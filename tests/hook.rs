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
    Repo::client(tb, &server.path, tag, email)
}

fn commit(repo: &Repo, n: usize, msg: &str, sign: bool) -> String {
    repo.commit_file(n, msg, sign)
}

fn push(repo: &Repo, args: &[&str]) -> (bool, String) {
    repo.push(args)
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
    alice.resign_since(&base);
    let (ok, out) = push(&alice, &["feature/big"]);
    assert!(ok, "{out}");
    assert!(out.contains("200 new objects verified"), "{out}");

    // Deleting a branch whose rule requires signatures is refused, naming
    // the rule key that allows it...
    let (ok, out) = push(&alice, &[":feature/big"]);
    assert!(
        !ok && out
            .contains("refs/heads/feature/big: deleting a ref whose rule requires signatures")
            && out.contains("allow_deletion = true"),
        "{out}"
    );
    // ...and passes where the rule allows it.
    set_policy(
        &srv,
        &policy_text(&issuer, "").replacen(
            "signed_tags = true\n",
            "signed_tags = true\nallow_deletion = true\n",
            1,
        ),
    );
    let (ok, out) = push(&alice, &[":feature/big"]);
    assert!(ok, "{out}");
    set_policy(&srv, &policy_text(&issuer, ""));

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

    // Force push: refused by default, signed or not, naming the rule key;
    // where the rule allows rewrites, an unsigned one is still refused and
    // a signed one accepted.
    alice.git_ok(&["checkout", "-q", "main"]);
    alice.git_ok(&["reset", "-q", "--hard", "HEAD~1"]);
    commit(&alice, 901, "rewrite, signed", true);
    let (ok, out) = push(&alice, &["--force", "main"]);
    assert!(
        !ok && out.contains("refs/heads/main: this update is not a fast-forward")
            && out.contains("allow_force_push = true"),
        "{out}"
    );
    set_policy(
        &srv,
        &policy_text(&issuer, "").replacen(
            "signed_tags = true\n",
            "signed_tags = true\nallow_force_push = true\n",
            1,
        ),
    );
    alice.git_ok(&[
        "commit",
        "-q",
        "--amend",
        "--no-edit",
        "-m",
        "rewrite, unsigned",
    ]);
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
        out.contains("warning")
            && out.contains("accepted without a transparency log check")
            && out.contains("is the signer's own claim"),
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
    // Said once: a date is the committer's choice.
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(
        err.matches("--since selects commits by committer date")
            .count(),
        1,
        "{err}"
    );
    assert!(err.contains("BASE..HEAD"), "{err}");
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

/// The issue's lax catch-all: every ref no rule above covers may be pushed,
/// unsigned (`unmatched_refs = "allow"` behaves the same).
const LAX_ALL: &str = "\n[[rules]]\nrefs = [\"refs/*\"]\nallow_unsigned = true\n";

/// git in the server's repository (what its administrator does).
fn server_git(srv: &Server, args: &[&str]) -> String {
    let o = std::process::Command::new("git")
        .arg("-C")
        .arg(&srv.path)
        .args(args)
        .output()
        .unwrap();
    assert!(o.status.success(), "git {args:?}: {}", text(&o));
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

/// Replaces the server's policy file.
fn set_policy(srv: &Server, policy: &str) {
    std::fs::write(srv.path.parent().unwrap().join("policy.toml"), policy).unwrap();
}

/// `policy_text` with `key` added at the top level.
fn with_top(policy: String, key: &str) -> String {
    policy.replacen("version = 1\n", &format!("version = 1\n{key}\n"), 1)
}

/// A replace ref on the server must not make an unsigned commit pass as the
/// signed commit it names; pushing one is refused unless a rule allows it.
#[test]
fn replace_refs_are_refused_and_not_followed() {
    let tb = Testbed::start();
    let issuer = tb.var("GITSIGN_OIDC_ISSUER").to_string();
    let srv = server(&tb, "pre-receive", &policy_text(&issuer, LAX_ALL));
    let alice = client(&tb, &srv, "alice-replace", "alice@example.com");
    let base = commit(&alice, 1, "signed base", true);
    let (ok, out) = push(&alice, &["main"]);
    assert!(ok, "{out}");
    // U: unsigned; S: a signed sibling, already on the server.
    let u = commit(&alice, 2, "unsigned, replaced by a signed one", false);
    alice.git_ok(&["reset", "-q", "--hard", &base]);
    let s = commit(&alice, 3, "signed stand-in", true);
    let (ok, out) = push(&alice, &[&format!("{s}:refs/heads/scratch/s")]);
    assert!(ok, "{out}");

    // refs/replace/<U> -> S exists on the server (left by anyone): U is
    // still read as U, unsigned.
    server_git(&srv, &["update-ref", &format!("refs/replace/{u}"), &s]);
    let (ok, out) = push(&alice, &[&format!("{u}:refs/heads/main")]);
    assert!(!ok, "an unsigned commit passed as its replacement: {out}");
    assert!(
        out.contains(&format!(
            "refs/heads/main: commit {} \"unsigned, replaced by a signed one\": not signed",
            &u[..12]
        )),
        "{out}"
    );
    server_git(&srv, &["update-ref", "-d", &format!("refs/replace/{u}")]);

    // Pushing a replace ref is refused by default, naming the reason and
    // the rule key that allows it.
    let (ok, out) = push(&alice, &[&format!("{s}:refs/replace/{u}")]);
    assert!(!ok, "a replace ref was accepted: {out}");
    assert!(
        out.contains(&format!("refs/replace/{u}: a replace ref"))
            && out.contains("allow_replace_refs = true"),
        "{out}"
    );
    // A rule that requires signatures cannot allow it (no signature says
    // which object stands in for which)...
    set_policy(
        &srv,
        &policy_text(
            &issuer,
            &format!("\n[[rules]]\nrefs = [\"refs/replace/*\"]\nsigners = [\"*\"]\nallow_replace_refs = true\n{LAX_ALL}"),
        ),
    );
    let (ok, out) = push(&alice, &[&format!("{s}:refs/replace/{u}")]);
    assert!(
        !ok && out.contains("signed by no one") && out.contains("allow_unsigned = true"),
        "{out}"
    );
    // ...a rule that requires none can; the hook still does not follow it.
    set_policy(
        &srv,
        &policy_text(
            &issuer,
            &format!("\n[[rules]]\nrefs = [\"refs/replace/*\"]\nallow_unsigned = true\nallow_replace_refs = true\n{LAX_ALL}"),
        ),
    );
    let (ok, out) = push(&alice, &[&format!("{s}:refs/replace/{u}")]);
    assert!(ok, "{out}");
    let (ok, out) = push(&alice, &[&format!("{u}:refs/heads/main")]);
    assert!(
        !ok && out.contains(&u[..12]) && out.contains("not signed"),
        "{out}"
    );
}

/// The policy that `gitsign.policyRef` names cannot be swapped by a replace
/// ref to its blob.
#[test]
fn the_policy_blob_cannot_be_replaced() {
    let tb = Testbed::start();
    let issuer = tb.var("GITSIGN_OIDC_ISSUER").to_string();
    let strict = policy_text(&issuer, LAX_ALL);
    let srv = server(&tb, "pre-receive", &strict);
    let alice = client(&tb, &srv, "alice-policyblob", "alice@example.com");
    std::fs::create_dir_all(alice.path().join(".gitsign")).unwrap();
    std::fs::write(alice.path().join(".gitsign/policy.toml"), &strict).unwrap();
    commit(&alice, 1, "the policy", true);
    let (ok, out) = push(&alice, &["main"]);
    assert!(ok, "{out}");
    server_git(&srv, &["config", "--unset", "gitsign.policy"]);
    server_git(
        &srv,
        &[
            "config",
            "gitsign.policyRef",
            "refs/heads/main:.gitsign/policy.toml",
        ],
    );
    let policy_blob = alice.git_ok(&["rev-parse", "HEAD:.gitsign/policy.toml"]);
    let lax = "version = 1\nunmatched_refs = \"allow\"\n";
    let f = alice.path().join("lax.toml");
    std::fs::write(&f, lax).unwrap();
    let lax_blob = alice.git_ok(&["hash-object", "-w", &f.display().to_string()]);

    // On the server, refs/replace/<policy blob> -> a permissive policy.
    let sf = srv.path.parent().unwrap().join("lax.toml");
    std::fs::write(&sf, lax).unwrap();
    assert_eq!(
        server_git(&srv, &["hash-object", "-w", &sf.display().to_string()]),
        lax_blob
    );
    server_git(
        &srv,
        &[
            "update-ref",
            &format!("refs/replace/{policy_blob}"),
            &lax_blob,
        ],
    );
    let bad = commit(&alice, 2, "unsigned, under a swapped policy", false);
    let (ok, out) = push(&alice, &["main"]);
    assert!(!ok, "the policy was swapped by a replace ref: {out}");
    assert!(
        out.contains(&bad[..12]) && out.contains("not signed"),
        "{out}"
    );
    server_git(
        &srv,
        &["update-ref", "-d", &format!("refs/replace/{policy_blob}")],
    );

    // Pushing that replace ref (a ref to a blob, under refs/replace/) is refused.
    let (ok, out) = push(&alice, &[&format!("{lax_blob}:refs/replace/{policy_blob}")]);
    assert!(!ok, "{out}");
    assert!(
        out.contains(&format!("refs/replace/{policy_blob}: a replace ref")),
        "{out}"
    );
}

/// A ref to a blob or a tree carries nothing to verify: refused unless
/// its rule allows it.
#[test]
fn refs_to_blobs_and_trees_need_a_rule() {
    let tb = Testbed::start();
    let issuer = tb.var("GITSIGN_OIDC_ISSUER").to_string();
    let data_rule = "\n[[rules]]\nrefs = [\"refs/data/*\"]\nsigners = [\"alice\"]\n";
    let srv = server(&tb, "pre-receive", &policy_text(&issuer, data_rule));
    let alice = client(&tb, &srv, "alice-blobs", "alice@example.com");
    commit(&alice, 1, "signed", true);
    let (ok, out) = push(&alice, &["main"]);
    assert!(ok, "{out}");
    let blob = alice.git_ok(&["rev-parse", "HEAD:f1"]);
    let tree = alice.git_ok(&["rev-parse", "HEAD^{tree}"]);
    for (id, kind) in [(&blob, "blob"), (&tree, "tree")] {
        let (ok, out) = push(&alice, &[&format!("{id}:refs/data/{kind}")]);
        assert!(!ok, "a ref to a {kind} was accepted: {out}");
        assert!(
            out.contains(&format!(
                "refs/data/{kind}: the ref points at a {kind}, which carries no signature"
            )) && out.contains("allow_blobs_and_trees = true"),
            "{out}"
        );
    }
    // Also behind an annotated tag (signed, so only the target is at issue),
    // which the refusal names.
    assert!(alice
        .git(&["tag", "-s", "tree-tag", "-m", "a tree", &tree])
        .status
        .success());
    let tag = alice.git_ok(&["rev-parse", "refs/tags/tree-tag"]);
    let (ok, out) = push(&alice, &["refs/tags/tree-tag:refs/data/tagged"]);
    assert!(
        !ok && out.contains(&format!(
            "the ref points at a tree (through tag {}), which carries no signature",
            &tag[..12]
        )),
        "{out}"
    );
    // allow_blobs_and_trees under a rule that requires signatures: still
    // refused (nothing signed says which blob or tree the ref holds).
    set_policy(
        &srv,
        &policy_text(
            &issuer,
            &format!("{data_rule}allow_blobs_and_trees = true\n"),
        ),
    );
    for (id, kind) in [(&blob, "blob"), (&tree, "tree")] {
        let (ok, out) = push(&alice, &[&format!("{id}:refs/data/{kind}")]);
        assert!(
            !ok && out.contains(&format!("refs/data/{kind}: the ref points at a {kind}"))
                && out.contains("its rule requires signatures"),
            "{kind}: {out}"
        );
    }
    // Allowed by a rule that requires no signature: accepted.
    set_policy(
        &srv,
        &policy_text(
            &issuer,
            "\n[[rules]]\nrefs = [\"refs/data/*\"]\nallow_unsigned = true\nallow_blobs_and_trees = true\n",
        ),
    );
    for (id, kind) in [(&blob, "blob"), (&tree, "tree")] {
        let (ok, out) = push(&alice, &[&format!("{id}:refs/data/{kind}")]);
        assert!(ok, "{kind}: {out}");
    }
}

/// `gitsign.policyRef` names one exact ref: a short name (which a tag of
/// the same name would win) is a configuration error, and a full name is
/// never resolved to another ref.
#[test]
fn policy_ref_is_an_exact_ref() {
    let tb = Testbed::start();
    let issuer = tb.var("GITSIGN_OIDC_ISSUER").to_string();
    // Tags are open to any Sigstore signer; main is alice's.
    let strict = format!(
        r#"version = 1

[signers.alice]
identity = "alice@example.com"
issuer = "{issuer}"

[[rules]]
refs = ["refs/heads/main"]
signers = ["alice"]

[[rules]]
refs = ["refs/tags/*"]
signers = ["*"]
signed_tags = true
"#
    );
    let srv = server(&tb, "pre-receive", &strict);
    let alice = client(&tb, &srv, "alice-policyref", "alice@example.com");
    std::fs::create_dir_all(alice.path().join(".gitsign")).unwrap();
    std::fs::write(alice.path().join(".gitsign/policy.toml"), &strict).unwrap();
    let policy_commit = commit(&alice, 1, "the policy", true);
    let (ok, out) = push(&alice, &["main"]);
    assert!(ok, "{out}");
    server_git(&srv, &["config", "--unset", "gitsign.policy"]);

    // Mallory (any identity may sign tags) tags a tree holding a permissive
    // policy as "main" and as "refs/meta/policy".
    let mallory = client(&tb, &srv, "mallory-policyref", "mallory@example.com");
    std::fs::create_dir_all(mallory.path().join(".gitsign")).unwrap();
    std::fs::write(
        mallory.path().join(".gitsign/policy.toml"),
        "version = 1\nunmatched_refs = \"allow\"\n",
    )
    .unwrap();
    commit(&mallory, 1, "a permissive policy", true);
    for name in ["main", "refs/meta/policy"] {
        assert!(mallory
            .git(&["tag", "-s", name, "-m", "mine"])
            .status
            .success());
    }

    // A short name is refused as configuration, naming the fix.
    server_git(
        &srv,
        &["config", "gitsign.policyRef", "main:.gitsign/policy.toml"],
    );
    let (ok, out) = push(&mallory, &["refs/tags/main"]);
    assert!(!ok, "a short policyRef was used: {out}");
    assert!(
        out.contains("gitsign.policyRef") && out.contains("refs/heads/main:.gitsign/policy.toml"),
        "{out}"
    );
    // The full name: mallory's tag "main" does not win.
    server_git(
        &srv,
        &[
            "config",
            "gitsign.policyRef",
            "refs/heads/main:.gitsign/policy.toml",
        ],
    );
    let (ok, out) = push(&mallory, &["refs/tags/main"]);
    assert!(ok, "{out}");
    let bad = commit(&alice, 2, "unsigned under the real policy", false);
    let (ok, out) = push(&alice, &["main"]);
    assert!(!ok, "a tag named main chose the policy: {out}");
    assert!(
        out.contains(&bad[..12]) && out.contains("not signed"),
        "{out}"
    );
    alice.git_ok(&["reset", "-q", "--hard", &policy_commit]);

    // A full name that does not exist is an error, not a lookup of
    // refs/tags/<name> (mallory's tag refs/tags/refs/meta/policy).
    let (ok, out) = push(&mallory, &["refs/tags/refs/meta/policy"]);
    assert!(ok, "{out}");
    server_git(
        &srv,
        &[
            "config",
            "gitsign.policyRef",
            "refs/meta/policy:.gitsign/policy.toml",
        ],
    );
    let (ok, out) = push(&alice, &[&format!("{bad}:refs/heads/main")]);
    assert!(!ok, "another ref stood in for a missing policy ref: {out}");
    assert!(
        out.contains("refs/meta/policy") && out.contains("does not exist"),
        "{out}"
    );
    // A commit id is exact too.
    server_git(
        &srv,
        &[
            "config",
            "gitsign.policyRef",
            &format!("{policy_commit}:.gitsign/policy.toml"),
        ],
    );
    let (ok, out) = push(&alice, &[&format!("{bad}:refs/heads/main")]);
    assert!(!ok && out.contains("not signed"), "{out}");
    commit(&alice, 3, "signed under the pinned policy", true);
    let (ok, out) = push(&alice, &["main"]);
    assert!(ok, "{out}");
}

/// git updates the ref a symbolic ref points to: the rule of that target
/// applies too (and a dangling symbolic ref creates its target); a policy
/// can refuse updates through symbolic refs.
#[test]
fn symbolic_refs_are_resolved_to_the_ref_updated() {
    let tb = Testbed::start();
    let issuer = tb.var("GITSIGN_OIDC_ISSUER").to_string();
    let srv = server(&tb, "pre-receive", &policy_text(&issuer, ""));
    let alice = client(&tb, &srv, "alice-symref", "alice@example.com");
    let base = commit(&alice, 1, "signed base", true);
    let (ok, out) = push(&alice, &["main"]);
    assert!(ok, "{out}");
    // Left by a rename: scratch/main (allow_unsigned) -> main.
    server_git(
        &srv,
        &["symbolic-ref", "refs/heads/scratch/main", "refs/heads/main"],
    );
    let bad = commit(&alice, 2, "unsigned, through a symbolic ref", false);
    let (ok, out) = push(&alice, &["HEAD:refs/heads/scratch/main"]);
    assert!(
        !ok,
        "an unsigned commit reached main through a symbolic ref: {out}"
    );
    assert!(
        out.contains("refs/heads/scratch/main (updates refs/heads/main)")
            && out.contains(&bad[..12])
            && out.contains("not signed"),
        "{out}"
    );
    assert_eq!(server_git(&srv, &["rev-parse", "refs/heads/main"]), base);
    // Signed, it goes through the symbolic ref to main.
    let o = alice.git(&["commit", "-q", "--amend", "--no-edit", "-S"]);
    assert!(o.status.success(), "{}", text(&o));
    let good = alice.git_ok(&["rev-parse", "HEAD"]);
    let (ok, out) = push(&alice, &["HEAD:refs/heads/scratch/main"]);
    assert!(ok, "{out}");
    assert_eq!(server_git(&srv, &["rev-parse", "refs/heads/main"]), good);

    // A dangling symbolic ref creates its target.
    server_git(
        &srv,
        &[
            "symbolic-ref",
            "refs/heads/scratch/next",
            "refs/heads/feature/next",
        ],
    );
    let bad = commit(
        &alice,
        3,
        "unsigned, through a dangling symbolic ref",
        false,
    );
    let (ok, out) = push(&alice, &["HEAD:refs/heads/scratch/next"]);
    assert!(!ok, "{out}");
    assert!(
        out.contains("refs/heads/scratch/next (updates refs/heads/feature/next)")
            && out.contains(&bad[..12]),
        "{out}"
    );

    // symbolic_refs = "reject": even a signed update through one is refused.
    set_policy(
        &srv,
        &with_top(policy_text(&issuer, ""), "symbolic_refs = \"reject\""),
    );
    alice.git_ok(&["reset", "-q", "--hard", &good]);
    commit(&alice, 4, "signed, through a symbolic ref", true);
    let (ok, out) = push(&alice, &["HEAD:refs/heads/scratch/main"]);
    assert!(!ok, "{out}");
    assert!(
        out.contains("refs/heads/scratch/main: a symbolic ref to refs/heads/main")
            && out.contains("symbolic_refs = \"reject\"")
            && out.contains("push to refs/heads/main"),
        "{out}"
    );
    let (ok, out) = push(&alice, &["HEAD:refs/heads/main"]);
    assert!(ok, "{out}");

    // A loop of symbolic refs is refused, naming the chain.
    set_policy(&srv, &policy_text(&issuer, ""));
    server_git(
        &srv,
        &[
            "symbolic-ref",
            "refs/heads/scratch/a",
            "refs/heads/scratch/b",
        ],
    );
    server_git(
        &srv,
        &[
            "symbolic-ref",
            "refs/heads/scratch/b",
            "refs/heads/scratch/a",
        ],
    );
    let (ok, out) = push(&alice, &["HEAD:refs/heads/scratch/a"]);
    assert!(!ok, "{out}");
    assert!(
        out.contains("a chain of symbolic refs longer than 5 (or a loop)"),
        "{out}"
    );
}

/// A signed tag of an unsigned annotated tag: every tag on the way to the
/// commit is checked under signed_tags.
#[test]
fn nested_tags_are_checked_all_the_way() {
    let tb = Testbed::start();
    let issuer = tb.var("GITSIGN_OIDC_ISSUER").to_string();
    let srv = server(&tb, "pre-receive", &policy_text(&issuer, ""));
    let alice = client(&tb, &srv, "alice-nested", "alice@example.com");
    commit(&alice, 1, "signed", true);
    let (ok, out) = push(&alice, &["main"]);
    assert!(ok, "{out}");
    alice.git_ok(&["tag", "-a", "inner", "-m", "an unsigned inner tag"]);
    let inner = alice.git_ok(&["rev-parse", "refs/tags/inner"]);
    let o = alice.git(&["tag", "-s", "outer", "-m", "a signed outer tag", "inner"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(alice.git_ok(&["cat-file", "-t", "outer^{}"]), "commit");
    let (ok, out) = push(&alice, &["refs/tags/outer"]);
    assert!(!ok, "a signed tag of an unsigned tag was accepted: {out}");
    assert!(
        out.contains(&format!(
            "refs/tags/outer: tag {} \"an unsigned inner tag\": not signed",
            &inner[..12]
        )),
        "{out}"
    );
    // Both signed: accepted, both counted.
    let o = alice.git(&["tag", "-s", "inner2", "-m", "a signed inner tag"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = alice.git(&["tag", "-s", "outer2", "-m", "signed outer", "inner2"]);
    assert!(o.status.success(), "{}", text(&o));
    let (ok, out) = push(&alice, &["refs/tags/outer2"]);
    assert!(ok, "{out}");
    assert!(out.contains("2 new objects verified"), "{out}");
    // A chain deeper than gitsign follows is refused, not walked.
    let mut prev = "HEAD".to_string();
    for i in 0..65 {
        alice.git_ok(&["tag", "-a", &format!("deep{i}"), "-m", "deep", &prev]);
        prev = format!("refs/tags/deep{i}");
    }
    let (ok, out) = push(&alice, &[&format!("{prev}:refs/tags/deep")]);
    assert!(
        !ok && out.contains("tags nested more than 64 deep"),
        "{out}"
    );
}

/// Ref names that differ only in case are one file on a case-insensitive
/// filesystem: refs/heads/MAIN is held to main's rule as well as its own.
#[test]
fn case_variants_get_the_rule_of_the_ref_they_may_be() {
    let tb = Testbed::start();
    let issuer = tb.var("GITSIGN_OIDC_ISSUER").to_string();
    let srv = server(&tb, "pre-receive", &policy_text(&issuer, LAX_ALL));
    let alice = client(&tb, &srv, "alice-case", "alice@example.com");
    commit(&alice, 1, "signed", true);
    let (ok, out) = push(&alice, &["main"]);
    assert!(ok, "{out}");
    let bad = commit(&alice, 2, "unsigned, to MAIN", false);
    let (ok, out) = push(&alice, &["HEAD:refs/heads/MAIN"]);
    assert!(
        !ok,
        "an unsigned push to refs/heads/MAIN was accepted: {out}"
    );
    assert!(
        out.contains("refs/heads/MAIN") && out.contains(&bad[..12]) && out.contains("not signed"),
        "{out}"
    );
    let o = alice.git(&["commit", "-q", "--amend", "--no-edit", "-S"]);
    assert!(o.status.success(), "{}", text(&o));
    let (ok, out) = push(&alice, &["HEAD:refs/heads/MAIN"]);
    assert!(ok, "{out}");
}

/// A refusal's size does not grow with the messages pushed: subjects are
/// cut for display.
#[test]
fn huge_subjects_are_cut_in_refusals() {
    let tb = Testbed::start();
    let issuer = tb.var("GITSIGN_OIDC_ISSUER").to_string();
    let srv = server(&tb, "pre-receive", &policy_text(&issuer, ""));
    let alice = client(&tb, &srv, "alice-huge", "alice@example.com");
    commit(&alice, 1, "signed", true);
    let (ok, out) = push(&alice, &["main"]);
    assert!(ok, "{out}");
    let mut ids = Vec::new();
    for i in 0..3 {
        let msg = alice.dir.path().join("msg");
        std::fs::write(&msg, format!("huge {i} {}\n", "x".repeat(2 << 20))).unwrap();
        std::fs::write(alice.path().join("h"), format!("{i}")).unwrap();
        alice.git_ok(&["add", "h"]);
        alice.git_ok(&["commit", "-q", "-F", &msg.display().to_string()]);
        ids.push(alice.git_ok(&["rev-parse", "HEAD"]));
    }
    let (ok, out) = push(&alice, &["main"]);
    assert!(!ok);
    assert!(out.len() < 10_000, "{} bytes of refusal", out.len());
    for (i, id) in ids.iter().enumerate() {
        assert!(
            out.contains(&format!("commit {} \"huge {i} xxx", &id[..12])),
            "{out}"
        );
    }
    assert!(out.contains("…\": not signed"), "{out}");
}

/// With `[rekor] unreachable = "warn"`, a commit whose Rekor lookup the
/// push's time budget cut off is refused (its time would be the signer's
/// own claim); a Rekor that answers is fine.
#[test]
fn budget_cut_off_is_refused_even_with_warn() {
    let tb = Testbed::start();
    let issuer = tb.var("GITSIGN_OIDC_ISSUER").to_string();
    let srv = server(
        &tb,
        "pre-receive",
        &policy_text(
            &issuer,
            "\n[rekor]\nunreachable = \"warn\"\nbudget_seconds = 1\n",
        ),
    );
    let mut alice = client(&tb, &srv, "alice-budget", "alice@example.com");
    alice
        .env
        .push(("GITSIGN_REKOR_MODE".into(), "online".into()));
    let id = commit(&alice, 1, "online mode", true);
    // Rekor answers, but only after the budget is spent.
    tb.fault("rekor", "slow", None, Some(serde_json::json!(3000)));
    let (ok, out) = push(&alice, &["main"]);
    assert!(!ok, "a lookup cut off by the budget was accepted: {out}");
    assert!(
        out.contains(&id[..12]) && out.contains("time budget") && out.contains("budget_seconds"),
        "{out}"
    );
    tb.clear_faults();
    let (ok, out) = push(&alice, &["main"]);
    assert!(ok, "{out}");
}

/// Several refs under one rule in one push: one walk, and each problem is
/// named with a ref that reaches it.
#[test]
fn several_refs_in_one_push() {
    let tb = Testbed::start();
    let issuer = tb.var("GITSIGN_OIDC_ISSUER").to_string();
    let srv = server(&tb, "pre-receive", &policy_text(&issuer, ""));
    let alice = client(&tb, &srv, "alice-several", "alice@example.com");
    let base = commit(&alice, 1, "signed", true);
    let (ok, out) = push(&alice, &["main"]);
    assert!(ok, "{out}");
    let a = commit(&alice, 2, "signed a", true);
    alice.git_ok(&["reset", "-q", "--hard", &base]);
    let b = commit(&alice, 3, "unsigned b", false);
    let (ok, out) = push(
        &alice,
        &[
            &format!("{a}:refs/heads/feature/a"),
            &format!("{b}:refs/heads/feature/b"),
            &format!("{a}:refs/heads/feature/a2"),
        ],
    );
    assert!(!ok, "{out}");
    assert!(
        out.contains(&format!(
            "refs/heads/feature/b: commit {} \"unsigned b\": not signed",
            &b[..12]
        )),
        "{out}"
    );
    assert!(out.contains("push refused: 1 problem "), "{out}");
    let (ok, out) = push(
        &alice,
        &[
            &format!("{a}:refs/heads/feature/a"),
            &format!("{a}:refs/heads/feature/a2"),
        ],
    );
    assert!(ok && out.contains("1 new object verified"), "{out}");
}

// ---------------------------------------------------------------------------
// Attacks from the review of the hardened hook (branch attack-hook). Each
// test is a pusher's attack through a real `git push`; each fails on the
// code it was written against.
// ---------------------------------------------------------------------------

/// The ref's value on the server, or "" when it does not exist.
fn server_ref(srv: &Server, name: &str) -> String {
    let o = std::process::Command::new("git")
        .arg("-C")
        .arg(&srv.path)
        .args(["rev-parse", "--verify", "-q", name])
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

/// Deleting a symbolic ref deletes the ref it points to (receive-pack
/// dereferences it): with the issue's rename leftover `scratch/main ->
/// main`, `git push origin :refs/heads/scratch/main` deletes main, past
/// git's own receive.denyDeleteCurrent, because the hook lets every
/// deletion through before it resolves any name. `symbolic_refs =
/// "reject"` does not stop it either.
#[test]
fn deleting_through_a_symbolic_ref_leaves_the_protected_target() {
    let tb = Testbed::start();
    let issuer = tb.var("GITSIGN_OIDC_ISSUER").to_string();
    let mut failures = Vec::new();
    for top in ["", "symbolic_refs = \"reject\""] {
        let srv = server(&tb, "pre-receive", &with_top(policy_text(&issuer, ""), top));
        let alice = client(&tb, &srv, "alice-symdel", "alice@example.com");
        let base = commit(&alice, 1, "signed base", true);
        let (ok, out) = push(&alice, &["main"]);
        assert!(ok, "{out}");
        server_git(
            &srv,
            &["symbolic-ref", "refs/heads/scratch/main", "refs/heads/main"],
        );
        let mallory = client(&tb, &srv, "mallory-symdel", "mallory@example.com");
        // git itself refuses to delete the current branch by name...
        let (ok, out) = push(&mallory, &[":refs/heads/main"]);
        assert!(!ok, "{out}");
        assert_eq!(server_ref(&srv, "refs/heads/main"), base);
        // ...and the symbolic ref's name must not get around it.
        let (_, out) = push(&mallory, &[":refs/heads/scratch/main"]);
        if server_ref(&srv, "refs/heads/main") != base {
            failures.push(format!(
                "policy with {top:?}: main was deleted through refs/heads/scratch/main: {out}"
            ));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// Deletions are always allowed, so anyone who can push anywhere (here
/// mallory, no allowed signer, with an unsigned scratch branch) can
/// delete the protected release tag and feature branches; the policy has
/// no way to say otherwise. A ref that needs alice to move it should not
/// vanish at anybody's request.
#[test]
fn protected_refs_are_not_deleted_by_any_pusher() {
    let tb = Testbed::start();
    let issuer = tb.var("GITSIGN_OIDC_ISSUER").to_string();
    let srv = server(&tb, "pre-receive", &policy_text(&issuer, ""));
    let alice = client(&tb, &srv, "alice-del", "alice@example.com");
    let base = commit(&alice, 1, "signed base", true);
    assert!(alice
        .git(&["tag", "-s", "v1", "-m", "release 1"])
        .status
        .success());
    let (ok, out) = push(&alice, &["main", "v1", "main:refs/heads/feature/a"]);
    assert!(ok, "{out}");
    let v1 = server_ref(&srv, "refs/tags/v1");
    assert!(!v1.is_empty());

    let mallory = client(&tb, &srv, "mallory-del", "mallory@example.com");
    commit(&mallory, 1, "mallory's scratch work", false);
    let (ok, out) = push(&mallory, &["HEAD:refs/heads/scratch/m"]);
    assert!(ok, "{out}");
    let (ok, out) = push(&mallory, &[":refs/heads/scratch/m"]);
    assert!(ok, "mallory's own scratch branch: {out}");

    let (ok, out) = push(&mallory, &[":refs/tags/v1"]);
    assert!(
        !ok && server_ref(&srv, "refs/tags/v1") == v1,
        "a pusher who is no allowed signer deleted the release tag v1: {out}"
    );
    let (ok, out) = push(&mallory, &[":refs/heads/feature/a"]);
    assert!(
        !ok && server_ref(&srv, "refs/heads/feature/a") == base,
        "a pusher who is no allowed signer deleted the protected branch feature/a: {out}"
    );
}

/// `gitsign.policyRef = refs/heads/main:...` is read from main as it is
/// before the push, and main may move to any commit alice signed: a force
/// push back to an older commit brings back the policy it held, here one
/// that let any Sigstore identity sign main, and mallory's next commit is
/// accepted under it. The policy changes without its signers' say.
#[test]
fn the_policy_ref_cannot_be_rolled_back() {
    let tb = Testbed::start();
    let issuer = tb.var("GITSIGN_OIDC_ISSUER").to_string();
    let strict = policy_text(&issuer, "");
    let lax = strict.replacen("signers = [\"alice\", \"carol\"]", "signers = [\"*\"]", 1);
    assert_ne!(strict, lax);
    let srv = server(&tb, "pre-receive", &strict);
    let alice = client(&tb, &srv, "alice-rollback", "alice@example.com");
    std::fs::create_dir_all(alice.path().join(".gitsign")).unwrap();
    std::fs::write(alice.path().join(".gitsign/policy.toml"), &lax).unwrap();
    let v1 = commit(&alice, 1, "policy v1: any signer may sign main", true);
    std::fs::write(alice.path().join(".gitsign/policy.toml"), &strict).unwrap();
    let v2 = commit(&alice, 2, "policy v2: only alice and carol", true);
    let (ok, out) = push(&alice, &["main"]);
    assert!(ok, "{out}");
    server_git(&srv, &["config", "--unset", "gitsign.policy"]);
    server_git(
        &srv,
        &[
            "config",
            "gitsign.policyRef",
            "refs/heads/main:.gitsign/policy.toml",
        ],
    );

    let mallory = client(&tb, &srv, "mallory-rollback", "mallory@example.com");
    mallory.git_ok(&["fetch", "-q", "origin"]);
    mallory.git_ok(&["reset", "-q", "--hard", "origin/main"]);
    commit(&mallory, 3, "mallory on main", true);
    let (ok, out) = push(&mallory, &["HEAD:main"]);
    assert!(!ok && out.contains("is not an allowed signer"), "{out}");

    // Back to v1 (signed by alice, so the force push passes), then a
    // commit of mallory's under v1's rule.
    let (_, rollback) = push(&mallory, &["--force", &format!("{v1}:refs/heads/main")]);
    mallory.git_ok(&["reset", "-q", "--hard", &v1]);
    commit(&mallory, 4, "mallory on main, under the old policy", true);
    let (_, out) = push(&mallory, &["HEAD:main"]);
    let now = server_ref(&srv, "refs/heads/main");
    assert!(
        now == v2,
        "main is {now} (v2 was {v2}): the policy was rolled back by a pusher who may not sign main\n\
         rollback: {rollback}\nnext push: {out}"
    );
}

/// Deleting the ref `gitsign.policyRef` names (deletions are always
/// allowed, and the ref need not be covered by any rule) leaves a policy
/// that cannot be read, and every push is refused from then on, alice's
/// included, restoring the ref among them: one pusher locks the
/// repository until an administrator steps in.
#[test]
fn deleting_the_policy_ref_does_not_lock_every_push() {
    let tb = Testbed::start();
    let issuer = tb.var("GITSIGN_OIDC_ISSUER").to_string();
    let strict = policy_text(&issuer, "");
    let srv = server(&tb, "pre-receive", &strict);
    let alice = client(&tb, &srv, "alice-policydel", "alice@example.com");
    std::fs::create_dir_all(alice.path().join(".gitsign")).unwrap();
    std::fs::write(alice.path().join(".gitsign/policy.toml"), &strict).unwrap();
    commit(&alice, 1, "the policy", true);
    let (ok, out) = push(&alice, &["main"]);
    assert!(ok, "{out}");
    server_git(&srv, &["update-ref", "refs/meta/policy", "refs/heads/main"]);
    server_git(&srv, &["config", "--unset", "gitsign.policy"]);
    server_git(
        &srv,
        &[
            "config",
            "gitsign.policyRef",
            "refs/meta/policy:.gitsign/policy.toml",
        ],
    );
    commit(&alice, 2, "signed, under the policy ref", true);
    let (ok, out) = push(&alice, &["main"]);
    assert!(ok, "{out}");

    let mallory = client(&tb, &srv, "mallory-policydel", "mallory@example.com");
    let (_, deletion) = push(&mallory, &[":refs/meta/policy"]);
    commit(&alice, 3, "signed, after mallory's push", true);
    let (ok, out) = push(&alice, &["main"]);
    assert!(
        ok,
        "one pusher's deletion of refs/meta/policy refuses every push from then on\n\
         deletion: {deletion}\nalice's signed push: {out}"
    );
}

/// A signed tag object names itself (`tag v1`) and the signature covers
/// that name, but the hook never compares it with the ref: any pusher can
/// point refs/tags/v2 at alice's v1 tag object (a force push, or a delete
/// and a push), or publish it as a new release v3, and the hook accepts
/// "a tag signed by alice".
#[test]
fn a_signed_tag_counts_only_under_its_own_name() {
    let tb = Testbed::start();
    let issuer = tb.var("GITSIGN_OIDC_ISSUER").to_string();
    let srv = server(&tb, "pre-receive", &policy_text(&issuer, ""));
    let alice = client(&tb, &srv, "alice-tagname", "alice@example.com");
    commit(&alice, 1, "release 1", true);
    assert!(alice
        .git(&["tag", "-s", "v1", "-m", "release 1"])
        .status
        .success());
    commit(&alice, 2, "release 2 (the security fix)", true);
    assert!(alice
        .git(&["tag", "-s", "v2", "-m", "release 2"])
        .status
        .success());
    let (ok, out) = push(&alice, &["main", "v1", "v2"]);
    assert!(ok, "{out}");
    let v2 = server_ref(&srv, "refs/tags/v2");

    let mallory = client(&tb, &srv, "mallory-tagname", "mallory@example.com");
    mallory.git_ok(&["fetch", "-q", "origin", "refs/tags/*:refs/tags/*"]);
    let (ok, out) = push(&mallory, &["--force", "refs/tags/v1:refs/tags/v2"]);
    assert!(
        !ok && server_ref(&srv, "refs/tags/v2") == v2,
        "refs/tags/v2 now holds alice's tag object \"tag v1\" (release 1, without the fix): {out}"
    );
    let (ok, out) = push(&mallory, &["refs/tags/v1:refs/tags/v3"]);
    assert!(
        !ok,
        "alice's tag object \"tag v1\" was accepted as refs/tags/v3: {out}"
    );
}

/// The README's own example rule for replace refs and notes names alice as
/// the signer and allows blobs and trees; but a ref to a blob or a tree is
/// accepted with no signature of anyone: mallory replaces the blob of a
/// file on main with her own, and every git on the server that follows
/// replace refs (`git show`, `git archive`, ...) serves her file.
#[test]
fn blob_and_tree_refs_still_need_the_rules_signers() {
    let tb = Testbed::start();
    let issuer = tb.var("GITSIGN_OIDC_ISSUER").to_string();
    let readme_rule = "\n[[rules]]\nrefs = [\"refs/replace/*\", \"refs/notes/*\"]\nsigners = [\"alice\"]\nallow_replace_refs = true\nallow_blobs_and_trees = true\n";
    let srv = server(&tb, "pre-receive", &policy_text(&issuer, readme_rule));
    let alice = client(&tb, &srv, "alice-blobsigners", "alice@example.com");
    std::fs::write(alice.path().join("src.rs"), "fn main() { honest() }\n").unwrap();
    commit(&alice, 1, "honest code", true);
    let (ok, out) = push(&alice, &["main"]);
    assert!(ok, "{out}");
    let blob = alice.git_ok(&["rev-parse", "HEAD:src.rs"]);

    let mallory = client(&tb, &srv, "mallory-blobsigners", "mallory@example.com");
    let f = mallory.path().join("evil.rs");
    std::fs::write(&f, "fn main() { steal() }\n").unwrap();
    let evil = mallory.git_ok(&["hash-object", "-w", &f.display().to_string()]);
    let (ok, out) = push(&mallory, &[&format!("{evil}:refs/replace/{blob}")]);
    let shown = server_git(&srv, &["show", "refs/heads/main:src.rs"]);
    assert!(
        !ok && shown.contains("honest"),
        "an unsigned blob from a pusher who is not alice was accepted under a rule whose signers are \
         [\"alice\"]; the server now shows main:src.rs as {shown:?}: {out}"
    );
    // A tree under refs/notes/ likewise.
    commit(&mallory, 2, "mallory's tree", false);
    let tree = mallory.git_ok(&["rev-parse", "HEAD^{tree}"]);
    let (ok, out) = push(&mallory, &[&format!("{tree}:refs/notes/commits")]);
    assert!(
        !ok,
        "an unsigned tree was accepted as refs/notes/commits: {out}"
    );
}

/// With `receive.shallowUpdate = true` (servers that take pushes from
/// shallow CI clones), git hands the hook the pusher's list of shallow
/// commits (GIT_SHALLOW_FILE), and the hook's walk stops there: a signed
/// commit whose parent is an unsigned one (already on the server under a
/// scratch branch) reaches main with the parent never checked, and the
/// server records the cut in its own shallow file.
#[test]
fn a_pushers_shallow_list_does_not_cut_the_walk() {
    let tb = Testbed::start();
    let issuer = tb.var("GITSIGN_OIDC_ISSUER").to_string();
    let srv = server(&tb, "pre-receive", &policy_text(&issuer, ""));
    server_git(&srv, &["config", "receive.shallowUpdate", "true"]);
    let alice = client(&tb, &srv, "alice-shallow", "alice@example.com");
    let base = commit(&alice, 1, "signed base", true);
    let (ok, out) = push(&alice, &["main"]);
    assert!(ok, "{out}");
    let unsigned = commit(&alice, 2, "unsigned parent", false);
    let (ok, out) = push(&alice, &["HEAD:refs/heads/scratch/p"]);
    assert!(ok, "{out}");
    let signed = commit(&alice, 3, "signed child of an unsigned commit", true);
    let (ok, out) = push(&alice, &["main"]);
    assert!(!ok && out.contains(&unsigned[..12]), "{out}");

    // The same push, with the signed commit declared shallow.
    std::fs::write(alice.path().join(".git/shallow"), format!("{signed}\n")).unwrap();
    let (_, out) = push(&alice, &["--force", "main"]);
    let now = server_ref(&srv, "refs/heads/main");
    assert!(
        now == base,
        "main is {now}, whose parent {unsigned} is not signed: the pusher's shallow list hid it: {out}"
    );
}

/// Ref names that differ only in Unicode normalization are one file where
/// the filesystem ignores normalization (APFS, HFS+, ext4 casefold), just
/// as case variants are on a case-insensitive one: the NFD spelling of a
/// protected `refs/heads/café` gets the lax catch-all's rule, while
/// `CAFÉ` is held to café's.
#[test]
fn normalization_variants_get_the_rule_of_the_ref_they_may_be() {
    let tb = Testbed::start();
    let issuer = tb.var("GITSIGN_OIDC_ISSUER").to_string();
    let policy = policy_text(&issuer, LAX_ALL).replacen(
        "\"refs/heads/main\", ",
        "\"refs/heads/main\", \"refs/heads/caf\u{e9}\", ",
        1,
    );
    let srv = server(&tb, "pre-receive", &policy);
    let alice = client(&tb, &srv, "alice-nfd", "alice@example.com");
    commit(&alice, 1, "signed", true);
    let (ok, out) = push(&alice, &["main", "main:refs/heads/caf\u{e9}"]);
    assert!(ok, "{out}");
    let bad = commit(&alice, 2, "unsigned, to a variant of café", false);
    for name in ["refs/heads/caf\u{e9}", "refs/heads/CAF\u{c9}"] {
        let (ok, out) = push(&alice, &[&format!("HEAD:{name}")]);
        assert!(!ok && out.contains(&bad[..12]), "{name}: {out}");
    }
    let nfd = "refs/heads/cafe\u{301}";
    let (ok, out) = push(&alice, &[&format!("HEAD:{nfd}")]);
    assert!(
        !ok,
        "an unsigned push to the NFD spelling of refs/heads/café was accepted: {out}"
    );
}

/// Under GIT_NAMESPACE (namespaced hosting: git-http-backend or an ssh
/// forced command sets it, receive-pack hands it to the hook), git writes
/// refs/namespaces/<ns>/<name> and follows the symbolic refs there, but the
/// hook looks the pushed name up outside the namespace: through the
/// namespace's `scratch/main -> main`, an unsigned commit lands on the
/// namespace's main.
#[test]
fn symbolic_refs_are_resolved_inside_the_namespace() {
    let tb = Testbed::start();
    let issuer = tb.var("GITSIGN_OIDC_ISSUER").to_string();
    let srv = server(&tb, "pre-receive", &policy_text(&issuer, ""));
    let alice = client(&tb, &srv, "alice-ns", "alice@example.com");
    let push_ns = |args: &[&str]| {
        let mut a = vec!["push", "-q", "origin"];
        a.extend_from_slice(args);
        let mut c = alice.git_cmd(&a);
        for (k, _) in &alice.env {
            if k.starts_with("GITSIGN_") || k.starts_with("SIGSTORE_") {
                c.env_remove(k);
            }
        }
        c.env("GIT_NAMESPACE", "ns");
        let o = c.output().unwrap();
        (o.status.success(), text(&o))
    };
    let base = commit(&alice, 1, "signed base", true);
    let (ok, out) = push_ns(&["main"]);
    assert!(ok, "{out}");
    let main = "refs/namespaces/ns/refs/heads/main";
    assert_eq!(server_ref(&srv, main), base);
    server_git(
        &srv,
        &[
            "symbolic-ref",
            "refs/namespaces/ns/refs/heads/scratch/main",
            main,
        ],
    );
    let bad = commit(
        &alice,
        2,
        "unsigned, through the namespace's symbolic ref",
        false,
    );
    let (ok, out) = push_ns(&["HEAD:refs/heads/main"]);
    assert!(!ok && out.contains(&bad[..12]), "{out}");
    let (_, out) = push_ns(&["HEAD:refs/heads/scratch/main"]);
    assert_eq!(
        server_ref(&srv, main),
        base,
        "an unsigned commit reached the namespace's main through its symbolic ref: {out}"
    );
}

/// A replace ref says "show object Y wherever X is named"; under a rule
/// with `allow_replace_refs` and signers alice, the hook checks only that
/// Y's history is alice's, never that anyone allowed chose the mapping:
/// mallory replaces main's tip with an older commit alice signed, and
/// every git on the server that follows replace refs shows main without
/// alice's latest commit.
#[test]
fn a_replace_ref_mapping_needs_an_allowed_signer() {
    let tb = Testbed::start();
    let issuer = tb.var("GITSIGN_OIDC_ISSUER").to_string();
    let replace_rule = "\n[[rules]]\nrefs = [\"refs/replace/*\"]\nsigners = [\"alice\"]\nallow_replace_refs = true\n";
    let srv = server(&tb, "pre-receive", &policy_text(&issuer, replace_rule));
    let alice = client(&tb, &srv, "alice-remap", "alice@example.com");
    let old = commit(&alice, 1, "before the fix", true);
    let tip = commit(&alice, 2, "the security fix", true);
    let (ok, out) = push(&alice, &["main"]);
    assert!(ok, "{out}");

    let mallory = client(&tb, &srv, "mallory-remap", "mallory@example.com");
    mallory.git_ok(&["fetch", "-q", "origin"]);
    let (ok, out) = push(&mallory, &[&format!("{old}:refs/replace/{tip}")]);
    let shown = server_git(&srv, &["log", "-1", "--format=%s", "refs/heads/main"]);
    assert!(
        !ok && shown == "the security fix",
        "a pusher who is not alice replaced main's tip {tip} with an older commit of alice's; \
         the server's git log shows main at {shown:?}: {out}"
    );
}

/// The rules of every name on the way apply to a push *through* a
/// symbolic ref, but not to a push to its target: with the protected name
/// `refs/heads/main` left as a symbolic ref to `refs/heads/trunk` (a
/// rename whose policy still names main) under a lax catch-all, an
/// unsigned push to trunk moves what refs/heads/main shows.
#[test]
fn a_protected_symbolic_ref_is_not_moved_through_its_target() {
    let tb = Testbed::start();
    let issuer = tb.var("GITSIGN_OIDC_ISSUER").to_string();
    let srv = server(&tb, "pre-receive", &policy_text(&issuer, LAX_ALL));
    let alice = client(&tb, &srv, "alice-revsym", "alice@example.com");
    let base = commit(&alice, 1, "signed base", true);
    let (ok, out) = push(&alice, &["main"]);
    assert!(ok, "{out}");
    // The rename: trunk is the branch now, main an alias of it.
    server_git(&srv, &["update-ref", "refs/heads/trunk", &base]);
    server_git(
        &srv,
        &["symbolic-ref", "refs/heads/main", "refs/heads/trunk"],
    );
    server_git(&srv, &["symbolic-ref", "HEAD", "refs/heads/trunk"]);
    let bad = commit(&alice, 2, "unsigned, to main's target", false);
    let (ok, out) = push(&alice, &["HEAD:refs/heads/main"]);
    assert!(!ok && out.contains(&bad[..12]), "{out}");
    let (_, out) = push(&alice, &["HEAD:refs/heads/trunk"]);
    assert_eq!(
        server_ref(&srv, "refs/heads/main"),
        base,
        "the protected refs/heads/main now shows an unsigned commit, pushed to its target: {out}"
    );
    // The refusal says which alias's rules held it.
    assert!(
        out.contains("held to the rules of refs/heads/main, a symbolic ref to it, too"),
        "{out}"
    );
    // An alias under the same rule as its target adds nothing to say.
    server_git(&srv, &["symbolic-ref", "HEAD", "refs/heads/main"]);
    server_git(
        &srv,
        &["symbolic-ref", "refs/heads/main", "refs/heads/feature/m"],
    );
    server_git(&srv, &["update-ref", "refs/heads/feature/m", &base]);
    let (ok, out) = push(&alice, &["HEAD:refs/heads/feature/m"]);
    assert!(!ok && out.contains(&bad[..12]), "{out}");
    assert!(!out.contains("a symbolic ref to it, too"), "{out}");
}

// ---------------------------------------------------------------------------
// The fixes' own edges.
// ---------------------------------------------------------------------------

/// The ref `gitsign.policyRef` reads is never deleted or rewound by a
/// push, even where its rule allows deletions and force pushes.
#[test]
fn the_policy_ref_only_moves_forward_whatever_its_rule_says() {
    let tb = Testbed::start();
    let issuer = tb.var("GITSIGN_OIDC_ISSUER").to_string();
    let open = "\n[[rules]]\nrefs = [\"refs/heads/policy\"]\nsigners = [\"alice\"]\nallow_deletion = true\nallow_force_push = true\n";
    let policy = policy_text(&issuer, open);
    let srv = server(&tb, "pre-receive", &policy);
    let alice = client(&tb, &srv, "alice-policyfwd", "alice@example.com");
    std::fs::create_dir_all(alice.path().join(".gitsign")).unwrap();
    std::fs::write(alice.path().join(".gitsign/policy.toml"), &policy).unwrap();
    let v1 = commit(&alice, 1, "the policy", true);
    let v2 = commit(&alice, 2, "the policy, later", true);
    let (ok, out) = push(&alice, &["main", "main:refs/heads/policy"]);
    assert!(ok, "{out}");
    // The rule's own keys work on a ref that does not hold the policy.
    let (ok, out) = push(&alice, &["--force", &format!("{v1}:refs/heads/policy")]);
    assert!(ok, "{out}");
    let (ok, out) = push(&alice, &[&format!("{v2}:refs/heads/policy")]);
    assert!(ok, "{out}");
    server_git(&srv, &["config", "--unset", "gitsign.policy"]);
    server_git(
        &srv,
        &[
            "config",
            "gitsign.policyRef",
            "refs/heads/policy:.gitsign/policy.toml",
        ],
    );
    let (ok, out) = push(&alice, &["--force", &format!("{v1}:refs/heads/policy")]);
    assert!(
        !ok && out.contains("refs/heads/policy: this update is not a fast-forward")
            && out.contains("gitsign.policyRef"),
        "{out}"
    );
    let (ok, out) = push(&alice, &[":refs/heads/policy"]);
    assert!(
        !ok && out.contains("refs/heads/policy: this ref holds the signing policy"),
        "{out}"
    );
    assert_eq!(server_ref(&srv, "refs/heads/policy"), v2);
    // Forward, signed: accepted.
    commit(&alice, 3, "the policy, moved forward", true);
    let (ok, out) = push(&alice, &["main:refs/heads/policy"]);
    assert!(ok, "{out}");
}

/// A symbolic ref whose target does not exist yet shows the target once a
/// push creates it: the symbolic ref's rule applies to that creation.
#[test]
fn a_dangling_protected_symbolic_ref_is_not_filled_by_a_lax_push() {
    let tb = Testbed::start();
    let issuer = tb.var("GITSIGN_OIDC_ISSUER").to_string();
    let srv = server(&tb, "pre-receive", &policy_text(&issuer, LAX_ALL));
    let alice = client(&tb, &srv, "alice-dangling", "alice@example.com");
    commit(&alice, 1, "signed base", true);
    let (ok, out) = push(&alice, &["main"]);
    assert!(ok, "{out}");
    server_git(
        &srv,
        &["symbolic-ref", "refs/heads/main", "refs/heads/trunk"],
    );
    let bad = commit(&alice, 2, "unsigned, creating main's target", false);
    let (ok, out) = push(&alice, &["HEAD:refs/heads/trunk"]);
    assert!(
        !ok && out.contains(&bad[..12])
            && out.contains("held to the rules of refs/heads/main, a symbolic ref to it"),
        "{out}"
    );
    assert_eq!(server_ref(&srv, "refs/heads/trunk"), "");
    // Signed: accepted.
    let o = alice.git(&["commit", "-q", "--amend", "--no-edit", "-S"]);
    assert!(o.status.success(), "{}", text(&o));
    let (ok, out) = push(&alice, &["HEAD:refs/heads/trunk"]);
    assert!(ok, "{out}");
}

/// A push from a shallow clone whose history the server lacks cannot be
/// checked: refused, saying why and what to do (the walk does not stop at
/// the pusher's boundary).
#[test]
fn a_shallow_push_with_missing_history_is_refused_clearly() {
    let tb = Testbed::start();
    let issuer = tb.var("GITSIGN_OIDC_ISSUER").to_string();
    let srv = server(&tb, "pre-receive", &policy_text(&issuer, ""));
    server_git(&srv, &["config", "receive.shallowUpdate", "true"]);
    let alice = client(&tb, &srv, "alice-shallowmiss", "alice@example.com");
    commit(&alice, 1, "unsigned root, never sent", false);
    let b = commit(&alice, 2, "signed", true);
    commit(&alice, 3, "signed tip", true);
    std::fs::write(alice.path().join(".git/shallow"), format!("{b}\n")).unwrap();
    let (ok, out) = push(&alice, &["main"]);
    assert!(
        !ok && out.contains("shallow clone") && out.contains("git fetch --unshallow"),
        "{out}"
    );
    assert_eq!(server_ref(&srv, "refs/heads/main"), "");
}

/// A rule that allows unsigned commits but names signers: unsigned commits
/// pass, signed ones must be by a signer it names.
#[test]
fn allow_unsigned_with_signers_still_checks_signed_commits() {
    let tb = Testbed::start();
    let issuer = tb.var("GITSIGN_OIDC_ISSUER").to_string();
    let extra = "\n[[rules]]\nrefs = [\"refs/heads/mixed/*\"]\nsigners = [\"alice\"]\nallow_unsigned = true\n";
    let srv = server(&tb, "pre-receive", &policy_text(&issuer, extra));
    let alice = client(&tb, &srv, "alice-mixed", "alice@example.com");
    commit(&alice, 1, "signed by alice", true);
    commit(&alice, 2, "unsigned", false);
    let (ok, out) = push(&alice, &["HEAD:refs/heads/mixed/a"]);
    assert!(ok && out.contains("2 new objects verified"), "{out}");

    let mallory = client(&tb, &srv, "mallory-mixed", "mallory@example.com");
    mallory.git_ok(&["fetch", "-q", "origin"]);
    mallory.git_ok(&["reset", "-q", "--hard", "origin/mixed/a"]);
    let id = commit(&mallory, 3, "signed by mallory", true);
    let (ok, out) = push(&mallory, &["HEAD:refs/heads/mixed/a"]);
    assert!(
        !ok && out.contains(&id[..12]) && out.contains("is not an allowed signer"),
        "{out}"
    );
}

/// Rewrites and deletions are refused only where a rule requires
/// signatures: a branch under an `allow_unsigned` rule may be force-pushed
/// and deleted.
#[test]
fn rewrites_of_lax_refs_are_accepted() {
    let tb = Testbed::start();
    let issuer = tb.var("GITSIGN_OIDC_ISSUER").to_string();
    let srv = server(&tb, "pre-receive", &policy_text(&issuer, ""));
    let alice = client(&tb, &srv, "alice-lax-rewrite", "alice@example.com");
    commit(&alice, 1, "first", false);
    commit(&alice, 2, "second", false);
    let (ok, out) = push(&alice, &["HEAD:refs/heads/scratch/r"]);
    assert!(ok, "{out}");
    alice.git_ok(&["reset", "-q", "--hard", "HEAD~1"]);
    let rewritten = commit(&alice, 3, "rewritten", false);
    let (ok, out) = push(&alice, &["--force", "HEAD:refs/heads/scratch/r"]);
    assert!(ok, "a force push to a lax branch was refused: {out}");
    assert_eq!(server_ref(&srv, "refs/heads/scratch/r"), rewritten);
    let (ok, out) = push(&alice, &[":refs/heads/scratch/r"]);
    assert!(ok, "deleting a lax branch was refused: {out}");
    assert_eq!(server_ref(&srv, "refs/heads/scratch/r"), "");
}

/// A rule that requires signatures lets a ref be deleted when it says
/// `allow_deletion = true`, whatever a laxer rule that also matches says
/// (a rule that requires nothing never holds a deletion back).
#[test]
fn allow_deletion_holds_beside_a_lax_rule() {
    let tb = Testbed::start();
    let issuer = tb.var("GITSIGN_OIDC_ISSUER").to_string();
    let extra = "\n[[rules]]\nrefs = [\"refs/heads/rel/*\"]\nsigners = [\"alice\"]\nallow_deletion = true\n\n[[rules]]\nrefs = [\"refs/heads/rel/*\"]\nallow_unsigned = true\n";
    let srv = server(&tb, "pre-receive", &policy_text(&issuer, extra));
    let alice = client(&tb, &srv, "alice-rel-delete", "alice@example.com");
    let id = commit(&alice, 1, "signed", true);
    let (ok, out) = push(&alice, &["HEAD:refs/heads/rel/1"]);
    assert!(ok, "{out}");
    assert_eq!(server_ref(&srv, "refs/heads/rel/1"), id);
    let (ok, out) = push(&alice, &[":refs/heads/rel/1"]);
    assert!(
        ok,
        "a deletion its protecting rule allows was refused: {out}"
    );
    assert_eq!(server_ref(&srv, "refs/heads/rel/1"), "");
}

/// Tag objects are verified only under a rule with `signed_tags = true`:
/// elsewhere an annotated tag is a pointer to the commit it tags, which
/// alone is checked (and counted).
#[test]
fn tags_are_verified_only_where_signed_tags_is_set() {
    let tb = Testbed::start();
    let issuer = tb.var("GITSIGN_OIDC_ISSUER").to_string();
    let extra = "\n[[rules]]\nrefs = [\"refs/releases/*\"]\nsigners = [\"alice\"]\n";
    let srv = server(&tb, "pre-receive", &policy_text(&issuer, extra));
    let alice = client(&tb, &srv, "alice-release-tag", "alice@example.com");
    commit(&alice, 1, "signed", true);
    let (ok, out) = push(&alice, &["main"]);
    assert!(ok, "{out}");
    alice.git_ok(&["tag", "-a", "-m", "unsigned annotated", "r1"]);
    let (ok, out) = push(&alice, &["refs/tags/r1:refs/releases/r1"]);
    assert!(
        ok && out.contains("gitsign: 1 new object verified against the signing policy"),
        "{out}"
    );
    // Where the rule says signed_tags, the same tag is refused.
    let (ok, out) = push(&alice, &["refs/tags/r1"]);
    assert!(!ok && out.contains("not signed"), "{out}");
}
