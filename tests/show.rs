//! `gitsign show` through the user's path: real git repositories, Go
//! gitsign's own test objects and expected statements
//! (tests/fixtures/go-show), and commits and tags signed through the
//! loopback testbed.

mod common;

use std::path::Path;

use common::{fixtures, text, Repo, Testbed};
use serde_json::Value;

fn go_fixture(name: &str) -> std::path::PathBuf {
    fixtures().join("go-show").join(name)
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// Runs `gitsign show ARGS`; asserts success; returns stdout.
fn show(repo: &Repo, args: &[&str]) -> String {
    let mut all = vec!["show"];
    all.extend_from_slice(args);
    let o = repo.gitsign(&all);
    assert_eq!(
        o.status.code(),
        Some(0),
        "gitsign show {args:?}: {}",
        text(&o)
    );
    String::from_utf8(o.stdout).unwrap()
}

fn show_json(repo: &Repo, args: &[&str]) -> Value {
    let out = show(repo, args);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}

/// Go's commit objects, stored as is, give Go's statements: the same JSON
/// value, and byte for byte the same text (Go's indentation and escapes).
#[test]
fn go_commit_fixtures_are_reproduced_exactly() {
    let repo = Repo::new("show-go");
    repo.git_ok(&[
        "remote",
        "add",
        "origin",
        "git@github.com:wlynch/gitsign.git",
    ]);
    for (case, id) in [
        ("fulcio-cert", "10a3086104c5331623be85a5e30d709f457b536b"),
        ("gpg", "262c05491554c57ee641461f315bf4023d0e93c7"),
    ] {
        let got_id = repo.add_object("commit", &go_fixture(&format!("{case}.in.txt")));
        assert_eq!(got_id, id, "{case}: the fixture object is not Go's");
        let want_path = go_fixture(&format!("{case}.out.json"));
        let got = show(&repo, &[id]);
        let got_value: Value = serde_json::from_str(&got).unwrap();
        assert_eq!(got_value, read_json(&want_path), "{case}");
        assert_eq!(
            got,
            std::fs::read_to_string(&want_path).unwrap(),
            "{case}: same value, different text"
        );
    }
}

/// Go's signed annotated tag gives Go's tag statement. The one difference
/// is the statement header (see the fixtures' README): Go writes that
/// statement as in-toto v1, ours keeps the v0.1 header of every statement
/// `show` prints.
#[test]
fn go_tag_fixture_is_reproduced() {
    let repo = Repo::new("show-go-tag");
    repo.git_ok(&[
        "remote",
        "add",
        "origin",
        "https://github.com/sigstore/gitsign.git",
    ]);
    let id = repo.add_object("tag", &go_fixture("fulcio-tag.in.txt"));
    assert_eq!(id, "59b806d0c7932446ca9375b36ea3d421cc673224");
    repo.git_ok(&["update-ref", "refs/tags/v0.14.0", &id]);
    let mut want = read_json(&go_fixture("fulcio-tag.out.json"));
    let obj = want.as_object_mut().unwrap();
    assert_eq!(
        obj.remove("type"),
        Some(Value::from("https://in-toto.io/Statement/v1"))
    );
    obj.insert(
        "_type".into(),
        Value::from("https://in-toto.io/Statement/v0.1"),
    );
    for rev in ["v0.14.0", "refs/tags/v0.14.0", id.as_str()] {
        assert_eq!(show_json(&repo, &[rev]), want, "{rev}");
    }
    // Another remote that does not exist: an empty subject name, as in Go.
    let got = show_json(&repo, &["v0.14.0", "--remote", "upstream"]);
    assert_eq!(got["subject"][0]["name"], "");
}

fn signing_repo(tb: &Testbed, tag: &str) -> Repo {
    let mut repo = Repo::signer(tb, tag, tb.var("TESTBED_EMAIL"));
    let email = tb.var("TESTBED_EMAIL").to_string();
    repo.env
        .retain(|(k, _)| k != "GIT_COMMITTER_EMAIL" && k != "GIT_AUTHOR_EMAIL");
    repo.env.push(("GIT_COMMITTER_EMAIL".into(), email.clone()));
    repo.env.push(("GIT_AUTHOR_EMAIL".into(), email));
    repo
}

/// The signature text as git stores it: the `gpgsig` header's lines (a
/// commit) or the block after the message (a tag).
fn stored_signature(raw: &str, tag: bool) -> String {
    if tag {
        let at = raw.find("-----BEGIN SIGNED MESSAGE-----").unwrap();
        return raw[at..].to_string();
    }
    let mut sig = String::new();
    let mut inside = false;
    for line in raw.split_inclusive('\n') {
        if let Some(rest) = line.strip_prefix("gpgsig ") {
            sig.push_str(rest);
            inside = true;
        } else if inside && line.starts_with(' ') {
            sig.push_str(&line[1..]);
        } else {
            inside = false;
        }
    }
    sig
}

/// The identity in a PEM certificate (openssl, independent of gitsign).
fn cert_san(pem: &str, dir: &Path) -> String {
    let f = dir.join("cert.pem");
    std::fs::write(&f, pem).unwrap();
    let o = std::process::Command::new("openssl")
        .args(["x509", "-noout", "-ext", "subjectAltName", "-in"])
        .arg(&f)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn check_signer_info(v: &Value, raw: &str, tag: bool, email: &str, dir: &Path) {
    use base64::Engine;
    let pred = &v["predicate"];
    assert_eq!(pred["signature"], stored_signature(raw, tag).as_str());
    let infos = pred["signer_info"].as_array().expect("signer_info");
    assert_eq!(infos.len(), 1);
    let cert = infos[0]["certificate"].as_str().unwrap();
    assert!(cert.starts_with("-----BEGIN CERTIFICATE-----\n"), "{cert}");
    assert!(cert_san(cert, dir).contains(email));
    let attrs = base64::engine::general_purpose::STANDARD
        .decode(infos[0]["attributes"].as_str().unwrap())
        .unwrap();
    // The signed attributes as signed: a DER SET OF (0x31).
    assert_eq!(attrs[0], 0x31);
}

#[test]
fn signed_unsigned_and_tagged_objects_from_the_testbed() {
    let tb = Testbed::start();
    let repo = signing_repo(&tb, "show-tb");
    let email = tb.var("TESTBED_EMAIL").to_string();
    repo.git_ok(&["remote", "add", "origin", "https://example.com/r.git"]);

    // An unsigned root commit: no signature fields, no parents.
    std::fs::write(repo.path().join("a"), "a\n").unwrap();
    repo.git_ok(&["add", "a"]);
    repo.git_ok(&["commit", "-q", "-m", "unsigned <root>"]);
    let root = repo.git_ok(&["rev-parse", "HEAD"]);
    let v = show_json(&repo, &[]);
    assert_eq!(v["_type"], "https://in-toto.io/Statement/v0.1");
    assert_eq!(
        v["predicateType"],
        "https://gitsign.sigstore.dev/predicate/git/v0.1"
    );
    assert_eq!(
        v["subject"],
        serde_json::json!([{"name": "https://example.com/r.git", "digest": {"sha1": root}}])
    );
    let src = &v["predicate"]["source"];
    assert_eq!(
        src["tree"],
        repo.git_ok(&["rev-parse", "HEAD^{tree}"]).as_str()
    );
    assert!(src.get("parents").is_none());
    assert_eq!(src["message"], "unsigned <root>\n");
    assert_eq!(src["author"]["name"], "Test");
    assert_eq!(src["author"]["email"], email.as_str());
    assert!(v["predicate"].get("signature").is_none());
    assert!(v["predicate"].get("signer_info").is_none());

    // A signed commit on top.
    std::fs::write(repo.path().join("b"), "b\n").unwrap();
    repo.git_ok(&["add", "b"]);
    let o = repo.git(&["commit", "-q", "-S", "-m", "signed"]);
    assert!(o.status.success(), "{}", text(&o));
    let head = repo.git_ok(&["rev-parse", "HEAD"]);
    let v = show_json(&repo, &["HEAD", "-r", "origin"]);
    assert_eq!(v["subject"][0]["digest"]["sha1"], head.as_str());
    assert_eq!(
        v["predicate"]["source"]["parents"],
        serde_json::json!([root])
    );
    let raw = repo.git_ok(&["cat-file", "commit", "HEAD"]) + "\n";
    check_signer_info(&v, &raw, false, &email, repo.dir.path());
    // The date as Go writes it, in the commit's own offset.
    let date = v["predicate"]["source"]["committer"]["date"]
        .as_str()
        .unwrap();
    assert!(date.ends_with('Z') || date.len() == 25, "{date}");

    // A signed annotated tag: the tag statement, the tag's id as subject.
    let o = repo.git(&["tag", "-s", "v1.0", "-m", "release 1.0"]);
    assert!(o.status.success(), "{}", text(&o));
    let tag_id = repo.git_ok(&["rev-parse", "v1.0"]);
    let v = show_json(&repo, &["v1.0"]);
    assert_eq!(
        v["predicateType"],
        "https://gitsign.sigstore.dev/predicate/tag/v0.1"
    );
    assert_eq!(
        v["subject"][0]["digest"],
        serde_json::json!({"sha1": tag_id, "gitTag": tag_id})
    );
    let src = &v["predicate"]["source"];
    assert_eq!(src["object"], head.as_str());
    assert_eq!(src["object_type"], "commit");
    assert_eq!(src["tag"], "v1.0");
    assert_eq!(src["tagger"]["email"], email.as_str());
    assert!(src["tagger"]["date"].as_str().unwrap().ends_with('Z'));
    assert_eq!(src["message"], "release 1.0\n");
    let raw = repo.git_ok(&["cat-file", "tag", "v1.0"]) + "\n";
    check_signer_info(&v, &raw, true, &email, repo.dir.path());

    // A lightweight tag is its commit, as in Go.
    repo.git_ok(&["tag", "light", &root]);
    let v = show_json(&repo, &["light"]);
    assert_eq!(v["subject"][0]["digest"]["sha1"], root.as_str());
    assert!(v["predicate"].get("signature").is_none());
}

/// What cannot be shown is a sentence on stderr, status 2, nothing on
/// stdout.
#[test]
fn refusals() {
    let repo = Repo::new("show-refuse");
    let o = repo.gitsign(&["show"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(o.stdout.is_empty());
    std::fs::write(repo.path().join("a"), "a\n").unwrap();
    repo.git_ok(&["add", "a"]);
    repo.git_ok(&["commit", "-q", "-m", "x"]);
    for (rev, words) in [
        ("nosuchrev", "cannot resolve"),
        ("HEAD^{tree}", "neither a commit nor an annotated tag"),
        ("--output=/tmp/x", "is not a revision"),
    ] {
        let o = repo.gitsign(&["show", "--", rev]);
        assert_eq!(o.status.code(), Some(2), "{rev}: {}", text(&o));
        assert!(o.stdout.is_empty(), "{rev}");
        assert!(text(&o).contains(words), "{rev}: {}", text(&o));
    }
    // A commit with its author twice is refused (tools read it differently).
    let bad = repo.dir.path().join("bad.txt");
    let tree = repo.git_ok(&["rev-parse", "HEAD^{tree}"]);
    std::fs::write(
        &bad,
        format!(
            "tree {tree}\nauthor A <a@x> 1 +0000\nauthor M <m@x> 2 +0000\n\
             committer A <a@x> 1 +0000\n\nhi\n"
        ),
    )
    .unwrap();
    let id = repo.add_object("commit", &bad);
    let o = repo.gitsign(&["show", &id]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("\"author\" twice"), "{}", text(&o));
}
