//! The command line of `gitsign-credential-cache`, defined here so that the
//! daemon parses it and `gitsign man` renders its manual page from the same
//! definition.

use std::path::PathBuf;

use clap::Parser;

use super::proto::CLAIM_LEASE_MS;

/// The daemon's `--version` text: the release and the wire protocol.
pub const VERSION_TEXT: &str = concat!(env!("CARGO_PKG_VERSION"), " (cache protocol 4)");

/// Keeps gitsign's signing credentials in memory for this user.
///
/// The socket is, in order: --socket; $GITSIGN_CREDENTIAL_CACHE;
/// $XDG_RUNTIME_DIR/gitsign/credential-cache.sock; the user's cache
/// directory + gitsign/credential-cache.sock. Started by systemd socket
/// activation (LISTEN_FDS), it serves the socket it is given.
///
/// Trust and Rekor come from the user's own gitsign configuration as the
/// daemon starts (global git config and its environment, never a
/// repository's): it caches only credentials that chain to that trusted
/// root, and posts Rekor entries only to that Rekor (and --rekor-url).
///
/// Exit status: 0 stopped normally; 1 refused or failed (an unsafe socket
/// directory, another daemon already running); 2 usage or configuration.
#[derive(Debug, Parser)]
#[command(
    name = "gitsign-credential-cache",
    version = VERSION_TEXT,
    disable_version_flag = true
)]
pub struct DaemonCli {
    /// Print the version and exit (`-v`, as Go gitsign's daemon; `-V` too).
    #[arg(short = 'v', short_alias = 'V', long, action = clap::ArgAction::Version)]
    version: Option<bool>,
    /// The socket to listen on.
    #[arg(long, value_name = "PATH", conflicts_with = "systemd")]
    pub socket: Option<PathBuf>,
    /// Require a socket passed by systemd socket activation (used
    /// automatically whenever LISTEN_FDS and LISTEN_PID name this process;
    /// Go gitsign's `--systemd-socket-activation` is the same flag).
    #[arg(long, alias = "systemd-socket-activation")]
    pub systemd: bool,
    /// Stay in the foreground (otherwise the daemon detaches once it
    /// listens; under systemd or launchd it always stays).
    #[arg(long)]
    pub foreground: bool,
    /// Log every connection and request (never a key) to stderr. (No
    /// short form: `-v` prints the version, as Go gitsign's daemon.)
    #[arg(long)]
    pub verbose: bool,
    /// Close a connection that sends no request for this long.
    #[arg(long, value_name = "MS", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(1..=3_600_000))]
    pub idle_timeout_ms: u64,
    /// How long a client's claim on a login lasts without a store.
    #[arg(long, value_name = "MS", default_value_t = CLAIM_LEASE_MS,
          value_parser = clap::value_parser!(u64).range(1..=86_400_000))]
    pub claim_lease_ms: u64,
    /// Another Rekor (base URL) the daemon may post entries to, besides the
    /// one gitsign's configuration names (repeatable).
    #[arg(long, value_name = "URL")]
    pub rekor_url: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_text_names_the_protocol() {
        assert!(VERSION_TEXT.ends_with(&format!(
            "(cache protocol {})",
            super::super::proto::VERSION
        )));
    }

    #[test]
    fn cli_parses() {
        use clap::CommandFactory;
        DaemonCli::command().debug_assert();
        assert!(DaemonCli::try_parse_from(["x", "--socket", "/a", "--systemd"]).is_err());
        assert!(DaemonCli::try_parse_from(["x", "--idle-timeout-ms", "0"]).is_err());
        // Go gitsign's daemon flags: -v is the version, and
        // --systemd-socket-activation is --systemd.
        for v in ["-v", "-V", "--version"] {
            let e = DaemonCli::try_parse_from(["x", v]).unwrap_err();
            assert_eq!(e.kind(), clap::error::ErrorKind::DisplayVersion, "{v}");
        }
        let c = DaemonCli::try_parse_from(["x", "--systemd-socket-activation"]).unwrap();
        assert!(c.systemd);
    }
}
