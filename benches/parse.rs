//! Parse time of a git signature by the two CMS/X.509 parsers in the
//! tree: ours (src/pki/cms.rs, x509.rs: the verifier's) and RustCrypto's
//! `cms` + `x509-cert` (the signing path's types), on the corpus's
//! offline-mode Go gitsign signatures (each carries its Fulcio leaf and
//! a Rekor entry). Microseconds per parse of the whole SignedData (the
//! certificate included), then of the leaf certificate alone.
//! `cargo bench --bench parse`; the figures are quoted in the module docs
//! of src/pki/cms.rs and src/pki/x509.rs.

use std::path::Path;
use std::time::Instant;

use cms::content_info::ContentInfo;
use cms::signed_data::SignedData as CrateSignedData;
use x509_cert::der::Decode;

use gitsign::git::gitobj::{self, HashAlgo, ObjectKind};
use gitsign::pki::cms::{unarmor, SignedData};
use gitsign::pki::x509::Certificate;

fn per_call_us(iterations: u32, mut f: impl FnMut() -> bool) -> f64 {
    assert!(f(), "the parser refused a corpus signature");
    let t = Instant::now();
    for _ in 0..iterations {
        std::hint::black_box(f());
    }
    t.elapsed().as_secs_f64() * 1e6 / f64::from(iterations)
}

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    let iterations: u32 = std::env::var("BENCH_ITERATIONS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3000);
    let mut sums = [0f64; 4];
    let mut n = 0u32;
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
        let der = unarmor(&s.signature).unwrap();
        let Some(leaf) = SignedData::from_der(&der)
            .unwrap()
            .signer_certificate()
            .map(|c| c.der().to_vec())
        else {
            continue;
        };
        let ours = per_call_us(iterations, || SignedData::from_der(&der).is_ok());
        let theirs = per_call_us(iterations, || {
            ContentInfo::from_der(&der)
                .and_then(|ci| ci.content.decode_as::<CrateSignedData>())
                .is_ok()
        });
        let ours_cert = per_call_us(iterations, || Certificate::from_der(leaf.clone()).is_ok());
        let theirs_cert = per_call_us(iterations, || {
            x509_cert::Certificate::from_der(&leaf).is_ok()
        });
        for (sum, v) in sums.iter_mut().zip([ours, theirs, ours_cert, theirs_cert]) {
            *sum += v;
        }
        n += 1;
        println!(
            "{{\"bench\":\"parse\",\"object\":\"{label}\",\"bytes\":{},\"us_ours\":{ours:.2},\"us_cms_crate\":{theirs:.2},\"us_cert_ours\":{ours_cert:.2},\"us_cert_x509_cert\":{theirs_cert:.2}}}",
            der.len()
        );
    }
    let [ours, theirs, ours_cert, theirs_cert] = sums.map(|s| s / f64::from(n.max(1)));
    println!(
        "{{\"bench\":\"parse-mean\",\"objects\":{n},\"us_ours\":{ours:.2},\"us_cms_crate\":{theirs:.2},\"us_cert_ours\":{ours_cert:.2},\"us_cert_x509_cert\":{theirs_cert:.2}}}"
    );
}
