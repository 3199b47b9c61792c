//! The pre-receive hook under load, through real `git push` to a bare
//! repository on a server holding BENCH_REFS refs (default 100,000), with
//! BENCH_COMMITS new commits (default 100,000; every BENCH_SIGNED_EVERY-th
//! one signed against the loopback testbed, the rest unsigned) whose
//! messages carry BENCH_MESSAGE_BYTES bytes (default 64). Each scenario
//! prints one JSON line with the push's wall time and the hook's own
//! (`/usr/bin/time -v` around `gitsign hook pre-receive`: elapsed and peak
//! RSS, the largest of gitsign and the git processes it waited for), and
//! gitsign's own peak (VmHWM):
//!
//! - `refs-1000`: one push creating 1,000 branches at 1,000 new commits
//!   (the refs × refs case: one walk, not one per ref);
//! - `push-accepted`: the whole chain to a rule that allows unsigned
//!   commits but verifies the signed ones;
//! - `push-refused`: the same chain to a protected branch: refused, every
//!   unsigned commit counted, 50 listed;
//! - `large-messages` (BENCH_LARGE=1): 40 unsigned commits with 20 MiB
//!   one-line messages to the protected branch.
//!
//! `tests/bench/hook.sh` runs it with two message sizes. BENCH_GITSIGN
//! names other gitsign binaries for the hook, separated by `:` (to compare
//! builds on the same server and pushes: the refs a round creates are
//! deleted before the next, so each hook sees the same ref updates; only
//! the first round transfers the objects).

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
const EMAIL: &str = "bench@example.com";

fn env_usize(k: &str, default: usize) -> usize {
    std::env::var(k)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

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

/// Runs `git` in `dir` with `input` on stdin (from a file: no pipe deadlock).
fn git_stdin(dir: &Path, args: &[&str], input: &Path) -> String {
    let o = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .stdin(Stdio::from(std::fs::File::open(input).unwrap()))
        .output()
        .expect("git runs");
    assert!(
        o.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn main() {
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
    let result = std::panic::catch_unwind(|| run(&env));
    let _ = Command::new(top.join("tests/testbed/stop"))
        .arg(&state)
        .output();
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
}

fn token(env: &BTreeMap<String, String>) -> String {
    let o = Command::new("curl")
        .args([
            "-sS",
            "-X",
            "POST",
            &format!("{}/token", env["TESTBED_URL"]),
            "-H",
            "content-type: application/json",
        ])
        .args(["--data", &format!("{{\"email\":\"{EMAIL}\",\"ttl\":3600}}")])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    v["id_token"].as_str().unwrap().to_string()
}

/// Writes commit objects (files listed in `paths`) into `repo`; returns
/// their ids as git computed them.
fn store(repo: &Path, paths: &Path) -> Vec<String> {
    git_stdin(
        repo,
        &[
            "hash-object",
            "-w",
            "--literally",
            "-t",
            "commit",
            "--stdin-paths",
        ],
        paths,
    )
    .lines()
    .map(str::to_string)
    .collect()
}

struct Signer {
    fulcio: FulcioClient,
    rekor: RekorClient,
    root: TrustedRoot,
    token: String,
    cred: Option<sign::Credential>,
    uses: usize,
}

impl Signer {
    /// A signed commit object over `payload` (a fresh certificate every
    /// 500 signatures, as a credential cache would give).
    fn sign(&mut self, payload: &str) -> Vec<u8> {
        if self.cred.is_none() || self.uses == 500 {
            self.cred = Some(
                sign::request_credential(
                    &self.fulcio,
                    &self.token,
                    EMAIL,
                    &self.root,
                    gitsign::encoding::time::now(),
                )
                .expect("credential"),
            );
            self.uses = 0;
        }
        self.uses += 1;
        let s = sign::sign_payload(
            payload.as_bytes(),
            self.cred.as_ref().unwrap(),
            &self.rekor,
            &self.root,
            RekorMode::Offline,
            gitsign::encoding::time::now(),
        )
        .expect("sign");
        gitobj::join_commit(payload.as_bytes(), s.armored.as_bytes(), HashAlgo::Sha1)
    }
}

/// A chain of `n` commits after `parent`, every `signed_every`-th signed,
/// written into `repo`; returns the ids in order.
fn chain(
    repo: &Path,
    dir: &Path,
    signer: &mut Signer,
    parent: &str,
    n: usize,
    signed_every: usize,
    message_bytes: usize,
) -> Vec<String> {
    let objects = dir.join("objects");
    std::fs::create_dir_all(&objects).unwrap();
    let pad = "x".repeat(message_bytes);
    let t = Instant::now();
    let mut parent = parent.to_string();
    let mut list = String::new();
    let mut expect = Vec::with_capacity(n);
    for i in 0..n {
        let ts = 1_700_000_000 + i as i64;
        let payload = format!(
            "tree {EMPTY_TREE}\nparent {parent}\nauthor Bench <{EMAIL}> {ts} +0000\ncommitter Bench <{EMAIL}> {ts} +0000\n\nchange {i} {pad}\n"
        );
        let obj = if signed_every > 0 && i % signed_every == 0 {
            signer.sign(&payload)
        } else {
            payload.into_bytes()
        };
        let id = gitobj::object_id(ObjectKind::Commit, &obj, HashAlgo::Sha1);
        let f = objects.join(&id);
        std::fs::write(&f, &obj).unwrap();
        list.push_str(&format!("{}\n", f.display()));
        expect.push(id.clone());
        parent = id;
        if (i + 1) % 10_000 == 0 {
            eprintln!(
                "bench: {} commits written ({:.0} s)",
                i + 1,
                t.elapsed().as_secs_f64()
            );
        }
    }
    let paths = dir.join("paths");
    std::fs::write(&paths, list).unwrap();
    let ids = store(repo, &paths);
    assert_eq!(ids, expect, "git computes the same object ids");
    let _ = std::fs::remove_dir_all(&objects);
    ids
}

/// The hook under measurement: `/usr/bin/time -v` around it (the peak of
/// gitsign and of the git processes it ran, whichever is largest), and
/// gitsign's own high-water mark (VmHWM) sampled every 50 ms until it
/// exits, written to `<stats>.own`.
fn hook_script(bin: &str, stats: &Path) -> String {
    let own = format!("{}.own", stats.display());
    format!(
        r#"#!/bin/sh
exec /usr/bin/time -v -o '{}' sh -c '
exec 3<&0
"$0" hook pre-receive <&3 3<&- &
pid=$!
hwm=0
while s=$(cat /proc/$pid/status 2>/dev/null); do
  case "$s" in *"State:	Z"*) break;; esac
  h=$(printf "%s\n" "$s" | sed -n "s/^VmHWM:[^0-9]*\([0-9]*\).*/\1/p")
  [ -n "$h" ] && hwm=$h
  sleep 0.05
done
wait $pid; rc=$?
echo "$hwm" > "$1"
exit $rc' '{bin}' '{own}'
"#,
        stats.display()
    )
}

/// gitsign's own peak, in KiB (see [`hook_script`]).
fn own_peak(stats: &Path) -> u64 {
    std::fs::read_to_string(format!("{}.own", stats.display()))
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

/// What `/usr/bin/time -v` reported for the hook.
fn hook_stats(file: &Path) -> (f64, u64) {
    let text = std::fs::read_to_string(file).unwrap_or_default();
    let mut secs = 0.0;
    let mut kb = 0;
    for l in text.lines() {
        let l = l.trim();
        if let Some(v) = l.strip_prefix("Maximum resident set size (kbytes): ") {
            kb = v.trim().parse().unwrap_or(0);
        }
        if let Some(v) = l.strip_prefix("Elapsed (wall clock) time (h:mm:ss or m:ss): ") {
            let parts: Vec<f64> = v.split(':').filter_map(|p| p.parse().ok()).collect();
            secs = parts.iter().fold(0.0, |acc, p| acc * 60.0 + p);
        }
    }
    (secs, kb)
}

/// Pushes `refspecs`; reports one JSON line.
fn push(
    name: &str,
    client: &Path,
    stats: &Path,
    refspecs: &[String],
    expect_ok: bool,
    extra: &str,
) -> String {
    let _ = std::fs::remove_file(stats);
    let _ = std::fs::remove_file(format!("{}.own", stats.display()));
    let t = Instant::now();
    let o = Command::new("git")
        .arg("-C")
        .arg(client)
        .args(["push", "-q", "--no-verify", "server"])
        .args(refspecs)
        .output()
        .unwrap();
    let wall = t.elapsed().as_secs_f64();
    let text = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(
        o.status.success(),
        expect_ok,
        "{name}: {}",
        &text[..text.len().min(4000)]
    );
    let (hook_s, hook_kb) = hook_stats(stats);
    let own_kb = own_peak(stats);
    // What the hook said: objects verified, or problems found.
    let said = text
        .lines()
        .find_map(|l| {
            let l = l.split("gitsign: ").nth(1)?;
            let n = l
                .strip_prefix("push refused: ")
                .unwrap_or(l)
                .split(' ')
                .next()?;
            n.parse::<u64>().ok()
        })
        .unwrap_or(0);
    let key = if expect_ok { "verified" } else { "problems" };
    println!(
        "{{\"bench\":\"hook\",\"build\":\"{}\",\"scenario\":\"{name}\",\"push_seconds\":{wall:.2},\"hook_seconds\":{hook_s:.2},\"hook_peak_rss_mib\":{:.1},\"gitsign_peak_rss_mib\":{:.1},\"{key}\":{said},\"output_bytes\":{}{extra}}}",
        BUILD.with(|b| b.borrow().clone()),
        hook_kb as f64 / 1024.0,
        own_kb as f64 / 1024.0,
        text.len()
    );
    text
}

thread_local! {
    /// The gitsign binary the hook runs, for the report.
    static BUILD: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

fn run(env: &BTreeMap<String, String>) {
    let n = env_usize("BENCH_COMMITS", 100_000);
    let n_refs = env_usize("BENCH_REFS", 100_000);
    let signed_every = env_usize("BENCH_SIGNED_EVERY", 2);
    let message_bytes = env_usize("BENCH_MESSAGE_BYTES", 64);
    let large = std::env::var("BENCH_LARGE").is_ok_and(|v| v == "1");
    let bins: Vec<String> = std::env::var("BENCH_GITSIGN")
        .map(|v| v.split(':').map(str::to_string).collect())
        .unwrap_or_else(|_| vec![env!("CARGO_BIN_EXE_gitsign").to_string()]);
    let http = Http::new(Duration::from_secs(30)).unwrap();
    let root = TrustedRoot::from_file(Path::new(&env["GITSIGN_TRUSTED_ROOT"])).unwrap();
    let mut signer = Signer {
        fulcio: FulcioClient::new(&env["GITSIGN_FULCIO_URL"], http.clone()),
        rekor: RekorClient::new(&env["GITSIGN_REKOR_URL"], http),
        root,
        token: token(env),
        cred: None,
        uses: 0,
    };

    let dir = std::env::temp_dir().join(format!("gitsign-bench-hook-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let client = dir.join("client");
    let server = dir.join("server.git");
    git(
        &dir,
        &["init", "-q", "-b", "main", &client.display().to_string()],
    );
    git(
        &dir,
        &[
            "init",
            "-q",
            "--bare",
            "-b",
            "main",
            &server.display().to_string(),
        ],
    );
    let null = dir.join("empty");
    std::fs::write(&null, "").unwrap();
    for repo in [&client, &server] {
        assert_eq!(
            git(
                repo,
                &[
                    "hash-object",
                    "-w",
                    "-t",
                    "tree",
                    &null.display().to_string()
                ]
            ),
            EMPTY_TREE
        );
    }
    git(
        &client,
        &["remote", "add", "server", &server.display().to_string()],
    );

    // The server: a signed main and n_refs refs, half under main's rule,
    // half under the lax one, at commits of a history of their own.
    let t = Instant::now();
    let base_payload = format!(
        "tree {EMPTY_TREE}\nauthor Bench <{EMAIL}> 1690000000 +0000\ncommitter Bench <{EMAIL}> 1690000000 +0000\n\nbase\n"
    );
    let base_obj = signer.sign(&base_payload);
    let base_file = dir.join("base");
    std::fs::write(&base_file, &base_obj).unwrap();
    let base = git(
        &client,
        &[
            "hash-object",
            "-w",
            "--literally",
            "-t",
            "commit",
            &base_file.display().to_string(),
        ],
    );
    git(&client, &["update-ref", "refs/heads/main", &base]);
    git(&client, &["push", "-q", "server", "main"]);
    let mut stream = String::new();
    for i in 1..=n_refs {
        stream.push_str(&format!(
            "commit refs/heads/bulk\nmark :{i}\ncommitter Bulk <bulk@example.com> 1600000000 +0000\ndata <<END\nexisting {i}\nEND\nM 644 inline bulk.txt\ndata <<END\n{i}\nEND\n\n"
        ));
    }
    let marks = dir.join("marks");
    let stream_file = dir.join("stream");
    std::fs::write(&stream_file, stream).unwrap();
    git_stdin(
        &server,
        &[
            "fast-import",
            "--quiet",
            &format!("--export-marks={}", marks.display()),
        ],
        &stream_file,
    );
    let mut lines: Vec<String> = std::fs::read_to_string(&marks)
        .unwrap()
        .lines()
        .map(|l| {
            let (mark, id) = l.split_once(' ').unwrap();
            let i: usize = mark[1..].parse().unwrap();
            let prefix = if i % 2 == 0 { "keep" } else { "mixed/keep" };
            format!("{id} refs/heads/{prefix}/r{i:06}\n")
        })
        .collect();
    lines.push(format!("{base} refs/heads/main\n"));
    lines.sort_by(|a, b| a[41..].cmp(&b[41..]));
    let mut packed = String::from("# pack-refs with: peeled fully-peeled sorted \n");
    packed.extend(lines);
    std::fs::write(server.join("packed-refs"), packed).unwrap();
    let _ = std::fs::remove_file(server.join("refs/heads/main"));
    git(&server, &["update-ref", "-d", "refs/heads/bulk"]);
    let count = git(&server, &["for-each-ref", "--format=x"])
        .lines()
        .count();
    assert_eq!(count, n_refs + 1);
    let policy = format!(
        r#"version = 1

[signers.bench]
identity = "{EMAIL}"
issuer = "{}"

[[rules]]
refs = ["refs/heads/main", "refs/heads/keep/*"]
signers = ["bench"]

[[rules]]
refs = ["refs/heads/mixed/*"]
signers = ["bench"]
allow_unsigned = true
"#,
        env["GITSIGN_OIDC_ISSUER"]
    );
    std::fs::write(dir.join("policy.toml"), policy).unwrap();
    for (k, v) in [
        (
            "gitsign.policy",
            dir.join("policy.toml").display().to_string(),
        ),
        ("gitsign.trustedRoot", env["GITSIGN_TRUSTED_ROOT"].clone()),
        ("gitsign.rekor", env["GITSIGN_REKOR_URL"].clone()),
    ] {
        git(&server, &["config", k, &v]);
    }
    let stats = dir.join("hook-time");
    let hook = server.join("hooks/pre-receive");
    eprintln!(
        "bench: server with {} refs ready ({:.0} s)",
        n_refs + 1,
        t.elapsed().as_secs_f64()
    );

    // The pushed history.
    let t = Instant::now();
    let ids = chain(
        &client,
        &dir,
        &mut signer,
        &base,
        n,
        signed_every,
        message_bytes,
    );
    let tip = ids.last().unwrap().clone();
    git(&client, &["update-ref", "refs/heads/work", &tip]);
    let unsigned = if signed_every == 0 {
        n
    } else {
        n - n.div_ceil(signed_every)
    };
    println!(
        "{{\"bench\":\"hook-setup\",\"refs\":{},\"commits\":{n},\"unsigned\":{unsigned},\"message_bytes\":{message_bytes},\"seconds\":{:.1}}}",
        n_refs + 1,
        t.elapsed().as_secs_f64()
    );

    for bin in &bins {
        BUILD.with(|b| *b.borrow_mut() = bin.clone());
        std::fs::write(&hook, hook_script(bin, &stats)).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
        // 1,000 branches at 1,000 new commits, one push.
        let branches = 1000.min(n);
        let specs: Vec<String> = (0..branches)
            .map(|i| format!("{}:refs/heads/mixed/b{i:04}", ids[i]))
            .collect();
        push(
            "refs-1000",
            &client,
            &stats,
            &specs,
            true,
            &format!(",\"refs_pushed\":{branches},\"server_refs\":{}", n_refs + 1),
        );
        // The whole chain where unsigned commits are allowed: accepted.
        push(
            "push-accepted",
            &client,
            &stats,
            &[format!("{tip}:refs/heads/mixed/all")],
            true,
            &format!(",\"commits\":{n},\"message_bytes\":{message_bytes}"),
        );
        // The whole chain to main: refused, every unsigned commit counted.
        let out = push(
            "push-refused",
            &client,
            &stats,
            &[format!("{tip}:refs/heads/main")],
            unsigned == 0,
            &format!(",\"commits\":{n},\"unsigned\":{unsigned},\"message_bytes\":{message_bytes}"),
        );
        if unsigned > 0 {
            assert!(
                out.contains(&format!("push refused: {unsigned} problems")),
                "{}",
                &out[..out.len().min(2000)]
            );
        }
        if large {
            let t = Instant::now();
            let mut list = String::new();
            let mut parent = base.clone();
            let objects = dir.join("large");
            std::fs::create_dir_all(&objects).unwrap();
            let pad = "y".repeat(20 << 20);
            for i in 0..40 {
                let obj = format!(
                    "tree {EMPTY_TREE}\nparent {parent}\nauthor Bench <{EMAIL}> 1700000000 +0000\ncommitter Bench <{EMAIL}> 1700000000 +0000\n\nhuge {i} {pad}\n"
                );
                let id = gitobj::object_id(ObjectKind::Commit, obj.as_bytes(), HashAlgo::Sha1);
                let f = objects.join(&id);
                std::fs::File::create(&f)
                    .unwrap()
                    .write_all(obj.as_bytes())
                    .unwrap();
                list.push_str(&format!("{}\n", f.display()));
                parent = id;
            }
            let paths = dir.join("large-paths");
            std::fs::write(&paths, list).unwrap();
            let ids = store(&client, &paths);
            let _ = std::fs::remove_dir_all(&objects);
            eprintln!(
                "bench: 40 large commits written ({:.0} s)",
                t.elapsed().as_secs_f64()
            );
            let out = push(
                "large-messages",
                &client,
                &stats,
                &[format!("{}:refs/heads/main", ids.last().unwrap())],
                false,
                ",\"commits\":40,\"message_bytes\":20971520",
            );
            assert!(
                out.contains("push refused: 40 problems"),
                "{}",
                &out[..out.len().min(2000)]
            );
        }
        // Back to the server as it was, for the next build.
        let created: String = git(
            &server,
            &[
                "for-each-ref",
                "--format=delete %(refname)",
                "refs/heads/mixed/b*",
                "refs/heads/mixed/all",
            ],
        );
        if !created.is_empty() {
            let f = dir.join("deletes");
            std::fs::write(&f, created + "\n").unwrap();
            git_stdin(&server, &["update-ref", "--stdin"], &f);
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
