//! Stores attestations in a repository the way Go gitsign does (see
//! [`crate::git::attest`] for the layout), through git's plumbing: new objects
//! first, then one compare-and-swap of the ref, so a failure or a
//! concurrent writer leaves the ref as it was (never half an update, never
//! a lost attestation).

use crate::git::attest::AttestError;
use crate::git::Git;

/// One entry of a tree as `git ls-tree -z` prints it (and `git mktree -z`
/// reads it): `MODE TYPE ID\tNAME`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    /// `MODE TYPE ID`.
    head: Vec<u8>,
    /// The name.
    name: Vec<u8>,
}

impl Entry {
    fn new(mode: &str, kind: &str, id: &str, name: &[u8]) -> Entry {
        Entry {
            head: format!("{mode} {kind} {id}").into_bytes(),
            name: name.to_vec(),
        }
    }
    fn kind_and_id(&self) -> (&[u8], &[u8]) {
        let mut parts = self.head.splitn(3, |b| *b == b' ');
        let _mode = parts.next();
        (
            parts.next().unwrap_or_default(),
            parts.next().unwrap_or_default(),
        )
    }
}

fn git_err(e: crate::git::GitError) -> AttestError {
    AttestError(e.0)
}

/// The entries of tree-ish `tree`.
fn ls_tree(git: &Git, tree: &str) -> Result<Vec<Entry>, AttestError> {
    let out = git
        .output(&["ls-tree", "-z", "--end-of-options", tree])
        .map_err(git_err)?;
    let mut entries = Vec::new();
    for rec in out.split(|b| *b == 0).filter(|r| !r.is_empty()) {
        let tab = rec.iter().position(|b| *b == b'\t').ok_or_else(|| {
            AttestError(format!(
                "git ls-tree printed an unreadable entry for {tree}"
            ))
        })?;
        entries.push(Entry {
            head: rec[..tab].to_vec(),
            name: rec[tab + 1..].to_vec(),
        });
    }
    Ok(entries)
}

/// A tree of `entries`, with any old entry of the same name replaced.
fn make_tree(git: &Git, mut entries: Vec<Entry>, new: Vec<Entry>) -> Result<String, AttestError> {
    entries.retain(|e| !new.iter().any(|n| n.name == e.name));
    entries.extend(new);
    let mut input = Vec::new();
    for e in &entries {
        input.extend_from_slice(&e.head);
        input.push(b'\t');
        input.extend_from_slice(&e.name);
        input.push(0);
    }
    // mktree sorts the entries as git requires.
    let out = git
        .output_with_input(&["mktree", "-z"], input)
        .map_err(git_err)?;
    Ok(String::from_utf8_lossy(&out).trim().to_string())
}

fn write_blob(git: &Git, data: &[u8]) -> Result<String, AttestError> {
    let out = git
        .output_with_input(
            &["hash-object", "-w", "--no-filters", "--stdin"],
            data.to_vec(),
        )
        .map_err(git_err)?;
    Ok(String::from_utf8_lossy(&out).trim().to_string())
}

/// The commit `ref_name` (a full ref name) points at, if it exists. The
/// ref is read exactly (`show-ref --verify`): git's name lookup would take
/// a fetched tag `refs/tags/refs/attestations/commits` for it while the
/// ref does not exist.
pub fn current(git: &Git, ref_name: &str) -> Result<Option<String>, AttestError> {
    let (code, out) = git
        .status_output(&[
            "show-ref",
            "--verify",
            "--hash",
            "--end-of-options",
            ref_name,
        ])
        .map_err(git_err)?;
    if code != Some(0) {
        return Ok(None);
    }
    let id = String::from_utf8_lossy(&out).trim().to_string();
    let kind = git.output(&["cat-file", "-t", &id]).map_err(git_err)?;
    if kind.trim_ascii() != b"commit" {
        return Err(AttestError(format!(
            "{ref_name} points at a {}, not a commit; attestations are kept in a commit's tree \
             (move the ref away to start afresh)",
            String::from_utf8_lossy(kind.trim_ascii())
        )));
    }
    Ok(Some(id))
}

/// Adds one attestation of object `id` under `ref_name`: `name` holding
/// `predicate` and `name.sig` holding `envelope`, next to every other file
/// already there (a file of the same name is replaced, as Go gitsign
/// replaces it). Commits the new tree on top of the ref's commit with
/// `message` and moves the ref only if nobody moved it meanwhile. Returns
/// the new commit's id.
pub fn add(
    git: &Git,
    ref_name: &str,
    id: &str,
    name: &[u8],
    predicate: &[u8],
    envelope: &[u8],
    message: &str,
) -> Result<String, AttestError> {
    let old = current(git, ref_name)?;
    let top = match &old {
        Some(c) => ls_tree(git, c)?,
        None => Vec::new(),
    };
    let sub = match top.iter().find(|e| e.name == id.as_bytes()) {
        None => Vec::new(),
        Some(e) => {
            let (kind, tree) = e.kind_and_id();
            if kind != b"tree" {
                return Err(AttestError(format!(
                    "{ref_name} holds a file named {id} where a directory of its attestations \
                     belongs; nothing was written"
                )));
            }
            ls_tree(git, &String::from_utf8_lossy(tree))?
        }
    };
    let predicate_blob = write_blob(git, predicate)?;
    let envelope_blob = write_blob(git, envelope)?;
    let mut sig_name = name.to_vec();
    sig_name.extend_from_slice(b".sig");
    let sub_tree = make_tree(
        git,
        sub,
        vec![
            Entry::new("100644", "blob", &predicate_blob, name),
            Entry::new("100644", "blob", &envelope_blob, &sig_name),
        ],
    )?;
    let tree = make_tree(
        git,
        top,
        vec![Entry::new("040000", "tree", &sub_tree, id.as_bytes())],
    )?;
    let mut args = vec!["commit-tree", "--no-gpg-sign", tree.as_str()];
    if let Some(p) = &old {
        args.extend(["-p", p.as_str()]);
    }
    args.extend(["-F", "-"]);
    let out = git
        .output_with_input(&args, message.as_bytes().to_vec())
        .map_err(git_err)?;
    let commit = String::from_utf8_lossy(&out).trim().to_string();
    // The old value makes this a compare-and-swap: "" means "must not exist".
    let expect = old.as_deref().unwrap_or("");
    // --no-deref: a symbolic ref at this name never redirects the write to
    // another ref.
    git.output(&[
        "update-ref",
        "--no-deref",
        "-m",
        "gitsign attest",
        ref_name,
        &commit,
        expect,
    ])
    .map_err(|e| {
        AttestError(format!(
            "{ref_name} was not updated ({}); if another process wrote an attestation \
                 meanwhile, run gitsign attest again",
            e.0
        ))
    })?;
    Ok(commit)
}
