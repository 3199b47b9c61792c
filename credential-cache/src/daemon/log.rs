//! Logging to stderr. Never given a secret: callers pass keys' public
//! parts (Fulcio, issuer, client id, scope) at most.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

static VERBOSE: AtomicBool = AtomicBool::new(false);

/// The prefix of every line, and of the readiness line the detaching parent
/// waits for.
pub const PREFIX: &str = "gitsign-credential-cache: ";

/// The readiness line's start (after [`PREFIX`]).
pub const READY: &str = "listening on ";

/// Turns per-connection logging on.
pub fn set_verbose(on: bool) {
    VERBOSE.store(on, Ordering::Relaxed);
}

/// Whether `--verbose` was given.
pub fn verbose() -> bool {
    VERBOSE.load(Ordering::Relaxed)
}

/// Logs a line (always). A closed stderr (the detaching parent exited) is
/// ignored.
pub fn write_info(msg: std::fmt::Arguments<'_>) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{PREFIX}{msg}");
}

/// Logs a line with `--verbose` only.
pub fn write_debug(msg: std::fmt::Arguments<'_>) {
    if verbose() {
        write_info(msg);
    }
}

/// `info!("...")`.
macro_rules! info {
    ($($t:tt)*) => { $crate::daemon::log::write_info(format_args!($($t)*)) };
}

/// `debug!("...")`.
macro_rules! debug {
    ($($t:tt)*) => { $crate::daemon::log::write_debug(format_args!($($t)*)) };
}

pub(crate) use {debug, info};
