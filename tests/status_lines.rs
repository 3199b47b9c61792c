//! The status lines git parses (`--status-fd`), `%G?`/`%GK`/`%GF`/`%GP`/
//! `%GT`, and the exit codes, for every row of the table in docs/verification.md. The
//! expected fingerprints and times come from OpenSSL and the corpus
//! manifest, not from the code under test.

mod common;

use std::io::Write;
use std::process::{Command, Output, Stdio};

use common::{fixtures, manifest, text, Repo};
use gitsign::git::gitobj::{self, HashAlgo, ObjectKind};

fn openssl(args: &[&str], input: &[u8]) -> String {
    let mut c = Command::new("openssl")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("openssl is installed (tests/run installs it)");
    c.stdin.take().unwrap().write_all(input).unwrap();
    let o = c.wait_with_output().unwrap();
    assert!(o.status.success(), "openssl {args:?}");
    String::from_utf8(o.stdout).unwrap()
}

/// SHA-256 fingerprint (upper hex) of a DER certificate, by OpenSSL.
fn fingerprint(der: &[u8]) -> String {
    let out = openssl(
        &[
            "x509",
            "-inform",
            "DER",
            "-noout",
            "-fingerprint",
            "-sha256",
        ],
        der,
    );
    out.trim().split_once('=').unwrap().1.replace(':', "")
}

fn pem_body(pem: &[u8]) -> Vec<u8> {
    use base64::Engine;
    let text = String::from_utf8(pem.to_vec()).unwrap();
    let body: String = text
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .unwrap()
}

/// The leaf (by the manifest's serial) among the CMS's certificates.
fn leaf_der(sig_der: &[u8], serial: &str) -> Vec<u8> {
    let certs = openssl(&["pkcs7", "-inform", "DER", "-print_certs"], sig_der);
    for pem in certs.split_inclusive("-----END CERTIFICATE-----\n") {
        if !pem.contains("BEGIN CERTIFICATE") {
            continue;
        }
        let s = openssl(&["x509", "-noout", "-serial"], pem.as_bytes());
        if s.trim()
            .trim_start_matches("serial=")
            .trim_start_matches('0')
            == serial.trim_start_matches('0').to_ascii_uppercase()
        {
            return pem_body(pem.as_bytes());
        }
    }
    panic!("no certificate with serial {serial}");
}

/// The intermediate of the public-good root that issued current leaves.
fn issuer_der() -> Vec<u8> {
    use base64::Engine;
    let root: serde_json::Value = serde_json::from_slice(
        &std::fs::read(fixtures().join("trust/trusted_root.prod.json")).unwrap(),
    )
    .unwrap();
    for ca in root["certificateAuthorities"].as_array().unwrap() {
        for c in ca["certChain"]["certificates"].as_array().unwrap() {
            let der = base64::engine::general_purpose::STANDARD
                .decode(c["rawBytes"].as_str().unwrap())
                .unwrap();
            let subject = openssl(&["x509", "-inform", "DER", "-noout", "-subject"], &der);
            let dates = openssl(&["x509", "-inform", "DER", "-noout", "-enddate"], &der);
            if subject.contains("sigstore-intermediate") && dates.contains("2031") {
                return der;
            }
        }
    }
    panic!("no current intermediate in the prod root");
}

fn entry(label: &str) -> serde_json::Value {
    manifest()
        .into_iter()
        .find(|e| e["label"] == label)
        .unwrap()
}

/// `gitsign --status-fd=1 --verify SIG -` as git runs it, in `repo`.
fn gpg_verify(repo: &Repo, object: &[u8]) -> Output {
    let s = gitobj::split(object, ObjectKind::Commit, HashAlgo::Sha1)
        .unwrap()
        .unwrap();
    let sig = repo.dir.path().join("sig.pem");
    std::fs::write(&sig, &s.signature).unwrap();
    let mut c = common::gitsign_command();
    c.args(["--status-fd=1", "--verify", &sig.display().to_string(), "-"])
        .current_dir(repo.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in &repo.env {
        c.env(k, v);
    }
    let mut child = c.spawn().unwrap();
    child.stdin.take().unwrap().write_all(&s.payload).unwrap();
    child.wait_with_output().unwrap()
}

fn load(repo: &Repo, label: &str) -> (String, Vec<u8>) {
    let e = entry(label);
    let file = fixtures().join(e["file"].as_str().unwrap());
    (
        repo.add_object("commit", &file),
        std::fs::read(file).unwrap(),
    )
}

#[test]
fn every_row_of_the_status_table() {
    let repo = Repo::new("status");
    let e = entry("gs_commit_offline_latest");
    let (id, bytes) = load(&repo, "gs_commit_offline_latest");
    let s = gitobj::split(&bytes, ObjectKind::Commit, HashAlgo::Sha1)
        .unwrap()
        .unwrap();
    let leaf = leaf_der(&pem_body(&s.signature), e["certSerial"].as_str().unwrap());
    let fpr = fingerprint(&leaf);
    let issuer_fpr = fingerprint(&issuer_der());
    let t = e["tlog"]["integratedTime"].as_i64().unwrap();
    let not_after = openssl(&["x509", "-inform", "DER", "-noout", "-enddate"], &leaf);
    let not_after = Command::new("date")
        .args([
            "-u",
            "-d",
            not_after.trim().trim_start_matches("notAfter="),
            "+%s",
        ])
        .output()
        .unwrap();
    let not_after = String::from_utf8(not_after.stdout)
        .unwrap()
        .trim()
        .to_string();
    let date = String::from_utf8(
        Command::new("date")
            .args(["-u", "-d", &format!("@{t}"), "+%Y-%m-%d"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap()
    .trim()
    .to_string();
    let identity = "billy@chainguard.dev";
    let validsig =
        format!("[GNUPG:] VALIDSIG {fpr} {date} {t} {not_after} 0 - 19 8 00 {issuer_fpr}\n");
    let format = "%G?|%GK|%GF|%GP|%GS|%GT";

    // Good, no policy: TRUST_UNDEFINED, U, exit 0.
    let o = gpg_verify(&repo, &bytes);
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(
        out,
        format!(
            "[GNUPG:] NEWSIG\n[GNUPG:] GOODSIG {fpr} {identity}\n{validsig}[GNUPG:] TRUST_UNDEFINED 0 shell\n"
        )
    );
    assert_eq!(
        repo.git_ok(&["log", "-1", &format!("--format={format}"), &id]),
        format!("U|{fpr}|{fpr}|{issuer_fpr}|{identity}|undefined")
    );

    // Good, signer allowed: TRUST_FULLY, G, exit 0.
    repo.git_ok(&["config", "gitsign.certificateIdentity", identity]);
    repo.git_ok(&[
        "config",
        "gitsign.certificateOidcIssuer",
        "https://accounts.google.com",
    ]);
    let o = gpg_verify(&repo, &bytes);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout)
            .ends_with(&format!("{validsig}[GNUPG:] TRUST_FULLY 0 shell\n")),
        "{}",
        text(&o)
    );
    assert_eq!(
        repo.git_ok(&["log", "-1", &format!("--format={format}"), &id]),
        format!("G|{fpr}|{fpr}|{issuer_fpr}|{identity}|fully")
    );

    // Good, signer not allowed: TRUST_NEVER, U, exit 1.
    repo.git_ok(&[
        "config",
        "--replace-all",
        "gitsign.certificateIdentity",
        "someone@example.com",
    ]);
    let o = gpg_verify(&repo, &bytes);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout)
            .ends_with(&format!("{validsig}[GNUPG:] TRUST_NEVER 0 shell\n")),
        "{}",
        text(&o)
    );
    assert!(
        text(&o).contains("Signer REJECTED by policy"),
        "{}",
        text(&o)
    );
    assert_eq!(
        repo.git_ok(&["log", "-1", "--format=%G?|%GT", &id]),
        "U|never"
    );

    // Bad signature: BADSIG with the certificate's fingerprint and
    // identity, B, exit 1.
    let (bad_id, bad) = load(&repo, "tamper_sig_value");
    let be = entry("tamper_sig_value");
    let bs = gitobj::split(&bad, ObjectKind::Commit, HashAlgo::Sha1)
        .unwrap()
        .unwrap();
    let bad_fpr = fingerprint(&leaf_der(
        &pem_body(&bs.signature),
        be["certSerial"].as_str().unwrap(),
    ));
    let o = gpg_verify(&repo, &bad);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        format!("[GNUPG:] NEWSIG\n[GNUPG:] BADSIG {bad_fpr} {identity}\n")
    );
    assert!(text(&o).contains("BAD signature"), "{}", text(&o));
    assert_eq!(
        repo.git_ok(&["log", "-1", "--format=%G?|%GK|%GS", &bad_id]),
        format!("B|{bad_fpr}|{identity}")
    );

    // Nothing checkable: ERRSIG, E, exit 2.
    let (err_id, unreadable) = load(&repo, "truncated_pem");
    let o = gpg_verify(&repo, &unreadable);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "[GNUPG:] NEWSIG\n[GNUPG:] ERRSIG 0000000000000000 0 0 00 0 9\n"
    );
    assert_eq!(repo.git_ok(&["log", "-1", "--format=%G?", &err_id]), "E");

    // A service needed to decide is unreachable: ERRSIG with the
    // certificate's fingerprint, E, exit 2.
    repo.git_ok(&["config", "gitsign.rekor", "http://127.0.0.1:9"]);
    let (on_id, online) = load(&repo, "gs_td_e2e_online");
    let oe = entry("gs_td_e2e_online");
    let os = gitobj::split(&online, ObjectKind::Commit, HashAlgo::Sha1)
        .unwrap()
        .unwrap();
    let on_fpr = fingerprint(&leaf_der(
        &pem_body(&os.signature),
        oe["certSerial"].as_str().unwrap(),
    ));
    let o = gpg_verify(&repo, &online);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        format!("[GNUPG:] NEWSIG\n[GNUPG:] ERRSIG {on_fpr} 19 8 00 0 9 {on_fpr}\n")
    );
    assert!(
        text(&o).contains("cannot search the transparency log"),
        "{}",
        text(&o)
    );
    assert_eq!(repo.git_ok(&["log", "-1", "--format=%G?", &on_id]), "E");
}
