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
//!   without a browser (SSH sessions).
//!
//! This module does no environment reading: the caller fills
//! [`OidcSettings`] (from [`crate::config`] and the environment) and gets an
//! [`IdToken`] from [`get_token`]. What the user must see (the login URL,
//! the device code) goes through [`Messages`], never stdout, which carries
//! the signature for git.
//!
//! Tokens are bearer secrets: they are never printed, and the [`Debug`]
//! forms of [`IdToken`] and [`OidcSettings`] redact them.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use aws_lc_rs::digest;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine;
use serde_json::{Map, Value};

use crate::http::{self, server_text, urlencode, Http, HttpError};

/// Where cosign's filesystem provider (and so Go gitsign) looks for a token.
pub const COSIGN_TOKEN_FILE: &str = "/var/run/sigstore/cosign/oidc-token";
/// The redirect path Go gitsign uses.
pub const DEFAULT_CALLBACK_PATH: &str = "/auth/callback";
/// How long the interactive flow waits for the browser by default (as Go).
pub const DEFAULT_LOGIN_TIMEOUT: Duration = Duration::from_secs(120);
/// Largest identity token accepted (real ones are 1-3 KiB).
pub const MAX_TOKEN: usize = 64 * 1024;
/// Largest HTTP request head the loopback listener reads.
const MAX_REQUEST: usize = 16 * 1024;
/// Concurrent connections the loopback listener serves.
const MAX_CONNECTIONS: usize = 16;
/// Longest device-code life honoured, whatever the server says.
const MAX_DEVICE_LIFETIME: u64 = 3600;
/// Longest polling interval honoured.
const MAX_DEVICE_INTERVAL: u64 = 60;

/// Token provider names accepted in `gitsign.tokenProvider`.
pub const PROVIDER_NAMES: &[&str] = &[
    "interactive",
    "device",
    "environment",
    "envvar",
    "filesystem",
    "github-actions",
];

/// cosign providers Go gitsign also accepts that this implementation does
/// not have.
const UNSUPPORTED_COSIGN_PROVIDERS: &[&str] = &[
    "buildkite-agent",
    "gitlab",
    "gitpod",
    "google-workload-identity",
    "google-impersonate",
    "spiffe",
];

/// Where user-facing messages go (the login URL, the device code, progress).
/// The CLI routes them to the terminal or the log file, never to stdout.
pub trait Messages {
    /// Shows one message (may span lines) to the user.
    fn say(&self, text: &str);

    /// Shows a message that carries a login's secrets (the authorization
    /// URL with its state and PKCE challenge, a device code) to the user
    /// only: the terminal, never a log file another process could read.
    fn say_private(&self, text: &str);
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

/// What the token providers need, filled by the caller from the
/// configuration and the environment (this module reads neither).
#[derive(Clone)]
pub struct OidcSettings {
    /// OIDC issuer URL (`gitsign.issuer`), for the interactive and device flows.
    pub issuer: String,
    /// OIDC client id (`gitsign.clientID`); also the audience requested from
    /// and required in every token.
    pub client_id: String,
    /// Client secret (the contents of `gitsign.clientSecretFile`), sent to
    /// the token endpoint when set.
    pub client_secret: Option<String>,
    /// Redirect URL (`gitsign.redirectURL`): a loopback `http` URL whose port
    /// (0 or none: random) and path the listener uses.
    pub redirect_url: Option<String>,
    /// Dex connector id (`gitsign.connectorID`), passed as `connector_id`.
    pub connector_id: Option<String>,
    /// Token provider (`gitsign.tokenProvider`); `None`: auto-detect.
    pub token_provider: Option<String>,
    /// Command that opens the login URL (`gitsign.urlOpener`).
    pub url_opener: Option<String>,
    /// `$BROWSER`.
    pub browser: Option<String>,
    /// `DISPLAY` or `WAYLAND_DISPLAY` is set.
    pub has_display: bool,
    /// `SSH_CONNECTION` (or `SSH_TTY`) is set.
    pub ssh_session: bool,
    /// `SIGSTORE_ID_TOKEN`.
    pub env_token: Option<String>,
    /// `ACTIONS_ID_TOKEN_REQUEST_URL`.
    pub actions_request_url: Option<String>,
    /// `ACTIONS_ID_TOKEN_REQUEST_TOKEN`.
    pub actions_request_token: Option<String>,
    /// Token file; `None`: cosign's [`COSIGN_TOKEN_FILE`].
    pub token_file: Option<PathBuf>,
    /// Let the browser tab close itself after login (`gitsign.autoclose`).
    pub autoclose: bool,
    /// Seconds before it closes (`gitsign.autocloseTimeout`).
    pub autoclose_timeout: u32,
    /// How long the interactive flow waits for the browser.
    pub login_timeout: Duration,
}

impl Default for OidcSettings {
    fn default() -> Self {
        OidcSettings {
            issuer: crate::config::DEFAULT_ISSUER.into(),
            client_id: crate::config::DEFAULT_CLIENT_ID.into(),
            client_secret: None,
            redirect_url: None,
            connector_id: None,
            token_provider: None,
            url_opener: None,
            browser: None,
            has_display: false,
            ssh_session: false,
            env_token: None,
            actions_request_url: None,
            actions_request_token: None,
            token_file: None,
            autoclose: true,
            autoclose_timeout: 6,
            login_timeout: DEFAULT_LOGIN_TIMEOUT,
        }
    }
}

fn redact_opt(v: &Option<String>) -> &'static str {
    if v.is_some() {
        "Some(<redacted>)"
    } else {
        "None"
    }
}

impl std::fmt::Debug for OidcSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcSettings")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("client_secret", &redact_opt(&self.client_secret))
            .field("redirect_url", &self.redirect_url)
            .field("connector_id", &self.connector_id)
            .field("token_provider", &self.token_provider)
            .field("url_opener", &self.url_opener)
            .field("browser", &self.browser)
            .field("has_display", &self.has_display)
            .field("ssh_session", &self.ssh_session)
            .field("env_token", &redact_opt(&self.env_token))
            .field("actions_request_url", &self.actions_request_url)
            .field(
                "actions_request_token",
                &redact_opt(&self.actions_request_token),
            )
            .field("token_file", &self.token_file)
            .field("autoclose", &self.autoclose)
            .field("autoclose_timeout", &self.autoclose_timeout)
            .field("login_timeout", &self.login_timeout)
            .finish()
    }
}

impl OidcSettings {
    /// Everything from the resolved configuration: the `gitsign.*` settings
    /// (the client secret file is read here), the login timeout, and the
    /// environment facts `config` collected ([`crate::config::OidcEnv`]).
    /// The token file stays cosign's default.
    pub fn from_config(cfg: &crate::config::Config) -> Result<OidcSettings, OidcError> {
        let client_secret = match &cfg.client_secret_file {
            Some(p) => Some(read_client_secret(p)?),
            None => None,
        };
        let env = &cfg.oidc_env;
        Ok(OidcSettings {
            issuer: cfg.issuer.clone(),
            client_id: cfg.client_id.clone(),
            client_secret,
            redirect_url: cfg.redirect_url.clone(),
            connector_id: cfg.connector_id.clone(),
            token_provider: cfg.token_provider.clone(),
            url_opener: cfg.url_opener.clone(),
            browser: env.browser.clone(),
            has_display: env.has_display,
            ssh_session: env.ssh_session,
            env_token: env.sigstore_id_token.clone(),
            actions_request_url: env.actions_request_url.clone(),
            actions_request_token: env.actions_request_token.clone(),
            token_file: None,
            autoclose: cfg.autoclose,
            autoclose_timeout: cfg.autoclose_timeout,
            login_timeout: cfg.login_timeout,
        })
    }

    /// The token file in effect.
    pub fn token_file_path(&self) -> &Path {
        self.token_file
            .as_deref()
            .unwrap_or(Path::new(COSIGN_TOKEN_FILE))
    }
}

/// Reads a client secret file (`gitsign.clientSecretFile`), trimmed.
pub fn read_client_secret(path: &Path) -> Result<String, OidcError> {
    let s = read_bounded(path).map_err(|e| {
        OidcError::Config(format!(
            "cannot read the OIDC client secret file {} (gitsign.clientSecretFile): {e}",
            path.display()
        ))
    })?;
    Ok(s.trim().to_string())
}

/// A token provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    /// `SIGSTORE_ID_TOKEN`.
    EnvVar,
    /// A token file.
    Filesystem,
    /// The GitHub Actions ambient token.
    GithubActions,
    /// Browser login (authorization code + PKCE, loopback redirect).
    Interactive,
    /// RFC 8628 device authorization grant.
    Device,
}

impl Provider {
    /// The `gitsign.tokenProvider` name.
    pub fn name(self) -> &'static str {
        match self {
            Provider::EnvVar => "envvar",
            Provider::Filesystem => "filesystem",
            Provider::GithubActions => "github-actions",
            Provider::Interactive => "interactive",
            Provider::Device => "device",
        }
    }
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

fn net(what: &str, e: HttpError) -> OidcError {
    OidcError::Network(format!("{what}: {e}"))
}

// ---------------------------------------------------------------------------
// The token

/// An OIDC identity token and the claims Fulcio uses.
///
/// The signature is NOT checked here: Fulcio verifies the token against the
/// issuer's keys before it issues anything, and a client-side check would
/// add a JWKS fetch and RSA/EC code for no security gain (we only hand the
/// token to Fulcio). The claims are read to pick the proof-of-possession
/// subject and to fail early, with a clear message, on tokens Fulcio would
/// refuse (expired, wrong audience or issuer).
#[derive(Clone, PartialEq, Eq)]
pub struct IdToken {
    raw: String,
    /// `iss`.
    pub issuer: String,
    /// `sub`.
    pub subject: String,
    /// `aud` (a string or a list in the token).
    pub audience: Vec<String>,
    /// `email`, when present.
    pub email: Option<String>,
    /// `email_verified`, when present.
    pub email_verified: Option<bool>,
    /// `exp`, seconds since the epoch.
    pub expires_at: i64,
    /// `iat`, when present.
    pub issued_at: Option<i64>,
    /// `nbf`, when present.
    pub not_before: Option<i64>,
    /// `nonce`, when present.
    pub nonce: Option<String>,
    /// Every claim of the payload (e.g. GitHub workflow claims).
    pub claims: Map<String, Value>,
}

impl std::fmt::Debug for IdToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdToken")
            .field("raw", &self.redacted())
            .field("issuer", &self.issuer)
            .field("subject", &self.subject)
            .field("audience", &self.audience)
            .field("email", &self.email)
            .field("email_verified", &self.email_verified)
            .field("expires_at", &self.expires_at)
            .field("issued_at", &self.issued_at)
            .field("not_before", &self.not_before)
            .field("nonce", &self.nonce)
            .finish_non_exhaustive()
    }
}

fn claim_time(v: Option<&Value>, name: &str) -> Result<Option<i64>, OidcError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => {
            if let Some(i) = n.as_i64() {
                Ok(Some(i))
            } else if let Some(f) = n.as_f64().filter(|f| f.is_finite() && f.abs() < 1e15) {
                Ok(Some(f as i64))
            } else {
                Err(OidcError::InvalidToken(format!(
                    "the identity token's `{name}` claim is not a usable time"
                )))
            }
        }
        Some(_) => Err(OidcError::InvalidToken(format!(
            "the identity token's `{name}` claim is not a number"
        ))),
    }
}

fn claim_string(v: Option<&Value>, name: &str) -> Result<Option<String>, OidcError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(OidcError::InvalidToken(format!(
            "the identity token's `{name}` claim is not a string"
        ))),
    }
}

impl IdToken {
    /// Reads a compact JWS (`header.payload.signature`) and its claims.
    /// Checks the shape and the claim types only; see [`IdToken::check`].
    pub fn parse(raw: &str) -> Result<IdToken, OidcError> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(OidcError::InvalidToken(
                "the identity token is empty".into(),
            ));
        }
        if raw.len() > MAX_TOKEN {
            return Err(OidcError::InvalidToken(format!(
                "the identity token is too large ({} bytes, at most {MAX_TOKEN})",
                raw.len()
            )));
        }
        let parts: Vec<&str> = raw.split('.').collect();
        if parts.len() == 5 {
            return Err(OidcError::InvalidToken(
                "the identity token is encrypted (JWE); Fulcio needs a signed JWT".into(),
            ));
        }
        if parts.len() != 3 || parts.iter().any(|p| p.is_empty()) {
            return Err(OidcError::InvalidToken(
                "the identity token is not a JWT (expected three base64url parts separated by dots)"
                    .into(),
            ));
        }
        let payload = b64url_decode(parts[1]).ok_or_else(|| {
            OidcError::InvalidToken("the identity token's payload is not base64url".into())
        })?;
        let claims: Map<String, Value> = match serde_json::from_slice(&payload) {
            Ok(Value::Object(m)) => m,
            _ => {
                return Err(OidcError::InvalidToken(
                    "the identity token's payload is not a JSON object".into(),
                ))
            }
        };
        let issuer = claim_string(claims.get("iss"), "iss")?
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                OidcError::InvalidToken("the identity token has no issuer (`iss` claim)".into())
            })?;
        let subject = claim_string(claims.get("sub"), "sub")?
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                OidcError::InvalidToken("the identity token has no subject (`sub` claim)".into())
            })?;
        let audience = match claims.get("aud") {
            Some(Value::String(s)) => vec![s.clone()],
            Some(Value::Array(a)) => a
                .iter()
                .map(|v| v.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| {
                    OidcError::InvalidToken(
                        "the identity token's `aud` claim is not a list of strings".into(),
                    )
                })?,
            None | Some(Value::Null) => Vec::new(),
            Some(_) => {
                return Err(OidcError::InvalidToken(
                    "the identity token's `aud` claim is not a string".into(),
                ))
            }
        };
        let expires_at = claim_time(claims.get("exp"), "exp")?.ok_or_else(|| {
            OidcError::InvalidToken("the identity token has no expiry (`exp` claim)".into())
        })?;
        let email = claim_string(claims.get("email"), "email")?.filter(|s| !s.is_empty());
        // Some providers send "true"/"false" as strings; accept both forms.
        let email_verified = match claims.get("email_verified") {
            Some(Value::Bool(b)) => Some(*b),
            Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Some(true),
            Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Some(false),
            None | Some(Value::Null) => None,
            Some(_) => {
                return Err(OidcError::InvalidToken(
                    "the identity token's `email_verified` claim is not a boolean".into(),
                ))
            }
        };
        Ok(IdToken {
            raw: raw.to_string(),
            issuer,
            subject,
            audience,
            email,
            email_verified,
            expires_at,
            issued_at: claim_time(claims.get("iat"), "iat")?,
            not_before: claim_time(claims.get("nbf"), "nbf")?,
            nonce: claim_string(claims.get("nonce"), "nonce")?,
            claims,
        })
    }

    /// Checks what Fulcio will check, plus the flow's own bindings:
    /// `aud` contains `client_id`; `exp` is after `now`; `nbf` (with a
    /// minute of clock skew) is not after `now`; `iss` equals `issuer` when
    /// given (interactive and device flows); `nonce` equals `nonce` when given
    /// (interactive flow).
    pub fn check(
        &self,
        client_id: &str,
        issuer: Option<&str>,
        nonce: Option<&str>,
        now: i64,
    ) -> Result<(), OidcError> {
        if let Some(want) = issuer {
            if !same_issuer(&self.issuer, want) {
                return Err(OidcError::InvalidToken(format!(
                    "the identity token was issued by {}, not by the configured issuer {want}",
                    self.issuer
                )));
            }
        }
        if !self.audience.iter().any(|a| a == client_id) {
            let got = if self.audience.is_empty() {
                "no audience".to_string()
            } else {
                format!("audience {}", self.audience.join(", "))
            };
            return Err(OidcError::InvalidToken(format!(
                "the identity token has {got}, but Fulcio needs the audience `{client_id}`"
            )));
        }
        if self.expires_at <= now {
            return Err(OidcError::InvalidToken(format!(
                "the identity token expired at {} ({} s ago)",
                crate::time::format_time(self.expires_at),
                now.saturating_sub(self.expires_at)
            )));
        }
        if let Some(nbf) = self.not_before {
            if nbf > now.saturating_add(60) {
                return Err(OidcError::InvalidToken(format!(
                    "the identity token is not valid before {} (check this machine's clock)",
                    crate::time::format_time(nbf)
                )));
            }
        }
        if let Some(want) = nonce {
            match self.nonce.as_deref() {
                Some(got) if constant_time_eq(got.as_bytes(), want.as_bytes()) => {}
                Some(_) => {
                    return Err(OidcError::InvalidToken(
                        "the identity token's nonce does not match this login's (a replayed or substituted token)".into(),
                    ))
                }
                None => {
                    return Err(OidcError::InvalidToken(
                        "the identity token carries no nonce, but this login sent one".into(),
                    ))
                }
            }
        }
        Ok(())
    }

    /// The token itself (a bearer secret: send it to Fulcio, never print it).
    pub fn raw(&self) -> &str {
        &self.raw
    }

    /// A printable stand-in for the token: its first characters and length.
    pub fn redacted(&self) -> String {
        let head: String = self.raw.chars().take(12).collect();
        format!("{head}…({} bytes)", self.raw.len())
    }

    /// What the proof of possession signs: the `email` claim for email
    /// identities, else `sub` (as Fulcio's principals' `Name()`: email
    /// issuers use the email, workflow and other issuers the subject).
    pub fn challenge(&self) -> &str {
        self.email.as_deref().unwrap_or(&self.subject)
    }
}

fn same_issuer(a: &str, b: &str) -> bool {
    a.trim_end_matches('/') == b.trim_end_matches('/')
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn b64url_decode(s: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD
        .decode(s)
        .or_else(|_| URL_SAFE.decode(s))
        .or_else(|_| STANDARD.decode(s))
        .ok()
}

// ---------------------------------------------------------------------------
// Choosing the provider

/// Picks the provider: the configured one, else the first that applies of
/// `SIGSTORE_ID_TOKEN`, GitHub Actions, the token file, then the browser when
/// one is plausibly available, else the device flow.
pub fn choose_provider(s: &OidcSettings) -> Result<Provider, OidcError> {
    let name = s
        .token_provider
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty());
    let Some(name) = name else {
        return Ok(auto_provider(s));
    };
    match name.to_ascii_lowercase().as_str() {
        "interactive" => Ok(Provider::Interactive),
        "device" => Ok(Provider::Device),
        "envvar" => Ok(Provider::EnvVar),
        "filesystem" => Ok(Provider::Filesystem),
        "github-actions" => Ok(Provider::GithubActions),
        "environment" => {
            if nonempty(&s.env_token) {
                Ok(Provider::EnvVar)
            } else if s.token_file_path().exists() {
                Ok(Provider::Filesystem)
            } else {
                Err(OidcError::Config(format!(
                    "gitsign.tokenProvider is \"environment\" but SIGSTORE_ID_TOKEN is not set and there is no token file {}; provide a token or choose another provider",
                    s.token_file_path().display()
                )))
            }
        }
        other if UNSUPPORTED_COSIGN_PROVIDERS.contains(&other) => Err(OidcError::Config(format!(
            "token provider \"{name}\" (gitsign.tokenProvider) is a cosign provider this gitsign does not implement; obtain the token yourself and pass it in SIGSTORE_ID_TOKEN, or use one of: {}",
            PROVIDER_NAMES.join(", ")
        ))),
        _ => Err(OidcError::Config(format!(
            "unknown token provider \"{name}\" (gitsign.tokenProvider or GITSIGN_TOKEN_PROVIDER); valid providers: {}",
            PROVIDER_NAMES.join(", ")
        ))),
    }
}

fn auto_provider(s: &OidcSettings) -> Provider {
    if nonempty(&s.env_token) {
        Provider::EnvVar
    } else if nonempty(&s.actions_request_url) && nonempty(&s.actions_request_token) {
        Provider::GithubActions
    } else if s.token_file_path().exists() {
        Provider::Filesystem
    } else if browser_plausible(s) {
        Provider::Interactive
    } else {
        Provider::Device
    }
}

fn nonempty(v: &Option<String>) -> bool {
    v.as_deref().is_some_and(|x| !x.trim().is_empty())
}

/// Whether a browser can plausibly be opened where the user sees it.
fn browser_plausible(s: &OidcSettings) -> bool {
    if nonempty(&s.url_opener) || nonempty(&s.browser) || s.has_display {
        return true;
    }
    // macOS and Windows always have a desktop, but over SSH it is not the
    // user's: `open` would show the login page on someone else's screen.
    (cfg!(target_os = "macos") || cfg!(windows)) && !s.ssh_session
}

// ---------------------------------------------------------------------------
// Entry point

/// Obtains and checks an identity token with the provider [`choose_provider`]
/// picks.
pub fn get_token(s: &OidcSettings, http: &Http, msgs: &dyn Messages) -> Result<IdToken, OidcError> {
    let provider = choose_provider(s)?;
    get_token_from(provider, s, http, msgs)
}

/// Obtains and checks an identity token with the given provider.
pub fn get_token_from(
    provider: Provider,
    s: &OidcSettings,
    http: &Http,
    msgs: &dyn Messages,
) -> Result<IdToken, OidcError> {
    let client_id = s.client_id.as_str();
    match provider {
        Provider::EnvVar => {
            let raw = s.env_token.as_deref().unwrap_or("");
            if raw.trim().is_empty() {
                return Err(OidcError::Config(
                    "the token provider is envvar but SIGSTORE_ID_TOKEN is not set (or empty); set it to an identity token for the audience `sigstore`".into(),
                ));
            }
            checked(raw, client_id, None, None).map_err(|e| {
                e.map(|m| {
                    format!("{m} (token from SIGSTORE_ID_TOKEN); set SIGSTORE_ID_TOKEN to a fresh token for the audience `{client_id}`")
                })
            })
        }
        Provider::Filesystem => {
            let path = s.token_file_path();
            let raw = read_bounded(path).map_err(|e| {
                OidcError::Config(format!(
                    "cannot read the identity token file {}: {e}",
                    path.display()
                ))
            })?;
            checked(&raw, client_id, None, None).map_err(|e| {
                e.map(|m| {
                    format!(
                        "{m} (token from the file {}); refresh the token in that file",
                        path.display()
                    )
                })
            })
        }
        Provider::GithubActions => github_actions(s, http),
        Provider::Interactive => interactive(s, http, msgs),
        Provider::Device => device(s, http, msgs),
    }
}

fn checked(
    raw: &str,
    client_id: &str,
    issuer: Option<&str>,
    nonce: Option<&str>,
) -> Result<IdToken, OidcError> {
    let t = IdToken::parse(raw)?;
    t.check(client_id, issuer, nonce, crate::time::now())?;
    Ok(t)
}

fn read_bounded(path: &Path) -> std::io::Result<String> {
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

// ---------------------------------------------------------------------------
// GitHub Actions

fn github_actions(s: &OidcSettings, http: &Http) -> Result<IdToken, OidcError> {
    let (Some(url), Some(bearer)) = (
        s.actions_request_url
            .as_deref()
            .filter(|v| !v.trim().is_empty()),
        s.actions_request_token
            .as_deref()
            .filter(|v| !v.trim().is_empty()),
    ) else {
        return Err(OidcError::Config(
            "the token provider is github-actions but ACTIONS_ID_TOKEN_REQUEST_URL and ACTIONS_ID_TOKEN_REQUEST_TOKEN are not both set; give the workflow job `permissions: id-token: write`".into(),
        ));
    };
    let sep = if url.contains('?') { '&' } else { '?' };
    let full = format!("{url}{sep}audience={}", urlencode(&s.client_id));
    let what = "fetching the GitHub Actions identity token";
    let resp = http
        .get_with_headers(&full, &[("authorization", format!("bearer {bearer}"))])
        .map_err(|e| net(what, e))?;
    if resp.status != 200 {
        return Err(OidcError::Network(format!(
            "{what}: {full} answered HTTP {}: {}; check that the job has `permissions: id-token: write`",
            resp.status,
            server_text(&resp.body)
        )));
    }
    let raw = serde_json::from_slice::<Value>(&resp.body)
        .ok()
        .and_then(|v| v.get("value")?.as_str().map(str::to_string))
        .ok_or_else(|| {
            OidcError::Protocol(format!(
                "{what}: {full} answered without a `value` string (not the Actions token API)"
            ))
        })?;
    checked(&raw, &s.client_id, None, None)
        .map_err(|e| e.map(|m| format!("{m} (token from GitHub Actions, {url})")))
}

// ---------------------------------------------------------------------------
// Discovery

/// The parts of an OIDC discovery document the flows use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discovery {
    /// `issuer`.
    pub issuer: String,
    /// `authorization_endpoint`.
    pub authorization_endpoint: Option<String>,
    /// `token_endpoint`.
    pub token_endpoint: Option<String>,
    /// `device_authorization_endpoint`.
    pub device_authorization_endpoint: Option<String>,
    /// `code_challenge_methods_supported`, when listed.
    pub code_challenge_methods: Option<Vec<String>>,
    /// `authorization_response_iss_parameter_supported` (RFC 9207).
    pub iss_parameter_supported: bool,
}

/// Fetches `<issuer>/.well-known/openid-configuration` and checks that it
/// describes `issuer`.
pub fn discover(issuer: &str, http: &Http) -> Result<Discovery, OidcError> {
    let url = http::join(issuer, ".well-known/openid-configuration");
    let what = format!("discovering the OIDC provider {issuer}");
    let resp = http.get(&url).map_err(|e| {
        net(&what, e).map(|m| format!("{m}; check gitsign.issuer (GITSIGN_OIDC_ISSUER)"))
    })?;
    if resp.status != 200 {
        return Err(OidcError::Network(format!(
            "{what}: {url} answered HTTP {}: {}; check gitsign.issuer (GITSIGN_OIDC_ISSUER)",
            resp.status,
            server_text(&resp.body)
        )));
    }
    let doc: Map<String, Value> = match serde_json::from_slice(&resp.body) {
        Ok(Value::Object(m)) => m,
        _ => {
            return Err(OidcError::Protocol(format!(
                "{what}: {url} did not answer with a JSON discovery document; check gitsign.issuer"
            )))
        }
    };
    let doc_issuer = doc.get("issuer").and_then(Value::as_str).unwrap_or("");
    if !same_issuer(doc_issuer, issuer) {
        return Err(OidcError::Protocol(format!(
            "{what}: the discovery document at {url} names the issuer \"{}\", not {issuer}; check gitsign.issuer",
            server_text(doc_issuer.as_bytes())
        )));
    }
    let doc_issuer = doc_issuer.to_string();
    // Endpoints are shown to the user and handed to a browser command: only
    // plain http(s) URLs, no spaces or control characters.
    // Fetched over https, the document must not send the login to plain
    // http (a network attacker would answer there); an http issuer (a
    // loopback test deployment) is the user's own choice.
    let https = issuer.starts_with("https://");
    let s = |k: &str| -> Result<Option<String>, OidcError> {
        match doc.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(u)) if https && !u.starts_with("https://") => {
                Err(OidcError::Protocol(format!(
                    "{what}: the discovery document at {url} (fetched over https) names {k} {},                      which is not https; gitsign refuses to send a login over plain http: check                      gitsign.issuer, or ask the provider's operator",
                    server_text(u.as_bytes())
                )))
            }
            Some(Value::String(u)) if plain_url(u) => Ok(Some(u.clone())),
            Some(_) => Err(OidcError::Protocol(format!(
                "{what}: the discovery document at {url} has an unusable {k} (not a plain http(s) URL)"
            ))),
        }
    };
    let code_challenge_methods = doc
        .get("code_challenge_methods_supported")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        });
    Ok(Discovery {
        issuer: doc_issuer,
        authorization_endpoint: s("authorization_endpoint")?,
        token_endpoint: s("token_endpoint")?,
        device_authorization_endpoint: s("device_authorization_endpoint")?,
        code_challenge_methods,
        iss_parameter_supported: doc
            .get("authorization_response_iss_parameter_supported")
            .and_then(Value::as_bool)
            .unwrap_or(false),
    })
}

/// An absolute http(s) URL of sane length without whitespace or control
/// characters.
fn plain_url(u: &str) -> bool {
    (u.starts_with("https://") || u.starts_with("http://"))
        && u.len() <= 2048
        && !u.chars().any(|c| c.is_whitespace() || c.is_control())
}

fn endpoint<'a>(v: &'a Option<String>, name: &str, issuer: &str) -> Result<&'a str, OidcError> {
    v.as_deref().filter(|u| !u.is_empty()).ok_or_else(|| {
        OidcError::Protocol(format!(
            "the OIDC provider {issuer} lists no {name} in its discovery document"
        ))
    })
}

fn random_b64(n: usize) -> Result<String, OidcError> {
    let mut buf = vec![0u8; n];
    SystemRandom::new()
        .fill(&mut buf)
        .map_err(|_| OidcError::Config("the system random number generator failed".into()))?;
    Ok(URL_SAFE_NO_PAD.encode(buf))
}

/// A PKCE verifier (32 random bytes, base64url) and its S256 challenge.
fn pkce() -> Result<(String, String), OidcError> {
    let verifier = random_b64(32)?;
    let challenge = URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, verifier.as_bytes()));
    Ok((verifier, challenge))
}

/// An OAuth error answer: `error` and `error_description`.
fn oauth_error(body: &[u8]) -> Option<(String, Option<String>)> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let e = v.get("error")?.as_str()?.to_string();
    let d = v
        .get("error_description")
        .and_then(Value::as_str)
        .map(|d| server_text(d.as_bytes()));
    Some((server_text(e.as_bytes()), d))
}

fn describe_oauth(e: &str, d: &Option<String>) -> String {
    match d {
        Some(d) if !d.is_empty() => format!("{e}: {d}"),
        _ => e.to_string(),
    }
}

/// Reads the `id_token` of a successful token-endpoint answer, or says why
/// there is none.
fn token_answer(resp: &http::Response, url: &str, what: &str) -> Result<String, OidcError> {
    if resp.status != 200 {
        return Err(match oauth_error(&resp.body) {
            Some((e, d)) => OidcError::Protocol(format!(
                "{what}: the token endpoint {url} refused: {}",
                describe_oauth(&e, &d)
            )),
            None => OidcError::Network(format!(
                "{what}: {url} answered HTTP {}: {}",
                resp.status,
                server_text(&resp.body)
            )),
        });
    }
    serde_json::from_slice::<Value>(&resp.body)
        .ok()
        .and_then(|v| v.get("id_token")?.as_str().map(str::to_string))
        .ok_or_else(|| {
            OidcError::Protocol(format!(
                "{what}: the token endpoint {url} answered without an id_token (was the `openid` scope dropped?)"
            ))
        })
}

// ---------------------------------------------------------------------------
// Interactive (browser) flow

/// Where the browser is sent back to.
struct Redirect {
    /// `localhost`, `127.0.0.1` or `[::1]`, as it appears in the URL.
    host: String,
    port: u16,
    path: String,
}

/// Parses `gitsign.redirectURL`: `http://<loopback host>[:port][/path]`.
fn parse_redirect(url: &str) -> Result<Redirect, OidcError> {
    let bad = |why: &str| {
        OidcError::Config(format!(
            "gitsign.redirectURL \"{url}\" {why}; use a loopback URL such as http://localhost:8080/auth/callback"
        ))
    };
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| bad("is not an http:// URL"))?;
    let (authority, path) = match rest.find(['/', '?', '#']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    if path.contains(['?', '#']) {
        return Err(bad("has a query or fragment"));
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let end = v6
            .find(']')
            .ok_or_else(|| bad("has an unclosed IPv6 bracket"))?;
        let host = format!("[{}]", &v6[..end]);
        let after = &v6[end + 1..];
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p),
            None if after.is_empty() => None,
            None => return Err(bad("has a malformed host")),
        };
        (host, port)
    } else {
        match authority.split_once(':') {
            Some((h, p)) => (h.to_string(), Some(p)),
            None => (authority.to_string(), None),
        }
    };
    let host = host.to_ascii_lowercase();
    if !matches!(host.as_str(), "localhost" | "127.0.0.1" | "[::1]") {
        return Err(bad(
            "is not on a loopback host (localhost, 127.0.0.1 or [::1])",
        ));
    }
    let port = match port {
        None | Some("") => 0,
        Some(p) => p.parse::<u16>().map_err(|_| bad("has an invalid port"))?,
    };
    let path = if path.is_empty() {
        DEFAULT_CALLBACK_PATH.to_string()
    } else {
        path.to_string()
    };
    Ok(Redirect { host, port, path })
}

/// The loopback listeners (IPv4, and IPv6 too for `localhost`).
struct Listeners {
    v4: Option<TcpListener>,
    v6: Option<TcpListener>,
    port: u16,
}

fn bind_error(addr: &str, e: std::io::Error) -> OidcError {
    OidcError::Config(format!(
        "cannot listen on {addr} for the login redirect: {e}; free the port or change gitsign.redirectURL"
    ))
}

fn bind(r: &Redirect) -> Result<Listeners, OidcError> {
    let v4 = |port| TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port)));
    let v6 = |port| TcpListener::bind(SocketAddr::from((Ipv6Addr::LOCALHOST, port)));
    let port_of = |l: &TcpListener| l.local_addr().map(|a| a.port()).unwrap_or(0);
    match r.host.as_str() {
        "127.0.0.1" => {
            let l = v4(r.port).map_err(|e| bind_error(&format!("127.0.0.1:{}", r.port), e))?;
            let port = port_of(&l);
            Ok(Listeners {
                v4: Some(l),
                v6: None,
                port,
            })
        }
        "[::1]" => {
            let l = v6(r.port).map_err(|e| bind_error(&format!("[::1]:{}", r.port), e))?;
            let port = port_of(&l);
            Ok(Listeners {
                v4: None,
                v6: Some(l),
                port,
            })
        }
        _ => {
            // `localhost` may resolve to either address in the browser: listen
            // on both, on the same port. With a random port, retry until both
            // are free, so that no other program holds the IPv6 twin.
            for _ in 0..16 {
                let a = v4(r.port).map_err(|e| bind_error(&format!("127.0.0.1:{}", r.port), e))?;
                let port = port_of(&a);
                match v6(port) {
                    Ok(b) => {
                        return Ok(Listeners {
                            v4: Some(a),
                            v6: Some(b),
                            port,
                        })
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::AddrInUse && r.port == 0 => continue,
                    // No IPv6 loopback here (or a fixed port taken on IPv6
                    // only): IPv4 alone.
                    Err(_) => {
                        return Ok(Listeners {
                            v4: Some(a),
                            v6: None,
                            port,
                        })
                    }
                }
            }
            Err(OidcError::Config(
                "cannot find a free loopback port for the login redirect".into(),
            ))
        }
    }
}

/// Splits a command line the way Go gitsign does for `gitsign.urlOpener`:
/// whitespace separates words, single or double quotes group (the other
/// quote is literal inside), backslashes are literal.
pub fn split_command(s: &str) -> Result<Vec<String>, String> {
    let mut args = Vec::new();
    let mut cur = String::new();
    let mut in_token = false;
    let mut quote: Option<char> = None;
    for c in s.chars() {
        match quote {
            Some(q) => {
                if c == q {
                    quote = None;
                } else {
                    cur.push(c);
                }
            }
            None if c == '\'' || c == '"' => {
                quote = Some(c);
                in_token = true;
            }
            None if c.is_whitespace() => {
                if in_token {
                    args.push(std::mem::take(&mut cur));
                    in_token = false;
                }
            }
            None => {
                cur.push(c);
                in_token = true;
            }
        }
    }
    if let Some(q) = quote {
        return Err(format!("unterminated {q} quote"));
    }
    if in_token {
        args.push(cur);
    }
    Ok(args)
}

/// The argv that opens `url` with a `gitsign.urlOpener` command: `{{.URL}}`
/// in any word is replaced by the URL; if no word mentions it, the URL is
/// appended. Not run through a shell.
pub fn opener_argv(command: &str, url: &str) -> Result<Vec<String>, OidcError> {
    let bad = |why: String| OidcError::Config(format!("gitsign.urlOpener \"{command}\": {why}"));
    if command.contains(['\n', '\r']) {
        return Err(bad("must not contain line breaks".into()));
    }
    let words = split_command(command).map_err(bad)?;
    if words.is_empty() {
        return Err(bad("is empty".into()));
    }
    let mut mentioned = false;
    let mut argv = Vec::with_capacity(words.len() + 1);
    for w in words {
        if w.contains("{{") {
            let replaced = replace_url_template(&w, url).ok_or_else(|| {
                bad(format!(
                    "unsupported template in \"{w}\" (only {{{{.URL}}}} is known)"
                ))
            })?;
            mentioned = true;
            argv.push(replaced);
        } else {
            argv.push(w);
        }
    }
    if !mentioned {
        argv.push(url.to_string());
    }
    Ok(argv)
}

fn replace_url_template(word: &str, url: &str) -> Option<String> {
    let mut out = String::new();
    let mut rest = word;
    while let Some(i) = rest.find("{{") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let end = after.find("}}")?;
        let inner = after[..end]
            .trim()
            .trim_start_matches('-')
            .trim_end_matches('-')
            .trim();
        if inner != ".URL" {
            return None;
        }
        out.push_str(url);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Some(out)
}

/// `$BROWSER`: a `:`-separated list of commands, `%s` standing for the URL.
fn browser_argvs(browser: &str, url: &str) -> Vec<Vec<String>> {
    browser
        .split(':')
        .filter(|c| !c.trim().is_empty())
        .filter_map(|c| {
            let mut words = split_command(c).ok()?;
            if words.is_empty() {
                return None;
            }
            let mut mentioned = false;
            for w in words.iter_mut() {
                if w.contains("%s") {
                    *w = w.replace("%s", url);
                    mentioned = true;
                }
            }
            if !mentioned {
                words.push(url.to_string());
            }
            Some(words)
        })
        .collect()
}

fn platform_argv(url: &str) -> Vec<String> {
    if cfg!(target_os = "macos") {
        vec!["open".into(), url.into()]
    } else if cfg!(windows) {
        vec![
            "rundll32".into(),
            "url.dll,FileProtocolHandler".into(),
            url.into(),
        ]
    } else {
        vec!["xdg-open".into(), url.into()]
    }
}

/// A started opener, reaped by a thread; its exit status arrives on `rx`.
struct Opener {
    name: String,
    rx: mpsc::Receiver<std::io::Result<std::process::ExitStatus>>,
}

/// Starts the first opener that starts. Its output goes nowhere: stdout
/// carries the signature and stderr git's status lines.
fn start_opener(
    s: &OidcSettings,
    url: &str,
    msgs: &dyn Messages,
) -> Result<Option<Opener>, OidcError> {
    let candidates: Vec<(String, Vec<String>)> =
        if let Some(cmd) = s.url_opener.as_deref().filter(|c| !c.trim().is_empty()) {
            vec![("gitsign.urlOpener".into(), opener_argv(cmd, url)?)]
        } else if let Some(b) = s.browser.as_deref().filter(|b| !b.trim().is_empty()) {
            browser_argvs(b, url)
                .into_iter()
                .map(|a| ("$BROWSER".to_string(), a))
                .collect()
        } else {
            vec![("the system browser".into(), platform_argv(url))]
        };
    let mut last_err = None;
    for (source, argv) in candidates {
        let Some((prog, args)) = argv.split_first() else {
            continue;
        };
        let spawned = std::process::Command::new(prog)
            .args(args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn();
        match spawned {
            Ok(mut child) => {
                let (tx, rx) = mpsc::channel();
                std::thread::spawn(move || {
                    let _ = tx.send(child.wait());
                });
                return Ok(Some(Opener {
                    name: format!("{prog} ({source})"),
                    rx,
                }));
            }
            Err(e) => last_err = Some(format!("cannot start {prog} ({source}): {e}")),
        }
    }
    if let Some(e) = last_err {
        msgs.say(&format!("{e}; open the URL above by hand."));
    }
    Ok(None)
}

/// One request on the callback path: its query, and the connection to
/// answer on.
struct Callback {
    query: Vec<(String, String)>,
    stream: TcpStream,
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let h = std::str::from_utf8(&b[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match h {
                    Some(v) => {
                        out.push(v);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses `a=b&c=d` (form encoding).
pub fn parse_query(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (percent_decode(k), percent_decode(v)),
            None => (percent_decode(p), String::new()),
        })
        .collect()
}

fn param<'a>(q: &'a [(String, String)], k: &str) -> Option<&'a str> {
    q.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
}

fn html_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '&' => o.push_str("&amp;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

fn respond(stream: &mut TcpStream, status: &str, body: &str) {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nCache-Control: no-store\r\nReferrer-Policy: no-referrer\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body.as_bytes());
    let _ = stream.flush();
    let _ = stream.shutdown(std::net::Shutdown::Write);
}

fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{title}</title>\
         <style>body{{font-family:sans-serif;margin:3em auto;max-width:40em;padding:0 1em}}</style></head>\
         <body>{body}</body></html>\n"
    )
}

/// The page shown after a successful login; with `autoclose`, it closes
/// itself after `secs` seconds (browsers only let a script close a tab it
/// opened, so it says so if closing fails).
pub fn success_page(autoclose: bool, secs: u32) -> String {
    let mut body = String::from(
        "<h1>Sigstore authentication successful</h1><p>You are signed in; gitsign continues in your terminal.</p>",
    );
    if autoclose {
        body.push_str(&format!(
            "<p id=\"closing\">This page closes in {secs} seconds.</p>\
             <script>(function(){{var n={secs};var p=document.getElementById('closing');\
             var t=setInterval(function(){{n--;if(n>0){{p.textContent='This page closes in '+n+' seconds.';return;}}\
             clearInterval(t);window.close();p.textContent='You may now close this page.';}},1000);}})();</script>"
        ));
    } else {
        body.push_str("<p>You may now close this page.</p>");
    }
    page("Sigstore authentication successful", &body)
}

fn failure_page(message: &str) -> String {
    page(
        "Sigstore authentication failed",
        &format!(
            "<h1>Sigstore authentication failed</h1><p>{}</p><p>Return to your terminal and try again.</p>",
            html_escape(message)
        ),
    )
}

/// Reads one request head (bounded in size and time); answers anything
/// but a GET of the callback path itself, and hands the callback on.
fn serve_connection(mut stream: TcpStream, path: &str, tx: &mpsc::Sender<Callback>) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(10)));
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 2048];
    loop {
        if buf.windows(4).any(|w| w == b"\r\n\r\n") || buf.windows(2).any(|w| w == b"\n\n") {
            break;
        }
        if buf.len() > MAX_REQUEST {
            respond(
                &mut stream,
                "431 Request Header Fields Too Large",
                &page("Too large", "<h1>Request too large</h1>"),
            );
            return;
        }
        match stream.read(&mut chunk) {
            Ok(0) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(_) => return,
        }
    }
    let head = String::from_utf8_lossy(&buf);
    let line = head.lines().next().unwrap_or("");
    let mut parts = line.split_ascii_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let (p, q) = target.split_once('?').unwrap_or((target, ""));
    if p != path {
        respond(
            &mut stream,
            "404 Not Found",
            &page("Not found", "<h1>Not found</h1>"),
        );
        return;
    }
    if method != "GET" {
        respond(
            &mut stream,
            "405 Method Not Allowed",
            &page("Method not allowed", "<h1>Method not allowed</h1>"),
        );
        return;
    }
    let _ = tx.send(Callback {
        query: parse_query(q),
        stream,
    });
}

fn interactive(s: &OidcSettings, http: &Http, msgs: &dyn Messages) -> Result<IdToken, OidcError> {
    // Go gitsign's redirect is http://localhost:<port>/auth/callback: every
    // Dex version accepts `localhost` for public clients (loopback IP
    // literals only since 2024), so that is the default here too.
    let redirect = match s.redirect_url.as_deref().filter(|u| !u.trim().is_empty()) {
        Some(u) => parse_redirect(u.trim())?,
        None => Redirect {
            host: "localhost".into(),
            port: 0,
            path: DEFAULT_CALLBACK_PATH.into(),
        },
    };
    // A bad opener is a configuration error, found before any network.
    if let Some(cmd) = s.url_opener.as_deref().filter(|c| !c.trim().is_empty()) {
        opener_argv(cmd, "http://127.0.0.1/")?;
    }
    let d = discover(&s.issuer, http)?;
    let auth_ep = endpoint(
        &d.authorization_endpoint,
        "authorization_endpoint",
        &s.issuer,
    )?;
    let token_ep = endpoint(&d.token_endpoint, "token_endpoint", &s.issuer)?.to_string();
    if let Some(m) = &d.code_challenge_methods {
        if !m.iter().any(|x| x == "S256") {
            return Err(OidcError::Protocol(format!(
                "the OIDC provider {} does not offer PKCE with S256 (code_challenge_methods_supported: {}); gitsign requires it",
                s.issuer,
                m.join(", ")
            )));
        }
    }
    let listeners = bind(&redirect)?;
    let redirect_uri = format!(
        "http://{}:{}{}",
        redirect.host, listeners.port, redirect.path
    );
    let (verifier, challenge) = pkce()?;
    let state = random_b64(24)?;
    let nonce = random_b64(24)?;
    let mut params: Vec<(&str, &str)> = vec![
        ("response_type", "code"),
        ("client_id", &s.client_id),
        ("redirect_uri", &redirect_uri),
        ("scope", "openid email"),
        ("state", &state),
        ("nonce", &nonce),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
    ];
    if let Some(c) = s.connector_id.as_deref().filter(|c| !c.is_empty()) {
        params.push(("connector_id", c));
    }
    let query = params
        .iter()
        .map(|(k, v)| format!("{k}={}", urlencode(v)))
        .collect::<Vec<_>>()
        .join("&");
    let sep = if auth_ep.contains('?') { '&' } else { '?' };
    let auth_url = format!("{auth_ep}{sep}{query}");

    msgs.say_private(&format!(
        "Log in to Sigstore in your browser. If no browser opens, open this URL on this machine:\n\n    {auth_url}\n"
    ));
    let opener = start_opener(s, &auth_url, msgs)?;

    let cb = wait_for_callback(&listeners, &redirect.path, s.login_timeout, opener, msgs)?;
    let Callback { query, mut stream } = cb;
    let result = finish_interactive(
        s,
        &d,
        &query,
        &state,
        &nonce,
        &verifier,
        &redirect_uri,
        &token_ep,
        http,
    );
    match &result {
        Ok(_) => respond(
            &mut stream,
            "200 OK",
            &success_page(s.autoclose, s.autoclose_timeout),
        ),
        Err(e) => respond(&mut stream, "400 Bad Request", &failure_page(e.message())),
    }
    result
}

#[allow(clippy::too_many_arguments)]
fn finish_interactive(
    s: &OidcSettings,
    d: &Discovery,
    query: &[(String, String)],
    state: &str,
    nonce: &str,
    verifier: &str,
    redirect_uri: &str,
    token_ep: &str,
    http: &Http,
) -> Result<IdToken, OidcError> {
    let got_state = param(query, "state").unwrap_or("");
    if !constant_time_eq(got_state.as_bytes(), state.as_bytes()) {
        return Err(OidcError::Denied(
            "the login redirect carried a state that does not belong to this login (a stale browser tab, or a forged request); run the command again".into(),
        ));
    }
    if let Some(e) = param(query, "error") {
        let desc = param(query, "error_description").map(|d| server_text(d.as_bytes()));
        let e = server_text(e.as_bytes());
        return Err(OidcError::Denied(format!(
            "the identity provider {} refused the login: {}; run the command again and complete the login in the browser",
            s.issuer,
            describe_oauth(&e, &desc)
        )));
    }
    match param(query, "iss") {
        Some(iss) if !same_issuer(iss, &d.issuer) => {
            return Err(OidcError::Denied(format!(
                "the login redirect names the issuer {}, not {} (RFC 9207 mix-up protection); run the command again",
                server_text(iss.as_bytes()),
                d.issuer
            )))
        }
        None if d.iss_parameter_supported => {
            return Err(OidcError::Denied(format!(
                "the login redirect lacks the `iss` parameter that {} promises (RFC 9207); run the command again",
                d.issuer
            )))
        }
        _ => {}
    }
    let code = param(query, "code")
        .filter(|c| !c.is_empty())
        .ok_or_else(|| {
            OidcError::Protocol(format!(
                "the login redirect from {} carried no authorization code",
                s.issuer
            ))
        })?;
    let mut form: Vec<(&str, &str)> = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect_uri),
        ("client_id", &s.client_id),
        ("code_verifier", verifier),
    ];
    if let Some(sec) = s.client_secret.as_deref().filter(|c| !c.is_empty()) {
        form.push(("client_secret", sec));
    }
    let what = "exchanging the login code for an identity token";
    let resp = http.post_form(token_ep, &form).map_err(|e| net(what, e))?;
    let raw = token_answer(&resp, token_ep, what)?;
    checked(&raw, &s.client_id, Some(&s.issuer), Some(nonce))
        .map_err(|e| e.map(|m| format!("{m} (token from {}); run the command again", s.issuer)))
}

fn wait_for_callback(
    l: &Listeners,
    path: &str,
    timeout: Duration,
    mut opener: Option<Opener>,
    msgs: &dyn Messages,
) -> Result<Callback, OidcError> {
    for x in [&l.v4, &l.v6].into_iter().flatten() {
        x.set_nonblocking(true)
            .map_err(|e| OidcError::Config(format!("cannot poll the login listener: {e}")))?;
    }
    let (tx, rx) = mpsc::channel::<Callback>();
    let active = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(cb) = rx.try_recv() {
            return Ok(cb);
        }
        if let Some(o) = &opener {
            match o.rx.try_recv() {
                Ok(Ok(st)) if !st.success() => {
                    msgs.say(&format!(
                        "The browser opener {} failed ({st}); open the URL above by hand.",
                        o.name
                    ));
                    opener = None;
                }
                Ok(Err(e)) => {
                    msgs.say(&format!(
                        "The browser opener {} failed ({e}); open the URL above by hand.",
                        o.name
                    ));
                    opener = None;
                }
                Ok(Ok(_)) | Err(mpsc::TryRecvError::Disconnected) => opener = None,
                Err(mpsc::TryRecvError::Empty) => {}
            }
        }
        let mut accepted = false;
        for x in [&l.v4, &l.v6].into_iter().flatten() {
            if let Ok((stream, _)) = x.accept() {
                accepted = true;
                if active.load(Ordering::SeqCst) >= MAX_CONNECTIONS {
                    drop(stream);
                    continue;
                }
                active.fetch_add(1, Ordering::SeqCst);
                let (tx, path, active) = (tx.clone(), path.to_string(), Arc::clone(&active));
                std::thread::spawn(move || {
                    serve_connection(stream, &path, &tx);
                    active.fetch_sub(1, Ordering::SeqCst);
                });
            }
        }
        if Instant::now() >= deadline {
            return Err(OidcError::TimedOut(format!(
                "no login completed within {} s; open the login URL printed above in a browser on this machine (or raise the login timeout), or use gitsign.tokenProvider=device where no browser is available",
                timeout.as_secs()
            )));
        }
        if !accepted {
            if let Ok(cb) = rx.recv_timeout(Duration::from_millis(25)) {
                return Ok(cb);
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Device flow (RFC 8628)

fn device(s: &OidcSettings, http: &Http, msgs: &dyn Messages) -> Result<IdToken, OidcError> {
    let d = discover(&s.issuer, http)?;
    let dev_ep = d.device_authorization_endpoint.as_deref().filter(|u| !u.is_empty()).ok_or_else(|| {
        OidcError::Config(format!(
            "the OIDC provider {} does not offer the device flow (no device_authorization_endpoint in its discovery document); use gitsign.tokenProvider=interactive",
            s.issuer
        ))
    })?;
    let token_ep = endpoint(&d.token_endpoint, "token_endpoint", &s.issuer)?;
    // PKCE as Go gitsign sends it (Dex binds the device code to it; servers
    // without PKCE for this grant ignore it).
    let (verifier, challenge) = pkce()?;
    let mut form: Vec<(&str, &str)> = vec![
        ("client_id", &s.client_id),
        ("scope", "openid email"),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
    ];
    if let Some(sec) = s.client_secret.as_deref().filter(|c| !c.is_empty()) {
        form.push(("client_secret", sec));
    }
    let what = format!("starting the device login at {}", s.issuer);
    let resp = http.post_form(dev_ep, &form).map_err(|e| net(&what, e))?;
    if resp.status != 200 {
        return Err(match oauth_error(&resp.body) {
            Some((e, desc)) => OidcError::Protocol(format!(
                "{what}: {dev_ep} refused: {}",
                describe_oauth(&e, &desc)
            )),
            None => OidcError::Network(format!(
                "{what}: {dev_ep} answered HTTP {}: {}",
                resp.status,
                server_text(&resp.body)
            )),
        });
    }
    let v: Value = serde_json::from_slice(&resp.body)
        .map_err(|_| OidcError::Protocol(format!("{what}: {dev_ep} did not answer with JSON")))?;
    let get = |k: &str| v.get(k).and_then(Value::as_str).filter(|x| !x.is_empty());
    let (Some(device_code), Some(user_code)) = (get("device_code"), get("user_code")) else {
        return Err(OidcError::Protocol(format!(
            "{what}: {dev_ep} answered without a device_code and user_code"
        )));
    };
    // `verification_url` is Google's older spelling.
    let Some(uri) = get("verification_uri").or_else(|| get("verification_url")) else {
        return Err(OidcError::Protocol(format!(
            "{what}: {dev_ep} answered without a verification_uri"
        )));
    };
    let num = |k: &str| v.get(k).and_then(Value::as_u64);
    let expires_in = num("expires_in")
        .filter(|&e| e > 0)
        .unwrap_or(300)
        .min(MAX_DEVICE_LIFETIME);
    let mut interval = num("interval")
        .filter(|&i| i > 0)
        .unwrap_or(5)
        .min(MAX_DEVICE_INTERVAL);

    let user_code = server_text(user_code.as_bytes());
    let mut text = format!(
        "To sign in, open {} in a browser (on any device) and enter the code {user_code}",
        server_text(uri.as_bytes())
    );
    if let Some(c) = get("verification_uri_complete") {
        text.push_str(&format!(
            "\n(or open {} , which carries the code)",
            server_text(c.as_bytes())
        ));
    }
    text.push_str(&format!(
        "\nThe code is valid for {expires_in} s. Waiting for the login…"
    ));
    msgs.say_private(&text);

    let start = Instant::now();
    let deadline = start + Duration::from_secs(expires_in);
    let what = "waiting for the device login";
    loop {
        if Instant::now() >= deadline {
            return Err(OidcError::TimedOut(format!(
                "the device code expired after {expires_in} s without a completed login at {}; run the command again and enter the code it shows sooner",
                s.issuer
            )));
        }
        // The last poll happens at the deadline, so that the server's own
        // verdict (usually expired_token) is what the user sees.
        let wake = (Instant::now() + Duration::from_secs(interval)).min(deadline);
        std::thread::sleep(wake.saturating_duration_since(Instant::now()));
        let mut form: Vec<(&str, &str)> = vec![
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("device_code", device_code),
            ("client_id", &s.client_id),
            ("code_verifier", &verifier),
        ];
        if let Some(sec) = s.client_secret.as_deref().filter(|c| !c.is_empty()) {
            form.push(("client_secret", sec));
        }
        let resp = http.post_form(token_ep, &form).map_err(|e| net(what, e))?;
        if resp.status == 200 {
            let raw = token_answer(&resp, token_ep, what)?;
            msgs.say("Login complete.");
            return checked(&raw, &s.client_id, Some(&s.issuer), None).map_err(|e| {
                e.map(|m| format!("{m} (token from {}); run the command again", s.issuer))
            });
        }
        let Some((err, desc)) = oauth_error(&resp.body) else {
            return Err(OidcError::Network(format!(
                "{what}: {token_ep} answered HTTP {}: {}",
                resp.status,
                server_text(&resp.body)
            )));
        };
        match err.as_str() {
            "authorization_pending" => {}
            "slow_down" => interval = (interval + 5).min(MAX_DEVICE_INTERVAL),
            "access_denied" => {
                return Err(OidcError::Denied(format!(
                    "the device login was denied at {} ({}); run the command again and approve the login",
                    s.issuer,
                    describe_oauth(&err, &desc)
                )))
            }
            "expired_token" => {
                return Err(OidcError::TimedOut(format!(
                    "the device code expired at {} before the login was completed ({}); run the command again and enter the code sooner",
                    s.issuer,
                    describe_oauth(&err, &desc)
                )))
            }
            _ => {
                return Err(OidcError::Protocol(format!(
                    "{what}: the token endpoint {token_ep} refused: {}",
                    describe_oauth(&err, &desc)
                )))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(claims: Value) -> String {
        format!(
            "{}.{}.{}",
            URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256"}"#),
            URL_SAFE_NO_PAD.encode(claims.to_string()),
            URL_SAFE_NO_PAD.encode(b"sig")
        )
    }

    #[test]
    fn parses_and_checks_claims() {
        let raw = jwt(
            serde_json::json!({"iss":"https://i","sub":"s1","aud":["x","sigstore"],
            "exp": 2000, "email":"a@b.c","email_verified":"true","nonce":"n"}),
        );
        let t = IdToken::parse(&raw).unwrap();
        assert_eq!(t.challenge(), "a@b.c");
        assert_eq!(t.email_verified, Some(true));
        t.check("sigstore", Some("https://i/"), Some("n"), 1000)
            .unwrap();
        let e = t.check("sigstore", None, None, 3000).unwrap_err();
        assert!(
            e.message().contains("expired at 1970-01-01T00:33:20Z"),
            "{e}"
        );
        assert!(t
            .check("other", None, None, 1000)
            .unwrap_err()
            .message()
            .contains("audience"));
        assert!(t.check("sigstore", Some("https://j"), None, 1000).is_err());
        assert!(t.check("sigstore", None, Some("m"), 1000).is_err());
        assert!(!format!("{t:?}").contains(&raw));

        let t = IdToken::parse(&jwt(
            serde_json::json!({"iss":"i","sub":"repo:x","aud":"sigstore","exp":5}),
        ))
        .unwrap();
        assert_eq!(t.challenge(), "repo:x");
        for bad in [
            "",
            "a.b",
            "a..c",
            "a.!!!.c",
            "a.b.c.d.e",
            &jwt(serde_json::json!([1])),
            &jwt(serde_json::json!({"sub":"s","exp":1})),
            &jwt(serde_json::json!({"iss":"i","sub":"s"})),
            &jwt(serde_json::json!({"iss":"i","sub":"s","exp":"x"})),
            &jwt(serde_json::json!({"iss":"i","sub":"s","exp":1e300})),
        ] {
            assert!(IdToken::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn opener_commands() {
        assert_eq!(
            opener_argv("open -a 'My Browser' --new", "U").unwrap(),
            ["open", "-a", "My Browser", "--new", "U"]
        );
        assert_eq!(
            opener_argv(r#"C:\x\b.exe "--url={{.URL}}" x"#, "U").unwrap(),
            [r"C:\x\b.exe", "--url=U", "x"]
        );
        assert_eq!(opener_argv("b '{{ .URL }}'", "U").unwrap(), ["b", "U"]);
        // As in Go, each word is a template of its own.
        assert!(opener_argv("b {{ .URL }}", "U").is_err());
        assert!(opener_argv("b {{.Other}}", "U").is_err());
        assert!(opener_argv("b 'x", "U").is_err());
        assert!(opener_argv("  ", "U").is_err());
        assert!(opener_argv("a\nb", "U").is_err());
        assert_eq!(
            browser_argvs("w3m:firefox %s", "U"),
            [vec!["w3m", "U"], vec!["firefox", "U"]]
        );
    }

    #[test]
    fn redirect_urls_and_queries() {
        let r = parse_redirect("http://localhost:8080/cb").unwrap();
        assert_eq!(
            (r.host.as_str(), r.port, r.path.as_str()),
            ("localhost", 8080, "/cb")
        );
        let r = parse_redirect("http://[::1]").unwrap();
        assert_eq!(
            (r.host.as_str(), r.port, r.path.as_str()),
            ("[::1]", 0, "/auth/callback")
        );
        for bad in [
            "https://localhost/x",
            "http://example.com/x",
            "http://localhost:99999/",
            "http://localhost/x?y",
            "http://[::1/",
        ] {
            assert!(parse_redirect(bad).is_err(), "{bad}");
        }
        let q = parse_query("code=a%2Fb+c&state=%zz&iss=http%3A%2F%2F127.0.0.1%3A1&x&%");
        assert_eq!(param(&q, "code"), Some("a/b c"));
        assert_eq!(param(&q, "state"), Some("%zz"));
        assert_eq!(param(&q, "iss"), Some("http://127.0.0.1:1"));
        assert_eq!(param(&q, "x"), Some(""));
    }

    #[test]
    fn provider_choice() {
        let mut s = OidcSettings {
            token_file: Some("/nonexistent/token".into()),
            ..OidcSettings::default()
        };
        let expect_headless = if cfg!(target_os = "macos") || cfg!(windows) {
            Provider::Interactive
        } else {
            Provider::Device
        };
        assert_eq!(choose_provider(&s).unwrap(), expect_headless);
        s.ssh_session = true;
        assert_eq!(choose_provider(&s).unwrap(), Provider::Device);
        s.has_display = true;
        assert_eq!(choose_provider(&s).unwrap(), Provider::Interactive);
        s.actions_request_url = Some("u".into());
        s.actions_request_token = Some("t".into());
        assert_eq!(choose_provider(&s).unwrap(), Provider::GithubActions);
        s.env_token = Some("x".into());
        assert_eq!(choose_provider(&s).unwrap(), Provider::EnvVar);
        s.token_provider = Some("Device".into());
        assert_eq!(choose_provider(&s).unwrap(), Provider::Device);
        s.token_provider = Some("bogus".into());
        let e = choose_provider(&s).unwrap_err();
        assert!(
            e.message().contains("bogus") && e.message().contains("github-actions"),
            "{e}"
        );
        s.token_provider = Some("spiffe".into());
        assert!(choose_provider(&s).is_err());
        assert!(!format!("{s:?}").contains("\"x\""));
    }

    #[test]
    fn endpoint_urls() {
        assert!(plain_url("https://oauth2.sigstore.dev/auth/auth"));
        assert!(plain_url("http://127.0.0.1:1/auth?x=y"));
        for bad in [
            "-o/tmp/x",
            "file:///etc",
            "https://a b",
            "https://a\u{1b}[2J",
            "javascript:x",
        ] {
            assert!(!plain_url(bad), "{bad}");
        }
    }

    #[test]
    fn pages() {
        assert!(success_page(true, 6).contains("var n=6"));
        assert!(!success_page(false, 6).contains("<script>"));
        assert!(failure_page("<b>").contains("&lt;b&gt;"));
    }
}
