//! gitsign: keyless git signing and verification with Sigstore.
//!
//! The library is the product; the `gitsign` binary is a thin CLI over it.
//! Verification: [`verify::verify`] checks one signature over a payload;
//! [`policy`] decides whether the verified signer is trusted.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod asn1;
pub mod attest;
pub mod attest_store;
pub mod bundle;
pub mod cache;
pub mod chain;
pub mod claims;
pub mod cms;
pub mod config;
pub mod crypto;
pub mod fulcio;
pub mod git;
pub mod gitobj;
pub mod gpg;
pub mod harden;
pub mod hook;
pub mod http;
pub mod logfile;
pub mod oid;
pub mod oidc;
pub mod pem;
pub mod policy;
pub mod policy_file;
pub mod policy_source;
pub mod progress;
pub mod providers;
pub mod range;
pub mod rekor;
pub mod report;
pub mod revs;
pub mod sct;
pub mod show;
pub mod sign;
pub mod signing_config;
pub mod text;
pub mod time;
pub mod tlog;
pub mod trust;
pub mod tsa;
pub mod tuf;
pub mod verify;
pub mod x509;
