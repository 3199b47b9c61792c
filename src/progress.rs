//! One line of progress for long work, redrawn in place on a terminal:
//! `gitsign verify` over a range, the server-side hook over a push. The
//! caller decides whether there is a terminal (this module reads neither
//! the environment nor file descriptors); without one, nothing is written.
//!
//! The line appears only once the work has taken [`FIRST_DRAW`], so quick
//! runs print nothing; it is redrawn at most every [`REDRAW`], kept shorter
//! than a terminal line (a wrapped line could not be redrawn in place), and
//! erased by [`Progress::hide`] before other output goes to the same
//! terminal and by [`Progress::finish`] at the end.

use std::io::Write;
use std::time::{Duration, Instant};

/// How long work runs before its progress line first appears.
pub const FIRST_DRAW: Duration = Duration::from_millis(300);

/// Least time between two redraws.
pub const REDRAW: Duration = Duration::from_millis(100);

/// Longest line drawn (a narrow terminal is 80 columns).
const MAX_WIDTH: usize = 79;

/// Moves to the start of the line and erases it.
const ERASE: &str = "\r\x1b[K";

/// How far the work is: `done` of `total` (when known) `unit`s, `failed`
/// of them failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Count {
    /// Items finished.
    pub done: u64,
    /// Items in all, once known.
    pub total: Option<u64>,
    /// Items that failed so far.
    pub failed: u64,
}

/// A progress line on `W` (a terminal), or nothing.
pub struct Progress<W: Write> {
    out: Option<W>,
    what: String,
    unit: Noun<'static>,
    failures: Noun<'static>,
    started: Instant,
    last: Option<Instant>,
    shown: bool,
}

impl<W: Write> Progress<W> {
    /// Progress of `what` ("verifying", "checking the push"), counted in
    /// `unit`s ("commits"), drawn on `out`; `None` draws nothing.
    pub fn new(out: Option<W>, what: &str, unit: &'static str) -> Progress<W> {
        Progress {
            out,
            what: what.to_string(),
            unit: Noun {
                singular: unit,
                plural: unit,
            },
            failures: Noun::FAILED,
            started: Instant::now(),
            last: None,
            shown: false,
        }
    }

    /// Names failures `singular`/`plural` ("problem"/"problems") instead
    /// of "failed".
    pub fn failures_named(mut self, singular: &'static str, plural: &'static str) -> Self {
        self.failures = Noun { singular, plural };
        self
    }

    /// Names one unit `singular` ("1 object") and more `plural`, instead
    /// of the plural for every count.
    pub fn units_named(mut self, singular: &'static str, plural: &'static str) -> Self {
        self.unit = Noun { singular, plural };
        self
    }

    /// True when a line may be drawn (there is a terminal).
    pub fn enabled(&self) -> bool {
        self.out.is_some()
    }

    /// Redraws the line with `count` when it is due.
    pub fn update(&mut self, count: Count) {
        self.update_at(count, Instant::now());
    }

    fn update_at(&mut self, count: Count, now: Instant) {
        if self.out.is_none() || now.duration_since(self.started) < FIRST_DRAW {
            return;
        }
        if self.last.is_some_and(|t| now.duration_since(t) < REDRAW) {
            return;
        }
        let line = render_with(
            &self.what,
            self.unit,
            self.failures,
            count,
            now.duration_since(self.started),
        );
        self.last = Some(now);
        self.write(&format!("{ERASE}{line}"));
        self.shown = true;
    }

    /// Erases the line if it is shown (before other output reaches the
    /// same terminal); the next update that is due draws it again.
    pub fn hide(&mut self) {
        if self.shown {
            self.write(ERASE);
            self.shown = false;
        }
    }

    /// Erases the line for good.
    pub fn finish(&mut self) {
        self.hide();
        self.out = None;
    }

    fn write(&mut self, s: &str) {
        if let Some(o) = self.out.as_mut() {
            // A terminal that went away: stop drawing, keep working.
            if o.write_all(s.as_bytes()).and_then(|()| o.flush()).is_err() {
                self.out = None;
                self.shown = false;
            }
        }
    }
}

impl<W: Write> Drop for Progress<W> {
    fn drop(&mut self) {
        self.hide();
    }
}

/// `12345` as `12,345`.
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A duration as `42 s`, `3 min 05 s` or `2 h 07 min`.
pub fn duration(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=59 => format!("{s} s"),
        60..=3599 => format!("{} min {:02} s", s / 60, s % 60),
        _ => format!("{} h {:02} min", s / 3600, (s % 3600) / 60),
    }
}

/// A word for a count: the units counted, or the failures among them.
#[derive(Debug, Clone, Copy)]
struct Noun<'a> {
    singular: &'a str,
    plural: &'a str,
}

impl<'a> Noun<'a> {
    /// Failures, unless named: "3 failed".
    const FAILED: Noun<'static> = Noun {
        singular: "failed",
        plural: "failed",
    };

    /// The word for `n` of them.
    fn of(&self, n: u64) -> &'a str {
        if n == 1 {
            self.singular
        } else {
            self.plural
        }
    }
}

/// The line: `gitsign: verifying: 1,234/10,000 commits (12%), 3 failed,
/// 8 s left`.
pub fn render(what: &str, unit: &str, c: Count, elapsed: Duration) -> String {
    let unit = Noun {
        singular: unit,
        plural: unit,
    };
    render_with(what, unit, Noun::FAILED, c, elapsed)
}

fn render_with(what: &str, unit: Noun<'_>, f: Noun<'_>, c: Count, elapsed: Duration) -> String {
    let mut line = format!("gitsign: {what}: {}", thousands(c.done));
    match c.total {
        Some(t) if t >= c.done && t > 0 => {
            line.push_str(&format!(
                "/{} {} ({}%)",
                thousands(t),
                unit.of(t),
                c.done * 100 / t
            ));
        }
        _ => line.push_str(&format!(" {}", unit.of(c.done))),
    }
    if c.failed > 0 {
        line.push_str(&format!(", {} {}", thousands(c.failed), f.of(c.failed)));
    }
    match c.total {
        Some(t) if t > c.done && c.done > 0 => {
            let left = elapsed.as_secs_f64() * (t - c.done) as f64 / c.done as f64;
            line.push_str(&format!(
                ", {} left",
                duration(Duration::from_secs_f64(left.ceil()))
            ));
        }
        _ => line.push_str(&format!(", {}", duration(elapsed))),
    }
    if line.chars().count() > MAX_WIDTH {
        line = line.chars().take(MAX_WIDTH - 1).collect();
        line.push('…');
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counts_totals_and_time() {
        let c = Count {
            done: 1234,
            total: Some(10_000),
            failed: 3,
        };
        assert_eq!(
            render("verifying", "commits", c, Duration::from_secs(2)),
            "gitsign: verifying: 1,234/10,000 commits (12%), 3 failed, 15 s left"
        );
        let c = Count {
            done: 7,
            total: None,
            failed: 0,
        };
        assert_eq!(
            render("checking the push", "commits", c, Duration::from_secs(75)),
            "gitsign: checking the push: 7 commits, 1 min 15 s"
        );
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(duration(Duration::from_secs(7300)), "2 h 01 min");
        let one = Count {
            done: 9,
            total: None,
            failed: 1,
        };
        let f = Noun {
            singular: "problem",
            plural: "problems",
        };
        let objects = Noun {
            singular: "object",
            plural: "objects",
        };
        let render_objects =
            |c| render_with("checking the push", objects, f, c, Duration::from_secs(3));
        assert_eq!(
            render_objects(one),
            "gitsign: checking the push: 9 objects, 1 problem, 3 s"
        );
        let c = Count {
            done: 1,
            total: None,
            failed: 2,
        };
        assert_eq!(
            render_objects(c),
            "gitsign: checking the push: 1 object, 2 problems, 3 s"
        );
        let c = Count {
            done: 0,
            total: Some(1),
            failed: 0,
        };
        assert_eq!(
            render_objects(c),
            "gitsign: checking the push: 0/1 object (0%), 3 s"
        );
        let long = render(
            &"x".repeat(200),
            "commits",
            Count::default(),
            Duration::ZERO,
        );
        assert_eq!(long.chars().count(), MAX_WIDTH);
    }

    #[test]
    fn draws_late_seldom_and_erases() {
        let mut p = Progress::new(Some(Vec::new()), "verifying", "commits");
        let t0 = p.started;
        let c = |done| Count {
            done,
            total: Some(100),
            failed: 0,
        };
        p.update_at(c(1), t0 + Duration::from_millis(10));
        assert!(
            p.out.as_ref().unwrap().is_empty(),
            "drawn before FIRST_DRAW"
        );
        p.update_at(c(2), t0 + FIRST_DRAW);
        p.update_at(c(3), t0 + FIRST_DRAW + Duration::from_millis(10));
        p.update_at(c(4), t0 + FIRST_DRAW + REDRAW);
        p.hide();
        let out = String::from_utf8(p.out.take().unwrap()).unwrap();
        assert!(out.contains(" 2/100"), "{out:?}");
        assert!(!out.contains(" 3/100"), "redrawn too soon: {out:?}");
        assert!(out.contains(" 4/100"), "{out:?}");
        assert!(out.ends_with(ERASE), "{out:?}");

        let mut off = Progress::<Vec<u8>>::new(None, "verifying", "commits");
        off.update_at(c(1), off.started + Duration::from_secs(5));
        off.finish();
        assert!(!off.enabled());
    }
}
