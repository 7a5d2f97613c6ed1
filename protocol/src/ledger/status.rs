//! What the ledger derives about a record and what an operation changed.

use serde::Serialize;

use crate::id::{AccountId, RecordId};
use crate::reject::Reject;

/// A record's standing in the derived state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Takes effect.
    Canonical,
    /// Valid and kept, but takes no effect.
    Void(VoidReason),
}

/// Why a valid record takes no effect; when several apply, the first listed wins.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum VoidReason {
    /// Above a revocation of its signer.
    Revoked,
    /// One of several records at one seq that no checkpoint decides between.
    Fork,
    /// Builds on a void record.
    AfterVoid,
}

impl Status {
    /// Whether the record takes effect.
    pub fn is_canonical(self) -> bool {
        self == Status::Canonical
    }

    /// Stable byte for digests.
    pub(crate) fn code(self) -> u8 {
        match self {
            Status::Canonical => 0,
            Status::Void(VoidReason::Revoked) => 1,
            Status::Void(VoidReason::Fork) => 2,
            Status::Void(VoidReason::AfterVoid) => 3,
        }
    }

    /// Short lowercase label for people.
    pub fn label(self) -> &'static str {
        match self {
            Status::Canonical => "canonical",
            Status::Void(VoidReason::Revoked) => "void: revoked",
            Status::Void(VoidReason::Fork) => "void: fork",
            Status::Void(VoidReason::AfterVoid) => "void: after void",
        }
    }
}

/// What one `insert` or `merge` changed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Changes {
    /// Records that entered the set, in the order they entered.
    pub added: Vec<RecordId>,
    /// Records whose status became canonical (new ones included).
    pub canonical: Vec<RecordId>,
    /// Records that were canonical and became void.
    pub voided: Vec<RecordId>,
    /// (account, seq) places where a fork became known.
    pub conflicts: Vec<(AccountId, u64)>,
    /// Records now waiting in the orphan pool.
    pub orphaned: Vec<RecordId>,
    /// Orphans evicted to make room.
    pub evicted: Vec<RecordId>,
    /// Records refused, with the rule they broke.
    pub refused: Vec<(RecordId, Reject)>,
    /// Records already known (in the set, waiting, or refused before), skipped unchecked.
    pub known: usize,
}

impl Changes {
    /// Whether nothing happened.
    pub fn is_empty(&self) -> bool {
        *self == Changes::default()
    }

    /// Adds what a later operation changed. The caller filters `orphaned` afterwards:
    /// a record orphaned by one operation may have entered in a later one.
    #[cfg(feature = "parallel")]
    pub(crate) fn append(&mut self, later: Changes) {
        self.added.extend(later.added);
        self.canonical.extend(later.canonical);
        self.voided.extend(later.voided);
        self.conflicts.extend(later.conflicts);
        self.orphaned.extend(later.orphaned);
        self.evicted.extend(later.evicted);
        self.refused.extend(later.refused);
        self.known += later.known;
    }
}
