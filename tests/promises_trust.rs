//! Promises of docs/trust.md and docs/verification.md that no other test
//! pinned: explicit settings win over the TUF cache (the trusted root and
//! the service URLs), through real git after `gitsign initialize`; and
//! each field of the leaf profile verification requires (code-signing
//! EKU, not a CA, key usage allowing signatures), at the library level,
//! on certificates OpenSSL makes. Each row of docs/promises.md that names
//! this file is one assertion here.

mod common;

use common::{fixtures, text, Repo, TempDir, Testbed};

#[test]
fn explicit_settings_win_over_the_tuf_cache() {
    let tb = Testbed::start();
    let repo = Repo::newcomer(&tb, "prom-trust");
    let o = repo.gitsign(&[
        "initialize",
        "--mirror",
        tb.var("TESTBED_TUF_MIRROR"),
        "--root",
        tb.var("TESTBED_TUF_ROOT"),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    std::fs::write(repo.path().join("f"), "x\n").unwrap();
    repo.git_ok(&["add", "f"]);
    let o = repo.git(&["commit", "-q", "-S", "-m", "signed"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = repo.git(&["verify-commit", "HEAD"]);
    assert!(o.status.success(), "{}", text(&o));
    let v = text(&repo.gitsign(&["version"]));
    assert!(
        v.contains(&format!(
            "trusted root: the TUF mirror {}",
            tb.var("TESTBED_TUF_MIRROR")
        )),
        "{v}"
    );

    // gitsign.trustedRoot (here the public-good root, which does not know
    // the testbed) wins over the TUF cache: the commit no longer verifies,
    // and `gitsign version` names the file.
    let prod = fixtures().join("trust/trusted_root.prod.json");
    let prod = prod.display().to_string();
    let o = repo.git(&[
        "-c",
        &format!("gitsign.trustedRoot={prod}"),
        "verify-commit",
        "HEAD",
    ]);
    assert!(!o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("does not chain to a Fulcio CA"),
        "{}",
        text(&o)
    );
    let o = repo
        .gitsign_cmd(&["version"])
        .env("GITSIGN_TRUSTED_ROOT", &prod)
        .output()
        .unwrap();
    assert!(text(&o).contains(&prod), "{}", text(&o));
    assert!(
        !text(&o).contains("trusted root: the TUF mirror"),
        "{}",
        text(&o)
    );

    // An explicit service URL wins over the signing config's: signing goes
    // to the dead Fulcio it names, and nothing is committed.
    let head = repo.git_ok(&["rev-parse", "HEAD"]);
    std::fs::write(repo.path().join("g"), "y\n").unwrap();
    repo.git_ok(&["add", "g"]);
    let o = repo.git(&[
        "-c",
        "gitsign.fulcio=http://127.0.0.1:9",
        "commit",
        "-q",
        "-S",
        "-m",
        "dead fulcio",
    ]);
    assert!(!o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("127.0.0.1:9"), "{}", text(&o));
    assert_eq!(repo.git_ok(&["rev-parse", "HEAD"]), head);
}

/// A self-signed certificate with the extensions `ext` (an OpenSSL
/// extension section's lines).
fn cert_with(dir: &TempDir, name: &str, ext: &str) -> gitsign::pki::x509::Certificate {
    let conf = dir.path().join(format!("{name}.cnf"));
    std::fs::write(
        &conf,
        format!("[req]\ndistinguished_name=dn\n[dn]\n[ext]\n{ext}\nsubjectAltName=email:a@example.com\n"),
    )
    .unwrap();
    let key = dir.path().join(format!("{name}.key"));
    let crt = dir.path().join(format!("{name}.der"));
    let o = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-subj",
            "/CN=leaf",
            "-days",
            "1",
            "-outform",
            "DER",
            "-extensions",
            "ext",
        ])
        .arg("-config")
        .arg(&conf)
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&crt)
        .output()
        .expect("openssl is installed (tests/run installs it)");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    gitsign::pki::x509::Certificate::from_der(std::fs::read(&crt).unwrap()).unwrap()
}

#[test]
fn the_leaf_profile_is_checked() {
    let dir = TempDir::new("prom-leaf");
    let ok = cert_with(
        &dir,
        "good",
        "keyUsage=critical,digitalSignature\nextendedKeyUsage=codeSigning",
    );
    assert_eq!(gitsign::pki::chain::check_leaf_profile(&ok), Ok(()));
    for (name, ext, words) in [
        (
            "no-eku",
            "keyUsage=critical,digitalSignature",
            "not for code signing",
        ),
        (
            "server-auth",
            "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth",
            "not for code signing",
        ),
        (
            "ca",
            "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=codeSigning",
            "is a CA certificate",
        ),
        (
            "cert-sign-only",
            "keyUsage=critical,keyCertSign\nextendedKeyUsage=codeSigning",
            "key usage does not allow digital signatures",
        ),
    ] {
        let c = cert_with(&dir, name, ext);
        let e = gitsign::pki::chain::check_leaf_profile(&c).expect_err(name);
        assert!(e.contains(words), "{name}: {e}");
    }
}
