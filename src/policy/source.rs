//! Where the policy file comes from: a path (`--policy`, `gitsign.policy`)
//! or a blob in the repository (`gitsign.policyRef = <ref>:<path>`).
//!
//! A policy in the repository is only as safe as the name that finds it.
//! git's own lookup of a revision tries `<name>`, `refs/<name>`,
//! `refs/tags/<name>`, `refs/heads/<name>`, ... in turn, so `main:policy`
//! would take a *tag* named `main` over the branch, and even a full name
//! whose ref is missing falls through to `refs/tags/refs/...`. Whoever may
//! push a tag could then choose the policy. So `policyRef` accepts only a
//! full ref name, read with `git show-ref --verify` (exact), or a full
//! commit id; the commit, the path in its tree and the blob are then
//! resolved by id, without replace refs, and the blob is checked against
//! its id when read.

use std::path::Path;

use crate::config::Config;
use crate::git::{is_object_id, is_ref_name, Git};
use crate::policy::file::PolicyFile;

/// The revision part of `gitsign.policyRef`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicyRev {
    /// A full ref name (`refs/...`), looked up exactly.
    Ref(String),
    /// A full commit id.
    Commit(String),
}

/// A parsed `gitsign.policyRef`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyRef {
    /// Where the commit comes from.
    pub rev: PolicyRev,
    /// The file's path in the commit's tree.
    pub path: String,
}

/// Longest path accepted in `policyRef`.
const MAX_PATH: usize = 4096;

/// Is `path` a plain relative path in a tree (no `.`/`..` components, no
/// empty ones, not absolute)? git reads `./x` and `../x` relative to the
/// current directory, which must not decide which file is the policy.
fn is_tree_path(path: &str) -> bool {
    !path.is_empty()
        && path.len() <= MAX_PATH
        && !path.chars().any(char::is_control)
        && path
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != "..")
}

/// Parses `gitsign.policyRef`; the error is a sentence naming the fix.
pub fn parse_policy_ref(spec: &str) -> Result<PolicyRef, String> {
    let example =
        "e.g. refs/heads/main:.gitsign/policy.toml, or <full commit id>:.gitsign/policy.toml";
    let Some((rev, path)) = spec.split_once(':') else {
        return Err(format!(
            "gitsign.policyRef = \"{spec}\" must be <full ref name or commit id>:<path> ({example})"
        ));
    };
    if !is_tree_path(path) {
        return Err(format!(
            "gitsign.policyRef = \"{spec}\": \"{path}\" is not a path in the tree (write it from the top of \
             the tree, without ./, ../ or a leading /; {example})"
        ));
    }
    let rev = if is_object_id(rev) {
        PolicyRev::Commit(rev.to_ascii_lowercase())
    } else if is_ref_name(rev) {
        PolicyRev::Ref(rev.to_string())
    } else if !rev.is_empty() && is_ref_name(&format!("refs/heads/{rev}")) {
        // A short name: git would let a tag of that name win. Say which
        // full name was probably meant.
        return Err(format!(
            "gitsign.policyRef = \"{spec}\": \"{rev}\" is not a full ref name, and git's lookup of a short \
             name lets a tag called \"{rev}\" win over the branch; write refs/heads/{rev}:{path} (or \
             refs/tags/{rev}:{path}, or a full commit id)"
        ));
    } else {
        return Err(format!(
            "gitsign.policyRef = \"{spec}\": \"{rev}\" is neither a full ref name (refs/...) nor a full \
             commit id ({example})"
        ));
    };
    Ok(PolicyRef {
        rev,
        path: path.to_string(),
    })
}

/// Reads the policy a `policyRef` names: the commit (exact ref, or id),
/// the blob at `path` in its tree, checked against its id.
pub fn read_policy_ref(spec: &str, git: &Git) -> Result<PolicyFile, String> {
    let r = parse_policy_ref(spec)?;
    let cannot = |e: String| format!("cannot read the policy {spec} (gitsign.policyRef): {e}");
    let start = match &r.rev {
        PolicyRev::Commit(id) => id.clone(),
        PolicyRev::Ref(name) => {
            // show-ref --verify takes the name exactly as written.
            let (code, out) = git
                .status_output(&["show-ref", "--verify", "--hash", "--end-of-options", name])
                .map_err(|e| cannot(e.0))?;
            let id = String::from_utf8_lossy(&out).trim().to_string();
            if code != Some(0) || !is_object_id(&id) {
                return Err(cannot(format!(
                    "the ref {name} does not exist in this repository (gitsign.policyRef names it exactly; \
                     create it or name the ref that holds the policy)"
                )));
            }
            id
        }
    };
    // By id from here on: nothing below is a name git could look up
    // elsewhere.
    let commit = rev_parse_id(git, &format!("{start}^{{commit}}"))
        .map_err(|e| cannot(format!("{start} is not a commit: {e}")))?;
    let blob = rev_parse_id(git, &format!("{commit}:{}", r.path))
        .map_err(|e| cannot(format!("no file {} in commit {commit}: {e}", r.path)))?;
    let obj = git
        .cat_file()
        .and_then(|mut c| c.get(&blob))
        .map_err(|e| cannot(e.0))?
        .ok_or_else(|| cannot(format!("the object {blob} is missing")))?;
    if obj.kind != "blob" {
        return Err(cannot(format!("{} is a {}, not a file", r.path, obj.kind)));
    }
    let text =
        String::from_utf8(obj.data).map_err(|_| format!("the policy {spec} is not UTF-8 text"))?;
    PolicyFile::parse(&text, spec).map_err(|e| format!("policy error: {e}"))
}

/// `git rev-parse --verify` of an expression built from an object id.
fn rev_parse_id(git: &Git, expr: &str) -> Result<String, String> {
    let out = git
        .output(&["rev-parse", "--verify", "--end-of-options", expr])
        .map_err(|e| e.0)?;
    let id = String::from_utf8_lossy(&out).trim().to_string();
    if is_object_id(&id) {
        Ok(id)
    } else {
        Err(format!("git rev-parse printed {id:?}"))
    }
}

/// Loads the policy file named by the flag or configuration, if any:
/// `flag`, else `gitsign.policy`, else `gitsign.policyRef`.
pub fn load_configured(
    flag: Option<&Path>,
    config: &Config,
    git: &Git,
) -> Result<Option<PolicyFile>, String> {
    if let Some(p) = flag.or(config.policy_file.as_deref()) {
        return PolicyFile::load(p)
            .map(Some)
            .map_err(|e| format!("policy error: {e}"));
    }
    match &config.policy_ref {
        Some(spec) => read_policy_ref(spec, git).map(Some),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_refs() {
        let r = parse_policy_ref("refs/heads/main:.gitsign/policy.toml").unwrap();
        assert_eq!(r.rev, PolicyRev::Ref("refs/heads/main".into()));
        assert_eq!(r.path, ".gitsign/policy.toml");
        let id = "8b137891791fe96927ad78e64b0aad7bded08bdc";
        let r = parse_policy_ref(&format!("{id}:p.toml")).unwrap();
        assert_eq!(r.rev, PolicyRev::Commit(id.into()));
        let e = parse_policy_ref("main:.gitsign/policy.toml").unwrap_err();
        assert!(
            e.contains("write refs/heads/main:.gitsign/policy.toml"),
            "{e}"
        );
        for bad in [
            "refs/heads/main",
            "HEAD:p",
            "main~1:p",
            "refs/heads/main^{commit}:p",
            "refs/heads/main@{1}:p",
            "refs/heads/../x:p",
            "refs/heads/main:./p",
            "refs/heads/main:../p",
            "refs/heads/main:/p",
            "refs/heads/main:a//p",
            "refs/heads/main:",
            ":p",
            "8b13789:p",
            "refs/:p",
            "refs/heads/.x:p",
            "refs/heads/x.lock:p",
            "-x:p",
        ] {
            assert!(parse_policy_ref(bad).is_err(), "{bad}");
        }
    }
}
