//! `github-actions`: the runner's ambient ID token, from
//! `ACTIONS_ID_TOKEN_REQUEST_URL` with `ACTIONS_ID_TOKEN_REQUEST_TOKEN` as
//! the bearer, answered by `{"value": JWT}`.

use serde_json::Value;

use crate::oidc::{checked, net, IdToken, OidcError, OidcSettings};
use crate::sigstore::http::{server_text, urlencode, Http};

/// Asks the runner for a token with the client id as its audience.
pub fn token(s: &OidcSettings, http: &Http) -> Result<IdToken, OidcError> {
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
