//! The repository's documents: every relative link in a Markdown file
//! (README.md, docs/, install/, the testbed's and the corpus's READMEs)
//! names a file or directory inside the repository, and a link to a
//! heading (`page.md#heading`) names a heading that page has; no document
//! points outside the repository by a relative path, or at the project's
//! work items. The shell scripts a newcomer runs are shellcheck-clean.

use std::collections::HashSet;
use std::path::{Component, Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The Markdown files git tracks (node_modules is not tracked).
fn documents() -> Vec<PathBuf> {
    let o = Command::new("git")
        .args(["ls-files", "-z", "--", "*.md"])
        .current_dir(root())
        .output()
        .expect("git runs");
    assert!(o.status.success());
    let mut docs: Vec<PathBuf> = o
        .stdout
        .split(|b| *b == 0)
        .filter(|p| !p.is_empty())
        .map(|p| root().join(String::from_utf8_lossy(p).as_ref()))
        .filter(|p| p.exists())
        .collect();
    // Documents of this branch not yet committed count too.
    for extra in ["README.md", "docs"] {
        let p = root().join(extra);
        if p.is_dir() {
            for e in std::fs::read_dir(&p).unwrap().flatten() {
                if e.path().extension().is_some_and(|x| x == "md") && !docs.contains(&e.path()) {
                    docs.push(e.path());
                }
            }
        } else if p.exists() && !docs.contains(&p) {
            docs.push(p);
        }
    }
    docs.sort();
    docs
}

/// The text outside fenced code blocks and inline code spans, line by line.
fn prose(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut fenced = false;
    for (n, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        let mut kept = String::new();
        let mut in_code = false;
        for c in line.chars() {
            if c == '`' {
                in_code = !in_code;
            } else if !in_code {
                kept.push(c);
            }
        }
        out.push((n + 1, kept));
    }
    out
}

/// Link targets: `[text](target)`, `![alt](target)` and `[label]: target`.
fn links(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let b = line.as_bytes();
    let mut i = 0;
    while i + 1 < b.len() {
        if b[i] == b']' && b[i + 1] == b'(' {
            if let Some(end) = line[i + 2..].find(')') {
                let t = line[i + 2..i + 2 + end].trim();
                // `[x](url "title")`
                let t = t.split_whitespace().next().unwrap_or("");
                out.push(t.trim_matches(|c| c == '<' || c == '>').to_string());
                i += 2 + end;
                continue;
            }
        }
        i += 1;
    }
    let t = line.trim_start();
    if t.starts_with('[') {
        if let Some(pos) = t.find("]: ") {
            out.push(
                t[pos + 3..]
                    .split_whitespace()
                    .next()
                    .unwrap_or("")
                    .to_string(),
            );
        }
    }
    out
}

/// GitHub's anchor for a heading: lower case, punctuation dropped, spaces
/// as hyphens.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// The anchors a Markdown file's headings give (duplicates numbered).
fn anchors(file: &Path) -> HashSet<String> {
    let text = std::fs::read_to_string(file).unwrap();
    let mut seen = HashSet::new();
    let mut fenced = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced || !line.starts_with('#') {
            continue;
        }
        let heading = line.trim_start_matches('#').replace('`', "");
        let base = slug(&heading);
        let mut s = base.clone();
        let mut n = 0;
        while seen.contains(&s) {
            n += 1;
            s = format!("{base}-{n}");
        }
        seen.insert(s);
    }
    seen
}

/// `p` without `.` and `..` (lexically), or None when it climbs above `/`.
fn normalize(p: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    Some(out)
}

#[test]
fn every_relative_link_resolves_inside_the_repository() {
    let root = root();
    let mut problems = Vec::new();
    let mut checked = 0;
    for doc in documents() {
        let text = std::fs::read_to_string(&doc).unwrap();
        let rel_doc = doc.strip_prefix(&root).unwrap().display().to_string();
        for (n, line) in prose(&text) {
            for target in links(&line) {
                if target.is_empty()
                    || target.contains("://")
                    || target.starts_with("mailto:")
                    || target.starts_with("man:")
                {
                    continue;
                }
                checked += 1;
                let (path, anchor) = match target.split_once('#') {
                    Some((p, a)) => (p, Some(a)),
                    None => (target.as_str(), None),
                };
                let file = if path.is_empty() {
                    doc.clone()
                } else if path.starts_with('/') {
                    problems.push(format!("{rel_doc}:{n}: absolute link {target}"));
                    continue;
                } else {
                    match normalize(&doc.parent().unwrap().join(path)) {
                        Some(f) if f.starts_with(&root) => f,
                        _ => {
                            problems.push(format!(
                                "{rel_doc}:{n}: {target} points outside the repository"
                            ));
                            continue;
                        }
                    }
                };
                if !file.exists() {
                    problems.push(format!("{rel_doc}:{n}: {target} does not exist"));
                    continue;
                }
                if let Some(a) = anchor {
                    if file.extension().is_some_and(|x| x == "md") && !anchors(&file).contains(a) {
                        problems.push(format!(
                            "{rel_doc}:{n}: {target}: no heading with the anchor #{a}"
                        ));
                    }
                }
            }
        }
    }
    assert!(
        problems.is_empty(),
        "broken links:\n{}",
        problems.join("\n")
    );
    assert!(checked > 20, "only {checked} relative links found");
}

#[test]
fn no_document_names_a_work_item_or_a_path_outside_the_repository() {
    let root = root();
    let work_item = regex::Regex::new(r"(?i)\b(issue|ticket|work item)\s+#?\d+").unwrap();
    let mut problems = Vec::new();
    for doc in documents() {
        let text = std::fs::read_to_string(&doc).unwrap();
        let rel_doc = doc.strip_prefix(&root).unwrap().display().to_string();
        for (n, line) in text.lines().enumerate() {
            if let Some(m) = work_item.find(line) {
                problems.push(format!("{rel_doc}:{}: \"{}\"", n + 1, m.as_str()));
            }
            if line.contains("../shared") {
                problems.push(format!("{rel_doc}:{}: names ../shared", n + 1));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_newcomer_scripts_are_shellcheck_clean() {
    let scripts = [
        "install/demo",
        "install/install.sh",
        "tests/run",
        ".ci/run",
        "tests/mutants",
        "tests/portability.sh",
    ];
    let o = match Command::new("shellcheck")
        .args(scripts)
        .current_dir(root())
        .output()
    {
        Ok(o) => o,
        Err(_) => {
            panic!("shellcheck is not installed (Debian package shellcheck; tests/run installs it)")
        }
    };
    assert!(
        o.status.success(),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}
