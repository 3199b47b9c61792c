//! Replays inputs through a fuzz target, timing each one (files, or
//! directories read one level deep). It runs inside the fuzz binary (see
//! [`crate::init`]): coverage counters on, no sanitizer, no libFuzzer
//! loop, so a time here bounds the uninstrumented one from above. An input over the limit (50 ms by
//! default) is timed twice more and reported by its fastest run, so a busy
//! machine alone does not flag it; a panic is reported too.

use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Replays `paths` through `run`; true when no input panicked or took
/// longer than `limit`.
pub fn replay(target: &str, run: fn(&[u8]), paths: &[PathBuf], limit: Duration) -> bool {
    let mut inputs: Vec<PathBuf> = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut v: Vec<PathBuf> = std::fs::read_dir(p)
                .expect("read the corpus directory")
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.is_file())
                .collect();
            v.sort();
            inputs.extend(v);
        } else if p.is_file() {
            inputs.push(p.clone());
        }
    }
    // The root is parsed once, outside any input's time.
    let _ = crate::root();

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
    slow == 0 && panics == 0
}
