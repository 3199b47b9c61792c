//! Process hardening: no core dumps, no ptrace by the same user (Linux),
//! owner-only files.

use rustix::process::umask;

/// Disables core dumps (`gitsign::harden::no_core_dumps`: RLIMIT_CORE 0
/// and, on Linux, PR_SET_DUMPABLE 0, which also keeps other processes of
/// the same user from attaching a debugger or reading `/proc/PID/mem`)
/// and sets the umask to 077.
///
/// `mlockall` is deliberately not used: with `MCL_FUTURE` every later
/// allocation fails once RLIMIT_MEMLOCK (often 8 MiB, sometimes 64 KiB) is
/// reached, which would crash the daemon; keys live minutes, and swap
/// encryption is the right tool against swapped-out pages.
pub fn harden() -> Result<(), String> {
    gitsign::harden::no_core_dumps()
        .map_err(|e| format!("{e}; the daemon will not hold keys without that"))?;
    umask(rustix::fs::Mode::from_raw_mode(0o077));
    Ok(())
}
