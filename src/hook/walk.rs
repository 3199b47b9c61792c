//! The commits one rule's walk yields, each with a pushed ref that reaches
//! it (for the refusal's wording). `git rev-list --topo-order --parents`
//! prints every commit before its parents, so a commit's ref is known when
//! it is printed (its own, if it is a pushed tip, else its first printed
//! child's) and only the walk's frontier is held: commits printed but
//! whose parents are not yet, plus parents the walk never prints (those
//! already accepted).

use std::collections::HashMap;

use crate::git::{GitError, RevList};

/// Ids from a walk, each with the index of a pushed ref that reaches it.
pub struct Attributed {
    walk: RevList,
    tips: HashMap<String, usize>,
    pending: HashMap<String, usize>,
}

impl Attributed {
    /// `tips`: each pushed tip's id and its update's index.
    pub fn new(walk: RevList, tips: HashMap<String, usize>) -> Attributed {
        Attributed {
            walk,
            tips,
            pending: HashMap::new(),
        }
    }
}

impl Iterator for Attributed {
    type Item = Result<(String, Option<usize>), GitError>;

    fn next(&mut self) -> Option<Self::Item> {
        let (id, parents) = match self.walk.next_with_parents() {
            Ok(Some(x)) => x,
            Ok(None) => return None,
            Err(e) => return Some(Err(e)),
        };
        let from_child = self.pending.remove(&id);
        let source = self.tips.get(&id).copied().or(from_child);
        if let Some(s) = source {
            for p in parents {
                self.pending.entry(p).or_insert(s);
            }
        }
        Some(Ok((id, source)))
    }
}
