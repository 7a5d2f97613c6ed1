//! The record set behind the ledger: a grow-only set of valid records keyed by id. A
//! small trait, so the native set and an Automerge-backed one can be measured side by side.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::id::RecordId;
use crate::record::Record;

/// A grow-only set of records, iterable in id order.
pub trait RecordSet {
    /// Adds a record; `false` if its id was already present (the first one stays).
    fn insert(&mut self, record: Arc<Record>) -> bool;
    /// Whether the id is present.
    fn contains(&self, id: &RecordId) -> bool;
    /// The record with this id.
    fn get(&self, id: &RecordId) -> Option<Arc<Record>>;
    /// How many records.
    fn len(&self) -> usize;
    /// Whether the set is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Ids in ascending order.
    fn ids(&self) -> Box<dyn Iterator<Item = RecordId> + '_>;
}

/// The native set: an ordered map from id to record.
#[derive(Default, Clone)]
pub struct NativeSet {
    records: BTreeMap<RecordId, Arc<Record>>,
}

impl RecordSet for NativeSet {
    fn insert(&mut self, record: Arc<Record>) -> bool {
        use std::collections::btree_map::Entry;
        match self.records.entry(record.id()) {
            Entry::Occupied(_) => false,
            Entry::Vacant(v) => {
                v.insert(record);
                true
            }
        }
    }

    fn contains(&self, id: &RecordId) -> bool {
        self.records.contains_key(id)
    }

    fn get(&self, id: &RecordId) -> Option<Arc<Record>> {
        self.records.get(id).cloned()
    }

    fn len(&self) -> usize {
        self.records.len()
    }

    fn ids(&self) -> Box<dyn Iterator<Item = RecordId> + '_> {
        Box::new(self.records.keys().copied())
    }
}
