//! Where signing credentials are kept between signatures: the
//! `gitsign-credential-cache` daemon (single flight: one login however many
//! git processes sign at once; the daemon keeps the key and signs on
//! request, as ssh-agent does, and posts Rekor entries on a connection it
//! keeps alive), or the platform's secret store ([`keyring`]: the kernel
//! keyring on Linux, the Keychain on macOS, the Credential Manager on
//! Windows) for users who will not run a daemon. Either way a cached
//! credential expires with its certificate, and whatever is read back is
//! checked as a fresh one.

use std::path::PathBuf;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
pub mod client;
pub mod daemon_cli;
// The daemon-less cache in the platform's secret store.
pub mod keyring;
pub mod proto;
// Unix sockets and Unix owners: the daemon and its client are Unix-only
// (off Unix the client says the cache is not supported on this platform).
#[cfg(unix)]
pub mod socket;

use client::{CacheError, Claim, Client};
use proto::{CacheKey, Certified, RekorTarget};
use zeroize::Zeroizing;

use crate::config::{CacheSetting, Config};
use crate::pki::x509::{self, Certificate};
use crate::sign::{Credential, EphemeralKey, HolderUpload, KeyHolder, RemoteKey};
use crate::sigstore::fulcio;
use crate::sigstore::trust::TrustedRoot;

/// The cache a configuration selects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    /// No cache.
    Off,
    /// The daemon at this socket.
    Daemon(PathBuf),
    /// The platform's secret store ([`keyring`]).
    Keyring,
}

impl Backend {
    /// Resolves `gitsign.credentialCache`.
    pub fn from_config(config: &Config) -> Result<Backend, String> {
        let path =
            || client::default_socket_path(&config.cache_socket_env).map_err(|e| e.to_string());
        Ok(match config.credential_cache {
            CacheSetting::Off => Backend::Off,
            CacheSetting::Keyring => Backend::Keyring,
            CacheSetting::Daemon => Backend::Daemon(path()?),
            CacheSetting::Auto => {
                let named = config.cache_socket_env.gitsign_credential_cache.is_some();
                match path() {
                    Ok(p) if named || p.exists() => Backend::Daemon(p),
                    Ok(_) => Backend::Off,
                    Err(e) if named => return Err(e),
                    Err(_) => Backend::Off,
                }
            }
        })
    }
}

/// The cache scope: with `gitsign.cachePerRepo`, the repository (its git
/// directory) around the current directory; otherwise one scope per user.
pub fn scope(config: &Config) -> Option<String> {
    if !config.cache_per_repo {
        return None;
    }
    gix::discover_with_environment_overrides(".").ok().map(|r| {
        r.git_dir()
            .canonicalize()
            .unwrap_or_else(|_| r.git_dir().to_path_buf())
            .display()
            .to_string()
    })
}

/// The key a credential is cached under: what decides the certificate,
/// and the identity the signature asks for (see [`identity_of`]).
pub fn key_for(config: &Config, scope: Option<String>, identity: &str) -> CacheKey {
    CacheKey {
        fulcio: config.fulcio.clone(),
        issuer: config.issuer.clone(),
        client_id: config.client_id.clone(),
        scope: scope.unwrap_or_default(),
        identity: identity_of(identity),
    }
}

/// An identity as the cache key holds it: the email of `Name <email>`
/// (what git passes with `-u` when `user.signingKey` is unset), else the
/// value itself; trimmed and lowercased (emails compare that way).
pub fn identity_of(key_id: &str) -> String {
    let inner = match (key_id.rfind('<'), key_id.rfind('>')) {
        (Some(a), Some(b)) if a < b => &key_id[a + 1..b],
        _ => key_id,
    };
    inner.trim().to_lowercase()
}

/// How long before the certificate's notAfter a cached credential stops
/// being served: a signature needs the certificate valid until Rekor logs
/// it. A tenth of the lifetime, at most a minute.
pub fn margin(cert: &Certificate) -> i64 {
    ((cert.not_after - cert.not_before) / 10).clamp(1, 60)
}

/// The credential as the cache stores it.
pub fn to_cache(cred: &Credential) -> Result<proto::Credential, String> {
    let KeyHolder::Local(key) = &cred.key else {
        return Err("the key is held by the credential cache and cannot be stored again".into());
    };
    let pkcs8 = key.to_pkcs8().map_err(|e| e.to_string())?;
    let leaf = cred.leaf();
    let identity = crate::git::gpg::uid(leaf);
    let chain_pem: String = cred
        .chain
        .iter()
        .map(|c| crate::encoding::pem::encode("CERTIFICATE", c.der()))
        .collect();
    Ok(proto::Credential {
        private_key_pkcs8_b64: STANDARD.encode(&pkcs8[..]),
        chain_pem,
        identity,
        expires_at: leaf.not_after - margin(leaf),
    })
}

/// A cached credential back in usable form, checked exactly as a fresh
/// one from Fulcio is: refused when it expired, anything is malformed, or
/// [`fulcio::check_certificate`] refuses it (its key, chain to the trusted
/// root, leaf profile, SCT).
pub fn from_cache(
    c: &proto::Credential,
    root: &TrustedRoot,
    now: i64,
) -> Result<Credential, String> {
    let chain = usable_chain(&c.chain_pem, c.expires_at, now)?;
    let der = Zeroizing::new(
        STANDARD
            .decode(&c.private_key_pkcs8_b64)
            .map_err(|_| "the cached key is not base64")?,
    );
    let key = EphemeralKey::from_pkcs8(&der).map_err(|e| e.to_string())?;
    check_cached(&chain[0], key.spki(), root, now)?;
    Ok(Credential {
        key: KeyHolder::Local(key),
        chain,
    })
}

/// [`fulcio::check_certificate`] for a cached certificate, as a sentence:
/// one that merely expired (or is about to) is said to be so, an ordinary
/// miss; anything else is a refusal ([`REFUSED`]).
fn check_cached(
    leaf: &Certificate,
    spki: &[u8],
    root: &TrustedRoot,
    now: i64,
) -> Result<(), String> {
    if now > leaf.not_after - margin(leaf) {
        return Err(format!(
            "the cached certificate expire{} at {}",
            if now > leaf.not_after { "d" } else { "s" },
            crate::encoding::time::format_time(leaf.not_after)
        ));
    }
    fulcio::check_certificate(leaf, spki, root, now)
        .map_err(|e| format!("{REFUSED}: {}", fulcio::reason(&e)))
}

/// How every refusal of [`check_cached`] starts: a cached credential that
/// fails the checks of a fresh one (poisoned, or cached under another
/// trusted root), as opposed to one that merely expired.
const REFUSED: &str = "the cached certificate was refused";

/// A cached certificate chain as a cache may hold it: at most
/// [`proto::MAX_CHAIN_CERTS`] certificates in at most
/// [`proto::MAX_CHAIN_PEM`] bytes, leaf first, each one issued (signed) by
/// the next. What it chains to is [`fulcio::check_certificate`]'s to say.
/// The daemon keeps nothing else, and gitsign reads nothing else back.
pub fn checked_chain(chain_pem: &str) -> Result<Vec<Certificate>, String> {
    if chain_pem.len() > proto::MAX_CHAIN_PEM {
        return Err(format!(
            "its certificate chain takes {} bytes, more than the {} a Fulcio chain needs",
            chain_pem.len(),
            proto::MAX_CHAIN_PEM
        ));
    }
    let chain = x509::certificates_from_pem(chain_pem)
        .map_err(|e| format!("its certificate chain does not parse ({e})"))?;
    if chain.is_empty() {
        return Err("it has no certificate".into());
    }
    if chain.len() > proto::MAX_CHAIN_CERTS {
        return Err(format!(
            "its certificate chain holds {} certificates, more than the {} a Fulcio chain needs",
            chain.len(),
            proto::MAX_CHAIN_CERTS
        ));
    }
    for (i, pair) in chain.windows(2).enumerate() {
        if pair[0].issuer() != pair[1].subject() || pair[0].verify_signed_by(&pair[1]).is_err() {
            return Err(format!(
                "certificate {} of its chain did not issue certificate {} (a chain is the leaf, \
                 then each certificate's issuer)",
                i + 2,
                i + 1
            ));
        }
    }
    Ok(chain)
}

/// When a credential whose leaf is `leaf` may be served until: the
/// certificate's notAfter less [`margin`], or `claimed` (what the storing
/// client said) if earlier. A client's word never extends it.
pub fn serve_until(leaf: &Certificate, claimed: i64) -> i64 {
    claimed.min(leaf.not_after - margin(leaf))
}

/// A cached certificate chain still fit to sign with: not expired by the
/// cache's clock, bounded and chained ([`checked_chain`]), and not within
/// the margin of its leaf's notAfter.
fn usable_chain(chain_pem: &str, expires_at: i64, now: i64) -> Result<Vec<Certificate>, String> {
    if expires_at <= now {
        return Err("the cached credential has expired".into());
    }
    let chain = checked_chain(chain_pem).map_err(|e| format!("{REFUSED}: {e}"))?;
    let leaf = &chain[0];
    if now > leaf.not_after - margin(leaf) {
        return Err(format!(
            "the cached certificate expires at {}, too soon to sign with",
            crate::encoding::time::format_time(leaf.not_after)
        ));
    }
    Ok(chain)
}

/// The certificate of a credential the daemon holds, checked exactly as a
/// fresh one (expiry, chain to the trusted root, profile, SCT); the daemon
/// keeps the key, and each signature it returns is verified against this
/// certificate before use.
fn from_daemon(
    c: &Certified,
    client: Client,
    key: &CacheKey,
    root: &TrustedRoot,
    now: i64,
) -> Result<Credential, String> {
    let chain = usable_chain(&c.chain_pem, c.expires_at, now)?;
    // Now, not when the wait began: another process's login may have
    // fetched it since.
    check_cached(
        &chain[0],
        chain[0].spki(),
        root,
        crate::encoding::time::now(),
    )?;
    Ok(Credential {
        key: KeyHolder::Remote(Box::new(DaemonKey {
            client,
            key: key.clone(),
        })),
        chain,
    })
}

/// A key the daemon holds.
#[derive(Debug)]
struct DaemonKey {
    client: Client,
    key: CacheKey,
}

impl RemoteKey for DaemonKey {
    fn sign(
        &self,
        message: &[u8],
        rekor: Option<(&str, Duration, crate::sigstore::rekor::RekorApi)>,
    ) -> Result<(Vec<u8>, Option<HolderUpload>), String> {
        let target = rekor.map(|(url, timeout, api)| RekorTarget {
            url: url.to_string(),
            timeout_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
            api_version: api.major(),
        });
        let signed = self
            .client
            .sign(&self.key, message, target)
            .map_err(|e| format!("the credential cache failed while signing: {e}"))?
            .ok_or(
                "the credential cache no longer holds the credential (it expired or was cleared)",
            )?;
        Ok((signed.signature, signed.rekor))
    }
}

/// What happened at the cache, for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Served from the cache.
    Hit,
    /// Logged in and stored.
    Stored,
    /// Logged in; the cache was not used (off, unavailable, or failing).
    Bypassed(String),
    /// Logged in because the daemon cannot serve this gitsign until the
    /// user acts (another protocol version, another user's socket, not a
    /// cache daemon): every signature would log in until then.
    Broken(String),
}

/// The longest a signer waits for another client's login of the same
/// credential before it logs in itself (or the login timeout, when
/// shorter). Whoever reaches the daemon's socket can hold a claim without
/// ever finishing it (the far end of a forwarded socket can re-claim it
/// forever), so a claim may cost a signer this much and no more; an honest
/// browser login that takes longer costs the other signers a login of
/// their own.
pub const MAX_CLAIM_WAIT: Duration = Duration::from_secs(20);

/// What the signature at hand asks of a credential, beyond the checks of
/// a fresh one.
pub struct Checks<'a> {
    /// Whether a credential may sign this signature (`gitsign.matchCommitter`:
    /// its identity is the committer's). A cached credential it refuses is
    /// treated as a poisoned one; a fresh one it refuses is not cached, so
    /// that the next signature offers a login again.
    pub accept: &'a dyn Fn(&Credential) -> Result<(), String>,
    /// Says a line where the user looks (the terminal): that this signer
    /// waits for another client's login, and for how long at most.
    pub say: &'a dyn Fn(&str),
}

/// Gets a credential through the configured cache, calling `login` only
/// when none is cached. A cached credential is used only if it passes the
/// checks a fresh one passes against `root`, and `checks.accept`. With the
/// daemon, concurrent signers share one login; waiting for another
/// process's login is said through `checks.say` and bounded by `wait` (at
/// most [`MAX_CLAIM_WAIT`]), after which this process logs in itself.
pub fn credential(
    backend: &Backend,
    key: &CacheKey,
    root: &TrustedRoot,
    wait: Duration,
    checks: &Checks<'_>,
    login: &mut dyn FnMut() -> Result<Credential, String>,
) -> Result<(Credential, Outcome), String> {
    let now = crate::encoding::time::now();
    let wait = wait.min(MAX_CLAIM_WAIT);
    match backend {
        Backend::Off => login().map(|c| {
            (
                c,
                Outcome::Bypassed("no credential cache is configured".into()),
            )
        }),
        Backend::Daemon(path) => {
            let client = Client::new(path.clone());
            // Ask without waiting first, so that a wait is said before it
            // begins.
            let claim = match client.get_or_claim(key, Duration::ZERO) {
                Ok(Claim::Timeout) if !wait.is_zero() => {
                    (checks.say)(&format!(
                        "waiting up to {} s for another gitsign's login of this credential to \
                         finish (or another program's: anything that reaches the credential \
                         cache's socket can start one), then logging in here",
                        wait.as_secs()
                    ));
                    client.get_or_claim(key, wait)
                }
                other => other,
            };
            match claim {
                Ok(Claim::Hit(c)) => {
                    let checked =
                        from_daemon(&c, client.clone(), key, root, crate::encoding::time::now())
                            .and_then(|cred| match (checks.accept)(&cred) {
                                Ok(()) => Ok(cred),
                                Err(why) => Err(format!("{REFUSED}: {why}")),
                            });
                    match checked {
                        Ok(cred) => Ok((cred, Outcome::Hit)),
                        // Expired in transit: an ordinary miss.
                        Err(why) if !why.starts_with(REFUSED) => {
                            login().map(|c| (c, Outcome::Bypassed(why)))
                        }
                        // Poisoned: log in. The daemon never replaces a
                        // live entry, so it is refused until it expires.
                        Err(why) => {
                            let cred = login()?;
                            Ok((
                                cred,
                                Outcome::Broken(format!(
                                    "{why}; logged in instead (the daemon keeps the refused \
                                     credential until it expires at {}, and each signature \
                                     logs in until then; `gitsign cache clear` forgets it now)",
                                    crate::encoding::time::format_time(c.expires_at)
                                )),
                            ))
                        }
                    }
                }
                Ok(Claim::Claimed(handle)) => match login() {
                    Ok(cred) => {
                        // Refused for this signature: not cached, so the
                        // next signature offers a login again.
                        if let Err(why) = (checks.accept)(&cred) {
                            let _ = handle.release();
                            return Err(why);
                        }
                        let stored = match to_cache(&cred) {
                            Ok(c) => handle.store(&c).map_err(|e| {
                                // The daemon refused it (another trusted
                                // root): every signature would log in.
                                let refused = matches!(e, CacheError::Daemon { .. });
                                (refused, e.to_string())
                            }),
                            Err(e) => Err((false, e)),
                        };
                        let why = |e: String| format!("could not store the credential: {e}");
                        match stored {
                            Ok(()) => Ok((cred, Outcome::Stored)),
                            Err((true, e)) => Ok((cred, Outcome::Broken(why(e)))),
                            Err((false, e)) => Ok((cred, Outcome::Bypassed(why(e)))),
                        }
                    }
                    Err(e) => {
                        let _ = handle.release();
                        Err(e)
                    }
                },
                // Another client holds the login and has not finished (a
                // forgotten browser tab, a hung or hostile process): log in
                // as without a cache rather than fail.
                Ok(Claim::Timeout) => login().map(|c| {
                    (
                        c,
                        Outcome::Bypassed(format!(
                            "another client of the credential cache held this login for {} s \
                             without finishing it; logged in without waiting longer",
                            wait.as_secs()
                        )),
                    )
                }),
                // A missing, unsupported or broken cache never stops
                // signing.
                Err(e @ (CacheError::NotRunning { .. } | CacheError::Unsupported { .. })) => {
                    login().map(|c| (c, Outcome::Bypassed(e.to_string())))
                }
                Err(
                    e @ (CacheError::VersionMismatch { .. }
                    | CacheError::NotOurs { .. }
                    | CacheError::PermissionDenied { .. }
                    | CacheError::Protocol { .. }),
                ) => login().map(|c| (c, Outcome::Broken(e.to_string()))),
                Err(e) => login().map(|c| {
                    (
                        c,
                        Outcome::Bypassed(format!("the credential cache failed: {e}")),
                    )
                }),
            }
        }
        Backend::Keyring => keyring::credential(key, root, now, checks, login),
    }
}
