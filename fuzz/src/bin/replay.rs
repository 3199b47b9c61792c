//! Replays inputs through a fuzz target without libFuzzer's instrumentation
//! and times each one: `replay TARGET [--limit-ms N] PATH...` (files, or
//! directories read one level deep). An input over the limit (50 ms by
//! default) is timed twice more and reported by its fastest run, so a busy
//! machine alone does not flag it; a panic is reported too. Exits 1 on any
//! finding.

use std::path::PathBuf;
use std::time::{Duration, Instant};

fn main() {
    let mut args = std::env::args().skip(1);
    let usage = "usage: replay TARGET [--limit-ms N] PATH...";
    let target = args.next().expect(usage);
    let Some(&(_, run)) = gitsign_fuzz::TARGETS.iter().find(|(n, _)| *n == target) else {
        eprintln!("unknown target {target}; targets:");
        for (n, _) in gitsign_fuzz::TARGETS {
            eprintln!("  {n}");
        }
        std::process::exit(2);
    };
    let mut limit = Duration::from_millis(50);
    let mut inputs: Vec<PathBuf> = Vec::new();
    while let Some(a) = args.next() {
        if a == "--limit-ms" {
            let ms: u64 = args.next().and_then(|v| v.parse().ok()).expect(usage);
            limit = Duration::from_millis(ms);
            continue;
        }
        let p = PathBuf::from(a);
        if p.is_dir() {
            let mut v: Vec<PathBuf> = std::fs::read_dir(&p)
                .expect("read the corpus directory")
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.is_file())
                .collect();
            v.sort();
            inputs.extend(v);
        } else {
            inputs.push(p);
        }
    }
    // The root is parsed once, outside any input's time.
    let _ = gitsign_fuzz::root();

    let (mut slow, mut panics) = (0usize, 0usize);
    let mut total = Duration::ZERO;
    let mut slowest: Option<(Duration, PathBuf, usize)> = None;
    for path in &inputs {
        let data = std::fs::read(path).expect("read an input");
        let time_once = || {
            let t = Instant::now();
            let r = std::panic::catch_unwind(|| run(&data));
            (t.elapsed(), r.is_err())
        };
        let (mut took, panicked) = time_once();
        if panicked {
            panics += 1;
            println!("PANIC {}", path.display());
            continue;
        }
        if took > limit {
            for _ in 0..2 {
                took = took.min(time_once().0);
            }
            if took > limit {
                slow += 1;
                println!(
                    "SLOW {:.1} ms {} ({} bytes)",
                    took.as_secs_f64() * 1e3,
                    path.display(),
                    data.len()
                );
            }
        }
        total += took;
        if slowest.as_ref().is_none_or(|(d, _, _)| took > *d) {
            slowest = Some((took, path.clone(), data.len()));
        }
    }
    let (max, max_path, max_len) = slowest.unwrap_or_default();
    println!(
        "replay {target}: {} inputs, {:.2} s in all, slowest {:.2} ms ({}, {max_len} bytes), \
         {slow} over {} ms, {panics} panics",
        inputs.len(),
        total.as_secs_f64(),
        max.as_secs_f64() * 1e3,
        max_path.display(),
        limit.as_millis(),
    );
    if slow > 0 || panics > 0 {
        std::process::exit(1);
    }
}
