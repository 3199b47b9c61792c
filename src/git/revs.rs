//! What a revision argument of `gitsign verify` names, checked before git
//! reads it.
//!
//! - **Ambiguous short names.** git reads `main` as the first of
//!   `refs/main`, `refs/tags/main`, `refs/heads/main`,
//!   `refs/remotes/main`, `refs/remotes/main/HEAD` that exists, so whoever
//!   may push a tag called `main` chooses what `gitsign verify main` checks
//!   (git only warns). A short name that more than one of these rules
//!   finds is refused, naming the candidates; a full ref name
//!   (`refs/heads/main`) is read exactly (and refused when it does not
//!   exist but another rule would find something).
//! - **Tags under another name.** A tag object carries its own name
//!   (`tag v1.0`, covered by its signature); a ref `refs/tags/v9.9` that
//!   points at it does not make it v9.9. A tag ref whose tag object names
//!   another tag is refused ([`tag_name_mismatch`]).
//! - **Tips of a date-limited walk.** `--since` picks commits by committer
//!   date, which whoever writes a commit chooses; [`tips`] lists the
//!   commits the revisions name, so each is checked whatever its date.

use std::io::Write;

use crate::git::{is_object_id, is_ref_name, Git, GitError};

/// git's rules for a short name after `$GIT_DIR/<name>` (git's
/// `ref_rev_parse_rules`), as full ref names in git's order; names no rule
/// makes a valid ref name are left out.
pub fn short_name_rules(name: &str) -> Vec<String> {
    [
        format!("refs/{name}"),
        format!("refs/tags/{name}"),
        format!("refs/heads/{name}"),
        format!("refs/remotes/{name}"),
        format!("refs/remotes/{name}/HEAD"),
    ]
    .into_iter()
    .filter(|r| is_ref_name(r))
    .collect()
}

/// The names a revision argument reads refs by: `A` and `B` of `A..B`,
/// `A...B` and `^A`; the name before `~`, `^`, `:` or `@{` (`main~2`,
/// `v1.0^{commit}`, `main@{1}`). `HEAD`-like names (`@`, empty sides) and
/// `:/text` are left out.
pub fn revision_names(rev: &str) -> Vec<&str> {
    let rev = rev.strip_prefix('^').unwrap_or(rev);
    let sides: Vec<&str> = if let Some((a, b)) = rev.split_once("...") {
        vec![a, b]
    } else if let Some((a, b)) = rev.split_once("..") {
        vec![a, b]
    } else {
        vec![rev]
    };
    sides
        .into_iter()
        .filter_map(|s| {
            let mut end = s.find(['~', '^', ':']).unwrap_or(s.len());
            if let Some(i) = s.find("@{") {
                end = end.min(i);
            }
            let name = &s[..end];
            (!name.is_empty() && name != "@").then_some(name)
        })
        .collect()
}

/// A name git reads from `$GIT_DIR` itself before any rule (`HEAD`,
/// `FETCH_HEAD`, `ORIG_HEAD`): upper case and underscores.
fn is_root_ref_syntax(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_uppercase() || b == b'_')
}

/// A ref that exists: its full name, the object it points at, and that
/// object's type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefTarget {
    /// Full ref name.
    pub name: String,
    /// Object id it points at (a symbolic ref: its target's).
    pub id: String,
    /// `commit`, `tag`, ...
    pub kind: String,
}

/// The refs among `names` (full names) that exist.
fn refs_named(git: &Git, names: &[String]) -> Result<Vec<RefTarget>, GitError> {
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let mut args = vec![
        "for-each-ref",
        "--format=%(objectname) %(objecttype) %(refname)",
    ];
    args.extend(names.iter().map(String::as_str));
    let out = git.output(&args)?;
    let text = String::from_utf8_lossy(&out);
    // for-each-ref matches at '/' boundaries (refs/heads/main also finds
    // refs/heads/main/x): only exact names count.
    Ok(text
        .lines()
        .filter_map(|l| {
            let mut w = l.splitn(3, ' ');
            let (id, kind, name) = (w.next()?, w.next()?, w.next()?);
            (names.iter().any(|n| n == name) && is_object_id(id)).then(|| RefTarget {
                name: name.to_string(),
                id: id.to_string(),
                kind: kind.to_string(),
            })
        })
        .collect())
}

/// The ref `name` (a name from [`revision_names`]) resolves through, or an
/// error when git's lookup could pick among several. `None`: no ref (an
/// object id, `HEAD`, a name git will refuse itself).
pub fn resolve_name(git: &Git, name: &str) -> Result<Option<RefTarget>, GitError> {
    if is_object_id(name) || is_root_ref_syntax(name) {
        return Ok(None);
    }
    let rules = short_name_rules(name);
    if name.starts_with("refs/") {
        // Read exactly; git's rules would look further only when it is
        // missing (refs/tags/refs/heads/main for a missing refs/heads/main).
        let mut want = vec![name.to_string()];
        want.extend(rules);
        let found = refs_named(git, &want)?;
        if let Some(exact) = found.iter().find(|r| r.name == name) {
            return Ok(Some(exact.clone()));
        }
        if let Some(other) = found.first() {
            return Err(GitError(format!(
                "{name} does not exist, and git would read {} in its place; name a ref that exists",
                other.name
            )));
        }
        return Ok(None);
    }
    let mut found = refs_named(git, &rules)?;
    // In git's order: the first is what git would pick.
    found.sort_by_key(|r| rules.iter().position(|n| *n == r.name));
    match found.len() {
        0 => Ok(None),
        1 => Ok(found.pop()),
        _ => {
            let names: Vec<&str> = found.iter().map(|r| r.name.as_str()).collect();
            Err(GitError(format!(
                "\"{name}\" is ambiguous: it names {} (git would pick {}, whoever created it); \
                 write the full ref name of the one to verify (e.g. {})",
                names.join(" and "),
                names[0],
                names.last().copied().unwrap_or_default()
            )))
        }
    }
}

/// The `tag` header of an annotated tag object.
pub fn tag_header(tag: &[u8]) -> Option<String> {
    for line in tag.split(|b| *b == b'\n') {
        if line.is_empty() {
            break;
        }
        if let Some(name) = line.strip_prefix(b"tag ") {
            return Some(String::from_utf8_lossy(name).into_owned());
        }
    }
    None
}

/// When `ref_name` is `refs/tags/X` and the tag object `tag` it points at
/// names another tag, the sentence refusing it.
pub fn tag_name_mismatch(ref_name: &str, tag: &[u8]) -> Option<String> {
    let want = ref_name.strip_prefix("refs/tags/")?;
    let signed = crate::git::gitobj::split_tag(tag).is_some();
    let had = tag_header(tag);
    if had.as_deref() == Some(want) {
        return None;
    }
    let what = if signed { "signed as" } else { "named" };
    Some(match had {
        Some(had) => format!(
            "{ref_name} points at a tag object {what} {had}: its signature vouches for the name {had}, \
             not {want} (an old tag can be republished under a new name by anyone who may push tags); \
             verify it as refs/tags/{had}, or have {want} tagged and signed under its own name"
        ),
        None => format!(
            "{ref_name} points at a tag object without a tag name; it cannot vouch for {want}"
        ),
    })
}

/// Checks every name the revision arguments `revs` read: refuses an
/// ambiguous short name, and a tag ref whose tag object names another tag.
pub fn check_revisions(git: &Git, revs: &[String]) -> Result<(), GitError> {
    let mut reader = None;
    for rev in revs {
        for name in revision_names(rev) {
            let Some(r) = resolve_name(git, name)? else {
                continue;
            };
            if r.kind != "tag" || !r.name.starts_with("refs/tags/") {
                continue;
            }
            if reader.is_none() {
                reader = Some(git.cat_file()?);
            }
            let Some(reader) = reader.as_mut() else {
                continue;
            };
            let obj = reader.get(&r.id)?.ok_or_else(|| {
                GitError(format!("{} points at {}, which is missing", r.name, r.id))
            })?;
            if let Some(why) = tag_name_mismatch(&r.name, &obj.data) {
                return Err(GitError(why));
            }
        }
    }
    Ok(())
}

/// git's version (major, minor), from `git version`.
pub fn git_version(git: &Git) -> Result<(u32, u32), GitError> {
    let out = git.output(&["version"])?;
    let text = String::from_utf8_lossy(&out);
    parse_version(&text)
        .ok_or_else(|| GitError(format!("cannot read git's version from {:?}", text.trim())))
}

fn parse_version(text: &str) -> Option<(u32, u32)> {
    let v = text.trim().strip_prefix("git version ")?;
    let mut parts = v.split(|c: char| !c.is_ascii_digit());
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

/// The commits the revisions name as tips (each positive revision, and
/// every ref and `HEAD` under `all`), peeled to commits, in order and
/// without repeats; a tip a negative revision (`A` of `A..B`) reaches is
/// left out, as git's walk leaves it out. `revs` must have passed
/// [`crate::git::check_revision`].
pub fn tips(git: &Git, all: bool, revs: &[String]) -> Result<Vec<String>, GitError> {
    let mut args = vec!["rev-parse", "--revs-only"];
    if all {
        args.push("--all");
    }
    args.push("--end-of-options");
    args.extend(revs.iter().map(String::as_str));
    if revs.is_empty() && !all {
        args.push("HEAD");
    }
    let out = git.output(&args)?;
    let text = String::from_utf8_lossy(&out).into_owned();
    let mut positive: Vec<String> = Vec::new();
    let mut negative: Vec<String> = Vec::new();
    for line in text.lines() {
        match line.strip_prefix('^') {
            Some(id) if is_object_id(id) => negative.push(id.to_string()),
            None if is_object_id(line) => positive.push(line.to_string()),
            _ => {
                return Err(GitError(format!(
                    "git rev-parse printed {:?}, not an object id",
                    crate::encoding::text::excerpt(line, 100)
                )))
            }
        }
    }
    if all {
        // rev-list --all also starts from HEAD (a detached one included).
        if let Ok(head) = git.output(&["rev-parse", "-q", "--verify", "HEAD"]) {
            let head = String::from_utf8_lossy(&head).trim().to_string();
            if is_object_id(&head) {
                positive.push(head);
            }
        }
    }
    let mut commits = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for id in peel_to_commits(git, &positive)? {
        if seen.insert(id.clone()) && !reached_from(git, &id, &negative)? {
            commits.push(id);
        }
    }
    Ok(commits)
}

/// Each id peeled to a commit (tags followed); ids that are not commits
/// or tags of commits (a ref to a tree) are left out, as `rev-list`
/// leaves them out.
fn peel_to_commits(git: &Git, ids: &[String]) -> Result<Vec<String>, GitError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut input = Vec::new();
    for id in ids {
        writeln!(input, "{id}^{{commit}}").map_err(|e| GitError(e.to_string()))?;
    }
    let out = git.output_with_input(
        &["cat-file", "--batch-check=%(objectname) %(objecttype)"],
        input,
    )?;
    Ok(String::from_utf8_lossy(&out)
        .lines()
        .filter_map(|l| {
            let (id, kind) = l.split_once(' ')?;
            (kind == "commit" && is_object_id(id)).then(|| id.to_string())
        })
        .collect())
}

/// Whether `negative` commits reach `id` (so a walk from it excluding them
/// would not list it).
fn reached_from(git: &Git, id: &str, negative: &[String]) -> Result<bool, GitError> {
    if negative.is_empty() {
        return Ok(false);
    }
    let mut args = vec!["rev-list", "-n", "1", id];
    let nots: Vec<String> = negative.iter().map(|n| format!("^{n}")).collect();
    args.extend(nots.iter().map(String::as_str));
    args.push("--");
    let out = git.output(&args)?;
    Ok(String::from_utf8_lossy(&out).trim() != id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_in_revisions() {
        assert_eq!(revision_names("main"), ["main"]);
        assert_eq!(revision_names("v1.0..main"), ["v1.0", "main"]);
        assert_eq!(revision_names("a...b"), ["a", "b"]);
        assert_eq!(revision_names("^main"), ["main"]);
        assert_eq!(revision_names("main~2"), ["main"]);
        assert_eq!(revision_names("v1^{commit}"), ["v1"]);
        assert_eq!(revision_names("main@{1}"), ["main"]);
        assert_eq!(revision_names("..main"), ["main"]);
        assert_eq!(revision_names("@~1"), Vec::<&str>::new());
        assert_eq!(revision_names(":/fix"), Vec::<&str>::new());
        assert_eq!(revision_names("x^!"), ["x"]);
    }

    #[test]
    fn rules_and_versions() {
        assert_eq!(
            short_name_rules("main"),
            [
                "refs/main",
                "refs/tags/main",
                "refs/heads/main",
                "refs/remotes/main",
                "refs/remotes/main/HEAD"
            ]
        );
        assert!(is_root_ref_syntax("FETCH_HEAD"));
        assert!(!is_root_ref_syntax("main"));
        assert_eq!(parse_version("git version 2.47.3\n"), Some((2, 47)));
        assert_eq!(
            parse_version("git version 2.39.3 (Apple Git-146)"),
            Some((2, 39))
        );
        assert_eq!(parse_version("git version 2.44.0.windows.1"), Some((2, 44)));
        assert_eq!(parse_version("nonsense"), None);
    }

    #[test]
    fn tag_names() {
        let tag = b"object 8b137891791fe96927ad78e64b0aad7bded08bdc\ntype commit\ntag v1.0\ntagger A <a@x> 1 +0000\n\nmsg\n";
        assert_eq!(tag_header(tag).as_deref(), Some("v1.0"));
        assert!(tag_name_mismatch("refs/tags/v1.0", tag).is_none());
        assert!(tag_name_mismatch("refs/heads/x", tag).is_none());
        let e = tag_name_mismatch("refs/tags/v9.9", tag).unwrap();
        assert!(
            e.starts_with("refs/tags/v9.9 points at a tag object named v1.0:"),
            "{e}"
        );
    }
}
