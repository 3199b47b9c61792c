//! Server-side enforcement: the pre-receive and update hooks. A protected
//! ref moves only to objects its policy rule allows. What a pusher could
//! use to steer the check, and what stops it:
//!
//! - the ref actually written: each pushed name is followed through
//!   symbolic refs to the ref git updates ([`refs::ServerRefs::resolve`]),
//!   and the rules of every name on the way apply (`symbolic_refs =
//!   "reject"` refuses such updates); names that differ only in case are
//!   also held to the rule their case-folded form matches (on a
//!   case-insensitive filesystem they are one file);
//! - the objects: read by id with replace refs off and each checked
//!   against its id ([`crate::git`]); refs under `refs/replace/` and refs
//!   to blobs or trees are refused unless a rule allows them;
//! - tags: peeled to the final object, every tag on the way checked under
//!   `signed_tags`;
//! - resource use: the refs already accepted under a rule are excluded
//!   once per rule, not once per pushed ref, so one walk per rule covers
//!   all the refs of a push ([`walk`]); objects are streamed with bounded
//!   memory and the report keeps 50 problems and a count ([`report`]).
//!
//! Only the objects a push introduces are checked: history already
//! reachable from refs governed by the same rule was accepted under it.

pub mod refs;
pub mod report;
pub mod walk;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::git::{is_object_id, is_ref_name, CatFile, Git, GitError};
use crate::gitobj::{HashAlgo, ObjectKind};
use crate::policy::Decision;
use crate::policy_file::{fold_case, glob, PolicyFile, Rule, SymbolicRefs, Unreachable};
use crate::range::{self, Outcome, Verdict};
use crate::verify::{Context, TimeSource, TlogStatus};

pub use report::{rejection_text, warning_text, Rejection, Report, MAX_LISTED};

use refs::{Resolved, ServerRefs};

/// Most ref updates read from one push.
const MAX_UPDATES: usize = 100_000;
/// Longest input line (`old new ref`).
const MAX_LINE: usize = 4096;
/// Deepest chain of tags peeled (git has no limit; a chain this long is
/// no release process).
pub const MAX_TAG_DEPTH: usize = 64;

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

impl RefUpdate {
    /// Is this a deletion?
    pub fn is_delete(&self) -> bool {
        is_zero(&self.new)
    }

    /// Builds one update, validating its fields.
    pub fn new(old: &str, new: &str, name: &str) -> Result<RefUpdate, String> {
        if !is_object_id(old) || !is_object_id(new) || !is_ref_name(name) {
            return Err(format!(
                "malformed ref update \"{old} {new} {name}\" (expected: old-id new-id refs/...)"
            ));
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

/// Decides an outcome under a rule; warnings go to the report.
fn judge(policy: &PolicyFile, rule: &Rule, o: &Outcome, report: &mut Report) -> Option<String> {
    match &o.verdict {
        Verdict::Unsigned if rule.allow_unsigned => None,
        Verdict::Unsigned => Some("not signed".into()),
        Verdict::Failed(f) => Some(f.message.clone()),
        Verdict::BadObject(m) => Some(m.clone()),
        Verdict::Good { verified, .. } => {
            if let TlogStatus::NotChecked(why) = &verified.tlog {
                let own_clock = verified.time_source == TimeSource::SignerClock;
                if rule.require_tlog {
                    if own_clock && why.contains(crate::rekor::BUDGET_SPENT) {
                        // "warn" tolerates a Rekor that cannot be reached,
                        // not a lookup the pusher's own push crowded out,
                        // when the only time is the signer's claim.
                        return Some(
                            "its transparency log lookup was cut off by the push's time budget \
                             (rekor.budget_seconds), and its only time is the signer's own claim; \
                             unreachable = \"warn\" covers an unreachable Rekor, not an unfinished \
                             lookup: push fewer online-mode commits at once, or raise budget_seconds"
                                .into(),
                        );
                    }
                    if policy.rekor_unreachable == Unreachable::Reject {
                        return Some(format!(
                            "its transparency log entry could not be checked ({why})"
                        ));
                    }
                }
                let time = crate::time::format_time(verified.time);
                report.warn(format!(
                    "{}: accepted without a transparency log check ({why}); {}",
                    &o.id[..12.min(o.id.len())],
                    if own_clock {
                        format!(
                            "the signing time its checks used, {time}, is the signer's own claim"
                        )
                    } else {
                        format!("its time, {time}, comes from a verified RFC 3161 timestamp")
                    }
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

/// The tag a tag object points at: its `object` and `type` headers.
fn tag_target(data: &[u8]) -> Option<(String, String)> {
    let mut lines = data.split(|b| *b == b'\n');
    let object = std::str::from_utf8(lines.next()?.strip_prefix(b"object ")?).ok()?;
    let kind = std::str::from_utf8(lines.next()?.strip_prefix(b"type ")?).ok()?;
    is_object_id(object).then(|| (object.to_ascii_lowercase(), kind.to_string()))
}

/// What a pushed ref's new value turned out to be.
struct Peeled {
    /// The tags on the way, outermost first, each verified (when asked).
    tags: Vec<Outcome>,
    /// How many tags there were.
    depth: usize,
    /// The final object's id and type.
    id: String,
    kind: String,
}

/// Reads `id`, following tags to the final object; with `verify`, each
/// tag is verified once. `Err` is a reason to refuse the ref.
fn peel(
    cat: &mut CatFile,
    id: &str,
    verify: bool,
    algo: HashAlgo,
    ctx: &Context<'_>,
) -> Result<Peeled, String> {
    let no_decision = |_: &crate::verify::Verified| Decision::Trusted;
    let mut tags = Vec::new();
    let mut depth = 0;
    let mut id = id.to_string();
    loop {
        let obj = cat
            .get(&id)
            .map_err(|e| e.0)?
            .ok_or_else(|| format!("object {id} is missing"))?;
        if obj.kind != "tag" {
            return Ok(Peeled {
                tags,
                depth,
                id,
                kind: obj.kind,
            });
        }
        if depth >= MAX_TAG_DEPTH {
            return Err(format!(
                "tags nested more than {MAX_TAG_DEPTH} deep; gitsign does not follow them"
            ));
        }
        let next = tag_target(&obj.data)
            .map(|(next, _)| next)
            .ok_or_else(|| format!("tag {id} does not name the object it tags"))?;
        if verify {
            tags.push(range::verify_object(
                &id,
                ObjectKind::Tag,
                &obj.data,
                algo,
                ctx,
                &no_decision,
            ));
        }
        depth += 1;
        id = next;
    }
}

/// A pushed ref, resolved and labelled.
struct Target {
    /// How refusals name it: the pushed name, the ref it updates, and
    /// the case-folded rule that also holds it.
    label: String,
    /// Indices of the rules that apply (each once).
    rules: BTreeSet<usize>,
}

/// Resolves an update's ref and collects its rules; `Err` is a refusal.
fn target(u: &RefUpdate, resolved: &Resolved, policy: &PolicyFile) -> Result<Target, String> {
    let target = resolved.target();
    let mut label = u.name.clone();
    if resolved.is_symbolic() {
        label.push_str(&format!(" (updates {target})"));
    }
    if resolved.too_deep {
        return Err(format!(
            "a chain of symbolic refs longer than {} (or a loop): {}",
            refs::MAX_SYMREF_DEPTH,
            resolved.chain.join(" -> ")
        ));
    }
    if !is_ref_name(target) {
        return Err(format!(
            "a symbolic ref to {target}, outside refs/; gitsign does not check updates there"
        ));
    }
    if resolved.is_symbolic() && policy.symbolic_refs == SymbolicRefs::Reject {
        return Err(format!(
            "a symbolic ref to {target}; this policy refuses updates through symbolic refs \
             (symbolic_refs = \"reject\"): push to {target} instead"
        ));
    }
    let mut rules = BTreeSet::new();
    let mut notes = Vec::new();
    for name in &resolved.chain {
        let m = policy.rules_for(name);
        if m.exact.is_none() && policy.reject_unmatched {
            return Err(if name == &u.name {
                "no rule of the signing policy covers this ref (unmatched_refs = \"reject\")".into()
            } else {
                format!(
                    "no rule of the signing policy covers {name}, which this ref updates \
                     (unmatched_refs = \"reject\")"
                )
            });
        }
        if let Some(f) = m.folded {
            let folded = fold_case(name);
            if let Some(p) = policy.rules[f]
                .refs
                .iter()
                .find(|p| glob(&fold_case(p), &folded))
            {
                notes.push(format!(
                    "held to the rule for {p} too: ref names that differ only in case can be one ref"
                ));
            }
        }
        rules.extend(m.indices());
    }
    for n in notes {
        label.push_str(&format!(" ({n})"));
    }
    Ok(Target { label, rules })
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
    // The repository's refs before this push (the quarantine keeps them).
    let server = ServerRefs::load(git)?;
    let mut cat = git.cat_file()?;
    // Per rule: the commits to walk, and which update brought each tip.
    let mut walks: BTreeMap<usize, Vec<(String, usize)>> = BTreeMap::new();
    let mut labels: Vec<String> = Vec::with_capacity(updates.len());
    for (i, u) in updates.iter().enumerate() {
        labels.push(u.name.clone());
        // Deletions are always allowed (they move no ref to new objects).
        if u.is_delete() {
            continue;
        }
        let resolved = server.resolve(git, &u.name)?;
        let t = match target(u, &resolved, policy) {
            Ok(t) => t,
            Err(why) => {
                report.reject_ref(&labels[i], why);
                continue;
            }
        };
        labels[i] = t.label;
        let rules: Vec<&Rule> = t.rules.iter().map(|r| &policy.rules[*r]).collect();
        let label = labels[i].as_str();
        // Which rule allows it must be said explicitly: no rule, none.
        let all = |f: fn(&Rule) -> bool| !rules.is_empty() && rules.iter().all(|r| f(r));
        if resolved
            .chain
            .iter()
            .any(|n| n.starts_with("refs/replace/"))
            && !all(|r| r.allow_replace_refs)
        {
            report.reject_ref(
                label,
                "a replace ref (git would show another object in place of the one its name gives, \
                 wherever replace refs are followed); refused unless its rule says allow_replace_refs = true"
                    .into(),
            );
            continue;
        }
        let check_tags = rules.iter().any(|r| r.signed_tags && !r.requires_nothing());
        let peeled = match peel(&mut cat, &u.new, check_tags, algo, ctx) {
            Ok(p) => p,
            Err(why) => {
                report.reject_ref(label, why);
                continue;
            }
        };
        report.checked += peeled.tags.len();
        match peeled.kind.as_str() {
            "commit" => {}
            kind @ ("tree" | "blob") => {
                if !all(|r| r.allow_blobs_and_trees) {
                    let through = if peeled.depth == 0 {
                        String::new()
                    } else {
                        format!(" (through tag {})", &u.new[..12.min(u.new.len())])
                    };
                    report.reject_ref(
                        label,
                        format!(
                            "the ref points at a {kind}{through}, which carries no signature; refused \
                             unless its rule says allow_blobs_and_trees = true"
                        ),
                    );
                    continue;
                }
            }
            other => {
                report.reject_ref(label, format!("the ref points at a {other}"));
                continue;
            }
        }
        let mut lightweight =
            peeled.depth == 0 && resolved.chain.iter().any(|n| n.starts_with("refs/tags/"));
        for (r, rule) in t.rules.iter().zip(&rules) {
            if rule.requires_nothing() {
                continue;
            }
            if rule.signed_tags {
                if lightweight {
                    report.reject_ref(
                        label,
                        "a lightweight tag; this ref needs a signed annotated tag (git tag -s)"
                            .into(),
                    );
                    lightweight = false;
                }
                for tag in &peeled.tags {
                    if let Some(reason) = judge(policy, rule, tag, &mut report) {
                        report.reject(Rejection {
                            ref_name: label.to_string(),
                            object: Some((tag.id.clone(), ObjectKind::Tag, tag.subject.clone())),
                            reason,
                        });
                    }
                }
            }
            if peeled.kind == "commit" {
                walks.entry(*r).or_default().push((peeled.id.clone(), i));
            }
        }
    }
    drop(cat);
    if walks.is_empty() {
        return Ok(report);
    }
    // Exclusions, once per push: the refs each rule already governs
    // (symbolic refs are covered by their targets).
    let mut exclude: HashMap<usize, Vec<&str>> = walks.keys().map(|r| (*r, Vec::new())).collect();
    for r in server.iter().filter(|r| r.symref.is_none()) {
        for idx in policy.rules_for(r.name).indices() {
            if let Some(v) = exclude.get_mut(&idx) {
                v.push(r.id);
            }
        }
    }
    for (rule_idx, tips) in &walks {
        let rule = &policy.rules[*rule_idx];
        let mut excluded = exclude.remove(rule_idx).unwrap_or_default();
        excluded.sort_unstable();
        excluded.dedup();
        // Only history already accepted under this same rule is skipped:
        // commits reachable from refs with laxer rules (allow_unsigned
        // scratch branches, other signers) are checked again, or pushing
        // them first to a lax ref would smuggle them past this one.
        let mut tip_of: HashMap<String, usize> = HashMap::new();
        for (id, u) in tips {
            tip_of.entry(id.clone()).or_insert(*u);
        }
        let mut revs: Vec<String> = tip_of.keys().cloned().collect();
        revs.extend(excluded.iter().map(|id| format!("^{id}")));
        drop(excluded);
        let ids = walk::Attributed::new(git.rev_list_with_parents(&revs)?, tip_of);
        drop(revs);
        let no_decision = |_: &crate::verify::Verified| Decision::Trusted;
        let mut found = Report::default();
        report.checked += range::verify_stream_tagged(
            ids,
            git.cat_file()?,
            algo,
            ctx,
            &no_decision,
            threads,
            |o, source| {
                if let Some(reason) = judge(policy, rule, &o, &mut found) {
                    found.reject(Rejection {
                        ref_name: source
                            .map(|u| labels[u].clone())
                            .unwrap_or_else(|| "(a pushed ref)".into()),
                        object: Some((o.id.clone(), o.kind, o.subject.clone())),
                        reason,
                    });
                }
            },
        )?;
        merge(&mut report, found);
    }
    Ok(report)
}

/// Adds one walk's findings to the report (keeping its bounds).
fn merge(report: &mut Report, found: Report) {
    let unlisted = found.problems - found.rejections.len();
    for r in found.rejections {
        report.reject(r);
    }
    report.problems += unlisted;
    let unlisted = found.warning_count - found.warnings.len();
    for w in found.warnings {
        report.warn(w);
    }
    report.warning_count += unlisted;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn updates_are_validated() {
        let z = "0".repeat(40);
        let a = "a".repeat(40);
        assert!(RefUpdate::new(&z, &a, "refs/heads/main").is_ok());
        assert!(RefUpdate::new(&z, &a, "refs/heads/../../x").is_err());
        assert!(RefUpdate::new(&z, &a, "HEAD").is_err());
        assert!(RefUpdate::new(&z, "abc", "refs/heads/main").is_err());
        assert!(parse_updates(&format!("{z} {a} refs/heads/a b\n")).is_err());
        assert_eq!(
            parse_updates(&format!("\n{z} {a} refs/heads/a\n"))
                .unwrap()
                .len(),
            1
        );
    }

    #[test]
    fn tag_targets() {
        let a = "a".repeat(40);
        assert_eq!(
            tag_target(format!("object {a}\ntype commit\ntag v1\n").as_bytes()),
            Some((a.clone(), "commit".into()))
        );
        assert_eq!(tag_target(b"type commit\nobject x\n"), None);
        assert_eq!(tag_target(b"object abc\ntype commit\n"), None);
    }
}
