//! gitsign: keyless git signing and verification with Sigstore.
//!
//! The library is the product; the `gitsign` binary is a thin CLI over it.
//! Verification: [`verify::verify`] checks one signature over a payload;
//! [`policy`] decides whether the verified signer is trusted.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

// The layers, lowest first; a layer's mod.rs says what it may use.

// Codecs and formats (DER, PEM, OIDs, text, time): no I/O, nothing else in the crate.
pub mod encoding;
// X.509, CMS, RFC 3161 timestamps, certificate transparency, the signing key's crypto.
pub mod pki;
// The Sigstore services' clients and formats (Fulcio, Rekor, TUF, bundles), their HTTP client.
pub mod sigstore;
// OIDC identity tokens for Fulcio, and the ambient token providers.
pub mod oidc;
// git: reading objects, revisions and ranges, the gpg interface, `show`, attestations.
pub mod git;
// Identity policy: which signers are trusted; the policy file and where it is read from.
pub mod policy;
// Where signing credentials are kept between signatures (daemon client, platform keyring).
pub mod cache;

// Keyless signing: ephemeral key, Fulcio certificate, CMS signature, Rekor entry.
pub mod sign;
// Verification of one git signature.
pub mod verify;
// Human summaries of verification results.
pub mod report;
// Server-side enforcement: the pre-receive and update hooks.
pub mod hook;
// Configuration: defaults < git config < environment (the one module that reads it).
pub mod config;
// Small helpers: process hardening, the signing log, a progress line.
pub mod harden;
pub mod logfile;
pub mod progress;
