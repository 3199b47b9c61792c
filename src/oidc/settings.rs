//! What the token providers need ([`OidcSettings`]): every input of the
//! logins and the ambient providers, filled from the resolved
//! configuration ([`OidcSettings::from_config`]); this folder reads no
//! environment itself. Its `Debug` form redacts the secrets.
//!
//! What it may use: [`crate::config`] (what it is built from).

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{read_bounded, OidcError, COSIGN_TOKEN_FILE, DEFAULT_LOGIN_TIMEOUT};

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

impl std::fmt::Debug for OidcSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Every field; the secrets only as whether they are set.
        let hide = |v: &Option<String>| v.as_ref().map(|_| "<redacted>");
        macro_rules! fields {
            ($($k:ident: $v:expr),* $(,)?) => {
                f.debug_struct("OidcSettings")$(.field(stringify!($k), &$v))*.finish()
            };
        }
        let s = self;
        fields!(
            issuer: s.issuer, client_id: s.client_id, client_secret: hide(&s.client_secret),
            redirect_url: s.redirect_url, connector_id: s.connector_id,
            token_provider: s.token_provider, url_opener: s.url_opener, browser: s.browser,
            has_display: s.has_display, ssh_session: s.ssh_session,
            env_token: hide(&s.env_token), actions_request_url: s.actions_request_url,
            actions_request_token: hide(&s.actions_request_token), token_file: s.token_file,
            autoclose: s.autoclose, autoclose_timeout: s.autoclose_timeout,
            login_timeout: s.login_timeout, page_dirs: s.page_dirs,
            buildkite_agent_access_token: hide(&s.buildkite_agent_access_token),
            buildkite_agent_endpoint: s.buildkite_agent_endpoint,
            buildkite_job_id: s.buildkite_job_id, gce_metadata_host: s.gce_metadata_host,
            gce_product_name_file: s.gce_product_name_file,
            google_service_account_name: s.google_service_account_name,
            iam_credentials_url: s.iam_credentials_url,
            spiffe_endpoint_socket: s.spiffe_endpoint_socket,
        )
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
