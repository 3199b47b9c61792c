//! Verifying many commits (and tags) in parallel: one reader streams
//! objects out of `git cat-file --batch`, worker threads verify them with
//! a shared per-certificate cache, and results come back in input order so
//! output streams. Memory stays bounded for any number of commits.

use std::collections::BTreeMap;
use std::sync::mpsc;

use serde_json::json;

use crate::git::{CatFile, GitError};
use crate::gitobj::{self, HashAlgo, ObjectKind};
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
                    json!(crate::time::format_time(verified.time)),
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
                let id = f.certificate.as_ref().map(|c| crate::gpg::uid(c));
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

/// Verifies every object `ids` yields, on `threads` workers, calling `sink`
/// with each outcome in input order. Stops early (returning the error) if
/// enumeration or git fails.
pub fn verify_stream<I>(
    ids: I,
    mut reader: CatFile,
    algo: HashAlgo,
    ctx: &Context<'_>,
    decide: &(dyn Fn(&Verified) -> Decision + Sync),
    threads: usize,
    mut sink: impl FnMut(Outcome),
) -> Result<usize, GitError>
where
    I: Iterator<Item = Result<String, GitError>> + Send,
{
    let threads = threads.max(1);
    type Job = (usize, String, Result<Option<(String, Vec<u8>)>, GitError>);
    let (job_tx, job_rx) = mpsc::sync_channel::<Job>(threads * 64);
    let job_rx = std::sync::Mutex::new(job_rx);
    let (res_tx, res_rx) = mpsc::sync_channel::<(usize, Outcome)>(threads * 64);
    std::thread::scope(|scope| {
        let reader_thread = scope.spawn(move || -> Result<usize, GitError> {
            let mut n = 0;
            for id in ids {
                let id = id?;
                let obj = reader.get(&id);
                if job_tx.send((n, id, obj)).is_err() {
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
                let Ok((seq, id, obj)) = job else { break };
                let outcome = match obj {
                    Ok(Some((kind, data))) => match kind.as_str() {
                        "commit" => {
                            verify_object(&id, ObjectKind::Commit, &data, algo, ctx, decide)
                        }
                        "tag" => verify_object(&id, ObjectKind::Tag, &data, algo, ctx, decide),
                        other => Outcome {
                            id: id.clone(),
                            kind: ObjectKind::Commit,
                            subject: String::new(),
                            verdict: Verdict::BadObject(format!(
                                "{id} is a {other}, not a commit or tag"
                            )),
                        },
                    },
                    Ok(None) => Outcome {
                        id: id.clone(),
                        kind: ObjectKind::Commit,
                        subject: String::new(),
                        verdict: Verdict::BadObject(format!("object {id} is missing")),
                    },
                    Err(e) => Outcome {
                        id: id.clone(),
                        kind: ObjectKind::Commit,
                        subject: String::new(),
                        verdict: Verdict::BadObject(e.0),
                    },
                };
                if res_tx.send((seq, outcome)).is_err() {
                    break;
                }
            });
        }
        drop(res_tx);
        // Reorder: results arrive in any order, leave in input order.
        let mut pending = BTreeMap::new();
        let mut next = 0;
        for (seq, o) in res_rx {
            pending.insert(seq, o);
            while let Some(o) = pending.remove(&next) {
                sink(o);
                next += 1;
            }
        }
        match reader_thread.join() {
            Ok(r) => r,
            Err(_) => Err(GitError("the object reader stopped unexpectedly".into())),
        }
    })
}
