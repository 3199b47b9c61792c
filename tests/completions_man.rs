//! `gitsign completions SHELL` and `gitsign man DIR`: the bash script loads
//! and completes subcommands; every manual page renders with `man -l`
//! without warnings (tests/run installs man-db).

mod common;

use std::process::Command;

use common::{text, TempDir};

fn completions(shell: &str) -> String {
    let o = common::gitsign_command()
        .args(["completions", shell])
        .output()
        .unwrap();
    assert!(o.status.success(), "completions {shell}: {}", text(&o));
    String::from_utf8(o.stdout).unwrap()
}

#[test]
fn bash_completion_loads_and_completes_subcommands() {
    let dir = TempDir::new("completions");
    let script = dir.path().join("gitsign.bash");
    std::fs::write(&script, completions("bash")).unwrap();
    // Load it as a user would, then ask it what `gitsign ver<TAB>` and
    // `gitsign verify --certificate-i<TAB>` offer.
    let probe = format!(
        r#"source '{}'
complete -p gitsign
COMP_WORDS=(gitsign ver); COMP_CWORD=1; COMP_LINE="gitsign ver"; COMP_POINT=${{#COMP_LINE}}
_gitsign gitsign ver gitsign
echo "subcommands: ${{COMPREPLY[*]}}"
COMP_WORDS=(gitsign verify --certificate-i); COMP_CWORD=2
COMP_LINE="gitsign verify --certificate-i"; COMP_POINT=${{#COMP_LINE}}
_gitsign gitsign --certificate-i verify
echo "flags: ${{COMPREPLY[*]}}"
"#,
        script.display()
    );
    let o = Command::new("bash")
        .args(["--norc", "--noprofile", "-c", &probe])
        .output()
        .expect("bash runs");
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("-F _gitsign gitsign"), "{out}");
    let subs = out.lines().find(|l| l.starts_with("subcommands:")).unwrap();
    for w in ["verify", "verify-tag", "verify-bundle", "version"] {
        assert!(subs.split(' ').any(|x| x == w), "{w} not offered: {subs}");
    }
    assert!(!subs.split(' ').any(|x| x == "cache"), "{subs}");
    let flags = out.lines().find(|l| l.starts_with("flags:")).unwrap();
    for w in ["--certificate-identity", "--certificate-identity-regexp"] {
        assert!(flags.split(' ').any(|x| x == w), "{w} not offered: {flags}");
    }
    assert!(!flags.contains("--certificate-oidc-issuer"), "{flags}");
}

#[test]
fn zsh_and_fish_scripts_name_gitsign_and_parse() {
    let zsh = completions("zsh");
    assert!(zsh.starts_with("#compdef gitsign"), "{zsh}");
    let fish = completions("fish");
    assert!(fish.contains("complete -c gitsign"), "{fish}");
    let dir = TempDir::new("completions-shells");
    for (shell, script, check) in [("zsh", &zsh, "-n"), ("fish", &fish, "--no-execute")] {
        let file = dir.path().join(shell);
        std::fs::write(&file, script).unwrap();
        match Command::new(shell).arg(check).arg(&file).output() {
            Ok(o) => assert!(o.status.success(), "{shell} {check}: {}", text(&o)),
            Err(e) => panic!(
                "{shell} cannot be run ({e}), so its completion script cannot be parsed: install \
                 the {shell} package (tests/run does)"
            ),
        }
    }
}

#[test]
fn an_unknown_shell_is_a_usage_error() {
    let o = common::gitsign_command()
        .args(["completions", "powershell"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("bash"), "{}", text(&o));
}

#[test]
fn every_manual_page_renders_with_man() {
    let dir = TempDir::new("man");
    let mandir = dir.path().join("man1");
    let o = common::gitsign_command()
        .arg("man")
        .arg(&mandir)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let listed: Vec<String> = String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    let mut files: Vec<_> = std::fs::read_dir(&mandir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert_eq!(listed.len(), files.len(), "{listed:?}");
    let names: Vec<String> = files
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for want in [
        "gitsign.1",
        "gitsign-verify.1",
        "gitsign-completions.1",
        "gitsign-credential-cache.1",
    ] {
        assert!(names.iter().any(|n| n == want), "{want} not in {names:?}");
    }
    for page in &files {
        let o = Command::new("man")
            .args(["--warnings", "-l"])
            .arg(page)
            .env("MANWIDTH", "80")
            .env("MANPAGER", "cat")
            .env("PAGER", "cat")
            .output()
            .expect("man is installed (the Debian package man-db; tests/run installs it)");
        let stdout = String::from_utf8_lossy(&o.stdout);
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success(), "man -l {}: {stderr}", page.display());
        assert!(
            stderr.trim().is_empty(),
            "man -l {} warned: {stderr}",
            page.display()
        );
        let name = page.file_stem().unwrap().to_string_lossy().into_owned();
        assert!(stdout.contains("NAME"), "{name}: {stdout}");
        assert!(stdout.contains("SYNOPSIS"), "{name}: {stdout}");
        assert!(stdout.contains(&name), "{name}: {stdout}");
    }
    // Writing again over the same pages is fine (an upgrade).
    let again = common::gitsign_command()
        .arg("man")
        .arg(&mandir)
        .output()
        .unwrap();
    assert!(again.status.success(), "{}", text(&again));
}

#[test]
fn man_into_an_unwritable_place_says_so() {
    let dir = TempDir::new("man-bad");
    let file = dir.path().join("a-file");
    std::fs::write(&file, "").unwrap();
    let o = common::gitsign_command()
        .arg("man")
        .arg(file.join("man1"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("cannot create the directory"),
        "{}",
        text(&o)
    );
}

#[test]
fn a_reader_that_closes_stdout_early_is_no_panic() {
    // `gitsign man DIR | head -1` and the like: the pipe closes while
    // gitsign still writes.
    let dir = TempDir::new("man-pipe");
    let mut child = common::gitsign_command()
        .arg("man")
        .arg(dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let o = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        matches!(o.status.code(), Some(0) | Some(2)),
        "{:?} {stderr}",
        o.status
    );
}
