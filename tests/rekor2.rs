//! Rekor v2 through real git and the testbed's Rekor v2 service:
//! `GITSIGN_REKOR_VERSION=2`, `GITSIGN_REKOR_URL=$TESTBED_REKOR_V2_URL`,
//! `GITSIGN_TIMESTAMP_SERVER_URL=$TESTBED_TSA_URL`. Signing (commit, tag, a
//! rebase through the cache daemon), every way of verifying (verify-commit,
//! verify-tag, %G?, gitsign verify with a policy, ranges, the hook), the
//! exported bundle checked by sigstore-python 4.5.1, the refusals (online
//! mode, no timestamp, every Rekor v2 fault while signing), and the
//! adversarial edits of a v2 signature: the timestamp dropped, the
//! checkpoint's origin swapped, another key name, a self-rooted proof.

mod common;

use std::path::Path;
use std::process::Command;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use common::{
    expect_sign_failure, gitsign_bin, require_sigstore_python, sigstore_python, text, Daemon, Repo,
    TempDir, Testbed,
};

fn v2_env(tb: &Testbed) -> Vec<(String, String)> {
    vec![
        ("GITSIGN_REKOR_VERSION".into(), "2".into()),
        (
            "GITSIGN_REKOR_URL".into(),
            tb.var("TESTBED_REKOR_V2_URL").into(),
        ),
        (
            "GITSIGN_TIMESTAMP_SERVER_URL".into(),
            tb.var("TESTBED_TSA_URL").into(),
        ),
    ]
}

fn signer(tb: &Testbed, tag: &str, socket: Option<&Path>) -> Repo {
    let mut repo = Repo::new(tag);
    repo.env.extend(tb.gitsign_env());
    repo.env.retain(|(k, _)| k != "GITSIGN_REKOR_URL");
    repo.env.extend(v2_env(tb));
    repo.env
        .push(("GITSIGN_TOKEN_PROVIDER".into(), "interactive".into()));
    if let Some(s) = socket {
        repo.env
            .push(("GITSIGN_CREDENTIAL_CACHE".into(), s.display().to_string()));
    }
    repo.trust_testbed_account(tb);
    repo
}

fn commit(repo: &Repo, n: usize, sign: bool) -> String {
    std::fs::write(repo.path().join(format!("f{n}")), format!("{n}\n")).unwrap();
    repo.git_ok(&["add", "."]);
    let mut args = vec!["commit", "-q", "-m", "change"];
    if sign {
        args.push("-S");
    }
    let o = repo.git(&args);
    assert!(o.status.success(), "git commit failed: {}", text(&o));
    repo.git_ok(&["rev-parse", "HEAD"])
}

/// The embedded TransparencyLogEntry of HEAD's signature, via export-bundle.
fn export(repo: &Repo, rev: &str, dir: &Path) -> (serde_json::Value, std::path::PathBuf) {
    let b = dir.join(format!("{rev}.sigstore.json"));
    let a = dir.join(format!("{rev}.artifact"));
    let o = repo.gitsign(&[
        "export-bundle",
        rev,
        "--output",
        &b.display().to_string(),
        "--artifact",
        &a.display().to_string(),
    ]);
    assert!(o.status.success(), "export-bundle: {}", text(&o));
    let v = serde_json::from_slice(&std::fs::read(&b).unwrap()).unwrap();
    (v, a)
}

#[test]
fn commit_tag_and_every_verifier_with_rekor_v2() {
    let tb = Testbed::start();
    let repo = signer(&tb, "r2-sign", None);
    let email = tb.var("TESTBED_EMAIL").to_string();
    let issuer = tb.var("GITSIGN_OIDC_ISSUER").to_string();

    commit(&repo, 0, true);
    let first = commit(&repo, 1, true);
    let second = commit(&repo, 2, true);
    assert_eq!(tb.stats()["rekor2_entries"].as_u64(), Some(3));
    assert_eq!(tb.stats()["rekor_entries"].as_u64(), Some(0));

    // git's own verifiers.
    assert_eq!(
        repo.git_ok(&["log", "-1", "--format=%G?|%GS|%GT", &first]),
        format!("G|{email}|fully")
    );
    let o = repo.git(&["verify-commit", &second]);
    assert!(o.status.success(), "{}", text(&o));
    let out = text(&o);
    assert!(out.contains("Rekor v2 entry"), "{out}");
    assert!(
        out.contains("RFC 3161 timestamp") || out.contains("timestamp"),
        "{out}"
    );

    // A signed tag.
    let o = repo.git(&["tag", "-s", "v1", "-m", "release"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = repo.git(&["verify-tag", "v1"]);
    assert!(o.status.success(), "{}", text(&o));

    // gitsign verify with identity and issuer, one commit and a range.
    let o = repo.gitsign(&[
        "verify",
        "--certificate-identity",
        &email,
        "--certificate-oidc-issuer",
        &issuer,
        &second,
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let o = repo.gitsign(&[
        "verify",
        "--certificate-identity",
        &email,
        "--certificate-oidc-issuer",
        &issuer,
        "--format",
        "json",
        &format!("{first}~1..{second}"),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{}", text(&o));
    assert!(lines.iter().all(|l| l["passed"] == true), "{lines:?}");
    // The index a v2 entry's checkpoint-backed proof establishes.
    assert!(lines.iter().all(|l| l["tlog_index"].is_u64()), "{lines:?}");
    let o = repo.gitsign(&[
        "verify-tag",
        "v1",
        "--certificate-identity",
        &email,
        "--certificate-oidc-issuer",
        &issuer,
    ]);
    assert!(o.status.success(), "{}", text(&o));

    // The embedded entry is a hashedrekord 0.0.2 with no time of its own;
    // the exported bundle verifies (sigstore-python's verdict on it is
    // `sigstore_python_verifies_gitsigns_rekor_v2_bundle`).
    let tmp = TempDir::new("r2-export");
    let (bundle, artifact) = export(&repo, &second, tmp.path());
    let te = &bundle["verificationMaterial"]["tlogEntries"][0];
    assert_eq!(te["kindVersion"]["kind"], "hashedrekord");
    assert_eq!(te["kindVersion"]["version"], "0.0.2");
    assert!(
        te.get("integratedTime").is_none() && te.get("inclusionPromise").is_none(),
        "{te}"
    );
    assert!(
        bundle["verificationMaterial"]["timestampVerificationData"]["rfc3161Timestamps"][0]
            ["signedTimestamp"]
            .is_string()
    );
    let b = tmp.path().join(format!("{second}.sigstore.json"));
    let o = common::gitsign_command()
        .args(["verify-bundle", "--bundle"])
        .arg(&b)
        .args([
            "--certificate-identity",
            &email,
            "--certificate-oidc-issuer",
            &issuer,
        ])
        .arg(&artifact)
        .env("GITSIGN_TRUSTED_ROOT", tb.var("GITSIGN_TRUSTED_ROOT"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));

    // The hook accepts the v2-signed history, and refuses an unsigned
    // commit on top of it.
    let server = TempDir::new("r2-server");
    let bare = server.path().join("s.git");
    assert!(Command::new("git")
        .args(["init", "-q", "--bare", "-b", "main"])
        .arg(&bare)
        .status()
        .unwrap()
        .success());
    std::fs::write(
        server.path().join("policy.toml"),
        format!(
            "version = 1\n[signers.me]\nidentity = \"{email}\"\nissuer = \"{issuer}\"\n\
             [[rules]]\nrefs = [\"refs/heads/*\"]\nsigners = [\"me\"]\n"
        ),
    )
    .unwrap();
    for (k, v) in [
        (
            "gitsign.policy",
            server.path().join("policy.toml").display().to_string(),
        ),
        ("gitsign.trustedRoot", tb.var("GITSIGN_TRUSTED_ROOT").into()),
    ] {
        assert!(Command::new("git")
            .arg("-C")
            .arg(&bare)
            .args(["config", k, &v])
            .status()
            .unwrap()
            .success());
    }
    let hook = bare.join("hooks/pre-receive");
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
    let push = |rev: &str| {
        let mut c = repo.git_cmd(&[
            "push",
            "-q",
            &bare.display().to_string(),
            &format!("{rev}:refs/heads/main"),
        ]);
        for (k, _) in &repo.env {
            if k.starts_with("GITSIGN_") {
                c.env_remove(k);
            }
        }
        c.output().unwrap()
    };
    let o = push(&second);
    assert!(
        o.status.success(),
        "the hook refused v2-signed commits: {}",
        text(&o)
    );
    let unsigned = commit(&repo, 3, false);
    let o = push(&unsigned);
    assert!(
        !o.status.success() && text(&o).contains("not signed"),
        "{}",
        text(&o)
    );
}

#[test]
fn a_rebase_through_the_cache_daemon_posts_v2_entries_on_its_connection() {
    let tb = Testbed::start();
    let logdir = TempDir::new("r2-daemon-log");
    let daemon_log = logdir.path().join("daemon.log");
    let d = Daemon::start_env(
        &tb,
        &[("GITSIGN_REKOR_URL", tb.var("TESTBED_REKOR_V2_URL"))],
        Some(std::process::Stdio::from(
            std::fs::File::create(&daemon_log).unwrap(),
        )),
    );
    let mut repo = signer(&tb, "r2-rebase", Some(&d.socket));
    repo.env.push((
        "GITSIGN_LOG".into(),
        repo.dir.path().join("gitsign.log").display().to_string(),
    ));
    commit(&repo, 0, false);
    let base = repo.git_ok(&["rev-parse", "HEAD"]);
    for i in 1..=6 {
        commit(&repo, i, false);
    }
    let marks = repo.resign_since(&base);
    assert_eq!(marks.lines().filter(|l| *l == "G").count(), 6, "{marks}");
    assert_eq!(
        tb.stats()["opener_calls"].as_u64(),
        Some(1),
        "{}",
        tb.stats()
    );
    assert_eq!(tb.stats()["rekor2_entries"].as_u64(), Some(6));
    // The daemon posted every entry of a warm signature (on its
    // kept-alive connection), after the client had the signature
    // timestamped: it signs the same message again (RFC 6979: the same
    // signature) and posts. The first signature is made by the process that
    // logged in, with the fresh key it then hands to the daemon.
    let log = std::fs::read_to_string(&daemon_log).unwrap();
    assert_eq!(
        log.matches("posted the entry to").count(),
        5,
        "the daemon did not post the v2 entries:\n{log}"
    );
}

#[test]
fn what_rekor_v2_cannot_do_is_refused_before_login() {
    let tb = Testbed::start();
    let v2 = v2_env(&tb);
    let url = v2[1].1.clone();
    let tsa = v2[2].1.clone();
    // Online mode: no search API.
    expect_sign_failure(
        &tb,
        "online mode with Rekor v2",
        &[
            ("GITSIGN_REKOR_VERSION", "2".into()),
            ("GITSIGN_REKOR_URL", url.clone()),
            ("GITSIGN_TIMESTAMP_SERVER_URL", tsa.clone()),
            ("GITSIGN_REKOR_MODE", "online".into()),
        ],
        &["Rekor v2 has no", "search API", "rekorMode=offline"],
    );
    // No timestamp authority: no time.
    expect_sign_failure(
        &tb,
        "Rekor v2 without a timestamp",
        &[
            ("GITSIGN_REKOR_VERSION", "2".into()),
            ("GITSIGN_REKOR_URL", url.clone()),
        ],
        &["needs an RFC 3161 timestamp", "gitsign.timestampServerURL"],
    );
    // An unknown version is a configuration error.
    expect_sign_failure(
        &tb,
        "rekorVersion 3",
        &[("GITSIGN_REKOR_VERSION", "3".into())],
        &["gitsign.rekorVersion must be 1 or 2"],
    );
    assert_eq!(
        tb.stats()["opener_calls"].as_u64(),
        Some(0),
        "a login happened"
    );
    assert_eq!(tb.stats()["fulcio_certificates"].as_u64(), Some(0));
}

#[test]
fn rekor_v2_faults_while_signing_are_refused_for_their_reason() {
    let tb = Testbed::start();
    let base = v2_env(&tb);
    let extra: Vec<(&str, String)> = base.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    let mut with_token = extra.clone();
    with_token.push(("GITSIGN_TOKEN_PROVIDER", "environment".into()));
    // One good entry first, so that proofs have hashes to corrupt.
    let mut env = with_token.clone();
    env.push(("SIGSTORE_ID_TOKEN", tb.token(tb.var("TESTBED_EMAIL"), 600)));
    let (code, _, err) = common::sign_direct(&tb, &env);
    assert_eq!(code, Some(0), "{err}");
    let cases: &[(&str, Option<serde_json::Value>, &[&str])] = &[
        ("http500", None, &["HTTP 500"]),
        ("bad-proof", None, &["rekorInclusionProof"]),
        ("bad-checkpoint", None, &["rekorCheckpointSig"]),
        ("checkpoint-origin", None, &["rekorCheckpointOrigin"]),
    ];
    for (fault, value, words) in cases {
        tb.fault("rekor2", fault, Some(1), value.clone());
        let mut env = with_token.clone();
        env.push(("SIGSTORE_ID_TOKEN", tb.token(tb.var("TESTBED_EMAIL"), 600)));
        expect_sign_failure(&tb, fault, &env, words);
        tb.clear_faults();
    }
    // Witness cosignatures and a second line under the log's name with
    // another key: ignored, the log's own line counts.
    tb.fault("rekor2", "witness", Some(1), None);
    let mut env = with_token.clone();
    env.push(("SIGSTORE_ID_TOKEN", tb.token(tb.var("TESTBED_EMAIL"), 600)));
    let (code, out, err) = common::sign_direct(&tb, &env);
    assert_eq!(code, Some(0), "{err}");
    assert!(String::from_utf8_lossy(&out).contains("SIGNED MESSAGE"));
    // Slow but inside the time limit: signed.
    tb.fault("rekor2", "slow", Some(1), Some(300.into()));
    let mut env = with_token.clone();
    env.push(("SIGSTORE_ID_TOKEN", tb.token(tb.var("TESTBED_EMAIL"), 600)));
    let (code, _, err) = common::sign_direct(&tb, &env);
    assert_eq!(code, Some(0), "{err}");
}

/// Rewrites the embedded TransparencyLogEntry of a signed commit and asks
/// git whether the result verifies.
mod tamper {

    // protobuf-specs TransparencyLogEntry, the fields a v2 entry has:
    // written out here from the spec, not taken from the library, so that
    // a wrong tag in the library's copy fails these tests.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct LogId {
        #[prost(bytes = "vec", tag = "1")]
        pub key_id: Vec<u8>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct KindVersion {
        #[prost(string, tag = "1")]
        pub kind: String,
        #[prost(string, tag = "2")]
        pub version: String,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Checkpoint {
        #[prost(string, tag = "1")]
        pub envelope: String,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct InclusionProof {
        #[prost(int64, tag = "1")]
        pub log_index: i64,
        #[prost(bytes = "vec", tag = "2")]
        pub root_hash: Vec<u8>,
        #[prost(int64, tag = "3")]
        pub tree_size: i64,
        #[prost(bytes = "vec", repeated, tag = "4")]
        pub hashes: Vec<Vec<u8>>,
        #[prost(message, optional, tag = "5")]
        pub checkpoint: Option<Checkpoint>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct InclusionPromise {
        #[prost(bytes = "vec", tag = "1")]
        pub signed_entry_timestamp: Vec<u8>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Entry {
        #[prost(int64, tag = "1")]
        pub log_index: i64,
        #[prost(message, optional, tag = "2")]
        pub log_id: Option<LogId>,
        #[prost(message, optional, tag = "3")]
        pub kind_version: Option<KindVersion>,
        #[prost(int64, tag = "4")]
        pub integrated_time: i64,
        #[prost(message, optional, tag = "5")]
        pub inclusion_promise: Option<InclusionPromise>,
        #[prost(message, optional, tag = "6")]
        pub inclusion_proof: Option<InclusionProof>,
        #[prost(bytes = "vec", tag = "7")]
        pub canonicalized_body: Vec<u8>,
    }
}

/// The DER of a signature, its entry decoded, and a function putting an
/// edited entry (or none) and an edited unsigned-attribute set back.
fn signature_of(repo: &Repo, rev: &str) -> Vec<u8> {
    let raw = repo.git_ok(&["cat-file", "commit", rev]);
    let mut sig = String::new();
    let mut inside = false;
    for line in raw.lines() {
        if let Some(rest) = line.strip_prefix("gpgsig ") {
            inside = true;
            sig.push_str(rest);
            sig.push('\n');
        } else if inside && line.starts_with(' ') {
            sig.push_str(&line[1..]);
            sig.push('\n');
        } else if inside {
            break;
        }
    }
    gitsign::pki::cms::unarmor(sig.as_bytes()).unwrap()
}

/// Verifies `der` (an edited signature) over the commit's payload in
/// process, with the testbed's trusted root.
fn verify_der(
    tb: &Testbed,
    repo: &Repo,
    rev: &str,
    der: &[u8],
) -> Result<gitsign::verify::Verified, String> {
    let raw = String::from_utf8(repo.git(&["cat-file", "commit", rev]).stdout).unwrap();
    let mut payload = String::new();
    let mut skipping = false;
    for line in raw.split_inclusive('\n') {
        if line.starts_with("gpgsig ") {
            skipping = true;
            continue;
        }
        if skipping && line.starts_with(' ') {
            continue;
        }
        skipping = false;
        payload.push_str(line);
    }
    let root =
        gitsign::sigstore::trust::TrustedRoot::from_file(Path::new(tb.var("GITSIGN_TRUSTED_ROOT")))
            .unwrap();
    let ctx = gitsign::verify::Context {
        root: &root,
        require_sct: true,
        rekor: None,
        missing_tlog: gitsign::verify::MissingTlog::Search,
        cache: None,
    };
    let armored = gitsign::pki::cms::armor(der);
    gitsign::verify::verify(
        payload.as_bytes(),
        armored.as_bytes(),
        gitsign::verify::ObjectInfo::from_payload(payload.as_bytes()),
        &ctx,
    )
    .map_err(|e| e.message)
}

/// Replaces one DER-encoded unsigned attribute value: finds the OCTET
/// STRING holding the old protobuf and re-encodes the lengths around it.
fn encode_attr(a: &gitsign::pki::cms::Attribute) -> Vec<u8> {
    use gitsign::encoding::asn1::{encode, encode_parts, tag};
    let oid = encode(tag::OID, &a.oid);
    let values: Vec<&[u8]> = a.values.iter().map(Vec::as_slice).collect();
    let set = encode_parts(tag::SET, &values);
    encode_parts(tag::SEQUENCE, &[&oid, &set])
}

/// The signature with its unsigned attributes rebuilt: the Rekor entry
/// replaced by `new` (dropped when empty), the others kept unless `keep`
/// refuses them.
fn rebuild(der: &[u8], new: Option<&[u8]>, keep: impl Fn(&[u8]) -> bool) -> Vec<u8> {
    let sd = gitsign::pki::cms::SignedData::from_der(der).unwrap();
    let si = &sd.signer;
    let mut attrs: Vec<Vec<u8>> = Vec::new();
    for a in &si.unsigned_attrs {
        if a.oid == gitsign::encoding::oid::REKOR_TLOG_ENTRY {
            match new {
                Some(n) if !n.is_empty() => {
                    attrs.push(gitsign::pki::cms::tlog_attribute(n).unwrap())
                }
                Some(_) => {}
                None => attrs.push(encode_attr(a)),
            }
        } else if keep(&a.oid) {
            attrs.push(encode_attr(a));
        }
    }
    gitsign::pki::cms::build_signed_data(
        &si.signed_attrs_der,
        &si.signature,
        sd.signer_certificate().unwrap(),
        &attrs,
    )
    .unwrap()
}

fn replace_entry(der: &[u8], _old: &[u8], new: &[u8]) -> Vec<u8> {
    rebuild(der, Some(new), |_| true)
}

fn entry_bytes(der: &[u8]) -> Vec<u8> {
    let sd = gitsign::pki::cms::SignedData::from_der(der).unwrap();
    let v = sd
        .signer
        .unsigned_value(gitsign::encoding::oid::REKOR_TLOG_ENTRY, "entry")
        .unwrap()
        .unwrap();
    gitsign::encoding::asn1::parse_single(&v, gitsign::encoding::asn1::tag::OCTET_STRING, "entry")
        .unwrap()
        .value
        .to_vec()
}

fn drop_timestamp(der: &[u8]) -> Vec<u8> {
    rebuild(der, None, |oid| {
        oid != gitsign::encoding::oid::TIMESTAMP_TOKEN
    })
}

/// An Ed25519 key the trusted root does not know.
fn other_checkpoint_key() -> aws_lc_rs::signature::Ed25519KeyPair {
    aws_lc_rs::signature::Ed25519KeyPair::from_seed_unchecked(&[0x42; 32]).unwrap()
}

/// `note` with its signed text edited by `f`, then signed again (a valid
/// signature) under the same key name by [`other_checkpoint_key`], which
/// replaces every signature line the note had.
fn resign_checkpoint(note: &str, f: impl Fn(&str) -> String) -> String {
    use aws_lc_rs::signature::KeyPair;
    let (text, sigs) = note.split_once("\n\n").unwrap();
    let text = f(&format!("{text}\n"));
    let name = sigs
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("\u{2014} "))
        .and_then(|l| l.rsplit_once(' '))
        .unwrap()
        .0
        .to_string();
    let pair = other_checkpoint_key();
    // The note key hash of an Ed25519 key: sha256(name, LF, 0x01, key).
    let id = gitsign::pki::crypto::sha256(
        &[name.as_bytes(), b"\n\x01", pair.public_key().as_ref()].concat(),
    );
    let mut raw = id[..4].to_vec();
    raw.extend_from_slice(pair.sign(text.as_bytes()).as_ref());
    format!("{text}\n\u{2014} {name} {}\n", STANDARD.encode(raw))
}

#[test]
fn adversarial_edits_of_a_v2_signature_are_refused() {
    use prost::Message;
    let tb = Testbed::start();
    let repo = signer(&tb, "r2-tamper", None);
    // Two entries: the log's tree is then not the entry's own one-leaf tree.
    commit(&repo, 0, true);
    let rev = commit(&repo, 1, true);
    let der = signature_of(&repo, &rev);
    verify_der(&tb, &repo, &rev, &der).expect("the untouched signature verifies");
    let pb = entry_bytes(&der);
    let entry = tamper::Entry::decode(pb.as_slice()).unwrap();
    assert_eq!(entry.kind_version.as_ref().unwrap().version, "0.0.2");
    assert!(
        entry.canonicalized_body.is_empty(),
        "the body is left out, as for v1"
    );
    let with = |e: &tamper::Entry| replace_entry(&der, &pb, &e.encode_to_vec());

    // 1. The timestamp dropped: a v2 entry has no other time.
    let e = verify_der(&tb, &repo, &rev, &drop_timestamp(&der)).unwrap_err();
    assert!(
        e.contains("Rekor v2") && e.contains("no RFC 3161 timestamp"),
        "{e}"
    );

    // 2. The checkpoint's origin swapped (its signature no longer covers
    //    the text; re-signed by another key it is not the log's).
    let cp = entry
        .inclusion_proof
        .as_ref()
        .unwrap()
        .checkpoint
        .as_ref()
        .unwrap()
        .envelope
        .clone();
    let origin = cp.lines().next().unwrap().to_string();
    let resigned = resign_checkpoint(&cp, |n| n.replacen(&origin, "rekor2.example.org", 1));
    // The re-signed note is well formed and its signature verifies, under
    // the other key: what is refused below is the key, not a broken note.
    {
        use aws_lc_rs::signature::KeyPair;
        let parsed = gitsign::sigstore::tlog::parse_checkpoint(&resigned).unwrap();
        assert_eq!(parsed.origin, "rekor2.example.org");
        let other = gitsign::pki::crypto::PublicKey::Ed25519(
            other_checkpoint_key().public_key().as_ref().to_vec(),
        );
        gitsign::pki::crypto::verify(
            &other,
            gitsign::pki::crypto::SigScheme::Ed25519,
            parsed.signed_text.as_bytes(),
            &parsed.signatures[0].2,
        )
        .unwrap();
    }
    for envelope in [
        resigned,
        // The text untouched, re-signed by the other key alone.
        resign_checkpoint(&cp, |n| n.to_string()),
    ] {
        let mut swapped = entry.clone();
        swapped.inclusion_proof.as_mut().unwrap().checkpoint =
            Some(tamper::Checkpoint { envelope });
        let e = verify_der(&tb, &repo, &rev, &with(&swapped)).unwrap_err();
        assert!(e.contains("rekorCheckpointSig"), "{e}");
    }

    // 3. The log's signature line under another key name: not the log's.
    let mut renamed = entry.clone();
    renamed.inclusion_proof.as_mut().unwrap().checkpoint = Some(tamper::Checkpoint {
        envelope: cp.replace(&format!("\u{2014} {origin} "), "\u{2014} other.example "),
    });
    let e = verify_der(&tb, &repo, &rev, &with(&renamed)).unwrap_err();
    assert!(e.contains("rekorCheckpointSig"), "{e}");

    // 4. A self-rooted proof: a one-leaf tree whose root is the entry's own
    //    leaf hash, with the log's real checkpoint (for another tree) or
    //    none.
    let body = gitsign::sigstore::tlog::hashedrekord_v2_body(
        &{
            let sd = gitsign::pki::cms::SignedData::from_der(&der).unwrap();
            gitsign::pki::crypto::sha256(&sd.signer.signed_attrs_der)
        },
        &gitsign::pki::cms::SignedData::from_der(&der)
            .unwrap()
            .signer
            .signature,
        gitsign::sigstore::tlog::V2Verifier::Certificate(
            gitsign::pki::cms::SignedData::from_der(&der)
                .unwrap()
                .signer_certificate()
                .unwrap()
                .der(),
        ),
        &gitsign::pki::cms::SignedData::from_der(&der)
            .unwrap()
            .signer_certificate()
            .unwrap()
            .public_key()
            .unwrap(),
    )
    .unwrap();
    let own = gitsign::sigstore::tlog::leaf_hash(&body).to_vec();
    for checkpoint in [Some(cp.clone()), None] {
        let mut selfrooted = entry.clone();
        let p = selfrooted.inclusion_proof.as_mut().unwrap();
        p.root_hash = own.clone();
        p.tree_size = 1;
        p.log_index = 0;
        p.hashes.clear();
        p.checkpoint = checkpoint
            .clone()
            .map(|envelope| tamper::Checkpoint { envelope });
        let e = verify_der(&tb, &repo, &rev, &with(&selfrooted)).unwrap_err();
        assert!(e.contains("rekorCheckpoint"), "{e}");
    }

    // 5. A SET beside a v2 entry, an integratedTime beside it, the kind
    //    version claimed as v1, another log id: refused.
    let mut set = entry.clone();
    set.inclusion_promise = Some(tamper::InclusionPromise {
        signed_entry_timestamp: vec![0x30; 70],
    });
    assert_ne!(with(&set), with(&entry), "the SET was not added");
    let e = verify_der(&tb, &repo, &rev, &with(&set)).unwrap_err();
    assert!(
        e.contains("signed entry timestamp") && e.contains("rekorSET"),
        "{e}"
    );
    let mut timed = entry.clone();
    timed.integrated_time = 1_000_000_000;
    let e = verify_der(&tb, &repo, &rev, &with(&timed)).unwrap_err();
    assert!(
        e.contains("integratedTime") && e.contains("Rekor v2"),
        "{e}"
    );
    let mut v1 = entry.clone();
    v1.kind_version.as_mut().unwrap().version = "0.0.1".into();
    // As a v1 entry its body is rebuilt as a v1 hashedrekord, whose leaf
    // is not the one the log's tree holds.
    let e = verify_der(&tb, &repo, &rev, &with(&v1)).unwrap_err();
    assert!(
        e.contains("the entry is not in the tree") && e.contains("rekorInclusionProof"),
        "{e}"
    );
    let mut other_log = entry.clone();
    other_log.log_id = Some(tamper::LogId {
        key_id: vec![7; 32],
    });
    let e = verify_der(&tb, &repo, &rev, &with(&other_log)).unwrap_err();
    assert!(e.contains("unknown log"), "{e}");
    // And the entry removed altogether is an online-mode signature, which
    // Rekor v2 cannot serve: refused without the network.
    let e = verify_der(&tb, &repo, &rev, &replace_entry(&der, &pb, &[])).unwrap_err();
    assert!(e.contains("no embedded transparency log entry"), "{e}");
}

/// Runs sigstore-python 4.5.1 with the testbed's Rekor v2 trust config.
fn sigstore_v2(tb: &Testbed, args: &[&str]) -> std::process::Output {
    Command::new(sigstore_python())
        .arg("--trust-config")
        .arg(tb.var("TESTBED_CTC_REKOR_V2"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("sigstore-python runs")
}

fn verify_bundle(tb: &Testbed, bundle: &Path, artifact: &str) -> std::process::Output {
    common::gitsign_command()
        .args(["verify-bundle", "--bundle"])
        .arg(bundle)
        .args([
            "--certificate-identity",
            tb.var("TESTBED_EMAIL"),
            "--certificate-oidc-issuer",
            tb.var("GITSIGN_OIDC_ISSUER"),
            artifact,
        ])
        .env("GITSIGN_TRUSTED_ROOT", tb.var("GITSIGN_TRUSTED_ROOT"))
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .unwrap()
}

/// sigstore-python verifies the bundle gitsign exports for a commit it
/// signed into Rekor v2, against the testbed's trusted root.
#[test]
#[cfg_attr(
    gitsign_skip_sigstore_python,
    ignore = "needs sigstore-python (GITSIGN_TEST_SKIP_SIGSTORE_PYTHON=1 was set)"
)]
fn sigstore_python_verifies_gitsigns_rekor_v2_bundle() {
    require_sigstore_python();
    let tb = Testbed::start();
    let repo = signer(&tb, "r2-python-verifies", None);
    let email = tb.var("TESTBED_EMAIL").to_string();
    let issuer = tb.var("GITSIGN_OIDC_ISSUER").to_string();
    let rev = commit(&repo, 1, true);
    let tmp = TempDir::new("r2-python-verifies");
    let (_, artifact) = export(&repo, &rev, tmp.path());
    let b = tmp.path().join(format!("{rev}.sigstore.json"));
    let o = Command::new(sigstore_python())
        .args([
            "--trust-config",
            tb.var("TESTBED_CTC"),
            "verify",
            "identity",
            "--bundle",
        ])
        .arg(&b)
        .args(["--cert-identity", &email, "--cert-oidc-issuer", &issuer])
        .arg(&artifact)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "sigstore-python refuses gitsign's Rekor v2 bundle:\n{}",
        text(&o)
    );
}

/// sigstore-python signs an artifact (message signature) and attests it
/// (DSSE, logged by sigstore-python 4.5.1 as a hashedrekord 0.0.2 over the
/// PAE) into the testbed's Rekor v2, chosen from a signing config whose log
/// has majorApiVersion 2; `gitsign verify-bundle` verifies both, with the
/// artifact's path and with its `sha256:` digest, and refuses tampered
/// copies for the right reason.
#[test]
#[cfg_attr(
    gitsign_skip_sigstore_python,
    ignore = "needs sigstore-python (GITSIGN_TEST_SKIP_SIGSTORE_PYTHON=1 was set)"
)]
fn sigstore_python_rekor_v2_bundles_verify_and_tampered_copies_do_not() {
    require_sigstore_python();
    let tb = Testbed::start();
    let tmp = TempDir::new("r2-python");
    let file = tmp.path().join("a.txt");
    let data = format!(
        "signed into Rekor v2 by sigstore-python {}\n",
        std::process::id()
    );
    std::fs::write(&file, &data).unwrap();
    let digest = format!(
        "sha256:{}",
        gitsign::encoding::asn1::hex_lower(&gitsign::pki::crypto::sha256(data.as_bytes()))
    );
    let bundle = tmp.path().join("a.sigstore.json");
    let token = tb.token(tb.var("TESTBED_EMAIL"), 600);
    let o = sigstore_v2(
        &tb,
        &[
            "sign",
            "--identity-token",
            &token,
            "--bundle",
            &bundle.display().to_string(),
            &file.display().to_string(),
        ],
    );
    assert!(
        o.status.success(),
        "sigstore-python sign into Rekor v2: {}",
        text(&o)
    );
    let b: serde_json::Value = serde_json::from_slice(&std::fs::read(&bundle).unwrap()).unwrap();
    let te = &b["verificationMaterial"]["tlogEntries"][0];
    assert_eq!(te["kindVersion"]["version"], "0.0.2", "{te}");
    assert_eq!(tb.stats()["rekor2_entries"].as_u64(), Some(1));
    for artifact in [file.display().to_string(), digest.clone()] {
        let o = verify_bundle(&tb, &bundle, &artifact);
        assert!(o.status.success(), "{artifact}: {}", text(&o));
        assert!(text(&o).contains("Rekor v2 entry"), "{}", text(&o));
    }

    // Tampered copies: each refused, naming what failed.
    let write = |name: &str, f: &dyn Fn(&mut serde_json::Value)| {
        let mut c = b.clone();
        f(&mut c);
        assert_ne!(c, b, "{name}: nothing changed");
        let p = tmp.path().join(name);
        std::fs::write(&p, serde_json::to_vec(&c).unwrap()).unwrap();
        p
    };
    let cp_of = |c: &serde_json::Value| {
        c["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]["checkpoint"]["envelope"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let set_cp = |c: &mut serde_json::Value, s: String| {
        c["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]["checkpoint"]["envelope"] =
            s.into();
    };
    let origin = cp_of(&b).lines().next().unwrap().to_string();
    let cases: Vec<(&str, std::path::PathBuf, &[&str])> = vec![
        (
            "proof",
            write("proof.json", &|c| {
                c["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]["rootHash"] =
                    STANDARD.encode([9u8; 32]).into();
            }),
            &["rekorCheckpoint"],
        ),
        (
            "index",
            write("index.json", &|c| {
                c["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]["logIndex"] =
                    "1".into();
                c["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]["treeSize"] =
                    "2".into();
            }),
            &["rekorCheckpoint"],
        ),
        (
            "checkpoint signature",
            write("cpsig.json", &|c| {
                let cp = cp_of(c);
                let (text_part, sig) = cp.rsplit_once(' ').unwrap();
                let mut raw = STANDARD.decode(sig.trim_end()).unwrap();
                let n = raw.len();
                raw[n - 1] ^= 1;
                set_cp(c, format!("{text_part} {}\n", STANDARD.encode(raw)));
            }),
            &["rekorCheckpointSig"],
        ),
        (
            "origin",
            write("origin.json", &|c| {
                let cp = cp_of(c);
                set_cp(c, cp.replacen(&origin, "log2025-1.rekor.sigstore.dev", 1));
            }),
            &["rekorCheckpointSig"],
        ),
        (
            "timestamp dropped",
            write("nots.json", &|c| {
                c["verificationMaterial"]
                    .as_object_mut()
                    .unwrap()
                    .remove("timestampVerificationData");
            }),
            &["no RFC 3161 timestamp", "Rekor v2"],
        ),
        (
            "timestamp altered",
            write("badts.json", &|c| {
                let t = &mut c["verificationMaterial"]["timestampVerificationData"]
                    ["rfc3161Timestamps"][0]["signedTimestamp"];
                let mut raw = STANDARD.decode(t.as_str().unwrap()).unwrap();
                let n = raw.len();
                raw[n - 5] ^= 1;
                *t = STANDARD.encode(raw).into();
            }),
            &["RFC 3161 timestamp 1"],
        ),
        (
            "body",
            write("body.json", &|c| {
                let body = STANDARD
                    .decode(
                        c["verificationMaterial"]["tlogEntries"][0]["canonicalizedBody"]
                            .as_str()
                            .unwrap(),
                    )
                    .unwrap();
                let mut v: serde_json::Value = serde_json::from_slice(&body).unwrap();
                v["spec"]["hashedRekordV002"]["data"]["digest"] = STANDARD.encode([1u8; 32]).into();
                c["verificationMaterial"]["tlogEntries"][0]["canonicalizedBody"] =
                    STANDARD.encode(serde_json::to_vec(&v).unwrap()).into();
            }),
            &["different artifact, signature or signer"],
        ),
        (
            "a SET added",
            write("set.json", &|c| {
                c["verificationMaterial"]["tlogEntries"][0]["inclusionPromise"] =
                    serde_json::json!({"signedEntryTimestamp": STANDARD.encode([1u8; 70])});
                c["verificationMaterial"]["tlogEntries"][0]["integratedTime"] = "1".into();
            }),
            &["never sign"],
        ),
        (
            "kind version",
            write("kv.json", &|c| {
                c["verificationMaterial"]["tlogEntries"][0]["kindVersion"]["version"] =
                    "0.0.1".into();
            }),
            &["the entry's body is hashedrekord 0.0.2"],
        ),
    ];
    for (what, path, words) in &cases {
        let o = verify_bundle(&tb, path, &file.display().to_string());
        assert_eq!(o.status.code(), Some(1), "{what}: {}", text(&o));
        for w in *words {
            assert!(
                text(&o).contains(w),
                "{what}: expected {w:?} in {}",
                text(&o)
            );
        }
    }

    // DSSE: sigstore-python logs the envelope as hashedrekord 0.0.2 over
    // SHA-256 of the PAE.
    let pred = tmp.path().join("pred.json");
    std::fs::write(&pred, r#"{"builder":{"id":"https://example.com/builder"},"buildType":"https://example.com/build"}"#).unwrap();
    let dsse = tmp.path().join("d.sigstore.json");
    let token = tb.token(tb.var("TESTBED_EMAIL"), 600);
    let o = sigstore_v2(
        &tb,
        &[
            "attest",
            "--predicate-type",
            "https://slsa.dev/provenance/v0.2",
            "--predicate",
            &pred.display().to_string(),
            "--identity-token",
            &token,
            "--bundle",
            &dsse.display().to_string(),
            &file.display().to_string(),
        ],
    );
    assert!(
        o.status.success(),
        "sigstore-python attest into Rekor v2: {}",
        text(&o)
    );
    for artifact in [file.display().to_string(), digest] {
        let o = verify_bundle(&tb, &dsse, &artifact);
        assert!(o.status.success(), "dsse {artifact}: {}", text(&o));
    }
    // And with witness cosignatures on the log's checkpoint (a cosignature
    // first, a line under the log's name by another key): still verified,
    // by gitsign and by sigstore-python.
    tb.fault("rekor2", "witness", Some(1), None);
    let w = tmp.path().join("w.sigstore.json");
    let token = tb.token(tb.var("TESTBED_EMAIL"), 600);
    let o = sigstore_v2(
        &tb,
        &[
            "sign",
            "--identity-token",
            &token,
            "--bundle",
            &w.display().to_string(),
            &file.display().to_string(),
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let cp = cp_of(&serde_json::from_slice(&std::fs::read(&w).unwrap()).unwrap());
    assert_eq!(cp.matches('\u{2014}').count(), 3, "{cp}");
    let o = verify_bundle(&tb, &w, &file.display().to_string());
    assert!(o.status.success(), "cosigned: {}", text(&o));
}

/// The stored testbed signatures (tests/fixtures/rekor2): a Rekor v2
/// offline signature verifies without a network or a testbed, dated by its
/// timestamp; its v1 twin by its SET.
#[test]
fn stored_v1_and_v2_signatures_verify_offline() {
    let fx = common::fixtures().join("rekor2");
    let root =
        gitsign::sigstore::trust::TrustedRoot::from_file(&fx.join("trusted_root.json")).unwrap();
    for (file, v2) in [("testbed_v1.commit", false), ("testbed_v2.commit", true)] {
        let data = std::fs::read(fx.join(file)).unwrap();
        let s = gitsign::git::gitobj::split(
            &data,
            gitsign::git::gitobj::ObjectKind::Commit,
            gitsign::git::gitobj::HashAlgo::Sha1,
        )
        .unwrap()
        .unwrap();
        let ctx = gitsign::verify::Context {
            root: &root,
            require_sct: true,
            rekor: None,
            missing_tlog: gitsign::verify::MissingTlog::Search,
            cache: None,
        };
        let v = gitsign::verify::verify(
            &s.payload,
            &s.signature,
            gitsign::verify::ObjectInfo::from_payload(&s.payload),
            &ctx,
        )
        .unwrap_or_else(|e| panic!("{file}: {}", e.message));
        let entry = v.tlog.entry().unwrap();
        assert_eq!(entry.v2, v2, "{file}");
        let source = if v2 {
            gitsign::verify::TimeSource::Timestamp
        } else {
            gitsign::verify::TimeSource::Log
        };
        assert_eq!(v.time_source, source, "{file}");
    }
}

/// Bad input never panics: every byte of a stored Rekor v2 signature
/// flipped, and a real Rekor v2 bundle truncated and with bytes flipped,
/// are refused with a sentence (or, where a byte no signature covers was
/// changed, still verify), never a crash.
#[test]
fn mutated_v2_signatures_and_bundles_never_panic() {
    let fx = common::fixtures().join("rekor2");
    let root =
        gitsign::sigstore::trust::TrustedRoot::from_file(&fx.join("trusted_root.json")).unwrap();
    let data = std::fs::read(fx.join("testbed_v2.commit")).unwrap();
    let s = gitsign::git::gitobj::split(
        &data,
        gitsign::git::gitobj::ObjectKind::Commit,
        gitsign::git::gitobj::HashAlgo::Sha1,
    )
    .unwrap()
    .unwrap();
    let der = gitsign::pki::cms::unarmor(&s.signature).unwrap();
    let ctx = gitsign::verify::Context {
        root: &root,
        require_sct: true,
        rekor: None,
        missing_tlog: gitsign::verify::MissingTlog::Search,
        cache: None,
    };
    let object = gitsign::verify::ObjectInfo::from_payload(&s.payload);
    let mut refused = 0;
    for i in (0..der.len()).step_by(3) {
        let mut m = der.clone();
        m[i] ^= 0x41;
        let armored = gitsign::pki::cms::armor(&m);
        if let Err(e) = gitsign::verify::verify(&s.payload, armored.as_bytes(), object, &ctx) {
            assert!(!e.message.is_empty());
            refused += 1;
        }
    }
    assert!(
        refused > der.len() / 6,
        "{refused} of {} refused",
        der.len() / 3
    );

    let staging = gitsign::sigstore::trust::TrustedRoot::from_file(
        &common::fixtures().join("trust/trusted_root.staging.json"),
    )
    .unwrap();
    let bundle = std::fs::read(
        common::fixtures().join("conformance/rekor2-dsse-happy-path/bundle.sigstore.json"),
    )
    .unwrap();
    let artifact = gitsign::sigstore::bundle::Artifact::from_arg(
        "sha256:a0cfc71271d6e278e57cd332ff957c3f7043fdda354c4cbb190a30d56efa01bf",
    )
    .unwrap();
    let opts = gitsign::sigstore::bundle::Options {
        root: &staging,
        require_sct: true,
        key: None,
    };
    assert!(gitsign::sigstore::bundle::verify_bundle(&bundle, &artifact, &opts).is_ok());
    for n in (0..bundle.len()).step_by(97) {
        assert!(gitsign::sigstore::bundle::verify_bundle(&bundle[..n], &artifact, &opts).is_err());
        let mut m = bundle.clone();
        m[n] ^= 0x20;
        let _ = gitsign::sigstore::bundle::verify_bundle(&m, &artifact, &opts);
    }
}

/// A copy of commit `rev` carrying the signature `der` instead of its own
/// (written with `git hash-object`, so git itself judges it).
fn commit_with_signature(repo: &Repo, rev: &str, der: &[u8]) -> String {
    let raw = String::from_utf8(repo.git(&["cat-file", "commit", rev]).stdout).unwrap();
    let armored = gitsign::pki::cms::armor(der);
    let mut sig_header = String::from("gpgsig ");
    for (i, line) in armored.trim_end().lines().enumerate() {
        if i > 0 {
            sig_header.push_str("\n ");
        }
        sig_header.push_str(line);
    }
    sig_header.push('\n');
    let mut out = String::new();
    let mut skipping = false;
    for line in raw.split_inclusive('\n') {
        if line.starts_with("gpgsig ") {
            skipping = true;
            out.push_str(&sig_header);
            continue;
        }
        if skipping && line.starts_with(' ') {
            continue;
        }
        skipping = false;
        out.push_str(line);
    }
    let f = repo.dir.path().join("edited-commit");
    std::fs::write(&f, out).unwrap();
    repo.git_ok(&[
        "hash-object",
        "-t",
        "commit",
        "-w",
        &f.display().to_string(),
    ])
}

/// The v2 entry protobuf with an inclusion promise (field 5) appended by
/// hand (independent of `tamper::Entry`, which now carries field 5 too).
fn with_promise(pb: &[u8], set: &[u8]) -> Vec<u8> {
    // field 5, wire type 2: InclusionPromise { 1: bytes }
    let inner = [&[0x0a, set.len() as u8][..], set].concat();
    [pb, &[0x2a, inner.len() as u8][..], &inner].concat()
}

/// The threat model's row for a Rekor v2 signature's time says "an
/// `integratedTime` or a SET beside a v2 entry is refused, never used":
/// both are (an `integratedTime` used to be accepted silently; it was
/// never used as the time). Judged by `git verify-commit` on a copy of the
/// commit.
#[test]
fn an_integrated_time_or_a_set_beside_a_v2_entry_is_refused_through_git() {
    use prost::Message;
    let tb = Testbed::start();
    let repo = signer(&tb, "r2-attack-time", None);
    commit(&repo, 0, true);
    let rev = commit(&repo, 1, true);
    let der = signature_of(&repo, &rev);
    // The untouched signature, rewritten the same way, verifies (the
    // rewriting itself is sound).
    let same = commit_with_signature(&repo, &rev, &der);
    let o = repo.git(&["verify-commit", &same]);
    assert!(o.status.success(), "control: {}", text(&o));
    let pb = entry_bytes(&der);
    let entry = tamper::Entry::decode(pb.as_slice()).unwrap();

    // A SET beside the v2 entry: refused.
    let set = vec![0x30; 70];
    let edited = replace_entry(&der, &pb, &with_promise(&pb, &set));
    let c = commit_with_signature(&repo, &rev, &edited);
    let o = repo.git(&["verify-commit", &c]);
    assert!(!o.status.success(), "a SET beside a v2 entry: {}", text(&o));
    assert!(text(&o).contains("signed entry timestamp"), "{}", text(&o));

    // An integratedTime beside the v2 entry (2001, long before the
    // certificate; no Rekor v2 log signs one): the threat model says refused.
    let mut timed = entry.clone();
    timed.integrated_time = 1_000_000_000;
    let edited = replace_entry(&der, &pb, &timed.encode_to_vec());
    let c = commit_with_signature(&repo, &rev, &edited);
    let o = repo.git(&["verify-commit", &c]);
    assert!(
        !o.status.success(),
        "a Rekor v2 entry with an integratedTime (no log signs one) is accepted, though \
         docs/threat-model.md says it is refused: {}",
        text(&o)
    );
}

/// What held (passes), judged by `git verify-commit` on copies of a
/// commit: another commit's RFC 3161 timestamp (over another signature
/// value) as the only time of a v2 signature, and another commit's v2 entry
/// (another body, another leaf) in its place.
#[test]
fn another_signatures_timestamp_or_entry_is_refused_through_git() {
    let tb = Testbed::start();
    let repo = signer(&tb, "r2-attack-swap", None);
    let a = commit(&repo, 0, true);
    let b = commit(&repo, 1, true);
    let (da, db) = (signature_of(&repo, &a), signature_of(&repo, &b));
    let attr = |der: &[u8], oid: &[u8]| {
        let sd = gitsign::pki::cms::SignedData::from_der(der).unwrap();
        sd.signer
            .unsigned_attrs
            .iter()
            .find(|x| x.oid == oid)
            .map(encode_attr)
            .unwrap()
    };
    let ts_a = attr(&da, gitsign::encoding::oid::TIMESTAMP_TOKEN);
    // b's signature with a's timestamp.
    let sd = gitsign::pki::cms::SignedData::from_der(&db).unwrap();
    let attrs: Vec<Vec<u8>> = sd
        .signer
        .unsigned_attrs
        .iter()
        .map(|x| {
            if x.oid == gitsign::encoding::oid::TIMESTAMP_TOKEN {
                ts_a.clone()
            } else {
                encode_attr(x)
            }
        })
        .collect();
    let swapped = gitsign::pki::cms::build_signed_data(
        &sd.signer.signed_attrs_der,
        &sd.signer.signature,
        sd.signer_certificate().unwrap(),
        &attrs,
    )
    .unwrap();
    let c = commit_with_signature(&repo, &b, &swapped);
    let o = repo.git(&["verify-commit", &c]);
    assert!(
        !o.status.success(),
        "another signature's timestamp: {}",
        text(&o)
    );
    assert!(text(&o).contains("for other data"), "{}", text(&o));
    // b's signature with a's entry.
    let swapped = replace_entry(&db, &[], &entry_bytes(&da));
    let c = commit_with_signature(&repo, &b, &swapped);
    let o = repo.git(&["verify-commit", &c]);
    assert!(
        !o.status.success(),
        "another signature's entry: {}",
        text(&o)
    );
    assert!(text(&o).contains("rekorInclusionProof"), "{}", text(&o));
}
