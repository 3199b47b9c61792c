//! What a Go gitsign user's setup and scripts rely on, through real git
//! and the testbed: `gitsign.matchCommitter` with a workload's URI identity
//! (Go's documented GitHub Actions recipe), Go's summary lines from
//! `gitsign verify` for a trusted signer and never "Good signature" for a
//! rejected one, `gitsign --version`, `gitsign.enableSigstoreGo`, the hint
//! for a regular expression written for Go's match-anywhere semantics, and
//! a relative `GITSIGN_CREDENTIAL_CACHE`.

mod common;

use common::{daemon_bin, scrub_env, text, Repo, Testbed};

const WORKFLOW: &str =
    "https://github.com/testbed-org/testbed-repo/.github/workflows/ci.yml@refs/heads/main";

/// A repository whose signer is the testbed's GitHub Actions workflow, and
/// whose committer name comes from `user.name` (as Go's recipe sets it).
fn actions_repo(tb: &Testbed, tag: &str) -> Repo {
    let mut repo = Repo::new(tag);
    repo.env.extend(tb.gitsign_env());
    repo.env.retain(|(k, _)| k != "GIT_COMMITTER_NAME");
    repo.env
        .push(("GITSIGN_TOKEN_PROVIDER".into(), "github-actions".into()));
    repo.env.push((
        "ACTIONS_ID_TOKEN_REQUEST_URL".into(),
        tb.var("TESTBED_ACTIONS_ID_TOKEN_REQUEST_URL").into(),
    ));
    repo.env.push((
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN".into(),
        tb.var("TESTBED_ACTIONS_ID_TOKEN_REQUEST_TOKEN").into(),
    ));
    repo.git_ok(&["config", "gitsign.matchCommitter", "true"]);
    repo.git_ok(&["config", "gitsign.credentialCache", "off"]);
    repo
}

#[test]
fn match_committer_accepts_a_workflow_uri_as_the_committer_name() {
    let tb = Testbed::start();
    let repo = actions_repo(&tb, "mc-uri");
    // Go's recipe: user.name is the workflow's URI identity.
    repo.git_ok(&["config", "user.name", WORKFLOW]);
    std::fs::write(repo.path().join("f"), "ci").unwrap();
    repo.git_ok(&["add", "f"]);
    let o = repo.git(&["commit", "-q", "-S", "-m", "signed in CI"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        repo.git_ok(&["log", "-1", "--format=%cn|%G?"]),
        format!("{WORKFLOW}|U")
    );
    let entries = tb.stats()["rekor_entries"].as_u64().unwrap();

    // Another name: refused before anything is logged, saying what the
    // certificate names and what it must match.
    repo.git_ok(&["config", "user.name", "https://github.com/someone/else"]);
    let o = repo.git(&["commit", "-q", "-S", "--allow-empty", "-m", "other"]);
    assert!(!o.status.success());
    let t = text(&o);
    assert!(t.contains("gitsign.matchCommitter"), "{t}");
    assert!(t.contains(&format!("URI {WORKFLOW}")), "{t}");
    assert!(t.contains("https://github.com/someone/else"), "{t}");
    assert!(t.contains("committer's name"), "{t}");
    assert_eq!(tb.stats()["rekor_entries"].as_u64().unwrap(), entries);

    // The committer's email equal to the URI is not a match: URIs compare
    // with the name only.
    repo.git_ok(&["config", "user.name", "CI"]);
    repo.git_ok(&["config", "user.email", WORKFLOW]);
    let o = repo.git(&["commit", "-q", "-S", "--allow-empty", "-m", "email"]);
    assert!(!o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("gitsign.matchCommitter"), "{}", text(&o));
}

#[test]
fn match_committer_compares_emails_for_people() {
    let tb = Testbed::start();
    let mut repo = Repo::new("mc-email");
    repo.env.extend(tb.gitsign_env());
    repo.env
        .push(("GITSIGN_TOKEN_PROVIDER".into(), "environment".into()));
    repo.env.push((
        "SIGSTORE_ID_TOKEN".into(),
        tb.token("Test@Example.com", 900),
    ));
    repo.git_ok(&["config", "gitsign.matchCommitter", "true"]);
    repo.git_ok(&["config", "gitsign.credentialCache", "off"]);
    // The committer is test@example.com (the harness's GIT_COMMITTER_EMAIL):
    // emails compare without regard to case.
    let o = repo.git(&["commit", "-q", "-S", "--allow-empty", "-m", "mine"]);
    assert!(o.status.success(), "{}", text(&o));
    // A name equal to the certificate's email is no match (emails compare
    // with emails only).
    let mut other = Repo::new("mc-email2");
    other.env = repo.env.clone();
    other
        .env
        .retain(|(k, _)| k != "GIT_COMMITTER_EMAIL" && k != "GIT_COMMITTER_NAME");
    other
        .env
        .push(("GIT_COMMITTER_NAME".into(), "Test@Example.com".into()));
    other
        .env
        .push(("GIT_COMMITTER_EMAIL".into(), "someone@example.com".into()));
    other.git_ok(&["config", "gitsign.matchCommitter", "true"]);
    other.git_ok(&["config", "gitsign.credentialCache", "off"]);
    let o = other.git(&["commit", "-q", "-S", "--allow-empty", "-m", "theirs"]);
    assert!(!o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("email Test@Example.com") && text(&o).contains("someone@example.com"),
        "{}",
        text(&o)
    );
}

fn signed_repo(tb: &Testbed, tag: &str) -> Repo {
    let mut repo = Repo::new(tag);
    repo.env.extend(tb.gitsign_env());
    repo.env
        .push(("GITSIGN_TOKEN_PROVIDER".into(), "environment".into()));
    repo.env.push((
        "SIGSTORE_ID_TOKEN".into(),
        tb.token("testbed-user@example.com", 900),
    ));
    repo.git_ok(&["config", "gitsign.credentialCache", "off"]);
    let o = repo.git(&["commit", "-q", "-S", "--allow-empty", "-m", "signed"]);
    assert!(o.status.success(), "{}", text(&o));
    repo
}

#[test]
fn verify_prints_go_lines_for_a_trusted_signer_and_no_good_for_a_rejected_one() {
    let tb = Testbed::start();
    let repo = signed_repo(&tb, "golines");
    let issuer = tb.var("GITSIGN_OIDC_ISSUER");
    let o = repo.gitsign(&[
        "verify",
        "--certificate-identity",
        "testbed-user@example.com",
        "--certificate-oidc-issuer",
        issuer,
        "HEAD",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    let lines: Vec<&str> = out.lines().collect();
    // Go's lines, in Go's order, after ours.
    let at = lines
        .iter()
        .position(|l| l.starts_with("tlog index: "))
        .unwrap_or_else(|| panic!("no tlog index line: {out}"));
    let index: u64 = lines[at]["tlog index: ".len()..].parse().unwrap();
    assert!(
        out.contains(&format!("Rekor entry {index}"))
            || out.contains(&format!("Rekor {index}"))
            || out.contains(&format!("index {index}")),
        "the tlog index line names another entry than ours: {out}"
    );
    let made = lines[at + 1];
    let rest = made
        .strip_prefix("gitsign: Signature made using certificate ID 0x")
        .unwrap_or_else(|| panic!("{out}"));
    let (id, issuer_dn) = rest.split_once(" | ").unwrap();
    assert_eq!(id.len(), 40, "a SHA-1 fingerprint: {made}");
    assert!(id
        .bytes()
        .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
    assert!(issuer_dn.contains("CN="), "{made}");
    // The SHA-1 of the leaf's DER, computed here with openssl from the
    // certificate git's signature carries.
    let sig = repo.git_ok(&["cat-file", "commit", "HEAD"]);
    let pem: String = sig
        .lines()
        .skip_while(|l| !l.starts_with("gpgsig "))
        .map(|l| l.trim_start_matches("gpgsig ").trim_start())
        .take_while(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("\n");
    let dir = common::TempDir::new("golines-sig");
    let sig_file = dir.path().join("sig.pem");
    std::fs::write(
        &sig_file,
        format!("{pem}\n").replace("SIGNED MESSAGE", "PKCS7"),
    )
    .unwrap();
    let certs = std::process::Command::new("openssl")
        .args(["pkcs7", "-inform", "PEM", "-print_certs", "-in"])
        .arg(&sig_file)
        .output()
        .unwrap();
    assert!(certs.status.success(), "{}", text(&certs));
    let cert_file = dir.path().join("leaf.pem");
    std::fs::write(&cert_file, &certs.stdout).unwrap();
    let fpr = std::process::Command::new("openssl")
        .args(["x509", "-noout", "-fingerprint", "-sha1", "-in"])
        .arg(&cert_file)
        .output()
        .unwrap();
    let fpr = String::from_utf8_lossy(&fpr.stdout)
        .split('=')
        .nth(1)
        .unwrap()
        .trim()
        .replace(':', "")
        .to_ascii_lowercase();
    assert_eq!(id, fpr, "{out}");
    assert_eq!(
        lines[at + 2],
        format!("gitsign: Good signature from [testbed-user@example.com]({issuer})")
    );
    assert_eq!(lines[at + 3], "Validated Git signature: true");
    assert_eq!(lines[at + 4], "Validated Rekor entry: true");
    assert_eq!(lines[at + 5], "Validated Certificate claims: true");

    // A signer the policy rejects: exit 1, and "Good signature" nowhere,
    // neither from gitsign verify nor through git.
    let o = repo.gitsign(&[
        "verify",
        "--certificate-identity",
        "someone-else@example.com",
        "--certificate-oidc-issuer",
        issuer,
        "HEAD",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(!text(&o).contains("Good signature"), "{}", text(&o));
    assert!(!text(&o).contains("tlog index"), "{}", text(&o));
    assert!(text(&o).contains("REJECTED"), "{}", text(&o));
    repo.git_ok(&[
        "config",
        "gitsign.certificateIdentity",
        "someone-else@example.com",
    ]);
    repo.git_ok(&["config", "gitsign.certificateOidcIssuer", issuer]);
    let o = repo.git(&["log", "-1", "--show-signature"]);
    assert!(!text(&o).contains("Good signature"), "{}", text(&o));
    assert!(text(&o).contains("REJECTED"), "{}", text(&o));
    let o = repo.git(&["verify-commit", "HEAD"]);
    assert!(!text(&o).contains("Good signature"), "{}", text(&o));

    // A pattern written for Go's match-anywhere regular expressions: a
    // rejection with a hint, not an acceptance.
    let o = repo.gitsign(&[
        "verify",
        "--certificate-identity-regexp",
        "@example\\.com",
        "--certificate-oidc-issuer",
        issuer,
        "HEAD",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("must match the whole value (Go gitsign's match anywhere in it)"),
        "{}",
        text(&o)
    );
}

#[test]
fn version_flag_and_enable_sigstore_go() {
    let repo = Repo::new("goversion");
    let o = repo.gitsign(&["--version"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.starts_with(&format!("gitsign version {}", env!("CARGO_PKG_VERSION"))),
        "{out}"
    );
    assert!(
        out.contains("rekorMode"),
        "the resolved configuration: {out}"
    );
    assert_eq!(
        String::from_utf8_lossy(&repo.gitsign(&["version"]).stdout),
        out,
        "--version and version differ"
    );
    assert!(!out.contains("enableSigstoreGo is"), "{out}");

    repo.git_ok(&["config", "gitsign.enableSigstoreGo", "true"]);
    let o = repo.gitsign(&["version"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("enableSigstoreGo"), "{out}");
    assert!(out.contains("it has no effect here"), "{out}");
    // Not a boolean: a configuration error naming the key, exit 2.
    let o = repo
        .gitsign_cmd(&["version"])
        .env("GITSIGN_ENABLE_SIGSTORE_GO", "sometimes")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("gitsign.enableSigstoreGo"),
        "{}",
        text(&o)
    );
}

#[test]
fn a_relative_credential_cache_path_is_taken_from_the_working_directory() {
    let tb = Testbed::start();
    let mut repo = Repo::new("relcache");
    repo.env.extend(tb.gitsign_env());
    repo.env
        .push(("GITSIGN_TOKEN_PROVIDER".into(), "environment".into()));
    repo.env.push((
        "SIGSTORE_ID_TOKEN".into(),
        tb.token("testbed-user@example.com", 900),
    ));
    // The daemon, started in the work tree with the same relative path,
    // listens where gitsign (which git runs in the work tree) looks.
    let sockdir = repo.path().join(".cache-sock");
    std::fs::create_dir(&sockdir).unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&sockdir, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    repo.env.push((
        "GITSIGN_CREDENTIAL_CACHE".into(),
        ".cache-sock/c.sock".into(),
    ));
    repo.git_ok(&["config", "gitsign.credentialCache", "daemon"]);
    let mut c = std::process::Command::new(daemon_bin());
    scrub_env(&mut c);
    let mut daemon = c
        .args(["--foreground"])
        .current_dir(repo.path())
        .env("HOME", repo.dir.path())
        .env("GITSIGN_CREDENTIAL_CACHE", ".cache-sock/c.sock")
        .env("GITSIGN_TRUSTED_ROOT", tb.var("GITSIGN_TRUSTED_ROOT"))
        .env("GITSIGN_REKOR_URL", tb.var("GITSIGN_REKOR_URL"))
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let sock = sockdir.join("c.sock");
    for _ in 0..300 {
        if sock.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let result = std::panic::catch_unwind(|| {
        assert!(
            sock.exists(),
            "the daemon did not listen on {}",
            sock.display()
        );
        for m in ["one", "two"] {
            let o = repo.git(&["commit", "-q", "-S", "--allow-empty", "-m", m]);
            assert!(o.status.success(), "{}", text(&o));
        }
        // One login served both signatures: the cache at the relative path
        // was used.
        assert_eq!(tb.stats()["fulcio_certificates"], 1, "{}", tb.stats());
        let o = repo.gitsign(&["cache", "status"]);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        assert!(
            text(&o).contains(&sock.display().to_string()),
            "{}",
            text(&o)
        );
    });
    let _ = daemon.kill();
    let _ = daemon.wait();
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
}

/// A unit file's `Key=value` (the first).
fn unit_value(text: &str, key: &str) -> String {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("no {key}= in {text}"))
        .to_string()
}

#[test]
fn go_gitsign_systemd_units_serve_this_daemon() {
    let units = common::fixtures().join("go-systemd");
    let service = std::fs::read_to_string(units.join("gitsign-credential-cache.service")).unwrap();
    let socket = std::fs::read_to_string(units.join("gitsign-credential-cache.socket")).unwrap();
    let exec = unit_value(&service, "ExecStart");
    let listen = unit_value(&socket, "ListenStream");
    assert_eq!(unit_value(&socket, "DirectoryMode"), "0700");
    // Go's unit as shipped, and as its users' recipes run it (with
    // --systemd-socket-activation).
    for flags in ["", " --systemd-socket-activation"] {
        let tb = Testbed::start();
        let mut repo = Repo::new("go-units");
        let home = repo.dir.path().join("home");
        let cache_dir = home.join(".cache");
        // systemd's specifiers: %h the home directory, %C the user's
        // cache directory; the binary where Go's unit expects it.
        let bin_dir = home.join(".local/bin");
        std::fs::create_dir_all(&bin_dir).unwrap();
        std::os::unix::fs::symlink(daemon_bin(), bin_dir.join("gitsign-credential-cache")).unwrap();
        let command = format!("{exec}{flags}").replace("%h", &home.display().to_string());
        let path = std::path::PathBuf::from(listen.replace("%C", &cache_dir.display().to_string()));
        // DirectoryMode=0700: systemd makes the socket's directories so.
        let mut d = path.parent().unwrap().to_path_buf();
        std::fs::create_dir_all(&d).unwrap();
        {
            use std::os::unix::fs::PermissionsExt;
            while d.starts_with(&cache_dir) && d != cache_dir {
                std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o700)).unwrap();
                d.pop();
            }
        }
        let mut argv = command.split(' ');
        let mut c = std::process::Command::new("systemd-socket-activate");
        c.arg("--listen")
            .arg(&path)
            .arg(format!("--setenv=HOME={}", home.display()))
            .arg(format!(
                "--setenv=GITSIGN_TRUSTED_ROOT={}",
                tb.var("GITSIGN_TRUSTED_ROOT")
            ))
            .arg(format!(
                "--setenv=GITSIGN_REKOR_URL={}",
                tb.var("GITSIGN_REKOR_URL")
            ))
            .args([
                "--setenv=GIT_CONFIG_NOSYSTEM=1",
                "--setenv=GIT_CONFIG_GLOBAL=/dev/null",
                "--",
            ])
            .arg(argv.next().unwrap())
            .args(argv)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        scrub_env(&mut c);
        let mut daemon = c.spawn().unwrap_or_else(|e| {
            panic!("systemd-socket-activate cannot be run ({e}): install systemd (tests/run does)")
        });
        for _ in 0..500 {
            if path.exists() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        repo.env.extend(tb.gitsign_env());
        repo.env
            .push(("GITSIGN_TOKEN_PROVIDER".into(), "environment".into()));
        repo.env.push((
            "SIGSTORE_ID_TOKEN".into(),
            tb.token("testbed-user@example.com", 900),
        ));
        repo.env.push((
            "GITSIGN_CREDENTIAL_CACHE".into(),
            path.display().to_string(),
        ));
        let result = std::panic::catch_unwind(|| {
            assert!(path.exists(), "{flags}: no socket at {}", path.display());
            let o = repo.gitsign(&["cache", "status"]);
            assert_eq!(o.status.code(), Some(0), "{flags}: {}", text(&o));
            // systemd-socket-activate execs the daemon: its pid answers.
            assert!(
                text(&o).contains(&format!("pid {}", daemon.id())),
                "{flags}: {}",
                text(&o)
            );
            for m in ["one", "two"] {
                let o = repo.git(&["commit", "-q", "-S", "--allow-empty", "-m", m]);
                assert!(o.status.success(), "{flags}: {}", text(&o));
            }
            assert_eq!(tb.stats()["fulcio_certificates"], 1, "{flags}: one login");
        });
        let _ = daemon.kill();
        let _ = daemon.wait();
        if let Err(e) = result {
            std::panic::resume_unwind(e);
        }
    }
}
