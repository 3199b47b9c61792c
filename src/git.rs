//! git plumbing for reading many objects fast: `git rev-list` to choose
//! them and one `git cat-file --batch` to read them. Running git itself
//! (rather than reading the object store directly) gives hooks the
//! quarantine environment, alternates and replace refs for free.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

/// Largest object read (commits and tags are far smaller).
const MAX_OBJECT: usize = 64 * 1024 * 1024;

/// A git failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitError(pub String);

impl std::fmt::Display for GitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for GitError {}

/// How to run git: in a directory (or the current one).
#[derive(Debug, Clone, Default)]
pub struct Git {
    dir: Option<PathBuf>,
}

impl Git {
    /// git in the current directory, with the inherited environment.
    pub fn new() -> Git {
        Git::default()
    }

    /// git in `dir`.
    pub fn in_dir(dir: PathBuf) -> Git {
        Git { dir: Some(dir) }
    }

    fn command(&self) -> Command {
        let mut c = Command::new("git");
        if let Some(d) = &self.dir {
            c.current_dir(d);
        }
        c
    }

    /// Runs git and returns stdout; a non-zero exit is an error with git's message.
    pub fn output(&self, args: &[&str]) -> Result<Vec<u8>, GitError> {
        let o = self
            .command()
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| GitError(format!("cannot run git: {e}")))?;
        if !o.status.success() {
            return Err(GitError(format!(
                "git {} failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&o.stderr).trim()
            )));
        }
        Ok(o.stdout)
    }

    /// `git rev-list ARGS`, streamed.
    pub fn rev_list(&self, args: &[String]) -> Result<RevList, GitError> {
        self.rev_list_with(args, None)
    }

    /// `git rev-list --stdin` with `revs` (tips and `^exclusions`, as many
    /// as a repository has refs) written to its standard input: no
    /// command-line length limit applies.
    pub fn rev_list_stdin(&self, revs: &[String]) -> Result<RevList, GitError> {
        let mut input = Vec::with_capacity(revs.len() * 42);
        for r in revs {
            if r.contains('\n') || r.is_empty() {
                return Err(GitError(format!("not a revision: {r:?}")));
            }
            input.extend_from_slice(r.as_bytes());
            input.push(b'\n');
        }
        self.rev_list_with(&["--stdin".to_string()], Some(input))
    }

    fn rev_list_with(&self, args: &[String], input: Option<Vec<u8>>) -> Result<RevList, GitError> {
        let mut child = self
            .command()
            .arg("rev-list")
            .args(args)
            .stdin(if input.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| GitError(format!("cannot run git rev-list: {e}")))?;
        if let (Some(input), Some(mut stdin)) = (input, child.stdin.take()) {
            // rev-list reads all of its input before it prints anything, so
            // writing it first cannot deadlock on the output pipe. A write
            // error means git exited early; its status says why.
            let _ = stdin.write_all(&input);
        }
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| GitError("git rev-list has no output".into()))?;
        Ok(RevList {
            child,
            lines: BufReader::new(stdout),
            args: args.join(" "),
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

/// Object ids from `git rev-list`, one per line.
pub struct RevList {
    child: Child,
    lines: BufReader<ChildStdout>,
    args: String,
}

impl RevList {
    /// The next id; `Ok(None)` at the end; an error if git failed.
    pub fn next_id(&mut self) -> Result<Option<String>, GitError> {
        let mut line = String::new();
        let n = self
            .lines
            .read_line(&mut line)
            .map_err(|e| GitError(format!("reading git rev-list: {e}")))?;
        if n == 0 {
            let mut err = String::new();
            if let Some(mut e) = self.child.stderr.take() {
                let _ = e.read_to_string(&mut err);
            }
            let status = self
                .child
                .wait()
                .map_err(|e| GitError(format!("git rev-list: {e}")))?;
            if !status.success() {
                return Err(GitError(format!(
                    "git rev-list {} failed: {}",
                    self.args,
                    err.trim()
                )));
            }
            return Ok(None);
        }
        let id = line.trim().to_string();
        if !(id.len() == 40 || id.len() == 64) || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(GitError(format!(
                "git rev-list printed \"{id}\", not an object id"
            )));
        }
        Ok(Some(id))
    }
}

impl Drop for RevList {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A long-running `git cat-file --batch`.
pub struct CatFile {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl CatFile {
    /// Reads an object: `(type, contents)`, or `None` when missing.
    pub fn get(&mut self, rev: &str) -> Result<Option<(String, Vec<u8>)>, GitError> {
        if rev.contains('\n') {
            return Err(GitError("an object name cannot contain a newline".into()));
        }
        writeln!(self.stdin, "{rev}")
            .and_then(|_| self.stdin.flush())
            .map_err(|e| GitError(format!("writing to git cat-file: {e}")))?;
        let mut header = String::new();
        self.stdout
            .read_line(&mut header)
            .map_err(|e| GitError(format!("reading git cat-file: {e}")))?;
        let parts: Vec<&str> = header.trim_end().split(' ').collect();
        match parts.as_slice() {
            [_, "missing"] | [_, "ambiguous"] => Ok(None),
            [_, kind, size] => {
                let size: usize = size.parse().map_err(|_| {
                    GitError(format!("git cat-file: bad header \"{}\"", header.trim()))
                })?;
                if size > MAX_OBJECT {
                    return Err(GitError(format!(
                        "object {rev} is larger than {MAX_OBJECT} bytes"
                    )));
                }
                let mut data = vec![0u8; size + 1];
                self.stdout
                    .read_exact(&mut data)
                    .map_err(|e| GitError(format!("reading git cat-file: {e}")))?;
                data.pop(); // the newline after the contents
                Ok(Some((kind.to_string(), data)))
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
