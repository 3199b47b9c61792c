//! Human summaries of verification results (stderr for git, stdout for
//! `gitsign verify`).

use crate::encoding::time::format_time;
use crate::git::gpg::fingerprint;
use crate::pki::x509::{name_to_string, GeneralName};
use crate::policy::Decision;
use crate::verify::{Failure, FailureKind, TimeSource, TlogStatus, Verified};

/// Lines describing a verified signature (no trailing newline on the last).
pub fn verified_lines(v: &Verified, decision: &Decision) -> Vec<String> {
    let issuer = v.claims.issuer.as_deref().unwrap_or("(no issuer recorded)");
    // "Good signature" is what scripts written for gpg and Go gitsign look
    // for: never for a signer the policy rejects.
    let mut out = vec![match decision {
        Decision::Rejected(_) => format!(
            "Valid signature from {} (OIDC issuer {issuer}), but the signer is REJECTED by policy",
            v.claims.identity
        ),
        _ => format!(
            "Good signature from {} (OIDC issuer {issuer})",
            v.claims.identity
        ),
    }];
    match &v.tlog {
        TlogStatus::Embedded(e) | TlogStatus::Online(e) => {
            let how = if matches!(v.tlog, TlogStatus::Embedded(_)) {
                "embedded"
            } else {
                "found online"
            };
            let when = match v.time_source {
                TimeSource::Log => "transparency log time",
                TimeSource::Timestamp => "timestamp authority time",
                TimeSource::SignerClock => "signer's clock",
            };
            out.push(format!(
                "Signed at {} ({when}; log entry {how}): {}",
                format_time(v.time),
                e.describe()
            ));
        }
        TlogStatus::NotChecked(why) => {
            if v.timestamp.is_some() {
                out.push(format!(
                    "Signed at {} (timestamp authority time; NOT confirmed by a transparency log)",
                    format_time(v.time)
                ));
            } else {
                out.push(format!(
                    "Signed at {} (signer's clock; NOT confirmed by a transparency log)",
                    format_time(v.time)
                ));
            }
            out.push(format!(
                "WARNING: the transparency log was not checked: {why}"
            ));
        }
    }
    if let Some(ts) = &v.timestamp {
        // Right after the "Signed at" line.
        out.insert(
            2.min(out.len()),
            format!(
                "Timestamped by {} at {} (RFC 3161 token, serial {}, verified)",
                ts.tsa_name(),
                format_time(ts.gen_time),
                ts.serial
            ),
        );
    }
    out.push(format!(
        "Certificate SHA256:{} issued by {}",
        fingerprint(&v.certificate),
        name_to_string(v.certificate.issuer())
    ));
    out.push(match decision {
        Decision::Trusted => {
            "Signer trusted: identity and issuer match the configured policy".into()
        }
        Decision::NoPolicy => {
            "Signer NOT checked: no identity policy is configured (set gitsign.certificateIdentity \
             and gitsign.certificateOidcIssuer, or use `gitsign verify --certificate-identity ... \
             --certificate-oidc-issuer ...`)"
                .into()
        }
        Decision::Rejected(why) => format!("Signer REJECTED by policy: {why}"),
    });
    out
}

/// Go gitsign's summary of a good signature, line for line as its
/// `gitsign verify` prints it (scripts written for it read these): the
/// Rekor index, the certificate's SHA-1 fingerprint and issuer, every
/// subject alternative name (grouped as Go groups them: DNS, email, IP,
/// URI, then other names) with the OIDC issuer, and its three claims.
/// Only for a signature the policy trusts, as Go prints it only then.
pub fn go_summary_lines(v: &Verified) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(i) = v.tlog.entry().and_then(|e| e.log_index()) {
        out.push(format!("tlog index: {i}"));
    }
    let mut sha1 = gix::hash::hasher(gix::hash::Kind::Sha1);
    sha1.update(v.certificate.der());
    let id = sha1
        .try_finalize()
        .map(|h| h.to_hex().to_string())
        .unwrap_or_else(|_| "(unavailable)".into());
    out.push(format!(
        "gitsign: Signature made using certificate ID 0x{id} | {}",
        name_to_string(v.certificate.issuer())
    ));
    let names = v.certificate.subject_alt_names().unwrap_or_default();
    let mut sans = Vec::new();
    for rank in 0..5 {
        for n in &names {
            let r = match n {
                GeneralName::Dns(_) => 0,
                GeneralName::Email(_) => 1,
                GeneralName::Ip(_) => 2,
                GeneralName::Uri(_) => 3,
                _ => 4,
            };
            if r == rank {
                if let Some(id) = n.identity() {
                    sans.push(id);
                }
            }
        }
    }
    out.push(format!(
        "gitsign: Good signature from [{}]({})",
        sans.join(" "),
        v.claims.issuer.as_deref().unwrap_or("")
    ));
    out.push("Validated Git signature: true".into());
    out.push(format!(
        "Validated Rekor entry: {}",
        v.tlog.entry().is_some()
    ));
    out.push("Validated Certificate claims: true".into());
    out
}

/// Lines describing a failure.
pub fn failure_lines(f: &Failure) -> Vec<String> {
    let head = match f.kind {
        FailureKind::Unparseable => "Cannot check the signature",
        FailureKind::BadSignature => "BAD signature",
        FailureKind::Untrusted => "Signature NOT trusted",
        FailureKind::Unavailable => "Cannot complete verification",
    };
    let mut out = vec![format!("{head}: {}", f.message)];
    if let Some(c) = &f.certificate {
        out.push(format!(
            "Certificate SHA256:{} claims {}",
            fingerprint(c),
            crate::git::gpg::uid(c)
        ));
    }
    out
}
