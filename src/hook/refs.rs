//! The server's refs as the hook sees them before the push: one
//! `git for-each-ref` listing (kept as one string, with an index sorted by
//! name: about 100 bytes per ref), and the ref git will really write for
//! a pushed name.
//!
//! A pushed name may be a symbolic ref (`refs/heads/master ->
//! refs/heads/main`, left by a rename): git then updates the ref it points
//! to, and creates it when it is missing. `for-each-ref` does not list a
//! symbolic ref whose target is missing, so a name it does not list is
//! asked about with `git symbolic-ref` (unless, with the files backend, no
//! file of that name exists: symbolic refs are never packed).

use std::path::PathBuf;

use crate::git::{is_object_id, is_ref_name, Git, GitError, MAX_REF_NAME};

/// How deep git follows symbolic refs (refs.h SYMREF_MAXDEPTH).
pub const MAX_SYMREF_DEPTH: usize = 5;

/// The listing and an index into it.
pub struct ServerRefs {
    text: String,
    /// (start, end) of each line, sorted by ref name.
    lines: Vec<(u32, u32)>,
    /// The files backend's directory, when refs are files there.
    files_dir: Option<PathBuf>,
    /// The listed symbolic refs (indices into `lines`), sorted by target.
    by_target: Vec<u32>,
    /// Symbolic refs whose target does not exist (which `for-each-ref`
    /// does not list), as (target, name), sorted: read from the loose ref
    /// files on demand ([`ServerRefs::load_dangling`]).
    dangling: Vec<(String, String)>,
}

/// One listed ref.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListedRef<'a> {
    /// The object it resolves to.
    pub id: &'a str,
    /// Its name.
    pub name: &'a str,
    /// Its target, when it is a symbolic ref.
    pub symref: Option<&'a str>,
}

/// Where a pushed name leads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The pushed name, then each symbolic ref's target in turn; the last
    /// is the ref git writes.
    pub chain: Vec<String>,
    /// The chain did not end within [`MAX_SYMREF_DEPTH`] steps (a loop, or
    /// deeper than git follows).
    pub too_deep: bool,
}

impl Resolved {
    /// The ref git will update.
    pub fn target(&self) -> &str {
        self.chain.last().map(String::as_str).unwrap_or_default()
    }

    /// Is the pushed name a symbolic ref?
    pub fn is_symbolic(&self) -> bool {
        self.chain.len() > 1
    }
}

/// The ref listing is indexed by `u32` offsets: at most 4 GiB of it.
fn check_listing_size(len: usize) -> Result<(), GitError> {
    if len > u32::MAX as usize {
        return Err(GitError("the list of refs is larger than 4 GiB".into()));
    }
    Ok(())
}

impl ServerRefs {
    /// Lists the repository's refs (one git process) and finds out how
    /// they are stored (another).
    pub fn load(git: &Git) -> Result<ServerRefs, GitError> {
        let out = git.output(&[
            "for-each-ref",
            "--format=%(objectname) %(refname) %(symref)",
        ])?;
        // git allows ref names that are not UTF-8; such a name (never one a
        // policy pattern names literally) must not stop every push.
        let text = match String::from_utf8(out) {
            Ok(t) => t,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        };
        let refs = ServerRefs::from_listing(text, files_dir(git))?;
        Ok(refs)
    }

    fn from_listing(text: String, files_dir: Option<PathBuf>) -> Result<ServerRefs, GitError> {
        check_listing_size(text.len())?;
        let mut lines = Vec::new();
        let mut start = 0usize;
        for line in text.split_inclusive('\n') {
            let end = start + line.trim_end_matches('\n').len();
            let l = &text[start..end];
            let mut parts = l.splitn(3, ' ');
            let (Some(id), Some(name)) = (parts.next(), parts.next()) else {
                return Err(GitError(format!("git for-each-ref printed {l:?}")));
            };
            if !is_object_id(id) || name.is_empty() {
                return Err(GitError(format!("git for-each-ref printed {l:?}")));
            }
            lines.push((start as u32, end as u32));
            start += line.len();
        }
        let mut refs = ServerRefs {
            text,
            lines,
            files_dir,
            by_target: Vec::new(),
            dangling: Vec::new(),
        };
        let mut lines = std::mem::take(&mut refs.lines);
        lines.sort_unstable_by(|a, b| refs.parse(*a).name.cmp(refs.parse(*b).name));
        refs.lines = lines;
        let mut by_target: Vec<u32> = (0..refs.lines.len() as u32)
            .filter(|i| refs.parse(refs.lines[*i as usize]).symref.is_some())
            .collect();
        by_target.sort_unstable_by(|a, b| {
            refs.parse(refs.lines[*a as usize])
                .symref
                .cmp(&refs.parse(refs.lines[*b as usize]).symref)
        });
        refs.by_target = by_target;
        Ok(refs)
    }

    fn parse(&self, (start, end): (u32, u32)) -> ListedRef<'_> {
        let l = &self.text[start as usize..end as usize];
        let mut parts = l.splitn(3, ' ');
        let id = parts.next().unwrap_or_default();
        let name = parts.next().unwrap_or_default();
        let symref = parts.next().filter(|s| !s.is_empty());
        ListedRef { id, name, symref }
    }

    /// Every listed ref, by name.
    pub fn iter(&self) -> impl Iterator<Item = ListedRef<'_>> {
        self.lines.iter().map(|l| self.parse(*l))
    }

    /// How many refs were listed.
    pub fn len(&self) -> usize {
        self.lines.len()
    }

    /// True when the repository has no refs.
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// The listed ref named exactly `name`.
    pub fn find(&self, name: &str) -> Option<ListedRef<'_>> {
        self.lines
            .binary_search_by(|l| self.parse(*l).name.cmp(name))
            .ok()
            .map(|i| self.parse(self.lines[i]))
    }

    /// The symbolic refs pointing straight at `target` (listed, and the
    /// dangling ones when they were loaded).
    fn symrefs_to<'a>(&'a self, target: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        let symref = |i: &u32| self.parse(self.lines[*i as usize]);
        let start = self
            .by_target
            .partition_point(|i| symref(i).symref.unwrap_or_default() < target);
        let listed = self.by_target[start..]
            .iter()
            .map(symref)
            .take_while(move |r| r.symref == Some(target))
            .map(|r| r.name);
        let start = self.dangling.partition_point(|(t, _)| t.as_str() < target);
        let dangling = self.dangling[start..]
            .iter()
            .take_while(move |(t, _)| t == target)
            .map(|(_, n)| n.as_str());
        listed.chain(dangling)
    }

    /// Finds the symbolic refs whose target does not exist yet: a push
    /// that creates the target moves them too. `for-each-ref` skips them;
    /// with the files backend they are loose files (symbolic refs are
    /// never packed) starting `ref: `, read here once, linear in the
    /// number of loose refs. With another backend (reftable) git offers
    /// no way to list them, and none are found.
    pub fn load_dangling(&mut self) -> Result<(), GitError> {
        let Some(dir) = self.files_dir.clone() else {
            return Ok(());
        };
        let mut found = Vec::new();
        let mut stack = vec![(dir.join("refs"), "refs".to_string())];
        while let Some((path, name)) = stack.pop() {
            let entries = match std::fs::read_dir(&path) {
                Ok(e) => e,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => {
                    return Err(GitError(format!(
                        "cannot list the refs in {}: {e}",
                        path.display()
                    )))
                }
            };
            for entry in entries {
                let entry = entry.map_err(|e| GitError(format!("cannot list the refs: {e}")))?;
                let Ok(file) = entry.file_name().into_string() else {
                    continue;
                };
                let full = format!("{name}/{file}");
                let Ok(kind) = entry.file_type() else {
                    continue;
                };
                if kind.is_dir() {
                    stack.push((entry.path(), full));
                    continue;
                }
                if !kind.is_file() || self.find(&full).is_some() {
                    continue;
                }
                // A symbolic ref's file is "ref: <name>\n"; anything
                // longer than a ref name allows is not one.
                let Ok(meta) = entry.metadata() else { continue };
                if meta.len() > (MAX_REF_NAME + 8) as u64 {
                    continue;
                }
                let Ok(text) = std::fs::read(entry.path()) else {
                    continue;
                };
                if let Some(target) = text.strip_prefix(b"ref: ") {
                    if let Ok(t) = std::str::from_utf8(target) {
                        found.push((t.trim_end().to_string(), full));
                    }
                }
            }
        }
        found.sort_unstable();
        self.dangling = found;
        Ok(())
    }

    /// Every listed symbolic ref that leads to `target` (directly, or
    /// through others, up to git's depth): the names that show whatever
    /// `target` holds, and so move when it does. Each symbolic ref leads
    /// to one ref, so the answers for all targets hold each symbolic ref
    /// at most once.
    pub fn reaching(&self, target: &str) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        seen.insert(target.to_string());
        let mut frontier = vec![target.to_string()];
        for _ in 0..=MAX_SYMREF_DEPTH {
            let mut next = Vec::new();
            for t in &frontier {
                for r in self.symrefs_to(t) {
                    if seen.insert(r.to_string()) {
                        next.push(r.to_string());
                    }
                }
            }
            if next.is_empty() {
                break;
            }
            out.extend(next.iter().cloned());
            frontier = next;
        }
        out
    }

    /// Follows `name` through symbolic refs to the ref git will write.
    pub fn resolve(&self, git: &Git, name: &str) -> Result<Resolved, GitError> {
        let mut chain = vec![name.to_string()];
        loop {
            let current = chain.last().map(String::as_str).unwrap_or_default();
            // A target outside refs/ (or malformed) ends the chain; the
            // caller refuses it.
            if !is_ref_name(current) {
                return Ok(Resolved {
                    chain,
                    too_deep: false,
                });
            }
            let next = match self.find(current) {
                Some(r) => r.symref.map(str::to_string),
                None => self.unlisted_target(git, current)?,
            };
            match next {
                None => {
                    return Ok(Resolved {
                        chain,
                        too_deep: false,
                    })
                }
                Some(t) if chain.len() > MAX_SYMREF_DEPTH => {
                    chain.push(t);
                    return Ok(Resolved {
                        chain,
                        too_deep: true,
                    });
                }
                Some(t) => chain.push(t),
            }
        }
    }

    /// The target of a ref the listing lacks: a symbolic ref whose target
    /// is missing, or no ref at all.
    fn unlisted_target(&self, git: &Git, name: &str) -> Result<Option<String>, GitError> {
        let per_worktree = ["refs/worktree/", "refs/bisect/", "refs/rewritten/"]
            .iter()
            .any(|p| name.starts_with(p));
        if let (Some(dir), false) = (&self.files_dir, per_worktree) {
            match std::fs::symlink_metadata(dir.join(name)) {
                // No file: no ref (symbolic refs are never packed).
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                Ok(m) if m.is_dir() => return Ok(None),
                _ => {}
            }
        }
        let (code, out) = git.status_output(&["symbolic-ref", "-q", "--no-recurse", name])?;
        match code {
            Some(0) => {
                let t = String::from_utf8_lossy(&out).trim().to_string();
                Ok(Some(t))
            }
            // Not a symbolic ref (or none at all).
            Some(1) => Ok(None),
            _ => Err(GitError(format!(
                "git symbolic-ref {name} failed (exit {code:?})"
            ))),
        }
    }
}

/// The directory holding loose refs, when the repository uses the files
/// backend (reftable: `None`, every unlisted name is asked about).
fn files_dir(git: &Git) -> Option<PathBuf> {
    let out = git
        .output(&[
            "rev-parse",
            "--show-ref-format",
            "--path-format=absolute",
            "--git-common-dir",
        ])
        .ok()?;
    let out = String::from_utf8(out).ok()?;
    let mut lines = out.lines();
    match (lines.next(), lines.next()) {
        (Some("files"), Some(dir)) if !dir.is_empty() => Some(PathBuf::from(dir)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "1111111111111111111111111111111111111111";
    const B: &str = "2222222222222222222222222222222222222222";

    #[test]
    fn listing_is_indexed_by_name() {
        let text = format!(
            "{A} refs/heads/main \n{B} refs/heads/a \n{A} refs/heads/master refs/heads/main\n"
        );
        let refs = ServerRefs::from_listing(text, None).unwrap();
        assert_eq!(refs.len(), 3);
        assert_eq!(
            refs.iter().map(|r| r.name).collect::<Vec<_>>(),
            ["refs/heads/a", "refs/heads/main", "refs/heads/master"]
        );
        assert_eq!(
            refs.find("refs/heads/master"),
            Some(ListedRef {
                id: A,
                name: "refs/heads/master",
                symref: Some("refs/heads/main")
            })
        );
        assert_eq!(refs.find("refs/heads/main").unwrap().symref, None);
        assert!(refs.find("refs/heads/mai").is_none());
        assert!(!refs.is_empty());
        assert!(ServerRefs::from_listing("garbage\n".into(), None).is_err());
        assert!(ServerRefs::from_listing(String::new(), None)
            .unwrap()
            .is_empty());
    }

    /// A line is an object id and a name: either one missing or malformed
    /// is git printing something unexpected, refused whole.
    #[test]
    fn malformed_listing_lines_are_refused() {
        for bad in [
            "xyz refs/heads/a \n".to_string(),
            format!("{} refs/heads/a \n", &A[..39]),
            format!("{A}  \n"),
            format!("{A} refs/heads/ok \nnot-an-id refs/heads/b \n"),
        ] {
            let Err(e) = ServerRefs::from_listing(bad.clone(), None) else {
                panic!("{bad:?} was read as a ref");
            };
            assert!(e.0.contains("git for-each-ref printed"), "{bad:?}: {e:?}");
        }
    }

    /// The 4 GiB bound of the listing (its offsets are `u32`) is inclusive.
    #[test]
    fn listing_size_bound_is_inclusive() {
        assert!(check_listing_size(0).is_ok());
        assert!(check_listing_size(u32::MAX as usize).is_ok());
        let e = check_listing_size(u32::MAX as usize + 1).unwrap_err();
        assert!(e.0.contains("larger than 4 GiB"), "{e:?}");
    }

    /// Symbolic refs are found by their target among many targets, each
    /// exactly the ones pointing at it.
    #[test]
    fn symbolic_refs_are_found_by_target() {
        let text = format!(
            "{A} refs/heads/t1 \n{A} refs/heads/t2 \n{A} refs/heads/t3 \n\
             {A} refs/heads/s1a refs/heads/t1\n{A} refs/heads/s2a refs/heads/t2\n\
             {A} refs/heads/s2b refs/heads/t2\n{A} refs/heads/s3a refs/heads/t3\n\
             {A} refs/heads/s0 HEAD\n"
        );
        let refs = ServerRefs::from_listing(text, None).unwrap();
        let to = |t: &str| {
            let mut v: Vec<String> = refs.symrefs_to(t).map(String::from).collect();
            v.sort_unstable();
            v
        };
        assert_eq!(to("HEAD"), ["refs/heads/s0"]);
        assert_eq!(to("refs/heads/t1"), ["refs/heads/s1a"]);
        assert_eq!(to("refs/heads/t2"), ["refs/heads/s2a", "refs/heads/s2b"]);
        assert_eq!(to("refs/heads/t3"), ["refs/heads/s3a"]);
        assert!(to("refs/heads/t0").is_empty());
        assert!(to("refs/heads/t4").is_empty());
    }

    #[test]
    fn chains_end_at_the_ref_written() {
        let text = format!(
            "{A} refs/heads/a refs/heads/b\n{A} refs/heads/b refs/heads/c\n{A} refs/heads/c \n{A} refs/heads/loop1 refs/heads/loop2\n{A} refs/heads/loop2 refs/heads/loop1\n{A} refs/heads/out HEAD\n"
        );
        // An empty files directory: unlisted names are no refs, without git.
        let dir = std::env::temp_dir().join(format!("gitsign-refs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let refs = ServerRefs::from_listing(text, Some(dir.clone())).unwrap();
        let git = Git::in_dir(dir.clone());
        let r = refs.resolve(&git, "refs/heads/a").unwrap();
        assert_eq!(r.chain, ["refs/heads/a", "refs/heads/b", "refs/heads/c"]);
        assert_eq!(r.target(), "refs/heads/c");
        assert!(r.is_symbolic() && !r.too_deep);
        let r = refs.resolve(&git, "refs/heads/new").unwrap();
        assert_eq!(r.chain, ["refs/heads/new"]);
        assert!(!r.is_symbolic());
        let r = refs.resolve(&git, "refs/heads/loop1").unwrap();
        assert!(r.too_deep);
        assert!(r.chain.len() <= MAX_SYMREF_DEPTH + 2);
        let r = refs.resolve(&git, "refs/heads/out").unwrap();
        assert_eq!(r.target(), "HEAD");
        let mut to_c = refs.reaching("refs/heads/c");
        to_c.sort();
        assert_eq!(to_c, ["refs/heads/a", "refs/heads/b"]);
        assert!(refs.reaching("refs/heads/a").is_empty());
        assert_eq!(refs.reaching("HEAD"), ["refs/heads/out"]);
        let _ = std::fs::remove_dir_all(dir);
    }

    /// Dangling symbolic refs are the loose `ref: ` files that the listing
    /// lacks: listed refs, links, oversized files and other content are
    /// none; a missing `refs` directory has none, an unreadable one is an
    /// error.
    #[test]
    fn dangling_symbolic_refs_are_unlisted_loose_files() {
        let dir = std::env::temp_dir().join(format!("gitsign-dangling-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let heads = dir.join("refs/heads");
        std::fs::create_dir_all(&heads).unwrap();
        let write = |name: &str, text: &[u8]| std::fs::write(heads.join(name), text).unwrap();
        write("dangling", b"ref: refs/heads/t1\n");
        write("dangling-a", b"ref: refs/heads/t0\n");
        write("dangling-b", b"ref: refs/heads/t4\n");
        write("dangling-c", b"ref: refs/heads/t4\n");
        write("listed", b"ref: refs/heads/t2\n");
        write("plain", format!("{A}\n").as_bytes());
        // "ref: " and a newline around a target: the file at the bound is
        // read, one byte more is not.
        let target = |n: usize| format!("refs/heads/{}", "x".repeat(n - 6 - 11));
        write(
            "at-bound",
            format!("ref: {}\n", target(MAX_REF_NAME + 8)).as_bytes(),
        );
        write(
            "past-bound",
            format!("ref: {}\n", target(MAX_REF_NAME + 9)).as_bytes(),
        );
        let outside = dir.join("outside");
        std::fs::write(&outside, b"ref: refs/heads/t3\n").unwrap();
        std::os::unix::fs::symlink(&outside, heads.join("link")).unwrap();

        let text = format!("{A} refs/heads/listed refs/heads/t2\n");
        let mut refs = ServerRefs::from_listing(text, Some(dir.clone())).unwrap();
        refs.load_dangling().unwrap();
        // By target; a long target is shown by its length.
        let found: Vec<(String, &str)> = refs
            .dangling
            .iter()
            .map(|(t, n)| match t.len() {
                0..=64 => (t.clone(), n.as_str()),
                len => (format!("{len} bytes"), n.as_str()),
            })
            .collect();
        assert_eq!(
            found,
            [
                ("refs/heads/t0".to_string(), "refs/heads/dangling-a"),
                ("refs/heads/t1".to_string(), "refs/heads/dangling"),
                ("refs/heads/t4".to_string(), "refs/heads/dangling-b"),
                ("refs/heads/t4".to_string(), "refs/heads/dangling-c"),
                (format!("{} bytes", MAX_REF_NAME + 2), "refs/heads/at-bound"),
            ]
        );
        // Each target finds exactly its own, listed or dangling.
        let to = |t: &str| refs.symrefs_to(t).map(String::from).collect::<Vec<_>>();
        assert_eq!(to("refs/heads/t0"), ["refs/heads/dangling-a"]);
        assert_eq!(to("refs/heads/t1"), ["refs/heads/dangling"]);
        assert_eq!(to("refs/heads/t2"), ["refs/heads/listed"]);
        assert_eq!(
            to("refs/heads/t4"),
            ["refs/heads/dangling-b", "refs/heads/dangling-c"]
        );
        assert!(to("refs/heads/t3").is_empty());

        std::fs::remove_dir_all(dir.join("refs")).unwrap();
        let mut refs = ServerRefs::from_listing(String::new(), Some(dir.clone())).unwrap();
        refs.load_dangling().unwrap();
        assert!(refs.dangling.is_empty());

        std::fs::write(dir.join("refs"), b"not a directory").unwrap();
        let mut refs = ServerRefs::from_listing(String::new(), Some(dir.clone())).unwrap();
        let e = refs.load_dangling().unwrap_err();
        assert!(e.0.contains("cannot list the refs in"), "{e:?}");
        let _ = std::fs::remove_dir_all(dir);
    }

    /// A chain of exactly [`MAX_SYMREF_DEPTH`] symbolic refs is followed to
    /// its end, as git follows it; one link more is too deep.
    #[test]
    fn symbolic_ref_depth_bound_is_gits() {
        let link = |i: usize| format!("{A} refs/heads/s{i} refs/heads/s{}\n", i + 1);
        // s1 -> s2 -> ... -> s5 -> s6 (a ref): five links; s0 adds a sixth.
        let mut text: String = (0..=MAX_SYMREF_DEPTH).map(link).collect();
        text.push_str(&format!("{A} refs/heads/s{} \n", MAX_SYMREF_DEPTH + 1));
        let refs = ServerRefs::from_listing(text, None).unwrap();
        let git = Git::in_dir(std::env::temp_dir());
        let r = refs.resolve(&git, "refs/heads/s1").unwrap();
        assert!(!r.too_deep, "{:?}", r.chain);
        assert_eq!(r.chain.len(), MAX_SYMREF_DEPTH + 1);
        assert_eq!(r.target(), format!("refs/heads/s{}", MAX_SYMREF_DEPTH + 1));
        let r = refs.resolve(&git, "refs/heads/s0").unwrap();
        assert!(r.too_deep, "{:?}", r.chain);
    }

    /// The loose-ref directory is the repository's own (absolute) with the
    /// files backend, and none with reftable, where every name the listing
    /// lacks is asked of git: a new ref is no ref, not an error.
    #[test]
    fn files_dir_follows_the_ref_backend() {
        let tmp = std::env::temp_dir().join(format!("gitsign-backend-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir_all(&tmp).unwrap();
        let init = |name: &str, format: &str| {
            let dir = tmp.join(name);
            let o = std::process::Command::new("git")
                .args(["init", "-q", "--bare", &format!("--ref-format={format}")])
                .arg(&dir)
                .env("GIT_CONFIG_NOSYSTEM", "1")
                .env("GIT_CONFIG_GLOBAL", "/dev/null")
                .output()
                .unwrap();
            assert!(o.status.success(), "{o:?}");
            Git::in_dir(dir)
        };
        let files = init("files.git", "files");
        assert_eq!(
            files_dir(&files).map(|d| d.canonicalize().unwrap()),
            Some(tmp.join("files.git").canonicalize().unwrap())
        );
        let reftable = init("reftable.git", "reftable");
        assert_eq!(files_dir(&reftable), None);
        let refs = ServerRefs::load(&reftable).unwrap();
        let r = refs.resolve(&reftable, "refs/heads/new").unwrap();
        assert_eq!(r.chain, ["refs/heads/new"]);
        assert!(!r.is_symbolic());
        let _ = std::fs::remove_dir_all(&tmp);
    }
}
