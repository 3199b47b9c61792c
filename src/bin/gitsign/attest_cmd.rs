//! `gitsign attest`.

use crate::args::AttestArgs;
use crate::exit;

/// Runs `gitsign attest`.
pub fn run(_a: &AttestArgs) -> u8 {
    crate::error("gitsign attest is not implemented yet");
    exit::ERROR
}
