//! Path validation of a Fulcio leaf against the trusted root's CAs, at a
//! given time (the log's integration time; Fulcio leaves live ten minutes,
//! so "now" would reject every old signature).

use crate::encoding::oid;
use crate::encoding::time::format_time;
use crate::pki::x509::{name_to_string, Certificate};
use crate::sigstore::trust::{CertificateAuthority, TrustedRoot};

/// Extensions a leaf may mark critical: the ones this verifier enforces or
/// that carry no constraint we could violate (TSA certificates too).
pub(crate) const KNOWN_CRITICAL: &[&[u8]] = &[
    oid::KEY_USAGE,
    oid::EXT_KEY_USAGE,
    oid::SUBJECT_ALT_NAME,
    oid::BASIC_CONSTRAINTS,
    oid::SUBJECT_KEY_ID,
    oid::AUTHORITY_KEY_ID,
];

/// keyUsage digitalSignature bit, in [`Certificate::key_usage`]'s layout.
const KU_DIGITAL_SIGNATURE: u16 = 0x8000;
/// keyUsage keyCertSign bit.
const KU_KEY_CERT_SIGN: u16 = 0x0400;

/// The validated path.
#[derive(Debug)]
pub struct ValidPath<'r> {
    /// The CA whose chain anchors the leaf.
    pub ca: &'r CertificateAuthority,
    /// The certificate that signed the leaf.
    pub issuer: &'r Certificate,
}

/// Checks what a Fulcio leaf must be, independent of its issuer.
pub fn check_leaf_profile(leaf: &Certificate) -> Result<(), String> {
    for (id, critical, _) in leaf.extensions() {
        if critical && !KNOWN_CRITICAL.contains(&id) {
            return Err(format!(
                "the certificate has an unknown critical extension {}; it cannot be trusted",
                crate::encoding::asn1::oid_to_string(id)
            ));
        }
    }
    if let Some((true, _)) = leaf.basic_constraints().map_err(|e| e.to_string())? {
        return Err("the signing certificate is a CA certificate, not a signing leaf".into());
    }
    if let Some(ku) = leaf.key_usage().map_err(|e| e.to_string())? {
        if ku & KU_DIGITAL_SIGNATURE == 0 {
            return Err("the certificate's key usage does not allow digital signatures".into());
        }
    }
    match leaf.ext_key_usage().map_err(|e| e.to_string())? {
        Some(ekus) if ekus.iter().any(|e| e == oid::EKU_CODE_SIGNING) => Ok(()),
        _ => Err(
            "the certificate is not for code signing (no codeSigning extended key usage)".into(),
        ),
    }
}

fn within(cert: &Certificate, t: i64) -> bool {
    cert.not_before <= t && t <= cert.not_after
}

/// The CAs of the trusted root whose certificates signed a leaf (its
/// signature checked once here), before any time is known.
#[derive(Debug)]
pub struct Issuers<'r> {
    candidates: Vec<(&'r CertificateAuthority, usize)>,
}

impl<'r> Issuers<'r> {
    /// Rebuilds from (CA index, chain index) pairs saved by [`Issuers::to_indices`].
    pub fn from_indices(root: &'r TrustedRoot, idx: &[(usize, usize)]) -> Issuers<'r> {
        let candidates = idx
            .iter()
            .filter_map(|&(a, i)| {
                root.certificate_authorities
                    .get(a)
                    .filter(|ca| i < ca.chain.len())
                    .map(|ca| (ca, i))
            })
            .collect();
        Issuers { candidates }
    }

    /// (CA index, chain index) pairs, for caching.
    pub fn to_indices(&self, root: &TrustedRoot) -> Vec<(usize, usize)> {
        self.candidates
            .iter()
            .filter_map(|(ca, i)| {
                root.certificate_authorities
                    .iter()
                    .position(|c| std::ptr::eq(c, *ca))
                    .map(|a| (a, *i))
            })
            .collect()
    }
}

/// Finds the trusted-root CA certificates that signed `leaf`.
pub fn find_issuers<'r>(leaf: &Certificate, root: &'r TrustedRoot) -> Result<Issuers<'r>, String> {
    let mut candidates = Vec::new();
    for ca in &root.certificate_authorities {
        for (i, issuer) in ca.chain.iter().enumerate() {
            if issuer.subject() == leaf.issuer() && leaf.verify_signed_by(issuer).is_ok() {
                candidates.push((ca, i));
            }
        }
    }
    if candidates.is_empty() {
        return Err(format!(
            "the certificate does not chain to a Fulcio CA in the trusted root ({}): it was issued by {}, \
             which is not a trusted Fulcio CA",
            root.source,
            name_to_string(leaf.issuer())
        ));
    }
    Ok(Issuers { candidates })
}

/// Checks the path through one of `issuers` at time `at`: the CA's trust
/// window, every CA certificate's validity and CA-ness, the leaf's validity.
pub fn verify_path<'r>(
    leaf: &Certificate,
    issuers: &Issuers<'r>,
    at: i64,
) -> Result<ValidPath<'r>, String> {
    let mut outside_window = None;
    let mut broken = None;
    for &(ca, i) in &issuers.candidates {
        if !ca.valid_for.contains(at) {
            outside_window = Some(ca);
            continue;
        }
        if let Err(e) = ca.check_chain() {
            broken = Some(e);
            continue;
        }
        for c in &ca.chain[i..] {
            if !within(c, at) {
                return Err(format!(
                    "the certificate does not chain to a Fulcio CA in the trusted root at {}: \
                     CA certificate {} is valid only from {} to {}",
                    format_time(at),
                    name_to_string(c.subject()),
                    format_time(c.not_before),
                    format_time(c.not_after)
                ));
            }
            if c.version == 2 {
                let ca_ok = matches!(c.basic_constraints(), Ok(Some((true, _))));
                let ku_ok = !matches!(c.key_usage(), Ok(Some(ku)) if ku & KU_KEY_CERT_SIGN == 0);
                if !ca_ok || !ku_ok {
                    return Err(format!(
                        "the trusted root's certificate {} is not a CA certificate",
                        name_to_string(c.subject())
                    ));
                }
            }
        }
        if !within(leaf, at) {
            return Err(format!(
                "the certificate was not valid at {}: it is valid from {} to {}",
                format_time(at),
                format_time(leaf.not_before),
                format_time(leaf.not_after)
            ));
        }
        return Ok(ValidPath {
            ca,
            issuer: &ca.chain[i],
        });
    }
    if let Some(e) = broken {
        return Err(e);
    }
    let ca = outside_window
        .map(|ca| (ca.uri.clone(), ca.valid_for.describe()))
        .unwrap_or_default();
    Err(format!(
        "the certificate does not chain to a Fulcio CA in the trusted root: its issuer {} ({}) \
         was trusted only from {}, which does not include the signing time {}",
        name_to_string(leaf.issuer()),
        ca.0,
        ca.1,
        format_time(at)
    ))
}
