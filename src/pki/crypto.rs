//! Public keys, signature algorithms and digests, over aws-lc-rs.
//!
//! aws-lc-rs was chosen by measurement (see docs/benchmarks.md, "Crypto backend"): the
//! P-384 verification that every Fulcio leaf needs takes ~140 µs with it,
//! ~500 µs with ring and ~800 µs with the pure-Rust `p384` crate.

use aws_lc_rs::digest;
use aws_lc_rs::signature::{self as sig, VerificationAlgorithm};

use crate::encoding::asn1::{self, tag, Reader};
use crate::encoding::oid;

/// A public key taken from a SubjectPublicKeyInfo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicKey {
    /// ECDSA on P-256; the uncompressed or compressed point.
    EcP256(Vec<u8>),
    /// ECDSA on P-384; the point.
    EcP384(Vec<u8>),
    /// RSA; the PKCS#1 RSAPublicKey DER.
    Rsa(Vec<u8>),
    /// Ed25519; the 32-byte key.
    Ed25519(Vec<u8>),
}

impl PublicKey {
    /// Parses a DER SubjectPublicKeyInfo.
    pub fn from_spki(spki: &[u8]) -> Result<PublicKey, String> {
        let what = "SubjectPublicKeyInfo";
        let seq = asn1::parse_single(spki, tag::SEQUENCE, what).map_err(|e| e.to_string())?;
        let mut r = seq.reader();
        let alg = r.read(tag::SEQUENCE, what).map_err(|e| e.to_string())?;
        let key = r.read(tag::BIT_STRING, what).map_err(|e| e.to_string())?;
        r.finish(what).map_err(|e| e.to_string())?;
        let key = key.bit_string(what).map_err(|e| e.to_string())?.to_vec();
        let mut ar = alg.reader();
        let alg_oid = ar.read(tag::OID, what).map_err(|e| e.to_string())?;
        match alg_oid.value {
            o if o == oid::EC_PUBLIC_KEY => {
                let curve = ar.read(tag::OID, what).map_err(|e| e.to_string())?;
                match curve.value {
                    c if c == oid::P256 => Ok(PublicKey::EcP256(key)),
                    c if c == oid::P384 => Ok(PublicKey::EcP384(key)),
                    c => Err(format!(
                        "unsupported elliptic curve {}",
                        asn1::oid_to_string(c)
                    )),
                }
            }
            o if o == oid::RSA_ENCRYPTION => Ok(PublicKey::Rsa(key)),
            o if o == oid::ED25519 => {
                if key.len() != 32 {
                    return Err("Ed25519 key is not 32 bytes".into());
                }
                Ok(PublicKey::Ed25519(key))
            }
            o => Err(format!(
                "unsupported public key algorithm {}",
                asn1::oid_to_string(o)
            )),
        }
    }

    /// Parses a PEM `PUBLIC KEY` block or raw DER SPKI.
    pub fn from_pem_or_der(data: &[u8]) -> Result<PublicKey, String> {
        if let Ok(text) = std::str::from_utf8(data) {
            if text.contains("-----BEGIN") {
                let der = crate::encoding::pem::decode_one(text, "PUBLIC KEY")
                    .map_err(|e| e.to_string())?;
                return PublicKey::from_spki(&der);
            }
        }
        PublicKey::from_spki(data)
    }

    /// A short description, for messages.
    pub fn describe(&self) -> &'static str {
        match self {
            PublicKey::EcP256(_) => "ECDSA P-256",
            PublicKey::EcP384(_) => "ECDSA P-384",
            PublicKey::Rsa(_) => "RSA",
            PublicKey::Ed25519(_) => "Ed25519",
        }
    }
}

/// A digest algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hash {
    /// SHA-1, accepted only where legacy X.509 data needs it.
    Sha1,
    /// SHA-256
    Sha256,
    /// SHA-384
    Sha384,
    /// SHA-512
    Sha512,
}

impl Hash {
    /// From an AlgorithmIdentifier's OID.
    pub fn from_oid(o: &[u8]) -> Option<Hash> {
        match o {
            x if x == oid::SHA256 => Some(Hash::Sha256),
            x if x == oid::SHA384 => Some(Hash::Sha384),
            x if x == oid::SHA512 => Some(Hash::Sha512),
            x if x == oid::SHA1 => Some(Hash::Sha1),
            _ => None,
        }
    }

    fn algorithm(self) -> &'static digest::Algorithm {
        match self {
            Hash::Sha1 => &digest::SHA1_FOR_LEGACY_USE_ONLY,
            Hash::Sha256 => &digest::SHA256,
            Hash::Sha384 => &digest::SHA384,
            Hash::Sha512 => &digest::SHA512,
        }
    }

    /// The digest of `data`.
    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        digest::digest(self.algorithm(), data).as_ref().to_vec()
    }

    /// The digest of several pieces, without concatenating them.
    pub fn digest_parts(self, parts: &[&[u8]]) -> Vec<u8> {
        let mut ctx = digest::Context::new(self.algorithm());
        for p in parts {
            ctx.update(p);
        }
        ctx.finish().as_ref().to_vec()
    }

    /// The name, for messages.
    pub fn name(self) -> &'static str {
        match self {
            Hash::Sha1 => "SHA-1",
            Hash::Sha256 => "SHA-256",
            Hash::Sha384 => "SHA-384",
            Hash::Sha512 => "SHA-512",
        }
    }
}

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    let d = digest::digest(&digest::SHA256, data);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// SHA-256 over several pieces, without concatenating them.
pub fn sha256_parts(parts: &[&[u8]]) -> [u8; 32] {
    let mut ctx = digest::Context::new(&digest::SHA256);
    for p in parts {
        ctx.update(p);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

/// How a signature was made: the scheme and its digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigScheme {
    /// ECDSA (ASN.1 DER signature) over the given digest.
    Ecdsa(Hash),
    /// RSASSA-PKCS1-v1_5 over the given digest.
    RsaPkcs1(Hash),
    /// Ed25519 (pure).
    Ed25519,
}

impl SigScheme {
    /// From a certificate or CMS signatureAlgorithm. `digest_hint` is the CMS
    /// digestAlgorithm, which bare `id-ecPublicKey`/`rsaEncryption` rely on.
    pub fn from_algorithm(alg: &[u8], digest_hint: Option<Hash>) -> Result<SigScheme, String> {
        let what = "signature AlgorithmIdentifier";
        let seq = asn1::parse_single(alg, tag::SEQUENCE, what).map_err(|e| e.to_string())?;
        let mut r: Reader<'_> = seq.reader();
        let o = r.read(tag::OID, what).map_err(|e| e.to_string())?.value;
        let hinted = |f: fn(Hash) -> SigScheme| {
            digest_hint.map(f).ok_or_else(|| {
                format!(
                    "signature algorithm {} needs a digest algorithm",
                    asn1::oid_to_string(o)
                )
            })
        };
        match o {
            x if x == oid::ECDSA_SHA256 => Ok(SigScheme::Ecdsa(Hash::Sha256)),
            x if x == oid::ECDSA_SHA384 => Ok(SigScheme::Ecdsa(Hash::Sha384)),
            x if x == oid::ECDSA_SHA512 => Ok(SigScheme::Ecdsa(Hash::Sha512)),
            x if x == oid::EC_PUBLIC_KEY => hinted(SigScheme::Ecdsa),
            x if x == oid::RSA_SHA256 => Ok(SigScheme::RsaPkcs1(Hash::Sha256)),
            x if x == oid::RSA_SHA384 => Ok(SigScheme::RsaPkcs1(Hash::Sha384)),
            x if x == oid::RSA_SHA512 => Ok(SigScheme::RsaPkcs1(Hash::Sha512)),
            x if x == oid::RSA_SHA1 => Ok(SigScheme::RsaPkcs1(Hash::Sha1)),
            x if x == oid::RSA_ENCRYPTION => hinted(SigScheme::RsaPkcs1),
            x if x == oid::ED25519 => Ok(SigScheme::Ed25519),
            x => Err(format!(
                "unsupported signature algorithm {}",
                asn1::oid_to_string(x)
            )),
        }
    }

    fn algorithm(self, key: &PublicKey) -> Option<&'static dyn VerificationAlgorithm> {
        Some(match (self, key) {
            (SigScheme::Ecdsa(Hash::Sha256), PublicKey::EcP256(_)) => &sig::ECDSA_P256_SHA256_ASN1,
            (SigScheme::Ecdsa(Hash::Sha384), PublicKey::EcP256(_)) => &sig::ECDSA_P256_SHA384_ASN1,
            (SigScheme::Ecdsa(Hash::Sha512), PublicKey::EcP256(_)) => &sig::ECDSA_P256_SHA512_ASN1,
            (SigScheme::Ecdsa(Hash::Sha256), PublicKey::EcP384(_)) => &sig::ECDSA_P384_SHA256_ASN1,
            (SigScheme::Ecdsa(Hash::Sha384), PublicKey::EcP384(_)) => &sig::ECDSA_P384_SHA384_ASN1,
            (SigScheme::Ecdsa(Hash::Sha512), PublicKey::EcP384(_)) => &sig::ECDSA_P384_SHA512_ASN1,
            (SigScheme::RsaPkcs1(Hash::Sha256), PublicKey::Rsa(_)) => {
                &sig::RSA_PKCS1_2048_8192_SHA256
            }
            (SigScheme::RsaPkcs1(Hash::Sha384), PublicKey::Rsa(_)) => {
                &sig::RSA_PKCS1_2048_8192_SHA384
            }
            (SigScheme::RsaPkcs1(Hash::Sha512), PublicKey::Rsa(_)) => {
                &sig::RSA_PKCS1_2048_8192_SHA512
            }
            (SigScheme::RsaPkcs1(Hash::Sha1), PublicKey::Rsa(_)) => {
                &sig::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY
            }
            (SigScheme::Ed25519, PublicKey::Ed25519(_)) => &sig::ED25519,
            _ => return None,
        })
    }

    /// The digest the scheme signs, where it has one.
    pub fn hash(self) -> Option<Hash> {
        match self {
            SigScheme::Ecdsa(h) | SigScheme::RsaPkcs1(h) => Some(h),
            SigScheme::Ed25519 => None,
        }
    }
}

/// Why a signature check failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifyError {
    /// The key cannot make this kind of signature.
    Mismatch(String),
    /// The signature is not valid.
    BadSignature,
}

fn key_bytes(key: &PublicKey) -> &[u8] {
    match key {
        PublicKey::EcP256(b) | PublicKey::EcP384(b) | PublicKey::Rsa(b) | PublicKey::Ed25519(b) => {
            b
        }
    }
}

/// Verifies `signature` over `message` with `key`.
pub fn verify(
    key: &PublicKey,
    scheme: SigScheme,
    message: &[u8],
    signature: &[u8],
) -> Result<(), VerifyError> {
    let alg = scheme.algorithm(key).ok_or_else(|| {
        VerifyError::Mismatch(format!(
            "a {} key cannot verify a {scheme:?} signature",
            key.describe()
        ))
    })?;
    sig::UnparsedPublicKey::new(alg, key_bytes(key))
        .verify(message, signature)
        .map_err(|_| VerifyError::BadSignature)
}

/// Verifies `signature` over a precomputed `digest` (hashedrekord entries
/// and bundles carry only the artifact's digest).
pub fn verify_prehashed(
    key: &PublicKey,
    scheme: SigScheme,
    digest_bytes: &[u8],
    signature: &[u8],
) -> Result<(), VerifyError> {
    let hash = scheme
        .hash()
        .ok_or_else(|| VerifyError::Mismatch("Ed25519 cannot verify a prehashed digest".into()))?;
    let alg = scheme.algorithm(key).ok_or_else(|| {
        VerifyError::Mismatch(format!(
            "a {} key cannot verify a {scheme:?} signature",
            key.describe()
        ))
    })?;
    let d = digest::Digest::import_less_safe(digest_bytes, hash.algorithm())
        .map_err(|_| VerifyError::Mismatch(format!("digest is not a {} value", hash.name())))?;
    sig::UnparsedPublicKey::new(alg, key_bytes(key))
        .verify_digest(&d, signature)
        .map_err(|_| VerifyError::BadSignature)
}

/// The natural signature scheme of a key type (ECDSA keys sign with the
/// curve's matching hash, as Sigstore does).
pub fn default_scheme(key: &PublicKey) -> SigScheme {
    match key {
        PublicKey::EcP256(_) => SigScheme::Ecdsa(Hash::Sha256),
        PublicKey::EcP384(_) => SigScheme::Ecdsa(Hash::Sha384),
        PublicKey::Rsa(_) => SigScheme::RsaPkcs1(Hash::Sha256),
        PublicKey::Ed25519(_) => SigScheme::Ed25519,
    }
}
