//! Trust from Sigstore's TUF repository: which trusted root verification
//! uses, and which services signing uses, kept current from a TUF mirror.
//!
//! Holds: [`cjson`] (canonical JSON, what TUF signs), [`metadata`] (the
//! four roles' documents, keys, threshold signatures, length and hash
//! checks), [`client`] (the TUF 1.0 client workflow, sections 5.2–5.7),
//! [`store`] (the on-disk cache: per mirror, owner-only, atomic writes),
//! and here the policy around them: [`select`] (explicit settings > the
//! TUF cache of the mirror `gitsign initialize` chose > the embedded
//! snapshot, with a refresh when the cache is older than
//! `gitsign.tufRefresh` or its metadata has expired, bounded by
//! `gitsign.timeout`; expired metadata that cannot be refreshed, or an
//! initialized cache that cannot be used, fails the command) and
//! [`initialize`].
//!
//! # Why a TUF client of our own rather than `tough`
//!
//! `tough` 0.24 (the client sigstore-rs uses) was measured in this
//! binary, used through a `Transport` over gitsign's blocking `ureq`
//! client inside a current-thread tokio runtime, on this project's 2-core
//! machine class (release profile: fat LTO, one codegen unit):
//!
//! | | without `tough` | with `tough` |
//! |---|---|---|
//! | crates in the build graph (normal + build, by name) | 173 | 227 (+54: tokio, tokio-util, nine `futures` crates, url with idna and twenty ICU crates, snafu, globset, typed-path, olpc-cjson, pem, async-trait, ...) |
//! | release binary (`cargo build --release`) | 9,507,976 bytes | 11,312,352 bytes (+1.80 MB, +19%) |
//! | clean release build, wall time | 1,242 s | 2,414 s |
//!
//! The build times were taken one after the other on a shared machine
//! whose load differed between the two (the second overlapped other
//! builds), so they say only that `tough` adds a great deal, not how much;
//! the binary size and the crate count do not depend on load. With this
//! hand-written client (and `initialize`, the signing config and the trust
//! selection) the release binary is 9,847,848 bytes: +0.34 MB, against
//! +1.80 MB for `tough` alone, with no crate added.
//!
//! Beyond the weight, `tough` does not do what gitsign needs around the
//! workflow: its loader always fetches (it cannot hand back the last good
//! cache when the mirror is down, which verification must survive), its
//! datastore is its own (no owner check, no per-mirror layout shared with
//! the read path that must cost verification under a millisecond), and an
//! async runtime would run only for this. What is hand-written here is the
//! specification's client workflow and nothing around it: canonical JSON
//! (60 lines), the key types Sigstore's roots use (ECDSA P-256/P-384,
//! Ed25519) through the crypto backend gitsign already has, and the
//! checks, each tested on its own (`tests/tuf.rs` against python-tuf
//! metadata, the unit tests below against the public-good root chain).

pub mod cjson;
pub mod client;
pub mod metadata;
pub mod store;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::encoding::time::format_time;
use crate::sigstore::signing_config::SigningConfig;
use crate::sigstore::trust::{TrustError, TrustedRoot};

/// The public-good TUF mirror.
pub const PUBLIC_GOOD_MIRROR: &str = "https://tuf-repo-cdn.sigstore.dev";

/// The public-good TUF root (version 15, as shipped in sigstore-python
/// 4.5.1): where trust in the public-good mirror starts.
pub const PUBLIC_GOOD_TUF_ROOT: &str = include_str!("../../data/tuf_root.prod.json");

/// The target holding the Sigstore trusted root.
pub const TRUSTED_ROOT_TARGET: &str = "trusted_root.json";

/// The target holding the signing config.
pub const SIGNING_CONFIG_TARGET: &str = "signing_config.v0.2.json";

/// After a failed refresh, the least time before the next try (so a
/// mirror that is down costs one process the timeout, not every one).
const RETRY_AFTER: i64 = 600;

/// Largest root file `--root` reads.
const MAX_ROOT_FILE: u64 = 512 * 1024;

/// A mirror URL as the cache keys it: http(s), no trailing slash, no query.
pub fn normalize_mirror(url: &str) -> Result<String, String> {
    let u = url.trim().trim_end_matches('/');
    let ok_scheme = u.starts_with("https://") || u.starts_with("http://");
    let host = u.split_once("://").map_or("", |(_, r)| r);
    if !ok_scheme || host.is_empty() || u.contains(['?', '#', ' ']) || u.len() > 2048 {
        return Err(format!(
            "the TUF mirror \"{}\" is not an http(s) URL without query or fragment",
            crate::encoding::text::printable(url)
        ));
    }
    Ok(u.to_string())
}

/// Where the trusted root in use came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// `gitsign.trustedRoot` (or its environment variables).
    File(PathBuf),
    /// The TUF cache of a mirror.
    Tuf(store::State),
    /// The snapshot built into the binary.
    Embedded,
}

impl Source {
    /// One line for `gitsign version` and messages.
    pub fn describe(&self, now: i64) -> String {
        match self {
            Source::File(p) => format!("the file {} (gitsign.trustedRoot)", p.display()),
            Source::Tuf(s) => {
                let age = s
                    .refreshed
                    .map(|t| format!("refreshed {} ago ({})", age(now - t), format_time(t)))
                    .unwrap_or_else(|| "never refreshed".into());
                let exp = s
                    .expires
                    .map(|e| {
                        if e <= now {
                            format!("its metadata EXPIRED at {}", format_time(e))
                        } else {
                            format!("metadata valid until {}", format_time(e))
                        }
                    })
                    .unwrap_or_default();
                format!(
                    "the TUF mirror {} (TUF root version {}, {age}, {exp})",
                    s.mirror, s.root_version
                )
            }
            Source::Embedded => {
                "the public-good snapshot built into gitsign (sigstore-python 4.5.1's copy)".into()
            }
        }
    }
}

/// A duration in words, for ages.
pub fn age(secs: i64) -> String {
    let s = secs.max(0);
    match s {
        0..=119 => format!("{s} s"),
        120..=7199 => format!("{} min", s / 60),
        7200..=172_799 => format!("{} h", s / 3600),
        _ => format!("{} days", s / 86400),
    }
}

/// The trust a command uses.
#[derive(Debug, Clone)]
pub struct Trust {
    /// The trusted root, with `gitsign.fulcioRoot`, `rekorPublicKey`,
    /// `ctLogPublicKey` and `timestampCertChain` applied.
    pub root: TrustedRoot,
    /// Where the root came from.
    pub source: Source,
    /// The signing config, when one applies (`gitsign.signingConfig`, or
    /// the TUF cache whose root is in use).
    pub signing_config: Option<SigningConfig>,
    /// Lines to show the user (a failed refresh, expired metadata).
    pub notes: Vec<String>,
}

/// Whether [`select`] may refresh the TUF cache over the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Network {
    /// Refresh when due (`gitsign.tufRefresh`), within `gitsign.timeout`.
    WhenDue,
    /// Use the cache as it is.
    Never,
}

/// Chooses the trusted root (and signing config) for a command: explicit
/// settings, else the TUF cache of the mirror `gitsign initialize` chose
/// (refreshed when due), else the embedded snapshot. Once a mirror was
/// initialized, its cache is used or the command fails: a cache that
/// cannot be used (unreadable, not ours, writable by others, corrupt) or
/// whose metadata has expired and could not be refreshed is an error that
/// says why and what to do, never a fall back to another root. A refresh
/// that fails while the cached metadata is still valid is a note.
pub fn select(config: &Config, network: Network) -> Result<Trust, TrustError> {
    let now = crate::encoding::time::now();
    let mut notes = Vec::new();
    let explicit_sc = match &config.signing_config {
        Some(p) => Some(SigningConfig::from_file(p).map_err(TrustError)?),
        None => None,
    };
    if let Some(p) = &config.trusted_root {
        let root = config.apply_trust_overrides(TrustedRoot::from_file(p)?)?;
        return Ok(Trust {
            root,
            source: Source::File(p.clone()),
            signing_config: explicit_sc,
            notes,
        });
    }
    if let Some(t) = from_tuf(config, network, now, &mut notes)? {
        let (root, state, sc) = t;
        return Ok(Trust {
            root: config.apply_trust_overrides(root)?,
            source: Source::Tuf(state),
            signing_config: explicit_sc.or(sc),
            notes,
        });
    }
    Ok(Trust {
        root: config.apply_trust_overrides(TrustedRoot::public_good())?,
        source: Source::Embedded,
        signing_config: explicit_sc,
        notes,
    })
}

type FromTuf = (TrustedRoot, store::State, Option<SigningConfig>);

/// Why a TUF cache that `gitsign initialize` set up cannot be used: one
/// sentence, and never a silent fall back to the embedded root (the user
/// chose this mirror; another root in its place would be a surprise).
fn unusable(what: &str) -> TrustError {
    TrustError(format!(
        "{what}; gitsign does not fall back to the embedded public-good trusted root once a TUF \
         mirror was initialized: fix or remove the cache and run gitsign initialize, or choose a \
         trusted root explicitly with gitsign.trustedRoot"
    ))
}

/// The trusted root from the TUF cache of the mirror `gitsign initialize`
/// chose (refreshed when due, and always when its metadata has expired):
/// `Ok(None)` when no mirror was initialized; an error when one was but
/// its cache cannot be used, or its metadata has expired and could not be
/// refreshed (as sigstore-go and sigstore-python do: expired TUF metadata
/// is never trusted, so a freeze cannot keep a revoked key in use).
fn from_tuf(
    config: &Config,
    network: Network,
    now: i64,
    notes: &mut Vec<String>,
) -> Result<Option<FromTuf>, TrustError> {
    let Some(dir) = config.tuf_cache.clone() else {
        return Ok(None);
    };
    let base = store::Base::new(dir);
    let mirror = match base.mirror() {
        Ok(Some(m)) => m,
        Ok(None) => return Ok(None),
        Err(e) => {
            return Err(unusable(&format!(
                "the TUF cache {} cannot be used: {e}",
                base.path().display()
            )))
        }
    };
    let st = base.store(&mirror, false).map_err(|e| {
        unusable(&format!(
            "the TUF cache of the mirror {mirror} cannot be used: {e}"
        ))
    })?;
    let expired = |s: &store::State| s.expires.is_none_or(|e| e <= now);
    let mut state = st.state();
    let mut failed: Option<String> = None;
    if network == Network::WhenDue && config.tuf_refresh.is_some() {
        if expired(&state) {
            // Expired metadata is not used: refresh now, whatever the
            // back-off says (waiting for a refresh another process runs).
            let _lock = st.lock().map_err(|e| {
                unusable(&format!(
                    "the TUF cache of the mirror {mirror} cannot be used: {e}"
                ))
            })?;
            state = st.state();
            if expired(&state) {
                match refresh(&st, &mirror, None, config.timeout, now) {
                    Ok(s) => state = s,
                    Err(e) => {
                        let _ = st.set_attempt(now, &e);
                        failed = Some(e);
                    }
                }
            }
        } else if due(&state, config.tuf_refresh, now) {
            // Another process refreshing holds the lock: use what is cached.
            if let Some(_lock) = st.try_lock() {
                state = st.state();
                if due(&state, config.tuf_refresh, now) {
                    match refresh(&st, &mirror, None, config.timeout, now) {
                        Ok(s) => state = s,
                        Err(e) => {
                            let _ = st.set_attempt(now, &e);
                            failed = Some(e);
                        }
                    }
                }
            }
        }
    }
    if expired(&state) {
        let when = match state.expires {
            Some(t) => format!("expired at {}", format_time(t)),
            None => "has no recorded expiry (its state file is missing or unreadable)".into(),
        };
        let why = match (&failed, network, config.tuf_refresh) {
            (Some(e), _, _) => format!("the refresh failed: {e}"),
            (None, Network::Never, _) => "this command does not refresh it".into(),
            (None, _, None) => "automatic refresh is off (gitsign.tufRefresh is \"never\")".into(),
            (None, _, Some(_)) => "no refresh was possible".into(),
        };
        return Err(TrustError(format!(
            "the TUF metadata cached from the mirror {mirror} {when} and was not refreshed \
             ({why}), so gitsign does not use it: connect to the mirror and run gitsign \
             initialize, or choose a trusted root explicitly with gitsign.trustedRoot"
        )));
    }
    let bytes = match st.read(&format!("targets/{TRUSTED_ROOT_TARGET}")) {
        Ok(Some(b)) => b,
        Ok(None) => {
            return Err(unusable(&format!(
                "the TUF cache of the mirror {mirror} holds no trusted root"
            )))
        }
        Err(e) => {
            return Err(unusable(&format!(
                "the TUF cache of the mirror {mirror} cannot be used: {e}"
            )))
        }
    };
    let source = format!("the trusted root from the TUF mirror {mirror}");
    let root = std::str::from_utf8(&bytes)
        .map_err(|_| format!("{source} is not UTF-8"))
        .and_then(|s| TrustedRoot::from_json(s, &source).map_err(|e| e.0))
        .map_err(|e| unusable(&format!("the TUF cache is corrupt: {e}")))?;
    let sc = match st.read(&format!("targets/{SIGNING_CONFIG_TARGET}")) {
        Ok(Some(b)) => Some(
            SigningConfig::from_json(&b, &format!("the signing config from {mirror}"))
                .map_err(|e| unusable(&format!("the TUF cache is corrupt: {e}")))?,
        ),
        Ok(None) => None,
        Err(e) => {
            return Err(unusable(&format!(
                "the TUF cache of the mirror {mirror} cannot be used: {e}"
            )))
        }
    };
    if let Some(e) = failed {
        let cached = state
            .refreshed
            .map(|t| format!("cached {} ago", age(now - t)))
            .unwrap_or_else(|| "cached".into());
        notes.push(format!(
            "could not refresh trust from the TUF mirror {mirror}: {e}; using the last good \
             trusted root ({cached}, TUF root version {}, its metadata valid until {})",
            state.root_version,
            state.expires.map(format_time).unwrap_or_default()
        ));
    }
    Ok(Some((root, state, sc)))
}

/// Whether a refresh is due: older than the interval, and not tried (and
/// failed) within the last [`RETRY_AFTER`] seconds (or the interval, when
/// shorter).
fn due(s: &store::State, interval: Option<Duration>, now: i64) -> bool {
    let Some(iv) = interval else { return false };
    let iv = iv.as_secs().min(i64::MAX as u64) as i64;
    let stale = s.refreshed.is_none_or(|t| now - t >= iv || t > now);
    let failed_recently = s.error.is_some()
        && s.attempted
            .is_some_and(|a| now - a < RETRY_AFTER.min(iv) && a <= now);
    stale && !failed_recently
}

/// Runs the TUF workflow against `mirror` and, when it succeeds and the
/// targets read as what they claim to be, stores them and the state. On
/// any failure the cached targets are left as they were (the last good
/// trust stays in use).
fn refresh(
    st: &store::Store,
    mirror: &str,
    bootstrap: Option<&[u8]>,
    budget: Duration,
    now: i64,
) -> Result<store::State, String> {
    let http = crate::sigstore::http::Http::new(budget).map_err(|e| e.to_string())?;
    let updater = client::Updater {
        mirror,
        store: st,
        fetch: &http,
        now,
        deadline: Instant::now() + budget,
        limits: client::Limits::default(),
    };
    let up = updater.update(bootstrap, &[TRUSTED_ROOT_TARGET, SIGNING_CONFIG_TARGET])?;
    commit(st, mirror, up, now)
}

/// Checks the targets of an update, then stores them, the metadata the
/// update verified, and the state, in that order (each file replaced
/// atomically; the root and the state last). Nothing is written unless
/// every check passed.
fn commit(
    st: &store::Store,
    mirror: &str,
    up: client::Updated,
    now: i64,
) -> Result<store::State, String> {
    let find = |n: &str| up.targets.iter().find(|(t, _)| t == n).map(|(_, b)| b);
    let tr = find(TRUSTED_ROOT_TARGET).ok_or_else(|| {
        format!(
            "the TUF repository at {mirror} does not list {TRUSTED_ROOT_TARGET}; it is not a \
             Sigstore trust repository"
        )
    })?;
    let text =
        std::str::from_utf8(tr).map_err(|_| format!("{TRUSTED_ROOT_TARGET} is not UTF-8"))?;
    TrustedRoot::from_json(text, TRUSTED_ROOT_TARGET).map_err(|e| {
        format!("{e}; the repository at {mirror} signed it, but gitsign cannot use it")
    })?;
    let sc = find(SIGNING_CONFIG_TARGET);
    if let Some(b) = sc {
        SigningConfig::from_json(b, SIGNING_CONFIG_TARGET)?;
    }
    st.write(&format!("targets/{TRUSTED_ROOT_TARGET}"), tr)?;
    match sc {
        Some(b) => st.write(&format!("targets/{SIGNING_CONFIG_TARGET}"), b)?,
        None => st.remove(&format!("targets/{SIGNING_CONFIG_TARGET}"))?,
    }
    let (root, rest): (Vec<_>, Vec<_>) = up.files.iter().partition(|(n, _)| n == "root.json");
    for (name, bytes) in rest.into_iter().chain(root) {
        match bytes {
            Some(b) => st.write(name, b)?,
            None => st.remove(name)?,
        }
    }
    let s = store::State {
        mirror: mirror.to_string(),
        refreshed: Some(now),
        attempted: Some(now),
        expires: Some(up.expires),
        root_version: up.root_version,
        error: None,
    };
    st.set_state(&s)?;
    Ok(s)
}

/// What `gitsign initialize` established.
#[derive(Debug, Clone)]
pub struct Initialized {
    /// The mirror.
    pub mirror: String,
    /// Where the initial root came from.
    pub root_from: String,
    /// The cache directory.
    pub cache: PathBuf,
    /// The recorded state.
    pub state: store::State,
    /// The trusted root now in use.
    pub root: TrustedRoot,
    /// The signing config, when the repository has one.
    pub signing_config: Option<SigningConfig>,
}

/// `gitsign initialize [--mirror URL] [--root FILE]`: verifies the mirror's
/// metadata from the given root (the embedded one only for the public-good
/// mirror: no trust on first use), stores it, and makes it the mirror
/// every command uses.
pub fn initialize(
    config: &Config,
    mirror: Option<&str>,
    root_file: Option<&Path>,
) -> Result<Initialized, String> {
    let mirror = normalize_mirror(mirror.unwrap_or(PUBLIC_GOOD_MIRROR))?;
    let (root, root_from) = match root_file {
        Some(p) => (read_root_file(p)?, p.display().to_string()),
        None if mirror == PUBLIC_GOOD_MIRROR => (
            PUBLIC_GOOD_TUF_ROOT.as_bytes().to_vec(),
            "the public-good TUF root built into gitsign".to_string(),
        ),
        None => {
            return Err(format!(
                "--root FILE is required for the mirror {mirror}: gitsign trusts no root on \
                 first use; get that repository's root.json from its operator by a channel you \
                 trust and pass it with --root"
            ))
        }
    };
    let cache = config
        .tuf_cache
        .clone()
        .ok_or("no cache directory for TUF metadata: set TUF_ROOT, XDG_CACHE_HOME or HOME")?;
    let base = store::Base::new(cache);
    let st = base.store(&mirror, true)?;
    let _lock = st.lock()?;
    let now = crate::encoding::time::now();
    let state = refresh(&st, &mirror, Some(&root), config.timeout, now)
        .map_err(|e| {
            format!(
                "initializing from {mirror} failed: {e}; the trusted root in use is unchanged (check the mirror \
                 URL and the root file, or ask the repository's operator)"
            )
        })?;
    base.set_mirror(&mirror)?;
    let tr = st
        .read(&format!("targets/{TRUSTED_ROOT_TARGET}"))?
        .unwrap_or_default();
    let source = format!("the trusted root from the TUF mirror {mirror}");
    let root = TrustedRoot::from_json(&String::from_utf8_lossy(&tr), &source).map_err(|e| e.0)?;
    let signing_config = st
        .read(&format!("targets/{SIGNING_CONFIG_TARGET}"))?
        .map(|b| SigningConfig::from_json(&b, &format!("the signing config from {mirror}")))
        .transpose()?;
    Ok(Initialized {
        mirror,
        root_from,
        cache: st.path().to_path_buf(),
        state,
        root,
        signing_config,
    })
}

fn read_root_file(p: &Path) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let f = std::fs::File::open(p)
        .map_err(|e| format!("cannot read the TUF root {}: {e}", p.display()))?;
    let mut out = Vec::new();
    f.take(MAX_ROOT_FILE + 1)
        .read_to_end(&mut out)
        .map_err(|e| format!("cannot read the TUF root {}: {e}", p.display()))?;
    if out.len() as u64 > MAX_ROOT_FILE {
        return Err(format!(
            "the TUF root {} is larger than {MAX_ROOT_FILE} bytes",
            p.display()
        ));
    }
    Ok(out)
}

/// Applies a signing config to the service settings the user left at
/// their defaults (explicit `gitsign.fulcio`, `rekor`, `issuer` and
/// `timestampServerURL` win, as in Go gitsign). Returns notes worth
/// logging (skipped Rekor v2 logs); an error is a selector gitsign cannot
/// honour.
pub fn apply_signing_config(
    config: &mut Config,
    sc: &SigningConfig,
    now: i64,
) -> Result<Vec<String>, String> {
    let c = sc.choose(now, config.rekor_api)?;
    let mut notes = c.notes;
    if !config.is_explicit("fulcio") {
        if let Some(u) = c.fulcio {
            config.fulcio = u;
        }
    }
    if !config.is_explicit("issuer") {
        if let Some(u) = c.issuer {
            config.issuer = u;
        }
    }
    if !config.is_explicit("rekor") {
        match c.rekor {
            Some(u) => config.rekor = u,
            None if !sc.rekor_tlog_urls.is_empty() => notes.push(format!(
                "{} lists no Rekor v{} log gitsign can use now; using {}",
                sc.source,
                c.rekor_api.major(),
                config.rekor
            )),
            None => {}
        }
    }
    if config.timestamp_url.is_none() {
        config.timestamp_url = c.tsa;
    }
    Ok(notes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// Serves files from a map; everything else is 404.
    struct Files(BTreeMap<String, Vec<u8>>);

    impl client::Fetch for Files {
        fn fetch(&self, url: &str, max: u64, _t: Duration) -> Result<Option<Vec<u8>>, String> {
            let path = url.rsplit_once("/m/").map_or(url, |(_, p)| p);
            match self.0.get(path) {
                Some(b) if b.len() as u64 > max => Err(format!("{url}: too large")),
                Some(b) => Ok(Some(b.clone())),
                None => Ok(None),
            }
        }
    }

    /// What `refresh` does, through `files` instead of the network.
    fn refresh_with(st: &store::Store, files: &Files, now: i64) -> Result<store::State, String> {
        let updater = client::Updater {
            mirror: "http://x/m",
            store: st,
            fetch: files,
            now,
            deadline: Instant::now() + Duration::from_secs(10),
            limits: client::Limits::default(),
        };
        let up = updater.update(None, &[TRUSTED_ROOT_TARGET, SIGNING_CONFIG_TARGET])?;
        commit(st, "http://x/m", up, now)
    }

    fn temp_store(tag: &str) -> (PathBuf, store::Store) {
        let dir = std::env::temp_dir().join(format!("gitsign-tuf-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let st = store::Base::new(dir.clone())
            .store("http://x/m", true)
            .unwrap();
        (dir, st)
    }

    /// The real public-good chain: root version 14 (npm @sigstore/tuf
    /// 4.0.2's seed) to version 15 (sigstore-python 4.5.1's), verified by
    /// the thresholds of both; then a mirror without timestamp.json stops
    /// the update with a sentence naming the file.
    #[test]
    fn the_public_good_root_chain_is_followed() {
        let v14 = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/trust/tuf_root_v14.prod.json"
        ))
        .unwrap();
        let (dir, st) = temp_store("chain");
        let mut files = BTreeMap::new();
        files.insert(
            "15.root.json".to_string(),
            PUBLIC_GOOD_TUF_ROOT.as_bytes().to_vec(),
        );
        let files = Files(files);
        let up = client::Updater {
            mirror: "http://x/m",
            store: &st,
            fetch: &files,
            // Before root version 15 expires (2026-11-20).
            now: crate::encoding::time::parse_rfc3339("2026-06-01T00:00:00Z").unwrap(),
            deadline: Instant::now() + Duration::from_secs(10),
            limits: client::Limits::default(),
        };
        let e = up.update(Some(&v14), &[TRUSTED_ROOT_TARGET]).unwrap_err();
        assert!(e.contains("timestamp.json is missing"), "{e}");
        // The failed update wrote nothing (not even the verified root 15).
        assert_eq!(st.read("root.json").unwrap(), None);
        // Nor does a failed automatic refresh from a cache: every file,
        // the state included, is byte-identical afterwards.
        let cache: [(&str, &[u8]); 6] = [
            ("root.json", &v14),
            ("timestamp.json", b"{\"cached\": \"timestamp\"}"),
            ("snapshot.json", b"{\"cached\": \"snapshot\"}"),
            ("targets.json", b"{\"cached\": \"targets\"}"),
            (
                "targets/trusted_root.json",
                b"{\"cached\": \"trusted root\"}",
            ),
            (
                "state.json",
                b"{\"mirror\": \"http://x/m\", \"root_version\": 14}",
            ),
        ];
        for (n, b) in cache {
            st.write(n, b).unwrap();
        }
        let e = up.update(None, &[TRUSTED_ROOT_TARGET]).unwrap_err();
        assert!(e.contains("timestamp.json is missing"), "{e}");
        let e = refresh_with(&st, &files, up.now).unwrap_err();
        assert!(e.contains("timestamp.json is missing"), "{e}");
        for (n, b) in cache {
            assert_eq!(st.read(n).unwrap().as_deref(), Some(b), "{n} changed");
        }
        // Version 15 presented as version 16 is refused: wrong version.
        let (_d2, st2) = temp_store("chain2");
        let mut files = BTreeMap::new();
        files.insert(
            "15.root.json".to_string(),
            PUBLIC_GOOD_TUF_ROOT.as_bytes().to_vec(),
        );
        files.insert(
            "16.root.json".to_string(),
            PUBLIC_GOOD_TUF_ROOT.as_bytes().to_vec(),
        );
        let files = Files(files);
        let up2 = client::Updater {
            store: &st2,
            fetch: &files,
            ..up
        };
        let e = up2.update(Some(&v14), &[]).unwrap_err();
        assert!(e.contains("16.root.json has version 15"), "{e}");
        // Root version 14 is not signed by version 15's keys as version 16
        // would have to be: presenting it as the next version fails too.
        let (_d3, st3) = temp_store("chain3");
        let mut files = BTreeMap::new();
        files.insert("16.root.json".to_string(), v14.clone());
        let files = Files(files);
        let up3 = client::Updater {
            store: &st3,
            fetch: &files,
            ..up
        };
        let e = up3
            .update(Some(PUBLIC_GOOD_TUF_ROOT.as_bytes()), &[])
            .unwrap_err();
        assert!(e.contains("16.root.json"), "{e}");
        // And once version 15 has expired, it is a freeze.
        let up4 = client::Updater {
            now: crate::encoding::time::parse_rfc3339("2026-12-01T00:00:00Z").unwrap(),
            fetch: &Files(BTreeMap::new()),
            ..up
        };
        let e = up4
            .update(Some(PUBLIC_GOOD_TUF_ROOT.as_bytes()), &[])
            .unwrap_err();
        assert!(
            e.contains("root.json (version 15) expired") && e.contains("freeze"),
            "{e}"
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn refresh_is_due_after_the_interval_and_backs_off_after_failures() {
        let day = Some(Duration::from_secs(86400));
        let mut s = store::State {
            refreshed: Some(1000),
            ..Default::default()
        };
        assert!(!due(&s, day, 1000 + 3600));
        assert!(due(&s, day, 1000 + 86400));
        assert!(!due(&s, None, 1000 + 10 * 86400));
        s.attempted = Some(1000 + 86400);
        s.error = Some("down".into());
        assert!(!due(&s, day, 1000 + 86400 + 60));
        assert!(due(&s, day, 1000 + 86400 + 601));
        // A refresh interval of zero refreshes every time, failures too.
        assert!(due(&s, Some(Duration::ZERO), 1000 + 86400));
    }

    #[test]
    fn mirrors() {
        assert_eq!(
            normalize_mirror("https://tuf-repo-cdn.sigstore.dev/").unwrap(),
            PUBLIC_GOOD_MIRROR
        );
        assert!(normalize_mirror("file:///etc").is_err());
        assert!(normalize_mirror("https://").is_err());
        assert!(normalize_mirror("https://x/?a=b").is_err());
    }
}
