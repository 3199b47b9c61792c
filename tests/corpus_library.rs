//! Every case of the real-signature corpus through the library, with the
//! verdict and reason the manifest gives (tests/fixtures/CORPUS.md).

mod common;

use common::{fixtures, manifest, reason_words};

use gitsign::git::gitobj::{self, HashAlgo, ObjectKind};
use gitsign::sigstore::trust::TrustedRoot;
use gitsign::verify::{
    self, Candidates, Context, LookupError, MissingTlog, ObjectInfo, TimeSource, TlogLookup,
    TlogStatus,
};

/// A Rekor that has nothing: what the public log answers for an object id
/// it never saw.
struct EmptyRekor;
impl TlogLookup for EmptyRekor {
    fn entries_for(&self, _: &[u8; 32], _: &str) -> Result<Candidates, LookupError> {
        Ok(Candidates::default())
    }
    fn describe(&self) -> String {
        "an empty Rekor".into()
    }
}

#[test]
fn every_corpus_case_gets_its_verdict() {
    let prod = TrustedRoot::from_file(&fixtures().join("trust/trusted_root.prod.json")).unwrap();
    let staging =
        TrustedRoot::from_file(&fixtures().join("trust/trusted_root.staging.json")).unwrap();
    let entries = manifest();
    assert_eq!(entries.len(), 48);
    let mut checked = 0;
    // Twice: without and with the per-certificate cache range checks use
    // (tampered copies share certificates with valid objects).
    let prod_cache = verify::LeafCache::new();
    let passes = entries
        .iter()
        .map(|e| (false, e))
        .chain(entries.iter().map(|e| (true, e)));
    for (second_pass, e) in passes {
        let cache = if second_pass && e["trustRoot"] != "trusted_root.staging.json" {
            Some(&prod_cache)
        } else {
            None
        };
        let label = e["label"].as_str().unwrap();
        let data = std::fs::read(fixtures().join(e["file"].as_str().unwrap())).unwrap();
        let kind = if e["objectType"] == "tag" {
            ObjectKind::Tag
        } else {
            ObjectKind::Commit
        };
        let root = if e["trustRoot"] == "trusted_root.staging.json" {
            &staging
        } else {
            &prod
        };
        let expected = e["expected"].as_str().unwrap();
        // The legacy split-attribute layout is verified (the manifest's
        // expectedAlt): all its cryptography checks out.
        let expected = if label == "gs_commit_legacy_splitattrs" {
            "valid"
        } else {
            expected
        };
        let online = e["rekorMode"] == "online";
        let split = gitobj::split(&data, kind, HashAlgo::Sha1);
        let signed = match split {
            Err(err) => {
                assert!(expected.starts_with("invalid"), "{label}: {err}");
                assert!(err.0.contains(reason_words(expected)), "{label}: {err}");
                checked += 1;
                continue;
            }
            Ok(s) => s.unwrap_or_else(|| panic!("{label}: unsigned")),
        };
        let object = ObjectInfo {
            kind,
            algo: HashAlgo::Sha1,
        };
        // Online-mode entries live only in the public Rekor, unreachable
        // here: verify them with the documented opt-out, and check that
        // without it they are not called verified.
        let ctx = Context {
            root,
            require_sct: true,
            rekor: if label == "stripped_tlog" {
                Some(&EmptyRekor)
            } else {
                None
            },
            missing_tlog: if online && label != "stripped_tlog" {
                MissingTlog::Skip
            } else {
                MissingTlog::Search
            },
            cache,
        };
        let result = verify::verify(&signed.payload, &signed.signature, object, &ctx);
        if expected == "valid" {
            let v = result.unwrap_or_else(|f| panic!("{label}: expected valid, got: {f}"));
            let san = e["signerSAN"][0].as_str().unwrap();
            assert!(
                san.ends_with(&v.claims.identity),
                "{label}: identity {} vs {san}",
                v.claims.identity
            );
            assert_eq!(
                v.claims.issuer.as_deref(),
                e["oidcIssuerV2_57264.1.8"]
                    .as_str()
                    .or(e["oidcIssuerV1_57264.1.1"].as_str()),
                "{label}"
            );
            match (&v.tlog, online) {
                (TlogStatus::NotChecked(_), true) => {
                    let strict = Context {
                        root,
                        require_sct: true,
                        rekor: None,
                        missing_tlog: MissingTlog::Search,
                        cache: None,
                    };
                    let f = verify::verify(&signed.payload, &signed.signature, object, &strict)
                        .unwrap_err();
                    assert_eq!(f.kind, verify::FailureKind::Unavailable, "{label}: {f}");
                }
                (TlogStatus::Embedded(entry), false) => {
                    // Real offline signatures carry both a SET and a
                    // checkpoint-backed proof; the time is the SET's.
                    assert_eq!(entry.log_index(), e["tlog"]["logIndex"].as_u64(), "{label}");
                    assert!(entry.inclusion.is_some(), "{label}");
                    assert_eq!(v.time_source, TimeSource::Log, "{label}");
                    assert_eq!(
                        Some(v.time),
                        e["tlog"]["integratedTime"].as_i64(),
                        "{label}"
                    );
                }
                (other, _) => panic!("{label}: unexpected tlog status {other:?}"),
            }
        } else {
            let f = result
                .err()
                .unwrap_or_else(|| panic!("{label}: expected {expected}, got valid"));
            assert!(
                f.message.contains(reason_words(expected)),
                "{label}: expected {expected}, got: {f}"
            );
        }
        checked += 1;
    }
    assert_eq!(checked, 96);
}

/// Our CMS encoder reproduces Go gitsign's signatures byte for byte from
/// their parts (signed attributes, signature, leaf, unsigned attributes).
#[test]
fn cms_builder_matches_go_gitsign_layout() {
    use gitsign::pki::cms::{self, SignedData};
    let mut checked = 0;
    for e in manifest() {
        if e["category"] != "gitsign"
            || e["numCertsInCMS"] != 1
            || e["label"] == "gs_commit_legacy_splitattrs"
        {
            continue;
        }
        let data = std::fs::read(fixtures().join(e["file"].as_str().unwrap())).unwrap();
        let kind = if e["objectType"] == "tag" {
            ObjectKind::Tag
        } else {
            ObjectKind::Commit
        };
        let s = gitobj::split(&data, kind, HashAlgo::Sha1).unwrap().unwrap();
        let der = cms::unarmor(&s.signature).unwrap();
        let sd = SignedData::from_der(&der).unwrap();
        let unsigned: Vec<Vec<u8>> = sd
            .signer
            .unsigned_attrs
            .iter()
            .map(|a| {
                let oid =
                    gitsign::encoding::asn1::encode(gitsign::encoding::asn1::tag::OID, &a.oid);
                let vals: Vec<&[u8]> = a.values.iter().map(Vec::as_slice).collect();
                let set =
                    gitsign::encoding::asn1::encode_parts(gitsign::encoding::asn1::tag::SET, &vals);
                gitsign::encoding::asn1::encode_parts(
                    gitsign::encoding::asn1::tag::SEQUENCE,
                    &[&oid, &set],
                )
            })
            .collect();
        let rebuilt = cms::build_signed_data(
            &sd.signer.signed_attrs_der,
            &sd.signer.signature,
            sd.signer_certificate().unwrap(),
            &unsigned,
        )
        .unwrap();
        assert_eq!(rebuilt, der, "{}", e["label"]);
        // The armor too, as git stores it.
        let armored = cms::armor(&rebuilt);
        assert_eq!(armored.as_bytes(), s.signature.as_slice(), "{}", e["label"]);
        checked += 1;
    }
    assert!(checked >= 20, "{checked}");
}

/// The signed attributes we write match Go gitsign's for the same time and payload.
#[test]
fn signed_attributes_match_go_gitsign() {
    use gitsign::pki::cms::{self, SignedData};
    let data =
        std::fs::read(fixtures().join("objects/gitsign/gs_commit_offline_latest.commit")).unwrap();
    let s = gitobj::split_commit(&data, HashAlgo::Sha1)
        .unwrap()
        .unwrap();
    let sd = SignedData::from_der(&cms::unarmor(&s.signature).unwrap()).unwrap();
    let t = sd.signer.signing_time().unwrap().unwrap();
    assert_eq!(
        cms::signed_attributes(&s.payload, t).unwrap(),
        sd.signer.signed_attrs_der
    );
}

/// The claims read from a real GitHub Actions certificate (Fulcio's
/// extensions .1–.6 as raw strings, .8 onward as DER UTF8Strings), each
/// against the value openssl prints for it: what identity policies and
/// workflow checks compare.
#[test]
fn claims_of_a_github_actions_certificate() {
    use gitsign::pki::claims::Claims;
    let data =
        std::fs::read(fixtures().join("objects/gitsign/gittuf_rsl_workflow_2025.commit")).unwrap();
    let signed = gitobj::split(&data, ObjectKind::Commit, HashAlgo::Sha1)
        .unwrap()
        .unwrap();
    let der = gitsign::pki::cms::unarmor(&signed.signature).unwrap();
    let sd = gitsign::pki::cms::SignedData::from_der(&der).unwrap();
    let c = Claims::from_certificate(&sd.certificates[0]).unwrap();
    let workflow =
        "https://github.com/gittuf/gittuf/.github/workflows/gittuf-rsl-main.yml@refs/heads/main";
    assert_eq!(c.identity, workflow);
    assert_eq!(c.all_identities, [workflow]);
    assert_eq!(
        c.issuer.as_deref(),
        Some("https://token.actions.githubusercontent.com")
    );
    assert_eq!(c.github_workflow_trigger.as_deref(), Some("push"));
    assert_eq!(
        c.github_workflow_sha.as_deref(),
        Some("ce7efd0d1bb5ea99573c407ed9fff61023961550")
    );
    assert_eq!(
        c.github_workflow_name.as_deref(),
        Some("Record change to main branch")
    );
    assert_eq!(
        c.github_workflow_repository.as_deref(),
        Some("gittuf/gittuf")
    );
    assert_eq!(c.github_workflow_ref.as_deref(), Some("refs/heads/main"));
    // Only in DER form (.9, .11, .12, .21).
    assert_eq!(c.build_signer_uri.as_deref(), Some(workflow));
    assert_eq!(c.runner_environment.as_deref(), Some("github-hosted"));
    assert_eq!(
        c.source_repository_uri.as_deref(),
        Some("https://github.com/gittuf/gittuf")
    );
    assert_eq!(
        c.run_invocation_uri.as_deref(),
        Some("https://github.com/gittuf/gittuf/actions/runs/14601613784/attempts/1")
    );
}

/// The per-certificate cache (which CA issued a leaf, its SCT's verdict)
/// serves only the trusted root it was first used with. Handed other roots,
/// it is not consulted: a root with the same CAs but no CT log must refuse
/// the SCT, even after a root that trusts the log filled the cache.
#[test]
fn the_leaf_cache_serves_only_the_root_it_was_first_used_with() {
    let prod = TrustedRoot::from_file(&fixtures().join("trust/trusted_root.prod.json")).unwrap();
    let prod_again = prod.clone();
    let mut no_ct = prod.clone();
    no_ct.ctlogs.clear();
    let e = manifest()
        .into_iter()
        .find(|e| {
            e["expected"] == "valid"
                && e["rekorMode"] == "offline"
                && e["objectType"] == "commit"
                && e["trustRoot"] == "trusted_root.prod.json"
        })
        .expect("an offline, valid commit in the corpus");
    let data = std::fs::read(fixtures().join(e["file"].as_str().unwrap())).unwrap();
    let signed = gitobj::split(&data, ObjectKind::Commit, HashAlgo::Sha1)
        .unwrap()
        .unwrap();
    let object = ObjectInfo {
        kind: ObjectKind::Commit,
        algo: HashAlgo::Sha1,
    };
    let cache = verify::LeafCache::new();
    let check = |root: &TrustedRoot, cache: Option<&verify::LeafCache>| {
        let ctx = Context {
            root,
            require_sct: true,
            rekor: None,
            missing_tlog: MissingTlog::Search,
            cache,
        };
        verify::verify(&signed.payload, &signed.signature, object, &ctx)
    };
    // Without a cache, the root without CT logs refuses for the SCT.
    let f = check(&no_ct, None).unwrap_err();
    assert!(f.to_string().contains("SCT"), "{f}");
    // The cache's own root, twice (the second from the cache), then two
    // other roots: one that trusts the log, one that must still refuse.
    check(&prod, Some(&cache)).unwrap();
    check(&prod, Some(&cache)).unwrap();
    check(&prod_again, Some(&cache)).unwrap();
    let f = check(&no_ct, Some(&cache)).unwrap_err();
    assert!(f.to_string().contains("SCT"), "{f}");
    // A cache first used with the root that refuses is not filled by
    // another root's verdicts either.
    let cache = verify::LeafCache::new();
    check(&no_ct, Some(&cache)).unwrap_err();
    check(&prod, Some(&cache)).unwrap();
    let f = check(&no_ct, Some(&cache)).unwrap_err();
    assert!(f.to_string().contains("SCT"), "{f}");
}

/// The ids an online-mode signature's Rekor entry may be keyed by: git's
/// own object id first, then Go gitsign's (the object re-encoded as a
/// go-git commit) when it differs, as for a tag; each once.
#[test]
fn online_entries_are_looked_up_by_gits_id_then_go_gitsigns() {
    let entries = manifest();
    let case = |label: &str| {
        let e = entries.iter().find(|e| e["label"] == label).unwrap();
        let data = std::fs::read(fixtures().join(e["file"].as_str().unwrap())).unwrap();
        let kind = if e["objectType"] == "tag" {
            ObjectKind::Tag
        } else {
            ObjectKind::Commit
        };
        let signed = gitobj::split(&data, kind, HashAlgo::Sha1).unwrap().unwrap();
        let object = ObjectInfo {
            kind,
            algo: HashAlgo::Sha1,
        };
        let ids = verify::candidate_object_ids(&signed.payload, &signed.signature, object);
        (ids, e["gitObjectId"].as_str().unwrap().to_string())
    };
    // A plain commit: go-git encodes it as git does.
    let (ids, git_id) = case("gs_td_e2e_online");
    assert_eq!(ids, vec![git_id]);
    // A tag: Go gitsign keys it by an empty commit carrying its message.
    let (ids, git_id) = case("gs_tag_v0.13.0");
    assert_eq!(ids.len(), 2, "{ids:?}");
    assert_eq!(ids[0], git_id);
    assert_ne!(ids[1], git_id);
}
