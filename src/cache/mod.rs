//! Where signing credentials are kept between signatures: the
//! `gitsign-credential-cache` daemon (single flight: one login however many
//! git processes sign at once; the daemon keeps the key and signs on
//! request, as ssh-agent does, and posts Rekor entries on a connection it
//! keeps alive), or the Linux kernel keyring for users who will not run a
//! daemon. Either way keys stay in memory and expire with their certificate.

use std::path::PathBuf;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
pub mod client;
pub mod daemon_cli;
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
    /// The kernel keyring (Linux).
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

/// The Linux kernel keyring: entries in the user keyring with a kernel
/// timeout equal to the credential's remaining life, so the kernel drops
/// them on expiry. No single flight: concurrent signers may each log in.
pub mod keyring {
    use super::*;

    /// How every gitsign entry's name starts.
    pub const PREFIX: &str = "gitsign:credential:";

    /// The keyring entry name for a cache key.
    pub fn description(key: &CacheKey) -> String {
        let h = crate::pki::crypto::sha256(
            format!(
                "{}\n{}\n{}\n{}\n{}",
                key.fulcio, key.issuer, key.client_id, key.scope, key.identity
            )
            .as_bytes(),
        );
        format!("{PREFIX}{}", &crate::encoding::asn1::hex_lower(&h)[..32])
    }

    #[cfg(target_os = "linux")]
    fn ring() -> Result<linux_keyutils::KeyRing, String> {
        linux_keyutils::KeyRing::from_special_id(linux_keyutils::KeyRingIdentifier::User, false)
            .map_err(|e| format!("the kernel keyring is not available ({e:?})"))
    }

    /// The cached credential, if any and if it passes the checks of a
    /// fresh one (a refused entry is removed).
    #[cfg(target_os = "linux")]
    pub fn get(key: &CacheKey, root: &TrustedRoot, now: i64) -> Result<Option<Credential>, String> {
        let ring = ring()?;
        let Ok(k) = ring.search(&description(key)) else {
            return Ok(None);
        };
        let data = Zeroizing::new(
            k.read_to_vec()
                .map_err(|e| format!("reading the keyring entry failed ({e:?})"))?,
        );
        let c: proto::Credential = serde_json::from_slice(&data)
            .map_err(|_| "the keyring entry is malformed".to_string())?;
        match from_cache(&c, root, now) {
            Ok(cred) => Ok(Some(cred)),
            Err(why) => {
                let _ = k.invalidate();
                // Expired or malformed: a miss; refused: said so.
                if why.starts_with(REFUSED) {
                    Err(why)
                } else {
                    Ok(None)
                }
            }
        }
    }

    /// Stores a credential until it expires.
    pub fn store(key: &CacheKey, cred: &Credential, now: i64) -> Result<(), String> {
        store_entry(key, &to_cache(cred)?, now)
    }

    /// Stores a credential as the cache holds it, replacing any entry under
    /// `key`, until its `expires_at` but never past its certificate's
    /// notAfter less [`margin`] (the kernel drops it then).
    #[cfg(target_os = "linux")]
    pub fn store_entry(key: &CacheKey, c: &proto::Credential, now: i64) -> Result<(), String> {
        let chain = checked_chain(&c.chain_pem)
            .map_err(|e| format!("the credential was not cached: {e}"))?;
        let mut c = c.clone();
        c.expires_at = serve_until(&chain[0], c.expires_at);
        let life = c.expires_at - now;
        if life <= 0 {
            return Ok(());
        }
        let data = Zeroizing::new(serde_json::to_vec(&c).map_err(|e| e.to_string())?);
        let ring = ring()?;
        let k = ring
            .add_key(&description(key), &data[..])
            .map_err(|e| format!("adding to the keyring failed ({e:?})"))?;
        k.set_timeout(life as usize)
            .map_err(|e| format!("setting the keyring timeout failed ({e:?})"))?;
        Ok(())
    }

    /// Removes the entry for `key`; whether there was one.
    #[cfg(target_os = "linux")]
    pub fn clear(key: &CacheKey) -> Result<bool, String> {
        let ring = ring()?;
        match ring.search(&description(key)) {
            Ok(k) => k
                .invalidate()
                .map(|_| true)
                .map_err(|e| format!("removing the keyring entry failed ({e:?})")),
            Err(_) => Ok(false),
        }
    }

    /// Removes every gitsign entry this user can see (any identity, scope,
    /// Fulcio or issuer): what `gitsign cache clear` does. The entries are
    /// found in `/proc/keys` by their name's [`PREFIX`], and each is
    /// checked (a user key of ours with that name) before it is removed.
    #[cfg(target_os = "linux")]
    pub fn clear_all() -> Result<usize, String> {
        let keys = std::fs::read_to_string("/proc/keys").map_err(|e| {
            format!("the kernel keyring's entries cannot be listed (/proc/keys: {e})")
        })?;
        let euid = super::socket::euid();
        let mut removed = 0;
        for line in keys.lines() {
            let mut fields = line.split_whitespace();
            let (Some(id), Some(kind), Some(name)) = (fields.next(), fields.nth(6), fields.next())
            else {
                continue;
            };
            if kind != "user" || !name.starts_with(PREFIX) {
                continue;
            }
            let Ok(id) = i32::from_str_radix(id, 16) else {
                continue;
            };
            let k = linux_keyutils::Key::from_id(linux_keyutils::KeySerialId::new(id));
            let ours = k.metadata().is_ok_and(|m| {
                m.get_type() == linux_keyutils::KeyType::User
                    && m.get_uid() == euid
                    && m.get_description().starts_with(PREFIX)
            });
            if ours {
                k.invalidate()
                    .map_err(|e| format!("removing a keyring entry failed ({e:?})"))?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    #[cfg(not(target_os = "linux"))]
    /// The keyring cache is Linux-only.
    pub fn get(_: &CacheKey, _: &TrustedRoot, _: i64) -> Result<Option<Credential>, String> {
        Err("gitsign.credentialCache=keyring needs Linux's kernel keyring; use the daemon".into())
    }

    #[cfg(not(target_os = "linux"))]
    /// The keyring cache is Linux-only.
    pub fn store_entry(_: &CacheKey, _: &proto::Credential, _: i64) -> Result<(), String> {
        Err("gitsign.credentialCache=keyring needs Linux's kernel keyring; use the daemon".into())
    }

    #[cfg(not(target_os = "linux"))]
    /// The keyring cache is Linux-only.
    pub fn clear_all() -> Result<usize, String> {
        Err("gitsign.credentialCache=keyring needs Linux's kernel keyring; use the daemon".into())
    }

    #[cfg(not(target_os = "linux"))]
    /// The keyring cache is Linux-only.
    pub fn clear(_: &CacheKey) -> Result<bool, String> {
        Err("gitsign.credentialCache=keyring needs Linux's kernel keyring; use the daemon".into())
    }

    pub(super) fn credential(
        key: &CacheKey,
        root: &TrustedRoot,
        now: i64,
        checks: &Checks<'_>,
        login: &mut dyn FnMut() -> Result<Credential, String>,
    ) -> Result<(Credential, Outcome), String> {
        let mut refused = None;
        match get(key, root, now) {
            Ok(Some(c)) => match (checks.accept)(&c) {
                Ok(()) => return Ok((c, Outcome::Hit)),
                // Not for this signature: removed, and replaced below.
                Err(why) => {
                    let _ = clear(key);
                    refused = Some(format!("{REFUSED}: {why}"));
                }
            },
            Ok(None) => {}
            // A refused entry was removed: log in and store a good one.
            Err(e) if e.starts_with(REFUSED) => refused = Some(e),
            Err(e) => return login().map(|c| (c, Outcome::Bypassed(e))),
        }
        let cred = login()?;
        // Refused for this signature: not cached, so that the next
        // signature offers a login again.
        (checks.accept)(&cred)?;
        if let Some(why) = refused {
            let stored = store(key, &cred, now);
            let what = match stored {
                Ok(()) => "logged in and replaced it".to_string(),
                Err(e) => format!("logged in; replacing it failed: {e}"),
            };
            return Ok((cred, Outcome::Broken(format!("{why}; {what}"))));
        }
        match store(key, &cred, now) {
            Ok(()) => Ok((cred, Outcome::Stored)),
            Err(e) => Ok((cred, Outcome::Bypassed(e))),
        }
    }
}
