//! Verifying many commits (and tags) in parallel: one reader streams
//! objects out of `git cat-file --batch`, worker threads verify them with
//! a shared per-certificate cache, and results come back in input order so
//! output streams. Memory stays bounded for any number of commits.

use std::collections::BTreeMap;
use std::sync::mpsc;

use serde_json::json;

use crate::git::gitobj::{self, HashAlgo, ObjectKind};
use crate::git::{CatFile, GitError, Object};
use crate::policy::Decision;
use crate::verify::{self, Context, Failure, FailureKind, ObjectInfo, TlogStatus, Verified};

/// The verdict on one object.
#[derive(Debug, Clone)]
pub enum Verdict {
    /// The signature verified; the policy decided.
    Good {
        /// What verification established.
        verified: Box<Verified>,
        /// The policy's decision.
        decision: Decision,
    },
    /// No signature.
    Unsigned,
    /// The signature failed.
    Failed(Failure),
    /// Not a commit or tag, missing, or malformed.
    BadObject(String),
}

/// One object's result.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Object id.
    pub id: String,
    /// Commit or tag (commit when unknown).
    pub kind: ObjectKind,
    /// First line of the message.
    pub subject: String,
    /// The verdict.
    pub verdict: Verdict,
}

impl Outcome {
    /// True when the signature verified and the policy trusts the signer.
    pub fn passed(&self) -> bool {
        matches!(
            &self.verdict,
            Verdict::Good {
                decision: Decision::Trusted,
                ..
            }
        )
    }

    /// Why it did not pass (empty when it did).
    pub fn reason(&self) -> String {
        match &self.verdict {
            Verdict::Good {
                decision: Decision::Trusted,
                ..
            } => String::new(),
            Verdict::Good {
                decision: Decision::Rejected(why),
                ..
            } => why.clone(),
            Verdict::Good {
                decision: Decision::NoPolicy,
                ..
            } => "no identity policy to check the signer against".into(),
            Verdict::Unsigned => "not signed".into(),
            Verdict::Failed(f) => f.message.clone(),
            Verdict::BadObject(m) => m.clone(),
        }
    }

    /// One JSON object: id, verdict, identity, issuer, tlog index, time, reason.
    pub fn to_json(&self) -> serde_json::Value {
        let (verdict, identity, issuer, tlog, time) = match &self.verdict {
            Verdict::Good { verified, decision } => {
                let tlog = match &verified.tlog {
                    TlogStatus::Embedded(e) | TlogStatus::Online(e) => json!(e.log_index()),
                    TlogStatus::NotChecked(_) => serde_json::Value::Null,
                };
                let v = if *decision == Decision::Trusted {
                    "valid"
                } else {
                    "untrusted"
                };
                (
                    v,
                    json!(verified.claims.identity),
                    json!(verified.claims.issuer),
                    tlog,
                    json!(crate::encoding::time::format_time(verified.time)),
                )
            }
            Verdict::Unsigned => (
                "unsigned",
                json!(null),
                json!(null),
                json!(null),
                json!(null),
            ),
            Verdict::Failed(f) => {
                let id = f.certificate.as_ref().map(|c| crate::git::gpg::uid(c));
                let v = if f.kind == FailureKind::Unavailable {
                    "error"
                } else {
                    "invalid"
                };
                (v, json!(id), json!(null), json!(null), json!(null))
            }
            Verdict::BadObject(_) => ("error", json!(null), json!(null), json!(null), json!(null)),
        };
        json!({
            "id": self.id,
            "type": self.kind.name(),
            "verdict": verdict,
            "identity": identity,
            "issuer": issuer,
            "tlog_index": tlog,
            "time": time,
            "subject": self.subject,
            "reason": self.reason(),
        })
    }
}

/// Verifies one object's bytes.
pub fn verify_object(
    id: &str,
    kind: ObjectKind,
    data: &[u8],
    algo: HashAlgo,
    ctx: &Context<'_>,
    decide: &(dyn Fn(&Verified) -> Decision + Sync),
) -> Outcome {
    let subject = gitobj::subject(data);
    let verdict = match gitobj::split(data, kind, algo) {
        Err(e) => Verdict::BadObject(e.0),
        Ok(None) => Verdict::Unsigned,
        Ok(Some(s)) => {
            match verify::verify(&s.payload, &s.signature, ObjectInfo { kind, algo }, ctx) {
                Ok(v) => {
                    let decision = decide(&v);
                    Verdict::Good {
                        verified: Box::new(v),
                        decision,
                    }
                }
                Err(f) => Verdict::Failed(f),
            }
        }
    };
    Outcome {
        id: id.to_string(),
        kind,
        subject,
        verdict,
    }
}

/// Most object bytes read ahead of the workers: objects wait here for a
/// thread, and a push may carry commits with messages of tens of MiB, so
/// the queue is bounded in bytes as well as in count. One object larger
/// than this still passes, alone.
pub const MAX_BYTES_IN_FLIGHT: usize = 8 * 1024 * 1024;

/// Most outcomes the reader may be ahead of the sink, per worker thread:
/// outcomes leave in input order, so while one object is slow (a Rekor
/// lookup waiting out its timeout) the ones verified behind it wait, and
/// without a bound they would pile up to the whole history. Eight times the
/// job queue: at 128 per thread (twice the queue) the window bound in steady
/// state and `tests/bench/range.sh` lost 10-20%; at 512 it measures as
/// without a window. An outcome holds at most a 200-character subject and a
/// 64 KiB certificate, so two threads hold at most about 64 MiB of them.
pub const OBJECTS_AHEAD_PER_THREAD: usize = 512;

/// A count the reader takes from and the workers or the sink give back:
/// the bytes of objects read but not yet verified (at most
/// [`MAX_BYTES_IN_FLIGHT`]), or the objects read but not yet handed to the
/// sink (at most [`OBJECTS_AHEAD_PER_THREAD`] per worker); the reader waits
/// while it is used up.
struct Budget {
    limit: usize,
    used: std::sync::Mutex<usize>,
    freed: std::sync::Condvar,
    /// No worker is left to give back: the reader must not wait.
    closed: std::sync::atomic::AtomicBool,
}

impl Budget {
    fn new(limit: usize) -> Budget {
        Budget {
            limit,
            used: std::sync::Mutex::new(0),
            freed: std::sync::Condvar::new(),
            closed: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Waits until `n` more fit (always, when nothing is taken or the
    /// budget is closed).
    fn take(&self, n: usize) {
        let Ok(mut used) = self.used.lock() else {
            return;
        };
        while *used > 0
            && *used + n > self.limit
            && !self.closed.load(std::sync::atomic::Ordering::Acquire)
        {
            used = match self.freed.wait(used) {
                Ok(u) => u,
                Err(_) => return,
            };
        }
        *used += n;
    }

    fn give(&self, n: usize) {
        if let Ok(mut used) = self.used.lock() {
            *used = used.saturating_sub(n);
        }
        self.freed.notify_all();
    }

    /// Lets every `take` through from now on. The flag is set before the
    /// lock is taken, so a reader either sees it or is already waiting
    /// and is woken.
    fn close(&self) {
        self.closed
            .store(true, std::sync::atomic::Ordering::Release);
        drop(self.used.lock());
        self.freed.notify_all();
    }
}

/// Held by each worker, with its share of the job queue: when the last
/// one leaves, the queue closes first and then the budgets open (in that
/// order, so nothing more is read ahead once no worker is left). A
/// worker leaving by a panic tells the others to leave too: the outcomes
/// after its object could never be handed on (they leave in input order),
/// and would only pile up until the stream ends in that panic.
struct Leaving<'a, J> {
    jobs: Option<std::sync::Arc<std::sync::Mutex<mpsc::Receiver<J>>>>,
    live: &'a std::sync::atomic::AtomicUsize,
    bytes: &'a Budget,
    window: &'a Budget,
    abandoned: &'a std::sync::atomic::AtomicBool,
}

impl<J> Drop for Leaving<'_, J> {
    fn drop(&mut self) {
        let died = std::thread::panicking();
        if died {
            self.abandoned
                .store(true, std::sync::atomic::Ordering::Release);
        }
        self.jobs = None;
        if self.live.fetch_sub(1, std::sync::atomic::Ordering::AcqRel) == 1 {
            self.bytes.close();
            self.window.close();
        } else if died {
            // The reader may be waiting for room in the outcome window that
            // only the dead worker's outcome would have made, while the
            // others wait for a job from it. The byte budget stays: the
            // others may still be verifying.
            self.window.close();
        }
    }
}

/// Opens a budget when dropped (also by a panic).
struct OpenOnDrop<'a>(&'a Budget);

impl Drop for OpenOnDrop<'_> {
    fn drop(&mut self) {
        self.0.close();
    }
}

/// An object's bytes, given back to the budget when its verification ends,
/// even by a panic (or the reader could wait for them for ever while other
/// workers wait for it).
struct InFlight<'a> {
    budget: &'a Budget,
    bytes: usize,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.budget.give(self.bytes);
    }
}

/// What an object read from git counts against the byte budget (the
/// reader's `take` and the worker's give-back use the same measure).
fn object_bytes(obj: &Result<Option<Object>, GitError>) -> usize {
    obj.as_ref()
        .map_or(0, |o| o.as_ref().map_or(0, |o| o.data.len()))
}

/// The outcome for an object read from git.
fn outcome_of(
    id: &str,
    obj: Result<Option<Object>, GitError>,
    algo: HashAlgo,
    ctx: &Context<'_>,
    decide: &(dyn Fn(&Verified) -> Decision + Sync),
) -> Outcome {
    let bad = |verdict: String| Outcome {
        id: id.to_string(),
        kind: ObjectKind::Commit,
        subject: String::new(),
        verdict: Verdict::BadObject(verdict),
    };
    match obj {
        Ok(Some(o)) => match o.kind.as_str() {
            "commit" => verify_object(id, ObjectKind::Commit, &o.data, algo, ctx, decide),
            "tag" => verify_object(id, ObjectKind::Tag, &o.data, algo, ctx, decide),
            other => bad(format!("{id} is a {other}, not a commit or tag")),
        },
        Ok(None) => bad(format!("object {id} is missing")),
        Err(e) => bad(e.0),
    }
}

/// Verifies every object `ids` yields, on `threads` workers, calling `sink`
/// with each outcome in input order. Stops early (returning the error) if
/// enumeration or git fails.
pub fn verify_stream<I>(
    ids: I,
    reader: CatFile,
    algo: HashAlgo,
    ctx: &Context<'_>,
    decide: &(dyn Fn(&Verified) -> Decision + Sync),
    threads: usize,
    mut sink: impl FnMut(Outcome),
) -> Result<usize, GitError>
where
    I: Iterator<Item = Result<String, GitError>> + Send,
{
    verify_stream_tagged(
        ids.map(|r| r.map(|id| (id, ()))),
        reader,
        algo,
        ctx,
        decide,
        threads,
        |o, ()| sink(o),
    )
}

/// [`verify_stream`] where each id carries a tag of the caller's (the
/// ref that brought it), handed back with its outcome. Memory is bounded
/// by [`OBJECTS_AHEAD_PER_THREAD`] and by [`MAX_BYTES_IN_FLIGHT`], whatever their
/// number or size.
pub fn verify_stream_tagged<I, T>(
    ids: I,
    mut reader: CatFile,
    algo: HashAlgo,
    ctx: &Context<'_>,
    decide: &(dyn Fn(&Verified) -> Decision + Sync),
    threads: usize,
    mut sink: impl FnMut(Outcome, T),
) -> Result<usize, GitError>
where
    I: Iterator<Item = Result<(String, T), GitError>> + Send,
    T: Send,
{
    let threads = threads.max(1);
    type Job<T> = (usize, String, T, Result<Option<Object>, GitError>);
    let (job_tx, job_rx) = mpsc::sync_channel::<Job<T>>(threads * 64);
    // Only the workers hold the job queue's receiving end: when the last
    // one leaves (the results are no longer wanted: `sink` panicked), the
    // queue closes and the budgets open, so the reader stops instead
    // of waiting on them for ever.
    let job_rx = std::sync::Arc::new(std::sync::Mutex::new(job_rx));
    let (res_tx, res_rx) = mpsc::sync_channel::<(usize, Outcome, T)>(threads * 64);
    let budget = Budget::new(MAX_BYTES_IN_FLIGHT);
    let window = Budget::new(threads * OBJECTS_AHEAD_PER_THREAD);
    let live = std::sync::atomic::AtomicUsize::new(threads);
    let abandoned = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        let budget = &budget;
        let window = &window;
        let live = &live;
        let abandoned = &abandoned;
        let reader_thread = scope.spawn(move || -> Result<usize, GitError> {
            let mut n = 0;
            for item in ids {
                let (id, tag) = item?;
                window.take(1);
                let obj = reader.get(&id);
                budget.take(object_bytes(&obj));
                if job_tx.send((n, id, tag, obj)).is_err() {
                    break;
                }
                n += 1;
            }
            Ok(n)
        });
        for _ in 0..threads {
            let res_tx = res_tx.clone();
            let leaving = Leaving {
                jobs: Some(std::sync::Arc::clone(&job_rx)),
                live,
                bytes: budget,
                window,
                abandoned,
            };
            scope.spawn(move || {
                let leaving = leaving;
                loop {
                    let job = match leaving.jobs.as_deref().map(|j| j.lock()) {
                        Some(Ok(rx)) => rx.recv(),
                        _ => break,
                    };
                    let Ok((seq, id, tag, obj)) = job else { break };
                    // Before or while it waited for this job, another worker
                    // may have died.
                    if abandoned.load(std::sync::atomic::Ordering::Acquire) {
                        break;
                    }
                    let in_flight = InFlight {
                        budget,
                        bytes: object_bytes(&obj),
                    };
                    let outcome = outcome_of(&id, obj, algo, ctx, decide);
                    drop(in_flight);
                    if res_tx.send((seq, outcome, tag)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(job_rx);
        drop(res_tx);
        // Reorder: results arrive in any order, leave in input order. If
        // `sink` panics, the window opens, or the reader could wait for
        // room in it for ever while the workers wait for a job.
        let _open = OpenOnDrop(window);
        let mut pending = BTreeMap::new();
        let mut next = 0;
        for (seq, o, tag) in res_rx {
            pending.insert(seq, (o, tag));
            while let Some((o, tag)) = pending.remove(&next) {
                sink(o, tag);
                window.give(1);
                next += 1;
            }
        }
        match reader_thread.join() {
            Ok(r) => r,
            Err(_) => Err(GitError("the object reader stopped unexpectedly".into())),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::git::Git;

    /// Runs git in `dir` with `input` on its stdin; its stdout.
    fn git_in(dir: &std::path::Path, args: &[&str], input: &[u8]) -> String {
        use std::io::Write;
        let mut child = std::process::Command::new("git")
            .args(args)
            .current_dir(dir)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(input).unwrap();
        drop(stdin);
        let o = child.wait_with_output().unwrap();
        assert!(o.status.success(), "git {args:?}");
        String::from_utf8(o.stdout).unwrap()
    }

    /// A fresh bare repository under the temporary directory.
    fn bare_repo(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("gitsign-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        git_in(&dir, &["init", "-q", "--bare"], b"");
        dir
    }

    /// Streams `ids` of the repository in `dir` (offline, the public-good
    /// root) on `threads` workers; how the call ended (`Err`: it panicked;
    /// a call that has not ended within a minute fails the test) and how
    /// many ids the stream took.
    fn stream(
        dir: &std::path::Path,
        ids: impl Iterator<Item = String> + Send + 'static,
        threads: usize,
        decide: fn(&Verified) -> Decision,
        sink: fn(Outcome),
    ) -> (Result<Result<usize, GitError>, ()>, usize) {
        let taken = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = std::sync::Arc::clone(&taken);
        let ids = ids.inspect(move |_| {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        });
        let reader = Git::in_dir(dir.to_path_buf()).cat_file().unwrap();
        let (done_tx, done_rx) = mpsc::channel();
        std::thread::spawn(move || {
            let root = crate::sigstore::trust::TrustedRoot::public_good();
            let ctx = Context {
                root: &root,
                require_sct: true,
                rekor: None,
                missing_tlog: verify::MissingTlog::Skip,
                cache: None,
            };
            let ended = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                verify_stream(
                    ids.map(Ok),
                    reader,
                    HashAlgo::Sha1,
                    &ctx,
                    &decide,
                    threads,
                    sink,
                )
            }));
            let _ = done_tx.send(ended.map_err(|_| ()));
        });
        let ended = done_rx
            .recv_timeout(std::time::Duration::from_secs(60))
            .expect("verify_stream hung");
        (ended, taken.load(std::sync::atomic::Ordering::SeqCst))
    }

    /// [`stream`], asserting that the call ends with a panic; how many ids
    /// it took.
    fn ends_with_a_panic(
        dir: &std::path::Path,
        ids: impl Iterator<Item = String> + Send + 'static,
        threads: usize,
        decide: fn(&Verified) -> Decision,
        sink: fn(Outcome),
    ) -> usize {
        let (ended, taken) = stream(dir, ids, threads, decide, sink);
        assert!(ended.is_err(), "the panic did not reach the caller");
        taken
    }

    /// A `sink` that panics (a bug in the caller) ends the stream with that
    /// panic: the reader, with far more commits to read than the queues
    /// hold, stops when the workers leave instead of waiting on them.
    #[test]
    fn a_panicking_sink_ends_the_stream() {
        let dir = bare_repo("stream");
        let mut stream = String::new();
        for i in 0..600 {
            stream.push_str(&format!(
                "commit refs/heads/main\ncommitter A <a@example.com> {} +0000\ndata 2\nc{}\n",
                1_700_000_000 + i,
                i % 10
            ));
        }
        git_in(&dir, &["fast-import", "--quiet"], stream.as_bytes());
        let ids: Vec<String> = git_in(&dir, &["rev-list", "refs/heads/main"], b"")
            .lines()
            .map(String::from)
            .collect();
        assert_eq!(ids.len(), 600);
        ends_with_a_panic(
            &dir,
            ids.into_iter(),
            1,
            |_| Decision::Trusted,
            |_| panic!("the sink's own bug"),
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A worker that panics (here `decide`, on the one signature that
    /// verifies) gives its object's bytes back, so the reader, waiting to
    /// read an object larger than the budget, goes on; the stream ends with
    /// the panic instead of hanging with the other worker.
    #[test]
    fn a_panicking_worker_ends_the_stream() {
        let dir = bare_repo("worker");
        let hash = |data: &[u8]| {
            let args = [
                "hash-object",
                "-w",
                "--literally",
                "-t",
                "commit",
                "--stdin",
            ];
            git_in(&dir, &args, data).trim().to_string()
        };
        let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/objects/gitsign/gitlab_fixture_sigstore_commit.commit");
        let signed = hash(&std::fs::read(fixture).unwrap());
        let head = "tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\n\
                    author A <a@example.com> 1 +0000\ncommitter A <a@example.com> 1 +0000\n\n";
        let mut big = head.as_bytes().to_vec();
        big.resize(MAX_BYTES_IN_FLIGHT + 1024 * 1024, b'x');
        let mut ids = vec![signed, hash(&big)];
        for i in 0..4 {
            ids.push(hash(format!("{head}small {i}\n").as_bytes()));
        }
        ends_with_a_panic(
            &dir,
            ids.into_iter(),
            2,
            |_| panic!("decide's own bug"),
            |_| {},
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A worker's panic sends the others home: the objects after the one
    /// it died on could never be handed on in order, so the stream stops
    /// reading instead of verifying the rest into memory. The ids after
    /// the first wait until `decide` has panicked.
    #[test]
    fn a_panicking_worker_stops_the_others() {
        static DECIDING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
        const MORE: usize = 20_000;
        let dir = bare_repo("abandon");
        let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/objects/gitsign/gitlab_fixture_sigstore_commit.commit");
        let args = [
            "hash-object",
            "-w",
            "--literally",
            "-t",
            "commit",
            "--stdin",
        ];
        let signed = git_in(&dir, &args, &std::fs::read(fixture).unwrap())
            .trim()
            .to_string();
        // Then ids of objects the repository lacks (each a quick "missing").
        // (and half a second more, for the panic to unwind).
        let rest = (1..=MORE).map(|i| {
            if i == 1 {
                while !DECIDING.load(std::sync::atomic::Ordering::SeqCst) {
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
                std::thread::sleep(std::time::Duration::from_millis(500));
            }
            format!("{i:040x}")
        });
        let taken = ends_with_a_panic(
            &dir,
            std::iter::once(signed).chain(rest),
            2,
            |_| {
                DECIDING.store(true, std::sync::atomic::Ordering::SeqCst);
                panic!("decide's own bug")
            },
            |_| {},
        );
        assert!(
            taken < MORE / 2,
            "the stream took {taken} of {} ids after the panic",
            MORE + 1
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// The signed fixture, written into the repository in `dir`: its id.
    fn signed_commit(dir: &std::path::Path) -> String {
        let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/objects/gitsign/gitlab_fixture_sigstore_commit.commit");
        let args = [
            "hash-object",
            "-w",
            "--literally",
            "-t",
            "commit",
            "--stdin",
        ];
        git_in(dir, &args, &std::fs::read(fixture).unwrap())
            .trim()
            .to_string()
    }

    /// `n` unsigned commits of 1 MiB each, written into the repository in
    /// `dir`: their ids.
    fn mib_commits(dir: &std::path::Path, n: usize) -> Vec<String> {
        let head = "tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\n\
                    author A <a@example.com> 1 +0000\ncommitter A <a@example.com> 1 +0000\n\n";
        let args = [
            "hash-object",
            "-w",
            "--literally",
            "-t",
            "commit",
            "--stdin",
        ];
        (0..n)
            .map(|i| {
                let mut data = format!("{head}m {i}\n").into_bytes();
                data.resize(1024 * 1024, b'x');
                git_in(dir, &args, &data).trim().to_string()
            })
            .collect()
    }

    /// Workers already waiting for a job when another one panicked verify
    /// nothing more: four workers, the same signed commit 101 times,
    /// `decide` panicking on its first call and counting the others.
    #[test]
    fn nothing_is_verified_after_a_worker_panicked() {
        use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
        static DECIDING: AtomicBool = AtomicBool::new(false);
        static AFTER: AtomicUsize = AtomicUsize::new(0);
        let dir = bare_repo("after");
        let signed = signed_commit(&dir);
        let again = signed.clone();
        let rest = (0..100).map(move |i| {
            if i == 0 {
                while !DECIDING.load(SeqCst) {
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
                std::thread::sleep(std::time::Duration::from_millis(500));
            }
            again.clone()
        });
        let taken = ends_with_a_panic(
            &dir,
            std::iter::once(signed).chain(rest),
            4,
            |_| {
                if DECIDING.swap(true, SeqCst) {
                    AFTER.fetch_add(1, SeqCst);
                    Decision::Trusted
                } else {
                    panic!("decide's own bug")
                }
            },
            |_| {},
        );
        let after = AFTER.load(SeqCst);
        assert_eq!(
            after, 0,
            "{after} verified after the panic (of {taken} taken)"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A sink that panics while the one worker waits to hand on results
    /// and the reader waits for the bytes its queue holds (1 MiB objects):
    /// the last worker's leaving opens the byte budget, so the reader ends.
    #[test]
    fn a_reader_waiting_for_bytes_ends_when_the_workers_leave() {
        let dir = bare_repo("bytes");
        let ids = mib_commits(&dir, 120);
        ends_with_a_panic(
            &dir,
            ids.into_iter(),
            1,
            |_| Decision::Trusted,
            |_| {
                std::thread::sleep(std::time::Duration::from_millis(500));
                panic!("the sink's own bug")
            },
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A slow first object (here `decide` taking two seconds) holds the
    /// reader back at the window's outcomes waiting for it, and then every
    /// outcome is handed on; the same with `decide` panicking after its
    /// wait ends the stream (the dying worker opens the window).
    #[test]
    fn a_slow_object_holds_the_reader_back() {
        use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
        static TAKEN: AtomicUsize = AtomicUsize::new(0);
        static AT_DECIDE: AtomicUsize = AtomicUsize::new(0);
        static HANDED: AtomicUsize = AtomicUsize::new(0);
        const MORE: usize = 20_000;
        let dir = bare_repo("window");
        let signed = signed_commit(&dir);
        let ids = |signed: &str| {
            std::iter::once(signed.to_string())
                .chain((1..=MORE).map(|i| format!("{i:040x}")))
                .inspect(|_| {
                    TAKEN.fetch_add(1, SeqCst);
                })
        };
        let slow = |_: &Verified| {
            std::thread::sleep(std::time::Duration::from_secs(2));
            AT_DECIDE.store(TAKEN.load(SeqCst), SeqCst);
            Decision::Trusted
        };
        let (ended, _) = stream(&dir, ids(&signed), 2, slow, |_| {
            HANDED.fetch_add(1, SeqCst);
        });
        assert_eq!(ended.ok().and_then(Result::ok), Some(MORE + 1));
        assert_eq!(HANDED.load(SeqCst), MORE + 1);
        let at = AT_DECIDE.load(SeqCst);
        assert!(
            at <= 2 * OBJECTS_AHEAD_PER_THREAD + 1,
            "the reader took {at} ids while the first waited"
        );

        TAKEN.store(0, SeqCst);
        let dies = |_: &Verified| -> Decision {
            std::thread::sleep(std::time::Duration::from_secs(2));
            panic!("decide's own bug")
        };
        let taken = ends_with_a_panic(&dir, ids(&signed), 2, dies, |_| {});
        // Once the budgets open on the panic, the job queue (2 × 64) and
        // the other worker's one last job bound what more is read.
        assert!(
            taken <= 2 * OBJECTS_AHEAD_PER_THREAD + 2 * 64 + 2,
            "took {taken} of {}",
            MORE + 1
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// The sink panics on the first outcome while the window is full (the
    /// first object slow, the window's outcomes waiting behind it, the
    /// reader waiting for a place, the other worker waiting for a job):
    /// the stream ends in that panic.
    #[test]
    fn a_sink_panicking_behind_a_full_window_ends_the_stream() {
        use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
        static TAKEN: AtomicUsize = AtomicUsize::new(0);
        let dir = bare_repo("sinkwindow");
        let signed = signed_commit(&dir);
        let ids = std::iter::once(signed)
            .chain((1..=20_000).map(|i| format!("{i:040x}")))
            .inspect(|_| {
                TAKEN.fetch_add(1, SeqCst);
            });
        let (ended, taken) = stream(
            &dir,
            ids,
            2,
            |_| {
                std::thread::sleep(std::time::Duration::from_secs(2));
                Decision::Trusted
            },
            |_| panic!("the sink's own bug"),
        );
        assert!(
            ended.is_err(),
            "the panic did not reach the caller (took {taken})"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// One worker dies while another is in a slow verification: the byte
    /// budget must still bound what the reader reads ahead (1 MiB objects,
    /// MAX_BYTES_IN_FLIGHT = 8 MiB).
    #[test]
    fn a_dead_worker_does_not_lift_the_byte_budget() {
        use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
        static TAKEN: AtomicUsize = AtomicUsize::new(0);
        static CALLS: AtomicUsize = AtomicUsize::new(0);
        static AT_END_OF_SLOW: AtomicUsize = AtomicUsize::new(0);
        let dir = bare_repo("deadbytes");
        let signed = signed_commit(&dir);
        let big = mib_commits(&dir, 200);
        let ids = [signed.clone(), signed]
            .into_iter()
            .chain(big)
            .inspect(|_| {
                TAKEN.fetch_add(1, SeqCst);
            });
        let taken = ends_with_a_panic(
            &dir,
            ids,
            2,
            |_| {
                if CALLS.fetch_add(1, SeqCst) == 0 {
                    std::thread::sleep(std::time::Duration::from_secs(3));
                    AT_END_OF_SLOW.store(TAKEN.load(SeqCst), SeqCst);
                    Decision::Trusted
                } else {
                    panic!("decide's own bug")
                }
            },
            |_| {},
        );
        let ahead = AT_END_OF_SLOW.load(SeqCst) - 2;
        assert!(
            ahead <= MAX_BYTES_IN_FLIGHT / (1024 * 1024) + 2,
            "{ahead} MiB objects read, unverified, while the slow worker ran (budget 8 MiB; {taken} taken in all)"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
