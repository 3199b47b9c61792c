//! In-process verification of each offline-mode corpus object (the log
//! entry embedded, so no network): microseconds per verification; then a
//! Rekor v1 and a Rekor v2 offline signature made on the testbed, side by
//! side.
//! `cargo bench --bench verify`; `tests/bench/verify.sh` runs it beside
//! the gpgsm anchor. Target: at most 500 µs per object.

use std::path::Path;
use std::time::Instant;

use gitsign::git::gitobj::{self, HashAlgo, ObjectKind};
use gitsign::sigstore::trust::TrustedRoot;
use gitsign::verify::{self, Context, MissingTlog, ObjectInfo};

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    let root = TrustedRoot::public_good();
    let iterations: u32 = std::env::var("BENCH_ITERATIONS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(300);
    let mut all = Vec::new();
    for e in manifest["entries"].as_array().unwrap() {
        let mode = e["rekorMode"].as_str().unwrap_or("");
        if e["category"] != "gitsign" || !mode.starts_with("offline") {
            continue;
        }
        let label = e["label"].as_str().unwrap();
        let data = std::fs::read(dir.join(e["file"].as_str().unwrap())).unwrap();
        let kind = if e["objectType"] == "tag" {
            ObjectKind::Tag
        } else {
            ObjectKind::Commit
        };
        let s = gitobj::split(&data, kind, HashAlgo::Sha1).unwrap().unwrap();
        let object = ObjectInfo {
            kind,
            algo: HashAlgo::Sha1,
        };
        let ctx = Context {
            root: &root,
            require_sct: true,
            rekor: None,
            missing_tlog: MissingTlog::Search,
            cache: None,
        };
        verify::verify(&s.payload, &s.signature, object, &ctx).expect("corpus object verifies");
        let t = Instant::now();
        for _ in 0..iterations {
            std::hint::black_box(verify::verify(&s.payload, &s.signature, object, &ctx).is_ok());
        }
        let us = t.elapsed().as_secs_f64() * 1e6 / f64::from(iterations);
        all.push(us);
        println!("{{\"bench\":\"verify-in-process\",\"object\":\"{label}\",\"iterations\":{iterations},\"us_per_verify\":{us:.1}}}");
    }
    let mean = all.iter().sum::<f64>() / all.len() as f64;
    // A Rekor v1 and a Rekor v2 offline signature by the same testbed
    // signer, side by side in this run (tests/fixtures/rekor2).
    let fx = dir.join("rekor2");
    let tb_root = TrustedRoot::from_file(&fx.join("trusted_root.json")).unwrap();
    for (label, file) in [
        ("testbed-rekor-v1", "testbed_v1.commit"),
        ("testbed-rekor-v2", "testbed_v2.commit"),
    ] {
        let data = std::fs::read(fx.join(file)).unwrap();
        let s = gitobj::split(&data, ObjectKind::Commit, HashAlgo::Sha1)
            .unwrap()
            .unwrap();
        let object = ObjectInfo {
            kind: ObjectKind::Commit,
            algo: HashAlgo::Sha1,
        };
        let ctx = Context {
            root: &tb_root,
            require_sct: true,
            rekor: None,
            missing_tlog: MissingTlog::Search,
            cache: None,
        };
        verify::verify(&s.payload, &s.signature, object, &ctx).expect("testbed fixture verifies");
        let t = Instant::now();
        for _ in 0..iterations {
            std::hint::black_box(verify::verify(&s.payload, &s.signature, object, &ctx).is_ok());
        }
        let us = t.elapsed().as_secs_f64() * 1e6 / f64::from(iterations);
        println!("{{\"bench\":\"verify-in-process\",\"object\":\"{label}\",\"iterations\":{iterations},\"us_per_verify\":{us:.1}}}");
    }
    // Including the cost of loading the embedded trusted root, as a process would.
    let t = Instant::now();
    for _ in 0..iterations {
        std::hint::black_box(TrustedRoot::public_good());
    }
    let root_us = t.elapsed().as_secs_f64() * 1e6 / f64::from(iterations);
    println!(
        "{{\"bench\":\"verify-in-process\",\"object\":\"mean\",\"us_per_verify\":{mean:.1},\"trusted_root_load_us\":{root_us:.1},\"target_us\":500}}"
    );
}
