//! The signing log (`gitsign.logPath`, `GITSIGN_LOG`): opened so that no
//! other user can read it or redirect it. Created owner-only (0600), never
//! through a symbolic link (another user's link in a shared directory would
//! make gitsign write where they chose), refused when it is not a regular
//! file of this user's (a FIFO would block signing, another user's file
//! would be theirs to read), and appended to (O_APPEND: concurrent signers
//! never overwrite each other's lines). Login secrets are never written to
//! it (see `oidc::Messages::say_private`).
//!
//! Off Unix (Windows) neither the owner nor the link can be checked with
//! the standard library, so the log is off there: [`open`] says that it is
//! not supported on this platform, and nothing is logged.

use std::fs::File;
use std::path::Path;

/// Opens (creating 0600 if missing) the log at `path` for appending, or
/// says why it cannot be used.
pub fn open(path: &Path) -> Result<File, String> {
    imp::open(path)
}

#[cfg(unix)]
mod imp {
    use std::fs::{File, OpenOptions};
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    use std::path::Path;

    pub fn open(path: &Path) -> Result<File, String> {
        let flags = rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK;
        let file = OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o600)
            .custom_flags(flags.bits() as i32)
            .open(path)
            .map_err(|e| {
                // ELOOP is how O_NOFOLLOW refuses a symbolic link.
                if e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) {
                    format!(
                        "the log file {} is a symbolic link, which gitsign does not follow; \
                         point gitsign.logPath at the file itself",
                        path.display()
                    )
                } else {
                    format!("cannot open the log file {}: {e}", path.display())
                }
            })?;
        let m = file
            .metadata()
            .map_err(|e| format!("cannot inspect the log file {}: {e}", path.display()))?;
        if !m.is_file() {
            return Err(format!(
                "the log file {} is not a regular file; point gitsign.logPath at a file",
                path.display()
            ));
        }
        let euid = rustix::process::geteuid().as_raw();
        if m.uid() != euid {
            return Err(format!(
                "the log file {} belongs to uid {}, not to you (uid {euid}); point \
                 gitsign.logPath at a file of your own",
                path.display(),
                m.uid()
            ));
        }
        Ok(file)
    }
}

#[cfg(not(unix))]
mod imp {
    use std::fs::File;
    use std::path::Path;

    pub fn open(path: &Path) -> Result<File, String> {
        Err(format!(
            "the log file {} is not used: a signing log is not supported on this platform \
             (gitsign cannot check that the file is yours and not a link)",
            path.display()
        ))
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn created_private_and_links_refused() {
        // A fresh private directory (never a predictable name in /tmp,
        // which another user could have made first).
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().to_path_buf();
        let log = dir.join("gitsign.log");
        let _ = std::fs::remove_file(&log);
        open(&log).unwrap();
        let mode = std::fs::metadata(&log).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let link = dir.join("link.log");
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(&log, &link).unwrap();
        let e = open(&link).unwrap_err();
        assert!(e.contains("symbolic link"), "{e}");
        let e = open(&dir).unwrap_err();
        assert!(
            e.contains("cannot open") || e.contains("not a regular file"),
            "{e}"
        );
    }
}
