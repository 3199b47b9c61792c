//! The one HTTP client the service clients share: bounded timeouts,
//! bounded response sizes, errors that name the URL.

use std::io::Read;
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
    /// Body.
    pub body: Vec<u8>,
}

/// A shared blocking client.
#[derive(Clone, Debug)]
pub struct Http {
    /// For `http://` URLs (loopback services, tests): no TLS roots to load.
    plain: std::sync::Arc<std::sync::OnceLock<Result<reqwest::blocking::Client, String>>>,
    /// For `https://` URLs, built on first use: loading the platform's
    /// root certificates costs milliseconds a signature should not pay
    /// when every service is local.
    tls: std::sync::Arc<std::sync::OnceLock<Result<reqwest::blocking::Client, String>>>,
    timeout: Duration,
}

fn describe(e: &reqwest::Error, timeout: Duration) -> String {
    if e.is_timeout() {
        format!(
            "no answer within {} s (raise gitsign.timeout if the service is slow)",
            timeout.as_secs()
        )
    } else if e.is_connect() {
        let mut src: Option<&dyn std::error::Error> = std::error::Error::source(e);
        let mut last = e.to_string();
        while let Some(s) = src {
            last = s.to_string();
            src = s.source();
        }
        format!("connection failed ({last})")
    } else {
        e.to_string()
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

impl Http {
    /// A client whose every request must finish within `timeout`.
    pub fn new(timeout: Duration) -> Result<Http, HttpError> {
        Ok(Http {
            plain: Default::default(),
            tls: Default::default(),
            timeout,
        })
    }

    fn builder(&self) -> reqwest::blocking::ClientBuilder {
        reqwest::blocking::Client::builder()
            .timeout(self.timeout)
            .connect_timeout(self.timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("gitsign-rs/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::limited(5))
    }

    /// The client for `url`.
    fn client(&self, url: &str) -> Result<&reqwest::blocking::Client, HttpError> {
        let plain = url
            .get(..7)
            .is_some_and(|p| p.eq_ignore_ascii_case("http://"));
        let cell = if plain { &self.plain } else { &self.tls };
        cell.get_or_init(|| {
            let b = self.builder();
            // Plain HTTP needs no trust anchors; redirects to https fail.
            let b = if plain {
                b.tls_certs_only(Vec::new())
            } else {
                b
            };
            b.build().map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| HttpError {
            url: url.into(),
            status: None,
            message: format!("cannot set up the HTTP client: {e}"),
        })
    }

    /// The configured timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    fn send(
        &self,
        req: reqwest::blocking::RequestBuilder,
        url: &str,
    ) -> Result<Response, HttpError> {
        let resp = req.send().map_err(|e| HttpError {
            url: url.into(),
            status: None,
            message: describe(&e, self.timeout),
        })?;
        let status = resp.status().as_u16();
        let location = resp
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let mut body = Vec::new();
        resp.take(MAX_RESPONSE + 1)
            .read_to_end(&mut body)
            .map_err(|e| HttpError {
                url: url.into(),
                status: Some(status),
                message: format!("reading the answer failed: {e}"),
            })?;
        if body.len() as u64 > MAX_RESPONSE {
            return Err(HttpError {
                url: url.into(),
                status: Some(status),
                message: "the answer is too large".into(),
            });
        }
        Ok(Response {
            status,
            location,
            body,
        })
    }

    /// GET, retried once when the connection fails or the server is
    /// briefly unavailable (GETs are safe to repeat).
    pub fn get(&self, url: &str) -> Result<Response, HttpError> {
        let once = || {
            self.send(
                self.client(url)?
                    .get(url)
                    .header("accept", "application/json"),
                url,
            )
        };
        match once() {
            Ok(r) if matches!(r.status, 502..=504) => once(),
            Err(e) if e.status.is_none() && !e.message.starts_with("no answer") => once(),
            other => other,
        }
    }

    /// POST a JSON body, with extra headers. `idempotent` allows one retry.
    pub fn post_json(
        &self,
        url: &str,
        body: Vec<u8>,
        headers: &[(&str, String)],
        idempotent: bool,
    ) -> Result<Response, HttpError> {
        let once = || {
            let mut req = self
                .client(url)?
                .post(url)
                .header("content-type", "application/json")
                .header("accept", "application/json");
            for (k, v) in headers {
                req = req.header(*k, v);
            }
            self.send(req.body(body.clone()), url)
        };
        match once() {
            Ok(r) if idempotent && matches!(r.status, 502..=504) => once(),
            Err(e) if idempotent && e.status.is_none() && !e.message.starts_with("no answer") => {
                once()
            }
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
        let req = self
            .client(url)?
            .post(url)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("accept", "application/json")
            .body(body);
        self.send(req, url)
    }

    /// POST raw bytes with a content type (RFC 3161 requests).
    pub fn post_bytes(
        &self,
        url: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> Result<Response, HttpError> {
        self.send(
            self.client(url)?
                .post(url)
                .header("content-type", content_type)
                .body(body),
            url,
        )
    }

    /// GET with extra request headers (e.g. `Authorization` for the GitHub
    /// Actions ID-token endpoint), retried once like [`Http::get`].
    pub fn get_with_headers(
        &self,
        url: &str,
        headers: &[(&str, String)],
    ) -> Result<Response, HttpError> {
        let once = || {
            let mut req = self
                .client(url)?
                .get(url)
                .header("accept", "application/json");
            for (k, v) in headers {
                req = req.header(*k, v);
            }
            self.send(req, url)
        };
        match once() {
            Ok(r) if matches!(r.status, 502..=504) => once(),
            Err(e) if e.status.is_none() && !e.message.starts_with("no answer") => once(),
            other => other,
        }
    }
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
