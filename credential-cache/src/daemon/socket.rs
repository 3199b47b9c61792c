//! The listening socket: a directory of our own (0700), a socket file
//! (0600), stale sockets replaced, a live daemon left alone; or the socket
//! systemd passed (socket activation).

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use gitsign::cache::client::Client;
use rustix::fs::{flock, FlockOperation};

use super::log::{debug, info};
use super::Fatal;

/// A socket this daemon bound (and removes when it exits).
pub struct Bound {
    /// The listener.
    pub listener: UnixListener,
    /// Its path.
    pub path: PathBuf,
    /// The socket file's (device, inode), so that exit removes only ours.
    id: (u64, u64),
    /// Held for the daemon's life: one daemon per socket path.
    _lock: File,
}

impl Bound {
    /// Removes the socket file if it is still the one this daemon bound.
    pub fn remove(&self) {
        if let Ok(m) = fs::symlink_metadata(&self.path) {
            if (m.dev(), m.ino()) == self.id {
                if let Err(e) = fs::remove_file(&self.path) {
                    info!("cannot remove the socket {}: {e}", self.path.display());
                }
            }
        }
    }
}

/// Creates the socket's directory (0700) if missing, then checks it and
/// its ancestors.
pub fn prepare_dir(dir: &Path, euid: u32) -> Result<(), Fatal> {
    match fs::symlink_metadata(dir) {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|e| {
                    Fatal::failed(format!(
                    "cannot create the socket directory {}: {e}; create it (mode 0700) or choose \
                     another path with --socket",
                    dir.display()
                ))
                })?;
            // The umask may have narrowed the mode; make it exactly 0700.
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(|e| {
                Fatal::failed(format!("cannot set mode 0700 on {}: {e}", dir.display()))
            })?;
            debug!("created the socket directory {} (mode 0700)", dir.display());
        }
        Err(e) => {
            return Err(Fatal::failed(format!(
                "cannot inspect the socket directory {}: {e}; choose another path with --socket",
                dir.display()
            )))
        }
    }
    check_dir(dir, euid)
}

/// Refuses a socket directory that another user owns or that group or
/// others can enter, and ancestors another user could rename it in (the
/// library's check, which gitsign also applies before it connects).
pub fn check_dir(dir: &Path, euid: u32) -> Result<(), Fatal> {
    gitsign::cache::socket::check_dir(dir, euid, "--socket")
        .map_err(|why| Fatal::failed(format!("refusing {why}")))
}

/// Binds `path`: checks its directory, takes the per-socket lock, replaces a
/// stale socket file, refuses to displace a live daemon; the socket is 0600.
pub fn bind(path: &Path, euid: u32) -> Result<Bound, Fatal> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => {
            return Err(Fatal::config(format!(
                "the socket path {} has no directory; give an absolute path with --socket",
                path.display()
            )))
        }
    };
    let Some(name) = path.file_name() else {
        return Err(Fatal::config(format!(
            "the socket path {} names no file; give a path such as {}/credential-cache.sock",
            path.display(),
            dir.display()
        )));
    };
    prepare_dir(dir, euid)?;

    let mut lock_name = name.to_os_string();
    lock_name.push(".lock");
    let lock_path = dir.join(lock_name);
    let lock = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(&lock_path)
        .map_err(|e| {
            Fatal::failed(format!(
                "cannot open the lock file {}: {e}; remove it or choose another path with --socket",
                lock_path.display()
            ))
        })?;
    if let Err(e) = flock(&lock, FlockOperation::NonBlockingLockExclusive) {
        let pid = daemon_pid(path);
        let why = if e == rustix::io::Errno::WOULDBLOCK {
            String::new()
        } else {
            format!(" (locking it failed: {e})")
        };
        return Err(Fatal::failed(format!(
            "another gitsign-credential-cache{} already serves {} (it holds {}){why}: stop it \
             first ({}), or choose another path with --socket",
            pid.map(|p| format!(" (pid {p})")).unwrap_or_default(),
            path.display(),
            lock_path.display(),
            pid.map(|p| format!("`kill {p}`")).unwrap_or_else(|| {
                "`systemctl --user stop gitsign-credential-cache`, or kill it".into()
            })
        )));
    }

    match fs::symlink_metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(Fatal::failed(format!(
                "cannot inspect {}: {e}",
                path.display()
            )));
        }
        Ok(m) if !m.file_type().is_socket() => {
            return Err(Fatal::failed(format!(
                "{} exists and is not a socket; remove it or choose another path with --socket",
                path.display()
            )));
        }
        Ok(_) => {
            match UnixStream::connect(path) {
                Ok(_) => {
                    return Err(Fatal::failed(format!(
                    "another process{} already answers on {}: stop it first, or choose another \
                     path with --socket",
                    daemon_pid(path).map(|p| format!(" (gitsign-credential-cache pid {p})")).unwrap_or_default(),
                    path.display()
                )));
                }
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                    fs::remove_file(path).map_err(|e| {
                        Fatal::failed(format!(
                            "cannot remove the stale socket {}: {e}; remove it by hand",
                            path.display()
                        ))
                    })?;
                    info!(
                        "removed a stale socket {} (no daemon answered on it)",
                        path.display()
                    );
                }
                Err(e) => {
                    return Err(Fatal::failed(format!(
                    "{} exists and cannot be probed ({e}); remove it or choose another path with --socket",
                    path.display()
                )));
                }
            }
        }
    }

    let listener = UnixListener::bind(path).map_err(|e| {
        let hint = if e.kind() == io::ErrorKind::InvalidInput {
            "; Unix socket paths are limited to about 100 bytes: choose a shorter one with --socket"
        } else {
            ""
        };
        Fatal::failed(format!("cannot listen on {}: {e}{hint}", path.display()))
    })?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o600)).map_err(|e| {
        let _ = fs::remove_file(path);
        Fatal::failed(format!(
            "cannot set mode 0600 on the socket {}: {e}",
            path.display()
        ))
    })?;
    let m = fs::symlink_metadata(path).map_err(|e| {
        Fatal::failed(format!(
            "cannot inspect the new socket {}: {e}",
            path.display()
        ))
    })?;
    Ok(Bound {
        listener,
        path: path.to_path_buf(),
        id: (m.dev(), m.ino()),
        _lock: lock,
    })
}

/// The pid of the daemon answering on `path`, if it answers a `List`.
fn daemon_pid(path: &Path) -> Option<u32> {
    Client::new(path)
        .with_timeouts(Duration::from_millis(500), Duration::from_millis(500))
        .list()
        .ok()
        .map(|l| l.pid)
}

/// What systemd (or another socket activator) passed, if anything.
pub enum Activation {
    /// A Unix stream listener at fd 3.
    Listener(UnixListener),
    /// Nothing was passed (LISTEN_FDS unset, or for another process).
    None,
}

/// Takes the first socket passed by socket activation (`LISTEN_FDS`,
/// `LISTEN_PID`), checking that it is a Unix stream socket.
pub fn activation() -> Result<Activation, Fatal> {
    let mut fds = listenfd::ListenFd::from_env();
    if fds.len() == 0 {
        return Ok(Activation::None);
    }
    if fds.len() > 1 {
        info!("{} sockets were passed; serving the first only", fds.len());
    }
    match fds.take_unix_listener(0) {
        Ok(Some(l)) => Ok(Activation::Listener(l)),
        Ok(None) => Ok(Activation::None),
        Err(e) => Err(Fatal::config(format!(
            "the socket passed by systemd (fd 3) cannot be used: {e}; set `ListenStream=` to a \
             path in gitsign-credential-cache.socket"
        ))),
    }
}

/// Warns about an activated socket whose file or directory others can
/// reach (systemd created them; peers are still checked by uid).
pub fn check_activated(listener: &UnixListener, euid: u32) -> Option<PathBuf> {
    let path = listener.local_addr().ok()?.as_pathname()?.to_path_buf();
    if let Some(dir) = path.parent() {
        if let Err(f) = check_dir(dir, euid) {
            info!("warning: {} (peers are still checked by uid; set DirectoryMode=0700 in the .socket unit)", f.message);
        }
    }
    if let Ok(m) = fs::metadata(&path) {
        if m.mode() & 0o077 != 0 {
            info!(
                "warning: the socket {} has mode {:04o}; set SocketMode=0600 in the .socket unit \
                 (peers are still checked by uid)",
                path.display(),
                m.mode() & 0o7777
            );
        }
    }
    Some(path)
}
