//! Who may stand behind the cache socket: the checks the daemon applies to
//! its socket's directory before it listens and gitsign applies before it
//! connects (one function, so the two never disagree), and the peer's uid,
//! which each side checks on every connection before sending anything.

use std::fs;
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// This process's effective uid: the only uid either side talks to.
pub fn euid() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// Refuses a socket directory that another user owns, that group or others
/// can enter, that is (or whose path as written goes through) a symbolic
/// link another user owns or could replace, or that sits under a directory
/// another user could rename it in (a writable ancestor without the sticky
/// bit, or one owned by a user other than us or root).
/// The sentence names what is wrong and how to fix it; `how` names the
/// setting that chooses another path (the daemon's `--socket`, gitsign's
/// `GITSIGN_CREDENTIAL_CACHE`).
pub fn check_dir(dir: &Path, euid: u32, how: &str) -> Result<(), String> {
    let refuse = |what: String| format!("the socket directory {}: {what}", dir.display());
    check_links(dir, euid, how)?;
    let link =
        fs::symlink_metadata(dir).map_err(|e| refuse(format!("it cannot be inspected ({e})")))?;
    if link.file_type().is_symlink() && link.uid() != euid && link.uid() != 0 {
        return Err(refuse(format!(
            "it is a symbolic link owned by uid {}, not by you (uid {euid}) or root; remove it or \
             choose another path with {how}",
            link.uid()
        )));
    }
    let m = fs::metadata(dir).map_err(|e| refuse(format!("it cannot be inspected ({e})")))?;
    if !m.is_dir() {
        return Err(refuse(format!(
            "it is not a directory; remove it or choose another path with {how}"
        )));
    }
    if m.uid() != euid {
        return Err(refuse(format!(
            "it belongs to uid {}, not to you (uid {euid}), so that user could read or replace \
             the socket; remove it (as its owner or root) or choose another path with {how}",
            m.uid()
        )));
    }
    let mode = m.mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(refuse(format!(
            "its mode is {mode:04o}, which lets group or others reach the socket; run `chmod 700 \
             {}` or choose another path with {how}",
            dir.display()
        )));
    }
    // An ancestor another user can write to (without the sticky bit) lets
    // that user rename this directory and put their own in its place.
    let canonical = fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    for ancestor in canonical.ancestors().skip(1) {
        let Ok(a) = fs::metadata(ancestor) else {
            continue;
        };
        let amode = a.mode() & 0o7777;
        let sticky = amode & 0o1000 != 0;
        if a.uid() != euid && a.uid() != 0 {
            return Err(refuse(format!(
                "its parent {} belongs to uid {}, who could replace it; choose a path under a \
                 directory of your own with {how}",
                ancestor.display(),
                a.uid()
            )));
        }
        if amode & 0o022 != 0 && !sticky {
            return Err(refuse(format!(
                "its parent {} (mode {amode:04o}) is writable by group or others, who could \
                 replace it; run `chmod go-w {}` or choose another path with {how}",
                ancestor.display(),
                ancestor.display()
            )));
        }
    }
    Ok(())
}

/// Refuses a path whose existing part, as written, goes through a symbolic
/// link that another user owns (they may point it elsewhere: in a sticky
/// `/tmp` they may remove and recreate it), or one that sits in a directory
/// another user could replace it in. [`check_dir`] checks the directory the
/// path resolves to and its real ancestors; this checks the way there, so
/// that a path through `/tmp/link -> ~/private` does not pass because
/// `~/private` does. The daemon runs it before it creates a missing
/// directory, so that it creates nothing through another user's link.
pub fn check_links(path: &Path, euid: u32, how: &str) -> Result<(), String> {
    let mut prefix = std::path::PathBuf::new();
    for component in path.components() {
        prefix.push(component);
        let Ok(link) = fs::symlink_metadata(&prefix) else {
            // Not there yet (created later) or not ours to inspect: what
            // exists is checked by check_dir.
            break;
        };
        if !link.file_type().is_symlink() {
            continue;
        }
        let refuse = |what: String| {
            format!(
                "the socket directory {}: its path goes through {}, {what}; choose a path \
                 without it with {how}",
                path.display(),
                prefix.display()
            )
        };
        if link.uid() != euid && link.uid() != 0 {
            return Err(refuse(format!(
                "a symbolic link owned by uid {}, who could point it elsewhere",
                link.uid()
            )));
        }
        if let Some(parent) = prefix.parent().filter(|p| !p.as_os_str().is_empty()) {
            if let Ok(p) = fs::metadata(parent) {
                let mode = p.mode() & 0o7777;
                let foreign = p.uid() != euid && p.uid() != 0;
                if foreign || (mode & 0o022 != 0 && mode & 0o1000 == 0) {
                    return Err(refuse(format!(
                        "a symbolic link in {} (uid {}, mode {mode:04o}), where another user \
                         could replace it",
                        parent.display(),
                        p.uid()
                    )));
                }
            }
        }
    }
    Ok(())
}

/// The uid of the process at the other end of a connected Unix socket, as
/// the kernel recorded it (SO_PEERCRED on Linux, getpeereid(2) on the BSDs
/// and macOS): not something the peer says about itself.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub fn peer_uid(socket: impl AsFd) -> std::io::Result<u32> {
    Ok(rustix::net::sockopt::socket_peercred(socket)?.uid.as_raw())
}

/// The uid of the process at the other end of a connected Unix socket, as
/// the kernel recorded it (getpeereid(2)): not something the peer says.
#[cfg(any(
    target_vendor = "apple",
    target_os = "freebsd",
    target_os = "openbsd",
    target_os = "netbsd",
    target_os = "dragonfly"
))]
pub fn peer_uid(socket: impl AsFd) -> std::io::Result<u32> {
    let (uid, _) = nix::unistd::getpeereid(socket).map_err(std::io::Error::from)?;
    Ok(uid.as_raw())
}

/// Elsewhere (a Unix without either call) the peer cannot be checked: an
/// error, so that the client sends nothing.
#[cfg(not(any(
    target_os = "linux",
    target_os = "android",
    target_vendor = "apple",
    target_os = "freebsd",
    target_os = "openbsd",
    target_os = "netbsd",
    target_os = "dragonfly"
)))]
pub fn peer_uid(_socket: impl AsFd) -> std::io::Result<u32> {
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "checking the peer's uid is not supported on this platform",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_connected_pair_is_ours() {
        let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
        assert_eq!(peer_uid(&a).unwrap(), euid());
    }

    #[test]
    fn loose_directories_are_named() {
        // A fresh private directory (never a predictable name in /tmp,
        // which another user could have made first).
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("sock");
        fs::create_dir(&dir).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        let e = check_dir(&dir, euid(), "--socket").unwrap_err();
        assert!(e.contains("mode is 0755") && e.contains("chmod 700"), "{e}");
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).unwrap();
        check_dir(&dir, euid(), "--socket").unwrap();
        let e = check_dir(&dir, euid() + 1, "X").unwrap_err();
        assert!(e.contains("not to you") && e.contains("with X"), "{e}");
        // A link of ours to it, in a private directory: the same directory.
        let link = root.path().join("link");
        std::os::unix::fs::symlink(&dir, &link).unwrap();
        check_dir(&link, euid(), "--socket").unwrap();
        check_links(&link.join("missing"), euid(), "--socket").unwrap();
        // The same link in a directory others can write to: refused, even
        // for a path below it.
        let open = root.path().join("open");
        fs::create_dir(&open).unwrap();
        fs::set_permissions(&open, fs::Permissions::from_mode(0o777)).unwrap();
        std::os::unix::fs::symlink(&dir, open.join("link")).unwrap();
        let e = check_dir(&open.join("link"), euid(), "--socket").unwrap_err();
        assert!(e.contains("where another user could replace it"), "{e}");
        let e = check_links(&open.join("link").join("s"), euid(), "--socket").unwrap_err();
        assert!(e.contains("its path goes through"), "{e}");
    }
}
