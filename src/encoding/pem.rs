//! PEM armor (RFC 7468): the `SIGNED MESSAGE` blocks git stores, and the
//! certificates and keys Sigstore services exchange.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use std::fmt;

/// A PEM decoding failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PemError {
    /// No `-----BEGIN ...-----` line.
    NoBlock,
    /// A block with another label than the one required.
    WrongLabel {
        /// The labels accepted.
        expected: String,
        /// The label found.
        found: String,
    },
    /// BEGIN without a matching END.
    Unterminated(String),
    /// The body is not base64.
    BadBase64(String),
}

impl fmt::Display for PemError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PemError::NoBlock => write!(f, "no PEM block (-----BEGIN ...-----) found"),
            PemError::WrongLabel { expected, found } => {
                write!(
                    f,
                    "PEM block is labelled \"{found}\", expected \"{expected}\""
                )
            }
            PemError::Unterminated(l) => {
                write!(
                    f,
                    "PEM block \"{l}\" has no END line (the data is truncated)"
                )
            }
            PemError::BadBase64(l) => write!(f, "PEM block \"{l}\" does not contain valid base64"),
        }
    }
}

impl std::error::Error for PemError {}

/// One decoded block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// The label between `BEGIN ` and `-----`.
    pub label: String,
    /// The decoded contents.
    pub der: Vec<u8>,
}

/// Decodes every PEM block in `text`, in order. Text between blocks is ignored.
pub fn decode_all(text: &str) -> Result<Vec<Block>, PemError> {
    let mut blocks = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let line = line.trim();
        let Some(label) = line
            .strip_prefix("-----BEGIN ")
            .and_then(|l| l.strip_suffix("-----"))
        else {
            continue;
        };
        let end = format!("-----END {label}-----");
        let mut body = String::new();
        let mut closed = false;
        for l in lines.by_ref() {
            let l = l.trim();
            if l == end {
                closed = true;
                break;
            }
            // RFC 7468 tolerates headers in legacy PEM; none of ours have them.
            body.push_str(l);
        }
        if !closed {
            return Err(PemError::Unterminated(label.to_string()));
        }
        let der = STANDARD
            .decode(body.as_bytes())
            .map_err(|_| PemError::BadBase64(label.to_string()))?;
        blocks.push(Block {
            label: label.to_string(),
            der,
        });
    }
    if blocks.is_empty() {
        return Err(PemError::NoBlock);
    }
    Ok(blocks)
}

/// Decodes the single block labelled `label` (the first block must carry it).
pub fn decode_one(text: &str, label: &str) -> Result<Vec<u8>, PemError> {
    let mut blocks = decode_all(text)?;
    let b = blocks.remove(0);
    if b.label != label {
        return Err(PemError::WrongLabel {
            expected: label.to_string(),
            found: b.label,
        });
    }
    Ok(b.der)
}

/// Encodes `der` as a PEM block with 64-column lines and one trailing newline
/// (the exact form Rekor compares byte for byte).
pub fn encode(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = String::with_capacity(b64.len() + b64.len() / 64 + 2 * label.len() + 40);
    out.push_str("-----BEGIN ");
    out.push_str(label);
    out.push_str("-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        // base64 output is ASCII, so every chunk is valid UTF-8.
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str("-----END ");
    out.push_str(label);
    out.push_str("-----\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let der: Vec<u8> = (0..=255u8).collect();
        let pem = encode("CERTIFICATE", &der);
        assert!(pem.lines().all(|l| l.len() <= 64));
        assert!(pem.ends_with("-----END CERTIFICATE-----\n"));
        assert_eq!(decode_one(&pem, "CERTIFICATE").unwrap(), der);
        assert!(matches!(
            decode_one(&pem, "PUBLIC KEY"),
            Err(PemError::WrongLabel { .. })
        ));
    }

    #[test]
    fn errors() {
        assert_eq!(decode_all("hello"), Err(PemError::NoBlock));
        assert!(matches!(
            decode_all("-----BEGIN X-----\nAAAA\n"),
            Err(PemError::Unterminated(_))
        ));
        assert!(matches!(
            decode_all("-----BEGIN X-----\n!!!!\n-----END X-----\n"),
            Err(PemError::BadBase64(_))
        ));
    }
}
