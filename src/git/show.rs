//! `gitsign show`: the in-toto statement Go gitsign prints for a commit or
//! an annotated tag. A codec: raw object bytes in, JSON text out, no I/O.
//!
//! The statement is Go gitsign's `show` output field for field: an in-toto
//! v0.1 statement whose subject is the remote's URL with the object's SHA-1,
//! and whose predicate holds the object's fields as go-git parses them, the
//! raw signature text, and, for an x509 (CMS) signature, each signer's
//! signed attributes and certificate. Objects are parsed the way go-git
//! parses them (so the values agree with Go's, quirks included), except that
//! an object with a header git allows once given twice is refused: such an
//! object reads differently to different tools.

use serde::Serialize;

use crate::pki::cms;

/// The statement type Go gitsign's `show` writes (`_type`).
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v0.1";
/// The predicate type of a commit's statement.
pub const COMMIT_PREDICATE_TYPE: &str = "https://gitsign.sigstore.dev/predicate/git/v0.1";
/// The predicate type of an annotated tag's statement.
pub const TAG_PREDICATE_TYPE: &str = "https://gitsign.sigstore.dev/predicate/tag/v0.1";

/// Why no statement could be made: a sentence naming what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShowError(pub String);

impl std::fmt::Display for ShowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ShowError {}

#[derive(Serialize)]
struct Statement<P> {
    #[serde(rename = "_type")]
    type_: &'static str,
    #[serde(rename = "predicateType")]
    predicate_type: &'static str,
    subject: Vec<Subject>,
    predicate: P,
}

#[derive(Serialize)]
struct Subject {
    name: String,
    digest: Digest,
}

/// Keys in the order Go's encoding/json writes a map: sorted.
#[derive(Serialize)]
struct Digest {
    #[serde(rename = "gitTag", skip_serializing_if = "Option::is_none")]
    git_tag: Option<String>,
    sha1: String,
}

#[derive(Serialize)]
struct CommitPredicate {
    source: CommitSource,
    #[serde(skip_serializing_if = "String::is_empty")]
    signature: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    signer_info: Vec<SignerInfo>,
}

#[derive(Serialize)]
struct CommitSource {
    #[serde(skip_serializing_if = "String::is_empty")]
    tree: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    parents: Vec<String>,
    author: Person,
    committer: Person,
    #[serde(skip_serializing_if = "String::is_empty")]
    message: String,
}

#[derive(Serialize)]
struct TagPredicate {
    source: TagSource,
    #[serde(skip_serializing_if = "String::is_empty")]
    signature: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    signer_info: Vec<SignerInfo>,
}

#[derive(Serialize)]
struct TagSource {
    #[serde(skip_serializing_if = "String::is_empty")]
    object: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    object_type: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    tag: String,
    tagger: Person,
    #[serde(skip_serializing_if = "String::is_empty")]
    message: String,
}

#[derive(Serialize)]
struct Person {
    #[serde(skip_serializing_if = "String::is_empty")]
    name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    email: String,
    date: String,
}

/// Select fields of a CMS SignerInfo, as Go gitsign gives them.
#[derive(Serialize)]
struct SignerInfo {
    /// base64 of the DER signed attributes as signed (tagged `SET OF`).
    attributes: String,
    /// The signer's certificate, PEM.
    certificate: String,
}

/// How a person line's time is written.
#[derive(Clone, Copy)]
enum DateStyle {
    /// RFC 3339 in the line's own offset (Go's `time.Time` in JSON): what
    /// the commit statement carries.
    Offset,
    /// RFC 3339 in UTC (protobuf's `Timestamp` in JSON): what Go's tag
    /// statement carries.
    Utc,
}

/// The statement for commit `id` (its full SHA-1), whose raw contents are
/// `object` (as `git cat-file commit` prints them), naming `remote_url` as
/// the subject (empty when the remote has no URL). Pretty JSON with a
/// trailing newline, escaped as Go's encoder escapes.
pub fn commit_statement(object: &[u8], id: &str, remote_url: &str) -> Result<String, ShowError> {
    let c = parse_commit(object)?;
    let signer_info = signer_info(&c.signature)?;
    let statement = Statement {
        type_: STATEMENT_TYPE,
        predicate_type: COMMIT_PREDICATE_TYPE,
        subject: vec![Subject {
            name: remote_url.to_string(),
            digest: Digest {
                git_tag: None,
                sha1: id.to_string(),
            },
        }],
        predicate: CommitPredicate {
            source: CommitSource {
                tree: c.tree,
                parents: c.parents,
                author: person(&c.author, DateStyle::Offset)?,
                committer: person(&c.committer, DateStyle::Offset)?,
                message: lossy(&c.message),
            },
            signature: lossy(&c.signature),
            signer_info,
        },
    };
    go_json(&statement)
}

/// The statement for annotated tag `id` (the tag object's SHA-1), whose raw
/// contents are `object` (as `git cat-file tag` prints them). As
/// [`commit_statement`]; the subject's digest carries the id as both
/// `sha1` and `gitTag`, as Go's does.
pub fn tag_statement(object: &[u8], id: &str, remote_url: &str) -> Result<String, ShowError> {
    let t = parse_tag(object)?;
    let signer_info = signer_info(&t.signature)?;
    let statement = Statement {
        type_: STATEMENT_TYPE,
        predicate_type: TAG_PREDICATE_TYPE,
        subject: vec![Subject {
            name: remote_url.to_string(),
            digest: Digest {
                git_tag: Some(id.to_string()),
                sha1: id.to_string(),
            },
        }],
        predicate: TagPredicate {
            source: TagSource {
                object: t.object,
                object_type: t.object_type,
                tag: lossy(&t.name),
                tagger: person(&t.tagger, DateStyle::Utc)?,
                message: lossy(&t.message),
            },
            signature: lossy(&t.signature),
            signer_info,
        },
    };
    go_json(&statement)
}

/// Serializes as Go's `json.Encoder` with a two-space indent does: `<`,
/// `>`, `&`, U+2028 and U+2029 escaped, a newline at the end. Then the
/// characters that could steer a terminal are escaped too (the same JSON
/// value; see [`crate::encoding::text::json_safe`]).
fn go_json<T: Serialize>(value: &T) -> Result<String, ShowError> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| ShowError(format!("cannot write the statement as JSON: {e}")))?;
    // JSON's structure is ASCII without these characters: they can only
    // be inside strings, where the escape is the same value.
    let mut out = String::with_capacity(text.len() + 16);
    for ch in text.chars() {
        match ch {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    let mut out = crate::encoding::text::json_safe(&out).into_owned();
    out.push('\n');
    Ok(out)
}

/// Invalid UTF-8 becomes U+FFFD, as Go's encoder writes it.
fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

struct Commit {
    tree: String,
    parents: Vec<String>,
    author: Vec<u8>,
    committer: Vec<u8>,
    signature: Vec<u8>,
    message: Vec<u8>,
}

struct Tag {
    object: String,
    object_type: String,
    name: Vec<u8>,
    tagger: Vec<u8>,
    signature: Vec<u8>,
    message: Vec<u8>,
}

/// Lines with their `\n` (the last may lack it).
fn split_lines(b: &[u8]) -> impl Iterator<Item = &[u8]> {
    b.split_inclusive(|c| *c == b'\n')
}

/// A header line's name and value after go-git's trimming of the line.
fn header(line: &[u8]) -> (&[u8], &[u8]) {
    let line = line.trim_ascii();
    match line.iter().position(|c| *c == b' ') {
        Some(i) => (&line[..i], &line[i + 1..]),
        None => (line, &[]),
    }
}

/// A 40-hex object id, lower-cased; `None` when `v` is not one.
fn object_id(v: &[u8]) -> Option<String> {
    (v.len() == 40 && v.iter().all(u8::is_ascii_hexdigit))
        .then(|| String::from_utf8_lossy(v).to_ascii_lowercase())
}

fn once(seen: &mut bool, name: &str, what: &str) -> Result<(), ShowError> {
    if std::mem::replace(seen, true) {
        return Err(ShowError(format!(
            "the {what} has the header \"{name}\" twice; tools disagree on which one counts, \
             so no statement is made for it"
        )));
    }
    Ok(())
}

/// Parses a commit as go-git does: headers up to the first empty line
/// (continuation lines belong to `gpgsig` only), then the message.
fn parse_commit(object: &[u8]) -> Result<Commit, ShowError> {
    // go-git's zero id where the header is missing (git itself refuses
    // such objects).
    let mut c = Commit {
        tree: "0".repeat(40),
        parents: Vec::new(),
        author: Vec::new(),
        committer: Vec::new(),
        signature: Vec::new(),
        message: Vec::new(),
    };
    let (mut tree, mut author, mut committer, mut sig) = (false, false, false, false);
    let mut in_sig = false;
    let mut offset = 0;
    for line in split_lines(object) {
        offset += line.len();
        if in_sig {
            if line.first() == Some(&b' ') {
                let start = line.iter().position(|b| *b != b' ').unwrap_or(line.len());
                c.signature.extend_from_slice(&line[start..]);
                continue;
            }
            in_sig = false;
        }
        let (name, value) = header(line);
        if name.is_empty() {
            c.message = object[offset..].to_vec();
            break;
        }
        match name {
            b"tree" => {
                once(&mut tree, "tree", "commit")?;
                c.tree = object_id(value).ok_or_else(|| {
                    ShowError("the commit's tree header is not an object id".into())
                })?;
            }
            b"parent" => {
                let p = object_id(value).ok_or_else(|| {
                    ShowError("a parent header of the commit is not an object id".into())
                })?;
                if p.bytes().any(|b| b != b'0') {
                    c.parents.push(p);
                }
            }
            b"author" => {
                once(&mut author, "author", "commit")?;
                c.author = value.to_vec();
            }
            b"committer" => {
                once(&mut committer, "committer", "commit")?;
                c.committer = value.to_vec();
            }
            b"gpgsig" => {
                once(&mut sig, "gpgsig", "commit")?;
                c.signature.extend_from_slice(value);
                c.signature.push(b'\n');
                in_sig = true;
            }
            _ => {}
        }
    }
    Ok(c)
}

/// Where a tag's signature starts in its message: the last line that opens
/// a signature block (go-git's rule), if any.
fn signature_start(message: &[u8]) -> Option<usize> {
    const MARKERS: &[&[u8]] = &[
        b"-----BEGIN PGP SIGNATURE-----",
        b"-----BEGIN PGP MESSAGE-----",
        b"-----BEGIN SIGNED MESSAGE-----",
        b"-----BEGIN SSH SIGNATURE-----",
    ];
    let mut at = 0;
    let mut found = None;
    for line in split_lines(message) {
        if MARKERS.iter().any(|m| line.starts_with(m)) {
            found = Some(at);
        }
        at += line.len();
    }
    found
}

/// Parses an annotated tag as go-git does: headers up to the first empty
/// line, then the message, whose last signature block is the signature.
fn parse_tag(object: &[u8]) -> Result<Tag, ShowError> {
    let mut t = Tag {
        object: "0".repeat(40),
        object_type: String::new(),
        name: Vec::new(),
        tagger: Vec::new(),
        signature: Vec::new(),
        message: Vec::new(),
    };
    let (mut obj, mut ty, mut name, mut tagger) = (false, false, false, false);
    let mut offset = 0;
    let mut rest: &[u8] = &[];
    for line in split_lines(object) {
        offset += line.len();
        let (h, value) = header(line);
        if h.is_empty() {
            rest = &object[offset..];
            break;
        }
        match h {
            b"object" => {
                once(&mut obj, "object", "tag")?;
                t.object = object_id(value).ok_or_else(|| {
                    ShowError("the tag's object header is not an object id".into())
                })?;
            }
            b"type" => {
                once(&mut ty, "type", "tag")?;
                t.object_type = match value {
                    b"commit" | b"tree" | b"blob" | b"tag" => lossy(value),
                    _ => {
                        return Err(ShowError(format!(
                            "the tag's type header names no object type (\"{}\")",
                            crate::encoding::text::excerpt(&lossy(value), 40)
                        )))
                    }
                };
            }
            b"tag" => {
                once(&mut name, "tag", "tag")?;
                t.name = value.to_vec();
            }
            b"tagger" => {
                once(&mut tagger, "tagger", "tag")?;
                t.tagger = value.to_vec();
            }
            _ => {}
        }
    }
    match signature_start(rest) {
        Some(at) => {
            t.message = rest[..at].to_vec();
            t.signature = rest[at..].to_vec();
        }
        None => t.message = rest.to_vec(),
    }
    Ok(t)
}

/// A person line (`Name <email> 1668460399 -0500`) as go-git decodes it:
/// the name is what precedes the last `<` less spaces, the email what lies
/// between it and the last `>`; a time that does not parse is the zero
/// time, an offset that does not parse is UTC.
fn person(line: &[u8], style: DateStyle) -> Result<Person, ShowError> {
    let mut p = Person {
        name: String::new(),
        email: String::new(),
        date: String::new(),
    };
    let (mut secs, mut offset) = (None, 0i64);
    let open = line.iter().rposition(|b| *b == b'<');
    let close = line.iter().rposition(|b| *b == b'>');
    if let (Some(open), Some(close)) = (open, close) {
        if open < close {
            let name = &line[..open];
            let start = name.iter().position(|b| *b != b' ').unwrap_or(name.len());
            let end = name
                .iter()
                .rposition(|b| *b != b' ')
                .map_or(start, |e| e + 1);
            p.name = lossy(&name[start..end.max(start)]);
            p.email = lossy(&line[open + 1..close]);
            if close + 2 < line.len() {
                let rest = &line[close + 2..];
                let space = rest.iter().position(|b| *b == b' ').unwrap_or(rest.len());
                if let Some(t) = std::str::from_utf8(&rest[..space])
                    .ok()
                    .and_then(|s| s.parse::<i64>().ok())
                {
                    secs = Some(t);
                    if let Some(tz) = rest.get(space + 1..space + 6) {
                        let h = std::str::from_utf8(&tz[..3])
                            .ok()
                            .and_then(|s| s.parse::<i64>().ok());
                        let m = std::str::from_utf8(&tz[3..])
                            .ok()
                            .and_then(|s| s.parse::<i64>().ok());
                        if let (Some(h), Some(m)) = (h, m) {
                            let m = if h < 0 { -m } else { m };
                            offset = h * 3600 + m * 60;
                        }
                    }
                }
            }
        }
    }
    p.date = match (secs, style) {
        (None, _) => "0001-01-01T00:00:00Z".into(),
        (Some(t), DateStyle::Offset) => rfc3339(t, offset)?,
        (Some(t), DateStyle::Utc) => rfc3339(t, 0)?,
    };
    Ok(p)
}

/// RFC 3339 for Unix time `t` shown at `offset` seconds east of UTC, as Go
/// writes it (`Z` for a zero offset). Go refuses years outside 0..=9999.
fn rfc3339(t: i64, offset: i64) -> Result<String, ShowError> {
    let local = t.checked_add(offset).ok_or_else(|| out_of_range(t))?;
    let (days, secs) = (local.div_euclid(86_400), local.rem_euclid(86_400));
    let (y, mo, d) = crate::encoding::time::civil_from_days(days);
    if !(0..=9999).contains(&y) {
        return Err(out_of_range(t));
    }
    let mut s = format!(
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    );
    if offset == 0 {
        s.push('Z');
    } else {
        let minutes = offset / 60;
        let sign = if minutes < 0 { '-' } else { '+' };
        let minutes = minutes.abs();
        s.push_str(&format!("{sign}{:02}:{:02}", minutes / 60, minutes % 60));
    }
    Ok(s)
}

fn out_of_range(t: i64) -> ShowError {
    ShowError(format!(
        "a date in the object ({t} seconds since 1970) is outside the years 0 to 9999, \
         which the statement cannot carry"
    ))
}

/// Each signer of an x509 (CMS, PEM `SIGNED MESSAGE`) signature: its signed
/// attributes and certificate. Other signatures (OpenPGP, SSH) and no
/// signature give none. A CMS signature that cannot be read is an error,
/// as in Go.
fn signer_info(signature: &[u8]) -> Result<Vec<SignerInfo>, ShowError> {
    use base64::Engine;
    let text = signature.trim_ascii_start();
    let is_cms = [
        &b"-----BEGIN SIGNED MESSAGE-----"[..],
        b"-----BEGIN PKCS7-----",
        b"-----BEGIN CMS-----",
    ]
    .iter()
    .any(|m| text.starts_with(m));
    if !is_cms {
        return Ok(Vec::new());
    }
    let unreadable =
        |e: cms::CmsError| ShowError(format!("the object's x509 signature cannot be read: {e}"));
    let der = cms::unarmor(signature).map_err(unreadable)?;
    let sd = cms::SignedData::from_der(&der).map_err(unreadable)?;
    // As Go: a signer whose certificate is not carried is left out.
    let Some(cert) = sd.signer_certificate() else {
        return Ok(Vec::new());
    };
    Ok(vec![SignerInfo {
        attributes: base64::engine::general_purpose::STANDARD.encode(&sd.signer.signed_attrs_der),
        certificate: crate::encoding::pem::encode("CERTIFICATE", cert.der()),
    }])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_as_go_writes_them() {
        assert_eq!(
            rfc3339(1668460399, -5 * 3600).unwrap(),
            "2022-11-14T16:13:19-05:00"
        );
        assert_eq!(rfc3339(1668460399, 0).unwrap(), "2022-11-14T21:13:19Z");
        assert_eq!(
            rfc3339(0, 5 * 3600 + 1800).unwrap(),
            "1970-01-01T05:30:00+05:30"
        );
        assert!(rfc3339(i64::MAX, 0).is_err());
        assert!(rfc3339(-62_200_000_000, 0).is_err());
    }

    #[test]
    fn person_lines_as_go_git_reads_them() {
        let p = person(b"A B <a@b> 1668460399 -0500", DateStyle::Offset).unwrap();
        assert_eq!((p.name.as_str(), p.email.as_str()), ("A B", "a@b"));
        assert_eq!(p.date, "2022-11-14T16:13:19-05:00");
        // "-0000" has a zero hour, so Go's rule reads it as UTC.
        let p = person(b"A <a@b> 0 -0000", DateStyle::Offset).unwrap();
        assert_eq!(p.date, "1970-01-01T00:00:00Z");
        let p = person(b"no email here", DateStyle::Offset).unwrap();
        assert_eq!(
            (p.name.as_str(), p.date.as_str()),
            ("", "0001-01-01T00:00:00Z")
        );
        let p = person(b"A <a@b> 10 bogus", DateStyle::Offset).unwrap();
        assert_eq!(p.date, "1970-01-01T00:00:10Z");
    }

    #[test]
    fn duplicate_headers_are_refused() {
        let obj = b"tree 4cf9f177c4c015836fca6a31f9c3917e89ae29ec\nauthor A <a@x> 1 +0000\n\
                    author M <m@x> 2 +0000\ncommitter A <a@x> 1 +0000\n\nhi\n";
        let e = commit_statement(obj, &"a".repeat(40), "").unwrap_err();
        assert!(e.0.contains("\"author\" twice"), "{e}");
        let tag = b"object 4cf9f177c4c015836fca6a31f9c3917e89ae29ec\ntype commit\ntag v1\n\
                    tagger A <a@x> 1 +0000\ntagger M <m@x> 2 +0000\n\nrelease\n";
        assert!(tag_statement(tag, &"b".repeat(40), "").is_err());
    }

    #[test]
    fn unsigned_commit_has_no_signature_fields() {
        let obj = b"tree 4cf9f177c4c015836fca6a31f9c3917e89ae29ec\n\
                    author A <a@x> 1 +0000\ncommitter A <a@x> 1 +0000\n\n<hi> & \xff\n";
        let s = commit_statement(obj, &"a".repeat(40), "").unwrap();
        let v: serde_json::Value = serde_json::from_str(&s).unwrap();
        assert!(v["predicate"].get("signature").is_none());
        assert!(v["predicate"].get("signer_info").is_none());
        assert!(v["predicate"]["source"].get("parents").is_none());
        assert_eq!(v["predicate"]["source"]["message"], "<hi> & \u{fffd}\n");
        assert!(s.contains("\\u003chi\\u003e \\u0026"), "{s}");
        assert_eq!(v["subject"][0]["name"], "");
    }

    #[test]
    fn garbage_never_panics() {
        for obj in [
            &b""[..],
            b"\n",
            b"gpgsig",
            b"gpgsig -----BEGIN SIGNED MESSAGE-----\n x\n\n",
        ] {
            let _ = commit_statement(obj, "x", "");
            let _ = tag_statement(obj, "x", "");
        }
    }
}
