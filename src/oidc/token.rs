//! The identity token: a compact JWS whose claims are read to pick the
//! proof-of-possession subject and to fail early, with a sentence, on a
//! token Fulcio would refuse ([`IdToken::check`]).
//!
//! What it may use: serde_json, base64 and [`crate::encoding::time`].

use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::{OidcError, MAX_TOKEN};

/// An OIDC identity token and the claims Fulcio uses.
///
/// The signature is NOT checked here: Fulcio verifies the token against the
/// issuer's keys before it issues anything, and a client-side check would
/// add a JWKS fetch and RSA/EC code for no security gain (we only hand the
/// token to Fulcio). The claims are read to pick the proof-of-possession
/// subject and to fail early, with a clear message, on tokens Fulcio would
/// refuse (expired, wrong audience or issuer).
#[derive(Clone, PartialEq, Eq)]
pub struct IdToken {
    raw: String,
    /// `iss`.
    pub issuer: String,
    /// `sub`.
    pub subject: String,
    /// `aud` (a string or a list in the token).
    pub audience: Vec<String>,
    /// `email`, when present.
    pub email: Option<String>,
    /// `email_verified`, when present.
    pub email_verified: Option<bool>,
    /// `exp`, seconds since the epoch.
    pub expires_at: i64,
    /// `iat`, when present.
    pub issued_at: Option<i64>,
    /// `nbf`, when present.
    pub not_before: Option<i64>,
    /// `nonce`, when present.
    pub nonce: Option<String>,
    /// Every claim of the payload (e.g. GitHub workflow claims).
    pub claims: Map<String, Value>,
}

impl std::fmt::Debug for IdToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdToken")
            .field("raw", &self.redacted())
            .field("issuer", &self.issuer)
            .field("subject", &self.subject)
            .field("audience", &self.audience)
            .field("email", &self.email)
            .field("email_verified", &self.email_verified)
            .field("expires_at", &self.expires_at)
            .field("issued_at", &self.issued_at)
            .field("not_before", &self.not_before)
            .field("nonce", &self.nonce)
            .finish_non_exhaustive()
    }
}

/// `aud`: one string or a list of them (RFC 7519 4.1.3).
#[derive(Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

/// `email_verified`: a boolean, or (some providers) "true"/"false".
#[derive(Deserialize)]
#[serde(untagged)]
enum Flag {
    Bool(bool),
    Text(String),
}

/// The claim `name` as a `T`, `None` when absent or null; else a sentence
/// saying it is not `what`.
fn claim<T: DeserializeOwned>(
    claims: &Map<String, Value>,
    name: &str,
    what: &str,
) -> Result<Option<T>, OidcError> {
    let bad =
        || OidcError::InvalidToken(format!("the identity token's `{name}` claim is not {what}"));
    match claims.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => T::deserialize(v).map(Some).map_err(|_| bad()),
    }
}

/// A NumericDate claim, in whole seconds: any integer, or a fraction of
/// sane size.
fn claim_time(claims: &Map<String, Value>, name: &str) -> Result<Option<i64>, OidcError> {
    let Some(n) = claim::<serde_json::Number>(claims, name, "a number")? else {
        return Ok(None);
    };
    n.as_i64()
        .or_else(|| {
            n.as_f64()
                .filter(|f| f.is_finite() && f.abs() < 1e15)
                .map(|f| f as i64)
        })
        .map(Some)
        .ok_or_else(|| {
            OidcError::InvalidToken(format!(
                "the identity token's `{name}` claim is not a usable time"
            ))
        })
}

/// A claim the token must carry, as a non-empty string.
fn required(claims: &Map<String, Value>, name: &str, what: &str) -> Result<String, OidcError> {
    claim::<String>(claims, name, "a string")?
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            OidcError::InvalidToken(format!("the identity token has no {what} (`{name}` claim)"))
        })
}

impl IdToken {
    /// Reads a compact JWS (`header.payload.signature`) and its claims.
    /// Checks the shape and the claim types only; see [`IdToken::check`].
    pub fn parse(raw: &str) -> Result<IdToken, OidcError> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(OidcError::InvalidToken(
                "the identity token is empty".into(),
            ));
        }
        if raw.len() > MAX_TOKEN {
            return Err(OidcError::InvalidToken(format!(
                "the identity token is too large ({} bytes, at most {MAX_TOKEN})",
                raw.len()
            )));
        }
        let parts: Vec<&str> = raw.split('.').collect();
        if parts.len() == 5 {
            return Err(OidcError::InvalidToken(
                "the identity token is encrypted (JWE); Fulcio needs a signed JWT".into(),
            ));
        }
        if parts.len() != 3 || parts.iter().any(|p| p.is_empty()) {
            return Err(OidcError::InvalidToken(
                "the identity token is not a JWT (expected three base64url parts separated by dots)"
                    .into(),
            ));
        }
        let payload = b64url_decode(parts[1]).ok_or_else(|| {
            OidcError::InvalidToken("the identity token's payload is not base64url".into())
        })?;
        let Ok(Value::Object(c)) = serde_json::from_slice(&payload) else {
            return Err(OidcError::InvalidToken(
                "the identity token's payload is not a JSON object".into(),
            ));
        };
        Ok(IdToken {
            raw: raw.to_string(),
            issuer: required(&c, "iss", "issuer")?,
            subject: required(&c, "sub", "subject")?,
            audience: match claim(&c, "aud", "a string or a list of strings")? {
                Some(Audience::One(a)) => vec![a],
                Some(Audience::Many(a)) => a,
                None => Vec::new(),
            },
            expires_at: claim_time(&c, "exp")?.ok_or_else(|| {
                OidcError::InvalidToken("the identity token has no expiry (`exp` claim)".into())
            })?,
            email: claim::<String>(&c, "email", "a string")?.filter(|s| !s.is_empty()),
            email_verified: match claim::<Flag>(&c, "email_verified", "a boolean")? {
                Some(Flag::Bool(b)) => Some(b),
                Some(Flag::Text(s)) if s.eq_ignore_ascii_case("true") => Some(true),
                Some(Flag::Text(s)) if s.eq_ignore_ascii_case("false") => Some(false),
                Some(Flag::Text(_)) => {
                    return Err(OidcError::InvalidToken(
                        "the identity token's `email_verified` claim is not a boolean".into(),
                    ))
                }
                None => None,
            },
            issued_at: claim_time(&c, "iat")?,
            not_before: claim_time(&c, "nbf")?,
            nonce: claim(&c, "nonce", "a string")?,
            claims: c,
        })
    }

    /// Checks what Fulcio will check, plus the flow's own bindings:
    /// `aud` contains `client_id`; `exp` is after `now`; `nbf` (with a
    /// minute of clock skew) is not after `now`; `iss` equals `issuer` when
    /// given (interactive and device flows); `nonce` equals `nonce` when given
    /// (interactive flow).
    pub fn check(
        &self,
        client_id: &str,
        issuer: Option<&str>,
        nonce: Option<&str>,
        now: i64,
    ) -> Result<(), OidcError> {
        if let Some(want) = issuer {
            if !same_issuer(&self.issuer, want) {
                return Err(OidcError::InvalidToken(format!(
                    "the identity token was issued by {}, not by the configured issuer {want}",
                    self.issuer
                )));
            }
        }
        if !self.audience.iter().any(|a| a == client_id) {
            let got = if self.audience.is_empty() {
                "no audience".to_string()
            } else {
                format!("audience {}", self.audience.join(", "))
            };
            return Err(OidcError::InvalidToken(format!(
                "the identity token has {got}, but Fulcio needs the audience `{client_id}`"
            )));
        }
        if self.expires_at <= now {
            return Err(OidcError::InvalidToken(format!(
                "the identity token expired at {} ({} s ago)",
                crate::encoding::time::format_time(self.expires_at),
                now.saturating_sub(self.expires_at)
            )));
        }
        if let Some(nbf) = self.not_before {
            if nbf > now.saturating_add(60) {
                return Err(OidcError::InvalidToken(format!(
                    "the identity token is not valid before {} (check this machine's clock)",
                    crate::encoding::time::format_time(nbf)
                )));
            }
        }
        if let Some(want) = nonce {
            match self.nonce.as_deref() {
                Some(got) if constant_time_eq(got.as_bytes(), want.as_bytes()) => {}
                Some(_) => {
                    return Err(OidcError::InvalidToken(
                        "the identity token's nonce does not match this login's (a replayed or substituted token)".into(),
                    ))
                }
                None => {
                    return Err(OidcError::InvalidToken(
                        "the identity token carries no nonce, but this login sent one".into(),
                    ))
                }
            }
        }
        Ok(())
    }

    /// The token itself (a bearer secret: send it to Fulcio, never print it).
    pub fn raw(&self) -> &str {
        &self.raw
    }

    /// A printable stand-in for the token: its first characters and length.
    pub fn redacted(&self) -> String {
        let head: String = self.raw.chars().take(12).collect();
        format!("{head}…({} bytes)", self.raw.len())
    }

    /// What the proof of possession signs: the `email` claim for email
    /// identities, else `sub` (as Fulcio's principals' `Name()`: email
    /// issuers use the email, workflow and other issuers the subject).
    pub fn challenge(&self) -> &str {
        self.email.as_deref().unwrap_or(&self.subject)
    }
}

/// Issuer URLs compare without a trailing slash.
pub(crate) fn same_issuer(a: &str, b: &str) -> bool {
    a.trim_end_matches('/') == b.trim_end_matches('/')
}

/// Equality whose time does not depend on where the bytes differ.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn b64url_decode(s: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD
        .decode(s)
        .or_else(|_| URL_SAFE.decode(s))
        .or_else(|_| STANDARD.decode(s))
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(claims: Value) -> String {
        format!(
            "{}.{}.{}",
            URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256"}"#),
            URL_SAFE_NO_PAD.encode(claims.to_string()),
            URL_SAFE_NO_PAD.encode(b"sig")
        )
    }

    #[test]
    fn parses_and_checks_claims() {
        let raw = jwt(
            serde_json::json!({"iss":"https://i","sub":"s1","aud":["x","sigstore"],
            "exp": 2000, "email":"a@b.c","email_verified":"true","nonce":"n"}),
        );
        let t = IdToken::parse(&raw).unwrap();
        assert_eq!(t.challenge(), "a@b.c");
        assert_eq!(t.email_verified, Some(true));
        t.check("sigstore", Some("https://i/"), Some("n"), 1000)
            .unwrap();
        let e = t.check("sigstore", None, None, 3000).unwrap_err();
        assert!(
            e.message().contains("expired at 1970-01-01T00:33:20Z"),
            "{e}"
        );
        assert!(t
            .check("other", None, None, 1000)
            .unwrap_err()
            .message()
            .contains("audience"));
        assert!(t.check("sigstore", Some("https://j"), None, 1000).is_err());
        assert!(t.check("sigstore", None, Some("m"), 1000).is_err());
        assert!(!format!("{t:?}").contains(&raw));

        let t = IdToken::parse(&jwt(
            serde_json::json!({"iss":"i","sub":"repo:x","aud":"sigstore","exp":5}),
        ))
        .unwrap();
        assert_eq!(t.challenge(), "repo:x");
        for bad in [
            "",
            "a.b",
            "a..c",
            "a.!!!.c",
            "a.b.c.d.e",
            &jwt(serde_json::json!([1])),
            &jwt(serde_json::json!({"sub":"s","exp":1})),
            &jwt(serde_json::json!({"iss":"i","sub":"s"})),
            &jwt(serde_json::json!({"iss":"i","sub":"s","exp":"x"})),
            &jwt(serde_json::json!({"iss":"i","sub":"s","exp":1e300})),
        ] {
            assert!(IdToken::parse(bad).is_err(), "{bad}");
        }
    }

    /// The bounds are inclusive where they say so; the token never shows
    /// in its Debug form, but the claims do; the comparison of secrets is
    /// equality.
    #[test]
    fn bounds_redaction_and_equality() {
        let c = serde_json::json!({"iss":"https://i","sub":"s","aud":"a","exp":9000,"nbf":1060});
        let t = IdToken::parse(&jwt(c)).unwrap();
        t.check("a", None, None, 1000).unwrap(); // nbf a minute ahead: clock skew
        let e = t.check("a", None, None, 999).unwrap_err();
        assert!(e.message().contains("is not valid before"), "{e}");
        let shown = format!("{t:?}");
        assert!(
            shown.contains("https://i") && shown.contains(&t.redacted()),
            "{shown}"
        );
        let raw = t.raw();
        assert_eq!(
            t.redacted(),
            format!("{}…({} bytes)", &raw[..12], raw.len())
        );

        let mut c = serde_json::json!({"iss":"i","sub":"s","exp":1e15});
        assert!(
            IdToken::parse(&jwt(c.clone())).is_err(),
            "a fraction of 1e15"
        );
        c["exp"] = serde_json::json!(999_999_999_999_999.0);
        assert!(IdToken::parse(&jwt(c.clone())).is_ok());
        // The size bound: MAX_TOKEN bytes taken, one more refused.
        let t = jwt(c);
        let pad = |n: usize| format!("{t}{}", "A".repeat(n - t.len()));
        assert!(IdToken::parse(&pad(MAX_TOKEN)).is_ok());
        let e = IdToken::parse(&pad(MAX_TOKEN + 1)).unwrap_err();
        assert!(e.message().contains("too large"), "{e}");

        assert!(constant_time_eq(b"ab", b"ab"));
        for (a, b) in [
            (&b"ab"[..], &b"ba"[..]),
            (b"ab", b"ac"),
            (b"ab", b"abc"),
            (b"", b"a"),
        ] {
            assert!(!constant_time_eq(a, b), "{a:?} {b:?}");
        }
    }

    /// Each claim's type is checked, and a wrong one is named.
    #[test]
    fn claim_types_are_named() {
        let base = serde_json::json!({"iss":"i","sub":"s","exp":1});
        let with = |k: &str, v: Value| {
            let mut c = base.clone();
            c[k] = v;
            IdToken::parse(&jwt(c))
        };
        for (k, v, said) in [
            (
                "aud",
                serde_json::json!(5),
                "`aud` claim is not a string or a list of strings",
            ),
            (
                "aud",
                serde_json::json!(["a", 1]),
                "`aud` claim is not a string or a list of strings",
            ),
            (
                "email_verified",
                serde_json::json!("yes"),
                "`email_verified` claim is not a boolean",
            ),
            (
                "email_verified",
                serde_json::json!(1),
                "`email_verified` claim is not a boolean",
            ),
            (
                "nonce",
                serde_json::json!({}),
                "`nonce` claim is not a string",
            ),
            (
                "nbf",
                serde_json::json!("soon"),
                "`nbf` claim is not a number",
            ),
            (
                "exp",
                serde_json::json!(-1e16),
                "`exp` claim is not a usable time",
            ),
            ("iss", serde_json::json!(""), "has no issuer (`iss` claim)"),
            (
                "sub",
                serde_json::json!(null),
                "has no subject (`sub` claim)",
            ),
        ] {
            let e = with(k, v.clone()).unwrap_err();
            assert!(e.message().contains(said), "{k}={v}: {e}");
        }
        for iat in [
            serde_json::json!("x"),
            serde_json::json!({}),
            serde_json::json!(1e300),
        ] {
            let e = with("iat", iat.clone()).unwrap_err();
            assert!(
                e.message().contains("`iat` claim is not a"),
                "iat={iat}: {e}"
            );
        }
        // Whole numbers are taken as they are, however large; only
        // fractions are bounded.
        for (k, v) in [
            ("exp", i64::MAX),
            ("exp", 1_000_000_000_000_000),
            ("nbf", -(10i64.pow(15))),
        ] {
            let t = with(k, serde_json::json!(v)).unwrap();
            t.check("", None, None, 0).unwrap_err(); // no audience
            assert!(t.expires_at == v || t.not_before == Some(v), "{k}={v}");
        }
        let far = with("nbf", serde_json::json!(i64::MAX)).unwrap();
        let e = far.check("", None, None, 0).unwrap_err();
        assert!(e.message().contains("audience"), "{e}");
        let mut c = base.clone();
        c["aud"] = serde_json::json!("a");
        c["exp"] = serde_json::json!(i64::MAX);
        c["nbf"] = serde_json::json!(i64::MAX);
        let e = IdToken::parse(&jwt(c))
            .unwrap()
            .check("a", None, None, 0)
            .unwrap_err();
        assert!(e.message().contains("is not valid before"), "{e}");
        let t = with("email_verified", serde_json::json!("FALSE")).unwrap();
        assert_eq!(t.email_verified, Some(false));
        let t = with("nbf", serde_json::json!(1.9)).unwrap();
        assert_eq!((t.not_before, t.audience.len()), (Some(1), 0));
        let t = with("aud", serde_json::json!("sigstore")).unwrap();
        assert_eq!(t.audience, ["sigstore"]);
    }
}
