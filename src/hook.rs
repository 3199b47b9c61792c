//! Server-side enforcement: the pre-receive and update hooks. Only the
//! objects a push introduces are checked (`<new> --not --all`, so history
//! already accepted is not re-verified); each ref's commits (and tags)
//! must satisfy the policy rule that covers the ref.

use crate::git::{Git, GitError};
use crate::gitobj::{HashAlgo, ObjectKind};
use crate::policy::Decision;
use crate::policy_file::{PolicyFile, Rule, SignerSet, Unreachable};
use crate::range::{self, Outcome, Verdict};
use crate::verify::{Context, TlogStatus};

/// Most ref updates read from one push.
const MAX_UPDATES: usize = 100_000;
/// Longest input line (`old new ref`).
const MAX_LINE: usize = 4096;
/// Most problems a refusal lists one by one (the count is always given).
const MAX_LISTED: usize = 50;

/// One ref update: `old new refname`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefUpdate {
    /// Old value (all zeros when the ref is created).
    pub old: String,
    /// New value (all zeros when the ref is deleted).
    pub new: String,
    /// The ref.
    pub name: String,
}

fn is_zero(id: &str) -> bool {
    id.bytes().all(|b| b == b'0')
}

fn is_id(s: &str) -> bool {
    (s.len() == 40 || s.len() == 64) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

impl RefUpdate {
    /// Is this a deletion?
    pub fn is_delete(&self) -> bool {
        is_zero(&self.new)
    }

    /// Builds one update, validating its fields.
    pub fn new(old: &str, new: &str, name: &str) -> Result<RefUpdate, String> {
        if !is_id(old)
            || !is_id(new)
            || !name.starts_with("refs/")
            || name.chars().any(char::is_control)
        {
            return Err(format!("malformed ref update \"{old} {new} {name}\""));
        }
        Ok(RefUpdate {
            old: old.into(),
            new: new.into(),
            name: name.into(),
        })
    }
}

/// Parses pre-receive input.
pub fn parse_updates(input: &str) -> Result<Vec<RefUpdate>, String> {
    let mut out = Vec::new();
    for line in input.lines().filter(|l| !l.trim().is_empty()) {
        if line.len() > MAX_LINE {
            return Err("a ref update line is too long".into());
        }
        if out.len() >= MAX_UPDATES {
            return Err(format!("more than {MAX_UPDATES} ref updates in one push"));
        }
        let parts: Vec<&str> = line.split(' ').collect();
        let [old, new, name] = parts.as_slice() else {
            return Err(format!(
                "malformed ref update \"{line}\" (expected: old new ref)"
            ));
        };
        out.push(RefUpdate::new(old, new, name)?);
    }
    Ok(out)
}

/// A reason to refuse the push.
#[derive(Debug, Clone)]
pub struct Rejection {
    /// The ref.
    pub ref_name: String,
    /// The offending object, when there is one.
    pub object: Option<(String, ObjectKind, String)>,
    /// Why.
    pub reason: String,
}

/// What the hook found.
#[derive(Debug, Default)]
pub struct Report {
    /// Problems; the push is refused when there is any.
    pub rejections: Vec<Rejection>,
    /// Warnings (accepted, but worth saying).
    pub warnings: Vec<String>,
    /// Objects verified.
    pub checked: usize,
}

/// Decides an outcome under a rule.
fn judge(
    policy: &PolicyFile,
    rule: &Rule,
    o: &Outcome,
    warnings: &mut Vec<String>,
) -> Option<String> {
    match &o.verdict {
        Verdict::Unsigned if rule.allow_unsigned => None,
        Verdict::Unsigned => Some("not signed".into()),
        Verdict::Failed(f) => Some(f.message.clone()),
        Verdict::BadObject(m) => Some(m.clone()),
        Verdict::Good { verified, .. } => {
            if let TlogStatus::NotChecked(why) = &verified.tlog {
                if rule.require_tlog && policy.rekor_unreachable == Unreachable::Reject {
                    return Some(format!(
                        "its transparency log entry could not be checked ({why})"
                    ));
                }
                warnings.push(format!(
                    "{}: the transparency log was not checked ({why})",
                    &o.id[..12.min(o.id.len())]
                ));
            }
            match policy.check(rule, verified) {
                Decision::Trusted => None,
                Decision::Rejected(why) => Some(why),
                Decision::NoPolicy => Some("no signer is allowed".into()),
            }
        }
    }
}

/// Checks a push.
pub fn check_push(
    updates: &[RefUpdate],
    git: &Git,
    policy: &PolicyFile,
    ctx: &Context<'_>,
    algo: HashAlgo,
    threads: usize,
) -> Result<Report, GitError> {
    let mut report = Report::default();
    let no_decision = |_: &crate::verify::Verified| Decision::Trusted;
    // The repository's refs before this push (the quarantine keeps them).
    let listing = git.output(&["for-each-ref", "--format=%(objectname) %(refname)"])?;
    let existing: Vec<(String, String)> = String::from_utf8_lossy(&listing)
        .lines()
        .filter_map(|l| {
            l.split_once(' ')
                .map(|(id, name)| (id.to_string(), name.to_string()))
        })
        .collect();
    for u in updates {
        if u.is_delete() {
            continue;
        }
        let Some(rule) = policy.rule_for(&u.name) else {
            if policy.reject_unmatched {
                report.rejections.push(Rejection {
                    ref_name: u.name.clone(),
                    object: None,
                    reason: "no rule of the signing policy covers this ref (unmatched_refs = \"reject\")".into(),
                });
            }
            continue;
        };
        // A rule that requires nothing (allow_unsigned, no signers) checks nothing.
        if rule.allow_unsigned && matches!(&rule.signers, SignerSet::Named(s) if s.is_empty()) {
            continue;
        }
        let mut cat = git.cat_file()?;
        let tip = cat.get(&u.new)?;
        let mut commit_tip = u.new.clone();
        match tip {
            None => {
                report.rejections.push(Rejection {
                    ref_name: u.name.clone(),
                    object: None,
                    reason: format!("object {} is missing", u.new),
                });
                continue;
            }
            Some((kind, data)) if kind == "tag" => {
                report.checked += 1;
                let o =
                    range::verify_object(&u.new, ObjectKind::Tag, &data, algo, ctx, &no_decision);
                if rule.signed_tags {
                    if let Some(reason) = judge(policy, rule, &o, &mut report.warnings) {
                        report.rejections.push(Rejection {
                            ref_name: u.name.clone(),
                            object: Some((o.id.clone(), ObjectKind::Tag, o.subject.clone())),
                            reason,
                        });
                    }
                }
                commit_tip = format!("{}^{{commit}}", u.new);
            }
            Some((kind, _)) if kind == "commit" => {
                if rule.signed_tags && u.name.starts_with("refs/tags/") {
                    report.rejections.push(Rejection {
                        ref_name: u.name.clone(),
                        object: None,
                        reason:
                            "a lightweight tag; this ref needs a signed annotated tag (git tag -s)"
                                .into(),
                    });
                }
            }
            Some((kind, _)) => {
                // Tags of trees or blobs carry no commits to check.
                if rule.signed_tags {
                    report.rejections.push(Rejection {
                        ref_name: u.name.clone(),
                        object: None,
                        reason: format!("the ref points at a {kind}, not a signed tag or commit"),
                    });
                }
                continue;
            }
        }
        // Only history already accepted under this same rule is skipped:
        // commits reachable from refs with laxer rules (allow_unsigned
        // scratch branches, other signers) are checked again, or pushing
        // them first to a lax ref would smuggle them past this one.
        // Through stdin: a repository may have more refs than a command
        // line can hold.
        let rule_idx = policy.rule_index(&u.name);
        let mut excluded: Vec<&str> = existing
            .iter()
            .filter(|(_, name)| policy.rule_index(name) == rule_idx)
            .map(|(id, _)| id.as_str())
            .collect();
        excluded.sort_unstable();
        excluded.dedup();
        let mut args = vec![commit_tip];
        args.extend(excluded.iter().map(|id| format!("^{id}")));
        let mut revs = git.rev_list_stdin(&args)?;
        let ids = std::iter::from_fn(move || revs.next_id().transpose());
        let mut found = Vec::new();
        report.checked += range::verify_stream(
            ids,
            git.cat_file()?,
            algo,
            ctx,
            &no_decision,
            threads,
            |o| {
                let mut w = Vec::new();
                if let Some(reason) = judge(policy, rule, &o, &mut w) {
                    found.push(Rejection {
                        ref_name: u.name.clone(),
                        object: Some((o.id.clone(), o.kind, o.subject.clone())),
                        reason,
                    });
                }
                report.warnings.extend(w);
            },
        )?;
        report.rejections.extend(found);
    }
    Ok(report)
}

/// The message printed when a push is refused.
pub fn rejection_text(report: &Report) -> Vec<String> {
    let mut out = vec![format!(
        "push refused: {} problem{} with signatures (gitsign signing policy)",
        report.rejections.len(),
        if report.rejections.len() == 1 {
            ""
        } else {
            "s"
        }
    )];
    for r in report.rejections.iter().take(MAX_LISTED) {
        match &r.object {
            Some((id, kind, subject)) => out.push(format!(
                "  {}: {} {} \"{}\": {}",
                r.ref_name,
                kind.name(),
                &id[..12.min(id.len())],
                subject,
                r.reason
            )),
            None => out.push(format!("  {}: {}", r.ref_name, r.reason)),
        }
    }
    if report.rejections.len() > MAX_LISTED {
        out.push(format!(
            "  ... and {} more (the first {MAX_LISTED} are listed)",
            report.rejections.len() - MAX_LISTED
        ));
    }
    out.push(
        "to fix: sign the commits (git rebase --exec 'git commit --amend --no-edit -S' <base>) or tags (git tag -s), \
         by a signer the policy allows, and push again"
            .into(),
    );
    out
}
