//! The browser opener of the interactive login: the command that opens
//! the login (`gitsign.urlOpener`, else `$BROWSER`, else the platform's),
//! split like Go gitsign's and never run through a shell, and the private
//! page ([`LoginPage`]) it is handed instead of the login URL itself.
//!
//! What it may use: the standard library's processes, rustix (the page's
//! private directory and file), aws-lc-rs's random numbers (the page's
//! directory name) and the `url` crate (the page's `file://` URL).
//!
//! Why hand-written: `webbrowser` 1.2, the crate for opening a browser,
//! was read for the job. It reads `$BROWSER` itself (here only
//! [`crate::config`] reads the environment, and tests set the opener
//! through [`OidcSettings`]); it runs a text browser (lynx, w3m) in the
//! foreground with the process's own stdout, which carries the signature
//! to git; it spawns a graphical opener without ever collecting its exit
//! status, so an opener that fails goes unsaid; and it knows nothing of
//! Go gitsign's `gitsign.urlOpener` with its `{{.URL}}` template. What it
//! would replace here is the platform's command and `$BROWSER`'s list,
//! about 40 lines.

use std::path::PathBuf;
use std::sync::mpsc;

#[cfg(unix)]
use std::io::Write;
#[cfg(unix)]
use std::path::Path;
#[cfg(unix)]
use url::Url;

use super::{Messages, OidcError, OidcSettings};

/// Splits a command line the way Go gitsign does for `gitsign.urlOpener`:
/// whitespace separates words, single or double quotes group (the other
/// quote is literal inside), backslashes are literal.
pub fn split_command(s: &str) -> Result<Vec<String>, String> {
    let mut args = Vec::new();
    let mut cur = String::new();
    let mut in_token = false;
    let mut quote: Option<char> = None;
    for c in s.chars() {
        match quote {
            Some(q) => {
                if c == q {
                    quote = None;
                } else {
                    cur.push(c);
                }
            }
            None if c == '\'' || c == '"' => {
                quote = Some(c);
                in_token = true;
            }
            None if c.is_whitespace() => {
                if in_token {
                    args.push(std::mem::take(&mut cur));
                    in_token = false;
                }
            }
            None => {
                cur.push(c);
                in_token = true;
            }
        }
    }
    if let Some(q) = quote {
        return Err(format!("unterminated {q} quote"));
    }
    if in_token {
        args.push(cur);
    }
    Ok(args)
}

/// The argv that opens `url` with a `gitsign.urlOpener` command: `{{.URL}}`
/// in any word is replaced by the URL; if no word mentions it, the URL is
/// appended. Not run through a shell.
pub fn opener_argv(command: &str, url: &str) -> Result<Vec<String>, OidcError> {
    let bad = |why: String| OidcError::Config(format!("gitsign.urlOpener \"{command}\": {why}"));
    if command.contains(['\n', '\r']) {
        return Err(bad("must not contain line breaks".into()));
    }
    let words = split_command(command).map_err(bad)?;
    if words.is_empty() {
        return Err(bad("is empty".into()));
    }
    let mut mentioned = false;
    let mut argv = Vec::with_capacity(words.len() + 1);
    for w in words {
        if w.contains("{{") {
            let replaced = replace_url_template(&w, url).ok_or_else(|| {
                bad(format!(
                    "unsupported template in \"{w}\" (only {{{{.URL}}}} is known)"
                ))
            })?;
            mentioned = true;
            argv.push(replaced);
        } else {
            argv.push(w);
        }
    }
    if !mentioned {
        argv.push(url.to_string());
    }
    Ok(argv)
}

fn replace_url_template(word: &str, url: &str) -> Option<String> {
    let mut out = String::new();
    let mut rest = word;
    while let Some(i) = rest.find("{{") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let end = after.find("}}")?;
        let inner = after[..end]
            .trim()
            .trim_start_matches('-')
            .trim_end_matches('-')
            .trim();
        if inner != ".URL" {
            return None;
        }
        out.push_str(url);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Some(out)
}

/// `$BROWSER`: a `:`-separated list of commands, `%s` standing for the URL.
fn browser_argvs(browser: &str, url: &str) -> Vec<Vec<String>> {
    browser
        .split(':')
        .filter(|c| !c.trim().is_empty())
        .filter_map(|c| {
            let mut words = split_command(c).ok()?;
            if words.is_empty() {
                return None;
            }
            let mut mentioned = false;
            for w in words.iter_mut() {
                if w.contains("%s") {
                    *w = w.replace("%s", url);
                    mentioned = true;
                }
            }
            if !mentioned {
                words.push(url.to_string());
            }
            Some(words)
        })
        .collect()
}

fn platform_argv(url: &str) -> Vec<String> {
    if cfg!(target_os = "macos") {
        vec!["open".into(), url.into()]
    } else if cfg!(windows) {
        vec![
            "rundll32".into(),
            "url.dll,FileProtocolHandler".into(),
            url.into(),
        ]
    } else {
        vec!["xdg-open".into(), url.into()]
    }
}

/// A started opener, reaped by a thread; its exit status arrives on `rx`.
pub(crate) struct Opener {
    pub(crate) name: String,
    pub(crate) rx: mpsc::Receiver<std::io::Result<std::process::ExitStatus>>,
}

/// Starts the first opener that starts. Its output goes nowhere: stdout
/// carries the signature and stderr git's status lines.
pub(crate) fn start_opener(
    s: &OidcSettings,
    url: &str,
    msgs: &dyn Messages,
) -> Result<Option<Opener>, OidcError> {
    let candidates: Vec<(String, Vec<String>)> =
        if let Some(cmd) = s.url_opener.as_deref().filter(|c| !c.trim().is_empty()) {
            vec![("gitsign.urlOpener".into(), opener_argv(cmd, url)?)]
        } else if let Some(b) = s.browser.as_deref().filter(|b| !b.trim().is_empty()) {
            browser_argvs(b, url)
                .into_iter()
                .map(|a| ("$BROWSER".to_string(), a))
                .collect()
        } else {
            vec![("the system browser".into(), platform_argv(url))]
        };
    let mut last_err = None;
    for (source, argv) in candidates {
        let Some((prog, args)) = argv.split_first() else {
            continue;
        };
        let spawned = std::process::Command::new(prog)
            .args(args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn();
        match spawned {
            Ok(mut child) => {
                let (tx, rx) = mpsc::channel();
                std::thread::spawn(move || {
                    let _ = tx.send(child.wait());
                });
                return Ok(Some(Opener {
                    name: format!("{prog} ({source})"),
                    rx,
                }));
            }
            Err(e) => last_err = Some(format!("cannot start {prog} ({source}): {e}")),
        }
    }
    if let Some(e) = last_err {
        msgs.say(&format!("{e}; open the URL above by hand."));
    }
    Ok(None)
}

/// The page the opener gets instead of the login URL: an HTML file only
/// this user can read, in a fresh directory only this user can enter,
/// that sends the browser on to the authorization URL (a meta refresh,
/// and a link). A command line is readable by every local user in
/// `/proc/PID/cmdline` for as long as the opener (often the browser
/// itself) runs; the authorization URL carries this login's state, nonce
/// and PKCE challenge, with which another user could finish the login with
/// their own account and have this user sign as them. The file's path
/// tells them nothing. Removed (with its directory) when dropped, after
/// the login.
#[cfg(unix)]
pub struct LoginPage {
    parent: std::os::fd::OwnedFd,
    dir: std::os::fd::OwnedFd,
    name: String,
    path: PathBuf,
}

#[cfg(unix)]
impl LoginPage {
    /// The page's file name inside its directory.
    const FILE: &'static str = "login.html";

    /// Writes the page for `auth_url` under the first of `dirs` that is
    /// safe: a directory of this user's that nobody else can write to, or
    /// a sticky one (`/tmp`), where nobody else can rename what we create.
    /// The directory is created with `mkdir` (which never follows a link)
    /// and used through its descriptor; the file with `O_CREAT|O_EXCL|
    /// O_NOFOLLOW`, mode 0600.
    pub fn create(auth_url: &str, dirs: &[PathBuf]) -> Result<LoginPage, String> {
        let mut why = Vec::new();
        for d in dirs {
            match Self::create_in(auth_url, d) {
                Ok(p) => return Ok(p),
                Err(e) => why.push(e),
            }
        }
        Err(if why.is_empty() {
            "no directory was given for it".to_string()
        } else {
            why.join("; ")
        })
    }

    fn create_in(auth_url: &str, parent_path: &Path) -> Result<LoginPage, String> {
        use rustix::fs::{self as rfs, Mode, OFlags};
        let at =
            |what: &str, e: rustix::io::Errno| format!("{what} in {}: {e}", parent_path.display());
        let euid = rustix::process::geteuid().as_raw();
        let parent = rfs::open(
            parent_path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| at("cannot open the directory", e))?;
        let st = rfs::fstat(&parent).map_err(|e| at("cannot inspect the directory", e))?;
        let mode = st.st_mode as u32 & 0o7777;
        let others_write = mode & 0o022 != 0;
        let sticky = mode & 0o1000 != 0;
        if (st.st_uid != euid && st.st_uid != 0) || (others_write && !sticky) {
            return Err(format!(
                "{} is not a safe place for it (owned by uid {}, mode {mode:04o})",
                parent_path.display(),
                st.st_uid
            ));
        }
        for _ in 0..8 {
            let name = random_name()?;
            match rfs::mkdirat(&parent, name.as_str(), Mode::from_raw_mode(0o700)) {
                Ok(()) => {}
                Err(rustix::io::Errno::EXIST) => continue,
                Err(e) => return Err(at("cannot create a directory", e)),
            }
            let dir = rfs::openat(
                &parent,
                name.as_str(),
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(|e| at("cannot open the directory it created", e))?;
            let page = LoginPage {
                parent,
                dir,
                path: parent_path.join(&name).join(Self::FILE),
                name,
            };
            let d = rfs::fstat(&page.dir).map_err(|e| at("cannot inspect its directory", e))?;
            if d.st_uid != euid {
                return Err(format!(
                    "the directory it created in {} belongs to uid {}",
                    parent_path.display(),
                    d.st_uid
                ));
            }
            rfs::fchmod(&page.dir, Mode::from_raw_mode(0o700))
                .map_err(|e| at("cannot make its directory private", e))?;
            let file = rfs::openat(
                &page.dir,
                Self::FILE,
                OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::from_raw_mode(0o600),
            )
            .map_err(|e| at("cannot create the page", e))?;
            rfs::fchmod(&file, Mode::from_raw_mode(0o600))
                .map_err(|e| at("cannot make the page private", e))?;
            let mut file = std::fs::File::from(file);
            file.write_all(redirect_page(auth_url).as_bytes())
                .map_err(|e| format!("cannot write the page in {}: {e}", parent_path.display()))?;
            return Ok(page);
        }
        Err(format!(
            "no fresh directory name was free in {}",
            parent_path.display()
        ))
    }

    /// The page's `file://` URL.
    pub fn url(&self) -> String {
        file_url(&self.path)
    }
}

#[cfg(unix)]
impl Drop for LoginPage {
    fn drop(&mut self) {
        let _ = rustix::fs::unlinkat(&self.dir, Self::FILE, rustix::fs::AtFlags::empty());
        let _ = rustix::fs::unlinkat(
            &self.parent,
            self.name.as_str(),
            rustix::fs::AtFlags::REMOVEDIR,
        );
    }
}

/// Off Unix, the page is not written: the checks that keep it private
/// (a directory only this user can enter, created without following a
/// link) are Unix's, so [`LoginPage::create`] says that it is not
/// supported on this platform, and the user opens the login URL by hand.
#[cfg(not(unix))]
pub struct LoginPage {
    never: std::convert::Infallible,
}

#[cfg(not(unix))]
impl LoginPage {
    /// Refuses (see the type's docs).
    pub fn create(_auth_url: &str, _dirs: &[PathBuf]) -> Result<LoginPage, String> {
        Err("a private login page is not supported on this platform".to_string())
    }

    /// Never called: no page exists.
    pub fn url(&self) -> String {
        match self.never {}
    }
}

/// Never run: no page exists (there as on Unix, where dropping the page
/// removes it).
#[cfg(not(unix))]
impl Drop for LoginPage {
    fn drop(&mut self) {
        match self.never {}
    }
}

/// A `file://` URL for an absolute path (percent-encoded by `url`).
#[cfg(unix)]
fn file_url(path: &Path) -> String {
    Url::from_file_path(path)
        .map(String::from)
        .unwrap_or_else(|()| format!("file://{}", path.display()))
}

/// The login page: straight on to `url` (a meta refresh, no script), with
/// a link for a browser that does not follow it; no referrer sent on.
#[cfg(unix)]
fn redirect_page(url: &str) -> String {
    let u = super::loopback::html_escape(url);
    format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">\
         <meta name=\"referrer\" content=\"no-referrer\">\
         <meta http-equiv=\"refresh\" content=\"0; url={u}\">\
         <title>Sigstore login</title></head>\n<body><p>Continuing to the Sigstore login. \
         If nothing happens, <a id=\"login\" href=\"{u}\">follow this link</a>.</p></body></html>\n"
    )
}

/// A fresh directory name: 12 random bytes, base64url.
#[cfg(unix)]
fn random_name() -> Result<String, String> {
    use aws_lc_rs::rand::{SecureRandom, SystemRandom};
    use base64::Engine;
    let mut buf = [0u8; 12];
    SystemRandom::new()
        .fill(&mut buf)
        .map_err(|_| "the system random number generator failed".to_string())?;
    Ok(format!(
        "gitsign-login-{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opener_commands() {
        assert_eq!(
            opener_argv("open -a 'My Browser' --new", "U").unwrap(),
            ["open", "-a", "My Browser", "--new", "U"]
        );
        assert_eq!(
            opener_argv(r#"C:\x\b.exe "--url={{.URL}}" x"#, "U").unwrap(),
            [r"C:\x\b.exe", "--url=U", "x"]
        );
        assert_eq!(opener_argv("b '{{ .URL }}'", "U").unwrap(), ["b", "U"]);
        // As in Go, each word is a template of its own.
        assert!(opener_argv("b {{ .URL }}", "U").is_err());
        assert!(opener_argv("b {{.Other}}", "U").is_err());
        assert!(opener_argv("b 'x", "U").is_err());
        assert!(opener_argv("  ", "U").is_err());
        assert!(opener_argv("a\nb", "U").is_err());
        assert_eq!(
            browser_argvs("w3m:firefox %s", "U"),
            [vec!["w3m", "U"], vec!["firefox", "U"]]
        );
    }

    #[cfg(unix)]
    #[test]
    fn the_login_page_is_private_and_goes() {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let root = tempfile::tempdir().unwrap();
        let url = "https://issuer.example/auth?state=S&code_challenge=C&x=\"<y>";
        let page = LoginPage::create(url, &[root.path().to_path_buf()]).unwrap();
        let file = page.path.clone();
        let dir = file.parent().unwrap().to_path_buf();
        assert_eq!(std::fs::metadata(&dir).unwrap().mode() & 0o7777, 0o700);
        assert_eq!(std::fs::metadata(&file).unwrap().mode() & 0o7777, 0o600);
        assert_eq!(page.url(), format!("file://{}", file.display()));
        let html = std::fs::read_to_string(&file).unwrap();
        let escaped =
            "https://issuer.example/auth?state=S&amp;code_challenge=C&amp;x=&quot;&lt;y&gt;";
        assert!(
            html.contains(&format!("content=\"0; url={escaped}\""))
                && html.contains(&format!("<a id=\"login\" href=\"{escaped}\">")),
            "{html}"
        );
        drop(page);
        assert!(!file.exists() && !dir.exists(), "removed after the login");
        // A directory others can write to without the sticky bit is no
        // place for it; the next one is used.
        let loose = root.path().join("loose");
        std::fs::create_dir(&loose).unwrap();
        std::fs::set_permissions(&loose, std::fs::Permissions::from_mode(0o777)).unwrap();
        let e = LoginPage::create(url, std::slice::from_ref(&loose))
            .err()
            .unwrap();
        assert!(e.contains("not a safe place"), "{e}");
        let page = LoginPage::create(url, &[loose, root.path().to_path_buf()]).unwrap();
        assert!(
            page.path.starts_with(root.path()) && !page.path.starts_with(root.path().join("loose"))
        );
        assert_eq!(file_url(Path::new("/a b/%/é")), "file:///a%20b/%25/%C3%A9");
    }
}
