//! Records that passed the checks they can pass alone but wait for dependencies: kept
//! outside the set (not relayed, not in the digest), bounded, oldest evicted first.

use std::collections::VecDeque;

use crate::id::RecordId;
use crate::maps::Map;
use crate::record::Record;
use std::sync::Arc;

/// The bounded pool of records waiting for dependencies.
pub struct OrphanPool {
    max: usize,
    waiting: Map<RecordId, Orphan>,
    /// Arrival order, for eviction; may hold ids already gone.
    order: VecDeque<RecordId>,
    /// dependency id -> orphans that wait for it; may hold ids already gone.
    dependents: Map<RecordId, Vec<RecordId>>,
}

struct Orphan {
    record: Arc<Record>,
    missing: Vec<RecordId>,
}

impl OrphanPool {
    /// A pool holding at most `max` records.
    pub fn new(max: usize) -> Self {
        OrphanPool {
            max: max.max(1),
            waiting: Map::default(),
            order: VecDeque::new(),
            dependents: Map::default(),
        }
    }

    /// How many records wait.
    pub fn len(&self) -> usize {
        self.waiting.len()
    }

    /// Whether this id waits here.
    pub fn contains(&self, id: &RecordId) -> bool {
        self.waiting.contains_key(id)
    }

    /// What a waiting record still misses.
    pub fn missing(&self, id: &RecordId) -> Option<&[RecordId]> {
        self.waiting.get(id).map(|o| o.missing.as_slice())
    }

    /// Every missing dependency of every waiting record, to request from peers.
    pub fn wanted(&self) -> Vec<RecordId> {
        let mut w: Vec<RecordId> = self
            .waiting
            .values()
            .flat_map(|o| o.missing.iter().copied())
            .filter(|id| !self.waiting.contains_key(id))
            .collect();
        w.sort();
        w.dedup();
        w
    }

    /// Adds a record waiting for `missing`; returns the ids evicted to make room.
    pub fn insert(&mut self, record: Arc<Record>, missing: Vec<RecordId>) -> Vec<RecordId> {
        let id = record.id();
        if self.waiting.contains_key(&id) {
            return Vec::new();
        }
        let mut evicted = Vec::new();
        while self.waiting.len() >= self.max {
            match self.order.pop_front() {
                Some(old) => {
                    if self.waiting.remove(&old).is_some() {
                        evicted.push(old);
                    }
                }
                None => break,
            }
        }
        for m in &missing {
            self.dependents.entry(*m).or_default().push(id);
        }
        self.order.push_back(id);
        self.waiting.insert(id, Orphan { record, missing });
        self.compact();
        evicted
    }

    /// A dependency arrived: returns the records that now miss nothing, removed from the pool.
    pub fn arrived(&mut self, dep: &RecordId) -> Vec<Arc<Record>> {
        // Asked for every record that enters; a removal hashes even from an empty map.
        if self.dependents.is_empty() {
            return Vec::new();
        }
        let Some(ids) = self.dependents.remove(dep) else {
            return Vec::new();
        };
        let mut ready = Vec::new();
        for id in ids {
            let done = match self.waiting.get_mut(&id) {
                Some(o) => {
                    o.missing.retain(|m| m != dep);
                    o.missing.is_empty()
                }
                None => false,
            };
            if done {
                ready.push(self.waiting.remove(&id).expect("present").record);
            }
        }
        ready
    }

    /// A dependency was refused: removes and returns the records that waited for it.
    pub fn refused(&mut self, dep: &RecordId) -> Vec<RecordId> {
        let Some(ids) = self.dependents.remove(dep) else {
            return Vec::new();
        };
        ids.into_iter()
            .filter(|id| self.waiting.remove(id).is_some())
            .collect()
    }

    /// Drops stale bookkeeping once it outgrows the live entries.
    fn compact(&mut self) {
        if self.order.len() > 2 * self.max + 16 {
            let waiting = &self.waiting;
            self.order.retain(|id| waiting.contains_key(id));
            self.dependents.retain(|_, v| {
                v.retain(|id| waiting.contains_key(id));
                !v.is_empty()
            });
        }
    }
}
