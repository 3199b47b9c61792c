//! The one HTTP client the service clients share: bounded timeouts,
//! bounded response sizes, errors that name the URL.

use std::time::Duration;

/// Largest response body read from any service.
pub const MAX_RESPONSE: u64 = 8 * 1024 * 1024;

/// A failed request, as a sentence naming the URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpError {
    /// The URL requested.
    pub url: String,
    /// The HTTP status, when the server answered.
    pub status: Option<u16>,
    /// What went wrong (server text included verbatim, truncated).
    pub message: String,
}

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.status {
            Some(s) => write!(f, "{} answered HTTP {s}: {}", self.url, self.message),
            None => write!(f, "cannot reach {}: {}", self.url, self.message),
        }
    }
}

impl std::error::Error for HttpError {}

/// A response.
#[derive(Debug, Clone)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// `Location` header, when present.
    pub location: Option<String>,
    /// `Content-Type` header, when present.
    pub content_type: Option<String>,
    /// Body.
    pub body: Vec<u8>,
}

/// A shared blocking client.
#[derive(Clone, Debug)]
pub struct Http {
    /// Built on first use; the platform verifier (root certificates) is
    /// loaded by the TLS layer only when an `https://` URL is first used,
    /// so a signature against loopback services never pays for it.
    agent: std::sync::Arc<std::sync::OnceLock<ureq::Agent>>,
    timeout: Duration,
    /// Whether GET follows redirects (never from https to http).
    redirects: bool,
}

/// Most redirects a GET follows.
const MAX_REDIRECTS: usize = 5;

/// A URL's scheme, lowercased (`HTTPS://h` is https: schemes compare
/// case-insensitively, RFC 3986 3.1), when it has one.
pub fn scheme(url: &str) -> Option<String> {
    let (scheme, _) = url.split_once(':')?;
    let mut chars = scheme.chars();
    let first = chars.next()?;
    let valid = first.is_ascii_alphabetic()
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    valid.then(|| scheme.to_ascii_lowercase())
}

/// Whether `url` is an https URL, whatever the case of its scheme.
pub fn is_https(url: &str) -> bool {
    scheme(url).as_deref() == Some("https") && url[5..].starts_with("://")
}

/// Whether `url` is an http or https URL, whatever the case of its scheme.
pub fn is_http_or_https(url: &str) -> bool {
    match scheme(url).as_deref() {
        Some("https") => url[5..].starts_with("://"),
        Some("http") => url[4..].starts_with("://"),
        _ => false,
    }
}

/// A URL's origin (RFC 6454): scheme, host and port, lowercased, the
/// default port filled in; `None` when it is not an http(s) URL.
fn origin(url: &str) -> Option<(String, String, u16)> {
    let scheme = scheme(url).filter(|_| is_http_or_https(url))?;
    let rest = &url[scheme.len() + 3..];
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let (host, port) = match host_port.rfind(':') {
        // An IPv6 literal's colons are inside its brackets.
        Some(i) if !host_port[i..].contains(']') => (&host_port[..i], Some(&host_port[i + 1..])),
        _ => (host_port, None),
    };
    let default = if scheme == "https" { 443 } else { 80 };
    let port = match port {
        None | Some("") => default,
        Some(p) => p.parse().ok()?,
    };
    Some((scheme, host.to_ascii_lowercase(), port))
}

/// Request headers that carry credentials: never sent on to another origin
/// than the one they were meant for (a redirect's target).
const CREDENTIAL_HEADERS: &[&str] = &["authorization", "proxy-authorization", "cookie"];

/// Where a redirect's `Location` points, resolved against the URL that
/// answered (absolute, scheme-relative, absolute-path or relative); `None`
/// for a scheme other than http(s).
fn resolve_location(base: &str, location: &str) -> Option<String> {
    if scheme(location).is_some() {
        return is_http_or_https(location).then(|| location.to_string());
    }
    let (scheme, rest) = base.split_once("://")?;
    if let Some(r) = location.strip_prefix("//") {
        return Some(format!("{scheme}://{r}"));
    }
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    if location.starts_with('/') {
        return Some(format!("{scheme}://{authority}{location}"));
    }
    let path = rest[authority_end..]
        .split(['?', '#'])
        .next()
        .unwrap_or_default();
    let dir = &path[..path.rfind('/').map_or(0, |i| i + 1)];
    let dir = if dir.is_empty() { "/" } else { dir };
    Some(format!("{scheme}://{authority}{dir}{location}"))
}

fn describe(e: &ureq::Error, timeout: Duration) -> String {
    let text = match e {
        ureq::Error::Timeout(_) => {
            return format!(
                "no answer within {} s (raise gitsign.timeout if the service is slow)",
                timeout.as_secs()
            )
        }
        ureq::Error::Io(io) => format!("connection failed ({io})"),
        ureq::Error::HostNotFound => "connection failed (host not found)".into(),
        ureq::Error::ConnectionFailed => "connection failed".into(),
        other => other.to_string(),
    };
    // rustls' words, with what a user can do about them.
    if text.contains("corrupt message") || text.contains("InvalidContentType") {
        format!("{text}; the server does not seem to speak TLS: check whether the URL should be http://")
    } else if text.contains("invalid peer certificate") {
        format!(
            "{text}; the server's certificate is not trusted here (a private CA can be added with \
             SSL_CERT_FILE or SSL_CERT_DIR)"
        )
    } else if text.contains("No CA certificates were loaded") {
        format!(
            "TLS cannot start: no trusted CA certificates could be loaded from the system ({text}); \
             install the system's CA bundle or set SSL_CERT_FILE"
        )
    } else {
        text
    }
}

/// Server text for an error message: UTF-8, one line, at most 500 chars.
pub fn server_text(body: &[u8]) -> String {
    let s = String::from_utf8_lossy(body);
    let s: String = s
        .trim()
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(500)
        .collect();
    if s.is_empty() {
        "(empty response)".into()
    } else {
        s
    }
}

/// Resolves IP-literal hosts (loopback services) directly: ureq's default
/// resolver starts a thread per lookup when a timeout is set, even for a
/// literal. Names go to the default resolver.
#[derive(Debug, Default)]
struct LiteralFirst(ureq::unversioned::resolver::DefaultResolver);

impl ureq::unversioned::resolver::Resolver for LiteralFirst {
    fn resolve(
        &self,
        uri: &ureq::http::Uri,
        config: &ureq::config::Config,
        timeout: ureq::unversioned::transport::NextTimeout,
    ) -> Result<ureq::unversioned::resolver::ResolvedSocketAddrs, ureq::Error> {
        if let Some(auth) = uri.authority() {
            let host = auth.host();
            let host = host
                .strip_prefix('[')
                .and_then(|h| h.strip_suffix(']'))
                .unwrap_or(host);
            if let Ok(ip) = host.parse::<std::net::IpAddr>() {
                let https = uri.scheme_str() == Some("https");
                let port = auth.port_u16().unwrap_or(if https { 443 } else { 80 });
                let mut out = self.empty();
                out.push(std::net::SocketAddr::new(ip, port));
                return Ok(out);
            }
        }
        self.0.resolve(uri, config, timeout)
    }
}

impl Http {
    /// A client whose every request must finish within `timeout`.
    pub fn new(timeout: Duration) -> Result<Http, HttpError> {
        Ok(Http {
            agent: Default::default(),
            timeout,
            redirects: true,
        })
    }

    /// The same client that follows no redirect at all: a 3xx answer is
    /// returned as it is (the credential cache daemon, which must never
    /// fetch a URL a server chose).
    pub fn without_redirects(mut self) -> Http {
        self.redirects = false;
        self
    }

    fn agent(&self) -> &ureq::Agent {
        self.agent.get_or_init(|| {
            let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
            let tls = ureq::tls::TlsConfig::builder()
                .provider(ureq::tls::TlsProvider::Rustls)
                .root_certs(ureq::tls::RootCerts::PlatformVerifier)
                .unversioned_rustls_crypto_provider(provider)
                .build();
            let config = ureq::Agent::config_builder()
                .timeout_global(Some(self.timeout))
                .timeout_connect(Some(self.timeout.min(Duration::from_secs(10))))
                .user_agent(concat!("gitsign-rs/", env!("CARGO_PKG_VERSION")))
                // Redirects are followed by `send`, which refuses a step
                // from https to http (a network attacker's downgrade).
                .max_redirects(0)
                // Statuses are answers the callers interpret (409, 404, 5xx).
                .http_status_as_error(false)
                .tls_config(tls)
                // ureq's 128 KiB defaults are allocated (and zeroed) per
                // connection; answers here are a few KiB of JSON, and
                // bodies stream through the buffer anyway.
                .input_buffer_size(32 * 1024)
                .output_buffer_size(16 * 1024)
                .max_response_header_size(32 * 1024)
                .build();
            ureq::Agent::with_parts(
                config,
                ureq::unversioned::transport::DefaultConnector::default(),
                LiteralFirst::default(),
            )
        })
    }

    /// The configured timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Sends one request: `body` None for GET. A GET follows up to
    /// [`MAX_REDIRECTS`] redirects, never from an https URL to an http one
    /// (whoever sits on the network could answer the http request), and
    /// sends credentials (`Authorization`, cookies) only to the origin
    /// they were given for: a redirect to another scheme, host or port goes
    /// there without them, as curl and Go's net/http do. Other methods
    /// follow none (the 3xx status is the caller's to judge).
    fn send(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Result<Response, HttpError> {
        self.send_bounded(method, url, headers, body, MAX_RESPONSE, None)
    }

    /// [`Http::send`] with a body limit and, when given, a timeout for this
    /// request in place of the client's.
    fn send_bounded(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
        limit: u64,
        timeout: Option<Duration>,
    ) -> Result<Response, HttpError> {
        let mut current = url.to_string();
        let mut headers: Vec<(&str, &str)> = headers.to_vec();
        for _ in 0..=MAX_REDIRECTS {
            let r = self.send_once(method, &current, &headers, body, limit, timeout)?;
            let redirect = matches!(r.status, 301 | 302 | 303 | 307 | 308);
            if !(redirect && method == "GET" && self.redirects) {
                return Ok(r);
            }
            let fail = |message: String| HttpError {
                url: url.into(),
                status: Some(r.status),
                message,
            };
            let to = r
                .location
                .as_deref()
                .and_then(|l| resolve_location(&current, l))
                .ok_or_else(|| fail("a redirect without a usable Location".into()))?;
            if is_https(&current) && !is_https(&to) {
                return Err(fail(format!(
                    "refused the redirect from {current} to {}: a redirect from https to plain \
                     http would let anyone on the network answer; fix the URL in the \
                     configuration, or ask the server's operator",
                    crate::encoding::text::printable(&to)
                )));
            }
            if origin(&current) != origin(&to) {
                headers
                    .retain(|(k, _)| !CREDENTIAL_HEADERS.iter().any(|c| k.eq_ignore_ascii_case(c)));
            }
            current = to;
        }
        Err(HttpError {
            url: url.into(),
            status: None,
            message: format!("more than {MAX_REDIRECTS} redirects"),
        })
    }

    fn send_once(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
        limit: u64,
        timeout: Option<Duration>,
    ) -> Result<Response, HttpError> {
        let fail = |status: Option<u16>, message: String| HttpError {
            url: url.into(),
            status,
            message,
        };
        let agent = self.agent();
        let result = if method == "GET" {
            let mut req = agent.get(url);
            for (k, v) in headers {
                req = req.header(*k, *v);
            }
            match timeout {
                Some(t) => req.config().timeout_global(Some(t)).build().call(),
                None => req.call(),
            }
        } else {
            let mut req = agent.post(url);
            for (k, v) in headers {
                req = req.header(*k, *v);
            }
            req.send(body.unwrap_or_default())
        };
        let budget = timeout.unwrap_or(self.timeout);
        let mut resp = result.map_err(|e| fail(None, describe(&e, budget)))?;
        let status = resp.status().as_u16();
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let location = header("location");
        let content_type = header("content-type");
        let body = resp
            .body_mut()
            .with_config()
            .limit(limit)
            .read_to_vec()
            .map_err(|e| match e {
                ureq::Error::BodyExceedsLimit(_) => fail(
                    Some(status),
                    format!("the answer is larger than the {limit} bytes accepted"),
                ),
                e => fail(
                    Some(status),
                    format!("reading the answer failed: {}", describe(&e, budget)),
                ),
            })?;
        Ok(Response {
            status,
            location,
            content_type,
            body,
        })
    }

    /// GET, retried once when the connection fails or the server is
    /// briefly unavailable (GETs are safe to repeat).
    pub fn get(&self, url: &str) -> Result<Response, HttpError> {
        self.get_with_headers(url, &[])
    }

    /// POST a JSON body, with extra headers. `idempotent` allows one retry.
    pub fn post_json(
        &self,
        url: &str,
        body: Vec<u8>,
        headers: &[(&str, String)],
        idempotent: bool,
    ) -> Result<Response, HttpError> {
        let mut all: Vec<(&str, &str)> = vec![
            ("content-type", "application/json"),
            ("accept", "application/json"),
        ];
        all.extend(headers.iter().map(|(k, v)| (*k, v.as_str())));
        let once = || self.send("POST", url, &all, Some(&body));
        match once() {
            Ok(r) if idempotent && matches!(r.status, 502..=504) => once(),
            Err(e) if idempotent && retryable(&e) => once(),
            other => other,
        }
    }

    /// POST a form (OAuth token endpoints).
    pub fn post_form(&self, url: &str, form: &[(&str, &str)]) -> Result<Response, HttpError> {
        let body = form
            .iter()
            .map(|(k, v)| format!("{}={}", urlencode(k), urlencode(v)))
            .collect::<Vec<_>>()
            .join("&");
        self.send(
            "POST",
            url,
            &[
                ("content-type", "application/x-www-form-urlencoded"),
                ("accept", "application/json"),
            ],
            Some(body.as_bytes()),
        )
    }

    /// Any request, as [`Http::send`] sends it (the OAuth client's
    /// requests, [`crate::oidc`]): no retry, redirects for GET only.
    pub fn request(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<Response, HttpError> {
        self.send(method, url, headers, Some(body))
    }

    /// POST raw bytes with a content type (RFC 3161 requests).
    pub fn post_bytes(
        &self,
        url: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> Result<Response, HttpError> {
        self.send("POST", url, &[("content-type", content_type)], Some(&body))
    }

    /// GET with extra request headers (e.g. `Authorization` for the GitHub
    /// Actions ID-token endpoint), retried once like [`Http::get`].
    pub fn get_with_headers(
        &self,
        url: &str,
        headers: &[(&str, String)],
    ) -> Result<Response, HttpError> {
        let mut all: Vec<(&str, &str)> = vec![("accept", "application/json")];
        all.extend(headers.iter().map(|(k, v)| (*k, v.as_str())));
        let once = || self.send("GET", url, &all, None);
        match once() {
            Ok(r) if matches!(r.status, 502..=504) => once(),
            Err(e) if retryable(&e) => once(),
            other => other,
        }
    }
}

impl Http {
    /// GET that reads at most `limit` bytes of the answer (more is an
    /// error) and must finish within `timeout`; no retry (the caller keeps
    /// a deadline). Redirects as [`Http::get`].
    pub fn get_limited(
        &self,
        url: &str,
        limit: u64,
        timeout: Duration,
    ) -> Result<Response, HttpError> {
        self.send_bounded("GET", url, &[], None, limit, Some(timeout))
    }
}

/// A failure worth one more try: the connection failed (not a timeout,
/// which already used the whole budget).
fn retryable(e: &HttpError) -> bool {
    e.status.is_none() && !e.message.starts_with("no answer")
}

/// Percent-encodes for `application/x-www-form-urlencoded` and query strings.
pub fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Joins a base URL and a path without doubling slashes.
pub fn join(base: &str, path: &str) -> String {
    format!(
        "{}/{}",
        base.trim_end_matches('/'),
        path.trim_start_matches('/')
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_resolve_like_a_browser() {
        let base = "https://h:1/a/b?q=1";
        let cases = [
            ("http://x/y", "http://x/y"),
            ("//x/y", "https://x/y"),
            ("/y", "https://h:1/y"),
            ("y", "https://h:1/a/y"),
        ];
        for (loc, want) in cases {
            assert_eq!(resolve_location(base, loc).as_deref(), Some(want), "{loc}");
        }
        assert_eq!(
            resolve_location("http://h", "y").as_deref(),
            Some("http://h/y")
        );
        assert_eq!(resolve_location("no scheme", "y"), None);
        // Schemes compare case-insensitively; other schemes are no target.
        assert_eq!(
            resolve_location(base, "HTTP://x/y").as_deref(),
            Some("HTTP://x/y")
        );
        assert_eq!(resolve_location(base, "file:///etc/passwd"), None);
    }

    #[test]
    fn schemes_and_origins_ignore_case() {
        assert!(is_https("HTTPS://h/x") && is_https("https://h") && is_https("HtTpS://h"));
        assert!(!is_https("http://h") && !is_https("https:/h") && !is_https("httpsx://h"));
        assert!(is_http_or_https("HTTP://h") && !is_http_or_https("file:///x"));
        assert_eq!(
            origin("HTTPS://User@Example.COM/a"),
            Some(("https".into(), "example.com".into(), 443))
        );
        assert_eq!(origin("http://h:80/a"), origin("HTTP://H/b?c"));
        assert_ne!(origin("http://h:8080/a"), origin("http://h/a"));
        assert_ne!(origin("http://127.0.0.1:1/"), origin("http://127.0.0.2:1/"));
        assert_eq!(
            origin("http://[::1]:9/x"),
            Some(("http".into(), "[::1]".into(), 9))
        );
        assert_eq!(origin("http://[::1]/x").map(|o| o.2), Some(80));
    }
}
