//! `gitsign initialize` against a local copy of real, recorded Sigstore
//! TUF metadata: the staging repository (tuf-repo-cdn.sigstage.dev) as
//! sigstore-python's test assets recorded it (timestamp v353, snapshot
//! v16, targets v17, its trusted_root.json and signing_config.v0.2.json;
//! sources in tests/fixtures/tuf-staging-recorded/README.md), served over
//! loopback HTTP in the public repository's layout, starting from the
//! staging TUF root v14 (tests/fixtures/trust/tuf_root.staging.json).
//!
//! The recorded timestamp expired on 2025-07-29, so gitsign runs under
//! libfaketime at a time inside every recorded role's validity; the
//! metadata, its signatures and the targets' hashes are the real ones.
//! A byte changed in the recorded trusted_root.json target is refused.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Output;

use common::{fixtures, text, Repo, TempDir};

/// A time inside the recorded metadata's validity: the timestamp (v353)
/// expires 2025-07-29T13:28:44Z and is renewed weekly; the snapshot,
/// targets and the v14 root expire later.
const INSIDE_VALIDITY: &str = "@2025-07-27 12:00:00";

const TRUSTED_ROOT: &str =
    "targets/ed6a9cf4e7c2e3297a4b5974fce0d17132f03c63512029d7aa3a402b43acab49.trusted_root.json";

/// The recorded repository.
fn recorded() -> PathBuf {
    fixtures().join("tuf-staging-recorded")
}

/// The staging TUF root (version 14) whose keys signed the recorded roles.
fn staging_root() -> PathBuf {
    fixtures().join("trust/tuf_root.staging.json")
}

/// libfaketime, which tests/run installs.
fn libfaketime() -> PathBuf {
    let mut candidates = vec![PathBuf::from("/usr/lib/faketime/libfaketime.so.1")];
    if let Ok(dir) = std::fs::read_dir("/usr/lib") {
        for e in dir.flatten() {
            candidates.push(e.path().join("faketime/libfaketime.so.1"));
        }
    }
    candidates
        .into_iter()
        .find(|p| p.is_file())
        .expect("libfaketime is not installed: tests/run installs it (the faketime package)")
}

/// Copies a directory tree.
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

/// Serves the files under `root` over loopback HTTP (GET only; 404 for
/// anything else, as the public repository answers for a root version it
/// does not have). Returns the base URL.
fn serve(root: PathBuf) -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            let mut r = BufReader::new(&s);
            let mut line = String::new();
            if r.read_line(&mut line).is_err() {
                continue;
            }
            // Drain the headers.
            loop {
                let mut h = String::new();
                match r.read_line(&mut h) {
                    Ok(0) | Err(_) => break,
                    Ok(_) if h == "\r\n" || h == "\n" => break,
                    Ok(_) => {}
                }
            }
            let path = line.split_whitespace().nth(1).unwrap_or("/");
            let rel = path.trim_start_matches('/');
            let file = (!rel.split('/').any(|c| c == ".." || c.is_empty()))
                .then(|| root.join(rel))
                .filter(|p| p.is_file());
            let mut s = &s;
            let _ = match file {
                Some(p) => {
                    let body = std::fs::read(p).unwrap();
                    write!(
                        s,
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
                         Content-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    )
                    .and_then(|_| s.write_all(&body))
                }
                None => s.write_all(
                    b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                ),
            };
        }
    });
    url
}

/// Runs gitsign in `repo`'s fresh HOME at [`INSIDE_VALIDITY`].
fn gitsign_then(repo: &Repo, args: &[&str]) -> Output {
    let mut c = repo.gitsign_cmd(args);
    c.env("LD_PRELOAD", libfaketime())
        .env("FAKETIME", INSIDE_VALIDITY)
        .env("FAKETIME_DONT_FAKE_MONOTONIC", "1")
        .env("FAKETIME_NO_CACHE", "1");
    c.output().unwrap()
}

fn initialize(repo: &Repo, mirror: &str) -> Output {
    gitsign_then(
        repo,
        &[
            "initialize",
            "--mirror",
            mirror,
            "--root",
            &staging_root().display().to_string(),
        ],
    )
}

#[test]
fn initialize_against_recorded_staging_metadata() {
    let mirror = serve(recorded());
    let repo = Repo::new("tuf-recorded");
    // At the real clock the same metadata is refused: root v14 expired on
    // 2026-10-16 (and the timestamp long before), which is why the rest
    // runs under libfaketime.
    let o = repo.gitsign(&[
        "initialize",
        "--mirror",
        &mirror,
        "--root",
        &staging_root().display().to_string(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("expired at"), "{}", text(&o));
    let o = initialize(&repo, &mirror);
    let out = text(&o);
    assert!(o.status.success(), "initialize: {out}");
    for want in [
        format!("Initialized trust from the TUF mirror {mirror}"),
        "TUF root version 14; metadata valid until 2025-07-29T13:28:44Z".to_string(),
        "Now trusted (targets trusted_root.json of that repository)".to_string(),
        // From the recorded trusted_root.json target, nowhere else.
        "https://fulcio.sigstage.dev".to_string(),
        "https://rekor.sigstage.dev".to_string(),
        "https://log2025-alpha1.rekor.sigstage.dev".to_string(),
        "https://ctfe.sigstage.dev/2022-2".to_string(),
        // And from the recorded signing_config.v0.2.json.
        "https://oauth2.sigstage.dev/auth".to_string(),
    ] {
        assert!(
            out.contains(&want),
            "initialize output lacks {want:?}:\n{out}"
        );
    }
    let v = text(&gitsign_then(&repo, &["version"]));
    assert!(
        v.contains(&format!(
            "trusted root: the TUF mirror {mirror} (TUF root version 14"
        )),
        "{v}"
    );
}

#[test]
fn a_changed_byte_in_the_recorded_trusted_root_is_refused() {
    let copy = TempDir::new("tuf-recorded-tampered");
    copy_tree(&recorded(), copy.path());
    let target = copy.path().join(TRUSTED_ROOT);
    let mut bytes = std::fs::read(&target).unwrap();
    // One byte of the Rekor URL: same length, different content.
    let at = bytes
        .windows(b"rekor.sigstage".len())
        .position(|w| w == b"rekor.sigstage")
        .unwrap();
    bytes[at] = b'R';
    std::fs::write(&target, &bytes).unwrap();

    let mirror = serve(copy.path().to_path_buf());
    let repo = Repo::new("tuf-recorded-tampered");
    let o = initialize(&repo, &mirror);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(2), "initialize: {out}");
    assert!(
        out.contains("trusted_root.json does not have the sha256 hash the metadata names (got ")
            && out.contains(
                "expected ed6a9cf4e7c2e3297a4b5974fce0d17132f03c63512029d7aa3a402b43acab49)"
            ),
        "initialize: {out}"
    );
    // Nothing is trusted from that mirror afterwards.
    let v = text(&gitsign_then(&repo, &["version"]));
    assert!(!v.contains(&format!("the TUF mirror {mirror}")), "{v}");
}
