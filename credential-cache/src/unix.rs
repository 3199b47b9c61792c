//! The daemon's `main` on Unix, where it runs (see `main.rs`).

use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use clap::Parser;
use gitsign::cache::client::{default_socket_path, SocketEnv};
use gitsign::cache::daemon_cli::DaemonCli as Cli;
use gitsign::cache::proto;

use crate::daemon::log::{self, info};
use crate::daemon::server::{self, Config, Shared};
use crate::daemon::socket::{self, Activation};
use crate::daemon::{self, Fatal};

/// Parses the command line and runs the daemon.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    log::set_verbose(cli.verbose);
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            info!("{}", f.message);
            ExitCode::from(u8::try_from(f.code).unwrap_or(1))
        }
    }
}

/// The environment, read here (the library never reads it).
fn socket_env() -> SocketEnv {
    let var = |n: &str| std::env::var(n).ok().filter(|v| !v.is_empty());
    let home = var("HOME").or_else(|| {
        directories::BaseDirs::new().map(|b| b.home_dir().to_string_lossy().into_owned())
    });
    SocketEnv {
        gitsign_credential_cache: var(proto::SOCKET_ENV),
        xdg_runtime_dir: var("XDG_RUNTIME_DIR"),
        xdg_cache_home: var("XDG_CACHE_HOME"),
        home,
        current_dir: std::env::current_dir().ok(),
    }
}

fn run(cli: Cli) -> Result<(), Fatal> {
    daemon::harden::harden().map_err(Fatal::failed)?;
    let euid = rustix::process::geteuid().as_raw();
    // Before anything listens: a configuration error is told at once.
    let trusted = trust(&cli)?;

    let activated = socket::activation()?;
    if cli.systemd && matches!(activated, Activation::None) {
        return Err(Fatal::config(
            "--systemd was given but no socket was passed (LISTEN_FDS is unset or names another \
             process); start the daemon through gitsign-credential-cache.socket, or drop --systemd",
        ));
    }
    let (listener, bound) = match activated {
        Activation::Listener(l) => {
            let path = socket::check_activated(&l, euid);
            let shown = path
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "fd 3".into());
            info!(
                "{}{shown} (socket activation, pid {}, protocol {})",
                log::READY,
                std::process::id(),
                proto::VERSION
            );
            (l, None)
        }
        Activation::None => {
            let path = match &cli.socket {
                Some(p) if p.is_absolute() => p.clone(),
                Some(p) => std::env::current_dir()
                    .map(|d| d.join(p))
                    .map_err(|e| Fatal::config(format!("cannot resolve {}: {e}", p.display())))?,
                None => {
                    default_socket_path(&socket_env()).map_err(|e| Fatal::config(e.to_string()))?
                }
            };
            if !cli.foreground && !supervised() {
                return detach();
            }
            let bound = socket::bind(&path, euid)?;
            info!(
                "{}{} (pid {}, protocol {})",
                log::READY,
                path.display(),
                std::process::id(),
                proto::VERSION
            );
            (
                bound
                    .listener
                    .try_clone()
                    .map_err(|e| Fatal::failed(format!("cannot use the socket: {e}")))?,
                Some(bound),
            )
        }
    };
    let result = serve(listener, &cli, trusted);
    if let Some(b) = &bound {
        b.remove();
    }
    result
}

/// What the daemon trusts, from the user's own configuration (global git
/// config and the environment, as gitsign reads them; never a
/// repository's): the trusted root credentials must chain to, and the Rekor
/// URLs it may post to (gitsign.rekor and each --rekor-url).
fn trust(cli: &Cli) -> Result<(gitsign::sigstore::trust::TrustedRoot, Vec<String>), Fatal> {
    let config = gitsign::config::Config::load_global()
        .map_err(|e| Fatal::config(format!("configuration error: {e}")))?;
    let root = config.trusted_root().map_err(|e| {
        Fatal::config(format!(
            "trust configuration error: {e}; fix gitsign.trustedRoot (or GITSIGN_TRUSTED_ROOT) \
             in the daemon's environment"
        ))
    })?;
    let mut urls = vec![server::rekor_base(&config.rekor)];
    for u in &cli.rekor_url {
        if !gitsign::sigstore::http::is_http_or_https(u) {
            return Err(Fatal::config(format!(
                "--rekor-url {u} is not an http(s) URL"
            )));
        }
        urls.push(server::rekor_base(u));
    }
    urls.dedup();
    Ok((root, urls))
}

/// Runs the server until `Shutdown`, SIGTERM or SIGINT.
fn serve(
    listener: std::os::unix::net::UnixListener,
    cli: &Cli,
    (root, rekor_urls): (gitsign::sigstore::trust::TrustedRoot, Vec<String>),
) -> Result<(), Fatal> {
    listener
        .set_nonblocking(true)
        .map_err(|e| Fatal::failed(format!("cannot make the socket non-blocking: {e}")))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .map_err(|e| Fatal::failed(format!("cannot start the event loop: {e}")))?;
    info!("posting Rekor entries only to {}", rekor_urls.join(", "));
    let config = Config {
        idle: Duration::from_millis(cli.idle_timeout_ms),
        lease: Duration::from_millis(cli.claim_lease_ms),
        euid: rustix::process::geteuid().as_raw(),
        root: std::sync::Arc::new(root),
        rekor_urls,
    };
    let shared = Shared::new(config);
    let result = runtime.block_on(async {
        use tokio::signal::unix::{signal, SignalKind};
        let listener = tokio::net::UnixListener::from_std(listener)
            .map_err(|e| Fatal::failed(format!("cannot use the socket: {e}")))?;
        let sig = |k: SignalKind, name: &str| {
            signal(k).map_err(|e| Fatal::failed(format!("cannot handle {name}: {e}")))
        };
        let mut term = sig(SignalKind::terminate(), "SIGTERM")?;
        let mut int = sig(SignalKind::interrupt(), "SIGINT")?;
        let mut hup = sig(SignalKind::hangup(), "SIGHUP")?;
        let accept = tokio::spawn(server::accept_loop(listener, shared.clone()));
        let sweep = tokio::spawn(server::sweeper(shared.clone()));
        loop {
            tokio::select! {
                _ = shared.shutdown.notified() => break,
                _ = term.recv() => { info!("SIGTERM: shutting down"); break }
                _ = int.recv() => { info!("SIGINT: shutting down"); break }
                // The terminal that started a detached daemon went away.
                _ = hup.recv() => log::write_debug(format_args!("SIGHUP ignored")),
            }
        }
        accept.abort();
        sweep.abort();
        Ok::<(), Fatal>(())
    });
    let n = shared.clear();
    drop(runtime);
    log::write_debug(format_args!("forgot {n} credential(s); exiting"));
    result
}

/// Whether a service manager runs this process and watches it: systemd
/// (which gives every unit's processes INVOCATION_ID) or launchd and init
/// (the parent is PID 1). There the daemon stays in the foreground without
/// being told: Go gitsign's daemon never detaches, and its systemd and
/// launchd recipes run it with no flag; one that detached would look dead to
/// its manager, which would stop it or start it again and again.
fn supervised() -> bool {
    std::env::var_os("INVOCATION_ID").is_some_and(|v| !v.is_empty())
        || rustix::process::getppid().is_some_and(|p| p.is_init())
}

/// Starts the daemon again in the foreground, detached (its own process
/// group, no stdin or stdout), relays what it says until it listens, and
/// exits with its status if it fails first.
fn detach() -> Result<(), Fatal> {
    let exe = std::env::current_exe().map_err(|e| {
        Fatal::failed(format!(
            "cannot find this program to detach: {e}; run it with --foreground"
        ))
    })?;
    let mut child = Command::new(exe)
        .args(std::env::args_os().skip(1))
        .arg("--foreground")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(|e| {
            Fatal::failed(format!(
                "cannot start the detached daemon: {e}; run it with --foreground"
            ))
        })?;
    let Some(err) = child.stderr.take() else {
        return Err(Fatal::failed(
            "cannot read the detached daemon's messages; run it with --foreground",
        ));
    };
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(err).lines() {
            let Ok(line) = line else { break };
            let ready = line.starts_with(&format!("{}{}", log::PREFIX, log::READY));
            let _ = writeln!(std::io::stderr(), "{line}");
            if ready {
                let _ = tx.send(true);
                return;
            }
        }
        let _ = tx.send(false);
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        Ok(true) => Ok(()),
        Ok(false) => {
            let status = child.wait().ok().and_then(|s| s.code()).unwrap_or(1);
            // The child already said why.
            std::process::exit(status);
        }
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            Err(Fatal::failed("the detached daemon did not start listening within 10 s; run it with --foreground --verbose to see why"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_dir_matches_the_directories_crate() {
        // The library's fallback rule must agree with `directories` (which
        // the daemon is documented to follow) for this environment.
        let mut env = socket_env();
        env.gitsign_credential_cache = None;
        env.xdg_runtime_dir = None;
        if let (Ok(p), Some(b)) = (default_socket_path(&env), directories::BaseDirs::new()) {
            assert_eq!(
                p,
                b.cache_dir().join("gitsign").join("credential-cache.sock")
            );
        }
    }
}
