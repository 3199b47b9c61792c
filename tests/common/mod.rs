//! Helpers shared by the integration tests: temporary repositories driven
//! by the real `git`, the corpus manifest, and a minimal empty Rekor.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

/// The gitsign binary under test.
pub fn gitsign_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_gitsign"))
}

/// The project's fixture directory.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// The corpus manifest entries.
pub fn manifest() -> Vec<serde_json::Value> {
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixtures().join("manifest.json")).unwrap()).unwrap();
    m["entries"].as_array().unwrap().clone()
}

/// A temporary directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// A fresh directory under the system temp dir.
    pub fn new(tag: &str) -> TempDir {
        let base = std::env::temp_dir();
        for i in 0..1000u32 {
            let p = base.join(format!("gitsign-test-{tag}-{}-{i}", std::process::id()));
            if std::fs::create_dir(&p).is_ok() {
                return TempDir(p);
            }
        }
        panic!("cannot create a temp dir");
    }
    /// Its path.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// True when this process runs as root.
pub fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// For a test that needs root (it acts as another user through `setpriv`,
/// or gives a file to another user): fails, saying so, unless this process
/// is root. Such a test carries
/// `#[cfg_attr(gitsign_skip_root, ignore = "...")]`, so when the tests were
/// built with `GITSIGN_TEST_SKIP_ROOT=1` it is listed as ignored and never
/// gets here (unless run with `--ignored`).
pub fn require_root(why: &str) {
    assert!(
        is_root(),
        "this test needs root ({why}) and runs as uid {}: run it as root (CI does), or build \
         the tests with GITSIGN_TEST_SKIP_ROOT=1 to list the tests that need root as ignored \
         (docs/testing.md)",
        rustix::process::geteuid().as_raw()
    );
}

/// For a test that needs sigstore-python (the independent verifier): makes
/// sure its venv exists, or fails saying why. Such a test carries
/// `#[cfg_attr(gitsign_skip_sigstore_python, ignore = "...")]`.
pub fn require_sigstore_python() {
    if let Err(why) = ensure_sigstore_python() {
        panic!(
            "{why}\nThis test needs sigstore-python 4.5.1, which tests/testbed/sigstore-python \
             installs into a venv from PyPI once: make PyPI reachable and run tests/run (or \
             tests/testbed/sigstore-python --venv), or build the tests with \
             GITSIGN_TEST_SKIP_SIGSTORE_PYTHON=1 to list the tests that need it as ignored \
             (docs/testing.md)"
        );
    }
}

/// Removes from `c` every variable of the test process that could steer
/// gitsign or git (`GITSIGN_*`, `SIGSTORE_*`, `GIT_*`, `TUF_ROOT`, `HOME`,
/// `XDG_*`, the credential cache's and systemd's socket variables, the
/// ambient token providers' `BUILDKITE_*`, `GCE_METADATA_HOST`, `GOOGLE_*`,
/// `SPIFFE_*`), so that a child sees only what the test states.
pub fn scrub_env(c: &mut Command) -> &mut Command {
    for (k, _) in std::env::vars_os() {
        let Some(k) = k.to_str() else { continue };
        if [
            "GITSIGN_",
            "SIGSTORE_",
            "GIT_",
            "XDG_",
            "LISTEN_",
            "ACTIONS_ID_TOKEN_",
            // cosign's ambient token providers (tests/providers.rs).
            "BUILDKITE_",
            "GCE_METADATA_",
            "GOOGLE_",
            "SPIFFE_",
        ]
        .iter()
        .any(|p| k.starts_with(p))
            || ["TUF_ROOT", "HOME", "EMAIL", "INVOCATION_ID"].contains(&k)
        {
            c.env_remove(k);
        }
    }
    // git's and the tools' messages in one language whatever the machine's.
    c.env_remove("LANGUAGE").env("LC_ALL", "C");
    c
}

/// The gitsign binary as a command with a clean environment
/// ([`scrub_env`]): no system or global git config, `HOME` the temp
/// directory. Tests add what they need.
pub fn gitsign_command() -> Command {
    let mut c = Command::new(gitsign_bin());
    scrub_env(&mut c)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("HOME", std::env::temp_dir());
    c
}

/// A git repository in a temp dir, isolated from the user's config.
pub struct Repo {
    /// Its directory (removed on drop).
    pub dir: TempDir,
    /// Extra environment for every git command.
    pub env: Vec<(String, String)>,
}

impl Repo {
    /// `git init` with gitsign as the x509 program.
    pub fn new(tag: &str) -> Repo {
        let dir = TempDir::new(tag);
        let home = dir.path().join("home");
        let runtime = home.join(".run");
        std::fs::create_dir_all(&runtime).unwrap();
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&runtime, std::fs::Permissions::from_mode(0o700)).unwrap();
        }
        let at = |p: &str| home.join(p).display().to_string();
        let repo = Repo {
            // Every process starts from the test process's environment
            // less everything that steers gitsign or git (`scrub_env`);
            // this is all of that it gets, plus what a test adds.
            env: vec![
                ("HOME".into(), home.display().to_string()),
                ("XDG_CONFIG_HOME".into(), at(".config")),
                // The TUF cache lives under the user's cache directory.
                ("XDG_CACHE_HOME".into(), at(".cache")),
                ("XDG_DATA_HOME".into(), at(".local/share")),
                ("XDG_STATE_HOME".into(), at(".local/state")),
                // The credential cache's default socket lives here: no
                // daemon of the user's is ever found.
                ("XDG_RUNTIME_DIR".into(), runtime.display().to_string()),
                ("GIT_CONFIG_NOSYSTEM".into(), "1".into()),
                (
                    "GIT_CONFIG_GLOBAL".into(),
                    home.join("gitconfig").display().to_string(),
                ),
                ("GIT_AUTHOR_NAME".into(), "Test".into()),
                ("GIT_AUTHOR_EMAIL".into(), "test@example.com".into()),
                ("GIT_COMMITTER_NAME".into(), "Test".into()),
                ("GIT_COMMITTER_EMAIL".into(), "test@example.com".into()),
            ],
            dir,
        };
        std::fs::create_dir_all(repo.path().join("work")).unwrap();
        repo.git_ok(&["init", "-q", "-b", "main"]);
        repo.git_ok(&["config", "gpg.format", "x509"]);
        repo.git_ok(&[
            "config",
            "gpg.x509.program",
            &gitsign_bin().display().to_string(),
        ]);
        repo
    }

    /// The work tree.
    pub fn path(&self) -> PathBuf {
        self.dir.path().join("work")
    }

    /// A git command in the work tree.
    pub fn git_cmd(&self, args: &[&str]) -> Command {
        self.command(Path::new("git"), args)
    }

    /// A command in the work tree with the repository's environment and
    /// none of the caller's settings for gitsign or git ([`scrub_env`]).
    fn command(&self, program: &Path, args: &[&str]) -> Command {
        let mut c = Command::new(program);
        c.args(args).current_dir(self.path());
        scrub_env(&mut c);
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c
    }

    /// Runs git; returns the output.
    pub fn git(&self, args: &[&str]) -> Output {
        self.git_cmd(args).output().unwrap()
    }

    /// Runs git; panics on failure; returns trimmed stdout.
    pub fn git_ok(&self, args: &[&str]) -> String {
        let o = self.git(args);
        assert!(
            o.status.success(),
            "git {args:?} failed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    }

    /// Writes raw object bytes (`git hash-object -w --literally`) and marks
    /// the object shallow, so git does not look for parents it lacks.
    pub fn add_object(&self, kind: &str, file: &Path) -> String {
        let id = self.git_ok(&[
            "hash-object",
            "-w",
            "--literally",
            "-t",
            kind,
            &file.display().to_string(),
        ]);
        if kind == "commit" {
            let shallow = self.path().join(".git/shallow");
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .create(true)
                .open(shallow)
                .unwrap();
            writeln!(f, "{id}").unwrap();
        }
        id
    }

    /// Signs every commit after `base` again, as a user does with
    /// `git rebase -i --exec 'git commit --amend --no-edit -S' BASE`;
    /// returns `%G?` of each, newest first. Panics, with git's output,
    /// when the rebase fails.
    #[allow(dead_code)]
    pub fn resign_since(&self, base: &str) -> String {
        let mut rebase = self.git_cmd(&[
            "rebase",
            "-q",
            "-i",
            "--exec",
            "git commit -q --amend --no-edit -S",
            base,
        ]);
        rebase.env("GIT_SEQUENCE_EDITOR", "true");
        let o = rebase.output().unwrap();
        assert!(o.status.success(), "rebase failed: {}", text(&o));
        self.git_ok(&["log", "--format=%G?", &format!("{base}..HEAD")])
    }

    /// A gitsign command in the work tree with the repo's environment.
    #[allow(dead_code)]
    pub fn gitsign_cmd(&self, args: &[&str]) -> Command {
        self.command(&gitsign_bin(), args)
    }

    /// Runs gitsign in the work tree with the repo's environment.
    pub fn gitsign(&self, args: &[&str]) -> Output {
        self.command(&gitsign_bin(), args).output().unwrap()
    }

    /// A repository that signs against `tb` with an ID token the testbed
    /// minted for `email` (`GITSIGN_TOKEN_PROVIDER=environment`, valid 30
    /// minutes). The committer stays `Test <test@example.com>`.
    pub fn signer(tb: &Testbed, tag: &str, email: &str) -> Repo {
        let mut repo = Repo::new(tag);
        repo.env.extend(tb.gitsign_env());
        repo.env
            .push(("GITSIGN_TOKEN_PROVIDER".into(), "environment".into()));
        repo.env
            .push(("SIGSTORE_ID_TOKEN".into(), tb.token(email, 1800)));
        repo
    }

    /// [`Repo::signer`] whose author and committer are `email` (named by
    /// its local part), with `origin` at `remote`: a clone that pushes.
    pub fn client(tb: &Testbed, remote: &Path, tag: &str, email: &str) -> Repo {
        let mut repo = Repo::signer(tb, tag, email);
        repo.env
            .retain(|(k, _)| !k.starts_with("GIT_COMMITTER") && !k.starts_with("GIT_AUTHOR"));
        for k in ["GIT_AUTHOR", "GIT_COMMITTER"] {
            repo.env
                .push((format!("{k}_NAME"), email.split('@').next().unwrap().into()));
            repo.env.push((format!("{k}_EMAIL"), email.into()));
        }
        repo.git_ok(&["remote", "add", "origin", &remote.display().to_string()]);
        repo
    }

    /// A repository whose signer is the testbed's GitHub Actions workflow
    /// (`GITSIGN_TOKEN_PROVIDER=github-actions`, the runner's token request
    /// variables).
    pub fn actions(tb: &Testbed, tag: &str) -> Repo {
        let mut repo = Repo::new(tag);
        repo.env.extend(tb.gitsign_env());
        repo.env
            .push(("GITSIGN_TOKEN_PROVIDER".into(), "github-actions".into()));
        for v in [
            "ACTIONS_ID_TOKEN_REQUEST_URL",
            "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
        ] {
            repo.env
                .push((v.into(), tb.var(&format!("TESTBED_{v}")).into()));
        }
        repo
    }

    /// A repository in a fresh HOME with nothing configured but git's
    /// `gpg.x509.program`, the testbed's headless browser, and who may sign
    /// (the testbed's account, as committer): a newcomer before
    /// `gitsign initialize`.
    pub fn newcomer(tb: &Testbed, tag: &str) -> Repo {
        let mut repo = Repo::new(tag);
        repo.env.extend([
            // The login's browser stand-in (not a service setting).
            (
                "GITSIGN_URL_OPENER".into(),
                tb.var("GITSIGN_URL_OPENER").into(),
            ),
            ("GITSIGN_CREDENTIAL_CACHE_MODE".into(), "off".into()),
        ]);
        repo.trust_testbed_account(tb);
        repo
    }

    /// Makes the testbed's account this repository's author, committer and
    /// only trusted signer (`gitsign.certificateIdentity` and
    /// `gitsign.certificateOidcIssuer`).
    pub fn trust_testbed_account(&mut self, tb: &Testbed) {
        let email = tb.var("TESTBED_EMAIL").to_string();
        self.env
            .retain(|(k, _)| k != "GIT_COMMITTER_EMAIL" && k != "GIT_AUTHOR_EMAIL");
        self.env.push(("GIT_COMMITTER_EMAIL".into(), email.clone()));
        self.env.push(("GIT_AUTHOR_EMAIL".into(), email.clone()));
        self.git_ok(&["config", "gitsign.certificateIdentity", &email]);
        self.git_ok(&[
            "config",
            "gitsign.certificateOidcIssuer",
            tb.var("GITSIGN_OIDC_ISSUER"),
        ]);
    }

    /// Adds file `f<n>` and commits it (signed when `sign`); the new id.
    pub fn commit_file(&self, n: usize, msg: &str, sign: bool) -> String {
        std::fs::write(self.path().join(format!("f{n}")), format!("{n}\n")).unwrap();
        self.git_ok(&["add", "."]);
        let mut args = vec!["commit", "-q", "-m", msg];
        if sign {
            args.push("-S");
        }
        let o = self.git(&args);
        assert!(o.status.success(), "{}", text(&o));
        self.git_ok(&["rev-parse", "HEAD"])
    }

    /// `git push -q origin ARGS` as a remote user pushes: the signer's
    /// settings (testbed URLs, token) stay on the client, the server uses
    /// its own configuration. (success, output)
    pub fn push(&self, args: &[&str]) -> (bool, String) {
        let mut a = vec!["push", "-q", "origin"];
        a.extend_from_slice(args);
        let mut c = self.git_cmd(&a);
        for (k, _) in &self.env {
            if k.starts_with("GITSIGN_") || k.starts_with("SIGSTORE_") {
                c.env_remove(k);
            }
        }
        let o = c.output().unwrap();
        (o.status.success(), text(&o))
    }
}

/// A Rekor that answers every search with an empty list: what a log says
/// about an object id it never saw. Returns its base URL.
pub fn empty_rekor() -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            let mut s = s;
            let mut buf = [0u8; 8192];
            let mut req = Vec::new();
            // Read headers and the (small) body.
            loop {
                let n = s.read(&mut buf).unwrap_or(0);
                if n == 0 {
                    break;
                }
                req.extend_from_slice(&buf[..n]);
                if let Some(h) = req.windows(4).position(|w| w == b"\r\n\r\n") {
                    let head = String::from_utf8_lossy(&req[..h]).to_lowercase();
                    let len = head
                        .lines()
                        .find_map(|l| {
                            l.strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    if req.len() >= h + 4 + len {
                        break;
                    }
                }
            }
            let head = String::from_utf8_lossy(&req);
            let (status, body) = if head.starts_with("POST /api/v1/index/retrieve") {
                ("200 OK", "[]")
            } else {
                ("404 Not Found", "{}")
            };
            let _ = write!(s, "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len());
        }
    });
    url
}

/// stdout+stderr as text.
pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A private loopback Sigstore testbed (tests/testbed), stopped on drop.
pub struct Testbed {
    /// The environment it exports (GITSIGN_*, TESTBED_*).
    pub env: std::collections::BTreeMap<String, String>,
}

impl Testbed {
    /// Starts an instance (installs its npm packages on first use).
    pub fn start() -> Testbed {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut c = Command::new(root.join("tests/testbed/start"));
        // None of the caller's settings for gitsign; HOME and XDG_* stay
        // (the testbed finds its npm and Python tools through them).
        for (k, _) in std::env::vars_os() {
            let Some(k) = k.to_str() else { continue };
            if ["GITSIGN_", "SIGSTORE_", "GIT_"]
                .iter()
                .any(|p| k.starts_with(p))
                || k == "TUF_ROOT"
            {
                c.env_remove(k);
            }
        }
        let out = c
            .args(["--json", "--parent", &std::process::id().to_string()])
            .current_dir(root)
            .output()
            .expect("tests/testbed/start runs");
        assert!(
            out.status.success(),
            "testbed failed to start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let env: std::collections::BTreeMap<String, String> =
            serde_json::from_slice(&out.stdout).expect("testbed env JSON");
        Testbed { env }
    }

    /// One exported variable.
    pub fn var(&self, k: &str) -> &str {
        self.env
            .get(k)
            .map(String::as_str)
            .unwrap_or_else(|| panic!("testbed has no {k}"))
    }

    /// A control-API request; panics on an HTTP error (tests only).
    pub fn control(
        &self,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> serde_json::Value {
        let url = format!("{}{}", self.var("TESTBED_URL"), path);
        let mut c = Command::new("curl");
        c.args([
            "-sS",
            "--fail-with-body",
            "-X",
            method,
            &url,
            "-H",
            "content-type: application/json",
        ]);
        if let Some(b) = body {
            c.args(["--data", &b.to_string()]);
        }
        let o = c.output().expect("curl");
        assert!(
            o.status.success(),
            "control {path}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        serde_json::from_slice(&o.stdout).unwrap_or(serde_json::Value::Null)
    }

    /// Mints an ID token for `email` valid for `ttl` seconds (negative: expired).
    pub fn token(&self, email: &str, ttl: i64) -> String {
        let v = self.control(
            "POST",
            "/token",
            Some(serde_json::json!({"email": email, "ttl": ttl})),
        );
        v["id_token"].as_str().expect("id_token").to_string()
    }

    /// Arms a fault (sticky when `count` is None).
    pub fn fault(
        &self,
        service: &str,
        fault: &str,
        count: Option<u32>,
        value: Option<serde_json::Value>,
    ) {
        let mut b = serde_json::json!({"service": service, "fault": fault});
        if let Some(c) = count {
            b["count"] = c.into();
        }
        if let Some(v) = value {
            b["value"] = v;
        }
        self.control("POST", "/faults", Some(b));
    }

    /// Clears all faults.
    pub fn clear_faults(&self) {
        self.control("DELETE", "/faults", None);
    }

    /// Counters (logins, fulcio_certificates, rekor_entries, ...).
    pub fn stats(&self) -> serde_json::Value {
        self.control("GET", "/stats", None)
    }

    /// Changes the account the automatic login signs in.
    pub fn account(&self, email: &str) {
        self.control(
            "POST",
            "/account",
            Some(serde_json::json!({"email": email})),
        );
    }

    /// Sets a testbed config value (certTtl, deviceInterval, ...).
    pub fn config(&self, key: &str, value: serde_json::Value) {
        self.control("POST", "/config", Some(serde_json::json!({ key: value })));
    }

    /// The environment for gitsign processes (GITSIGN_* only).
    pub fn gitsign_env(&self) -> Vec<(String, String)> {
        self.env
            .iter()
            .filter(|(k, _)| k.starts_with("GITSIGN_"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}

impl Drop for Testbed {
    fn drop(&mut self) {
        if let Some(state) = self.env.get("TESTBED_STATE") {
            let root = Path::new(env!("CARGO_MANIFEST_DIR"));
            let _ = Command::new(root.join("tests/testbed/stop"))
                .arg(state)
                .output();
        }
    }
}

/// Words the user-facing message must contain for each manifest reason.
pub fn reason_words(expected: &str) -> &'static str {
    let table: &[(&str, &str)] = &[
        (
            "no (valid) embedded SCT",
            "the certificate carries no embedded SCT",
        ),
        (
            "does not chain to a Fulcio CA",
            "does not chain to a Fulcio CA",
        ),
        (
            "CMS signature does not verify",
            "CMS signature does not verify over the signed attributes",
        ),
        (
            "messageDigest != sha256(payload)",
            "messageDigest != sha256(payload)",
        ),
        ("signer cert not found", "signer cert not found"),
        ("unparseable signature", "unparseable signature"),
        (
            "rekorInclusionProof",
            "inclusion proof does not verify: the entry is not in the tree",
        ),
        (
            "rekorSET",
            "signed entry timestamp (SET) does not verify with the key of",
        ),
        ("no embedded tlog entry", "no transparency log entry found"),
        ("duplicate header(s) gpgsig", "duplicate header(s) gpgsig"),
    ];
    table
        .iter()
        .find(|(k, _)| expected.contains(k))
        .map(|(_, v)| *v)
        .unwrap_or_else(|| panic!("no mapping for {expected}"))
}

/// A commit payload as git hands it to the signing program.
pub const SIGN_PAYLOAD: &str = "tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\nauthor T <testbed-user@example.com> 1700000000 +0000\ncommitter T <testbed-user@example.com> 1700000000 +0000\n\nmsg\n";

/// Runs `gitsign --status-fd=2 -bsau KEY` as git does, with the testbed's
/// GITSIGN_* variables plus `extra`, outside any repository; returns
/// (exit, stdout, stderr).
pub fn sign_direct(tb: &Testbed, extra: &[(&str, String)]) -> (Option<i32>, Vec<u8>, String) {
    let mut c = Command::new(gitsign_bin());
    c.args(["--status-fd=2", "-bsau", "testbed-user@example.com"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", std::env::temp_dir())
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .current_dir(std::env::temp_dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in tb.gitsign_env() {
        c.env(k, v);
    }
    for (k, v) in extra {
        c.env(k, v);
    }
    let mut child = c.spawn().unwrap();
    // A signer that refuses before reading its input (a configuration
    // error) may close stdin first: that is its answer, not a test failure.
    if let Err(e) = child
        .stdin
        .take()
        .unwrap()
        .write_all(SIGN_PAYLOAD.as_bytes())
    {
        assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "{e}");
    }
    let o = child.wait_with_output().unwrap();
    (
        o.status.code(),
        o.stdout,
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// Signing must fail: non-zero exit, nothing on stdout, no SIG_CREATED,
/// and every word of `words` in the message.
pub fn expect_sign_failure(tb: &Testbed, what: &str, extra: &[(&str, String)], words: &[&str]) {
    let (code, stdout, stderr) = sign_direct(tb, extra);
    assert_ne!(code, Some(0), "{what}: signing succeeded: {stderr}");
    assert!(
        stdout.is_empty(),
        "{what}: something reached stdout: {}",
        String::from_utf8_lossy(&stdout)
    );
    assert!(!stderr.contains("SIG_CREATED"), "{what}: {stderr}");
    for w in words {
        assert!(stderr.contains(w), "{what}: expected {w:?} in:\n{stderr}");
    }
}

/// The credential cache daemon binary (built with the workspace).
pub fn daemon_bin() -> PathBuf {
    let p = gitsign_bin().with_file_name("gitsign-credential-cache");
    assert!(
        p.exists(),
        "{} is missing: build the workspace (cargo test --workspace)",
        p.display()
    );
    p
}

/// A daemon on a private socket, killed on drop. Unless a test takes its
/// stderr, that goes to `daemon.stderr` in its directory, printed when the
/// test fails.
pub struct Daemon {
    /// The daemon process.
    pub child: Child,
    /// Its socket.
    pub socket: PathBuf,
    /// Where its stderr goes, when the harness keeps it.
    pub stderr_log: Option<PathBuf>,
    /// The directory holding the socket.
    pub _dir: TempDir,
}

impl Daemon {
    /// A daemon configured for `tb`: its trusted root and its Rekor.
    pub fn start(tb: &Testbed) -> Daemon {
        Self::start_env(tb, &[], None)
    }

    /// A daemon for `tb` with extra environment variables (which win), its
    /// stderr to `stderr` (None: kept by the harness).
    pub fn start_env(tb: &Testbed, env: &[(&str, &str)], stderr: Option<Stdio>) -> Daemon {
        let dir = TempDir::new("cachesock");
        let sockdir = dir.path().join("s");
        std::fs::create_dir(&sockdir).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&sockdir, std::fs::Permissions::from_mode(0o700)).unwrap();
        Self::start_with(tb, sockdir.join("cache.sock"), dir, env, stderr)
    }

    pub fn start_at(tb: &Testbed, socket: PathBuf, dir: TempDir) -> Daemon {
        Self::start_with(tb, socket, dir, &[], None)
    }

    /// The daemon on `socket`, started from the test process's environment
    /// less everything that steers gitsign ([`scrub_env`]), with the
    /// testbed's trusted root and Rekor, no git config, and `env`.
    pub fn start_with(
        tb: &Testbed,
        socket: PathBuf,
        dir: TempDir,
        env: &[(&str, &str)],
        stderr: Option<Stdio>,
    ) -> Daemon {
        let (stderr, stderr_log) = match stderr {
            Some(s) => (s, None),
            None => {
                let log = dir.path().join("daemon.stderr");
                (Stdio::from(std::fs::File::create(&log).unwrap()), Some(log))
            }
        };
        let mut c = Command::new(daemon_bin());
        scrub_env(&mut c);
        let mut child = c
            .args(["--foreground", "--verbose", "--socket"])
            .arg(&socket)
            .env("HOME", dir.path())
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GITSIGN_TRUSTED_ROOT", tb.var("GITSIGN_TRUSTED_ROOT"))
            .env("GITSIGN_REKOR_URL", tb.var("GITSIGN_REKOR_URL"))
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap();
        for _ in 0..200 {
            if socket.exists() {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        if !socket.exists() {
            let _ = child.kill();
            let status = child.wait();
            let said = stderr_log
                .as_ref()
                .and_then(|l| std::fs::read_to_string(l).ok())
                .unwrap_or_else(|| "(its stderr went to the test)".into());
            panic!(
                "the credential cache daemon did not create {} within 2 s ({status:?}); its \
                 stderr:\n{said}",
                socket.display()
            );
        }
        Daemon {
            child,
            socket,
            stderr_log,
            _dir: dir,
        }
    }

    /// What the daemon wrote to stderr so far (when the harness keeps it).
    pub fn stderr(&self) -> String {
        self.stderr_log
            .as_ref()
            .and_then(|l| std::fs::read_to_string(l).ok())
            .unwrap_or_default()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() && self.stderr_log.is_some() {
            eprintln!(
                "--- the credential cache daemon's stderr ({}):\n{}--- end of the daemon's stderr",
                self.socket.display(),
                self.stderr()
            );
        }
    }
}

/// The sigstore-python wrapper (tests/testbed/sigstore-python).
pub fn sigstore_python() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/testbed/sigstore-python")
}

/// What pip prints when it cannot reach the package index (with retries,
/// the default, it logs every failed connection).
const NETWORK_ERRORS: &[&str] = &[
    "NewConnectionError",
    "Failed to establish a new connection",
    "Temporary failure in name resolution",
    "Name or service not known",
    "Network is unreachable",
    "No route to host",
    "Connection refused",
    "ConnectTimeoutError",
    "ReadTimeoutError",
    "ProxyError",
];

/// True when pip's output says the index could not be reached: a connection
/// error, or (with `PIP_RETRIES=0`, which hides those) no release of
/// sigstore at all, which PyPI only answers when it is not there. A Python
/// too old for sigstore 4.5.1 also ends in "from versions: none", but pip
/// then says which versions it ignored: that is a failure, not a skip.
fn index_unreachable(pip_output: &str) -> bool {
    NETWORK_ERRORS.iter().any(|e| pip_output.contains(e))
        || (pip_output.contains("(from versions: none)")
            && !pip_output.contains("Ignored the following versions"))
}

/// Makes sure the sigstore-python venv exists. `Err(why)` only when it
/// cannot be created because PyPI is unreachable; panics on anything else.
pub fn ensure_sigstore_python() -> Result<(), String> {
    let o = Command::new(sigstore_python())
        .arg("--venv")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("tests/testbed/sigstore-python runs");
    if o.status.success() {
        return Ok(());
    }
    let out = text(&o);
    if index_unreachable(&out) {
        return Err(format!(
            "the sigstore-python venv cannot be created, PyPI is unreachable:\n{}",
            out.trim()
        ));
    }
    panic!("tests/testbed/sigstore-python --venv failed (not a network problem):\n{out}");
}

/// tests/testbed/ambient.mjs: loopback stand-ins for the token providers'
/// endpoints (Buildkite agent API, GCE metadata, IAM Credentials over HTTP;
/// the SPIFFE Workload API as gRPC on a unix socket), handing out ID tokens
/// minted by `tb`'s issuer. Stopped on drop.
pub struct Ambient {
    child: Child,
    /// Its HTTP port on 127.0.0.1.
    pub port: u16,
    /// Its SPIFFE Workload API socket.
    pub socket: PathBuf,
    /// One JSON line per request it received.
    pub log: PathBuf,
    _dir: TempDir,
}

impl Ambient {
    /// Starts the stand-ins against `tb`, with `cfg`'s fields added to the
    /// configuration ambient.mjs reads (`email`, `agentToken`, `jobId`,
    /// `fail`, ...).
    pub fn start(tb: &Testbed, cfg: serde_json::Value) -> Ambient {
        use std::io::BufRead;
        let dir = TempDir::new("ambient");
        let socket = dir.path().join("api.sock");
        let log = dir.path().join("requests.jsonl");
        let mut all = serde_json::json!({
            "testbed": tb.var("TESTBED_URL"),
            "socket": socket,
            "log": log,
        });
        if let (Some(all), Some(extra)) = (all.as_object_mut(), cfg.as_object()) {
            all.extend(extra.clone());
        }
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/testbed/ambient.mjs");
        let mut child = Command::new("node")
            .arg(script)
            .arg(all.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("node runs");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let ready: serde_json::Value = serde_json::from_str(&line).expect("stand-in ready line");
        Ambient {
            child,
            port: ready["port"].as_u64().unwrap() as u16,
            socket,
            log,
            _dir: dir,
        }
    }

    /// The requests `service` received, in order.
    pub fn requests(&self, service: &str) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .filter(|v| v["service"] == service)
            .collect()
    }
}

impl Drop for Ambient {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The /proc/keys line of the kernel key named `name`, as this process
/// sees it (the keyring cache's entries).
#[allow(dead_code)]
pub fn proc_keys_line(name: &str) -> Option<String> {
    std::fs::read_to_string("/proc/keys")
        .unwrap()
        .lines()
        .find(|l| l.contains(&format!(" {name}: ")))
        .map(str::to_string)
}

/// The timeout column of /proc/keys for the key named `name` (`perm`:
/// none).
#[allow(dead_code)]
pub fn timeout_of(name: &str) -> Option<String> {
    proc_keys_line(name).map(|l| l.split_whitespace().nth(3).unwrap().to_string())
}

/// Held for the whole of a test that uses the kernel keyring cache:
/// `gitsign cache clear` removes every gitsign entry of this user, so a
/// test that clears would remove another running test's entry (tests of
/// one binary run in parallel; binaries one at a time).
#[allow(dead_code)]
pub fn keyring_lock() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}
