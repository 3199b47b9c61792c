//! Values a verdict uses, swapped for genuine ones from elsewhere: an SCT
//! from a log the trusted root does not name, a log entry that belongs to
//! another signature. Each is refused for the reason named; the honest
//! variant verifies.

mod common;

use common::{fixtures, text, Repo, Testbed};
use gitsign::git::gitobj::{self, HashAlgo, ObjectKind};
use gitsign::pki::cms::{self, SignedData};
use gitsign::verify;

#[test]
fn an_sct_from_a_log_the_root_does_not_name_is_refused() {
    let tb = Testbed::start();
    let mut repo = Repo::new("sct-swap");
    repo.env.extend(tb.gitsign_env());
    repo.env
        .push(("GITSIGN_TOKEN_PROVIDER".into(), "environment".into()));
    repo.env.push((
        "SIGSTORE_ID_TOKEN".into(),
        tb.token("testbed-user@example.com", 900),
    ));
    std::fs::write(repo.path().join("f"), "x\n").unwrap();
    repo.git_ok(&["add", "f"]);
    let o = repo.git(&["commit", "-q", "-S", "-m", "signed"]);
    assert!(o.status.success(), "{}", text(&o));
    let state = std::path::Path::new(tb.var("TESTBED_STATE"));
    // The genuine CT key, given piecewise: good.
    let o = repo
        .git_cmd(&["verify-commit", "HEAD"])
        .env(
            "SIGSTORE_CT_LOG_PUBLIC_KEY_FILE",
            state.join("ctlog_pub.pem"),
        )
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    // Another key in its place: the SCT's log is unknown.
    let o = repo
        .git_cmd(&["verify-commit", "--raw", "HEAD"])
        .env(
            "SIGSTORE_CT_LOG_PUBLIC_KEY_FILE",
            state.join("rekor_pub.pem"),
        )
        .output()
        .unwrap();
    assert!(!o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("[GNUPG:] BADSIG"), "{}", text(&o));
    let o = repo
        .git_cmd(&["verify-commit", "HEAD"])
        .env(
            "SIGSTORE_CT_LOG_PUBLIC_KEY_FILE",
            state.join("rekor_pub.pem"),
        )
        .output()
        .unwrap();
    assert!(
        text(&o).contains("no valid SCT: SCT from unknown CT log"),
        "{}",
        text(&o)
    );
}

/// The embedded entry of a corpus commit (body rebuilt).
fn entry_of(name: &str) -> gitsign::sigstore::tlog::LogEntry {
    let bytes = std::fs::read(fixtures().join("objects/gitsign").join(name)).unwrap();
    let s = gitobj::split(&bytes, ObjectKind::Commit, HashAlgo::Sha1)
        .unwrap()
        .unwrap();
    let sd = SignedData::from_der(&cms::unarmor(&s.signature).unwrap()).unwrap();
    verify::embedded_entry(&sd, sd.signer_certificate().unwrap())
        .unwrap()
        .unwrap()
}

#[test]
fn a_log_entry_of_another_signature_is_refused() {
    let name = "gs_commit_offline_latest.commit";
    let bytes = std::fs::read(fixtures().join("objects/gitsign").join(name)).unwrap();
    let s = gitobj::split(&bytes, ObjectKind::Commit, HashAlgo::Sha1)
        .unwrap()
        .unwrap();
    let sd = SignedData::from_der(&cms::unarmor(&s.signature).unwrap()).unwrap();
    let cert = sd.signer_certificate().unwrap();
    let claims = gitsign::pki::claims::Claims::from_certificate(cert).unwrap();
    let repo = Repo::new("entry-swap");
    repo.git_ok(&["config", "gitsign.certificateIdentity", &claims.identity]);
    repo.git_ok(&[
        "config",
        "gitsign.certificateOidcIssuer",
        claims.issuer.as_deref().unwrap(),
    ]);
    // Another genuine, log-signed entry (another signature's).
    let other = entry_of("gs_commit_offline_kaplan.commit");
    let rebuild = |entry: &gitsign::sigstore::tlog::LogEntry, with_body: bool| {
        let der = cms::build_signed_data(
            &sd.signer.signed_attrs_der,
            &sd.signer.signature,
            cert,
            &[cms::tlog_attribute(&entry.to_protobuf(with_body)).unwrap()],
        )
        .unwrap();
        let commit = gitobj::join_commit(&s.payload, cms::armor(&der).as_bytes(), HashAlgo::Sha1);
        let file = repo.dir.path().join("swapped.commit");
        std::fs::write(&file, commit).unwrap();
        let id = repo.add_object("commit", &file);
        let o = repo.git(&["verify-commit", &id]);
        (o.status.success(), text(&o))
    };
    let (ok, out) = rebuild(&entry_of(name), false);
    assert!(ok, "the harness changed the signature: {out}");
    // Carried with its own body: it is not this signature's entry.
    let (ok, out) = rebuild(&other, true);
    assert!(!ok, "{out}");
    assert!(
        out.contains("the embedded log entry is for a different signature"),
        "{out}"
    );
    // Carried without a body: this signature's body is rebuilt, and the
    // SET the log made over the other body does not cover it.
    let (ok, out) = rebuild(&other, false);
    assert!(!ok, "{out}");
    assert!(out.contains("(rekorSET)"), "{out}");
}

/// The signed contentType attribute naming id-signedData in place of
/// id-data: refused for that, before the signature over the attributes is
/// looked at (which the change also breaks).
#[test]
fn a_content_type_other_than_data_is_refused() {
    let bytes =
        std::fs::read(fixtures().join("objects/gitsign/gs_commit_offline_latest.commit")).unwrap();
    let s = gitobj::split(&bytes, ObjectKind::Commit, HashAlgo::Sha1)
        .unwrap()
        .unwrap();
    let mut der = cms::unarmor(&s.signature).unwrap();
    // contentType (1.2.840.113549.1.9.3) SET { id-data (1.2.840.113549.1.7.1) }
    let attr: &[u8] = &[
        0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x03, 0x31, 0x0b, 0x06, 0x09,
        0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01,
    ];
    let at = der.windows(attr.len()).position(|w| w == attr).unwrap();
    let repo = Repo::new("content-type");
    let check = |der: &[u8]| {
        let commit = gitobj::join_commit(&s.payload, cms::armor(der).as_bytes(), HashAlgo::Sha1);
        let file = repo.dir.path().join("changed.commit");
        std::fs::write(&file, commit).unwrap();
        let id = repo.add_object("commit", &file);
        let o = repo.git(&["verify-commit", &id]);
        (o.status.success(), text(&o))
    };
    let (ok, out) = check(&der);
    assert!(ok, "the harness changed the signature: {out}");
    der[at + attr.len() - 1] = 0x02;
    let (ok, out) = check(&der);
    assert!(!ok, "{out}");
    assert!(
        out.contains("the contentType attribute is not id-data"),
        "{out}"
    );
}

/// The signing time swapped for one just outside the certificate's ten
/// minutes: the path to the trusted root is checked at that time, so one
/// second either side is refused and both ends are accepted. The issuers
/// found once and cached as indices (the range walk's leaf cache) give the
/// same path back, and indices naming no certificate give none.
#[test]
fn a_signing_time_outside_the_certificate_is_refused() {
    use gitsign::pki::chain::{find_issuers, verify_path, Issuers};
    use gitsign::sigstore::trust::TrustedRoot;
    let data =
        std::fs::read(fixtures().join("objects/gitsign/gittuf_rsl_workflow_2025.commit")).unwrap();
    let signed = gitobj::split(&data, ObjectKind::Commit, HashAlgo::Sha1)
        .unwrap()
        .unwrap();
    let sd = SignedData::from_der(&cms::unarmor(&signed.signature).unwrap()).unwrap();
    let leaf = &sd.certificates[0];
    let prod = TrustedRoot::from_file(&fixtures().join("trust/trusted_root.prod.json")).unwrap();
    let issuers = find_issuers(leaf, &prod).unwrap();
    for at in [leaf.not_before, leaf.not_after] {
        assert!(verify_path(leaf, &issuers, at).is_ok(), "at {at}");
    }
    for at in [leaf.not_before - 1, leaf.not_after + 1] {
        let e = verify_path(leaf, &issuers, at).expect_err("outside the validity");
        assert!(
            e.contains("the certificate was not valid at"),
            "at {at}: {e}"
        );
    }

    let idx = issuers.to_indices(&prod);
    // Each leaf's issuer, found by name and signature: the cached indices name it,
    // for leaves of two different issuers (so no one fixed answer passes).
    let mut seen = std::collections::BTreeSet::new();
    for file in [
        "gittuf_rsl_workflow_2025.commit",
        "gs_commit_2022_rootissued_nosct.commit",
    ] {
        let data = std::fs::read(fixtures().join("objects/gitsign").join(file)).unwrap();
        let signed = gitobj::split(&data, ObjectKind::Commit, HashAlgo::Sha1)
            .unwrap()
            .unwrap();
        let sd = SignedData::from_der(&cms::unarmor(&signed.signature).unwrap()).unwrap();
        let leaf = &sd.certificates[0];
        let issuers = find_issuers(leaf, &prod).expect(file);
        let idx = issuers.to_indices(&prod);
        let named: Vec<(usize, usize)> = prod
            .certificate_authorities
            .iter()
            .enumerate()
            .flat_map(|(a, ca)| {
                ca.chain
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| {
                        c.subject() == leaf.issuer() && leaf.verify_signed_by(c).is_ok()
                    })
                    .map(move |(i, _)| (a, i))
            })
            .collect();
        assert_eq!(idx, named, "{file}");
        seen.insert(named);
        let again = Issuers::from_indices(&prod, &idx);
        let path = verify_path(leaf, &again, leaf.not_before).expect(file);
        assert_eq!(
            path.issuer.subject(),
            leaf.issuer(),
            "{file}: the cached indices name the leaf's issuer"
        );
    }
    assert_eq!(seen.len(), 2, "two leaves of one issuer: {seen:?}");
    // One past the CA's chain, and far past it: dropped, never indexed.
    let beyond: Vec<_> = idx
        .iter()
        .flat_map(|&(a, _)| [(a, prod.certificate_authorities[a].chain.len()), (a, 99)])
        .collect();
    let none = Issuers::from_indices(&prod, &beyond);
    let e = verify_path(leaf, &none, leaf.not_before).expect_err("no issuer left");
    assert!(e.contains("does not chain to a Fulcio CA"), "{e}");

    let staging =
        TrustedRoot::from_file(&fixtures().join("trust/trusted_root.staging.json")).unwrap();
    let e = find_issuers(leaf, &staging).expect_err("another root");
    assert!(
        e.contains("does not chain to a Fulcio CA in the trusted root"),
        "{e}"
    );
}

/// Runs openssl with `args` in `dir`; panics with its stderr on failure.
fn openssl(dir: &std::path::Path, args: &[&str]) {
    let o = std::process::Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl is installed (tests/run installs it)");
    assert!(o.status.success(), "openssl {args:?}: {}", text(&o));
}

/// A trusted root whose Fulcio chain is `intermediate` (with the given
/// extensions) under a real root CA, and a code-signing leaf the
/// intermediate signed: the path check refuses an intermediate that is not
/// a CA certificate, or one whose key usage does not allow signing
/// certificates, naming it; a proper intermediate passes. (A trusted
/// root is data: a stale or hand-edited one must not make a leaf-only
/// certificate an issuer.)
#[test]
fn a_trusted_root_chain_certificate_that_is_no_ca_is_refused() {
    use base64::Engine;
    use gitsign::pki::chain::{find_issuers, verify_path};
    use gitsign::pki::x509::Certificate;
    use gitsign::sigstore::trust::TrustedRoot;
    let dir = common::TempDir::new("subst-ca");
    let d = dir.path();
    let ext = "[root]\nbasicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign\n\
               [good]\nbasicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign\n\
               [noca]\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,keyCertSign\n\
               [nosign]\nbasicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,digitalSignature\n\
               [leaf]\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=codeSigning\n\
               subjectAltName=email:a@example.com\n";
    std::fs::write(d.join("ext.cnf"), ext).unwrap();
    let key = |name: &str| {
        openssl(
            d,
            &[
                "ecparam",
                "-name",
                "prime256v1",
                "-genkey",
                "-noout",
                "-out",
                &format!("{name}.key"),
            ],
        );
    };
    key("root");
    openssl(
        d,
        &[
            "req",
            "-x509",
            "-new",
            "-key",
            "root.key",
            "-subj",
            "/CN=root",
            "-days",
            "2",
            "-config",
            "ext.cnf",
            "-extensions",
            "root",
            "-out",
            "root.pem",
        ],
    );
    let der_of = |pem: &str| {
        Certificate::from_pem(&std::fs::read_to_string(d.join(pem)).unwrap())
            .unwrap()
            .der()
            .to_vec()
    };
    for (kind, refused) in [("good", false), ("noca", true), ("nosign", true)] {
        key(kind);
        openssl(
            d,
            &[
                "req",
                "-new",
                "-key",
                &format!("{kind}.key"),
                "-subj",
                &format!("/CN={kind}"),
                "-out",
                &format!("{kind}.csr"),
            ],
        );
        openssl(
            d,
            &[
                "x509",
                "-req",
                "-in",
                &format!("{kind}.csr"),
                "-CA",
                "root.pem",
                "-CAkey",
                "root.key",
                "-set_serial",
                "2",
                "-days",
                "2",
                "-extfile",
                "ext.cnf",
                "-extensions",
                kind,
                "-out",
                &format!("{kind}.pem"),
            ],
        );
        key(&format!("{kind}-leaf"));
        openssl(
            d,
            &[
                "req",
                "-new",
                "-key",
                &format!("{kind}-leaf.key"),
                "-subj",
                "/CN=leaf",
                "-out",
                &format!("{kind}-leaf.csr"),
            ],
        );
        openssl(
            d,
            &[
                "x509",
                "-req",
                "-in",
                &format!("{kind}-leaf.csr"),
                "-CA",
                &format!("{kind}.pem"),
                "-CAkey",
                &format!("{kind}.key"),
                "-set_serial",
                "3",
                "-days",
                "1",
                "-extfile",
                "ext.cnf",
                "-extensions",
                "leaf",
                "-out",
                &format!("{kind}-leaf.pem"),
            ],
        );
        let b64 = |der: Vec<u8>| base64::engine::general_purpose::STANDARD.encode(der);
        let json = serde_json::json!({
            "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
            "certificateAuthorities": [{
                "subject": {"organization": "test", "commonName": kind},
                "uri": "https://fulcio.test",
                "certChain": {"certificates": [
                    {"rawBytes": b64(der_of(&format!("{kind}.pem")))},
                    {"rawBytes": b64(der_of("root.pem"))},
                ]},
                "validFor": {"start": "2000-01-01T00:00:00Z"},
            }],
        });
        let root = TrustedRoot::from_json(&json.to_string(), kind).unwrap();
        let leaf = Certificate::from_pem(
            &std::fs::read_to_string(d.join(format!("{kind}-leaf.pem"))).unwrap(),
        )
        .unwrap();
        let issuers = find_issuers(&leaf, &root).expect(kind);
        let at = leaf.not_before + 60;
        match verify_path(&leaf, &issuers, at) {
            Ok(_) => assert!(
                !refused,
                "{kind}: a chain with a non-CA certificate was accepted"
            ),
            Err(e) => {
                assert!(refused, "{kind}: {e}");
                assert!(
                    e.starts_with("the trusted root's certificate")
                        && e.contains(kind)
                        && e.ends_with("is not a CA certificate"),
                    "{kind}: {e}"
                );
            }
        }
    }
}
