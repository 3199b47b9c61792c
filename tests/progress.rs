//! Progress on a terminal: `gitsign verify` over several commits draws a
//! progress line on stderr when stderr is a terminal (a pseudo-terminal
//! from util-linux's `script`), and writes none when it is not.

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{fixtures, gitsign_bin, text, Repo};

/// Single-quotes `s` for `sh -c`.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Runs `command` (a shell command line) on a pseudo-terminal; returns
/// everything the terminal received, and the exit status.
fn on_a_terminal(command: &str, env: &[(String, String)]) -> (String, Option<i32>) {
    let mut c = Command::new("script");
    // Nothing of the caller's git or Sigstore settings.
    for (k, _) in std::env::vars() {
        if k.starts_with("GITSIGN_") || k.starts_with("SIGSTORE_") || k.starts_with("GIT_") {
            c.env_remove(k);
        }
    }
    let o = c
        .args(["-q", "-e", "-c", command, "/dev/null"])
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("SHELL", "/bin/sh")
        .output()
        .expect("util-linux's script runs (Debian package bsdutils; tests/run installs it)");
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        o.status.code(),
    )
}

/// A Rekor that answers every search with no entry, after `delay`: slow
/// work to watch.
fn slow_empty_rekor(delay: Duration) -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            std::thread::spawn(move || {
                let mut s = s;
                let mut req = Vec::new();
                let mut buf = [0u8; 8192];
                loop {
                    let n = s.read(&mut buf).unwrap_or(0);
                    if n == 0 {
                        break;
                    }
                    req.extend_from_slice(&buf[..n]);
                    if let Some(h) = req.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&req[..h]).to_lowercase();
                        let len = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse::<usize>().ok())
                            .unwrap_or(0);
                        if req.len() >= h + 4 + len {
                            break;
                        }
                    }
                }
                std::thread::sleep(delay);
                let body = if req.starts_with(b"POST /api/v1/index/retrieve") {
                    "[]"
                } else {
                    "{}"
                };
                let _ = write!(
                    s,
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
                     connection: close\r\n\r\n{body}",
                    body.len()
                );
            });
        }
    });
    url
}

/// A repository holding online-mode signed commits from the corpus, whose
/// verification waits on the slow Rekor; returns it and the commit ids.
fn repo_with_online_commits() -> (Repo, Vec<String>) {
    let repo = Repo::new("progress");
    let ids: Vec<String> = [
        "gs_td_e2e_online",
        "gs_td_pkggit_online",
        "gs_td_attest_online_2022",
        "gs_commit_github_noreply",
        "gs_commit_puerco_google",
    ]
    .iter()
    .map(|l| {
        repo.add_object(
            "commit",
            &fixtures().join(format!("objects/gitsign/{l}.commit")),
        )
    })
    .collect();
    let rekor = slow_empty_rekor(Duration::from_millis(400));
    repo.git_ok(&["config", "gitsign.rekor", &rekor]);
    (repo, ids)
}

fn verify_line(repo: &Repo, ids: &[String], stdout: &Path) -> String {
    let mut cmd = format!(
        "cd {} && {} verify --jobs 1 --certificate-identity someone@example.com \
         --certificate-oidc-issuer https://accounts.google.com",
        sh_quote(&repo.path().display().to_string()),
        sh_quote(&gitsign_bin().display().to_string())
    );
    for id in ids {
        cmd.push(' ');
        cmd.push_str(id);
    }
    cmd.push_str(&format!(" >{}", sh_quote(&stdout.display().to_string())));
    cmd
}

#[test]
fn verify_shows_progress_on_a_terminal_only() {
    let (repo, ids) = repo_with_online_commits();
    let out = repo.path().join("../out.txt");

    // On a pseudo-terminal: the progress line, redrawn in place, erased
    // before the summary.
    let (tty, status) = on_a_terminal(&verify_line(&repo, &ids, &out), &repo.env);
    assert_eq!(status, Some(1), "{tty}");
    assert!(
        tty.contains("gitsign: verifying: "),
        "no progress on the terminal:\n{tty:?}"
    );
    assert!(tty.contains("/5 commits"), "no total:\n{tty:?}");
    assert!(tty.contains("\r\x1b[K"), "not redrawn in place:\n{tty:?}");
    let summary = tty.find("gitsign: 5 commits: 0 passed, 5 failed").unwrap();
    assert!(
        tty[..summary].ends_with("\r\x1b[K"),
        "the progress line was not erased before the summary:\n{tty:?}"
    );
    let results = std::fs::read_to_string(&out).unwrap();
    assert_eq!(results.lines().count(), 5, "{results}");
    assert!(!results.contains("verifying"), "{results}");

    // Not a terminal: the same run says nothing but the results and the
    // summary.
    let mut args = vec![
        "verify",
        "--jobs",
        "1",
        "--certificate-identity",
        "someone@example.com",
        "--certificate-oidc-issuer",
        "https://accounts.google.com",
    ];
    args.extend(ids.iter().map(String::as_str));
    let o = repo.gitsign(&args);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(!stderr.contains("verifying:"), "{stderr:?}");
    assert!(
        !stderr.contains('\x1b') && !stderr.contains('\r'),
        "{stderr:?}"
    );
    assert!(stderr.contains("5 commits: 0 passed, 5 failed"), "{stderr}");
}

#[test]
fn one_commit_draws_no_progress_line() {
    let (repo, ids) = repo_with_online_commits();
    let out = repo.path().join("../out.txt");
    let (tty, _) = on_a_terminal(&verify_line(&repo, &ids[..1], &out), &repo.env);
    assert!(!tty.contains("verifying:"), "{tty:?}");
}
