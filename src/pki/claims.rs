//! What a Fulcio certificate says about its signer: the identity (SAN), the
//! OIDC issuer, and the CI workflow claims Fulcio copies from the token.
//!
//! Extension arcs are under 1.3.6.1.4.1.57264.1 (Fulcio's oid-info.md):
//! .1–.6 hold raw strings (deprecated), .8 onward DER UTF8Strings.

use serde::Serialize;

use crate::encoding::asn1::{self, tag};
use crate::encoding::oid;
use crate::pki::x509::{CertError, Certificate, GeneralName};

/// The signer facts a policy can match.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Claims {
    /// The SAN identity (email, URI or otherName value), first SAN wins.
    pub identity: String,
    /// Every SAN identity, for display.
    pub all_identities: Vec<String>,
    /// OIDC issuer: extension .8, else the legacy .1.
    pub issuer: Option<String>,
    /// GitHub workflow trigger (.2, else .20 build trigger).
    pub github_workflow_trigger: Option<String>,
    /// GitHub workflow commit SHA (.3, else .13 source repository digest).
    pub github_workflow_sha: Option<String>,
    /// GitHub workflow name (.4).
    pub github_workflow_name: Option<String>,
    /// GitHub workflow repository, `owner/name` (.5, else from .12).
    pub github_workflow_repository: Option<String>,
    /// GitHub workflow ref (.6, else .14 source repository ref).
    pub github_workflow_ref: Option<String>,
    /// Build signer URI (.9).
    pub build_signer_uri: Option<String>,
    /// Runner environment (.11).
    pub runner_environment: Option<String>,
    /// Source repository URI (.12).
    pub source_repository_uri: Option<String>,
    /// Run invocation URI (.21).
    pub run_invocation_uri: Option<String>,
}

fn fulcio_ext(cert: &Certificate, arc: u8) -> Option<&[u8]> {
    cert.extensions()
        .find_map(|(o, _, v)| (oid::arc_under(o, oid::FULCIO_PREFIX) == Some(arc)).then_some(v))
}

/// A legacy raw-string extension (.1–.6).
fn raw_ext(cert: &Certificate, arc: u8) -> Option<String> {
    fulcio_ext(cert, arc).map(|v| String::from_utf8_lossy(v).into_owned())
}

/// A DER UTF8String extension (.8 onward). Malformed values are errors:
/// a certificate that cannot say what it claims proves nothing.
fn der_ext(cert: &Certificate, arc: u8) -> Result<Option<String>, CertError> {
    let Some(v) = fulcio_ext(cert, arc) else {
        return Ok(None);
    };
    let t = asn1::parse_single(v, tag::UTF8_STRING, "Fulcio extension")
        .map_err(|e| CertError(format!("extension 1.3.6.1.4.1.57264.1.{arc}: {e}")))?;
    Ok(Some(t.string("Fulcio extension")?))
}

impl Claims {
    /// Reads the claims of a Fulcio leaf.
    pub fn from_certificate(cert: &Certificate) -> Result<Claims, CertError> {
        let sans = cert.subject_alt_names()?;
        let all: Vec<String> = sans.iter().filter_map(GeneralName::identity).collect();
        let identity = all.first().cloned().unwrap_or_default();
        let issuer = match der_ext(cert, 8)? {
            Some(i) => Some(i),
            None => raw_ext(cert, 1),
        };
        let source_repo = der_ext(cert, 12)?;
        let repo_from_uri = source_repo.as_deref().and_then(|u| {
            u.strip_prefix("https://github.com/")
                .map(|s| s.trim_end_matches('/').to_string())
        });
        Ok(Claims {
            identity,
            all_identities: all,
            issuer,
            github_workflow_trigger: raw_ext(cert, 2).or(der_ext(cert, 20)?),
            github_workflow_sha: raw_ext(cert, 3).or(der_ext(cert, 13)?),
            github_workflow_name: raw_ext(cert, 4),
            github_workflow_repository: raw_ext(cert, 5).or(repo_from_uri),
            github_workflow_ref: raw_ext(cert, 6).or(der_ext(cert, 14)?),
            build_signer_uri: der_ext(cert, 9)?,
            runner_environment: der_ext(cert, 11)?,
            source_repository_uri: source_repo,
            run_invocation_uri: der_ext(cert, 21)?,
        })
    }
}
