//! The ambient token providers cosign offers (and so Go gitsign), each
//! speaking its platform's own protocol for an OIDC identity token:
//!
//! - [`buildkite`]: the Buildkite agent's OIDC token API;
//! - [`google`]: the GCE metadata server's identity tokens
//!   (`google-workload-identity`) and IAM Credentials' `generateIdToken`
//!   for another service account (`google-impersonate`);
//! - [`spiffe`]: a JWT-SVID from the SPIFFE Workload API (gRPC over a unix
//!   socket).
//!
//! What this folder may use: [`crate::sigstore::http`] (the shared bounded client)
//! and [`crate::oidc::OidcError`] for its failures; SPIFFE alone uses h2
//! and a tokio runtime it makes for its one call. It reads no environment
//! and no configuration: [`crate::oidc`] passes every endpoint, variable
//! and timeout in, chooses the provider, and checks the token each returns
//! (a raw JWT, never logged or printed).

pub mod buildkite;
pub mod github;
pub mod google;
pub mod spiffe;

use crate::oidc::{checked, IdToken, Messages, OidcError, OidcSettings};
use crate::sigstore::http::Http;

/// Largest token answer accepted from a provider (real ones are 1-3 KiB;
/// the HTTP client caps every body at 8 MiB already).
pub const MAX_ANSWER: usize = 256 * 1024;

/// A token answer's size check, naming what answered.
fn bounded(body: &[u8], what: &str) -> Result<(), OidcError> {
    if body.len() > MAX_ANSWER {
        return Err(OidcError::Protocol(format!(
            "{what} answered {} bytes, more than the {MAX_ANSWER} a token answer may have",
            body.len()
        )));
    }
    Ok(())
}

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
pub(crate) fn configured_provider(s: &OidcSettings) -> Result<Option<Provider>, OidcError> {
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

/// cosign's ambient providers ([`crate::oidc::providers`]): a raw token from the
/// platform, then the same checks as any other.
pub(crate) fn ambient(
    provider: Provider,
    s: &OidcSettings,
    http: &Http,
) -> Result<IdToken, OidcError> {
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
            if let Some(note) = spiffe::default_socket_problem(setting) {
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
            let raw = crate::oidc::read_bounded(path).map_err(|e| {
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
        Provider::GithubActions => github::token(s, http),
        Provider::Interactive => crate::oidc::login::interactive(s, http, msgs),
        Provider::Device => crate::oidc::login::device(s, http, msgs),
        Provider::BuildkiteAgent
        | Provider::GoogleWorkloadIdentity
        | Provider::GoogleImpersonate
        | Provider::Spiffe => ambient(provider, s, http),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
