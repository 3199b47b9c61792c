//! Human summaries of verification results (stderr for git, stdout for
//! `gitsign verify`).

use crate::encoding::time::format_time;
use crate::git::gpg::fingerprint;
use std::net::{Ipv4Addr, Ipv6Addr};

use crate::encoding::oid;
use crate::pki::x509::{name_to_string, Certificate, GeneralName};
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
    let sans = go_subject_alt_names(&v.certificate);
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

/// The subject alternative names as Go gitsign's summary lists them
/// (sigstore's `cryptoutils.GetSubjectAlternateNames`): DNS names,
/// emails, IP addresses, URIs, then other names' string values. Read
/// through `x509-cert`: this is display after verification, off the
/// per-signature path that keeps our zero-copy parser (src/pki/x509.rs).
/// A certificate the crate cannot read (none in the corpus) is listed
/// through our parser instead.
fn go_subject_alt_names(cert: &Certificate) -> Vec<String> {
    use x509_cert::der::{Decode, Tag, Tagged};
    use x509_cert::ext::pkix::name::GeneralName as Name;
    use x509_cert::ext::pkix::SubjectAltName;
    let decoded = x509_cert::Certificate::from_der(cert.der()).ok();
    let san = decoded.as_ref().map(|c| {
        c.tbs_certificate
            .extensions
            .iter()
            .flatten()
            .find(|e| e.extn_id.as_bytes() == oid::SUBJECT_ALT_NAME)
            .map(|e| SubjectAltName::from_der(e.extn_value.as_bytes()))
    });
    let names = match san {
        Some(None) => return Vec::new(),
        Some(Some(Ok(san))) => san.0,
        _ => {
            return cert
                .subject_alt_names()
                .unwrap_or_default()
                .iter()
                .filter_map(GeneralName::identity)
                .collect()
        }
    };
    let ip = |b: &[u8]| match b.len() {
        4 => <[u8; 4]>::try_from(b)
            .ok()
            .map(|a| Ipv4Addr::from(a).to_string()),
        // Go prints an IPv4-mapped address as IPv4.
        16 => <[u8; 16]>::try_from(b).ok().map(|a| {
            let v6 = Ipv6Addr::from(a);
            v6.to_ipv4_mapped()
                .map_or_else(|| v6.to_string(), |v4| v4.to_string())
        }),
        _ => None,
    };
    let mut out = Vec::new();
    for rank in 0..5 {
        for n in &names {
            let s = match (rank, n) {
                (0, Name::DnsName(s))
                | (1, Name::Rfc822Name(s))
                | (3, Name::UniformResourceIdentifier(s)) => Some(s.to_string()),
                (2, Name::IpAddress(b)) => ip(b.as_bytes()),
                (4, Name::OtherName(o)) => Some(match o.value.tag() {
                    Tag::Utf8String | Tag::PrintableString | Tag::Ia5String => {
                        String::from_utf8_lossy(o.value.value()).into_owned()
                    }
                    _ => crate::encoding::asn1::hex_lower(o.value.value()),
                }),
                _ => None,
            };
            out.extend(s);
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf(file: &str) -> Certificate {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/objects/gitsign")
            .join(file);
        let data = std::fs::read(path).unwrap();
        let s = crate::git::gitobj::split_commit(&data, crate::git::gitobj::HashAlgo::Sha1)
            .unwrap()
            .unwrap();
        let der = crate::pki::cms::unarmor(&s.signature).unwrap();
        let sd = crate::pki::cms::SignedData::from_der(&der).unwrap();
        sd.signer_certificate().unwrap().clone()
    }

    #[test]
    fn go_summary_names_are_the_certificates_sans() {
        // An email identity, and a GitHub Actions workflow URI (as openssl
        // prints it; tests/corpus_library.rs).
        for (file, want) in [
            (
                "gs_commit_offline_latest.commit",
                leaf("gs_commit_offline_latest.commit")
                    .subject_alt_names()
                    .unwrap()
                    .iter()
                    .filter_map(GeneralName::identity)
                    .collect::<Vec<_>>(),
            ),
            (
                "gittuf_rsl_workflow_2025.commit",
                vec!["https://github.com/gittuf/gittuf/.github/workflows/gittuf-rsl-main.yml@refs/heads/main".to_string()],
            ),
        ] {
            let got = go_subject_alt_names(&leaf(file));
            assert!(!got.is_empty(), "{file}");
            assert_eq!(got, want, "{file}");
        }
    }
}
