//! Configuration: defaults < git config (`gitsign.*`, read with gix) <
//! environment (`SIGSTORE_*`, then `GITSIGN_*`, which wins), with the keys
//! and variables Go gitsign defines. This is the only module that reads
//! the environment.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::sigstore::trust::{TrustError, TrustedRoot};

/// Public-good Fulcio.
pub const DEFAULT_FULCIO: &str = "https://fulcio.sigstore.dev";
/// Public-good Rekor.
pub const DEFAULT_REKOR: &str = "https://rekor.sigstore.dev";
/// Public-good OIDC issuer (Dex).
pub const DEFAULT_ISSUER: &str = "https://oauth2.sigstore.dev/auth";
/// Sigstore's public OIDC client.
pub const DEFAULT_CLIENT_ID: &str = "sigstore";

/// Where a setting came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Built-in default.
    Default,
    /// git config.
    Git,
    /// Environment variable.
    Env,
}

/// How signatures record themselves in Rekor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RekorMode {
    /// The log entry is embedded in the signature (verifiable offline).
    Offline,
    /// The entry is keyed by the object id and found by searching Rekor.
    Online,
}

/// How verification treats signatures whose log entry is not embedded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlogVerification {
    /// Search Rekor; fail when it cannot be searched (default).
    Require,
    /// Search Rekor when reachable; otherwise say plainly it was not checked.
    Optional,
    /// Never search; say plainly the log was not checked.
    Skip,
}

/// A configuration error, naming the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

/// Which credential cache signing uses (`gitsign.credentialCache`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheSetting {
    /// The daemon when its socket exists or `GITSIGN_CREDENTIAL_CACHE`
    /// names one; otherwise none.
    Auto,
    /// The daemon (`gitsign-credential-cache`).
    Daemon,
    /// The platform's secret store (`cache::keyring`), no daemon.
    Keyring,
    /// No cache: every signature logs in.
    Off,
}

/// Environment facts the OIDC token providers need.
#[derive(Clone, Default)]
pub struct OidcEnv {
    /// `SIGSTORE_ID_TOKEN`: a token given directly.
    pub sigstore_id_token: Option<String>,
    /// `ACTIONS_ID_TOKEN_REQUEST_URL` (GitHub Actions).
    pub actions_request_url: Option<String>,
    /// `ACTIONS_ID_TOKEN_REQUEST_TOKEN` (GitHub Actions).
    pub actions_request_token: Option<String>,
    /// `BROWSER`.
    pub browser: Option<String>,
    /// `DISPLAY` or `WAYLAND_DISPLAY` is set.
    pub has_display: bool,
    /// `SSH_CONNECTION` or `SSH_TTY` is set.
    pub ssh_session: bool,
    /// `BUILDKITE_AGENT_ACCESS_TOKEN` (a Buildkite job's agent token).
    pub buildkite_agent_access_token: Option<String>,
    /// `BUILDKITE_AGENT_ENDPOINT` (the agent API; default Buildkite's).
    pub buildkite_agent_endpoint: Option<String>,
    /// `BUILDKITE_JOB_ID`.
    pub buildkite_job_id: Option<String>,
    /// `GCE_METADATA_HOST`: the GCE metadata server's host\[:port\], as
    /// Google's libraries read it.
    pub gce_metadata_host: Option<String>,
    /// `GOOGLE_SERVICE_ACCOUNT_NAME`: the service account
    /// `google-impersonate` acts as.
    pub google_service_account_name: Option<String>,
    /// `SPIFFE_ENDPOINT_SOCKET`: the SPIFFE Workload API's socket.
    pub spiffe_endpoint_socket: Option<String>,
}

impl std::fmt::Debug for OidcEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Tokens are bearer secrets: never printed.
        let hidden = |v: &Option<String>| {
            if v.is_some() {
                "<set, hidden>"
            } else {
                "<unset>"
            }
        };
        f.debug_struct("OidcEnv")
            .field("sigstore_id_token", &hidden(&self.sigstore_id_token))
            .field("actions_request_url", &self.actions_request_url)
            .field(
                "actions_request_token",
                &hidden(&self.actions_request_token),
            )
            .field("browser", &self.browser)
            .field("has_display", &self.has_display)
            .field("ssh_session", &self.ssh_session)
            .field(
                "buildkite_agent_access_token",
                &hidden(&self.buildkite_agent_access_token),
            )
            .field("buildkite_agent_endpoint", &self.buildkite_agent_endpoint)
            .field("buildkite_job_id", &self.buildkite_job_id)
            .field("gce_metadata_host", &self.gce_metadata_host)
            .field(
                "google_service_account_name",
                &self.google_service_account_name,
            )
            .field("spiffe_endpoint_socket", &self.spiffe_endpoint_socket)
            .finish()
    }
}

/// The identity policy as configured (matched by `policy`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PolicyConfig {
    /// `gitsign.certificateIdentity` (multi-valued).
    pub identities: Vec<String>,
    /// `gitsign.certificateIdentityRegexp` (multi-valued).
    pub identity_regexps: Vec<String>,
    /// `gitsign.certificateOidcIssuer` (multi-valued).
    pub issuers: Vec<String>,
    /// `gitsign.certificateOidcIssuerRegexp` (multi-valued).
    pub issuer_regexps: Vec<String>,
    /// GitHub workflow claims: trigger, sha, name, repository, ref.
    pub github_workflow_trigger: Option<String>,
    /// See above.
    pub github_workflow_sha: Option<String>,
    /// See above.
    pub github_workflow_name: Option<String>,
    /// See above.
    pub github_workflow_repository: Option<String>,
    /// See above.
    pub github_workflow_ref: Option<String>,
}

impl PolicyConfig {
    /// True when nothing is configured.
    pub fn is_empty(&self) -> bool {
        *self == PolicyConfig::default()
    }
}

/// The resolved configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Fulcio URL.
    pub fulcio: String,
    /// PEM file with Fulcio root (and intermediate) certificates.
    pub fulcio_root: Option<PathBuf>,
    /// Rekor URL.
    pub rekor: String,
    /// Rekor mode for signing.
    pub rekor_mode: RekorMode,
    /// Which Rekor API to sign into (`gitsign.rekorVersion`: 1 or 2, Go
    /// gitsign's key). Rekor v2 needs a timestamp authority and offline
    /// mode; signing checks both before it logs in.
    pub rekor_api: crate::sigstore::rekor::RekorApi,
    /// OIDC client id.
    pub client_id: String,
    /// File holding the OIDC client secret.
    pub client_secret_file: Option<PathBuf>,
    /// OIDC redirect URL (fixes the loopback port).
    pub redirect_url: Option<String>,
    /// OIDC issuer.
    pub issuer: String,
    /// Dex connector id.
    pub connector_id: Option<String>,
    /// Token provider name.
    pub token_provider: Option<String>,
    /// RFC 3161 timestamp authority URL.
    pub timestamp_url: Option<String>,
    /// TSA certificate chain file.
    pub timestamp_cert_chain: Option<PathBuf>,
    /// Log file for messages when there is no terminal.
    pub log_path: Option<PathBuf>,
    /// `user.name`.
    pub committer_name: Option<String>,
    /// `user.email`.
    pub committer_email: Option<String>,
    /// Refuse to sign when the certificate identity is not the committer.
    pub match_committer: bool,
    /// `gitsign.enableSigstoreGo`: Go gitsign's switch to its sigstore-go
    /// code path. Read so that a Go setup is not a configuration error;
    /// it changes nothing here (one code path, the same signatures).
    pub enable_sigstore_go: bool,
    /// Close the browser tab after login.
    pub autoclose: bool,
    /// Seconds before the tab closes.
    pub autoclose_timeout: u32,
    /// Command that opens the login URL.
    pub url_opener: Option<String>,
    /// A Sigstore trusted_root.json to use instead of the embedded one.
    pub trusted_root: Option<PathBuf>,
    /// Rekor public key PEM overriding the root's Rekor keys.
    pub rekor_public_key: Option<PathBuf>,
    /// CT log public key PEM overriding the root's CT keys.
    pub ct_log_public_key: Option<PathBuf>,
    /// How verification treats online-mode signatures.
    pub tlog_verification: TlogVerification,
    /// Network timeout for each request.
    pub timeout: Duration,
    /// How long an interactive or device login may take.
    pub login_timeout: Duration,
    /// IAM Credentials' base URL, for `google-impersonate`
    /// (`gitsign.iamCredentialsURL`).
    pub iam_credentials_url: String,
    /// Values from the process environment the token providers use
    /// (read here because only this module reads the environment).
    pub oidc_env: OidcEnv,
    /// Identity policy for `git verify-commit` and friends.
    pub policy: PolicyConfig,
    /// Credential caching for signing.
    pub credential_cache: CacheSetting,
    /// Cache one credential per repository (Go gitsign's per-directory cache).
    pub cache_per_repo: bool,
    /// Environment facts that locate the cache daemon's socket.
    pub cache_socket_env: crate::cache::client::SocketEnv,
    /// A policy file (`gitsign.policy`): signers and per-ref rules.
    pub policy_file: Option<PathBuf>,
    /// A policy file in the repository, as `<rev>:<path>` (`gitsign.policyRef`).
    pub policy_ref: Option<String>,
    /// The TUF cache base (`TUF_ROOT`, else `$XDG_CACHE_HOME/gitsign/tuf`,
    /// else `~/.cache/gitsign/tuf`); `None` without a home directory.
    pub tuf_cache: Option<PathBuf>,
    /// How old the TUF cache may get before a refresh (`gitsign.tufRefresh`);
    /// `None` never refreshes on its own.
    pub tuf_refresh: Option<Duration>,
    /// A signing config v0.2 file choosing the services (`gitsign.signingConfig`).
    pub signing_config: Option<PathBuf>,
    /// Every setting with its value and origin, for `gitsign version`.
    pub resolved: BTreeMap<&'static str, (String, Origin)>,
}

/// A source of git config values (case-insensitive keys, all values).
pub trait GitConfig {
    /// All values of `key` in order of precedence (last wins).
    fn values(&self, key: &str) -> Vec<String>;
}

impl GitConfig for BTreeMap<String, Vec<String>> {
    fn values(&self, key: &str) -> Vec<String> {
        self.iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(key))
            .flat_map(|(_, v)| v.clone())
            .collect()
    }
}

struct Resolver<'a> {
    git: &'a dyn GitConfig,
    env: &'a dyn Fn(&str) -> Option<String>,
    resolved: BTreeMap<&'static str, (String, Origin)>,
}

impl Resolver<'_> {
    /// Last git value of `git_key`, then each env var in `envs` (later wins).
    fn string(
        &mut self,
        name: &'static str,
        default: Option<&str>,
        git_key: Option<&str>,
        envs: &[&str],
    ) -> Option<String> {
        let mut v = default.map(|d| (d.to_string(), Origin::Default));
        if let Some(k) = git_key {
            if let Some(g) = self.git.values(k).pop() {
                v = Some((g, Origin::Git));
            }
        }
        for e in envs {
            if let Some(x) = (self.env)(e) {
                v = Some((x, Origin::Env));
            }
        }
        if let Some((val, origin)) = &v {
            self.resolved.insert(name, (val.clone(), *origin));
        }
        v.map(|(s, _)| s)
            .filter(|s| !s.is_empty() || default.is_some())
    }

    fn boolean(
        &mut self,
        name: &'static str,
        default: bool,
        git_key: &str,
        envs: &[&str],
    ) -> Result<bool, ConfigError> {
        match self.string(
            name,
            Some(if default { "true" } else { "false" }),
            Some(git_key),
            envs,
        ) {
            None => Ok(default),
            Some(s) => parse_bool(&s).ok_or_else(|| {
                ConfigError(format!("{git_key} must be true or false, not \"{s}\""))
            }),
        }
    }

    fn list(&mut self, name: &'static str, git_key: &str, env: &str) -> Vec<String> {
        let mut v = self.git.values(git_key);
        if let Some(e) = (self.env)(env) {
            v = vec![e];
        }
        if !v.is_empty() {
            self.resolved.insert(name, (v.join(", "), Origin::Git));
        }
        v.retain(|s| !s.is_empty());
        v
    }
}

fn parse_bool(s: &str) -> Option<bool> {
    match s.to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" => Some(true),
        "false" | "no" | "off" | "0" | "" => Some(false),
        _ => None,
    }
}

/// Parses `gitsign.tufRefresh`: `never`, or a number with an optional unit
/// (`s`, `m`, `h`, `d`; seconds without one). `Some(None)` is never.
pub fn parse_refresh(s: &str) -> Option<Option<Duration>> {
    let s = s.trim().to_ascii_lowercase();
    if s == "never" {
        return Some(None);
    }
    let (num, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => s.split_at(i),
        None => (s.as_str(), "s"),
    };
    let n: u64 = num.parse().ok().filter(|n| *n <= 10_000_000)?;
    let mult = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        _ => return None,
    };
    Some(Some(Duration::from_secs(n * mult)))
}

fn env_pair(suffix: &str) -> [String; 2] {
    [format!("SIGSTORE_{suffix}"), format!("GITSIGN_{suffix}")]
}

impl Config {
    /// Resolves the configuration from a git config source and an
    /// environment lookup (both injectable for tests).
    pub fn resolve(
        git: &dyn GitConfig,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let mut r = Resolver {
            git,
            env,
            resolved: BTreeMap::new(),
        };
        macro_rules! pair {
            ($s:expr) => {{
                let p = env_pair($s);
                [p[0].clone(), p[1].clone()]
            }};
        }
        let p = pair!("FULCIO_URL");
        let fulcio = r
            .string(
                "fulcio",
                Some(DEFAULT_FULCIO),
                Some("gitsign.fulcio"),
                &[&p[0], &p[1]],
            )
            .unwrap_or_default();
        let p = pair!("FULCIO_ROOT");
        let fulcio_root = r
            .string(
                "fulcioRoot",
                None,
                Some("gitsign.fulcioRoot"),
                &["SIGSTORE_ROOT_FILE", &p[0], &p[1]],
            )
            .map(PathBuf::from);
        let p = pair!("REKOR_URL");
        let rekor = r
            .string(
                "rekor",
                Some(DEFAULT_REKOR),
                Some("gitsign.rekor"),
                &[&p[0], &p[1]],
            )
            .unwrap_or_default();
        let mode = r.string(
            "rekorMode",
            Some("offline"),
            Some("gitsign.rekorMode"),
            &["GITSIGN_REKOR_MODE"],
        );
        let rekor_mode = match mode.as_deref().map(str::to_ascii_lowercase).as_deref() {
            Some("online") => RekorMode::Online,
            Some("offline") | None => RekorMode::Offline,
            Some(other) => {
                return Err(ConfigError(format!(
                    "gitsign.rekorMode must be \"offline\" or \"online\", not \"{other}\""
                )))
            }
        };
        let version = r.string(
            "rekorVersion",
            Some("1"),
            Some("gitsign.rekorVersion"),
            &["SIGSTORE_REKOR_VERSION", "GITSIGN_REKOR_VERSION"],
        );
        let rekor_api = match version.as_deref().map(str::trim) {
            None | Some("1") | Some("") => crate::sigstore::rekor::RekorApi::V1,
            Some("2") => crate::sigstore::rekor::RekorApi::V2,
            Some(other) => {
                return Err(ConfigError(format!(
                "gitsign.rekorVersion must be 1 or 2 (the Rekor API to sign into), not \"{other}\""
            )))
            }
        };
        let p = pair!("OIDC_CLIENT_ID");
        let client_id = r
            .string(
                "clientID",
                Some(DEFAULT_CLIENT_ID),
                Some("gitsign.clientID"),
                &[&p[0], &p[1]],
            )
            .unwrap_or_default();
        let p = pair!("OIDC_CLIENT_SECRET_FILE");
        let client_secret_file = r
            .string(
                "clientSecretFile",
                None,
                Some("gitsign.clientSecretFile"),
                &[&p[0], &p[1]],
            )
            .map(PathBuf::from);
        let p = pair!("OIDC_REDIRECT_URL");
        let redirect_url = r.string(
            "redirectURL",
            None,
            Some("gitsign.redirectURL"),
            &[&p[0], &p[1]],
        );
        let p = pair!("OIDC_ISSUER");
        let issuer = r
            .string(
                "issuer",
                Some(DEFAULT_ISSUER),
                Some("gitsign.issuer"),
                &[&p[0], &p[1]],
            )
            .unwrap_or_default();
        let p = pair!("CONNECTOR_ID");
        let connector_id = r.string(
            "connectorID",
            None,
            Some("gitsign.connectorID"),
            &[&p[0], &p[1]],
        );
        let p = pair!("TOKEN_PROVIDER");
        let token_provider = r.string(
            "tokenProvider",
            None,
            Some("gitsign.tokenProvider"),
            &[&p[0], &p[1]],
        );
        let p = pair!("TIMESTAMP_SERVER_URL");
        let timestamp_url = r.string(
            "timestampServerURL",
            None,
            Some("gitsign.timestampServerURL"),
            &[&p[0], &p[1]],
        );
        let p = pair!("TIMESTAMP_CERT_CHAIN");
        let timestamp_cert_chain = r
            .string(
                "timestampCertChain",
                None,
                Some("gitsign.timestampCertChain"),
                &[&p[0], &p[1]],
            )
            .map(PathBuf::from);
        let log_path = r
            .string("logPath", None, Some("gitsign.logPath"), &["GITSIGN_LOG"])
            .map(PathBuf::from);
        let committer_name = r.string("user.name", None, Some("user.name"), &[]);
        let committer_email = r.string("user.email", None, Some("user.email"), &[]);
        let match_committer = r.boolean(
            "matchCommitter",
            false,
            "gitsign.matchCommitter",
            &["GITSIGN_MATCH_COMMITTER"],
        )?;
        let enable_sigstore_go = r.boolean(
            "enableSigstoreGo",
            false,
            "gitsign.enableSigstoreGo",
            &["GITSIGN_ENABLE_SIGSTORE_GO"],
        )?;
        let p = pair!("AUTOCLOSE");
        let autoclose = r.boolean("autoclose", true, "gitsign.autoclose", &[&p[0], &p[1]])?;
        let p = pair!("AUTOCLOSE_TIMEOUT");
        let autoclose_timeout = match r.string(
            "autocloseTimeout",
            Some("6"),
            Some("gitsign.autocloseTimeout"),
            &[&p[0], &p[1]],
        ) {
            Some(s) => s.parse::<u32>().ok().filter(|n| *n > 0).unwrap_or(6),
            None => 6,
        };
        let url_opener = r.string(
            "urlOpener",
            None,
            Some("gitsign.urlOpener"),
            &["GITSIGN_URL_OPENER"],
        );
        let trusted_root = r
            .string(
                "trustedRoot",
                None,
                Some("gitsign.trustedRoot"),
                &["SIGSTORE_TRUSTED_ROOT", "GITSIGN_TRUSTED_ROOT"],
            )
            .map(PathBuf::from);
        let rekor_public_key = r
            .string(
                "rekorPublicKey",
                None,
                Some("gitsign.rekorPublicKey"),
                &["SIGSTORE_REKOR_PUBLIC_KEY"],
            )
            .map(PathBuf::from);
        let ct_log_public_key = r
            .string(
                "ctLogPublicKey",
                None,
                Some("gitsign.ctLogPublicKey"),
                &["SIGSTORE_CT_LOG_PUBLIC_KEY_FILE"],
            )
            .map(PathBuf::from);
        let tv = r.string(
            "verifyTlog",
            Some("require"),
            Some("gitsign.verifyTlog"),
            &["GITSIGN_VERIFY_TLOG"],
        );
        let tlog_verification = match tv.as_deref().map(str::to_ascii_lowercase).as_deref() {
            Some("require") | Some("required") | None => TlogVerification::Require,
            Some("optional") => TlogVerification::Optional,
            Some("skip") => TlogVerification::Skip,
            Some(o) => {
                return Err(ConfigError(format!(
                    "gitsign.verifyTlog must be \"require\", \"optional\" or \"skip\", not \"{o}\""
                )))
            }
        };
        let t = r
            .string(
                "timeout",
                Some("30"),
                Some("gitsign.timeout"),
                &["GITSIGN_TIMEOUT"],
            )
            .unwrap_or_default();
        let secs: u64 = t
            .parse()
            .ok()
            .filter(|n| (1..=3600).contains(n))
            .ok_or_else(|| {
                ConfigError(format!(
                    "gitsign.timeout must be a number of seconds from 1 to 3600, not \"{t}\""
                ))
            })?;
        let lt = r
            .string(
                "loginTimeout",
                Some("300"),
                Some("gitsign.loginTimeout"),
                &["GITSIGN_LOGIN_TIMEOUT"],
            )
            .unwrap_or_default();
        let login_secs: u64 = lt
            .parse()
            .ok()
            .filter(|n| (1..=3600).contains(n))
            .ok_or_else(|| {
                ConfigError(format!(
                    "gitsign.loginTimeout must be a number of seconds from 1 to 3600, not \"{lt}\""
                ))
            })?;
        let env_set = |k: &str| (r.env)(k).is_some_and(|v| !v.is_empty());
        let oidc_env = OidcEnv {
            sigstore_id_token: (r.env)("SIGSTORE_ID_TOKEN").filter(|v| !v.is_empty()),
            actions_request_url: (r.env)("ACTIONS_ID_TOKEN_REQUEST_URL").filter(|v| !v.is_empty()),
            actions_request_token: (r.env)("ACTIONS_ID_TOKEN_REQUEST_TOKEN")
                .filter(|v| !v.is_empty()),
            browser: (r.env)("BROWSER").filter(|v| !v.is_empty()),
            has_display: env_set("DISPLAY") || env_set("WAYLAND_DISPLAY"),
            ssh_session: env_set("SSH_CONNECTION") || env_set("SSH_TTY"),
            buildkite_agent_access_token: (r.env)("BUILDKITE_AGENT_ACCESS_TOKEN")
                .filter(|v| !v.is_empty()),
            buildkite_agent_endpoint: (r.env)("BUILDKITE_AGENT_ENDPOINT").filter(|v| !v.is_empty()),
            buildkite_job_id: (r.env)("BUILDKITE_JOB_ID").filter(|v| !v.is_empty()),
            gce_metadata_host: (r.env)("GCE_METADATA_HOST").filter(|v| !v.is_empty()),
            google_service_account_name: (r.env)("GOOGLE_SERVICE_ACCOUNT_NAME")
                .filter(|v| !v.is_empty()),
            spiffe_endpoint_socket: (r.env)("SPIFFE_ENDPOINT_SOCKET").filter(|v| !v.is_empty()),
        };
        let iam_credentials_url = r
            .string(
                "iamCredentialsURL",
                Some(crate::oidc::providers::google::DEFAULT_IAM_CREDENTIALS),
                Some("gitsign.iamCredentialsURL"),
                &["GITSIGN_IAM_CREDENTIALS_URL"],
            )
            .unwrap_or_default();
        let cc = r.string(
            "credentialCache",
            Some("auto"),
            Some("gitsign.credentialCache"),
            &["GITSIGN_CREDENTIAL_CACHE_MODE"],
        );
        let credential_cache = match cc.as_deref().map(str::to_ascii_lowercase).as_deref() {
            Some("auto") | None => CacheSetting::Auto,
            Some("daemon") => CacheSetting::Daemon,
            Some("keyring") => CacheSetting::Keyring,
            Some("off") | Some("none") | Some("false") => CacheSetting::Off,
            Some(o) => {
                return Err(ConfigError(format!(
                    "gitsign.credentialCache must be \"auto\", \"daemon\", \"keyring\" or \"off\", not \"{o}\""
                )))
            }
        };
        let cache_per_repo = r.boolean(
            "cachePerRepo",
            false,
            "gitsign.cachePerRepo",
            &["GITSIGN_CACHE_PER_REPO"],
        )?;
        let cache_socket_env = crate::cache::client::SocketEnv {
            gitsign_credential_cache: (r.env)(crate::cache::proto::SOCKET_ENV)
                .filter(|v| !v.is_empty()),
            xdg_runtime_dir: (r.env)("XDG_RUNTIME_DIR").filter(|v| !v.is_empty()),
            xdg_cache_home: (r.env)("XDG_CACHE_HOME").filter(|v| !v.is_empty()),
            home: (r.env)("HOME").filter(|v| !v.is_empty()),
            current_dir: std::env::current_dir().ok(),
        };
        let policy_file = r
            .string("policy", None, Some("gitsign.policy"), &["GITSIGN_POLICY"])
            .map(PathBuf::from);
        let policy_ref = r.string(
            "policyRef",
            None,
            Some("gitsign.policyRef"),
            &["GITSIGN_POLICY_REF"],
        );
        let policy = PolicyConfig {
            identities: r.list(
                "certificateIdentity",
                "gitsign.certificateIdentity",
                "GITSIGN_CERTIFICATE_IDENTITY",
            ),
            identity_regexps: r.list(
                "certificateIdentityRegexp",
                "gitsign.certificateIdentityRegexp",
                "GITSIGN_CERTIFICATE_IDENTITY_REGEXP",
            ),
            issuers: r.list(
                "certificateOidcIssuer",
                "gitsign.certificateOidcIssuer",
                "GITSIGN_CERTIFICATE_OIDC_ISSUER",
            ),
            issuer_regexps: r.list(
                "certificateOidcIssuerRegexp",
                "gitsign.certificateOidcIssuerRegexp",
                "GITSIGN_CERTIFICATE_OIDC_ISSUER_REGEXP",
            ),
            github_workflow_trigger: r.string(
                "certificateGithubWorkflowTrigger",
                None,
                Some("gitsign.certificateGithubWorkflowTrigger"),
                &[],
            ),
            github_workflow_sha: r.string(
                "certificateGithubWorkflowSha",
                None,
                Some("gitsign.certificateGithubWorkflowSha"),
                &[],
            ),
            github_workflow_name: r.string(
                "certificateGithubWorkflowName",
                None,
                Some("gitsign.certificateGithubWorkflowName"),
                &[],
            ),
            github_workflow_repository: r.string(
                "certificateGithubWorkflowRepository",
                None,
                Some("gitsign.certificateGithubWorkflowRepository"),
                &[],
            ),
            github_workflow_ref: r.string(
                "certificateGithubWorkflowRef",
                None,
                Some("gitsign.certificateGithubWorkflowRef"),
                &[],
            ),
        };
        let tr = r
            .string(
                "tufRefresh",
                Some("24h"),
                Some("gitsign.tufRefresh"),
                &["GITSIGN_TUF_REFRESH"],
            )
            .unwrap_or_default();
        let tuf_refresh = parse_refresh(&tr).ok_or_else(|| {
            ConfigError(format!(
                "gitsign.tufRefresh must be a duration (90s, 30m, 12h, 7d) or \"never\", not \"{tr}\""
            ))
        })?;
        let signing_config = r
            .string(
                "signingConfig",
                None,
                Some("gitsign.signingConfig"),
                &["GITSIGN_SIGNING_CONFIG"],
            )
            .map(PathBuf::from);
        let nonempty = |k: &str| (r.env)(k).filter(|v| !v.is_empty());
        let tuf_cache = match nonempty("TUF_ROOT") {
            Some(t) => {
                r.resolved.insert("tufRoot", (t.clone(), Origin::Env));
                Some(PathBuf::from(t))
            }
            None => nonempty("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .or_else(|| nonempty("HOME").map(|h| PathBuf::from(h).join(".cache")))
                .map(|c| c.join("gitsign").join("tuf")),
        };
        Ok(Config {
            fulcio,
            fulcio_root,
            rekor,
            rekor_mode,
            rekor_api,
            client_id,
            client_secret_file,
            redirect_url,
            issuer,
            connector_id,
            token_provider,
            timestamp_url,
            timestamp_cert_chain,
            log_path,
            committer_name,
            committer_email,
            match_committer,
            enable_sigstore_go,
            autoclose,
            autoclose_timeout,
            url_opener,
            trusted_root,
            rekor_public_key,
            ct_log_public_key,
            tlog_verification,
            timeout: Duration::from_secs(secs),
            login_timeout: Duration::from_secs(login_secs),
            iam_credentials_url,
            oidc_env,
            policy,
            credential_cache,
            cache_per_repo,
            cache_socket_env,
            policy_file,
            policy_ref,
            tuf_cache,
            tuf_refresh,
            signing_config,
            resolved: r.resolved,
        })
    }

    /// Whether a setting was given (git config or environment) rather than
    /// left at its default: explicit service URLs win over a signing config.
    pub fn is_explicit(&self, name: &str) -> bool {
        self.resolved
            .get(name)
            .is_some_and(|(v, o)| *o != Origin::Default && !v.is_empty())
    }

    /// Loads from the repository around the current directory (or the
    /// global config outside one) and the process environment.
    pub fn load() -> Result<Config, ConfigError> {
        let git = GixConfig::discover()?;
        Config::resolve(&git, &|k| std::env::var(k).ok())
    }

    /// Loads outside any repository: system and global git config, `git
    /// -c` settings and the process environment; what the credential cache
    /// daemon trusts (the user's own configuration, never a repository's).
    pub fn load_global() -> Result<Config, ConfigError> {
        let git = GixConfig::global();
        Config::resolve(&git, &|k| std::env::var(k).ok())
    }

    /// Loads for an opened repository and the process environment.
    pub fn load_for_repo(repo: &gix::Repository) -> Result<Config, ConfigError> {
        Config::resolve(&GixConfig::from_repo(repo)?, &|k| std::env::var(k).ok())
    }

    /// The trusted root: a trusted_root.json if configured, else the
    /// embedded public-good root; then the Fulcio/Rekor/CT overrides, and
    /// the TSA chain of `gitsign.timestampCertChain` as one more timestamp
    /// authority.
    pub fn trusted_root(&self) -> Result<TrustedRoot, TrustError> {
        let root = match &self.trusted_root {
            Some(p) => TrustedRoot::from_file(p)?,
            None => TrustedRoot::public_good(),
        };
        self.apply_trust_overrides(root)
    }

    /// Applies the piecewise trust settings to a trusted root: the Fulcio
    /// root PEM, the Rekor and CT keys, and the TSA chain of
    /// `gitsign.timestampCertChain` as one more timestamp authority.
    pub fn apply_trust_overrides(&self, mut root: TrustedRoot) -> Result<TrustedRoot, TrustError> {
        if let Some(p) = &self.fulcio_root {
            root.set_fulcio_roots_pem(p)?;
        }
        if let Some(p) = &self.rekor_public_key {
            root.set_rekor_key_pem(p)?;
        }
        if let Some(p) = &self.ct_log_public_key {
            root.set_ct_key_pem(p)?;
        }
        if let Some(p) = &self.timestamp_cert_chain {
            crate::pki::tsa::add_cert_chain(&mut root, p)?;
        }
        Ok(root)
    }

    /// An environment variable, for the few places that must see one the
    /// git protocol or a CI system defines (token providers, sockets).
    pub fn env(name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.is_empty())
    }
}

/// git config read with gix: repository config when inside one (honouring
/// `GIT_DIR`), global and system config otherwise, plus `GIT_CONFIG_*`.
pub struct GixConfig {
    file: Option<gix::config::File>,
    /// `git -c key=value` settings, which git hands to child processes in
    /// `GIT_CONFIG_PARAMETERS` and gix does not read.
    params: Vec<(String, String)>,
}

impl GixConfig {
    /// Discovers the repository around the current directory.
    pub fn discover() -> Result<GixConfig, ConfigError> {
        if let Ok(repo) = gix::discover_with_environment_overrides(".") {
            return GixConfig::from_repo(&repo);
        }
        Ok(GixConfig::global())
    }

    /// System and global config (and `GIT_CONFIG_*` overrides), whatever
    /// the current directory.
    pub fn global() -> GixConfig {
        let mut file = globals();
        if let (Some(f), Ok(env)) = (
            file.as_mut(),
            gix::config::File::from_environment_overrides(),
        ) {
            // A failed merge of the override layer leaves the globals usable.
            let _ = f.append(env);
        }
        GixConfig {
            file,
            params: command_line_params(),
        }
    }

    /// Config of an opened repository, refused when git would refuse the
    /// repository itself: one owned by another user and not listed in
    /// `safe.directory` could otherwise choose the trusted root and the
    /// identity policy its visitors verify with.
    pub fn from_repo(repo: &gix::Repository) -> Result<GixConfig, ConfigError> {
        if repo.git_dir_trust() != gix::sec::Trust::Full {
            let dir = repo.workdir().unwrap_or_else(|| repo.git_dir());
            // safe.directory takes an absolute path (git compares it with
            // the repository's real path): never the "." gix discovered.
            let dir = std::fs::canonicalize(dir)
                .or_else(|_| std::path::absolute(dir))
                .unwrap_or_else(|_| dir.to_path_buf());
            let shown = dir.display().to_string();
            return Err(ConfigError(format!(
                "the repository at {shown} is owned by another user, so gitsign does not use its settings \
                 (git refuses it too, as of dubious ownership); if you trust it, run \
                 `git config --global --add safe.directory {}`",
                shell_word(&shown)
            )));
        }
        Ok(GixConfig {
            file: Some(repo.config_snapshot().plumbing().clone()),
            params: command_line_params(),
        })
    }
}

/// `s` as one shell word: unchanged when it needs no quoting, else in
/// single quotes (a `'` written as `'\''`).
fn shell_word(s: &str) -> String {
    if !s.is_empty()
        && s.chars().all(|c| {
            c.is_ascii_alphanumeric()
                || matches!(c, '/' | '.' | '_' | '-' | '+' | ',' | ':' | '@' | '%')
        })
    {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', "'\\''"))
}

impl GitConfig for GixConfig {
    fn values(&self, key: &str) -> Vec<String> {
        let mut out: Vec<String> = match &self.file {
            Some(f) => f
                .strings(key)
                .map(|v| v.iter().map(|s| s.to_string()).collect())
                .unwrap_or_default(),
            None => Vec::new(),
        };
        out.extend(
            self.params
                .iter()
                .filter(|(k, _)| k.eq_ignore_ascii_case(key))
                .map(|(_, v)| v.clone()),
        );
        out
    }
}

/// System and global config files (outside a repository). Unlike gix's
/// `File::from_globals`, this skips the git installation's own config,
/// whose location gix finds by running `git config` (milliseconds).
fn globals() -> Option<gix::config::File> {
    use gix::config::file::{includes, init, Metadata};
    use gix::config::source::Kind;
    let metas = [Kind::System, Kind::Global]
        .iter()
        .flat_map(|k| k.sources())
        .map(|source| {
            let path = source
                .storage_location(&mut gix::path::env::var)
                .and_then(|p| p.is_file().then_some(p));
            Metadata {
                path,
                source: *source,
                level: 0,
                trust: gix::sec::Trust::Full,
            }
        });
    let home = gix::path::env::home_dir();
    let options = init::Options {
        includes: includes::Options::follow_without_conditional(home.as_deref()),
        ..Default::default()
    };
    gix::config::File::from_paths_metadata(metas, options)
        .ok()
        .flatten()
}

fn command_line_params() -> Vec<(String, String)> {
    std::env::var("GIT_CONFIG_PARAMETERS")
        .map(|p| parse_config_parameters(&p))
        .unwrap_or_default()
}

/// Parses `GIT_CONFIG_PARAMETERS`: shell single-quoted words, either
/// `'key'='value'` (git >= 2.31) or `'key=value'`; a bare `'key'` is true.
pub fn parse_config_parameters(s: &str) -> Vec<(String, String)> {
    // Split into words of concatenated quoted pieces, remembering whether
    // an `=` joined two quoted parts.
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            break;
        }
        let mut parts: Vec<String> = vec![String::new()];
        while let Some(&c) = chars.peek() {
            match c {
                '\'' => {
                    chars.next();
                    for c in chars.by_ref() {
                        if c == '\'' {
                            break;
                        }
                        if let Some(p) = parts.last_mut() {
                            p.push(c);
                        }
                    }
                }
                '\\' => {
                    chars.next();
                    if let (Some(c), Some(p)) = (chars.next(), parts.last_mut()) {
                        p.push(c);
                    }
                }
                '=' if parts.len() == 1 => {
                    chars.next();
                    parts.push(String::new());
                }
                c if c.is_whitespace() => break,
                _ => {
                    chars.next();
                    if let Some(p) = parts.last_mut() {
                        p.push(c);
                    }
                }
            }
        }
        let (key, value) = if parts.len() == 2 {
            (parts[0].clone(), parts[1].clone())
        } else {
            match parts[0].split_once('=') {
                Some((k, v)) => (k.to_string(), v.to_string()),
                None => (parts[0].clone(), "true".to_string()),
            }
        };
        out.push((key, value));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(git: &[(&str, &str)], env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let mut g: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (k, v) in git {
            g.entry(k.to_string()).or_default().push(v.to_string());
        }
        let env: BTreeMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::resolve(&g, &|k| env.get(k).cloned())
    }

    #[test]
    fn precedence() {
        let c = resolve(&[], &[]).unwrap();
        assert_eq!(c.fulcio, DEFAULT_FULCIO);
        assert_eq!(c.rekor_mode, RekorMode::Offline);
        let c = resolve(&[("gitsign.fulcio", "https://git")], &[]).unwrap();
        assert_eq!(c.fulcio, "https://git");
        let c = resolve(
            &[("gitsign.fulcio", "https://git")],
            &[("SIGSTORE_FULCIO_URL", "https://sig")],
        )
        .unwrap();
        assert_eq!(c.fulcio, "https://sig");
        let c = resolve(
            &[("gitsign.fulcio", "https://git")],
            &[
                ("SIGSTORE_FULCIO_URL", "https://sig"),
                ("GITSIGN_FULCIO_URL", "https://gs"),
            ],
        )
        .unwrap();
        assert_eq!(c.fulcio, "https://gs");
        assert_eq!(
            c.resolved["fulcio"],
            ("https://gs".to_string(), Origin::Env)
        );
        let c = resolve(&[("GITSIGN.REKORMODE", "online")], &[]).unwrap();
        assert_eq!(c.rekor_mode, RekorMode::Online);
    }

    #[test]
    fn ambient_provider_settings() {
        let c = resolve(&[], &[]).unwrap();
        assert_eq!(
            c.iam_credentials_url,
            "https://iamcredentials.googleapis.com"
        );
        assert!(c.oidc_env.buildkite_agent_access_token.is_none());
        let c = resolve(&[("gitsign.iamCredentialsURL", "https://git.example")], &[]).unwrap();
        assert_eq!(c.iam_credentials_url, "https://git.example");
        let c = resolve(
            &[("gitsign.iamCredentialsURL", "https://git.example")],
            &[
                ("GITSIGN_IAM_CREDENTIALS_URL", "http://127.0.0.1:1"),
                ("BUILDKITE_AGENT_ACCESS_TOKEN", "secret-agent-token"),
                ("BUILDKITE_AGENT_ENDPOINT", "http://127.0.0.1:2/v3"),
                ("BUILDKITE_JOB_ID", "job"),
                ("GCE_METADATA_HOST", "127.0.0.1:3"),
                (
                    "GOOGLE_SERVICE_ACCOUNT_NAME",
                    "sa@p.iam.gserviceaccount.com",
                ),
                ("SPIFFE_ENDPOINT_SOCKET", "unix:///run/spire.sock"),
            ],
        )
        .unwrap();
        assert_eq!(c.iam_credentials_url, "http://127.0.0.1:1");
        assert_eq!(c.resolved["iamCredentialsURL"].1, Origin::Env);
        let e = &c.oidc_env;
        assert_eq!(
            e.buildkite_agent_endpoint.as_deref(),
            Some("http://127.0.0.1:2/v3")
        );
        assert_eq!(e.buildkite_job_id.as_deref(), Some("job"));
        assert_eq!(e.gce_metadata_host.as_deref(), Some("127.0.0.1:3"));
        assert_eq!(
            e.google_service_account_name.as_deref(),
            Some("sa@p.iam.gserviceaccount.com")
        );
        assert_eq!(
            e.spiffe_endpoint_socket.as_deref(),
            Some("unix:///run/spire.sock")
        );
        // The agent token is a secret: set, never shown.
        assert_eq!(
            e.buildkite_agent_access_token.as_deref(),
            Some("secret-agent-token")
        );
        assert!(!format!("{c:?}").contains("secret-agent-token"));
    }

    #[test]
    fn bad_values_are_named() {
        assert!(resolve(&[("gitsign.rekorMode", "sideways")], &[])
            .unwrap_err()
            .0
            .contains("gitsign.rekorMode"));
        assert!(resolve(&[("gitsign.matchCommitter", "maybe")], &[])
            .unwrap_err()
            .0
            .contains("gitsign.matchCommitter"));
        assert!(resolve(&[("gitsign.timeout", "0")], &[])
            .unwrap_err()
            .0
            .contains("gitsign.timeout"));
        assert!(resolve(&[("gitsign.verifyTlog", "x")], &[])
            .unwrap_err()
            .0
            .contains("gitsign.verifyTlog"));
    }

    #[test]
    fn git_dash_c_parameters() {
        assert_eq!(
            parse_config_parameters(
                "'gitsign.rekorMode'='online' 'user.name'='O'\\''Brien' 'core.bare'"
            ),
            vec![
                ("gitsign.rekorMode".to_string(), "online".to_string()),
                ("user.name".to_string(), "O'Brien".to_string()),
                ("core.bare".to_string(), "true".to_string())
            ]
        );
        assert_eq!(
            parse_config_parameters("'a.b=c d'"),
            vec![("a.b".to_string(), "c d".to_string())]
        );
    }

    #[test]
    fn policy_lists() {
        let c = resolve(
            &[
                ("gitsign.certificateIdentity", "a@x"),
                ("gitsign.certificateIdentity", "b@x"),
                ("gitsign.certificateOidcIssuer", "https://i"),
            ],
            &[],
        )
        .unwrap();
        assert_eq!(c.policy.identities, vec!["a@x", "b@x"]);
        assert_eq!(c.policy.issuers, vec!["https://i"]);
    }
}
