//! The Sigstore services' clients and formats: Fulcio ([`fulcio`]), Rekor
//! v1 and v2 ([`rekor`]), transparency-log entries and their offline
//! verification ([`tlog`]), the trusted root ([`trust`]) kept current by
//! TUF ([`tuf`]), the signing config ([`signing_config`]), bundles
//! ([`bundle`]), and the HTTP client they share ([`http`]).
//!
//! What this folder may use: [`crate::encoding`], [`crate::pki`]. Three
//! uses reach past it, as before the folders existed: [`rekor`] implements
//! [`crate::verify`]'s transparency-log lookup, [`bundle`] verifies
//! certificates and embedded entries with [`crate::verify`], and [`tuf`]
//! reads its settings from [`crate::config`].

pub mod bundle;
pub mod fulcio;
pub mod http;
pub mod rekor;
pub mod signing_config;
pub mod tlog;
pub mod trust;
pub mod tuf;
