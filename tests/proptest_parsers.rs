//! Property-based fuzzing (proptest) of every parser that sees untrusted
//! input: arbitrary bytes and strings, and single-byte edits of real
//! signatures. The property: an answer (Ok or Err), never a panic.
//! `PROPTEST_CASES=100000 cargo test --release --test proptest_parsers` runs longer.

mod common;

use proptest::prelude::*;

use gitsign::git::gitobj::{self, HashAlgo, ObjectKind};
use gitsign::sigstore::trust::TrustedRoot;
use gitsign::verify::{self, Context, MissingTlog, ObjectInfo};

fn real_signature() -> (Vec<u8>, Vec<u8>) {
    let data =
        std::fs::read(common::fixtures().join("objects/gitsign/gs_commit_offline_latest.commit"))
            .unwrap();
    let s = gitobj::split_commit(&data, HashAlgo::Sha1)
        .unwrap()
        .unwrap();
    (s.payload, gitsign::pki::cms::unarmor(&s.signature).unwrap())
}

/// 512 cases, or PROPTEST_CASES.
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(512)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn der_and_ber(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = gitsign::encoding::asn1::ber_to_der(&bytes);
        let _ = gitsign::encoding::asn1::needs_ber_normalisation(&bytes);
        let _ = gitsign::pki::cms::SignedData::from_der(&bytes);
        let _ = gitsign::pki::x509::Certificate::from_der(bytes.clone());
        let _ = gitsign::sigstore::tlog::LogEntry::from_protobuf(&bytes);
        let _ = gitsign::sigstore::tlog::LogEntry::from_rekor_json(&bytes);
        let _ = gitsign::pki::crypto::PublicKey::from_spki(&bytes);
        let _ = gitsign::pki::x509::name_to_string(&bytes);
    }

    #[test]
    fn text_formats(s in "\\PC{0,400}") {
        let _ = gitsign::encoding::pem::decode_all(&s);
        let _ = gitsign::sigstore::tlog::parse_checkpoint(&s);
        let _ = gitsign::policy::file::PolicyFile::parse(&s, "fuzz.toml");
        let _ = gitsign::hook::parse_updates(&s);
        let _ = gitsign::config::parse_config_parameters(&s);
        let _ = gitsign::encoding::time::parse_rfc3339(&s);
        let _ = gitsign::sigstore::trust::TrustedRoot::from_json(&s, "fuzz");
        let _ = gitsign::sigstore::tlog::parse_hashedrekord(s.as_bytes());
    }

    #[test]
    fn git_objects(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = gitobj::split(&bytes, ObjectKind::Commit, HashAlgo::Sha1);
        let _ = gitobj::split(&bytes, ObjectKind::Tag, HashAlgo::Sha256);
        let _ = gitobj::gogit_commit_reencoding(&bytes, &bytes);
        let _ = gitobj::subject(&bytes);
        let _ = gitsign::sign::committer(&bytes);
        let _ = gitsign::git::show::commit_statement(&bytes, "x", "");
        let _ = gitsign::git::show::tag_statement(&bytes, "x", "");
        let _ = gitsign::git::attest::statement(&bytes, "t", gitsign::git::attest::DIGEST_COMMIT, "x");
    }

    /// `gitsign show` on single-byte edits of Go's signed commit and tag.
    #[test]
    fn edited_go_show_objects(at in any::<usize>(), byte in any::<u8>(), cut in any::<bool>()) {
        for (name, tag) in [("fulcio-cert.in.txt", false), ("fulcio-tag.in.txt", true)] {
            let mut m = std::fs::read(common::fixtures().join("go-show").join(name)).unwrap();
            let i = at % m.len();
            if cut { m.truncate(i) } else { m[i] = byte }
            let made = if tag {
                gitsign::git::show::tag_statement(&m, "x", "")
            } else {
                gitsign::git::show::commit_statement(&m, "x", "")
            };
            if let Ok(json) = made {
                prop_assert!(serde_json::from_str::<serde_json::Value>(&json).is_ok());
            }
        }
    }

    #[test]
    fn edited_real_signatures(at in any::<usize>(), byte in any::<u8>(), cut in any::<bool>()) {
        let (payload, der) = real_signature();
        let mut m = der.clone();
        let i = at % m.len();
        if cut { m.truncate(i) } else { m[i] = byte }
        let root = TrustedRoot::public_good();
        // The log required: stripping the embedded entry must then fail.
        let ctx = Context { root: &root, require_sct: true, rekor: None, missing_tlog: MissingTlog::Search, cache: None };
        let r = verify::verify(&payload, &m, ObjectInfo::from_payload(&payload), &ctx);
        let original = verify::verify(&payload, &der, ObjectInfo::from_payload(&payload), &ctx).unwrap();
        // Only the unchanged signature, or an edit to an unsigned and
        // unchecked byte, may verify; and then it reports the same signer,
        // certificate, time and log entry.
        match r {
            Ok(v) => {
                prop_assert_eq!(v.certificate.der(), original.certificate.der());
                prop_assert_eq!(&v.claims, &original.claims);
                prop_assert_eq!(v.time, original.time);
                prop_assert_eq!(
                    v.tlog.entry().and_then(|e| e.log_index()),
                    original.tlog.entry().and_then(|e| e.log_index())
                );
            }
            Err(_) => prop_assert!(m != der, "the unchanged signature failed"),
        }
    }

    #[test]
    fn bundles(s in "\\PC{0,300}") {
        let root = TrustedRoot::public_good();
        let opts = gitsign::sigstore::bundle::Options { root: &root, require_sct: true, key: None };
        let _ = gitsign::sigstore::bundle::verify_bundle(s.as_bytes(), &gitsign::sigstore::bundle::Artifact::Digest([0; 32]), &opts);
    }
}
