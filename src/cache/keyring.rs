//! The daemon-less credential cache (`gitsign.credentialCache = keyring`):
//! one entry per cache key in the platform's secret store, reached through
//! the `keyring` crate. It holds the entry's name ([`description`]), its
//! compact encoding (the expiry, the PKCS#8 key and the leaf certificate),
//! and the read, store and clear operations; what it reads back goes
//! through [`super::from_cache`], the checks of a fresh credential. It may
//! use the platform store and nothing else: no file, no daemon, no network.
//! No single flight: concurrent signers may each log in.
//!
//! Per platform:
//! - Linux: the user keyring (`@u`), in kernel memory only, with a kernel
//!   timeout equal to the entry's remaining life, so the kernel drops the
//!   key when the certificate expires even if nothing reads it again.
//!   Through the crate's `KeyutilsCredential` aimed at the user keyring,
//!   not the crate's default Linux store, whose behaviour was measured
//!   here (kernel 6.18, keyring 3.6.3, `keyctl session` standing in for
//!   a login session as pam_keyinit makes one): it adds the entry to the
//!   process's session keyring and links it into the persistent keyring
//!   (`_persistent.UID`, which the kernel keeps for 3 days after its last
//!   use here), with no timeout (`perm` in /proc/keys): the private key
//!   would outlive its certificate by days. An entry stored from a login
//!   session was found from another login session (through the persistent
//!   keyring) but not from a process without a session keyring of its own
//!   (a service, cron, this machine's shells): its search starts at the
//!   user-session keyring, and the crate links the persistent keyring
//!   into a new anonymous session keyring instead. With the user keyring,
//!   an entry stored from any of these was found from all of them, as
//!   before. The crate has no timeout, so `linux-keyutils` (the crate's
//!   own backend) stores the entry ([`platform::set`]: made in the
//!   process keyring with its timeout and user permissions, then linked
//!   into `@u`, so that it is never there without its timeout, and a
//!   process whose session keyring does not link `@u` — a system
//!   service's private keyring — can time out, read and remove it), and
//!   lists the entries for `clear_all` (/proc/keys).
//! - macOS: a generic password in the login Keychain (service `gitsign`,
//!   account the entry's name). The Keychain has no timeout and keeps the
//!   item in its file (encrypted by macOS) until it is removed: the expiry
//!   is in the entry, and an expired entry is removed when read.
//! - Windows: a generic credential in the Credential Manager (target the
//!   entry's name), kept (encrypted by Windows, with the crate's enterprise
//!   persistence) until removed; expiry as on macOS. A blob holds at most
//!   2560 bytes, which is why an entry keeps only the leaf certificate (the
//!   rest of the chain is the trusted root's, and checked against it).
//! - Elsewhere (the BSDs): none; each operation says to use the daemon.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use zeroize::Zeroizing;

use super::proto::{self, CacheKey};
use super::{
    checked_chain, from_cache, serve_until, to_cache, Checks, Credential, Outcome, TrustedRoot,
    REFUSED,
};

/// How every gitsign entry's name starts.
pub const PREFIX: &str = "gitsign:credential:";

/// What the store is called in what gitsign says (`gitsign cache status`).
pub const STORE: &str = if cfg!(target_os = "linux") {
    "kernel keyring"
} else if cfg!(target_os = "macos") {
    "macOS Keychain"
} else if cfg!(windows) {
    "Windows Credential Manager"
} else {
    "keyring"
};

/// Whether [`clear_all`] removes every gitsign entry (Linux lists them in
/// /proc/keys) or only the one for the key it is given (the crate cannot
/// list the Keychain's or the Credential Manager's entries).
pub const CLEARS_ALL: bool = cfg!(target_os = "linux");

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

/// How an entry starts: the format's name and version.
const MAGIC: &[u8; 4] = b"GSC1";

/// An entry's bytes: [`MAGIC`], `expires_at` (8 bytes, big-endian), the
/// PKCS#8 key's length (2 bytes, big-endian), the key, the leaf's DER.
/// Binary and leaf-only to fit the Credential Manager's 2560 bytes.
pub fn encode(c: &proto::Credential) -> Result<Zeroizing<Vec<u8>>, String> {
    let chain = checked_chain(&c.chain_pem)?;
    let key = Zeroizing::new(
        STANDARD
            .decode(&c.private_key_pkcs8_b64)
            .map_err(|_| "its key is not base64")?,
    );
    let len = u16::try_from(key.len()).map_err(|_| "its key is too long")?;
    let leaf = chain[0].der();
    let mut out = Zeroizing::new(Vec::with_capacity(14 + key.len() + leaf.len()));
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&c.expires_at.to_be_bytes());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&key);
    out.extend_from_slice(leaf);
    Ok(out)
}

/// An entry's bytes back as the cache's credential, for [`from_cache`] to
/// check; `None` when they are not an entry [`encode`] made.
pub fn decode(data: &[u8]) -> Option<proto::Credential> {
    let rest = data.strip_prefix(MAGIC)?;
    let (expires, rest) = rest.split_first_chunk::<8>()?;
    let (len, rest) = rest.split_first_chunk::<2>()?;
    let len = usize::from(u16::from_be_bytes(*len));
    if rest.len() <= len {
        return None;
    }
    let (key, leaf) = rest.split_at(len);
    Some(proto::Credential {
        private_key_pkcs8_b64: STANDARD.encode(key),
        chain_pem: crate::encoding::pem::encode("CERTIFICATE", leaf),
        identity: String::new(),
        expires_at: i64::from_be_bytes(*expires),
    })
}

/// The cached credential, if any and if it passes the checks of a fresh
/// one. An entry that fails them is removed: one that expired (the store
/// may have no timeout) or that is not in this release's format is a miss,
/// any other a refusal (an error starting with [`REFUSED`]).
pub fn get(key: &CacheKey, root: &TrustedRoot, now: i64) -> Result<Option<Credential>, String> {
    let entry = platform::entry(&description(key))?;
    let data = match entry.get_secret() {
        Ok(d) => Zeroizing::new(d),
        Err(::keyring::Error::NoEntry) => return Ok(None),
        Err(e) => return Err(format!("reading the {STORE} entry failed ({e})")),
    };
    let checked = match decode(&data) {
        Some(c) => from_cache(&c, root, now),
        None => Err("the entry is not in this gitsign's format".into()),
    };
    match checked {
        Ok(cred) => Ok(Some(cred)),
        Err(why) => {
            let _ = entry.delete_credential();
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
/// `key`, until its `expires_at` but never past its certificate's notAfter
/// less [`super::margin`] (on Linux the kernel drops it then; elsewhere it
/// is removed when read after that).
pub fn store_entry(key: &CacheKey, c: &proto::Credential, now: i64) -> Result<(), String> {
    let chain =
        checked_chain(&c.chain_pem).map_err(|e| format!("the credential was not cached: {e}"))?;
    let mut c = c.clone();
    c.expires_at = serve_until(&chain[0], c.expires_at);
    let life = c.expires_at - now;
    if life <= 0 {
        return Ok(());
    }
    let data = encode(&c).map_err(|e| format!("the credential was not cached: {e}"))?;
    platform::set(&description(key), &data, life)
}

/// Removes the entry for `key`; whether there was one.
pub fn clear(key: &CacheKey) -> Result<bool, String> {
    match platform::entry(&description(key))?.delete_credential() {
        Ok(()) => Ok(true),
        Err(::keyring::Error::NoEntry) => Ok(false),
        Err(e) => Err(format!("removing the {STORE} entry failed ({e})")),
    }
}

/// What `gitsign cache clear` does. On Linux ([`CLEARS_ALL`]): every
/// gitsign entry this user can see (any identity, scope, Fulcio or
/// issuer), found in `/proc/keys` by their name's [`PREFIX`], each checked
/// (a user key of ours with that name) before it is removed. Elsewhere the
/// store's entries cannot be listed through the crate, so only the entry
/// for `current` goes; the others are removed when read after they expire.
/// Returns how many were removed.
pub fn clear_all(current: &CacheKey) -> Result<usize, String> {
    platform::clear_all(current)
}

#[cfg(target_os = "linux")]
mod platform {
    use super::{CacheKey, STORE};
    use linux_keyutils::{KeyRing, KeyRingIdentifier};

    fn user_keyring() -> Result<KeyRing, String> {
        KeyRing::from_special_id(KeyRingIdentifier::User, false)
            .map_err(|e| format!("the kernel keyring is not available ({e:?})"))
    }

    /// The crate's keyutils credential in the user keyring, not linked to
    /// the persistent keyring (the module's doc says why).
    pub fn entry(name: &str) -> Result<::keyring::Entry, String> {
        Ok(::keyring::Entry::new_with_credential(Box::new(
            ::keyring::keyutils::KeyutilsCredential {
                session: user_keyring()?,
                persistent: None,
                description: name.to_string(),
            },
        )))
    }

    /// Adds (or replaces) the entry, with the kernel timeout: the entry
    /// goes when its credential expires. The key is made in this process's
    /// own keyring (which it always possesses), given its timeout and its
    /// permissions there, and only then linked into the user keyring (the
    /// link replaces an older entry of that name): it is never in the user
    /// keyring without its timeout, and a process whose session keyring
    /// does not link the user keyring (a system service's private keyring,
    /// `keyctl session`), which possesses nothing in it, can still set the
    /// timeout. Permissions: everything for a possessor; view, read, write,
    /// search, link and setattr for the user (any process of this uid,
    /// which can reach `@u` by its special id and so possess the key
    /// anyway), so that such a process reads and removes the entry too;
    /// nothing for the group or others.
    pub fn set(name: &str, data: &[u8], life: i64) -> Result<(), String> {
        use linux_keyutils::{KeyPermissionsBuilder, Permission};
        let fail = |what: &str| {
            let what = what.to_string();
            move |e| match e {
                linux_keyutils::KeyError::QuotaExceeded => format!(
                    "{what} the {STORE} entry failed: this user's kernel key quota is full \
                     (/proc/key-users; sysctl kernel.keys.maxbytes and maxkeys): `gitsign cache \
                     clear` removes gitsign's entries, or use the daemon \
                     (gitsign.credentialCache = daemon)"
                ),
                e => format!("{what} the {STORE} entry failed ({e:?})"),
            }
        };
        let user = user_keyring()?;
        let process = KeyRing::from_special_id(KeyRingIdentifier::Process, true)
            .map_err(fail("making a process keyring for"))?;
        let key = process.add_key(name, data).map_err(fail("adding"))?;
        let placed = (|| {
            // The kernel takes an unsigned int: 0 would mean no timeout.
            let secs = u32::try_from(life).unwrap_or(u32::MAX).max(1);
            key.set_timeout(secs as usize)
                .map_err(fail("setting the timeout of"))?;
            key.set_perms(
                KeyPermissionsBuilder::builder()
                    .posessor(Permission::ALL)
                    .user(Permission::ALL)
                    .build(),
            )
            .map_err(fail("setting the permissions of"))?;
            user.link_key(key).map_err(fail("linking"))
        })();
        let _ = process.unlink_key(key);
        if placed.is_err() {
            let _ = key.invalidate();
        }
        placed
    }

    pub fn clear_all(_: &CacheKey) -> Result<usize, String> {
        let keys = std::fs::read_to_string("/proc/keys").map_err(|e| {
            format!("the kernel keyring's entries cannot be listed (/proc/keys: {e})")
        })?;
        let euid = crate::cache::socket::euid();
        let mut removed = 0;
        for line in keys.lines() {
            let mut fields = line.split_whitespace();
            let (Some(id), Some(kind), Some(name)) = (fields.next(), fields.nth(6), fields.next())
            else {
                continue;
            };
            if kind != "user" || !name.starts_with(super::PREFIX) {
                continue;
            }
            let Ok(id) = i32::from_str_radix(id, 16) else {
                continue;
            };
            let k = linux_keyutils::Key::from_id(linux_keyutils::KeySerialId::new(id));
            let ours = k.metadata().is_ok_and(|m| {
                m.get_type() == linux_keyutils::KeyType::User
                    && m.get_uid() == euid
                    && m.get_description().starts_with(super::PREFIX)
            });
            if ours {
                k.invalidate()
                    .map_err(|e| format!("removing a keyring entry failed ({e:?})"))?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}

#[cfg(any(target_os = "macos", windows))]
mod platform {
    use super::CacheKey;

    /// A generic password in the login Keychain: service `gitsign`,
    /// account the entry's name.
    #[cfg(target_os = "macos")]
    pub fn entry(name: &str) -> Result<::keyring::Entry, String> {
        ::keyring::macos::MacCredential::new_with_target(None, "gitsign", name)
            .map(|c| ::keyring::Entry::new_with_credential(Box::new(c)))
            .map_err(|e| format!("the macOS Keychain is not available ({e})"))
    }

    /// A generic credential whose target is the entry's name.
    #[cfg(windows)]
    pub fn entry(name: &str) -> Result<::keyring::Entry, String> {
        ::keyring::windows::WinCredential::new_with_target(Some(name), "gitsign", name)
            .map(|c| ::keyring::Entry::new_with_credential(Box::new(c)))
            .map_err(|e| format!("the Windows Credential Manager is not available ({e})"))
    }

    /// Adds (or replaces) the entry. No timeout in these stores: the
    /// expiry inside the entry is checked when it is read, and an expired
    /// entry is removed then.
    pub fn set(name: &str, data: &[u8], _: i64) -> Result<(), String> {
        entry(name)?
            .set_secret(data)
            .map_err(|e| format!("adding to the {} failed ({e})", super::STORE))
    }

    pub fn clear_all(current: &CacheKey) -> Result<usize, String> {
        super::clear(current).map(usize::from)
    }
}

#[cfg(not(any(target_os = "linux", target_os = "macos", windows)))]
mod platform {
    use super::CacheKey;

    const NONE: &str = "gitsign.credentialCache=keyring needs the Linux kernel keyring, the macOS \
                        Keychain or the Windows Credential Manager, and this platform has none of \
                        them; use the daemon";

    /// Never an entry here; its type is the crate's, so that the code
    /// above reads the same on every platform.
    pub fn entry(_: &str) -> Result<::keyring::Entry, String> {
        Err(NONE.into())
    }

    pub fn set(_: &str, _: &[u8], _: i64) -> Result<(), String> {
        Err(NONE.into())
    }

    pub fn clear_all(_: &CacheKey) -> Result<usize, String> {
        Err(NONE.into())
    }
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
        // Every signature logs in until an entry can be stored: the user
        // is told, not only the log.
        Err(e) => Ok((
            cred,
            Outcome::Broken(format!(
                "{e}; every signature logs in until the credential can be stored"
            )),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A credential with a real certificate (a key of its own: the
    /// encoding does not check that they match, `from_cache` does).
    fn entry() -> proto::Credential {
        proto::Credential {
            private_key_pkcs8_b64: STANDARD.encode([7u8; 138]),
            chain_pem: include_str!("../../tests/fixtures/keys/p256-cert.pem").into(),
            identity: "test@example.com".into(),
            expires_at: 1_700_000_000,
        }
    }

    #[test]
    fn an_entry_round_trips_with_the_leaf_only() {
        let c = entry();
        let back = decode(&encode(&c).unwrap()).unwrap();
        assert_eq!(back.private_key_pkcs8_b64, c.private_key_pkcs8_b64);
        assert_eq!(back.expires_at, c.expires_at);
        let leaf = &checked_chain(&c.chain_pem).unwrap()[0];
        let chain = checked_chain(&back.chain_pem).unwrap();
        assert_eq!(chain.len(), 1);
        assert_eq!(chain[0].der(), leaf.der());
    }

    #[test]
    fn what_encode_did_not_make_is_not_an_entry() {
        let bytes = encode(&entry()).unwrap();
        // Every truncation, another magic, and an older release's JSON.
        for n in 0..=14 + 138 {
            assert!(decode(&bytes[..n]).is_none(), "{n} bytes");
        }
        let mut other = bytes.to_vec();
        other[3] = b'2';
        assert!(decode(&other).is_none());
        let json = serde_json::to_vec(&entry()).unwrap();
        assert!(decode(&json).is_none());
    }

    proptest::proptest! {
        #[test]
        fn decoding_any_bytes_never_panics(data in proptest::collection::vec(proptest::num::u8::ANY, 0..400)) {
            let mut tagged = MAGIC.to_vec();
            tagged.extend_from_slice(&data);
            let _ = decode(&data);
            let _ = decode(&tagged);
        }
    }

    #[test]
    fn entry_names_are_the_prefix_and_a_hash_of_the_whole_key() {
        let key = CacheKey {
            fulcio: "https://fulcio.example".into(),
            issuer: "https://issuer.example".into(),
            client_id: "sigstore".into(),
            scope: String::new(),
            identity: "a@example.com".into(),
        };
        let name = description(&key);
        assert!(name.starts_with(PREFIX) && name.len() == PREFIX.len() + 32);
        let other = CacheKey {
            identity: "b@example.com".into(),
            ..key
        };
        assert_ne!(description(&other), name);
    }
}
