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
/// can enter, that is a symbolic link another user owns, or that sits
/// under a directory another user could rename it in (a writable ancestor
/// without the sticky bit, or one owned by a user other than us or root).
/// The sentence names what is wrong and how to fix it; `how` names the
/// setting that chooses another path (the daemon's `--socket`, gitsign's
/// `GITSIGN_CREDENTIAL_CACHE`).
pub fn check_dir(dir: &Path, euid: u32, how: &str) -> Result<(), String> {
    let refuse = |what: String| format!("the socket directory {}: {what}", dir.display());
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
        let dir = std::env::temp_dir().join(format!("gitsign-sockdir-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        let e = check_dir(&dir, euid(), "--socket").unwrap_err();
        assert!(e.contains("mode is 0755") && e.contains("chmod 700"), "{e}");
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).unwrap();
        check_dir(&dir, euid(), "--socket").unwrap();
        let e = check_dir(&dir, euid() + 1, "X").unwrap_err();
        assert!(e.contains("not to you") && e.contains("with X"), "{e}");
        let _ = fs::remove_dir(&dir);
    }
}
