//! The public sigstore-conformance bundle-verify suite through
//! `gitsign verify-bundle` in its CLI form (the artifact by path and by
//! `sha256:` digest, the beacon identity or the case's `key.pub`). The
//! suite's own case directories (tests/fixtures/conformance, see
//! CONFORMANCE.md) run with their verdicts and, for `_fail` cases, the
//! words of their stated reason. The cases whose files are not in
//! tests/fixtures are rebuilt from the real bundles with the edit each case
//! makes: checkpoint witness cosignatures, several signature lines, the
//! log's line not first, two lines under the log's name, an origin that is
//! not the log's, no line by the log; the TSA's and the log's
//! `validFor.end` equal to the timestamp (inclusive) and one second before
//! it; a log key without `validFor.start`; the TSA-validity borrow and the
//! duplicate-intermediate roots with a real bundle.

mod common;

use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use common::{fixtures, text, TempDir};

const IDENTITY: &str = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
const ISSUER: &str = "https://token.actions.githubusercontent.com";
const A_TXT: &str = "sha256:a0cfc71271d6e278e57cd332ff957c3f7043fdda354c4cbb190a30d56efa01bf";

fn case(name: &str) -> PathBuf {
    fixtures()
        .join("conformance")
        .join(name)
        .join("bundle.sigstore.json")
}

fn staging_root() -> PathBuf {
    fixtures().join("trust/trusted_root.staging.json")
}

fn verify(bundle: &Path, root: &Path) -> std::process::Output {
    verify_with(bundle, root, A_TXT, None)
}

/// `gitsign verify-bundle` as the suite's client runs it: the artifact (a
/// path or `sha256:` digest) and either the beacon identity or `--key`.
fn verify_with(
    bundle: &Path,
    root: &Path,
    artifact: &str,
    key: Option<&Path>,
) -> std::process::Output {
    let mut c = common::gitsign_command();
    c.args(["verify-bundle", "--bundle"]).arg(bundle);
    match key {
        Some(k) => {
            c.arg("--key").arg(k);
        }
        None => {
            c.args([
                "--certificate-identity",
                IDENTITY,
                "--certificate-oidc-issuer",
                ISSUER,
            ]);
        }
    }
    c.arg(artifact)
        .env("GITSIGN_TRUSTED_ROOT", root)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .unwrap()
}

fn pass(what: &str, bundle: &Path, root: &Path) {
    let o = verify(bundle, root);
    assert!(o.status.success(), "{what} must pass:\n{}", text(&o));
}

fn fail(what: &str, bundle: &Path, root: &Path, words: &[&str]) {
    let o = verify(bundle, root);
    assert_eq!(o.status.code(), Some(1), "{what} must fail:\n{}", text(&o));
    for w in words {
        assert!(
            text(&o).contains(w),
            "{what}: expected {w:?} in:\n{}",
            text(&o)
        );
    }
}

fn load(p: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

fn save(dir: &Path, name: &str, v: &serde_json::Value) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, serde_json::to_vec_pretty(v).unwrap()).unwrap();
    p
}

/// `rekor2-happy-path`: the multiple-timestamps bundle without its second
/// timestamp (how the suite made the one from the other).
fn happy_path() -> serde_json::Value {
    let mut b = load(&case(
        "rekor2-multiple-timestamps-one-outside-cert-validity_fail",
    ));
    let stamps = b["verificationMaterial"]["timestampVerificationData"]["rfc3161Timestamps"]
        .as_array_mut()
        .unwrap();
    stamps.truncate(1);
    b
}

fn checkpoint(b: &serde_json::Value) -> String {
    b["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]["checkpoint"]["envelope"]
        .as_str()
        .unwrap()
        .to_string()
}

fn with_checkpoint(b: &serde_json::Value, cp: String) -> serde_json::Value {
    let mut c = b.clone();
    c["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]["checkpoint"]["envelope"] =
        cp.into();
    c
}

fn sig_line(name: &str, hint: [u8; 4], sig: &[u8]) -> String {
    let mut raw = hint.to_vec();
    raw.extend_from_slice(sig);
    format!("\u{2014} {name} {}\n", STANDARD.encode(raw))
}

#[test]
fn the_suites_rekor_v2_bundles() {
    let root = staging_root();
    let tmp = TempDir::new("conformance");
    pass(
        "rekor2-happy-path",
        &save(tmp.path(), "happy.json", &happy_path()),
        &root,
    );
    pass(
        "rekor2-dsse-happy-path (timestamp without an embedded TSA certificate)",
        &case("rekor2-dsse-happy-path"),
        &root,
    );
    fail(
        "rekor2-multiple-timestamps-one-outside-cert-validity_fail",
        &case("rekor2-multiple-timestamps-one-outside-cert-validity_fail"),
        &root,
        &["RFC 3161 timestamp 2", "outside the certificate's validity"],
    );
    fail(
        "rekor2-dsse-mismatch-sig_fail",
        &case("rekor2-dsse-mismatch-sig_fail"),
        &root,
        &["different artifact, signature or signer"],
    );
    // The public-good root does not list the staging log.
    fail(
        "a staging Rekor v2 entry against the public-good root",
        &case("rekor2-dsse-happy-path"),
        &fixtures().join("trust/trusted_root.prod.json"),
        &[],
    );
}

/// Rekor v2 records no integration time and signs no entry timestamp: an
/// `integratedTime` or an inclusion promise beside a v2 entry in a bundle
/// is refused (never used as the time).
#[test]
fn a_time_or_a_set_beside_a_v2_bundle_entry_is_refused() {
    let root = staging_root();
    let tmp = TempDir::new("conformance-v2-time");
    let mut b = happy_path();
    b["verificationMaterial"]["tlogEntries"][0]["integratedTime"] = "1000000000".into();
    fail(
        "an integratedTime beside a v2 entry",
        &save(tmp.path(), "time.json", &b),
        &root,
        &["integratedTime", "Rekor v2"],
    );
    let mut b = happy_path();
    b["verificationMaterial"]["tlogEntries"][0]["inclusionPromise"] =
        serde_json::json!({"signedEntryTimestamp": STANDARD.encode([0x30u8; 70])});
    fail(
        "a SET beside a v2 entry",
        &save(tmp.path(), "set.json", &b),
        &root,
        &["signed entry timestamp"],
    );
}

#[test]
fn checkpoint_shapes() {
    let root = staging_root();
    let tmp = TempDir::new("conformance-cp");
    let b = happy_path();
    let cp = checkpoint(&b);
    let (text_part, own) = cp.split_once("\n\n").unwrap();
    let text_part = format!("{text_part}\n\n");
    let origin = cp.lines().next().unwrap();
    let witness = sig_line("witness.example.org/w1", [1, 2, 3, 4], &[7u8; 72]);
    let witness2 = sig_line("witness.example.com/w2", [5, 6, 7, 8], &[8u8; 64]);
    // Same name as the log, another key hint (another key of the origin).
    let other_key = sig_line(origin, [0xde, 0xad, 0xbe, 0xef], &[9u8; 64]);
    // Same name and hint, a bad signature: does not count, the good one does.
    let own_raw = STANDARD
        .decode(own.trim_end().rsplit_once(' ').unwrap().1)
        .unwrap();
    let mut bad = own_raw.clone();
    bad[10] ^= 1;
    let bad_own = format!("\u{2014} {origin} {}\n", STANDARD.encode(&bad));
    let shapes = [
        (
            "rekor2-checkpoint-cosigned",
            format!("{text_part}{own}{witness}"),
        ),
        (
            "rekor2-checkpoint-multiple-cosigs",
            format!("{text_part}{own}{witness}{witness2}"),
        ),
        (
            "rekor2-checkpoint-origin-not-first",
            format!("{text_part}{witness}{witness2}{own}"),
        ),
        (
            "rekor2-checkpoint-two-sigs-from-origin",
            format!("{text_part}{other_key}{own}"),
        ),
        (
            "rekor2-checkpoint-two-sigs-cosigned",
            format!("{text_part}{bad_own}{witness}{own}"),
        ),
    ];
    for (name, note) in shapes {
        pass(
            name,
            &save(
                tmp.path(),
                &format!("{name}.json"),
                &with_checkpoint(&b, note),
            ),
            &root,
        );
    }
    let failing = [
        (
            "rekor2-checkpoint-missing-log-signature_fail",
            format!("{text_part}{witness}{witness2}"),
            "rekorCheckpointSig",
        ),
        (
            "rekor2-checkpoint-no-matching-signature_fail",
            format!("{text_part}{bad_own}{other_key}"),
            "rekorCheckpointSig",
        ),
        (
            "checkpoint of another origin (text changed under the log's signature)",
            cp.replacen(origin, "log2025-alpha2.rekor.sigstage.dev", 1),
            "rekorCheckpointSig",
        ),
        (
            "the log's line under another key name",
            format!(
                "{text_part}{}",
                own.replacen(origin, "rekor.sigstage.dev", 1)
            ),
            "rekorCheckpointSig",
        ),
        (
            "checkpoint-wrong-roothash_fail",
            cp.replacen(
                "rs1YPY0ydAV0lxgfrq5pE4oRpUJwo3syeps5+eGUTDI=",
                "AAAaPY0ydAV0lxgfrq5pE4oRpUJwo3syeps5+eGUTDI=",
                1,
            ),
            "rekorCheckpoint",
        ),
    ];
    for (name, note, word) in failing {
        fail(
            name,
            &save(tmp.path(), "f.json", &with_checkpoint(&b, note)),
            &root,
            &[word],
        );
    }
}

/// `validFor` windows are inclusive at their end: a timestamp at exactly
/// the TSA's (or the log's) end counts, one a second after does not.
#[test]
fn validity_ends_are_inclusive() {
    let tmp = TempDir::new("conformance-valid");
    let b = save(tmp.path(), "happy.json", &happy_path());
    let gen_time = "2025-06-12T12:02:20Z";
    let before = "2025-06-12T12:02:19Z";
    let root = load(&staging_root());
    for (what, end, ok) in [
        ("trust-root-tsa-validity-end-inclusive", gen_time, true),
        ("TSA validity ended a second before", before, false),
    ] {
        let mut r = root.clone();
        for ta in r["timestampAuthorities"].as_array_mut().unwrap() {
            ta["validFor"]["end"] = end.into();
        }
        let p = save(tmp.path(), "root.json", &r);
        if ok {
            pass(what, &b, &p);
        } else {
            fail(what, &b, &p, &["timestamp"]);
        }
    }
    for (what, end, ok) in [
        ("trust-root-tlog-validity-end-inclusive", gen_time, true),
        ("log key validity ended a second before", before, false),
    ] {
        let mut r = root.clone();
        for t in r["tlogs"].as_array_mut().unwrap() {
            if t["baseUrl"] == "https://log2025-alpha1.rekor.sigstage.dev" {
                t["publicKey"]["validFor"]["end"] = end.into();
            }
        }
        let p = save(tmp.path(), "root.json", &r);
        if ok {
            pass(what, &b, &p);
        } else {
            fail(what, &b, &p, &["was not valid at"]);
        }
    }
}

fn prod_root() -> PathBuf {
    fixtures().join("trust/trusted_root.prod.json")
}

fn sha256_arg(path: &Path) -> String {
    use sha2::{Digest, Sha256};
    let d = Sha256::digest(std::fs::read(path).unwrap());
    format!(
        "sha256:{}",
        d.iter().map(|b| format!("{b:02x}")).collect::<String>()
    )
}

/// What a suite case must do.
enum Verdict<'a> {
    Pass,
    /// Fail, and say these words (the case's stated reason).
    Fail(&'a [&'a str]),
}

/// Runs one of the suite's case directories as its client would: its
/// bundle, its trusted root (else `root`), its artifact by path and by
/// digest (else `a.txt`'s digest), its `key.pub` (else the beacon identity).
fn suite_case(name: &str, root: &Path, verdict: Verdict) {
    let dir = fixtures().join("conformance").join(name);
    let bundle = dir.join("bundle.sigstore.json");
    let own_root = dir.join("trusted_root.json");
    let root = if own_root.exists() {
        own_root.as_path()
    } else {
        root
    };
    let key = dir.join("key.pub");
    let key = key.exists().then_some(key.as_path());
    let artifact = dir.join("artifact");
    let forms: Vec<String> = if artifact.exists() {
        vec![artifact.display().to_string(), sha256_arg(&artifact)]
    } else {
        vec![A_TXT.to_string()]
    };
    for form in forms {
        let o = verify_with(&bundle, root, &form, key);
        match &verdict {
            Verdict::Pass => assert!(
                o.status.success(),
                "{name} ({form}) must pass:\\n{}",
                text(&o)
            ),
            Verdict::Fail(words) => {
                assert_eq!(
                    o.status.code(),
                    Some(1),
                    "{name} ({form}) must fail:\\n{}",
                    text(&o)
                );
                for w in *words {
                    assert!(
                        text(&o).contains(w),
                        "{name} ({form}): expected {w:?} in:\\n{}",
                        text(&o)
                    );
                }
            }
        }
    }
}

/// Every case directory copied from the suite, with its verdict and, for
/// the `_fail` ones, the words of the reason its README gives.
#[test]
fn the_suites_case_directories() {
    let staging = staging_root();
    let prod = prod_root();
    let mismatch: &[&str] = &["different artifact, signature or signer"];
    let cases: Vec<(&str, &Path, Verdict)> = vec![
        ("rekor2-dsse-happy-path", &staging, Verdict::Pass),
        (
            "rekor2-dsse-invalid-sig_fail",
            &staging,
            Verdict::Fail(&["the DSSE envelope's signature does not verify"]),
        ),
        (
            "rekor2-dsse-mismatch-envelope_fail",
            &staging,
            Verdict::Fail(mismatch),
        ),
        (
            "rekor2-dsse-mismatch-sig_fail",
            &staging,
            Verdict::Fail(mismatch),
        ),
        (
            "rekor2-multiple-timestamps-one-outside-cert-validity_fail",
            &staging,
            Verdict::Fail(&["RFC 3161 timestamp 2", "outside the certificate's validity"]),
        ),
        ("dsse-with-hashedrekord-happy-path", &prod, Verdict::Pass),
        (
            "dsse-with-hashedrekord-invalid-sig_fail",
            &prod,
            Verdict::Fail(&["the DSSE envelope's signature does not verify"]),
        ),
        (
            "dsse-with-hashedrekord-mismatch-envelope_fail",
            &prod,
            Verdict::Fail(&["different DSSE envelope", "PAE"]),
        ),
        (
            "dsse-with-hashedrekord-mismatch-sig_fail",
            &prod,
            Verdict::Fail(&["the transparency log entry is for a different signature"]),
        ),
        ("intoto-canonical-log-entry", &prod, Verdict::Pass),
        (
            "dsse-statement-missing-type_fail",
            &prod,
            Verdict::Fail(&["the in-toto statement has no _type"]),
        ),
        (
            "dsse-statement-unknown-type_fail",
            &prod,
            Verdict::Fail(&["unknown _type \"https://in-toto.io/Statement/v2\""]),
        ),
        // cosign's pre-bundle format: gitsign reads Sigstore bundles only,
        // so it stops before the entry (the converted form is below).
        (
            "cve-2022-36056-swapped-tlog-entry_fail",
            &prod,
            Verdict::Fail(&["not a Sigstore bundle"]),
        ),
    ];
    for (name, root, verdict) in cases {
        suite_case(name, root, verdict);
    }
}

/// cve-2022-36056-swapped-tlog-entry_fail in the bundle v0.1 format: the
/// certificate and signature of one signing with the log entry (SET and
/// all) of another. The entry is genuine, but for another signature.
#[test]
fn cve_2022_36056_as_a_sigstore_bundle() {
    let old = load(
        &fixtures().join("conformance/cve-2022-36056-swapped-tlog-entry_fail/bundle.sigstore.json"),
    );
    let pem = String::from_utf8(STANDARD.decode(old["cert"].as_str().unwrap()).unwrap()).unwrap();
    let der: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let p = &old["rekorBundle"]["Payload"];
    let log_id: Vec<u8> = (0..32)
        .map(|i| u8::from_str_radix(&p["logID"].as_str().unwrap()[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    let digest: Vec<u8> = (0..32)
        .map(|i| u8::from_str_radix(&A_TXT["sha256:".len() + 2 * i..][..2], 16).unwrap())
        .collect();
    let b = serde_json::json!({
        "mediaType": "application/vnd.dev.sigstore.bundle+json;version=0.1",
        "verificationMaterial": {
            "x509CertificateChain": {"certificates": [{"rawBytes": der}]},
            "tlogEntries": [{
                "logIndex": p["logIndex"].to_string(),
                "logId": {"keyId": STANDARD.encode(log_id)},
                "kindVersion": {"kind": "hashedrekord", "version": "0.0.1"},
                "integratedTime": p["integratedTime"].to_string(),
                "inclusionPromise": {"signedEntryTimestamp": old["rekorBundle"]["SignedEntryTimestamp"]},
                "canonicalizedBody": p["body"],
            }],
        },
        "messageSignature": {
            "messageDigest": {"algorithm": "SHA2_256", "digest": STANDARD.encode(digest)},
            "signature": old["base64Signature"],
        },
    });
    let tmp = TempDir::new("conformance-cve");
    fail(
        "cve-2022-36056-swapped-tlog-entry_fail (as bundle v0.1)",
        &save(tmp.path(), "b.json", &b),
        &prod_root(),
        &["the transparency log entry is for a different signature"],
    );
}

/// Suite cases whose bundle is not in the index, rebuilt from the real
/// bundles and the suite's own trusted roots where it has them.
#[test]
fn reconstructed_suite_cases() {
    let tmp = TempDir::new("conformance-rebuilt");
    let happy = save(tmp.path(), "happy.json", &happy_path());
    let dir = fixtures().join("conformance");

    // sct-duplicate-intermediate-name: the suite's root (a decoy CA whose
    // intermediate has the genuine one's name, listed first) with a
    // production beacon bundle (the suite uses its happy-path bundle).
    suite_case_with(
        "sct-duplicate-intermediate-name",
        &dir.join("dsse-with-hashedrekord-happy-path/bundle.sigstore.json"),
        &dir.join("sct-duplicate-intermediate-name/trusted_root.json"),
        &dir.join("dsse-with-hashedrekord-happy-path/artifact"),
    );

    // rekor2-timestamp-wrong-tsa-validity-borrow_fail: the suite's root
    // (the staging TSA trusted until 2025-06-01; an unrelated TSA without
    // certificates trusted in June 2025) with the rekor2 happy path
    // (timestamped 2025-06-12). A CA with no certificates makes the root
    // invalid (protobuf-specs: a chain has one or more certificates;
    // sigstore-go refuses it too), so nothing is borrowed from it.
    let borrow = dir.join("rekor2-timestamp-wrong-tsa-validity-borrow_fail/trusted_root.json");
    let o = verify(&happy, &borrow);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("empty chain"), "{}", text(&o));
    // The same with the unrelated TSA given a real chain (the production
    // TSA's): the timestamp's own TSA is out of its window, and the other
    // TSA's window does not lend it time.
    let mut r = load(&borrow);
    let prod = load(&prod_root());
    r["timestampAuthorities"][1]["certChain"] =
        prod["timestampAuthorities"][0]["certChain"].clone();
    fail(
        "rekor2-timestamp-wrong-tsa-validity-borrow_fail (unrelated TSA with certificates)",
        &happy,
        &save(tmp.path(), "borrow.json", &r),
        &["is trusted only from", "2025-06-01T00:00:00Z"],
    );

    // trust-root-tlog-missing-validity-start_fail: the log's validFor has
    // an end and no start; the root is refused rather than the key being
    // trusted since ever (as sigstore-go refuses it).
    let mut r = load(&staging_root());
    for t in r["tlogs"].as_array_mut().unwrap() {
        if t["baseUrl"] == "https://log2025-alpha1.rekor.sigstage.dev" {
            t["publicKey"]["validFor"]
                .as_object_mut()
                .unwrap()
                .remove("start");
        }
    }
    let o = verify(&happy, &save(tmp.path(), "no-start.json", &r));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    for w in [
        "https://log2025-alpha1.rekor.sigstage.dev",
        "validFor without a start",
    ] {
        assert!(text(&o).contains(w), "{w:?} in {}", text(&o));
    }
}

fn suite_case_with(name: &str, bundle: &Path, root: &Path, artifact: &Path) {
    for form in [artifact.display().to_string(), sha256_arg(artifact)] {
        let o = verify_with(bundle, root, &form, None);
        assert!(
            o.status.success(),
            "{name} ({form}) must pass:\n{}",
            text(&o)
        );
    }
}
