//! The `interactive` (browser) and `device` logins: OIDC discovery, then
//! OAuth 2.0 through the `oauth2` crate (the authorization URL with PKCE
//! S256, the code exchange, the RFC 8628 device grant and its polling)
//! over the project's own HTTP client ([`OauthHttp`]), so that TLS,
//! proxies, timeouts, size bounds and the redirect policy stay
//! [`crate::sigstore::http`]'s. What OAuth leaves to the client is here:
//! the callback's `state` and RFC 9207 `iss`, the nonce, and the token's
//! claims ([`IdToken::check`]).
//!
//! Discovery is a small fetch of its own. `openidconnect` would do it, but
//! it exists to verify ID-token signatures, which gitsign leaves to Fulcio:
//! measured with `cargo tree -e normal`, it adds 48 crates to the 225 the
//! build has with `oauth2` and `url` (188 without them), among them rsa,
//! p384, ed25519-dalek and second versions of p256 and ecdsa.
//!
//! What it may use: `oauth2`, `url`, [`crate::sigstore::http`], the
//! listener ([`super::loopback`]) and the opener ([`super::opener`]).

use std::cell::{Cell, RefCell};
use std::time::{Duration, Instant};

use oauth2::basic::{
    BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse,
    BasicTokenType,
};
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken,
    DeviceAuthorizationUrl, DeviceCodeErrorResponseType, EndpointNotSet, EndpointSet,
    ErrorResponseType, ExtraTokenFields, PkceCodeChallenge, RedirectUrl, RequestTokenError, Scope,
    StandardDeviceAuthorizationResponse, StandardErrorResponse, StandardRevocableToken,
    StandardTokenResponse, SyncHttpClient, TokenUrl,
};
use serde::{Deserialize, Serialize};

use super::loopback::{self, Redirect};
use super::opener;
use super::token::{constant_time_eq, same_issuer};
use super::{checked, net, IdToken, Messages, OidcError, OidcSettings};
use crate::sigstore::http::{self, server_text, Http, HttpError};

/// Longest device-code life honoured, whatever the server says.
const MAX_DEVICE_LIFETIME: u64 = 3600;
/// Longest polling interval honoured.
const MAX_DEVICE_INTERVAL: Duration = Duration::from_secs(60);

/// The parts of an OIDC discovery document the flows use.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Discovery {
    /// `issuer`.
    #[serde(default)]
    pub issuer: String,
    /// `authorization_endpoint`.
    pub authorization_endpoint: Option<String>,
    /// `token_endpoint`.
    pub token_endpoint: Option<String>,
    /// `device_authorization_endpoint`.
    pub device_authorization_endpoint: Option<String>,
    /// `code_challenge_methods_supported`, when listed.
    #[serde(rename = "code_challenge_methods_supported")]
    pub code_challenge_methods: Option<Vec<String>>,
    /// `authorization_response_iss_parameter_supported` (RFC 9207).
    #[serde(rename = "authorization_response_iss_parameter_supported", default)]
    pub iss_parameter_supported: bool,
}

/// Fetches `<issuer>/.well-known/openid-configuration` and checks that it
/// describes `issuer` and names only plain http(s) endpoints.
pub fn discover(issuer: &str, http: &Http) -> Result<Discovery, OidcError> {
    let url = http::join(issuer, ".well-known/openid-configuration");
    let what = format!("discovering the OIDC provider {issuer}");
    let resp = http.get(&url).map_err(|e| {
        net(&what, e).map(|m| format!("{m}; check gitsign.issuer (GITSIGN_OIDC_ISSUER)"))
    })?;
    if resp.status != 200 {
        return Err(OidcError::Network(format!(
            "{what}: {url} answered HTTP {}: {}; check gitsign.issuer (GITSIGN_OIDC_ISSUER)",
            resp.status,
            server_text(&resp.body)
        )));
    }
    let d: Discovery = serde_json::from_slice(&resp.body).map_err(|e| {
        OidcError::Protocol(format!(
            "{what}: {url} did not answer with a JSON discovery document ({}); check gitsign.issuer",
            server_text(e.to_string().as_bytes())
        ))
    })?;
    if !same_issuer(&d.issuer, issuer) {
        return Err(OidcError::Protocol(format!(
            "{what}: the discovery document at {url} names the issuer \"{}\", not {issuer}; check gitsign.issuer",
            server_text(d.issuer.as_bytes())
        )));
    }
    // Endpoints are shown to the user and handed to a browser: plain
    // http(s) URLs only. Fetched over https, the document must not send
    // the login to plain http (a network attacker would answer there); an
    // http issuer (a loopback test deployment) is the user's own choice.
    for (k, v) in [
        ("authorization_endpoint", &d.authorization_endpoint),
        ("token_endpoint", &d.token_endpoint),
        (
            "device_authorization_endpoint",
            &d.device_authorization_endpoint,
        ),
    ] {
        match v.as_deref() {
            Some(u) if http::is_https(issuer) && !http::is_https(u) => {
                return Err(OidcError::Protocol(format!(
                    "{what}: the discovery document at {url} (fetched over https) names {k} {}, \
                     which is not https; gitsign refuses to send a login over plain http: check \
                     gitsign.issuer, or ask the provider's operator",
                    server_text(u.as_bytes())
                )))
            }
            Some(u) if !plain_url(u) => {
                return Err(OidcError::Protocol(format!(
                "{what}: the discovery document at {url} has an unusable {k} (not a plain http(s) URL)"
            )))
            }
            _ => {}
        }
    }
    Ok(d)
}

/// An absolute http(s) URL of sane length without whitespace or control
/// characters (`url` would silently drop tabs and newlines).
fn plain_url(u: &str) -> bool {
    u.len() <= 2048
        && !u.chars().any(|c| c.is_whitespace() || c.is_control())
        && url::Url::parse(u).is_ok_and(|x| matches!(x.scheme(), "http" | "https"))
}

fn endpoint<'a>(v: &'a Option<String>, name: &str, issuer: &str) -> Result<&'a str, OidcError> {
    v.as_deref().filter(|u| !u.is_empty()).ok_or_else(|| {
        OidcError::Protocol(format!(
            "the OIDC provider {issuer} lists no {name} in its discovery document"
        ))
    })
}

/// oauth2's blocking HTTP client: the project's [`Http`]. It counts its
/// calls and keeps the last status and failure, for the messages.
struct OauthHttp<'a> {
    http: &'a Http,
    calls: Cell<u32>,
    status: Cell<u16>,
    failed: RefCell<Option<HttpError>>,
}

impl<'a> OauthHttp<'a> {
    fn new(http: &'a Http) -> Self {
        OauthHttp {
            http,
            calls: Cell::new(0),
            status: Cell::new(0),
            failed: RefCell::new(None),
        }
    }
}

impl SyncHttpClient for OauthHttp<'_> {
    type Error = HttpError;

    fn call(&self, req: oauth2::HttpRequest) -> Result<oauth2::HttpResponse, HttpError> {
        self.calls.set(self.calls.get() + 1);
        let url = req.uri().to_string();
        let headers: Vec<(&str, &str)> = req
            .headers()
            .iter()
            .filter_map(|(k, v)| Some((k.as_str(), v.to_str().ok()?)))
            .collect();
        let r = self
            .http
            .request(req.method().as_str(), &url, &headers, req.body())
            .inspect_err(|e| *self.failed.borrow_mut() = Some(e.clone()))?;
        *self.failed.borrow_mut() = None;
        self.status.set(r.status);
        let mut answer = ::http::Response::builder().status(r.status);
        if let Some(ct) = &r.content_type {
            answer = answer.header(::http::header::CONTENT_TYPE, ct.as_str());
        }
        answer.body(r.body).map_err(|e| HttpError {
            url,
            status: Some(r.status),
            message: e.to_string(),
        })
    }
}

/// The `id_token` an OpenID Connect token endpoint adds to OAuth's answer.
#[derive(Clone, Deserialize, Serialize)]
struct IdTokenField {
    id_token: Option<String>,
}

impl ExtraTokenFields for IdTokenField {}

/// A bearer secret: never printed.
impl std::fmt::Debug for IdTokenField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IdTokenField(<redacted>)")
    }
}

type Answer = StandardTokenResponse<IdTokenField, BasicTokenType>;
type Client<HasAuth = EndpointNotSet, HasDevice = EndpointNotSet> = oauth2::Client<
    BasicErrorResponse,
    Answer,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    HasAuth,
    HasDevice,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

fn bad_url(name: &str, u: &str, e: url::ParseError) -> OidcError {
    OidcError::Protocol(format!(
        "the OIDC provider's {name} {} is not a usable URL: {e}",
        server_text(u.as_bytes())
    ))
}

/// The OAuth client for `token_ep`, sending the client secret (when set)
/// in the form, as Go gitsign does.
fn client(s: &OidcSettings, token_ep: &str) -> Result<Client, OidcError> {
    let token_url =
        TokenUrl::new(token_ep.into()).map_err(|e| bad_url("token_endpoint", token_ep, e))?;
    let c = oauth2::Client::new(ClientId::new(s.client_id.clone()))
        .set_token_uri(token_url)
        .set_auth_type(AuthType::RequestBody);
    Ok(match s.client_secret.as_deref().filter(|c| !c.is_empty()) {
        Some(sec) => c.set_client_secret(ClientSecret::new(sec.into())),
        None => c,
    })
}

/// `error: description`, as printable text.
fn refusal<T: ErrorResponseType + AsRef<str>>(e: &StandardErrorResponse<T>) -> String {
    let code = server_text(e.error().as_ref().as_bytes());
    match e.error_description().map(|d| server_text(d.as_bytes())) {
        Some(d) if !d.is_empty() => format!("{code}: {d}"),
        _ => code,
    }
}

/// Says why a request to the endpoint `who` failed.
fn failed<T: ErrorResponseType + AsRef<str> + std::fmt::Display + 'static>(
    e: RequestTokenError<HttpError, StandardErrorResponse<T>>,
    client: &OauthHttp,
    what: &str,
    who: &str,
) -> OidcError {
    let unusable = |why: String| {
        OidcError::Protocol(format!(
            "{what}: {who} answered something that is not an OAuth answer ({})",
            server_text(why.as_bytes())
        ))
    };
    match e {
        RequestTokenError::ServerResponse(r) => {
            OidcError::Protocol(format!("{what}: {who} refused: {}", refusal(&r)))
        }
        RequestTokenError::Request(e) => net(what, e),
        RequestTokenError::Parse(_, body) if client.status.get() != 200 => {
            OidcError::Network(format!(
                "{what}: {who} answered HTTP {}: {}",
                client.status.get(),
                server_text(&body)
            ))
        }
        RequestTokenError::Parse(e, _) => unusable(e.to_string()),
        RequestTokenError::Other(m) => unusable(m),
    }
}

/// The answer's ID token, or why there is none.
fn id_token<'a>(a: &'a Answer, what: &str, token_ep: &str) -> Result<&'a str, OidcError> {
    a.extra_fields().id_token.as_deref().ok_or_else(|| {
        OidcError::Protocol(format!(
            "{what}: the token endpoint {token_ep} answered without an id_token (was the `openid` scope dropped?)"
        ))
    })
}

/// The browser login: authorization code with PKCE S256, state and nonce,
/// the redirect caught on a loopback listener.
pub(crate) fn interactive(
    s: &OidcSettings,
    http: &Http,
    msgs: &dyn Messages,
) -> Result<IdToken, OidcError> {
    let redirect = Redirect::from_setting(s.redirect_url.as_deref())?;
    // A bad opener is a configuration error, found before any network.
    if let Some(cmd) = s.url_opener.as_deref().filter(|c| !c.trim().is_empty()) {
        opener::opener_argv(cmd, "http://127.0.0.1/")?;
    }
    let d = discover(&s.issuer, http)?;
    let auth_ep = endpoint(
        &d.authorization_endpoint,
        "authorization_endpoint",
        &s.issuer,
    )?;
    let token_ep = endpoint(&d.token_endpoint, "token_endpoint", &s.issuer)?;
    if let Some(m) = &d.code_challenge_methods {
        if !m.iter().any(|x| x == "S256") {
            return Err(OidcError::Protocol(format!(
                "the OIDC provider {} does not offer PKCE with S256 (code_challenge_methods_supported: {}); gitsign requires it",
                s.issuer,
                server_text(m.join(", ").as_bytes())
            )));
        }
    }
    let listeners = loopback::bind(&redirect)?;
    let redirect_uri = redirect.uri(listeners.port);
    let client =
        client(s, token_ep)?
            .set_auth_uri(
                AuthUrl::new(auth_ep.into())
                    .map_err(|e| bad_url("authorization_endpoint", auth_ep, e))?,
            )
            .set_redirect_uri(RedirectUrl::new(redirect_uri).map_err(|e| {
                OidcError::Config(format!("gitsign.redirectURL is not usable: {e}"))
            })?);
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let nonce = CsrfToken::new_random_len(24);
    let mut req = client
        .authorize_url(|| CsrfToken::new_random_len(24))
        .add_scope(Scope::new("openid".into()))
        .add_scope(Scope::new("email".into()))
        .set_pkce_challenge(challenge)
        .add_extra_param("nonce", nonce.secret().clone());
    if let Some(c) = s.connector_id.as_deref().filter(|c| !c.is_empty()) {
        req = req.add_extra_param("connector_id", c.to_string());
    }
    let (mut auth_url, state) = req.url();
    // Spaces as %20 rather than form encoding's `+`: every decoder reads
    // %20 as a space (`+` is a space to form decoders only).
    let query = auth_url.query().map(|q| q.replace('+', "%20"));
    auth_url.set_query(query.as_deref());
    let auth_url = auth_url.to_string();

    loopback::browser_login(
        s,
        &auth_url,
        &listeners,
        &redirect,
        state.secret(),
        msgs,
        |query| {
            let code = check_callback(s, &d, query, state.secret())?;
            let what = "exchanging the login code for an identity token";
            let oh = OauthHttp::new(http);
            let answer = client
                .exchange_code(AuthorizationCode::new(code.into()))
                .set_pkce_verifier(verifier)
                .request(&oh)
                .map_err(|e| failed(e, &oh, what, &format!("the token endpoint {token_ep}")))?;
            let raw = id_token(&answer, what, token_ep)?;
            checked(raw, &s.client_id, Some(&s.issuer), Some(nonce.secret())).map_err(|e| {
                e.map(|m| format!("{m} (token from {}); run the command again", s.issuer))
            })
        },
    )
}

/// What the login redirect carried: this login's state, no error, the
/// issuer (RFC 9207) when sent or promised; returns the code.
fn check_callback<'a>(
    s: &OidcSettings,
    d: &super::Discovery,
    query: &'a [(String, String)],
    state: &str,
) -> Result<&'a str, OidcError> {
    let param = |k| loopback::param(query, k);
    if !constant_time_eq(param("state").unwrap_or("").as_bytes(), state.as_bytes()) {
        return Err(OidcError::Denied(
            "the login redirect carried a state that does not belong to this login (a stale browser tab, or a forged request); run the command again".into(),
        ));
    }
    if let Some(e) = param("error") {
        let e = server_text(e.as_bytes());
        let e = match param("error_description").map(|d| server_text(d.as_bytes())) {
            Some(d) if !d.is_empty() => format!("{e}: {d}"),
            _ => e,
        };
        return Err(OidcError::Denied(format!(
            "the identity provider {} refused the login: {e}; run the command again and complete the login in the browser",
            s.issuer
        )));
    }
    match param("iss") {
        Some(iss) if !same_issuer(iss, &d.issuer) => Err(OidcError::Denied(format!(
            "the login redirect names the issuer {}, not {} (RFC 9207 mix-up protection); run the command again",
            server_text(iss.as_bytes()),
            d.issuer
        ))),
        None if d.iss_parameter_supported => Err(OidcError::Denied(format!(
            "the login redirect lacks the `iss` parameter that {} promises (RFC 9207); run the command again",
            d.issuer
        ))),
        _ => param("code").filter(|c| !c.is_empty()).ok_or_else(|| {
            OidcError::Protocol(format!(
                "the login redirect from {} carried no authorization code",
                s.issuer
            ))
        }),
    }
}

/// Sleeps until `until` (at the latest `deadline`), saying once a second
/// how long the login has left.
fn sleep_counting(msgs: &dyn Messages, until: Instant, deadline: Instant, note: &str) {
    let until = until.min(deadline);
    loop {
        let now = Instant::now();
        if now >= until {
            return;
        }
        msgs.waiting(&format!(
            "waiting for the device login: {} left{note}",
            loopback::time_left(deadline, now)
        ));
        std::thread::sleep(
            until
                .saturating_duration_since(now)
                .min(Duration::from_secs(1)),
        );
    }
}

/// The RFC 8628 device authorization grant.
pub(crate) fn device(
    s: &OidcSettings,
    http: &Http,
    msgs: &dyn Messages,
) -> Result<IdToken, OidcError> {
    let d = discover(&s.issuer, http)?;
    let dev_ep = d.device_authorization_endpoint.as_deref().filter(|u| !u.is_empty()).ok_or_else(|| {
        OidcError::Config(format!(
            "the OIDC provider {} does not offer the device flow (no device_authorization_endpoint in its discovery document); use gitsign.tokenProvider=interactive",
            s.issuer
        ))
    })?;
    let token_ep = endpoint(&d.token_endpoint, "token_endpoint", &s.issuer)?;
    let client = client(s, token_ep)?.set_device_authorization_url(
        DeviceAuthorizationUrl::new(dev_ep.into())
            .map_err(|e| bad_url("device_authorization_endpoint", dev_ep, e))?,
    );
    // PKCE as Go gitsign sends it (Dex binds the device code to it; servers
    // without PKCE for this grant ignore it).
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let what = format!("starting the device login at {}", s.issuer);
    let oh = OauthHttp::new(http);
    let details: StandardDeviceAuthorizationResponse = client
        .exchange_device_code()
        .add_scope(Scope::new("openid".into()))
        .add_scope(Scope::new("email".into()))
        .add_extra_param("code_challenge", challenge.as_str().to_string())
        .add_extra_param("code_challenge_method", challenge.method().to_string())
        .request(&oh)
        .map_err(|e| failed(e, &oh, &what, dev_ep))?;
    let expires_in = Some(details.expires_in().as_secs())
        .filter(|&e| e > 0)
        .unwrap_or(300)
        .min(MAX_DEVICE_LIFETIME);
    let mut text = format!(
        "To sign in, open {} in a browser (on any device) and enter the code {}",
        server_text(details.verification_uri().as_bytes()),
        server_text(details.user_code().secret().as_bytes())
    );
    if let Some(c) = details.verification_uri_complete() {
        text.push_str(&format!(
            "\n(or open {} , which carries the code)",
            server_text(c.secret().as_bytes())
        ));
    }
    text.push_str(&format!(
        "\nThe code is valid for {expires_in} s. Waiting for the login…"
    ));
    msgs.say_private(&text);

    // oauth2 polls, backs off on slow_down and on failed requests (RFC
    // 8628 3.5), and stops at the deadline; the sleeps between polls count
    // down on the terminal, at most MAX_DEVICE_INTERVAL each.
    let deadline = Instant::now() + Duration::from_secs(expires_in);
    let slept_after = Cell::new(0);
    let sleep = |d: Duration| {
        let d = if d.is_zero() {
            Duration::from_secs(5)
        } else {
            d.min(MAX_DEVICE_INTERVAL)
        };
        let note = match &*oh.failed.borrow() {
            Some(e) => format!(" (the last poll failed: {e})"),
            None => String::new(),
        };
        sleep_counting(msgs, Instant::now() + d, deadline, &note);
        slept_after.set(oh.calls.get());
    };
    // The first poll, too, after one interval.
    sleep(details.interval());
    let polled = client
        .exchange_device_access_token(&details)
        .add_extra_param("code_verifier", verifier.secret().clone())
        .set_max_backoff_interval(MAX_DEVICE_INTERVAL)
        .request(
            &oh,
            sleep,
            Some(deadline.saturating_duration_since(Instant::now())),
        );
    msgs.done_waiting();
    let what = "waiting for the device login";
    let answer = polled.map_err(|e| match e {
        RequestTokenError::ServerResponse(r) => match r.error() {
            DeviceCodeErrorResponseType::AccessDenied => OidcError::Denied(format!(
                "the device login was denied at {} ({}); run the command again and approve the login",
                s.issuer,
                refusal(&r)
            )),
            // No poll since the last sleep: oauth2's own deadline.
            DeviceCodeErrorResponseType::ExpiredToken if slept_after.get() == oh.calls.get() => {
                let last = match &*oh.failed.borrow() {
                    Some(e) => format!(" (the last poll failed: {e})"),
                    None => String::new(),
                };
                OidcError::TimedOut(format!(
                    "the device code expired after {expires_in} s without a completed login at {}{last}; run the command again and enter the code it shows sooner",
                    s.issuer
                ))
            }
            DeviceCodeErrorResponseType::ExpiredToken => OidcError::TimedOut(format!(
                "the device code expired at {} before the login was completed ({}); run the command again and enter the code sooner",
                s.issuer,
                refusal(&r)
            )),
            _ => failed(
                RequestTokenError::ServerResponse(r),
                &oh,
                what,
                &format!("the token endpoint {token_ep}"),
            ),
        },
        e => failed(e, &oh, what, &format!("the token endpoint {token_ep}")),
    })?;
    let raw = id_token(&answer, what, token_ep)?;
    msgs.say("Login complete.");
    checked(raw, &s.client_id, Some(&s.issuer), None)
        .map_err(|e| e.map(|m| format!("{m} (token from {}); run the command again", s.issuer)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_urls() {
        assert!(plain_url("https://oauth2.sigstore.dev/auth/auth"));
        assert!(plain_url("http://127.0.0.1:1/auth?x=y"));
        for bad in [
            "-o/tmp/x",
            "file:///etc",
            "https://a b",
            "https://a\u{1b}[2J",
            "javascript:x",
        ] {
            assert!(!plain_url(bad), "{bad}");
        }
    }
}
