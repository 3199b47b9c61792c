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
//! What this folder may use: [`crate::sigstore::http`] (the shared HTTP
//! client), [`crate::encoding`], [`crate::config`] (the settings it is
//! built from) and [`crate::progress`] (to word a duration).

pub mod providers;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use aws_lc_rs::digest;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine;
use serde_json::{Map, Value};

use crate::sigstore::http::{self, server_text, urlencode, Http, HttpError};

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
/// Most connections the loopback listener keeps open at once, waiting for
/// their request; when full, the oldest is closed for the new one, so idle
/// connections (another local user's) cannot keep the browser's out.
const MAX_CONNECTIONS: usize = 64;
/// How long a connection to the loopback listener may take to send its
/// request head (a browser sends it at once).
const HEAD_DEADLINE: Duration = Duration::from_secs(5);
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
    "buildkite-agent",
    "google-workload-identity",
    "google-impersonate",
    "spiffe",
];

/// cosign providers Go gitsign also accepts that this implementation does
/// not have.
const UNSUPPORTED_COSIGN_PROVIDERS: &[&str] = &["gitlab", "gitpod"];

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
    /// Where the opener's private login page may go, in order of
    /// preference (`XDG_RUNTIME_DIR`, then the temporary directory); see
    /// [`LoginPage`].
    pub page_dirs: Vec<PathBuf>,
    /// `BUILDKITE_AGENT_ACCESS_TOKEN`.
    pub buildkite_agent_access_token: Option<String>,
    /// `BUILDKITE_AGENT_ENDPOINT`; `None`: Buildkite's.
    pub buildkite_agent_endpoint: Option<String>,
    /// `BUILDKITE_JOB_ID`.
    pub buildkite_job_id: Option<String>,
    /// `GCE_METADATA_HOST`; `None`: the metadata server's usual address.
    pub gce_metadata_host: Option<String>,
    /// The file whose "Google" product name enables
    /// `google-workload-identity` in auto-detection (cosign's test).
    pub gce_product_name_file: PathBuf,
    /// `GOOGLE_SERVICE_ACCOUNT_NAME`, for `google-impersonate`.
    pub google_service_account_name: Option<String>,
    /// IAM Credentials' base URL (`gitsign.iamCredentialsURL`).
    pub iam_credentials_url: String,
    /// `SPIFFE_ENDPOINT_SOCKET`; `None`: SPIRE's default socket.
    pub spiffe_endpoint_socket: Option<String>,
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
            page_dirs: vec![std::env::temp_dir()],
            buildkite_agent_access_token: None,
            buildkite_agent_endpoint: None,
            buildkite_job_id: None,
            gce_metadata_host: None,
            gce_product_name_file: crate::oidc::providers::google::PRODUCT_NAME_FILE.into(),
            google_service_account_name: None,
            iam_credentials_url: crate::oidc::providers::google::DEFAULT_IAM_CREDENTIALS.into(),
            spiffe_endpoint_socket: None,
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
            .field("page_dirs", &self.page_dirs)
            .field(
                "buildkite_agent_access_token",
                &redact_opt(&self.buildkite_agent_access_token),
            )
            .field("buildkite_agent_endpoint", &self.buildkite_agent_endpoint)
            .field("buildkite_job_id", &self.buildkite_job_id)
            .field("gce_metadata_host", &self.gce_metadata_host)
            .field("gce_product_name_file", &self.gce_product_name_file)
            .field(
                "google_service_account_name",
                &self.google_service_account_name,
            )
            .field("iam_credentials_url", &self.iam_credentials_url)
            .field("spiffe_endpoint_socket", &self.spiffe_endpoint_socket)
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
            page_dirs: cfg
                .cache_socket_env
                .xdg_runtime_dir
                .iter()
                .map(PathBuf::from)
                .filter(|d| d.is_absolute())
                .chain([std::env::temp_dir()])
                .collect(),
            buildkite_agent_access_token: env.buildkite_agent_access_token.clone(),
            buildkite_agent_endpoint: env.buildkite_agent_endpoint.clone(),
            buildkite_job_id: env.buildkite_job_id.clone(),
            gce_metadata_host: env.gce_metadata_host.clone(),
            gce_product_name_file: crate::oidc::providers::google::PRODUCT_NAME_FILE.into(),
            google_service_account_name: env.google_service_account_name.clone(),
            iam_credentials_url: cfg.iam_credentials_url.clone(),
            spiffe_endpoint_socket: env.spiffe_endpoint_socket.clone(),
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
    /// The Buildkite agent's OIDC token API.
    BuildkiteAgent,
    /// The GCE metadata server's identity token.
    GoogleWorkloadIdentity,
    /// IAM Credentials' ID token for another service account.
    GoogleImpersonate,
    /// A JWT-SVID from the SPIFFE Workload API.
    Spiffe,
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
            Provider::BuildkiteAgent => "buildkite-agent",
            Provider::GoogleWorkloadIdentity => "google-workload-identity",
            Provider::GoogleImpersonate => "google-impersonate",
            Provider::Spiffe => "spiffe",
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
                crate::encoding::time::format_time(self.expires_at),
                now.saturating_sub(self.expires_at)
            )));
        }
        if let Some(nbf) = self.not_before {
            if nbf > now.saturating_add(60) {
                return Err(OidcError::InvalidToken(format!(
                    "the identity token is not valid before {} (check this machine's clock)",
                    crate::encoding::time::format_time(nbf)
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

/// Picks the provider: the configured one, else the first of
/// [`auto_providers`] ([`get_token`] goes on past workload identity when
/// the metadata server gives no token).
pub fn choose_provider(s: &OidcSettings) -> Result<Provider, OidcError> {
    match configured_provider(s)? {
        Some(p) => Ok(p),
        None => Ok(auto_providers(s)[0]),
    }
}

/// The provider `gitsign.tokenProvider` names; `None` when it is unset.
fn configured_provider(s: &OidcSettings) -> Result<Option<Provider>, OidcError> {
    let name = s
        .token_provider
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty());
    let Some(name) = name else {
        return Ok(None);
    };
    match name.to_ascii_lowercase().as_str() {
        "interactive" => Ok(Provider::Interactive),
        "device" => Ok(Provider::Device),
        "envvar" => Ok(Provider::EnvVar),
        "filesystem" => Ok(Provider::Filesystem),
        "github-actions" => Ok(Provider::GithubActions),
        "buildkite-agent" => Ok(Provider::BuildkiteAgent),
        "google-workload-identity" => Ok(Provider::GoogleWorkloadIdentity),
        "google-impersonate" => Ok(Provider::GoogleImpersonate),
        "spiffe" => Ok(Provider::Spiffe),
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
    .map(Some)
}

/// The providers auto-detection would use, in order, each only when it
/// applies (cosign's `Enabled`): `SIGSTORE_ID_TOKEN`; GitHub Actions'
/// token request variables; Buildkite's agent token; the token file; a
/// Google machine (workload identity; used only if the metadata server
/// gives a token, as cosign probes it, else the next is tried);
/// `GOOGLE_SERVICE_ACCOUNT_NAME` (impersonation); the SPIFFE Workload API
/// socket; then the browser when one is plausibly available, else the
/// device flow, which always ends the list.
pub fn auto_providers(s: &OidcSettings) -> Vec<Provider> {
    use crate::oidc::providers::{buildkite, google, spiffe};
    let mut v = Vec::new();
    if nonempty(&s.env_token) {
        v.push(Provider::EnvVar);
    }
    if nonempty(&s.actions_request_url) && nonempty(&s.actions_request_token) {
        v.push(Provider::GithubActions);
    }
    if buildkite::enabled(&buildkite_job(s)) {
        v.push(Provider::BuildkiteAgent);
    }
    if s.token_file_path().exists() {
        v.push(Provider::Filesystem);
    }
    if google::on_google(&s.gce_product_name_file) {
        v.push(Provider::GoogleWorkloadIdentity);
    }
    if google::impersonation_enabled(s.google_service_account_name.as_deref()) {
        v.push(Provider::GoogleImpersonate);
    }
    if spiffe::enabled(s.spiffe_endpoint_socket.as_deref()) {
        v.push(Provider::Spiffe);
    }
    v.push(if browser_plausible(s) {
        Provider::Interactive
    } else {
        Provider::Device
    });
    v
}

fn buildkite_job(s: &OidcSettings) -> crate::oidc::providers::buildkite::Job<'_> {
    crate::oidc::providers::buildkite::Job {
        access_token: s.buildkite_agent_access_token.as_deref(),
        endpoint: s.buildkite_agent_endpoint.as_deref(),
        job_id: s.buildkite_job_id.as_deref(),
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
    if let Some(p) = configured_provider(s)? {
        return get_token_from(p, s, http, msgs);
    }
    for p in auto_providers(s) {
        // The login that follows is explained when a SPIFFE socket was
        // passed over as another user's.
        if matches!(p, Provider::Interactive | Provider::Device) {
            let setting = s.spiffe_endpoint_socket.as_deref();
            if let Some(note) = crate::oidc::providers::spiffe::default_socket_problem(setting) {
                msgs.say(&note);
            }
        }
        let r = get_token_from(p, s, http, msgs);
        // cosign enables workload identity on a Google machine only when
        // the metadata server hands out a token: a VM without a service
        // account goes on to the next provider.
        if p == Provider::GoogleWorkloadIdentity && r.is_err() {
            continue;
        }
        return r;
    }
    unreachable!("auto_providers ends with interactive or device")
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
        Provider::BuildkiteAgent
        | Provider::GoogleWorkloadIdentity
        | Provider::GoogleImpersonate
        | Provider::Spiffe => ambient(provider, s, http),
    }
}

/// cosign's ambient providers ([`crate::oidc::providers`]): a raw token from the
/// platform, then the same checks as any other.
fn ambient(provider: Provider, s: &OidcSettings, http: &Http) -> Result<IdToken, OidcError> {
    use crate::oidc::providers::{buildkite, google, spiffe};
    let aud = s.client_id.as_str();
    let (raw, from) = match provider {
        Provider::BuildkiteAgent => (
            buildkite::token(&buildkite_job(s), aud, http)?,
            "the Buildkite agent",
        ),
        Provider::GoogleWorkloadIdentity => (
            google::workload_identity_token(s.gce_metadata_host.as_deref(), aud, http)?,
            "the GCE metadata server",
        ),
        Provider::GoogleImpersonate => {
            let iam = Some(s.iam_credentials_url.trim())
                .filter(|u| !u.is_empty())
                .unwrap_or(google::DEFAULT_IAM_CREDENTIALS);
            let imp = google::Impersonation {
                target: s.google_service_account_name.as_deref(),
                metadata_host: s.gce_metadata_host.as_deref(),
                iam_credentials_url: iam,
            };
            (
                google::impersonated_token(&imp, aud, http)?,
                "IAM Credentials",
            )
        }
        Provider::Spiffe => (
            spiffe::token(s.spiffe_endpoint_socket.as_deref(), aud, http.timeout())?,
            "the SPIFFE Workload API",
        ),
        _ => unreachable!("not an ambient provider"),
    };
    let name = provider.name();
    checked(&raw, aud, None, None)
        .map_err(|e| e.map(|m| format!("{m} (token from the provider {name}, {from})")))
}

fn checked(
    raw: &str,
    client_id: &str,
    issuer: Option<&str>,
    nonce: Option<&str>,
) -> Result<IdToken, OidcError> {
    let t = IdToken::parse(raw)?;
    t.check(client_id, issuer, nonce, crate::encoding::time::now())?;
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
    let https = http::is_https(issuer);
    let s = |k: &str| -> Result<Option<String>, OidcError> {
        match doc.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(u)) if https && !http::is_https(u) => {
                Err(OidcError::Protocol(format!(
                    "{what}: the discovery document at {url} (fetched over https) names {k} {}, \
                     which is not https; gitsign refuses to send a login over plain http: check \
                     gitsign.issuer, or ask the provider's operator",
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
    http::is_http_or_https(u)
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

pub(crate) fn percent_decode(s: &str) -> String {
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
    // A few KiB at most, which the socket's buffer takes at once; a bound
    // all the same, for a peer that reads nothing.
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_write_timeout(Some(Duration::from_secs(2)));
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

/// What a connection's request head came to.
enum Head {
    /// Not all of it yet.
    Partial,
    /// A GET of the callback path: its query.
    Callback(Vec<(String, String)>),
    /// Answered (not found, not allowed, too large) or closed: drop it.
    Done,
}

/// Reads what a connection has sent (non-blocking) into `buf`; answers
/// anything but a GET of the callback path itself.
fn read_head(stream: &mut TcpStream, buf: &mut Vec<u8>, path: &str) -> Head {
    let mut chunk = [0u8; 2048];
    loop {
        if buf.windows(4).any(|w| w == b"\r\n\r\n") || buf.windows(2).any(|w| w == b"\n\n") {
            break;
        }
        if buf.len() > MAX_REQUEST {
            respond(
                stream,
                "431 Request Header Fields Too Large",
                &page("Too large", "<h1>Request too large</h1>"),
            );
            return Head::Done;
        }
        match stream.read(&mut chunk) {
            Ok(0) => return Head::Done,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Head::Partial,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => return Head::Done,
        }
    }
    let head = String::from_utf8_lossy(buf);
    let line = head.lines().next().unwrap_or("");
    let mut parts = line.split_ascii_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let (p, q) = target.split_once('?').unwrap_or((target, ""));
    if p != path {
        respond(
            stream,
            "404 Not Found",
            &page("Not found", "<h1>Not found</h1>"),
        );
        return Head::Done;
    }
    if method != "GET" {
        respond(
            stream,
            "405 Method Not Allowed",
            &page("Method not allowed", "<h1>Method not allowed</h1>"),
        );
        return Head::Done;
    }
    Head::Callback(parse_query(q))
}

/// The page the opener gets instead of the login URL: an HTML file only
/// this user can read, in a fresh directory only this user can enter,
/// that sends the browser on to the authorization URL (a meta refresh,
/// and a link). A command line is readable by every local user in
/// `/proc/PID/cmdline` for as long as the opener (often the browser
/// itself) runs; the authorization URL carries this login's state, nonce
/// and PKCE challenge, with which another user could finish the login with
/// their own account and have this user sign as them. The file's path
/// tells them nothing. Removed (with its directory) when dropped, after
/// the login.
#[cfg(unix)]
pub struct LoginPage {
    parent: std::os::fd::OwnedFd,
    dir: std::os::fd::OwnedFd,
    name: String,
    path: PathBuf,
}

#[cfg(unix)]
impl LoginPage {
    /// The page's file name inside its directory.
    const FILE: &'static str = "login.html";

    /// Writes the page for `auth_url` under the first of `dirs` that is
    /// safe: a directory of this user's that nobody else can write to, or
    /// a sticky one (`/tmp`), where nobody else can rename what we create.
    /// The directory is created with `mkdir` (which never follows a link)
    /// and used through its descriptor; the file with `O_CREAT|O_EXCL|
    /// O_NOFOLLOW`, mode 0600.
    pub fn create(auth_url: &str, dirs: &[PathBuf]) -> Result<LoginPage, String> {
        let mut why = Vec::new();
        for d in dirs {
            match Self::create_in(auth_url, d) {
                Ok(p) => return Ok(p),
                Err(e) => why.push(e),
            }
        }
        Err(if why.is_empty() {
            "no directory was given for it".to_string()
        } else {
            why.join("; ")
        })
    }

    fn create_in(auth_url: &str, parent_path: &Path) -> Result<LoginPage, String> {
        use rustix::fs::{self as rfs, Mode, OFlags};
        let at =
            |what: &str, e: rustix::io::Errno| format!("{what} in {}: {e}", parent_path.display());
        let euid = rustix::process::geteuid().as_raw();
        let parent = rfs::open(
            parent_path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| at("cannot open the directory", e))?;
        let st = rfs::fstat(&parent).map_err(|e| at("cannot inspect the directory", e))?;
        let mode = st.st_mode as u32 & 0o7777;
        let others_write = mode & 0o022 != 0;
        let sticky = mode & 0o1000 != 0;
        if (st.st_uid != euid && st.st_uid != 0) || (others_write && !sticky) {
            return Err(format!(
                "{} is not a safe place for it (owned by uid {}, mode {mode:04o})",
                parent_path.display(),
                st.st_uid
            ));
        }
        for _ in 0..8 {
            let name = format!(
                "gitsign-login-{}",
                random_b64(12).map_err(|e| e.message().to_string())?
            );
            match rfs::mkdirat(&parent, name.as_str(), Mode::from_raw_mode(0o700)) {
                Ok(()) => {}
                Err(rustix::io::Errno::EXIST) => continue,
                Err(e) => return Err(at("cannot create a directory", e)),
            }
            let dir = rfs::openat(
                &parent,
                name.as_str(),
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(|e| at("cannot open the directory it created", e))?;
            let page = LoginPage {
                parent,
                dir,
                path: parent_path.join(&name).join(Self::FILE),
                name,
            };
            let d = rfs::fstat(&page.dir).map_err(|e| at("cannot inspect its directory", e))?;
            if d.st_uid != euid {
                return Err(format!(
                    "the directory it created in {} belongs to uid {}",
                    parent_path.display(),
                    d.st_uid
                ));
            }
            rfs::fchmod(&page.dir, Mode::from_raw_mode(0o700))
                .map_err(|e| at("cannot make its directory private", e))?;
            let file = rfs::openat(
                &page.dir,
                Self::FILE,
                OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::from_raw_mode(0o600),
            )
            .map_err(|e| at("cannot create the page", e))?;
            rfs::fchmod(&file, Mode::from_raw_mode(0o600))
                .map_err(|e| at("cannot make the page private", e))?;
            let mut file = std::fs::File::from(file);
            file.write_all(redirect_page(auth_url).as_bytes())
                .map_err(|e| format!("cannot write the page in {}: {e}", parent_path.display()))?;
            return Ok(page);
        }
        Err(format!(
            "no fresh directory name was free in {}",
            parent_path.display()
        ))
    }

    /// The page's `file://` URL.
    pub fn url(&self) -> String {
        file_url(&self.path)
    }
}

#[cfg(unix)]
impl Drop for LoginPage {
    fn drop(&mut self) {
        let _ = rustix::fs::unlinkat(&self.dir, Self::FILE, rustix::fs::AtFlags::empty());
        let _ = rustix::fs::unlinkat(
            &self.parent,
            self.name.as_str(),
            rustix::fs::AtFlags::REMOVEDIR,
        );
    }
}

/// Off Unix, the page is not written: the checks that keep it private
/// (a directory only this user can enter, created without following a
/// link) are Unix's, so [`LoginPage::create`] says that it is not
/// supported on this platform, and the user opens the login URL by hand.
#[cfg(not(unix))]
pub struct LoginPage {
    never: std::convert::Infallible,
}

#[cfg(not(unix))]
impl LoginPage {
    /// Refuses (see the type's docs).
    pub fn create(_auth_url: &str, _dirs: &[PathBuf]) -> Result<LoginPage, String> {
        Err("a private login page is not supported on this platform".to_string())
    }

    /// Never called: no page exists.
    pub fn url(&self) -> String {
        match self.never {}
    }
}

/// Never run: no page exists (there as on Unix, where dropping the page
/// removes it).
#[cfg(not(unix))]
impl Drop for LoginPage {
    fn drop(&mut self) {
        match self.never {}
    }
}

/// A `file://` URL for an absolute path, percent-encoding every byte but
/// unreserved characters and `/`.
#[cfg(unix)]
fn file_url(path: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    let mut url = String::from("file://");
    for &b in path.as_os_str().as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'/' | b'-' | b'_' | b'.' | b'~') {
            url.push(b as char);
        } else {
            url.push_str(&format!("%{b:02X}"));
        }
    }
    url
}

/// The login page: straight on to `url` (a meta refresh, no script), with
/// a link for a browser that does not follow it; no referrer sent on.
#[cfg(unix)]
fn redirect_page(url: &str) -> String {
    let u = html_escape(url);
    format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">\
         <meta name=\"referrer\" content=\"no-referrer\">\
         <meta http-equiv=\"refresh\" content=\"0; url={u}\">\
         <title>Sigstore login</title></head>\n<body><p>Continuing to the Sigstore login. \
         If nothing happens, <a id=\"login\" href=\"{u}\">follow this link</a>.</p></body></html>\n"
    )
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
    // The opener gets a private page's file URL, never the login URL
    // itself (see LoginPage); the page is removed when the login ends.
    let page = match LoginPage::create(&auth_url, &s.page_dirs) {
        Ok(p) => Some(p),
        Err(why) => {
            msgs.say(&format!(
                "cannot write the private login page for the browser ({why}); open the URL \
                 above by hand"
            ));
            None
        }
    };
    let opener = match &page {
        Some(p) => start_opener(s, &p.url(), msgs)?,
        None => None,
    };

    msgs.say(&format!(
        "Waiting up to {} for the browser login (gitsign.loginTimeout).",
        crate::progress::duration(s.login_timeout)
    ));
    let waited = wait_for_callback(
        &listeners,
        &redirect.path,
        &state,
        s.login_timeout,
        opener,
        msgs,
    );
    msgs.done_waiting();
    drop(page);
    let cb = waited?;
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

/// One connection to the loopback listener, waiting for its request head.
struct Pending {
    stream: TcpStream,
    head: Vec<u8>,
    since: Instant,
}

/// Waits for the browser's callback: a GET of the callback path carrying
/// this login's `state`. One thread, non-blocking: every connection is read
/// as its bytes arrive, none may take longer than [`HEAD_DEADLINE`] to send
/// its request, and at most [`MAX_CONNECTIONS`] are kept (the oldest is
/// closed for a new one), so other local users' idle or slow connections
/// cannot keep the browser's callback out. A callback with another state
/// (a stale tab, or another program on this machine that found the port)
/// is answered 400 and ignored, said once on the terminal; the login goes
/// on waiting for its own until `timeout`.
fn wait_for_callback(
    l: &Listeners,
    path: &str,
    state: &str,
    timeout: Duration,
    mut opener: Option<Opener>,
    msgs: &dyn Messages,
) -> Result<Callback, OidcError> {
    use rustix::event::{poll, PollFd, PollFlags, Timespec};
    let listeners: Vec<&TcpListener> = [&l.v4, &l.v6].into_iter().flatten().collect();
    for x in &listeners {
        x.set_nonblocking(true)
            .map_err(|e| OidcError::Config(format!("cannot poll the login listener: {e}")))?;
    }
    let deadline = Instant::now() + timeout;
    let mut told: Option<Instant> = None;
    let mut pending: std::collections::VecDeque<Pending> = std::collections::VecDeque::new();
    let mut ignored = 0usize;
    // A callback with another state: answered, counted, said once.
    let mut ignore = |mut stream: TcpStream| {
        respond(
            &mut stream,
            "400 Bad Request",
            &failure_page(
                "This login callback does not belong to the login gitsign is waiting for (a stale \
                 browser tab, or another program); it was ignored.",
            ),
        );
        ignored += 1;
        if ignored == 1 {
            msgs.say(
                "A login callback with another state was ignored (a stale browser tab, or \
                 possibly another program on this machine); still waiting for this login's.",
            );
        }
    };
    let ours = |query: &[(String, String)]| {
        constant_time_eq(
            param(query, "state").unwrap_or("").as_bytes(),
            state.as_bytes(),
        )
    };
    loop {
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
        // New connections: read at once (a browser's request is usually
        // there already), else keep them, the oldest making room.
        for x in &listeners {
            loop {
                let mut stream = match x.accept() {
                    Ok((stream, _)) => stream,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(_) => break,
                };
                if stream.set_nonblocking(true).is_err() {
                    continue;
                }
                let mut head = Vec::new();
                match read_head(&mut stream, &mut head, path) {
                    Head::Callback(query) if ours(&query) => return Ok(callback(query, stream)),
                    Head::Callback(_) => ignore(stream),
                    Head::Done => {}
                    Head::Partial => {
                        if pending.len() >= MAX_CONNECTIONS {
                            pending.pop_front();
                        }
                        pending.push_back(Pending {
                            stream,
                            head,
                            since: Instant::now(),
                        });
                    }
                }
            }
        }
        // Connections already open: what they sent since, and the slow.
        let mut i = 0;
        while i < pending.len() {
            let p = &mut pending[i];
            match read_head(&mut p.stream, &mut p.head, path) {
                Head::Partial if p.since.elapsed() < HEAD_DEADLINE => i += 1,
                Head::Partial | Head::Done => {
                    pending.remove(i);
                }
                Head::Callback(query) => {
                    let Some(p) = pending.remove(i) else { break };
                    if ours(&query) {
                        return Ok(callback(query, p.stream));
                    }
                    ignore(p.stream);
                }
            }
        }
        let now = Instant::now();
        if now < deadline && told.is_none_or(|t| now.duration_since(t) >= Duration::from_secs(1)) {
            told = Some(now);
            msgs.waiting(&format!(
                "waiting for the browser login: {} left",
                time_left(deadline, now)
            ));
        }
        if now >= deadline {
            let also = match ignored {
                0 => String::new(),
                1 => " (1 login callback with another state was ignored: a stale browser tab, \
                       or possibly another program on this machine)"
                    .to_string(),
                n => format!(
                    " ({n} login callbacks with another state were ignored: stale browser tabs, \
                     or possibly another program on this machine)"
                ),
            };
            return Err(OidcError::TimedOut(format!(
                "no login completed within {} s{also}; open the login URL printed above in a browser on this machine (or raise the login timeout), or use gitsign.tokenProvider=device where no browser is available",
                timeout.as_secs()
            )));
        }
        // Sleep until something is readable, at most 50 ms (the opener's
        // exit and the deadlines are checked between).
        let wait = deadline
            .saturating_duration_since(now)
            .min(Duration::from_millis(50));
        let ts = Timespec {
            tv_sec: 0,
            tv_nsec: wait.subsec_nanos() as _,
        };
        let mut fds: Vec<PollFd<'_>> = listeners
            .iter()
            .map(|x| PollFd::new(*x, PollFlags::IN))
            .chain(
                pending
                    .iter()
                    .map(|p| PollFd::new(&p.stream, PollFlags::IN)),
            )
            .collect();
        let _ = poll(&mut fds, Some(&ts));
    }
}

/// The callback to finish the login with: its connection back to blocking,
/// with bounded times for the answer.
fn callback(query: Vec<(String, String)>, stream: TcpStream) -> Callback {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(10)));
    Callback { query, stream }
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
    let polled = poll_device(
        s,
        http,
        token_ep,
        device_code,
        &verifier,
        deadline,
        expires_in,
        &mut interval,
        msgs,
    );
    msgs.done_waiting();
    polled
}

/// The time from `now` to `deadline`, in whole seconds rounded up, as
/// `4 min 05 s`.
fn time_left(deadline: Instant, now: Instant) -> String {
    let left = deadline.saturating_duration_since(now);
    let secs = left.as_secs() + u64::from(left.subsec_nanos() > 0);
    crate::progress::duration(Duration::from_secs(secs))
}

/// Polls the token endpoint for a device code until the login completes,
/// fails, or `deadline` passes, saying on the terminal how long is left.
#[allow(clippy::too_many_arguments)]
fn poll_device(
    s: &OidcSettings,
    http: &Http,
    token_ep: &str,
    device_code: &str,
    verifier: &str,
    deadline: Instant,
    expires_in: u64,
    interval: &mut u64,
    msgs: &dyn Messages,
) -> Result<IdToken, OidcError> {
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
        let wake = (Instant::now() + Duration::from_secs(*interval)).min(deadline);
        loop {
            let now = Instant::now();
            if now >= wake {
                break;
            }
            msgs.waiting(&format!("{what}: {} left", time_left(deadline, now)));
            std::thread::sleep(
                wake.saturating_duration_since(now)
                    .min(Duration::from_secs(1)),
            );
        }
        let mut form: Vec<(&str, &str)> = vec![
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("device_code", device_code),
            ("client_id", &s.client_id),
            ("code_verifier", verifier),
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
            "slow_down" => *interval = (*interval + 5).min(MAX_DEVICE_INTERVAL),
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
            gce_product_name_file: "/nonexistent/product_name".into(),
            spiffe_endpoint_socket: Some("unix:///nonexistent/api.sock".into()),
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
        for (name, p) in [
            ("spiffe", Provider::Spiffe),
            ("buildkite-agent", Provider::BuildkiteAgent),
            ("google-workload-identity", Provider::GoogleWorkloadIdentity),
            ("Google-Impersonate", Provider::GoogleImpersonate),
        ] {
            s.token_provider = Some(name.into());
            assert_eq!(choose_provider(&s).unwrap(), p);
        }
        s.token_provider = Some("gitlab".into());
        let e = choose_provider(&s).unwrap_err();
        assert!(e.message().contains("SIGSTORE_ID_TOKEN"), "{e}");
        assert!(!format!("{s:?}").contains("\"x\""));
    }

    #[test]
    fn ambient_provider_order() {
        let d = tempfile::tempdir().unwrap();
        let product = d.path().join("product_name");
        std::fs::write(&product, "Google Compute Engine\n").unwrap();
        let sock = d.path().join("api.sock");
        std::fs::write(&sock, "").unwrap();
        let token_file = d.path().join("token");
        std::fs::write(&token_file, "t").unwrap();
        let mut s = OidcSettings {
            token_file: Some("/nonexistent/token".into()),
            gce_product_name_file: "/nonexistent/product_name".into(),
            spiffe_endpoint_socket: Some("unix:///nonexistent/api.sock".into()),
            ssh_session: true,
            ..OidcSettings::default()
        };
        assert_eq!(auto_providers(&s), [Provider::Device]);
        s.spiffe_endpoint_socket = Some(format!("unix://{}", sock.display()));
        s.google_service_account_name = Some("sa@p.iam.gserviceaccount.com".into());
        s.gce_product_name_file = product;
        s.token_file = Some(token_file);
        s.buildkite_agent_access_token = Some("bk".into());
        s.actions_request_url = Some("u".into());
        s.actions_request_token = Some("t".into());
        s.env_token = Some("x".into());
        assert_eq!(
            auto_providers(&s),
            [
                Provider::EnvVar,
                Provider::GithubActions,
                Provider::BuildkiteAgent,
                Provider::Filesystem,
                Provider::GoogleWorkloadIdentity,
                Provider::GoogleImpersonate,
                Provider::Spiffe,
                Provider::Device,
            ]
        );
        // Debug never shows the Buildkite agent token.
        assert!(!format!("{s:?}").contains("\"bk\""));
        // A socket path that is not there does not enable spiffe.
        s.spiffe_endpoint_socket = Some("unix:///nonexistent/api.sock".into());
        assert!(!auto_providers(&s).contains(&Provider::Spiffe));
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

    #[cfg(unix)]
    #[test]
    fn the_login_page_is_private_and_goes() {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let root = tempfile::tempdir().unwrap();
        let url = "https://issuer.example/auth?state=S&code_challenge=C&x=\"<y>";
        let page = LoginPage::create(url, &[root.path().to_path_buf()]).unwrap();
        let file = page.path.clone();
        let dir = file.parent().unwrap().to_path_buf();
        assert_eq!(std::fs::metadata(&dir).unwrap().mode() & 0o7777, 0o700);
        assert_eq!(std::fs::metadata(&file).unwrap().mode() & 0o7777, 0o600);
        assert_eq!(page.url(), format!("file://{}", file.display()));
        let html = std::fs::read_to_string(&file).unwrap();
        let escaped =
            "https://issuer.example/auth?state=S&amp;code_challenge=C&amp;x=&quot;&lt;y&gt;";
        assert!(
            html.contains(&format!("content=\"0; url={escaped}\""))
                && html.contains(&format!("<a id=\"login\" href=\"{escaped}\">")),
            "{html}"
        );
        drop(page);
        assert!(!file.exists() && !dir.exists(), "removed after the login");
        // A directory others can write to without the sticky bit is no
        // place for it; the next one is used.
        let loose = root.path().join("loose");
        std::fs::create_dir(&loose).unwrap();
        std::fs::set_permissions(&loose, std::fs::Permissions::from_mode(0o777)).unwrap();
        let e = LoginPage::create(url, std::slice::from_ref(&loose))
            .err()
            .unwrap();
        assert!(e.contains("not a safe place"), "{e}");
        let page = LoginPage::create(url, &[loose, root.path().to_path_buf()]).unwrap();
        assert!(
            page.path.starts_with(root.path()) && !page.path.starts_with(root.path().join("loose"))
        );
        assert_eq!(file_url(Path::new("/a b/%/é")), "file:///a%20b/%25/%C3%A9");
    }

    #[test]
    fn pages() {
        assert!(success_page(true, 6).contains("var n=6"));
        assert!(!success_page(false, 6).contains("<script>"));
        assert!(failure_page("<b>").contains("&lt;b&gt;"));
    }
}
