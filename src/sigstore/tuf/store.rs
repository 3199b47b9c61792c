//! The TUF cache on disk: under the cache base (`TUF_ROOT`, else
//! `$XDG_CACHE_HOME/gitsign/tuf`, else `~/.cache/gitsign/tuf`), a file
//! `remote.json` naming the mirror `gitsign initialize` chose, and one
//! directory per mirror holding its verified metadata (`root.json`,
//! `timestamp.json`, `snapshot.json`, `targets.json`), its verified targets
//! (`targets/<name>`), `state.json` (when it was refreshed, when its
//! metadata expires, its root version: written only by a successful
//! update, with the files it verified) and `attempt.json` (the last failed
//! refresh, for the back-off: a failure never touches the trust state).
//!
//! Nothing a mirror sends names a path here: file names are this client's
//! own constants, checked by [`safe_name`]. Directories are created 0700
//! and must be ours; files are written to a fresh temporary file (0600,
//! `O_EXCL`, so never through a link) and renamed into place, so a reader
//! sees the old file or the new one, never half of one.
//!
//! Those ownership checks are Unix's (owner uid, mode bits): off Unix
//! (Windows) they cannot be made, so the cache is off there. A missing
//! cache reads as "no mirror initialized" (the embedded root, or
//! `gitsign.trustedRoot`, is used); using or creating one fails with a
//! sentence saying it is not supported on this platform.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Largest file read back from the cache.
const MAX_CACHED: u64 = 16 * 1024 * 1024;

/// The file at the cache base naming the mirror `gitsign initialize` chose.
const REMOTE: &str = "remote.json";

/// The last failed refresh (kept apart from `state.json`).
const ATTEMPT: &str = "attempt.json";

#[derive(Serialize, Deserialize)]
struct Attempt {
    attempted: i64,
    error: String,
}

/// What the cache records about a mirror besides its files.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// The mirror's URL.
    pub mirror: String,
    /// Last successful refresh, seconds since the epoch.
    #[serde(default)]
    pub refreshed: Option<i64>,
    /// Last attempt, successful or not.
    #[serde(default)]
    pub attempted: Option<i64>,
    /// Earliest expiry of the cached root, timestamp, snapshot and targets.
    #[serde(default)]
    pub expires: Option<i64>,
    /// The cached root's version.
    #[serde(default)]
    pub root_version: u64,
    /// Why the last attempt failed, when it did.
    #[serde(default)]
    pub error: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct Remote {
    mirror: String,
}

/// A name this client may use for a cache file: `[A-Za-z0-9._-]` segments,
/// at most one directory level (`targets/`), never `.` or `..`.
pub fn safe_name(name: &str) -> bool {
    let segments: Vec<&str> = name.split('/').collect();
    !name.is_empty()
        && segments.len() <= 2
        && segments.iter().all(|s| {
            !s.is_empty()
                && *s != "."
                && *s != ".."
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
        })
}

/// The directory name for a mirror: its host and path made safe, plus a
/// hash of the whole URL (so `http://x` and `https://x`, or two URLs that
/// sanitize alike, never share a cache).
pub fn mirror_dir_name(mirror: &str) -> String {
    let rest = mirror.split_once("://").map_or(mirror, |(_, r)| r);
    let readable: String = rest
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .take(64)
        .collect();
    let h = crate::encoding::asn1::hex_lower(&crate::pki::crypto::sha256(mirror.as_bytes()));
    format!("{readable}-{}", &h[..12])
}

/// Creates `dir` (0700) when missing; refuses one that is not ours or that
/// group or others can write (they could swap the files).
fn ensure_dir(dir: &Path, create: bool) -> Result<(), String> {
    if create && fs::symlink_metadata(dir).is_err() {
        os::create_dir(dir).map_err(|e| {
            format!(
                "cannot create the TUF cache directory {}: {e}; set TUF_ROOT to a directory \
                     of your own",
                dir.display()
            )
        })?;
    }
    let m = fs::symlink_metadata(dir)
        .map_err(|e| format!("the TUF cache directory {}: {e}", dir.display()))?;
    if !m.is_dir() {
        return Err(format!(
            "the TUF cache directory {} is not a directory (a link or a file); remove it or set \
             TUF_ROOT to another directory",
            dir.display()
        ));
    }
    os::check_dir(dir, &m)
}

/// Reads `path` when it exists (at most `max` bytes; longer is an error).
fn read_bounded(path: &Path, max: u64) -> Result<Option<Vec<u8>>, String> {
    let f = match os::open_nofollow(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    // A file others could have written is not trusted (the directory
    // checks cover a directory others can enter only if its files are
    // ours and private too).
    let m = f
        .metadata()
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    os::check_file(path, &m)?;
    let mut out = Vec::new();
    f.take(max + 1)
        .read_to_end(&mut out)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if out.len() as u64 > max {
        return Err(format!(
            "{} is larger than {max} bytes; remove it",
            path.display()
        ));
    }
    Ok(Some(out))
}

/// Writes `data` to `path` atomically: a new 0600 file beside it, synced,
/// then renamed over it.
fn write_atomic(path: &Path, data: &[u8]) -> Result<(), String> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let base = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut last_err = String::new();
    for i in 0..16u32 {
        let tmp = dir.join(format!(".{base}.{}.{i}.tmp", std::process::id()));
        let mut f = match os::create_new(&tmp) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                last_err = e.to_string();
                continue;
            }
            Err(e) => return Err(format!("cannot write {}: {e}", tmp.display())),
        };
        let done = f
            .write_all(data)
            .and_then(|_| f.sync_data())
            .and_then(|_| fs::rename(&tmp, path));
        if let Err(e) = done {
            let _ = fs::remove_file(&tmp);
            return Err(format!("cannot write {}: {e}", path.display()));
        }
        return Ok(());
    }
    Err(format!(
        "cannot write {}: no free temporary name ({last_err})",
        path.display()
    ))
}

/// The cache base: the mirror the user chose and the per-mirror stores.
#[derive(Debug, Clone)]
pub struct Base {
    dir: PathBuf,
}

impl Base {
    /// The base at `dir` (nothing is touched yet).
    pub fn new(dir: PathBuf) -> Base {
        Base { dir }
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// The mirror `gitsign initialize` recorded, if any. A base that is
    /// missing gives `Ok(None)`; one that is not safe to trust is an error.
    pub fn mirror(&self) -> Result<Option<String>, String> {
        let path = self.dir.join(REMOTE);
        let Some(bytes) = read_bounded(&path, 64 * 1024)? else {
            return Ok(None);
        };
        ensure_dir(&self.dir, false)?;
        let r: Remote = serde_json::from_slice(&bytes).map_err(|e| {
            format!(
                "{} is not readable ({e}); run gitsign initialize again",
                path.display()
            )
        })?;
        Ok(Some(r.mirror))
    }

    /// Records `mirror` as the one to use.
    pub fn set_mirror(&self, mirror: &str) -> Result<(), String> {
        ensure_dir(&self.dir, true)?;
        let body = serde_json::to_vec_pretty(&Remote {
            mirror: mirror.to_string(),
        })
        .unwrap_or_default();
        write_atomic(&self.dir.join(REMOTE), &body)
    }

    /// The store of `mirror`; `create` makes its directories.
    pub fn store(&self, mirror: &str, create: bool) -> Result<Store, String> {
        let dir = self.dir.join(mirror_dir_name(mirror));
        if create {
            ensure_dir(&self.dir, true)?;
            ensure_dir(&dir, true)?;
            ensure_dir(&dir.join("targets"), true)?;
        } else {
            ensure_dir(&dir, false)?;
            if fs::symlink_metadata(dir.join("targets")).is_ok() {
                ensure_dir(&dir.join("targets"), false)?;
            }
        }
        Ok(Store { dir })
    }
}

/// One mirror's files.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
}

impl Store {
    /// Its directory.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    fn file(&self, name: &str) -> Result<PathBuf, String> {
        if !safe_name(name) {
            return Err(format!("refused the cache file name \"{name}\""));
        }
        Ok(self.dir.join(name))
    }

    /// Reads a cached file; `Ok(None)` when absent.
    pub fn read(&self, name: &str) -> Result<Option<Vec<u8>>, String> {
        read_bounded(&self.file(name)?, MAX_CACHED)
    }

    /// Writes a cached file atomically.
    pub fn write(&self, name: &str, data: &[u8]) -> Result<(), String> {
        write_atomic(&self.file(name)?, data)
    }

    /// Removes a cached file (absent is fine).
    pub fn remove(&self, name: &str) -> Result<(), String> {
        match fs::remove_file(self.file(name)?) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(format!(
                "cannot remove {name} from {}: {e}",
                self.dir.display()
            )),
        }
    }

    /// The recorded state (default when absent or unreadable), with the
    /// last failed attempt, when one followed it.
    pub fn state(&self) -> State {
        let mut s: State = self
            .read("state.json")
            .ok()
            .flatten()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        let failed: Option<Attempt> = self
            .read(ATTEMPT)
            .ok()
            .flatten()
            .and_then(|b| serde_json::from_slice(&b).ok());
        if let Some(a) = failed {
            if s.refreshed.is_none_or(|r| a.attempted >= r) {
                s.attempted = Some(a.attempted);
                s.error = Some(a.error);
            }
        }
        s
    }

    /// Records the state of a successful update (and forgets the last
    /// failure).
    pub fn set_state(&self, s: &State) -> Result<(), String> {
        self.write(
            "state.json",
            &serde_json::to_vec_pretty(s).unwrap_or_default(),
        )?;
        self.remove(ATTEMPT)
    }

    /// Records a failed refresh (for the back-off and `gitsign version`),
    /// leaving the trust state as it was.
    pub fn set_attempt(&self, attempted: i64, error: &str) -> Result<(), String> {
        let a = Attempt {
            attempted,
            error: error.to_string(),
        };
        self.write(ATTEMPT, &serde_json::to_vec_pretty(&a).unwrap_or_default())
    }

    /// Takes the refresh lock without waiting: `None` when another process
    /// holds it (that process is refreshing; use what is cached).
    pub fn try_lock(&self) -> Option<fs::File> {
        os::lock(&self.dir.join("lock"), false).ok()
    }

    /// Takes the refresh lock, waiting for another refresh to end.
    pub fn lock(&self) -> Result<fs::File, String> {
        os::lock(&self.dir.join("lock"), true)
            .map_err(|e| format!("cannot lock {}: {e}", self.dir.display()))
    }
}

/// The Unix side: owner and mode checks, 0700/0600 creation, `O_NOFOLLOW`,
/// `flock`.
#[cfg(unix)]
mod os {
    use std::fs;
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
    use std::path::Path;

    fn euid() -> u32 {
        rustix::process::geteuid().as_raw()
    }

    /// Creates `dir` and its missing parents, 0700.
    pub fn create_dir(dir: &Path) -> std::io::Result<()> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
    }

    /// Refuses a directory that is not ours or that group or others can
    /// write.
    pub fn check_dir(dir: &Path, m: &fs::Metadata) -> Result<(), String> {
        let me = euid();
        if m.uid() != me {
            return Err(format!(
                "the TUF cache directory {} belongs to uid {}, not to you (uid {me}), who could \
                 replace what it trusts; remove it or set TUF_ROOT to a directory of your own",
                dir.display(),
                m.uid()
            ));
        }
        if m.mode() & 0o022 != 0 {
            return Err(format!(
                "the TUF cache directory {} (mode {:04o}) is writable by group or others, who could \
                 replace what it trusts; run `chmod go-w {}`",
                dir.display(),
                m.mode() & 0o7777,
                dir.display()
            ));
        }
        Ok(())
    }

    /// Opens `path` for reading, never through a symbolic link.
    pub fn open_nofollow(path: &Path) -> std::io::Result<fs::File> {
        fs::OpenOptions::new()
            .read(true)
            .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
            .open(path)
    }

    /// Refuses a file that is not ours or that group or others can write.
    pub fn check_file(path: &Path, m: &fs::Metadata) -> Result<(), String> {
        let me = euid();
        if m.uid() != me {
            return Err(format!(
                "{} belongs to uid {}, not to you (uid {me}), who could have replaced it; remove              it or set TUF_ROOT to a directory of your own",
                path.display(),
                m.uid()
            ));
        }
        if m.mode() & 0o022 != 0 {
            return Err(format!(
                "{} (mode {:04o}) is writable by group or others, who could have replaced it; run              `chmod go-w {}`",
                path.display(),
                m.mode() & 0o7777,
                path.display()
            ));
        }
        Ok(())
    }

    /// Creates a new file, 0600 (`O_EXCL`: never through a link).
    pub fn create_new(path: &Path) -> std::io::Result<fs::File> {
        fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
    }

    /// Opens (creating 0600) the lock file and takes its exclusive lock,
    /// waiting for it when `wait`.
    pub fn lock(path: &Path, wait: bool) -> Result<fs::File, String> {
        let f = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .mode(0o600)
            .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
            .open(path)
            .map_err(|e| e.to_string())?;
        let how = if wait {
            rustix::fs::FlockOperation::LockExclusive
        } else {
            rustix::fs::FlockOperation::NonBlockingLockExclusive
        };
        rustix::fs::flock(&f, how).map_err(|e| e.to_string())?;
        Ok(f)
    }
}

/// Off Unix: who may write a file cannot be checked, so the cache is not
/// used (see the module docs); files are created without a Unix mode.
#[cfg(not(unix))]
mod os {
    use std::fs;
    use std::path::Path;

    fn unsupported(path: &Path) -> String {
        format!(
            "a TUF cache ({}) is not supported on this platform: gitsign cannot check that \
             nobody else can replace what it trusts; choose a trusted root with \
             gitsign.trustedRoot, or use the embedded one",
            path.display()
        )
    }

    pub fn create_dir(dir: &Path) -> std::io::Result<()> {
        fs::DirBuilder::new().recursive(true).create(dir)
    }

    pub fn check_dir(dir: &Path, _: &fs::Metadata) -> Result<(), String> {
        Err(unsupported(dir))
    }

    pub fn open_nofollow(path: &Path) -> std::io::Result<fs::File> {
        fs::File::open(path)
    }

    pub fn check_file(path: &Path, _: &fs::Metadata) -> Result<(), String> {
        Err(unsupported(path))
    }

    pub fn create_new(path: &Path) -> std::io::Result<fs::File> {
        fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
    }

    pub fn lock(path: &Path, _wait: bool) -> Result<fs::File, String> {
        Err(unsupported(path))
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    #[test]
    fn names() {
        assert!(safe_name("root.json"));
        assert!(safe_name("targets/trusted_root.json"));
        for bad in [
            "",
            "..",
            ".",
            "../x",
            "a/../b",
            "/etc/passwd",
            "a//b",
            "a/b/c",
            "a\\b",
            "a b",
            "x\n",
        ] {
            assert!(!safe_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn mirror_dirs_are_distinct_and_flat() {
        let a = mirror_dir_name("https://tuf-repo-cdn.sigstore.dev");
        let b = mirror_dir_name("http://tuf-repo-cdn.sigstore.dev");
        assert_ne!(a, b);
        assert!(a.starts_with("tuf-repo-cdn.sigstore.dev-"));
        let c = mirror_dir_name("http://127.0.0.1:8080/../../etc");
        assert!(safe_name(&c) && !c.contains('/'), "{c}");
    }

    #[test]
    fn atomic_writes_are_private_and_never_follow_links() {
        let dir = std::env::temp_dir().join(format!("gitsign-tuf-store-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let base = Base::new(dir.clone());
        let store = base.store("http://127.0.0.1:1", true).unwrap();
        store.write("root.json", b"one").unwrap();
        store.write("root.json", b"two").unwrap();
        assert_eq!(store.read("root.json").unwrap().unwrap(), b"two");
        let m = fs::metadata(store.path().join("root.json")).unwrap();
        assert_eq!(m.mode() & 0o777, 0o600);
        assert_eq!(fs::metadata(store.path()).unwrap().mode() & 0o777, 0o700);
        // A link planted where a cached file goes is replaced, never
        // written through.
        let victim = dir.join("victim");
        fs::write(&victim, b"keep").unwrap();
        std::os::unix::fs::symlink(&victim, store.path().join("timestamp.json")).unwrap();
        assert!(store.read("timestamp.json").is_err());
        store.write("timestamp.json", b"new").unwrap();
        assert_eq!(fs::read(&victim).unwrap(), b"keep");
        assert!(store.write("../escape", b"x").is_err());
        // A base others may write is refused.
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o777)).unwrap();
        assert!(base.store("http://127.0.0.1:1", false).is_ok());
        base.set_mirror("http://127.0.0.1:1").unwrap_err();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).unwrap();
        base.set_mirror("http://127.0.0.1:1").unwrap();
        assert_eq!(
            base.mirror().unwrap().as_deref(),
            Some("http://127.0.0.1:1")
        );
        // A file others may write is refused on read, even in a private
        // directory (the directory could have been open before).
        let p = store.path().join("root.json");
        fs::set_permissions(&p, fs::Permissions::from_mode(0o666)).unwrap();
        let e = store.read("root.json").unwrap_err();
        assert!(e.contains("writable by group or others"), "{e}");
        fs::set_permissions(&p, fs::Permissions::from_mode(0o600)).unwrap();
        assert!(store.read("root.json").is_ok());
        let _ = fs::remove_dir_all(&dir);
    }

    /// A failed refresh is recorded apart: `state.json` stays
    /// byte-identical, `state()` shows the failure, a success clears it.
    #[test]
    fn a_failure_never_touches_the_state_file() {
        let dir = std::env::temp_dir().join(format!("gitsign-tuf-attempt-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let store = Base::new(dir.clone())
            .store("http://127.0.0.1:1", true)
            .unwrap();
        let ok = State {
            mirror: "http://127.0.0.1:1".into(),
            refreshed: Some(100),
            attempted: Some(100),
            expires: Some(1000),
            root_version: 3,
            error: None,
        };
        store.set_state(&ok).unwrap();
        let before = store.read("state.json").unwrap();
        store.set_attempt(200, "the mirror is down").unwrap();
        assert_eq!(store.read("state.json").unwrap(), before);
        let s = store.state();
        assert_eq!(
            (s.attempted, s.error.as_deref()),
            (Some(200), Some("the mirror is down"))
        );
        assert_eq!((s.expires, s.root_version), (Some(1000), 3));
        store.set_state(&ok).unwrap();
        assert_eq!(store.state(), ok);
        let _ = fs::remove_dir_all(&dir);
    }
}
