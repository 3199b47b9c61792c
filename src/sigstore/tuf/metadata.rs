//! TUF metadata: the four top-level roles' documents, their keys, and the
//! threshold signature check (TUF specification 1.0, sections 4 and 5).
//!
//! A document is parsed once into a JSON value; its `signed` part is
//! re-encoded canonically ([`super::cjson`]) and that encoding is what the
//! signatures are checked over, so what is verified is exactly what is
//! read. Keys this client cannot use (another key type or scheme) are kept
//! out of the count, never an error: a root may list keys for other
//! clients.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;
use serde_json::Value;

use crate::encoding::asn1::hex_decode;
use crate::pki::crypto::{self, Hash, PublicKey, SigScheme};

/// Most signatures one document may carry (each costs a verification).
const MAX_SIGNATURES: usize = 64;
/// Most keys a root may list.
const MAX_KEYS: usize = 256;

/// The four top-level roles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// root.json
    Root,
    /// timestamp.json
    Timestamp,
    /// snapshot.json
    Snapshot,
    /// targets.json
    Targets,
}

impl Kind {
    /// The role name (also `_type`).
    pub fn name(self) -> &'static str {
        match self {
            Kind::Root => "root",
            Kind::Timestamp => "timestamp",
            Kind::Snapshot => "snapshot",
            Kind::Targets => "targets",
        }
    }
}

/// A signed document: the `signed` value and its signatures.
#[derive(Debug, Clone)]
pub struct Envelope {
    /// The `signed` object as parsed.
    pub signed: Value,
    /// Canonical encoding of `signed`: the bytes the signatures cover.
    pub canonical: Vec<u8>,
    /// `(keyid, signature bytes)`; signatures that are not hex are dropped.
    pub signatures: Vec<(String, Vec<u8>)>,
}

#[derive(Deserialize)]
struct RawEnvelope {
    signatures: Vec<RawSig>,
    signed: Value,
}

#[derive(Deserialize)]
struct RawSig {
    keyid: String,
    sig: String,
}

impl Envelope {
    /// Parses a document; `file` names it in messages.
    pub fn parse(bytes: &[u8], file: &str) -> Result<Envelope, String> {
        let raw: RawEnvelope = serde_json::from_slice(bytes)
            .map_err(|e| format!("{file} is not TUF metadata: {e}"))?;
        if raw.signatures.len() > MAX_SIGNATURES {
            return Err(format!(
                "{file} carries {} signatures, more than the {MAX_SIGNATURES} accepted",
                raw.signatures.len()
            ));
        }
        let canonical = super::cjson::encode(&raw.signed)
            .map_err(|e| format!("{file} cannot be encoded canonically: {e}"))?;
        let signatures = raw
            .signatures
            .into_iter()
            .filter_map(|s| hex_decode(&s.sig).map(|b| (s.keyid, b)))
            .collect();
        Ok(Envelope {
            signed: raw.signed,
            canonical,
            signatures,
        })
    }

    /// Checks `_type`, `spec_version` (1.x) and reads the common fields.
    pub fn header(&self, kind: Kind, file: &str) -> Result<Header, String> {
        let h: RawHeader = serde_json::from_value(self.signed.clone())
            .map_err(|e| format!("{file} is not valid {} metadata: {e}", kind.name()))?;
        if h.type_ != kind.name() {
            return Err(format!(
                "{file} is {} metadata, not {}",
                h.type_,
                kind.name()
            ));
        }
        let major = h.spec_version.split('.').next().unwrap_or_default();
        if major != "1" {
            return Err(format!(
                "{file} follows TUF specification version {}, which this client (1.x) does not \
                 support",
                h.spec_version
            ));
        }
        if h.version == 0 {
            return Err(format!("{file} has version 0; versions start at 1"));
        }
        let expires = crate::encoding::time::parse_rfc3339(&h.expires)
            .ok_or_else(|| format!("{file} has an unreadable expiry \"{}\"", h.expires))?;
        Ok(Header {
            version: h.version,
            expires,
        })
    }

    /// Verifies that at least `role.threshold` distinct keys of `role`
    /// signed this document. `who` names the role and the root it comes
    /// from in the message.
    pub fn verify(
        &self,
        role: &Role,
        keys: &BTreeMap<String, Key>,
        file: &str,
        who: &str,
    ) -> Result<(), String> {
        if role.threshold == 0 {
            return Err(format!("{who} has threshold 0, which TUF forbids"));
        }
        let allowed: BTreeSet<&str> = role.keyids.iter().map(String::as_str).collect();
        // Distinct keys by their material in its canonical encoding (see
        // [`canonical`]: every usable key is stored that way), so one key
        // listed under two ids, however each spells it, counts once.
        let mut good: Vec<&PublicKey> = Vec::new();
        for (keyid, sig) in &self.signatures {
            if !allowed.contains(keyid.as_str()) {
                continue;
            }
            let Some(key) = keys.get(keyid) else { continue };
            let (Some(pk), Some(scheme)) = (&key.public, key.scheme) else {
                continue;
            };
            if good.contains(&pk) {
                continue;
            }
            if crypto::verify(pk, scheme, &self.canonical, sig).is_ok() {
                good.push(pk);
            }
        }
        if (good.len() as u64) < u64::from(role.threshold) {
            return Err(format!(
                "{file} is not signed by enough keys of {who}: {} of the {} required signatures \
                 verify",
                good.len(),
                role.threshold
            ));
        }
        Ok(())
    }
}

#[derive(Deserialize)]
struct RawHeader {
    #[serde(rename = "_type")]
    type_: String,
    spec_version: String,
    version: u64,
    expires: String,
}

/// Version and expiry, common to every role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// The document's version.
    pub version: u64,
    /// When it expires, seconds since the epoch.
    pub expires: i64,
}

/// A key as a root (or delegation) lists it.
#[derive(Debug, Clone)]
pub struct Key {
    /// The key, when this client can use it.
    pub public: Option<PublicKey>,
    /// How it signs, when this client can use it.
    pub scheme: Option<SigScheme>,
}

#[derive(Deserialize)]
struct RawKey {
    keytype: String,
    scheme: String,
    keyval: RawKeyVal,
}

#[derive(Deserialize)]
struct RawKeyVal {
    public: String,
}

impl Key {
    fn from_raw(k: RawKey) -> Key {
        let usable = |public: PublicKey, scheme: SigScheme| Key {
            public: Some(public),
            scheme: Some(scheme),
        };
        let unusable = Key {
            public: None,
            scheme: None,
        };
        let pem_key = || PublicKey::from_pem_or_der(k.keyval.public.as_bytes()).ok();
        match (k.keytype.as_str(), k.scheme.as_str()) {
            ("ed25519", "ed25519") => match hex_decode(&k.keyval.public) {
                Some(b) => match canonical(PublicKey::Ed25519(b)) {
                    Some(p) => usable(p, SigScheme::Ed25519),
                    None => unusable,
                },
                _ => unusable,
            },
            ("ecdsa" | "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp256") => {
                match pem_key().and_then(canonical) {
                    Some(p @ PublicKey::EcP256(_)) => usable(p, SigScheme::Ecdsa(Hash::Sha256)),
                    _ => unusable,
                }
            }
            ("ecdsa" | "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp384") => {
                match pem_key().and_then(canonical) {
                    Some(p @ PublicKey::EcP384(_)) => usable(p, SigScheme::Ecdsa(Hash::Sha384)),
                    _ => unusable,
                }
            }
            _ => unusable,
        }
    }
}

/// A key in its one canonical encoding, so that the threshold count (which
/// compares keys) sees one key once however the root spells it: a P-256
/// point decoded (it must be on the curve) and re-encoded uncompressed; a
/// P-384 point only in its uncompressed form (this client has no P-384
/// point arithmetic to decompress one: a compressed or hybrid P-384 key is
/// not used); an Ed25519 key as its 32 bytes. `None`: not a key this
/// client can count.
pub fn canonical(key: PublicKey) -> Option<PublicKey> {
    match key {
        PublicKey::EcP256(b) => {
            let p = p256::PublicKey::from_sec1_bytes(&b).ok()?;
            let pt = p256::elliptic_curve::sec1::ToEncodedPoint::to_encoded_point(&p, false);
            Some(PublicKey::EcP256(pt.as_bytes().to_vec()))
        }
        PublicKey::EcP384(b) if b.len() == 97 && b[0] == 0x04 => Some(PublicKey::EcP384(b)),
        PublicKey::Ed25519(b) if b.len() == 32 => Some(PublicKey::Ed25519(b)),
        _ => None,
    }
}

/// Which keys speak for a role, and how many must.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Role {
    /// The key ids.
    pub keyids: Vec<String>,
    /// How many distinct keys must sign.
    pub threshold: u32,
}

/// root.json.
#[derive(Debug, Clone)]
pub struct Root {
    /// Version and expiry.
    pub header: Header,
    /// Whether files are fetched under version- and hash-prefixed names.
    pub consistent_snapshot: bool,
    /// Every key, by id.
    pub keys: BTreeMap<String, Key>,
    /// The four top-level roles.
    pub roles: BTreeMap<String, Role>,
}

#[derive(Deserialize)]
struct RawRoot {
    #[serde(default)]
    consistent_snapshot: bool,
    keys: BTreeMap<String, RawKey>,
    roles: BTreeMap<String, Role>,
}

impl Root {
    /// Reads a root from its envelope (signatures not checked here).
    pub fn from_envelope(env: &Envelope, file: &str) -> Result<Root, String> {
        let header = env.header(Kind::Root, file)?;
        let raw: RawRoot = serde_json::from_value(env.signed.clone())
            .map_err(|e| format!("{file} is not valid root metadata: {e}"))?;
        if raw.keys.len() > MAX_KEYS {
            return Err(format!(
                "{file} lists {} keys, more than the {MAX_KEYS} accepted",
                raw.keys.len()
            ));
        }
        for r in ["root", "timestamp", "snapshot", "targets"] {
            if !raw.roles.contains_key(r) {
                return Err(format!("{file} does not define the {r} role"));
            }
        }
        Ok(Root {
            header,
            consistent_snapshot: raw.consistent_snapshot,
            keys: raw
                .keys
                .into_iter()
                .map(|(id, k)| (id, Key::from_raw(k)))
                .collect(),
            roles: raw.roles,
        })
    }

    /// A role (the four exist: checked when parsed).
    pub fn role(&self, kind: Kind) -> &Role {
        static EMPTY: Role = Role {
            keyids: Vec::new(),
            threshold: 1,
        };
        self.roles.get(kind.name()).unwrap_or(&EMPTY)
    }

    /// Verifies `env` as signed by this root's `kind` role.
    pub fn verify(&self, kind: Kind, env: &Envelope, file: &str) -> Result<(), String> {
        let who = format!(
            "the {} role of root version {}",
            kind.name(),
            self.header.version
        );
        env.verify(self.role(kind), &self.keys, file, &who)
    }

    /// The set of key ids of a role, to notice rotations.
    pub fn keyids(&self, kind: Kind) -> BTreeSet<String> {
        self.role(kind).keyids.iter().cloned().collect()
    }
}

/// A file a timestamp or snapshot describes.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct MetaFile {
    /// Its version.
    pub version: u64,
    /// Its length, when given.
    #[serde(default)]
    pub length: Option<u64>,
    /// Its hashes (algorithm → hex), when given.
    #[serde(default)]
    pub hashes: BTreeMap<String, String>,
}

/// timestamp.json.
#[derive(Debug, Clone)]
pub struct Timestamp {
    /// Version and expiry.
    pub header: Header,
    /// What it says about snapshot.json.
    pub snapshot: MetaFile,
}

#[derive(Deserialize)]
struct RawMeta {
    meta: BTreeMap<String, MetaFile>,
}

impl Timestamp {
    /// Reads a timestamp from its envelope (signatures not checked here).
    pub fn from_envelope(env: &Envelope, file: &str) -> Result<Timestamp, String> {
        let header = env.header(Kind::Timestamp, file)?;
        let mut raw: RawMeta = serde_json::from_value(env.signed.clone())
            .map_err(|e| format!("{file} is not valid timestamp metadata: {e}"))?;
        let snapshot = raw
            .meta
            .remove("snapshot.json")
            .ok_or_else(|| format!("{file} does not describe snapshot.json"))?;
        Ok(Timestamp { header, snapshot })
    }
}

/// snapshot.json.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// Version and expiry.
    pub header: Header,
    /// Targets metadata files and their versions.
    pub meta: BTreeMap<String, MetaFile>,
}

impl Snapshot {
    /// Reads a snapshot from its envelope (signatures not checked here).
    pub fn from_envelope(env: &Envelope, file: &str) -> Result<Snapshot, String> {
        let header = env.header(Kind::Snapshot, file)?;
        let raw: RawMeta = serde_json::from_value(env.signed.clone())
            .map_err(|e| format!("{file} is not valid snapshot metadata: {e}"))?;
        if !raw.meta.contains_key("targets.json") {
            return Err(format!("{file} does not describe targets.json"));
        }
        Ok(Snapshot {
            header,
            meta: raw.meta,
        })
    }
}

/// A target file as targets metadata describes it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TargetFile {
    /// Its exact length.
    pub length: u64,
    /// Its hashes (algorithm → hex).
    pub hashes: BTreeMap<String, String>,
}

/// A delegated role (names and paths only: see [`Targets::delegated`]).
#[derive(Debug, Clone, Deserialize)]
pub struct Delegation {
    /// The role's name.
    pub name: String,
    /// Path patterns it may sign for.
    #[serde(default)]
    pub paths: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
struct RawDelegations {
    #[serde(default)]
    roles: Vec<Delegation>,
}

/// targets.json.
#[derive(Debug, Clone)]
pub struct Targets {
    /// Version and expiry.
    pub header: Header,
    /// The targets it lists directly.
    pub targets: BTreeMap<String, TargetFile>,
    /// Delegated roles.
    pub delegations: Vec<Delegation>,
}

#[derive(Deserialize)]
struct RawTargets {
    targets: BTreeMap<String, TargetFile>,
    #[serde(default)]
    delegations: Option<RawDelegations>,
}

impl Targets {
    /// Reads targets metadata from its envelope (signatures not checked).
    pub fn from_envelope(env: &Envelope, file: &str) -> Result<Targets, String> {
        let header = env.header(Kind::Targets, file)?;
        let raw: RawTargets = serde_json::from_value(env.signed.clone())
            .map_err(|e| format!("{file} is not valid targets metadata: {e}"))?;
        Ok(Targets {
            header,
            targets: raw.targets,
            delegations: raw.delegations.unwrap_or_default().roles,
        })
    }

    /// The delegated roles whose paths could cover `name`.
    pub fn delegated(&self, name: &str) -> Vec<&str> {
        self.delegations
            .iter()
            .filter(|d| {
                d.paths
                    .as_ref()
                    .is_some_and(|ps| ps.iter().any(|p| glob_match(p, name)))
            })
            .map(|d| d.name.as_str())
            .collect()
    }
}

/// Whether `name` matches the shell-style `pattern` (`*` and `?` within one
/// path segment), as TUF's delegated paths are matched. Linear in the
/// product of the lengths at worst, both bounded by the metadata size.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let (p, n) = (pattern.as_bytes(), name.as_bytes());
    let (mut pi, mut ni) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() && (p[pi] == b'?' && n[ni] != b'/' || p[pi] == n[ni] && p[pi] != b'*') {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ni));
            pi += 1;
        } else if let Some((sp, sn)) = star {
            if n[sn] == b'/' {
                return false;
            }
            pi = sp + 1;
            ni = sn + 1;
            star = Some((sp, sn + 1));
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == b'*' {
        pi += 1;
    }
    pi == p.len()
}

/// Checks `data` against a declared length and hashes: the length exactly
/// (when given) and every hash this client knows (at least one must be
/// known when any is given). `file` names the data in messages.
pub fn check_length_and_hashes(
    data: &[u8],
    length: Option<u64>,
    hashes: &BTreeMap<String, String>,
    file: &str,
) -> Result<(), String> {
    if let Some(l) = length {
        if data.len() as u64 != l {
            return Err(format!(
                "{file} is {} bytes long, not the {l} bytes the metadata names",
                data.len()
            ));
        }
    }
    let mut known = 0;
    for (alg, want) in hashes {
        let h = match alg.as_str() {
            "sha256" => Hash::Sha256,
            "sha512" => Hash::Sha512,
            "sha384" => Hash::Sha384,
            _ => continue,
        };
        known += 1;
        let got = crate::encoding::asn1::hex_lower(&h.digest(data));
        if !got.eq_ignore_ascii_case(want) {
            return Err(format!(
                "{file} does not have the {alg} hash the metadata names (got {got}, expected \
                 {want})"
            ));
        }
    }
    if known == 0 && !hashes.is_empty() {
        return Err(format!(
            "{file} is described only by hash algorithms this client does not know"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_stay_within_a_segment() {
        assert!(glob_match(
            "registry.npmjs.org/*",
            "registry.npmjs.org/keys.json"
        ));
        assert!(!glob_match(
            "registry.npmjs.org/*",
            "registry.npmjs.org/a/keys.json"
        ));
        assert!(glob_match("*", "trusted_root.json"));
        assert!(!glob_match("*", "a/b"));
        assert!(glob_match("a?c*", "abcdef"));
        assert!(!glob_match("abc", "abcd"));
    }

    #[test]
    fn the_embedded_root_is_self_signed() {
        let env =
            Envelope::parse(super::super::PUBLIC_GOOD_TUF_ROOT.as_bytes(), "root.json").unwrap();
        let root = Root::from_envelope(&env, "root.json").unwrap();
        root.verify(Kind::Root, &env, "root.json").unwrap();
        assert!(root.consistent_snapshot);
        // One signature altered: 4 of 5 still meet the threshold of 3.
        let mut bad = env.clone();
        bad.signatures[0].1[10] ^= 1;
        root.verify(Kind::Root, &bad, "root.json").unwrap();
        // Three altered: 2 of 3.
        for s in bad.signatures.iter_mut().take(3) {
            s.1[12] ^= 1;
        }
        let e = root.verify(Kind::Root, &bad, "root.json").unwrap_err();
        assert!(e.contains("2 of the 3"), "{e}");
        // The same valid signature five times counts once.
        let mut dup = env.clone();
        let first = dup.signatures[0].clone();
        dup.signatures = vec![first; 5];
        assert!(root.verify(Kind::Root, &dup, "root.json").is_err());
    }

    /// One P-256 key listed under two key ids, its point uncompressed under
    /// one and compressed under the other, counts once toward a threshold
    /// of 2; two distinct keys meet it (the control).
    #[test]
    fn one_key_in_two_encodings_counts_once() {
        use base64::Engine;
        use p256::ecdsa::signature::Signer;
        use p256::ecdsa::{Signature, SigningKey};
        let pem = |k: &SigningKey, compressed: bool| {
            const ALG: [u8; 21] = [
                0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
                0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07,
            ];
            let pt = k.verifying_key().to_encoded_point(compressed);
            let bits = [&[0u8][..], pt.as_bytes()].concat();
            let bs = [&[0x03, bits.len() as u8][..], &bits].concat();
            let inner = [&ALG[..], &bs].concat();
            let der = [&[0x30, inner.len() as u8][..], &inner].concat();
            format!(
                "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
                base64::engine::general_purpose::STANDARD.encode(der)
            )
        };
        let check = |keys: [(&str, String); 2], signers: [(&str, &SigningKey); 2]| {
            let key = |p: &str| {
                serde_json::json!({"keytype": "ecdsa", "scheme": "ecdsa-sha2-nistp256",
                    "keyval": {"public": p}})
            };
            let role = serde_json::json!({"keyids": ["a", "b"], "threshold": 2});
            let signed = serde_json::json!({
                "_type": "root", "spec_version": "1.0.31", "version": 1,
                "expires": "2035-01-01T00:00:00Z",
                "keys": {keys[0].0: key(&keys[0].1), keys[1].0: key(&keys[1].1)},
                "roles": {"root": role, "timestamp": role, "snapshot": role, "targets": role}
            });
            let canon = super::super::cjson::encode(&signed).unwrap();
            let sigs: Vec<serde_json::Value> = signers
                .iter()
                .map(|(id, k)| {
                    let s: Signature = k.sign(&canon);
                    serde_json::json!({"keyid": id,
                        "sig": crate::encoding::asn1::hex_lower(s.to_der().as_bytes())})
                })
                .collect();
            let doc = serde_json::json!({"signatures": sigs, "signed": signed});
            let env = Envelope::parse(doc.to_string().as_bytes(), "root.json").unwrap();
            let root = Root::from_envelope(&env, "root.json").unwrap();
            root.verify(Kind::Timestamp, &env, "root.json")
        };
        let (k1, k2) = (
            SigningKey::from_slice(&[1u8; 32]).unwrap(),
            SigningKey::from_slice(&[2u8; 32]).unwrap(),
        );
        check(
            [("a", pem(&k1, false)), ("b", pem(&k2, false))],
            [("a", &k1), ("b", &k2)],
        )
        .unwrap();
        let e = check(
            [("a", pem(&k1, false)), ("b", pem(&k1, true))],
            [("a", &k1), ("b", &k1)],
        )
        .unwrap_err();
        assert!(e.contains("1 of the 2 required"), "{e}");
        // Both spellings decode to the same canonical key.
        let (PublicKey::EcP256(u), PublicKey::EcP256(c)) = (
            PublicKey::from_pem_or_der(pem(&k1, false).as_bytes()).unwrap(),
            PublicKey::from_pem_or_der(pem(&k1, true).as_bytes()).unwrap(),
        ) else {
            panic!("not P-256")
        };
        assert_ne!(u, c);
        assert_eq!(
            canonical(PublicKey::EcP256(u)),
            canonical(PublicKey::EcP256(c))
        );
        // A point not on the curve is no key at all.
        assert_eq!(canonical(PublicKey::EcP256(vec![4; 65])), None);
    }

    /// Mutated roots never panic the parser or the check.
    #[test]
    fn mutated_metadata_never_panics() {
        let good = super::super::PUBLIC_GOOD_TUF_ROOT.as_bytes();
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..3000 {
            let mut b = good.to_vec();
            for _ in 0..(next() % 8 + 1) {
                let i = (next() % b.len() as u64) as usize;
                match next() % 3 {
                    0 => b[i] = next() as u8,
                    1 => {
                        b.remove(i);
                    }
                    _ => b.insert(i, b"{}[]\",:0-9"[(next() % 10) as usize]),
                }
            }
            if let Ok(env) = Envelope::parse(&b, "root.json") {
                if let Ok(root) = Root::from_envelope(&env, "root.json") {
                    let _ = root.verify(Kind::Root, &env, "root.json");
                }
                let _ = Timestamp::from_envelope(&env, "t");
                let _ = Snapshot::from_envelope(&env, "s");
                let _ = Targets::from_envelope(&env, "t");
            }
        }
    }

    #[test]
    fn lengths_and_hashes() {
        let mut h = BTreeMap::new();
        h.insert(
            "sha256".to_string(),
            crate::encoding::asn1::hex_lower(&crate::pki::crypto::sha256(b"abc")),
        );
        check_length_and_hashes(b"abc", Some(3), &h, "f").unwrap();
        assert!(check_length_and_hashes(b"abd", Some(3), &h, "f").is_err());
        assert!(check_length_and_hashes(b"abc", Some(4), &h, "f").is_err());
        let mut only_md5 = BTreeMap::new();
        only_md5.insert("md5".to_string(), "00".to_string());
        assert!(check_length_and_hashes(b"abc", None, &only_md5, "f").is_err());
    }
}
