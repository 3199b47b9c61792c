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
pub mod google;
pub mod spiffe;

use crate::oidc::OidcError;

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
