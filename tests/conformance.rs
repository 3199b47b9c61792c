//! Bundle shapes of the public sigstore-conformance bundle-verify suite,
//! through `gitsign verify-bundle` in its CLI form (artifact by `sha256:`
//! digest, as the suite passes it when it has no file), against the
//! staging trusted root the suite's Rekor v2 cases use. The suite's own
//! bundles (tests/fixtures/conformance, see CONFORMANCE.md) and, for the
//! checkpoint and validity-window cases whose files are not in
//! tests/fixtures, the same real bundle with the edit each case makes:
//! witness cosignatures, several signature lines, the log's line not
//! first, two lines under the log's name, an origin that is not the log's,
//! no line by the log, the TSA's and the log's `validFor.end` equal to the
//! timestamp (inclusive) and one second before it.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use common::{fixtures, gitsign_bin, text, TempDir};

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
    Command::new(gitsign_bin())
        .args(["verify-bundle", "--bundle"])
        .arg(bundle)
        .args([
            "--certificate-identity",
            IDENTITY,
            "--certificate-oidc-issuer",
            ISSUER,
            A_TXT,
        ])
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
