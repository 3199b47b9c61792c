//! `gitsign attest`: signs a predicate file as an in-toto statement about
//! HEAD's commit or tree and stores it under refs/attestations/, as Go
//! gitsign does (see `gitsign::git::attest`).

use std::io::Read;

use gitsign::config::Config;
use gitsign::git::attest::{self, AttestError};
use gitsign::git::Git;
use gitsign::sign::{self, Credential, SignError};
use gitsign::sigstore::http::Http;
use gitsign::sigstore::rekor::RekorClient;

use crate::args::{AttestArgs, AttestObject};
use crate::exit;
use crate::signmode::{cached_credential, fresh_credential, Terminal};

/// Why attest stopped, and the status that says so.
enum Failure {
    /// Nothing could be decided: usage, input, configuration, git.
    Error(String),
    /// Signing or logging failed a check.
    Invalid(String),
}

impl From<AttestError> for Failure {
    fn from(e: AttestError) -> Failure {
        Failure::Error(e.0)
    }
}

/// Runs `gitsign attest`.
pub fn run(a: &AttestArgs) -> u8 {
    // Before any key or token is in memory (as for signing).
    let hardened = gitsign::harden::no_core_dumps();
    let config = match Config::load() {
        Ok(c) => c,
        Err(e) => {
            crate::error(format!("configuration error: {e}"));
            return exit::ERROR;
        }
    };
    let term = Terminal::open(config.log_path.as_deref());
    if let Err(why) = hardened {
        term.say(&format!(
            "{why}; attesting goes on, but a crash now could write the signing key into a core file"
        ));
    }
    match attest_flow(a, config, &term) {
        Ok((entry, commit)) => {
            // Go gitsign's two lines.
            crate::stdout_line(&format!(
                "LogEntry ID {} {}",
                gitsign::encoding::asn1::hex_lower(&entry.log_id),
                entry.log_index
            ));
            crate::stdout_line(&commit);
            exit::OK
        }
        Err(Failure::Error(e)) => {
            term.error(&format!("attest failed: {e}"));
            exit::ERROR
        }
        Err(Failure::Invalid(e)) => {
            term.error(&format!("attest failed: {e}"));
            exit::INVALID
        }
    }
}

fn read_predicate(path: &std::path::Path) -> Result<Vec<u8>, Failure> {
    let mut buf = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| {
            f.take(attest::MAX_PREDICATE as u64 + 1)
                .read_to_end(&mut buf)
        })
        .map_err(|e| Failure::Error(format!("cannot read {}: {e}", path.display())))?;
    Ok(buf)
}

/// The object attested: HEAD's commit or its tree, and the ref and digest
/// name that go with it.
fn target(git: &Git, obj: AttestObject) -> Result<(String, &'static str, &'static str), Failure> {
    let (rev, ref_name, digest) = match obj {
        AttestObject::Commit => ("HEAD^{commit}", attest::COMMIT_REF, attest::DIGEST_COMMIT),
        AttestObject::Tree => ("HEAD^{tree}", attest::TREE_REF, attest::DIGEST_TREE),
    };
    let out = git
        .output(&["rev-parse", "--verify", "--quiet", rev])
        .map_err(|_| {
            Failure::Error("HEAD names no commit yet; commit first, then attest it".into())
        })?;
    Ok((
        String::from_utf8_lossy(&out).trim().to_string(),
        ref_name,
        digest,
    ))
}

fn attest_flow(
    a: &AttestArgs,
    mut config: Config,
    term: &Terminal,
) -> Result<(gitsign::sigstore::tlog::LogEntry, String), Failure> {
    // Everything that can be checked is, before anyone logs in.
    gitsign::git::discover_repo().map_err(Failure::Error)?;
    let git = Git::new();
    let name = attest::file_name(&a.filepath).ok_or_else(|| {
        Failure::Error(format!(
            "{} names no file; pass the predicate file with -f",
            a.filepath.display()
        ))
    })?;
    let predicate = read_predicate(&a.filepath)?;
    let (id, ref_name, digest) = target(&git, a.objtype)?;
    let predicate_type = attest::predicate_type(&a.predicate_type);
    let payload = attest::statement(&predicate, &predicate_type, digest, &id)?;
    gitsign::git::attest_store::current(&git, ref_name)?;

    let trust = gitsign::sigstore::tuf::select(&config, gitsign::sigstore::tuf::Network::WhenDue)
        .map_err(|e| Failure::Error(format!("trust configuration error: {e}")))?;
    for n in &trust.notes {
        term.say(&format!("gitsign: {n}"));
    }
    if let Some(sc) = &trust.signing_config {
        let notes = gitsign::sigstore::tuf::apply_signing_config(
            &mut config,
            sc,
            gitsign::encoding::time::now(),
        )
        .map_err(|e| Failure::Error(e.to_string()))?;
        for n in notes {
            term.log(&n);
        }
    }
    let root = &trust.root;
    let http = Http::new(config.timeout).map_err(|e| Failure::Error(e.to_string()))?;
    let rekor = RekorClient::new(&config.rekor, http.clone()).with_api(config.rekor_api);
    if rekor.api() != gitsign::sigstore::rekor::RekorApi::V1 {
        return Err(Failure::Error(
            "attestations are logged through the Rekor v1 API (as Go gitsign logs them); \
             set gitsign.rekorVersion to 1 and gitsign.rekor to a v1 log"
                .into(),
        ));
    }

    let pae = attest::pae(&payload);
    let accept = |_: &Credential| Ok(());
    // No certificate (no login, no Fulcio) decides nothing about the
    // attestation: status 2, as for an unreachable service.
    let mut cred =
        cached_credential(&config, root, &http, term, "", &accept).map_err(Failure::Error)?;
    let signature = match cred.sign(&pae) {
        // The daemon holding the key died or lost it: log in as without one.
        Err(SignError::Agent(why)) => {
            term.log(&format!("credential cache not used: {why}"));
            cred = fresh_credential(&config, root, &http, term).map_err(Failure::Error)?;
            cred.sign(&pae)
        }
        other => other,
    }
    .map_err(|e| Failure::Invalid(e.to_string()))?;
    let envelope = attest::envelope(&payload, &signature);
    let cert = cred.leaf();
    let entry = rekor
        .create_dsse(
            &envelope,
            &gitsign::encoding::pem::encode("CERTIFICATE", cert.der()),
        )
        .map_err(|e| Failure::Error(format!("cannot log the attestation: {e}")))?;
    sign::check_dsse_entry(&entry, &payload, &signature, cert, root)
        .map_err(|e| Failure::Invalid(e.to_string()))?;
    let who = gitsign::git::gpg::uid(cert);

    let message = format!("Gitsign attest {}", String::from_utf8_lossy(&name));
    let commit = gitsign::git::attest_store::add(
        &git,
        ref_name,
        &id,
        &name,
        &predicate,
        envelope.as_bytes(),
        &message,
    )?;
    tell!(
        "gitsign: attested {id} as {who} ({predicate_type}); Rekor entry {}; {ref_name} is now {commit}",
        entry.log_index
    );
    Ok((entry, commit))
}
