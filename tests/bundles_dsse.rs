//! `gitsign verify-bundle` on bundles made by an independent client:
//! sigstore-python 4.5.1 signs a message signature (`sign`, a Rekor
//! hashedrekord 0.0.1 entry) and an in-toto attestation (`attest`, a DSSE
//! envelope logged as a Rekor dsse 0.0.1 entry) against a private testbed.
//! Our verifier must accept both (artifact given as a file and as
//! `sha256:HEX`) and refuse the wrong identity, another artifact and tampered
//! copies (payload, signature, log entry, a log entry of another envelope,
//! the RFC 3161 timestamp the testbed's TSA adds).
//!
//! Without sigstore-python (its venv needs PyPI once) these tests fail,
//! saying so, unless the tests were built with
//! `GITSIGN_TEST_SKIP_SIGSTORE_PYTHON=1`, which lists them as ignored.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use common::{require_sigstore_python, sigstore_python, text, Repo, TempDir, Testbed};
use gitsign::encoding::asn1::hex_lower;

const PREDICATE_TYPE: &str = "https://slsa.dev/provenance/v0.2";
const PREDICATE: &str = r#"{"builder": {"id": "https://example.com/gitsign-test-builder"}, "buildType": "https://example.com/build/v1", "materials": [{"uri": "git+https://example.com/repo", "digest": {"sha1": "0123456789abcdef0123456789abcdef01234567"}}]}"#;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A private testbed, a git sandbox for gitsign and a scratch directory.
struct Env {
    tb: Testbed,
    repo: Repo,
    tmp: TempDir,
}

impl Env {
    /// Fails, saying why, when sigstore-python cannot be installed.
    fn new(tag: &str) -> Env {
        require_sigstore_python();
        Env {
            tb: Testbed::start(),
            repo: Repo::new(tag),
            tmp: TempDir::new(tag),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }

    /// Writes a file in the scratch directory; returns its path.
    fn write(&self, name: &str, data: &[u8]) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, data).unwrap();
        p
    }

    fn issuer(&self) -> String {
        self.tb.var("GITSIGN_OIDC_ISSUER").to_string()
    }

    /// Runs `sigstore --trust-config $TESTBED_CTC ARGS`.
    fn sigstore(&self, args: &[&str]) -> Output {
        Command::new(sigstore_python())
            .arg("--trust-config")
            .arg(self.tb.var("TESTBED_CTC"))
            .args(args)
            .current_dir(root())
            .output()
            .expect("sigstore-python runs")
    }

    /// sigstore-python signs `file` as `email` (a message signature bundle).
    fn sign(&self, email: &str, file: &Path, bundle: &Path) {
        let token = self.tb.token(email, 600);
        let o = self.sigstore(&[
            "sign",
            "--identity-token",
            &token,
            "--bundle",
            &bundle.display().to_string(),
            &file.display().to_string(),
        ]);
        assert!(
            o.status.success() && bundle.exists(),
            "sigstore-python sign against the testbed failed:\n{}",
            text(&o)
        );
    }

    /// sigstore-python attests `file` as `email` (a DSSE bundle whose in-toto
    /// statement names the file's sha256).
    fn attest(&self, email: &str, file: &Path, predicate: &Path, bundle: &Path) {
        let token = self.tb.token(email, 600);
        let o = self.sigstore(&[
            "attest",
            "--predicate-type",
            PREDICATE_TYPE,
            "--predicate",
            &predicate.display().to_string(),
            "--identity-token",
            &token,
            "--bundle",
            &bundle.display().to_string(),
            &file.display().to_string(),
        ]);
        assert!(
            o.status.success() && bundle.exists(),
            "sigstore-python attest against the testbed failed:\n{}",
            text(&o)
        );
    }

    /// sigstore-python's own `verify identity`.
    fn sigstore_verify(&self, bundle: &Path, email: &str, artifact: &str) -> Output {
        self.sigstore(&[
            "verify",
            "identity",
            "--bundle",
            &bundle.display().to_string(),
            "--cert-identity",
            email,
            "--cert-oidc-issuer",
            &self.issuer(),
            artifact,
        ])
    }

    /// Our `gitsign verify-bundle`.
    fn verify(&self, bundle: &Path, email: &str, artifact: &str) -> Output {
        self.repo.gitsign(&[
            "verify-bundle",
            "--bundle",
            &bundle.display().to_string(),
            "--trusted-root",
            self.tb.var("GITSIGN_TRUSTED_ROOT"),
            "--certificate-identity",
            email,
            "--certificate-oidc-issuer",
            &self.issuer(),
            artifact,
        ])
    }

    /// Expects `verify-bundle` to accept, naming the signer.
    fn expect_ok(&self, what: &str, bundle: &Path, email: &str, artifact: &str) {
        let o = self.verify(bundle, email, artifact);
        let t = text(&o);
        assert!(
            o.status.code() == Some(0)
                && t.contains("Verified OK")
                && t.contains(&format!("signed by {email}")),
            "{what}: gitsign verify-bundle should accept (exit 0, \"Verified OK\", signed by {email}); \
             got exit {:?}:\n{t}",
            o.status.code()
        );
    }

    /// Expects the bundle (`b`, parsed) to carry one RFC 3161 timestamp
    /// and `verify-bundle` to report it verified.
    fn expect_timestamp_verified(
        &self,
        b: &serde_json::Value,
        bundle: &Path,
        email: &str,
        artifact: &str,
    ) {
        let stamps = &b["verificationMaterial"]["timestampVerificationData"]["rfc3161Timestamps"];
        assert_eq!(stamps.as_array().map(Vec::len), Some(1), "{b}");
        let o = self.verify(bundle, email, artifact);
        assert!(
            o.status.success() && text(&o).contains("RFC 3161 timestamp by "),
            "{}",
            text(&o)
        );
    }

    /// Expects `verify-bundle` to refuse with exit 1 and every `needles` in its output.
    fn expect_refused(
        &self,
        what: &str,
        bundle: &Path,
        email: &str,
        artifact: &str,
        needles: &[&str],
    ) {
        let o = self.verify(bundle, email, artifact);
        let t = text(&o);
        assert!(
            o.status.code() == Some(1) && needles.iter().all(|n| t.contains(n)),
            "{what}: gitsign verify-bundle should refuse with exit 1 and {needles:?}; \
             got exit {:?}:\n{t}",
            o.status.code()
        );
    }
}

/// Lower-case hex SHA-256.
fn sha256_hex(data: &[u8]) -> String {
    hex_lower(&gitsign::pki::crypto::sha256(data))
}

fn sha256_arg(data: &[u8]) -> String {
    format!("sha256:{}", sha256_hex(data))
}

fn read_json(p: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(p).unwrap())
        .unwrap_or_else(|e| panic!("{} is not JSON: {e}", p.display()))
}

fn b64d(v: &serde_json::Value, what: &str) -> Vec<u8> {
    STANDARD
        .decode(
            v.as_str()
                .unwrap_or_else(|| panic!("{what} is not a string")),
        )
        .unwrap_or_else(|e| panic!("{what} is not base64: {e}"))
}

/// A tlog entry's canonicalized body, parsed.
fn entry_body(te: &serde_json::Value) -> serde_json::Value {
    serde_json::from_slice(&b64d(&te["canonicalizedBody"], "canonicalizedBody"))
        .expect("canonicalizedBody is JSON")
}

/// Writes a modified copy of `bundle` as `name`.
fn tampered(
    env: &Env,
    bundle: &serde_json::Value,
    name: &str,
    f: impl FnOnce(&mut serde_json::Value),
) -> PathBuf {
    let mut b = bundle.clone();
    f(&mut b);
    assert_ne!(&b, bundle, "{name}: the tampering changed nothing");
    env.write(name, serde_json::to_string_pretty(&b).unwrap().as_bytes())
}

fn bump_integrated_time(b: &mut serde_json::Value) {
    let e = &mut b["verificationMaterial"]["tlogEntries"][0];
    let t: i64 = match &e["integratedTime"] {
        serde_json::Value::String(s) => s.parse().expect("integratedTime"),
        v => v.as_i64().expect("integratedTime"),
    };
    e["integratedTime"] = serde_json::Value::String((t - 1).to_string());
}

#[test]
#[cfg_attr(
    gitsign_skip_sigstore_python,
    ignore = "needs sigstore-python (GITSIGN_TEST_SKIP_SIGSTORE_PYTHON=1 was set)"
)]
fn sigstore_python_message_signature_bundle() {
    let env = Env::new("bdsse-msg");
    let email = "sp-signer@example.com";
    let data = format!("signed by sigstore-python {}\n", std::process::id()).into_bytes();
    let file = env.write("artifact.txt", &data);
    let other = env.write("other.txt", b"another artifact\n");
    let bundle = env.path("artifact.sigstore.json");
    env.sign(email, &file, &bundle);
    let art = file.display().to_string();

    let b = read_json(&bundle);
    let te = &b["verificationMaterial"]["tlogEntries"][0];
    assert_eq!(
        (
            te["kindVersion"]["kind"].as_str(),
            te["kindVersion"]["version"].as_str()
        ),
        (Some("hashedrekord"), Some("0.0.1")),
        "sigstore-python's message signature is logged as hashedrekord 0.0.1: {te}"
    );
    assert!(
        b["messageSignature"].is_object(),
        "a message-signature bundle: {b}"
    );
    let o = env.sigstore_verify(&bundle, email, &art);
    assert!(
        o.status.success(),
        "sigstore-python verifies its own bundle:\n{}",
        text(&o)
    );

    env.expect_ok("message signature, file", &bundle, email, &art);
    // The testbed's signing config names its TSA, so sigstore-python's
    // bundle carries an RFC 3161 timestamp; ours verifies it, and refuses
    // it altered.
    env.expect_timestamp_verified(&b, &bundle, email, &art);
    let p = tampered(&env, &b, "tsa-flipped.json", |b| {
        let slot = &mut b["verificationMaterial"]["timestampVerificationData"]["rfc3161Timestamps"]
            [0]["signedTimestamp"];
        let mut ts = b64d(slot, "timestamp");
        let n = ts.len() - 20;
        ts[n] ^= 0x01;
        *slot = STANDARD.encode(ts).into();
    });
    env.expect_refused(
        "message signature, tampered timestamp",
        &p,
        email,
        &art,
        &["FAILED", "RFC 3161 timestamp 1"],
    );
    env.expect_ok(
        "message signature, sha256:HEX",
        &bundle,
        email,
        &sha256_arg(&data),
    );
    env.expect_refused(
        "message signature, wrong identity",
        &bundle,
        "someone-else@example.com",
        &art,
        &["REJECTED"],
    );
    env.expect_refused(
        "message signature, another artifact",
        &bundle,
        email,
        &other.display().to_string(),
        &["FAILED", "message digest"],
    );
    let p = tampered(&env, &b, "sig-flipped.json", |b| {
        let mut sig = b64d(&b["messageSignature"]["signature"], "signature");
        let n = sig.len() / 2;
        sig[n] ^= 0x01;
        b["messageSignature"]["signature"] = STANDARD.encode(sig).into();
    });
    env.expect_refused(
        "message signature, tampered signature",
        &p,
        email,
        &art,
        &["FAILED", "signature does not verify"],
    );
    let p = tampered(&env, &b, "msg-time.json", bump_integrated_time);
    env.expect_refused(
        "message signature, tampered integratedTime",
        &p,
        email,
        &art,
        &["FAILED", "(SET) does not verify"],
    );
}

#[test]
#[cfg_attr(
    gitsign_skip_sigstore_python,
    ignore = "needs sigstore-python (GITSIGN_TEST_SKIP_SIGSTORE_PYTHON=1 was set)"
)]
fn sigstore_python_dsse_attestation_bundle() {
    let env = Env::new("bdsse-att");
    let email = "sp-attester@example.com";
    let data = format!("attested by sigstore-python {}\n", std::process::id()).into_bytes();
    let file = env.write("artifact.bin", &data);
    let other_data = b"a different artifact\n".to_vec();
    let other = env.write("other.bin", &other_data);
    let predicate = env.write("predicate.json", PREDICATE.as_bytes());
    let bundle = env.path("artifact.att.sigstore.json");
    env.attest(email, &file, &predicate, &bundle);
    let art = file.display().to_string();

    // What sigstore-python made: a DSSE in-toto statement naming the file,
    // logged by the testbed's Rekor as dsse 0.0.1 with the envelope's hashes.
    let b = read_json(&bundle);
    let te = &b["verificationMaterial"]["tlogEntries"][0];
    assert_eq!(
        (
            te["kindVersion"]["kind"].as_str(),
            te["kindVersion"]["version"].as_str()
        ),
        (Some("dsse"), Some("0.0.1")),
        "sigstore-python's attestation is logged as dsse 0.0.1: {te}"
    );
    let envelope = &b["dsseEnvelope"];
    assert_eq!(envelope["payloadType"], "application/vnd.in-toto+json");
    let payload = b64d(&envelope["payload"], "payload");
    let statement: serde_json::Value = serde_json::from_slice(&payload).expect("statement JSON");
    assert_eq!(
        statement["subject"][0]["digest"]["sha256"].as_str(),
        Some(sha256_hex(&data).as_str()),
        "the statement's subject is the file: {statement}"
    );
    let body = entry_body(te);
    assert_eq!(body["kind"], "dsse", "{body}");
    assert_eq!(
        body["spec"]["payloadHash"],
        serde_json::json!({"algorithm": "sha256", "value": sha256_hex(&payload)}),
        "the dsse body records the payload's sha256: {body}"
    );
    assert_eq!(
        body["spec"]["signatures"][0]["signature"], envelope["signatures"][0]["sig"],
        "the dsse body records the envelope's signature: {body}"
    );
    let o = env.sigstore_verify(&bundle, email, &art);
    assert!(
        o.status.success(),
        "sigstore-python verifies its own DSSE bundle:\n{}",
        text(&o)
    );

    // Accepted.
    env.expect_ok("DSSE, file", &bundle, email, &art);
    // Its RFC 3161 timestamp is over the envelope's signature.
    env.expect_timestamp_verified(&b, &bundle, email, &art);
    env.expect_ok("DSSE, sha256:HEX", &bundle, email, &sha256_arg(&data));

    // Refused.
    env.expect_refused(
        "DSSE, wrong identity",
        &bundle,
        "someone-else@example.com",
        &art,
        &["REJECTED"],
    );
    env.expect_refused(
        "DSSE, another artifact",
        &bundle,
        email,
        &other.display().to_string(),
        &["FAILED", "not a subject of the in-toto statement"],
    );
    env.expect_refused(
        "DSSE, another artifact as sha256:HEX",
        &bundle,
        email,
        &sha256_arg(&other_data),
        &["FAILED", "not a subject of the in-toto statement"],
    );
    let p = tampered(&env, &b, "att-payload.json", |b| {
        let s = String::from_utf8(payload.clone()).unwrap();
        let t = s.replace("gitsign-test-builder", "gitsign-evil-builder");
        assert_ne!(s, t, "the predicate is in the payload");
        b["dsseEnvelope"]["payload"] = STANDARD.encode(t).into();
    });
    env.expect_refused(
        "DSSE, tampered payload",
        &p,
        email,
        &art,
        &["FAILED", "envelope's signature does not verify"],
    );
    // A payload tampered to name the other artifact: still the signature.
    let p = tampered(&env, &b, "att-subject.json", |b| {
        let s = String::from_utf8(payload.clone()).unwrap();
        let t = s.replace(&sha256_hex(&data), &sha256_hex(&other_data));
        b["dsseEnvelope"]["payload"] = STANDARD.encode(t).into();
    });
    env.expect_refused(
        "DSSE, payload re-pointed at another artifact",
        &p,
        email,
        &other.display().to_string(),
        &["FAILED", "envelope's signature does not verify"],
    );
    let p = tampered(&env, &b, "att-sig.json", |b| {
        let mut sig = b64d(&b["dsseEnvelope"]["signatures"][0]["sig"], "sig");
        let n = sig.len() / 2;
        sig[n] ^= 0x01;
        b["dsseEnvelope"]["signatures"][0]["sig"] = STANDARD.encode(sig).into();
    });
    env.expect_refused(
        "DSSE, tampered signature",
        &p,
        email,
        &art,
        &["FAILED", "envelope's signature does not verify"],
    );
    let p = tampered(&env, &b, "att-time.json", bump_integrated_time);
    env.expect_refused(
        "DSSE, tampered integratedTime",
        &p,
        email,
        &art,
        &["FAILED", "(SET) does not verify"],
    );
    let p = tampered(&env, &b, "att-body.json", |b| {
        let te = &mut b["verificationMaterial"]["tlogEntries"][0];
        let mut body = entry_body(te);
        body["spec"]["payloadHash"]["value"] = hex_lower(&[0u8; 32]).into();
        te["canonicalizedBody"] = STANDARD.encode(body.to_string()).into();
    });
    env.expect_refused(
        "DSSE, tampered log entry body",
        &p,
        email,
        &art,
        &["FAILED", "different payload"],
    );

    // Log entries of other envelopes, each valid in the log: (a) the same
    // statement attested again (same payload, another key and signature),
    // (b) an attestation of another artifact (another payload).
    let same_payload = env.path("again.att.sigstore.json");
    env.attest(email, &file, &predicate, &same_payload);
    let again = read_json(&same_payload);
    assert_eq!(
        again["dsseEnvelope"]["payload"], b["dsseEnvelope"]["payload"],
        "attesting the same file twice gives the same statement"
    );
    assert_ne!(
        again["dsseEnvelope"]["signatures"], b["dsseEnvelope"]["signatures"],
        "... under another signature"
    );
    env.expect_ok("DSSE, second attestation", &same_payload, email, &art);
    let p = tampered(&env, &b, "att-entry-same-payload.json", |b| {
        b["verificationMaterial"]["tlogEntries"] =
            again["verificationMaterial"]["tlogEntries"].clone();
    });
    env.expect_refused(
        "DSSE, log entry of another envelope with the same payload",
        &p,
        email,
        &art,
        &["FAILED", "different signature"],
    );
    let other_bundle = env.path("other.att.sigstore.json");
    env.attest(email, &other, &predicate, &other_bundle);
    let ob = read_json(&other_bundle);
    let p = tampered(&env, &b, "att-entry-other.json", |b| {
        b["verificationMaterial"]["tlogEntries"] =
            ob["verificationMaterial"]["tlogEntries"].clone();
    });
    env.expect_refused(
        "DSSE, log entry of another envelope (another payload)",
        &p,
        email,
        &art,
        &["FAILED", "different payload"],
    );
    // sigstore-python agrees on the swapped entries.
    for name in ["att-entry-same-payload.json", "att-entry-other.json"] {
        let o = env.sigstore_verify(&env.path(name), email, &art);
        assert!(
            !o.status.success(),
            "sigstore-python should refuse {name} too:\n{}",
            text(&o)
        );
    }
}
