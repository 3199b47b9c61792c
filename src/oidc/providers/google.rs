//! Google Cloud: `google-workload-identity` and `google-impersonate`, as
//! cosign gets them through Google's Go libraries.
//!
//! - Workload identity: the metadata server's identity token for the
//!   instance's (or the Kubernetes workload's) service account,
//!   `GET http://{GCE_METADATA_HOST}/computeMetadata/v1/instance/service-accounts/default/identity?audience=…&format=full`
//!   with `Metadata-Flavor: Google`; the answer is the JWT itself.
//! - Impersonation: an access token from the metadata server
//!   (`…/service-accounts/default/token`), then IAM Credentials'
//!   `POST {iam}/v1/projects/-/serviceAccounts/{target}:generateIdToken`
//!   with `{"audience", "includeEmail": true}`, answered by `{"token"}`.
//!
//! `GCE_METADATA_HOST` (host and port, as Google's libraries read it)
//! replaces the metadata server's address; the IAM Credentials endpoint
//! is `gitsign.iamCredentialsURL`. Credentials other than the metadata
//! server's (a key file in `GOOGLE_APPLICATION_CREDENTIALS`, gcloud's user
//! credentials) are not read.

use std::io::Read;
use std::path::Path;

use crate::oidc::OidcError;
use crate::sigstore::http::{self, server_text, urlencode, Http};

/// The metadata server's address when `GCE_METADATA_HOST` is unset (what
/// Google's Go library dials).
pub const DEFAULT_METADATA_HOST: &str = "169.254.169.254";
/// IAM Credentials' public endpoint.
pub const DEFAULT_IAM_CREDENTIALS: &str = "https://iamcredentials.googleapis.com";
/// Where Linux tells the machine's product name; cosign enables workload
/// identity only on "Google" or "Google Compute Engine".
pub const PRODUCT_NAME_FILE: &str = "/sys/class/dmi/id/product_name";

/// Whether the machine says it is a Google Compute Engine instance (or a
/// GKE node), as cosign checks before it tries the metadata server.
pub fn on_google(product_name_file: &Path) -> bool {
    let Ok(f) = std::fs::File::open(product_name_file) else {
        return false;
    };
    let mut s = String::new();
    if f.take(256).read_to_string(&mut s).is_err() {
        return false;
    }
    matches!(s.trim(), "Google" | "Google Compute Engine")
}

/// The metadata server's URL for `suffix`, or why the host is unusable.
fn metadata_url(host: Option<&str>, suffix: &str) -> Result<String, OidcError> {
    let host = host
        .filter(|h| !h.is_empty())
        .unwrap_or(DEFAULT_METADATA_HOST);
    // host[:port] only: anything else would change where the request goes.
    let ok = host
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'));
    if !ok {
        return Err(OidcError::Config(format!(
            "GCE_METADATA_HOST ({}) is not a host or host:port",
            server_text(host.as_bytes())
        )));
    }
    Ok(format!("http://{host}/computeMetadata/v1/{suffix}"))
}

fn metadata_get(
    provider: &str,
    host: Option<&str>,
    suffix: &str,
    http: &Http,
) -> Result<Vec<u8>, OidcError> {
    let url = metadata_url(host, suffix)?;
    let resp = http
        .get_with_headers(&url, &[("metadata-flavor", "Google".to_string())])
        .map_err(|e| {
            OidcError::Network(format!(
                "the token provider {provider} cannot reach the GCE metadata server: {e}; run on Google Cloud (or set GCE_METADATA_HOST)"
            ))
        })?;
    if resp.status != 200 {
        let hint = if resp.status == 404 {
            "; does this instance or workload have a service account?"
        } else {
            ""
        };
        return Err(OidcError::Network(format!(
            "the token provider {provider} got no token: the GCE metadata server ({url}) answered HTTP {}: {}{hint}",
            resp.status,
            server_text(&resp.body)
        )));
    }
    super::bounded(&resp.body, "the GCE metadata server")?;
    Ok(resp.body)
}

/// `google-workload-identity`: the metadata server's identity token for
/// `audience`; returns the raw JWT.
pub fn workload_identity_token(
    metadata_host: Option<&str>,
    audience: &str,
    http: &Http,
) -> Result<String, OidcError> {
    let suffix = format!(
        "instance/service-accounts/default/identity?audience={}&format=full",
        urlencode(audience)
    );
    let body = metadata_get("google-workload-identity", metadata_host, &suffix, http)?;
    let tok = String::from_utf8(body).unwrap_or_default();
    let tok = tok.trim();
    if tok.is_empty() {
        return Err(OidcError::Protocol(
            "the token provider google-workload-identity got no token: the GCE metadata server answered an empty or non-text identity".into(),
        ));
    }
    Ok(tok.to_string())
}

/// What impersonation needs.
pub struct Impersonation<'a> {
    /// `GOOGLE_SERVICE_ACCOUNT_NAME`: the service account to act as.
    pub target: Option<&'a str>,
    /// `GCE_METADATA_HOST`.
    pub metadata_host: Option<&'a str>,
    /// IAM Credentials' base URL (`gitsign.iamCredentialsURL`).
    pub iam_credentials_url: &'a str,
}

/// Whether cosign would consider `google-impersonate` enabled: a target
/// service account is named.
pub fn impersonation_enabled(target: Option<&str>) -> bool {
    target.is_some_and(|t| !t.is_empty())
}

/// `google-impersonate`: an ID token for `audience` issued to the target
/// service account, asked for with the metadata server's access token;
/// returns the raw JWT.
pub fn impersonated_token(
    imp: &Impersonation,
    audience: &str,
    http: &Http,
) -> Result<String, OidcError> {
    let p = "google-impersonate";
    let Some(target) = imp.target.filter(|t| !t.is_empty()) else {
        return Err(OidcError::Config(format!(
            "the token provider is {p} but GOOGLE_SERVICE_ACCOUNT_NAME is not set; set it to the email of the service account to impersonate"
        )));
    };
    // A service account email (or unique id): nothing that changes the path.
    if !target
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'@' | b'.' | b'-' | b'_'))
    {
        return Err(OidcError::Config(format!(
            "the token provider is {p} but GOOGLE_SERVICE_ACCOUNT_NAME ({}) is not a service account email",
            server_text(target.as_bytes())
        )));
    }
    let iam = imp.iam_credentials_url;
    if !http::is_http_or_https(iam) {
        return Err(OidcError::Config(format!(
            "gitsign.iamCredentialsURL ({}) is not an http(s) URL",
            server_text(iam.as_bytes())
        )));
    }
    let body = metadata_get(
        p,
        imp.metadata_host,
        "instance/service-accounts/default/token",
        http,
    )?;
    let access = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v.get("access_token")?.as_str().map(str::to_string))
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            OidcError::Protocol(format!(
                "the token provider {p} got no access token: the GCE metadata server answered without an `access_token` string"
            ))
        })?;
    let url = http::join(
        iam,
        &format!("v1/projects/-/serviceAccounts/{target}:generateIdToken"),
    );
    let req = serde_json::to_vec(&serde_json::json!({
        "audience": audience,
        "includeEmail": true,
    }))
    .map_err(|e| OidcError::Protocol(e.to_string()))?;
    let resp = http
        .post_json(
            &url,
            req,
            &[("authorization", format!("Bearer {access}"))],
            true,
        )
        .map_err(|e| {
            OidcError::Network(format!(
                "the token provider {p} cannot reach IAM Credentials: {e}; check gitsign.iamCredentialsURL"
            ))
        })?;
    if resp.status != 200 {
        let hint = if matches!(resp.status, 401 | 403) {
            format!("; the instance's service account needs roles/iam.serviceAccountOpenIdTokenCreator on {target}")
        } else {
            String::new()
        };
        return Err(OidcError::Network(format!(
            "the token provider {p} got no token for {target}: IAM Credentials ({url}) answered HTTP {}: {}{hint}",
            resp.status,
            server_text(&resp.body)
        )));
    }
    super::bounded(&resp.body, "IAM Credentials")?;
    serde_json::from_slice::<serde_json::Value>(&resp.body)
        .ok()
        .and_then(|v| v.get("token")?.as_str().map(str::to_string))
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            OidcError::Protocol(format!(
                "the token provider {p} got no token: IAM Credentials ({url}) answered without a `token` string"
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_hosts() {
        assert_eq!(
            metadata_url(None, "x").unwrap(),
            "http://169.254.169.254/computeMetadata/v1/x"
        );
        assert_eq!(
            metadata_url(Some("127.0.0.1:8080"), "x").unwrap(),
            "http://127.0.0.1:8080/computeMetadata/v1/x"
        );
        for bad in ["evil.com/x?", "a@b", "h p"] {
            assert!(metadata_url(Some(bad), "x").is_err(), "{bad}");
        }
    }

    #[test]
    fn product_names() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("product_name");
        assert!(!on_google(&f));
        for (name, yes) in [
            ("Google Compute Engine\n", true),
            ("Google\n", true),
            ("KVM\n", false),
        ] {
            std::fs::write(&f, name).unwrap();
            assert_eq!(on_google(&f), yes, "{name}");
        }
    }
}
