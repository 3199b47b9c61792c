//! `install/demo` from start to finish, with the test build's binaries
//! (`GITSIGN_DEMO_BIN_DIR`, so CI does not build the release profile a
//! second time): every step works, and everything it started or wrote is
//! gone afterwards, also after a failed step and after Ctrl-C.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{gitsign_bin, TempDir};

fn demo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("install/demo")
}

/// The demo, with its temporary files under `tmp` and binaries from
/// `bin_dir`.
fn demo_command(tmp: &Path, bin_dir: &Path) -> Command {
    with_demo_env(Command::new(demo()), tmp, bin_dir)
}

fn with_demo_env(mut c: Command, tmp: &Path, bin_dir: &Path) -> Command {
    for (k, _) in std::env::vars() {
        if k.starts_with("GITSIGN_") || k.starts_with("SIGSTORE_") || k.starts_with("TESTBED_") {
            c.env_remove(k);
        }
    }
    c.env("TMPDIR", tmp)
        .env("GITSIGN_DEMO_BIN_DIR", bin_dir)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    c
}

/// Processes of ours whose command line or environment names `dir`.
fn processes_using(dir: &Path) -> Vec<String> {
    let needle = dir.display().to_string();
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.chars().all(|c| c.is_ascii_digit()) {
            continue;
        }
        for what in ["cmdline", "environ"] {
            if let Ok(b) = std::fs::read(e.path().join(what)) {
                if String::from_utf8_lossy(&b).contains(&needle) {
                    let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
                    found.push(format!("{name}: {}", String::from_utf8_lossy(&cmd)));
                    break;
                }
            }
        }
    }
    found
}

/// Nothing left: no file under `tmp`, no process naming it (the testbed
/// may take a moment to notice).
fn assert_clean(tmp: &Path, out: &str) {
    let left: Vec<_> = std::fs::read_dir(tmp).unwrap().flatten().collect();
    assert!(left.is_empty(), "left behind: {left:?}\n{out}");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let procs = processes_using(tmp);
        if procs.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "still running: {procs:?}\n{out}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn bin_dir() -> PathBuf {
    gitsign_bin().parent().unwrap().to_path_buf()
}

#[test]
fn the_demo_signs_verifies_and_cleans_up() {
    let tmp = TempDir::new("demo");
    let o = demo_command(tmp.path(), &bin_dir()).output().unwrap();
    let out = common::text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    for want in [
        "$ git commit -q -S -m 'first signed commit'",
        "$ git tag -s v1.0 -m 'release 1.0'",
        "ok: one login signed two commits and a tag",
        "gitsign: Good signature from testbed-user@example.com",
        "ok: both commits show G",
        "gitsign: 2 commits: 2 passed, 0 failed",
        "tag v1.0: Good signature from testbed-user@example.com",
        "Signer REJECTED by policy",
        "gitsign: BAD signature",
        "ok: the tampered commit shows B (bad signature)",
        "Every step worked",
    ] {
        assert!(out.contains(want), "{want:?} missing from:\n{out}");
    }
    assert_clean(tmp.path(), &out);
}

#[test]
fn a_failed_step_fails_the_demo_and_cleans_up() {
    let tmp = TempDir::new("demo-fail");
    // A daemon that cannot start.
    let bins = TempDir::new("demo-bins");
    std::os::unix::fs::symlink(gitsign_bin(), bins.path().join("gitsign")).unwrap();
    let fake = bins.path().join("gitsign-credential-cache");
    std::fs::write(
        &fake,
        "#!/bin/sh\necho 'cannot start: a test says so' >&2\nexit 1\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let o = demo_command(tmp.path(), bins.path()).output().unwrap();
    let out = common::text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains("install/demo: the credential cache daemon did not start"),
        "{out}"
    );
    assert!(out.contains("cannot start: a test says so"), "{out}");
    assert!(!out.contains("Every step worked"), "{out}");
    assert_clean(tmp.path(), &out);

    // Binaries that are not there: a usage problem, said as such.
    let o = demo_command(tmp.path(), &tmp.path().join("nowhere"))
        .output()
        .unwrap();
    let out = common::text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}");
    assert!(out.contains("GITSIGN_DEMO_BIN_DIR="), "{out}");
}

#[test]
fn ctrl_c_stops_the_demo_and_cleans_up() {
    let tmp = TempDir::new("demo-int");
    // A test run started in the background by a non-interactive shell
    // inherits SIGINT ignored, which a shell script cannot undo: the demo
    // gets the default disposition, as from a terminal.
    let mut env = Command::new("env");
    env.arg("--default-signal=INT").arg(demo());
    let mut child = with_demo_env(env, tmp.path(), &bin_dir())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Interrupt once the testbed and the daemon run.
    let mut seen = String::new();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    for line in lines.by_ref() {
        let line = line.unwrap();
        seen.push_str(&line);
        seen.push('\n');
        if line.contains("== Sign commits and a tag ==") {
            break;
        }
    }
    assert!(seen.contains("listening on"), "{seen}");
    assert!(
        !processes_using(tmp.path()).is_empty(),
        "nothing runs: {seen}"
    );
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    for line in lines {
        seen.push_str(&line.unwrap());
        seen.push('\n');
    }
    let o = child.wait_with_output().unwrap();
    let out = format!("{seen}{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(o.status.code(), Some(130), "{out}");
    assert!(out.contains("interrupted; cleaned up"), "{out}");
    assert_clean(tmp.path(), &out);
}
