//! Which ref a pushed name is: its Unicode normalization form, and the
//! namespace git writes it in.
//!
//! **Normalization.** Ref names are file names under the files backend,
//! and some filesystems ignore Unicode normalization (APFS, HFS+, which
//! stores NFD, ext4 and others with casefolding): there `refs/heads/café`
//! written with U+00E9 and with `e` + U+0301 is one file. Rules match
//! names byte for byte, so the second spelling would escape the first's
//! rule. The hook refuses every pushed name that is not in NFC (the form
//! git on macOS writes with `core.precomposeUnicode`, and what anyone
//! types): an NFC name has exactly one spelling, so a rule written in NFC
//! governs it. Refusing is simpler and safer than normalizing and then
//! matching (which would still leave two refs, one of them unchecked, on
//! filesystems that do keep both). The check is
//! [`unicode_normalization::is_nfc`], linear in the name: the crate is
//! already built into gitsign (gix depends on it), so it costs no new
//! dependency, and NFC's composition tables are not something to copy by
//! hand. ASCII names never reach it (ASCII is always NFC).
//!
//! **Namespaces.** With `GIT_NAMESPACE` set (git-http-backend, an ssh
//! forced command), receive-pack writes `refs/namespaces/<ns>/<name>` for
//! a pushed `<name>` and follows symbolic refs there, yet hands the hook
//! the name as pushed; git's plumbing (`for-each-ref`, `rev-parse`) does
//! not apply the namespace. The hook therefore resolves the full name,
//! and matches rules against the name as seen inside the namespace (a
//! namespace is a repository of its own to its users: its
//! `refs/heads/main` is held to the rule for `refs/heads/main`). A name
//! outside the namespace (a symbolic ref pointing out of it) is matched
//! as it is.

use crate::git::is_ref_name;

/// The NFC spelling of `name`, when `name` is not already in NFC.
pub fn nfc_problem(name: &str) -> Option<String> {
    if name.is_ascii() || unicode_normalization::is_nfc(name) {
        return None;
    }
    use unicode_normalization::UnicodeNormalization;
    Some(name.nfc().collect())
}

/// `name` with every non-ASCII character written as `\u{...}`, so two
/// spellings that look alike can be told apart.
pub fn escaped(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii() {
                c.to_string()
            } else {
                format!("\\u{{{:x}}}", c as u32)
            }
        })
        .collect()
}

/// A ref namespace: the prefix git puts before every pushed name.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Namespace {
    /// `refs/namespaces/<a>/refs/namespaces/<b>/...`, ending in `/`;
    /// empty when there is no namespace.
    prefix: String,
}

/// Longest `GIT_NAMESPACE` accepted.
const MAX_NAMESPACE: usize = 1024;

impl Namespace {
    /// The namespace `GIT_NAMESPACE` names, expanded as git expands it
    /// (each `/`-separated component becomes `refs/namespaces/<c>/`,
    /// empty components skipped); `Err` is a sentence for the pusher.
    pub fn from_env(raw: Option<&str>) -> Result<Namespace, String> {
        let Some(raw) = raw.filter(|r| !r.is_empty()) else {
            return Ok(Namespace::default());
        };
        let shown = crate::encoding::text::excerpt(raw, 200);
        if raw.len() > MAX_NAMESPACE {
            return Err(format!(
                "the ref namespace (GIT_NAMESPACE) \"{shown}\" is longer than {MAX_NAMESPACE} bytes"
            ));
        }
        let mut prefix = String::new();
        for c in raw.split('/').filter(|c| !c.is_empty()) {
            prefix.push_str("refs/namespaces/");
            prefix.push_str(c);
            prefix.push('/');
        }
        if prefix.is_empty() || !is_ref_name(&prefix[..prefix.len() - 1]) {
            return Err(format!(
                "the ref namespace (GIT_NAMESPACE) \"{shown}\" is not a valid ref namespace"
            ));
        }
        Ok(Namespace { prefix })
    }

    /// The full name git writes for a pushed `name`.
    pub fn full(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    /// How rules see a full name: inside the namespace, without its
    /// prefix; outside it, as it is.
    pub fn view<'a>(&self, full: &'a str) -> &'a str {
        if self.prefix.is_empty() {
            return full;
        }
        full.strip_prefix(self.prefix.as_str()).unwrap_or(full)
    }

    /// Is there a namespace?
    pub fn is_set(&self) -> bool {
        !self.prefix.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A namespace of exactly the longest length is read; one byte more
    /// is refused, saying so.
    #[test]
    fn namespace_length_bound_is_inclusive() {
        let ns = Namespace::from_env(Some(&"n".repeat(MAX_NAMESPACE))).unwrap();
        assert_eq!(
            ns.prefix.len(),
            "refs/namespaces/".len() + MAX_NAMESPACE + 1
        );
        let e = Namespace::from_env(Some(&"n".repeat(MAX_NAMESPACE + 1))).unwrap_err();
        assert!(e.contains("is longer than"), "{e}");
    }

    #[test]
    fn nfc_names() {
        assert_eq!(nfc_problem("refs/heads/main"), None);
        assert_eq!(nfc_problem("refs/heads/caf\u{e9}"), None);
        assert_eq!(
            nfc_problem("refs/heads/cafe\u{301}").as_deref(),
            Some("refs/heads/caf\u{e9}")
        );
        assert_eq!(escaped("refs/heads/cafe\u{301}"), "refs/heads/cafe\\u{301}");
        // A singleton: the Angstrom sign's NFC is U+00C5.
        assert_eq!(
            nfc_problem("refs/heads/\u{212b}").as_deref(),
            Some("refs/heads/\u{c5}")
        );
    }

    #[test]
    fn namespaces_expand_as_git_does() {
        let ns = Namespace::from_env(Some("a//b/")).unwrap();
        assert_eq!(
            ns.full("refs/heads/x"),
            "refs/namespaces/a/refs/namespaces/b/refs/heads/x"
        );
        assert_eq!(
            ns.view("refs/namespaces/a/refs/namespaces/b/refs/heads/x"),
            "refs/heads/x"
        );
        assert_eq!(ns.view("refs/heads/y"), "refs/heads/y");
        assert!(ns.is_set());
        let none = Namespace::from_env(Some("")).unwrap();
        assert!(!none.is_set());
        assert_eq!(none.full("refs/heads/x"), "refs/heads/x");
        assert!(Namespace::from_env(Some("a..b")).is_err());
        assert!(Namespace::from_env(Some("/")).is_err());
        assert!(Namespace::from_env(Some("x\u{1b}[31m")).is_err());
    }
}
