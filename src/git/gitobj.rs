//! Splitting signed git objects into the signed payload and the signature,
//! byte for byte as git does (commit.c `parse_buffer_signed_by_header`,
//! gpg-interface.c `parse_signed_buffer`), and putting them back together
//! (to compute the object id online-mode Rekor entries are keyed by).

use std::fmt;

/// The kinds of signed object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectKind {
    /// A commit: the signature is a `gpgsig` header.
    Commit,
    /// An annotated tag: the signature trails the message.
    Tag,
}

impl ObjectKind {
    /// git's type name.
    pub fn name(self) -> &'static str {
        match self {
            ObjectKind::Commit => "commit",
            ObjectKind::Tag => "tag",
        }
    }
}

/// The object id algorithm of a repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashAlgo {
    /// SHA-1 (signature header `gpgsig`).
    Sha1,
    /// SHA-256 (signature header `gpgsig-sha256`).
    Sha256,
}

impl HashAlgo {
    /// The commit header that carries this algorithm's signature.
    pub fn signature_header(self) -> &'static str {
        match self {
            HashAlgo::Sha1 => "gpgsig",
            HashAlgo::Sha256 => "gpgsig-sha256",
        }
    }

    /// Guesses the algorithm from an object's own `tree`/`object` header
    /// (40 or 64 hex digits).
    pub fn detect(object: &[u8]) -> HashAlgo {
        let first = object.split(|b| *b == b'\n').next().unwrap_or_default();
        let hex = first.split(|b| *b == b' ').nth(1).unwrap_or_default();
        if hex.len() == 64 {
            HashAlgo::Sha256
        } else {
            HashAlgo::Sha1
        }
    }
}

/// A git object that could not be split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectError(pub String);

impl fmt::Display for ObjectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ObjectError {}

/// A signed object split in two.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    /// What git hands the verifier as the signed data.
    pub payload: Vec<u8>,
    /// The signature text (armored).
    pub signature: Vec<u8>,
}

const SIG_MARKERS: &[&[u8]] = &[
    b"-----BEGIN PGP SIGNATURE-----",
    b"-----BEGIN PGP MESSAGE-----",
    b"-----BEGIN SIGNED MESSAGE-----",
    b"-----BEGIN SSH SIGNATURE-----",
];

fn lines(buf: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    let mut pos = 0;
    std::iter::from_fn(move || {
        if pos >= buf.len() {
            return None;
        }
        let start = pos;
        let end = buf[pos..]
            .iter()
            .position(|b| *b == b'\n')
            .map(|i| pos + i + 1)
            .unwrap_or(buf.len());
        pos = end;
        Some((start, &buf[start..end]))
    })
}

/// Splits a commit. `Ok(None)` when it is unsigned for `algo`. Refuses
/// objects with the signature header twice: git would concatenate both,
/// and no verdict on such an object is unambiguous.
pub fn split_commit(object: &[u8], algo: HashAlgo) -> Result<Option<Signed>, ObjectError> {
    let header = algo.signature_header().as_bytes();
    if !has_header(object, header) {
        // Unsigned: nothing to copy (the message may be tens of MiB).
        return Ok(None);
    }
    let mut payload = Vec::with_capacity(object.len());
    let mut signature = Vec::new();
    let (mut in_sig, mut other_sig, mut count) = (false, false, 0usize);
    for (start, line) in lines(object) {
        if line.first() == Some(&b'\n') {
            payload.extend_from_slice(&object[start..]);
            break;
        }
        let mut sig_part = None;
        if in_sig && line.first() == Some(&b' ') {
            sig_part = Some(&line[1..]);
        } else if line.starts_with(header) && line.get(header.len()) == Some(&b' ') {
            sig_part = Some(&line[header.len() + 1..]);
            other_sig = false;
            count += 1;
        } else if line.starts_with(b"gpgsig") {
            other_sig = true;
        } else if other_sig && line.first() != Some(&b' ') {
            other_sig = false;
        }
        match sig_part {
            Some(s) => {
                signature.extend_from_slice(s);
                in_sig = true;
            }
            None => {
                if !other_sig {
                    payload.extend_from_slice(line);
                }
                in_sig = false;
            }
        }
    }
    if count > 1 {
        return Err(ObjectError(format!(
            "ambiguous object: duplicate header(s) {} ({count} signatures in one commit)",
            algo.signature_header()
        )));
    }
    if count == 0 {
        return Ok(None);
    }
    Ok(Some(Signed { payload, signature }))
}

/// Whether a header line starts with `name ` (headers end at the first
/// empty line; the message is not read).
fn has_header(object: &[u8], name: &[u8]) -> bool {
    for (_, line) in lines(object) {
        if line.first() == Some(&b'\n') {
            return false;
        }
        if line.starts_with(name) && line.get(name.len()) == Some(&b' ') {
            return true;
        }
    }
    false
}

/// Splits an annotated tag: the signature starts at the last line that
/// opens a known signature block. `None` when unsigned.
pub fn split_tag(object: &[u8]) -> Option<Signed> {
    let mut found = None;
    for (start, line) in lines(object) {
        if SIG_MARKERS.iter().any(|m| line.starts_with(m)) {
            found = Some(start);
        }
    }
    let at = found?;
    Some(Signed {
        payload: object[..at].to_vec(),
        signature: object[at..].to_vec(),
    })
}

/// Splits a commit or tag.
pub fn split(
    object: &[u8],
    kind: ObjectKind,
    algo: HashAlgo,
) -> Result<Option<Signed>, ObjectError> {
    match kind {
        ObjectKind::Commit => split_commit(object, algo),
        ObjectKind::Tag => Ok(split_tag(object)),
    }
}

/// Puts a signature back into a commit payload where git places it: as the
/// last header, each continuation line indented by one space.
pub fn join_commit(payload: &[u8], signature: &[u8], algo: HashAlgo) -> Vec<u8> {
    let split_at = payload
        .windows(2)
        .position(|w| w == b"\n\n")
        .map(|i| i + 1)
        .unwrap_or(payload.len());
    let mut out = Vec::with_capacity(payload.len() + signature.len() + 64);
    out.extend_from_slice(&payload[..split_at]);
    out.extend_from_slice(algo.signature_header().as_bytes());
    out.push(b' ');
    let sig = signature.strip_suffix(b"\n").unwrap_or(signature);
    for (i, line) in sig.split(|b| *b == b'\n').enumerate() {
        if i > 0 {
            out.extend_from_slice(b"\n ");
        }
        out.extend_from_slice(line);
    }
    out.push(b'\n');
    out.extend_from_slice(&payload[split_at..]);
    out
}

/// A git object id: the hash of `"<type> <len>\0" || body`.
pub fn object_id(kind: ObjectKind, body: &[u8], algo: HashAlgo) -> String {
    object_id_of_type(kind.name(), body, algo)
}

/// The id of an object of any type (`blob`, `tree`, `commit`, `tag`),
/// without copying the body.
pub fn object_id_of_type(type_name: &str, body: &[u8], algo: HashAlgo) -> String {
    let header = format!("{type_name} {}\0", body.len());
    let hash = match algo {
        HashAlgo::Sha256 => crate::pki::crypto::Hash::Sha256,
        HashAlgo::Sha1 => crate::pki::crypto::Hash::Sha1,
    };
    crate::encoding::asn1::hex_lower(&hash.digest_parts(&[header.as_bytes(), body]))
}

/// The commit Go gitsign hashes to key its online-mode Rekor entries: it
/// decodes the payload as a go-git commit and re-encodes tree, parents,
/// author, committer, the signature and the message (other headers are
/// dropped; a tag decodes to an empty commit carrying the tag message).
pub fn gogit_commit_reencoding(payload: &[u8], signature: &[u8]) -> Vec<u8> {
    let (headers, message) = match payload.windows(2).position(|w| w == b"\n\n") {
        Some(i) => (&payload[..i + 1], &payload[i + 2..]),
        None => (payload, &b""[..]),
    };
    let (mut tree, mut parents, mut author, mut committer) = (None, Vec::new(), None, None);
    for line in headers.split(|b| *b == b'\n') {
        if let Some(v) = line.strip_prefix(b"tree ") {
            tree = Some(v);
        } else if let Some(v) = line.strip_prefix(b"parent ") {
            parents.push(v);
        } else if let Some(v) = line.strip_prefix(b"author ") {
            author = Some(v);
        } else if let Some(v) = line.strip_prefix(b"committer ") {
            committer = Some(v);
        }
    }
    let zero_sig: &[u8] = b" <> 0 +0000";
    let mut out = Vec::with_capacity(payload.len() + signature.len() + 64);
    out.extend_from_slice(b"tree ");
    out.extend_from_slice(tree.unwrap_or(b"0000000000000000000000000000000000000000"));
    out.push(b'\n');
    for p in parents {
        out.extend_from_slice(b"parent ");
        out.extend_from_slice(p);
        out.push(b'\n');
    }
    out.extend_from_slice(b"author ");
    out.extend_from_slice(author.unwrap_or(zero_sig));
    out.extend_from_slice(b"\ncommitter ");
    out.extend_from_slice(committer.unwrap_or(zero_sig));
    out.extend_from_slice(b"\ngpgsig ");
    let sig = signature.strip_suffix(b"\n").unwrap_or(signature);
    for (i, l) in sig.split(|b| *b == b'\n').enumerate() {
        if i > 0 {
            out.extend_from_slice(b"\n ");
        }
        out.extend_from_slice(l);
    }
    out.extend_from_slice(b"\n\n");
    out.extend_from_slice(message);
    out
}

/// Longest subject kept for reports, in characters: a message is
/// attacker-chosen and may be one 60 MiB line.
pub const MAX_SUBJECT: usize = 200;

/// The subject line of a commit or tag message, for reports: at most
/// [`MAX_SUBJECT`] characters, with "…" when cut (not escaped: callers
/// print through [`crate::encoding::text::printable`]). Reads at most a few hundred
/// bytes of the message.
pub fn subject(object: &[u8]) -> String {
    let body = object
        .windows(2)
        .position(|w| w == b"\n\n")
        .map(|i| &object[i + 2..])
        .unwrap_or_default();
    let line = body.split(|b| *b == b'\n').next().unwrap_or_default();
    // Cut before decoding: UTF-8 needs at most 4 bytes per character.
    let limit = line.len().min(MAX_SUBJECT * 4 + 4);
    let text = String::from_utf8_lossy(&line[..limit]);
    match text.char_indices().nth(MAX_SUBJECT) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COMMIT: &[u8] = b"tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\nauthor A <a@x> 1 +0000\ncommitter A <a@x> 1 +0000\ngpgsig -----BEGIN SIGNED MESSAGE-----\n MIIB\n -----END SIGNED MESSAGE-----\n\nmsg\ngpgsig in body\n";

    #[test]
    fn commit_round_trip() {
        let s = split_commit(COMMIT, HashAlgo::Sha1).unwrap().unwrap();
        assert_eq!(
            s.signature,
            b"-----BEGIN SIGNED MESSAGE-----\nMIIB\n-----END SIGNED MESSAGE-----\n"
        );
        assert!(s
            .payload
            .ends_with(b"committer A <a@x> 1 +0000\n\nmsg\ngpgsig in body\n"));
        assert_eq!(
            join_commit(&s.payload, &s.signature, HashAlgo::Sha1),
            COMMIT
        );
        assert_eq!(split_commit(COMMIT, HashAlgo::Sha256).unwrap(), None);
    }

    #[test]
    fn duplicate_header_is_ambiguous() {
        let dup = [&COMMIT[..COMMIT.len() - 21], b"gpgsig x\n\nmsg\n"].concat();
        let dup = String::from_utf8(dup)
            .unwrap()
            .replacen("\n\nmsg", "\ngpgsig y\n\nmsg", 1);
        let e = split_commit(dup.as_bytes(), HashAlgo::Sha1).unwrap_err();
        assert!(e.0.contains("duplicate header(s) gpgsig"), "{e}");
    }

    #[test]
    fn other_algorithm_signature_is_dropped_from_payload() {
        let obj = b"tree 1\ngpgsig-sha256 -----BEGIN X-----\n a\n -----END X-----\ngpgsig s\n\nm\n";
        let s = split_commit(obj, HashAlgo::Sha1).unwrap().unwrap();
        assert_eq!(s.payload, b"tree 1\n\nm\n");
        assert_eq!(s.signature, b"s\n");
    }

    #[test]
    fn tag_split() {
        let tag = b"object 1\ntype commit\ntag v1\ntagger T <t@x> 1 +0000\n\nmsg\n-----BEGIN SIGNED MESSAGE-----\nAA\n-----END SIGNED MESSAGE-----\n";
        let s = split_tag(tag).unwrap();
        assert_eq!(
            s.payload,
            b"object 1\ntype commit\ntag v1\ntagger T <t@x> 1 +0000\n\nmsg\n"
        );
        assert!(split_tag(b"object 1\n\nmsg\n").is_none());
    }

    #[test]
    fn ids() {
        // Values from Python's hashlib over "<type> <len>\0<body>".
        assert_eq!(
            object_id(ObjectKind::Commit, b"", HashAlgo::Sha1),
            "dcf5b16e76cce7425d0beaef62d79a7d10fce1f5"
        );
        assert_eq!(
            object_id(ObjectKind::Tag, b"abc", HashAlgo::Sha256),
            "4a7bfa174fff8a0a5d101451a5e13ce93861a456efe65e8b3be15cbc7b719ada"
        );
        assert_eq!(
            HashAlgo::detect(b"tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\n"),
            HashAlgo::Sha1
        );
        assert_eq!(
            HashAlgo::detect(&[b"tree ".as_slice(), &[b'a'; 64]].concat()),
            HashAlgo::Sha256
        );
    }

    #[test]
    fn subjects_are_bounded() {
        assert_eq!(subject(b"tree 1\n\nshort\nbody\n"), "short");
        assert_eq!(subject(b"tree 1\n"), "");
        let mut huge = b"tree 1\n\n".to_vec();
        huge.resize(huge.len() + 10_000_000, b'y');
        let s = subject(&huge);
        assert_eq!(s.chars().count(), MAX_SUBJECT + 1);
        assert!(s.ends_with('…'));
        let mut multi = b"tree 1\n\n".to_vec();
        multi.extend("é".repeat(300).as_bytes());
        assert_eq!(subject(&multi), format!("{}…", "é".repeat(MAX_SUBJECT)));
    }

    #[test]
    fn ids_of_any_type() {
        // git hash-object -t blob --stdin <<< "" (one newline).
        assert_eq!(
            object_id_of_type("blob", b"\n", HashAlgo::Sha1),
            "8b137891791fe96927ad78e64b0aad7bded08bdc"
        );
        assert_eq!(
            object_id_of_type("commit", b"", HashAlgo::Sha1),
            object_id(ObjectKind::Commit, b"", HashAlgo::Sha1)
        );
    }

    #[test]
    fn gogit_reencoding_matches_git_for_plain_commits() {
        let s = split_commit(COMMIT, HashAlgo::Sha1).unwrap().unwrap();
        assert_eq!(gogit_commit_reencoding(&s.payload, &s.signature), COMMIT);
        let tag = b"object 1\ntype commit\ntag v1\ntagger T <t@x> 1 +0000\n\nmsg\n";
        let go = gogit_commit_reencoding(tag, b"SIG\n");
        assert_eq!(
            go,
            b"tree 0000000000000000000000000000000000000000\nauthor  <> 0 +0000\ncommitter  <> 0 +0000\ngpgsig SIG\n\nmsg\n"
        );
    }
}
