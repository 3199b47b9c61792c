//! Range verification throughput: N commits signed against the loopback
//! testbed (offline mode, a fresh certificate every 500 commits as a
//! credential cache would give), verified in ONE `gitsign verify --all`
//! call; reports commits per second. `tests/bench/range.sh` runs it beside
//! `git log --show-signature` with gpgsm on the same count.
//! Environment: BENCH_COMMITS (default 10000).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use gitsign::config::RekorMode;
use gitsign::git::gitobj::{self, HashAlgo, ObjectKind};
use gitsign::sign;
use gitsign::sigstore::fulcio::FulcioClient;
use gitsign::sigstore::http::Http;
use gitsign::sigstore::rekor::RekorClient;
use gitsign::sigstore::trust::TrustedRoot;

const EMPTY_TREE: &str = "4b825dc642cb6eb9a060e54bf8d69288fbee4904";

fn git(dir: &Path, args: &[&str]) -> String {
    let o = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .expect("git runs");
    assert!(
        o.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

fn main() {
    let n: usize = std::env::var("BENCH_COMMITS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000);
    let top = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(top.join("tests/testbed/start"))
        .args(["--json", "--parent", &std::process::id().to_string()])
        .output()
        .expect("testbed starts");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let env: BTreeMap<String, String> = serde_json::from_slice(&out.stdout).unwrap();
    let state = PathBuf::from(&env["TESTBED_STATE"]);
    let result = std::panic::catch_unwind(|| run(n, &env, top));
    let _ = Command::new(top.join("tests/testbed/stop"))
        .arg(&state)
        .output();
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
}

fn token(env: &BTreeMap<String, String>, email: &str) -> String {
    let o = Command::new("curl")
        .args([
            "-sS",
            "-X",
            "POST",
            &format!("{}/token", env["TESTBED_URL"]),
            "-H",
            "content-type: application/json",
        ])
        .args(["--data", &format!("{{\"email\":\"{email}\",\"ttl\":3600}}")])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    v["id_token"].as_str().unwrap().to_string()
}

fn run(n: usize, env: &BTreeMap<String, String>, _top: &Path) {
    let email = "bench@example.com";
    let http = Http::new(Duration::from_secs(30)).unwrap();
    let root = TrustedRoot::from_file(Path::new(&env["GITSIGN_TRUSTED_ROOT"])).unwrap();
    let fulcio = FulcioClient::new(&env["GITSIGN_FULCIO_URL"], http.clone());
    let rekor = RekorClient::new(&env["GITSIGN_REKOR_URL"], http);
    let tok = token(env, email);

    let dir = std::env::temp_dir().join(format!("gitsign-bench-range-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("objects")).unwrap();
    let repo = dir.join("repo");
    git(
        &dir,
        &["init", "-q", "-b", "main", &repo.display().to_string()],
    );

    eprintln!("bench: signing {n} commits against the testbed ...");
    let t = Instant::now();
    let mut parent: Option<String> = None;
    let mut cred = None;
    let mut list = String::new();
    for i in 0..n {
        if i % 500 == 0 {
            cred = Some(
                sign::request_credential(
                    &fulcio,
                    &tok,
                    email,
                    &root,
                    gitsign::encoding::time::now(),
                )
                .expect("credential"),
            );
        }
        let c = cred.as_ref().unwrap();
        let ts = 1_700_000_000 + i as i64;
        let parent_line = parent
            .as_ref()
            .map(|p| format!("parent {p}\n"))
            .unwrap_or_default();
        let payload = format!(
            "tree {EMPTY_TREE}\n{parent_line}author Bench <{email}> {ts} +0000\ncommitter Bench <{email}> {ts} +0000\n\nchange {i}\n"
        );
        let s = sign::sign_payload(
            payload.as_bytes(),
            c,
            &rekor,
            &root,
            RekorMode::Offline,
            gitsign::encoding::time::now(),
        )
        .expect("sign");
        let obj = gitobj::join_commit(payload.as_bytes(), s.armored.as_bytes(), HashAlgo::Sha1);
        let id = gitobj::object_id(ObjectKind::Commit, &obj, HashAlgo::Sha1);
        let f = dir.join("objects").join(&id);
        std::fs::write(&f, &obj).unwrap();
        list.push_str(&format!("{}\n", f.display()));
        parent = Some(id);
        if (i + 1) % 1000 == 0 {
            eprintln!(
                "bench: {} signed ({:.0} s)",
                i + 1,
                t.elapsed().as_secs_f64()
            );
        }
    }
    // Paths from a file: piping both ways would deadlock on full pipes.
    let list_file = dir.join("paths");
    std::fs::File::create(&list_file)
        .unwrap()
        .write_all(list.as_bytes())
        .unwrap();
    let ids = Command::new("git")
        .arg("-C")
        .arg(&repo)
        .args([
            "hash-object",
            "-w",
            "--literally",
            "-t",
            "commit",
            "--stdin-paths",
        ])
        .stdin(Stdio::from(std::fs::File::open(&list_file).unwrap()))
        .output()
        .unwrap();
    let last = String::from_utf8_lossy(&ids.stdout)
        .lines()
        .last()
        .unwrap()
        .to_string();
    assert_eq!(
        Some(&last),
        parent.as_ref(),
        "git computes the same object ids"
    );
    git(&repo, &["update-ref", "refs/heads/main", &last]);
    println!(
        "{{\"bench\":\"range-setup\",\"commits\":{n},\"sign_s\":{:.1}}}",
        t.elapsed().as_secs_f64()
    );

    // One call verifies the whole history (offline mode: no network).
    let bin = env!("CARGO_BIN_EXE_gitsign");
    let mut best = f64::MAX;
    for _ in 0..3 {
        let t = Instant::now();
        let o = Command::new(bin)
            .current_dir(&repo)
            .env("GITSIGN_TRUSTED_ROOT", &env["GITSIGN_TRUSTED_ROOT"])
            .args([
                "verify",
                "--all",
                "--format",
                "json",
                "--certificate-identity",
                email,
            ])
            .args(["--certificate-oidc-issuer", &env["GITSIGN_OIDC_ISSUER"]])
            .output()
            .unwrap();
        let secs = t.elapsed().as_secs_f64();
        assert!(
            o.status.success(),
            "verification failed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let lines = String::from_utf8_lossy(&o.stdout)
            .lines()
            .filter(|l| l.contains("\"passed\":true"))
            .count();
        assert_eq!(lines, n, "every commit passed");
        best = best.min(secs);
    }
    println!(
        "{{\"bench\":\"verify-range\",\"program\":\"gitsign\",\"commits\":{n},\"seconds\":{best:.3},\"commits_per_second\":{:.0},\"cores\":{}}}",
        n as f64 / best,
        std::thread::available_parallelism().map(|c| c.get()).unwrap_or(1)
    );
    let _ = std::fs::remove_dir_all(&dir);
}
