//! `gitsign -bsau KEY`: what git runs for `commit -S` and `tag -s`.
//! stdout carries only the finished signature; everything else goes to the
//! terminal, stderr and the log.

use std::io::{Read, Write};
use std::sync::atomic::Ordering;

use gitsign::cache;
use gitsign::config::Config;
use gitsign::oidc;
use gitsign::pki::tsa::TsaClient;
use gitsign::sign::{self, Credential, SignError};
use gitsign::sigstore::fulcio::FulcioClient;
use gitsign::sigstore::http::Http;
use gitsign::sigstore::rekor::RekorClient;
use gitsign::sigstore::trust::TrustedRoot;

use crate::args::GpgArgs;
use crate::exit;
use crate::gpgmode::StatusFd;

/// Largest payload signed (git objects are far smaller).
const MAX_PAYLOAD: u64 = 256 * 1024 * 1024;

/// Where user-facing messages go: the terminal when there is one (git
/// captures stderr while signing and shows it only on failure), else
/// stderr; and the log file when configured (`gitsign.logPath`).
pub struct Terminal {
    tty: Option<std::fs::File>,
    log: Option<std::fs::File>,
    /// A status line (`waiting`) is on the terminal, to be erased before
    /// anything else is written there.
    status_shown: std::sync::atomic::AtomicBool,
}

impl Terminal {
    /// Opens /dev/tty and the log, when available. A log that cannot be
    /// used safely (a symbolic link, another user's file, not a file) is
    /// named on the terminal and not written.
    pub fn open(log_path: Option<&std::path::Path>) -> Terminal {
        let tty = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/tty")
            .ok();
        let mut term = Terminal {
            tty,
            log: None,
            status_shown: std::sync::atomic::AtomicBool::new(false),
        };
        if let Some(p) = log_path {
            match gitsign::logfile::open(p) {
                Ok(f) => term.log = Some(f),
                Err(why) => term.show(&format!("{why}; nothing is logged")),
            }
        }
        term
    }

    /// Writes a line to the terminal (stderr when there is none) only.
    fn show(&self, text: &str) {
        let mut line = format!("gitsign: {}\n", escaped(text));
        if self.status_shown.swap(false, Ordering::Relaxed) {
            line.insert_str(0, ERASE_LINE);
        }
        match self.tty.as_ref() {
            Some(mut t) => {
                let _ = t.write_all(line.as_bytes());
            }
            None => {
                let _ = std::io::stderr().write_all(line.as_bytes());
            }
        }
    }

    /// Writes a line to the terminal (stderr when there is none) and the log.
    pub fn say(&self, text: &str) {
        self.show(text);
        self.log(text);
    }

    /// Writes a line to the log file only (routine facts not worth the terminal).
    pub fn log(&self, text: &str) {
        if let Some(mut l) = self.log.as_ref() {
            let stamp = gitsign::encoding::time::format_time(gitsign::encoding::time::now());
            let _ = l.write_all(format!("{stamp} gitsign: {}\n", escaped(text)).as_bytes());
        }
    }

    /// Writes an error to stderr (git shows it when signing fails) and the log.
    pub fn error(&self, text: &str) {
        let _ = std::io::stderr().write_all(format!("gitsign: {}\n", escaped(text)).as_bytes());
        self.log(text);
    }
}

/// `text` with every line made printable (`gitsign::encoding::text::printable`):
/// messages carry certificate identities, server words and cached
/// entries' fields, none of which may steer the terminal; our own line
/// breaks stay.
fn escaped(text: &str) -> String {
    text.split('\n')
        .map(|l| gitsign::encoding::text::printable(l).into_owned())
        .collect::<Vec<_>>()
        .join("\n")
}

impl oidc::Messages for Terminal {
    fn say(&self, text: &str) {
        Terminal::say(self, text);
    }

    /// The login URL and device codes: the terminal only. Whoever can read
    /// the log could finish the login with their own account.
    fn say_private(&self, text: &str) {
        self.show(text);
        self.log(
            "login instructions shown on the terminal (not logged: they carry the login's secrets)",
        );
    }

    /// A countdown while a login waits: redrawn in place, on the terminal
    /// only (not stderr, which git keeps until signing ends; not the log).
    fn waiting(&self, text: &str) {
        if let Some(mut t) = self.tty.as_ref() {
            let line = format!(
                "{ERASE_LINE}gitsign: {}",
                gitsign::encoding::text::printable(text)
            );
            if t.write_all(line.as_bytes())
                .and_then(|()| t.flush())
                .is_ok()
            {
                self.status_shown.store(true, Ordering::Relaxed);
            }
        }
    }

    fn done_waiting(&self) {
        if self.status_shown.swap(false, Ordering::Relaxed) {
            if let Some(mut t) = self.tty.as_ref() {
                let _ = t.write_all(ERASE_LINE.as_bytes());
            }
        }
    }
}

/// Moves to the start of the terminal's line and erases it.
const ERASE_LINE: &str = "\r\x1b[K";

/// Logs in and gets a fresh certificate.
pub fn fresh_credential(
    config: &Config,
    root: &TrustedRoot,
    http: &Http,
    term: &Terminal,
) -> Result<Credential, String> {
    let settings = oidc::OidcSettings::from_config(config).map_err(|e| e.to_string())?;
    let token = oidc::get_token(&settings, http, term)
        .map_err(|e| format!("cannot get an identity token: {e}"))?;
    let fulcio = FulcioClient::new(&config.fulcio, http.clone());
    sign::request_credential(
        &fulcio,
        token.raw(),
        token.challenge(),
        root,
        gitsign::encoding::time::now(),
    )
    .map_err(|e| format!("cannot get a signing certificate: {e}"))
}

/// A credential from the cache, or a login (stored for the next signature).
/// `identity` is what the signature asks for (the committer under
/// gitsign.matchCommitter, else git's `-u`): part of the cache key.
/// `accept` says whether a credential may sign this signature: a cached
/// one it refuses is not used, a fresh one it refuses is not cached.
pub fn cached_credential(
    config: &Config,
    root: &TrustedRoot,
    http: &Http,
    term: &Terminal,
    identity: &str,
    accept: &dyn Fn(&Credential) -> Result<(), String>,
) -> Result<Credential, String> {
    let backend = cache::Backend::from_config(config)?;
    let key = cache::key_for(config, cache::scope(config), identity);
    // Wait for another process's login at most as long as a login may
    // take, and at most cache::MAX_CLAIM_WAIT; then log in ourselves.
    let wait = config.login_timeout;
    let mut login = || fresh_credential(config, root, http, term);
    let say = |text: &str| term.say(text);
    let checks = cache::Checks { accept, say: &say };
    let (cred, outcome) = cache::credential(&backend, &key, root, wait, &checks, &mut login)?;
    match outcome {
        cache::Outcome::Hit => term.log("credential served from the cache"),
        cache::Outcome::Stored => term.log("new credential stored in the cache"),
        cache::Outcome::Bypassed(why) => term.log(&format!("credential cache not used: {why}")),
        // Every signature logs in until the user fixes this: say so where
        // they look, not only in the log.
        cache::Outcome::Broken(why) => term.say(&format!("credential cache not used: {why}")),
    }
    Ok(cred)
}

fn read_payload(a: &GpgArgs) -> Result<Vec<u8>, String> {
    let mut buf = Vec::new();
    match a.files.as_slice() {
        [] => {
            std::io::stdin()
                .lock()
                .take(MAX_PAYLOAD + 1)
                .read_to_end(&mut buf)
                .map_err(|e| format!("cannot read the data to sign from stdin: {e}"))?;
        }
        [f] if f.as_os_str() == "-" => {
            std::io::stdin()
                .lock()
                .take(MAX_PAYLOAD + 1)
                .read_to_end(&mut buf)
                .map_err(|e| format!("cannot read the data to sign from stdin: {e}"))?;
        }
        [f] => {
            std::fs::File::open(f)
                .and_then(|h| h.take(MAX_PAYLOAD + 1).read_to_end(&mut buf))
                .map_err(|e| format!("cannot read {}: {e}", f.display()))?;
        }
        _ => return Err("usage: gitsign -bsau KEY [FILE]: sign one input".into()),
    }
    if buf.len() as u64 > MAX_PAYLOAD {
        return Err(format!(
            "the data to sign is larger than {MAX_PAYLOAD} bytes"
        ));
    }
    Ok(buf)
}

/// Runs the signing mode.
pub fn run(a: &GpgArgs, status: &mut StatusFd) -> u8 {
    // Before any key or token is in memory: a crash or a SIGQUIT must not
    // write them into a core file (git runs gitsign in the work tree, where
    // `core_pattern=core` would put it).
    let hardened = gitsign::harden::no_core_dumps();
    let mut config = match Config::load() {
        Ok(c) => c,
        Err(e) => {
            crate::error(format!("configuration error: {e}"));
            return exit::ERROR;
        }
    };
    let term = Terminal::open(config.log_path.as_deref());
    if let Err(why) = hardened {
        // `ulimit` is a Unix shell's; elsewhere the sentence ends at the risk.
        let fix = if cfg!(unix) {
            ": run `ulimit -c 0` in the shell that runs git"
        } else {
            ""
        };
        term.say(&format!(
            "{why}; signing goes on, but a crash now could write the signing key into a core \
             file{fix}"
        ));
    }
    let trust =
        match gitsign::sigstore::tuf::select(&config, gitsign::sigstore::tuf::Network::WhenDue) {
            Ok(t) => t,
            Err(e) => {
                term.error(&format!("signing failed: trust configuration error: {e}"));
                return exit::INVALID;
            }
        };
    for n in &trust.notes {
        term.say(&format!("gitsign: {n}"));
    }
    if let Some(sc) = &trust.signing_config {
        match gitsign::sigstore::tuf::apply_signing_config(
            &mut config,
            sc,
            gitsign::encoding::time::now(),
        ) {
            Ok(notes) => {
                for n in notes {
                    term.log(&n);
                }
            }
            Err(e) => {
                term.error(&format!("signing failed: {e}"));
                return exit::INVALID;
            }
        }
    }
    match sign_flow(a, &config, &trust.root, &term) {
        Ok((out, status_text)) => {
            let mut stdout = std::io::stdout().lock();
            if stdout.write_all(&out).and_then(|_| stdout.flush()).is_err() {
                term.error("cannot write the signature to stdout");
                return exit::ERROR;
            }
            status.write(&status_text);
            exit::OK
        }
        Err(e) => {
            term.error(&format!("signing failed: {e}"));
            exit::INVALID
        }
    }
}

/// The Rekor log signatures go to and the API it speaks: `gitsign.rekor`
/// and `gitsign.rekorVersion` (a signing config's choice of log, of the
/// version asked for, is already applied to `config`).
fn signing_log(config: &Config, http: &Http) -> RekorClient {
    RekorClient::new(&config.rekor, http.clone()).with_api(config.rekor_api)
}

fn sign_flow(
    a: &GpgArgs,
    config: &Config,
    root: &gitsign::sigstore::trust::TrustedRoot,
    term: &Terminal,
) -> Result<(Vec<u8>, String), String> {
    let payload = read_payload(a)?;
    let http = Http::new(config.timeout).map_err(|e| e.to_string())?;
    let tsa = config
        .timestamp_url
        .as_deref()
        .map(|url| TsaClient::new(url, http.clone()));
    let rekor = signing_log(config, &http);
    // What Rekor v2 cannot do is refused before anyone logs in.
    sign::check_rekor_setup(rekor.api(), config.rekor_mode, tsa.is_some())
        .map_err(|e| e.to_string())?;
    let committer = sign::Committer::of(
        &payload,
        &sign::Committer {
            name: config.committer_name.clone(),
            email: config.committer_email.clone(),
        },
    );
    let attempt = |cred: &Credential| {
        if config.match_committer {
            sign::check_committer(cred.leaf(), &committer)?;
        }
        let now = gitsign::encoding::time::now();
        sign::sign_payload_timestamped(
            &payload,
            cred,
            &rekor,
            root,
            config.rekor_mode,
            now,
            tsa.as_ref(),
        )
        .map(|sig| (sig, now))
    };
    // The identity this signature asks for decides which cached
    // credential may serve it.
    let identity = if config.match_committer {
        committer.cache_identity()
    } else {
        a.local_user.clone().unwrap_or_default()
    };
    // Under gitsign.matchCommitter a credential for another identity
    // neither serves this signature from the cache nor is cached.
    let accept = |cred: &Credential| {
        if config.match_committer {
            sign::check_committer(cred.leaf(), &committer).map_err(|e| e.to_string())
        } else {
            Ok(())
        }
    };
    let cred = cached_credential(config, root, &http, term, &identity, &accept)?;
    let (sig, now) = match attempt(&cred) {
        // The daemon holding the key died or lost it mid-signature: a
        // cache failure never stops signing, so log in as without one.
        Err(SignError::Agent(why)) => {
            term.log(&format!("credential cache not used: {why}"));
            let cred = fresh_credential(config, root, &http, term)?;
            attempt(&cred).map_err(|e| e.to_string())?
        }
        other => other.map_err(|e| e.to_string())?,
    };
    let stamped = match &sig.timestamp {
        Some(ts) => format!(
            "; timestamped by {} at {}",
            ts.tsa_name(),
            gitsign::encoding::time::format_time(ts.gen_time)
        ),
        None => String::new(),
    };
    let ident = gitsign::git::gpg::uid(&sig.certificate);
    // One write: stderr is unbuffered.
    let line = format!(
        "gitsign: signed as {ident}; Rekor{} entry {} ({}){stamped}\n",
        if sig.entry.is_v2() { " v2" } else { "" },
        sig.entry.log_index,
        match config.rekor_mode {
            gitsign::config::RekorMode::Offline => "embedded in the signature",
            gitsign::config::RekorMode::Online => "online mode",
        }
    );
    let _ = std::io::stderr().write_all(line.as_bytes());
    let out = if a.armor {
        sig.armored.clone().into_bytes()
    } else {
        gitsign::pki::cms::unarmor(sig.armored.as_bytes()).map_err(|e| e.0)?
    };
    let status_text = format!(
        "{}{}",
        gitsign::git::gpg::begin_signing(),
        gitsign::git::gpg::sig_created(&sig.certificate, now)
    );
    Ok((out, status_text))
}
