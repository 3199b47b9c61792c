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

/// Counts the bytes of objects read but not yet verified; the reader waits
/// while the workers are behind by [`MAX_BYTES_IN_FLIGHT`].
struct ByteBudget {
    used: std::sync::Mutex<usize>,
    freed: std::sync::Condvar,
}

impl ByteBudget {
    fn new() -> ByteBudget {
        ByteBudget {
            used: std::sync::Mutex::new(0),
            freed: std::sync::Condvar::new(),
        }
    }

    /// Waits until `n` more bytes fit (always, when nothing is in flight).
    fn take(&self, n: usize) {
        let Ok(mut used) = self.used.lock() else {
            return;
        };
        while *used > 0 && *used + n > MAX_BYTES_IN_FLIGHT {
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
/// by a count of objects and by [`MAX_BYTES_IN_FLIGHT`], whatever their
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
    let job_rx = std::sync::Mutex::new(job_rx);
    let (res_tx, res_rx) = mpsc::sync_channel::<(usize, Outcome, T)>(threads * 64);
    let budget = ByteBudget::new();
    std::thread::scope(|scope| {
        let budget = &budget;
        let reader_thread = scope.spawn(move || -> Result<usize, GitError> {
            let mut n = 0;
            for item in ids {
                let (id, tag) = item?;
                let obj = reader.get(&id);
                budget.take(
                    obj.as_ref()
                        .map_or(0, |o| o.as_ref().map_or(0, |o| o.data.len())),
                );
                if job_tx.send((n, id, tag, obj)).is_err() {
                    break;
                }
                n += 1;
            }
            Ok(n)
        });
        for _ in 0..threads {
            let res_tx = res_tx.clone();
            let job_rx = &job_rx;
            scope.spawn(move || loop {
                let job = match job_rx.lock() {
                    Ok(rx) => rx.recv(),
                    Err(_) => break,
                };
                let Ok((seq, id, tag, obj)) = job else { break };
                let size = obj
                    .as_ref()
                    .map_or(0, |o| o.as_ref().map_or(0, |o| o.data.len()));
                let outcome = outcome_of(&id, obj, algo, ctx, decide);
                budget.give(size);
                if res_tx.send((seq, outcome, tag)).is_err() {
                    break;
                }
            });
        }
        drop(res_tx);
        // Reorder: results arrive in any order, leave in input order.
        let mut pending = BTreeMap::new();
        let mut next = 0;
        for (seq, o, tag) in res_rx {
            pending.insert(seq, (o, tag));
            while let Some((o, tag)) = pending.remove(&next) {
                sink(o, tag);
                next += 1;
            }
        }
        match reader_thread.join() {
            Ok(r) => r,
            Err(_) => Err(GitError("the object reader stopped unexpectedly".into())),
        }
    })
}
