//! Someone else's reading of our signatures: a commit signed against the
//! testbed, exported as a Sigstore bundle, verified by sigstore-python
//! 4.5.1 with the testbed's trusted root; and the CMS with its chain
//! verified by OpenSSL.

mod common;

use std::path::Path;
use std::process::Command;

use common::{text, Repo, TempDir, Testbed};

#[test]
fn sigstore_python_and_openssl_accept_our_signatures() {
    let tb = Testbed::start();
    let email = tb.var("TESTBED_EMAIL").to_string();
    let issuer = tb.var("GITSIGN_OIDC_ISSUER").to_string();
    let repo = Repo::signer(&tb, "independent", &email);
    std::fs::write(repo.path().join("f"), "content\n").unwrap();
    repo.git_ok(&["add", "f"]);
    let o = repo.git(&[
        "commit",
        "-q",
        "-S",
        "-m",
        "signed for independent verifiers",
    ]);
    assert!(o.status.success(), "{}", text(&o));

    let tmp = TempDir::new("indep");
    let bundle = tmp.path().join("commit.sigstore.json");
    let artifact = tmp.path().join("signed-attributes.der");
    let o = repo.gitsign(&[
        "export-bundle",
        "HEAD",
        "--output",
        &bundle.display().to_string(),
        "--artifact",
        &artifact.display().to_string(),
    ]);
    assert!(o.status.success(), "{}", text(&o));

    // sigstore-python, with the testbed's trust root and nothing else.
    let sp = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/testbed/sigstore-python");
    let run = |art: &Path, id: &str| {
        Command::new(&sp)
            .args([
                "--trust-config",
                tb.var("TESTBED_CTC"),
                "verify",
                "identity",
            ])
            .args([
                "--bundle",
                &bundle.display().to_string(),
                "--cert-identity",
                id,
                "--cert-oidc-issuer",
                &issuer,
            ])
            .arg(art)
            .output()
            .unwrap()
    };
    let o = run(&artifact, &email);
    assert!(
        o.status.success(),
        "sigstore-python rejected our bundle:\n{}",
        text(&o)
    );
    assert!(text(&o).contains("OK"), "{}", text(&o));
    let o = run(&artifact, "mallory@example.com");
    assert!(
        !o.status.success(),
        "sigstore-python accepted the wrong identity"
    );
    let tampered = tmp.path().join("tampered.der");
    let mut bytes = std::fs::read(&artifact).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&tampered, bytes).unwrap();
    assert!(
        !run(&tampered, &email).status.success(),
        "sigstore-python accepted a tampered artifact"
    );

    // OpenSSL: the CMS signature over the commit and the chain to the testbed's Fulcio.
    let commit = repo.git_ok(&["cat-file", "commit", "HEAD"]) + "\n";
    let s =
        gitsign::git::gitobj::split_commit(commit.as_bytes(), gitsign::git::gitobj::HashAlgo::Sha1)
            .unwrap()
            .unwrap();
    let (sig, payload) = (tmp.path().join("sig.pem"), tmp.path().join("payload"));
    std::fs::write(
        &sig,
        String::from_utf8_lossy(&s.signature).replace("SIGNED MESSAGE", "CMS"),
    )
    .unwrap();
    std::fs::write(&payload, &s.payload).unwrap();
    let chain = Path::new(tb.var("TESTBED_STATE")).join("fulcio_chain.pem");
    let o = Command::new("openssl")
        .args([
            "cms", "-verify", "-binary", "-purpose", "any", "-inform", "PEM", "-in",
        ])
        .arg(&sig)
        .arg("-content")
        .arg(&payload)
        .arg("-CAfile")
        .arg(&chain)
        .args(["-out", "/dev/null"])
        .arg("-attime")
        .arg(gitsign::encoding::time::now().to_string())
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "openssl rejected our CMS:\n{}",
        text(&o)
    );
}
