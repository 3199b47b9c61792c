//! Fulcio v2 client: `POST /api/v2/signingCert` with proof of possession,
//! both response shapes, and the checks a certificate must pass before we
//! sign with it (our key, a trusted chain, a valid SCT).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::Deserialize;
use serde_json::json;

use crate::pki::chain;
use crate::pki::sct;
use crate::pki::x509::{self, Certificate};
use crate::sigstore::http::{self, Http, HttpError};
use crate::sigstore::trust::TrustedRoot;

/// A Fulcio failure, as a sentence.
#[derive(Debug, Clone)]
pub enum FulcioError {
    /// Transport, or an error answer (server text verbatim, with the URL).
    Http(HttpError),
    /// The answer is not a certificate chain.
    Malformed(String),
    /// The certificate cannot be trusted; nothing is signed with it.
    Untrusted(String),
}

impl std::fmt::Display for FulcioError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FulcioError::Http(e) => write!(f, "Fulcio: {e}"),
            FulcioError::Malformed(m) => write!(f, "Fulcio: {m}"),
            FulcioError::Untrusted(m) => {
                write!(f, "the certificate Fulcio issued cannot be trusted: {m}")
            }
        }
    }
}

impl std::error::Error for FulcioError {}

/// Why a certificate failed [`check_certificate`], without the words about
/// Fulcio issuing it (for a certificate read back from a cache).
pub fn reason(e: &FulcioError) -> String {
    match e {
        FulcioError::Untrusted(m) | FulcioError::Malformed(m) => m.clone(),
        FulcioError::Http(h) => h.to_string(),
    }
}

/// Clock difference tolerated between us and Fulcio, in seconds.
pub const CLOCK_SKEW: i64 = 60;

/// What Fulcio returned.
#[derive(Debug, Clone)]
pub struct Issued {
    /// Leaf first, then its issuers.
    pub chain: Vec<Certificate>,
    /// A detached SCT (Fulcio's other response shape), as the CT log's JSON.
    pub detached_sct: Option<Vec<u8>>,
}

impl Issued {
    /// The leaf.
    pub fn leaf(&self) -> &Certificate {
        &self.chain[0]
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Response {
    signed_certificate_embedded_sct: Option<Embedded>,
    signed_certificate_detached_sct: Option<Detached>,
}

#[derive(Deserialize)]
struct Embedded {
    chain: Chain,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Detached {
    chain: Chain,
    signed_certificate_timestamp: String,
}

#[derive(Deserialize)]
struct Chain {
    certificates: Vec<String>,
}

/// A Fulcio client.
#[derive(Debug, Clone)]
pub struct FulcioClient {
    base: String,
    http: Http,
}

impl FulcioClient {
    /// A client for the CA at `base_url`.
    pub fn new(base_url: &str, http: Http) -> FulcioClient {
        FulcioClient {
            base: base_url.trim_end_matches('/').to_string(),
            http,
        }
    }

    /// Requests a certificate for `public_key_pem` (SPKI PEM), proving
    /// possession with `proof` (a signature over the token's subject).
    pub fn signing_cert(
        &self,
        id_token: &str,
        public_key_pem: &str,
        proof: &[u8],
    ) -> Result<Issued, FulcioError> {
        let url = http::join(&self.base, "/api/v2/signingCert");
        let body = json!({
            "credentials": {"oidcIdentityToken": id_token},
            "publicKeyRequest": {
                "publicKey": {"algorithm": "ECDSA", "content": public_key_pem},
                "proofOfPossession": STANDARD.encode(proof)
            }
        });
        let r = self
            .http
            .post_json(
                &url,
                serde_json::to_vec(&body).unwrap_or_default(),
                &[("authorization", format!("Bearer {id_token}"))],
                true,
            )
            .map_err(FulcioError::Http)?;
        if r.status != 200 && r.status != 201 {
            return Err(FulcioError::Http(HttpError {
                url,
                status: Some(r.status),
                message: http::server_text(&r.body),
            }));
        }
        let resp: Response = serde_json::from_slice(&r.body).map_err(|e| {
            FulcioError::Malformed(format!(
                "{url} answered with something that is not a certificate response: {e}"
            ))
        })?;
        let (chain, detached) = match (
            resp.signed_certificate_embedded_sct,
            resp.signed_certificate_detached_sct,
        ) {
            (Some(e), _) => (e.chain, None),
            (None, Some(d)) => {
                let sct = STANDARD
                    .decode(&d.signed_certificate_timestamp)
                    .map_err(|_| FulcioError::Malformed("the detached SCT is not base64".into()))?;
                (d.chain, Some(sct))
            }
            (None, None) => {
                return Err(FulcioError::Malformed(format!(
                    "{url} returned no certificate chain"
                )))
            }
        };
        let mut certs = Vec::new();
        for pem in &chain.certificates {
            certs.extend(
                x509::certificates_from_pem(pem)
                    .map_err(|e| FulcioError::Malformed(e.to_string()))?,
            );
        }
        if certs.is_empty() {
            return Err(FulcioError::Malformed(format!(
                "{url} returned an empty certificate chain"
            )));
        }
        Ok(Issued {
            chain: certs,
            detached_sct: detached,
        })
    }
}

/// Checks a freshly issued certificate before anything is signed with it:
/// it certifies our key, chains to a trusted Fulcio CA now, is a signing
/// leaf, and carries an embedded SCT from a trusted CT log (a detached SCT
/// is refused: see below).
pub fn check_issued(
    issued: &Issued,
    our_spki: &[u8],
    root: &TrustedRoot,
    now: i64,
) -> Result<(), FulcioError> {
    let leaf = issued.leaf();
    // A detached SCT has no place in a signature, and verification (ours
    // and every Sigstore verifier that reads the SCT from the certificate)
    // requires one embedded in it: a signature made with this certificate
    // would be refused, so none is made.
    if issued.detached_sct.is_some() {
        return Err(FulcioError::Untrusted(
            "Fulcio returned it with a detached SCT (signedCertificateDetachedSct) instead of an \
             SCT embedded in the certificate; a signature cannot carry a detached SCT and \
             verification requires the embedded one, so nothing was signed: configure that \
             Fulcio to embed SCTs (the public-good instance does), or use another"
                .into(),
        ));
    }
    check_certificate(leaf, our_spki, root, now)
}

/// The checks every certificate passes before gitsign signs with it, fresh
/// from Fulcio or read back from a credential cache: it certifies `spki`,
/// chains to a Fulcio CA of the trusted root at `at`, has a signing leaf's
/// profile, and carries an embedded SCT from a CT log of the trusted root
/// (valid at the SCT's time).
pub fn check_certificate(
    leaf: &Certificate,
    spki: &[u8],
    root: &TrustedRoot,
    now: i64,
) -> Result<(), FulcioError> {
    if leaf.spki() != spki {
        return Err(FulcioError::Untrusted(
            "it certifies a different public key than ours".into(),
        ));
    }
    // Fulcio's clock may run a little ahead of ours (it sets notBefore to
    // its "now"): a certificate from up to a minute in the future is checked
    // as of its notBefore.
    let at = if now < leaf.not_before && leaf.not_before - now <= CLOCK_SKEW {
        leaf.not_before
    } else {
        now
    };
    let issuers = chain::find_issuers(leaf, root).map_err(FulcioError::Untrusted)?;
    let path = chain::verify_path(leaf, &issuers, at).map_err(FulcioError::Untrusted)?;
    chain::check_leaf_profile(leaf).map_err(FulcioError::Untrusted)?;
    sct::verify_embedded(leaf, path.issuer, root).map_err(FulcioError::Untrusted)?;
    Ok(())
}
