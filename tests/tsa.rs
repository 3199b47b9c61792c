//! RFC 3161 timestamps against the loopback testbed's TSA: signing through
//! real git with `GITSIGN_TIMESTAMP_SERVER_URL`, the token embedded as
//! id-aa-timeStampToken over the CMS signature value, verification by git,
//! `gitsign verify` and `openssl ts -verify`, the TSA time used when the log
//! is not checked, tampered tokens, TSA failures and untrusted TSAs.

mod common;

use std::path::Path;
use std::process::Command;

use common::{text, Repo, Testbed};
use gitsign::encoding::oid;
use gitsign::git::gitobj::{self, HashAlgo};
use gitsign::pki::cms::{self, SignedData};
use gitsign::pki::tsa;
use gitsign::sigstore::trust::TrustedRoot;

fn set_env(repo: &mut Repo, key: &str, value: &str) {
    repo.env.retain(|(k, _)| k != key);
    repo.env.push((key.into(), value.into()));
}

fn tsa_repo(tb: &Testbed, tag: &str, mode: &str) -> Repo {
    let mut repo = Repo::new(tag);
    repo.env.extend(tb.gitsign_env());
    let email = tb.var("TESTBED_EMAIL").to_string();
    set_env(&mut repo, "GITSIGN_TOKEN_PROVIDER", "environment");
    set_env(&mut repo, "SIGSTORE_ID_TOKEN", &tb.token(&email, 900));
    set_env(&mut repo, "GITSIGN_REKOR_MODE", mode);
    set_env(
        &mut repo,
        "GITSIGN_TIMESTAMP_SERVER_URL",
        tb.var("TESTBED_TSA_URL"),
    );
    repo.git_ok(&["config", "gitsign.credentialCache", "off"]);
    repo.trust_testbed_account(tb);
    repo
}

fn signed_commit(repo: &Repo, content: &str) -> String {
    std::fs::write(repo.path().join("f.txt"), content).unwrap();
    repo.git_ok(&["add", "f.txt"]);
    let o = repo.git(&["commit", "-q", "-S", "-m", content]);
    assert!(o.status.success(), "git commit -S failed: {}", text(&o));
    repo.git_ok(&["rev-parse", "HEAD"])
}

/// The raw commit, its payload and the signature's DER.
fn commit_parts(repo: &Repo, rev: &str) -> (Vec<u8>, Vec<u8>) {
    let raw = repo.git_cmd(&["cat-file", "commit", rev]).output().unwrap();
    assert!(raw.status.success());
    let split = gitobj::split_commit(&raw.stdout, HashAlgo::Sha1)
        .unwrap()
        .expect("the commit is signed");
    let der = cms::unarmor(&split.signature).unwrap();
    (split.payload, der)
}

/// The embedded token of a signature, and the signature value it covers.
fn embedded_token(der: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let sd = SignedData::from_der(der).unwrap();
    let token = sd
        .signer
        .unsigned_value(oid::TIMESTAMP_TOKEN, "timestamp token")
        .unwrap()
        .expect("the signature carries an RFC 3161 token");
    (token, sd.signer.signature.clone())
}

fn verify_args<'a>(tb: &'a Testbed, email: &'a str, rev: &'a str) -> Vec<&'a str> {
    vec![
        "verify",
        "--certificate-identity",
        email,
        "--certificate-oidc-issuer",
        tb.var("GITSIGN_OIDC_ISSUER"),
        rev,
    ]
}

/// A copy of the testbed's trusted root whose only timestamp authority is
/// the Fulcio CA chain (so the real TSA is not trusted).
fn root_without_tsa(tb: &Testbed, dir: &Path) -> String {
    let mut root: serde_json::Value =
        serde_json::from_slice(&std::fs::read(tb.var("GITSIGN_TRUSTED_ROOT")).unwrap()).unwrap();
    let fulcio_chain = root["certificateAuthorities"][0]["certChain"].clone();
    root["timestampAuthorities"][0]["certChain"] = fulcio_chain;
    let p = dir.join("root-without-tsa.json");
    std::fs::write(&p, root.to_string()).unwrap();
    p.display().to_string()
}

#[test]
fn timestamped_commit_verifies_with_git_gitsign_and_openssl() {
    let tb = Testbed::start();
    let repo = tsa_repo(&tb, "tsa-offline", "offline");
    let email = tb.var("TESTBED_EMAIL").to_string();
    let id = signed_commit(&repo, "timestamped\n");
    assert_eq!(tb.stats()["tsa_timestamps"].as_u64(), Some(1));

    // Both unsigned attributes: the Rekor entry and the token.
    let (_, der) = commit_parts(&repo, &id);
    let sd = SignedData::from_der(&der).unwrap();
    assert!(sd
        .signer
        .unsigned_value(oid::REKOR_TLOG_ENTRY, "tlog")
        .unwrap()
        .is_some());
    let (token, sig_value) = embedded_token(&der);

    // The token imprints SHA-256 of the CMS signature value.
    let t = tsa::Token::from_der(&token).unwrap();
    assert_eq!(t.info.hash, gitsign::pki::crypto::Hash::Sha256);
    assert_eq!(
        t.info.hashed_message,
        gitsign::pki::crypto::sha256(&sig_value).to_vec()
    );
    let root = TrustedRoot::from_file(Path::new(tb.var("GITSIGN_TRUSTED_ROOT"))).unwrap();
    let v = tsa::verify_token(&token, &sig_value, None, &root).unwrap();
    assert!(v.tsa_name().contains("CN="), "{}", v.tsa_name());
    // Not over anything else.
    assert!(tsa::verify_token(&token, b"other bytes", None, &root)
        .unwrap_err()
        .0
        .contains("message imprint"));
    // A nonce that was not the one sent is refused.
    assert!(
        tsa::verify_token(&token, &sig_value, Some(&[1, 2, 3]), &root)
            .unwrap_err()
            .0
            .contains("nonce")
    );

    // Git-signature parsing stays detached-only: a token is not a signature.
    assert!(SignedData::from_der(&token).is_err());

    // Every single-bit flip and every truncation of the token: no panic;
    // none inside the TSTInfo or the signed attributes verifies.
    let tst_range = {
        let at = find(&token, &t.tst_info_der);
        at..at + t.tst_info_der.len()
    };
    let attrs = &t.signed_data.signer.signed_attrs_der;
    let attrs_range = {
        // The attributes are stored under [0] IMPLICIT: match past the tag.
        let at = find(&token, &attrs[1..]) - 1;
        at..at + attrs.len()
    };
    for i in 0..token.len() {
        let mut m = token.clone();
        m[i] ^= 0x01;
        let r = tsa::verify_token(&m, &sig_value, None, &root);
        if tst_range.contains(&i) || attrs_range.contains(&i) {
            assert!(r.is_err(), "a flip at {i} still verifies");
        }
        assert!(tsa::verify_token(&token[..i], &sig_value, None, &root).is_err());
    }

    // git and gitsign accept it and say it was timestamped.
    let o = repo.git(&["verify-commit", &id]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("Timestamped by "), "{}", text(&o));
    assert!(
        text(&o).contains("(transparency log time; log entry embedded): Rekor entry "),
        "{}",
        text(&o)
    );
    assert_eq!(
        repo.git_ok(&["log", "-1", "--format=%G?", &id]),
        "G",
        "policy-trusted signer"
    );
    let o = repo.gitsign(&verify_args(&tb, &email, &id));
    assert!(o.status.success(), "{}", text(&o));

    // Independently: OpenSSL verifies the token over the signature value
    // with the testbed's TSA chain.
    let dir = common::TempDir::new("tsa-openssl");
    let token_file = dir.path().join("token.der");
    let data_file = dir.path().join("sigvalue.bin");
    std::fs::write(&token_file, &token).unwrap();
    std::fs::write(&data_file, &sig_value).unwrap();
    let chain = Path::new(tb.var("TESTBED_STATE")).join("tsa_chain.pem");
    let o = Command::new("openssl")
        .args(["ts", "-verify", "-token_in", "-in"])
        .arg(&token_file)
        .arg("-data")
        .arg(&data_file)
        .arg("-CAfile")
        .arg(&chain)
        .output();
    match o {
        Ok(o) => assert!(
            o.status.success() && String::from_utf8_lossy(&o.stdout).contains("OK"),
            "openssl ts -verify: {}",
            text(&o)
        ),
        Err(e) => panic!(
            "openssl cannot be run ({e}): the independent check of the timestamp needs it; \
             install the openssl package (tests/run does)"
        ),
    }

    // Verifying under a root that does not trust this TSA fails, naming the
    // timestamp; the chain file (Go gitsign's GITSIGN_TIMESTAMP_CERT_CHAIN)
    // trusts it again.
    let other = root_without_tsa(&tb, dir.path());
    let o = repo
        .git_cmd(&["verify-commit", &id])
        .env("GITSIGN_TRUSTED_ROOT", &other)
        .output()
        .unwrap();
    assert!(!o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("timestamp"), "{}", text(&o));
    let o = repo
        .git_cmd(&["verify-commit", &id])
        .env("GITSIGN_TRUSTED_ROOT", &other)
        .env("GITSIGN_TIMESTAMP_CERT_CHAIN", &chain)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn online_mode_without_the_log_takes_the_tsa_time() {
    let tb = Testbed::start();
    let repo = tsa_repo(&tb, "tsa-online", "online");
    let email = tb.var("TESTBED_EMAIL").to_string();
    let id = signed_commit(&repo, "online and timestamped\n");
    let (_, der) = commit_parts(&repo, &id);
    let (token, _) = embedded_token(&der);
    let gen_time = tsa::Token::from_der(&token).unwrap().info.gen_time;
    let when = gitsign::encoding::time::format_time(gen_time);

    // With the log: found online, log time authoritative, token checked.
    let o = repo.git(&["verify-commit", &id]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("(transparency log time; log entry found online): Rekor entry "),
        "{}",
        text(&o)
    );
    assert!(text(&o).contains("Timestamped by "), "{}", text(&o));

    // Without the log: the TSA's genTime is the signing time.
    repo.git_ok(&["config", "gitsign.verifyTlog", "skip"]);
    let o = repo.git(&["verify-commit", &id]);
    assert!(o.status.success(), "{}", text(&o));
    let out = text(&o);
    assert!(
        out.contains(&format!(
            "Signed at {when} (timestamp authority time; NOT confirmed by a transparency log)"
        )),
        "{out}"
    );
    assert!(
        out.contains("Timestamped by ") && out.contains(&format!(" at {when} ")),
        "{out}"
    );
    assert!(
        out.contains("WARNING: the transparency log was not checked"),
        "{out}"
    );
    let o = repo.gitsign(&verify_args(&tb, &email, &id));
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("timestamp authority time"),
        "{}",
        text(&o)
    );
    // JSON output carries the TSA time.
    let mut args = verify_args(&tb, &email, &id);
    args.extend(["--format", "json"]);
    let o = repo.gitsign(&args);
    assert!(o.status.success(), "{}", text(&o));
    let line = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(line.contains(&when), "{line}");
}

/// Rewrites `rev` with `mutate` applied to its signature DER; returns the
/// new commit id.
fn rewrite_signature(repo: &Repo, rev: &str, mutate: impl Fn(&mut Vec<u8>)) -> String {
    let (payload, mut der) = commit_parts(repo, rev);
    mutate(&mut der);
    let armored = cms::armor(&der);
    let object = gitobj::join_commit(&payload, armored.as_bytes(), HashAlgo::Sha1);
    let dir = common::TempDir::new("tsa-rewrite");
    let f = dir.path().join("commit");
    std::fs::write(&f, object).unwrap();
    repo.git_ok(&[
        "hash-object",
        "-w",
        "-t",
        "commit",
        &f.display().to_string(),
    ])
}

fn find(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len())
        .position(|w| w == needle)
        .expect("pattern present")
}

#[test]
fn tampered_tokens_are_rejected() {
    let tb = Testbed::start();
    let repo = tsa_repo(&tb, "tsa-tamper", "offline");
    let email = tb.var("TESTBED_EMAIL").to_string();
    let id = signed_commit(&repo, "to be tampered with\n");
    let (_, der) = commit_parts(&repo, &id);
    let (token, _) = embedded_token(&der);
    let token_at = find(&der, &token);

    // One byte of the TSTInfo's genTime (a digit of the seconds), one of
    // the TSA's signature (the token's last byte), one of the imprint.
    let gen = find(&token, &[0x18, 0x0f]) + 2 + 12;
    let imprint_at = {
        let t = tsa::Token::from_der(&token).unwrap();
        find(&token, &t.info.hashed_message)
    };
    let cases: Vec<(&str, usize, u8)> = vec![
        ("genTime", token_at + gen, 0x01),
        ("TSA signature", token_at + token.len() - 1, 0x01),
        ("imprint", token_at + imprint_at + 5, 0x80),
    ];
    for (what, at, mask) in cases {
        let bad = rewrite_signature(&repo, &id, |d| d[at] ^= mask);
        assert_ne!(bad, id);
        let o = repo.git(&["verify-commit", &bad]);
        assert!(!o.status.success(), "{what}: accepted\n{}", text(&o));
        assert!(text(&o).contains("timestamp"), "{what}: {}", text(&o));
        assert_ne!(repo.git_ok(&["log", "-1", "--format=%G?", &bad]), "G");
        let o = repo.gitsign(&verify_args(&tb, &email, &bad));
        assert_eq!(o.status.code(), Some(1), "{what}: {}", text(&o));
        assert!(text(&o).contains("timestamp"), "{what}: {}", text(&o));
    }
    // The untouched commit still verifies.
    let o = repo.git(&["verify-commit", &id]);
    assert!(o.status.success(), "{}", text(&o));
}

/// Signing with the testbed's TSA and an environment token, plus `extra`.
fn tsa_env<'a>(tb: &Testbed, extra: &[(&'a str, String)]) -> Vec<(&'a str, String)> {
    let mut env = vec![
        ("GITSIGN_TOKEN_PROVIDER", "environment".to_string()),
        (
            "SIGSTORE_ID_TOKEN",
            tb.token("testbed-user@example.com", 900),
        ),
        (
            "GITSIGN_TIMESTAMP_SERVER_URL",
            tb.var("TESTBED_TSA_URL").to_string(),
        ),
    ];
    env.extend(extra.iter().cloned());
    env
}

fn expect_failure(tb: &Testbed, what: &str, extra: &[(&str, String)], words: &[&str]) {
    common::expect_sign_failure(tb, what, &tsa_env(tb, extra), words);
}

#[test]
fn tsa_failures_stop_signing_cleanly() {
    let tb = Testbed::start();
    let url = tb.var("TESTBED_TSA_URL").to_string();

    // Works when nothing is wrong (the baseline of this test).
    let (code, stdout, stderr) = common::sign_direct(&tb, &tsa_env(&tb, &[]));
    assert_eq!(code, Some(0), "{stderr}");
    assert!(String::from_utf8_lossy(&stdout).contains("BEGIN SIGNED MESSAGE"));
    assert!(stderr.contains("timestamped by "), "{stderr}");
    let before = tb.stats();

    // HTTP 500: a sentence naming the TSA and the status; nothing logged.
    tb.fault("tsa", "http500", None, None);
    expect_failure(
        &tb,
        "tsa http500",
        &[],
        &["timestamp authority", &url, "HTTP 500"],
    );
    tb.clear_faults();
    let after = tb.stats();
    assert_eq!(
        before["rekor_entries"], after["rekor_entries"],
        "nothing is logged when the timestamp fails"
    );

    // Slow: the request times out at gitsign.timeout.
    tb.fault("tsa", "slow", Some(1), Some(serde_json::json!(3000)));
    expect_failure(
        &tb,
        "tsa slow",
        &[("GITSIGN_TIMEOUT", "1".into())],
        &[&url, "no answer within 1 s"],
    );
    tb.clear_faults();

    // A TSA whose clock is an hour ahead: its token verifies, but dates the
    // signature outside the ten-minute certificate; refused, naming the TSA.
    let ahead = gitsign::encoding::time::now() + 3600;
    tb.fault("tsa", "gen-time", Some(1), Some(ahead.into()));
    let dated = format!(
        "dated the signature {}, outside the signing certificate's validity",
        gitsign::encoding::time::format_time(ahead)
    );
    expect_failure(
        &tb,
        "tsa clock ahead",
        &[],
        &["the timestamp authority", &url, &dated, "check the clocks"],
    );
    tb.clear_faults();

    // Nothing listening.
    expect_failure(
        &tb,
        "tsa unreachable",
        &[(
            "GITSIGN_TIMESTAMP_SERVER_URL",
            "http://127.0.0.1:9/api/v1/timestamp".into(),
        )],
        &["http://127.0.0.1:9/api/v1/timestamp", "cannot reach"],
    );

    // Not a TSA: a server that answers 200 with JSON.
    expect_failure(
        &tb,
        "not a TSA",
        &[(
            "GITSIGN_TIMESTAMP_SERVER_URL",
            format!("{}/api/v1/index/retrieve", common::empty_rekor()),
        )],
        &[
            "timestamp authority",
            "answered with application/json, not a timestamp reply",
            "gitsign.timestampServerURL",
        ],
    );
}

#[test]
fn untrusted_tsa_is_refused_unless_its_chain_is_configured() {
    let tb = Testbed::start();
    let dir = common::TempDir::new("tsa-untrusted");
    let other = root_without_tsa(&tb, dir.path());
    expect_failure(
        &tb,
        "TSA not in the trusted root",
        &[("GITSIGN_TRUSTED_ROOT", other.clone())],
        &[
            tb.var("TESTBED_TSA_URL"),
            "does not chain to a timestamp authority of the trusted root",
        ],
    );
    let chain = Path::new(tb.var("TESTBED_STATE")).join("tsa_chain.pem");
    let (code, stdout, stderr) = common::sign_direct(
        &tb,
        &tsa_env(
            &tb,
            &[
                ("GITSIGN_TRUSTED_ROOT", other),
                ("GITSIGN_TIMESTAMP_CERT_CHAIN", chain.display().to_string()),
            ],
        ),
    );
    assert_eq!(code, Some(0), "{stderr}");
    assert!(String::from_utf8_lossy(&stdout).contains("BEGIN SIGNED MESSAGE"));
    // A chain file that does not exist is a configuration error.
    expect_failure(
        &tb,
        "missing chain file",
        &[(
            "GITSIGN_TIMESTAMP_CERT_CHAIN",
            "/nonexistent/chain.pem".into(),
        )],
        &["/nonexistent/chain.pem"],
    );
}

/// `gitsign export-bundle` carries the signature's RFC 3161 timestamp into
/// the bundle (`timestampVerificationData`); `gitsign verify-bundle`
/// verifies it (and refuses a tampered or foreign one), and so does
/// sigstore-python, independently.
#[test]
fn exported_bundles_carry_the_timestamp() {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let tb = Testbed::start();
    let repo = tsa_repo(&tb, "tsa-bundle", "offline");
    let email = tb.var("TESTBED_EMAIL").to_string();
    let issuer = tb.var("GITSIGN_OIDC_ISSUER").to_string();
    let id = signed_commit(&repo, "timestamped, exported\n");
    let dir = common::TempDir::new("tsa-bundle");
    let (bundle, artifact) = (dir.path().join("b.json"), dir.path().join("artifact"));
    let o = repo.gitsign(&[
        "export-bundle",
        &id,
        "--output",
        &bundle.display().to_string(),
        "--artifact",
        &artifact.display().to_string(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&bundle).unwrap()).unwrap();
    let stamps = &json["verificationMaterial"]["timestampVerificationData"]["rfc3161Timestamps"];
    assert_eq!(stamps.as_array().map(Vec::len), Some(1), "{json}");
    let (_, der) = commit_parts(&repo, &id);
    let (token, _) = embedded_token(&der);
    // A TimeStampResp (status granted) around the embedded token.
    let response = b64
        .decode(stamps[0]["signedTimestamp"].as_str().unwrap())
        .unwrap();
    assert_eq!(tsa::parse_response(&response).unwrap(), token);

    let verify = |bundle: &Path| {
        repo.gitsign(&[
            "verify-bundle",
            "--bundle",
            &bundle.display().to_string(),
            "--certificate-identity",
            &email,
            "--certificate-oidc-issuer",
            &issuer,
            &artifact.display().to_string(),
        ])
    };
    let o = verify(&bundle);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("RFC 3161 timestamp by "), "{}", text(&o));

    // A flipped bit in the token, and a token over other data (another
    // signature's): refused, naming the timestamp.
    let mut flipped = token.clone();
    let at = flipped.len() - 10;
    flipped[at] ^= 0x01;
    let other = {
        let id2 = signed_commit(&repo, "another\n");
        let (_, der2) = commit_parts(&repo, &id2);
        embedded_token(&der2).0
    };
    // And a bare token where a TimeStampResp belongs.
    {
        let mut j = json.clone();
        j["verificationMaterial"]["timestampVerificationData"]["rfc3161Timestamps"][0]
            ["signedTimestamp"] = b64.encode(&token).into();
        let p = dir.path().join("bare.json");
        std::fs::write(&p, serde_json::to_vec(&j).unwrap()).unwrap();
        let o = verify(&p);
        assert_eq!(o.status.code(), Some(1), "bare token: {}", text(&o));
        assert!(text(&o).contains("TimeStampResp"), "{}", text(&o));
    }
    for (what, t) in [("flipped", flipped), ("another signature's", other)] {
        let mut j = json.clone();
        j["verificationMaterial"]["timestampVerificationData"]["rfc3161Timestamps"][0]
            ["signedTimestamp"] = b64.encode(tsa::encode_granted_response(&t)).into();
        let p = dir.path().join("tampered.json");
        std::fs::write(&p, serde_json::to_vec(&j).unwrap()).unwrap();
        let o = verify(&p);
        assert_eq!(o.status.code(), Some(1), "{what}: {}", text(&o));
        assert!(
            text(&o).contains("RFC 3161 timestamp 1"),
            "{what}: {}",
            text(&o)
        );
    }
}

/// Independently: sigstore-python verifies the bundle gitsign exports for a
/// timestamped commit, timestamp included (the testbed's trust config lists
/// its TSA).
#[test]
#[cfg_attr(
    gitsign_skip_sigstore_python,
    ignore = "needs sigstore-python (GITSIGN_TEST_SKIP_SIGSTORE_PYTHON=1 was set)"
)]
fn sigstore_python_verifies_an_exported_timestamped_bundle() {
    common::require_sigstore_python();
    let tb = Testbed::start();
    let repo = tsa_repo(&tb, "tsa-python", "offline");
    let email = tb.var("TESTBED_EMAIL").to_string();
    let issuer = tb.var("GITSIGN_OIDC_ISSUER").to_string();
    let id = signed_commit(&repo, "timestamped, checked by sigstore-python\n");
    let dir = common::TempDir::new("tsa-python");
    let (bundle, artifact) = (dir.path().join("b.json"), dir.path().join("artifact"));
    let o = repo.gitsign(&[
        "export-bundle",
        &id,
        "--output",
        &bundle.display().to_string(),
        "--artifact",
        &artifact.display().to_string(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let o = Command::new(common::sigstore_python())
        .arg("--trust-config")
        .arg(tb.var("TESTBED_CTC"))
        .args(["verify", "identity", "--bundle"])
        .arg(&bundle)
        .args(["--cert-identity", &email, "--cert-oidc-issuer", &issuer])
        .arg(&artifact)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "sigstore-python refuses gitsign's timestamped bundle: {}",
        text(&o)
    );
}
