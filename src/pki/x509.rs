//! X.509 certificates: a zero-copy view that keeps every signed byte as
//! encoded (TBS, names, SPKI), and the extensions Fulcio and path
//! validation need.
//!
//! Verification reads certificates here rather than through `x509-cert`
//! (which the signing path's CMS encoding, src/pki/cms.rs, and the display
//! of Go's summary, src/report.rs, use): the checks need the bytes as
//! encoded (the TBS its issuer signed, the SPKI, the names compared byte
//! for byte, the TBS rebuilt without its SCT list for CT), where
//! `x509-cert` gives decoded values that would have to be re-encoded, and
//! re-encoding is not always the same bytes (it drops an explicit DEFAULT;
//! tests in src/pki/cms.rs); and it is slower: 23 µs for a Fulcio leaf
//! against our 4 µs (benches/parse.rs, the corpus's offline leaves), per
//! certificate of every signature verified. Both parsers agree on every
//! corpus certificate (serial, names, SPKI, validity, extensions, SANs,
//! the OIDC issuer claim; tests/independent_parse.rs).

use std::fmt;
use std::ops::Range;

use crate::encoding::asn1::{self, tag, Reader, Tlv};
use crate::encoding::oid;
use crate::pki::crypto::{self, PublicKey, SigScheme, VerifyError};

/// Largest certificate accepted (Fulcio leaves are ~1 KiB; CA certs ~2 KiB).
pub const MAX_CERT_LEN: usize = 64 * 1024;

/// A certificate that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertError(pub String);

impl fmt::Display for CertError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid certificate: {}", self.0)
    }
}

impl std::error::Error for CertError {}

impl From<asn1::Error> for CertError {
    fn from(e: asn1::Error) -> Self {
        CertError(e.to_string())
    }
}

/// One extension, as ranges into the certificate.
#[derive(Debug, Clone)]
pub struct Extension {
    oid: Range<usize>,
    /// The critical flag.
    pub critical: bool,
    value: Range<usize>,
    raw: Range<usize>,
}

/// A parsed certificate that owns its DER.
#[derive(Clone)]
pub struct Certificate {
    der: Vec<u8>,
    tbs: Range<usize>,
    sig_alg: Range<usize>,
    signature: Range<usize>,
    serial: Range<usize>,
    issuer: Range<usize>,
    subject: Range<usize>,
    spki: Range<usize>,
    /// The `[3]` element holding the extensions (for CT precertificate rebuilding).
    ext_wrapper: Option<Range<usize>>,
    /// Version: 0 for v1, 2 for v3.
    pub version: u64,
    /// notBefore, seconds since the epoch.
    pub not_before: i64,
    /// notAfter, seconds since the epoch.
    pub not_after: i64,
    extensions: Vec<Extension>,
}

impl fmt::Debug for Certificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Certificate")
            .field("subject", &name_to_string(self.subject()))
            .field("issuer", &name_to_string(self.issuer()))
            .field("serial", &asn1::hex_lower(self.serial()))
            .finish()
    }
}

impl PartialEq for Certificate {
    fn eq(&self, other: &Self) -> bool {
        self.der == other.der
    }
}

impl Eq for Certificate {}

/// A subjectAltName entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GeneralName {
    /// rfc822Name
    Email(String),
    /// uniformResourceIdentifier
    Uri(String),
    /// dNSName
    Dns(String),
    /// iPAddress (raw octets)
    Ip(Vec<u8>),
    /// otherName with a string value (Fulcio's username identities)
    Other {
        /// type-id, dotted
        oid: String,
        /// the value, when it is a string
        value: String,
    },
    /// Any other form (tag given).
    Unsupported(u8),
}

impl GeneralName {
    /// The identity string a policy matches: the email, URI, DNS name or
    /// otherName value.
    pub fn identity(&self) -> Option<String> {
        match self {
            GeneralName::Email(s) | GeneralName::Uri(s) | GeneralName::Dns(s) => Some(s.clone()),
            GeneralName::Other { value, .. } => Some(value.clone()),
            GeneralName::Ip(b) if b.len() == 4 => {
                Some(b.iter().map(u8::to_string).collect::<Vec<_>>().join("."))
            }
            _ => None,
        }
    }
}

impl Certificate {
    /// Parses DER. Trailing bytes and oversized input are refused.
    pub fn from_der(der: Vec<u8>) -> Result<Certificate, CertError> {
        if der.len() > MAX_CERT_LEN {
            return Err(CertError(format!(
                "{} bytes is larger than the {MAX_CERT_LEN}-byte limit",
                der.len()
            )));
        }
        let parsed = parse(&der)?;
        Ok(Certificate { der, ..parsed })
    }

    /// Parses a PEM `CERTIFICATE` block.
    pub fn from_pem(text: &str) -> Result<Certificate, CertError> {
        let der = crate::encoding::pem::decode_one(text, "CERTIFICATE")
            .map_err(|e| CertError(e.to_string()))?;
        Certificate::from_der(der)
    }

    /// The whole certificate.
    pub fn der(&self) -> &[u8] {
        &self.der
    }
    /// The TBSCertificate, exactly as signed.
    pub fn tbs(&self) -> &[u8] {
        &self.der[self.tbs.clone()]
    }
    /// The outer signatureAlgorithm element.
    pub fn signature_algorithm(&self) -> &[u8] {
        &self.der[self.sig_alg.clone()]
    }
    /// The signature value.
    pub fn signature(&self) -> &[u8] {
        &self.der[self.signature.clone()]
    }
    /// The serial number's INTEGER contents.
    pub fn serial(&self) -> &[u8] {
        &self.der[self.serial.clone()]
    }
    /// The issuer Name element, as encoded.
    pub fn issuer(&self) -> &[u8] {
        &self.der[self.issuer.clone()]
    }
    /// The subject Name element, as encoded.
    pub fn subject(&self) -> &[u8] {
        &self.der[self.subject.clone()]
    }
    /// The SubjectPublicKeyInfo element.
    pub fn spki(&self) -> &[u8] {
        &self.der[self.spki.clone()]
    }
    /// The subject public key.
    pub fn public_key(&self) -> Result<PublicKey, CertError> {
        PublicKey::from_spki(self.spki()).map_err(CertError)
    }
    /// SHA-256 of the DER, the fingerprint we report.
    pub fn fingerprint(&self) -> [u8; 32] {
        crypto::sha256(&self.der)
    }
    /// Extensions in order.
    pub fn extensions(&self) -> impl Iterator<Item = (&[u8], bool, &[u8])> {
        self.extensions.iter().map(|e| {
            (
                &self.der[e.oid.clone()],
                e.critical,
                &self.der[e.value.clone()],
            )
        })
    }
    /// The value (OCTET STRING contents) of the extension `id`, if present.
    pub fn extension(&self, id: &[u8]) -> Option<&[u8]> {
        self.extensions
            .iter()
            .find(|e| &self.der[e.oid.clone()] == id)
            .map(|e| &self.der[e.value.clone()])
    }
    /// True if extension `id` is present and marked critical.
    pub fn is_critical(&self, id: &[u8]) -> bool {
        self.extensions
            .iter()
            .any(|e| &self.der[e.oid.clone()] == id && e.critical)
    }

    /// Checks this certificate's signature with `issuer`'s key.
    pub fn verify_signed_by(&self, issuer: &Certificate) -> Result<(), VerifyError> {
        let key = issuer
            .public_key()
            .map_err(|e| VerifyError::Mismatch(e.to_string()))?;
        self.verify_signed_by_key(&key)
    }

    /// Checks this certificate's signature with `key`.
    pub fn verify_signed_by_key(&self, key: &PublicKey) -> Result<(), VerifyError> {
        let scheme = SigScheme::from_algorithm(self.signature_algorithm(), None)
            .map_err(VerifyError::Mismatch)?;
        crypto::verify(key, scheme, self.tbs(), self.signature())
    }

    /// basicConstraints: (cA, pathLenConstraint), or None when absent.
    pub fn basic_constraints(&self) -> Result<Option<(bool, Option<u64>)>, CertError> {
        let Some(v) = self.extension(oid::BASIC_CONSTRAINTS) else {
            return Ok(None);
        };
        let seq = asn1::parse_single(v, tag::SEQUENCE, "basicConstraints")?;
        let mut r = seq.reader();
        let ca = match r.read_optional(tag::BOOLEAN, "basicConstraints")? {
            Some(b) => b.boolean("basicConstraints")?,
            None => false,
        };
        let path = match r.read_optional(tag::INTEGER, "basicConstraints")? {
            Some(i) => Some(i.small_uint("pathLenConstraint")?),
            None => None,
        };
        r.finish("basicConstraints")?;
        Ok(Some((ca, path)))
    }

    /// keyUsage bits as a u16 (bit 0 = digitalSignature is 0x8000 >> 0 ... we
    /// return the BIT STRING's first two octets big-endian), None when absent.
    pub fn key_usage(&self) -> Result<Option<u16>, CertError> {
        let Some(v) = self.extension(oid::KEY_USAGE) else {
            return Ok(None);
        };
        let t = asn1::parse_single(v, tag::BIT_STRING, "keyUsage")?;
        let (_, bits) = t
            .value
            .split_first()
            .ok_or_else(|| CertError("empty keyUsage".into()))?;
        let hi = bits.first().copied().unwrap_or(0);
        let lo = bits.get(1).copied().unwrap_or(0);
        Ok(Some(u16::from_be_bytes([hi, lo])))
    }

    /// extKeyUsage purposes, None when absent.
    pub fn ext_key_usage(&self) -> Result<Option<Vec<Vec<u8>>>, CertError> {
        let Some(v) = self.extension(oid::EXT_KEY_USAGE) else {
            return Ok(None);
        };
        let seq = asn1::parse_single(v, tag::SEQUENCE, "extKeyUsage")?;
        let mut r = seq.reader();
        let mut out = Vec::new();
        while !r.is_empty() {
            out.push(r.read(tag::OID, "extKeyUsage")?.value.to_vec());
        }
        Ok(Some(out))
    }

    /// subjectKeyIdentifier.
    pub fn subject_key_id(&self) -> Option<&[u8]> {
        let v = self.extension(oid::SUBJECT_KEY_ID)?;
        asn1::parse_single(v, tag::OCTET_STRING, "subjectKeyIdentifier")
            .ok()
            .map(|t| t.value)
    }

    /// authorityKeyIdentifier's keyIdentifier.
    pub fn authority_key_id(&self) -> Option<&[u8]> {
        let v = self.extension(oid::AUTHORITY_KEY_ID)?;
        let seq = asn1::parse_single(v, tag::SEQUENCE, "authorityKeyIdentifier").ok()?;
        let mut r = seq.reader();
        r.read_optional(tag::context(0, false), "keyIdentifier")
            .ok()
            .flatten()
            .map(|t| t.value)
    }

    /// subjectAltName entries (empty when absent).
    pub fn subject_alt_names(&self) -> Result<Vec<GeneralName>, CertError> {
        let Some(v) = self.extension(oid::SUBJECT_ALT_NAME) else {
            return Ok(Vec::new());
        };
        let seq = asn1::parse_single(v, tag::SEQUENCE, "subjectAltName")?;
        let mut r = seq.reader();
        let mut out = Vec::new();
        while !r.is_empty() {
            let gn = r.read_any("subjectAltName")?;
            out.push(parse_general_name(&gn)?);
        }
        Ok(out)
    }

    /// Is this certificate its own issuer (by name)?
    pub fn is_self_issued(&self) -> bool {
        self.issuer() == self.subject()
    }
}

fn parse_general_name(gn: &Tlv<'_>) -> Result<GeneralName, CertError> {
    let text = |v: &[u8], what: &str| {
        String::from_utf8(v.to_vec())
            .map_err(|_| CertError(format!("{what} in subjectAltName is not valid text")))
    };
    Ok(match gn.tag {
        0x81 => GeneralName::Email(text(gn.value, "email")?),
        0x82 => GeneralName::Dns(text(gn.value, "DNS name")?),
        0x86 => GeneralName::Uri(text(gn.value, "URI")?),
        0x87 => GeneralName::Ip(gn.value.to_vec()),
        0xa0 => {
            let mut r = gn.reader();
            let type_id = r.read(tag::OID, "otherName")?;
            let wrapped = r.read(tag::context(0, true), "otherName value")?;
            let inner = asn1::parse_single(
                wrapped.value,
                wrapped.value.first().copied().unwrap_or(0),
                "otherName value",
            )?;
            let value = inner
                .string("otherName value")
                .unwrap_or_else(|_| asn1::hex_lower(inner.value));
            GeneralName::Other {
                oid: asn1::oid_to_string(type_id.value),
                value,
            }
        }
        t => GeneralName::Unsupported(t),
    })
}

fn parse(der: &[u8]) -> Result<Certificate, CertError> {
    let cert = asn1::parse_single(der, tag::SEQUENCE, "Certificate")?;
    let mut r = cert.reader();
    let tbs = r.read(tag::SEQUENCE, "TBSCertificate")?;
    let sig_alg = r.read(tag::SEQUENCE, "signatureAlgorithm")?;
    let sig = r.read(tag::BIT_STRING, "signatureValue")?;
    r.finish("Certificate")?;
    let signature = sig.bit_string("signatureValue")?;

    let mut t = tbs.reader();
    let version = match t.read_optional(tag::context(0, true), "version")? {
        Some(v) => asn1::parse_single(v.value, tag::INTEGER, "version")?.small_uint("version")?,
        None => 0,
    };
    if version > 2 {
        return Err(CertError(format!("unknown version {}", version + 1)));
    }
    let serial = t.read(tag::INTEGER, "serialNumber")?;
    if serial.value.is_empty() || serial.value.len() > 21 {
        return Err(CertError("serial number has an invalid length".into()));
    }
    let inner_alg = t.read(tag::SEQUENCE, "signature")?;
    if inner_alg.raw != sig_alg.raw {
        return Err(CertError(
            "the TBS and outer signature algorithms differ".into(),
        ));
    }
    let issuer = t.read(tag::SEQUENCE, "issuer")?;
    let validity = t.read(tag::SEQUENCE, "validity")?;
    let mut vr = validity.reader();
    let nb = vr.read_any("notBefore")?.time("notBefore")?;
    let na = vr.read_any("notAfter")?.time("notAfter")?;
    vr.finish("validity")?;
    let subject = t.read(tag::SEQUENCE, "subject")?;
    let spki = t.read(tag::SEQUENCE, "subjectPublicKeyInfo")?;
    t.read_optional(tag::context(1, false), "issuerUniqueID")?;
    t.read_optional(tag::context(2, false), "subjectUniqueID")?;
    let mut extensions = Vec::new();
    let mut ext_wrapper = None;
    if let Some(wrapper) = t.read_optional(tag::context(3, true), "extensions")? {
        ext_wrapper = Some(asn1::range_of(der, wrapper.raw));
        let seq = asn1::parse_single(wrapper.value, tag::SEQUENCE, "extensions")?;
        let mut er = seq.reader();
        while !er.is_empty() {
            let ext = er.read(tag::SEQUENCE, "Extension")?;
            let mut x = ext.reader();
            let id = x.read(tag::OID, "extnID")?;
            let critical = match x.read_optional(tag::BOOLEAN, "critical")? {
                Some(b) => b.boolean("critical")?,
                None => false,
            };
            let value = x.read(tag::OCTET_STRING, "extnValue")?;
            x.finish("Extension")?;
            if extensions
                .iter()
                .any(|e: &Extension| &der[e.oid.clone()] == id.value)
            {
                return Err(CertError(format!(
                    "extension {} appears twice",
                    asn1::oid_to_string(id.value)
                )));
            }
            extensions.push(Extension {
                oid: asn1::range_of(der, id.value),
                critical,
                value: asn1::range_of(der, value.value),
                raw: asn1::range_of(der, ext.raw),
            });
        }
    }
    t.finish("TBSCertificate")?;
    Ok(Certificate {
        der: Vec::new(),
        tbs: asn1::range_of(der, tbs.raw),
        sig_alg: asn1::range_of(der, sig_alg.raw),
        signature: asn1::range_of(der, signature),
        serial: asn1::range_of(der, serial.value),
        issuer: asn1::range_of(der, issuer.raw),
        subject: asn1::range_of(der, subject.raw),
        spki: asn1::range_of(der, spki.raw),
        ext_wrapper,
        version,
        not_before: nb,
        not_after: na,
        extensions,
    })
}

impl Certificate {
    /// The TBSCertificate with the extensions in `drop` removed, re-encoded:
    /// what a CT log signed for an embedded SCT (RFC 6962 section 3.2).
    pub fn tbs_without_extensions(&self, drop: &[&[u8]]) -> Option<Vec<u8>> {
        let wrapper = self.ext_wrapper.clone()?;
        let tbs_range = self.tbs.clone();
        let mut kept = Vec::new();
        for e in &self.extensions {
            if !drop.contains(&&self.der[e.oid.clone()]) {
                kept.extend_from_slice(&self.der[e.raw.clone()]);
            }
        }
        let ext_seq = asn1::encode(tag::SEQUENCE, &kept);
        let new_wrapper = asn1::encode(tag::context(3, true), &ext_seq);
        // The TBS contents: everything before the extensions, the new
        // extensions, and anything after (nothing, for valid certificates).
        let tbs = asn1::parse_single(
            &self.der[tbs_range.clone()],
            tag::SEQUENCE,
            "TBSCertificate",
        )
        .ok()?;
        let content_start = tbs_range.start + (tbs.raw.len() - tbs.value.len());
        let before = &self.der[content_start..wrapper.start];
        let after = &self.der[wrapper.end..tbs_range.end];
        Some(asn1::encode_parts(
            tag::SEQUENCE,
            &[before, &new_wrapper, after],
        ))
    }
}

/// A Name in RFC 4514 style, most specific first (`CN=x,O=y`).
pub fn name_to_string(name: &[u8]) -> String {
    fn attr_name(o: &[u8]) -> String {
        match o {
            x if x == oid::CN => "CN".into(),
            x if x == oid::O => "O".into(),
            x if x == oid::OU => "OU".into(),
            x if x == oid::C => "C".into(),
            x if x == oid::L => "L".into(),
            x if x == oid::ST => "ST".into(),
            x if x == oid::EMAIL_ADDRESS => "emailAddress".into(),
            x if x == oid::SERIAL_NUMBER => "serialNumber".into(),
            x if x == oid::DC => "DC".into(),
            x => asn1::oid_to_string(x),
        }
    }
    let parse = || -> Result<Vec<String>, asn1::Error> {
        let seq = asn1::parse_single(name, tag::SEQUENCE, "Name")?;
        let mut rdns = Vec::new();
        let mut r: Reader<'_> = seq.reader();
        while !r.is_empty() {
            let set = r.read(tag::SET, "RDN")?;
            let mut sr = set.reader();
            let mut parts = Vec::new();
            while !sr.is_empty() {
                let atv = sr.read(tag::SEQUENCE, "AttributeTypeAndValue")?;
                let mut ar = atv.reader();
                let t = ar.read(tag::OID, "attribute type")?;
                let v = ar.read_any("attribute value")?;
                let value = v
                    .string("attribute value")
                    .unwrap_or_else(|_| format!("#{}", asn1::hex_lower(v.raw)));
                parts.push(format!("{}={}", attr_name(t.value), escape_rdn(&value)));
            }
            rdns.push(parts.join("+"));
        }
        rdns.reverse();
        Ok(rdns)
    };
    match parse() {
        Ok(rdns) if rdns.is_empty() => "(empty)".into(),
        Ok(rdns) => rdns.join(","),
        Err(_) => "(unparsable name)".into(),
    }
}

/// RFC 4514 escaping of one attribute value; control characters as hex.
/// One pass over the value (a hook may format thousands of names, each as
/// long as an attacker likes).
fn escape_rdn(v: &str) -> String {
    let mut out = String::with_capacity(v.len() + 8);
    let last = v.char_indices().next_back().map(|(i, _)| i);
    for (i, c) in v.char_indices() {
        let special = matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';')
            || (i == 0 && (c == '#' || c == ' '))
            || (Some(i) == last && c == ' ');
        if special {
            out.push('\\');
        }
        if c.is_control() {
            out.push_str(&format!("\\{:02x}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// Splits a PEM bundle of certificates (as Fulcio returns chains).
pub fn certificates_from_pem(text: &str) -> Result<Vec<Certificate>, CertError> {
    let blocks = crate::encoding::pem::decode_all(text).map_err(|e| CertError(e.to_string()))?;
    blocks
        .into_iter()
        .map(|b| {
            if b.label != "CERTIFICATE" {
                return Err(CertError(format!(
                    "PEM block \"{}\" is not a CERTIFICATE",
                    b.label
                )));
            }
            Certificate::from_der(b.der)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(cn: &str) -> Vec<u8> {
        let atv = asn1::encode_parts(
            tag::SEQUENCE,
            &[
                &asn1::encode(tag::OID, oid::CN),
                &asn1::encode(tag::UTF8_STRING, cn.as_bytes()),
            ],
        );
        asn1::encode(tag::SEQUENCE, &asn1::encode(tag::SET, &atv))
    }

    #[test]
    fn names_are_escaped_as_rfc_4514_says() {
        assert_eq!(name_to_string(&name("a,b+c")), "CN=a\\,b\\+c");
        assert_eq!(name_to_string(&name(" #x ")), "CN=\\ #x\\ ");
        assert_eq!(name_to_string(&name("#x")), "CN=\\#x");
        assert_eq!(name_to_string(&name("é\u{1b}")), "CN=é\\1b");
        assert_eq!(name_to_string(&name("")), "CN=");
    }

    #[test]
    fn formatting_a_huge_name_is_linear() {
        // Quadratic work on 2 MB would not finish in any test timeout.
        let long = "é ".repeat(1 << 20);
        let s = name_to_string(&name(&long));
        assert_eq!(s.len(), 3 + long.len() + 1);
    }
}
