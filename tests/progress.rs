//! Progress on a terminal: `gitsign verify` over several commits and the
//! pre-receive hook draw a progress line on stderr when stderr is a
//! terminal (a pseudo-terminal from util-linux's `script`), and write none
//! when it is not; a login says how long it waits and counts down on the
//! terminal only.

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

/// A repository that signs through `tb` with `provider`.
fn signing_repo(tb: &common::Testbed, provider: &str) -> Repo {
    let mut repo = Repo::new(&format!("progress-{provider}"));
    repo.env.extend(tb.gitsign_env());
    repo.env
        .push(("GITSIGN_TOKEN_PROVIDER".into(), provider.into()));
    let email = tb.var("TESTBED_EMAIL").to_string();
    repo.env
        .retain(|(k, _)| k != "GIT_COMMITTER_EMAIL" && k != "GIT_AUTHOR_EMAIL");
    repo.env.push(("GIT_COMMITTER_EMAIL".into(), email.clone()));
    repo.env.push(("GIT_AUTHOR_EMAIL".into(), email));
    repo
}

#[test]
fn a_login_says_what_it_waits_for_and_counts_down_on_a_terminal() {
    let tb = common::Testbed::start();
    for (provider, waits_for) in [
        ("interactive", "waiting for the browser login: "),
        ("device", "waiting for the device login: "),
    ] {
        let repo = signing_repo(&tb, provider);
        std::fs::write(repo.path().join("a.txt"), "a\n").unwrap();
        repo.git_ok(&["add", "a.txt"]);
        // The browser takes 2.5 s to start (the device code is approved
        // after 300 ms and polled every second).
        tb.fault("oidc", "slow", Some(1), Some(2500.into()));
        let (tty, status) = on_a_terminal(
            &format!(
                "cd {} && git commit -q -S -m signed",
                sh_quote(&repo.path().display().to_string())
            ),
            &repo.env,
        );
        tb.clear_faults();
        assert_eq!(status, Some(0), "{provider}: {tty}");
        if provider == "interactive" {
            assert!(
                tty.contains(
                    "Waiting up to 5 min 00 s for the browser login (gitsign.loginTimeout)."
                ),
                "{tty:?}"
            );
        } else {
            assert!(tty.contains("The code is valid for "), "{tty:?}");
        }
        let at = tty
            .find(waits_for)
            .unwrap_or_else(|| panic!("{provider}: no countdown on the terminal:\n{tty:?}"));
        assert!(tty[at..].contains(" left"), "{tty:?}");
        assert!(tty[..at].ends_with("\r\x1b[Kgitsign: "), "{tty:?}");
        // Erased when the login ends: no countdown is left on the screen.
        let last = tty.rfind(waits_for).unwrap();
        assert!(tty[last..].contains("\r\x1b[K"), "{tty:?}");
        assert_eq!(repo.git_ok(&["log", "-1", "--format=%G?"]), "U");
    }

    // Without a terminal (no controlling terminal, stderr a pipe): the
    // wait is said once, with its length, and nothing is redrawn.
    let repo = signing_repo(&tb, "interactive");
    tb.fault("oidc", "slow", Some(1), Some(1500.into()));
    let mut c = Command::new("setsid");
    c.args(["-w"])
        .arg(gitsign_bin())
        .args(["--status-fd=2", "-bsau", "x"])
        .current_dir(repo.path())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    for (k, v) in &repo.env {
        c.env(k, v);
    }
    let mut child = c.spawn().expect("setsid (util-linux) runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\n\nm\n")
        .unwrap();
    let o = child.wait_with_output().unwrap();
    tb.clear_faults();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    assert!(
        stderr.contains("Waiting up to 5 min 00 s for the browser login"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("waiting for the browser login:"),
        "{stderr:?}"
    );
    assert!(
        !stderr.contains('\x1b') && !stderr.contains('\r'),
        "{stderr:?}"
    );
}

#[test]
fn the_hook_shows_progress_on_a_terminal_only() {
    // A bare repository that receives an online-mode signed root commit
    // (the hook walks every parent, so the corpus commits whose parents
    // are not here cannot be used); its Rekor lookup takes 800 ms, past
    // the progress line's first draw.
    let tmp = common::TempDir::new("progress-hook");
    let bare = tmp.path().join("server.git");
    let git = |args: &[&str]| {
        let o = Command::new("git")
            .args(args)
            .current_dir(&bare)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .output()
            .unwrap();
        assert!(o.status.success(), "git {args:?}: {}", text(&o));
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    };
    std::fs::create_dir(&bare).unwrap();
    git(&["init", "-q", "--bare"]);
    let file = fixtures().join("objects/gitsign/gs_td_e2e_online.commit");
    let id = git(&[
        "hash-object",
        "-w",
        "--literally",
        "-t",
        "commit",
        file.to_str().unwrap(),
    ]);
    let input = format!("{} {id} refs/heads/main\n", "0".repeat(40));
    let policy = tmp.path().join("policy.toml");
    std::fs::write(
        &policy,
        "version = 1\n[[rules]]\nrefs = [\"refs/heads/*\"]\nsigners = [\"*\"]\n",
    )
    .unwrap();
    let updates = tmp.path().join("updates");
    std::fs::write(&updates, &input).unwrap();
    let env = vec![
        ("GIT_CONFIG_NOSYSTEM".to_string(), "1".to_string()),
        ("GIT_CONFIG_GLOBAL".to_string(), "/dev/null".to_string()),
        (
            "GITSIGN_REKOR_URL".to_string(),
            slow_empty_rekor(Duration::from_millis(800)),
        ),
    ];

    let (tty, status) = on_a_terminal(
        &format!(
            "cd {} && {} hook pre-receive --policy {} <{}",
            sh_quote(&bare.display().to_string()),
            sh_quote(&gitsign_bin().display().to_string()),
            sh_quote(&policy.display().to_string()),
            sh_quote(&updates.display().to_string()),
        ),
        &env,
    );
    assert_eq!(status, Some(1), "{tty}");
    let at = tty
        .find("gitsign: checking the push: ")
        .unwrap_or_else(|| panic!("no progress on the terminal:\n{tty:?}"));
    // The line counts what was checked and what was refused (the one
    // commit, after its Rekor lookup).
    assert!(
        tty[at..].starts_with("gitsign: checking the push: 1 object, 1 problem"),
        "the objects checked and the problems found are not counted:\n{tty:?}"
    );
    let refused = tty.find("gitsign: push refused").unwrap();
    assert!(
        tty[..refused].ends_with("\r\x1b[K"),
        "the progress line was not erased before the verdict:\n{tty:?}"
    );

    // The same push, stderr a pipe (as under git, whose side band carries
    // it to the pusher): no progress line.
    let mut c = common::gitsign_command();
    c.args(["hook", "pre-receive", "--policy"])
        .arg(&policy)
        .current_dir(&bare)
        .stdin(std::fs::File::open(&updates).unwrap());
    for (k, _) in std::env::vars() {
        if k.starts_with("GITSIGN_") || k.starts_with("SIGSTORE_") || k.starts_with("GIT_") {
            c.env_remove(k);
        }
    }
    let o = c.envs(env.iter().map(|(k, v)| (k, v))).output().unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("push refused"), "{stderr}");
    assert!(!stderr.contains("checking the push:"), "{stderr:?}");
    assert!(
        !stderr.contains('\x1b') && !stderr.contains('\r'),
        "{stderr:?}"
    );
}
