//! Every corpus case through real git (`git verify-commit`, `git
//! verify-tag`, `%G?`/`%GS`/`%GF`) and through `gitsign verify` /
//! `gitsign verify-tag`, with the verdict the manifest gives.

mod common;

use common::{empty_rekor, fixtures, manifest, reason_words, text, Repo};
use gitsign::git::gitobj::{self, HashAlgo, ObjectKind};

/// The SHA-256 fingerprint of the signing certificate (the one with the
/// manifest's serial), computed by OpenSSL rather than by the code under
/// test: the signature's PEM body decoded, `openssl pkcs7 -print_certs`,
/// then `openssl x509 -fingerprint -sha256` of each certificate.
fn leaf_fingerprint(file: &std::path::Path, kind: ObjectKind, serial: &str) -> String {
    use base64::Engine;
    use std::io::Write;
    use std::process::{Command, Stdio};
    let data = std::fs::read(file).unwrap();
    let s = gitobj::split(&data, kind, HashAlgo::Sha1).unwrap().unwrap();
    let body: String = String::from_utf8(s.signature)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(body)
        .unwrap();
    let run = |args: &[&str], input: &[u8]| {
        let mut c = Command::new("openssl")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("openssl is installed (tests/run installs it)");
        c.stdin.take().unwrap().write_all(input).unwrap();
        let o = c.wait_with_output().unwrap();
        assert!(o.status.success(), "openssl {args:?} failed");
        String::from_utf8(o.stdout).unwrap()
    };
    let certs = run(&["pkcs7", "-inform", "DER", "-print_certs"], &der);
    let want = serial.trim_start_matches('0').to_ascii_uppercase();
    for pem in certs.split_inclusive("-----END CERTIFICATE-----\n") {
        if !pem.contains("BEGIN CERTIFICATE") {
            continue;
        }
        let info = run(
            &["x509", "-noout", "-serial", "-fingerprint", "-sha256"],
            pem.as_bytes(),
        );
        let field = |k: &str| {
            info.lines()
                .find_map(|l| l.split_once(k).map(|(_, v)| v.trim().to_string()))
                .unwrap()
        };
        if field("serial=").trim_start_matches('0') == want {
            return field("Fingerprint=").replace(':', "");
        }
    }
    panic!("{}: no certificate with serial {serial}", file.display());
}

/// The `%G?` letter and status line the table in docs/verification.md gives for a
/// manifest reason: B (BADSIG) for a bad signature or an untrusted
/// certificate or log entry, E (ERRSIG) when nothing could be checked.
fn expected_status(reason: &str) -> (&'static str, &'static str) {
    let unchecked = [
        "unparseable signature",
        "signer cert not found",
        "duplicate header(s) gpgsig",
    ];
    if unchecked.iter().any(|r| reason.contains(r)) {
        ("E", "[GNUPG:] ERRSIG")
    } else {
        ("B", "[GNUPG:] BADSIG")
    }
}

#[test]
fn corpus_through_git_and_gitsign_verify() {
    let repo = Repo::new("corpus");
    let rekor = empty_rekor();
    let entries = manifest();
    assert_eq!(entries.len(), 48);
    for e in &entries {
        let label = e["label"].as_str().unwrap();
        let file = fixtures().join(e["file"].as_str().unwrap());
        let is_tag = e["objectType"] == "tag";
        let kind = if is_tag {
            ObjectKind::Tag
        } else {
            ObjectKind::Commit
        };
        let mut expected = e["expected"].as_str().unwrap().to_string();
        if label == "gs_commit_legacy_splitattrs" {
            expected = "valid".into(); // the manifest's expectedAlt: we verify this layout
        }
        let online = e["rekorMode"] == "online" && label != "stripped_tlog";
        let id = repo.add_object(kind.name(), &file);
        // A tag under the name its object carries (a tag ref naming
        // another tag is refused by gitsign verify-tag).
        let tag_name = gitsign::git::revs::tag_header(&std::fs::read(&file).unwrap())
            .unwrap_or_else(|| format!("t-{label}"));
        if is_tag {
            repo.git_ok(&["update-ref", &format!("refs/tags/{tag_name}"), &id]);
        }
        // The user's configuration for this case.
        let staging = e["trustRoot"] == "trusted_root.staging.json";
        let root = fixtures().join(if staging {
            "trust/trusted_root.staging.json"
        } else {
            "trust/trusted_root.prod.json"
        });
        repo.git_ok(&["config", "gitsign.trustedRoot", &root.display().to_string()]);
        repo.git_ok(&["config", "gitsign.rekor", &rekor]);
        repo.git_ok(&[
            "config",
            "gitsign.verifyTlog",
            if online { "skip" } else { "require" },
        ]);
        let san = e["signerSAN"][0]
            .as_str()
            .unwrap_or("email:nobody@example.com");
        let identity = san
            .split_once(':')
            .map(|(_, v)| v)
            .unwrap_or(san)
            .split(',')
            .next()
            .unwrap()
            .to_string();
        let issuer = e["oidcIssuerV2_57264.1.8"]
            .as_str()
            .or(e["oidcIssuerV1_57264.1.1"].as_str())
            .unwrap_or("https://none")
            .to_string();
        repo.git_ok(&[
            "config",
            "--replace-all",
            "gitsign.certificateIdentity",
            &identity,
        ]);
        repo.git_ok(&[
            "config",
            "--replace-all",
            "gitsign.certificateOidcIssuer",
            &issuer,
        ]);

        let verify = if is_tag {
            repo.git(&["verify-tag", "--raw", &tag_name])
        } else {
            repo.git(&["verify-commit", "--raw", &id])
        };
        let out = text(&verify);
        if expected == "valid" {
            assert!(
                verify.status.success(),
                "{label}: git verify failed:\n{out}"
            );
            let fpr = leaf_fingerprint(&file, kind, e["certSerial"].as_str().unwrap());
            assert!(
                out.contains(&format!("[GNUPG:] GOODSIG {fpr} {identity}")),
                "{label}: {out}"
            );
            assert!(out.contains("[GNUPG:] TRUST_FULLY"), "{label}: {out}");
            // Without --raw git shows what gitsign wrote to stderr.
            let plain = if is_tag {
                repo.git(&["verify-tag", &tag_name])
            } else {
                repo.git(&["verify-commit", &id])
            };
            let plain = text(&plain);
            assert!(
                plain.contains(&format!("Good signature from {identity}")),
                "{label}: {plain}"
            );
            if online {
                assert!(
                    plain.contains("the transparency log was not checked"),
                    "{label}: {plain}"
                );
            } else {
                // The report states what the log's signatures covered.
                assert!(
                    plain.contains("(transparency log time; log entry embedded): Rekor entry ")
                        && plain.contains("signed entry timestamp verified; inclusion proven in tree rekor.sigstore.dev - ")
                        && plain.contains("checkpoint signed by the log"),
                    "{label}: {plain}"
                );
            }
            if !is_tag {
                let f = repo.git_ok(&["log", "-1", "--format=%G?|%GS|%GF|%GT", &id]);
                assert_eq!(f, format!("G|{identity}|{fpr}|fully"), "{label}");
            }
            // gitsign verify / verify-tag with flags instead of config.
            let mut args: Vec<String> = if is_tag {
                vec!["verify-tag".into(), tag_name.clone()]
            } else {
                vec!["verify".into(), id.clone()]
            };
            args.extend([
                "--certificate-identity".into(),
                identity.clone(),
                "--certificate-oidc-issuer".into(),
                issuer.clone(),
            ]);
            let o = repo.gitsign(&args.iter().map(String::as_str).collect::<Vec<_>>());
            assert!(
                o.status.success(),
                "{label}: gitsign verify failed:\n{}",
                text(&o)
            );
            assert!(
                text(&o).contains(&format!("Good signature from {identity}")),
                "{label}: {}",
                text(&o)
            );
            // Someone else's identity is rejected.
            let mut other = args.clone();
            other[3] = "someone-else@example.com".into();
            let o = repo.gitsign(&other.iter().map(String::as_str).collect::<Vec<_>>());
            assert_eq!(o.status.code(), Some(1), "{label}: {}", text(&o));
            assert!(text(&o).contains("REJECTED"), "{label}: {}", text(&o));
        } else {
            assert!(
                !verify.status.success(),
                "{label}: git accepted an invalid object:\n{out}"
            );
            let words = reason_words(&expected);
            // Through git, a duplicated gpgsig header arrives as two
            // concatenated signatures: the message names that ambiguity.
            let git_words = if words.starts_with("duplicate header") {
                "ambiguous signature"
            } else {
                words
            };
            assert!(!out.contains("GOODSIG"), "{label}: {out}");
            let (letter, status) = expected_status(&expected);
            assert!(
                out.contains(status),
                "{label}: expected {status} in:\n{out}"
            );
            let plain = if is_tag {
                repo.git(&["verify-tag", &tag_name])
            } else {
                repo.git(&["verify-commit", &id])
            };
            assert!(!plain.status.success(), "{label}");
            assert!(
                text(&plain).contains(git_words),
                "{label}: expected {git_words:?} in:\n{}",
                text(&plain)
            );
            if !is_tag {
                let g = repo.git_ok(&["log", "-1", "--format=%G?", &id]);
                assert_eq!(g, letter, "{label}: %G?");
            }
            let args: Vec<String> = if is_tag {
                vec!["verify-tag".into(), tag_name.clone()]
            } else {
                vec!["verify".into(), id.clone()]
            };
            let o = repo.gitsign(&args.iter().map(String::as_str).collect::<Vec<_>>());
            assert_eq!(o.status.code(), Some(1), "{label}: {}", text(&o));
            assert!(
                text(&o).contains(words),
                "{label}: expected {words:?} in:\n{}",
                text(&o)
            );
        }
    }
}

#[test]
fn online_signatures_without_a_log_are_not_called_verified() {
    let repo = Repo::new("online");
    let id = repo.add_object(
        "commit",
        &fixtures().join("objects/gitsign/gs_td_e2e_online.commit"),
    );
    repo.git_ok(&["config", "gitsign.rekor", "http://127.0.0.1:9"]);
    let o = repo.git(&["verify-commit", &id]);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("cannot search the transparency log"),
        "{}",
        text(&o)
    );
    assert_eq!(repo.git_ok(&["log", "-1", "--format=%G?", &id]), "E");
    // The explicit opt-out says what was not checked.
    repo.git_ok(&["config", "gitsign.verifyTlog", "optional"]);
    let o = repo.git(&["verify-commit", &id]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("NOT confirmed by a transparency log"),
        "{}",
        text(&o)
    );
    // No identity policy: a good signature is shown as untrusted (U).
    assert_eq!(
        repo.git_ok(&["log", "-1", "--format=%G?|%GT", &id]),
        "U|undefined"
    );
}
