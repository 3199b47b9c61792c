//! The test suite's own rules (docs/testing.md "No silent skips"): a test
//! that needs root or sigstore-python carries the opt-out attribute that
//! lists it as ignored when the suite is built with the opt-out set, so a
//! run as an ordinary user shows it as ignored instead of failing the whole
//! run (as two tests of attack_16.rs once did).

use std::path::{Path, PathBuf};

/// The Rust test files of both packages.
fn test_files() -> Vec<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in [root.join("tests"), root.join("credential-cache/tests")] {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "rs") {
                files.push(p);
            }
        }
    }
    files.sort();
    assert!(files.len() > 20, "found only {} test files", files.len());
    files
}

/// The attributes and doc lines written above the item at line `f`: the
/// lines up to a blank line or the end of the previous item.
fn attributes(lines: &[&str], f: usize) -> String {
    let mut above = String::new();
    for l in lines[..f].iter().rev() {
        if l.trim().is_empty() || l.trim_start().starts_with('}') {
            break;
        }
        above.push_str(l);
        above.push('\n');
    }
    above
}

/// Every place in `text` where a function calls `call`, with the
/// attributes of the tests that reach it: (line, attributes of one test).
/// A call in a test gives that test's; a call in a helper gives every test
/// of the file's (the helper may serve any of them).
fn callers(text: &str, call: &str) -> Vec<(usize, String)> {
    let lines: Vec<&str> = text.lines().collect();
    let is_fn = |l: &str| {
        let t = l.trim_start();
        t.starts_with("fn ") || t.starts_with("pub fn ")
    };
    let tests: Vec<String> = (0..lines.len())
        .filter(|&i| is_fn(lines[i]))
        .map(|i| attributes(&lines, i))
        .filter(|a| a.contains("#[test]"))
        .collect();
    let mut out = Vec::new();
    for (n, line) in lines.iter().enumerate() {
        let t = line.trim_start();
        if !t.contains(call) || t.starts_with("//") || is_fn(t) {
            continue;
        }
        let Some(f) = (0..n).rev().find(|&i| is_fn(lines[i])) else {
            continue;
        };
        let own = attributes(&lines, f);
        if own.contains("#[test]") {
            out.push((n + 1, own));
        } else {
            out.extend(tests.iter().map(|a| (n + 1, a.clone())));
        }
    }
    out
}

fn check(call: &str, cfg: &str) {
    let mut missing = Vec::new();
    let mut found = 0;
    for file in test_files() {
        if file.ends_with("suite_rules.rs") {
            continue; // names the calls it looks for
        }
        let text = std::fs::read_to_string(&file).unwrap();
        for (line, above) in callers(&text, call) {
            found += 1;
            if !above.contains(cfg) {
                let at = format!("{}:{line}", rel(&file));
                if !missing.contains(&at) {
                    missing.push(at);
                }
            }
        }
    }
    assert!(found > 0, "no test calls {call}: this check checks nothing");
    assert!(
        missing.is_empty(),
        "these tests call {call} without #[cfg_attr({cfg}, ignore = \"...\")], so a run \
         built with the opt-out fails them instead of listing them as ignored:\n{}",
        missing.join("\n")
    );
}

fn rel(p: &Path) -> String {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    p.strip_prefix(&root).unwrap_or(p).display().to_string()
}

#[test]
fn every_test_that_needs_root_can_be_listed_as_ignored() {
    check("require_root(", "gitsign_skip_root");
}

#[test]
fn every_test_that_needs_sigstore_python_can_be_listed_as_ignored() {
    check("require_sigstore_python(", "gitsign_skip_sigstore_python");
}
