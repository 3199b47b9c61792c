//! The repository policy file (TOML, versioned): who may sign which refs,
//! whether tags must be signed, whether a transparency-log entry is
//! required, validity windows per signer, and how hooks treat an
//! unreachable Rekor. Errors name the line and column.
//!
//! ```toml
//! version = 1
//! unmatched_refs = "reject"        # or "allow"
//!
//! [signers.alice]
//! identity = "alice@example.com"   # or identity_regexp
//! issuer = "https://accounts.google.com"   # or issuer_regexp
//! valid_until = 2027-01-01T00:00:00Z
//!
//! [[rules]]
//! refs = ["refs/heads/main", "refs/tags/*"]
//! signers = ["alice"]              # "*" = any valid Sigstore signer
//! require_tlog = true              # default
//! signed_tags = true               # tag objects pushed here must be signed
//! allow_deletion = false           # refs here may be deleted by a push
//! allow_force_push = false         # refs here may move to a non-descendant
//!
//! [[rules]]
//! refs = ["refs/replace/*"]
//! allow_unsigned = true            # replace refs and blob/tree refs are
//! allow_replace_refs = true        # only ever allowed under a rule that
//! allow_blobs_and_trees = true     # requires no signature
//! ```
//!
//! A rule that requires signatures (no `allow_unsigned`) protects its
//! refs: a push may not delete them (unless `allow_deletion = true`), move
//! them to a commit that does not descend from the current one, or move a
//! tag at all (unless `allow_force_push = true`), and may never point them
//! at a blob or a tree or create a replace ref under them: no signature
//! says which object a replace ref stands in for, or which blob a ref
//! should hold, so `allow_replace_refs` and `allow_blobs_and_trees` count
//! only under a rule with `allow_unsigned = true` (any pusher may then
//! choose them; restrict who may push there with the server's own access
//! control).
//!
//! Top level, `symbolic_refs = "follow"` (default: an update through a
//! symbolic ref must satisfy the rules of every name on the way to the ref
//! git writes) or `"reject"` (such updates are refused).

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::config::PolicyConfig;
use crate::encoding::time::{format_time, parse_rfc3339};
use crate::pki::claims::Claims;
use crate::policy::{Decision, Policy};
use crate::verify::{TlogStatus, Verified};

/// Largest policy file accepted.
pub const MAX_POLICY: usize = 1024 * 1024;

/// A policy file error with its position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError {
    /// Where the file came from.
    pub source: String,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// 1-based column, when known.
    pub column: Option<usize>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.column) {
            (Some(l), Some(c)) => write!(f, "{}:{l}:{c}: {}", self.source, self.message),
            (Some(l), None) => write!(f, "{}:{l}: {}", self.source, self.message),
            _ => write!(f, "{}: {}", self.source, self.message),
        }
    }
}

impl std::error::Error for PolicyError {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    version: Spanned<i64>,
    #[serde(default)]
    unmatched_refs: Option<Spanned<String>>,
    #[serde(default)]
    symbolic_refs: Option<Spanned<String>>,
    #[serde(default)]
    signers: BTreeMap<String, Spanned<RawSigner>>,
    #[serde(default)]
    rules: Vec<Spanned<RawRule>>,
    #[serde(default)]
    rekor: Option<RawRekor>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSigner {
    identity: Option<String>,
    identity_regexp: Option<Spanned<String>>,
    issuer: Option<String>,
    issuer_regexp: Option<Spanned<String>>,
    valid_from: Option<Spanned<toml::Value>>,
    valid_until: Option<Spanned<toml::Value>>,
    github_workflow_trigger: Option<String>,
    github_workflow_sha: Option<String>,
    github_workflow_name: Option<String>,
    github_workflow_repository: Option<String>,
    github_workflow_ref: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    refs: Spanned<Vec<String>>,
    #[serde(default)]
    signers: Vec<Spanned<String>>,
    #[serde(default)]
    allow_unsigned: bool,
    #[serde(default)]
    signed_tags: bool,
    #[serde(default = "yes")]
    require_tlog: bool,
    #[serde(default)]
    allow_replace_refs: bool,
    #[serde(default)]
    allow_blobs_and_trees: bool,
    #[serde(default)]
    allow_deletion: bool,
    #[serde(default)]
    allow_force_push: bool,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRekor {
    unreachable: Option<Spanned<String>>,
    budget_seconds: Option<Spanned<i64>>,
}

/// One allowed signer.
#[derive(Debug, Clone)]
pub struct Signer {
    /// Its name in the file.
    pub name: String,
    policy: Policy,
    valid_from: Option<i64>,
    valid_until: Option<i64>,
}

/// Which signers a rule accepts.
#[derive(Debug, Clone)]
pub enum SignerSet {
    /// Any valid Sigstore signature.
    Any,
    /// These signers (indices into the file's signers).
    Named(Vec<usize>),
}

/// One rule: refs it covers and what they require.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Ref patterns (`*` matches any run of characters, `/` included).
    pub refs: Vec<String>,
    /// Who may sign.
    pub signers: SignerSet,
    /// Unsigned commits are accepted.
    pub allow_unsigned: bool,
    /// Tag objects pushed to these refs must be signed.
    pub signed_tags: bool,
    /// A verified transparency-log entry is required.
    pub require_tlog: bool,
    /// Refs under `refs/replace/` may be pushed here (they make git show
    /// another object in place of the one an id names).
    pub allow_replace_refs: bool,
    /// Refs here may point at blobs and trees (which carry no signature).
    /// Only under a rule that requires no signature ([`Rule::protected`]
    /// false): nothing signed says which blob or tree a ref should hold.
    pub allow_blobs_and_trees: bool,
    /// Refs here may be deleted by a push. Only consulted for a rule that
    /// requires signatures ([`Rule::protected`]); refs under other rules
    /// may always be deleted.
    pub allow_deletion: bool,
    /// Refs here may be moved to a commit that does not descend from
    /// their current one (a force push; for tags, any move). Only
    /// consulted for a rule that requires signatures.
    pub allow_force_push: bool,
    /// `refs` with case folded (matched against folded names).
    folded_refs: Vec<String>,
}

impl Rule {
    /// A rule that checks no signature at all: unsigned allowed, no signers.
    pub fn requires_nothing(&self) -> bool {
        self.allow_unsigned && matches!(&self.signers, SignerSet::Named(s) if s.is_empty())
    }

    /// Does the rule require signatures (no `allow_unsigned`)? Refs under
    /// such a rule are protected: deleting them, force pushes, replace
    /// refs and refs to blobs or trees are refused (the first two unless
    /// the rule allows them explicitly; the last two always, since no
    /// signature covers them).
    pub fn protected(&self) -> bool {
        !self.allow_unsigned
    }
}

/// How the hooks treat a push to a symbolic ref (git updates the ref it
/// points to).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SymbolicRefs {
    /// Follow it: the rules of the pushed name and of every ref on the way
    /// to the one updated all apply (default).
    Follow,
    /// Refuse the update; push to the target instead.
    Reject,
}

/// The rules that govern one ref name: the first rule matching it exactly,
/// and the first matching it with case ignored (on a case-insensitive
/// filesystem `refs/heads/MAIN` is `refs/heads/main`'s file).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RuleMatch {
    /// Index of the first rule matching the name as written.
    pub exact: Option<usize>,
    /// Index of the first rule matching the name with case folded, when
    /// it is another rule.
    pub folded: Option<usize>,
}

impl RuleMatch {
    /// The rule indices, each once.
    pub fn indices(&self) -> impl Iterator<Item = usize> {
        self.exact.into_iter().chain(self.folded)
    }
}

/// What a hook does when Rekor cannot be reached for online-mode signatures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unreachable {
    /// Reject the push (default: fail closed).
    Reject,
    /// Accept, with a warning that the log was not checked.
    Warn,
}

/// A parsed, validated policy.
#[derive(Debug, Clone)]
pub struct PolicyFile {
    /// Schema version (1).
    pub version: i64,
    /// Refs no rule matches are rejected (true) or allowed.
    pub reject_unmatched: bool,
    /// Pushes through symbolic refs.
    pub symbolic_refs: SymbolicRefs,
    /// Allowed signers.
    pub signers: Vec<Signer>,
    /// Rules, first match wins.
    pub rules: Vec<Rule>,
    /// Online lookups when Rekor is unreachable.
    pub rekor_unreachable: Unreachable,
    /// Time budget for online lookups per push.
    pub rekor_budget: Duration,
}

/// 1-based line and column of a byte offset.
fn position(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before
        .rsplit('\n')
        .next()
        .map(|l| l.chars().count())
        .unwrap_or(0)
        + 1;
    (line, col)
}

struct Ctx<'a> {
    text: &'a str,
    source: &'a str,
}

impl Ctx<'_> {
    fn err(&self, span: Option<Range<usize>>, message: impl Into<String>) -> PolicyError {
        let (line, column) = match span {
            Some(s) => {
                let (l, c) = position(self.text, s.start);
                (Some(l), Some(c))
            }
            None => (None, None),
        };
        PolicyError {
            source: self.source.to_string(),
            line,
            column,
            message: message.into(),
        }
    }
}

fn time_value(v: &Spanned<toml::Value>, what: &str, cx: &Ctx<'_>) -> Result<i64, PolicyError> {
    let s = match v.get_ref() {
        toml::Value::Datetime(d) => d.to_string(),
        toml::Value::String(s) => s.clone(),
        _ => {
            return Err(cx.err(
                Some(v.span()),
                format!("{what} must be a date-time like 2027-01-01T00:00:00Z"),
            ))
        }
    };
    // A bare date means its first second (UTC).
    let s = if s.len() == 10 {
        format!("{s}T00:00:00Z")
    } else {
        s
    };
    parse_rfc3339(&s).ok_or_else(|| {
        cx.err(Some(v.span()), format!("{what} \"{s}\" is not an RFC 3339 date-time with a time zone (e.g. 2027-01-01T00:00:00Z)"))
    })
}

impl PolicyFile {
    /// Parses and validates `text`; `source` names it in errors.
    pub fn parse(text: &str, source: &str) -> Result<PolicyFile, PolicyError> {
        let cx = Ctx { text, source };
        if text.len() > MAX_POLICY {
            return Err(cx.err(
                None,
                format!("the policy file is larger than {MAX_POLICY} bytes"),
            ));
        }
        let raw: RawPolicy = toml::from_str(text)
            .map_err(|e| cx.err(e.span(), e.message().trim_end().replace('\n', " ")))?;
        if *raw.version.get_ref() != 1 {
            return Err(cx.err(
                Some(raw.version.span()),
                format!(
                    "unsupported policy version {}; this gitsign reads version 1",
                    raw.version.get_ref()
                ),
            ));
        }
        let reject_unmatched = match &raw.unmatched_refs {
            None => true,
            Some(s) => match s.get_ref().as_str() {
                "reject" => true,
                "allow" => false,
                other => {
                    return Err(cx.err(
                        Some(s.span()),
                        format!("unmatched_refs must be \"reject\" or \"allow\", not \"{other}\""),
                    ))
                }
            },
        };
        let symbolic_refs = match &raw.symbolic_refs {
            None => SymbolicRefs::Follow,
            Some(s) => match s.get_ref().as_str() {
                "follow" => SymbolicRefs::Follow,
                "reject" => SymbolicRefs::Reject,
                other => {
                    return Err(cx.err(
                        Some(s.span()),
                        format!("symbolic_refs must be \"follow\" or \"reject\", not \"{other}\""),
                    ))
                }
            },
        };
        let mut signers = Vec::new();
        for (name, s) in &raw.signers {
            let span = s.span();
            let s = s.get_ref();
            let regex = |r: &Option<Spanned<String>>| r.as_ref().map(|x| x.get_ref().clone());
            let conf = PolicyConfig {
                identities: s.identity.iter().cloned().collect(),
                identity_regexps: regex(&s.identity_regexp).into_iter().collect(),
                issuers: s.issuer.iter().cloned().collect(),
                issuer_regexps: regex(&s.issuer_regexp).into_iter().collect(),
                github_workflow_trigger: s.github_workflow_trigger.clone(),
                github_workflow_sha: s.github_workflow_sha.clone(),
                github_workflow_name: s.github_workflow_name.clone(),
                github_workflow_repository: s.github_workflow_repository.clone(),
                github_workflow_ref: s.github_workflow_ref.clone(),
            };
            if s.identity.is_some() && s.identity_regexp.is_some()
                || s.issuer.is_some() && s.issuer_regexp.is_some()
            {
                return Err(cx.err(Some(span), format!("signer \"{name}\": give identity or identity_regexp (and issuer or issuer_regexp), not both")));
            }
            let policy = Policy::from_config(&conf).map_err(|e| {
                let at = s
                    .identity_regexp
                    .as_ref()
                    .filter(|_| e.contains("identity regular"))
                    .or(s
                        .issuer_regexp
                        .as_ref()
                        .filter(|_| e.contains("issuer regular")))
                    .map(|x| x.span())
                    .unwrap_or(span.clone());
                cx.err(Some(at), format!("signer \"{name}\": {e}"))
            })?;
            if policy.is_empty() {
                return Err(cx.err(
                    Some(span),
                    format!("signer \"{name}\" needs an identity and an issuer"),
                ));
            }
            let valid_from = s
                .valid_from
                .as_ref()
                .map(|v| time_value(v, "valid_from", &cx))
                .transpose()?;
            let valid_until = s
                .valid_until
                .as_ref()
                .map(|v| time_value(v, "valid_until", &cx))
                .transpose()?;
            if let (Some(f), Some(u)) = (valid_from, valid_until) {
                if f > u {
                    return Err(cx.err(
                        Some(span),
                        format!("signer \"{name}\": valid_from is after valid_until"),
                    ));
                }
            }
            signers.push(Signer {
                name: name.clone(),
                policy,
                valid_from,
                valid_until,
            });
        }
        let mut rules = Vec::new();
        for r in &raw.rules {
            let rr = r.get_ref();
            if rr.refs.get_ref().is_empty() {
                return Err(cx.err(
                    Some(rr.refs.span()),
                    "a rule needs at least one ref pattern in refs",
                ));
            }
            for p in rr.refs.get_ref() {
                if !p.starts_with("refs/") {
                    return Err(cx.err(
                        Some(rr.refs.span()),
                        format!("ref pattern \"{p}\" must start with refs/ (e.g. refs/heads/main)"),
                    ));
                }
            }
            let set = if rr.signers.iter().any(|s| s.get_ref() == "*") {
                SignerSet::Any
            } else {
                let mut idx = Vec::new();
                for s in &rr.signers {
                    let i = signers
                        .iter()
                        .position(|x| &x.name == s.get_ref())
                        .ok_or_else(|| {
                            cx.err(
                                Some(s.span()),
                                format!(
                                    "unknown signer \"{}\" (define it under [signers.{}])",
                                    s.get_ref(),
                                    s.get_ref()
                                ),
                            )
                        })?;
                    idx.push(i);
                }
                if idx.is_empty() && !rr.allow_unsigned {
                    return Err(cx.err(
                        Some(r.span()),
                        "a rule needs signers (names, or \"*\") unless allow_unsigned = true",
                    ));
                }
                SignerSet::Named(idx)
            };
            rules.push(Rule {
                refs: rr.refs.get_ref().clone(),
                signers: set,
                allow_unsigned: rr.allow_unsigned,
                signed_tags: rr.signed_tags,
                require_tlog: rr.require_tlog,
                allow_replace_refs: rr.allow_replace_refs,
                allow_blobs_and_trees: rr.allow_blobs_and_trees,
                allow_deletion: rr.allow_deletion,
                allow_force_push: rr.allow_force_push,
                folded_refs: rr.refs.get_ref().iter().map(|p| fold_case(p)).collect(),
            });
        }
        let (rekor_unreachable, rekor_budget) = match &raw.rekor {
            None => (Unreachable::Reject, Duration::from_secs(60)),
            Some(r) => {
                let u = match &r.unreachable {
                    None => Unreachable::Reject,
                    Some(s) => match s.get_ref().as_str() {
                        "reject" => Unreachable::Reject,
                        "warn" => Unreachable::Warn,
                        o => {
                            return Err(cx.err(
                                Some(s.span()),
                                format!(
                                    "rekor.unreachable must be \"reject\" or \"warn\", not \"{o}\""
                                ),
                            ))
                        }
                    },
                };
                let b = match &r.budget_seconds {
                    None => 60,
                    Some(b) if (1..=3600).contains(b.get_ref()) => *b.get_ref() as u64,
                    Some(b) => {
                        return Err(cx.err(
                            Some(b.span()),
                            "rekor.budget_seconds must be from 1 to 3600",
                        ))
                    }
                };
                (u, Duration::from_secs(b))
            }
        };
        Ok(PolicyFile {
            version: 1,
            reject_unmatched,
            symbolic_refs,
            signers,
            rules,
            rekor_unreachable,
            rekor_budget,
        })
    }

    /// Reads and parses a file.
    pub fn load(path: &std::path::Path) -> Result<PolicyFile, PolicyError> {
        let source = path.display().to_string();
        let err = |m: String| PolicyError {
            source: source.clone(),
            line: None,
            column: None,
            message: m,
        };
        let meta = std::fs::metadata(path)
            .map_err(|e| err(format!("cannot read the policy file: {e}")))?;
        if meta.len() > MAX_POLICY as u64 {
            return Err(err(format!(
                "the policy file is larger than {MAX_POLICY} bytes"
            )));
        }
        let text = std::fs::read_to_string(path)
            .map_err(|e| err(format!("cannot read the policy file: {e}")))?;
        PolicyFile::parse(&text, &source)
    }

    /// The first rule covering `refname`.
    pub fn rule_for(&self, refname: &str) -> Option<&Rule> {
        self.rules
            .iter()
            .find(|r| r.refs.iter().any(|p| glob(p, refname)))
    }

    /// The index of the first rule covering `refname`.
    pub fn rule_index(&self, refname: &str) -> Option<usize> {
        self.rules
            .iter()
            .position(|r| r.refs.iter().any(|p| glob(p, refname)))
    }

    /// The rules governing `refname`: as written, and with case ignored
    /// (Unicode lower/upper case mapping; normalization forms are not
    /// folded, so a non-ASCII pattern should be written in the form the
    /// server stores).
    pub fn rules_for(&self, refname: &str) -> RuleMatch {
        let exact = self.rule_index(refname);
        let name = fold_case(refname);
        let folded = self
            .rules
            .iter()
            .position(|r| r.folded_refs.iter().any(|p| glob(p, &name)))
            .filter(|i| Some(*i) != exact);
        RuleMatch { exact, folded }
    }

    /// Is a verified signature acceptable under `rule`?
    pub fn check(&self, rule: &Rule, v: &Verified) -> Decision {
        // Unchecked log entries pass only where the policy says an
        // unreachable Rekor is a warning, not a refusal.
        if rule.require_tlog && self.rekor_unreachable == Unreachable::Reject {
            if let TlogStatus::NotChecked(why) = &v.tlog {
                return Decision::Rejected(format!(
                    "the transparency log entry could not be verified ({why})"
                ));
            }
        }
        match &rule.signers {
            SignerSet::Any => Decision::Trusted,
            // A rule that names no signers and allows unsigned commits requires nothing.
            SignerSet::Named(idx) if idx.is_empty() && rule.allow_unsigned => Decision::Trusted,
            SignerSet::Named(idx) => {
                self.check_signers(idx.iter().map(|i| &self.signers[*i]), &v.claims, v.time)
            }
        }
    }

    /// Does any signer of the file accept this signature (the trust
    /// `git verify-commit` reports when this policy is configured)?
    pub fn check_any(&self, v: &Verified) -> Decision {
        self.check_signers(self.signers.iter(), &v.claims, v.time)
    }

    fn check_signers<'a>(
        &self,
        signers: impl Iterator<Item = &'a Signer>,
        claims: &Claims,
        time: i64,
    ) -> Decision {
        let mut reasons = Vec::new();
        for s in signers {
            match s.policy.evaluate(claims) {
                Decision::Trusted => {
                    if s.valid_from.is_some_and(|f| time < f) {
                        reasons.push(format!(
                            "signer \"{}\" may sign only from {}",
                            s.name,
                            format_time(s.valid_from.unwrap_or(0))
                        ));
                    } else if s.valid_until.is_some_and(|u| time > u) {
                        reasons.push(format!(
                            "signer \"{}\" could sign only until {} (signed {})",
                            s.name,
                            format_time(s.valid_until.unwrap_or(0)),
                            format_time(time)
                        ));
                    } else {
                        return Decision::Trusted;
                    }
                }
                _ => continue,
            }
        }
        if reasons.is_empty() {
            Decision::Rejected(format!(
                "{} ({}) is not an allowed signer",
                claims.identity,
                claims.issuer.as_deref().unwrap_or("no issuer")
            ))
        } else {
            Decision::Rejected(reasons.join("; "))
        }
    }
}

/// `s` with case folded: lower, upper, then lower case again, so that
/// characters like U+017F (long s) and U+212A (Kelvin sign) meet the ASCII
/// letters a case-insensitive filesystem takes them for.
pub fn fold_case(s: &str) -> String {
    s.chars()
        .flat_map(char::to_lowercase)
        .flat_map(char::to_uppercase)
        .flat_map(char::to_lowercase)
        .collect()
}

/// Matches a ref against a pattern where `*` matches any run of characters.
pub fn glob(pattern: &str, s: &str) -> bool {
    let (p, s) = (pattern.as_bytes(), s.as_bytes());
    let (mut pi, mut si, mut star, mut mark) = (0, 0, None, 0);
    while si < s.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some(pi);
            pi += 1;
            mark = si;
        } else if pi < p.len() && p[pi] == s[si] {
            pi += 1;
            si += 1;
        } else if let Some(st) = star {
            pi = st + 1;
            mark += 1;
            si = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == b'*' {
        pi += 1;
    }
    pi == p.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"version = 1

[signers.alice]
identity = "alice@example.com"
issuer = "https://accounts.google.com"
valid_until = 2027-01-01T00:00:00Z

[signers.bots]
identity_regexp = "https://github\\.com/org/.*"
issuer = "https://token.actions.githubusercontent.com"

[[rules]]
refs = ["refs/heads/main", "refs/tags/*"]
signers = ["alice", "bots"]
signed_tags = true

[[rules]]
refs = ["refs/heads/scratch/*"]
allow_unsigned = true
"#;

    #[test]
    fn parses_and_matches() {
        let p = PolicyFile::parse(GOOD, "p.toml").unwrap();
        assert_eq!(p.signers.len(), 2);
        assert!(p.rule_for("refs/tags/v1.0").unwrap().signed_tags);
        assert!(p.rule_for("refs/heads/scratch/x/y").unwrap().allow_unsigned);
        assert!(p.rule_for("refs/heads/other").is_none());
        assert!(p.reject_unmatched);
    }

    fn err(text: &str) -> PolicyError {
        PolicyFile::parse(text, "p.toml").unwrap_err()
    }

    #[test]
    fn errors_name_the_line() {
        let e =
            err("version = 1\n[[rules]]\nrefs = [\"refs/heads/main\"]\nsigners = [\"nobody\"]\n");
        assert_eq!(e.line, Some(4), "{e}");
        assert!(e.message.contains("unknown signer \"nobody\""), "{e}");
        let e = err("version = 1\n\n[signers.a]\nidentity_regexp = \"(\"\nissuer = \"x\"\n");
        assert_eq!(e.line, Some(4), "{e}");
        let e = err("version = 2\n");
        assert_eq!(e.line, Some(1));
        let e = err("version = 1\nbogus = true\n");
        assert_eq!(e.line, Some(2), "{e}");
        let e = err("version = 1\n[signers.a]\nidentity = \"a\"\nissuer = \"b\"\nvalid_until = \"tomorrow\"\n");
        assert_eq!(e.line, Some(5), "{e}");
        let e = err("version = \n");
        assert_eq!(e.line, Some(1), "{e}");
        let e = err("version = 1\n[[rules]]\nrefs = [\"main\"]\nsigners = [\"*\"]\n");
        assert_eq!(e.line, Some(3), "{e}");
        assert!(err("").message.contains("version"));
    }

    #[test]
    fn case_variants_and_new_keys() {
        let text = format!(
            "{}\n[[rules]]\nrefs = [\"refs/*\"]\nallow_unsigned = true\nallow_replace_refs = true\nallow_blobs_and_trees = true\n",
            GOOD.replacen("version = 1\n", "version = 1\nsymbolic_refs = \"reject\"\n", 1)
        );
        let p = PolicyFile::parse(&text, "p.toml").unwrap();
        assert_eq!(p.symbolic_refs, SymbolicRefs::Reject);
        assert_eq!(
            p.rules_for("refs/heads/main"),
            RuleMatch {
                exact: Some(0),
                folded: None
            }
        );
        assert_eq!(
            p.rules_for("refs/heads/MAIN"),
            RuleMatch {
                exact: Some(2),
                folded: Some(0)
            }
        );
        assert_eq!(p.rules_for("refs/heads/\u{17f}cratch/x").folded, Some(1));
        // Dotless i folds to i here though not in Unicode's folding: more
        // folding only ever adds a rule, never removes one.
        assert_eq!(p.rules_for("refs/heads/Ma\u{131}n").folded, Some(0));
        assert!(p.rules[2].allow_replace_refs && p.rules[2].allow_blobs_and_trees);
        assert!(!p.rules[0].allow_replace_refs && !p.rules[0].allow_blobs_and_trees);
        assert!(p.rules[1].requires_nothing() && !p.rules[0].requires_nothing());
        // Protection: deletions and rewrites refused by default.
        assert!(p.rules[0].protected() && !p.rules[1].protected());
        assert!(!p.rules[0].allow_deletion && !p.rules[0].allow_force_push);
        let open = PolicyFile::parse(
            "version = 1\n[[rules]]\nrefs = [\"refs/*\"]\nsigners = [\"*\"]\nallow_deletion = true\nallow_force_push = true\n",
            "p",
        )
        .unwrap();
        assert!(open.rules[0].allow_deletion && open.rules[0].allow_force_push);
        let e = err("version = 1\nsymbolic_refs = \"maybe\"\n");
        assert_eq!(e.line, Some(2), "{e}");
        assert_eq!(
            PolicyFile::parse("version = 1\n", "p")
                .unwrap()
                .symbolic_refs,
            SymbolicRefs::Follow
        );
    }

    #[test]
    fn globs() {
        assert!(glob("refs/heads/*", "refs/heads/a/b"));
        assert!(glob("refs/*/main", "refs/heads/main"));
        assert!(!glob("refs/heads/main", "refs/heads/main2"));
        assert!(glob("*", ""));
        // A star matches the empty run too, wherever it stands, and
        // backtracks past a false start.
        assert!(glob("refs/tags/v*.0", "refs/tags/v.0"));
        assert!(glob("refs/*/main", "refs//main"));
        assert!(glob("refs/heads/*-rc", "refs/heads/a-rc-rc"));
        assert!(glob("refs/**/x", "refs/a/x"));
        assert!(!glob("refs/tags/v*.0", "refs/tags/v1.1"));
        assert!(!glob("refs/heads/*", "refs/tags/x"));
        assert!(!glob("", "x"));
    }

    /// A Go gitsign signature from the corpus, verified with the public-good
    /// root it was made under.
    fn corpus_verified() -> Verified {
        use crate::git::gitobj::{self, HashAlgo, ObjectKind};
        use crate::verify::{Context, MissingTlog, ObjectInfo};
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        let root = crate::sigstore::trust::TrustedRoot::from_file(
            &dir.join("trust/trusted_root.prod.json"),
        )
        .unwrap();
        let data =
            std::fs::read(dir.join("objects/gitsign/gs_commit_offline_latest.commit")).unwrap();
        let s = gitobj::split(&data, ObjectKind::Commit, HashAlgo::Sha1)
            .unwrap()
            .unwrap();
        let ctx = Context {
            root: &root,
            require_sct: true,
            rekor: None,
            missing_tlog: MissingTlog::Search,
            cache: None,
        };
        let object = ObjectInfo {
            kind: ObjectKind::Commit,
            algo: HashAlgo::Sha1,
        };
        crate::verify::verify(&s.payload, &s.signature, object, &ctx).unwrap()
    }

    /// What a rule decides of a signature: the log left unchecked counts
    /// only where the rule requires the log and the policy rejects an
    /// unreachable Rekor; a rule allowing unsigned commits still checks
    /// the signers it names.
    #[test]
    fn rules_decide_on_the_log_and_the_signers() {
        let v = corpus_verified();
        let (who, iss) = (v.claims.identity.clone(), v.claims.issuer.clone().unwrap());
        let policy = |rekor: &str, rule: &str| {
            let text = format!(
                "version = 1\n{rekor}\n[signers.it]\nidentity = \"{who}\"\nissuer = \"{iss}\"\n\
                 [signers.other]\nidentity = \"other@example.com\"\nissuer = \"{iss}\"\n\
                 [[rules]]\nrefs = [\"refs/*\"]\n{rule}\n"
            );
            PolicyFile::parse(&text, "p.toml").unwrap()
        };
        let decide = |p: &PolicyFile, v: &Verified| p.check(&p.rules[0], v);
        let mut unlogged = corpus_verified();
        unlogged.tlog = TlogStatus::NotChecked("Rekor unreachable".into());
        let logged = "signers = [\"it\"]\nrequire_tlog = true";
        let p = policy("", logged);
        assert_eq!(decide(&p, &v), Decision::Trusted);
        assert!(
            matches!(decide(&p, &unlogged), Decision::Rejected(m) if m.contains("could not be verified"))
        );
        let p = policy("[rekor]\nunreachable = \"warn\"", logged);
        assert_eq!(decide(&p, &unlogged), Decision::Trusted);
        let p = policy("", "signers = [\"it\"]\nrequire_tlog = false");
        assert_eq!(decide(&p, &unlogged), Decision::Trusted);
        // Unsigned allowed: the named signers still decide a signed commit.
        let p = policy("", "signers = [\"other\"]\nallow_unsigned = true");
        assert!(!p.rules[0].requires_nothing());
        assert!(matches!(decide(&p, &v), Decision::Rejected(_)));
        let p = policy("", "allow_unsigned = true");
        assert!(p.rules[0].requires_nothing());
        assert_eq!(decide(&p, &v), Decision::Trusted);
    }

    /// A signer's valid_from and valid_until include their bounds: a
    /// signature made at either instant is the signer's, one second
    /// outside is refused, saying which bound.
    #[test]
    fn signer_windows_include_their_bounds() {
        let v = corpus_verified();
        let (who, iss) = (v.claims.identity.clone(), v.claims.issuer.clone().unwrap());
        let decide = |window: String| {
            let p = PolicyFile::parse(
                &format!(
                    "version = 1\n[signers.it]\nidentity = \"{who}\"\nissuer = \"{iss}\"\n{window}\n\
                     [[rules]]\nrefs = [\"refs/*\"]\nsigners = [\"it\"]\n"
                ),
                "p.toml",
            )
            .unwrap();
            p.check(&p.rules[0], &v)
        };
        let at = |t: i64| format_time(t);
        assert_eq!(
            decide(format!("valid_from = {}", at(v.time))),
            Decision::Trusted
        );
        assert_eq!(
            decide(format!("valid_until = {}", at(v.time))),
            Decision::Trusted
        );
        assert!(
            matches!(decide(format!("valid_from = {}", at(v.time + 1))), Decision::Rejected(m) if m.contains("may sign only from"))
        );
        assert!(
            matches!(decide(format!("valid_until = {}", at(v.time - 1))), Decision::Rejected(m) if m.contains("could sign only until"))
        );
    }

    /// Size limits admit exactly the limit (a megabyte, through parse and
    /// through load); errors say where, as file:line:column.
    #[test]
    fn limits_and_positions() {
        let sized = |n: usize| {
            let mut t = String::from("version = 1\n#");
            t.push_str(&"x".repeat(n - t.len() - 1));
            t.push('\n');
            assert_eq!(t.len(), n);
            t
        };
        // A large policy (many signers and rules) is well inside it.
        PolicyFile::parse(&sized(64 * 1024), "p").unwrap();
        PolicyFile::parse(&sized(MAX_POLICY), "p").unwrap();
        assert!(err(&sized(MAX_POLICY + 1)).message.contains("larger than"));
        let dir = std::env::temp_dir().join(format!("gitsign-policy-limit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("p.toml");
        std::fs::write(&f, sized(MAX_POLICY)).unwrap();
        let loaded = PolicyFile::load(&f);
        std::fs::write(&f, sized(MAX_POLICY + 1)).unwrap();
        let too_large = PolicyFile::load(&f);
        std::fs::remove_dir_all(&dir).unwrap();
        loaded.unwrap();
        assert!(too_large.unwrap_err().message.contains("larger than"));
        let e = err("version = 1\n  bogus = true\n");
        assert_eq!((e.line, e.column), (Some(2), Some(3)), "{e}");
        assert!(e.to_string().starts_with("p.toml:2:3: "), "{e}");
        let at = |line, column| PolicyError {
            source: "p.toml".into(),
            line,
            column,
            message: "m".into(),
        };
        assert_eq!(at(Some(4), None).to_string(), "p.toml:4: m");
        assert_eq!(at(None, None).to_string(), "p.toml: m");
    }

    /// Signer and Rekor values out of range or given twice are refused;
    /// their bounds are accepted.
    #[test]
    fn values_and_their_bounds() {
        let signer = |extra: &str| {
            PolicyFile::parse(
                &format!("version = 1\n[signers.a]\nidentity = \"a@example.com\"\nissuer = \"https://i\"\n{extra}\n"),
                "p.toml",
            )
        };
        let e = signer("identity_regexp = \"a.*\"").unwrap_err();
        assert!(e.message.contains("not both"), "{e}");
        signer("valid_from = 2026-01-01T00:00:00Z\nvalid_until = 2026-01-01T00:00:00Z").unwrap();
        let e = signer("valid_from = 2026-01-01T00:00:01Z\nvalid_until = 2026-01-01T00:00:00Z")
            .unwrap_err();
        assert!(e.message.contains("valid_from is after valid_until"), "{e}");
        let budget = |n: i64| {
            PolicyFile::parse(
                &format!("version = 1\n[rekor]\nbudget_seconds = {n}\n"),
                "p",
            )
        };
        assert_eq!(budget(1).unwrap().rekor_budget, Duration::from_secs(1));
        assert_eq!(
            budget(3600).unwrap().rekor_budget,
            Duration::from_secs(3600)
        );
        for n in [0, 3601, -1] {
            assert!(
                budget(n).unwrap_err().message.contains("from 1 to 3600"),
                "{n}"
            );
        }
    }
}
