//! Trust for every command (the TUF cache, a file, or the embedded
//! snapshot: `gitsign::sigstore::tuf::select`), `gitsign initialize`, and the trust
//! lines of `gitsign version`.

use gitsign::config::Config;
use gitsign::sigstore::trust::TrustedRoot;
use gitsign::sigstore::tuf::{self, Network, Trust};

use crate::args::InitializeArgs;
use crate::exit;

/// The trust a verification command uses, its notes printed to stderr
/// (one line each), and the signing config's Rekor applied to online
/// lookups when none is set explicitly (a selector gitsign cannot honour
/// matters only for signing: verification goes on).
pub fn load(config: &mut Config, network: Network) -> Result<Trust, String> {
    let trust =
        tuf::select(config, network).map_err(|e| format!("trust configuration error: {e}"))?;
    for n in &trust.notes {
        crate::error(n);
    }
    if let Some(sc) = &trust.signing_config {
        let _ = tuf::apply_signing_config(config, sc, gitsign::encoding::time::now());
    }
    Ok(trust)
}

/// The trusted root only (verification commands).
pub fn root(config: &mut Config) -> Result<TrustedRoot, String> {
    load(config, Network::WhenDue).map(|t| t.root)
}

/// `gitsign initialize [--mirror URL] [--root FILE]`.
pub fn initialize(a: &InitializeArgs) -> u8 {
    let config = match Config::load() {
        Ok(c) => c,
        Err(e) => {
            crate::error(format!("configuration error: {e}"));
            return exit::ERROR;
        }
    };
    let init = match tuf::initialize(&config, a.mirror.as_deref(), a.root.as_deref()) {
        Ok(i) => i,
        Err(e) => {
            crate::error(e);
            return exit::ERROR;
        }
    };
    let now = gitsign::encoding::time::now();
    say!("Initialized trust from the TUF mirror {}", init.mirror);
    say!("  starting from the root {}", init.root_from);
    say!(
        "  TUF root version {}; metadata valid until {}",
        init.state.root_version,
        init.state
            .expires
            .map(gitsign::encoding::time::format_time)
            .unwrap_or_default()
    );
    say!("  cached in {}", init.cache.display());
    say!(
        "Now trusted (targets {} of that repository):",
        tuf::TRUSTED_ROOT_TARGET
    );
    describe_root(&init.root);
    if let Some(sc) = &init.signing_config {
        say!(
            "Services for signing ({}), unless set explicitly:",
            tuf::SIGNING_CONFIG_TARGET
        );
        match sc.choose(now, config.rekor_api) {
            Ok(c) => {
                let show = |what: &str, v: &Option<String>| {
                    say!("  {what:<22} {}", v.as_deref().unwrap_or("(none listed)"))
                };
                show("Fulcio", &c.fulcio);
                show("OIDC issuer", &c.issuer);
                show(&format!("Rekor (v{})", c.rekor_api.major()), &c.rekor);
                show("timestamp authority", &c.tsa);
                for n in &c.notes {
                    say!("  note: {n}");
                }
            }
            Err(e) => say!("  {e}"),
        }
    }
    let explicit: Vec<&str> = [
        "trustedRoot",
        "fulcioRoot",
        "rekorPublicKey",
        "ctLogPublicKey",
    ]
    .into_iter()
    .filter(|k| config.is_explicit(k))
    .collect();
    if !explicit.is_empty() {
        say!(
            "Note: gitsign.{} is set and takes precedence over this mirror's trusted root",
            explicit.join(", gitsign.")
        );
    }
    exit::OK
}

fn describe_root(root: &TrustedRoot) {
    for ca in &root.certificate_authorities {
        say!(
            "  Fulcio CA     {}  valid {}",
            ca.uri,
            ca.valid_for.describe()
        );
    }
    for l in &root.tlogs {
        say!(
            "  Rekor log     {}  key {}  valid {}",
            l.base_url,
            gitsign::encoding::asn1::hex_lower(&l.log_id),
            l.valid_for.describe()
        );
    }
    for l in &root.ctlogs {
        say!(
            "  CT log        {}  key {}  valid {}",
            l.base_url,
            gitsign::encoding::asn1::hex_lower(&l.log_id),
            l.valid_for.describe()
        );
    }
    for t in &root.timestamp_authorities {
        say!(
            "  TSA           {}  valid {}",
            t.uri,
            t.valid_for.describe()
        );
    }
}

/// The trust lines of `gitsign version` (no network: it reports).
pub fn version_lines(config: &Config) {
    let now = gitsign::encoding::time::now();
    match tuf::select(config, Network::Never) {
        Ok(t) => {
            say!("trusted root: {}", t.source.describe(now));
            if let tuf::Source::Embedded = t.source {
                if let Some(newest) = newest_entry(&t.root) {
                    say!(
                        "  its newest entry starts {} ({} ago)",
                        gitsign::encoding::time::format_time(newest),
                        tuf::age(now - newest)
                    );
                }
            }
            if let tuf::Source::Tuf(s) = &t.source {
                if let Some(e) = &s.error {
                    say!("  last refresh failed: {e}");
                }
            }
            for n in &t.notes {
                say!("  note: {n}");
            }
            match &t.signing_config {
                Some(sc) => {
                    say!("signing config: {}", sc.source);
                    match sc.choose(now, config.rekor_api) {
                        Ok(c) => {
                            let show = |what: &str, key: &str, v: &Option<String>| {
                                if config.is_explicit(key) {
                                    say!("  {what:<20} gitsign.{key} wins (below)");
                                } else if let Some(u) = v {
                                    say!("  {what:<20} {u}");
                                }
                            };
                            show("Fulcio", "fulcio", &c.fulcio);
                            show("OIDC issuer", "issuer", &c.issuer);
                            show(
                                &format!("Rekor (v{})", c.rekor_api.major()),
                                "rekor",
                                &c.rekor,
                            );
                            show("timestamp authority", "timestampServerURL", &c.tsa);
                            for n in &c.notes {
                                say!("  note: {n}");
                            }
                        }
                        Err(e) => say!("  {e}"),
                    }
                }
                None => say!("signing config: none (the service settings below)"),
            }
        }
        Err(e) => say!("trusted root: {e}"),
    }
}

fn newest_entry(root: &TrustedRoot) -> Option<i64> {
    let cas = root
        .certificate_authorities
        .iter()
        .chain(&root.timestamp_authorities)
        .filter_map(|c| c.valid_for.start);
    let logs = root
        .tlogs
        .iter()
        .chain(&root.ctlogs)
        .filter_map(|l| l.valid_for.start);
    cas.chain(logs).max()
}
