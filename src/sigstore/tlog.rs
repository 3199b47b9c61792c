//! Rekor transparency-log entries, v1 and v2 (rekor-tiles): the model, its
//! encodings (the protobuf `TransparencyLogEntry` gitsign embeds and Rekor
//! v2 returns, and Rekor v1's JSON API `LogEntry`), the entry bodies
//! (hashedrekord 0.0.1 and 0.0.2, dsse 0.0.2) and the offline checks: SET,
//! RFC 6962 inclusion proof, checkpoints as C2SP signed notes. No I/O here.

use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use prost::Message;
use serde::{Deserialize, Serialize};

use crate::encoding::asn1::{hex_decode, hex_lower};
use crate::pki::crypto;
use crate::sigstore::trust::{TransparencyLog, TrustedRoot, Validity};

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

impl LogEntry {
    /// Whether this is a Rekor v2 entry (kind version 0.0.2: hashedrekord or
    /// dsse). Rekor v2 signs no entry timestamp and keeps no integration
    /// time; such an entry is dated by an RFC 3161 timestamp alone. The kind
    /// version is covered by the inclusion proof through the body (which
    /// names its kind and apiVersion), so lying about it breaks the proof.
    pub fn is_v2(&self) -> bool {
        // intoto 0.0.2 is a Rekor v1 kind; only these two are Rekor v2's.
        self.kind_version
            .as_ref()
            .is_some_and(|(k, v)| v == "0.0.2" && (k == "hashedrekord" || k == "dsse"))
    }
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

/// The Sigstore `PublicKeyDetails` name of a signing key, as Rekor v2
/// verifiers record it (`keyDetails`); `None` for keys Rekor v2 entries
/// here cannot name.
pub fn key_details(key: &crypto::PublicKey) -> Option<&'static str> {
    match key {
        crypto::PublicKey::EcP256(_) => Some("PKIX_ECDSA_P256_SHA_256"),
        crypto::PublicKey::EcP384(_) => Some("PKIX_ECDSA_P384_SHA_384"),
        crypto::PublicKey::Ed25519(_) => Some("PKIX_ED25519"),
        crypto::PublicKey::Rsa(_) => None,
    }
}

/// A Rekor v2 `Verifier`: the signer's certificate (DER) or, for a managed
/// key, its SubjectPublicKeyInfo, and the key's details.
#[derive(Debug, Clone, Copy)]
pub enum V2Verifier<'a> {
    /// A certificate, DER.
    Certificate(&'a [u8]),
    /// A public key, DER SubjectPublicKeyInfo.
    PublicKey(&'a [u8]),
}

fn v2_verifier(
    verifier: V2Verifier<'_>,
    key: &crypto::PublicKey,
) -> Result<serde_json::Value, TlogError> {
    let details = key_details(key).ok_or_else(|| {
        TlogError(format!(
            "a {} key cannot be named in a Rekor v2 entry here",
            key.describe()
        ))
    })?;
    Ok(match verifier {
        V2Verifier::Certificate(der) => serde_json::json!({
            "keyDetails": details,
            "x509Certificate": {"rawBytes": STANDARD.encode(der)}
        }),
        V2Verifier::PublicKey(spki) => serde_json::json!({
            "keyDetails": details,
            "publicKey": {"rawBytes": STANDARD.encode(spki)}
        }),
    })
}

/// The hashedrekord 0.0.2 body (Rekor v2) for a signature over a SHA-256
/// digest, as the log writes it: the protobuf JSON of the entry,
/// canonicalized (RFC 8785), the form rekor-tiles hashes into its tree.
pub fn hashedrekord_v2_value(
    digest: &[u8; 32],
    signature: &[u8],
    verifier: V2Verifier<'_>,
    key: &crypto::PublicKey,
) -> Result<serde_json::Value, TlogError> {
    Ok(serde_json::json!({
        "apiVersion": "0.0.2",
        "kind": "hashedrekord",
        "spec": {"hashedRekordV002": {
            "data": {"algorithm": "SHA2_256", "digest": STANDARD.encode(digest)},
            "signature": {
                "content": STANDARD.encode(signature),
                "verifier": v2_verifier(verifier, key)?
            }
        }}
    }))
}

/// [`hashedrekord_v2_value`] as the canonical bytes.
pub fn hashedrekord_v2_body(
    digest: &[u8; 32],
    signature: &[u8],
    verifier: V2Verifier<'_>,
    key: &crypto::PublicKey,
) -> Result<Vec<u8>, TlogError> {
    hashedrekord_v2_value(digest, signature, verifier, key).map(|v| canonical_json(&v))
}

/// The dsse 0.0.2 body (Rekor v2) for a one-signature DSSE envelope: the
/// SHA-256 of the payload and the signature with its verifier.
pub fn dsse_v2_value(
    payload_digest: &[u8; 32],
    signature: &[u8],
    verifier: V2Verifier<'_>,
    key: &crypto::PublicKey,
) -> Result<serde_json::Value, TlogError> {
    Ok(serde_json::json!({
        "apiVersion": "0.0.2",
        "kind": "dsse",
        "spec": {"dsseV002": {
            "payloadHash": {"algorithm": "SHA2_256", "digest": STANDARD.encode(payload_digest)},
            "signatures": [{
                "content": STANDARD.encode(signature),
                "verifier": v2_verifier(verifier, key)?
            }]
        }}
    }))
}

/// Compares a Rekor v2 body with the one rebuilt from what was signed, as
/// parsed JSON (the log's field order and spacing do not matter, every
/// field and value does); also the kind and version the entry claims.
pub fn check_v2_body(body: &[u8], expected: &serde_json::Value) -> Result<(), TlogError> {
    if body.len() > MAX_ENTRY_LEN {
        return err("the log entry body is too large");
    }
    let actual: serde_json::Value = serde_json::from_slice(body)
        .map_err(|_| TlogError("the Rekor v2 log entry body is not JSON".into()))?;
    if &actual != expected {
        let kind = |v: &serde_json::Value| {
            format!(
                "{} {}",
                v["kind"].as_str().unwrap_or("?"),
                v["apiVersion"].as_str().unwrap_or("?")
            )
        };
        return err(format!(
            "the transparency log entry ({}) is for a different artifact, signature or signer than the one \
             verified here (its body differs from the {} entry rebuilt from them)",
            kind(&actual),
            kind(expected)
        ));
    }
    Ok(())
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

/// Largest checkpoint (signed note) accepted; real ones are ~300 bytes,
/// with witness cosignatures a few KiB.
const MAX_CHECKPOINT_LEN: usize = 64 * 1024;
/// Most signature lines read from one checkpoint.
const MAX_CHECKPOINT_SIGNATURES: usize = 64;

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
    /// Signatures: (key name, key hash, signature).
    pub signatures: Vec<(String, [u8; 4], Vec<u8>)>,
}

/// Parses a signed-note checkpoint: the note text (origin, tree size, root
/// hash, optional extension lines), a blank line, then one or more
/// signature lines `— <key name> <base64(key hash || signature)>`.
pub fn parse_checkpoint(note: &str) -> Result<Checkpoint, TlogError> {
    if note.len() > MAX_CHECKPOINT_LEN {
        return err("the checkpoint is too large");
    }
    let Some((text, sigs)) = note.split_once("\n\n") else {
        return err("the checkpoint is not a signed note (no blank line before its signatures)");
    };
    let signed_text = format!("{text}\n");
    let mut lines = text.split('\n');
    let origin = lines.next().unwrap_or("").to_string();
    if origin.is_empty() {
        return err("the checkpoint has no origin line");
    }
    let size = lines
        .next()
        .filter(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|l| l.parse::<u64>().ok())
        .ok_or_else(|| TlogError("the checkpoint has no tree size".into()))?;
    let root_hash = lines
        .next()
        .and_then(|l| STANDARD.decode(l).ok())
        .filter(|h| h.len() == 32)
        .ok_or_else(|| TlogError("the checkpoint has no root hash".into()))?;
    let mut signatures = Vec::new();
    for line in sigs.lines().filter(|l| !l.is_empty()) {
        if signatures.len() == MAX_CHECKPOINT_SIGNATURES {
            return err("the checkpoint carries too many signatures");
        }
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

/// What the log signed about an entry in its SET (inclusion promise).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Promise {
    /// Global log index.
    pub log_index: u64,
    /// When the log integrated the entry (seconds since the epoch).
    pub integrated_time: i64,
}

/// An inclusion proven against a checkpoint the log signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inclusion {
    /// The checkpoint's origin (the log and its tree).
    pub origin: String,
    /// The size of the signed tree.
    pub tree_size: u64,
    /// The entry's leaf index in that tree.
    pub leaf_index: u64,
}

/// What a verified entry establishes. Only what a signature of the log
/// covers is here: an entry's integration time and global index count only
/// through its SET; an inclusion proof only through a signed checkpoint.
#[derive(Debug, Clone)]
pub struct VerifiedEntry {
    /// The log that holds it.
    pub log_url: String,
    /// When the log's key may be used (checked here at the SET's time; the
    /// caller checks it at a timestamp authority's time when there is no SET).
    pub log_valid_for: Validity,
    /// The verified SET.
    pub promise: Option<Promise>,
    /// The verified inclusion proof.
    pub inclusion: Option<Inclusion>,
    /// A Rekor v2 entry: no SET, no integration time; only an RFC 3161
    /// timestamp can date it.
    pub v2: bool,
}

impl VerifiedEntry {
    /// The integration time the log signed, if it signed one.
    pub fn time(&self) -> Option<i64> {
        self.promise.map(|p| p.integrated_time)
    }

    /// The log index the log signed, if it signed one: the SET's (v1), or
    /// for a Rekor v2 entry the leaf index its checkpoint-backed inclusion
    /// proof establishes (a v2 shard's index is its tree's; a v1 proof's
    /// leaf index is shard-local, not the global index, so it is not used).
    pub fn log_index(&self) -> Option<u64> {
        match (&self.promise, &self.inclusion) {
            (Some(p), _) => Some(p.log_index),
            (None, Some(i)) if self.v2 => Some(i.leaf_index),
            _ => None,
        }
    }

    /// Checks that the log's key was valid at `t` (a time established by
    /// something else, e.g. an RFC 3161 timestamp).
    pub fn check_log_valid_at(&self, t: i64) -> Result<(), TlogError> {
        if self.log_valid_for.contains(t) {
            Ok(())
        } else {
            err(format!(
                "the key of the transparency log {} was not valid at {} (valid {})",
                self.log_url,
                crate::encoding::time::format_time(t),
                self.log_valid_for.describe()
            ))
        }
    }

    /// Names the entry and what was verified about it, for reports.
    pub fn describe(&self) -> String {
        let what = match (&self.promise, &self.inclusion) {
            (Some(p), Some(i)) => format!(
                "entry {} (signed entry timestamp verified; inclusion proven in tree {} of size {}, checkpoint signed by the log)",
                p.log_index, i.origin, i.tree_size
            ),
            (Some(p), None) => format!(
                "entry {} (signed entry timestamp verified; no inclusion proof)",
                p.log_index
            ),
            (None, Some(i)) if self.v2 => format!(
                "entry {} (inclusion proven in tree {} of size {}, checkpoint signed by the log)",
                i.leaf_index, i.origin, i.tree_size
            ),
            (None, Some(i)) => format!(
                "leaf {} of tree {} (inclusion proven against a checkpoint signed by the log of size {}; no signed entry timestamp)",
                i.leaf_index, i.origin, i.tree_size
            ),
            (None, None) => "entry (nothing verified)".into(),
        };
        let api = if self.v2 { "Rekor v2" } else { "Rekor" };
        format!("{api} {what} at {}", self.log_url)
    }
}

/// Verifies an entry whose `body` is set, against a log of the trusted
/// root: the SET, when present, with the log's key (and the key valid at
/// the integration time it signs); the inclusion proof, when present,
/// against a checkpoint that log signed (a proof without one, or with an
/// unsigned, foreign or mismatched one, is refused). At least one of the
/// two is required. Which time the signature then has is the caller's
/// question: [`VerifiedEntry::time`] is `None` without a SET.
pub fn verify_entry(entry: &LogEntry, root: &TrustedRoot) -> Result<VerifiedEntry, TlogError> {
    let log = root.tlog(&entry.log_id).ok_or_else(|| {
        TlogError(format!(
            "the transparency log entry is from an unknown log (id {}); it is not in the trusted root ({})",
            hex_lower(&entry.log_id),
            root.source
        ))
    })?;
    if entry.is_v2() {
        // Rekor v2 signs no entry timestamp: a SET beside a v2 entry is
        // nothing its log made, and its inclusion proof is all it has.
        if entry.set.is_some() {
            return err(
                "the Rekor v2 (0.0.2) log entry carries a signed entry timestamp, which Rekor v2 logs never \
                 sign; the entry was altered (rekorSET)",
            );
        }
        // Nor does it keep an integration time: one beside a v2 entry is
        // nothing its log vouched for (and never used as the time).
        if entry.integrated_time != 0 {
            return err(
                "the Rekor v2 (0.0.2) log entry carries an integratedTime, which Rekor v2 logs never \
                 record; the entry was altered (only an RFC 3161 timestamp dates a Rekor v2 signature)",
            );
        }
        let Some(proof) = &entry.proof else {
            return err(
                "the Rekor v2 log entry has no inclusion proof: nothing the log signed vouches for it \
                 (rekorInclusionProof)",
            );
        };
        let inclusion = verify_inclusion(entry, proof, log, true)?;
        return Ok(VerifiedEntry {
            log_url: log.base_url.clone(),
            log_valid_for: log.valid_for,
            promise: None,
            inclusion: Some(inclusion),
            v2: true,
        });
    }
    if entry.set.is_none() && entry.proof.is_none() {
        return err(
            "the transparency log entry has neither a signed entry timestamp (SET) nor an inclusion proof: \
             nothing the log signed vouches for it (rekorSET)",
        );
    }
    let promise = match &entry.set {
        Some(set) => {
            verify_set(entry, set, log)?;
            if !log.valid_for.contains(entry.integrated_time) {
                return err(format!(
                    "the Rekor key of {} was not valid at the entry's integrated time {} (valid {})",
                    log.base_url,
                    crate::encoding::time::format_time(entry.integrated_time),
                    log.valid_for.describe()
                ));
            }
            Some(Promise {
                log_index: entry.log_index,
                integrated_time: entry.integrated_time,
            })
        }
        None => None,
    };
    let inclusion = match &entry.proof {
        Some(proof) => Some(verify_inclusion(entry, proof, log, false)?),
        None => None,
    };
    Ok(VerifiedEntry {
        log_url: log.base_url.clone(),
        log_valid_for: log.valid_for,
        promise,
        inclusion,
        v2: false,
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
    v2: bool,
) -> Result<Inclusion, TlogError> {
    // The proof's root means nothing until the log has signed it.
    let Some(note) = &proof.checkpoint else {
        return err(
            "the transparency log entry's inclusion proof has no signed checkpoint, so nothing ties its root to \
             the log (rekorCheckpoint)",
        );
    };
    let cp = parse_checkpoint(note).map_err(|e| TlogError(format!("{e} (rekorCheckpoint)")))?;
    verify_checkpoint(&cp, log, v2)?;
    if cp.size != proof.tree_size || cp.root_hash != proof.root_hash {
        return err(format!(
            "the inclusion proof is for a tree of size {} with root {}, but the log's signed checkpoint is for \
             size {} with root {} (rekorCheckpoint)",
            proof.tree_size,
            hex_lower(&proof.root_hash),
            cp.size,
            hex_lower(&cp.root_hash)
        ));
    }
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
    Ok(Inclusion {
        origin: cp.origin,
        tree_size: cp.size,
        leaf_index: proof.log_index,
    })
}

/// The key name a log signs its checkpoints under: its URL without the
/// scheme, as Rekor does (`rekor.sigstore.dev`; Rekor v2:
/// `log2025-1.rekor.sigstore.dev`, the C2SP schema-less URL prefix, which
/// is also its origin). `None` for a log known only by its key
/// (`SIGSTORE_REKOR_PUBLIC_KEY`).
pub fn log_key_name(log: &TransparencyLog) -> Option<&str> {
    let rest = log
        .base_url
        .strip_prefix("https://")
        .or_else(|| log.base_url.strip_prefix("http://"))?;
    let rest = rest
        .split(['?', '#'])
        .next()
        .unwrap_or("")
        .trim_end_matches('/');
    (!rest.is_empty() && !rest.starts_with('/')).then_some(rest)
}

/// The C2SP key ID (signed-note key hash) of a log key under `name`: for
/// Ed25519, SHA-256(name || 0x0A || 0x01 || key); for ECDSA (and RSA) keys
/// as Rekor and rekor-tiles compute it, SHA-256 of the DER
/// SubjectPublicKeyInfo. The first four bytes are the hint on signature
/// lines; the whole hash is a Rekor v2 log's id.
pub fn checkpoint_key_id(key: &crypto::PublicKey, spki: &[u8], name: &str) -> [u8; 32] {
    match key {
        crypto::PublicKey::Ed25519(raw) => {
            crypto::sha256_parts(&[name.as_bytes(), b"\n", &[0x01], raw])
        }
        _ => crypto::sha256(spki),
    }
}

/// Whether `origin` names the log whose key name is `name`: Rekor v1 writes
/// `<name> - <tree id>` (one origin per shard), other logs `<name>`.
fn origin_names(origin: &str, name: &str) -> bool {
    origin == name
        || origin
            .strip_prefix(name)
            .and_then(|r| r.strip_prefix(" - "))
            .is_some_and(|tree| !tree.is_empty() && tree.bytes().all(|b| b.is_ascii_digit()))
}

/// A checkpoint counts only when a signature line whose key name and key
/// hash are both the log's verifies with the log's key, and its origin names
/// that log (for Rekor v2 entries: is exactly its origin). Other lines
/// (witness cosignatures, other logs, lines under the log's name with
/// another key) are ignored, in any order and number.
fn verify_checkpoint(cp: &Checkpoint, log: &TransparencyLog, v2: bool) -> Result<(), TlogError> {
    let name = log_key_name(log);
    let signed_by = cp.signatures.iter().find(|(n, h, sig)| {
        name.is_none_or(|name| n == name)
            && h[..] == checkpoint_key_id(&log.key, &log.key_spki, n)[..4]
            && crypto::verify(
                &log.key,
                crypto::default_scheme(&log.key),
                cp.signed_text.as_bytes(),
                sig,
            )
            .is_ok()
    });
    let Some((signer, _, _)) = signed_by else {
        return err(format!(
            "the transparency log checkpoint \"{}\" is not signed by the key of {} under its name {} \
             (rekorCheckpointSig)",
            cp.origin,
            if log.base_url.is_empty() { "the configured Rekor key" } else { &log.base_url },
            name.unwrap_or("(any)")
        ));
    };
    let expected = name.unwrap_or(signer);
    let ok = if v2 {
        cp.origin == expected
    } else {
        origin_names(&cp.origin, expected)
    };
    if !ok {
        return err(format!(
            "the transparency log checkpoint's origin \"{}\" is not the log {} (rekorCheckpointOrigin)",
            cp.origin, expected
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A log's C2SP key name is its URL without the scheme, query, fragment
    /// or trailing slash; a URL with no host left names none.
    #[test]
    fn log_key_names() {
        let name = |url: &str| {
            let log = TransparencyLog {
                base_url: url.into(),
                key: crypto::PublicKey::Ed25519(vec![0; 32]),
                key_spki: Vec::new(),
                log_id: Vec::new(),
                valid_for: Validity::default(),
                checkpoint_key_id: None,
            };
            log_key_name(&log).map(str::to_string)
        };
        assert_eq!(name("https://log.example/").as_deref(), Some("log.example"));
        assert_eq!(
            name("http://host:8080/a/?q=1#f").as_deref(),
            Some("host:8080/a")
        );
        assert_eq!(
            name("https://log2025-1.rekor.sigstore.dev").as_deref(),
            Some("log2025-1.rekor.sigstore.dev")
        );
        for none in [
            "https://",
            "https:///",
            "https:///path",
            "ftp://log.example",
            "log.example",
        ] {
            assert_eq!(name(none), None, "{none}");
        }
    }

    /// What a verified entry establishes: the global index and time only
    /// through a SET; a v2 entry's index through its proof; a v1 proof's
    /// shard-local leaf index never as the entry's index. The log's key
    /// window includes both ends.
    #[test]
    fn what_a_verified_entry_establishes() {
        let entry =
            |promise: Option<Promise>, inclusion: Option<Inclusion>, v2: bool| VerifiedEntry {
                log_url: "https://log.example".into(),
                log_valid_for: Validity {
                    start: Some(100),
                    end: Some(200),
                },
                promise,
                inclusion,
                v2,
            };
        let promise = Some(Promise {
            log_index: 7,
            integrated_time: 150,
        });
        let inclusion = Some(Inclusion {
            origin: "log.example - 1".into(),
            tree_size: 10,
            leaf_index: 3,
        });
        let both = entry(promise, inclusion.clone(), false);
        assert_eq!((both.log_index(), both.time()), (Some(7), Some(150)));
        assert_eq!(
            both.describe(),
            "Rekor entry 7 (signed entry timestamp verified; inclusion proven in tree \
             log.example - 1 of size 10, checkpoint signed by the log) at https://log.example"
        );
        let set_only = entry(promise, None, false);
        assert_eq!(set_only.log_index(), Some(7));
        assert_eq!(
            set_only.describe(),
            "Rekor entry 7 (signed entry timestamp verified; no inclusion proof) at \
             https://log.example"
        );
        let v1_proof = entry(None, inclusion.clone(), false);
        assert_eq!((v1_proof.log_index(), v1_proof.time()), (None, None));
        assert_eq!(
            v1_proof.describe(),
            "Rekor leaf 3 of tree log.example - 1 (inclusion proven against a checkpoint signed \
             by the log of size 10; no signed entry timestamp) at https://log.example"
        );
        let v2 = entry(None, inclusion, true);
        assert_eq!((v2.log_index(), v2.time()), (Some(3), None));
        assert_eq!(
            v2.describe(),
            "Rekor v2 entry 3 (inclusion proven in tree log.example - 1 of size 10, checkpoint \
             signed by the log) at https://log.example"
        );
        assert_eq!(
            entry(None, None, false).describe(),
            "Rekor entry (nothing verified) at https://log.example"
        );
        for t in [100, 150, 200] {
            assert!(both.check_log_valid_at(t).is_ok(), "{t}");
        }
        for t in [99, 201] {
            let e = both.check_log_valid_at(t).unwrap_err().0;
            assert!(
                e.starts_with(&format!(
                    "the key of the transparency log https://log.example was not valid at {} (valid ",
                    crate::encoding::time::format_time(t)
                )),
                "{e}"
            );
        }
    }

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

    /// The size bounds let through input of exactly the bound and refuse one
    /// byte more (each check names the size, not a parse failure).
    #[test]
    fn size_bounds_are_inclusive() {
        let too_large = |r: Result<(), TlogError>| matches!(r, Err(e) if e.0.contains("too large"));
        // A protobuf entry: field 7 (bytes) filling the bound exactly.
        let entry = |total: usize| {
            let n = total - 4; // tag byte and a three-byte length
            let mut b = vec![
                0x3a,
                (n & 0x7f) as u8 | 0x80,
                ((n >> 7) & 0x7f) as u8 | 0x80,
                (n >> 14) as u8,
            ];
            b.resize(total, b'x');
            b
        };
        assert!(!too_large(
            LogEntry::from_protobuf(&entry(MAX_ENTRY_LEN)).map(drop)
        ));
        assert!(too_large(
            LogEntry::from_protobuf(&entry(MAX_ENTRY_LEN + 1)).map(drop)
        ));
        let json = |total: usize| {
            let mut b = b"{}".to_vec();
            b.resize(total, b' ');
            b
        };
        assert!(!too_large(
            LogEntry::from_rekor_json(&json(16 * MAX_ENTRY_LEN)).map(drop)
        ));
        assert!(too_large(
            LogEntry::from_rekor_json(&json(16 * MAX_ENTRY_LEN + 1)).map(drop)
        ));
        let expected = serde_json::json!({});
        assert!(check_v2_body(&json(MAX_ENTRY_LEN), &expected).is_ok());
        assert!(too_large(check_v2_body(
            &json(MAX_ENTRY_LEN + 1),
            &expected
        )));
        // The limits as documented, in numbers: an entry of 256 KiB, a
        // Rekor v1 JSON answer of 4 MiB.
        assert!(!too_large(
            LogEntry::from_protobuf(&entry(262_144)).map(drop)
        ));
        assert!(too_large(
            LogEntry::from_protobuf(&entry(262_145)).map(drop)
        ));
        assert!(!too_large(
            LogEntry::from_rekor_json(&json(4_194_304)).map(drop)
        ));
        assert!(too_large(
            LogEntry::from_rekor_json(&json(4_194_305)).map(drop)
        ));
    }

    /// A proof of 64 hashes (the deepest a 64-bit tree has) is computed;
    /// a 65th is refused. A checkpoint of exactly its size limit is read,
    /// one byte more is too large.
    #[test]
    fn proof_and_checkpoint_bounds() {
        let leaf = [1u8; 32];
        let deepest = vec![vec![2u8; 32]; 64];
        assert!(root_from_inclusion_proof(0, u64::MAX, &leaf, &deepest).is_some());
        let mut deeper = deepest.clone();
        deeper.push(vec![2u8; 32]);
        assert!(root_from_inclusion_proof(0, u64::MAX, &leaf, &deeper).is_none());
        let note = |n: usize| {
            let mut t = String::from("x\n1\n");
            t.push_str(&"a".repeat(n - t.len()));
            t
        };
        let too_large =
            |t: &str| matches!(parse_checkpoint(t), Err(e) if e.0.contains("too large"));
        assert!(!too_large(&note(MAX_CHECKPOINT_LEN)));
        assert!(too_large(&note(MAX_CHECKPOINT_LEN + 1)));
        // In numbers: 64 KiB.
        assert!(!too_large(&note(65_536)));
        assert!(too_large(&note(65_537)));
        // 64 signature lines are read, a 65th is refused; a signature is
        // a 4-byte key hint and at least one byte.
        let signed = |lines: usize, raw: &[u8]| {
            let mut t = format!("o\n1\n{}\n\n", STANDARD.encode([0u8; 32]));
            for _ in 0..lines {
                t.push_str(&format!("\u{2014} k {}\n", STANDARD.encode(raw)));
            }
            parse_checkpoint(&t)
                .map(|c| c.signatures.len())
                .map_err(|e| e.0)
        };
        assert_eq!(signed(64, &[1, 2, 3, 4, 5]), Ok(64));
        assert_eq!(
            signed(65, &[1, 2, 3, 4, 5]).unwrap_err(),
            "the checkpoint carries too many signatures"
        );
        assert_eq!(
            signed(1, &[1, 2, 3, 4]).unwrap_err(),
            "the checkpoint signature is too short"
        );
        assert_eq!(
            signed(0, &[]).unwrap_err(),
            "the checkpoint carries no signature"
        );
    }

    /// Only hashedrekord 0.0.1 bodies are read: another version of the
    /// kind, or another kind of the version, is refused by name.
    #[test]
    fn only_hashedrekord_0_0_1_is_read() {
        for (kind, version) in [
            ("hashedrekord", "0.0.2"),
            ("rekord", "0.0.1"),
            ("dsse", "0.0.2"),
        ] {
            let body = serde_json::json!({"kind": kind, "apiVersion": version, "spec": {}});
            let e = parse_hashedrekord(body.to_string().as_bytes()).unwrap_err();
            assert!(e.0.contains(&format!("is a {kind} {version} entry")), "{e}");
        }
        let body = serde_json::json!({"kind": "hashedrekord", "apiVersion": "0.0.1", "spec": {}});
        let e = parse_hashedrekord(body.to_string().as_bytes()).unwrap_err();
        assert!(e.0.contains("has no spec."), "{e}");
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
        // An index at or past the tree's size proves nothing, even where
        // the arithmetic would come out (a one-leaf tree, an empty one).
        let leaf = leaf_hash(b"x");
        assert_eq!(root_from_inclusion_proof(0, 1, &leaf, &[]), Some(leaf));
        assert_eq!(root_from_inclusion_proof(1, 1, &leaf, &[]), None);
        assert_eq!(root_from_inclusion_proof(0, 0, &leaf, &[]), None);
        // A hash past the root, or one of another length, spoils the proof.
        let leaves: Vec<[u8; 32]> = (0..5u8).map(|i| leaf_hash(&[i])).collect();
        let p = proof(&leaves, 2);
        assert_eq!(
            root_from_inclusion_proof(2, 5, &leaves[2], &p),
            Some(build_tree(&leaves))
        );
        let mut longer = p.clone();
        longer.push(vec![0; 32]);
        assert_eq!(root_from_inclusion_proof(2, 5, &leaves[2], &longer), None);
        let mut short_hash = p.clone();
        short_hash[0].pop();
        assert_eq!(
            root_from_inclusion_proof(2, 5, &leaves[2], &short_hash),
            None
        );
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

    /// A log with a fresh P-256 key at `url`, and a signer of notes.
    fn test_log(url: &str) -> (TransparencyLog, p256::ecdsa::SigningKey) {
        use p256::pkcs8::EncodePublicKey;
        let sk = p256::ecdsa::SigningKey::from_slice(&[7u8; 32]).unwrap();
        let spki = sk
            .verifying_key()
            .to_public_key_der()
            .unwrap()
            .as_bytes()
            .to_vec();
        let log = TransparencyLog {
            base_url: url.into(),
            key: crypto::PublicKey::from_spki(&spki).unwrap(),
            log_id: crypto::sha256(&spki).to_vec(),
            key_spki: spki,
            valid_for: Validity::default(),
            checkpoint_key_id: None,
        };
        (log, sk)
    }

    /// A signed note over `text` with one line per (name, key, hint).
    fn note(text: &str, lines: &[(&str, &p256::ecdsa::SigningKey, [u8; 4])]) -> String {
        use p256::ecdsa::signature::Signer;
        let mut out = format!("{text}\n");
        for (name, key, hint) in lines {
            let sig: p256::ecdsa::Signature = key.sign(text.as_bytes());
            let mut raw = hint.to_vec();
            raw.extend_from_slice(sig.to_der().as_bytes());
            out.push_str(&format!("\u{2014} {name} {}\n", STANDARD.encode(raw)));
        }
        out
    }

    #[test]
    fn checkpoints_count_only_under_the_logs_name_key_and_origin() {
        let (log, sk) = test_log("https://rekor.example.dev");
        let other = p256::ecdsa::SigningKey::from_slice(&[9u8; 32]).unwrap();
        let hint: [u8; 4] = crypto::sha256(&log.key_spki)[..4].try_into().unwrap();
        let root = STANDARD.encode([1u8; 32]);
        let text = format!("rekor.example.dev - 42\n5\n{root}\n");
        let check = |n: &str| verify_checkpoint(&parse_checkpoint(n).unwrap(), &log, false);

        assert!(check(&note(&text, &[("rekor.example.dev", &sk, hint)])).is_ok());
        // Extra lines (witnesses, other logs) are ignored, in any order.
        assert!(check(&note(
            &text,
            &[
                ("witness.example", &other, [1, 2, 3, 4]),
                ("rekor.example.dev", &sk, hint)
            ]
        ))
        .is_ok());
        // The log's key under another name, another key under its name,
        // its name and key with another key hash: none counts.
        let e = check(&note(&text, &[("other.example", &sk, hint)])).unwrap_err();
        assert!(e.0.contains("rekorCheckpointSig"), "{e}");
        let e = check(&note(&text, &[("rekor.example.dev", &other, hint)])).unwrap_err();
        assert!(e.0.contains("rekorCheckpointSig"), "{e}");
        let e = check(&note(&text, &[("rekor.example.dev", &sk, [0; 4])])).unwrap_err();
        assert!(e.0.contains("rekorCheckpointSig"), "{e}");
        // Signed by the log, but naming another log or not a Rekor origin.
        for origin in [
            "other.example - 42",
            "rekor.example.dev - x",
            "rekor.example.dev.evil - 1",
            "rekor.example.devx",
        ] {
            let t = format!("{origin}\n5\n{root}\n");
            let e = check(&note(&t, &[("rekor.example.dev", &sk, hint)])).unwrap_err();
            assert!(e.0.contains("rekorCheckpointOrigin"), "{origin}: {e}");
        }
        // The bare name is an origin too (Rekor v2 style).
        let t = format!("rekor.example.dev\n5\n{root}\n");
        assert!(check(&note(&t, &[("rekor.example.dev", &sk, hint)])).is_ok());
        // A log known only by its key (SIGSTORE_REKOR_PUBLIC_KEY): any name,
        // but the origin must be the name that signed.
        let mut keyonly = log.clone();
        keyonly.base_url.clear();
        let cp = parse_checkpoint(&note(
            &format!("my.log - 1\n5\n{root}\n"),
            &[("my.log", &sk, hint)],
        ))
        .unwrap();
        assert!(verify_checkpoint(&cp, &keyonly, false).is_ok());
        let cp = parse_checkpoint(&note(
            &format!("their.log - 1\n5\n{root}\n"),
            &[("my.log", &sk, hint)],
        ))
        .unwrap();
        assert!(verify_checkpoint(&cp, &keyonly, false).is_err());
    }

    /// A Rekor v2 checkpoint: the origin is exactly the log's (no shard
    /// suffix), signed by an Ed25519 key under its C2SP key ID; witness
    /// lines and other keys' lines under the same name are ignored.
    #[test]
    fn v2_checkpoints_need_the_exact_origin_and_the_c2sp_key_id() {
        use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
        let pair = Ed25519KeyPair::from_seed_unchecked(&[5u8; 32]).unwrap();
        let mut spki = vec![
            0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
        ];
        spki.extend_from_slice(pair.public_key().as_ref());
        let key = crypto::PublicKey::from_spki(&spki).unwrap();
        let log = TransparencyLog {
            base_url: "https://log.example.dev".into(),
            log_id: checkpoint_key_id(&key, &spki, "log.example.dev").to_vec(),
            key,
            key_spki: spki.clone(),
            valid_for: Validity::default(),
            checkpoint_key_id: None,
        };
        let root = STANDARD.encode([3u8; 32]);
        let line = |name: &str, text: &str, hint: [u8; 4]| {
            let mut raw = hint.to_vec();
            raw.extend_from_slice(pair.sign(text.as_bytes()).as_ref());
            format!("\u{2014} {name} {}\n", STANDARD.encode(raw))
        };
        let hint: [u8; 4] = log.log_id[..4].try_into().unwrap();
        let check = |text: &str, lines: &str, v2: bool| {
            verify_checkpoint(
                &parse_checkpoint(&format!("{text}\n{lines}")).unwrap(),
                &log,
                v2,
            )
        };
        let text = format!("log.example.dev\n7\n{root}\n");
        assert!(check(&text, &line("log.example.dev", &text, hint), true).is_ok());
        let witness = format!("\u{2014} witness.example AQIDBA{}\n", "A".repeat(86));
        let other = line("log.example.dev", &text, [9, 9, 9, 9]);
        let own = line("log.example.dev", &text, hint);
        assert!(check(&text, &format!("{witness}{other}{own}"), true).is_ok());
        // The ECDSA-style hint (SHA-256 of the SPKI) is not this key's ID.
        let sha_hint: [u8; 4] = crypto::sha256(&spki)[..4].try_into().unwrap();
        let e = check(&text, &line("log.example.dev", &text, sha_hint), true).unwrap_err();
        assert!(e.0.contains("rekorCheckpointSig"), "{e}");
        // A Rekor v1 style origin is not a v2 log's origin.
        let t = format!("log.example.dev - 42\n7\n{root}\n");
        let e = check(&t, &line("log.example.dev", &t, hint), true).unwrap_err();
        assert!(e.0.contains("rekorCheckpointOrigin"), "{e}");
        assert!(check(&t, &line("log.example.dev", &t, hint), false).is_ok());
    }

    #[test]
    fn a_proof_counts_only_against_the_signed_checkpoint() {
        let (log, sk) = test_log("http://127.0.0.1:1234");
        let hint: [u8; 4] = crypto::sha256(&log.key_spki)[..4].try_into().unwrap();
        let leaves: Vec<[u8; 32]> = (0..5u8).map(|i| leaf_hash(&[i])).collect();
        let root = build_tree(&leaves);
        let body = vec![3u8];
        let signed = |size: u64, root: &[u8]| {
            note(
                &format!("127.0.0.1:1234 - 9\n{size}\n{}\n", STANDARD.encode(root)),
                &[("127.0.0.1:1234", &sk, hint)],
            )
        };
        let entry =
            |cp: Option<String>, size: u64, root: &[u8], hashes: Vec<Vec<u8>>, index: u64| {
                LogEntry {
                    log_index: 99,
                    log_id: log.log_id.clone(),
                    integrated_time: 5,
                    body: body.clone(),
                    set: None,
                    proof: Some(InclusionProof {
                        log_index: index,
                        root_hash: root.to_vec(),
                        tree_size: size,
                        hashes,
                        checkpoint: cp,
                    }),
                    kind_version: None,
                }
            };
        let good = entry(Some(signed(5, &root)), 5, &root, proof(&leaves, 3), 3);
        let inc = verify_inclusion(&good, good.proof.as_ref().unwrap(), &log, false).unwrap();
        assert_eq!(inc.tree_size, 5);
        assert_eq!(inc.origin, "127.0.0.1:1234 - 9");
        // Self-rooted: one leaf, no checkpoint.
        let own = leaf_hash(&body);
        let e = entry(None, 1, &own, vec![], 0);
        assert!(verify_inclusion(&e, e.proof.as_ref().unwrap(), &log, false)
            .unwrap_err()
            .0
            .contains("no signed checkpoint"));
        // Self-rooted with a checkpoint the log signed for another tree.
        let e = entry(Some(signed(5, &root)), 1, &own, vec![], 0);
        assert!(verify_inclusion(&e, e.proof.as_ref().unwrap(), &log, false).is_err());
        // The log signed a checkpoint for the self-rooted "tree": the proof
        // is then the log's claim, and it does hold (the log vouched).
        let e = entry(Some(signed(1, &own)), 1, &own, vec![], 0);
        assert!(verify_inclusion(&e, e.proof.as_ref().unwrap(), &log, false).is_ok());
        // Right checkpoint, wrong index.
        let e = entry(Some(signed(5, &root)), 5, &root, proof(&leaves, 3), 2);
        assert!(verify_inclusion(&e, e.proof.as_ref().unwrap(), &log, false)
            .unwrap_err()
            .0
            .contains("rekorInclusionProof"));
    }

    /// C2SP key IDs of the public logs, against the ids their trusted
    /// roots publish (Ed25519: SHA-256(name || 0x0A || 0x01 || key)).
    #[test]
    fn c2sp_key_ids_of_the_public_rekor_v2_logs() {
        for (name, spki, id) in [
            (
                "log2025-1.rekor.sigstore.dev",
                "MCowBQYDK2VwAyEAt8rlp1knGwjfbcXAYPYAkn0XiLz1x8O4t0YkEhie244=",
                "zxGZFVvd0FEmjR8WrFwMdcAJ9vtaY/QXf44Y1wUeP6A=",
            ),
            (
                "log2025-alpha1.rekor.sigstage.dev",
                "MCowBQYDK2VwAyEAPn+AREHoBaZ7wgS1zBqpxmLSGnyhxXj4lFxSdWVB8o8=",
                "8w1amZ2S5mJIQkQmPxdMuOrL/oJkvFg9MnQXmeOCXck=",
            ),
        ] {
            let spki = STANDARD.decode(spki).unwrap();
            let key = crypto::PublicKey::from_spki(&spki).unwrap();
            assert_eq!(
                STANDARD.encode(checkpoint_key_id(&key, &spki, name)),
                id,
                "{name}"
            );
        }
        // ECDSA logs: SHA-256 of the key, whatever the name (Rekor v1's hint).
        let (log, _) = test_log("https://rekor.example.dev");
        assert_eq!(
            checkpoint_key_id(&log.key, &log.key_spki, "x"),
            crypto::sha256(&log.key_spki)
        );
        // The embedded public-good root finds its v2 log by that id.
        let root = TrustedRoot::public_good();
        let id = STANDARD
            .decode("zxGZFVvd0FEmjR8WrFwMdcAJ9vtaY/QXf44Y1wUeP6A=")
            .unwrap();
        assert_eq!(
            root.tlog(&id).map(|l| l.base_url.as_str()),
            Some("https://log2025-1.rekor.sigstore.dev")
        );
    }

    #[test]
    fn checkpoint_parsing() {
        let root = STANDARD.encode([0xab; 32]);
        let note = format!(
            "rekor.sigstore.dev - 1\n5\n{root}\nTimestamp: 1\n\n\u{2014} rekor.sigstore.dev AAAAAAAA\n"
        );
        let cp = parse_checkpoint(&note).unwrap();
        assert_eq!(cp.size, 5);
        assert_eq!(cp.root_hash, [0xab; 32]);
        assert_eq!(
            cp.signed_text,
            format!("rekor.sigstore.dev - 1\n5\n{root}\nTimestamp: 1\n")
        );
        for bad in [
            format!("x\n5\n{root}\n"),
            format!("\n5\n{root}\n\n\u{2014} a AAAAAAAA\n"),
            format!("x\n+5\n{root}\n\n\u{2014} a AAAAAAAA\n"),
            "x\n5\nAAAA\n\n\u{2014} a AAAAAAAA\n".to_string(),
            format!("x\n5\n{root}\n\n- a AAAAAAAA\n"),
            format!("x\n5\n{root}\n\n\u{2014} a AAAA\n"),
            format!("x\n5\n{root}\n\n"),
        ] {
            assert!(parse_checkpoint(&bad).is_err(), "{bad:?}");
        }
        let many = format!("x\n5\n{root}\n\n{}", "\u{2014} a AAAAAAAA\n".repeat(65));
        assert!(parse_checkpoint(&many).is_err());
    }
}
