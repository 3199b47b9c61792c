//! Writes the seed corpora: [`write`] fills `OUT_DIR/<target>/`
//! from the real-signature corpus and the other files under
//! `tests/fixtures` (objects, bundles, trust roots, companions, the
//! testbed's Rekor answers), from what the library derives from them
//! (certificates, SCT lists, log entries, checkpoints, hashedrekord bodies,
//! exported bundles, PEM), and from the hand-made seeds in `fuzz/seeds/`
//! (RFC 3161 answers, policy files, cache frames, config strings).
//! File names are content hashes, so reruns add nothing twice.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::join2;
use gitsign::cache::proto::{self, CacheKey, Certified, Credential, Op, Request, Response};
use gitsign::encoding::asn1::{self, tag};
use gitsign::encoding::oid;
use gitsign::git::gitobj::{self, HashAlgo, ObjectKind};
use gitsign::pki::cms::{self, SignedData};
use gitsign::pki::crypto;
use gitsign::pki::tsa;
use gitsign::pki::x509::Certificate;
use gitsign::sigstore::bundle;
use gitsign::sigstore::tlog::LogEntry;
use gitsign::verify;

struct Seeds {
    out: PathBuf,
    counts: BTreeMap<&'static str, usize>,
}

impl Seeds {
    fn add(&mut self, target: &'static str, data: &[u8]) {
        let dir = self.out.join(target);
        std::fs::create_dir_all(&dir).expect("create the corpus directory");
        let name = asn1::hex_lower(&crypto::sha256(data)[..20]);
        let path = dir.join(name);
        if !path.exists() {
            std::fs::write(&path, data).expect("write a seed");
            *self.counts.entry(target).or_default() += 1;
        }
    }

    fn text(&mut self, selector: u8, data: &[u8]) {
        let mut v = vec![selector];
        v.extend_from_slice(data);
        self.add("text", &v);
    }
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files(&p));
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}

/// Writes every seed under `out`; prints how many were new per target.
pub fn write(out: &Path) {
    let out = out.to_path_buf();
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let fixtures = here.join("../tests/fixtures");
    let mut s = Seeds {
        out,
        counts: BTreeMap::new(),
    };

    // Git objects: the object itself, its payload and signature, the CMS
    // and everything in it.
    for path in files(&fixtures.join("objects")) {
        let data = std::fs::read(&path).expect("read a fixture");
        s.text(4, &data);
        let kind = if path.extension().is_some_and(|e| e == "tag") {
            ObjectKind::Tag
        } else {
            ObjectKind::Commit
        };
        let Ok(Some(signed)) = gitobj::split(&data, kind, HashAlgo::detect(&data)) else {
            continue;
        };
        s.text(4, &signed.payload);
        s.text(2, &signed.signature);
        s.add("cms", &signed.signature);
        let Ok(der) = cms::unarmor(&signed.signature) else {
            s.add("verify", &join2(&signed.payload, &signed.signature));
            continue;
        };
        s.add("verify", &join2(&signed.payload, &der));
        s.add("cms", &der);
        if let Ok((json, artifact)) = bundle::export_signature(&signed.signature) {
            s.add(
                "bundle",
                &join2(&crypto::sha256(&artifact), json.as_bytes()),
            );
            s.add("bundle", &join2(&artifact, json.as_bytes()));
        }
        let Ok(sd) = SignedData::from_der(&der) else {
            continue;
        };
        from_signed_data(&mut s, &sd, &signed.payload);
        // With each hand-made timestamp token added (one of them is over
        // a corpus signature's value), so verification reaches the token.
        for token in files(&here.join("seeds/tsa")) {
            let token = std::fs::read(&token).expect("read a token seed");
            let token = tsa::parse_response(&token).unwrap_or(token);
            if let Some(with) = with_token(&sd, &token) {
                s.add("verify", &join2(&signed.payload, &with));
                s.add("cms", &with);
            }
        }
    }

    // Sigstore bundles, with the artifact their object signed.
    for path in files(&fixtures.join("bundles")) {
        let json = std::fs::read(&path).expect("read a bundle");
        let stem = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.split('.').next())
            .unwrap_or_default()
            .to_string();
        let digest = files(&fixtures.join("objects"))
            .into_iter()
            .find(|p| p.file_stem().and_then(|n| n.to_str()) == Some(stem.as_str()))
            .and_then(|p| {
                let data = std::fs::read(&p).ok()?;
                let kind = if p.extension().is_some_and(|e| e == "tag") {
                    ObjectKind::Tag
                } else {
                    ObjectKind::Commit
                };
                let signed = gitobj::split(&data, kind, HashAlgo::Sha1).ok()??;
                let der = cms::unarmor(&signed.signature).ok()?;
                let sd = SignedData::from_der(&der).ok()?;
                Some(crypto::sha256(&sd.signer.signed_attrs_der))
            })
            .unwrap_or_default();
        s.add("bundle", &join2(&digest, &json));
    }

    // Trust material: trusted roots (and the other Sigstore JSON files, as
    // near misses).
    for path in files(&fixtures.join("trust")) {
        let data = std::fs::read(&path).expect("read a trust file");
        s.add("trust", &data);
    }
    s.add(
        "trust",
        gitsign::sigstore::trust::PUBLIC_GOOD_TRUSTED_ROOT.as_bytes(),
    );

    // TUF metadata: the public-good root chain and the signing config.
    for name in ["tuf_root.prod.json", "tuf_root_v14.prod.json", "tuf_root.staging.json", "signing_config.prod.json"] {
        let data = std::fs::read(fixtures.join("trust").join(name)).expect("read a TUF file");
        s.add("tuf", &data);
    }
    s.add(
        "tuf",
        gitsign::sigstore::tuf::PUBLIC_GOOD_TUF_ROOT.as_bytes(),
    );

    // Rekor answers and companions.
    for dir in [
        fixtures.join("companions"),
        here.join("../tests/testbed/testdata"),
    ] {
        for path in files(&dir) {
            let data = std::fs::read(&path).expect("read a Rekor answer");
            s.add("tlog_json", &data);
            if let Ok(entries) = LogEntry::from_rekor_json(&data) {
                for (_, e) in entries {
                    from_entry(&mut s, &e);
                }
            }
        }
    }

    // Hand-made seeds: fuzz/seeds/<target>/*.
    for path in files(&here.join("seeds")) {
        let data = std::fs::read(&path).expect("read a hand-made seed");
        let target = path
            .parent()
            .and_then(|p| p.file_name())
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let Some(&(name, _)) = crate::TARGETS.iter().find(|(n, _)| *n == target) else {
            continue;
        };
        s.add(name, &data);
        if name == "tsa" {
            from_tsa(&mut s, &data);
        }
    }

    cache_frames(&mut s);
    for params in [
        "'gitsign.rekorMode'='online'",
        "'gitsign.fulcio=https://fulcio.example' 'user.email'='a@b' 'core.bare'",
        "'a'\\''b'='c' 'x.y=z'",
        "",
    ] {
        s.text(3, params.as_bytes());
    }
    for (t, n) in &s.counts {
        println!("{t}: {n} new seeds");
    }
}

/// The signature rebuilt in gitsign's layout with `token` as one more
/// unsigned attribute (the CMS signature covers only the signed ones).
fn with_token(sd: &SignedData, token: &[u8]) -> Option<Vec<u8>> {
    let leaf = sd.signer_certificate()?;
    let si = &sd.signer;
    if si.signature_algorithm
        != asn1::encode(tag::SEQUENCE, &asn1::encode(tag::OID, oid::ECDSA_SHA256))
    {
        return None;
    }
    let mut unsigned: Vec<Vec<u8>> = si
        .unsigned_attrs
        .iter()
        .map(|a| {
            let set = asn1::encode(tag::SET, &a.values.concat());
            asn1::encode_parts(tag::SEQUENCE, &[&asn1::encode(tag::OID, &a.oid), &set])
        })
        .collect();
    unsigned.push(tsa::token_attribute(token));
    cms::build_signed_data(&si.signed_attrs_der, &si.signature, leaf, &unsigned).ok()
}

/// Seeds from what a parsed signature carries.
fn from_signed_data(s: &mut Seeds, sd: &SignedData, payload: &[u8]) {
    for c in &sd.certificates {
        from_certificate(s, c);
    }
    let si = &sd.signer;
    if let Some(cert) = sd.signer_certificate() {
        if let Ok(Some(e)) = verify::embedded_entry(sd, cert) {
            from_entry(s, &e);
        }
    }
    if let Ok(Some(v)) = si.unsigned_value(oid::REKOR_TLOG_ENTRY, "entry") {
        if let Ok(os) = asn1::parse_single(&v, tag::OCTET_STRING, "entry") {
            s.add("tlog_protobuf", os.value);
        }
    }
    if let Ok(Some(token)) = tsa::embedded_token(si) {
        from_tsa(s, &token);
        s.add("tsa", &token);
    }
    let _ = payload;
}

fn from_certificate(s: &mut Seeds, c: &Certificate) {
    s.add("x509", c.der());
    s.add("x509", c.subject());
    s.text(2, verify::certificate_pem(c).as_bytes());
    if let Some(ext) = c.extension(oid::CT_SCT_LIST) {
        if let Ok(os) = asn1::parse_single(ext, tag::OCTET_STRING, "SCT list") {
            s.add("sct", os.value);
            // The first SCT alone, for parse_sct.
            let v = os.value;
            if v.len() > 4 {
                let n = usize::from(u16::from_be_bytes([v[2], v[3]]));
                if let Some(one) = v.get(4..4 + n) {
                    s.add("sct", one);
                }
            }
        }
    }
}

fn from_entry(s: &mut Seeds, e: &LogEntry) {
    s.add("tlog_protobuf", &e.to_protobuf(true));
    if !e.body.is_empty() {
        s.add("tlog_json", &e.body);
    }
    if let Some(c) = e.proof.as_ref().and_then(|p| p.checkpoint.as_ref()) {
        s.text(0, c.as_bytes());
    }
}

/// A TimeStampResp or token: its token, its TSTInfo and its certificates.
fn from_tsa(s: &mut Seeds, data: &[u8]) {
    let token = tsa::parse_response(data).unwrap_or_else(|_| data.to_vec());
    if let Ok(t) = tsa::Token::from_der(&token) {
        s.add("tsa", &token);
        s.add("tsa", &t.tst_info_der);
        s.add("cms", &token);
        for c in &t.signed_data.certificates {
            from_certificate(s, c);
        }
    }
}

/// Every request and response kind of the cache protocol, as bodies (the
/// 4-byte length header stripped) and one whole frame.
fn cache_frames(s: &mut Seeds) {
    let key = CacheKey {
        fulcio: "https://fulcio.sigstore.dev".into(),
        issuer: "https://oauth2.sigstore.dev/auth".into(),
        client_id: "sigstore".into(),
        scope: "/repo".into(),
        identity: "a@example.com".into(),
    };
    let requests = [
        Op::Get {
            key: key.clone(),
            claim: true,
            wait_ms: 1000,
        },
        Op::Store {
            key: key.clone(),
            credential: Credential {
                private_key_pkcs8_b64: "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg".into(),
                chain_pem: "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n".into(),
                identity: "a@example.com".into(),
                expires_at: 1_700_000_000,
            },
        },
        Op::Sign {
            key: key.clone(),
            message_b64: "aGVsbG8=".into(),
            rekor: Some(proto::RekorTarget {
                url: "https://rekor.sigstore.dev".into(),
                timeout_ms: 30_000,
                api_version: 1,
            }),
        },
        Op::Sign {
            key: key.clone(),
            message_b64: "aGVsbG8=".into(),
            rekor: Some(proto::RekorTarget {
                url: "https://log2025-1.rekor.sigstore.dev".into(),
                timeout_ms: 30_000,
                api_version: 2,
            }),
        },
        Op::Release { key: key.clone() },
        Op::List,
        Op::Clear,
        Op::Shutdown,
    ];
    for op in requests {
        let frame = proto::encode(&Request {
            version: proto::VERSION,
            op,
        })
        .expect("encode a request");
        s.add("cache_proto", &frame[4..]);
    }
    let responses = [
        Response::Hit {
            credential: Certified {
                chain_pem: "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n".into(),
                identity: "a@example.com".into(),
                expires_at: 1_700_000_000,
            },
        },
        Response::Signed {
            signature_b64: "MEUCIQ==".into(),
            entry_b64: Some("CAEQAg==".into()),
            rekor_error: None,
        },
        Response::Signed {
            signature_b64: "MEUCIQ==".into(),
            entry_b64: None,
            rekor_error: Some("Rekor answered 500".into()),
        },
        Response::Miss,
        Response::Claimed,
        Response::Timeout,
        Response::Ok,
        Response::Entries {
            entries: vec![proto::EntryInfo {
                key,
                identity: "a@example.com".into(),
                expires_at: 1,
            }],
            pid: 1,
            version: proto::VERSION,
        },
        Response::Error {
            message: proto::version_mismatch_message(1, 2),
        },
    ];
    for r in responses {
        let frame = proto::encode(&r).expect("encode a response");
        s.add("cache_proto", &frame[4..]);
        s.add("cache_proto", &frame);
    }
}
