//! OIDC identity tokens for Fulcio, from the token providers Go gitsign
//! offers, chosen the way it chooses them (`gitsign.tokenProvider`, else
//! auto-detection):
//!
//! - `envvar` / `filesystem` (together: `environment`): a token handed to us
//!   in `SIGSTORE_ID_TOKEN`, or in a file (cosign's
//!   `/var/run/sigstore/cosign/oidc-token`, or a configured path);
//! - `github-actions`: the runner's ambient ID token;
//! - `interactive`: the browser, with the authorization-code flow, PKCE S256
//!   and a loopback redirect listener;
//! - `device`: the RFC 8628 device authorization grant, for machines
//!   without a browser (SSH sessions);
//! - `buildkite-agent`, `google-workload-identity`, `google-impersonate`
//!   and `spiffe`: cosign's ambient providers, in [`crate::oidc::providers`].
//!
//! This module does no environment reading: the caller fills
//! [`OidcSettings`] (from [`crate::config`] and the environment) and gets an
//! [`IdToken`] from [`get_token`]. What the user must see (the login URL,
//! the device code) goes through [`Messages`], never stdout, which carries
//! the signature for git.
//!
//! Tokens are bearer secrets: they are never printed, and the [`Debug`]
//! forms of [`IdToken`] and [`OidcSettings`] redact them.
//!
//! The folder's files: this one (the errors, the messages, the entry
//! point), `settings` ([`OidcSettings`], every provider's inputs), `token` ([`IdToken`] and its claims checks), [`login`] (the
//! browser and device logins through the `oauth2` crate, and discovery),
//! [`loopback`] (the redirect listener and its pages), [`opener`] (the
//! browser command and the private login page) and [`providers`] (how a
//! provider is chosen, and the providers that are not logins).
//!
//! What this folder may use: [`crate::sigstore::http`] (the shared HTTP
//! client, also under `oauth2`), the `oauth2` and `url` crates,
//! [`crate::encoding`], [`crate::config`] (the settings it is built from)
//! and [`crate::progress`] (to word a duration).

pub mod login;
pub mod loopback;
pub mod opener;
pub mod providers;
mod settings;
mod token;

use std::io::Read;
use std::path::Path;
use std::time::Duration;

use crate::sigstore::http::HttpError;

pub use login::{discover, Discovery};
pub use loopback::{parse_query, success_page};
pub use opener::{opener_argv, split_command, LoginPage};
pub use providers::{auto_providers, choose_provider, get_token, get_token_from};
pub use providers::{Provider, PROVIDER_NAMES};
pub use settings::{read_client_secret, OidcSettings};
pub use token::IdToken;

/// Where cosign's filesystem provider (and so Go gitsign) looks for a token.
pub const COSIGN_TOKEN_FILE: &str = "/var/run/sigstore/cosign/oidc-token";
/// The redirect path Go gitsign uses.
pub const DEFAULT_CALLBACK_PATH: &str = "/auth/callback";
/// How long the interactive flow waits for the browser by default (as Go).
pub const DEFAULT_LOGIN_TIMEOUT: Duration = Duration::from_secs(120);
/// Largest identity token accepted (real ones are 1-3 KiB).
pub const MAX_TOKEN: usize = 64 * 1024;
/// Where user-facing messages go (the login URL, the device code, progress).
/// The CLI routes them to the terminal or the log file, never to stdout.
pub trait Messages {
    /// Shows one message (may span lines) to the user.
    fn say(&self, text: &str);

    /// Shows a message that carries a login's secrets (the authorization
    /// URL with its state and PKCE challenge, a device code) to the user
    /// only: the terminal, never a log file another process could read.
    fn say_private(&self, text: &str);

    /// Shows a status line that replaces the previous one (how long a
    /// login still waits), on a terminal only; by default nothing. Called
    /// about once a second while a login waits.
    fn waiting(&self, _text: &str) {}

    /// Erases the status line [`Messages::waiting`] drew, if any.
    fn done_waiting(&self) {}
}

impl<F: Fn(&str)> Messages for F {
    fn say(&self, text: &str) {
        self(text)
    }

    fn say_private(&self, text: &str) {
        self(text)
    }
}

/// A [`Messages`] sink that drops everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoMessages;

impl Messages for NoMessages {
    fn say(&self, _text: &str) {}

    fn say_private(&self, _text: &str) {}
}

/// A failure to obtain a usable identity token, as a sentence naming what
/// failed, where, and what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OidcError {
    /// The settings are wrong or incomplete (unknown provider, a chosen
    /// provider without its token, a bad redirect URL or opener).
    Config(String),
    /// A server could not be reached or answered with an error.
    Network(String),
    /// A server answered something that is not what the protocol says.
    Protocol(String),
    /// The user or the identity provider refused the login.
    Denied(String),
    /// No login was completed in time.
    TimedOut(String),
    /// The token is unusable: malformed, expired, wrong audience, issuer or nonce.
    InvalidToken(String),
}

impl OidcError {
    /// The message.
    pub fn message(&self) -> &str {
        match self {
            OidcError::Config(m)
            | OidcError::Network(m)
            | OidcError::Protocol(m)
            | OidcError::Denied(m)
            | OidcError::TimedOut(m)
            | OidcError::InvalidToken(m) => m,
        }
    }

    fn map(self, f: impl FnOnce(String) -> String) -> OidcError {
        match self {
            OidcError::Config(m) => OidcError::Config(f(m)),
            OidcError::Network(m) => OidcError::Network(f(m)),
            OidcError::Protocol(m) => OidcError::Protocol(f(m)),
            OidcError::Denied(m) => OidcError::Denied(f(m)),
            OidcError::TimedOut(m) => OidcError::TimedOut(f(m)),
            OidcError::InvalidToken(m) => OidcError::InvalidToken(f(m)),
        }
    }
}

impl std::fmt::Display for OidcError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for OidcError {}

pub(crate) fn net(what: &str, e: HttpError) -> OidcError {
    OidcError::Network(format!("{what}: {e}"))
}

/// Parses and checks a raw token.
pub(crate) fn checked(
    raw: &str,
    client_id: &str,
    issuer: Option<&str>,
    nonce: Option<&str>,
) -> Result<IdToken, OidcError> {
    let t = IdToken::parse(raw)?;
    t.check(client_id, issuer, nonce, crate::encoding::time::now())?;
    Ok(t)
}

/// Reads a small text file (a token, a secret), at most [`MAX_TOKEN`] bytes.
pub(crate) fn read_bounded(path: &Path) -> std::io::Result<String> {
    let f = std::fs::File::open(path)?;
    let mut buf = Vec::new();
    f.take(MAX_TOKEN as u64 + 1).read_to_end(&mut buf)?;
    if buf.len() > MAX_TOKEN {
        return Err(std::io::Error::other(format!(
            "the file is larger than {MAX_TOKEN} bytes"
        )));
    }
    String::from_utf8(buf).map_err(|_| std::io::Error::other("the file is not UTF-8 text"))
}
