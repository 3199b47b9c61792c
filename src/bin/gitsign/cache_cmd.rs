//! `gitsign cache status|clear`.

use gitsign::cache::client::{CacheError, Client};
use gitsign::cache::{self, Backend};
use gitsign::config::Config;

use crate::args::CacheCommand;
use crate::exit;

/// Runs a cache command.
pub fn run(cmd: &CacheCommand) -> u8 {
    let config = match Config::load() {
        Ok(c) => c,
        Err(e) => {
            crate::error(format!("configuration error: {e}"));
            return exit::ERROR;
        }
    };
    let backend = match Backend::from_config(&config) {
        Ok(b) => b,
        Err(e) => {
            crate::error(e);
            return exit::ERROR;
        }
    };
    match backend {
        Backend::Off => {
            say!(
                "no credential cache is in use: start gitsign-credential-cache (see install/README.md) \
                 or set gitsign.credentialCache=keyring"
            );
            exit::INVALID
        }
        Backend::Daemon(path) => daemon(cmd, &Client::new(path)),
        Backend::Keyring => keyring(cmd, &config),
    }
}

fn daemon(cmd: &CacheCommand, client: &Client) -> u8 {
    let path = client.socket_path().display().to_string();
    let result = match cmd {
        CacheCommand::Status => client.list().map(|l| {
            say!(
                "gitsign-credential-cache (pid {}, protocol {}) at {path}",
                l.pid,
                l.version
            );
            if l.entries.is_empty() {
                say!("  no credentials cached");
            }
            let now = gitsign::encoding::time::now();
            for e in &l.entries {
                let left = e.expires_at - now;
                say!(
                    "  {} via {} (Fulcio {}{}): expires {} (in {}m{:02}s)",
                    e.identity,
                    e.key.issuer,
                    e.key.fulcio,
                    if e.key.scope.is_empty() {
                        String::new()
                    } else {
                        format!(", repository {}", e.key.scope)
                    },
                    gitsign::encoding::time::format_time(e.expires_at),
                    left.max(0) / 60,
                    left.max(0) % 60
                );
            }
        }),
        CacheCommand::Clear => client
            .clear()
            .map(|_| say!("cleared every cached credential at {path}")),
    };
    match result {
        Ok(()) => exit::OK,
        Err(e @ CacheError::NotRunning { .. }) => {
            say!("{e}");
            exit::INVALID
        }
        Err(e) => {
            crate::error(e);
            exit::ERROR
        }
    }
}

fn keyring(cmd: &CacheCommand, config: &Config) -> u8 {
    // The services signing uses (the signing config's, unless explicit)
    // are part of the key, as when signing.
    let mut config = config.clone();
    let root = match gitsign::sigstore::tuf::select(&config, gitsign::sigstore::tuf::Network::Never)
    {
        Ok(t) => {
            if let Some(sc) = &t.signing_config {
                let _ = gitsign::sigstore::tuf::apply_signing_config(
                    &mut config,
                    sc,
                    gitsign::encoding::time::now(),
                );
            }
            t.root
        }
        Err(e) => {
            crate::error(format!("trust configuration error: {e}"));
            return exit::ERROR;
        }
    };
    let config = &config;
    // The entry git's signatures use here: git passes user.signingKey with
    // -u, else the committer's identity (`git var GIT_COMMITTER_IDENT`).
    let git = gitsign::git::Git::new();
    let identity = git
        .output(&["config", "user.signingkey"])
        .or_else(|_| git.output(&["var", "GIT_COMMITTER_IDENT"]))
        .map(|o| String::from_utf8_lossy(&o).trim().to_string())
        .unwrap_or_default();
    let key = cache::key_for(config, cache::scope(config), &identity);
    let now = gitsign::encoding::time::now();
    let store = cache::keyring::STORE;
    let result = match cmd {
        CacheCommand::Status => cache::keyring::get(&key, &root, now).map(|c| match c {
            Some(c) => say!(
                "{store}: a credential for {} until {}",
                gitsign::git::gpg::uid(c.leaf()),
                gitsign::encoding::time::format_time(c.leaf().not_after - cache::margin(c.leaf()))
            ),
            None => say!("{store}: no credential cached"),
        }),
        CacheCommand::Clear => cache::keyring::clear_all(&key).map(|n| {
            match n {
                0 => say!("{store}: nothing to remove"),
                1 => say!("{store}: 1 credential removed"),
                n => say!("{store}: {n} credentials removed"),
            }
            if !cache::keyring::CLEARS_ALL {
                say!(
                    "  (only this repository's and identity's: gitsign cannot list the {store}'s \
                     entries; the others are removed when read after they expire)"
                );
            }
        }),
    };
    match result {
        Ok(()) => exit::OK,
        Err(e) => {
            crate::error(e);
            exit::ERROR
        }
    }
}
