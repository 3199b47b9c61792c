//! gitsign's credential cache: a per-user daemon that keeps ephemeral
//! signing keys and their Fulcio certificates in memory for their short
//! life, so one login serves many signatures.
//!
//! This crate holds the wire protocol ([`proto`]) and a blocking client
//! ([`client`]); the daemon is the `gitsign-credential-cache` binary.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod client;
pub mod proto;
