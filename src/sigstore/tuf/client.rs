//! The TUF 1.0 client workflow (specification sections 5.2–5.7) against
//! one mirror: update the root through its chain of versions, then the
//! timestamp, the snapshot and the top-level targets, then download the
//! targets this client needs, each step checked before the next begins.
//!
//! Every download has a bound (the length the parent metadata names, else
//! the role's maximum) and is refused past it; every file is checked for
//! its signatures (threshold of distinct keys), type, version, expiry
//! (against one time fixed when the update starts), and against rollback
//! (versions never go back, not even across runs: the last verified
//! timestamp and snapshot are kept). A failure names the file and the
//! reason.
//!
//! Nothing is written to the cache here: the files an update verified are
//! handed back in [`Updated::files`], and the caller stores them (with the
//! targets, once it has checked what they hold) only when the whole update
//! succeeded. A failed update, at any step, leaves the cache exactly as it
//! was: a refresh that follows starts from the same root, timestamp and
//! snapshot as before (a failed `initialize` cannot roll the root back).

use std::time::{Duration, Instant};

use super::metadata::{
    check_length_and_hashes, Envelope, Kind, MetaFile, Root, Snapshot, Targets, Timestamp,
};
use super::store::Store;
use crate::encoding::time::format_time;

/// Size bounds for each download.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// A root version.
    pub root: u64,
    /// timestamp.json.
    pub timestamp: u64,
    /// snapshot.json, when the timestamp gives no length.
    pub snapshot: u64,
    /// targets.json, when the snapshot gives no length.
    pub targets: u64,
    /// A target file.
    pub target: u64,
    /// Root versions followed in one update.
    pub max_root_rotations: u64,
}

impl Default for Limits {
    /// python-tuf's defaults, with a target bound of 8 MiB (the largest
    /// trusted root gitsign reads is 4 MiB).
    fn default() -> Limits {
        Limits {
            root: 512 * 1024,
            timestamp: 16 * 1024,
            snapshot: 2 * 1024 * 1024,
            targets: 5 * 1024 * 1024,
            target: 8 * 1024 * 1024,
            max_root_rotations: 256,
        }
    }
}

/// Fetches one file from the mirror.
pub trait Fetch {
    /// GETs `url`, at most `max` bytes, within `timeout`: `Ok(None)` when
    /// the mirror says it does not have it (404 or 403, as a CDN answers).
    fn fetch(&self, url: &str, max: u64, timeout: Duration) -> Result<Option<Vec<u8>>, String>;
}

impl Fetch for crate::sigstore::http::Http {
    fn fetch(&self, url: &str, max: u64, timeout: Duration) -> Result<Option<Vec<u8>>, String> {
        let r = self
            .get_limited(url, max, timeout)
            .map_err(|e| e.to_string())?;
        match r.status {
            200 => Ok(Some(r.body)),
            403 | 404 => Ok(None),
            s => Err(format!(
                "{url} answered HTTP {s}: {}",
                crate::sigstore::http::server_text(&r.body)
            )),
        }
    }
}

/// What an update produced.
#[derive(Debug, Clone)]
pub struct Updated {
    /// The root's version.
    pub root_version: u64,
    /// Earliest expiry of root, timestamp, snapshot and targets.
    pub expires: i64,
    /// Each wanted target that the repository lists: name and bytes
    /// (length and hashes checked).
    pub targets: Vec<(String, Vec<u8>)>,
    /// The verified metadata to store, in order: a name and its new bytes,
    /// or `None` to remove it (a key rotation makes the cached timestamp
    /// and snapshot unverifiable).
    pub files: Vec<(String, Option<Vec<u8>>)>,
}

/// What an update will store once it has succeeded.
#[derive(Default)]
struct Pending {
    files: Vec<(String, Option<Vec<u8>>)>,
    /// The root's timestamp or snapshot keys changed: the cached timestamp
    /// and snapshot are not a baseline any more (5.3.11).
    forget_cached: bool,
}

impl Pending {
    fn write(&mut self, name: &str, bytes: &[u8]) {
        self.files.push((name.to_string(), Some(bytes.to_vec())));
    }
    fn remove(&mut self, name: &str) {
        self.files.push((name.to_string(), None));
    }
}

/// One update against one mirror.
pub struct Updater<'a> {
    /// The mirror's base URL, without a trailing slash.
    pub mirror: &'a str,
    /// Where verified metadata is kept.
    pub store: &'a Store,
    /// How files are fetched.
    pub fetch: &'a dyn Fetch,
    /// The time every expiry is judged at (fixed when the update starts).
    pub now: i64,
    /// When the whole update must be over.
    pub deadline: Instant,
    /// Size bounds.
    pub limits: Limits,
}

/// A trusted document and the bytes it came from.
struct Trusted<T> {
    doc: T,
    bytes: Vec<u8>,
}

impl Updater<'_> {
    fn get(&self, path: &str, max: u64) -> Result<Option<Vec<u8>>, String> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(format!(
                "the time allowed (gitsign.timeout) ran out before {path} could be fetched"
            ));
        }
        self.fetch
            .fetch(&format!("{}/{path}", self.mirror), max, left)
    }

    fn expired(&self, file: &str, version: u64, expires: i64) -> Result<(), String> {
        if expires <= self.now {
            return Err(format!(
                "{file} (version {version}) expired at {}: the mirror is stale, or someone is \
                 holding back updates (a freeze attack)",
                format_time(expires)
            ));
        }
        Ok(())
    }

    /// The trusted root to start from: the cached one, else `bootstrap`
    /// (the embedded root or the one given to `initialize`), which must
    /// sign itself.
    fn load_root(&self, bootstrap: Option<&[u8]>) -> Result<Trusted<Root>, String> {
        let self_signed = |bytes: Vec<u8>, file: &str| -> Result<Trusted<Root>, String> {
            let env = Envelope::parse(&bytes, file)?;
            let root = Root::from_envelope(&env, file)?;
            root.verify(Kind::Root, &env, file)?;
            Ok(Trusted { doc: root, bytes })
        };
        if let Some(b) = bootstrap {
            return self_signed(b.to_vec(), "the initial root.json");
        }
        match self.store.read("root.json")? {
            Some(b) => self_signed(b, "the cached root.json"),
            None => {
                Err("no trusted root.json is cached for this mirror; run gitsign initialize".into())
            }
        }
    }

    /// A cached document of `kind`, if it still verifies under `root`
    /// (used only for rollback checks and to skip unchanged downloads).
    fn cached<T>(
        &self,
        name: &str,
        kind: Kind,
        root: &Root,
        pending: &Pending,
        parse: fn(&Envelope, &str) -> Result<T, String>,
    ) -> Option<Trusted<T>> {
        if pending.forget_cached && (name == "timestamp.json" || name == "snapshot.json") {
            return None;
        }
        let bytes = self.store.read(name).ok()??;
        let env = Envelope::parse(&bytes, name).ok()?;
        root.verify(kind, &env, name).ok()?;
        let doc = parse(&env, name).ok()?;
        Some(Trusted { doc, bytes })
    }

    /// 5.3: follows the root's versions one at a time, each signed by a
    /// threshold of the previous version's root keys and of its own.
    fn update_root(
        &self,
        mut trusted: Trusted<Root>,
        pending: &mut Pending,
    ) -> Result<Trusted<Root>, String> {
        let start = trusted.doc.clone();
        for _ in 0..self.limits.max_root_rotations {
            let next = trusted.doc.header.version + 1;
            let file = format!("{next}.root.json");
            let Some(bytes) = self.get(&file, self.limits.root)? else {
                break;
            };
            let env = Envelope::parse(&bytes, &file)?;
            trusted.doc.verify(Kind::Root, &env, &file)?;
            let new = Root::from_envelope(&env, &file)?;
            new.verify(Kind::Root, &env, &file)?;
            if new.header.version != next {
                return Err(format!(
                    "{file} has version {}, not {next}: a rollback or a broken mirror",
                    new.header.version
                ));
            }
            trusted = Trusted { doc: new, bytes };
        }
        let root = &trusted.doc;
        self.expired("root.json", root.header.version, root.header.expires)?;
        // 5.3.11: new timestamp or snapshot keys make the cached files
        // unverifiable; forget them so a fast-forward attack is recoverable.
        if start.keyids(Kind::Timestamp) != root.keyids(Kind::Timestamp)
            || start.keyids(Kind::Snapshot) != root.keyids(Kind::Snapshot)
        {
            pending.remove("timestamp.json");
            pending.remove("snapshot.json");
            pending.forget_cached = true;
        }
        pending.write("root.json", &trusted.bytes);
        Ok(trusted)
    }

    /// 5.4: the timestamp.
    fn update_timestamp(
        &self,
        root: &Root,
        pending: &mut Pending,
    ) -> Result<Trusted<Timestamp>, String> {
        let file = "timestamp.json";
        let old = self.cached(
            file,
            Kind::Timestamp,
            root,
            pending,
            Timestamp::from_envelope,
        );
        let bytes = self
            .get(file, self.limits.timestamp)?
            .ok_or_else(|| format!("{file} is missing on the mirror; check the mirror URL"))?;
        let env = Envelope::parse(&bytes, file)?;
        root.verify(Kind::Timestamp, &env, file)?;
        let new = Timestamp::from_envelope(&env, file)?;
        let mut keep_old = false;
        if let Some(old) = &old {
            let (o, n) = (&old.doc, &new);
            if n.header.version < o.header.version {
                return Err(format!(
                    "{file} has version {}, older than version {} already trusted: a rollback \
                     attack or a stale mirror",
                    n.header.version, o.header.version
                ));
            }
            if n.snapshot.version < o.snapshot.version {
                return Err(format!(
                    "{file} (version {}) names snapshot version {}, older than version {} \
                     already trusted: a rollback attack",
                    n.header.version, n.snapshot.version, o.snapshot.version
                ));
            }
            keep_old = n.header.version == o.header.version;
        }
        let trusted = match (keep_old, old) {
            (true, Some(old)) => old,
            _ => Trusted { doc: new, bytes },
        };
        self.expired(file, trusted.doc.header.version, trusted.doc.header.expires)?;
        if !keep_old {
            pending.write(file, &trusted.bytes);
        }
        Ok(trusted)
    }

    /// Fetches a metadata file its parent describes (`want`), or reuses the
    /// cached copy when it is that very file.
    fn described(
        &self,
        name: &str,
        want: &MetaFile,
        consistent: bool,
        max: u64,
        cached: Option<&Trusted<impl Sized>>,
    ) -> Result<(String, Vec<u8>, bool), String> {
        let file = if consistent {
            format!("{}.{name}", want.version)
        } else {
            name.to_string()
        };
        if let Some(c) = cached {
            if check_length_and_hashes(&c.bytes, want.length, &want.hashes, name).is_ok() {
                return Ok((file, c.bytes.clone(), true));
            }
        }
        let bound = want.length.map_or(max, |l| l.min(max));
        let bytes = self.get(&file, bound)?.ok_or_else(|| {
            format!("{file} is missing on the mirror, though the metadata names it")
        })?;
        check_length_and_hashes(&bytes, want.length, &want.hashes, &file)?;
        Ok((file, bytes, false))
    }

    /// 5.5: the snapshot the timestamp names.
    fn update_snapshot(
        &self,
        root: &Root,
        ts: &Timestamp,
        pending: &mut Pending,
    ) -> Result<Trusted<Snapshot>, String> {
        let old = self.cached(
            "snapshot.json",
            Kind::Snapshot,
            root,
            pending,
            Snapshot::from_envelope,
        );
        let want = &ts.snapshot;
        let reuse = old
            .as_ref()
            .filter(|o| o.doc.header.version == want.version);
        let (file, bytes, reused) = self.described(
            "snapshot.json",
            want,
            root.consistent_snapshot,
            self.limits.snapshot,
            reuse,
        )?;
        let env = Envelope::parse(&bytes, &file)?;
        root.verify(Kind::Snapshot, &env, &file)?;
        let new = Snapshot::from_envelope(&env, &file)?;
        if new.header.version != want.version {
            return Err(format!(
                "{file} has version {}, but timestamp.json names version {}: a rollback or a \
                 broken mirror",
                new.header.version, want.version
            ));
        }
        if let Some(old) = &old {
            for (name, m) in &old.doc.meta {
                match new.meta.get(name) {
                    None => {
                        return Err(format!(
                            "{file} no longer lists {name}, which snapshot version {} did: a \
                             rollback attack",
                            old.doc.header.version
                        ))
                    }
                    Some(n) if n.version < m.version => {
                        return Err(format!(
                            "{file} names {name} version {}, older than version {} already \
                             trusted: a rollback attack",
                            n.version, m.version
                        ))
                    }
                    Some(_) => {}
                }
            }
        }
        self.expired(&file, new.header.version, new.header.expires)?;
        if !reused {
            pending.write("snapshot.json", &bytes);
        }
        Ok(Trusted { doc: new, bytes })
    }

    /// 5.6: the top-level targets the snapshot names.
    fn update_targets(
        &self,
        root: &Root,
        snap: &Snapshot,
        pending: &mut Pending,
    ) -> Result<Targets, String> {
        let want = snap
            .meta
            .get("targets.json")
            .ok_or("snapshot.json does not describe targets.json")?;
        let old = self.cached(
            "targets.json",
            Kind::Targets,
            root,
            pending,
            Targets::from_envelope,
        );
        let reuse = old
            .as_ref()
            .filter(|o| o.doc.header.version == want.version);
        let (file, bytes, reused) = self.described(
            "targets.json",
            want,
            root.consistent_snapshot,
            self.limits.targets,
            reuse,
        )?;
        let env = Envelope::parse(&bytes, &file)?;
        root.verify(Kind::Targets, &env, &file)?;
        let new = Targets::from_envelope(&env, &file)?;
        if new.header.version != want.version {
            return Err(format!(
                "{file} has version {}, but snapshot.json names version {}: a rollback or a \
                 broken mirror",
                new.header.version, want.version
            ));
        }
        self.expired(&file, new.header.version, new.header.expires)?;
        if !reused {
            pending.write("targets.json", &bytes);
        }
        Ok(new)
    }

    /// 5.7: one target, from the cache when it is still the file the
    /// targets metadata describes, else from the mirror.
    fn target(
        &self,
        root: &Root,
        targets: &Targets,
        name: &str,
    ) -> Result<Option<Vec<u8>>, String> {
        if !super::store::safe_name(name) || name.contains('/') {
            return Err(format!("refused the target name \"{name}\""));
        }
        let Some(info) = targets.targets.get(name) else {
            if !targets.delegated(name).is_empty() {
                return Err(format!(
                    "targets.json delegates {name} to another role; gitsign reads its trust \
                     targets from the top-level targets role only"
                ));
            }
            return Ok(None);
        };
        if info.length > self.limits.target {
            return Err(format!(
                "targets.json names {name} with {} bytes, more than the {} accepted",
                info.length, self.limits.target
            ));
        }
        let cache_name = format!("targets/{name}");
        if let Some(c) = self.store.read(&cache_name)? {
            if check_length_and_hashes(&c, Some(info.length), &info.hashes, name).is_ok() {
                return Ok(Some(c));
            }
        }
        let path = if root.consistent_snapshot {
            let (alg, hex) = info
                .hashes
                .get_key_value("sha256")
                .or_else(|| info.hashes.iter().next())
                .ok_or_else(|| format!("targets.json names {name} without a hash"))?;
            if hex.is_empty() || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(format!(
                    "targets.json names {name} with a {alg} hash that is not hex"
                ));
            }
            format!("targets/{}.{name}", hex.to_ascii_lowercase())
        } else {
            format!("targets/{name}")
        };
        let bytes = self.get(&path, info.length)?.ok_or_else(|| {
            format!("{path} is missing on the mirror, though targets.json names it")
        })?;
        check_length_and_hashes(&bytes, Some(info.length), &info.hashes, name)?;
        Ok(Some(bytes))
    }

    /// Runs the whole workflow; `bootstrap` replaces the cached root
    /// (`initialize`), else the cached root is the start. Returns the
    /// targets among `wanted` that the repository lists and the verified
    /// metadata: the caller stores both, once it has checked the targets'
    /// content. Nothing is written here, so a failure changes nothing.
    pub fn update(&self, bootstrap: Option<&[u8]>, wanted: &[&str]) -> Result<Updated, String> {
        let mut pending = Pending::default();
        let start = self.load_root(bootstrap)?;
        let root = self.update_root(start, &mut pending)?;
        let root = &root.doc;
        let ts = self.update_timestamp(root, &mut pending)?;
        let snap = self.update_snapshot(root, &ts.doc, &mut pending)?;
        let targets = self.update_targets(root, &snap.doc, &mut pending)?;
        let mut out = Vec::new();
        for name in wanted {
            if let Some(bytes) = self.target(root, &targets, name)? {
                out.push((name.to_string(), bytes));
            }
        }
        let expires = [
            root.header.expires,
            ts.doc.header.expires,
            snap.doc.header.expires,
            targets.header.expires,
        ]
        .into_iter()
        .min()
        .unwrap_or(self.now);
        Ok(Updated {
            root_version: root.header.version,
            expires,
            targets: out,
            files: pending.files,
        })
    }
}
