//! Codecs and formats: a strict DER reader ([`asn1`]), PEM armor
//! ([`pem`]), encoded OIDs ([`oid`]), text made safe for a terminal
//! ([`text`]) and calendar time ([`time`]).
//!
//! What this folder may use: nothing else in the crate. It does no I/O
//! (`time::now` reads the system clock, nothing more).

pub mod asn1;
pub mod oid;
pub mod pem;
pub mod text;
pub mod time;
