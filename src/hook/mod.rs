//! Server-side enforcement: the pre-receive and update hooks. A protected
//! ref moves only to objects its policy rule allows. What a pusher could
//! use to steer the check, and what stops it:
//!
//! - the ref actually written: each pushed name, deletions included, is
//!   followed through symbolic refs to the ref git updates
//!   ([`refs::ServerRefs::resolve`]), in the push's `GIT_NAMESPACE`
//!   ([`names::Namespace`]), and the rules of every name on the way apply
//!   (`symbolic_refs = "reject"` refuses such updates), as do those of
//!   every symbolic ref that leads to the ref written
//!   ([`refs::ServerRefs::reaching`]: they show what it holds); names that
//!   differ only in case are also held to the rule their case-folded form
//!   matches (on a case-insensitive filesystem they are one file), and
//!   names not in Unicode NFC are refused ([`names::nfc_problem`]);
//! - the ref's history: under a rule that requires signatures
//!   ([`Rule::protected`]) a push may not delete the ref unless the rule
//!   says `allow_deletion`, nor rewrite it (a non-fast-forward, or any
//!   move of a tag) unless it says `allow_force_push`; the ref
//!   `gitsign.policyRef` reads is never deleted or rewound
//!   ([`PushEnv::policy_ref`]);
//! - the objects: read by id with replace refs off and each checked
//!   against its id ([`crate::git`]); refs under `refs/replace/` and refs
//!   to blobs or trees carry no signature: refused under a rule that
//!   requires signatures, and elsewhere unless the rule allows them;
//! - tags: peeled to the final object, every tag on the way checked under
//!   `signed_tags`; under a rule that requires signatures, the outermost
//!   tag must name itself as the ref under `refs/tags/` it is pushed to;
//! - the walk's boundary: the hook's git ignores shallow files
//!   ([`Git::ignoring_shallow`]), so a pusher's shallow list cannot hide
//!   parents;
//! - resource use: the refs already accepted under a rule are excluded
//!   once per rule, not once per pushed ref, so one walk per rule covers
//!   all the refs of a push ([`walk`]); objects are streamed with bounded
//!   memory and the report keeps 50 problems and a count ([`report`]).
//!
//! Only the objects a push introduces are checked: history already
//! reachable from refs governed by the same rule was accepted under it.

pub mod names;
pub mod refs;
pub mod report;
pub mod walk;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::git::gitobj::{HashAlgo, ObjectKind};
use crate::git::range::{self, Outcome, Verdict};
use crate::git::{is_object_id, is_ref_name, CatFile, Git, GitError};
use crate::policy::file::{fold_case, glob, PolicyFile, Rule, SymbolicRefs, Unreachable};
use crate::policy::Decision;
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
                    if own_clock && why.contains(crate::sigstore::rekor::BUDGET_SPENT) {
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
                let time = crate::encoding::time::format_time(verified.time);
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

/// The name a tag object gives itself: its `tag` header (read among the
/// headers only, up to the blank line; linear in the object).
fn tag_name(data: &[u8]) -> Option<&[u8]> {
    data.split(|b| *b == b'\n')
        .take_while(|l| !l.is_empty())
        .find_map(|l| l.strip_prefix(b"tag "))
}

/// What a pushed ref's new value turned out to be.
struct Peeled {
    /// The tags on the way, outermost first, each verified (when asked).
    tags: Vec<Outcome>,
    /// How many tags there were.
    depth: usize,
    /// The outermost tag's own name (its `tag` header), when there is a
    /// tag.
    name: Option<Vec<u8>>,
    /// The final object's id and type.
    id: String,
    kind: String,
}

/// Longest tag name kept from a tag object (a ref name is at most
/// [`crate::git::MAX_REF_NAME`] bytes; a longer one matches no ref).
const MAX_TAG_NAME: usize = crate::git::MAX_REF_NAME;

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
    let mut name = None;
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
                name,
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
        if depth == 0 {
            name = Some(
                tag_name(&obj.data)
                    .map(|n| n[..n.len().min(MAX_TAG_NAME + 1)].to_vec())
                    .unwrap_or_default(),
            );
        }
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

/// Where the hook runs: what the environment says about the push.
#[derive(Debug, Clone, Default)]
pub struct PushEnv {
    /// The full ref name `gitsign.policyRef` reads the policy from, when
    /// the policy comes from the repository: a push may never delete it
    /// or move it to a commit that does not descend from its current one.
    pub policy_ref: Option<String>,
    /// The ref namespace receive-pack writes in (`GIT_NAMESPACE`).
    pub namespace: names::Namespace,
    /// The push carries a shallow clone's boundary (receive-pack set
    /// `GIT_SHALLOW_FILE`); the hook's walks ignore it (see
    /// [`Git::ignoring_shallow`]), and say so when history is missing.
    pub shallow_push: bool,
}

/// A pushed ref, resolved and labelled.
struct Target {
    /// How refusals name it: the pushed name, the ref it updates, and
    /// the case-folded rule that also holds it.
    label: String,
    /// Indices of the rules that apply (each once).
    rules: BTreeSet<usize>,
    /// The full names of every ref that changes with it: the chain to the
    /// ref written, and the symbolic refs that lead there.
    names: Vec<String>,
    /// The ref written, as rules see it.
    written: String,
}

/// The symbolic refs leading to one written ref, and their rules.
struct Aliases {
    names: Vec<String>,
    rules: BTreeSet<usize>,
}

/// Resolves an update's ref and collects its rules; `Err` is a refusal.
fn target(
    u: &RefUpdate,
    resolved: &Resolved,
    policy: &PolicyFile,
    env: &PushEnv,
    aliases: &Aliases,
) -> Result<Target, String> {
    let ns = &env.namespace;
    let chain: Vec<&str> = resolved.chain.iter().map(|n| ns.view(n)).collect();
    let target = chain.last().copied().unwrap_or_default();
    let mut label = u.name.clone();
    if resolved.is_symbolic() {
        label.push_str(&format!(" (updates {target})"));
    }
    if resolved.too_deep {
        return Err(format!(
            "a chain of symbolic refs longer than {} (or a loop): {}",
            refs::MAX_SYMREF_DEPTH,
            chain.join(" -> ")
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
    for name in &chain {
        let m = policy.rules_for(name);
        if m.exact.is_none() && policy.reject_unmatched {
            return Err(if *name == u.name {
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
    // A symbolic ref that leads here shows whatever this update writes:
    // its rules apply too (a protected name left as an alias of another).
    // Said in the refusal when one of them protects more than the
    // chain's own rules do.
    if aliases
        .rules
        .iter()
        .any(|r| !rules.contains(r) && policy.rules[*r].protected())
    {
        let shown: Vec<&str> = aliases.names.iter().take(3).map(|n| ns.view(n)).collect();
        let more = aliases.names.len().saturating_sub(shown.len());
        notes.push(format!(
            "held to the rules of {}{}, a symbolic ref to it, too",
            shown.join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        ));
    }
    rules.extend(aliases.rules.iter().copied());
    for n in notes {
        label.push_str(&format!(" ({n})"));
    }
    let mut names = resolved.chain.clone();
    names.extend(aliases.names.iter().cloned());
    Ok(Target {
        label,
        rules,
        names,
        written: target.to_string(),
    })
}

/// Does `new` descend from `old` (a fast-forward)? A tag never moves
/// forward: any change of an existing tag is a rewrite. Anything git
/// cannot answer (an object that is no commit) counts as a rewrite.
fn fast_forward(git: &Git, old: &str, new: &str, tag: bool) -> Result<bool, GitError> {
    if old.eq_ignore_ascii_case(new) {
        return Ok(true);
    }
    if tag {
        return Ok(false);
    }
    // A plain walk of new's history, stopped where old appears. Not
    // `rev-list old ^new`: a walk with exclusions stops early on commit
    // dates, which the pusher chooses, and answers wrongly under skew. Not
    // `merge-base --is-ancestor`: it keeps every commit it parses in
    // memory (816 MiB for 40 pushed commits of 20 MiB). rev-list without
    // exclusions keeps no commit text and lists every ancestor; a rewrite
    // costs a walk of the whole history, as a clone would.
    let mut walk = git.rev_list(&[new.to_string(), "--".to_string()])?;
    while let Some(id) = walk.next_id()? {
        if id.eq_ignore_ascii_case(old) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// How far a push's check has come, for a progress line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PushProgress {
    /// Objects (commits and tags) verified so far.
    pub checked: usize,
    /// Problems found so far (each refuses the push).
    pub problems: usize,
}

/// Checks a push in its environment (policy ref, namespace, shallow
/// push), calling `progress` after each object it verifies.
#[allow(clippy::too_many_arguments)]
pub fn check_push_in(
    updates: &[RefUpdate],
    git: &Git,
    policy: &PolicyFile,
    ctx: &Context<'_>,
    algo: HashAlgo,
    threads: usize,
    env: &PushEnv,
    progress: &mut dyn FnMut(PushProgress),
) -> Result<Report, GitError> {
    let mut report = Report::default();
    let ns = &env.namespace;
    // The repository's refs before this push (the quarantine keeps them).
    let mut server = ServerRefs::load(git)?;
    // A ref this push creates may be the missing target of a symbolic
    // ref, which then shows it: find those too.
    if updates.iter().any(|u| is_zero(&u.old) && !u.is_delete()) {
        server.load_dangling()?;
    }
    let mut cat = git.cat_file()?;
    // Per rule: the commits to walk, and which update brought each tip.
    let mut walks: BTreeMap<usize, Vec<(String, usize)>> = BTreeMap::new();
    let mut labels: Vec<String> = Vec::with_capacity(updates.len());
    // Per written ref: the symbolic refs that lead to it, and their rules.
    let mut alias_cache: HashMap<String, Aliases> = HashMap::new();
    for (i, u) in updates.iter().enumerate() {
        labels.push(u.name.clone());
        if let Some(nfc) = names::nfc_problem(&u.name) {
            report.reject_ref(
                &labels[i],
                format!(
                    "the ref name ({}) is not in Unicode normalization form C (NFC); where the \
                     filesystem ignores normalization it is the same ref as {nfc} ({}), which the \
                     policy may protect, so gitsign refuses such names: use {nfc}",
                    names::escaped(&u.name),
                    names::escaped(&nfc)
                ),
            );
            continue;
        }
        let resolved = server.resolve(git, &ns.full(&u.name))?;
        let written = resolved.target().to_string();
        let aliases = alias_cache.entry(written.clone()).or_insert_with(|| {
            let names = server.reaching(&written);
            let rules = names
                .iter()
                .flat_map(|n| policy.rules_for(ns.view(n)).indices())
                .collect();
            Aliases { names, rules }
        });
        let t = match target(u, &resolved, policy, env, aliases) {
            Ok(t) => t,
            Err(why) => {
                report.reject_ref(&labels[i], why);
                continue;
            }
        };
        labels[i] = t.label;
        let rules: Vec<&Rule> = t.rules.iter().map(|r| &policy.rules[*r]).collect();
        let label = labels[i].as_str();
        let holds_policy = env
            .policy_ref
            .as_ref()
            .is_some_and(|p| t.names.iter().any(|n| n == p));
        let protected = rules.iter().any(|r| r.protected());
        if u.is_delete() {
            if holds_policy {
                report.reject_ref(
                    label,
                    "this ref holds the signing policy (gitsign.policyRef); deleting it would leave \
                     no policy and refuse every push, so no push may delete it: an administrator \
                     can point gitsign.policyRef elsewhere first"
                        .into(),
                );
            } else if protected && !rules.iter().all(|r| r.allow_deletion || !r.protected()) {
                report.reject_ref(
                    label,
                    "deleting a ref whose rule requires signatures; refused unless that rule says \
                     allow_deletion = true (ask an administrator to delete it, or to allow it)"
                        .into(),
                );
            }
            // Deletions move no ref to new objects: nothing more to check.
            continue;
        }
        let tag = t.written.starts_with("refs/tags/");
        let rewrite_checked =
            holds_policy || rules.iter().any(|r| r.protected() && !r.allow_force_push);
        if rewrite_checked && !is_zero(&u.old) && !fast_forward(git, &u.old, &u.new, tag)? {
            let what = if tag {
                "moves an existing tag"
            } else {
                "is not a fast-forward (the new commit does not descend from the ref's current one)"
            };
            report.reject_ref(
                label,
                if holds_policy {
                    format!(
                        "this update {what}; this ref holds the signing policy (gitsign.policyRef), \
                         which only ever moves forward, or an older, laxer policy could come back: \
                         build on its current commit and push again"
                    )
                } else {
                    format!(
                        "this update {what}; its rule requires signatures and refuses rewrites unless \
                         it says allow_force_push = true: {}",
                        if tag {
                            "push the release under a new tag name"
                        } else {
                            "fetch, merge or rebase onto the current ref, and push again"
                        }
                    )
                },
            );
            continue;
        }
        // Which rule allows it must be said explicitly: no rule, none.
        let all = |f: fn(&Rule) -> bool| !rules.is_empty() && rules.iter().all(|r| f(r));
        if resolved
            .chain
            .iter()
            .any(|n| ns.view(n).starts_with("refs/replace/"))
        {
            let reason = if protected {
                Some(
                    "a replace ref (git would show another object in place of the one its name gives, \
                     wherever replace refs are followed); which object stands in for which is signed \
                     by no one, so a rule that requires signatures refuses it: allow_replace_refs = true \
                     counts only under a rule with allow_unsigned = true",
                )
            } else if !all(|r| r.allow_replace_refs) {
                Some(
                    "a replace ref (git would show another object in place of the one its name gives, \
                     wherever replace refs are followed); refused unless its rule says allow_replace_refs = true",
                )
            } else {
                None
            };
            if let Some(reason) = reason {
                report.reject_ref(label, reason.into());
                continue;
            }
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
        progress(PushProgress {
            checked: report.checked,
            problems: report.problems,
        });
        if let (true, true, Some(own)) = (protected, tag, &peeled.name) {
            let want = &t.written["refs/tags/".len()..];
            if own.as_slice() != want.as_bytes() {
                let own = crate::encoding::text::excerpt_bytes(own, 200);
                report.reject_ref(
                    label,
                    format!(
                        "the tag object {} names itself \"{own}\", not \"{want}\"; a signed tag counts \
                         only under its own name (or a signed release could be replayed as another): \
                         push it as refs/tags/{own}, or sign a tag named {want} (git tag -s {want})",
                        &u.new[..12.min(u.new.len())]
                    ),
                );
                continue;
            }
        }
        match peeled.kind.as_str() {
            "commit" => {}
            kind @ ("tree" | "blob") => {
                let through = if peeled.depth == 0 {
                    String::new()
                } else {
                    format!(" (through tag {})", &u.new[..12.min(u.new.len())])
                };
                if protected {
                    report.reject_ref(
                        label,
                        format!(
                            "the ref points at a {kind}{through}, which carries no signature, and its rule \
                             requires signatures: refused (allow_blobs_and_trees = true counts only under \
                             a rule with allow_unsigned = true)"
                        ),
                    );
                    continue;
                }
                if !all(|r| r.allow_blobs_and_trees) {
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
        let mut lightweight = peeled.depth == 0
            && resolved
                .chain
                .iter()
                .any(|n| ns.view(n).starts_with("refs/tags/"));
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
        for idx in policy.rules_for(ns.view(r.name)).indices() {
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
        let no_decision = |_: &crate::verify::Verified| Decision::Trusted;
        let mut found = Report::default();
        let shallow = |e: GitError| {
            if env.shallow_push {
                let first = e.0.lines().next().unwrap_or_default();
                GitError(format!(
                    "this push comes from a shallow clone, and history below its shallow boundary \
                     is not on the server; gitsign checks every new commit and does not stop where \
                     the pusher's clone does: push from a full clone (git fetch --unshallow) \
                     (git said: {first})"
                ))
            } else {
                e
            }
        };
        let ids = walk::Attributed::new(git.rev_list_with_parents(&revs).map_err(shallow)?, tip_of);
        drop(revs);
        let (checked_before, problems_before) = (report.checked, report.problems);
        let mut walked = 0;
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
                walked += 1;
                progress(PushProgress {
                    checked: checked_before + walked,
                    problems: problems_before + found.problems,
                });
            },
        )
        .map_err(shallow)?;
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

    /// A push of exactly the most ref updates, each line up to the longest,
    /// is read; one more update, or one byte more on a line, is refused.
    #[test]
    fn update_bounds_are_inclusive() {
        let (z, a) = ("0".repeat(40), "a".repeat(40));
        let line = |name: &str| format!("{z} {a} {name}\n");
        let long = format!("refs/heads/{}", "x".repeat(MAX_LINE - 82 - 11));
        assert_eq!(line(&long).len() - 1, MAX_LINE);
        assert_eq!(parse_updates(&line(&long)).unwrap()[0].name, long);
        let e = parse_updates(&line(&format!("{long}x"))).unwrap_err();
        assert!(e.contains("too long"), "{e}");
        let many: String = (0..MAX_UPDATES)
            .map(|i| line(&format!("refs/heads/b{i}")))
            .collect();
        assert_eq!(parse_updates(&many).unwrap().len(), MAX_UPDATES);
        let e = parse_updates(&format!("{many}{}", line("refs/heads/one-more"))).unwrap_err();
        assert!(e.contains("more than"), "{e}");
    }

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
        let tag = format!("object {a}\ntype commit\ntag v1\ntagger T <t@x> 1 +0000\n\ntag v2\n");
        assert_eq!(tag_name(tag.as_bytes()), Some(&b"v1"[..]));
        // Only headers count: a "tag" line in the message is not the name.
        let tag = format!("object {a}\ntype commit\n\ntag v2\n");
        assert_eq!(tag_name(tag.as_bytes()), None);
    }

    /// A walk's findings join the report with every problem and warning
    /// counted, the listed ones kept to the bound.
    #[test]
    fn merged_findings_keep_their_full_counts() {
        let rejection = |i: usize| Rejection {
            ref_name: "refs/heads/main".into(),
            object: Some((format!("{i:040}"), ObjectKind::Commit, "s".into())),
            reason: "not signed".into(),
        };
        let mut report = Report::default();
        let mut found = Report::default();
        for i in 0..10 {
            report.reject(rejection(i));
            report.warn(format!("before {i}"));
        }
        for i in 0..70 {
            found.reject(rejection(100 + i));
            found.warn(format!("found {i}"));
        }
        assert_eq!(found.rejections.len(), MAX_LISTED);
        merge(&mut report, found);
        assert_eq!(report.problems, 80);
        assert_eq!(report.warning_count, 80);
        assert_eq!(report.rejections.len(), MAX_LISTED);
        assert_eq!(report.warnings.len(), MAX_LISTED);
        assert!(rejection_text(&report)
            .iter()
            .any(|l| l.contains("... and 30 more")));
        assert!(warning_text(&report)
            .iter()
            .any(|l| l.contains("... and 30 more warnings")));
    }
}
