//! gpg's `--status-fd` protocol, as git parses it (gpg-interface.c): the
//! lines that fill `%G?`, `%GK`, `%GS`, `%GF`, `%GP`, `%GT`.

use crate::encoding::asn1::hex_upper;
use crate::encoding::time::format_time;
use crate::pki::crypto::{Hash, PublicKey};
use crate::pki::x509::{name_to_string, Certificate};
use crate::policy::Decision;
use crate::verify::{Failure, FailureKind, Verified};

/// The status-line prefix.
pub const PREFIX: &str = "[GNUPG:] ";

/// Upper-case hex SHA-256 of a certificate: the fingerprint we report.
pub fn fingerprint(cert: &Certificate) -> String {
    hex_upper(&cert.fingerprint())
}

fn pubkey_algo(cert: &Certificate) -> u8 {
    match cert.public_key() {
        Ok(PublicKey::Rsa(_)) => 1,
        Ok(PublicKey::Ed25519(_)) => 22,
        _ => 19, // ECDSA
    }
}

fn hash_algo(h: Hash) -> u8 {
    match h {
        Hash::Sha1 => 2,
        Hash::Sha256 => 8,
        Hash::Sha384 => 9,
        Hash::Sha512 => 10,
    }
}

/// The user id shown by `%GS`: the certificate identity, or the subject
/// for non-Fulcio certificates.
pub fn uid(cert: &Certificate) -> String {
    let sans = cert.subject_alt_names().unwrap_or_default();
    let id = sans
        .iter()
        .find_map(|s| s.identity())
        .unwrap_or_else(|| name_to_string(cert.subject()));
    // One line (git takes the rest of the line), nothing that could steer
    // the terminal `git log` prints %GS on.
    crate::encoding::text::printable(&id).into_owned()
}

/// Status lines for a verified signature and the policy's decision.
pub fn good(v: &Verified, decision: &Decision) -> String {
    let fpr = fingerprint(&v.certificate);
    let issuer_fpr = fingerprint(&v.issuer);
    let date = &format_time(v.time)[..10];
    let trust = match decision {
        Decision::Trusted => "TRUST_FULLY 0 shell",
        Decision::NoPolicy => "TRUST_UNDEFINED 0 shell",
        Decision::Rejected(_) => "TRUST_NEVER 0 shell",
    };
    format!(
        "{PREFIX}NEWSIG\n{PREFIX}GOODSIG {fpr} {uid}\n{PREFIX}VALIDSIG {fpr} {date} {t} {exp} 0 - {pk} {h} 00 {issuer_fpr}\n{PREFIX}{trust}\n",
        uid = uid(&v.certificate),
        t = v.time,
        exp = v.certificate.not_after,
        pk = pubkey_algo(&v.certificate),
        h = hash_algo(Hash::Sha256),
    )
}

/// Status lines for a failed verification. BADSIG when the signature is
/// wrong or its certificate untrusted (with the certificate, so `%GK`/`%GS`
/// say who it claimed to be); ERRSIG when it could not be checked at all.
pub fn failed(f: &Failure) -> String {
    match (&f.certificate, f.kind) {
        (Some(cert), FailureKind::BadSignature | FailureKind::Untrusted) => {
            format!(
                "{PREFIX}NEWSIG\n{PREFIX}BADSIG {} {}\n",
                fingerprint(cert),
                uid(cert)
            )
        }
        (Some(cert), _) => format!(
            "{PREFIX}NEWSIG\n{PREFIX}ERRSIG {fpr} {} {} 00 0 9 {fpr}\n",
            pubkey_algo(cert),
            hash_algo(Hash::Sha256),
            fpr = fingerprint(cert)
        ),
        (None, _) => errsig_unknown(),
    }
}

/// ERRSIG for a signature with no usable certificate.
pub fn errsig_unknown() -> String {
    format!("{PREFIX}NEWSIG\n{PREFIX}ERRSIG 0000000000000000 0 0 00 0 9\n")
}

/// The lines git waits for while signing.
pub fn begin_signing() -> String {
    format!("{PREFIX}BEGIN_SIGNING\n")
}

/// `SIG_CREATED` for a detached signature made now with a certificate.
pub fn sig_created(cert: &Certificate, timestamp: i64) -> String {
    format!(
        "{PREFIX}SIG_CREATED D {} {} 00 {timestamp} {}\n",
        pubkey_algo(cert),
        hash_algo(Hash::Sha256),
        fingerprint(cert)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert(pem: &str) -> Certificate {
        let block = crate::encoding::pem::decode_all(pem)
            .unwrap()
            .into_iter()
            .next()
            .unwrap();
        Certificate::from_der(block.der).unwrap()
    }

    /// What git reads while it signs: BEGIN_SIGNING, then SIG_CREATED with
    /// the detached-signature mark, key and hash algorithms, class 00, the
    /// time and the fingerprint (git checks for "SIG_CREATED ").
    #[test]
    fn signing_status_lines() {
        assert_eq!(begin_signing(), "[GNUPG:] BEGIN_SIGNING\n");
        let c = cert(include_str!("../../tests/fixtures/keys/p256-cert.pem"));
        assert_eq!(
            sig_created(&c, 1_700_000_000),
            format!(
                "[GNUPG:] SIG_CREATED D 19 8 00 1700000000 {}\n",
                fingerprint(&c)
            )
        );
        assert_eq!(fingerprint(&c).len(), 64);
    }

    /// VALIDSIG's public-key algorithm, as gpg numbers them (RFC 4880
    /// 9.1): RSA 1, ECDSA 19, EdDSA 22.
    #[test]
    fn public_key_algorithms_are_gpgs_numbers() {
        assert_eq!(
            pubkey_algo(&cert(include_str!(
                "../../tests/fixtures/keys/rsa-cert.pem"
            ))),
            1
        );
        assert_eq!(
            pubkey_algo(&cert(include_str!(
                "../../tests/fixtures/keys/ed25519-cert.pem"
            ))),
            22
        );
        assert_eq!(
            pubkey_algo(&cert(include_str!(
                "../../tests/fixtures/keys/p256-cert.pem"
            ))),
            19
        );
    }
}
