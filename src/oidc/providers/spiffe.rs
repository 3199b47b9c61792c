//! `spiffe`: a JWT-SVID from the SPIFFE Workload API, as cosign gets it
//! through go-spiffe's `FetchJWTSVID`: the unary gRPC call
//! `/SpiffeWorkloadAPI/FetchJWTSVID` (HTTP/2 without TLS on the agent's
//! unix socket, with the `workload.spiffe.io: true` metadata the agent
//! requires), whose first SVID is the token.
//!
//! The socket is `SPIFFE_ENDPOINT_SOCKET` (`unix:///path`, or a bare path as
//! cosign reads it), else SPIRE's `/tmp/spire-agent/public/api.sock`;
//! cosign enables the provider when that path exists.
//!
//! HTTP/2 is h2's; gRPC's framing (a flag byte and a length before each
//! message, the status in the trailers) is the few lines below, and the
//! two messages are prost structs written from the Workload API's proto
//! (`workload.proto`: `JWTSVIDRequest`, `JWTSVIDResponse`, `JWTSVID`),
//! which saves a build-time protoc and a gRPC framework for one call. The
//! call runs on a current-thread tokio runtime made for it and dropped
//! after it: a signature that does not use SPIFFE never starts one.
//!
//! The Workload API is a unix socket: off Unix the provider is not
//! supported, and [`token`] says so before it looks for the socket.

use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};

use crate::oidc::OidcError;
use crate::sigstore::http::server_text;

/// SPIRE's default Workload API socket (cosign's default).
pub const DEFAULT_SOCKET: &str = "/tmp/spire-agent/public/api.sock";
/// The gRPC method.
const METHOD: &str = "/SpiffeWorkloadAPI/FetchJWTSVID";
/// Largest answer read (an SVID is 1-3 KiB; a few per workload).
const MAX_ANSWER: usize = super::MAX_ANSWER;

/// `JWTSVIDRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct JwtSvidRequest {
    /// The audiences the SVID is for.
    #[prost(string, repeated, tag = "1")]
    pub audience: Vec<String>,
    /// The SPIFFE ID wanted; empty: every identity of the workload.
    #[prost(string, tag = "2")]
    pub spiffe_id: String,
}

/// `JWTSVIDResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct JwtSvidResponse {
    /// The SVIDs, the workload's default identity first.
    #[prost(message, repeated, tag = "1")]
    pub svids: Vec<JwtSvid>,
}

/// `JWTSVID`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct JwtSvid {
    /// Its SPIFFE ID.
    #[prost(string, tag = "1")]
    pub spiffe_id: String,
    /// The token, JWS compact serialization.
    #[prost(string, tag = "2")]
    pub svid: String,
}

/// The socket path `SPIFFE_ENDPOINT_SOCKET` names (`unix:///path`,
/// `unix:/path`, or a bare path as cosign takes it), else the default.
pub fn socket_path(setting: Option<&str>) -> Result<PathBuf, OidcError> {
    let Some(v) = setting.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(PathBuf::from(DEFAULT_SOCKET));
    };
    let path = if let Some(rest) = v.strip_prefix("unix://") {
        rest
    } else if let Some(rest) = v.strip_prefix("unix:") {
        rest
    } else if v.contains("://") {
        return Err(OidcError::Config(format!(
            "the token provider is spiffe but SPIFFE_ENDPOINT_SOCKET ({}) is not a unix socket address (unix:///path); TCP endpoints are not supported",
            server_text(v.as_bytes())
        )));
    } else {
        v
    };
    if !path.starts_with('/') {
        return Err(OidcError::Config(format!(
            "the token provider is spiffe but SPIFFE_ENDPOINT_SOCKET ({}) does not name an absolute socket path (unix:///path)",
            server_text(v.as_bytes())
        )));
    }
    Ok(PathBuf::from(path))
}

/// Whether the provider is enabled: the socket path exists (cosign's
/// rule) and, when it is the unconfigured default, [`default_socket_problem`]
/// finds nothing wrong with it.
pub fn enabled(setting: Option<&str>) -> bool {
    socket_path(setting).is_ok_and(|p| p.exists()) && default_socket_problem(setting).is_none()
}

/// Why the default socket (`SPIFFE_ENDPOINT_SOCKET` unset) is not used:
/// it lives in `/tmp`, where any local user may create
/// `/tmp/spire-agent/public/api.sock` first and hand out their own
/// identity's token. It is used only when it and every directory on its
/// path belong to root or to us and no directory on the way lets another
/// user replace what is in it (writable by others without the sticky bit).
/// `None` when the socket is configured, absent, or passes.
pub fn default_socket_problem(setting: Option<&str>) -> Option<String> {
    if setting.map(str::trim).is_some_and(|v| !v.is_empty()) {
        return None;
    }
    let path = Path::new(DEFAULT_SOCKET);
    std::fs::symlink_metadata(path).ok()?;
    let euid = euid();
    let problem = foreign_component(path, euid).or_else(|| match std::fs::canonicalize(path) {
        Ok(real) if real != path => foreign_component(&real, euid),
        Ok(_) => None,
        Err(e) => Some(format!("it cannot be inspected ({e})")),
    })?;
    Some(format!(
        "the SPIFFE Workload API socket {DEFAULT_SOCKET} is not used: {problem}, so another local \
         user may have put it there to hand out their identity; if it is your SPIFFE agent's, \
         name it with SPIFFE_ENDPOINT_SOCKET=unix://{DEFAULT_SOCKET}"
    ))
}

/// The first part of `path` (itself, then each directory above it) that a
/// user other than root and `euid` owns, or a directory another user may
/// write without the sticky bit.
#[cfg(unix)]
fn foreign_component(path: &Path, euid: u32) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    for p in path.ancestors().filter(|p| !p.as_os_str().is_empty()) {
        let m = match std::fs::symlink_metadata(p) {
            Ok(m) => m,
            Err(e) => return Some(format!("{} cannot be inspected ({e})", p.display())),
        };
        if m.uid() != 0 && m.uid() != euid {
            return Some(format!("{} belongs to uid {}", p.display(), m.uid()));
        }
        let mode = m.mode() & 0o7777;
        if p != path && m.is_dir() && mode & 0o022 != 0 && mode & 0o1000 == 0 {
            return Some(format!(
                "{} (mode {mode:04o}) may be written by other users",
                p.display()
            ));
        }
    }
    None
}

/// Where there are no unix sockets, `token` says the provider is not
/// supported before any socket is used.
#[cfg(not(unix))]
fn foreign_component(_: &Path, _: u32) -> Option<String> {
    None
}

#[cfg(unix)]
fn euid() -> u32 {
    rustix::process::geteuid().as_raw()
}

#[cfg(not(unix))]
fn euid() -> u32 {
    0
}

/// Fetches a JWT-SVID for `audience` from the Workload API at `setting`
/// (`SPIFFE_ENDPOINT_SOCKET`) within `timeout`; returns the raw JWT.
pub fn token(
    setting: Option<&str>,
    audience: &str,
    timeout: Duration,
) -> Result<String, OidcError> {
    supported()?;
    let path = socket_path(setting)?;
    if let Some(problem) = default_socket_problem(setting) {
        return Err(OidcError::Config(format!(
            "the token provider spiffe got no token: {problem}"
        )));
    }
    if !path.exists() {
        return Err(OidcError::Config(format!(
            "the token provider is spiffe but the SPIFFE Workload API socket {} does not exist; start the SPIFFE agent or set SPIFFE_ENDPOINT_SOCKET to its socket (unix:///path)",
            path.display()
        )));
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .map_err(|e| {
            OidcError::Network(format!(
                "the token provider spiffe cannot start its I/O: {e}"
            ))
        })?;
    let at = format!("the SPIFFE Workload API at unix://{}", path.display());
    rt.block_on(async {
        match tokio::time::timeout(timeout, fetch(&path, audience, &at)).await {
            Ok(r) => r,
            Err(_) => Err(OidcError::Network(format!(
                "the token provider spiffe got no token: {at} did not answer within {} s (raise gitsign.timeout if the agent is slow)",
                timeout.as_secs()
            ))),
        }
    })
}

/// Whether the provider can work here: on Unix.
#[cfg(unix)]
fn supported() -> Result<(), OidcError> {
    Ok(())
}

/// Off Unix the Workload API's unix socket cannot be reached.
#[cfg(not(unix))]
fn supported() -> Result<(), OidcError> {
    Err(OidcError::Config(
        "the token provider spiffe is not supported on this platform: the SPIFFE Workload API \
         is reached over a unix socket"
            .to_string(),
    ))
}

/// The agent's socket.
#[cfg(unix)]
async fn connect(path: &Path) -> std::io::Result<tokio::net::UnixStream> {
    tokio::net::UnixStream::connect(path).await
}

/// Off Unix there is no socket ([`supported`] refused before): a stream
/// type without values, so that the call below still compiles.
#[cfg(not(unix))]
async fn connect(_path: &Path) -> std::io::Result<NoSocket> {
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "unix sockets are not supported on this platform",
    ))
}

#[cfg(not(unix))]
enum NoSocket {}

#[cfg(not(unix))]
impl tokio::io::AsyncRead for NoSocket {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        _: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        match *self {}
    }
}

#[cfg(not(unix))]
impl tokio::io::AsyncWrite for NoSocket {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        _: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        match *self {}
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        match *self {}
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        match *self {}
    }
}

/// One gRPC message: the uncompressed flag, the length, the bytes.
fn grpc_frame(msg: &impl prost::Message) -> Bytes {
    let body = msg.encode_to_vec();
    let mut out = BytesMut::with_capacity(5 + body.len());
    out.extend_from_slice(&[0]);
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(&body);
    out.freeze()
}

/// The one message of a unary answer.
fn grpc_unframe(mut body: &[u8], at: &str) -> Result<Vec<u8>, OidcError> {
    let bad = |why: &str| {
        OidcError::Protocol(format!(
            "the token provider spiffe got no token: {at} answered {why} (not the Workload API)"
        ))
    };
    if body.len() < 5 {
        return Err(bad("no gRPC message"));
    }
    if body[0] != 0 {
        return Err(bad("a compressed gRPC message, which was not asked for"));
    }
    let len = u32::from_be_bytes([body[1], body[2], body[3], body[4]]) as usize;
    body.advance(5);
    if body.len() != len {
        return Err(bad("a gRPC message whose length does not match its frame"));
    }
    Ok(body.to_vec())
}

/// gRPC status codes by number, for the message.
fn grpc_code_name(code: &str) -> &'static str {
    match code {
        "1" => "CANCELLED",
        "2" => "UNKNOWN",
        "3" => "INVALID_ARGUMENT",
        "4" => "DEADLINE_EXCEEDED",
        "5" => "NOT_FOUND",
        "7" => "PERMISSION_DENIED",
        "8" => "RESOURCE_EXHAUSTED",
        "12" => "UNIMPLEMENTED",
        "13" => "INTERNAL",
        "14" => "UNAVAILABLE",
        "16" => "UNAUTHENTICATED",
        _ => "error",
    }
}

/// The call's status from `grpc-status`/`grpc-message`, `Ok` for 0.
fn check_status(h: &http::HeaderMap, at: &str) -> Result<bool, OidcError> {
    let Some(code) = h.get("grpc-status") else {
        return Ok(false);
    };
    let code = String::from_utf8_lossy(code.as_bytes()).trim().to_string();
    if code == "0" {
        return Ok(true);
    }
    let msg = h
        .get("grpc-message")
        .map(|m| {
            percent_encoding::percent_decode(m.as_bytes())
                .decode_utf8_lossy()
                .into_owned()
        })
        .unwrap_or_default();
    let msg = server_text(msg.as_bytes());
    let hint = if matches!(code.as_str(), "7" | "16") {
        "; the agent has no identity registered for this process (check its registration entries)"
    } else {
        ""
    };
    Err(OidcError::Network(format!(
        "the token provider spiffe got no token: {at} answered gRPC status {code} ({}): {msg}{hint}",
        grpc_code_name(&code)
    )))
}

async fn fetch(path: &Path, audience: &str, at: &str) -> Result<String, OidcError> {
    let net = |what: &str, e: &dyn std::fmt::Display| {
        OidcError::Network(format!(
            "the token provider spiffe cannot reach {at}: {what}: {e}; is the SPIFFE agent running?"
        ))
    };
    let stream = connect(path).await.map_err(|e| net("connecting", &e))?;
    let (client, conn) = h2::client::Builder::new()
        .max_frame_size(16 * 1024)
        .max_header_list_size(16 * 1024)
        .initial_window_size(MAX_ANSWER as u32)
        .handshake::<_, Bytes>(stream)
        .await
        .map_err(|e| net("HTTP/2 handshake", &e))?;
    // The connection is driven beside the call and dropped with the runtime.
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let mut client = client.ready().await.map_err(|e| net("HTTP/2", &e))?;
    let req = http::Request::builder()
        .method("POST")
        .uri(format!("http://localhost{METHOD}"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .header("workload.spiffe.io", "true")
        .body(())
        .map_err(|e| OidcError::Protocol(e.to_string()))?;
    let (answer, mut send) = client
        .send_request(req, false)
        .map_err(|e| net("sending the request", &e))?;
    let msg = JwtSvidRequest {
        audience: vec![audience.to_string()],
        spiffe_id: String::new(),
    };
    send.send_data(grpc_frame(&msg), true)
        .map_err(|e| net("sending the request", &e))?;
    let resp = answer.await.map_err(|e| net("reading the answer", &e))?;
    if resp.status() != http::StatusCode::OK {
        return Err(OidcError::Network(format!(
            "the token provider spiffe got no token: {at} answered HTTP {} (not a gRPC server?)",
            resp.status().as_u16()
        )));
    }
    // A trailers-only answer carries the status in its headers.
    if check_status(resp.headers(), at)? && resp.body().is_end_stream() {
        return Err(OidcError::Protocol(format!(
            "the token provider spiffe got no token: {at} answered no message"
        )));
    }
    let mut body = resp.into_body();
    let mut buf = Vec::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk.map_err(|e| net("reading the answer", &e))?;
        let _ = body.flow_control().release_capacity(chunk.len());
        if buf.len() + chunk.len() > MAX_ANSWER + 5 {
            return Err(OidcError::Protocol(format!(
                "the token provider spiffe got no token: {at} answered more than {MAX_ANSWER} bytes"
            )));
        }
        buf.extend_from_slice(chunk.chunk());
    }
    let trailers = body
        .trailers()
        .await
        .map_err(|e| net("reading the answer", &e))?;
    match trailers {
        Some(t) if check_status(&t, at)? => {}
        _ => {
            return Err(OidcError::Protocol(format!(
                "the token provider spiffe got no token: {at} ended the call without a gRPC status"
            )))
        }
    }
    let msg = grpc_unframe(&buf, at)?;
    let resp = <JwtSvidResponse as prost::Message>::decode(msg.as_slice()).map_err(|e| {
        OidcError::Protocol(format!(
            "the token provider spiffe got no token: {at} answered a message that is not a JWTSVIDResponse: {e}"
        ))
    })?;
    resp.svids
        .into_iter()
        .next()
        .map(|s| s.svid)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            OidcError::Protocol(format!(
                "the token provider spiffe got no token: {at} answered no JWT-SVID for this workload"
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_addresses() {
        assert_eq!(socket_path(None).unwrap(), PathBuf::from(DEFAULT_SOCKET));
        assert_eq!(
            socket_path(Some("unix:///run/spire/api.sock")).unwrap(),
            PathBuf::from("/run/spire/api.sock")
        );
        assert_eq!(
            socket_path(Some("unix:/run/a.sock")).unwrap(),
            PathBuf::from("/run/a.sock")
        );
        assert_eq!(
            socket_path(Some("/run/b.sock")).unwrap(),
            PathBuf::from("/run/b.sock")
        );
        assert!(socket_path(Some("tcp://127.0.0.1:1")).is_err());
        assert!(socket_path(Some("unix://relative")).is_err());
    }

    #[test]
    fn foreign_and_loose_paths_are_named() {
        use std::os::unix::fs::PermissionsExt;
        let euid = rustix::process::geteuid().as_raw();
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("spire-agent");
        std::fs::create_dir(&dir).unwrap();
        let sock = dir.join("api.sock");
        std::fs::write(&sock, "").unwrap();
        std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(foreign_component(&sock, euid), None);
        // Anyone may rename what is in it.
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        let why = foreign_component(&sock, euid).unwrap();
        assert!(why.contains("may be written by other users"), "{why}");
        // /tmp's rule: the sticky bit keeps others' hands off our entries.
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o1777)).unwrap();
        assert_eq!(foreign_component(&sock, euid), None);
        // Seen from another uid, our socket is a stranger's (root's are
        // everyone's).
        if euid != 0 {
            let why = foreign_component(&sock, euid + 1).unwrap();
            assert!(why.contains(&format!("belongs to uid {euid}")), "{why}");
        }
    }

    #[test]
    fn framing() {
        let m = JwtSvidRequest {
            audience: vec!["sigstore".into()],
            spiffe_id: String::new(),
        };
        let f = grpc_frame(&m);
        // field 1, length-delimited, "sigstore"
        assert_eq!(&f[..], b"\0\0\0\0\x0a\x0a\x08sigstore");
        let r = JwtSvidResponse {
            svids: vec![JwtSvid {
                spiffe_id: "spiffe://x/y".into(),
                svid: "a.b.c".into(),
            }],
        };
        let body = grpc_frame(&r);
        let m = grpc_unframe(&body, "t").unwrap();
        assert_eq!(
            <JwtSvidResponse as prost::Message>::decode(&m[..]).unwrap(),
            r
        );
        assert!(grpc_unframe(&body[..body.len() - 1], "t").is_err());
        assert!(grpc_unframe(b"\x01\0\0\0\0", "t").is_err());
    }
}
