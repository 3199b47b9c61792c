//! Keyless signing: an ephemeral P-256 key, a Fulcio certificate for it,
//! a detached CMS signature in Go gitsign's layout, and a Rekor entry
//! (embedded in offline mode, keyed by the object id in online mode).
//! Every service answer is verified before it is used.

use crate::config::RekorMode;
use crate::encoding::pem;
use crate::git::gitobj::{self, ObjectKind};
use crate::pki::cms;
use crate::pki::crypto;
use crate::pki::tsa::{self, TsaClient, VerifiedTimestamp};
use crate::pki::x509::{Certificate, GeneralName};
use crate::sigstore::fulcio::{self, FulcioClient, FulcioError};
use crate::sigstore::rekor::{RekorApi, RekorClient, RekorError};
use crate::sigstore::tlog::{self, LogEntry};
use crate::sigstore::trust::TrustedRoot;
use crate::verify::ObjectInfo;

/// A signing failure, as a sentence.
#[derive(Debug, Clone)]
pub enum SignError {
    /// Key generation or signing failed.
    Key(String),
    /// Fulcio failed or issued something we cannot trust.
    Fulcio(FulcioError),
    /// Rekor failed or returned an entry that does not verify.
    Rekor(String),
    /// The certificate identity is not the committer (gitsign.matchCommitter).
    Committer(String),
    /// The credential expired before it could be used.
    Expired(String),
    /// The timestamp authority failed or returned a token that does not verify.
    Timestamp(String),
    /// The credential cache failed while signing with the key it holds.
    Agent(String),
}

impl std::fmt::Display for SignError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SignError::Key(m)
            | SignError::Rekor(m)
            | SignError::Committer(m)
            | SignError::Expired(m)
            | SignError::Timestamp(m)
            | SignError::Agent(m) => f.write_str(m),
            SignError::Fulcio(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for SignError {}

/// An ephemeral ECDSA P-256 key. It lives in memory only and is zeroized
/// on drop. Signing uses RFC 6979 deterministic nonces, so no random
/// generator has to start up. Only the secret scalar is kept: a key restored
/// from the cache takes its public half from the PKCS#8 it came in, so a
/// warm signature does one scalar multiplication (the nonce's), not three.
pub struct EphemeralKey {
    secret: zeroize::Zeroizing<p256::NonZeroScalar>,
    spki: Vec<u8>,
}

impl std::fmt::Debug for EphemeralKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EphemeralKey(P-256, private part hidden)")
    }
}

fn spki_of(public: &p256::PublicKey) -> Result<Vec<u8>, SignError> {
    use p256::pkcs8::EncodePublicKey;
    Ok(public
        .to_public_key_der()
        .map_err(|_| SignError::Key("cannot encode the public key".into()))?
        .as_bytes()
        .to_vec())
}

impl EphemeralKey {
    /// A fresh key from the operating system's random source.
    pub fn generate() -> Result<EphemeralKey, SignError> {
        let secret = zeroize::Zeroizing::new(p256::NonZeroScalar::random(&mut rand_core::OsRng));
        let spki = spki_of(&p256::PublicKey::from_secret_scalar(&secret))?;
        Ok(EphemeralKey { secret, spki })
    }

    /// Restores a key from PKCS#8 (the credential cache hands keys over
    /// this way). The public key is the one the PKCS#8 carries (ours always
    /// do; it is computed when absent). A pairing of a scalar with another
    /// key's public half cannot produce a usable signature: the caller
    /// compares the public key with the certificate's, and Rekor verifies
    /// every signature against the certificate before logging it.
    pub fn from_pkcs8(der: &[u8]) -> Result<EphemeralKey, SignError> {
        use p256::pkcs8::der::Decode;
        let bad = || SignError::Key("the cached key is not a P-256 PKCS#8 key".into());
        let info = p256::pkcs8::PrivateKeyInfo::from_der(der).map_err(|_| bad())?;
        let p256_oid = p256::pkcs8::ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
        let ec_oid = p256::pkcs8::ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
        if info.algorithm.oid != ec_oid
            || info.algorithm.parameters_oid().map_err(|_| bad())? != p256_oid
        {
            return Err(bad());
        }
        let ec = sec1::EcPrivateKey::from_der(info.private_key).map_err(|_| bad())?;
        let raw: zeroize::Zeroizing<[u8; 32]> =
            zeroize::Zeroizing::new(ec.private_key.try_into().map_err(|_| bad())?);
        let bytes = zeroize::Zeroizing::new(p256::FieldBytes::from(*raw));
        let scalar: Option<p256::NonZeroScalar> = p256::NonZeroScalar::from_repr(*bytes).into();
        let secret = zeroize::Zeroizing::new(scalar.ok_or_else(bad)?);
        let public = match ec.public_key {
            Some(point) => p256::PublicKey::from_sec1_bytes(point).map_err(|_| bad())?,
            None => p256::PublicKey::from_secret_scalar(&secret),
        };
        Ok(EphemeralKey {
            spki: spki_of(&public)?,
            secret,
        })
    }

    /// The key as PKCS#8 (with its public key), in a buffer zeroized on drop.
    pub fn to_pkcs8(&self) -> Result<zeroize::Zeroizing<Vec<u8>>, SignError> {
        use p256::pkcs8::EncodePrivateKey;
        let doc = p256::SecretKey::from(&*self.secret)
            .to_pkcs8_der()
            .map_err(|_| SignError::Key("cannot export the key".into()))?;
        Ok(zeroize::Zeroizing::new(doc.as_bytes().to_vec()))
    }

    /// The public key, DER SubjectPublicKeyInfo.
    pub fn spki(&self) -> &[u8] {
        &self.spki
    }

    /// The public key as PEM (what Fulcio takes).
    pub fn public_key_pem(&self) -> String {
        pem::encode("PUBLIC KEY", &self.spki)
    }

    /// ECDSA-SHA256 over `message`, ASN.1 DER (RFC 6979 nonce, exactly
    /// what RustCrypto's `SigningKey` produces).
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignError> {
        use ecdsa::hazmat::SignPrimitive;
        let z = p256::FieldBytes::from(crypto::sha256(message));
        let scalar: &p256::Scalar = &self.secret;
        let (sig, _) = scalar
            .try_sign_prehashed_rfc6979::<sha2::Sha256>(&z, &[])
            .map_err(|_| SignError::Key("signing failed".into()))?;
        Ok(sig.to_der().as_bytes().to_vec())
    }
}

/// A key held by another process (the credential cache daemon) that signs
/// on request, as ssh-agent does, and can post the signature's Rekor entry
/// on a connection it keeps alive.
pub trait RemoteKey: std::fmt::Debug {
    /// ECDSA P-256 SHA-256 over `message`, DER. With `rekor` (base URL,
    /// time limit, API) the holder also posts the signature's hashedrekord
    /// entry there (see [`HolderUpload`]).
    fn sign(
        &self,
        message: &[u8],
        rekor: Option<(&str, std::time::Duration, RekorApi)>,
    ) -> Result<(Vec<u8>, Option<HolderUpload>), String>;
}

/// What a key holder's Rekor upload came to: the entry Rekor created,
/// parsed but unchecked, or why there is none (the caller then posts the
/// entry itself).
pub type HolderUpload = Result<LogEntry, String>;

/// Who holds a credential's private key.
#[derive(Debug)]
pub enum KeyHolder {
    /// This process.
    Local(EphemeralKey),
    /// Another process, which signs on request.
    Remote(Box<dyn RemoteKey>),
}

/// A key and the certificate Fulcio issued for it.
#[derive(Debug)]
pub struct Credential {
    /// The private key, or who holds it.
    pub key: KeyHolder,
    /// Leaf first, then its issuers.
    pub chain: Vec<Certificate>,
}

impl Credential {
    /// The signing certificate.
    pub fn leaf(&self) -> &Certificate {
        &self.chain[0]
    }

    /// ECDSA-SHA256 over `message` by the credential's key; a signature
    /// made elsewhere is verified against the certificate before use.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignError> {
        match &self.key {
            KeyHolder::Local(key) => key.sign(message),
            KeyHolder::Remote(remote) => {
                let (sig, _) = remote.sign(message, None).map_err(SignError::Agent)?;
                self.check_remote(message, &sig)?;
                Ok(sig)
            }
        }
    }

    fn check_remote(&self, message: &[u8], sig: &[u8]) -> Result<(), SignError> {
        let key = self
            .leaf()
            .public_key()
            .map_err(|e| SignError::Key(format!("the certificate's key is unusable: {e}")))?;
        crypto::verify(&key, crypto::default_scheme(&key), message, sig).map_err(|_| {
            SignError::Agent(
                "the credential cache returned a signature that its certificate does not \
                 verify; run `gitsign cache clear` and sign again"
                    .into(),
            )
        })
    }

    /// Signs `message` and logs the signature in Rekor (hashedrekord over
    /// its SHA-256), checking the entry Rekor returns. A remote key holder
    /// posts the entry on its kept-alive connection; when it cannot reach
    /// Rekor, this process posts the entry itself.
    fn sign_logged(
        &self,
        message: &[u8],
        rekor: &RekorClient,
        root: &TrustedRoot,
        timestamp: Option<&VerifiedTimestamp>,
    ) -> Result<(Vec<u8>, LogEntry), SignError> {
        let cert = self.leaf();
        let digest = crypto::sha256(message);
        let (sig, answer) = match &self.key {
            KeyHolder::Local(key) => (key.sign(message)?, None),
            KeyHolder::Remote(remote) => {
                let (sig, answer) = remote
                    .sign(message, Some((rekor.url(), rekor.timeout(), rekor.api())))
                    .map_err(SignError::Agent)?;
                self.check_remote(message, &sig)?;
                (sig, answer)
            }
        };
        let entry = match answer {
            Some(Ok(entry)) => {
                let body = RekorClient::expected_body(rekor.api(), &digest, &sig, cert)
                    .map_err(rekor_err)?;
                check_entry(&entry, &body, rekor.api(), cert, root, timestamp)?;
                entry
            }
            // Ours to post: a local key, or a holder that could not reach
            // Rekor (say, its environment lacks this shell's proxy or CA).
            _ => log_checked(rekor, &digest, &sig, cert, root, timestamp)?,
        };
        Ok((sig, entry))
    }

    /// Logs an existing signature (made before a timestamp was fetched for
    /// it), checked like any answer. A remote key holder is asked to sign
    /// the same message again and post the entry on its kept-alive
    /// connection: ECDSA with RFC 6979 nonces gives the same signature, so
    /// the entry is for exactly the signature already timestamped (anything
    /// else, or no answer, and this process posts the entry itself).
    fn log_signature(
        &self,
        message: &[u8],
        sig: &[u8],
        rekor: &RekorClient,
        root: &TrustedRoot,
        timestamp: Option<&VerifiedTimestamp>,
    ) -> Result<LogEntry, SignError> {
        let cert = self.leaf();
        let digest = crypto::sha256(message);
        if let KeyHolder::Remote(remote) = &self.key {
            if let Ok((again, Some(Ok(entry)))) =
                remote.sign(message, Some((rekor.url(), rekor.timeout(), rekor.api())))
            {
                if again == sig {
                    let body = RekorClient::expected_body(rekor.api(), &digest, sig, cert)
                        .map_err(rekor_err)?;
                    check_entry(&entry, &body, rekor.api(), cert, root, timestamp)?;
                    return Ok(entry);
                }
            }
        }
        log_checked(rekor, &digest, sig, cert, root, timestamp)
    }
}

/// Gets a certificate for a fresh key: proof of possession over the token's
/// subject (`challenge`), then every check of `fulcio::check_issued`.
pub fn request_credential(
    fulcio: &FulcioClient,
    id_token: &str,
    challenge: &str,
    root: &TrustedRoot,
    now: i64,
) -> Result<Credential, SignError> {
    let key = EphemeralKey::generate()?;
    let proof = key.sign(challenge.as_bytes())?;
    let issued = fulcio
        .signing_cert(id_token, &key.public_key_pem(), &proof)
        .map_err(SignError::Fulcio)?;
    fulcio::check_issued(&issued, key.spki(), root, now).map_err(SignError::Fulcio)?;
    Ok(Credential {
        key: KeyHolder::Local(key),
        chain: issued.chain,
    })
}

/// A finished signature.
#[derive(Debug, Clone)]
pub struct Signature {
    /// PEM `SIGNED MESSAGE`, what git stores.
    pub armored: String,
    /// The signing certificate.
    pub certificate: Certificate,
    /// The Rekor entry (verified).
    pub entry: LogEntry,
    /// For online mode: the object id the entry is keyed by.
    pub object_id: Option<String>,
    /// The signing time written into the signature.
    pub signing_time: i64,
    /// The RFC 3161 timestamp embedded in the signature (verified), when
    /// a timestamp authority was configured.
    pub timestamp: Option<VerifiedTimestamp>,
}

fn rekor_err(e: RekorError) -> SignError {
    SignError::Rekor(e.to_string())
}

/// Checks an entry Rekor returned for what we uploaded, exactly as
/// verification will check it once embedded. Rekor v1: the body it logged
/// is ours; its SET and its inclusion proof (against a checkpoint the log
/// signed) verify with a log key of the trusted root; the time the SET
/// signs lies inside the certificate's validity (Rekor v1 always returns
/// both, so an answer without either is refused). Rekor v2: a hashedrekord
/// 0.0.2 entry whose body is byte for byte the one verification rebuilds
/// (so it can be left out of the signature), no SET, an inclusion proof
/// against a checkpoint the log signed under its origin, and the log's key
/// valid at the RFC 3161 timestamp's time (the only time a v2 entry has).
fn check_entry(
    entry: &LogEntry,
    expected_body: &[u8],
    api: RekorApi,
    cert: &Certificate,
    root: &TrustedRoot,
    timestamp: Option<&VerifiedTimestamp>,
) -> Result<(), SignError> {
    if entry.body != expected_body {
        return Err(SignError::Rekor(
            "Rekor returned an entry for something other than this signature".into(),
        ));
    }
    check_logged(entry, api, cert, root, timestamp)
}

/// Checks a log entry whose body is already known to be ours: the API it
/// came through, its proof of inclusion, and a time inside the
/// certificate's validity.
fn check_logged(
    entry: &LogEntry,
    api: RekorApi,
    cert: &Certificate,
    root: &TrustedRoot,
    timestamp: Option<&VerifiedTimestamp>,
) -> Result<(), SignError> {
    if (api == RekorApi::V2) != entry.is_v2() {
        return Err(SignError::Rekor(format!(
            "the Rekor v{} log answered with a {} entry; check gitsign.rekorVersion and gitsign.rekor",
            api.major(),
            entry
                .kind_version
                .as_ref()
                .map(|(k, v)| format!("{k} {v}"))
                .unwrap_or_else(|| "Rekor v1".into())
        )));
    }
    let v = tlog::verify_entry(entry, root)
        .map_err(|e| SignError::Rekor(format!("the entry Rekor returned does not verify: {e}")))?;
    if v.inclusion.is_none() {
        return Err(SignError::Rekor(
            "Rekor returned no inclusion proof for the entry".into(),
        ));
    }
    if api == RekorApi::V2 {
        let Some(ts) = timestamp else {
            return Err(SignError::Timestamp(
                "a Rekor v2 entry has no time of its own, and this signature has no RFC 3161 timestamp".into(),
            ));
        };
        // Inside the certificate's validity: checked when it was fetched.
        return v
            .check_log_valid_at(ts.gen_time)
            .map_err(|e| SignError::Rekor(e.0));
    }
    let Some(time) = v.time() else {
        return Err(SignError::Rekor(
            "Rekor returned no signed entry timestamp (SET) for the entry, so nothing would vouch for when it \
             was logged"
                .into(),
        ));
    };
    if time < cert.not_before || time > cert.not_after {
        return Err(SignError::Expired(format!(
            "Rekor logged the signature at {}, outside the certificate's validity ({} to {}); sign again",
            crate::encoding::time::format_time(time),
            crate::encoding::time::format_time(cert.not_before),
            crate::encoding::time::format_time(cert.not_after)
        )));
    }
    Ok(())
}

/// Checks the entry Rekor returned for a DSSE envelope (one signature,
/// `signature` over the PAE of `payload`, by `cert`; see
/// [`RekorClient::create_dsse`]): its body is a dsse entry for this
/// payload, this signature and this certificate, it is included in the
/// log, and it was logged while the certificate was valid. Rekor v1
/// entries only (`gitsign attest`, as Go gitsign's, logs through the v1
/// API).
pub fn check_dsse_entry(
    entry: &LogEntry,
    payload: &[u8],
    signature: &[u8],
    cert: &Certificate,
    root: &TrustedRoot,
) -> Result<(), SignError> {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let cert_pem = crate::encoding::pem::encode("CERTIFICATE", cert.der());
    let body: serde_json::Value = serde_json::from_slice(&entry.body).unwrap_or_default();
    let spec = &body["spec"];
    let payload_hash = crate::encoding::asn1::hex_lower(&crypto::sha256(payload));
    let sigs = spec["signatures"].as_array().cloned().unwrap_or_default();
    let ours = body["kind"] == "dsse"
        && spec["payloadHash"]["algorithm"] == "sha256"
        && spec["payloadHash"]["value"].as_str() == Some(payload_hash.as_str())
        && sigs.len() == 1
        && sigs[0]["signature"].as_str() == Some(b64.encode(signature).as_str())
        && sigs[0]["verifier"].as_str() == Some(b64.encode(&cert_pem).as_str());
    if !ours {
        return Err(SignError::Rekor(
            "Rekor returned an entry for something other than this attestation".into(),
        ));
    }
    check_logged(entry, RekorApi::V1, cert, root, None)
}

/// Signs `payload` (a commit or tag without its signature).
pub fn sign_payload(
    payload: &[u8],
    cred: &Credential,
    rekor: &RekorClient,
    root: &TrustedRoot,
    mode: RekorMode,
    now: i64,
) -> Result<Signature, SignError> {
    sign_payload_timestamped(payload, cred, rekor, root, mode, now, None)
}

/// Asks `tsa` for an RFC 3161 timestamp over the CMS signature value (the
/// bytes Go gitsign and smimesign imprint), verifies it against the trusted
/// root's timestamp authorities and the certificate's validity, and
/// returns the unsigned attribute that carries it.
fn timestamp_attribute(
    tsa: &TsaClient,
    sig: &[u8],
    cert: &Certificate,
    root: &TrustedRoot,
) -> Result<(Vec<u8>, VerifiedTimestamp), SignError> {
    let ts = tsa
        .timestamp(sig, root)
        .map_err(|e| SignError::Timestamp(e.to_string()))?;
    let (earliest, latest) = ts.verified.window();
    // Strict, as Go gitsign's verifier checks it: genTime (widened by the
    // token's accuracy) inside the certificate's validity.
    if earliest < cert.not_before || latest > cert.not_after {
        return Err(SignError::Timestamp(format!(
            "the timestamp authority {} dated the signature {}, outside the signing certificate's \
             validity ({} to {}); check the clocks, or sign again",
            tsa.url(),
            crate::encoding::time::format_time(ts.verified.gen_time),
            crate::encoding::time::format_time(cert.not_before),
            crate::encoding::time::format_time(cert.not_after)
        )));
    }
    Ok((tsa::token_attribute(&ts.token), ts.verified))
}

/// Uploads a hashedrekord entry for `signature` over `digest` and checks
/// what Rekor returns (see [`check_entry`]).
fn log_checked(
    rekor: &RekorClient,
    digest: &[u8; 32],
    signature: &[u8],
    cert: &Certificate,
    root: &TrustedRoot,
    timestamp: Option<&VerifiedTimestamp>,
) -> Result<LogEntry, SignError> {
    let entry = rekor
        .create_entry(digest, signature, cert)
        .map_err(rekor_err)?;
    let body =
        RekorClient::expected_body(rekor.api(), digest, signature, cert).map_err(rekor_err)?;
    check_entry(&entry, &body, rekor.api(), cert, root, timestamp)?;
    Ok(entry)
}

/// Refuses, before anything is signed or logged, what Rekor v2 cannot do:
/// date a signature without an RFC 3161 timestamp, or be searched for an
/// online-mode entry.
pub fn check_rekor_setup(
    api: RekorApi,
    mode: RekorMode,
    has_timestamp_authority: bool,
) -> Result<(), SignError> {
    if api != RekorApi::V2 {
        return Ok(());
    }
    if matches!(mode, RekorMode::Online) {
        return Err(SignError::Rekor(
            "gitsign.rekorMode=online cannot be used with Rekor v2 (gitsign.rekorVersion=2): Rekor v2 has no \
             search API, so no verifier could ever find the entry; use gitsign.rekorMode=offline (the entry is \
             embedded in the signature) or gitsign.rekorVersion=1"
                .into(),
        ));
    }
    if !has_timestamp_authority {
        return Err(SignError::Timestamp(
            "signing into Rekor v2 (gitsign.rekorVersion=2) needs an RFC 3161 timestamp, since Rekor v2 records \
             no time: set gitsign.timestampServerURL (GITSIGN_TIMESTAMP_SERVER_URL), e.g. \
             https://timestamp.sigstore.dev/api/v1/timestamp, or sign into Rekor v1"
                .into(),
        ));
    }
    Ok(())
}

/// A signature that could not be laid out (a certificate or signing time
/// CMS cannot carry as they are): a failure of signing, as the key's is.
fn encoding_err(e: cms::CmsError) -> SignError {
    SignError::Key(e.to_string())
}

/// Signs `payload` like [`sign_payload`]; with `tsa`, the signature also
/// carries an RFC 3161 timestamp over its signature value (unsigned
/// attribute 1.2.840.113549.1.9.16.2.14), obtained and verified before
/// anything is logged in Rekor.
pub fn sign_payload_timestamped(
    payload: &[u8],
    cred: &Credential,
    rekor: &RekorClient,
    root: &TrustedRoot,
    mode: RekorMode,
    now: i64,
    tsa: Option<&TsaClient>,
) -> Result<Signature, SignError> {
    let cert = cred.leaf();
    if now < cert.not_before - fulcio::CLOCK_SKEW || now > cert.not_after {
        return Err(SignError::Expired(format!(
            "the signing certificate is valid from {} to {}, not now ({})",
            crate::encoding::time::format_time(cert.not_before),
            crate::encoding::time::format_time(cert.not_after),
            crate::encoding::time::format_time(now)
        )));
    }
    check_rekor_setup(rekor.api(), mode, tsa.is_some())?;
    let signed_attrs = cms::signed_attributes(payload, now).map_err(encoding_err)?;
    // Offline mode without a timestamp: the signature over the attributes
    // is the one logged, so it is made and logged in one step.
    let logged_now = matches!(mode, RekorMode::Offline) && tsa.is_none();
    let (sig, early_entry) = if logged_now {
        let (sig, entry) = cred.sign_logged(&signed_attrs, rekor, root, None)?;
        (sig, Some(entry))
    } else {
        (cred.sign(&signed_attrs)?, None)
    };
    let (ts_attr, timestamp) = match tsa {
        Some(tsa) => {
            let (attr, v) = timestamp_attribute(tsa, &sig, cert, root)?;
            (Some(attr), Some(v))
        }
        None => (None, None),
    };
    match mode {
        RekorMode::Offline => {
            let entry = match early_entry {
                Some(entry) => entry,
                // Timestamped first: the signature exists; post it from here.
                None => cred.log_signature(&signed_attrs, &sig, rekor, root, timestamp.as_ref())?,
            };
            let mut embedded = entry.clone();
            let version = match rekor.api() {
                RekorApi::V1 => "0.0.1",
                RekorApi::V2 => "0.0.2",
            };
            embedded.kind_version = Some(("hashedrekord".into(), version.into()));
            let mut attrs =
                vec![cms::tlog_attribute(&embedded.to_protobuf(false)).map_err(encoding_err)?];
            attrs.extend(ts_attr);
            let der =
                cms::build_signed_data(&signed_attrs, &sig, cert, &attrs).map_err(encoding_err)?;
            Ok(Signature {
                armored: cms::armor(&der),
                certificate: cert.clone(),
                entry,
                object_id: None,
                signing_time: now,
                timestamp,
            })
        }
        RekorMode::Online => {
            let attrs: Vec<Vec<u8>> = ts_attr.into_iter().collect();
            let der =
                cms::build_signed_data(&signed_attrs, &sig, cert, &attrs).map_err(encoding_err)?;
            let armored = cms::armor(&der);
            // Keyed like Go gitsign: the id of the object go-git re-encodes
            // (equal to git's id for ordinary commits), signed with the same key.
            let object = ObjectInfo::from_payload(payload);
            let reencoded = gitobj::gogit_commit_reencoding(payload, armored.as_bytes());
            let id = gitobj::object_id(ObjectKind::Commit, &reencoded, object.algo);
            let (_, entry) = cred.sign_logged(id.as_bytes(), rekor, root, timestamp.as_ref())?;
            Ok(Signature {
                armored,
                certificate: cert.clone(),
                entry,
                object_id: Some(id),
                signing_time: now,
                timestamp,
            })
        }
    }
}

/// Who a payload names as its committer (a tag's tagger): what
/// `gitsign.matchCommitter` compares with the certificate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Committer {
    /// The name before the `<email>` (`user.name` when git wrote it).
    pub name: Option<String>,
    /// The email between `<` and `>` (`user.email`).
    pub email: Option<String>,
}

impl Committer {
    /// The committer of `payload`; a part it lacks is taken from
    /// `fallback` (the configured `user.name` / `user.email`).
    pub fn of(payload: &[u8], fallback: &Committer) -> Committer {
        let mut c = committer(payload);
        if c.name.is_none() {
            c.name = fallback.name.clone();
        }
        if c.email.is_none() {
            c.email = fallback.email.clone();
        }
        c
    }

    /// What a credential is cached for under `gitsign.matchCommitter`.
    pub fn cache_identity(&self) -> String {
        match (&self.email, &self.name) {
            (Some(e), _) => e.clone(),
            (None, Some(n)) => n.clone(),
            (None, None) => String::new(),
        }
    }
}

/// The committer's (or tagger's) name and email in a payload.
pub fn committer(payload: &[u8]) -> Committer {
    let headers = payload.split(|b| *b == b'\n').take_while(|l| !l.is_empty());
    for line in headers {
        let rest = line
            .strip_prefix(b"committer ")
            .or_else(|| line.strip_prefix(b"tagger "));
        if let Some(rest) = rest {
            let s = String::from_utf8_lossy(rest);
            let Some(start) = s.find('<') else {
                return Committer::default();
            };
            let Some(end) = s[start..].find('>').map(|e| e + start) else {
                return Committer::default();
            };
            let name = s[..start].trim_end_matches(' ');
            return Committer {
                name: (!name.is_empty()).then(|| name.to_string()),
                email: Some(s[start + 1..end].to_string()),
            };
        }
    }
    Committer::default()
}

/// gitsign.matchCommitter, by Go gitsign's rules: the certificate matches
/// when one of its email names is the committer's email (a person), or one
/// of its URI names is the committer's name (a workload: CI sets
/// `user.name` to its URI identity, e.g. a GitHub Actions workflow's).
/// Emails compare without regard to ASCII case; URIs exactly.
pub fn check_committer(cert: &Certificate, committer: &Committer) -> Result<(), SignError> {
    if committer.email.is_none() && committer.name.is_none() {
        return Err(SignError::Committer(
            "gitsign.matchCommitter is set but the committer is unknown (set user.email, or \
             user.name to a workload's URI identity)"
                .into(),
        ));
    }
    let names = cert.subject_alt_names().unwrap_or_default();
    let email_matches = |e: &String| {
        committer
            .email
            .as_deref()
            .is_some_and(|c| e.eq_ignore_ascii_case(c))
    };
    let uri_matches = |u: &String| committer.name.as_deref() == Some(u.as_str());
    if names.iter().any(|n| match n {
        GeneralName::Email(e) => email_matches(e),
        GeneralName::Uri(u) => uri_matches(u),
        _ => false,
    }) {
        return Ok(());
    }
    let mut shown = Vec::new();
    for n in &names {
        match n {
            GeneralName::Email(e) => shown.push(format!("email {e}")),
            GeneralName::Uri(u) => shown.push(format!("URI {u}")),
            _ => {}
        }
    }
    let who = format!(
        "{} <{}>",
        committer.name.as_deref().unwrap_or(""),
        committer.email.as_deref().unwrap_or("")
    );
    Err(SignError::Committer(format!(
        "gitsign.matchCommitter is set and the certificate ({}) does not match the committer \
         {who}: a certificate email must equal the committer's email, or a certificate URI the \
         committer's name; sign in as the committer, or set user.email (user.name for a \
         workload's URI identity)",
        if shown.is_empty() {
            "no email or URI name".to_string()
        } else {
            shown.join(", ")
        }
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_scalar_signing_matches_rustcrypto_signing_key() {
        use p256::ecdsa::signature::Signer;
        use p256::pkcs8::DecodePrivateKey;
        let key = EphemeralKey::generate().unwrap();
        let pkcs8 = key.to_pkcs8().unwrap();
        let reference = p256::ecdsa::SigningKey::from_pkcs8_der(&pkcs8).unwrap();
        let restored = EphemeralKey::from_pkcs8(&pkcs8).unwrap();
        assert_eq!(restored.spki(), key.spki());
        for msg in [&b""[..], b"payload", &[7u8; 1000]] {
            let want: p256::ecdsa::DerSignature = reference.sign(msg);
            assert_eq!(key.sign(msg).unwrap(), want.as_bytes());
            assert_eq!(restored.sign(msg).unwrap(), want.as_bytes());
            let public = crypto::PublicKey::from_spki(key.spki()).unwrap();
            let scheme = crypto::default_scheme(&public);
            crypto::verify(&public, scheme, msg, &key.sign(msg).unwrap()).unwrap();
        }
    }

    #[test]
    fn pkcs8_without_public_key_and_bad_keys() {
        use p256::pkcs8::EncodePrivateKey;
        let key = EphemeralKey::generate().unwrap();
        // A PKCS#8 whose ECPrivateKey omits the public key: it is computed.
        let sk = p256::SecretKey::from(&*key.secret);
        let sec1_der = sk.to_sec1_der().unwrap();
        let mut ec = sec1::EcPrivateKey::try_from(&sec1_der[..]).unwrap();
        ec.public_key = None;
        use p256::pkcs8::der::Encode;
        let ec_der = ec.to_der().unwrap();
        let curve = p256::pkcs8::ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
        let info = p256::pkcs8::PrivateKeyInfo::new(
            p256::pkcs8::AlgorithmIdentifierRef {
                oid: p256::pkcs8::ObjectIdentifier::new_unwrap("1.2.840.10045.2.1"),
                parameters: Some((&curve).into()),
            },
            &ec_der,
        );
        let der = info.to_der().unwrap();
        assert_eq!(EphemeralKey::from_pkcs8(&der).unwrap().spki(), key.spki());
        // Garbage, truncations and other curves are refused, never a panic.
        let good = sk.to_pkcs8_der().unwrap();
        for n in 0..good.as_bytes().len() {
            assert!(EphemeralKey::from_pkcs8(&good.as_bytes()[..n]).is_err());
        }
        assert!(EphemeralKey::from_pkcs8(b"not a key").is_err());
    }
}
