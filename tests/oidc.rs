//! Identity tokens against the loopback testbed's real OIDC provider
//! (oidc-provider): the browser flow through the testbed's headless opener,
//! the device flow, `SIGSTORE_ID_TOKEN`, token files, the GitHub Actions
//! token, and every failure a user can meet, with its message.

mod common;

use std::cell::RefCell;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use gitsign::oidc::{self, IdToken, Messages, OidcError, OidcSettings, Provider};
use gitsign::sigstore::http::Http;
use serde_json::{json, Value};

use common::Testbed;

/// What these tests need beyond the shared testbed handle.
trait OidcTestbed {
    fn post(&self, path: &str, body: Value) -> Value;
    fn get(&self, path: &str) -> Value;
    fn oidc_fault(&self, fault: &str);
    fn mint(&self, body: Value) -> String;
    fn settings(&self) -> OidcSettings;
    fn browser_settings(&self) -> OidcSettings;
}

impl OidcTestbed for Testbed {
    fn post(&self, path: &str, body: Value) -> Value {
        self.control("POST", path, Some(body))
    }

    fn get(&self, path: &str) -> Value {
        self.control("GET", path, None)
    }

    /// A one-shot fault: `gha.X` for the Actions issuer, else the provider's.
    fn oidc_fault(&self, fault: &str) {
        let service = if fault.starts_with("gha") {
            "gha"
        } else {
            "oidc"
        };
        let fault = fault.trim_start_matches("gha.");
        self.post(
            "/faults",
            json!({"service": service, "fault": fault, "count": 1}),
        );
    }

    fn mint(&self, body: Value) -> String {
        self.post("/token", body)["id_token"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// Settings with nothing ambient: no token, no browser, no display.
    fn settings(&self) -> OidcSettings {
        OidcSettings {
            issuer: self.var("GITSIGN_OIDC_ISSUER").into(),
            client_id: self.var("GITSIGN_OIDC_CLIENT_ID").into(),
            token_file: Some(PathBuf::from("/nonexistent/gitsign-test/oidc-token")),
            // Nor does a Google machine or a SPIFFE agent steer the choice.
            gce_product_name_file: PathBuf::from("/nonexistent/gitsign-test/product_name"),
            spiffe_endpoint_socket: Some("unix:///nonexistent/gitsign-test/api.sock".into()),
            login_timeout: Duration::from_secs(30),
            ..OidcSettings::default()
        }
    }

    /// Settings for the browser flow through the testbed's headless opener.
    fn browser_settings(&self) -> OidcSettings {
        OidcSettings {
            url_opener: Some(self.var("GITSIGN_URL_OPENER").into()),
            ..self.settings()
        }
    }
}

/// Collects what the user would see.
#[derive(Default)]
struct Seen(RefCell<Vec<String>>);

impl Messages for Seen {
    fn say(&self, text: &str) {
        self.0.borrow_mut().push(text.to_string());
    }

    fn say_private(&self, text: &str) {
        self.0.borrow_mut().push(text.to_string());
    }
}

impl Seen {
    fn all(&self) -> String {
        self.0.borrow().join("\n")
    }
}

fn http() -> Http {
    Http::new(Duration::from_secs(20)).unwrap()
}

fn get(s: &OidcSettings) -> (Result<IdToken, OidcError>, String) {
    let seen = Seen::default();
    let r = oidc::get_token(s, &http(), &seen);
    (r, seen.all())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn browser_login_through_the_opener() {
    let tb = Testbed::start();
    let email = tb.var("TESTBED_EMAIL").to_string();
    let issuer = tb.var("GITSIGN_OIDC_ISSUER").to_string();

    // The configured opener makes a browser plausible: interactive.
    let s = OidcSettings {
        connector_id: Some("testbed-connector".into()),
        ..tb.browser_settings()
    };
    assert_eq!(oidc::choose_provider(&s).unwrap(), Provider::Interactive);
    let (r, seen) = get(&s);
    let t = r.unwrap_or_else(|e| panic!("{e}\nmessages: {seen}"));
    assert_eq!(t.email.as_deref(), Some(email.as_str()));
    assert_eq!(t.challenge(), email);
    assert_eq!(t.email_verified, Some(true));
    assert_eq!(t.issuer, issuer);
    assert!(t.audience.iter().any(|a| a == "sigstore"));
    assert!(t.nonce.is_some(), "the nonce was sent and checked");
    assert!(t.expires_at > gitsign::encoding::time::now());
    assert!(!format!("{t:?}").contains(t.raw()), "Debug hides the token");

    // The URL is shown to the user whatever the opener does.
    assert!(seen.contains(&format!("{issuer}/auth?")), "{seen}");
    for p in [
        "response_type=code",
        "client_id=sigstore",
        "scope=openid%20email",
        "code_challenge_method=S256",
        "connector_id=testbed-connector",
        "redirect_uri=http%3A%2F%2Flocalhost%3A",
        "%2Fauth%2Fcallback",
        "nonce=",
        "state=",
    ] {
        assert!(seen.contains(p), "{p} missing from {seen}");
    }
    assert!(!seen.contains(t.raw()));

    let stats = tb.get("/stats");
    assert_eq!(stats["logins"], 1, "{stats}");
    assert_eq!(stats["tokens"], 1, "{stats}");
    let opens = tb.get("/opens");
    let last = opens.as_array().unwrap().last().unwrap().clone();
    assert!(
        last["result"]
            .as_str()
            .unwrap()
            .contains("client answered HTTP 200"),
        "{last}"
    );

    // A configured redirect URL fixes host, port and path; the opener is a
    // template, split like Go gitsign's (not through a shell).
    let port = free_port();
    let s = OidcSettings {
        redirect_url: Some(format!("http://127.0.0.1:{port}/custom/cb")),
        url_opener: Some(format!("'{}' '{{{{.URL}}}}'", tb.var("GITSIGN_URL_OPENER"))),
        autoclose: false,
        ..tb.settings()
    };
    let (r, seen) = get(&s);
    let t = r.unwrap_or_else(|e| panic!("{e}\nmessages: {seen}"));
    assert_eq!(t.challenge(), email);
    let opens = tb.get("/opens");
    let last = opens.as_array().unwrap().last().unwrap().clone();
    let delivered = last["delivered"].as_str().unwrap();
    assert!(
        delivered.starts_with(&format!("http://127.0.0.1:{port}/custom/cb?")),
        "{last}"
    );
    // The provider sends RFC 9207's iss (that gitsign checks it is
    // `a_login_callback_from_another_issuer_is_refused`).
    assert!(
        delivered.contains("iss="),
        "the provider sent no RFC 9207 iss: {last}"
    );
    assert!(last["result"].as_str().unwrap().contains("HTTP 200"));
}

/// RFC 9207 mix-up protection: a callback with this login's state and a
/// valid code, but naming another issuer in `iss` (or, from a provider that
/// promises `iss`, none), is refused with a sentence, and its code is never
/// redeemed.
#[test]
fn a_login_callback_from_another_issuer_is_refused() {
    let tb = Testbed::start();
    let issuer = tb.var("GITSIGN_OIDC_ISSUER").to_string();
    let cases = [
        (
            "iss-mismatch",
            format!(
                "the login redirect names the issuer https://issuer.example, not {issuer} \
                 (RFC 9207 mix-up protection); run the command again"
            ),
        ),
        (
            "iss-missing",
            format!(
                "the login redirect lacks the `iss` parameter that {issuer} promises (RFC 9207); \
                 run the command again"
            ),
        ),
    ];
    for (fault, sentence) in cases {
        let tokens_before = tb.get("/stats")["tokens"].as_u64().unwrap();
        tb.oidc_fault(fault);
        let (r, seen) = get(&tb.browser_settings());
        let e = match r {
            Ok(t) => panic!("{fault}: the login succeeded (as {:?}): {seen}", t.email),
            Err(e) => e,
        };
        assert!(matches!(e, OidcError::Denied(_)), "{fault}: {e:?}");
        assert_eq!(e.message(), sentence, "{fault}: messages: {seen}");
        let opens = tb.get("/opens");
        let last = opens.as_array().unwrap().last().unwrap().clone();
        let delivered = last["delivered"].as_str().unwrap_or_default();
        assert!(
            delivered.contains("state=") && delivered.contains("code="),
            "{fault}: the callback carried no state and code, so the refusal proves nothing: {last}"
        );
        match fault {
            "iss-mismatch" => assert!(
                delivered.contains("iss=https%3A%2F%2Fissuer.example"),
                "{last}"
            ),
            _ => assert!(!delivered.contains("iss="), "{last}"),
        }
        assert_eq!(
            tb.get("/stats")["tokens"].as_u64().unwrap(),
            tokens_before,
            "{fault}: the authorization code was redeemed though the callback was refused"
        );
    }
    // The provider is fine: the next login, without a fault, succeeds.
    let (r, seen) = get(&tb.browser_settings());
    r.unwrap_or_else(|e| panic!("{e}\nmessages: {seen}"));
}

#[test]
fn browser_login_failures() {
    let tb = Testbed::start();

    // The user (or the provider) denies: error=access_denied on the redirect.
    tb.oidc_fault("deny");
    let (r, seen) = get(&tb.browser_settings());
    let e = r.unwrap_err();
    assert!(matches!(e, OidcError::Denied(_)), "{e:?}");
    assert!(
        e.message().contains("refused the login: access_denied"),
        "{e}"
    );
    assert!(e.message().contains(tb.var("GITSIGN_OIDC_ISSUER")), "{e}");
    assert!(seen.contains("/auth?"), "the URL was shown: {seen}");
    let opens = tb.get("/opens");
    let last = &opens.as_array().unwrap()[0];
    assert!(
        last["result"].as_str().unwrap().contains("HTTP 400"),
        "the browser shows the failure: {last}"
    );

    // A redirect whose state is not ours (a stale tab, or another local
    // user's forgery) is answered 400 and ignored: the login waits on for
    // its own until the login timeout, and then says both.
    tb.oidc_fault("state-mismatch");
    let s = OidcSettings {
        login_timeout: Duration::from_secs(3),
        ..tb.browser_settings()
    };
    let (r, seen) = get(&s);
    let e = r.unwrap_err();
    assert!(matches!(e, OidcError::TimedOut(_)), "{e:?}");
    assert!(
        e.message().starts_with("no login completed within 3 s")
            && e.message()
                .contains("1 login callback with another state was ignored"),
        "{e}"
    );
    assert!(
        seen.contains("A login callback with another state was ignored")
            && seen.contains("possibly another program on this machine"),
        "{seen}"
    );
    let opens = tb.get("/opens");
    let last = opens.as_array().unwrap().last().unwrap().clone();
    assert!(
        last["result"].as_str().unwrap().contains("HTTP 400"),
        "the browser shows the refusal: {last}"
    );

    // Nobody completes the login: a bounded wait and a clear message.
    tb.oidc_fault("never");
    let s = OidcSettings {
        login_timeout: Duration::from_secs(3),
        ..tb.browser_settings()
    };
    let t0 = Instant::now();
    let e = get(&s).0.unwrap_err();
    let waited = t0.elapsed();
    assert!(matches!(e, OidcError::TimedOut(_)), "{e:?}");
    assert!(
        e.message().starts_with("no login completed within 3 s;"),
        "{e}"
    );
    assert!(
        waited >= Duration::from_secs(3) && waited < Duration::from_secs(10),
        "{waited:?}"
    );

    // An opener that cannot start: said, and the URL stays usable by hand.
    let s = OidcSettings {
        url_opener: Some("/nonexistent/gitsign-opener --flag".into()),
        login_timeout: Duration::from_secs(1),
        ..tb.settings()
    };
    let (r, seen) = get(&s);
    assert!(matches!(r, Err(OidcError::TimedOut(_))), "{r:?}");
    assert!(
        seen.contains("cannot start /nonexistent/gitsign-opener"),
        "{seen}"
    );

    // A bad opener template is a configuration error, before any network.
    let s = OidcSettings {
        url_opener: Some("browser {{.Nope}}".into()),
        issuer: "http://127.0.0.1:1".into(),
        ..tb.settings()
    };
    let e = get(&s).0.unwrap_err();
    assert!(matches!(e, OidcError::Config(_)), "{e:?}");
    assert!(e.message().contains("gitsign.urlOpener"), "{e}");

    // A redirect URL that is not on this machine.
    let s = OidcSettings {
        redirect_url: Some("http://example.com:8080/cb".into()),
        issuer: "http://127.0.0.1:1".into(),
        ..tb.browser_settings()
    };
    let e = get(&s).0.unwrap_err();
    assert!(e.message().contains("gitsign.redirectURL"), "{e}");

    // An issuer that does not answer.
    let s = OidcSettings {
        issuer: "http://127.0.0.1:1".into(),
        ..tb.browser_settings()
    };
    let e = get(&s).0.unwrap_err();
    assert!(matches!(e, OidcError::Network(_)), "{e:?}");
    assert!(
        e.message()
            .contains("discovering the OIDC provider http://127.0.0.1:1"),
        "{e}"
    );

    // None of this logged anyone in.
    assert_eq!(tb.get("/stats")["tokens"], 0);
}

#[test]
fn device_flow() {
    let tb = Testbed::start();
    let email = tb.var("TESTBED_EMAIL").to_string();

    // An SSH session without a display: the device flow (on Linux; macOS
    // and Windows over SSH too).
    let s = OidcSettings {
        ssh_session: true,
        ..tb.settings()
    };
    assert_eq!(oidc::choose_provider(&s).unwrap(), Provider::Device);
    let (r, seen) = get(&s);
    let t = r.unwrap_or_else(|e| panic!("{e}\nmessages: {seen}"));
    assert_eq!(t.challenge(), email);
    assert_eq!(t.issuer, tb.var("GITSIGN_OIDC_ISSUER"));
    let pending = tb.get("/device/pending");
    let code = pending[0]["user_code"].as_str().unwrap();
    assert!(seen.contains(&format!("enter the code {code}")), "{seen}");
    assert!(seen.contains("/device"), "{seen}");
    assert!(seen.contains("user_code="), "the complete URI: {seen}");
    assert_eq!(tb.get("/stats")["device_tokens"], 1);

    // Chosen explicitly.
    let s = OidcSettings {
        token_provider: Some("device".into()),
        has_display: true,
        ..tb.settings()
    };
    assert_eq!(oidc::choose_provider(&s).unwrap(), Provider::Device);

    tb.oidc_fault("device-deny");
    let e = get(&s).0.unwrap_err();
    assert!(matches!(e, OidcError::Denied(_)), "{e:?}");
    assert!(e.message().contains("denied"), "{e}");
    assert!(e.message().contains("access_denied"), "{e}");

    tb.oidc_fault("device-expire");
    let t0 = Instant::now();
    let e = get(&s).0.unwrap_err();
    assert!(matches!(e, OidcError::TimedOut(_)), "{e:?}");
    assert!(e.message().contains("expired"), "{e}");
    assert!(t0.elapsed() < Duration::from_secs(10));

    // A poll that fails at the network level (the connection closed
    // unanswered, twice) is retried (RFC 8628 3.5), not the end of the login.
    tb.post(
        "/faults",
        json!({"service": "oidc", "fault": "token-drop", "count": 2}),
    );
    let drops = tb.get("/stats")["token_drops"].as_u64().unwrap();
    let (r, seen) = get(&s);
    let t = r
        .unwrap_or_else(|e| panic!("a dropped poll ended the device login: {e}\nmessages: {seen}"));
    assert_eq!(t.challenge(), email);
    assert_eq!(tb.get("/stats")["token_drops"], drops + 2);

    // Without `interval` in the answer, RFC 8628's 5 s apply.
    tb.post("/config", json!({"deviceInterval": null}));
    let t0 = Instant::now();
    let t = get(&s).0.unwrap();
    assert_eq!(t.challenge(), email);
    assert!(t0.elapsed() >= Duration::from_secs(5), "{:?}", t0.elapsed());
}

#[test]
fn ambient_tokens() {
    let tb = Testbed::start();
    let issuer = tb.var("GITSIGN_OIDC_ISSUER").to_string();

    // SIGSTORE_ID_TOKEN wins the auto-detection.
    let raw = tb.mint(json!({"email": "alice@example.com", "ttl": 600}));
    let s = OidcSettings {
        env_token: Some(raw.clone()),
        ..tb.browser_settings()
    };
    assert_eq!(oidc::choose_provider(&s).unwrap(), Provider::EnvVar);
    let t = get(&s).0.unwrap();
    assert_eq!(t.raw(), raw);
    assert_eq!(t.challenge(), "alice@example.com");
    assert_eq!(t.issuer, issuer);
    assert!(t.subject.starts_with("user-"));

    // Expired: the time is named, the token is not.
    let expired = tb.mint(json!({"email": "alice@example.com", "ttl": -60}));
    let s = OidcSettings {
        env_token: Some(expired.clone()),
        ..tb.settings()
    };
    let e = get(&s).0.unwrap_err();
    assert!(matches!(e, OidcError::InvalidToken(_)), "{e:?}");
    assert!(
        e.message().starts_with("the identity token expired at "),
        "{e}"
    );
    assert!(e.message().contains("SIGSTORE_ID_TOKEN"), "{e}");
    assert!(!e.message().contains(&expired));

    // Wrong audience.
    let s = OidcSettings {
        env_token: Some(tb.mint(json!({"email": "alice@example.com", "aud": "other"}))),
        ..tb.settings()
    };
    let e = get(&s).0.unwrap_err();
    assert!(
        e.message()
            .contains("has audience other, but Fulcio needs the audience `sigstore`"),
        "{e}"
    );

    // Not a token at all.
    let s = OidcSettings {
        env_token: Some("not-a-jwt".into()),
        ..tb.settings()
    };
    let e = get(&s).0.unwrap_err();
    assert!(e.message().contains("not a JWT"), "{e}");

    // A token file (the configurable path; cosign's default otherwise).
    let dir = std::env::temp_dir().join(format!("gitsign-oidc-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("oidc-token");
    let raw = tb.mint(json!({"email": "file@example.com"}));
    std::fs::write(&file, format!("{raw}\n")).unwrap();
    let s = OidcSettings {
        token_file: Some(file.clone()),
        ..tb.browser_settings()
    };
    assert_eq!(oidc::choose_provider(&s).unwrap(), Provider::Filesystem);
    assert_eq!(get(&s).0.unwrap().challenge(), "file@example.com");
    let s = OidcSettings {
        token_provider: Some("environment".into()),
        ..s
    };
    assert_eq!(oidc::choose_provider(&s).unwrap(), Provider::Filesystem);
    std::fs::write(
        &file,
        tb.mint(json!({"email": "file@example.com", "ttl": -5})),
    )
    .unwrap();
    let e = get(&s).0.unwrap_err();
    assert!(
        e.message().contains("expired") && e.message().contains(&file.display().to_string()),
        "{e}"
    );
    let _ = std::fs::remove_dir_all(&dir);
    let s = OidcSettings {
        token_provider: Some("filesystem".into()),
        ..tb.settings()
    };
    let e = get(&s).0.unwrap_err();
    assert!(matches!(e, OidcError::Config(_)), "{e:?}");
    assert!(
        e.message()
            .contains("cannot read the identity token file /nonexistent/gitsign-test/oidc-token"),
        "{e}"
    );

    // GitHub Actions: the ambient token, a workflow identity (PoP over sub).
    let s = OidcSettings {
        actions_request_url: Some(tb.var("TESTBED_ACTIONS_ID_TOKEN_REQUEST_URL").into()),
        actions_request_token: Some(tb.var("TESTBED_ACTIONS_ID_TOKEN_REQUEST_TOKEN").into()),
        ..tb.browser_settings()
    };
    assert_eq!(oidc::choose_provider(&s).unwrap(), Provider::GithubActions);
    let t = get(&s).0.unwrap();
    assert_eq!(t.issuer, tb.var("TESTBED_GHA_ISSUER"));
    assert!(t.audience.iter().any(|a| a == "sigstore"));
    assert_eq!(t.email, None);
    assert_eq!(t.challenge(), t.subject);
    assert!(t.subject.starts_with("repo:"), "{}", t.subject);
    assert_eq!(tb.get("/stats")["gha_tokens"], 1);

    tb.oidc_fault("gha.http500");
    let e = get(&s).0.unwrap_err();
    assert!(matches!(e, OidcError::Network(_)), "{e:?}");
    assert!(
        e.message().contains("GitHub Actions") && e.message().contains("HTTP 500"),
        "{e}"
    );
    let bad = OidcSettings {
        actions_request_token: Some("wrong".into()),
        ..s.clone()
    };
    let e = get(&bad).0.unwrap_err();
    assert!(e.message().contains("id-token: write"), "{e}");
    assert!(!e.message().contains("wrong"), "no bearer token in: {e}");
    let missing = OidcSettings {
        token_provider: Some("github-actions".into()),
        ..tb.settings()
    };
    let e = get(&missing).0.unwrap_err();
    assert!(e.message().contains("ACTIONS_ID_TOKEN_REQUEST_URL"), "{e}");

    // Provider names.
    let s = OidcSettings {
        token_provider: Some("bogus".into()),
        ..tb.settings()
    };
    let e = get(&s).0.unwrap_err();
    assert!(matches!(e, OidcError::Config(_)), "{e:?}");
    assert_eq!(
        e.message(),
        "unknown token provider \"bogus\" (gitsign.tokenProvider or GITSIGN_TOKEN_PROVIDER); valid providers: interactive, device, environment, envvar, filesystem, github-actions, buildkite-agent, google-workload-identity, google-impersonate, spiffe"
    );
    let s = OidcSettings {
        token_provider: Some("envvar".into()),
        ..tb.settings()
    };
    let e = get(&s).0.unwrap_err();
    assert!(e.message().contains("SIGSTORE_ID_TOKEN is not set"), "{e}");
    let s = OidcSettings {
        token_provider: Some("interactive".into()),
        env_token: Some(raw),
        ..tb.settings()
    };
    assert_eq!(oidc::choose_provider(&s).unwrap(), Provider::Interactive);
}

/// A one-request-at-a-time HTTP stub on `ip`: answers each request with
/// `answer` and sends each request's head on the channel.
fn recording_stub(ip: &str, answer: String) -> (String, std::sync::mpsc::Receiver<String>) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind((ip, 0)).unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                match conn.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(k) => buf.extend_from_slice(&chunk[..k]),
                }
            }
            let _ = tx.send(String::from_utf8_lossy(&buf).to_string());
            let _ = conn.write_all(answer.as_bytes());
        }
    });
    (url, rx)
}

/// In GitHub Actions, gitsign GETs the runner's ID-token URL with the
/// job's request token as a bearer. The GET follows redirects (up to 5)
/// and re-sends every header, Authorization included, to wherever the
/// Location points, another host too: whoever that is receives the
/// request token and can mint ID tokens for the workflow's identity (any
/// audience) until the job ends. Clients strip Authorization on a
/// redirect to another origin (curl, Go's net/http). Expected: the other
/// host gets no bearer (or the redirect is not followed).
#[test]
fn the_actions_request_token_does_not_follow_a_redirect_to_another_host() {
    let tb = Testbed::start();
    let bearer = "gitsign-test-request-token-5f1d";
    let (elsewhere, heard) = recording_stub(
        "127.0.0.2",
        "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".into(),
    );
    let (runner, _) = recording_stub(
        "127.0.0.1",
        format!(
            "HTTP/1.1 302 Found\r\nlocation: {elsewhere}/token\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
        ),
    );
    let (code, _, stderr) = common::sign_direct(
        &tb,
        &[
            ("GITSIGN_TOKEN_PROVIDER", "github-actions".into()),
            (
                "ACTIONS_ID_TOKEN_REQUEST_URL",
                format!("{runner}/id-token?api-version=2.0"),
            ),
            ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", bearer.into()),
            ("GITSIGN_CREDENTIAL_CACHE_MODE", "off".into()),
        ],
    );
    assert_ne!(code, Some(0), "{stderr}");
    let got: Vec<String> = heard.try_iter().collect();
    assert!(
        !got.iter().any(|h| h.contains(bearer)),
        "another host received the Actions request token: {got:?}"
    );
}
