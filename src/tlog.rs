//! Rekor v1 transparency-log entries: the model, its two encodings (the
//! protobuf `TransparencyLogEntry` gitsign embeds, and Rekor's JSON API
//! `LogEntry`), and the offline checks: SET, RFC 6962 inclusion proof,
//! signed checkpoint. No I/O here.

use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use prost::Message;
use serde::{Deserialize, Serialize};

use crate::asn1::{hex_decode, hex_lower};
use crate::crypto::{self, SigScheme};
use crate::trust::{TransparencyLog, TrustedRoot};

/// Largest serialized entry accepted (real ones are ~1–3 KiB).
pub const MAX_ENTRY_LEN: usize = 256 * 1024;
/// Deepest inclusion proof accepted (2^64 leaves need 64 hashes).
const MAX_PROOF_HASHES: usize = 64;

/// A transparency-log check that failed; the message names which.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlogError(pub String);

impl fmt::Display for TlogError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TlogError {}

fn err<T>(msg: impl Into<String>) -> Result<T, TlogError> {
    Err(TlogError(msg.into()))
}

/// The proof that an entry is in the log's Merkle tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InclusionProof {
    /// Leaf index within the tree (shard-local; differs from `log_index`).
    pub log_index: u64,
    /// Root hash of the tree the proof is for.
    pub root_hash: Vec<u8>,
    /// Size of that tree.
    pub tree_size: u64,
    /// Sibling hashes, leaf to root.
    pub hashes: Vec<Vec<u8>>,
    /// The signed checkpoint (a signed note), if given.
    pub checkpoint: Option<String>,
}

/// One log entry, as both encodings carry it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// Global log index.
    pub log_index: u64,
    /// SHA-256 of the log's public key (v1 logs).
    pub log_id: Vec<u8>,
    /// When the log integrated the entry (seconds since the epoch).
    pub integrated_time: i64,
    /// The canonicalized entry body (JSON bytes). Empty when the embedding
    /// cleared it (gitsign does; the verifier rebuilds it).
    pub body: Vec<u8>,
    /// Signed entry timestamp (the inclusion promise).
    pub set: Option<Vec<u8>>,
    /// Inclusion proof.
    pub proof: Option<InclusionProof>,
    /// Entry kind and version, where recorded.
    pub kind_version: Option<(String, String)>,
}

// protobuf-specs dev.sigstore.rekor.v1 messages, reduced to what we read.
mod pb {
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct LogId {
        #[prost(bytes = "vec", tag = "1")]
        pub key_id: Vec<u8>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct KindVersion {
        #[prost(string, tag = "1")]
        pub kind: String,
        #[prost(string, tag = "2")]
        pub version: String,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Checkpoint {
        #[prost(string, tag = "1")]
        pub envelope: String,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct InclusionProof {
        #[prost(int64, tag = "1")]
        pub log_index: i64,
        #[prost(bytes = "vec", tag = "2")]
        pub root_hash: Vec<u8>,
        #[prost(int64, tag = "3")]
        pub tree_size: i64,
        #[prost(bytes = "vec", repeated, tag = "4")]
        pub hashes: Vec<Vec<u8>>,
        #[prost(message, optional, tag = "5")]
        pub checkpoint: Option<Checkpoint>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct InclusionPromise {
        #[prost(bytes = "vec", tag = "1")]
        pub signed_entry_timestamp: Vec<u8>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct TransparencyLogEntry {
        #[prost(int64, tag = "1")]
        pub log_index: i64,
        #[prost(message, optional, tag = "2")]
        pub log_id: Option<LogId>,
        #[prost(message, optional, tag = "3")]
        pub kind_version: Option<KindVersion>,
        #[prost(int64, tag = "4")]
        pub integrated_time: i64,
        #[prost(message, optional, tag = "5")]
        pub inclusion_promise: Option<InclusionPromise>,
        #[prost(message, optional, tag = "6")]
        pub inclusion_proof: Option<InclusionProof>,
        #[prost(bytes = "vec", tag = "7")]
        pub canonicalized_body: Vec<u8>,
    }
}

fn non_negative(v: i64, what: &str) -> Result<u64, TlogError> {
    u64::try_from(v).map_err(|_| TlogError(format!("the log entry's {what} is negative")))
}

impl LogEntry {
    /// Decodes a protobuf `TransparencyLogEntry`.
    pub fn from_protobuf(bytes: &[u8]) -> Result<LogEntry, TlogError> {
        if bytes.len() > MAX_ENTRY_LEN {
            return err("the embedded transparency log entry is too large");
        }
        let e = pb::TransparencyLogEntry::decode(bytes).map_err(|e| {
            TlogError(format!(
                "the embedded transparency log entry is not a valid TransparencyLogEntry: {e}"
            ))
        })?;
        let proof = match e.inclusion_proof {
            Some(p) => Some(InclusionProof {
                log_index: non_negative(p.log_index, "proof index")?,
                root_hash: p.root_hash,
                tree_size: non_negative(p.tree_size, "tree size")?,
                hashes: p.hashes,
                checkpoint: p.checkpoint.map(|c| c.envelope).filter(|c| !c.is_empty()),
            }),
            None => None,
        };
        Ok(LogEntry {
            log_index: non_negative(e.log_index, "log index")?,
            log_id: e.log_id.map(|l| l.key_id).unwrap_or_default(),
            integrated_time: e.integrated_time,
            body: e.canonicalized_body,
            set: e
                .inclusion_promise
                .map(|p| p.signed_entry_timestamp)
                .filter(|s| !s.is_empty()),
            proof,
            kind_version: e.kind_version.map(|k| (k.kind, k.version)),
        })
    }

    /// Encodes as a protobuf `TransparencyLogEntry` (what gitsign embeds;
    /// `with_body` false clears the body as gitsign does).
    pub fn to_protobuf(&self, with_body: bool) -> Vec<u8> {
        let e = pb::TransparencyLogEntry {
            log_index: self.log_index as i64,
            log_id: Some(pb::LogId {
                key_id: self.log_id.clone(),
            }),
            kind_version: self.kind_version.as_ref().map(|(k, v)| pb::KindVersion {
                kind: k.clone(),
                version: v.clone(),
            }),
            integrated_time: self.integrated_time,
            inclusion_promise: self.set.as_ref().map(|s| pb::InclusionPromise {
                signed_entry_timestamp: s.clone(),
            }),
            inclusion_proof: self.proof.as_ref().map(|p| pb::InclusionProof {
                log_index: p.log_index as i64,
                root_hash: p.root_hash.clone(),
                tree_size: p.tree_size as i64,
                hashes: p.hashes.clone(),
                checkpoint: p.checkpoint.as_ref().map(|c| pb::Checkpoint {
                    envelope: c.clone(),
                }),
            }),
            canonicalized_body: if with_body {
                self.body.clone()
            } else {
                Vec::new()
            },
        };
        e.encode_to_vec()
    }

    /// Decodes Rekor's JSON API response: `{"<uuid>": LogEntry}`; returns
    /// the UUID and the entry.
    pub fn from_rekor_json(json: &[u8]) -> Result<Vec<(String, LogEntry)>, TlogError> {
        if json.len() > 16 * MAX_ENTRY_LEN {
            return err("the Rekor response is too large");
        }
        let map: std::collections::BTreeMap<String, JsonEntry> = serde_json::from_slice(json)
            .map_err(|e| TlogError(format!("the Rekor response is not a log entry: {e}")))?;
        map.into_iter()
            .map(|(uuid, e)| Ok((uuid, e.into_entry()?)))
            .collect()
    }
}

/// Rekor's JSON `LogEntry`.
#[derive(Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JsonEntry {
    /// base64 of the canonical body.
    pub body: String,
    /// Integration time.
    pub integrated_time: i64,
    /// hex log id.
    #[serde(rename = "logID")]
    pub log_id: String,
    /// Global index.
    pub log_index: i64,
    /// SET and proof.
    pub verification: Option<JsonVerification>,
}

/// Rekor's JSON `verification` object.
#[derive(Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JsonVerification {
    /// base64 SET.
    pub signed_entry_timestamp: Option<String>,
    /// The inclusion proof.
    pub inclusion_proof: Option<JsonProof>,
}

/// Rekor's JSON inclusion proof.
#[derive(Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JsonProof {
    /// Signed note.
    pub checkpoint: Option<String>,
    /// hex sibling hashes.
    pub hashes: Vec<String>,
    /// Leaf index in the shard.
    pub log_index: i64,
    /// hex root.
    pub root_hash: String,
    /// Tree size.
    pub tree_size: i64,
}

impl JsonEntry {
    fn into_entry(self) -> Result<LogEntry, TlogError> {
        let body = STANDARD
            .decode(&self.body)
            .map_err(|_| TlogError("the log entry body is not base64".into()))?;
        let log_id =
            hex_decode(&self.log_id).ok_or_else(|| TlogError("the log id is not hex".into()))?;
        let (set, proof) = match self.verification {
            Some(v) => {
                let set = v
                    .signed_entry_timestamp
                    .map(|s| {
                        STANDARD
                            .decode(s)
                            .map_err(|_| TlogError("the SET is not base64".into()))
                    })
                    .transpose()?;
                let proof = v
                    .inclusion_proof
                    .map(|p| -> Result<InclusionProof, TlogError> {
                        Ok(InclusionProof {
                            log_index: non_negative(p.log_index, "proof index")?,
                            root_hash: hex_decode(&p.root_hash)
                                .ok_or_else(|| TlogError("root hash is not hex".into()))?,
                            tree_size: non_negative(p.tree_size, "tree size")?,
                            hashes: p
                                .hashes
                                .iter()
                                .map(|h| {
                                    hex_decode(h)
                                        .ok_or_else(|| TlogError("proof hash is not hex".into()))
                                })
                                .collect::<Result<_, _>>()?,
                            checkpoint: p.checkpoint,
                        })
                    })
                    .transpose()?;
                (set, proof)
            }
            None => (None, None),
        };
        Ok(LogEntry {
            log_index: non_negative(self.log_index, "log index")?,
            log_id,
            integrated_time: self.integrated_time,
            body,
            set,
            proof,
            kind_version: None,
        })
    }
}

/// RFC 8785 (JCS) serialization for the JSON we canonicalize: objects with
/// string keys, strings and integers. serde_json's default map is sorted
/// and its escaping matches JCS for these values.
pub fn canonical_json(v: &serde_json::Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap_or_default()
}

/// The hashedrekord v0.0.1 body for a signature over a SHA-256 digest, as
/// Rekor canonicalizes it. `public_key_pem` is the signer's certificate PEM.
pub fn hashedrekord_body(digest: &[u8], signature: &[u8], public_key_pem: &str) -> Vec<u8> {
    let v = serde_json::json!({
        "apiVersion": "0.0.1",
        "kind": "hashedrekord",
        "spec": {
            "data": {"hash": {"algorithm": "sha256", "value": hex_lower(digest)}},
            "signature": {
                "content": STANDARD.encode(signature),
                "publicKey": {"content": STANDARD.encode(public_key_pem.as_bytes())}
            }
        }
    });
    canonical_json(&v)
}

/// What a hashedrekord body says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HashedRekord {
    /// The artifact digest (SHA-256).
    pub digest: Vec<u8>,
    /// The signature.
    pub signature: Vec<u8>,
    /// The decoded `publicKey.content` (a PEM certificate or key).
    pub public_key: Vec<u8>,
}

/// Parses a hashedrekord v0.0.1 body.
pub fn parse_hashedrekord(body: &[u8]) -> Result<HashedRekord, TlogError> {
    let v: serde_json::Value = serde_json::from_slice(body)
        .map_err(|_| TlogError("the log entry body is not JSON".into()))?;
    let kind = v.get("kind").and_then(|k| k.as_str()).unwrap_or("");
    let version = v.get("apiVersion").and_then(|k| k.as_str()).unwrap_or("");
    if kind != "hashedrekord" || version != "0.0.1" {
        return err(format!(
            "the log entry is a {kind} {version} entry, not hashedrekord 0.0.1"
        ));
    }
    let s = |path: &[&str]| -> Result<String, TlogError> {
        let mut cur = &v["spec"];
        for p in path {
            cur = &cur[*p];
        }
        cur.as_str().map(str::to_string).ok_or_else(|| {
            TlogError(format!(
                "the hashedrekord entry has no spec.{}",
                path.join(".")
            ))
        })
    };
    if s(&["data", "hash", "algorithm"])? != "sha256" {
        return err("the hashedrekord entry does not use SHA-256");
    }
    let digest = hex_decode(&s(&["data", "hash", "value"])?)
        .ok_or_else(|| TlogError("entry digest is not hex".into()))?;
    let signature = STANDARD
        .decode(s(&["signature", "content"])?)
        .map_err(|_| TlogError("entry signature is not base64".into()))?;
    let public_key = STANDARD
        .decode(s(&["signature", "publicKey", "content"])?)
        .map_err(|_| TlogError("entry public key is not base64".into()))?;
    Ok(HashedRekord {
        digest,
        signature,
        public_key,
    })
}

/// RFC 6962 leaf hash.
pub fn leaf_hash(body: &[u8]) -> [u8; 32] {
    crypto::sha256_parts(&[&[0u8], body])
}

fn node_hash(l: &[u8], r: &[u8]) -> [u8; 32] {
    crypto::sha256_parts(&[&[1u8], l, r])
}

/// Recomputes the root from a leaf hash and an inclusion proof (RFC 9162
/// section 2.1.3.2); `None` when the proof is malformed for the tree size.
pub fn root_from_inclusion_proof(
    index: u64,
    size: u64,
    leaf: &[u8; 32],
    proof: &[Vec<u8>],
) -> Option<[u8; 32]> {
    if index >= size || proof.len() > MAX_PROOF_HASHES {
        return None;
    }
    let (mut fn_, mut sn) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if p.len() != 32 || sn == 0 {
            return None;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    (sn == 0).then_some(r)
}

/// A parsed signed note (checkpoint).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// First line: the log's origin string.
    pub origin: String,
    /// Tree size.
    pub size: u64,
    /// Root hash.
    pub root_hash: Vec<u8>,
    /// The signed text (lines through the blank separator, exclusive).
    pub signed_text: String,
    /// Signatures: (signer name, key hint, signature).
    pub signatures: Vec<(String, [u8; 4], Vec<u8>)>,
}

/// Parses a signed-note checkpoint.
pub fn parse_checkpoint(note: &str) -> Result<Checkpoint, TlogError> {
    let Some((text, sigs)) = note.split_once("\n\n") else {
        return err("the checkpoint is not a signed note (no blank line before its signatures)");
    };
    let signed_text = format!("{text}\n");
    let mut lines = text.split('\n');
    let origin = lines.next().unwrap_or("").to_string();
    let size = lines
        .next()
        .and_then(|l| l.parse::<u64>().ok())
        .ok_or_else(|| TlogError("the checkpoint has no tree size".into()))?;
    let root_hash = lines
        .next()
        .and_then(|l| STANDARD.decode(l).ok())
        .ok_or_else(|| TlogError("the checkpoint has no root hash".into()))?;
    let mut signatures = Vec::new();
    for line in sigs.lines().filter(|l| !l.is_empty()) {
        let Some(rest) = line.strip_prefix("\u{2014} ") else {
            return err("the checkpoint has a malformed signature line");
        };
        let Some((name, b64)) = rest.rsplit_once(' ') else {
            return err("the checkpoint has a malformed signature line");
        };
        let raw = STANDARD
            .decode(b64)
            .map_err(|_| TlogError("the checkpoint signature is not base64".into()))?;
        if raw.len() < 5 {
            return err("the checkpoint signature is too short");
        }
        let mut hint = [0u8; 4];
        hint.copy_from_slice(&raw[..4]);
        signatures.push((name.to_string(), hint, raw[4..].to_vec()));
    }
    if signatures.is_empty() {
        return err("the checkpoint carries no signature");
    }
    Ok(Checkpoint {
        origin,
        size,
        root_hash,
        signed_text,
        signatures,
    })
}

/// What a verified entry establishes.
#[derive(Debug, Clone)]
pub struct VerifiedEntry {
    /// The log that holds it.
    pub log_url: String,
    /// Global log index.
    pub log_index: u64,
    /// Integration time, now proven by the log's signature.
    pub integrated_time: i64,
    /// Whether an inclusion proof (with checkpoint) was checked, not only the SET.
    pub proof_checked: bool,
}

/// Verifies an entry whose `body` is set: log known and key valid at the
/// integration time, SET, inclusion proof and checkpoint (when present).
/// At least one of SET and inclusion proof is required.
pub fn verify_entry(entry: &LogEntry, root: &TrustedRoot) -> Result<VerifiedEntry, TlogError> {
    let log = root.tlog(&entry.log_id).ok_or_else(|| {
        TlogError(format!(
            "the transparency log entry is from an unknown log (id {}); it is not in the trusted root ({})",
            hex_lower(&entry.log_id),
            root.source
        ))
    })?;
    if !log.valid_for.contains(entry.integrated_time) {
        return err(format!(
            "the Rekor key of {} was not valid at the entry's integrated time {} (valid {})",
            log.base_url,
            crate::time::format_time(entry.integrated_time),
            log.valid_for.describe()
        ));
    }
    if entry.set.is_none() && entry.proof.is_none() {
        return err("the transparency log entry has neither a signed entry timestamp nor an inclusion proof");
    }
    if let Some(set) = &entry.set {
        verify_set(entry, set, log)?;
    }
    let mut proof_checked = false;
    if let Some(proof) = &entry.proof {
        verify_inclusion(entry, proof, log)?;
        proof_checked = true;
    }
    Ok(VerifiedEntry {
        log_url: log.base_url.clone(),
        log_index: entry.log_index,
        integrated_time: entry.integrated_time,
        proof_checked,
    })
}

fn verify_set(entry: &LogEntry, set: &[u8], log: &TransparencyLog) -> Result<(), TlogError> {
    let payload = canonical_json(&serde_json::json!({
        "body": STANDARD.encode(&entry.body),
        "integratedTime": entry.integrated_time,
        "logID": hex_lower(&entry.log_id),
        "logIndex": entry.log_index,
    }));
    crypto::verify(&log.key, crypto::default_scheme(&log.key), &payload, set).map_err(|_| {
        TlogError(format!(
            "the transparency log entry's signed entry timestamp (SET) does not verify with the key of {}: \
             the entry (its time, index or body) was altered or not signed by that log (rekorSET)",
            log.base_url
        ))
    })
}

fn verify_inclusion(
    entry: &LogEntry,
    proof: &InclusionProof,
    log: &TransparencyLog,
) -> Result<(), TlogError> {
    let leaf = leaf_hash(&entry.body);
    let root = root_from_inclusion_proof(proof.log_index, proof.tree_size, &leaf, &proof.hashes);
    if root.as_ref().map(|r| r.as_slice()) != Some(proof.root_hash.as_slice()) {
        return err(format!(
            "the transparency log entry's inclusion proof does not verify: the entry is not in the tree of size {} \
             with root {} (rekorInclusionProof)",
            proof.tree_size,
            hex_lower(&proof.root_hash)
        ));
    }
    let Some(note) = &proof.checkpoint else {
        return Ok(());
    };
    let cp = parse_checkpoint(note)?;
    if cp.size != proof.tree_size || cp.root_hash != proof.root_hash {
        return err(
            "the signed checkpoint does not match the inclusion proof's tree size and root",
        );
    }
    let hint = crypto::sha256(&log.key_spki);
    let signed = cp.signatures.iter().any(|(_, h, sig)| {
        h[..] == hint[..4]
            && crypto::verify(
                &log.key,
                checkpoint_scheme(log),
                cp.signed_text.as_bytes(),
                sig,
            )
            .is_ok()
    });
    if !signed {
        return err(format!(
            "the transparency log checkpoint \"{}\" is not signed by the key of {} (rekorCheckpointSig)",
            cp.origin, log.base_url
        ));
    }
    Ok(())
}

fn checkpoint_scheme(log: &TransparencyLog) -> SigScheme {
    crypto::default_scheme(&log.key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build_tree(leaves: &[[u8; 32]]) -> [u8; 32] {
        match leaves.len() {
            1 => leaves[0],
            n => {
                let k = n.next_power_of_two() / 2;
                let k = if k == n { n / 2 } else { k };
                node_hash(&build_tree(&leaves[..k]), &build_tree(&leaves[k..]))
            }
        }
    }

    fn proof(leaves: &[[u8; 32]], i: usize) -> Vec<Vec<u8>> {
        if leaves.len() == 1 {
            return vec![];
        }
        let n = leaves.len();
        let k = n.next_power_of_two() / 2;
        let k = if k == n { n / 2 } else { k };
        if i < k {
            let mut p = proof(&leaves[..k], i);
            p.push(build_tree(&leaves[k..]).to_vec());
            p
        } else {
            let mut p = proof(&leaves[k..], i - k);
            p.push(build_tree(&leaves[..k]).to_vec());
            p
        }
    }

    #[test]
    fn inclusion_proofs_for_every_shape() {
        for n in 1..=33usize {
            let leaves: Vec<[u8; 32]> = (0..n).map(|i| leaf_hash(&i.to_be_bytes())).collect();
            let root = build_tree(&leaves);
            for i in 0..n {
                let p = proof(&leaves, i);
                assert_eq!(
                    root_from_inclusion_proof(i as u64, n as u64, &leaves[i], &p),
                    Some(root),
                    "n={n} i={i}"
                );
                if !p.is_empty() {
                    let mut bad = p.clone();
                    bad[0][0] ^= 1;
                    assert_ne!(
                        root_from_inclusion_proof(i as u64, n as u64, &leaves[i], &bad),
                        Some(root)
                    );
                }
            }
        }
        assert_eq!(root_from_inclusion_proof(5, 5, &[0; 32], &[]), None);
    }

    #[test]
    fn hashedrekord_body_is_canonical() {
        let body = hashedrekord_body(&[0xab; 32], b"sig", "PEM\n");
        let s = String::from_utf8(body.clone()).unwrap();
        assert!(s.starts_with(r#"{"apiVersion":"0.0.1","kind":"hashedrekord","spec":{"data":{"hash":{"algorithm":"sha256","value":"abab"#));
        let parsed = parse_hashedrekord(&body).unwrap();
        assert_eq!(parsed.signature, b"sig");
        assert_eq!(parsed.public_key, b"PEM\n");
    }

    #[test]
    fn checkpoint_parsing() {
        let note = "rekor.sigstore.dev - 1\n5\nAAAA\n\n\u{2014} rekor.sigstore.dev AAAAAAAA\n";
        let cp = parse_checkpoint(note).unwrap();
        assert_eq!(cp.size, 5);
        assert_eq!(cp.signed_text, "rekor.sigstore.dev - 1\n5\nAAAA\n");
        assert!(parse_checkpoint("x\n5\nAAAA\n").is_err());
    }
}
