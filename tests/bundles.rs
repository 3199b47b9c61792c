//! `gitsign verify-bundle` on the corpus bundles (gitsign signatures
//! projected onto Sigstore bundles v0.3, which sigstore-python verifies)
//! and on tampered copies.

mod common;

use base64::Engine;
use common::{fixtures, manifest, text, Repo, TempDir};
use gitsign::git::gitobj::{self, HashAlgo, ObjectKind};
use gitsign::pki::cms::SignedData;

type Tamper<'a> = Box<dyn Fn(&mut serde_json::Value) + 'a>;

/// The first log entry of a bundle.
fn entry0(b: &mut serde_json::Value) -> &mut serde_json::Value {
    &mut b["verificationMaterial"]["tlogEntries"][0]
}

struct Case {
    bundle: std::path::PathBuf,
    artifact: Vec<u8>,
    identity: String,
    issuer: String,
}

fn cases() -> Vec<Case> {
    manifest()
        .iter()
        .filter(|e| e["bundle"].is_string() && e["category"] == "gitsign")
        .map(|e| {
            let data = std::fs::read(fixtures().join(e["file"].as_str().unwrap())).unwrap();
            let kind = if e["objectType"] == "tag" {
                ObjectKind::Tag
            } else {
                ObjectKind::Commit
            };
            let s = gitobj::split(&data, kind, HashAlgo::Sha1).unwrap().unwrap();
            let sd =
                SignedData::from_der(&gitsign::pki::cms::unarmor(&s.signature).unwrap()).unwrap();
            let san = e["signerSAN"][0].as_str().unwrap();
            Case {
                bundle: fixtures().join(e["bundle"].as_str().unwrap()),
                artifact: sd.signer.signed_attrs_der.clone(),
                identity: san.split_once(':').unwrap().1.to_string(),
                issuer: e["oidcIssuerV2_57264.1.8"]
                    .as_str()
                    .or(e["oidcIssuerV1_57264.1.1"].as_str())
                    .unwrap()
                    .to_string(),
            }
        })
        .collect()
}

fn run(
    repo: &Repo,
    bundle: &std::path::Path,
    artifact: &str,
    identity: &str,
    issuer: &str,
) -> std::process::Output {
    repo.gitsign(&[
        "verify-bundle",
        "--bundle",
        &bundle.display().to_string(),
        "--certificate-identity",
        identity,
        "--certificate-oidc-issuer",
        issuer,
        artifact,
    ])
}

#[test]
fn corpus_bundles_verify_and_tampered_copies_do_not() {
    let repo = Repo::new("bundles");
    let tmp = TempDir::new("bundle-art");
    let cases = cases();
    assert_eq!(cases.len(), 6, "six corpus bundles");
    for (i, c) in cases.iter().enumerate() {
        let art = tmp.path().join(format!("artifact-{i}"));
        std::fs::write(&art, &c.artifact).unwrap();
        let o = run(
            &repo,
            &c.bundle,
            &art.display().to_string(),
            &c.identity,
            &c.issuer,
        );
        assert!(o.status.success(), "{}: {}", c.bundle.display(), text(&o));
        assert!(
            text(&o).contains(&format!("signed by {}", c.identity)),
            "{}",
            text(&o)
        );
        // The digest form.
        let digest = format!(
            "sha256:{}",
            gitsign::encoding::asn1::hex_lower(&gitsign::pki::crypto::sha256(&c.artifact))
        );
        let o = run(&repo, &c.bundle, &digest, &c.identity, &c.issuer);
        assert!(o.status.success(), "{}: {}", c.bundle.display(), text(&o));

        // Another artifact.
        let mut other = c.artifact.clone();
        let last = other.len() - 1;
        other[last] ^= 1;
        std::fs::write(&art, &other).unwrap();
        let o = run(
            &repo,
            &c.bundle,
            &art.display().to_string(),
            &c.identity,
            &c.issuer,
        );
        assert_eq!(o.status.code(), Some(1), "{}", text(&o));
        std::fs::write(&art, &c.artifact).unwrap();

        // Someone else.
        let o = run(
            &repo,
            &c.bundle,
            &art.display().to_string(),
            "mallory@example.com",
            &c.issuer,
        );
        assert_eq!(o.status.code(), Some(1));
        assert!(text(&o).contains("REJECTED"), "{}", text(&o));

        // Tampered bundles.
        let original: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&c.bundle).unwrap()).unwrap();
        let b64 = base64::engine::general_purpose::STANDARD;
        // Another corpus bundle's checkpoint: signed by the same log, for
        // another tree.
        let other_bundle: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&cases[(i + 1) % cases.len()].bundle).unwrap())
                .unwrap();
        let other_cp = other_bundle["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]
            ["checkpoint"]
            .clone();
        // Each tamper with the words of the check that must refuse it.
        let tampers: Vec<(&str, &str, Tamper)> = vec![
            (
                "signature",
                "the bundle's signature does not verify over the artifact",
                Box::new(|b: &mut serde_json::Value| {
                    let mut sig = b64
                        .decode(b["messageSignature"]["signature"].as_str().unwrap())
                        .unwrap();
                    let n = sig.len() - 3;
                    sig[n] ^= 0x01;
                    b["messageSignature"]["signature"] = b64.encode(sig).into();
                }),
            ),
            (
                "integrated time",
                "(rekorSET)",
                Box::new(|b: &mut serde_json::Value| {
                    let e = entry0(b);
                    let t: i64 = e["integratedTime"].as_str().unwrap().parse().unwrap();
                    e["integratedTime"] = (t + 1).to_string().into();
                }),
            ),
            (
                "SET removed, time moved",
                "no signed entry timestamp (SET) and the bundle no RFC 3161 timestamp",
                Box::new(|b: &mut serde_json::Value| {
                    let e = entry0(b);
                    e.as_object_mut().unwrap().remove("inclusionPromise");
                    let t: i64 = e["integratedTime"].as_str().unwrap().parse().unwrap();
                    e["integratedTime"] = (t - 100).to_string().into();
                }),
            ),
            (
                "checkpoint removed",
                "no signed checkpoint",
                Box::new(|b: &mut serde_json::Value| {
                    entry0(b)["inclusionProof"]
                        .as_object_mut()
                        .unwrap()
                        .remove("checkpoint");
                }),
            ),
            (
                "self-rooted proof, no SET, no checkpoint",
                "no signed checkpoint",
                Box::new(|b: &mut serde_json::Value| {
                    let e = entry0(b);
                    let body = b64
                        .decode(e["canonicalizedBody"].as_str().unwrap())
                        .unwrap();
                    e.as_object_mut().unwrap().remove("inclusionPromise");
                    e["inclusionProof"] = serde_json::json!({
                        "logIndex": "0",
                        "rootHash": b64.encode(gitsign::sigstore::tlog::leaf_hash(&body)),
                        "treeSize": "1",
                        "hashes": [],
                    });
                }),
            ),
            (
                "another tree's checkpoint",
                "but the log's signed checkpoint is for size",
                Box::new(|b: &mut serde_json::Value| {
                    entry0(b)["inclusionProof"]["checkpoint"] = other_cp.clone();
                }),
            ),
            (
                "inclusion proof",
                "(rekorInclusionProof)",
                Box::new(|b: &mut serde_json::Value| {
                    let h = &mut entry0(b)["inclusionProof"]["hashes"][0];
                    let mut raw = b64.decode(h.as_str().unwrap()).unwrap();
                    raw[0] ^= 0x80;
                    *h = b64.encode(raw).into();
                }),
            ),
            (
                "no log entry",
                "the bundle has no transparency log entry",
                Box::new(|b: &mut serde_json::Value| {
                    b["verificationMaterial"]["tlogEntries"] = serde_json::json!([]);
                }),
            ),
            (
                "media type",
                "unsupported bundle media type",
                Box::new(|b: &mut serde_json::Value| {
                    b["mediaType"] = "application/vnd.dev.sigstore.bundle.v9+json".into();
                }),
            ),
        ];
        for (what, reason, f) in tampers {
            let mut t = original.clone();
            f(&mut t);
            let p = tmp.path().join(format!("tampered-{i}.json"));
            std::fs::write(&p, serde_json::to_vec(&t).unwrap()).unwrap();
            let o = run(
                &repo,
                &p,
                &art.display().to_string(),
                &c.identity,
                &c.issuer,
            );
            assert_eq!(o.status.code(), Some(1), "tampered {what}: {}", text(&o));
            assert!(
                text(&o).contains("verification FAILED") && text(&o).contains(reason),
                "tampered {what}: expected {reason:?} in {}",
                text(&o)
            );
            assert!(!text(&o).contains("Verified OK"), "{what}: {}", text(&o));
        }

        // The wrong trust root.
        let staging = fixtures().join("trust/trusted_root.staging.json");
        let o = repo.gitsign(&[
            "verify-bundle",
            "--bundle",
            &c.bundle.display().to_string(),
            "--trusted-root",
            &staging.display().to_string(),
            "--certificate-identity",
            &c.identity,
            "--certificate-oidc-issuer",
            &c.issuer,
            &art.display().to_string(),
        ]);
        assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    }
}

#[test]
fn verify_bundle_requires_an_identity_or_a_key() {
    let repo = Repo::new("bundle-args");
    let c = &cases()[0];
    let o = repo.gitsign(&[
        "verify-bundle",
        "--bundle",
        &c.bundle.display().to_string(),
        "sha256:00",
    ]);
    // A malformed digest is named as such (before any identity question).
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("\"sha256:00\" is not a SHA-256 digest"),
        "{}",
        text(&o)
    );
    let digest = format!(
        "sha256:{}",
        gitsign::encoding::asn1::hex_lower(&gitsign::pki::crypto::sha256(&c.artifact))
    );
    let o = repo.gitsign(&[
        "verify-bundle",
        "--bundle",
        &c.bundle.display().to_string(),
        &digest,
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("--certificate-identity"), "{}", text(&o));
}

/// `gitsign export-bundle` turns an offline-mode git signature into the
/// same bundle the corpus holds (which sigstore-python verifies).
#[test]
fn export_bundle_reproduces_the_corpus_bundles() {
    let repo = Repo::new("export");
    let tmp = TempDir::new("export");
    let mut n = 0;
    for e in manifest() {
        if !(e["bundle"].is_string() && e["category"] == "gitsign") {
            continue;
        }
        let is_tag = e["objectType"] == "tag";
        let id = repo.add_object(
            if is_tag { "tag" } else { "commit" },
            &fixtures().join(e["file"].as_str().unwrap()),
        );
        let (b, a) = (
            tmp.path().join(format!("b{n}.json")),
            tmp.path().join(format!("a{n}")),
        );
        let o = repo.gitsign(&[
            "export-bundle",
            &id,
            "--output",
            &b.display().to_string(),
            "--artifact",
            &a.display().to_string(),
        ]);
        assert!(o.status.success(), "{}", text(&o));
        let ours: serde_json::Value = serde_json::from_slice(&std::fs::read(&b).unwrap()).unwrap();
        let theirs: serde_json::Value = serde_json::from_slice(
            &std::fs::read(fixtures().join(e["bundle"].as_str().unwrap())).unwrap(),
        )
        .unwrap();
        assert_eq!(
            ours["messageSignature"], theirs["messageSignature"],
            "{}",
            e["label"]
        );
        assert_eq!(
            ours["verificationMaterial"]["certificate"],
            theirs["verificationMaterial"]["certificate"]
        );
        let (o_t, t_t) = (
            &ours["verificationMaterial"]["tlogEntries"][0],
            &theirs["verificationMaterial"]["tlogEntries"][0],
        );
        for k in [
            "logIndex",
            "logId",
            "integratedTime",
            "canonicalizedBody",
            "inclusionPromise",
            "inclusionProof",
        ] {
            assert_eq!(o_t[k], t_t[k], "{} {k}", e["label"]);
        }
        n += 1;
    }
    assert_eq!(n, 6);
    // Online-mode signatures have nothing embedded to export.
    let id = repo.add_object(
        "commit",
        &fixtures().join("objects/gitsign/gs_td_e2e_online.commit"),
    );
    let o = repo.gitsign(&[
        "export-bundle",
        &id,
        "--output",
        "/dev/null",
        "--artifact",
        "/dev/null",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("online-mode"), "{}", text(&o));
}

/// The older bundle media types: v0.1 and v0.2 carry an
/// `x509CertificateChain`; v0.1 may omit the inclusion proof (SET only),
/// v0.2 may not.
#[test]
fn bundle_media_types_v01_and_v02() {
    let repo = Repo::new("bundle-versions");
    let tmp = TempDir::new("bundle-versions");
    let c = &cases()[0];
    let art = tmp.path().join("artifact");
    std::fs::write(&art, &c.artifact).unwrap();
    let original: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&c.bundle).unwrap()).unwrap();
    let variant = |media: &str, keep_proof: bool| {
        let mut b = original.clone();
        b["mediaType"] = media.into();
        let cert = b["verificationMaterial"]["certificate"].take();
        b["verificationMaterial"]
            .as_object_mut()
            .unwrap()
            .remove("certificate");
        b["verificationMaterial"]["x509CertificateChain"] =
            serde_json::json!({"certificates": [cert]});
        if !keep_proof {
            b["verificationMaterial"]["tlogEntries"][0]
                .as_object_mut()
                .unwrap()
                .remove("inclusionProof");
        }
        let p = tmp
            .path()
            .join(format!("{}-{keep_proof}.json", media.len()));
        std::fs::write(&p, serde_json::to_vec(&b).unwrap()).unwrap();
        run(
            &repo,
            &p,
            &art.display().to_string(),
            &c.identity,
            &c.issuer,
        )
    };
    for media in [
        "application/vnd.dev.sigstore.bundle+json;version=0.1",
        "application/vnd.dev.sigstore.bundle+json;version=0.2",
    ] {
        let o = variant(media, true);
        assert!(o.status.success(), "{media}: {}", text(&o));
    }
    let o = variant(
        "application/vnd.dev.sigstore.bundle+json;version=0.1",
        false,
    );
    assert!(o.status.success(), "v0.1 without a proof: {}", text(&o));
    let o = variant(
        "application/vnd.dev.sigstore.bundle+json;version=0.2",
        false,
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("no inclusion proof"), "{}", text(&o));
}
