//! Signed Certificate Timestamps embedded in Fulcio leaves (RFC 6962
//! section 3.3): proof that the certificate was logged in Certificate
//! Transparency, checked against the trusted root's CT log keys.

use crate::encoding::asn1::{self, tag};
use crate::encoding::oid;
use crate::pki::crypto::{self, Hash, SigScheme};
use crate::pki::x509::Certificate;
use crate::sigstore::trust::TrustedRoot;

/// One parsed SCT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sct {
    /// The log's id (SHA-256 of its key).
    pub log_id: [u8; 32],
    /// Milliseconds since the epoch.
    pub timestamp_ms: u64,
    /// CT extensions (normally empty).
    pub extensions: Vec<u8>,
    /// TLS HashAlgorithm.
    pub hash_alg: u8,
    /// TLS SignatureAlgorithm.
    pub sig_alg: u8,
    /// The signature.
    pub signature: Vec<u8>,
}

struct Tls<'a>(&'a [u8]);

impl<'a> Tls<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Some(a)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn u16(&mut self) -> Option<usize> {
        self.take(2)
            .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
    }
    fn vec16(&mut self) -> Option<&'a [u8]> {
        let n = self.u16()?;
        self.take(n)
    }
}

/// Parses a TLS-encoded SCT.
pub fn parse_sct(data: &[u8]) -> Option<Sct> {
    let mut r = Tls(data);
    if r.u8()? != 0 {
        return None; // only v1 exists
    }
    let mut log_id = [0u8; 32];
    log_id.copy_from_slice(r.take(32)?);
    let ts = r.take(8)?;
    let timestamp_ms = u64::from_be_bytes(ts.try_into().ok()?);
    let extensions = r.vec16()?.to_vec();
    let hash_alg = r.u8()?;
    let sig_alg = r.u8()?;
    let signature = r.vec16()?.to_vec();
    r.0.is_empty().then_some(Sct {
        log_id,
        timestamp_ms,
        extensions,
        hash_alg,
        sig_alg,
        signature,
    })
}

/// The SCTs in a certificate's embedded SCT list extension.
pub fn embedded_scts(cert: &Certificate) -> Result<Vec<Sct>, String> {
    let Some(ext) = cert.extension(oid::CT_SCT_LIST) else {
        return Ok(Vec::new());
    };
    let os = asn1::parse_single(ext, tag::OCTET_STRING, "SCT list").map_err(|e| e.to_string())?;
    let mut r = Tls(os.value);
    let list = r.vec16().ok_or("the embedded SCT list is truncated")?;
    if !r.0.is_empty() {
        return Err("the embedded SCT list has trailing bytes".into());
    }
    let mut l = Tls(list);
    let mut out = Vec::new();
    while !l.0.is_empty() {
        let one = l.vec16().ok_or("an embedded SCT is truncated")?;
        out.push(parse_sct(one).ok_or("an embedded SCT is malformed")?);
    }
    Ok(out)
}

/// The bytes an SCT for a precertificate signs (RFC 6962 section 3.2).
pub fn precert_signed_data(sct: &Sct, issuer_spki: &[u8], precert_tbs: &[u8]) -> Vec<u8> {
    let mut d = Vec::with_capacity(precert_tbs.len() + 64);
    d.push(0); // version v1
    d.push(0); // signature_type certificate_timestamp
    d.extend_from_slice(&sct.timestamp_ms.to_be_bytes());
    d.extend_from_slice(&1u16.to_be_bytes()); // entry_type precert_entry
    d.extend_from_slice(&crypto::sha256(issuer_spki));
    let n = precert_tbs.len();
    d.extend_from_slice(&[(n >> 16) as u8, (n >> 8) as u8, n as u8]);
    d.extend_from_slice(precert_tbs);
    d.extend_from_slice(&(sct.extensions.len() as u16).to_be_bytes());
    d.extend_from_slice(&sct.extensions);
    d
}

fn scheme(sct: &Sct) -> Option<SigScheme> {
    let h = match sct.hash_alg {
        4 => Hash::Sha256,
        5 => Hash::Sha384,
        6 => Hash::Sha512,
        _ => return None,
    };
    match sct.sig_alg {
        1 => Some(SigScheme::RsaPkcs1(h)),
        3 => Some(SigScheme::Ecdsa(h)),
        _ => None,
    }
}

/// Verifies that at least one embedded SCT of `leaf` was issued by a CT log
/// of the trusted root (valid at the SCT's time) over this certificate.
/// `issuer` is the CA certificate that signed the leaf.
pub fn verify_embedded(
    leaf: &Certificate,
    issuer: &Certificate,
    root: &TrustedRoot,
) -> Result<u64, String> {
    let scts = embedded_scts(leaf)?;
    if scts.is_empty() {
        return Err(
            "the certificate carries no embedded SCT: it was never logged in Certificate Transparency \
             (gitsign requires at least one valid SCT)"
                .into(),
        );
    }
    let tbs = leaf
        .tbs_without_extensions(&[oid::CT_SCT_LIST])
        .ok_or("cannot rebuild the precertificate to check its SCT")?;
    let mut reasons = Vec::new();
    for sct in &scts {
        let Some(log) = root.ctlog(&sct.log_id) else {
            reasons.push(format!(
                "SCT from unknown CT log {}",
                asn1::hex_lower(&sct.log_id)
            ));
            continue;
        };
        let secs = (sct.timestamp_ms / 1000) as i64;
        if !log.valid_for.contains(secs) {
            reasons.push(format!(
                "the CT log {} was not trusted at the SCT's time",
                log.base_url
            ));
            continue;
        }
        let Some(scheme) = scheme(sct) else {
            reasons.push("SCT uses an unsupported signature algorithm".into());
            continue;
        };
        let data = precert_signed_data(sct, issuer.spki(), &tbs);
        match crypto::verify(&log.key, scheme, &data, &sct.signature) {
            Ok(()) => return Ok(sct.timestamp_ms),
            Err(_) => reasons.push(format!(
                "the SCT signature from {} does not verify",
                log.base_url
            )),
        }
    }
    Err(format!("no valid SCT: {}", reasons.join("; ")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sigstore::trust::{TransparencyLog, Validity};

    // tests/fixtures/sct-ext (made by tests/fixtures/tools/make_sct_ext.py):
    // a leaf whose embedded SCT has a non-empty extensions field, as
    // TesseraCT logs issue them (the leaf index), its CA and the log key.
    const LEAF: &[u8] = include_bytes!("../../tests/fixtures/sct-ext/leaf.der");
    const CA: &[u8] = include_bytes!("../../tests/fixtures/sct-ext/ca.der");
    const CT_SPKI: &[u8] = include_bytes!("../../tests/fixtures/sct-ext/ct.spki.der");

    /// RFC 6962's digitally-signed struct, field by field; the TBS length
    /// is a 24-bit integer (a certificate over 64 KiB uses its top byte).
    #[test]
    fn precert_signed_data_layout() {
        let sct = Sct {
            log_id: [7; 32],
            timestamp_ms: 0x0102_0304_0506_0708,
            extensions: vec![0xee; 3],
            hash_alg: 4,
            sig_alg: 3,
            signature: Vec::new(),
        };
        let tbs = vec![0xaa; 0x01_2345];
        let d = precert_signed_data(&sct, b"spki", &tbs);
        assert_eq!(d[..2], [0, 0]);
        assert_eq!(d[2..10], [1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(d[10..12], [0, 1]);
        assert_eq!(d[12..44], crypto::sha256(b"spki"));
        assert_eq!(d[44..47], [0x01, 0x23, 0x45]);
        assert_eq!(d[47..47 + tbs.len()], tbs[..]);
        assert_eq!(d[47 + tbs.len()..], [0, 3, 0xee, 0xee, 0xee]);
    }

    /// TLS 1.2's HashAlgorithm and SignatureAlgorithm codes (RFC 5246
    /// 7.4.1.4.1), as CT logs sign with them.
    #[test]
    fn signature_schemes() {
        let with = |hash_alg, sig_alg| {
            scheme(&Sct {
                log_id: [0; 32],
                timestamp_ms: 0,
                extensions: Vec::new(),
                hash_alg,
                sig_alg,
                signature: Vec::new(),
            })
        };
        assert_eq!(with(4, 3), Some(SigScheme::Ecdsa(Hash::Sha256)));
        assert_eq!(with(5, 3), Some(SigScheme::Ecdsa(Hash::Sha384)));
        assert_eq!(with(6, 3), Some(SigScheme::Ecdsa(Hash::Sha512)));
        assert_eq!(with(4, 1), Some(SigScheme::RsaPkcs1(Hash::Sha256)));
        for (h, s) in [(2, 3), (3, 3), (4, 2), (4, 7), (0, 0)] {
            assert_eq!(with(h, s), None, "hash {h}, signature {s}");
        }
    }

    fn root(valid_for: Validity) -> TrustedRoot {
        TrustedRoot {
            ctlogs: vec![TransparencyLog {
                base_url: "https://ct.example".into(),
                key: crypto::PublicKey::from_spki(CT_SPKI).unwrap(),
                key_spki: CT_SPKI.to_vec(),
                log_id: crypto::sha256(CT_SPKI).to_vec(),
                valid_for,
                checkpoint_key_id: None,
            }],
            ..Default::default()
        }
    }

    #[test]
    fn scts_with_extensions_verify_over_their_extensions() {
        let leaf = Certificate::from_der(LEAF.to_vec()).unwrap();
        let ca = Certificate::from_der(CA.to_vec()).unwrap();
        let scts = embedded_scts(&leaf).unwrap();
        assert_eq!(scts.len(), 1);
        // leaf_index extension: type 0, length 5, index 123456.
        assert_eq!(scts[0].extensions, [0, 0, 5, 0, 0, 1, 0xe2, 0x40]);
        let ts = verify_embedded(&leaf, &ca, &root(Validity::default())).unwrap();
        assert_eq!(ts, scts[0].timestamp_ms);

        // The signature covers the extensions: change one byte of them (in
        // the certificate, outside the precertificate the SCT signs) and the
        // SCT no longer verifies.
        let mut der = LEAF.to_vec();
        let at = der
            .windows(8)
            .position(|w| w == [0, 0, 5, 0, 0, 1, 0xe2, 0x40])
            .unwrap();
        der[at + 7] ^= 1;
        let forged = Certificate::from_der(der).unwrap();
        let err = verify_embedded(&forged, &ca, &root(Validity::default())).unwrap_err();
        assert!(err.contains("does not verify"), "{err}");
    }

    #[test]
    fn the_ct_log_window_is_checked_at_the_sct_time() {
        let leaf = Certificate::from_der(LEAF.to_vec()).unwrap();
        let ca = Certificate::from_der(CA.to_vec()).unwrap();
        let t = (embedded_scts(&leaf).unwrap()[0].timestamp_ms / 1000) as i64;
        let at_end = Validity {
            start: Some(t - 10),
            end: Some(t),
        };
        assert!(verify_embedded(&leaf, &ca, &root(at_end)).is_ok());
        let ended = Validity {
            start: Some(t - 10),
            end: Some(t - 1),
        };
        let err = verify_embedded(&leaf, &ca, &root(ended)).unwrap_err();
        assert!(err.contains("not trusted at the SCT's time"), "{err}");
    }
}
