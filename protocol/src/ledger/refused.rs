//! Ids of refused records, remembered for a while (bounded, oldest forgotten first) so
//! they are neither verified nor fetched again.

use std::collections::VecDeque;

use crate::id::RecordId;
use crate::maps::Map;
use crate::reject::Reject;

/// A bounded memory of refusals.
pub struct RefusedCache {
    max: usize,
    reasons: Map<RecordId, Reject>,
    order: VecDeque<RecordId>,
}

impl RefusedCache {
    /// Remembers at most `max` refusals.
    pub fn new(max: usize) -> Self {
        RefusedCache {
            max: max.max(1),
            reasons: Map::default(),
            order: VecDeque::new(),
        }
    }

    /// Remembers that `id` was refused for `why`.
    pub fn insert(&mut self, id: RecordId, why: Reject) {
        if self.reasons.contains_key(&id) {
            return;
        }
        while self.reasons.len() >= self.max {
            match self.order.pop_front() {
                Some(old) => {
                    self.reasons.remove(&old);
                }
                None => break,
            }
        }
        self.order.push_back(id);
        self.reasons.insert(id, why);
    }

    /// Why `id` was refused, if it is remembered.
    pub fn get(&self, id: &RecordId) -> Option<&Reject> {
        self.reasons.get(id)
    }
}
