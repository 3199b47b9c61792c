//! The gpg-compatible interface git drives: `--verify` (and, once signing
//! lands, `-bsau`).

use std::io::{Read, Write};
use std::path::Path;

use gitsign::config::{Config, TlogVerification};
use gitsign::policy::{Decision, Policy};
use gitsign::sigstore::rekor::LazyRekor;
use gitsign::verify::{self, Context, FailureKind, MissingTlog, ObjectInfo};
use gitsign::{git::gpg, report};

use crate::args::GpgArgs;
use crate::exit;
use crate::verify_cmd::Decider;

/// Largest payload read from stdin (git objects are far smaller).
const MAX_PAYLOAD: u64 = 256 * 1024 * 1024;

/// Where status lines go: git passes 1 for verify and 2 for sign.
pub struct StatusFd(Option<Box<dyn Write>>);

impl StatusFd {
    /// Opens the status descriptor; `None` writes nowhere.
    pub fn open(fd: Option<i32>) -> Result<StatusFd, String> {
        Ok(StatusFd(match fd {
            None => None,
            Some(1) => Some(Box::new(std::io::stdout())),
            Some(2) => Some(Box::new(std::io::stderr())),
            Some(n) if n >= 0 => Some(Box::new(
                std::fs::OpenOptions::new()
                    .write(true)
                    .open(format!("/dev/fd/{n}"))
                    .map_err(|e| format!("cannot write status to file descriptor {n}: {e}"))?,
            )),
            Some(n) => return Err(format!("invalid --status-fd {n}")),
        }))
    }

    /// Writes status text and flushes.
    pub fn write(&mut self, text: &str) {
        if let Some(w) = &mut self.0 {
            let _ = w.write_all(text.as_bytes());
            let _ = w.flush();
        }
    }
}

/// Runs the gpg-compatible mode.
pub fn run(a: &GpgArgs) -> u8 {
    let mut status = match StatusFd::open(a.status_fd) {
        Ok(s) => s,
        Err(e) => {
            crate::error(e);
            return exit::ERROR;
        }
    };
    if a.verify {
        return gpg_verify(a, &mut status);
    }
    if a.sign || a.detach_sign {
        return crate::signmode::run(a, &mut status);
    }
    crate::error("nothing to do: git runs gitsign with --verify or -bsau; see `gitsign --help`");
    exit::ERROR
}

fn read_bounded(mut r: impl Read, limit: u64, what: &str) -> Result<Vec<u8>, String> {
    let mut buf = Vec::new();
    r.by_ref()
        .take(limit + 1)
        .read_to_end(&mut buf)
        .map_err(|e| format!("cannot read {what}: {e}"))?;
    if buf.len() as u64 > limit {
        return Err(format!("{what} is larger than {limit} bytes"));
    }
    Ok(buf)
}

fn read_file(path: &Path, limit: u64, what: &str) -> Result<Vec<u8>, String> {
    let f = std::fs::File::open(path)
        .map_err(|e| format!("cannot read {what} {}: {e}", path.display()))?;
    read_bounded(f, limit, what)
}

/// Loads configuration, trust and policy for verification: the identity
/// policy in git config, else the policy file (`gitsign.policy`), whose
/// signers then decide whether `%G?` says G.
pub fn load_verification(
) -> Result<(Config, gitsign::sigstore::trust::TrustedRoot, Decider), String> {
    let mut config = Config::load().map_err(|e| format!("configuration error: {e}"))?;
    let root = crate::trust_cmd::root(&mut config)?;
    let policy = Policy::from_config(&config.policy)
        .map_err(|e| format!("identity policy in git config: {e}"))?;
    let decider = if policy.is_empty() {
        match gitsign::policy::source::load_configured(None, &config, &gitsign::git::Git::new())? {
            Some(f) => Decider::File(Box::new(f), None),
            None => Decider::Identity(policy),
        }
    } else {
        Decider::Identity(policy)
    };
    Ok((config, root, decider))
}

/// The transparency-log handling a configuration asks for.
pub fn tlog_mode(config: &Config, insecure_ignore: bool) -> MissingTlog {
    if insecure_ignore {
        return MissingTlog::SearchOrSkip;
    }
    match config.tlog_verification {
        TlogVerification::Require => MissingTlog::Search,
        TlogVerification::Optional => MissingTlog::SearchOrSkip,
        TlogVerification::Skip => MissingTlog::Skip,
    }
}

fn gpg_verify(a: &GpgArgs, status: &mut StatusFd) -> u8 {
    let errsig = |status: &mut StatusFd, msg: String| {
        status.write(&gpg::errsig_unknown());
        crate::error(msg);
        exit::ERROR
    };
    let (sig_path, data_path) = match a.files.as_slice() {
        [sig, data] => (sig, Some(data)),
        [sig] => (sig, None),
        _ => {
            return errsig(
                status,
                "usage: gitsign --verify SIGNATURE_FILE [DATA_FILE|-]".into(),
            )
        }
    };
    let Some(data_path) = data_path else {
        return errsig(
            status,
            "only detached signatures are supported: pass the signed data as a file or on stdin (-)".into(),
        );
    };
    let sig = match read_file(
        sig_path,
        gitsign::pki::cms::MAX_SIGNATURE_LEN as u64,
        "the signature",
    ) {
        Ok(s) => s,
        Err(e) => return errsig(status, e),
    };
    let payload = if data_path.as_os_str() == "-" {
        read_bounded(
            std::io::stdin().lock(),
            MAX_PAYLOAD,
            "the signed data on stdin",
        )
    } else {
        read_file(data_path, MAX_PAYLOAD, "the signed data")
    };
    let payload = match payload {
        Ok(p) => p,
        Err(e) => return errsig(status, e),
    };
    let (config, root, policy) = match load_verification() {
        Ok(x) => x,
        Err(e) => return errsig(status, e),
    };
    let rekor = LazyRekor::new(&config.rekor, config.timeout);
    let ctx = Context {
        root: &root,
        require_sct: true,
        rekor: Some(&rekor),
        missing_tlog: tlog_mode(&config, false),
        cache: None,
    };
    match verify::verify(&payload, &sig, ObjectInfo::from_payload(&payload), &ctx) {
        Ok(v) => {
            let decision = policy.decide(&v);
            status.write(&gpg::good(&v, &decision));
            for l in report::verified_lines(&v, &decision) {
                tell!("gitsign: {l}");
            }
            if matches!(decision, Decision::Rejected(_)) {
                exit::INVALID
            } else {
                exit::OK
            }
        }
        Err(f) => {
            status.write(&gpg::failed(&f));
            for l in report::failure_lines(&f) {
                tell!("gitsign: {l}");
            }
            match f.kind {
                FailureKind::BadSignature | FailureKind::Untrusted => exit::INVALID,
                FailureKind::Unparseable | FailureKind::Unavailable => exit::ERROR,
            }
        }
    }
}
