//! `install/install.sh` in a throwaway HOME, with the test build's binaries
//! (`--prebuilt`, so no second build) and a stand-in `systemctl` that
//! records what it is asked: install, install again, uninstall leaves HOME
//! exactly as it was; settings it replaces are said and restored; a
//! setting changed since is left alone.

mod common;

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{gitsign_bin, text, TempDir};

fn install_sh() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("install/install.sh")
}

/// Everything under `dir`: relative path -> (mode, contents or "dir").
fn snapshot(dir: &Path) -> BTreeMap<String, (u32, Vec<u8>)> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<String, (u32, Vec<u8>)>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            let meta = std::fs::symlink_metadata(&p).unwrap();
            let rel = p.strip_prefix(base).unwrap().display().to_string();
            let mode = meta.permissions().mode();
            if meta.is_dir() {
                out.insert(rel, (mode, b"dir".to_vec()));
                walk(base, &p, out);
            } else {
                out.insert(rel, (mode, std::fs::read(&p).unwrap_or_default()));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

struct World {
    _tmp: TempDir,
    home: PathBuf,
    root: PathBuf,
    fake_bin: PathBuf,
    systemctl_log: PathBuf,
}

impl World {
    /// A HOME holding a git config (gpg.format = openpgp) and files of
    /// its own in the directories the installer writes to; a stand-in
    /// systemctl whose user manager answers when `systemd` is true.
    fn new(tag: &str, systemd: bool) -> World {
        let tmp = TempDir::new(tag);
        let home = tmp.path().join("home");
        std::fs::create_dir_all(home.join(".config/other")).unwrap();
        std::fs::write(home.join(".config/other/settings"), "mine\n").unwrap();
        std::fs::write(home.join(".gitconfig"), "[gpg]\n\tformat = openpgp\n").unwrap();
        let fake_bin = tmp.path().join("fake-bin");
        std::fs::create_dir(&fake_bin).unwrap();
        let systemctl_log = tmp.path().join("systemctl.log");
        let script = format!(
            "#!/bin/sh\necho \"$*\" >>'{}'\n{}\n",
            systemctl_log.display(),
            if systemd {
                "exit 0"
            } else {
                "echo 'Failed to connect to bus: No medium found' >&2; exit 1"
            }
        );
        let systemctl = fake_bin.join("systemctl");
        std::fs::write(&systemctl, script).unwrap();
        std::fs::set_permissions(&systemctl, std::fs::Permissions::from_mode(0o755)).unwrap();
        let root = home.join(".cargo");
        World {
            home,
            root,
            fake_bin,
            systemctl_log,
            _tmp: tmp,
        }
    }

    /// install.sh with ARGS in this world (ROOT/bin on PATH).
    fn run(&self, args: &[&str]) -> Output {
        let path = format!(
            "{}:{}:{}",
            self.root.join("bin").display(),
            self.fake_bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        Command::new(install_sh())
            .args(args)
            .env_clear()
            .env("PATH", path)
            .env("HOME", &self.home)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("LANG", "C.UTF-8")
            .output()
            .unwrap()
    }

    fn install(&self, extra: &[&str]) -> String {
        let prebuilt = gitsign_bin().parent().unwrap().display().to_string();
        let mut args = vec![
            "--prebuilt",
            prebuilt.as_str(),
            "--root",
            self.root.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let o = self.run(&args);
        assert!(o.status.success(), "install.sh failed:\n{}", text(&o));
        text(&o)
    }

    fn uninstall(&self) -> String {
        let o = self.run(&["--uninstall"]);
        assert!(
            o.status.success(),
            "install.sh --uninstall failed:\n{}",
            text(&o)
        );
        text(&o)
    }

    fn git_global(&self, key: &str) -> String {
        let o = Command::new("git")
            .args(["config", "--global", "--get", key])
            .env("HOME", &self.home)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env_remove("GIT_CONFIG_GLOBAL")
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    }

    fn systemctl_calls(&self) -> String {
        std::fs::read_to_string(&self.systemctl_log).unwrap_or_default()
    }
}

#[test]
fn install_again_and_uninstall_leave_home_as_it_was() {
    let w = World::new("install", true);
    let before = snapshot(&w.home);

    let out = w.install(&[]);
    // Binaries, said and runnable.
    let gitsign = w.root.join("bin/gitsign");
    assert!(gitsign.exists() && w.root.join("bin/gitsign-credential-cache").exists());
    assert!(
        out.contains("installed gitsign and gitsign-credential-cache in"),
        "{out}"
    );
    // git: the replaced setting is said; the program is found on PATH.
    assert!(
        out.contains("git config --global gpg.format x509 (it was openpgp; install.sh --uninstall puts that back)"),
        "{out}"
    );
    assert_eq!(w.git_global("gpg.format"), "x509");
    assert_eq!(w.git_global("gpg.x509.program"), "gitsign");
    // The systemd units name the installed daemon and are enabled.
    let service = std::fs::read_to_string(
        w.home
            .join(".config/systemd/user/gitsign-credential-cache.service"),
    )
    .unwrap();
    let daemon = w.root.join("bin/gitsign-credential-cache");
    assert!(
        service.contains(&format!("ExecStart=\"{}\" --systemd", daemon.display())),
        "{service}"
    );
    assert!(w
        .home
        .join(".config/systemd/user/gitsign-credential-cache.socket")
        .exists());
    let calls = w.systemctl_calls();
    assert!(calls.contains("--user daemon-reload"), "{calls}");
    assert!(
        calls.contains("--user enable --now gitsign-credential-cache.socket"),
        "{calls}"
    );
    // Completions load in bash; man finds the pages beside ROOT/bin.
    let completion = w
        .home
        .join(".local/share/bash-completion/completions/gitsign");
    let o = Command::new("bash")
        .args(["--norc", "--noprofile", "-c"])
        .arg(format!(
            "source '{}' && complete -p gitsign",
            completion.display()
        ))
        .output()
        .unwrap();
    assert!(
        o.status.success() && text(&o).contains("_gitsign"),
        "{}",
        text(&o)
    );
    let o = Command::new("man")
        .args(["-w", "gitsign-credential-cache"])
        .env_remove("MANPATH")
        .env("HOME", &w.home)
        .env(
            "PATH",
            format!(
                "{}:{}",
                w.root.join("bin").display(),
                std::env::var("PATH").unwrap()
            ),
        )
        .output()
        .expect("man runs (Debian package man-db; tests/run installs it)");
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        w.root
            .join("share/man/man1/gitsign-credential-cache.1")
            .display()
            .to_string(),
        "{}",
        text(&o)
    );
    // It ends with gitsign version and the next step.
    assert!(
        out.contains(&format!(
            "$ gitsign version\ngitsign version {}",
            env!("CARGO_PKG_VERSION")
        )),
        "{out}"
    );
    assert!(out.contains("Next: in a repository"), "{out}");

    // Again: nothing changes, and it says the settings are already there.
    let installed = snapshot(&w.home);
    let again = w.install(&[]);
    assert!(
        again.contains("git config --global gpg.format is already x509"),
        "{again}"
    );
    assert!(!again.contains("it was"), "{again}");
    assert_eq!(snapshot(&w.home), installed, "a second run changed HOME");

    // Uninstall: HOME as it was, the units disabled first.
    let out = w.uninstall();
    assert!(
        out.contains("git config --global gpg.format openpgp (its value before install.sh)"),
        "{out}"
    );
    let calls = w.systemctl_calls();
    assert!(
        calls.contains("--user disable --now gitsign-credential-cache.socket"),
        "{calls}"
    );
    assert_eq!(
        snapshot(&w.home),
        before,
        "HOME differs after uninstall\n{out}"
    );
    // Nothing left to undo.
    let out = w.uninstall();
    assert!(out.contains("nothing to uninstall"), "{out}");
}

#[test]
fn an_empty_home_without_systemd_is_empty_again() {
    let w = World::new("install-empty", false);
    std::fs::remove_file(w.home.join(".gitconfig")).unwrap();
    std::fs::remove_dir_all(w.home.join(".config")).unwrap();
    let out = w.install(&[]);
    assert!(
        out.contains(
            "no systemd user manager and no launchd here: start the credential cache yourself"
        ),
        "{out}"
    );
    assert!(!w.home.join(".config/systemd").exists());
    assert_eq!(w.git_global("gpg.format"), "x509");
    w.uninstall();
    assert!(
        snapshot(&w.home).is_empty(),
        "left behind: {:?}",
        snapshot(&w.home).keys().collect::<Vec<_>>()
    );
}

#[test]
fn no_git_config_and_no_service_leave_those_alone() {
    let w = World::new("install-nogit", true);
    let gitconfig = std::fs::read(w.home.join(".gitconfig")).unwrap();
    let out = w.install(&["--no-git-config", "--no-service"]);
    assert!(
        out.contains("git's settings left alone (--no-git-config)"),
        "{out}"
    );
    assert!(out.contains("no service installed (--no-service)"), "{out}");
    assert_eq!(std::fs::read(w.home.join(".gitconfig")).unwrap(), gitconfig);
    assert!(w.systemctl_calls().is_empty(), "{}", w.systemctl_calls());
    w.uninstall();
    assert_eq!(std::fs::read(w.home.join(".gitconfig")).unwrap(), gitconfig);
}

#[test]
fn a_setting_changed_since_install_is_left_alone() {
    let w = World::new("install-changed", false);
    w.install(&[]);
    let o = Command::new("git")
        .args([
            "config",
            "--global",
            "gpg.x509.program",
            "/opt/other/gitsign",
        ])
        .env("HOME", &w.home)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env_remove("GIT_CONFIG_GLOBAL")
        .output()
        .unwrap();
    assert!(o.status.success());
    let out = w.uninstall();
    assert!(
        out.contains("left git setting gpg.x509.program = /opt/other/gitsign alone"),
        "{out}"
    );
    assert_eq!(w.git_global("gpg.x509.program"), "/opt/other/gitsign");
    assert_eq!(w.git_global("gpg.format"), "openpgp");
}

#[test]
fn usage_errors_are_said() {
    let w = World::new("install-usage", false);
    let before = snapshot(&w.home);
    let o = w.run(&["--frobnicate"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("unknown option --frobnicate"),
        "{}",
        text(&o)
    );
    let o = w.run(&["--prebuilt", "/nonexistent"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("/nonexistent/gitsign is missing"),
        "{}",
        text(&o)
    );
    assert_eq!(snapshot(&w.home), before, "a refused run wrote into HOME");
    let o = w.run(&["--help"]);
    assert!(o.status.success());
    assert!(text(&o).contains("--uninstall"), "{}", text(&o));
}
