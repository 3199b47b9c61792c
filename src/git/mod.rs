//! git plumbing for reading many objects fast: `git rev-list` to choose
//! them and one `git cat-file --batch` to read them. Running git itself (rather than reading the object store
//! directly) gives hooks the quarantine environment and alternates for free.
//!
//! What git hands back is not trusted blindly:
//! - replace refs (`refs/replace/*`) are never followed: every git we run
//!   gets `--no-replace-objects` and `GIT_NO_REPLACE_OBJECTS=1`, so an
//!   object id always means the object with that hash, not whatever a
//!   replace ref puts in its place;
//! - every object read is checked to hash to the id asked for (a swapped
//!   or corrupted object file is refused, naming both ids);
//! - arguments that come from a user are never taken as options: callers
//!   pass them after `--end-of-options`, and [`check_revision`] refuses
//!   anything starting with `-` with a sentence of its own.
//!
//! This folder holds git's side of gitsign: signed objects split and put
//! back together ([`gitobj`]), revision arguments checked ([`revs`]),
//! ranges verified in parallel ([`range`]), gpg's status protocol
//! ([`gpg`]), `gitsign show` ([`show`]), and attestations: their formats
//! ([`attest`]) and their store in a repository ([`attest_store`]).
//!
//! What it may use: [`crate::encoding`], [`crate::pki`], and
//! [`crate::sigstore::bundle`] (DSSE's pre-authentication encoding);
//! [`gpg`] and [`range`] report what [`crate::verify`] and
//! [`crate::policy`] decided.

pub mod attest;
pub mod attest_store;
pub mod gitobj;
pub mod gpg;
pub mod range;
pub mod revs;
pub mod show;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use crate::git::gitobj::HashAlgo;

/// Largest object read (commits and tags are far smaller).
pub const MAX_OBJECT: usize = 64 * 1024 * 1024;

/// A git failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitError(pub String);

impl std::fmt::Display for GitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for GitError {}

/// Is `s` a full object id (40 or 64 hex digits)?
pub fn is_object_id(s: &str) -> bool {
    (s.len() == 40 || s.len() == 64) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Longest ref name accepted.
pub const MAX_REF_NAME: usize = 4096;

/// Is `name` a full ref name git would store (the rules of
/// `git check-ref-format`, plus the `refs/` prefix)?
pub fn is_ref_name(name: &str) -> bool {
    let Some(rest) = name.strip_prefix("refs/") else {
        return false;
    };
    !rest.is_empty()
        && name.len() <= MAX_REF_NAME
        && !name.contains("..")
        && !name.contains("@{")
        && !name.ends_with('/')
        && !name.ends_with('.')
        && !name
            .chars()
            .any(|c| c.is_control() || matches!(c, ' ' | '~' | '^' | ':' | '?' | '*' | '[' | '\\'))
        && name
            .split('/')
            .all(|c| !c.is_empty() && !c.starts_with('.') && !c.ends_with(".lock"))
}

/// Refuses a user-given revision git could read as something else: one
/// that starts with `-` (an option: `--output=FILE` truncates FILE), or
/// holds a newline or NUL. Callers still pass revisions after
/// `--end-of-options`; this gives the user a sentence instead of git's.
pub fn check_revision(rev: &str) -> Result<(), GitError> {
    if rev.starts_with('-') {
        return Err(GitError(format!(
            "\"{rev}\" is not a revision (revisions cannot start with '-'; options go before --)"
        )));
    }
    if rev.is_empty() || rev.contains(['\n', '\0']) {
        return Err(GitError(format!("{rev:?} is not a revision")));
    }
    Ok(())
}

/// How to run git: in a directory (or the current one).
#[derive(Debug, Clone, Default)]
pub struct Git {
    dir: Option<PathBuf>,
    full_history: bool,
}

impl Git {
    /// git in the current directory, with the inherited environment.
    pub fn new() -> Git {
        Git::default()
    }

    /// git in `dir`.
    pub fn in_dir(dir: PathBuf) -> Git {
        Git {
            dir: Some(dir),
            full_history: false,
        }
    }

    /// The same git, blind to shallow boundaries: no shallow file is read
    /// (`GIT_SHALLOW_FILE` set empty), neither the repository's own nor
    /// the one receive-pack hands a hook for a push from a shallow clone
    /// (`receive.shallowUpdate`), which lists commits the *pusher* chose
    /// to treat as having no parents. A walk then sees every parent, or
    /// fails on one that is missing; it never stops where a pusher said.
    pub fn ignoring_shallow(mut self) -> Git {
        self.full_history = true;
        self
    }

    /// A git command that never follows replace refs (the option for this
    /// git, the variable for any git it runs in turn).
    fn command(&self) -> Command {
        let mut c = Command::new("git");
        c.arg("--no-replace-objects")
            .env("GIT_NO_REPLACE_OBJECTS", "1");
        if self.full_history {
            // git reads an empty GIT_SHALLOW_FILE as "no shallow file".
            c.env("GIT_SHALLOW_FILE", "");
        }
        if let Some(d) = &self.dir {
            c.current_dir(d);
        }
        c
    }

    /// Runs git and returns stdout; a non-zero exit is an error with git's message.
    pub fn output(&self, args: &[&str]) -> Result<Vec<u8>, GitError> {
        let o = self.run(args)?;
        if !o.status.success() {
            return Err(GitError(format!(
                "git {} failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&o.stderr).trim()
            )));
        }
        Ok(o.stdout)
    }

    /// Runs git with `input` on its standard input (written on a thread,
    /// so any amount of output can come back meanwhile) and returns stdout;
    /// a non-zero exit is an error with git's message.
    pub fn output_with_input(&self, args: &[&str], input: Vec<u8>) -> Result<Vec<u8>, GitError> {
        let mut child = self
            .command()
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| GitError(format!("cannot run git: {e}")))?;
        let stdin = child.stdin.take();
        let writer = std::thread::spawn(move || {
            if let Some(mut s) = stdin {
                // A write error means git exited early; its status says why.
                let _ = s.write_all(&input);
            }
        });
        let o = child
            .wait_with_output()
            .map_err(|e| GitError(format!("cannot run git: {e}")))?;
        let _ = writer.join();
        if !o.status.success() {
            return Err(GitError(format!(
                "git {} failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&o.stderr).trim()
            )));
        }
        Ok(o.stdout)
    }

    /// Runs git; returns its exit code and stdout (for commands whose
    /// exit status is an answer, like `symbolic-ref -q`).
    pub fn status_output(&self, args: &[&str]) -> Result<(Option<i32>, Vec<u8>), GitError> {
        let o = self.run(args)?;
        Ok((o.status.code(), o.stdout))
    }

    fn run(&self, args: &[&str]) -> Result<std::process::Output, GitError> {
        self.command()
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| GitError(format!("cannot run git: {e}")))
    }

    /// `git rev-list ARGS`, streamed. User-given revisions in `args` must
    /// follow `--end-of-options`.
    pub fn rev_list(&self, args: &[String]) -> Result<RevList, GitError> {
        let mut all = vec!["rev-list".to_string()];
        all.extend(args.iter().cloned());
        self.walk(all, None, false)
    }

    /// `git rev-list --stdin` with `revs` (tips and `^exclusions`, as many
    /// as a repository has refs) written to its standard input: no
    /// command-line length limit applies.
    pub fn rev_list_stdin(&self, revs: &[String]) -> Result<RevList, GitError> {
        let args = vec!["rev-list".to_string(), "--stdin".to_string()];
        self.walk(args, Some(stdin_revs(revs)?), false)
    }

    /// Like [`Git::rev_list_stdin`], children before parents
    /// (`--topo-order`) and each id with its parents (`--parents`), so a
    /// caller can tell which tip brought each commit while holding only
    /// the walk's frontier. (`git log --source` would say it directly, but
    /// keeps every commit's text in memory during a walk with exclusions:
    /// 800 MB for 40 commits of 20 MiB.)
    pub fn rev_list_with_parents(&self, revs: &[String]) -> Result<RevList, GitError> {
        let args = ["rev-list", "--topo-order", "--parents", "--stdin"];
        self.walk(
            args.iter().map(|s| s.to_string()).collect(),
            Some(stdin_revs(revs)?),
            true,
        )
    }

    fn walk(
        &self,
        args: Vec<String>,
        input: Option<Vec<u8>>,
        parents: bool,
    ) -> Result<RevList, GitError> {
        let mut child = self
            .command()
            .args(&args)
            .stdin(if input.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| GitError(format!("cannot run git {}: {e}", args[0])))?;
        if let (Some(input), Some(mut stdin)) = (input, child.stdin.take()) {
            // git reads all of its input before it prints anything, so
            // writing it first cannot deadlock on the output pipe. A write
            // error means git exited early; its status says why.
            let _ = stdin.write_all(&input);
        }
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| GitError(format!("git {} has no output", args[0])))?;
        Ok(RevList {
            child,
            lines: BufReader::new(stdout),
            args: args.join(" "),
            parents,
        })
    }

    /// A `git cat-file --batch` reader.
    pub fn cat_file(&self) -> Result<CatFile, GitError> {
        let mut child = self
            .command()
            .args(["cat-file", "--batch"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| GitError(format!("cannot run git cat-file: {e}")))?;
        let stdin = child
            .stdin
            .take()
            .ok_or_else(|| GitError("git cat-file has no input".into()))?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| GitError("git cat-file has no output".into()))?;
        Ok(CatFile {
            child,
            stdin,
            stdout: BufReader::new(stdout),
        })
    }
}

/// Revisions one per line, for `--stdin`.
fn stdin_revs(revs: &[String]) -> Result<Vec<u8>, GitError> {
    let mut input = Vec::with_capacity(revs.len() * 42);
    for r in revs {
        // Generated by us (ids and ^ids), never options.
        if r.is_empty() || r.starts_with('-') || r.contains(['\n', '\0']) {
            return Err(GitError(format!("not a revision: {r:?}")));
        }
        input.extend_from_slice(r.as_bytes());
        input.push(b'\n');
    }
    Ok(input)
}

/// Longest line read from rev-list: an id and its parents (an octopus
/// merge of about 25,000 parents).
const MAX_WALK_LINE: u64 = 1024 * 1024;

/// Object ids from `git rev-list`, one per line (with `--parents`, each
/// followed by its parents).
pub struct RevList {
    child: Child,
    lines: BufReader<ChildStdout>,
    args: String,
    parents: bool,
}

impl RevList {
    /// The next id; `Ok(None)` at the end; an error if git failed.
    pub fn next_id(&mut self) -> Result<Option<String>, GitError> {
        Ok(self.next_with_parents()?.map(|(id, _)| id))
    }

    /// The next id and, from [`Git::rev_list_with_parents`], its parents
    /// (none otherwise).
    pub fn next_with_parents(&mut self) -> Result<Option<(String, Vec<String>)>, GitError> {
        let mut line = String::new();
        let n = (&mut self.lines)
            .take(MAX_WALK_LINE)
            .read_line(&mut line)
            .map_err(|e| GitError(format!("reading git {}: {e}", self.args)))?;
        if n == 0 {
            let mut err = String::new();
            if let Some(e) = self.child.stderr.take() {
                let _ = e.take(64 * 1024).read_to_string(&mut err);
            }
            let status = self
                .child
                .wait()
                .map_err(|e| GitError(format!("git {}: {e}", self.args)))?;
            if !status.success() {
                return Err(GitError(format!(
                    "git {} failed: {}",
                    self.args,
                    err.trim()
                )));
            }
            return Ok(None);
        }
        if !line.ends_with('\n') {
            return Err(GitError(format!(
                "git {} printed a line longer than {MAX_WALK_LINE} bytes",
                self.args
            )));
        }
        let mut words = line.trim_end_matches('\n').split(' ');
        let id = words.next().unwrap_or_default().to_string();
        let parents: Vec<String> = if self.parents {
            words.map(str::to_string).collect()
        } else {
            Vec::new()
        };
        if !is_object_id(&id) || !parents.iter().all(|p| is_object_id(p)) {
            return Err(GitError(format!(
                "git {} printed {:?}, not object ids",
                self.args,
                &line[..line.len().min(200)]
            )));
        }
        Ok(Some((id, parents)))
    }
}

impl Drop for RevList {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An object read from git, checked against its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Object {
    /// git's type name: `commit`, `tag`, `tree` or `blob`.
    pub kind: String,
    /// The contents (without git's `<type> <size>\0` header).
    pub data: Vec<u8>,
}

/// A long-running `git cat-file --batch`.
pub struct CatFile {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl CatFile {
    /// Reads the object with the full id `id`; `None` when missing. The
    /// contents must hash to `id` (with the algorithm its length names),
    /// or it is an error naming both ids.
    pub fn get(&mut self, id: &str) -> Result<Option<Object>, GitError> {
        if !is_object_id(id) {
            return Err(GitError(format!(
                "{id:?} is not a full object id (objects are read by id only)"
            )));
        }
        writeln!(self.stdin, "{id}")
            .and_then(|_| self.stdin.flush())
            .map_err(|e| GitError(format!("writing to git cat-file: {e}")))?;
        let mut header = String::new();
        (&mut self.stdout)
            .take(1024)
            .read_line(&mut header)
            .map_err(|e| GitError(format!("reading git cat-file: {e}")))?;
        let parts: Vec<&str> = header.trim_end().split(' ').collect();
        match parts.as_slice() {
            [_, "missing"] | [_, "ambiguous"] => Ok(None),
            [got, kind, size] => {
                let size: usize = size.parse().map_err(|_| {
                    GitError(format!("git cat-file: bad header \"{}\"", header.trim()))
                })?;
                if size > MAX_OBJECT {
                    // Skip the contents so the next answer stays in step.
                    let skipped = std::io::copy(
                        &mut (&mut self.stdout).take(size as u64 + 1),
                        &mut std::io::sink(),
                    )
                    .map_err(|e| GitError(format!("reading git cat-file: {e}")))?;
                    if skipped != size as u64 + 1 {
                        return Err(GitError("git cat-file stopped in mid-object".into()));
                    }
                    return Err(GitError(format!(
                        "object {id} is a {kind} of {size} bytes, larger than the {MAX_OBJECT} bytes gitsign reads"
                    )));
                }
                let mut data = vec![0u8; size + 1];
                self.stdout
                    .read_exact(&mut data)
                    .map_err(|e| GitError(format!("reading git cat-file: {e}")))?;
                if data.pop() != Some(b'\n') {
                    return Err(GitError(
                        "git cat-file: an object is not followed by a newline".into(),
                    ));
                }
                let algo = if id.len() == 64 {
                    HashAlgo::Sha256
                } else {
                    HashAlgo::Sha1
                };
                let actual = gitobj::object_id_of_type(kind, &data, algo);
                if !actual.eq_ignore_ascii_case(id) || !got.eq_ignore_ascii_case(id) {
                    return Err(GitError(format!(
                        "the {kind} git returned for {id} does not hash to {id} (it hashes to {actual}): \
                         the object store is corrupt or was tampered with; run git fsck"
                    )));
                }
                Ok(Some(Object {
                    kind: kind.to_string(),
                    data,
                }))
            }
            _ => Err(GitError(format!(
                "git cat-file: unexpected answer \"{}\"",
                header.trim()
            ))),
        }
    }
}

impl Drop for CatFile {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Opens the repository around the current directory through gix (for
/// its configuration and single-object lookups), with replace refs off as
/// for every git we run.
pub fn discover_repo() -> Result<gix::Repository, String> {
    let mut repo = gix::discover_with_environment_overrides(".")
        .map_err(|e| format!("not in a git repository (or it cannot be opened): {e}"))?;
    repo.objects.ignore_replacements = true;
    Ok(repo)
}

/// Reads an object through gix, checked against its id like
/// [`CatFile::get`] (gix does not hash what it reads).
pub fn read_object(repo: &gix::Repository, id: gix::ObjectId) -> Result<Object, String> {
    let want = id.to_hex().to_string();
    let obj = repo
        .find_object(id)
        .map_err(|e| format!("cannot read object {want}: {e}"))?;
    let kind = String::from_utf8_lossy(obj.kind.as_bytes()).into_owned();
    let algo = if want.len() == 64 {
        HashAlgo::Sha256
    } else {
        HashAlgo::Sha1
    };
    let actual = gitobj::object_id_of_type(&kind, &obj.data, algo);
    if actual != want {
        return Err(format!(
            "the {kind} read for {want} does not hash to {want} (it hashes to {actual}): \
             the object store is corrupt or was tampered with; run git fsck"
        ));
    }
    Ok(Object {
        kind,
        data: obj.data.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revisions_that_look_like_options_are_refused() {
        assert!(check_revision("HEAD").is_ok());
        assert!(check_revision("v-1..main").is_ok());
        assert!(check_revision("^main").is_ok());
        let e = check_revision("--output=/tmp/x").unwrap_err();
        assert!(e.0.contains("\"--output=/tmp/x\" is not a revision"), "{e}");
        assert!(check_revision("-n").is_err());
        assert!(check_revision("a\nb").is_err());
        assert!(check_revision("").is_err());
        assert!(stdin_revs(&["--all".into()]).is_err());
    }

    #[test]
    fn ref_names() {
        assert!(is_ref_name("refs/heads/main"));
        assert!(is_ref_name("refs/tags/v1.0"));
        assert!(is_ref_name("refs/heads/MAIN"));
        for bad in [
            "main",
            "refs/",
            "refs/heads/",
            "refs/heads/a..b",
            "refs/heads/a@{1}",
            "refs/heads/a b",
            "refs/heads/a:b",
            "refs/heads/a^",
            "refs/heads/.hidden",
            "refs/heads/x.lock",
            "refs/heads//x",
            "refs/heads/x.",
            "refs/heads/\x1b",
        ] {
            assert!(!is_ref_name(bad), "{bad}");
        }
    }

    #[test]
    fn object_ids() {
        assert!(is_object_id("8b137891791fe96927ad78e64b0aad7bded08bdc"));
        assert!(!is_object_id("8b13789"));
        assert!(!is_object_id("refs/heads/main"));
        assert!(!is_object_id(&"g".repeat(40)));
    }
}
