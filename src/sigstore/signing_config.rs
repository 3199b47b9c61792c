//! Sigstore signing config v0.2 (`signing_config.v0.2.json`, protobuf-specs
//! `dev.sigstore.trustroot.v1.SigningConfig`): which Fulcio, OIDC issuer,
//! Rekor logs and timestamp authorities a signer uses, and when.
//!
//! Selection follows sigstore-go's: services whose `validFor` holds now
//! and whose `majorApiVersion` this client speaks; among them the highest
//! API version, then the newest (latest `validFor.start`) per operator;
//! then the selector (`ANY` one, `ALL` every one, `EXACT` `count` of them).
//! gitsign logs each signature in one Rekor and asks one TSA, so a selector
//! that demands more than one is refused with a sentence, not quietly
//! reduced. Which Rekor API is wanted is the user's choice
//! (`gitsign.rekorVersion`, 1 unless set): logs of the other version are
//! passed over, with a note when the config lists a v2 log and v1 is in use.

use std::collections::BTreeSet;

use serde::Deserialize;

use crate::sigstore::trust::Validity;

/// Largest signing config accepted.
const MAX_FILE: usize = 1024 * 1024;

/// One service endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    /// Its URL.
    pub url: String,
    /// The API version it speaks.
    pub major_api_version: u32,
    /// When it may be used.
    pub valid_for: Validity,
    /// Who runs it.
    pub operator: String,
}

/// How many services of a kind to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selector {
    /// One of them.
    Any,
    /// All of them.
    All,
    /// Exactly this many.
    Exact(u32),
}

/// A parsed signing config.
#[derive(Debug, Clone)]
pub struct SigningConfig {
    /// Fulcio instances.
    pub ca_urls: Vec<Service>,
    /// OIDC providers.
    pub oidc_urls: Vec<Service>,
    /// Rekor logs.
    pub rekor_tlog_urls: Vec<Service>,
    /// Timestamp authorities.
    pub tsa_urls: Vec<Service>,
    /// How many Rekor logs to use.
    pub rekor_tlog_config: Selector,
    /// How many TSAs to use.
    pub tsa_config: Selector,
    /// Where it came from, for messages.
    pub source: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Raw {
    media_type: String,
    #[serde(default)]
    ca_urls: Vec<RawService>,
    #[serde(default)]
    oidc_urls: Vec<RawService>,
    #[serde(default)]
    rekor_tlog_urls: Vec<RawService>,
    #[serde(default)]
    tsa_urls: Vec<RawService>,
    rekor_tlog_config: Option<RawSelector>,
    tsa_config: Option<RawSelector>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawService {
    url: String,
    #[serde(default)]
    major_api_version: u32,
    valid_for: Option<RawValidity>,
    #[serde(default)]
    operator: String,
}

#[derive(Deserialize)]
struct RawValidity {
    start: Option<String>,
    end: Option<String>,
}

#[derive(Deserialize)]
struct RawSelector {
    selector: String,
    #[serde(default)]
    count: Option<u32>,
}

fn selector(s: Option<RawSelector>, what: &str, source: &str) -> Result<Selector, String> {
    let Some(s) = s else {
        return Ok(Selector::Any);
    };
    match (s.selector.as_str(), s.count) {
        ("ANY", _) => Ok(Selector::Any),
        ("ALL", _) => Ok(Selector::All),
        ("EXACT", Some(n)) if n > 0 => Ok(Selector::Exact(n)),
        ("EXACT", _) => Err(format!(
            "{source}: {what} selector EXACT needs a positive count"
        )),
        (other, _) => Err(format!(
            "{source}: {what} selector \"{other}\" is not ANY, ALL or EXACT"
        )),
    }
}

fn service(r: RawService, what: &str, source: &str) -> Result<Service, String> {
    if !(r.url.starts_with("https://") || r.url.starts_with("http://")) {
        return Err(format!(
            "{source}: the {what} URL \"{}\" is not an http(s) URL",
            crate::encoding::text::printable(&r.url)
        ));
    }
    let time = |t: Option<String>| -> Result<Option<i64>, String> {
        t.map(|s| {
            crate::encoding::time::parse_rfc3339(&s)
                .ok_or_else(|| format!("{source}: {what} {}: bad time \"{s}\"", r.url))
        })
        .transpose()
    };
    let (start, end) = match r.valid_for {
        Some(v) => (time(v.start)?, time(v.end)?),
        None => (None, None),
    };
    Ok(Service {
        url: r.url.trim_end_matches('/').to_string(),
        major_api_version: r.major_api_version,
        valid_for: Validity { start, end },
        operator: r.operator,
    })
}

/// What the signing config chose for a signature made now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Choice {
    /// Fulcio, when the config lists a usable one.
    pub fulcio: Option<String>,
    /// The OIDC issuer, when listed.
    pub issuer: Option<String>,
    /// The Rekor log, when listed.
    pub rekor: Option<String>,
    /// The TSA, when listed.
    pub tsa: Option<String>,
    /// The Rekor API `rekor` speaks (the one asked for).
    pub rekor_api: crate::sigstore::rekor::RekorApi,
    /// Things worth saying (Rekor v2 logs passed over).
    pub notes: Vec<String>,
}

impl SigningConfig {
    /// Parses a signing config v0.2 document; `source` names it.
    pub fn from_json(json: &[u8], source: &str) -> Result<SigningConfig, String> {
        if json.len() > MAX_FILE {
            return Err(format!("{source} is larger than {MAX_FILE} bytes"));
        }
        let raw: Raw = serde_json::from_slice(json)
            .map_err(|e| format!("{source} is not a Sigstore signing config: {e}"))?;
        if !raw
            .media_type
            .starts_with("application/vnd.dev.sigstore.signingconfig.v0.2+json")
        {
            return Err(format!(
                "{source} has media type \"{}\", not a Sigstore signing config v0.2",
                crate::encoding::text::printable(&raw.media_type)
            ));
        }
        let list = |v: Vec<RawService>, what: &str| -> Result<Vec<Service>, String> {
            v.into_iter().map(|s| service(s, what, source)).collect()
        };
        Ok(SigningConfig {
            ca_urls: list(raw.ca_urls, "Fulcio")?,
            oidc_urls: list(raw.oidc_urls, "OIDC")?,
            rekor_tlog_urls: list(raw.rekor_tlog_urls, "Rekor")?,
            tsa_urls: list(raw.tsa_urls, "TSA")?,
            rekor_tlog_config: selector(raw.rekor_tlog_config, "rekorTlogConfig", source)?,
            tsa_config: selector(raw.tsa_config, "tsaConfig", source)?,
            source: source.to_string(),
        })
    }

    /// Reads a signing config file.
    pub fn from_file(path: &std::path::Path) -> Result<SigningConfig, String> {
        let data = std::fs::read(path)
            .map_err(|e| format!("cannot read the signing config {}: {e}", path.display()))?;
        SigningConfig::from_json(&data, &path.display().to_string())
    }

    /// Chooses the services for a signature made at `now` into a Rekor log
    /// of API version `rekor_api`. An error is a sentence: a selector
    /// gitsign cannot honour.
    pub fn choose(
        &self,
        now: i64,
        rekor_api: crate::sigstore::rekor::RekorApi,
    ) -> Result<Choice, String> {
        use crate::sigstore::rekor::RekorApi;
        let mut notes = Vec::new();
        let fulcio = candidates(&self.ca_urls, &[1], now).into_iter().next();
        let issuer = candidates(&self.oidc_urls, &[1], now).into_iter().next();
        let wanted = match rekor_api {
            RekorApi::V1 => 1,
            RekorApi::V2 => 2,
        };
        if rekor_api == RekorApi::V1 {
            for s in self
                .rekor_tlog_urls
                .iter()
                .filter(|s| s.major_api_version == 2 && s.valid_for.contains(now))
            {
                notes.push(format!(
                    "the signing config lists the Rekor v2 log {} (majorApiVersion 2); gitsign \
                     logs to Rekor v1 unless gitsign.rekorVersion is 2",
                    s.url
                ));
            }
        }
        let rekor = pick(
            candidates(&self.rekor_tlog_urls, &[wanted], now),
            self.rekor_tlog_config,
            "transparency logs (rekorTlogConfig)",
            "gitsign logs each signature in one Rekor log: set gitsign.rekor to the one to use",
            &self.source,
        )?;
        let tsa = pick(
            candidates(&self.tsa_urls, &[1], now),
            self.tsa_config,
            "timestamp authorities (tsaConfig)",
            "gitsign asks one timestamp authority: set gitsign.timestampServerURL to the one to \
             use",
            &self.source,
        )?;
        Ok(Choice {
            fulcio: fulcio.map(|s| s.url.clone()),
            issuer: issuer.map(|s| s.url.clone()),
            rekor: rekor.map(|s| s.url.clone()),
            rekor_api,
            tsa: tsa.map(|s| s.url.clone()),
            notes,
        })
    }
}

/// Usable services: valid now, an API version in `versions`, only the
/// highest such version, then the newest per operator (in listed order).
fn candidates<'a>(list: &'a [Service], versions: &[u32], now: i64) -> Vec<&'a Service> {
    let usable: Vec<&Service> = list
        .iter()
        .filter(|s| s.valid_for.contains(now) && versions.contains(&s.major_api_version))
        .collect();
    let Some(top) = usable.iter().map(|s| s.major_api_version).max() else {
        return Vec::new();
    };
    let usable: Vec<&Service> = usable
        .into_iter()
        .filter(|s| s.major_api_version == top)
        .collect();
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for s in &usable {
        if !seen.insert(s.operator.as_str()) {
            continue;
        }
        let newest = usable
            .iter()
            .filter(|o| o.operator == s.operator)
            .max_by_key(|o| o.valid_for.start.unwrap_or(i64::MIN))
            .copied()
            .unwrap_or(s);
        out.push(newest);
    }
    out
}

fn pick<'a>(
    c: Vec<&'a Service>,
    sel: Selector,
    what: &str,
    how: &str,
    source: &str,
) -> Result<Option<&'a Service>, String> {
    let want = match sel {
        Selector::Any => 1,
        Selector::All => c.len(),
        Selector::Exact(n) => n as usize,
    };
    if c.is_empty() {
        return Ok(None);
    }
    if want > c.len() {
        return Err(format!(
            "{source} asks for {want} {what} but lists {} usable now",
            c.len()
        ));
    }
    if want > 1 {
        return Err(format!("{source} asks for {want} {what}; {how}"));
    }
    Ok(c.first().copied())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sigstore::rekor::RekorApi::{V1, V2};

    fn cfg(rekor: &str, sel: &str) -> SigningConfig {
        let j = format!(
            r#"{{"mediaType": "application/vnd.dev.sigstore.signingconfig.v0.2+json",
            "caUrls": [{{"url": "https://f.example", "majorApiVersion": 1, "validFor": {{"start": "2020-01-01T00:00:00Z"}}, "operator": "a"}}],
            "oidcUrls": [{{"url": "https://o.example/", "majorApiVersion": 1, "operator": "a"}}],
            "rekorTlogUrls": [{rekor}],
            "tsaUrls": [],
            "rekorTlogConfig": {sel}}}"#
        );
        SigningConfig::from_json(j.as_bytes(), "test config").unwrap()
    }

    const NOW: i64 = 1_800_000_000;

    #[test]
    fn public_good_picks_v1_and_notes_v2() {
        let c = cfg(
            r#"{"url": "https://log2025-1.rekor.sigstore.dev", "majorApiVersion": 2, "validFor": {"start": "2025-09-23T00:00:00Z"}, "operator": "sigstore.dev"},
               {"url": "https://rekor.sigstore.dev", "majorApiVersion": 1, "validFor": {"start": "2021-01-12T11:53:27Z"}, "operator": "sigstore.dev"}"#,
            r#"{"selector": "ANY"}"#,
        );
        let ch = c.choose(NOW, V1).unwrap();
        assert_eq!(ch.rekor.as_deref(), Some("https://rekor.sigstore.dev"));
        assert_eq!(ch.rekor_api, V1);
        assert_eq!(ch.fulcio.as_deref(), Some("https://f.example"));
        assert_eq!(ch.issuer.as_deref(), Some("https://o.example"));
        assert_eq!(ch.tsa, None);
        assert_eq!(ch.notes.len(), 1);
        assert!(ch.notes[0].contains("log2025-1"));
        // gitsign.rekorVersion=2 picks the v2 log, with no note.
        let ch = c.choose(NOW, V2).unwrap();
        assert_eq!(
            ch.rekor.as_deref(),
            Some("https://log2025-1.rekor.sigstore.dev")
        );
        assert_eq!(ch.rekor_api, V2);
        assert!(ch.notes.is_empty());
    }

    #[test]
    fn a_v2_choice_never_falls_back_to_a_v1_log() {
        let c = cfg(
            r#"{"url": "https://rekor.sigstore.dev", "majorApiVersion": 1, "operator": "sigstore.dev"}"#,
            r#"{"selector": "ANY"}"#,
        );
        assert_eq!(c.choose(NOW, V2).unwrap().rekor, None);
    }

    #[test]
    fn validity_and_newest_per_operator() {
        let c = cfg(
            r#"{"url": "https://old", "majorApiVersion": 1, "validFor": {"start": "2020-01-01T00:00:00Z", "end": "2021-01-01T00:00:00Z"}, "operator": "a"},
               {"url": "https://mid", "majorApiVersion": 1, "validFor": {"start": "2021-01-01T00:00:00Z"}, "operator": "a"},
               {"url": "https://new", "majorApiVersion": 1, "validFor": {"start": "2022-01-01T00:00:00Z"}, "operator": "a"},
               {"url": "https://future", "majorApiVersion": 1, "validFor": {"start": "2099-01-01T00:00:00Z"}, "operator": "a"}"#,
            r#"{"selector": "ANY"}"#,
        );
        assert_eq!(
            c.choose(NOW, V1).unwrap().rekor.as_deref(),
            Some("https://new")
        );
    }

    #[test]
    fn selectors_that_need_several_logs_are_refused() {
        let two = r#"{"url": "https://a", "majorApiVersion": 1, "operator": "a"},
                     {"url": "https://b", "majorApiVersion": 1, "operator": "b"}"#;
        let e = cfg(two, r#"{"selector": "ALL"}"#)
            .choose(NOW, V1)
            .unwrap_err();
        assert!(
            e.contains("asks for 2") && e.contains("gitsign.rekor"),
            "{e}"
        );
        let e = cfg(two, r#"{"selector": "EXACT", "count": 3}"#)
            .choose(NOW, V1)
            .unwrap_err();
        assert!(e.contains("lists 2 usable"), "{e}");
        let ok = cfg(two, r#"{"selector": "EXACT", "count": 1}"#)
            .choose(NOW, V1)
            .unwrap();
        assert_eq!(ok.rekor.as_deref(), Some("https://a"));
        let one = r#"{"url": "https://a", "majorApiVersion": 1, "operator": "a"}"#;
        let ok = cfg(one, r#"{"selector": "ALL"}"#).choose(NOW, V1).unwrap();
        assert_eq!(ok.rekor.as_deref(), Some("https://a"));
    }

    #[test]
    fn the_public_good_fixture_parses() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/trust/signing_config.prod.json"
        );
        let c = SigningConfig::from_file(std::path::Path::new(path)).unwrap();
        let ch = c.choose(NOW, V1).unwrap();
        assert_eq!(ch.fulcio.as_deref(), Some("https://fulcio.sigstore.dev"));
        assert_eq!(
            ch.tsa.as_deref(),
            Some("https://timestamp.sigstore.dev/api/v1/timestamp")
        );
        assert!(SigningConfig::from_json(b"{\"mediaType\": \"x\"}", "f").is_err());
    }
}
