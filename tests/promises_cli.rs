//! Promises of docs/signing.md, docs/configuration.md and
//! docs/migrating-from-go-gitsign.md about the command line that no other
//! test pinned, through the user's path: identity regular expressions
//! match the whole value, half an identity policy is a configuration
//! error, Go gitsign's flags and settings this gitsign accepts or refuses,
//! the cosign token providers it refuses, the commands it lacks, and the
//! `signed as ...` line. Each row of docs/promises.md that names this file
//! is one assertion here.

mod common;

use std::io::Write;
use std::process::{Output, Stdio};

use common::{text, Repo, Testbed, SIGN_PAYLOAD};

fn signer(tb: &Testbed, tag: &str, email: &str) -> Repo {
    let mut repo = Repo::signer(tb, tag, email);
    repo.env.push(("GIT_COMMITTER_EMAIL".into(), email.into()));
    repo
}

fn commit(repo: &Repo, n: usize, dash_c: &[&str]) -> Output {
    std::fs::write(repo.path().join(format!("f{n}")), format!("{n}\n")).unwrap();
    repo.git_ok(&["add", "."]);
    let mut args = Vec::new();
    for kv in dash_c {
        args.push("-c");
        args.push(*kv);
    }
    args.extend(["commit", "-q", "-S", "-m", "change"]);
    repo.git(&args)
}

#[test]
fn identity_expressions_match_the_whole_value() {
    let tb = Testbed::start();
    let issuer = tb.var("GITSIGN_OIDC_ISSUER").to_string();
    let good = signer(&tb, "prom-re-good", "alice@example.com");
    let o = commit(&good, 1, &[]);
    assert!(o.status.success(), "{}", text(&o));
    let evil = signer(&tb, "prom-re-evil", "x@example.com.evil.org");
    let o = commit(&evil, 1, &[]);
    assert!(o.status.success(), "{}", text(&o));
    let verify = |repo: &Repo, args: &[&str]| {
        let mut a = vec!["verify"];
        a.extend_from_slice(args);
        a.push("HEAD");
        repo.gitsign(&a)
    };
    let by_re = ["--certificate-identity-regexp", ".*@example\\.com"];
    let o = verify(
        &good,
        &[by_re[0], by_re[1], "--certificate-oidc-issuer", &issuer],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = verify(
        &evil,
        &[by_re[0], by_re[1], "--certificate-oidc-issuer", &issuer],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("x@example.com.evil.org"), "{}", text(&o));
    // The issuer expression too: a prefix of the issuer does not match.
    let o = verify(
        &good,
        &[
            "--certificate-identity",
            "alice@example.com",
            "--certificate-oidc-issuer-regexp",
            "http://127\\.0\\.0\\.1",
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let o = verify(
        &good,
        &[
            "--certificate-identity",
            "alice@example.com",
            "--certificate-oidc-issuer-regexp",
            "http://127\\.0\\.0\\.1:[0-9]+",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    // The same from git config, as git sees it: G, then U and never.
    good.git_ok(&[
        "config",
        "gitsign.certificateIdentityRegexp",
        ".*@example\\.com",
    ]);
    good.git_ok(&["config", "gitsign.certificateOidcIssuer", &issuer]);
    assert_eq!(good.git_ok(&["log", "-1", "--format=%G?|%GT"]), "G|fully");
    evil.git_ok(&[
        "config",
        "gitsign.certificateIdentityRegexp",
        ".*@example\\.com",
    ]);
    evil.git_ok(&["config", "gitsign.certificateOidcIssuer", &issuer]);
    assert_eq!(evil.git_ok(&["log", "-1", "--format=%G?|%GT"]), "U|never");
    let o = evil.git(&["verify-commit", "HEAD"]);
    assert!(!o.status.success(), "{}", text(&o));

    // An identity without an issuer (or the reverse) in git config: a
    // configuration error, not a verdict; git sees E.
    let half = signer(&tb, "prom-half", "alice@example.com");
    let o = commit(&half, 1, &[]);
    assert!(o.status.success(), "{}", text(&o));
    for kv in [
        "gitsign.certificateIdentity=alice@example.com",
        "gitsign.certificateOidcIssuer=https://accounts.google.com",
    ] {
        let o = half.git(&["-c", kv, "verify-commit", "HEAD"]);
        assert!(!o.status.success(), "{kv}: {}", text(&o));
        assert!(
            text(&o).contains("an identity policy needs both"),
            "{kv}: {}",
            text(&o)
        );
        let o = half.git(&["-c", kv, "log", "-1", "--format=%G?"]);
        assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "E", "{kv}");
    }
    // The same with a flag: exit 2.
    let o = half.gitsign(&["verify", "--certificate-oidc-issuer", &issuer, "HEAD"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
}

/// `gitsign ARGS` as git runs it for a signature, payload on stdin.
fn sign_raw(tb: &Testbed, args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, Vec<u8>, String) {
    let mut c = common::gitsign_command();
    c.args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", std::env::temp_dir())
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .current_dir(std::env::temp_dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in tb.gitsign_env() {
        c.env(k, v);
    }
    c.env("GITSIGN_TOKEN_PROVIDER", "environment").env(
        "SIGSTORE_ID_TOKEN",
        tb.token("testbed-user@example.com", 900),
    );
    for (k, v) in env {
        c.env(k, v);
    }
    let mut child = c.spawn().unwrap();
    let _ = child
        .stdin
        .take()
        .unwrap()
        .write_all(SIGN_PAYLOAD.as_bytes());
    let o = child.wait_with_output().unwrap();
    (
        o.status.code(),
        o.stdout,
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn go_gitsign_flags_and_settings() {
    let tb = Testbed::start();
    // --include-certs is accepted and ignored: a signature, with the leaf.
    for args in [
        &[
            "--status-fd=2",
            "-bsau",
            "testbed-user@example.com",
            "--include-certs=-2",
        ][..],
        &[
            "--status-fd=2",
            "--detach-sign",
            "-s",
            "-a",
            "-u",
            "testbed-user@example.com",
        ][..],
    ] {
        let (code, out, err) = sign_raw(&tb, args, &[]);
        assert_eq!(code, Some(0), "{args:?}: {err}");
        assert!(
            String::from_utf8_lossy(&out).starts_with("-----BEGIN SIGNED MESSAGE-----"),
            "{args:?}: {err}"
        );
        assert!(err.contains("SIG_CREATED"), "{args:?}: {err}");
    }
    // --detached-sign (Go's deprecated spelling) is accepted like
    // --detach-sign: a detached signature that git verifies.
    let (code, out, err) = sign_raw(
        &tb,
        &[
            "--status-fd=2",
            "--detached-sign",
            "-sau",
            "testbed-user@example.com",
        ],
        &[],
    );
    assert_eq!(code, Some(0), "{err}");
    assert!(
        String::from_utf8_lossy(&out).starts_with("-----BEGIN SIGNED MESSAGE-----"),
        "{err}"
    );
    assert!(err.contains("SIG_CREATED D "), "{err}");

    // gitsign.enableSigstoreGo / GITSIGN_ENABLE_SIGSTORE_GO are ignored.
    let (code, _, err) = sign_raw(
        &tb,
        &["--status-fd=2", "-bsau", "testbed-user@example.com"],
        &[("GITSIGN_ENABLE_SIGSTORE_GO", "true")],
    );
    assert_eq!(code, Some(0), "{err}");
    // The signer says whom it signed as.
    assert!(
        err.contains("gitsign: signed as testbed-user@example.com"),
        "{err}"
    );

    // The cosign providers Go gitsign has and this one lacks: refused with
    // a message naming SIGSTORE_ID_TOKEN; no login, nothing signed. (The
    // others are tests/providers.rs's.)
    for p in ["gitlab", "gitpod"] {
        let certs = tb.stats()["fulcio_certificates"].as_u64();
        let (code, out, err) = sign_raw(
            &tb,
            &["--status-fd=2", "-bsau", "testbed-user@example.com"],
            &[("GITSIGN_TOKEN_PROVIDER", p)],
        );
        assert_ne!(code, Some(0), "{p}: {err}");
        assert!(out.is_empty(), "{p}");
        assert!(
            err.contains(p) && err.contains("SIGSTORE_ID_TOKEN"),
            "{p}: {err}"
        );
        assert_eq!(tb.stats()["fulcio_certificates"].as_u64(), certs, "{p}");
    }
    // The aliases of `environment`: `envvar` reads SIGSTORE_ID_TOKEN,
    // `filesystem` cosign's token file (here absent, and named).
    let (code, _, err) = sign_raw(
        &tb,
        &["--status-fd=2", "-bsau", "testbed-user@example.com"],
        &[("GITSIGN_TOKEN_PROVIDER", "envvar")],
    );
    assert_eq!(code, Some(0), "envvar: {err}");
    let (code, _, err) = sign_raw(
        &tb,
        &["--status-fd=2", "-bsau", "testbed-user@example.com"],
        &[("GITSIGN_TOKEN_PROVIDER", "filesystem")],
    );
    assert_ne!(code, Some(0), "filesystem: {err}");
    assert!(
        err.contains("/var/run/sigstore/cosign/oidc-token"),
        "filesystem: {err}"
    );
}

#[test]
fn go_gitsign_commands_this_one_lacks_are_usage_errors() {
    // `show` and `attest` are implemented now (tests/show.rs,
    // tests/attest.rs); `debug` is not.
    let cmd = "debug";
    let o = common::gitsign_command()
        .arg(cmd)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .current_dir(std::env::temp_dir())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{cmd}: {}", text(&o));
    assert!(o.stdout.is_empty(), "{cmd}");
}
