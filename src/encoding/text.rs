//! Text from untrusted input made safe to show on a terminal.
//!
//! Commit subjects, certificate claims (a GitHub workflow name is chosen by
//! whoever wrote the workflow), issuer names and server messages reach
//! stdout, stderr and git's status lines. A carriage return, an ANSI escape
//! or a bidirectional override in them could rewrite what the user sees (a
//! FAIL line redrawn as OK). Every line printed from input goes through
//! [`printable`]; our own text has no control characters, so escaping whole
//! lines at the output is safe and catches what a caller forgot.

use std::borrow::Cow;
use std::fmt::Write;

/// Whether `c` may change how a terminal shows the text around it: C0 and
/// C1 controls, DEL, and Unicode's bidirectional and invisible formatting
/// characters.
fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}'
                | '\u{200b}'..='\u{200f}'
                | '\u{2028}'..='\u{202e}'
                | '\u{2060}'..='\u{2069}'
                | '\u{feff}'
        )
}

/// `s` with every character that could steer a terminal written as an
/// escape (`\x1b`, `\u{202e}`); unchanged (borrowed) when there is none.
/// Linear in the input.
pub fn printable(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_unsafe) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        if !is_unsafe(c) {
            out.push(c);
        } else if (c as u32) < 0x100 {
            let _ = write!(out, "\\x{:02x}", c as u32);
        } else {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        }
    }
    Cow::Owned(out)
}

/// Serialized JSON `json` with every character [`printable`] would escape
/// written as a JSON `\uXXXX` escape (a UTF-16 surrogate pair above
/// U+FFFF): C1 controls, DEL, bidirectional and invisible formatting
/// characters, U+2028/U+2029. The result is the same JSON value, so a
/// parser reads the same strings, but a terminal or log viewer showing it
/// is not steered by them. JSON's structure is ASCII, so such characters
/// can only be inside strings; the C0 whitespace JSON allows between
/// tokens (tab, newline, carriage return) is left alone, and JSON
/// serializers already escape C0 inside strings.
pub fn json_safe(json: &str) -> Cow<'_, str> {
    let escape = |c: char| is_unsafe(c) && !matches!(c, '\t' | '\n' | '\r');
    if !json.chars().any(escape) {
        return Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if !escape(c) {
            out.push(c);
            continue;
        }
        let mut units = [0u16; 2];
        for u in c.encode_utf16(&mut units) {
            let _ = write!(out, "\\u{:04x}", u);
        }
    }
    Cow::Owned(out)
}

/// At most `max` characters of `s` for display, with "…" when cut, and
/// made [`printable`]. Linear in `max`, not in the input.
pub fn excerpt(s: &str, max: usize) -> String {
    let mut end = s.len();
    let mut cut = false;
    if let Some((i, _)) = s.char_indices().nth(max) {
        end = i;
        cut = true;
    }
    let mut out = printable(&s[..end]).into_owned();
    if cut {
        out.push('…');
    }
    out
}

/// Bytes of unknown encoding (a commit subject) as display text: invalid
/// UTF-8 replaced, then [`excerpt`].
pub fn excerpt_bytes(b: &[u8], max: usize) -> String {
    // Cut before decoding so a huge input is never copied whole.
    let limit = b.len().min(max.saturating_mul(4).saturating_add(4));
    excerpt(&String::from_utf8_lossy(&b[..limit]), max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_and_bidi_are_escaped() {
        assert_eq!(printable("plain text, ünïcode"), "plain text, ünïcode");
        assert!(matches!(printable("ok"), Cow::Borrowed(_)));
        assert_eq!(
            printable("FAIL\r\x1b[32mOK\x1b[0m"),
            "FAIL\\x0d\\x1b[32mOK\\x1b[0m"
        );
        assert_eq!(printable("a\nb\tc\u{7f}"), "a\\x0ab\\x09c\\x7f");
        assert_eq!(printable("x\u{9b}31m"), "x\\x9b31m");
        assert_eq!(printable("abc\u{202e}fed"), "abc\\u{202e}fed");
        assert_eq!(printable("\u{2066}\u{feff}"), "\\u{2066}\\u{feff}");
    }

    #[test]
    fn json_is_escaped_without_changing_its_value() {
        assert!(matches!(json_safe("{\"a\":\"ok é\"}"), Cow::Borrowed(_)));
        let raw = "{\"s\":\"fix \u{202e}x \u{9b}31m \u{2028}\u{7f}\u{feff}\u{61c}\"}\n";
        let safe = json_safe(raw);
        assert_eq!(
            safe,
            "{\"s\":\"fix \\u202ex \\u009b31m \\u2028\\u007f\\ufeff\\u061c\"}\n"
        );
        let a: serde_json::Value = serde_json::from_str(raw).unwrap();
        let b: serde_json::Value = serde_json::from_str(&safe).unwrap();
        assert_eq!(a, b);
        assert!(!safe.chars().any(|c| c != '\n' && is_unsafe(c)));
    }

    #[test]
    fn excerpts_are_bounded() {
        assert_eq!(excerpt("short", 10), "short");
        assert_eq!(excerpt("0123456789abc", 10), "0123456789…");
        assert_eq!(excerpt("ééééé", 3), "ééé…");
        assert_eq!(excerpt("a\x1bb", 3), "a\\x1bb");
        let huge = vec![b'x'; 10_000_000];
        assert_eq!(excerpt_bytes(&huge, 5), "xxxxx…");
        assert_eq!(excerpt_bytes(b"ok\xff", 10), "ok\u{fffd}");
    }
}
