//! `gitsign verify`, `verify-tag`, `verify-bundle`, `version`.

use std::io::IsTerminal;

use gitsign::config::{Config, Origin, PolicyConfig};
use gitsign::git::gitobj::{self, HashAlgo, ObjectKind};
use gitsign::git::range::{self, Outcome, Verdict};
use gitsign::policy::file::PolicyFile;
use gitsign::policy::{self, Decision, Policy};
use gitsign::sigstore::rekor::LazyRekor;
use gitsign::sigstore::trust::TrustedRoot;
use gitsign::verify::{self, Context, FailureKind, ObjectInfo};
use gitsign::{report, sigstore::bundle};

use crate::args::{
    ExportBundleArgs, OutputFormat, PolicyArgs, VerifyArgs, VerifyBundleArgs, VerifyTagArgs,
};
use crate::exit;
use crate::gpgmode::tlog_mode;

/// Policy from flags, else from git config; one is required.
fn policy_from(args: &PolicyArgs, config: &Config) -> Result<Policy, String> {
    let flags = PolicyConfig {
        identities: args.certificate_identity.clone(),
        identity_regexps: args.certificate_identity_regexp.clone(),
        issuers: args.certificate_oidc_issuer.clone(),
        issuer_regexps: args.certificate_oidc_issuer_regexp.clone(),
        github_workflow_trigger: args.certificate_github_workflow_trigger.clone(),
        github_workflow_sha: args.certificate_github_workflow_sha.clone(),
        github_workflow_name: args.certificate_github_workflow_name.clone(),
        github_workflow_repository: args.certificate_github_workflow_repository.clone(),
        github_workflow_ref: args.certificate_github_workflow_ref.clone(),
    };
    let chosen = if flags.is_empty() {
        &config.policy
    } else {
        &flags
    };
    let policy = Policy::from_config(chosen)?;
    if policy.is_empty() {
        return Err(
            "say who may sign: pass --certificate-identity (or --certificate-identity-regexp) and \
                    --certificate-oidc-issuer (or --certificate-oidc-issuer-regexp), or set \
                    gitsign.certificateIdentity and gitsign.certificateOidcIssuer in git config"
                .into(),
        );
    }
    Ok(policy)
}

/// The trusted root (`--trusted-root` first, then as every command
/// chooses it); the signing config's Rekor applies to online lookups.
fn trusted_root(args: &PolicyArgs, config: &mut Config) -> Result<TrustedRoot, String> {
    if let Some(p) = &args.trusted_root {
        config.trusted_root = Some(p.clone());
    }
    crate::trust_cmd::root(config)
}

struct Setup {
    repo: gix::Repository,
    config: Config,
    root: TrustedRoot,
    policy: Policy,
}

fn setup(args: &PolicyArgs) -> Result<Setup, String> {
    let repo = gitsign::git::discover_repo()?;
    let mut config =
        Config::load_for_repo(&repo).map_err(|e| format!("configuration error: {e}"))?;
    let root = trusted_root(args, &mut config)?;
    let policy = policy_from(args, &config)?;
    Ok(Setup {
        repo,
        config,
        root,
        policy,
    })
}

fn algo(repo: &gix::Repository) -> HashAlgo {
    match repo.object_hash() {
        gix::hash::Kind::Sha1 => HashAlgo::Sha1,
        _ => HashAlgo::Sha256,
    }
}

/// Verifies one signed object and prints the outcome; returns the exit status.
fn check_object(s: &Setup, args: &PolicyArgs, label: &str, kind: ObjectKind, data: &[u8]) -> u8 {
    let algo = algo(&s.repo);
    let signed = match gitobj::split(data, kind, algo) {
        Ok(Some(x)) => x,
        Ok(None) => {
            say!("{label}: NOT signed");
            return exit::INVALID;
        }
        Err(e) => {
            say!("{label}: invalid object: {e}");
            return exit::INVALID;
        }
    };
    let rekor = LazyRekor::new(&s.config.rekor, s.config.timeout);
    let ctx = Context {
        root: &s.root,
        require_sct: !args.insecure_ignore_sct,
        rekor: Some(&rekor),
        missing_tlog: tlog_mode(&s.config, args.insecure_ignore_tlog),
        cache: None,
    };
    match verify::verify(
        &signed.payload,
        &signed.signature,
        ObjectInfo { kind, algo },
        &ctx,
    ) {
        Ok(v) => {
            let decision = s.policy.evaluate(&v.claims);
            let lines = report::verified_lines(&v, &decision);
            say!("{label}: {}", lines[0]);
            for l in &lines[1..] {
                say!("  {l}");
            }
            if decision == Decision::Trusted {
                for l in report::go_summary_lines(&v) {
                    say!("{l}");
                }
                exit::OK
            } else {
                exit::INVALID
            }
        }
        Err(f) => {
            let lines = report::failure_lines(&f);
            say!("{label}: {}", lines[0]);
            for l in &lines[1..] {
                say!("  {l}");
            }
            match f.kind {
                FailureKind::Unavailable => exit::ERROR,
                _ => exit::INVALID,
            }
        }
    }
}

/// Who decides trust for `gitsign verify`.
pub enum Decider {
    /// Identity flags or git config.
    Identity(Policy),
    /// A policy file, optionally for one ref.
    File(Box<PolicyFile>, Option<String>),
}

impl Decider {
    /// The decision on a verified signature.
    pub fn decide(&self, v: &gitsign::verify::Verified) -> Decision {
        match self {
            Decider::Identity(p) => p.evaluate(&v.claims),
            Decider::File(f, None) => f.check_any(v),
            Decider::File(f, Some(r)) => match f.rule_for(r) {
                Some(rule) => f.check(rule, v),
                None if f.reject_unmatched => {
                    Decision::Rejected(format!("no rule of the policy covers {r}"))
                }
                None => Decision::Trusted,
            },
        }
    }

    fn allows_unsigned(&self) -> bool {
        match self {
            Decider::File(f, Some(r)) => f.rule_for(r).is_some_and(|rule| rule.allow_unsigned),
            _ => false,
        }
    }
}

fn print_outcome(o: &Outcome, detailed: bool, json: bool, passed: bool) {
    if json {
        let mut j = o.to_json();
        j["passed"] = passed.into();
        // serde_json escapes only C0: bidi and C1 characters from a
        // subject or a claim are escaped here (same JSON value).
        crate::stdout_line(&gitsign::encoding::text::json_safe(&j.to_string()));
        return;
    }
    let short = &o.id[..12.min(o.id.len())];
    let label = format!("{} {short}", o.kind.name());
    match &o.verdict {
        Verdict::Good { verified, decision } => {
            let lines = report::verified_lines(verified, decision);
            if detailed {
                say!("{label}: {}", lines[0]);
                for l in &lines[1..] {
                    say!("  {l}");
                }
                if passed {
                    for l in report::go_summary_lines(verified) {
                        say!("{l}");
                    }
                }
            } else {
                let mark = if passed { "OK  " } else { "FAIL" };
                let why = if passed {
                    String::new()
                } else {
                    format!(": {}", o.reason())
                };
                let tlog = verified
                    .tlog
                    .entry()
                    .and_then(|e| e.log_index())
                    .map(|i| format!(", Rekor {i}"))
                    .unwrap_or_default();
                say!(
                    "{mark} {label} {} ({}{tlog}) \"{}\"{why}",
                    verified.claims.identity,
                    verified.claims.issuer.as_deref().unwrap_or("no issuer"),
                    o.subject
                );
            }
        }
        _ => {
            let mark = if passed { "OK  " } else { "FAIL" };
            let what = if passed {
                "not signed (allowed by the policy)".to_string()
            } else {
                o.reason()
            };
            say!("{mark} {label} \"{}\": {what}", o.subject);
        }
    }
}

/// `gitsign verify [REV|RANGE...]`.
pub fn verify_commits(a: &VerifyArgs) -> u8 {
    let git = gitsign::git::Git::new();
    let setup = || -> Result<(Config, TrustedRoot, Decider, HashAlgo), String> {
        let repo = gitsign::git::discover_repo()?;
        let mut config =
            Config::load_for_repo(&repo).map_err(|e| format!("configuration error: {e}"))?;
        let root = trusted_root(&a.policy, &mut config)?;
        let flags_given = !a.policy.certificate_identity.is_empty()
            || !a.policy.certificate_identity_regexp.is_empty();
        let decider = match (
            flags_given,
            policy::source::load_configured(a.policy_file.as_deref(), &config, &git)?,
        ) {
            (false, Some(f)) => Decider::File(Box::new(f), a.ref_name.clone()),
            _ => Decider::Identity(policy_from(&a.policy, &config)?),
        };
        Ok((config, root, decider, algo(&repo)))
    };
    let (config, root, decider, algo) = match setup() {
        Ok(s) => s,
        Err(e) => {
            crate::error(e);
            return exit::ERROR;
        }
    };
    let range_mode = a.all
        || a.since.is_some()
        || a.revs
            .iter()
            .any(|r| r.contains("..") || r.starts_with('^'));
    // Our options first; the user's revisions after --end-of-options, so
    // git never reads one as an option (`--output=FILE` would truncate
    // FILE), and each refused with a sentence if it looks like one.
    if let Err(e) = a
        .revs
        .iter()
        .try_for_each(|r| gitsign::git::check_revision(r))
    {
        crate::error(e);
        return exit::ERROR;
    }
    // What the names read: an ambiguous short name (a tag called main
    // beside the branch) or a tag ref whose tag object names another tag
    // is refused before git picks.
    if let Err(e) = gitsign::git::revs::check_revisions(&git, &a.revs) {
        crate::error(e);
        return exit::ERROR;
    }
    // --since: committer dates are the committer's choice, so the date
    // filters (never cuts the walk: --since-as-filter), and every tip is
    // checked whatever its date.
    let tips = match &a.since {
        None => Vec::new(),
        Some(_) => match since_tips(&git, a) {
            Ok(t) => t,
            Err(e) => {
                crate::error(e);
                return exit::ERROR;
            }
        },
    };
    let mut args: Vec<String> = Vec::new();
    if !range_mode {
        args.push("--no-walk=unsorted".into());
    }
    if a.all {
        args.push("--all".into());
    }
    if let Some(s) = &a.since {
        args.push(format!("--since-as-filter={s}"));
    }
    args.push("--end-of-options".into());
    if a.revs.is_empty() && !a.all {
        args.push("HEAD".into());
    }
    args.extend(a.revs.iter().cloned());
    args.push("--".into());
    let rekor = LazyRekor::new(&config.rekor, config.timeout);
    let cache = gitsign::verify::LeafCache::new();
    let ctx = Context {
        root: &root,
        require_sct: !a.policy.insecure_ignore_sct,
        rekor: Some(&rekor),
        missing_tlog: tlog_mode(&config, a.policy.insecure_ignore_tlog),
        cache: Some(&cache),
    };
    let threads = a.jobs.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    });
    let detailed = !range_mode && a.revs.len() <= 1;
    // Progress on a terminal, for more than one commit: the count so far,
    // and the total once a second `git rev-list --count` has it.
    let mut progress = gitsign::progress::Progress::new(
        (!detailed && std::io::stderr().is_terminal()).then(std::io::stderr),
        "verifying",
        "commits",
    )
    .units_named("commit", "commits");
    // With --since the tips come on top of git's count: no total.
    let total_rx =
        (progress.enabled() && a.since.is_none()).then(|| count_in_background(&git, &args));
    let stdout_tty = std::io::stdout().is_terminal();
    // (objects, failed, of those undecided: a service was unreachable)
    let mut run = || -> Result<(usize, usize, usize), gitsign::git::GitError> {
        let mut revs = git.rev_list(&args)?;
        let listed: std::collections::HashSet<String> = tips.iter().cloned().collect();
        let walk =
            std::iter::from_fn(move || revs.next_id().transpose()).filter(move |r| match r {
                Ok(id) => !listed.contains(id),
                Err(_) => true,
            });
        let ids = tips.iter().cloned().map(Ok).chain(walk);
        let (mut total, mut failed, mut undecided) = (0usize, 0usize, 0usize);
        let mut known_total = None;
        let json = a.format == OutputFormat::Json;
        let decide = |v: &gitsign::verify::Verified| decider.decide(v);
        range::verify_stream(ids, git.cat_file()?, algo, &ctx, &decide, threads, |o| {
            let passed =
                o.passed() || (matches!(o.verdict, Verdict::Unsigned) && decider.allows_unsigned());
            total += 1;
            if !passed {
                failed += 1;
                if matches!(&o.verdict, Verdict::Failed(f) if f.kind == FailureKind::Unavailable) {
                    undecided += 1;
                }
            }
            if stdout_tty {
                // The same terminal: the result line goes where the
                // progress line was, which is drawn again below it.
                progress.hide();
            }
            print_outcome(&o, detailed, json, passed);
            if known_total.is_none() {
                known_total = total_rx.as_ref().and_then(|rx| rx.try_recv().ok());
            }
            progress.update(gitsign::progress::Count {
                done: total as u64,
                total: known_total,
                failed: failed as u64,
            });
        })?;
        Ok((total, failed, undecided))
    };
    let result = run();
    progress.finish();
    match result {
        Ok((0, _, _)) => {
            crate::error("no commits to verify");
            exit::ERROR
        }
        Ok((total, failed, undecided)) => {
            if a.format == OutputFormat::Text && total > 1 {
                tell!(
                    "gitsign: {total} commits: {} passed, {failed} failed",
                    total - failed
                );
            }
            // A refusal outweighs what could not be decided: 1 when any
            // object was refused, 2 when the only failures are undecided
            // (a service unreachable), as for a single object.
            if failed == 0 {
                exit::OK
            } else if failed > undecided {
                exit::INVALID
            } else {
                exit::ERROR
            }
        }
        Err(e) => {
            crate::error(e);
            exit::ERROR
        }
    }
}

/// The oldest git with `rev-list --since-as-filter` (2.44).
const SINCE_AS_FILTER: (u32, u32) = (2, 44);

/// For `--since`: checks git can filter by date without cutting the walk,
/// says once what a date range is worth, and returns the tips (each
/// checked whatever its date).
fn since_tips(git: &gitsign::git::Git, a: &VerifyArgs) -> Result<Vec<String>, String> {
    let (major, minor) = gitsign::git::revs::git_version(git).map_err(|e| e.to_string())?;
    if (major, minor) < SINCE_AS_FILTER {
        return Err(format!(
            "gitsign verify --since needs git {}.{} or later (git rev-list --since-as-filter, which \
             filters by date without stopping the walk at the first old commit); this git is \
             {major}.{minor}: upgrade git, or verify a range from a commit you trust (BASE..HEAD)",
            SINCE_AS_FILTER.0, SINCE_AS_FILTER.1
        ));
    }
    tell!(
        "gitsign: note: --since selects commits by committer date, which whoever writes a commit \
         chooses: each tip is checked whatever its date, but a commit behind it dated earlier is not; \
         in CI, verify a range from a commit you trust (gitsign verify BASE..HEAD)"
    );
    gitsign::git::revs::tips(git, a.all, &a.revs).map_err(|e| e.to_string())
}

/// `git rev-list --count ARGS` on a thread: the total number of commits
/// for the progress line, sent when known (never, if git fails: the line
/// then shows the count alone).
fn count_in_background(git: &gitsign::git::Git, args: &[String]) -> std::sync::mpsc::Receiver<u64> {
    let (tx, rx) = std::sync::mpsc::channel();
    let git = git.clone();
    let mut count_args = vec!["rev-list".to_string(), "--count".to_string()];
    count_args.extend(args.iter().cloned());
    std::thread::spawn(move || {
        let args: Vec<&str> = count_args.iter().map(String::as_str).collect();
        if let Some(n) = git
            .output(&args)
            .ok()
            .and_then(|out| String::from_utf8(out).ok())
            .and_then(|s| s.trim().parse::<u64>().ok())
        {
            let _ = tx.send(n);
        }
    });
    rx
}

/// `gitsign verify-tag TAG`.
pub fn verify_tag(a: &VerifyTagArgs) -> u8 {
    let s = match setup(&a.policy) {
        Ok(s) => s,
        Err(e) => {
            crate::error(e);
            return exit::ERROR;
        }
    };
    let obj = tag_object(&s.repo, &a.tag);
    match obj {
        Ok((name, o)) if o.kind == "tag" => {
            // The tag object names itself (`tag v1.0`, under its
            // signature): another ref name pointing at it is refused.
            if let Some(why) = gitsign::git::revs::tag_name_mismatch(&name, &o.data) {
                say!("tag {}: {why}", a.tag);
                return exit::INVALID;
            }
            check_object(
                &s,
                &a.policy,
                &format!("tag {}", a.tag),
                ObjectKind::Tag,
                &o.data,
            )
        }
        Ok(_) => {
            crate::error(format!(
                "{} is a lightweight tag; only annotated tags carry signatures",
                a.tag
            ));
            exit::INVALID
        }
        Err(e) => {
            crate::error(e);
            exit::ERROR
        }
    }
}

/// The object the tag ref `tag` (`v1.0` or `refs/tags/v1.0`) points at,
/// found by that exact name (no lookup elsewhere) and checked against its
/// id.
fn tag_object(repo: &gix::Repository, tag: &str) -> Result<(String, gitsign::git::Object), String> {
    let name = if tag.starts_with("refs/") {
        tag.to_string()
    } else {
        format!("refs/tags/{tag}")
    };
    if !gitsign::git::is_ref_name(&name) {
        return Err(format!("\"{tag}\" is not a tag name"));
    }
    let mut r = repo
        .find_reference(name.as_str())
        .map_err(|e| format!("no tag \"{tag}\": {e}"))?;
    // gix, like git, also tries other prefixes: only the exact name counts.
    if r.name().as_bstr() != name.as_str() {
        return Err(format!("no tag \"{tag}\" ({name} does not exist)"));
    }
    let id = r
        .follow_to_object()
        .map_err(|e| format!("cannot resolve tag {tag}: {e}"))?;
    Ok((name, gitsign::git::read_object(repo, id.detach())?))
}

/// `gitsign verify-bundle`.
pub fn verify_bundle(a: &VerifyBundleArgs) -> u8 {
    let mut config = match Config::load() {
        Ok(c) => c,
        Err(e) => {
            crate::error(format!("configuration error: {e}"));
            return exit::ERROR;
        }
    };
    let root = match trusted_root(&a.policy, &mut config) {
        Ok(r) => r,
        Err(e) => {
            crate::error(e);
            return exit::ERROR;
        }
    };
    let json = match std::fs::metadata(&a.bundle)
        .map_err(|e| e.to_string())
        .and_then(|m| {
            if m.len() > bundle::MAX_BUNDLE as u64 {
                Err("the bundle is too large".into())
            } else {
                Ok(())
            }
        })
        .and_then(|_| std::fs::read(&a.bundle).map_err(|e| e.to_string()))
    {
        Ok(j) => j,
        Err(e) => {
            crate::error(format!(
                "cannot read the bundle {}: {e}",
                a.bundle.display()
            ));
            return exit::ERROR;
        }
    };
    let artifact = match bundle::Artifact::from_arg(&a.artifact) {
        Ok(x) => x,
        Err(e) => {
            crate::error(e);
            return exit::ERROR;
        }
    };
    let key = match &a.key {
        Some(p) => match std::fs::read(p)
            .map_err(|e| e.to_string())
            .and_then(|d| gitsign::pki::crypto::PublicKey::from_pem_or_der(&d))
        {
            Ok(k) => Some(k),
            Err(e) => {
                crate::error(format!("cannot use the key {}: {e}", p.display()));
                return exit::ERROR;
            }
        },
        None => None,
    };
    let policy = if key.is_some() {
        Policy::default()
    } else {
        match policy_from(&a.policy, &config) {
            Ok(p) => p,
            Err(e) => {
                crate::error(e);
                return exit::ERROR;
            }
        }
    };
    let opts = bundle::Options {
        root: &root,
        require_sct: !a.policy.insecure_ignore_sct,
        key: key.as_ref(),
    };
    match bundle::verify_bundle(&json, &artifact, &opts) {
        Ok(v) => {
            if let Some(claims) = &v.claims {
                match policy.evaluate(claims) {
                    Decision::Rejected(why) => {
                        say!(
                            "bundle {}: signature valid but signer REJECTED: {why}",
                            a.bundle.display()
                        );
                        return exit::INVALID;
                    }
                    _ => say!(
                        "bundle {}: Verified OK: signed by {} (OIDC issuer {})",
                        a.bundle.display(),
                        claims.identity,
                        claims.issuer.as_deref().unwrap_or("none")
                    ),
                }
            } else {
                say!(
                    "bundle {}: Verified OK: signed by the given key",
                    a.bundle.display()
                );
            }
            for l in &v.details {
                say!("  {l}");
            }
            exit::OK
        }
        Err(e) => {
            say!("bundle {}: verification FAILED: {e}", a.bundle.display());
            exit::INVALID
        }
    }
}

/// `gitsign version`.
pub fn version() -> u8 {
    // Go gitsign's first line, so that scripts reading it still do.
    say!("gitsign version {} (Rust)", env!("CARGO_PKG_VERSION"));
    match Config::load() {
        Ok(c) => {
            crate::trust_cmd::version_lines(&c);
            say!("configuration (defaults < git config < environment):");
            for (k, (v, o)) in &c.resolved {
                let o = match o {
                    Origin::Default => "default",
                    Origin::Git => "git config",
                    Origin::Env => "environment",
                };
                say!("  {k:<36} {v}  [{o}]");
            }
            if c.enable_sigstore_go {
                say!(
                    "note: enableSigstoreGo is Go gitsign's switch to its sigstore-go code path; \
                     it has no effect here (one code path; the signatures are the same)"
                );
            }
            exit::OK
        }
        Err(e) => {
            crate::error(format!("configuration error: {e}"));
            exit::ERROR
        }
    }
}

/// `gitsign export-bundle`.
pub fn export_bundle(a: &ExportBundleArgs) -> u8 {
    let run = || -> Result<(), String> {
        let repo = gitsign::git::discover_repo()?;
        gitsign::git::check_revision(&a.rev).map_err(|e| e.0)?;
        // As for `gitsign verify`: no ambiguous short name, no tag ref
        // naming another tag.
        gitsign::git::revs::check_revisions(
            &gitsign::git::Git::new(),
            std::slice::from_ref(&a.rev),
        )
        .map_err(|e| e.0)?;
        let obj = repo
            .rev_parse_single(a.rev.as_str())
            .map_err(|e| format!("cannot resolve \"{}\": {e}", a.rev))?
            .object()
            .map_err(|e| format!("cannot read {}: {e}", a.rev))?;
        let id = if obj.kind == gix::object::Kind::Tag {
            obj.id
        } else {
            obj.peel_to_kind(gix::object::Kind::Commit)
                .map_err(|e| format!("{} is not a commit: {e}", a.rev))?
                .id
        };
        // Read again by id, checked against it.
        let o = gitsign::git::read_object(&repo, id)?;
        let kind = if o.kind == "tag" {
            ObjectKind::Tag
        } else {
            ObjectKind::Commit
        };
        let data = o.data;
        let signed = gitobj::split(&data, kind, algo(&repo))
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("{} is not signed", a.rev))?;
        let (json, artifact) = bundle::export_signature(&signed.signature)?;
        std::fs::write(&a.output, json)
            .map_err(|e| format!("cannot write {}: {e}", a.output.display()))?;
        std::fs::write(&a.artifact, artifact)
            .map_err(|e| format!("cannot write {}: {e}", a.artifact.display()))?;
        Ok(())
    };
    match run() {
        Ok(()) => exit::OK,
        Err(e) => {
            crate::error(e);
            exit::ERROR
        }
    }
}
