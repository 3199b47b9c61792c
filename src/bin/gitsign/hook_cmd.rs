//! `gitsign hook pre-receive|update` and `gitsign policy check`.

use std::io::{IsTerminal, Read};

use gitsign::config::Config;
use gitsign::git::gitobj::HashAlgo;
use gitsign::git::Git;
use gitsign::hook::{self, RefUpdate};
use gitsign::policy;
use gitsign::policy::file::{PolicyFile, Unreachable};
use gitsign::progress::{Count, Progress};
use gitsign::sigstore::rekor::{BudgetedLookup, LazyRekor};
use gitsign::verify::{Context, LeafCache, MissingTlog};

use crate::args::HookCommand;
use crate::exit;

/// `gitsign policy check FILE`.
pub fn policy_check(file: &std::path::Path) -> u8 {
    match PolicyFile::load(file) {
        Ok(p) => {
            say!(
                "{}: valid (version {}, {} signer{}, {} rule{}, unmatched refs {})",
                file.display(),
                p.version,
                p.signers.len(),
                if p.signers.len() == 1 { "" } else { "s" },
                p.rules.len(),
                if p.rules.len() == 1 { "" } else { "s" },
                if p.reject_unmatched {
                    "rejected"
                } else {
                    "allowed"
                }
            );
            exit::OK
        }
        Err(e) => {
            tell!("{e}");
            exit::INVALID
        }
    }
}

fn say(lines: &[String]) {
    for l in lines {
        tell!("gitsign: {l}");
    }
}

/// Runs a hook; returns 0 to accept the push, 1 to refuse it.
pub fn run(cmd: &HookCommand) -> u8 {
    let (updates, policy_flag) = match cmd {
        HookCommand::PreReceive { policy } => {
            let mut input = String::new();
            if std::io::stdin()
                .lock()
                .take(64 * 1024 * 1024)
                .read_to_string(&mut input)
                .is_err()
            {
                say(&["push refused: cannot read the ref updates from stdin".into()]);
                return exit::INVALID;
            }
            match hook::parse_updates(&input) {
                Ok(u) => (u, policy.clone()),
                Err(e) => {
                    say(&[format!("push refused: {e}")]);
                    return exit::INVALID;
                }
            }
        }
        HookCommand::Update {
            ref_name,
            old,
            new,
            policy,
        } => match RefUpdate::new(old, new, ref_name) {
            Ok(u) => (vec![u], policy.clone()),
            Err(e) => {
                say(&[format!("push refused: {e}")]);
                return exit::INVALID;
            }
        },
    };
    // Every failure below refuses the push: a hook fails closed.
    // Walks see every parent: never the shallow boundary a pusher's
    // shallow clone sent (receive.shallowUpdate), nor the server's own.
    let git = Git::new().ignoring_shallow();
    let namespace = match std::env::var_os("GIT_NAMESPACE") {
        None => hook::names::Namespace::default(),
        Some(raw) => match raw
            .to_str()
            .ok_or_else(|| "the ref namespace (GIT_NAMESPACE) is not UTF-8".to_string())
            .and_then(|r| hook::names::Namespace::from_env(Some(r)))
        {
            Ok(ns) => ns,
            Err(e) => {
                say(&[format!("push refused: {e}")]);
                return exit::INVALID;
            }
        },
    };
    let mut config = match Config::load() {
        Ok(c) => c,
        Err(e) => {
            say(&[format!("push refused: configuration error: {e}")]);
            return exit::INVALID;
        }
    };
    let policy = match policy::source::load_configured(policy_flag.as_deref(), &config, &git) {
        Ok(Some(p)) => p,
        Ok(None) => {
            say(&["push refused: no signing policy is configured (set gitsign.policy to a policy file, or pass --policy)".into()]);
            return exit::INVALID;
        }
        Err(e) => {
            say(&[
                format!("push refused: {e}"),
                "fix the policy file (or gitsign.policy / gitsign.policyRef); every push is refused until it is valid".into(),
            ]);
            return exit::INVALID;
        }
    };
    let root = match crate::trust_cmd::root(&mut config) {
        Ok(r) => r,
        Err(e) => {
            say(&[format!("push refused: {e}")]);
            return exit::INVALID;
        }
    };
    let algo = match git.output(&["rev-parse", "--show-object-format"]) {
        Ok(o) if String::from_utf8_lossy(&o).trim() == "sha256" => HashAlgo::Sha256,
        _ => HashAlgo::Sha1,
    };
    let rekor = LazyRekor::new(&config.rekor, config.timeout.min(policy.rekor_budget));
    let budgeted = BudgetedLookup::new(&rekor, policy.rekor_budget);
    let cache = LeafCache::new();
    let ctx = Context {
        root: &root,
        require_sct: true,
        rekor: Some(&budgeted),
        missing_tlog: match policy.rekor_unreachable {
            Unreachable::Reject => MissingTlog::Search,
            Unreachable::Warn => MissingTlog::SearchOrSkip,
        },
        cache: Some(&cache),
    };
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    // The ref the policy is read from, when it comes from the repository
    // (as load_configured chose: no flag, no gitsign.policy).
    let policy_ref = match (&policy_flag, &config.policy_file, &config.policy_ref) {
        (None, None, Some(spec)) => match policy::source::parse_policy_ref(spec) {
            Ok(policy::source::PolicyRef {
                rev: policy::source::PolicyRev::Ref(name),
                ..
            }) => Some(name),
            _ => None,
        },
        _ => None,
    };
    let env = hook::PushEnv {
        policy_ref,
        namespace,
        shallow_push: std::env::var_os("GIT_SHALLOW_FILE").is_some(),
    };
    // On a terminal (the hook run by hand), a progress line; a push's
    // hook writes to the pusher's side band, which is no terminal.
    let mut progress = Progress::new(
        std::io::stderr().is_terminal().then(std::io::stderr),
        "checking the push",
        "objects",
    )
    .units_named("object", "objects")
    .failures_named("problem", "problems");
    let checked = hook::check_push_in(
        &updates,
        &git,
        &policy,
        &ctx,
        algo,
        threads,
        &env,
        &mut |p| {
            progress.update(Count {
                done: p.checked as u64,
                total: None,
                failed: p.problems as u64,
            })
        },
    );
    progress.finish();
    match checked {
        Ok(report) => {
            say(&hook::warning_text(&report));
            if report.accepted() {
                tell!(
                    "gitsign: {} new object{} verified against the signing policy",
                    report.checked,
                    if report.checked == 1 { "" } else { "s" }
                );
                exit::OK
            } else {
                say(&hook::rejection_text(&report));
                exit::INVALID
            }
        }
        Err(e) => {
            say(&[format!("push refused: {e}")]);
            exit::INVALID
        }
    }
}
