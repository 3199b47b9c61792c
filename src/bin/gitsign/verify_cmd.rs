//! `gitsign verify`, `verify-tag`, `verify-bundle`, `version`.

use gitsign::config::{Config, Origin, PolicyConfig};
use gitsign::gitobj::{self, HashAlgo, ObjectKind};
use gitsign::policy::{Decision, Policy};
use gitsign::rekor::LazyRekor;
use gitsign::trust::TrustedRoot;
use gitsign::verify::{self, Context, FailureKind, ObjectInfo};
use gitsign::{bundle, report};

use crate::args::{ExportBundleArgs, PolicyArgs, VerifyArgs, VerifyBundleArgs, VerifyTagArgs};
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

fn trusted_root(args: &PolicyArgs, config: &Config) -> Result<TrustedRoot, String> {
    let mut config = config.clone();
    if let Some(p) = &args.trusted_root {
        config.trusted_root = Some(p.clone());
    }
    config
        .trusted_root()
        .map_err(|e| format!("trust configuration error: {e}"))
}

struct Setup {
    repo: gix::Repository,
    config: Config,
    root: TrustedRoot,
    policy: Policy,
}

fn setup(args: &PolicyArgs) -> Result<Setup, String> {
    let repo = gix::discover_with_environment_overrides(".")
        .map_err(|e| format!("not in a git repository (or it cannot be opened): {e}"))?;
    let config = Config::load_for_repo(&repo).map_err(|e| format!("configuration error: {e}"))?;
    let root = trusted_root(args, &config)?;
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
            println!("{label}: NOT signed");
            return exit::INVALID;
        }
        Err(e) => {
            println!("{label}: invalid object: {e}");
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
            println!("{label}: {}", lines[0]);
            for l in &lines[1..] {
                println!("  {l}");
            }
            if decision == Decision::Trusted {
                exit::OK
            } else {
                exit::INVALID
            }
        }
        Err(f) => {
            let lines = report::failure_lines(&f);
            println!("{label}: {}", lines[0]);
            for l in &lines[1..] {
                println!("  {l}");
            }
            match f.kind {
                FailureKind::Unavailable => exit::ERROR,
                _ => exit::INVALID,
            }
        }
    }
}

fn worst(a: u8, b: u8) -> u8 {
    a.max(b)
}

/// `gitsign verify [REV...]`.
pub fn verify_commits(a: &VerifyArgs) -> u8 {
    let s = match setup(&a.policy) {
        Ok(s) => s,
        Err(e) => {
            crate::error(e);
            return exit::ERROR;
        }
    };
    let revs = if a.revs.is_empty() {
        vec!["HEAD".to_string()]
    } else {
        a.revs.clone()
    };
    let mut status = exit::OK;
    for rev in &revs {
        let object = s
            .repo
            .rev_parse_single(rev.as_str())
            .map_err(|e| format!("cannot resolve \"{rev}\": {e}"))
            .and_then(|id| id.object().map_err(|e| format!("cannot read {rev}: {e}")))
            .and_then(|o| {
                o.peel_to_kind(gix::object::Kind::Commit)
                    .map_err(|e| format!("{rev} is not a commit: {e}"))
            });
        match object {
            Ok(obj) => {
                let label = format!("commit {}", obj.id);
                status = worst(
                    status,
                    check_object(&s, &a.policy, &label, ObjectKind::Commit, &obj.data),
                );
            }
            Err(e) => {
                crate::error(e);
                status = worst(status, exit::ERROR);
            }
        }
    }
    status
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
    let name = if a.tag.starts_with("refs/") {
        a.tag.clone()
    } else {
        format!("refs/tags/{}", a.tag)
    };
    let obj = s
        .repo
        .rev_parse_single(name.as_str())
        .map_err(|e| format!("no tag \"{}\": {e}", a.tag))
        .and_then(|id| {
            id.object()
                .map_err(|e| format!("cannot read tag {}: {e}", a.tag))
        });
    match obj {
        Ok(o) if o.kind == gix::object::Kind::Tag => check_object(
            &s,
            &a.policy,
            &format!("tag {}", a.tag),
            ObjectKind::Tag,
            &o.data,
        ),
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

/// `gitsign verify-bundle`.
pub fn verify_bundle(a: &VerifyBundleArgs) -> u8 {
    let config = match Config::load() {
        Ok(c) => c,
        Err(e) => {
            crate::error(format!("configuration error: {e}"));
            return exit::ERROR;
        }
    };
    let root = match trusted_root(&a.policy, &config) {
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
            .and_then(|d| gitsign::crypto::PublicKey::from_pem_or_der(&d))
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
                        println!(
                            "bundle {}: signature valid but signer REJECTED: {why}",
                            a.bundle.display()
                        );
                        return exit::INVALID;
                    }
                    _ => println!(
                        "bundle {}: Verified OK: signed by {} (OIDC issuer {})",
                        a.bundle.display(),
                        claims.identity,
                        claims.issuer.as_deref().unwrap_or("none")
                    ),
                }
            } else {
                println!(
                    "bundle {}: Verified OK: signed by the given key",
                    a.bundle.display()
                );
            }
            for l in &v.details {
                println!("  {l}");
            }
            exit::OK
        }
        Err(e) => {
            println!("bundle {}: verification FAILED: {e}", a.bundle.display());
            exit::INVALID
        }
    }
}

/// `gitsign version`.
pub fn version() -> u8 {
    println!("gitsign {} (Rust)", env!("CARGO_PKG_VERSION"));
    match Config::load() {
        Ok(c) => {
            println!("configuration (defaults < git config < environment):");
            for (k, (v, o)) in &c.resolved {
                let o = match o {
                    Origin::Default => "default",
                    Origin::Git => "git config",
                    Origin::Env => "environment",
                };
                println!("  {k:<36} {v}  [{o}]");
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
        let repo = gix::discover_with_environment_overrides(".")
            .map_err(|e| format!("not in a git repository: {e}"))?;
        let obj = repo
            .rev_parse_single(a.rev.as_str())
            .map_err(|e| format!("cannot resolve \"{}\": {e}", a.rev))?
            .object()
            .map_err(|e| format!("cannot read {}: {e}", a.rev))?;
        let (kind, data) = if obj.kind == gix::object::Kind::Tag {
            (ObjectKind::Tag, obj.data.clone())
        } else {
            let c = obj
                .peel_to_kind(gix::object::Kind::Commit)
                .map_err(|e| format!("{} is not a commit: {e}", a.rev))?;
            (ObjectKind::Commit, c.data.clone())
        };
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
