//! `gitsign attest`'s formats: the in-toto statement over a git object, the
//! DSSE envelope that carries it, and the refs and file names under which
//! Go gitsign stores them. A codec: no I/O (the git writes are in
//! [`crate::git::attest_store`]).
//!
//! Go gitsign's layout, which this follows so that either tool finds and
//! extends the other's attestations: the ref `refs/attestations/commits`
//! (or `refs/attestations/trees`) points at a commit whose tree holds one
//! directory per attested object, named by its full id; inside it, each
//! attestation is two files: the predicate file as given (named by the
//! input file's base name) and `<name>.sig`, the DSSE envelope
//! (`application/vnd.in-toto+json`) over an in-toto v1 statement whose
//! subject is `{"gitCommit": id}` (or `gitTree`).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::Serialize;

/// The ref holding attestations of commits.
pub const COMMIT_REF: &str = "refs/attestations/commits";
/// The ref holding attestations of trees.
pub const TREE_REF: &str = "refs/attestations/trees";
/// The subject digest name of a commit.
pub const DIGEST_COMMIT: &str = "gitCommit";
/// The subject digest name of a tree.
pub const DIGEST_TREE: &str = "gitTree";
/// The DSSE payload type of an in-toto statement.
pub const PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";
/// The in-toto statement type Go gitsign's attest writes.
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
/// The largest predicate file accepted (it is held in memory, stored and
/// logged).
pub const MAX_PREDICATE: usize = 32 << 20;

/// Why an attestation could not be made: a sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttestError(pub String);

impl std::fmt::Display for AttestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for AttestError {}

/// The predicate type URI for `--type`: cosign's short names (which Go
/// gitsign's `--type` documented), or the value itself as a URI.
pub fn predicate_type(name: &str) -> String {
    match name {
        "custom" => "https://cosign.sigstore.dev/attestation/v1",
        "slsaprovenance" | "slsaprovenance02" => "https://slsa.dev/provenance/v0.2",
        "slsaprovenance1" => "https://slsa.dev/provenance/v1",
        "link" => "https://in-toto.io/Link/v1",
        "spdx" | "spdxjson" => "https://spdx.dev/Document",
        "cyclonedx" => "https://cyclonedx.org/bom",
        "vuln" => "https://cosign.sigstore.dev/attestation/vuln/v1",
        "openvex" => "https://openvex.dev/ns",
        other => other,
    }
    .to_string()
}

#[derive(Serialize)]
struct Statement<'a> {
    #[serde(rename = "_type")]
    type_: &'static str,
    subject: [Subject<'a>; 1],
    #[serde(rename = "predicateType", skip_serializing_if = "str::is_empty")]
    predicate_type: &'a str,
    predicate: serde_json::Value,
}

#[derive(Serialize)]
struct Subject<'a> {
    digest: std::collections::BTreeMap<&'a str, &'a str>,
}

/// The statement (compact JSON, Go's field order) saying `predicate` (the
/// file's bytes, a JSON object) of type `predicate_type` about object `id`,
/// named by `digest_type` ([`DIGEST_COMMIT`] or [`DIGEST_TREE`]).
pub fn statement(
    predicate: &[u8],
    predicate_type: &str,
    digest_type: &str,
    id: &str,
) -> Result<Vec<u8>, AttestError> {
    if predicate.len() > MAX_PREDICATE {
        return Err(AttestError(format!(
            "the predicate file is {} bytes, more than the {MAX_PREDICATE}-byte limit",
            predicate.len()
        )));
    }
    let value: serde_json::Value = serde_json::from_slice(predicate)
        .map_err(|e| AttestError(format!("the predicate file is not JSON: {e}")))?;
    if !value.is_object() {
        return Err(AttestError(
            "the predicate file must hold a JSON object (an in-toto predicate is one)".into(),
        ));
    }
    let s = Statement {
        type_: STATEMENT_TYPE,
        subject: [Subject {
            digest: [(digest_type, id)].into_iter().collect(),
        }],
        predicate_type,
        predicate: value,
    };
    serde_json::to_vec(&s).map_err(|e| AttestError(format!("cannot write the statement: {e}")))
}

#[derive(Serialize)]
struct Envelope<'a> {
    #[serde(rename = "payloadType")]
    payload_type: &'a str,
    payload: String,
    signatures: [EnvelopeSignature; 1],
}

#[derive(Serialize)]
struct EnvelopeSignature {
    keyid: &'static str,
    sig: String,
}

/// The bytes a DSSE signature over `payload` covers.
pub fn pae(payload: &[u8]) -> Vec<u8> {
    crate::sigstore::bundle::pae(PAYLOAD_TYPE, payload)
}

/// The DSSE envelope JSON as Go gitsign stores it in `<name>.sig`:
/// `payloadType`, `payload` (base64) and one signature with an empty
/// `keyid`; `signature` is over [`pae`] of `payload`.
pub fn envelope(payload: &[u8], signature: &[u8]) -> String {
    let e = Envelope {
        payload_type: PAYLOAD_TYPE,
        payload: STANDARD.encode(payload),
        signatures: [EnvelopeSignature {
            keyid: "",
            sig: STANDARD.encode(signature),
        }],
    };
    serde_json::to_string(&e).unwrap_or_default()
}

/// The file name an attestation of `path` is stored under: its base name,
/// as Go gitsign names it. `None` for a path that names no file (or, off
/// Unix, whose name is not UTF-8, as git's tree entries are there).
pub fn file_name(path: &std::path::Path) -> Option<Vec<u8>> {
    let name = name_bytes(path.file_name()?)?;
    // A tree entry cannot be named so, nor hold a NUL or a slash.
    if name.is_empty() || name == b"." || name == b".." || name.contains(&0) {
        return None;
    }
    Some(name.to_vec())
}

/// A file name's bytes as git stores them: the bytes themselves on Unix.
#[cfg(unix)]
fn name_bytes(name: &std::ffi::OsStr) -> Option<&[u8]> {
    use std::os::unix::ffi::OsStrExt;
    Some(name.as_bytes())
}

/// A file name's bytes as git stores them: its UTF-8 (Windows names are
/// UTF-16; one that is not valid Unicode has no UTF-8 form).
#[cfg(not(unix))]
fn name_bytes(name: &std::ffi::OsStr) -> Option<&[u8]> {
    name.to_str().map(str::as_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statement_has_go_shape() {
        let id = "a".repeat(40);
        let s = statement(br#"{"foo":"bar"}"#, "custom-pred-type", DIGEST_COMMIT, &id).unwrap();
        let want = format!(
            r#"{{"_type":"https://in-toto.io/Statement/v1","subject":[{{"digest":{{"gitCommit":"{id}"}}}}],"predicateType":"custom-pred-type","predicate":{{"foo":"bar"}}}}"#
        );
        assert_eq!(String::from_utf8(s).unwrap(), want);
        // An empty type is left out, as protojson leaves it out.
        let s = statement(b"{}", "", DIGEST_TREE, &id).unwrap();
        assert!(!String::from_utf8(s).unwrap().contains("predicateType"));
    }

    #[test]
    fn predicates_must_be_json_objects() {
        for bad in [&b"[1]"[..], b"\"x\"", b"not json", b""] {
            assert!(statement(bad, "t", DIGEST_COMMIT, "x").is_err());
        }
    }

    #[test]
    fn envelope_as_go_writes_it() {
        assert_eq!(
            envelope(b"{}", b"tacocat"),
            r#"{"payloadType":"application/vnd.in-toto+json","payload":"e30=","signatures":[{"keyid":"","sig":"dGFjb2NhdA=="}]}"#
        );
        assert_eq!(pae(b"{}"), b"DSSEv1 28 application/vnd.in-toto+json 2 {}");
    }

    #[test]
    fn type_names() {
        assert_eq!(
            predicate_type("slsaprovenance"),
            "https://slsa.dev/provenance/v0.2"
        );
        assert_eq!(predicate_type("https://x.example/p"), "https://x.example/p");
    }

    #[test]
    fn file_names() {
        use std::path::Path;
        assert_eq!(file_name(Path::new("a/b/test.json")).unwrap(), b"test.json");
        assert!(file_name(Path::new("/")).is_none());
        assert!(file_name(Path::new("..")).is_none());
    }
}
