//! `gitsign attest` through the user's path: real git, real keyless signing
//! and logging through the loopback testbed, and the stored layout read
//! back with git's own plumbing. The envelope's signature is checked with
//! openssl against the certificate Rekor logged, independently of gitsign.

mod common;

use std::path::Path;
use std::process::Command;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use common::{text, Repo, Testbed};
use serde_json::{json, Value};

const COMMITS: &str = "refs/attestations/commits";
const TREES: &str = "refs/attestations/trees";

fn attest_repo(tb: &Testbed, tag: &str) -> Repo {
    let repo = Repo::signer(tb, tag, tb.var("TESTBED_EMAIL"));
    std::fs::write(repo.path().join("a"), "a\n").unwrap();
    repo.git_ok(&["add", "a"]);
    repo.git_ok(&["commit", "-q", "-m", "first"]);
    repo
}

/// Runs `gitsign attest ARGS`; asserts success and Go's two stdout lines;
/// returns (log index, attestation commit).
fn attest(repo: &Repo, args: &[&str]) -> (u64, String) {
    let mut all = vec!["attest"];
    all.extend_from_slice(args);
    let o = repo.gitsign(&all);
    assert_eq!(
        o.status.code(),
        Some(0),
        "gitsign attest {args:?}: {}",
        text(&o)
    );
    let out = String::from_utf8(o.stdout).unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    let words: Vec<&str> = lines[0].split(' ').collect();
    assert_eq!(&words[..2], ["LogEntry", "ID"], "{out}");
    assert_eq!(words[2].len(), 64, "{out}");
    (words[3].parse().unwrap(), lines[1].to_string())
}

fn write(repo: &Repo, name: &str, content: &str) -> String {
    let p = repo.dir.path().join(name);
    std::fs::write(&p, content).unwrap();
    p.display().to_string()
}

/// `git ls-tree -r` of a ref: (path, blob id) pairs.
fn files(repo: &Repo, rev: &str) -> Vec<(String, String)> {
    repo.git_ok(&["ls-tree", "-r", rev])
        .lines()
        .map(|l| {
            let (head, path) = l.split_once('\t').unwrap();
            let parts: Vec<&str> = head.split(' ').collect();
            assert_eq!(parts[0], "100644", "{l}");
            assert_eq!(parts[1], "blob", "{l}");
            (path.to_string(), parts[2].to_string())
        })
        .collect()
}

fn cat(repo: &Repo, rev_path: &str) -> String {
    let o = repo.git(&["cat-file", "-p", rev_path]);
    assert!(o.status.success(), "{rev_path}: {}", text(&o));
    String::from_utf8(o.stdout).unwrap()
}

/// Checks the envelope's shape (Go's JSON fields exactly) and returns its
/// decoded statement and signature.
fn envelope(json_text: &str) -> (Vec<u8>, Vec<u8>) {
    let env: Value = serde_json::from_str(json_text).unwrap();
    let keys: Vec<&String> = env.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        ["payload", "payloadType", "signatures"],
        "{json_text}"
    );
    assert_eq!(env["payloadType"], "application/vnd.in-toto+json");
    let sigs = env["signatures"].as_array().unwrap();
    assert_eq!(sigs.len(), 1);
    assert_eq!(sigs[0], json!({"keyid": "", "sig": sigs[0]["sig"]}));
    let payload = STANDARD.decode(env["payload"].as_str().unwrap()).unwrap();
    let sig = STANDARD.decode(sigs[0]["sig"].as_str().unwrap()).unwrap();
    (payload, sig)
}

fn pae(payload: &[u8]) -> Vec<u8> {
    let t = "application/vnd.in-toto+json";
    let mut v = format!("DSSEv1 {} {} {} ", t.len(), t, payload.len()).into_bytes();
    v.extend_from_slice(payload);
    v
}

/// The certificate Rekor logged for entry `index` (dsse kind) and the
/// signature it recorded.
fn logged(tb: &Testbed, index: u64) -> (String, Vec<u8>) {
    let url = format!(
        "{}/api/v1/log/entries?logIndex={index}",
        tb.var("GITSIGN_REKOR_URL")
    );
    let o = Command::new("curl")
        .args(["-sS", "--fail", &url])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let entry = v.as_object().unwrap().values().next().unwrap();
    let body: Value =
        serde_json::from_slice(&STANDARD.decode(entry["body"].as_str().unwrap()).unwrap()).unwrap();
    assert_eq!(body["kind"], "dsse", "{body}");
    let s = &body["spec"]["signatures"][0];
    let cert = STANDARD.decode(s["verifier"].as_str().unwrap()).unwrap();
    let sig = STANDARD.decode(s["signature"].as_str().unwrap()).unwrap();
    (String::from_utf8(cert).unwrap(), sig)
}

/// openssl's verdict on `sig` over `message` by the certificate's key.
fn openssl_verifies(cert_pem: &str, message: &[u8], sig: &[u8], dir: &Path) -> bool {
    std::fs::write(dir.join("c.pem"), cert_pem).unwrap();
    let o = Command::new("openssl")
        .args(["x509", "-pubkey", "-noout", "-in"])
        .arg(dir.join("c.pem"))
        .output()
        .unwrap();
    assert!(o.status.success());
    std::fs::write(dir.join("k.pem"), &o.stdout).unwrap();
    std::fs::write(dir.join("m.bin"), message).unwrap();
    std::fs::write(dir.join("s.der"), sig).unwrap();
    Command::new("openssl")
        .args(["dgst", "-sha256", "-verify"])
        .arg(dir.join("k.pem"))
        .arg("-signature")
        .arg(dir.join("s.der"))
        .arg(dir.join("m.bin"))
        .output()
        .unwrap()
        .status
        .success()
}

fn san(cert_pem: &str, dir: &Path) -> String {
    std::fs::write(dir.join("c.pem"), cert_pem).unwrap();
    let o = Command::new("openssl")
        .args(["x509", "-noout", "-ext", "subjectAltName", "-in"])
        .arg(dir.join("c.pem"))
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn attest_commits_and_trees_in_go_layout() {
    let tb = Testbed::start();
    let repo = attest_repo(&tb, "attest");
    let head = repo.git_ok(&["rev-parse", "HEAD"]);
    let tree = repo.git_ok(&["rev-parse", "HEAD^{tree}"]);
    let dir = repo.dir.path().to_path_buf();

    // First: a custom predicate about the commit.
    let pred = "{\"foo\": \"bar\",\n \"n\": [1, 2]}\n";
    let f = write(&repo, "test.json", pred);
    let (index, first) = attest(&repo, &["-f", &f]);
    assert_eq!(repo.git_ok(&["rev-parse", COMMITS]), first);
    let listed = files(&repo, COMMITS);
    let paths: Vec<&str> = listed.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(
        paths,
        [format!("{head}/test.json"), format!("{head}/test.json.sig")]
    );
    // The predicate as given, byte for byte.
    assert_eq!(cat(&repo, &format!("{COMMITS}:{head}/test.json")), pred);
    let (payload, sig) = envelope(&cat(&repo, &format!("{COMMITS}:{head}/test.json.sig")));
    let statement: Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!(
        statement,
        json!({
            "_type": "https://in-toto.io/Statement/v1",
            "subject": [{"digest": {"gitCommit": head}}],
            "predicateType": "https://cosign.sigstore.dev/attestation/v1",
            "predicate": {"foo": "bar", "n": [1, 2]}
        })
    );
    // Go's commit: its message (without a final newline, as go-git
    // writes it), no parent.
    let commit = cat(&repo, &first);
    assert!(
        commit.ends_with("\n\nGitsign attest test.json"),
        "{commit:?}"
    );
    assert!(!commit.contains("\nparent "), "{commit}");
    assert!(!commit.contains("gpgsig"), "{commit}");

    // The signature is over the PAE, by the certificate Rekor logged for
    // the testbed's identity; a changed statement does not verify.
    let (cert, logged_sig) = logged(&tb, index);
    assert_eq!(logged_sig, sig);
    assert!(san(&cert, &dir).contains(tb.var("TESTBED_EMAIL")));
    assert!(openssl_verifies(&cert, &pae(&payload), &sig, &dir));
    let mut forged = payload.clone();
    let at = forged.len() - 2;
    forged[at] ^= 1;
    assert!(!openssl_verifies(&cert, &pae(&forged), &sig, &dir));

    // Second: another file and type about the same commit, added beside it.
    let f2 = write(&repo, "prov.json", "{\"builder\": {\"id\": \"x\"}}");
    let (_, second) = attest(&repo, &["--filepath", &f2, "--type", "slsaprovenance"]);
    assert_eq!(repo.git_ok(&["rev-parse", &format!("{second}^")]), first);
    let after = files(&repo, COMMITS);
    for old in &listed {
        assert!(after.contains(old), "lost {old:?}: {after:?}");
    }
    assert_eq!(after.len(), 4, "{after:?}");
    let (payload, _) = envelope(&cat(&repo, &format!("{COMMITS}:{head}/prov.json.sig")));
    let statement: Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!(
        statement["predicateType"],
        "https://slsa.dev/provenance/v0.2"
    );

    // The tree, under its own ref.
    let f3 = write(&repo, "tree.json", "{}");
    let (_, tree_commit) = attest(
        &repo,
        &[
            "-f",
            &f3,
            "--objtype",
            "tree",
            "--type",
            "https://example.com/t",
        ],
    );
    assert_eq!(repo.git_ok(&["rev-parse", TREES]), tree_commit);
    let paths: Vec<String> = files(&repo, TREES).into_iter().map(|(p, _)| p).collect();
    assert_eq!(
        paths,
        [format!("{tree}/tree.json"), format!("{tree}/tree.json.sig")]
    );
    let (payload, _) = envelope(&cat(&repo, &format!("{TREES}:{tree}/tree.json.sig")));
    let statement: Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!(statement["subject"], json!([{"digest": {"gitTree": tree}}]));
    assert_eq!(statement["predicateType"], "https://example.com/t");
    // The commits' ref did not move.
    assert_eq!(repo.git_ok(&["rev-parse", COMMITS]), second);
}

/// An attestation ref as Go gitsign writes it (the layout and envelope of
/// Go's internal/attest tests) is extended, not replaced: Go's files stay
/// as they were, Go's commit is the parent.
#[test]
fn go_written_attestations_are_kept() {
    let tb = Testbed::start();
    let repo = attest_repo(&tb, "attest-go");
    let head = repo.git_ok(&["rev-parse", "HEAD"]);
    let other = "0123456789abcdef0123456789abcdef01234567";
    let go_pred = "{\"foo\":\"bar\"}\n";
    let statement = format!(
        r#"{{"_type":"https://in-toto.io/Statement/v1","subject":[{{"digest":{{"gitCommit":"{head}"}}}}],"predicateType":"custom-pred-type","predicate":{{"foo":"bar"}}}}"#
    );
    let go_env = format!(
        r#"{{"payloadType":"application/vnd.in-toto+json","payload":"{}","signatures":[{{"keyid":"","sig":"dGFjb2NhdA=="}}]}}"#,
        STANDARD.encode(statement)
    );
    let blob = |content: &str| {
        let p = write(&repo, "blob.tmp", content);
        repo.git_ok(&["hash-object", "-w", &p])
    };
    let (pb, sb) = (blob(go_pred), blob(&go_env));
    let mktree = |entries: String| {
        let p = write(&repo, "tree.tmp", &entries);
        let o = repo
            .git_cmd(&["mktree"])
            .stdin(std::fs::File::open(p).unwrap())
            .output()
            .unwrap();
        String::from_utf8(o.stdout).unwrap().trim().to_string()
    };
    let sub = mktree(format!(
        "100644 blob {pb}\ttest.json\n100644 blob {sb}\ttest.json.sig\n"
    ));
    let top = mktree(format!(
        "040000 tree {sub}\t{head}\n040000 tree {sub}\t{other}\n"
    ));
    let go_commit = repo.git_ok(&[
        "commit-tree",
        top.as_str(),
        "-m",
        "Gitsign attest test.json",
    ]);
    repo.git_ok(&["update-ref", COMMITS, &go_commit]);
    let before = files(&repo, COMMITS);

    let f = write(&repo, "ours.json", "{\"ours\": true}");
    let (_, ours) = attest(&repo, &["-f", &f]);
    assert_eq!(repo.git_ok(&["rev-parse", &format!("{ours}^")]), go_commit);
    let after = files(&repo, COMMITS);
    for old in &before {
        assert!(after.contains(old), "lost Go's {old:?}: {after:?}");
    }
    let mut paths: Vec<String> = after.into_iter().map(|(p, _)| p).collect();
    paths.sort();
    let mut want = vec![
        format!("{head}/ours.json"),
        format!("{head}/ours.json.sig"),
        format!("{head}/test.json"),
        format!("{head}/test.json.sig"),
        format!("{other}/test.json"),
        format!("{other}/test.json.sig"),
    ];
    want.sort();
    assert_eq!(paths, want);
    // Go's envelope and ours have the same shape.
    envelope(&cat(&repo, &format!("{COMMITS}:{head}/test.json.sig")));
    envelope(&cat(&repo, &format!("{COMMITS}:{head}/ours.json.sig")));
}

/// Bad input is refused before anyone logs in, and nothing is written.
#[test]
fn refusals_write_nothing() {
    let repo = Repo::new("attest-refuse");
    // Nothing to attest yet.
    let f = write(&repo, "p.json", "{}");
    let o = repo.gitsign(&["attest", "-f", &f]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("commit first"), "{}", text(&o));
    std::fs::write(repo.path().join("a"), "a\n").unwrap();
    repo.git_ok(&["add", "a"]);
    repo.git_ok(&["commit", "-q", "-m", "x"]);
    for (content, words) in [
        ("[1, 2]", "must hold a JSON object"),
        ("not json", "is not JSON"),
    ] {
        let f = write(&repo, "bad.json", content);
        let o = repo.gitsign(&["attest", "-f", &f]);
        assert_eq!(o.status.code(), Some(2), "{content}: {}", text(&o));
        assert!(text(&o).contains(words), "{content}: {}", text(&o));
        assert!(o.stdout.is_empty());
    }
    let missing = repo.dir.path().join("missing.json").display().to_string();
    let o = repo.gitsign(&["attest", "-f", &missing]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("cannot read"), "{}", text(&o));
    let o = repo.gitsign(&["attest", "-f", &f, "--objtype", "blob"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let o = repo.git(&["rev-parse", "--verify", "--quiet", COMMITS]);
    assert!(!o.status.success(), "a ref was written");
}

/// A log entry that does not verify fails the attestation (status 1), an
/// unreachable log decides nothing (status 2); either way no ref moves and
/// stdout stays empty.
#[test]
fn log_failures_write_nothing() {
    let tb = Testbed::start();
    let repo = attest_repo(&tb, "attest-faults");
    let f = write(&repo, "p.json", "{}");
    for (fault, status, words) in [
        ("bad-set", 1, "does not verify"),
        ("http500", 2, "cannot log the attestation"),
    ] {
        tb.fault("rekor", fault, None, None);
        let o = repo.gitsign(&["attest", "-f", &f]);
        tb.clear_faults();
        assert_eq!(o.status.code(), Some(status), "{fault}: {}", text(&o));
        assert!(text(&o).contains(words), "{fault}: {}", text(&o));
        assert!(o.stdout.is_empty(), "{fault}");
        let o = repo.git(&["rev-parse", "--verify", "--quiet", COMMITS]);
        assert!(!o.status.success(), "{fault}: a ref was written");
    }
    // And with the log back, it works.
    let (_, first) = attest(&repo, &["-f", &f]);
    // A ref git cannot update (here: locked, as by a concurrent writer)
    // stays where it was: the compare-and-swap fails with a sentence.
    let lock = repo.path().join(".git/refs/attestations/commits.lock");
    std::fs::write(&lock, "").unwrap();
    let f2 = write(&repo, "q.json", "{}");
    let o = repo.gitsign(&["attest", "-f", &f2]);
    std::fs::remove_file(&lock).unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("was not updated"), "{}", text(&o));
    assert!(o.stdout.is_empty());
    assert_eq!(repo.git_ok(&["rev-parse", COMMITS]), first);
}

/// A repository's author publishes a tag named `refs/attestations/commits`
/// (a clone fetches it as `refs/tags/refs/attestations/commits`) over a
/// commit whose tree holds forged attestations. git's name lookup would
/// find it where the attestation ref is missing: `gitsign attest` must
/// read only the exact ref, so it neither builds on the forged tree nor
/// fails after logging, and the tag stays where it was.
#[test]
fn a_tag_named_like_the_attestation_ref_is_not_read_as_it() {
    let tb = Testbed::start();
    let repo = attest_repo(&tb, "attest-tag-squat");
    let head = repo.git_ok(&["rev-parse", "HEAD"]);
    // The forged history: <head>/forged.json at the tag.
    let blob = repo.git_ok(&["hash-object", "-w", "a"]);
    let sub = mktree(&repo, &format!("100644 blob {blob}\tforged.json\n"));
    let top = mktree(&repo, &format!("040000 tree {sub}\t{head}\n"));
    let forged = repo.git_ok(&["commit-tree", "-m", "forged", &top]);
    repo.git_ok(&["update-ref", "refs/tags/refs/attestations/commits", &forged]);

    let f = write(&repo, "test.json", r#"{"foo":"bar"}"#);
    let (_, commit) = attest(&repo, &["-f", &f]);
    assert_eq!(repo.git_ok(&["rev-parse", COMMITS]), commit);
    let listed = repo.git_ok(&["ls-tree", "-r", "--name-only", COMMITS]);
    assert!(!listed.contains("forged.json"), "{listed}");
    assert_eq!(
        repo.git(&["rev-parse", "--verify", "--quiet", &format!("{commit}^")])
            .status
            .code(),
        Some(1),
        "the attestation commit has a parent: it was built on the tag"
    );
    assert_eq!(
        repo.git_ok(&["rev-parse", "refs/tags/refs/attestations/commits"]),
        forged
    );
}

/// `git mktree` of `listing` (ls-tree's format).
fn mktree(repo: &Repo, listing: &str) -> String {
    use std::io::Write;
    let mut child = repo
        .git_cmd(&["mktree"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(listing.as_bytes()).unwrap();
    drop(stdin);
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "mktree: {}", text(&o));
    String::from_utf8(o.stdout).unwrap().trim().to_string()
}
