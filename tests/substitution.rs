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
