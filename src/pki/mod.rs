//! X.509 ([`x509`], path validation in [`chain`], the signer's claims in
//! [`claims`]), CMS SignedData ([`cms`]), RFC 3161 timestamps ([`tsa`]),
//! certificate transparency ([`sct`]) and the signing key's crypto
//! ([`crypto`]).
//!
//! What this folder may use: [`crate::encoding`], and RustCrypto's `cms`
//! and `x509-cert` (with their `der`) for what [`cms`] writes. It does no
//! I/O except [`tsa::TsaClient`], the timestamp authority's HTTP client.
//! Two uses reach a layer up, as before the folders existed: [`chain`],
//! [`sct`] and [`tsa`] take the trust anchors from
//! [`crate::sigstore::trust`] (`TrustedRoot`), and `TsaClient` speaks
//! through [`crate::sigstore::http`].

pub mod chain;
pub mod claims;
pub mod cms;
pub mod crypto;
pub mod sct;
pub mod tsa;
pub mod x509;
