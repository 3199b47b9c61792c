//! Promises of docs/policy.md about the server-side hook that no other
//! test pinned, through a real `git push` to a bare repository whose
//! pre-receive hook runs gitsign: `unmatched_refs` both ways,
//! `signers = ["*"]`, a signer's `valid_from`, and `require_tlog = false`
//! for an online-mode signature whose Rekor cannot be reached. Each row of
//! docs/promises.md that names this file is one assertion here.

mod common;

use std::path::PathBuf;

use common::{gitsign_bin, text, Repo, TempDir, Testbed};

struct Server {
    dir: TempDir,
    path: PathBuf,
}

impl Server {
    fn new(tb: &Testbed, policy: &str) -> Server {
        let dir = TempDir::new("prom-server");
        let path = dir.path().join("server.git");
        let o = std::process::Command::new("git")
            .args(["init", "-q", "--bare", "-b", "main"])
            .arg(&path)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .output()
            .unwrap();
        assert!(o.status.success());
        let s = Server { dir, path };
        s.set_policy(policy);
        s.config(
            "gitsign.policy",
            &s.dir.path().join("policy.toml").display().to_string(),
        );
        s.config("gitsign.trustedRoot", tb.var("GITSIGN_TRUSTED_ROOT"));
        s.config("gitsign.rekor", tb.var("GITSIGN_REKOR_URL"));
        let hook = s.path.join("hooks/pre-receive");
        std::fs::write(
            &hook,
            format!(
                "#!/bin/sh\nexec '{}' hook pre-receive\n",
                gitsign_bin().display()
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
        s
    }

    fn config(&self, k: &str, v: &str) {
        let o = std::process::Command::new("git")
            .arg("-C")
            .arg(&self.path)
            .args(["config", k, v])
            .output()
            .unwrap();
        assert!(o.status.success());
    }

    /// Replaces the policy file (after `gitsign policy check` accepts it).
    fn set_policy(&self, policy: &str) {
        let f = self.dir.path().join("policy.toml");
        std::fs::write(&f, policy).unwrap();
        let o = common::gitsign_command()
            .args(["policy", "check"])
            .arg(&f)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o));
    }
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

fn policy(issuer: &str, top: &str, alice_extra: &str, rules: &str) -> String {
    format!(
        "version = 1\n{top}\n[signers.alice]\nidentity = \"alice@example.com\"\nissuer = \"{issuer}\"\n{alice_extra}\n{rules}"
    )
}

const ANY_ON_MAIN: &str = "[[rules]]\nrefs = [\"refs/heads/main\"]\nsigners = [\"*\"]\n";

#[test]
fn unmatched_refs_and_any_signer_in_a_push() {
    let tb = Testbed::start();
    let issuer = tb.var("GITSIGN_OIDC_ISSUER").to_string();
    let srv = Server::new(&tb, &policy(&issuer, "", "", ANY_ON_MAIN));
    let bob = client(&tb, &srv, "prom-bob", "bob@example.com");

    // signers = ["*"]: an unsigned commit is still refused ...
    let unsigned = commit(&bob, 1, "unsigned", false);
    let (ok, out) = push(&bob, &["main"]);
    assert!(!ok, "{out}");
    assert!(
        out.contains(&unsigned[..12]) && out.contains("not signed"),
        "{out}"
    );
    // ... any valid signature is accepted, bob named by no signer table.
    bob.git_ok(&["commit", "-q", "--amend", "--no-edit", "-S"]);
    let (ok, out) = push(&bob, &["main"]);
    assert!(ok, "{out}");

    // A ref no rule covers: refused by default, naming the setting.
    commit(&bob, 2, "elsewhere", true);
    let (ok, out) = push(&bob, &["HEAD:refs/heads/elsewhere"]);
    assert!(!ok, "{out}");
    assert!(
        out.contains("refs/heads/elsewhere") && out.contains("unmatched_refs = \"reject\""),
        "{out}"
    );
    // unmatched_refs = "reject" said explicitly: the same.
    srv.set_policy(&policy(
        &issuer,
        "unmatched_refs = \"reject\"",
        "",
        ANY_ON_MAIN,
    ));
    let (ok, out) = push(&bob, &["HEAD:refs/heads/elsewhere"]);
    assert!(!ok, "{out}");
    // unmatched_refs = "allow": pushed, and so is an unsigned commit there;
    // main keeps its rule.
    srv.set_policy(&policy(
        &issuer,
        "unmatched_refs = \"allow\"",
        "",
        ANY_ON_MAIN,
    ));
    let (ok, out) = push(&bob, &["HEAD:refs/heads/elsewhere"]);
    assert!(ok, "{out}");
    commit(&bob, 3, "unsigned elsewhere", false);
    let (ok, out) = push(&bob, &["HEAD:refs/heads/elsewhere"]);
    assert!(ok, "{out}");
    let (ok, out) = push(&bob, &["HEAD:refs/heads/main"]);
    assert!(!ok, "{out}");
    assert!(out.contains("not signed"), "{out}");
}

#[test]
fn valid_from_in_a_push() {
    let tb = Testbed::start();
    let issuer = tb.var("GITSIGN_OIDC_ISSUER").to_string();
    let rules = "[[rules]]\nrefs = [\"refs/heads/main\"]\nsigners = [\"alice\"]\n";
    let srv = Server::new(
        &tb,
        &policy(&issuer, "", "valid_from = 2999-01-01T00:00:00Z", rules),
    );
    let alice = client(&tb, &srv, "prom-from", "alice@example.com");
    let c = commit(&alice, 1, "too early", true);
    let (ok, out) = push(&alice, &["main"]);
    assert!(!ok, "{out}");
    assert!(
        out.contains(&c[..12]) && out.contains("signer \"alice\" may sign only from 2999-01-01"),
        "{out}"
    );
    // A bare date is its first second, UTC.
    srv.set_policy(&policy(&issuer, "", "valid_from = \"2020-01-01\"", rules));
    let (ok, out) = push(&alice, &["main"]);
    assert!(ok, "{out}");
}

/// `require_tlog` in the hook: with `[rekor] unreachable = "reject"` (the
/// default) an unreachable Rekor refuses an online-mode signature whatever
/// the rule says ("see `[rekor]` for an unreachable Rekor"); under
/// `unreachable = "warn"`, a lookup the push's budget cut off is refused
/// when the rule requires the log (the default) and accepted with a
/// warning when `require_tlog = false`.
#[test]
fn require_tlog_in_a_push() {
    let tb = Testbed::start();
    let issuer = tb.var("GITSIGN_OIDC_ISSUER").to_string();
    let rules = |extra: &str| {
        format!("[[rules]]\nrefs = [\"refs/heads/main\"]\nsigners = [\"alice\"]\n{extra}\n")
    };
    let srv = Server::new(
        &tb,
        &policy(&issuer, "", "", &rules("require_tlog = false")),
    );
    let alice = client(&tb, &srv, "prom-tlog", "alice@example.com");
    alice.git_ok(&["config", "gitsign.rekorMode", "online"]);
    let c = commit(&alice, 1, "online", true);
    // unreachable = "reject": refused even with require_tlog = false.
    srv.config("gitsign.rekor", "http://127.0.0.1:9");
    let (ok, out) = push(&alice, &["main"]);
    assert!(!ok, "{out}");
    assert!(
        out.contains(&c[..12]) && out.contains("cannot search the transparency log"),
        "{out}"
    );
    srv.config("gitsign.rekor", tb.var("GITSIGN_REKOR_URL"));
    // Rekor answers after the budget is spent.
    tb.fault("rekor", "slow", None, Some(serde_json::json!(3000)));
    let warn = "[rekor]\nunreachable = \"warn\"\nbudget_seconds = 1\n";
    srv.set_policy(&format!("{}\n{warn}", policy(&issuer, "", "", &rules(""))));
    let (ok, out) = push(&alice, &["main"]);
    assert!(!ok, "{out}");
    assert!(
        out.contains(&c[..12]) && out.contains("budget_seconds"),
        "{out}"
    );
    srv.set_policy(&format!(
        "{}\n{warn}",
        policy(&issuer, "", "", &rules("require_tlog = false"))
    ));
    let (ok, out) = push(&alice, &["main"]);
    assert!(ok, "{out}");
    assert!(
        out.contains(&c[..12]) && out.contains("accepted without a transparency log check"),
        "{out}"
    );
}
