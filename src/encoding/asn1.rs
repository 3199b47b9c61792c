//! A small, strict DER reader for the handful of ASN.1 structures gitsign
//! parses (CMS, X.509, SCT lists, RFC 3161), plus a BER-to-DER normaliser.
//!
//! Why not a general ASN.1 crate: verification must hash signed attributes
//! exactly as encoded (real signers store them unsorted), must take raw
//! slices of certificates (TBS, names, SPKI) without re-encoding, and must
//! read gpgsm's BER. A zero-copy TLV reader does all three in little code.
//! Nothing here allocates except the normaliser and string helpers.

use std::fmt;
use std::ops::Range;

/// Universal tag numbers (with the constructed bit where DER requires it).
pub mod tag {
    /// BOOLEAN
    pub const BOOLEAN: u8 = 0x01;
    /// INTEGER
    pub const INTEGER: u8 = 0x02;
    /// BIT STRING
    pub const BIT_STRING: u8 = 0x03;
    /// OCTET STRING
    pub const OCTET_STRING: u8 = 0x04;
    /// NULL
    pub const NULL: u8 = 0x05;
    /// OBJECT IDENTIFIER
    pub const OID: u8 = 0x06;
    /// UTF8String
    pub const UTF8_STRING: u8 = 0x0c;
    /// PrintableString
    pub const PRINTABLE_STRING: u8 = 0x13;
    /// TeletexString (T61String)
    pub const T61_STRING: u8 = 0x14;
    /// IA5String
    pub const IA5_STRING: u8 = 0x16;
    /// UTCTime
    pub const UTC_TIME: u8 = 0x17;
    /// GeneralizedTime
    pub const GENERALIZED_TIME: u8 = 0x18;
    /// UniversalString
    pub const UNIVERSAL_STRING: u8 = 0x1c;
    /// BMPString
    pub const BMP_STRING: u8 = 0x1e;
    /// SEQUENCE (constructed)
    pub const SEQUENCE: u8 = 0x30;
    /// SET (constructed)
    pub const SET: u8 = 0x31;

    /// A context-specific tag `[n]`.
    pub const fn context(n: u8, constructed: bool) -> u8 {
        0x80 | (if constructed { 0x20 } else { 0 }) | (n & 0x1f)
    }
}

/// Deepest nesting the BER normaliser follows; real CMS stays under 15.
const MAX_DEPTH: usize = 64;

/// What went wrong while reading ASN.1, and in which structure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// The structure being read (for example "SignerInfo").
    pub what: &'static str,
    /// The kind of problem.
    pub kind: ErrorKind,
}

/// The kinds of ASN.1 decoding failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorKind {
    /// The data ends before the element does.
    Truncated,
    /// A length that is not minimal DER or does not fit.
    BadLength,
    /// An indefinite length where DER is required.
    Indefinite,
    /// A different element was found than the structure requires.
    UnexpectedTag {
        /// Tag required.
        expected: u8,
        /// Tag found.
        found: u8,
    },
    /// Bytes left over after the element.
    TrailingData,
    /// A multi-byte tag number, which none of our structures use.
    HighTag,
    /// Nesting deeper than any legitimate structure.
    TooDeep,
    /// The value breaks a rule of its type.
    Invalid(&'static str),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ErrorKind::Truncated => write!(f, "{} is truncated (the data ends early)", self.what),
            ErrorKind::BadLength => write!(f, "{} has an invalid length", self.what),
            ErrorKind::Indefinite => {
                write!(
                    f,
                    "{} uses an indefinite length, which DER forbids",
                    self.what
                )
            }
            ErrorKind::UnexpectedTag { expected, found } => write!(
                f,
                "{}: expected ASN.1 tag 0x{expected:02x}, found 0x{found:02x}",
                self.what
            ),
            ErrorKind::TrailingData => write!(f, "{} is followed by unexpected bytes", self.what),
            ErrorKind::HighTag => write!(f, "{} uses an unsupported multi-byte tag", self.what),
            ErrorKind::TooDeep => write!(f, "{} is nested too deeply", self.what),
            ErrorKind::Invalid(why) => write!(f, "{}: {why}", self.what),
        }
    }
}

impl std::error::Error for Error {}

/// Result of ASN.1 reading.
pub type Result<T> = std::result::Result<T, Error>;

fn err<T>(what: &'static str, kind: ErrorKind) -> Result<T> {
    Err(Error { what, kind })
}

/// One element: its tag, its contents, and its whole encoding.
#[derive(Debug, Clone, Copy)]
pub struct Tlv<'a> {
    /// The identifier octet.
    pub tag: u8,
    /// The contents octets.
    pub value: &'a [u8],
    /// Identifier, length and contents, exactly as encoded.
    pub raw: &'a [u8],
}

impl<'a> Tlv<'a> {
    /// A reader over this element's contents.
    pub fn reader(&self) -> Reader<'a> {
        Reader::new(self.value)
    }

    /// The contents as an unsigned integer that must fit in a u64.
    pub fn small_uint(&self, what: &'static str) -> Result<u64> {
        if self.tag != tag::INTEGER {
            return err(
                what,
                ErrorKind::UnexpectedTag {
                    expected: tag::INTEGER,
                    found: self.tag,
                },
            );
        }
        let v = self.value;
        if v.is_empty() || v[0] & 0x80 != 0 {
            return err(what, ErrorKind::Invalid("not a non-negative integer"));
        }
        let v = if v.len() > 1 && v[0] == 0 { &v[1..] } else { v };
        if v.len() > 8 {
            return err(what, ErrorKind::Invalid("integer too large"));
        }
        Ok(v.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
    }

    /// The contents of a BIT STRING with no unused bits.
    pub fn bit_string(&self, what: &'static str) -> Result<&'a [u8]> {
        if self.tag != tag::BIT_STRING {
            return err(
                what,
                ErrorKind::UnexpectedTag {
                    expected: tag::BIT_STRING,
                    found: self.tag,
                },
            );
        }
        match self.value.split_first() {
            Some((0, rest)) => Ok(rest),
            _ => err(what, ErrorKind::Invalid("bit string with unused bits")),
        }
    }

    /// The value of a BOOLEAN.
    pub fn boolean(&self, what: &'static str) -> Result<bool> {
        match (self.tag, self.value) {
            (tag::BOOLEAN, [0x00]) => Ok(false),
            (tag::BOOLEAN, [0xff]) => Ok(true),
            _ => err(what, ErrorKind::Invalid("not a DER BOOLEAN")),
        }
    }

    /// A text string (UTF8String, PrintableString, IA5String, ...) as UTF-8.
    pub fn string(&self, what: &'static str) -> Result<String> {
        match self.tag {
            tag::UTF8_STRING | tag::PRINTABLE_STRING | tag::IA5_STRING => {
                String::from_utf8(self.value.to_vec())
                    .or(err(what, ErrorKind::Invalid("string is not valid UTF-8")))
            }
            // Teletex in practice carries Latin-1.
            tag::T61_STRING => Ok(self.value.iter().map(|b| char::from(*b)).collect()),
            tag::BMP_STRING => {
                if self.value.len() % 2 != 0 {
                    return err(what, ErrorKind::Invalid("odd-length BMPString"));
                }
                let units: Vec<u16> = self
                    .value
                    .chunks_exact(2)
                    .map(|c| u16::from_be_bytes([c[0], c[1]]))
                    .collect();
                String::from_utf16(&units).or(err(what, ErrorKind::Invalid("bad BMPString")))
            }
            _ => err(what, ErrorKind::Invalid("not a string type")),
        }
    }

    /// A UTCTime or GeneralizedTime as seconds since the Unix epoch.
    pub fn time(&self, what: &'static str) -> Result<i64> {
        parse_time(self.tag, self.value).ok_or(Error {
            what,
            kind: ErrorKind::Invalid("not a valid UTC time"),
        })
    }
}

/// A cursor over a run of DER elements.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    data: &'a [u8],
}

impl<'a> Reader<'a> {
    /// Reads elements from `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Reader { data }
    }

    /// True when every element has been read.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The next element's tag, without consuming it.
    pub fn peek_tag(&self) -> Option<u8> {
        self.data.first().copied()
    }

    /// The next element, whatever its tag.
    pub fn read_any(&mut self, what: &'static str) -> Result<Tlv<'a>> {
        let (tlv, rest) = split_tlv(self.data, what)?;
        self.data = rest;
        Ok(tlv)
    }

    /// The next element, which must carry `expected`.
    pub fn read(&mut self, expected: u8, what: &'static str) -> Result<Tlv<'a>> {
        match self.peek_tag() {
            None => err(what, ErrorKind::Truncated),
            Some(found) if found != expected => {
                err(what, ErrorKind::UnexpectedTag { expected, found })
            }
            Some(_) => self.read_any(what),
        }
    }

    /// The next element if it carries `expected`.
    pub fn read_optional(&mut self, expected: u8, what: &'static str) -> Result<Option<Tlv<'a>>> {
        if self.peek_tag() == Some(expected) {
            self.read_any(what).map(Some)
        } else {
            Ok(None)
        }
    }

    /// Fails if anything is left.
    pub fn finish(&self, what: &'static str) -> Result<()> {
        if self.data.is_empty() {
            Ok(())
        } else {
            err(what, ErrorKind::TrailingData)
        }
    }
}

/// Parses `data` as exactly one element with tag `expected`.
pub fn parse_single<'a>(data: &'a [u8], expected: u8, what: &'static str) -> Result<Tlv<'a>> {
    let mut r = Reader::new(data);
    let tlv = r.read(expected, what)?;
    r.finish(what)?;
    Ok(tlv)
}

fn split_tlv<'a>(data: &'a [u8], what: &'static str) -> Result<(Tlv<'a>, &'a [u8])> {
    let (&tag_byte, rest) = data.split_first().ok_or(Error {
        what,
        kind: ErrorKind::Truncated,
    })?;
    if tag_byte & 0x1f == 0x1f {
        return err(what, ErrorKind::HighTag);
    }
    let (&first, rest) = rest.split_first().ok_or(Error {
        what,
        kind: ErrorKind::Truncated,
    })?;
    let (len, rest) = if first < 0x80 {
        (first as usize, rest)
    } else if first == 0x80 {
        return err(what, ErrorKind::Indefinite);
    } else {
        let n = (first & 0x7f) as usize;
        if n > 4 || rest.len() < n {
            return err(
                what,
                if rest.len() < n {
                    ErrorKind::Truncated
                } else {
                    ErrorKind::BadLength
                },
            );
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | *b as usize);
        // DER: the shortest form, no leading zero octets.
        if len < 0x80 || rest[0] == 0 {
            return err(what, ErrorKind::BadLength);
        }
        (len, &rest[n..])
    };
    if rest.len() < len {
        return err(what, ErrorKind::Truncated);
    }
    let header_len = data.len() - rest.len();
    let tlv = Tlv {
        tag: tag_byte,
        value: &rest[..len],
        raw: &data[..header_len + len],
    };
    Ok((tlv, &rest[len..]))
}

/// Where `inner` lies inside `outer`. `inner` must be a sub-slice of `outer`;
/// every caller passes slices the reader cut out of `outer`.
pub fn range_of(outer: &[u8], inner: &[u8]) -> Range<usize> {
    let start = (inner.as_ptr() as usize).saturating_sub(outer.as_ptr() as usize);
    let start = start.min(outer.len());
    let end = (start + inner.len()).min(outer.len());
    start..end
}

/// Encodes a DER length.
pub fn encode_len(len: usize, out: &mut Vec<u8>) {
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
}

/// Encodes one element from a tag and its contents.
pub fn encode(tag: u8, value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len() + 6);
    out.push(tag);
    encode_len(value.len(), &mut out);
    out.extend_from_slice(value);
    out
}

/// Encodes one element whose contents are the concatenation of `parts`.
pub fn encode_parts(tag: u8, parts: &[&[u8]]) -> Vec<u8> {
    let len = parts.iter().map(|p| p.len()).sum();
    let mut out = Vec::with_capacity(len + 6);
    out.push(tag);
    encode_len(len, &mut out);
    for p in parts {
        out.extend_from_slice(p);
    }
    out
}

/// Dotted-decimal form of an encoded OBJECT IDENTIFIER's contents.
pub fn oid_to_string(oid: &[u8]) -> String {
    let mut out = String::new();
    let mut acc: u64 = 0;
    let mut first = true;
    for &b in oid {
        if acc > (u64::MAX >> 8) {
            return format!("<invalid OID {}>", hex_lower(oid));
        }
        acc = (acc << 7) | u64::from(b & 0x7f);
        if b & 0x80 == 0 {
            if first {
                let (a, b) = if acc < 40 {
                    (0, acc)
                } else if acc < 80 {
                    (1, acc - 40)
                } else {
                    (2, acc - 80)
                };
                out.push_str(&format!("{a}.{b}"));
                first = false;
            } else {
                out.push_str(&format!(".{acc}"));
            }
            acc = 0;
        }
    }
    out
}

/// Lower-case hex of `bytes`.
pub fn hex_lower(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(HEX[(b >> 4) as usize] as char);
        s.push(HEX[(b & 15) as usize] as char);
    }
    s
}

/// Upper-case hex of `bytes`.
pub fn hex_upper(bytes: &[u8]) -> String {
    hex_lower(bytes).to_ascii_uppercase()
}

/// Decodes hex (either case); `None` on any bad digit or odd length.
pub fn hex_decode(s: &str) -> Option<Vec<u8>> {
    let s = s.as_bytes();
    if s.len() % 2 != 0 {
        return None;
    }
    let val = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    s.chunks_exact(2)
        .map(|p| Some(val(p[0])? << 4 | val(p[1])?))
        .collect()
}

fn digits(s: &[u8]) -> Option<i64> {
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(s.iter().fold(0i64, |acc, d| acc * 10 + i64::from(d - b'0')))
}

fn parse_time(tag_byte: u8, v: &[u8]) -> Option<i64> {
    let (year, rest) = match tag_byte {
        tag::UTC_TIME => {
            let yy = digits(v.get(0..2)?)?;
            // RFC 5280: 50-99 are 19xx.
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, v.get(2..)?)
        }
        tag::GENERALIZED_TIME => (digits(v.get(0..4)?)?, v.get(4..)?),
        _ => return None,
    };
    let mo = digits(rest.get(0..2)?)?;
    let d = digits(rest.get(2..4)?)?;
    let h = digits(rest.get(4..6)?)?;
    let mi = digits(rest.get(6..8)?)?;
    let mut rest = rest.get(8..)?;
    let mut s = 0;
    if rest.first().is_some_and(u8::is_ascii_digit) {
        s = digits(rest.get(0..2)?)?;
        rest = rest.get(2..)?;
    }
    // Fractional seconds (GeneralizedTime only) are truncated.
    if tag_byte == tag::GENERALIZED_TIME && rest.first() == Some(&b'.') {
        let n = rest[1..].iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 {
            return None;
        }
        rest = &rest[1 + n..];
    }
    if rest != b"Z" {
        return None;
    }
    crate::encoding::time::unix_time(year, mo, d, h, mi, s)
}

/// Rewrites BER (indefinite lengths, constructed strings, long-form short
/// lengths) as DER, keeping element order: SETs are not re-sorted, because
/// signatures cover the order the signer wrote.
pub fn ber_to_der(input: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(input.len());
    let rest = ber_element(input, &mut out, 0)?;
    if !rest.is_empty() {
        return err("BER signature", ErrorKind::TrailingData);
    }
    Ok(out)
}

/// True when `input` is not already DER in its lengths (a cheap check).
pub fn needs_ber_normalisation(input: &[u8]) -> bool {
    fn walk(mut data: &[u8], depth: usize) -> bool {
        while !data.is_empty() {
            match split_tlv(data, "") {
                Ok((tlv, rest)) => {
                    if tlv.tag & 0x20 != 0 && depth < MAX_DEPTH && walk(tlv.value, depth + 1) {
                        return true;
                    }
                    data = rest;
                }
                Err(e) => return matches!(e.kind, ErrorKind::Indefinite | ErrorKind::BadLength),
            }
        }
        false
    }
    walk(input, 0)
}

const WHAT_BER: &str = "BER signature";

fn ber_header(data: &[u8]) -> Result<(u8, Option<usize>, &[u8])> {
    let (&t, rest) = data.split_first().ok_or(Error {
        what: WHAT_BER,
        kind: ErrorKind::Truncated,
    })?;
    if t & 0x1f == 0x1f {
        return err(WHAT_BER, ErrorKind::HighTag);
    }
    let (&first, rest) = rest.split_first().ok_or(Error {
        what: WHAT_BER,
        kind: ErrorKind::Truncated,
    })?;
    if first < 0x80 {
        return Ok((t, Some(first as usize), rest));
    }
    if first == 0x80 {
        if t & 0x20 == 0 {
            return err(
                WHAT_BER,
                ErrorKind::Invalid("indefinite length on a primitive element"),
            );
        }
        return Ok((t, None, rest));
    }
    let n = (first & 0x7f) as usize;
    if n > 4 || rest.len() < n {
        return err(WHAT_BER, ErrorKind::Truncated);
    }
    let len = rest[..n]
        .iter()
        .fold(0usize, |acc, b| (acc << 8) | *b as usize);
    Ok((t, Some(len), &rest[n..]))
}

/// Normalises one element, appending its DER to `out`; returns what follows it.
fn ber_element<'a>(data: &'a [u8], out: &mut Vec<u8>, depth: usize) -> Result<&'a [u8]> {
    if depth > MAX_DEPTH {
        return err(WHAT_BER, ErrorKind::TooDeep);
    }
    let (t, len, rest) = ber_header(data)?;
    let constructed = t & 0x20 != 0;
    // Constructed OCTET/BIT/string types become primitive in DER.
    let is_string =
        matches!(t & !0x20, 0x03 | 0x04 | 0x0c | 0x13 | 0x14 | 0x16 | 0x1e) && t & 0xc0 == 0;
    let mut body = Vec::new();
    let rest = match len {
        Some(len) => {
            if rest.len() < len {
                return err(WHAT_BER, ErrorKind::Truncated);
            }
            let (mut inner, after) = rest.split_at(len);
            if constructed {
                while !inner.is_empty() {
                    inner = ber_element(inner, &mut body, depth + 1)?;
                }
            } else {
                body.extend_from_slice(inner);
            }
            after
        }
        None => {
            let mut inner = rest;
            loop {
                if inner.len() >= 2 && inner[0] == 0 && inner[1] == 0 {
                    break &inner[2..];
                }
                if inner.is_empty() {
                    return err(WHAT_BER, ErrorKind::Truncated);
                }
                inner = ber_element(inner, &mut body, depth + 1)?;
            }
        }
    };
    if constructed && is_string {
        // Concatenate the segments' contents (dropping BIT STRING pad octets
        // of all but the last segment).
        let mut flat = Vec::with_capacity(body.len());
        let mut r = Reader::new(&body);
        let bit = t & !0x20 == 0x03;
        let mut last_pad = 0u8;
        while !r.is_empty() {
            let seg = r.read_any(WHAT_BER)?;
            if bit {
                let (pad, bits) = seg.value.split_first().unwrap_or((&0, &[]));
                last_pad = *pad;
                flat.extend_from_slice(bits);
            } else {
                flat.extend_from_slice(seg.value);
            }
        }
        out.push(t & !0x20);
        if bit {
            encode_len(flat.len() + 1, out);
            out.push(last_pad);
        } else {
            encode_len(flat.len(), out);
        }
        out.extend_from_slice(&flat);
    } else {
        out.push(t);
        encode_len(body.len(), out);
        out.extend_from_slice(&body);
    }
    Ok(rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_nested_der() {
        let der = [0x30, 0x06, 0x02, 0x01, 0x05, 0x04, 0x01, 0xaa];
        let seq = parse_single(&der, tag::SEQUENCE, "test").unwrap();
        let mut r = seq.reader();
        assert_eq!(
            r.read(tag::INTEGER, "int")
                .unwrap()
                .small_uint("int")
                .unwrap(),
            5
        );
        assert_eq!(r.read(tag::OCTET_STRING, "os").unwrap().value, &[0xaa]);
        r.finish("test").unwrap();
    }

    #[test]
    fn rejects_truncated_and_non_minimal() {
        assert_eq!(
            parse_single(&[0x30, 0x05, 0x02], tag::SEQUENCE, "t")
                .unwrap_err()
                .kind,
            ErrorKind::Truncated
        );
        assert_eq!(
            parse_single(&[0x04, 0x81, 0x01, 0x00], tag::OCTET_STRING, "t")
                .unwrap_err()
                .kind,
            ErrorKind::BadLength
        );
        assert_eq!(
            parse_single(&[0x30, 0x80, 0x00, 0x00], tag::SEQUENCE, "t")
                .unwrap_err()
                .kind,
            ErrorKind::Indefinite
        );
        assert!(parse_single(&[], tag::SEQUENCE, "t").is_err());
        assert!(parse_single(&[0x1f, 0x01, 0x00], tag::SEQUENCE, "t").is_err());
    }

    #[test]
    fn normalises_ber() {
        // SEQUENCE (indefinite) { OCTET STRING constructed (indefinite) { "ab", "c" } }
        let ber = [
            0x30, 0x80, 0x24, 0x80, 0x04, 0x02, b'a', b'b', 0x04, 0x01, b'c', 0x00, 0x00, 0x00,
            0x00,
        ];
        assert!(needs_ber_normalisation(&ber));
        let der = ber_to_der(&ber).unwrap();
        assert_eq!(der, vec![0x30, 0x05, 0x04, 0x03, b'a', b'b', b'c']);
        assert!(!needs_ber_normalisation(&der));
        // Unterminated indefinite length.
        assert!(ber_to_der(&[0x30, 0x80, 0x02, 0x01, 0x00]).is_err());
    }

    #[test]
    fn deep_nesting_is_bounded() {
        let mut ber = Vec::new();
        for _ in 0..10_000 {
            ber.extend_from_slice(&[0x30, 0x80]);
        }
        assert_eq!(ber_to_der(&ber).unwrap_err().kind, ErrorKind::TooDeep);
        assert!(!needs_ber_normalisation(&[0x30, 0x03, 0x30, 0x01]));
    }

    #[test]
    fn times() {
        let t = parse_time(tag::UTC_TIME, b"230605161119Z").unwrap();
        assert_eq!(
            crate::encoding::time::format_time(t),
            "2023-06-05T16:11:19Z"
        );
        assert_eq!(t, 1685981479);
        let g = parse_time(tag::GENERALIZED_TIME, b"20500101000000.5Z").unwrap();
        assert_eq!(
            crate::encoding::time::format_time(g),
            "2050-01-01T00:00:00Z"
        );
        assert!(parse_time(tag::UTC_TIME, b"230230000000Z").is_none());
        assert!(parse_time(tag::UTC_TIME, b"2306051611").is_none());
        assert_eq!(
            crate::encoding::time::format_time(0),
            "1970-01-01T00:00:00Z"
        );
    }

    #[test]
    fn oids() {
        assert_eq!(
            oid_to_string(&[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02]),
            "1.2.840.113549.1.7.2"
        );
        assert_eq!(hex_decode("0aFf"), Some(vec![0x0a, 0xff]));
        assert_eq!(hex_decode("0g"), None);
    }
}
