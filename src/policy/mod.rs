//! Identity policy: which signers (certificate identity and OIDC issuer,
//! plus optional GitHub workflow claims) are trusted.
//!
//! Regular expressions use RE2 syntax (the `regex` crate, as Go's regexp)
//! and must match the whole value: `.*@example\.com` does not accept
//! `x@example.com.evil.org`.
//!
//! The repository policy file is parsed in [`file`](mod@file); where it
//! comes from (a path, or a blob named by a ref) is [`source`].
//!
//! What this folder may use: [`crate::encoding`], [`crate::pki::claims`]
//! (what a certificate says), [`crate::config`], [`crate::git`] (to read a
//! policy from a ref) and [`crate::verify`] (the verified signatures it
//! judges).

pub mod file;
pub mod source;

use regex::{Regex, RegexBuilder};

/// The compiled size a policy regular expression may reach. Compiling costs
/// time in proportion to it: the regex crate's default (10 MiB) let a
/// 219-byte policy file (`\w{500}` twenty times) take most of a second;
/// identity patterns need a few kilobytes.
const REGEX_SIZE_LIMIT: usize = 256 * 1024;

use crate::config::PolicyConfig;
use crate::pki::claims::Claims;

/// One way to match a string.
#[derive(Debug, Clone)]
pub enum Matcher {
    /// Exactly this value.
    Exact(String),
    /// A whole-value regular expression (source kept for messages), and
    /// the same expression unanchored for [`Matcher::partial_match_hint`],
    /// compiled once when first needed: a pusher chooses how many rejected
    /// signers a check meets, and compiling costs milliseconds each time.
    Regex(Regex, String, std::sync::OnceLock<Option<Regex>>),
}

impl Matcher {
    /// A regex matcher, anchored at both ends.
    pub fn regex(src: &str, what: &str) -> Result<Matcher, String> {
        RegexBuilder::new(&format!("^(?:{src})$"))
            .size_limit(REGEX_SIZE_LIMIT)
            .build()
            .map(|r| Matcher::Regex(r, src.to_string(), std::sync::OnceLock::new()))
            .map_err(|e| format!("the {what} regular expression \"{src}\" is invalid: {e}"))
    }

    fn matches(&self, v: &str) -> bool {
        match self {
            Matcher::Exact(s) => s == v,
            Matcher::Regex(r, _, _) => r.is_match(v),
        }
    }

    /// A note for a regular expression that matches only part of `v`:
    /// Go gitsign (and cosign) match anywhere in the value, so a pattern
    /// written for them may fail here, where the whole value must match.
    fn partial_match_hint(&self, v: &str) -> Option<String> {
        let Matcher::Regex(_, src, hint) = self else {
            return None;
        };
        let unanchored = hint
            .get_or_init(|| {
                RegexBuilder::new(src)
                    .size_limit(REGEX_SIZE_LIMIT)
                    .build()
                    .ok()
            })
            .as_ref()?;
        unanchored.is_match(v).then(|| {
            format!(
                "/{src}/ matches only part of \"{v}\": gitsign's regular expressions must match \
                 the whole value (Go gitsign's match anywhere in it); extend the pattern to \
                 cover the whole value, adding .* only where any text may stand"
            )
        })
    }

    fn describe(&self) -> String {
        match self {
            Matcher::Exact(s) => format!("\"{s}\""),
            Matcher::Regex(_, src, _) => format!("/{src}/"),
        }
    }
}

/// A policy over certificate claims.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// Accepted identities (any).
    pub identities: Vec<Matcher>,
    /// Accepted issuers (any).
    pub issuers: Vec<Matcher>,
    /// Required GitHub workflow claims: (name, expected).
    pub github: Vec<(&'static str, String)>,
}

/// What the policy says about a verified signer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// The signer is one the policy names.
    Trusted,
    /// No policy is configured: the signature is good, the signer unvouched.
    NoPolicy,
    /// The signer is not allowed, and why.
    Rejected(String),
}

impl Policy {
    /// Builds a policy from configuration; an identity without an issuer (or
    /// the reverse) is refused, since either alone proves little.
    pub fn from_config(c: &PolicyConfig) -> Result<Policy, String> {
        let mut p = Policy::default();
        p.identities
            .extend(c.identities.iter().map(|s| Matcher::Exact(s.clone())));
        for r in &c.identity_regexps {
            p.identities
                .push(Matcher::regex(r, "certificate identity")?);
        }
        p.issuers
            .extend(c.issuers.iter().map(|s| Matcher::Exact(s.clone())));
        for r in &c.issuer_regexps {
            p.issuers
                .push(Matcher::regex(r, "certificate OIDC issuer")?);
        }
        for (name, v) in [
            ("workflow trigger", &c.github_workflow_trigger),
            ("workflow sha", &c.github_workflow_sha),
            ("workflow name", &c.github_workflow_name),
            ("workflow repository", &c.github_workflow_repository),
            ("workflow ref", &c.github_workflow_ref),
        ] {
            if let Some(v) = v {
                p.github.push((name, v.clone()));
            }
        }
        if p.identities.is_empty() != p.issuers.is_empty()
            || (p.identities.is_empty() && !p.github.is_empty())
        {
            return Err(
                "an identity policy needs both a certificate identity (exact or regexp) and an OIDC issuer \
                 (exact or regexp); set both, or neither"
                    .into(),
            );
        }
        Ok(p)
    }

    /// True when nothing is required.
    pub fn is_empty(&self) -> bool {
        self.identities.is_empty() && self.issuers.is_empty() && self.github.is_empty()
    }

    /// Decides about `claims`.
    pub fn evaluate(&self, claims: &Claims) -> Decision {
        if self.is_empty() {
            return Decision::NoPolicy;
        }
        let ids = if claims.all_identities.is_empty() {
            vec![claims.identity.clone()]
        } else {
            claims.all_identities.clone()
        };
        if !ids
            .iter()
            .any(|id| self.identities.iter().any(|m| m.matches(id)))
        {
            let hint = ids
                .iter()
                .find_map(|id| {
                    self.identities
                        .iter()
                        .find_map(|m| m.partial_match_hint(id))
                })
                .map(|h| format!("; {h}"))
                .unwrap_or_default();
            return Decision::Rejected(format!(
                "the signer's identity \"{}\" is not allowed (expected {}){hint}",
                claims.identity,
                self.identities
                    .iter()
                    .map(Matcher::describe)
                    .collect::<Vec<_>>()
                    .join(" or ")
            ));
        }
        let issuer = claims.issuer.as_deref().unwrap_or("");
        if !self.issuers.iter().any(|m| m.matches(issuer)) {
            let hint = self
                .issuers
                .iter()
                .find_map(|m| m.partial_match_hint(issuer))
                .map(|h| format!("; {h}"))
                .unwrap_or_default();
            return Decision::Rejected(format!(
                "the signer's OIDC issuer \"{issuer}\" is not allowed (expected {}){hint}",
                self.issuers
                    .iter()
                    .map(Matcher::describe)
                    .collect::<Vec<_>>()
                    .join(" or ")
            ));
        }
        for (name, want) in &self.github {
            let got = match *name {
                "workflow trigger" => &claims.github_workflow_trigger,
                "workflow sha" => &claims.github_workflow_sha,
                "workflow name" => &claims.github_workflow_name,
                "workflow repository" => &claims.github_workflow_repository,
                _ => &claims.github_workflow_ref,
            };
            if got.as_deref() != Some(want.as_str()) {
                return Decision::Rejected(format!(
                    "the certificate's GitHub {name} is {}, expected \"{want}\"",
                    got.as_deref()
                        .map(|g| format!("\"{g}\""))
                        .unwrap_or_else(|| "absent".into())
                ));
            }
        }
        Decision::Trusted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found probing the fuzz target `text` with hand-made large inputs
    /// after its run (libFuzzer itself did not reach it): this 219-byte policy file
    /// took most of a second to compile its regular expression. The size
    /// limit refuses it at once; ordinary identity patterns still compile.
    #[test]
    fn regex_compilation_is_bounded() {
        let text = include_str!("../../tests/fixtures/fuzz/policy_unicode_regex.toml");
        let err = crate::policy::file::PolicyFile::parse(text, "p.toml").unwrap_err();
        assert!(err.to_string().contains("regular expression"), "{err}");
        for ok in [
            r".*@example\.com",
            r"[\w.+-]+@(\w+\.)+\w+",
            r"https://github\.com/[\w-]+/[\w.-]+/\.github/workflows/.*@refs/heads/\w+",
        ] {
            assert!(Matcher::regex(ok, "identity").is_ok(), "{ok}");
        }
    }

    fn claims(id: &str, iss: &str) -> Claims {
        Claims {
            identity: id.into(),
            all_identities: vec![id.into()],
            issuer: Some(iss.into()),
            ..Default::default()
        }
    }

    /// A policy built by hand (the fields are public) that names only an
    /// issuer, or only workflow claims, still requires them: it is not
    /// the empty policy that trusts every signer.
    #[test]
    fn a_policy_naming_anything_is_not_empty() {
        let issuer = || vec![Matcher::Exact("https://issuer.example".into())];
        let only_issuer = Policy {
            identities: Vec::new(),
            issuers: issuer(),
            github: Vec::new(),
        };
        let only_github = Policy {
            identities: Vec::new(),
            issuers: Vec::new(),
            github: vec![("repository", "o/r".into())],
        };
        for p in [&only_issuer, &only_github] {
            assert!(!p.is_empty());
            assert_ne!(
                p.evaluate(&claims("a@example.com", "https://other.example")),
                Decision::Trusted
            );
        }
        assert!(Policy {
            identities: Vec::new(),
            issuers: Vec::new(),
            github: Vec::new(),
        }
        .is_empty());
    }

    #[test]
    fn exact_and_anchored_regex() {
        let p = Policy::from_config(&PolicyConfig {
            identity_regexps: vec![".*@example\\.com".into()],
            issuers: vec!["https://accounts.google.com".into()],
            ..Default::default()
        })
        .unwrap();
        assert_eq!(
            p.evaluate(&claims("a@example.com", "https://accounts.google.com")),
            Decision::Trusted
        );
        assert!(matches!(
            p.evaluate(&claims(
                "a@example.com.evil.org",
                "https://accounts.google.com"
            )),
            Decision::Rejected(_)
        ));
        assert!(matches!(
            p.evaluate(&claims("a@example.com", "https://evil")),
            Decision::Rejected(_)
        ));
        assert_eq!(
            Policy::default().evaluate(&claims("a", "b")),
            Decision::NoPolicy
        );
    }

    #[test]
    fn a_pattern_matching_part_of_the_value_gets_a_hint() {
        let p = Policy::from_config(&PolicyConfig {
            identity_regexps: vec!["@example\\.com".into()],
            issuer_regexps: vec!["accounts\\.google".into()],
            ..Default::default()
        })
        .unwrap();
        let Decision::Rejected(why) =
            p.evaluate(&claims("a@example.com", "https://accounts.google.com"))
        else {
            panic!("a partial match must not be accepted");
        };
        assert!(why.contains("identity"), "{why}");
        assert!(why.contains("must match the whole value"), "{why}");
        // The rejection names what was expected, as written.
        assert!(why.contains("(expected /@example\\.com/)"), "{why}");
        // The identity passes a whole-value pattern; the issuer's hint.
        let p = Policy::from_config(&PolicyConfig {
            identity_regexps: vec![".*@example\\.com".into()],
            issuer_regexps: vec!["accounts\\.google".into()],
            ..Default::default()
        })
        .unwrap();
        let Decision::Rejected(why) =
            p.evaluate(&claims("a@example.com", "https://accounts.google.com"))
        else {
            panic!("a partial match must not be accepted");
        };
        assert!(why.contains("OIDC issuer"), "{why}");
        assert!(
            why.contains("/accounts\\.google/ matches only part"),
            "{why}"
        );
        // No hint where the pattern matches nothing of the value.
        let Decision::Rejected(why) = p.evaluate(&claims("a@example.com", "https://evil")) else {
            panic!()
        };
        assert!(!why.contains("whole value"), "{why}");
        assert!(why.contains("(expected /accounts\\.google/)"), "{why}");
        // An exact value is quoted.
        let p = Policy::from_config(&PolicyConfig {
            identities: vec!["b@example.com".into()],
            issuers: vec!["https://accounts.google.com".into()],
            ..Default::default()
        })
        .unwrap();
        let Decision::Rejected(why) =
            p.evaluate(&claims("a@example.com", "https://accounts.google.com"))
        else {
            panic!()
        };
        assert!(why.contains("(expected \"b@example.com\")"), "{why}");
    }

    /// Each GitHub workflow claim is compared with its own certificate
    /// field, and a mismatch names the claim.
    #[test]
    fn each_workflow_claim_is_compared_with_its_own_field() {
        let claims = Claims {
            github_workflow_trigger: Some("push".into()),
            github_workflow_sha: Some("0123abcd".into()),
            github_workflow_name: Some("CI".into()),
            github_workflow_repository: Some("org/repo".into()),
            github_workflow_ref: Some("refs/heads/main".into()),
            ..claims(
                "https://github.com/org/repo/.github/workflows/ci.yml@refs/heads/main",
                "https://token.actions.githubusercontent.com",
            )
        };
        let base = PolicyConfig {
            identity_regexps: vec!["https://github\\.com/org/.*".into()],
            issuers: vec!["https://token.actions.githubusercontent.com".into()],
            github_workflow_trigger: Some("push".into()),
            github_workflow_sha: Some("0123abcd".into()),
            github_workflow_name: Some("CI".into()),
            github_workflow_repository: Some("org/repo".into()),
            github_workflow_ref: Some("refs/heads/main".into()),
            ..Default::default()
        };
        assert_eq!(
            Policy::from_config(&base).unwrap().evaluate(&claims),
            Decision::Trusted
        );
        type Field = fn(&mut PolicyConfig) -> &mut Option<String>;
        let fields: [(&str, Field); 5] = [
            ("trigger", |c| &mut c.github_workflow_trigger),
            ("sha", |c| &mut c.github_workflow_sha),
            ("name", |c| &mut c.github_workflow_name),
            ("repository", |c| &mut c.github_workflow_repository),
            ("ref", |c| &mut c.github_workflow_ref),
        ];
        for (name, field) in fields {
            let mut c = base.clone();
            *field(&mut c) = Some("something else".into());
            let Decision::Rejected(why) = Policy::from_config(&c).unwrap().evaluate(&claims) else {
                panic!("{name}: another value was accepted")
            };
            assert!(why.contains(&format!("GitHub workflow {name} is")), "{why}");
            assert!(why.contains("expected \"something else\""), "{why}");
        }
    }

    #[test]
    fn half_policies_and_bad_regexes_are_refused() {
        assert!(Policy::from_config(&PolicyConfig {
            identities: vec!["a".into()],
            ..Default::default()
        })
        .is_err());
        assert!(Policy::from_config(&PolicyConfig {
            identity_regexps: vec!["(".into()],
            issuers: vec!["x".into()],
            ..Default::default()
        })
        .is_err());
    }

    #[test]
    fn github_claims() {
        let p = Policy::from_config(&PolicyConfig {
            identity_regexps: vec![".*".into()],
            issuers: vec!["https://token.actions.githubusercontent.com".into()],
            github_workflow_repository: Some("gittuf/gittuf".into()),
            ..Default::default()
        })
        .unwrap();
        let mut c = claims(
            "https://github.com/x",
            "https://token.actions.githubusercontent.com",
        );
        assert!(matches!(p.evaluate(&c), Decision::Rejected(_)));
        c.github_workflow_repository = Some("gittuf/gittuf".into());
        assert_eq!(p.evaluate(&c), Decision::Trusted);
    }
}
