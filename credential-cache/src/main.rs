//! `gitsign-credential-cache`: keeps gitsign's short-lived signing keys and
//! certificates in memory, for this user only, so one login serves many
//! signatures. See `install/README.md` for systemd, launchd and SSH.
//!
//! Unix only: it listens on a Unix socket, in a directory only its user
//! can enter, and checks each peer's uid (SO_PEERCRED, getpeereid).
//! Elsewhere it says so and exits 2; gitsign signs without it there.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[cfg(unix)]
mod daemon;
#[cfg(unix)]
mod unix;

use std::process::ExitCode;

#[cfg(unix)]
fn main() -> ExitCode {
    unix::main()
}

#[cfg(not(unix))]
fn main() -> ExitCode {
    eprintln!(
        "gitsign-credential-cache is not supported on this platform: it serves gitsign over a \
         Unix socket and checks the uid of each peer, which this platform does not offer; \
         gitsign signs without it (gitsign.credentialCache off)"
    );
    ExitCode::from(2)
}
