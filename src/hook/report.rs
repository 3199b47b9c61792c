//! What a hook found, bounded: a push may bring a million problems, each
//! naming a commit with a subject of tens of MiB, but the report keeps the
//! first [`MAX_LISTED`] problems and warnings (subjects already cut by
//! [`crate::git::gitobj::subject`]) and only counts the rest, so its memory
//! does not grow with the push.

use crate::git::gitobj::ObjectKind;

/// Most problems (and warnings) a report keeps and a refusal lists one by
/// one; the count is always complete.
pub const MAX_LISTED: usize = 50;

/// A reason to refuse the push.
#[derive(Debug, Clone)]
pub struct Rejection {
    /// The ref, as the refusal names it (with the ref it updates, when
    /// that is another).
    pub ref_name: String,
    /// The offending object, when there is one: id, kind, subject.
    pub object: Option<(String, ObjectKind, String)>,
    /// Why.
    pub reason: String,
}

/// What the hook found.
#[derive(Debug, Default)]
pub struct Report {
    /// The first [`MAX_LISTED`] problems; the push is refused when
    /// [`Report::problems`] is not zero.
    pub rejections: Vec<Rejection>,
    /// How many problems there were in all.
    pub problems: usize,
    /// The first [`MAX_LISTED`] warnings (accepted, but worth saying).
    pub warnings: Vec<String>,
    /// How many warnings there were in all.
    pub warning_count: usize,
    /// Objects verified.
    pub checked: usize,
}

impl Report {
    /// Records a problem (kept when fewer than [`MAX_LISTED`] are).
    pub fn reject(&mut self, r: Rejection) {
        self.problems += 1;
        if self.rejections.len() < MAX_LISTED {
            self.rejections.push(r);
        }
    }

    /// Records a problem with a ref, not with one object.
    pub fn reject_ref(&mut self, ref_name: &str, reason: String) {
        self.reject(Rejection {
            ref_name: ref_name.to_string(),
            object: None,
            reason,
        });
    }

    /// Records a warning (kept when fewer than [`MAX_LISTED`] are).
    pub fn warn(&mut self, w: String) {
        self.warning_count += 1;
        if self.warnings.len() < MAX_LISTED {
            self.warnings.push(w);
        }
    }

    /// True when the push may go through.
    pub fn accepted(&self) -> bool {
        self.problems == 0
    }
}

/// The message printed when a push is refused.
pub fn rejection_text(report: &Report) -> Vec<String> {
    let mut out = vec![format!(
        "push refused: {} problem{} (gitsign signing policy)",
        report.problems,
        if report.problems == 1 { "" } else { "s" }
    )];
    for r in &report.rejections {
        match &r.object {
            Some((id, kind, subject)) => out.push(format!(
                "  {}: {} {} \"{}\": {}",
                r.ref_name,
                kind.name(),
                &id[..12.min(id.len())],
                subject,
                r.reason
            )),
            None => out.push(format!("  {}: {}", r.ref_name, r.reason)),
        }
    }
    if report.problems > report.rejections.len() {
        out.push(format!(
            "  ... and {} more (the first {} are listed)",
            report.problems - report.rejections.len(),
            report.rejections.len()
        ));
    }
    // Problems with refs (a deletion, a rewrite, a name) say their own fix;
    // problems with objects share this one.
    if report.rejections.iter().any(|r| r.object.is_some()) {
        out.push(
        "to fix: sign the commits (git rebase --exec 'git commit --amend --no-edit -S' <base>) or tags (git tag -s), \
         by a signer the policy allows, and push again"
            .into(),
        );
    }
    out
}

/// The warnings to print, with a count of those not listed.
pub fn warning_text(report: &Report) -> Vec<String> {
    let mut out: Vec<String> = report
        .warnings
        .iter()
        .map(|w| format!("warning: {w}"))
        .collect();
    if report.warning_count > report.warnings.len() {
        out.push(format!(
            "warning: ... and {} more warnings (the first {} are listed)",
            report.warning_count - report.warnings.len(),
            report.warnings.len()
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_keep_a_bounded_list_and_a_full_count() {
        let mut r = Report::default();
        for i in 0..100_000 {
            r.reject(Rejection {
                ref_name: "refs/heads/main".into(),
                object: Some((format!("{i:040}"), ObjectKind::Commit, "s".into())),
                reason: "not signed".into(),
            });
            r.warn(format!("w{i}"));
        }
        assert_eq!(r.rejections.len(), MAX_LISTED);
        assert_eq!(r.problems, 100_000);
        assert_eq!(r.warnings.len(), MAX_LISTED);
        let text = rejection_text(&r);
        assert_eq!(text.len(), MAX_LISTED + 3);
        assert!(text[0].contains("100000 problems"));
        assert!(text[MAX_LISTED + 1].contains("... and 99950 more (the first 50 are listed)"));
        assert!(warning_text(&r)
            .last()
            .unwrap()
            .contains("99950 more warnings"));
        assert!(!r.accepted());
    }

    /// Exactly as many problems and warnings as are listed: every one is
    /// shown, with no "... and 0 more" line.
    #[test]
    fn a_full_list_says_no_more() {
        let mut r = Report::default();
        for i in 0..MAX_LISTED {
            r.reject_ref("refs/heads/main", format!("reason {i}"));
            r.warn(format!("w{i}"));
        }
        let text = rejection_text(&r);
        assert_eq!(text.len(), MAX_LISTED + 1, "{text:?}");
        assert!(!text.iter().any(|l| l.contains("more")), "{text:?}");
        let warnings = warning_text(&r);
        assert_eq!(warnings.len(), MAX_LISTED, "{warnings:?}");
        assert!(!warnings.iter().any(|l| l.contains("more")), "{warnings:?}");
    }
}
