//! Process hardening for a process that holds a private key or an identity
//! token in memory: no core dump may write them to disk.
//!
//! `RLIMIT_CORE` 0 stops the kernel from writing a core file; on Linux,
//! `PR_SET_DUMPABLE` 0 also keeps a `core_pattern` pipe handler (systemd-
//! coredump, apport) from receiving the process image, and other processes
//! of the same user from attaching a debugger or reading `/proc/PID/mem`.
//! Elsewhere (the BSDs, macOS) only the core limit applies: there is no
//! portable equivalent of the dumpable flag, so it is a documented no-op.
//! Both settings are inherited by threads and reset by `execve` in
//! children (a browser opener, git), which hold no secret of ours.
//!
//! Off Unix (Windows) there is no core limit to set from the process:
//! whether a crash writes a dump is Windows Error Reporting's setting, so
//! [`no_core_dumps`] says that it cannot be done here rather than pass.

/// Disables core dumps of this process (see the module docs). The error
/// is a sentence naming what could not be set.
pub fn no_core_dumps() -> Result<(), String> {
    imp::no_core_dumps()
}

#[cfg(unix)]
mod imp {
    use rustix::process::{setrlimit, Resource, Rlimit};

    pub fn no_core_dumps() -> Result<(), String> {
        setrlimit(
            Resource::Core,
            Rlimit {
                current: Some(0),
                maximum: Some(0),
            },
        )
        .map_err(|e| format!("cannot disable core dumps (setrlimit RLIMIT_CORE 0): {e}"))?;
        #[cfg(any(target_os = "linux", target_os = "android"))]
        rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable)
            .map_err(|e| {
                format!("cannot mark the process undumpable (prctl PR_SET_DUMPABLE 0): {e}")
            })?;
        Ok(())
    }
}

#[cfg(not(unix))]
mod imp {
    pub fn no_core_dumps() -> Result<(), String> {
        Err(
            "cannot disable crash dumps: that is not supported on this platform (Windows Error \
             Reporting's settings decide whether a crash writes one)"
                .to_string(),
        )
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_child_process_cannot_dump_core() {
        // In a child, so that the test process keeps its own settings.
        if std::env::var_os("GITSIGN_HARDEN_CHILD").is_some() {
            super::no_core_dumps().unwrap();
            let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
            let core = limits
                .lines()
                .find(|l| l.starts_with("Max core file size"))
                .unwrap_or("Max core file size 0 0")
                .split_whitespace()
                .skip(4)
                .take(2)
                .collect::<Vec<_>>()
                .join(" ");
            println!("CORE:{core}");
            return;
        }
        if !cfg!(target_os = "linux") {
            return;
        }
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "harden::tests::a_child_process_cannot_dump_core"])
            .args(["--nocapture", "--test-threads=1"])
            .env("GITSIGN_HARDEN_CHILD", "1")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("CORE:0 0"), "{text}");
    }
}
