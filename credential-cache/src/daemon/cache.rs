//! The cache proper: entries, and single-flight claims with their waiters.
//!
//! Pure state, no I/O: the server holds it under a mutex for the few
//! microseconds each operation takes, and wakes waiting connections through
//! one-shot channels. Every path that drops a waiter first tells it what
//! happened (a hit, or the claim), except a waiter that left.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use gitsign::cache::proto::{CacheKey, Certified, Credential, EntryInfo};
use gitsign::sign::EphemeralKey;
use gitsign::sigstore::trust::TrustedRoot;
use tokio::sync::oneshot;
use zeroize::Zeroizing;

/// Identifies one client connection.
pub type ConnId = u64;

/// The most entries the daemon keeps (a credential per identity, Fulcio
/// and scope, or per repository with gitsign.cachePerRepo; real use needs
/// a handful). Each holds at most `proto::MAX_CHAIN_PEM` bytes of
/// certificates and a key, so the whole cache stays within a few MiB.
pub const MAX_ENTRIES: usize = 256;

/// The most clients waiting on one key's login.
pub const MAX_WAITERS: usize = 1024;

/// A cached credential: the key, parsed once when stored (it never leaves
/// the daemon again), and its certificate.
#[derive(Debug, Clone)]
pub struct Entry {
    /// What `Get` shows.
    pub certified: Certified,
    /// The private key (zeroized when the last holder drops it).
    pub key: Arc<EphemeralKey>,
    /// The leaf certificate, PEM: what a hashedrekord entry names.
    pub leaf_pem: Arc<str>,
}

impl Entry {
    /// Checks a credential a client stores: the key is a P-256 PKCS#8 key,
    /// the chain is bounded and chained (`gitsign::cache::checked_chain`),
    /// its leaf certifies that key, and the certificate passes every check
    /// a fresh one from Fulcio passes against `root` (chain, leaf profile,
    /// SCT) at `now`. It is served until its notAfter less the margin, or
    /// the client's `expires_at` if earlier: never past the certificate.
    pub fn from_credential(c: &Credential, root: &TrustedRoot, now: i64) -> Result<Entry, String> {
        let der = Zeroizing::new(
            STANDARD
                .decode(&c.private_key_pkcs8_b64)
                .map_err(|_| "the credential's key is not base64, so it was not cached")?,
        );
        let key = EphemeralKey::from_pkcs8(&der)
            .map_err(|_| "the credential's key is not a P-256 PKCS#8 key, so it was not cached")?;
        let chain = gitsign::cache::checked_chain(&c.chain_pem)
            .map_err(|e| format!("the credential was not cached: {e}"))?;
        let leaf = &chain[0];
        if leaf.spki() != key.spki() {
            return Err(
                "the credential's certificate is not for its key, so it was not cached".into(),
            );
        }
        let expires_at = gitsign::cache::serve_until(leaf, c.expires_at);
        if expires_at <= now {
            return Err(format!(
                "the credential's certificate expires at {} (Unix time {}), too soon to serve, so \
                 it was not cached; log in again",
                gitsign::encoding::time::format_time(leaf.not_after),
                leaf.not_after
            ));
        }
        gitsign::sigstore::fulcio::check_certificate(leaf, key.spki(), root, now).map_err(|e| {
            format!(
                "the credential was not cached: {} (as this daemon's trusted root says; it \
                 reads gitsign.trustedRoot from the global git config and its environment when \
                 it starts)",
                gitsign::sigstore::fulcio::reason(&e)
            )
        })?;
        Ok(Entry {
            certified: Certified {
                chain_pem: c.chain_pem.clone(),
                identity: c.identity.clone(),
                expires_at,
            },
            key: Arc::new(key),
            leaf_pem: gitsign::encoding::pem::encode("CERTIFICATE", leaf.der()).into(),
        })
    }
}

/// What a waiting connection is woken with.
#[derive(Debug)]
pub enum Wake {
    /// The claimer stored this credential.
    Hit(Certified),
    /// The claim passed to the waiter.
    Claimed,
}

/// The outcome of a `Get`.
#[derive(Debug)]
pub enum GetOutcome {
    /// Cached and not expired.
    Hit(Certified),
    /// Not cached (`claim` was false).
    Miss,
    /// The connection now owns the login.
    Claimed,
    /// Another connection owns it and `wait_ms` was zero.
    Timeout,
    /// Another connection owns it: wait on this.
    Wait(oneshot::Receiver<Wake>),
    /// Refused, with a sentence.
    Refused(String),
}

struct Waiter {
    conn: ConnId,
    tx: oneshot::Sender<Wake>,
}

struct ClaimState {
    owner: ConnId,
    deadline: Instant,
    waiters: VecDeque<Waiter>,
}

/// The daemon's state.
pub struct Cache {
    entries: HashMap<CacheKey, Entry>,
    claims: HashMap<CacheKey, ClaimState>,
    lease: Duration,
    /// What a stored credential must chain to.
    root: Arc<TrustedRoot>,
}

/// The wall clock as Unix seconds (0 before 1970, which no credential
/// outlives).
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

impl Cache {
    /// An empty cache whose claims last `lease` without a store, and
    /// whose credentials must chain to `root`.
    pub fn new(lease: Duration, root: Arc<TrustedRoot>) -> Cache {
        Cache {
            entries: HashMap::new(),
            claims: HashMap::new(),
            lease,
            root,
        }
    }

    /// The live entry for `key`; an expired one is dropped (zeroized).
    pub fn live(&mut self, key: &CacheKey, now_unix: i64) -> Option<Entry> {
        match self.entries.get(key) {
            Some(e) if e.certified.expires_at > now_unix => Some(e.clone()),
            Some(_) => {
                self.entries.remove(key);
                None
            }
            None => None,
        }
    }

    /// `Get`: see the protocol's module docs.
    pub fn get(
        &mut self,
        conn: ConnId,
        key: &CacheKey,
        claim: bool,
        wait: bool,
        now_unix: i64,
        now: Instant,
    ) -> GetOutcome {
        self.lapse_claims(now);
        if let Some(e) = self.live(key, now_unix) {
            return GetOutcome::Hit(e.certified);
        }
        if !claim {
            return GetOutcome::Miss;
        }
        let lease = self.lease;
        match self.claims.get_mut(key) {
            None => {
                self.claims.insert(
                    key.clone(),
                    ClaimState {
                        owner: conn,
                        deadline: now + lease,
                        waiters: VecDeque::new(),
                    },
                );
                GetOutcome::Claimed
            }
            Some(c) if c.owner == conn => GetOutcome::Claimed,
            Some(_) if !wait => GetOutcome::Timeout,
            Some(c) if c.waiters.len() >= MAX_WAITERS => GetOutcome::Refused(format!(
                "{MAX_WAITERS} clients already wait for this login; try again later"
            )),
            Some(c) => {
                let (tx, rx) = oneshot::channel();
                c.waiters.push_back(Waiter { conn, tx });
                GetOutcome::Wait(rx)
            }
        }
    }

    /// A waiter gives up (its wait ran out). True if it was still waiting;
    /// false if it was woken meanwhile (its receiver holds the news).
    pub fn cancel_wait(&mut self, conn: ConnId, key: &CacheKey) -> bool {
        match self.claims.get_mut(key) {
            Some(c) => {
                let before = c.waiters.len();
                c.waiters.retain(|w| w.conn != conn);
                c.waiters.len() != before
            }
            None => false,
        }
    }

    /// `Store`: from the connection holding `key`'s claim only, and never
    /// over a live entry; checks and caches the credential and hands its
    /// certificate to every waiter. A refused store leaves the claim with
    /// its holder (it may release it, or store another credential).
    pub fn store(
        &mut self,
        conn: ConnId,
        key: CacheKey,
        credential: Credential,
        now_unix: i64,
    ) -> Result<(), String> {
        if let Some(e) = self.live(&key, now_unix) {
            return Err(format!(
                "a credential is already cached for this key until Unix time {}; the daemon \
                 never replaces a live one, so nothing was stored",
                e.certified.expires_at
            ));
        }
        if !matches!(self.claims.get(&key), Some(c) if c.owner == conn) {
            return Err(
                "only the client holding this key's login claim (a get with claim, answered \
                 `claimed`, on the same connection) may store a credential for it, so nothing \
                 was stored"
                    .into(),
            );
        }
        if credential.expires_at <= now_unix {
            return Err(format!(
                "the credential expired at Unix time {} (now {now_unix}), so it was not cached; \
                 log in again",
                credential.expires_at
            ));
        }
        if credential.private_key_pkcs8_b64.is_empty() {
            return Err("the credential has no private key, so it was not cached".into());
        }
        let entry = Entry::from_credential(&credential, &self.root, now_unix)?;
        drop(credential);
        if self.entries.len() >= MAX_ENTRIES {
            self.purge_expired(now_unix);
            if self.entries.len() >= MAX_ENTRIES {
                return Err(format!(
                    "the cache already holds {MAX_ENTRIES} credentials, its limit; clear it \
                     (gitsign cache clear) or wait for them to expire"
                ));
            }
        }
        if let Some(claim) = self.claims.remove(&key) {
            for w in claim.waiters {
                let _ = w.tx.send(Wake::Hit(entry.certified.clone()));
            }
        }
        self.entries.insert(key, entry);
        Ok(())
    }

    /// `Release`: the owner gives its claim up; the next waiter gets it.
    pub fn release(&mut self, conn: ConnId, key: &CacheKey, now: Instant) -> Result<(), String> {
        match self.claims.get(key) {
            Some(c) if c.owner == conn => {
                self.pass_on(key, now);
                Ok(())
            }
            Some(_) => {
                Err("another client holds the claim on this key; only it can release it".into())
            }
            None => Err(
                "nobody holds a claim on this key (it was stored, released, or its lease \
                         ran out)"
                    .into(),
            ),
        }
    }

    /// A connection closed: it stops waiting, and its claims pass on.
    pub fn disconnect(&mut self, conn: ConnId, now: Instant) {
        let mut owned = Vec::new();
        for (key, c) in self.claims.iter_mut() {
            c.waiters.retain(|w| w.conn != conn);
            if c.owner == conn {
                owned.push(key.clone());
            }
        }
        for key in owned {
            self.pass_on(&key, now);
        }
    }

    /// The earliest lease deadline among `conn`'s claims.
    pub fn claim_deadline(&self, conn: ConnId) -> Option<Instant> {
        self.claims
            .values()
            .filter(|c| c.owner == conn)
            .map(|c| c.deadline)
            .min()
    }

    /// `List`: live entries, sorted by key.
    pub fn list(&mut self, now_unix: i64) -> Vec<EntryInfo> {
        self.purge_expired(now_unix);
        let mut out: Vec<EntryInfo> = self
            .entries
            .iter()
            .map(|(k, e)| EntryInfo {
                key: k.clone(),
                identity: e.certified.identity.clone(),
                expires_at: e.certified.expires_at,
            })
            .collect();
        out.sort_by(|a, b| a.key.cmp(&b.key));
        out
    }

    /// `Clear`: drops (and so zeroizes) every entry; logins in flight go on.
    pub fn clear(&mut self) -> usize {
        let n = self.entries.len();
        self.entries.clear();
        n
    }

    /// Drops expired entries and lapsed claims; returns how long until the
    /// next thing can expire (at most one second while anything is held,
    /// so a wall-clock jump is noticed), or `None` when nothing is held.
    pub fn sweep(&mut self, now_unix: i64, now: Instant) -> Option<Duration> {
        self.purge_expired(now_unix);
        self.lapse_claims(now);
        let second = Duration::from_secs(1);
        let mut next: Option<Duration> = None;
        if !self.entries.is_empty() {
            next = Some(second);
        }
        for c in self.claims.values() {
            let d = c.deadline.saturating_duration_since(now).min(second);
            next = Some(next.map_or(d, |n| n.min(d)));
        }
        next
    }

    /// How many entries and claims are held.
    #[cfg(test)]
    pub fn counts(&self) -> (usize, usize) {
        (self.entries.len(), self.claims.len())
    }

    fn purge_expired(&mut self, now_unix: i64) {
        self.entries
            .retain(|_, e| e.certified.expires_at > now_unix);
    }

    fn lapse_claims(&mut self, now: Instant) {
        let lapsed: Vec<CacheKey> = self
            .claims
            .iter()
            .filter(|(_, c)| c.deadline <= now)
            .map(|(k, _)| k.clone())
            .collect();
        for key in lapsed {
            self.pass_on(&key, now);
        }
    }

    /// Gives `key`'s claim to the first waiter still there, or drops it.
    fn pass_on(&mut self, key: &CacheKey, now: Instant) {
        let lease = self.lease;
        let Some(c) = self.claims.get_mut(key) else {
            return;
        };
        while let Some(w) = c.waiters.pop_front() {
            if w.tx.send(Wake::Claimed).is_ok() {
                c.owner = w.conn;
                c.deadline = now + lease;
                return;
            }
        }
        self.claims.remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> CacheKey {
        CacheKey {
            fulcio: "f".into(),
            issuer: "i".into(),
            client_id: "c".into(),
            scope: String::new(),
            identity: String::new(),
        }
    }

    /// The trusted root the fixtures chain to.
    fn root() -> Arc<TrustedRoot> {
        Arc::new(
            TrustedRoot::from_json(
                include_str!("../../tests/fixtures/trusted_root.json"),
                "fixtures",
            )
            .unwrap(),
        )
    }

    fn cred(expires_at: i64) -> Credential {
        Credential {
            private_key_pkcs8_b64: include_str!("../../tests/fixtures/key-a.pkcs8.b64")
                .trim()
                .into(),
            chain_pem: include_str!("../../tests/fixtures/chain-a.pem").into(),
            identity: "a@example.com".into(),
            expires_at,
        }
    }

    #[test]
    fn refuses_keys_that_do_not_parse_or_match() {
        let mut c = Cache::new(Duration::from_secs(60), root());
        let now = unix_now();
        assert!(matches!(
            c.get(1, &key(), true, false, now, Instant::now()),
            GetOutcome::Claimed
        ));
        let mut other = cred(now + 600);
        other.chain_pem = include_str!("../../tests/fixtures/chain-b.pem").into();
        let e = c.store(1, key(), other, now).unwrap_err();
        assert!(e.contains("not for its key"), "{e}");
        let mut garbage = cred(now + 600);
        garbage.private_key_pkcs8_b64 = "S0VZ".into();
        let e = c.store(1, key(), garbage, now).unwrap_err();
        assert!(e.contains("not a P-256 PKCS#8 key"), "{e}");
        let mut no_chain = cred(now + 600);
        no_chain.chain_pem = "PEM".into();
        let e = c.store(1, key(), no_chain, now).unwrap_err();
        assert!(
            e.contains("no certificate") || e.contains("does not parse"),
            "{e}"
        );
        // The chain is the leaf and its issuers, each signed by the next.
        let chain = include_str!("../../tests/fixtures/chain-a.pem");
        let leaf = chain
            .split_inclusive("-----END CERTIFICATE-----\n")
            .next()
            .unwrap();
        let mut padded = cred(now + 600);
        padded.chain_pem = leaf.repeat(3);
        let e = c.store(1, key(), padded, now).unwrap_err();
        assert!(e.contains("did not issue certificate 1"), "{e}");
        let mut long = cred(now + 600);
        long.chain_pem = format!("{chain}{}", leaf.repeat(2));
        let e = c.store(1, key(), long, now).unwrap_err();
        assert!(e.contains("5 certificates, more than the 4"), "{e}");
        let mut huge = cred(now + 600);
        huge.chain_pem = leaf.repeat(100);
        let e = c.store(1, key(), huge, now).unwrap_err();
        assert!(e.contains("bytes, more than"), "{e}");
        // A key and certificate that match, from a CA the trusted root
        // does not know.
        let mut rogue = cred(now + 600);
        rogue.private_key_pkcs8_b64 = include_str!("../../tests/fixtures/key-rogue.pkcs8.b64")
            .trim()
            .into();
        rogue.chain_pem = include_str!("../../tests/fixtures/chain-rogue.pem").into();
        let e = c.store(1, key(), rogue, now).unwrap_err();
        assert!(
            e.contains("not cached") && e.contains("trusted root"),
            "{e}"
        );
        assert!(!e.contains("Fulcio issued"), "{e}");
        // Refused stores leave the claim with its holder.
        assert_eq!(c.counts(), (0, 1));
        c.store(1, key(), cred(now + 600), now).unwrap();
        assert_eq!(c.counts(), (1, 0));
        let entry = c.live(&key(), now).unwrap();
        assert!(entry.leaf_pem.starts_with("-----BEGIN CERTIFICATE-----\n"));
    }

    #[test]
    fn only_the_claim_holder_stores_and_never_over_a_live_entry() {
        let mut c = Cache::new(Duration::from_secs(60), root());
        let (now, t) = (Instant::now(), unix_now());
        // Nobody claimed: refused.
        let e = c.store(1, key(), cred(t + 600), t).unwrap_err();
        assert!(
            e.contains("only the client holding this key's login claim"),
            "{e}"
        );
        // Another connection's claim: refused.
        assert!(matches!(
            c.get(1, &key(), true, false, t, now),
            GetOutcome::Claimed
        ));
        let e = c.store(2, key(), cred(t + 600), t).unwrap_err();
        assert!(e.contains("only the client holding"), "{e}");
        c.store(1, key(), cred(t + 600), t).unwrap();
        // A live entry is never replaced, even by a later claimer.
        let e = c.store(1, key(), cred(t + 300), t).unwrap_err();
        assert!(e.contains("never replaces a live one"), "{e}");
        assert!(matches!(
            c.get(3, &key(), true, false, t, now),
            GetOutcome::Hit(_)
        ));
        let e = c.store(3, key(), cred(t + 300), t).unwrap_err();
        assert!(e.contains("never replaces"), "{e}");
        assert_eq!(c.live(&key(), t).unwrap().certified.expires_at, t + 600);
        // Once it expired, the next claimer stores.
        let later = t + 601;
        assert!(matches!(
            c.get(3, &key(), true, false, later, now),
            GetOutcome::Claimed
        ));
        let mut fresh = cred(later + 600);
        fresh.identity = "later".into();
        c.store(3, key(), fresh, later).unwrap();
        assert_eq!(c.live(&key(), later).unwrap().certified.identity, "later");
    }

    #[test]
    fn a_client_never_extends_an_entry_past_its_certificate() {
        let mut c = Cache::new(Duration::from_secs(60), root());
        let t = unix_now();
        let leaf = gitsign::pki::x509::certificates_from_pem(include_str!(
            "../../tests/fixtures/chain-a.pem"
        ))
        .unwrap()
        .remove(0);
        assert!(matches!(
            c.get(1, &key(), true, false, t, Instant::now()),
            GetOutcome::Claimed
        ));
        c.store(1, key(), cred(i64::MAX), t).unwrap();
        let served = c.live(&key(), t).unwrap().certified.expires_at;
        assert_eq!(served, leaf.not_after - gitsign::cache::margin(&leaf));
        // Past that, it is gone.
        assert!(c.live(&key(), served).is_none());
    }

    #[test]
    fn single_flight_hands_over() {
        let mut c = Cache::new(Duration::from_secs(60), root());
        let now = Instant::now();
        assert!(matches!(
            c.get(1, &key(), true, true, 100, now),
            GetOutcome::Claimed
        ));
        let GetOutcome::Wait(mut rx2) = c.get(2, &key(), true, true, 100, now) else {
            panic!()
        };
        let GetOutcome::Wait(mut rx3) = c.get(3, &key(), true, true, 100, now) else {
            panic!()
        };
        assert!(matches!(
            c.get(4, &key(), true, false, 100, now),
            GetOutcome::Timeout
        ));
        // The owner leaves: 2 is next.
        c.disconnect(1, now);
        assert!(matches!(rx2.try_recv(), Ok(Wake::Claimed)));
        assert!(rx3.try_recv().is_err());
        // 3 gives up waiting; 2 stores.
        assert!(c.cancel_wait(3, &key()));
        let t = unix_now();
        c.store(2, key(), cred(t + 100), t).unwrap();
        assert!(matches!(
            c.get(5, &key(), false, false, t, now),
            GetOutcome::Hit(_)
        ));
        assert!(matches!(
            c.get(5, &key(), false, false, t + 100, now),
            GetOutcome::Miss
        ));
    }

    #[test]
    fn lease_lapses() {
        let mut c = Cache::new(Duration::from_millis(10), root());
        let now = Instant::now();
        assert!(matches!(
            c.get(1, &key(), true, true, 100, now),
            GetOutcome::Claimed
        ));
        let GetOutcome::Wait(mut rx) = c.get(2, &key(), true, true, 100, now) else {
            panic!()
        };
        assert!(c.sweep(100, now + Duration::from_millis(20)).is_some());
        assert!(matches!(rx.try_recv(), Ok(Wake::Claimed)));
        assert!(c.release(1, &key(), now).is_err());
        assert!(c.release(2, &key(), now).is_ok());
        assert_eq!(c.counts(), (0, 0));
    }

    #[test]
    fn refuses_expired_store() {
        let mut c = Cache::new(Duration::from_secs(1), root());
        assert!(matches!(
            c.get(1, &key(), true, false, 100, Instant::now()),
            GetOutcome::Claimed
        ));
        let e = c.store(1, key(), cred(100), 100).unwrap_err();
        assert!(e.contains("expired"), "{e}");
        assert_eq!(c.counts(), (0, 1));
    }
}
