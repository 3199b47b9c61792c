//! `buildkite-agent`: the token the Buildkite agent's API issues for the
//! running job, as cosign's provider gets it through the agent's client:
//! `POST {endpoint}/jobs/{job}/oidc/tokens` with `{"audience": ...}` and
//! `Authorization: Token {agent access token}`, answered by
//! `{"token": JWT}`.

use crate::oidc::OidcError;
use crate::sigstore::http::{self, server_text, Http};

/// The agent API cosign uses when `BUILDKITE_AGENT_ENDPOINT` is unset.
pub const DEFAULT_ENDPOINT: &str = "https://agent.buildkite.com/v3";

/// What the request needs (from the job's environment, via
/// [`crate::config::OidcEnv`]).
pub struct Job<'a> {
    /// `BUILDKITE_AGENT_ACCESS_TOKEN`: the job's agent token (a secret).
    pub access_token: Option<&'a str>,
    /// `BUILDKITE_AGENT_ENDPOINT`; `None`: [`DEFAULT_ENDPOINT`].
    pub endpoint: Option<&'a str>,
    /// `BUILDKITE_JOB_ID`.
    pub job_id: Option<&'a str>,
}

/// Whether cosign would consider the provider enabled: the agent access
/// token is set.
pub fn enabled(job: &Job) -> bool {
    job.access_token.is_some_and(|t| !t.is_empty())
}

/// Asks the agent API for a token with `audience`; returns the raw JWT.
pub fn token(job: &Job, audience: &str, http: &Http) -> Result<String, OidcError> {
    let Some(access) = job.access_token.filter(|t| !t.is_empty()) else {
        return Err(OidcError::Config(
            "the token provider is buildkite-agent but BUILDKITE_AGENT_ACCESS_TOKEN is not set; run gitsign in a Buildkite job step, where the agent sets it".into(),
        ));
    };
    let Some(job_id) = job.job_id.filter(|j| !j.is_empty()) else {
        return Err(OidcError::Config(
            "the token provider is buildkite-agent but BUILDKITE_JOB_ID is not set; run gitsign in a Buildkite job step, where the agent sets it".into(),
        ));
    };
    let endpoint = job
        .endpoint
        .filter(|e| !e.is_empty())
        .unwrap_or(DEFAULT_ENDPOINT);
    if !http::is_http_or_https(endpoint) {
        return Err(OidcError::Config(format!(
            "the token provider is buildkite-agent but BUILDKITE_AGENT_ENDPOINT ({}) is not an http(s) URL",
            server_text(endpoint.as_bytes())
        )));
    }
    let url = http::join(
        endpoint,
        &format!("jobs/{}/oidc/tokens", http::urlencode(job_id)),
    );
    let what = "the Buildkite agent API";
    let body = serde_json::to_vec(&serde_json::json!({ "audience": audience }))
        .map_err(|e| OidcError::Protocol(e.to_string()))?;
    let resp = http
        .post_json(
            &url,
            body,
            &[("authorization", format!("Token {access}"))],
            true,
        )
        .map_err(|e| {
            OidcError::Network(format!(
                "the token provider buildkite-agent cannot get a token from {what}: {e}; check BUILDKITE_AGENT_ENDPOINT"
            ))
        })?;
    if !matches!(resp.status, 200 | 201) {
        let hint = if matches!(resp.status, 401 | 403) {
            "the agent refused the job's BUILDKITE_AGENT_ACCESS_TOKEN (is the job still running?)"
        } else {
            "check BUILDKITE_AGENT_ENDPOINT and BUILDKITE_JOB_ID"
        };
        return Err(OidcError::Network(format!(
            "the token provider buildkite-agent got no token: {what} ({url}) answered HTTP {}: {}; {hint}",
            resp.status,
            server_text(&resp.body)
        )));
    }
    super::bounded(&resp.body, what)?;
    serde_json::from_slice::<serde_json::Value>(&resp.body)
        .ok()
        .and_then(|v| v.get("token")?.as_str().map(str::to_string))
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            OidcError::Protocol(format!(
                "the token provider buildkite-agent got no token: {what} ({url}) answered without a `token` string"
            ))
        })
}
