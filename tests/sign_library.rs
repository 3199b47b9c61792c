//! Signing through the library against the loopback testbed: Fulcio,
//! Rekor (both modes), then our verifier on the result.

mod common;

use common::Testbed;
use gitsign::config::RekorMode;
use gitsign::git::gitobj::{self, HashAlgo, ObjectKind};
use gitsign::sign;
use gitsign::sigstore::fulcio::FulcioClient;
use gitsign::sigstore::http::Http;
use gitsign::sigstore::rekor::RekorClient;
use gitsign::sigstore::trust::TrustedRoot;
use gitsign::verify::{self, Context, MissingTlog, ObjectInfo, TlogStatus};

const PAYLOAD: &[u8] = b"tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\nauthor A <alice@example.com> 1700000000 +0000\ncommitter A <alice@example.com> 1700000000 +0000\n\nhello\n";

#[test]
fn sign_and_verify_both_modes() {
    let tb = Testbed::start();
    let http = Http::new(std::time::Duration::from_secs(20)).unwrap();
    let root =
        TrustedRoot::from_file(std::path::Path::new(tb.var("GITSIGN_TRUSTED_ROOT"))).unwrap();
    let fulcio = FulcioClient::new(tb.var("GITSIGN_FULCIO_URL"), http.clone());
    let rekor = RekorClient::new(tb.var("GITSIGN_REKOR_URL"), http.clone());
    let token = tb.token("alice@example.com", 600);
    let now = gitsign::encoding::time::now();
    let cred = sign::request_credential(&fulcio, &token, "alice@example.com", &root, now).unwrap();
    let committer = sign::committer(PAYLOAD);
    assert_eq!(committer.email.as_deref(), Some("alice@example.com"));
    sign::check_committer(cred.leaf(), &committer).unwrap();
    let bob = sign::Committer {
        name: committer.name.clone(),
        email: Some("bob@example.com".into()),
    };
    assert!(sign::check_committer(cred.leaf(), &bob).is_err());
    // A name equal to the email is no URI match: Go's rules compare
    // emails with emails and URIs with the name.
    let named = sign::Committer {
        name: Some("alice@example.com".into()),
        email: Some("bob@example.com".into()),
    };
    assert!(sign::check_committer(cred.leaf(), &named).is_err());

    // Offline: the entry travels inside the signature.
    let s = sign::sign_payload(PAYLOAD, &cred, &rekor, &root, RekorMode::Offline, now).unwrap();
    let ctx = Context {
        root: &root,
        require_sct: true,
        rekor: None,
        missing_tlog: MissingTlog::Search,
        cache: None,
    };
    let v = verify::verify(
        PAYLOAD,
        s.armored.as_bytes(),
        ObjectInfo::from_payload(PAYLOAD),
        &ctx,
    )
    .unwrap();
    assert_eq!(v.claims.identity, "alice@example.com");
    assert_eq!(
        v.claims.issuer.as_deref(),
        Some(tb.var("GITSIGN_OIDC_ISSUER"))
    );
    assert!(
        matches!(v.tlog, TlogStatus::Embedded(ref e) if e.inclusion.is_some() && e.promise.is_some())
    );

    // Online: found by searching Rekor for the commit id.
    let s = sign::sign_payload(PAYLOAD, &cred, &rekor, &root, RekorMode::Online, now).unwrap();
    let commit = gitobj::join_commit(PAYLOAD, s.armored.as_bytes(), HashAlgo::Sha1);
    assert_eq!(
        s.object_id.as_deref(),
        Some(gitobj::object_id(ObjectKind::Commit, &commit, HashAlgo::Sha1).as_str())
    );
    let ctx = Context {
        root: &root,
        require_sct: true,
        rekor: Some(&rekor),
        missing_tlog: MissingTlog::Search,
        cache: None,
    };
    let v = verify::verify(
        PAYLOAD,
        s.armored.as_bytes(),
        ObjectInfo::from_payload(PAYLOAD),
        &ctx,
    )
    .unwrap();
    assert!(matches!(v.tlog, TlogStatus::Online(_)), "{:?}", v.tlog);
    // A good signature by the same key over another commit that was never
    // logged: everything verifies but the search, which finds nothing.
    let other = [PAYLOAD, b"x"].concat();
    let attrs = gitsign::pki::cms::signed_attributes(&other, now).unwrap();
    let sig = cred.sign(&attrs).unwrap();
    let der = gitsign::pki::cms::build_signed_data(&attrs, &sig, cred.leaf(), &[]).unwrap();
    let f = verify::verify(
        &other,
        gitsign::pki::cms::armor(&der).as_bytes(),
        ObjectInfo::from_payload(&other),
        &ctx,
    )
    .unwrap_err();
    assert_eq!(f.kind, verify::FailureKind::Untrusted, "{f}");
    assert!(
        f.message
            .contains("no transparency log entry found for this signature"),
        "{f}"
    );
}

/// A detached SCT (Fulcio's other response shape) is refused before use:
/// no signature can carry it and verification requires an embedded SCT.
/// A certificate for another key than ours is refused too.
#[test]
fn detached_sct_is_refused() {
    let tb = Testbed::start();
    let http = Http::new(std::time::Duration::from_secs(20)).unwrap();
    let root =
        TrustedRoot::from_file(std::path::Path::new(tb.var("GITSIGN_TRUSTED_ROOT"))).unwrap();
    let fulcio = FulcioClient::new(tb.var("GITSIGN_FULCIO_URL"), http);
    let key = sign::EphemeralKey::generate().unwrap();
    let proof = key.sign(b"alice@example.com").unwrap();
    let now = gitsign::encoding::time::now();
    tb.fault("fulcio", "detached-sct", Some(1), None);
    let token = tb.token("alice@example.com", 600);
    let issued = fulcio
        .signing_cert(&token, &key.public_key_pem(), &proof)
        .unwrap();
    assert!(issued.detached_sct.is_some());
    let e = gitsign::sigstore::fulcio::check_issued(&issued, key.spki(), &root, now).unwrap_err();
    assert!(e.to_string().contains("detached SCT"), "{e}");
    // Embedded: accepted for our key, refused for another.
    let issued = fulcio
        .signing_cert(&token, &key.public_key_pem(), &proof)
        .unwrap();
    gitsign::sigstore::fulcio::check_issued(&issued, key.spki(), &root, now).unwrap();
    let other = sign::EphemeralKey::generate().unwrap();
    let e = gitsign::sigstore::fulcio::check_issued(&issued, other.spki(), &root, now).unwrap_err();
    assert!(e.to_string().contains("different public key"), "{e}");
}

/// Uploading the same entry twice is not an error: Rekor answers 409 and
/// the client returns the entry already logged.
#[test]
fn rekor_upload_is_idempotent() {
    let tb = Testbed::start();
    let http = Http::new(std::time::Duration::from_secs(20)).unwrap();
    let root =
        TrustedRoot::from_file(std::path::Path::new(tb.var("GITSIGN_TRUSTED_ROOT"))).unwrap();
    let fulcio = FulcioClient::new(tb.var("GITSIGN_FULCIO_URL"), http.clone());
    let rekor = RekorClient::new(tb.var("GITSIGN_REKOR_URL"), http);
    let cred = sign::request_credential(
        &fulcio,
        &tb.token("alice@example.com", 600),
        "alice@example.com",
        &root,
        gitsign::encoding::time::now(),
    )
    .unwrap();
    let digest = gitsign::pki::crypto::sha256(b"artifact");
    let sig = cred.sign(b"artifact").unwrap();
    let pem = gitsign::encoding::pem::encode("CERTIFICATE", cred.leaf().der());
    let first = rekor.create_hashedrekord(&digest, &sig, &pem).unwrap();
    let second = rekor.create_hashedrekord(&digest, &sig, &pem).unwrap();
    assert_eq!(first.log_index, second.log_index);
    assert_eq!(first.body, second.body);
    assert!(gitsign::sigstore::tlog::verify_entry(&second, &root).is_ok());
}

/// `verify-bundle --key`: a bundle signed with a plain key (no
/// certificate), logged in Rekor, verified with that key; another key and
/// a tampered artifact are refused.
#[test]
fn key_signed_bundle() {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let tb = Testbed::start();
    let http = Http::new(std::time::Duration::from_secs(20)).unwrap();
    let rekor = RekorClient::new(tb.var("GITSIGN_REKOR_URL"), http);
    let key = sign::EphemeralKey::generate().unwrap();
    let artifact = b"release artifact\n";
    let digest = gitsign::pki::crypto::sha256(artifact);
    let sig = key.sign(artifact).unwrap();
    let entry = rekor
        .create_hashedrekord(&digest, &sig, &key.public_key_pem())
        .unwrap();
    let proof = entry.proof.as_ref().unwrap();
    let bundle = serde_json::json!({
        "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
        "verificationMaterial": {
            "publicKey": {"hint": "release-key"},
            "tlogEntries": [{
                "logIndex": entry.log_index.to_string(),
                "logId": {"keyId": b64.encode(&entry.log_id)},
                "kindVersion": {"kind": "hashedrekord", "version": "0.0.1"},
                "integratedTime": entry.integrated_time.to_string(),
                "inclusionPromise": {"signedEntryTimestamp": b64.encode(entry.set.as_ref().unwrap())},
                "inclusionProof": {
                    "logIndex": proof.log_index.to_string(),
                    "rootHash": b64.encode(&proof.root_hash),
                    "treeSize": proof.tree_size.to_string(),
                    "hashes": proof.hashes.iter().map(|h| b64.encode(h)).collect::<Vec<_>>(),
                    "checkpoint": {"envelope": proof.checkpoint.clone().unwrap()}
                },
                "canonicalizedBody": b64.encode(&entry.body)
            }]
        },
        "messageSignature": {
            "messageDigest": {"algorithm": "SHA2_256", "digest": b64.encode(digest)},
            "signature": b64.encode(&sig)
        }
    });
    let dir = common::TempDir::new("keybundle");
    let (bf, af, kf, other) = (
        dir.path().join("b.json"),
        dir.path().join("a"),
        dir.path().join("k.pem"),
        dir.path().join("o.pem"),
    );
    std::fs::write(&bf, serde_json::to_vec(&bundle).unwrap()).unwrap();
    std::fs::write(&af, artifact).unwrap();
    std::fs::write(&kf, key.public_key_pem()).unwrap();
    std::fs::write(
        &other,
        sign::EphemeralKey::generate().unwrap().public_key_pem(),
    )
    .unwrap();
    let repo = common::Repo::new("keybundle");
    let run = |k: &std::path::Path, a: &str| {
        repo.gitsign(&[
            "verify-bundle",
            "--bundle",
            &bf.display().to_string(),
            "--key",
            &k.display().to_string(),
            "--trusted-root",
            tb.var("GITSIGN_TRUSTED_ROOT"),
            a,
        ])
    };
    let o = run(&kf, &af.display().to_string());
    assert!(o.status.success(), "{}", common::text(&o));
    assert!(
        common::text(&o).contains("signed by the given key"),
        "{}",
        common::text(&o)
    );
    let o = run(&other, &af.display().to_string());
    assert_eq!(o.status.code(), Some(1), "{}", common::text(&o));
    let o = run(
        &kf,
        &format!(
            "sha256:{}",
            gitsign::encoding::asn1::hex_lower(&gitsign::pki::crypto::sha256(b"something else"))
        ),
    );
    assert_eq!(o.status.code(), Some(1), "{}", common::text(&o));
    // Without --key the bundle cannot be checked, and says so.
    let o = repo.gitsign(&[
        "verify-bundle",
        "--bundle",
        &bf.display().to_string(),
        "--trusted-root",
        tb.var("GITSIGN_TRUSTED_ROOT"),
        "--certificate-identity",
        "x",
        "--certificate-oidc-issuer",
        "y",
        &af.display().to_string(),
    ]);
    assert_ne!(o.status.code(), Some(0));
    assert!(common::text(&o).contains("--key"), "{}", common::text(&o));
}
