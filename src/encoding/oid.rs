//! Encoded OBJECT IDENTIFIER contents (the bytes after tag and length).
//! Generated from dotted form; `asn1::oid_to_string` turns them back.

/// 1.2.840.113549.1.7.2: CMS SignedData content type.
pub const SIGNED_DATA: &[u8] = &[42, 134, 72, 134, 247, 13, 1, 7, 2];
/// 1.2.840.113549.1.7.1: CMS id-data content type.
pub const DATA: &[u8] = &[42, 134, 72, 134, 247, 13, 1, 7, 1];
/// 1.2.840.113549.1.9.3: contentType attribute.
pub const CONTENT_TYPE: &[u8] = &[42, 134, 72, 134, 247, 13, 1, 9, 3];
/// 1.2.840.113549.1.9.4: messageDigest attribute.
pub const MESSAGE_DIGEST: &[u8] = &[42, 134, 72, 134, 247, 13, 1, 9, 4];
/// 1.2.840.113549.1.9.5: signingTime attribute.
pub const SIGNING_TIME: &[u8] = &[42, 134, 72, 134, 247, 13, 1, 9, 5];
/// 2.16.840.1.101.3.4.2.1: SHA-256.
pub const SHA256: &[u8] = &[96, 134, 72, 1, 101, 3, 4, 2, 1];
/// 2.16.840.1.101.3.4.2.2: SHA-384.
pub const SHA384: &[u8] = &[96, 134, 72, 1, 101, 3, 4, 2, 2];
/// 2.16.840.1.101.3.4.2.3: SHA-512.
pub const SHA512: &[u8] = &[96, 134, 72, 1, 101, 3, 4, 2, 3];
/// 1.3.14.3.2.26: SHA-1.
pub const SHA1: &[u8] = &[43, 14, 3, 2, 26];
/// 1.2.840.10045.2.1: id-ecPublicKey.
pub const EC_PUBLIC_KEY: &[u8] = &[42, 134, 72, 206, 61, 2, 1];
/// 1.2.840.10045.4.3.2: ecdsa-with-SHA256.
pub const ECDSA_SHA256: &[u8] = &[42, 134, 72, 206, 61, 4, 3, 2];
/// 1.2.840.10045.4.3.3: ecdsa-with-SHA384.
pub const ECDSA_SHA384: &[u8] = &[42, 134, 72, 206, 61, 4, 3, 3];
/// 1.2.840.10045.4.3.4: ecdsa-with-SHA512.
pub const ECDSA_SHA512: &[u8] = &[42, 134, 72, 206, 61, 4, 3, 4];
/// 1.2.840.10045.3.1.7: NIST P-256 (prime256v1).
pub const P256: &[u8] = &[42, 134, 72, 206, 61, 3, 1, 7];
/// 1.3.132.0.34: NIST P-384 (secp384r1).
pub const P384: &[u8] = &[43, 129, 4, 0, 34];
/// 1.2.840.113549.1.1.1: rsaEncryption.
pub const RSA_ENCRYPTION: &[u8] = &[42, 134, 72, 134, 247, 13, 1, 1, 1];
/// 1.2.840.113549.1.1.5: sha1WithRSAEncryption.
pub const RSA_SHA1: &[u8] = &[42, 134, 72, 134, 247, 13, 1, 1, 5];
/// 1.2.840.113549.1.1.11: sha256WithRSAEncryption.
pub const RSA_SHA256: &[u8] = &[42, 134, 72, 134, 247, 13, 1, 1, 11];
/// 1.2.840.113549.1.1.12: sha384WithRSAEncryption.
pub const RSA_SHA384: &[u8] = &[42, 134, 72, 134, 247, 13, 1, 1, 12];
/// 1.2.840.113549.1.1.13: sha512WithRSAEncryption.
pub const RSA_SHA512: &[u8] = &[42, 134, 72, 134, 247, 13, 1, 1, 13];
/// 1.2.840.113549.1.1.10: RSASSA-PSS.
pub const RSA_PSS: &[u8] = &[42, 134, 72, 134, 247, 13, 1, 1, 10];
/// 1.3.101.112: Ed25519.
pub const ED25519: &[u8] = &[43, 101, 112];
/// 2.5.29.14: subjectKeyIdentifier.
pub const SUBJECT_KEY_ID: &[u8] = &[85, 29, 14];
/// 2.5.29.15: keyUsage.
pub const KEY_USAGE: &[u8] = &[85, 29, 15];
/// 2.5.29.17: subjectAltName.
pub const SUBJECT_ALT_NAME: &[u8] = &[85, 29, 17];
/// 2.5.29.19: basicConstraints.
pub const BASIC_CONSTRAINTS: &[u8] = &[85, 29, 19];
/// 2.5.29.35: authorityKeyIdentifier.
pub const AUTHORITY_KEY_ID: &[u8] = &[85, 29, 35];
/// 2.5.29.37: extKeyUsage.
pub const EXT_KEY_USAGE: &[u8] = &[85, 29, 37];
/// 2.5.29.32: certificatePolicies.
pub const CERT_POLICIES: &[u8] = &[85, 29, 32];
/// 2.5.29.30: nameConstraints.
pub const NAME_CONSTRAINTS: &[u8] = &[85, 29, 30];
/// 1.3.6.1.5.5.7.3.3: id-kp-codeSigning.
pub const EKU_CODE_SIGNING: &[u8] = &[43, 6, 1, 5, 5, 7, 3, 3];
/// 1.3.6.1.5.5.7.3.8: id-kp-timeStamping.
pub const EKU_TIME_STAMPING: &[u8] = &[43, 6, 1, 5, 5, 7, 3, 8];
/// 1.3.6.1.4.1.11129.2.4.2: embedded SCT list.
pub const CT_SCT_LIST: &[u8] = &[43, 6, 1, 4, 1, 214, 121, 2, 4, 2];
/// 1.3.6.1.4.1.11129.2.4.3: CT precertificate poison.
pub const CT_POISON: &[u8] = &[43, 6, 1, 4, 1, 214, 121, 2, 4, 3];
/// 1.3.6.1.4.1.57264.3.1: gitsign unsigned attribute: Rekor TransparencyLogEntry (protobuf).
pub const REKOR_TLOG_ENTRY: &[u8] = &[43, 6, 1, 4, 1, 131, 191, 48, 3, 1];
/// 1.2.840.113549.1.9.16.2.14: RFC 3161 timestamp token unsigned attribute.
pub const TIMESTAMP_TOKEN: &[u8] = &[42, 134, 72, 134, 247, 13, 1, 9, 16, 2, 14];
/// 1.2.840.113549.1.9.16.1.4: RFC 3161 TSTInfo content type.
pub const TST_INFO: &[u8] = &[42, 134, 72, 134, 247, 13, 1, 9, 16, 1, 4];
/// 2.5.4.3: commonName.
pub const CN: &[u8] = &[85, 4, 3];
/// 2.5.4.10: organizationName.
pub const O: &[u8] = &[85, 4, 10];
/// 2.5.4.11: organizationalUnitName.
pub const OU: &[u8] = &[85, 4, 11];
/// 2.5.4.6: countryName.
pub const C: &[u8] = &[85, 4, 6];
/// 2.5.4.7: localityName.
pub const L: &[u8] = &[85, 4, 7];
/// 2.5.4.8: stateOrProvinceName.
pub const ST: &[u8] = &[85, 4, 8];
/// 1.2.840.113549.1.9.1: emailAddress.
pub const EMAIL_ADDRESS: &[u8] = &[42, 134, 72, 134, 247, 13, 1, 9, 1];
/// 2.5.4.5: serialNumber.
pub const SERIAL_NUMBER: &[u8] = &[85, 4, 5];
/// 0.9.2342.19200300.100.1.25: domainComponent.
pub const DC: &[u8] = &[9, 146, 38, 137, 147, 242, 44, 100, 1, 25];
/// 1.3.6.1.4.1.57264.1: Fulcio certificate extension arc.
pub const FULCIO_PREFIX: &[u8] = &[43, 6, 1, 4, 1, 131, 191, 48, 1];
/// 1.3.6.1.4.1.57264.3: gitsign Rekor attribute arc.
pub const REKOR_LEGACY_PREFIX: &[u8] = &[43, 6, 1, 4, 1, 131, 191, 48, 3];
/// 1.3.6.1.4.1.57264.1.7: Fulcio otherName SAN (username identity).
pub const OTHERNAME_USERNAME: &[u8] = &[43, 6, 1, 4, 1, 131, 191, 48, 1, 7];

/// True when `oid` is `prefix` followed by exactly one arc below 128.
pub fn arc_under(oid: &[u8], prefix: &[u8]) -> Option<u8> {
    match oid.strip_prefix(prefix) {
        Some([n]) if *n < 0x80 => Some(*n),
        _ => None,
    }
}
