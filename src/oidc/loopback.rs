//! The browser's side of the interactive login: where the browser comes
//! back to (`gitsign.redirectURL`), sending it to the login
//! ([`browser_login`]: the terminal, the opener and its private page),
//! the loopback listener's wait for this login's callback among whatever
//! else connects, and the success and failure pages. The OAuth checks of
//! what the callback carries are [`super::login`]'s.
//!
//! What it may use: the standard library's sockets, rustix's `poll`, the
//! `url` crate (the redirect URL, the callback's query) and
//! [`super::opener`] (whose exit it watches while it waits).
//!
//! Why hand-written: the listener runs inside the signing process, which
//! git waits on, and must answer one callback among whatever else local
//! users send to the port. `tiny_http` 0.12, the smallest server crate,
//! was read for the job: it reads each connection on a pool thread and
//! starts a new thread whenever none is idle (`util/task_pool.rs`: at least
//! four, no upper bound), with no deadline for a request head, so every
//! idle connection another user opens holds a thread. Here one thread
//! polls every connection, keeps at most `MAX_CONNECTIONS` (64), drops any
//! that takes longer than `HEAD_DEADLINE` (5 s) to send its head, reads at most
//! `MAX_REQUEST` (16 KiB) bytes of it, and watches the opener's exit between
//! polls; the HTTP it speaks is one request line and one fixed answer.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use url::{Host, Url};

use super::opener::{self, LoginPage, Opener};
use super::token::constant_time_eq;
use super::{IdToken, Messages, OidcError, OidcSettings, DEFAULT_CALLBACK_PATH};

/// Largest HTTP request head the loopback listener reads.
const MAX_REQUEST: usize = 16 * 1024;
/// Most connections the loopback listener keeps open at once, waiting for
/// their request; when full, the oldest is closed for the new one, so idle
/// connections (another local user's) cannot keep the browser's out.
const MAX_CONNECTIONS: usize = 64;
/// How long a connection to the loopback listener may take to send its
/// request head (a browser sends it at once).
const HEAD_DEADLINE: Duration = Duration::from_secs(5);

/// Where the browser is sent back to.
pub(crate) struct Redirect {
    /// `localhost`, `127.0.0.1` or `[::1]`.
    pub(crate) host: String,
    /// 0: a random free port.
    pub(crate) port: u16,
    pub(crate) path: String,
}

impl Redirect {
    /// `gitsign.redirectURL` when set, else Go gitsign's
    /// `http://localhost:<random port>/auth/callback`: every Dex version
    /// accepts `localhost` for public clients (loopback IP literals only
    /// since 2024).
    pub(crate) fn from_setting(url: Option<&str>) -> Result<Redirect, OidcError> {
        match url.map(str::trim).filter(|u| !u.is_empty()) {
            Some(u) => parse_redirect(u),
            None => Ok(Redirect {
                host: "localhost".into(),
                port: 0,
                path: DEFAULT_CALLBACK_PATH.into(),
            }),
        }
    }

    /// The `redirect_uri` of a login listening on `port`.
    pub(crate) fn uri(&self, port: u16) -> String {
        format!("http://{}:{port}{}", self.host, self.path)
    }
}

/// Parses `gitsign.redirectURL`: `http://<loopback host>[:port][/path]`.
fn parse_redirect(raw: &str) -> Result<Redirect, OidcError> {
    let bad = |why: &str| {
        OidcError::Config(format!(
            "gitsign.redirectURL \"{raw}\" {why}; use a loopback URL such as http://localhost:8080/auth/callback"
        ))
    };
    let u = Url::parse(raw).map_err(|e| bad(&format!("is not a URL ({e})")))?;
    if u.scheme() != "http" {
        return Err(bad("is not an http:// URL"));
    }
    if u.query().is_some() || u.fragment().is_some() {
        return Err(bad("has a query or fragment"));
    }
    if !u.username().is_empty() || u.password().is_some() {
        return Err(bad("has a malformed host"));
    }
    let host = match u.host() {
        Some(Host::Domain("localhost")) => "localhost",
        Some(Host::Ipv4(a)) if a == Ipv4Addr::LOCALHOST => "127.0.0.1",
        Some(Host::Ipv6(a)) if a == Ipv6Addr::LOCALHOST => "[::1]",
        _ => {
            return Err(bad(
                "is not on a loopback host (localhost, 127.0.0.1 or [::1])",
            ))
        }
    };
    // `url` drops a port equal to the scheme's (80): a written one is kept;
    // none (or an empty one) means a random port.
    let authority = raw.split('/').nth(2).unwrap_or("");
    let written = authority
        .rsplit_once(':')
        .is_some_and(|(_, p)| !p.is_empty() && !p.contains(']'));
    let port = u.port().unwrap_or(if written { 80 } else { 0 });
    // No path at all (not even `/`): Go gitsign's.
    let path = match raw.splitn(4, '/').nth(3) {
        None => DEFAULT_CALLBACK_PATH.to_string(),
        Some(_) => u.path().to_string(),
    };
    Ok(Redirect {
        host: host.into(),
        port,
        path,
    })
}

/// The loopback listeners (IPv4, and IPv6 too for `localhost`).
pub(crate) struct Listeners {
    v4: Option<TcpListener>,
    v6: Option<TcpListener>,
    pub(crate) port: u16,
}

/// Listens where `r` says.
pub(crate) fn bind(r: &Redirect) -> Result<Listeners, OidcError> {
    let refused = |ip: IpAddr, port, e: std::io::Error| {
        OidcError::Config(format!(
            "cannot listen on {} for the login redirect: {e}; free the port or change gitsign.redirectURL",
            SocketAddr::new(ip, port)
        ))
    };
    let listen = |ip: IpAddr, port| TcpListener::bind((ip, port)).map_err(|e| refused(ip, port, e));
    let (v4, v6) = (Ipv4Addr::LOCALHOST.into(), Ipv6Addr::LOCALHOST.into());
    let port_of = |l: &TcpListener| l.local_addr().map(|a| a.port()).unwrap_or(0);
    if r.host == "[::1]" {
        let l = listen(v6, r.port)?;
        return Ok(Listeners {
            port: port_of(&l),
            v4: None,
            v6: Some(l),
        });
    }
    // `localhost` may resolve to either address in the browser: listen on
    // both, on the same port. With a random port, retry until both are
    // free, so that no other program holds the IPv6 twin.
    for _ in 0..16 {
        let a = listen(v4, r.port)?;
        let port = port_of(&a);
        let b = match (r.host == "localhost").then(|| TcpListener::bind((v6, port))) {
            None => None,
            Some(Ok(b)) => Some(b),
            Some(Err(e)) if e.kind() == std::io::ErrorKind::AddrInUse => match r.port {
                0 => continue,
                // Another program holds the twin: a browser that tries
                // [::1] first would take the login there.
                _ => return Err(refused(v6, port, e)),
            },
            // No IPv6 loopback here: IPv4 alone.
            Some(Err(_)) => None,
        };
        return Ok(Listeners {
            v4: Some(a),
            v6: b,
            port,
        });
    }
    Err(OidcError::Config(
        "cannot find a free loopback port for the login redirect".into(),
    ))
}

/// One request on the callback path: its query, and the connection to
/// answer on.
struct Callback {
    query: Vec<(String, String)>,
    stream: TcpStream,
}

/// Parses `a=b&c=d` (form encoding; invalid escapes are kept as written).
pub fn parse_query(q: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(q.as_bytes())
        .into_owned()
        .collect()
}

pub(crate) fn param<'a>(q: &'a [(String, String)], k: &str) -> Option<&'a str> {
    q.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
}

pub(crate) fn html_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '&' => o.push_str("&amp;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

fn respond(stream: &mut TcpStream, status: &str, body: &str) {
    // A few KiB at most, which the socket's buffer takes at once; a bound
    // all the same, for a peer that reads nothing.
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_write_timeout(Some(Duration::from_secs(2)));
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nCache-Control: no-store\r\nReferrer-Policy: no-referrer\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body.as_bytes());
    let _ = stream.flush();
    let _ = stream.shutdown(std::net::Shutdown::Write);
}

fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{title}</title>\
         <style>body{{font-family:sans-serif;margin:3em auto;max-width:40em;padding:0 1em}}</style></head>\
         <body>{body}</body></html>\n"
    )
}

/// The page shown after a successful login; with `autoclose`, it closes
/// itself after `secs` seconds (browsers only let a script close a tab it
/// opened, so it says so if closing fails).
pub fn success_page(autoclose: bool, secs: u32) -> String {
    let mut body = String::from(
        "<h1>Sigstore authentication successful</h1><p>You are signed in; gitsign continues in your terminal.</p>",
    );
    if autoclose {
        body.push_str(&format!(
            "<p id=\"closing\">This page closes in {secs} seconds.</p>\
             <script>(function(){{var n={secs};var p=document.getElementById('closing');\
             var t=setInterval(function(){{n--;if(n>0){{p.textContent='This page closes in '+n+' seconds.';return;}}\
             clearInterval(t);window.close();p.textContent='You may now close this page.';}},1000);}})();</script>"
        ));
    } else {
        body.push_str("<p>You may now close this page.</p>");
    }
    page("Sigstore authentication successful", &body)
}

/// The page shown when the login failed, saying why.
fn failure_page(message: &str) -> String {
    page(
        "Sigstore authentication failed",
        &format!(
            "<h1>Sigstore authentication failed</h1><p>{}</p><p>Return to your terminal and try again.</p>",
            html_escape(message)
        ),
    )
}

/// What a connection's request head came to.
enum Head {
    /// Not all of it yet.
    Partial,
    /// A GET of the callback path: its query.
    Callback(Vec<(String, String)>),
    /// Answered (not found, not allowed, too large) or closed: drop it.
    Done,
}

/// Reads what a connection has sent (non-blocking) into `buf`; answers
/// anything but a GET of the callback path itself.
fn read_head(stream: &mut TcpStream, buf: &mut Vec<u8>, path: &str) -> Head {
    let mut chunk = [0u8; 2048];
    loop {
        if buf.windows(4).any(|w| w == b"\r\n\r\n") || buf.windows(2).any(|w| w == b"\n\n") {
            break;
        }
        if buf.len() > MAX_REQUEST {
            respond(
                stream,
                "431 Request Header Fields Too Large",
                &page("Too large", "<h1>Request too large</h1>"),
            );
            return Head::Done;
        }
        match stream.read(&mut chunk) {
            Ok(0) => return Head::Done,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Head::Partial,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => return Head::Done,
        }
    }
    let head = String::from_utf8_lossy(buf);
    let line = head.lines().next().unwrap_or("");
    let mut parts = line.split_ascii_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let (p, q) = target.split_once('?').unwrap_or((target, ""));
    if p != path {
        respond(
            stream,
            "404 Not Found",
            &page("Not found", "<h1>Not found</h1>"),
        );
        return Head::Done;
    }
    if method != "GET" {
        respond(
            stream,
            "405 Method Not Allowed",
            &page("Method not allowed", "<h1>Method not allowed</h1>"),
        );
        return Head::Done;
    }
    Head::Callback(parse_query(q))
}

/// The browser's part of the login: shows `auth_url` on the terminal,
/// hands the opener a private page that leads there (never the URL
/// itself: see [`LoginPage`]), waits for this login's callback, and
/// answers it with the page `finish`'s verdict on its query calls for.
pub(crate) fn browser_login(
    s: &OidcSettings,
    auth_url: &str,
    listeners: &Listeners,
    redirect: &Redirect,
    state: &str,
    msgs: &dyn Messages,
    finish: impl FnOnce(&[(String, String)]) -> Result<IdToken, OidcError>,
) -> Result<IdToken, OidcError> {
    msgs.say_private(&format!(
        "Log in to Sigstore in your browser. If no browser opens, open this URL on this machine:\n\n    {auth_url}\n"
    ));
    // The page is removed when the login ends.
    let page = LoginPage::create(auth_url, &s.page_dirs)
        .inspect_err(|why| {
            msgs.say(&format!(
                "cannot write the private login page for the browser ({why}); open the URL \
                 above by hand"
            ))
        })
        .ok();
    let opener = match &page {
        Some(p) => opener::start_opener(s, &p.url(), msgs)?,
        None => None,
    };
    msgs.say(&format!(
        "Waiting up to {} for the browser login (gitsign.loginTimeout).",
        crate::progress::duration(s.login_timeout)
    ));
    let waited = wait_for_callback(
        listeners,
        &redirect.path,
        state,
        s.login_timeout,
        opener,
        msgs,
    );
    msgs.done_waiting();
    drop(page);
    let Callback { query, mut stream } = waited?;
    let result = finish(&query);
    match &result {
        Ok(_) => respond(
            &mut stream,
            "200 OK",
            &success_page(s.autoclose, s.autoclose_timeout),
        ),
        Err(e) => respond(&mut stream, "400 Bad Request", &failure_page(e.message())),
    }
    result
}

/// One connection to the loopback listener, waiting for its request head.
struct Pending {
    stream: TcpStream,
    head: Vec<u8>,
    since: Instant,
}

/// Waits for the browser's callback: a GET of the callback path carrying
/// this login's `state`. One thread, non-blocking: every connection is read
/// as its bytes arrive, none may take longer than [`HEAD_DEADLINE`] to send
/// its request, and at most [`MAX_CONNECTIONS`] are kept (the oldest is
/// closed for a new one), so other local users' idle or slow connections
/// cannot keep the browser's callback out. A callback with another state
/// (a stale tab, or another program on this machine that found the port)
/// is answered 400 and ignored, said once on the terminal; the login goes
/// on waiting for its own until `timeout`.
fn wait_for_callback(
    l: &Listeners,
    path: &str,
    state: &str,
    timeout: Duration,
    mut opener: Option<Opener>,
    msgs: &dyn Messages,
) -> Result<Callback, OidcError> {
    use rustix::event::{poll, PollFd, PollFlags, Timespec};
    let listeners: Vec<&TcpListener> = [&l.v4, &l.v6].into_iter().flatten().collect();
    for x in &listeners {
        x.set_nonblocking(true)
            .map_err(|e| OidcError::Config(format!("cannot poll the login listener: {e}")))?;
    }
    let deadline = Instant::now() + timeout;
    let mut told: Option<Instant> = None;
    let mut pending: std::collections::VecDeque<Pending> = std::collections::VecDeque::new();
    let mut ignored = 0usize;
    // A callback with another state: answered, counted, said once.
    let mut ignore = |mut stream: TcpStream| {
        respond(
            &mut stream,
            "400 Bad Request",
            &failure_page(
                "This login callback does not belong to the login gitsign is waiting for (a stale \
                 browser tab, or another program); it was ignored.",
            ),
        );
        ignored += 1;
        if ignored == 1 {
            msgs.say(
                "A login callback with another state was ignored (a stale browser tab, or \
                 possibly another program on this machine); still waiting for this login's.",
            );
        }
    };
    let ours = |query: &[(String, String)]| {
        constant_time_eq(
            param(query, "state").unwrap_or("").as_bytes(),
            state.as_bytes(),
        )
    };
    loop {
        if let Some(o) = &opener {
            match o.rx.try_recv() {
                Ok(Ok(st)) if !st.success() => {
                    msgs.say(&format!(
                        "The browser opener {} failed ({st}); open the URL above by hand.",
                        o.name
                    ));
                    opener = None;
                }
                Ok(Err(e)) => {
                    msgs.say(&format!(
                        "The browser opener {} failed ({e}); open the URL above by hand.",
                        o.name
                    ));
                    opener = None;
                }
                Ok(Ok(_)) | Err(mpsc::TryRecvError::Disconnected) => opener = None,
                Err(mpsc::TryRecvError::Empty) => {}
            }
        }
        // New connections: read at once (a browser's request is usually
        // there already), else keep them, the oldest making room.
        for x in &listeners {
            loop {
                let mut stream = match x.accept() {
                    Ok((stream, _)) => stream,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(_) => break,
                };
                if stream.set_nonblocking(true).is_err() {
                    continue;
                }
                let mut head = Vec::new();
                match read_head(&mut stream, &mut head, path) {
                    Head::Callback(query) if ours(&query) => return Ok(callback(query, stream)),
                    Head::Callback(_) => ignore(stream),
                    Head::Done => {}
                    Head::Partial => {
                        if pending.len() >= MAX_CONNECTIONS {
                            pending.pop_front();
                        }
                        pending.push_back(Pending {
                            stream,
                            head,
                            since: Instant::now(),
                        });
                    }
                }
            }
        }
        // Connections already open: what they sent since, and the slow.
        let mut i = 0;
        while i < pending.len() {
            let p = &mut pending[i];
            match read_head(&mut p.stream, &mut p.head, path) {
                Head::Partial if p.since.elapsed() < HEAD_DEADLINE => i += 1,
                Head::Partial | Head::Done => {
                    pending.remove(i);
                }
                Head::Callback(query) => {
                    let Some(p) = pending.remove(i) else { break };
                    if ours(&query) {
                        return Ok(callback(query, p.stream));
                    }
                    ignore(p.stream);
                }
            }
        }
        let now = Instant::now();
        if now < deadline && told.is_none_or(|t| now.duration_since(t) >= Duration::from_secs(1)) {
            told = Some(now);
            msgs.waiting(&format!(
                "waiting for the browser login: {} left",
                time_left(deadline, now)
            ));
        }
        if now >= deadline {
            let also = match ignored {
                0 => String::new(),
                1 => " (1 login callback with another state was ignored: a stale browser tab, \
                       or possibly another program on this machine)"
                    .to_string(),
                n => format!(
                    " ({n} login callbacks with another state were ignored: stale browser tabs, \
                     or possibly another program on this machine)"
                ),
            };
            return Err(OidcError::TimedOut(format!(
                "no login completed within {} s{also}; open the login URL printed above in a browser on this machine (or raise the login timeout), or use gitsign.tokenProvider=device where no browser is available",
                timeout.as_secs()
            )));
        }
        // Sleep until something is readable, at most 50 ms (the opener's
        // exit and the deadlines are checked between).
        let wait = deadline
            .saturating_duration_since(now)
            .min(Duration::from_millis(50));
        let ts = Timespec {
            tv_sec: 0,
            tv_nsec: wait.subsec_nanos() as _,
        };
        let mut fds: Vec<PollFd<'_>> = listeners
            .iter()
            .map(|x| PollFd::new(*x, PollFlags::IN))
            .chain(
                pending
                    .iter()
                    .map(|p| PollFd::new(&p.stream, PollFlags::IN)),
            )
            .collect();
        let _ = poll(&mut fds, Some(&ts));
    }
}

/// The callback to finish the login with: its connection back to blocking,
/// with bounded times for the answer.
fn callback(query: Vec<(String, String)>, stream: TcpStream) -> Callback {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(10)));
    Callback { query, stream }
}

/// The time from `now` to `deadline`, in whole seconds rounded up, as
/// `4 min 05 s`.
pub(crate) fn time_left(deadline: Instant, now: Instant) -> String {
    let left = deadline.saturating_duration_since(now);
    let secs = left.as_secs() + u64::from(left.subsec_nanos() > 0);
    crate::progress::duration(Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_urls_and_queries() {
        let r = parse_redirect("http://localhost:8080/cb").unwrap();
        assert_eq!(
            (r.host.as_str(), r.port, r.path.as_str()),
            ("localhost", 8080, "/cb")
        );
        let r = parse_redirect("http://[::1]").unwrap();
        assert_eq!(
            (r.host.as_str(), r.port, r.path.as_str()),
            ("[::1]", 0, "/auth/callback")
        );
        for bad in [
            "https://localhost/x",
            "http://example.com/x",
            "http://localhost:99999/",
            "http://localhost/x?y",
            "http://[::1/",
        ] {
            assert!(parse_redirect(bad).is_err(), "{bad}");
        }
        let q = parse_query("code=a%2Fb+c&state=%zz&iss=http%3A%2F%2F127.0.0.1%3A1&x&%");
        assert_eq!(param(&q, "code"), Some("a/b c"));
        assert_eq!(param(&q, "state"), Some("%zz"));
        assert_eq!(param(&q, "iss"), Some("http://127.0.0.1:1"));
        assert_eq!(param(&q, "x"), Some(""));
    }

    /// `url` drops a written `:80` (the scheme's default) and reads no
    /// path as `/`: the listener still gets what was written.
    #[test]
    fn redirect_ports_and_paths_as_written() {
        for (url, port, path) in [
            ("http://localhost:80/cb", 80, "/cb"),
            ("http://localhost/cb", 0, "/cb"),
            ("http://localhost:/cb", 0, "/cb"),
            ("http://[::1]:80", 80, "/auth/callback"),
            ("http://127.0.0.1", 0, "/auth/callback"),
            ("http://LOCALHOST:8080/", 8080, "/"),
        ] {
            let r = parse_redirect(url).unwrap();
            assert_eq!((r.port, r.path.as_str()), (port, path), "{url}");
        }
        assert!(parse_redirect("http://user@localhost/cb").is_err());
        assert_eq!(
            Redirect::from_setting(Some(" ")).unwrap().uri(5),
            "http://localhost:5/auth/callback"
        );
    }

    /// Each loopback host gets its own listeners; `localhost` both, on
    /// one port (IPv6 where this machine has it); a taken port is a
    /// sentence naming the address and the fix.
    #[test]
    fn listeners_follow_the_redirect_host() {
        let ipv6 = TcpListener::bind("[::1]:0").is_ok();
        let l = bind(&parse_redirect("http://127.0.0.1/").unwrap()).unwrap();
        assert!(l.v4.is_some() && l.v6.is_none() && l.port != 0);
        let l = bind(&parse_redirect("http://localhost/").unwrap()).unwrap();
        let port_of = |x: &Option<TcpListener>| x.as_ref().map(|x| x.local_addr().unwrap().port());
        assert_eq!(port_of(&l.v4), Some(l.port));
        assert_eq!(port_of(&l.v6), ipv6.then_some(l.port));
        if ipv6 {
            let l = bind(&parse_redirect("http://[::1]/").unwrap()).unwrap();
            assert!(l.v4.is_none() && port_of(&l.v6) == Some(l.port));
        }
        // A fixed port whose IPv6 twin another program holds: refused (a
        // browser trying [::1] first would take the login there).
        if ipv6 {
            let port = TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let _twin = TcpListener::bind(("::1", port)).unwrap();
            let Err(e) = bind(&parse_redirect(&format!("http://localhost:{port}/")).unwrap())
            else {
                panic!("localhost:{port} was bound while another socket holds [::1]:{port}");
            };
            assert!(
                e.message()
                    .starts_with(&format!("cannot listen on [::1]:{port} ")),
                "{e}"
            );
        }
        let taken = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = taken.local_addr().unwrap().port();
        let Err(e) = bind(&parse_redirect(&format!("http://localhost:{port}/")).unwrap()) else {
            panic!("a taken port was bound");
        };
        assert!(
            e.message().starts_with(&format!(
                "cannot listen on 127.0.0.1:{port} for the login redirect: "
            )) && e
                .message()
                .ends_with("; free the port or change gitsign.redirectURL"),
            "{e}"
        );
    }

    /// Where the machine has no IPv6 loopback (many containers),
    /// `localhost` listens on IPv4 alone, with a random or a fixed port,
    /// and `[::1]` is refused with a sentence. Run in a network namespace
    /// of its own (`unshare -n`: its loopback is down, so ::1 cannot be
    /// bound while 127.0.0.1 still can).
    #[test]
    #[cfg_attr(not(target_os = "linux"), ignore = "a network namespace (unshare -n)")]
    #[cfg_attr(
        gitsign_skip_root,
        ignore = "needs root for a network namespace (GITSIGN_TEST_SKIP_ROOT=1 was set)"
    )]
    fn without_ipv6_loopback_localhost_is_ipv4_alone() {
        const INSIDE: &str = "GITSIGN_TEST_INSIDE_NETNS";
        const NAME: &str = "oidc::loopback::tests::without_ipv6_loopback_localhost_is_ipv4_alone";
        if std::env::var_os(INSIDE).is_none() {
            assert!(
                rustix::process::geteuid().is_root(),
                "this test needs root (a network namespace): run it as root (CI does), or build \
                 the tests with GITSIGN_TEST_SKIP_ROOT=1 to list it as ignored"
            );
            let out = std::process::Command::new("unshare")
                .arg("-n")
                .arg(std::env::current_exe().unwrap())
                .args(["--exact", NAME, "--test-threads=1"])
                .env(INSIDE, "1")
                .output()
                .expect("unshare (util-linux) runs");
            let said = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success() && said.contains("1 passed"),
                "{said}{}",
                String::from_utf8_lossy(&out.stderr)
            );
            return;
        }
        assert!(TcpListener::bind("[::1]:0").is_err(), "::1 is there");
        let l = bind(&parse_redirect("http://localhost/").unwrap()).unwrap();
        assert!(l.v4.is_some() && l.v6.is_none() && l.port != 0);
        let port = l.port;
        drop(l);
        let l = bind(&parse_redirect(&format!("http://localhost:{port}/")).unwrap()).unwrap();
        assert!(l.v4.is_some() && l.v6.is_none() && l.port == port);
        let Err(e) = bind(&parse_redirect("http://[::1]:8080/").unwrap()) else {
            panic!("[::1] was bound without IPv6");
        };
        assert!(
            e.message()
                .starts_with("cannot listen on [::1]:8080 for the login redirect: "),
            "{e}"
        );
    }

    #[test]
    fn pages() {
        assert!(success_page(true, 6).contains("var n=6"));
        assert!(!success_page(false, 6).contains("<script>"));
        assert!(failure_page("<b>").contains("&lt;b&gt;"));
    }
}
