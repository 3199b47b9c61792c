//! Attacks on what changed on 2026-12-03 (token providers, attest/show,
//! matchCommitter, Go's summary lines, the relative credential cache, the
//! regex hint), each through the path a user runs.

mod common;

use std::io::BufRead;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::{text, Ambient, Repo, TempDir, Testbed};
use serde_json::{json, Value};

const MALLORY: &str = "mallory@evil.example";

/// Runs `git args` in `repo` inside a private mount namespace in which
/// `/tmp/spire-agent/public/api.sock` is `socket`, its directories owned by
/// `nobody`: what another local user can set up on a shared machine before
/// the victim's SPIFFE agent exists (or when there is none).
fn git_with_squatted_spire_socket(repo: &Repo, socket: &Path, args: &[&str]) -> Output {
    let base = repo.git_cmd(args);
    let script = r#"set -e
mount --make-rprivate /
mount -t tmpfs -o mode=0755 none /tmp/spire-agent
chown 65534:65534 /tmp/spire-agent
mkdir /tmp/spire-agent/public
chown 65534:65534 /tmp/spire-agent/public
touch /tmp/spire-agent/public/api.sock
mount --bind "$SQUAT_SOCKET" /tmp/spire-agent/public/api.sock
exec "$@""#;
    let mut c = Command::new("unshare");
    c.args(["-m", "--", "sh", "-c", script, "sh", "git"])
        .args(args)
        .env("SQUAT_SOCKET", socket);
    for (k, v) in base.get_envs() {
        match v {
            Some(v) => c.env(k, v),
            None => c.env_remove(k),
        };
    }
    c.current_dir(base.get_current_dir().unwrap());
    c.output().unwrap()
}

/// Another local user creates SPIRE's default socket in /tmp before the
/// victim signs: auto-detection must not take a token from it (the commit
/// would be signed as the squatter), and must say why it passed it over.
#[test]
#[cfg_attr(
    not(target_os = "linux"),
    ignore = "a private mount namespace (unshare) stands in for /tmp"
)]
#[cfg_attr(
    gitsign_skip_root,
    ignore = "needs root to act as another user (GITSIGN_TEST_SKIP_ROOT=1 was set)"
)]
fn a_spiffe_socket_another_user_put_in_tmp_is_not_used() {
    common::require_root("unshare and a nobody-owned /tmp/spire-agent");
    // The mount point must exist; an empty root-owned directory is what a
    // careful administrator would leave there anyway.
    let mountpoint = Path::new("/tmp/spire-agent");
    /// Removes the mount point this test made, however it ends.
    struct Made(bool);
    impl Drop for Made {
        fn drop(&mut self) {
            if self.0 {
                let _ = std::fs::remove_dir("/tmp/spire-agent");
            }
        }
    }
    let made = Made(std::fs::create_dir(mountpoint).is_ok());
    if !made.0 && std::fs::read_dir(mountpoint).map_or(true, |mut d| d.next().is_some()) {
        eprintln!("skipped: /tmp/spire-agent exists and is not empty on this machine");
        return;
    }
    let tb = Testbed::start();
    let st = Ambient::start(&tb, json!({ "email": MALLORY }));
    // The squatter's socket: served by their process, owned by them.
    std::os::unix::fs::chown(&st.socket, Some(65534), Some(65534)).unwrap();

    let mut repo = Repo::new("attack16-spiffe");
    repo.env.extend(tb.gitsign_env());
    repo.env.push(("GITSIGN_LOGIN_TIMEOUT".into(), "5".into()));
    let log = repo.dir.path().join("gitsign.log");
    repo.env
        .push(("GITSIGN_LOG".into(), log.display().to_string()));
    std::fs::write(repo.path().join("f"), "x").unwrap();
    repo.git_ok(&["add", "f"]);
    let o = git_with_squatted_spire_socket(&repo, &st.socket, &["commit", "-q", "-S", "-m", "x"]);
    let out = format!(
        "{}{}",
        text(&o),
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    // Chosen by name with the socket left unnamed: refused with the fix.
    repo.env
        .push(("GITSIGN_TOKEN_PROVIDER".into(), "spiffe".into()));
    let chosen = git_with_squatted_spire_socket(
        &repo,
        &st.socket,
        &["commit", "-q", "-S", "--allow-empty", "-m", "y"],
    );
    drop(made);
    assert_eq!(
        st.requests("spiffe").len(),
        0,
        "gitsign asked another user's socket for a token: {out}"
    );
    assert!(
        !out.contains(MALLORY),
        "the commit was signed as the squatter: {out}"
    );
    assert!(
        out.contains(
            "the SPIFFE Workload API socket /tmp/spire-agent/public/api.sock is not used: \
             /tmp/spire-agent/public/api.sock belongs to uid 65534"
        ),
        "{out}"
    );
    let out = text(&chosen);
    assert!(!chosen.status.success(), "{out}");
    assert!(
        out.contains("the token provider spiffe got no token: the SPIFFE Workload API socket"),
        "{out}"
    );
    assert!(out.contains("SPIFFE_ENDPOINT_SOCKET=unix:///tmp/spire-agent/public/api.sock"));
    assert_eq!(st.requests("spiffe").len(), 0, "{out}");
}

/// A cloned repository carries a symbolic link `cache -> <another user's
/// 0700 directory>` where that user listens; the victim sets a relative
/// `GITSIGN_CREDENTIAL_CACHE=cache/credential-cache.sock`, read inside the
/// repository. gitsign must not connect (the directory is not the
/// victim's: `cache::socket::check_dir`), and signing still works.
#[test]
#[cfg_attr(
    gitsign_skip_root,
    ignore = "needs root to act as another user (GITSIGN_TEST_SKIP_ROOT=1 was set)"
)]
fn a_relative_cache_socket_through_a_repository_link_reaches_no_other_user() {
    common::require_root("setpriv runs the other user's listener as nobody");
    let tb = Testbed::start();
    let other = TempDir::new("attack16-mallory");
    let mallory = other.path().join("m");
    std::fs::create_dir(&mallory).unwrap();
    std::os::unix::fs::chown(&mallory, Some(65534), Some(65534)).unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(other.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(&mallory, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    let socket = mallory.join("credential-cache.sock");
    let flag = mallory.join("connected");
    let mut listener = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .args([
            "/usr/bin/python3",
            "-c",
            "import socket,sys\n\
             s=socket.socket(socket.AF_UNIX)\ns.bind(sys.argv[1])\ns.listen()\n\
             print('READY',flush=True)\nc,_=s.accept()\nopen(sys.argv[2],'w').write('x')\n",
        ])
        .arg(&socket)
        .arg(&flag)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(listener.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.contains("READY"), "the listener did not start");

    let mut repo = Repo::signer(&tb, "attack16-relcache", "victim@example.com");
    std::os::unix::fs::symlink(&mallory, repo.path().join("cache")).unwrap();
    repo.git_ok(&["add", "cache"]);
    repo.env.push((
        "GITSIGN_CREDENTIAL_CACHE".into(),
        "cache/credential-cache.sock".into(),
    ));
    let o = repo.git(&["commit", "-q", "-S", "-m", "x"]);
    let _ = listener.kill();
    let _ = listener.wait();
    assert!(o.status.success(), "signing failed: {}", text(&o));
    assert!(
        !flag.exists(),
        "gitsign connected to another user's socket through the repository's link"
    );
}

/// Measures the identity policy's cost per rejected signer (the regex
/// partial-match hint), which a pusher controls the count of.
#[test]
fn a_rejected_signer_does_not_recompile_the_policy_regexps() {
    use gitsign::config::PolicyConfig;
    use gitsign::pki::claims::Claims;
    use gitsign::policy::{Decision, Policy};
    let cfg = PolicyConfig {
        identity_regexps: vec![
            r"https://github\.com/[\w-]+/[\w-]+/\.github/workflows/[\w.-]+@refs/heads/\w+".into(),
            r"\w{8}[\w.-]+@\w+\.example\.com".into(),
        ],
        issuers: vec!["https://token.actions.githubusercontent.com".into()],
        ..Default::default()
    };
    let policy = Policy::from_config(&cfg).unwrap();
    let claims = Claims {
        identity: "https://github.com/mallory/x/.github/workflows/a.yml@refs/heads/main.evil"
            .into(),
        issuer: Some("https://token.actions.githubusercontent.com".into()),
        ..Default::default()
    };
    let n = 2000;
    let start = std::time::Instant::now();
    for _ in 0..n {
        assert!(matches!(policy.evaluate(&claims), Decision::Rejected(_)));
    }
    let per = start.elapsed() / n;
    eprintln!("one rejected signer costs {per:?}");
    assert!(
        per < std::time::Duration::from_millis(2),
        "each rejected signer recompiles the policy's regular expressions: {per:?}"
    );
}

/// A pusher's commit and tag with terminal controls in every field `gitsign
/// show` prints (name, email, message, tag name, remote URL), a
/// non-UTF-8 byte and an out-of-range date offset: the statement is JSON
/// with none of them raw (holds: `text::json_safe` in `show::go_json`).
#[test]
fn show_prints_no_raw_terminal_controls() {
    let repo = Repo::new("attack16-show");
    let obj = repo.dir.path().join("obj");
    std::fs::write(
        &obj,
        b"tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\n\
          author M\x1b]0;x\x07 <m\xe2\x80\xae@x> 1 +9999\n\
          committer M\r\x9b2J <m@x> 1 -0000\n\
          \n\
          subject \x1b[2J\xe2\x80\xaeevil\xff\n",
    )
    .unwrap();
    let id = repo.add_object("commit", &obj);
    let tag = repo.dir.path().join("tag");
    std::fs::write(
        &tag,
        format!(
            "object {id}\ntype commit\ntag v1\x1b[31m\ntagger T\x1b <t@x> 1 +0000\n\nmsg\x1b[0m\n"
        ),
    )
    .unwrap();
    let tag_id = repo.add_object("tag", &tag);
    repo.git_ok(&["update-ref", "refs/heads/x", &id]);
    repo.git_ok(&[
        "config",
        "remote.origin.url",
        "https://e\u{1b}[2Jx/\u{202e}r",
    ]);
    for rev in ["refs/heads/x", tag_id.as_str()] {
        let o = repo.gitsign(&["show", rev]);
        let out = String::from_utf8(o.stdout.clone()).unwrap();
        assert_eq!(o.status.code(), Some(0), "{rev}: {}", text(&o));
        let _: Value = serde_json::from_str(&out).unwrap();
        assert!(
            !out.chars()
                .any(|c| c.is_control() && c != '\n' || c == '\u{202e}'),
            "{rev}: raw controls: {out:?}"
        );
    }
}

/// A metadata server and an IAM Credentials endpoint that redirect: the
/// metadata server's access token is never sent to the host the IAM
/// endpoint redirects to, nor printed (holds: POSTs follow no redirect,
/// `http::Http::send_bounded`).
#[test]
fn a_redirecting_iam_endpoint_gets_no_access_token_elsewhere() {
    let dir = TempDir::new("attack16-iam");
    let log = dir.path().join("requests");
    let script = r#"
import http.server, json, sys, threading
log = open(sys.argv[1], 'a')
class Thief(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        log.write('THIEF %s %s\n' % (self.path, self.headers.get('authorization'))); log.flush()
        self.send_response(200); self.end_headers(); self.wfile.write(b'{"token":"x"}')
    do_GET = do_POST
    def log_message(self, *a): pass
thief = http.server.HTTPServer(('127.0.0.1', 0), Thief)
class Svc(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        log.write('GET %s\n' % self.path); log.flush()
        body = json.dumps({'access_token': 'ya29.SECRET-ACCESS', 'expires_in': 3600}).encode()
        self.send_response(200); self.send_header('content-length', str(len(body))); self.end_headers(); self.wfile.write(body)
    def do_POST(self):
        log.write('POST %s\n' % self.path); log.flush()
        self.send_response(307)
        self.send_header('location', 'http://127.0.0.1:%d/steal' % thief.server_port)
        self.send_header('content-length', '0'); self.end_headers()
    def log_message(self, *a): pass
svc = http.server.HTTPServer(('127.0.0.1', 0), Svc)
threading.Thread(target=thief.serve_forever, daemon=True).start()
print(svc.server_port, flush=True)
svc.serve_forever()
"#;
    let mut server = Command::new("/usr/bin/python3")
        .args(["-c", script])
        .arg(&log)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut port = String::new();
    std::io::BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut port)
        .unwrap();
    let port = port.trim().to_string();
    let tb = Testbed::start();
    let mut repo = Repo::new("attack16-iam");
    repo.env.extend(tb.gitsign_env());
    for (k, v) in [
        ("GITSIGN_TOKEN_PROVIDER", "google-impersonate".to_string()),
        (
            "GOOGLE_SERVICE_ACCOUNT_NAME",
            "signer@p.iam.gserviceaccount.com".into(),
        ),
        ("GCE_METADATA_HOST", format!("127.0.0.1:{port}")),
        (
            "GITSIGN_IAM_CREDENTIALS_URL",
            format!("http://127.0.0.1:{port}"),
        ),
    ] {
        repo.env.push((k.into(), v));
    }
    std::fs::write(repo.path().join("f"), "x").unwrap();
    repo.git_ok(&["add", "f"]);
    let o = repo.git(&["commit", "-q", "-S", "-m", "x"]);
    let _ = server.kill();
    let _ = server.wait();
    let out = text(&o);
    let seen = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(!o.status.success(), "signed: {out}");
    assert!(
        seen.contains("POST /v1/projects/-/serviceAccounts/"),
        "{seen}"
    );
    assert!(!seen.contains("THIEF"), "followed the redirect: {seen}");
    assert!(out.contains("HTTP 307"), "{out}");
    assert!(
        !out.contains("SECRET-ACCESS"),
        "printed the access token: {out}"
    );
}
