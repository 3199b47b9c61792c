//! Keyless signing through real git against a private loopback testbed:
//! `commit -S`, `tag -s`, `commit --amend -S`, a 20-commit `rebase --exec`,
//! then every way git and gitsign verify, in both Rekor modes, with the
//! interactive (headless opener), device and environment-token providers.

mod common;

use common::{text, Repo, Testbed};

fn signing_repo(tb: &Testbed, tag: &str, provider: &str, mode: &str) -> Repo {
    let mut repo = Repo::new(tag);
    repo.env.extend(tb.gitsign_env());
    repo.env
        .push(("GITSIGN_TOKEN_PROVIDER".into(), provider.into()));
    repo.env.push(("GITSIGN_REKOR_MODE".into(), mode.into()));
    if provider == "environment" || provider == "env" {
        repo.env.push((
            "SIGSTORE_ID_TOKEN".into(),
            tb.token(tb.var("TESTBED_EMAIL"), 900),
        ));
    }
    let email = tb.var("TESTBED_EMAIL").to_string();
    repo.env
        .retain(|(k, _)| k != "GIT_COMMITTER_EMAIL" && k != "GIT_AUTHOR_EMAIL");
    repo.env.push(("GIT_COMMITTER_EMAIL".into(), email.clone()));
    repo.env.push(("GIT_AUTHOR_EMAIL".into(), email.clone()));
    repo.git_ok(&["config", "gitsign.certificateIdentity", &email]);
    repo.git_ok(&[
        "config",
        "gitsign.certificateOidcIssuer",
        tb.var("GITSIGN_OIDC_ISSUER"),
    ]);
    repo.git_ok(&["config", "gitsign.matchCommitter", "true"]);
    repo
}

fn commit(repo: &Repo, file: &str, content: &str, msg: &str, sign: bool) -> String {
    std::fs::write(repo.path().join(file), content).unwrap();
    repo.git_ok(&["add", file]);
    let mut args = vec!["commit", "-q", "-m", msg];
    if sign {
        args.push("-S");
    }
    let o = repo.git(&args);
    assert!(o.status.success(), "git commit failed: {}", text(&o));
    repo.git_ok(&["rev-parse", "HEAD"])
}

fn scenario(provider: &str, mode: &str) {
    let tb = Testbed::start();
    let repo = signing_repo(&tb, &format!("sign-{provider}-{mode}"), provider, mode);
    let email = tb.var("TESTBED_EMAIL").to_string();
    let issuer = tb.var("GITSIGN_OIDC_ISSUER").to_string();

    // commit -S, verified every way.
    let first = commit(&repo, "a.txt", "one\n", "first signed commit", true);
    assert_eq!(
        repo.git_ok(&["log", "-1", "--format=%G?|%GS|%GT", &first]),
        format!("G|{email}|fully")
    );
    let o = repo.git(&["verify-commit", &first]);
    assert!(o.status.success(), "{}", text(&o));
    let expect_tlog = if mode == "offline" {
        "(transparency log time; log entry embedded): Rekor entry "
    } else {
        "(transparency log time; log entry found online): Rekor entry "
    };
    assert!(text(&o).contains(expect_tlog), "{}", text(&o));
    let o = repo.git(&["log", "-1", "--show-signature"]);
    assert!(
        text(&o).contains(&format!("Good signature from {email}")),
        "{}",
        text(&o)
    );
    let o = repo.gitsign(&[
        "verify",
        "--certificate-identity",
        &email,
        "--certificate-oidc-issuer",
        &issuer,
        "HEAD",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let o = repo.gitsign(&[
        "verify",
        "--certificate-identity",
        "mallory@example.com",
        "--certificate-oidc-issuer",
        &issuer,
        "HEAD",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));

    // tag -s.
    let o = repo.git(&["tag", "-s", "v1.0", "-m", "release 1.0"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = repo.git(&["verify-tag", "v1.0"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = repo.gitsign(&[
        "verify-tag",
        "v1.0",
        "--certificate-identity",
        &email,
        "--certificate-oidc-issuer",
        &issuer,
    ]);
    assert!(o.status.success(), "{}", text(&o));

    // commit --amend -S.
    let o = repo.git(&[
        "commit",
        "-q",
        "--amend",
        "-S",
        "-m",
        "first signed commit, amended",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(repo.git_ok(&["log", "-1", "--format=%G?"]), "G");
    let base = repo.git_ok(&["rev-parse", "HEAD"]);

    // 20 unsigned commits, signed by rebase --exec.
    repo.git_ok(&["checkout", "-q", "-b", "feature"]);
    for i in 0..20 {
        commit(
            &repo,
            &format!("f{i}.txt"),
            &format!("{i}\n"),
            &format!("feature step {i}"),
            false,
        );
    }
    assert_eq!(repo.git_ok(&["log", "-1", "--format=%G?"]), "N");
    let marks = repo.resign_since(&base);
    assert_eq!(marks.lines().count(), 20);
    assert!(marks.lines().all(|l| l == "G"), "{marks}");
    let o = repo.gitsign(&[
        "verify",
        "--certificate-identity",
        &email,
        "--certificate-oidc-issuer",
        &issuer,
        &format!("{base}..HEAD"),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("20 commits: 20 passed, 0 failed"),
        "{}",
        text(&o)
    );

    // merge --verify-signatures accepts the signed branch, refuses an unsigned one.
    repo.git_ok(&["checkout", "-q", "main"]);
    let o = repo.git(&["merge", "-q", "--ff-only", "--verify-signatures", "feature"]);
    assert!(o.status.success(), "{}", text(&o));
    repo.git_ok(&["checkout", "-q", "-b", "unsigned"]);
    commit(&repo, "u.txt", "u\n", "unsigned change", false);
    repo.git_ok(&["checkout", "-q", "main"]);
    let o = repo.git(&["merge", "-q", "--verify-signatures", "unsigned"]);
    assert!(!o.status.success(), "an unsigned branch was merged");
    assert!(
        text(&o).contains("does not have a GPG signature"),
        "{}",
        text(&o)
    );

    let stats = tb.stats();
    assert_eq!(stats["fulcio_certificates"].as_u64(), Some(23), "{stats}");
    assert!(stats["rekor_entries"].as_u64().unwrap() >= 23, "{stats}");
    match provider {
        // One browser login per signature without the credential cache.
        "interactive" => assert_eq!(stats["opener_calls"].as_u64(), Some(23), "{stats}"),
        "device" => assert_eq!(stats["device_tokens"].as_u64(), Some(23), "{stats}"),
        _ => assert_eq!(stats["opener_calls"].as_u64(), Some(0), "{stats}"),
    }
}

#[test]
fn interactive_offline() {
    scenario("interactive", "offline");
}

#[test]
fn interactive_online() {
    scenario("interactive", "online");
}

#[test]
fn device_offline() {
    scenario("device", "offline");
}

#[test]
fn device_online() {
    scenario("device", "online");
}

#[test]
fn environment_token_offline() {
    scenario("environment", "offline");
}

#[test]
fn environment_token_online() {
    scenario("environment", "online");
}

/// The log (`gitsign.logPath`) is created 0600, is never written through a
/// symbolic link, and never holds a login's secrets: the authorization
/// URL's state and PKCE challenge, or the device flow's user code (whoever
/// reads them can finish the login with their own account).
#[test]
fn the_log_is_private_and_holds_no_login_secret() {
    use std::os::unix::fs::PermissionsExt;
    let tb = Testbed::start();
    for provider in ["interactive", "device"] {
        let mut repo = signing_repo(&tb, &format!("log-{provider}"), provider, "offline");
        let log = repo.dir.path().join("gitsign.log");
        repo.env
            .push(("GITSIGN_LOG".into(), log.display().to_string()));
        commit(&repo, "a.txt", "one\n", "signed", true);
        let mode = std::fs::metadata(&log).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{provider}: the log is owner-only");
        let logged = std::fs::read_to_string(&log).unwrap();
        assert!(
            logged.contains("signed") || logged.contains("login"),
            "{logged}"
        );
        let secrets: Vec<String> = if provider == "interactive" {
            let opens = tb.control("GET", "/opens", None);
            let url = opens[0]["url"].as_str().expect("an opened URL").to_string();
            let query = url.split_once('?').unwrap().1.to_string();
            gitsign::oidc::parse_query(&query)
                .into_iter()
                .filter(|(k, _)| k == "state" || k == "code_challenge" || k == "nonce")
                .map(|(_, v)| v)
                .collect()
        } else {
            let pending = tb.control("GET", "/device/pending", None);
            vec![pending[0]["user_code"].as_str().unwrap().to_string()]
        };
        assert!(!secrets.is_empty() && secrets.iter().all(|s| s.len() >= 8));
        for s in &secrets {
            assert!(
                !logged.contains(s.as_str()),
                "{provider}: {s} is in the log:\n{logged}"
            );
        }
    }
    // A symbolic link where the log should be (another user's trap in a
    // shared directory) is not followed: its target stays untouched, and
    // signing still works.
    let mut repo = signing_repo(&tb, "log-link", "environment", "offline");
    let target = repo.dir.path().join("target.txt");
    std::fs::write(&target, "untouched\n").unwrap();
    let link = repo.dir.path().join("link.log");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    repo.env
        .push(("GITSIGN_LOG".into(), link.display().to_string()));
    commit(&repo, "b.txt", "two\n", "signed", true);
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "untouched\n");
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
}

// ---------------------------------------------------------------------------
// The interactive login against another local user.

/// `sh -c SCRIPT` as nobody, its stdout piped.
fn as_nobody(script: &str) -> std::process::Child {
    as_nobody_env(script, &[])
}

/// `sh -c SCRIPT` as nobody with extra environment, its stdout piped.
fn as_nobody_env(script: &str, env: &[(&str, &str)]) -> std::process::Child {
    std::process::Command::new("setpriv")
        .envs(env.iter().copied())
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--",
            "sh",
            "-c",
            script,
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

/// Any local user can connect to the login's loopback listener (its port
/// is in /proc/net/tcp, which every user can read, or fixed by
/// gitsign.redirectURL as here). One request with a made-up state on the
/// callback path ends the victim's login: gitsign takes the first request
/// on the path as the answer, and a wrong state fails the signature ("run
/// the command again"), every time the stranger does it. Expected: a
/// callback whose state is not this login's is answered with an error and
/// ignored; the browser's real callback completes the login.
#[test]
#[cfg_attr(
    gitsign_skip_root,
    ignore = "needs root to act as another user (GITSIGN_TEST_SKIP_ROOT=1 was set)"
)]
fn a_forged_login_callback_from_another_user_does_not_fail_the_login() {
    common::require_root("setpriv runs another local user, nobody");
    let tb = Testbed::start();
    // The browser takes 3 s to come back (a user reading the consent page).
    tb.fault("oidc", "slow", Some(1), Some(3000.into()));
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut repo = signing_repo(&tb, "forged-callback", "interactive", "offline");
    repo.env.push((
        "GITSIGN_OIDC_REDIRECT_URL".into(),
        format!("http://localhost:{port}/auth/callback"),
    ));
    let stranger = as_nobody(&format!(
        "i=0; while [ $i -lt 300 ]; do \
           if curl -s -m 2 -o /dev/null 'http://127.0.0.1:{port}/auth/callback?state=forged&code=forged'; \
           then echo DELIVERED; exit 0; fi; i=$((i+1)); sleep 0.02; done; echo MISSED"
    ));
    std::fs::write(repo.path().join("a.txt"), "one\n").unwrap();
    repo.git_ok(&["add", "a.txt"]);
    let o = repo.git(&["commit", "-q", "-S", "-m", "signed"]);
    let said = String::from_utf8_lossy(&stranger.wait_with_output().unwrap().stdout).to_string();
    assert!(
        said.contains("DELIVERED"),
        "the stranger never reached the listener: {said}"
    );
    assert!(
        o.status.success(),
        "a stranger's request made the login fail: {}",
        text(&o)
    );
    let o = repo.git(&["verify-commit", "HEAD"]);
    assert!(o.status.success(), "{}", text(&o));
}

/// The login URL (state, nonce, PKCE challenge and the loopback port) is
/// handed to the browser opener as a command-line argument, which every
/// local user can read in /proc/PID/cmdline for as long as the opener (a
/// browser started for it) runs. With it, another user opens the URL,
/// logs in with their own account, and their browser delivers the code to
/// the victim's listener on the same machine: the victim's gitsign
/// exchanges it with its verifier and signs as the other user (issue 11's
/// finding 2, through argv instead of the log). Expected: no process
/// another user can inspect carries this login's state.
#[test]
#[cfg_attr(
    gitsign_skip_root,
    ignore = "needs root to act as another user (GITSIGN_TEST_SKIP_ROOT=1 was set)"
)]
fn the_login_url_is_in_no_command_line_another_user_can_read() {
    use std::os::unix::fs::PermissionsExt;
    common::require_root("setpriv runs another local user, nobody");
    let tb = Testbed::start();
    let mut repo = signing_repo(&tb, "argv-url", "interactive", "offline");
    // A browser started for the URL runs a while (here 2 s), then the
    // testbed's headless browser completes the login.
    let opener = repo.dir.path().join("browser.sh");
    std::fs::write(
        &opener,
        format!(
            "#!/bin/sh\nsleep 2\nexec '{}' \"$1\"\n",
            tb.var("GITSIGN_URL_OPENER")
        ),
    )
    .unwrap();
    std::fs::set_permissions(&opener, std::fs::Permissions::from_mode(0o755)).unwrap();
    repo.env.retain(|(k, _)| k != "GITSIGN_URL_OPENER");
    repo.env
        .push(("GITSIGN_URL_OPENER".into(), opener.display().to_string()));
    let issuer = tb.var("GITSIGN_OIDC_ISSUER").to_string();
    // The stranger matches the issuer from its environment, so that its
    // own command line (which every scan also reads) does not match.
    let stranger = as_nobody_env(
        "i=0; while [ $i -lt 300 ]; do \
           for f in $(grep -l -a -F \"$ISSUER\" /proc/[0-9]*/cmdline 2>/dev/null); do \
             tr '\\0' ' ' < $f 2>/dev/null | grep -F 'state=' && exit 0; \
           done; i=$((i+1)); sleep 0.02; done; echo NOTHING",
        &[("ISSUER", &issuer)],
    );
    commit(&repo, "a.txt", "one\n", "signed", true);
    let seen = String::from_utf8_lossy(&stranger.wait_with_output().unwrap().stdout).to_string();
    let state = tb.control("GET", "/opens", None)[0]["url"]
        .as_str()
        .and_then(|u| u.split_once('?'))
        .map(|(_, q)| gitsign::oidc::parse_query(q))
        .and_then(|q| q.into_iter().find(|(k, _)| k == "state"))
        .map(|(_, v)| v)
        .expect("the login's state");
    assert!(
        !seen.contains(&state),
        "another user read this login's URL, state included: {seen}"
    );
}

/// The login's loopback listener serves at most 16 connections at once and
/// drops any beyond, while each accepted connection may idle 10 s before
/// it is closed. Another local user who keeps opening connections that
/// send nothing holds every slot, and the browser's real callback is
/// dropped: the login never completes and the signature fails at the login
/// timeout (here 20 s), however the state check is done. Expected: idle
/// connections of others cannot keep the browser's callback out.
#[test]
#[cfg_attr(
    gitsign_skip_root,
    ignore = "needs root to act as another user (GITSIGN_TEST_SKIP_ROOT=1 was set)"
)]
fn idle_connections_from_another_user_do_not_starve_the_login_callback() {
    common::require_root("setpriv runs another local user, nobody");
    let tb = Testbed::start();
    tb.fault("oidc", "slow", Some(1), Some(2000.into()));
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut repo = signing_repo(&tb, "starved-callback", "interactive", "offline");
    repo.env.push((
        "GITSIGN_OIDC_REDIRECT_URL".into(),
        format!("http://127.0.0.1:{port}/auth/callback"),
    ));
    repo.env.push(("GITSIGN_LOGIN_TIMEOUT".into(), "20".into()));
    let exe = std::env::current_exe().unwrap();
    let mut stranger = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(&exe)
        .args([
            "--ignored",
            "--exact",
            "stranger_holding_loopback_connections",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("GITSIGN_TEST_HOLD_PORT", port.to_string())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::fs::write(repo.path().join("a.txt"), "one\n").unwrap();
    repo.git_ok(&["add", "a.txt"]);
    let o = repo.git(&["commit", "-q", "-S", "-m", "signed"]);
    // Ours to stop: the stranger we started.
    let _ = stranger.kill();
    let said = String::from_utf8_lossy(&stranger.wait_with_output().unwrap().stdout).to_string();
    assert!(
        said.contains("HOLDING"),
        "the stranger (run as nobody) never held a connection to the login's listener, so \
         this test proved nothing: {said}"
    );
    assert!(
        o.status.success(),
        "another user's idle connections kept the login out: {}",
        text(&o)
    );
}

/// Run as nobody by `idle_connections_from_another_user_do_not_starve_the_
/// login_callback` (with `--ignored`; inert without its variable): for
/// 25 s, opens a connection to the port every 20 ms and keeps them all
/// open, sending nothing.
#[test]
#[ignore = "a helper process, run as nobody by idle_connections_from_another_user_do_not_starve_the_login_callback"]
fn stranger_holding_loopback_connections() {
    let Ok(port) = std::env::var("GITSIGN_TEST_HOLD_PORT") else {
        return;
    };
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut held = Vec::new();
    let end = std::time::Instant::now() + std::time::Duration::from_secs(25);
    while std::time::Instant::now() < end {
        if let Ok(c) =
            std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_secs(1))
        {
            held.push(c);
            if held.len() == 1 {
                println!("HOLDING");
                std::io::Write::flush(&mut std::io::stdout()).unwrap();
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    println!("HELD {}", held.len());
}

/// From the login until the signature is logged (a Fulcio and a Rekor
/// request, each allowed gitsign.timeout, 30 s), gitsign holds the
/// identity token and the ephemeral private key in memory (for every
/// signature without a cache; with the kernel keyring, the cached key).
/// The daemon disables core dumps before it holds a key; gitsign does not:
/// where core dumps are enabled with the common `core_pattern=core`, a
/// crash or a SIGQUIT (Ctrl-\) in that window writes the key and the token
/// into the repository's work tree (git runs gitsign there), one `git add
/// -A` away from a push. Expected: gitsign disables its core dumps (core
/// limit 0) as the daemon does.
#[test]
fn the_signing_process_dumps_no_core() {
    use std::io::Write;
    let tb = Testbed::start();
    tb.fault("oidc", "slow", Some(1), Some(3000.into()));
    // Core dumps enabled as a user may have them (`ulimit -c unlimited`),
    // so that the test sees gitsign's own setting, not the runner's.
    let mut c = std::process::Command::new("prlimit");
    c.args(["--core=unlimited:unlimited", "--"])
        .arg(common::gitsign_bin())
        .args(["--status-fd=2", "-bsau", "testbed-user@example.com"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", std::env::temp_dir())
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GITSIGN_TOKEN_PROVIDER", "interactive")
        .env("GITSIGN_CREDENTIAL_CACHE_MODE", "off")
        .current_dir(std::env::temp_dir())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    for (k, v) in tb.gitsign_env() {
        c.env(k, v);
    }
    let mut child = c.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(common::SIGN_PAYLOAD.as_bytes())
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", child.id())).unwrap();
    let _ = child.wait();
    let core = limits
        .lines()
        .find(|l| l.starts_with("Max core file size"))
        .unwrap()
        .to_string();
    assert_eq!(
        core.split_whitespace().skip(4).take(1).collect::<Vec<_>>(),
        ["0"],
        "gitsign may dump core while it holds the key: {core}"
    );
}

/// A fixed `localhost` login port whose IPv6 twin another program holds:
/// the browser might take the login there, so signing stops with a
/// sentence naming the address and the fix, and nothing is committed. (On
/// a machine without IPv6 loopback the twin cannot be held, and the same
/// setting signs on IPv4 alone.)
#[test]
fn a_login_port_whose_ipv6_twin_another_program_holds_is_refused_by_name() {
    let tb = Testbed::start();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let twin = std::net::TcpListener::bind(("::1", port));
    let mut repo = signing_repo(&tb, "ipv6-twin", "interactive", "offline");
    repo.env.push((
        "GITSIGN_OIDC_REDIRECT_URL".into(),
        format!("http://localhost:{port}/auth/callback"),
    ));
    std::fs::write(repo.path().join("a.txt"), "one\n").unwrap();
    repo.git_ok(&["add", "a.txt"]);
    let o = repo.git(&["commit", "-q", "-S", "-m", "signed"]);
    if twin.is_err() {
        assert!(o.status.success(), "no IPv6 loopback here: {}", text(&o));
        return;
    }
    let said = text(&o);
    assert!(!o.status.success(), "signed beside a held twin: {said}");
    assert!(
        said.contains(&format!(
            "cannot listen on [::1]:{port} for the login redirect: "
        )) && said.contains("free the port or change gitsign.redirectURL"),
        "{said}"
    );
    assert!(repo
        .git(&["rev-parse", "-q", "--verify", "HEAD"])
        .stdout
        .is_empty());
    let stats = tb.stats();
    assert_eq!(stats["opener_calls"], 0, "a browser was opened: {stats}");
    assert_eq!(
        stats["fulcio_certificates"], 0,
        "a certificate was issued: {stats}"
    );
    drop(twin);
}
