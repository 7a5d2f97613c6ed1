//! The record set behind the ledger: a grow-only set of valid records keyed by id, as
//! the sync engine lists it (in id order) or a document holds it. The ledger keeps the
//! records themselves and answers lookups by id; a small trait, so the native set and an
//! Automerge-backed one can be measured side by side.

use std::sync::{Arc, Mutex};

use crate::id::RecordId;
use crate::record::Record;

/// A grow-only set of records, iterable in id order.
pub trait RecordSet {
    /// Adds a record the set does not hold yet (the ledger inserts each id once).
    fn insert(&mut self, record: &Arc<Record>);
    /// Room for `n` more records, when a large merge starts.
    fn reserve(&mut self, _n: usize) {}
    /// How many records.
    fn len(&self) -> usize;
    /// Whether the set is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Ids in ascending order.
    fn ids(&self) -> Box<dyn Iterator<Item = RecordId> + '_>;
}

/// The native set: the ids in ascending order, sorted when asked for (the records
/// themselves are in the ledger's arena). Ids arriving between two listings wait
/// unsorted and are merged in at the next one, so an insert is a push rather than an
/// ordered-tree descent.
#[derive(Default)]
pub struct NativeSet {
    len: usize,
    order: Mutex<Order>,
}

/// The ids in ascending order as of the last listing, and those inserted since.
#[derive(Default, Clone)]
struct Order {
    sorted: Arc<Vec<RecordId>>,
    fresh: Vec<RecordId>,
}

impl Order {
    /// Sorts the fresh ids into the listing.
    fn catch_up(&mut self) -> Arc<Vec<RecordId>> {
        if !self.fresh.is_empty() {
            self.fresh.sort_unstable();
            // Two sorted runs: the stable sort finds them and merges them in linear time.
            let sorted = Arc::make_mut(&mut self.sorted);
            sorted.append(&mut self.fresh);
            sorted.sort();
        }
        self.sorted.clone()
    }
}

impl Clone for NativeSet {
    fn clone(&self) -> Self {
        NativeSet {
            len: self.len,
            order: Mutex::new(self.lock().clone()),
        }
    }
}

impl NativeSet {
    fn lock(&self) -> std::sync::MutexGuard<'_, Order> {
        // The order holds no invariant a panic could break halfway: a poisoned lock is
        // still a good listing.
        self.order.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl RecordSet for NativeSet {
    fn insert(&mut self, record: &Arc<Record>) {
        self.len += 1;
        self.order
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .fresh
            .push(record.id());
    }

    fn reserve(&mut self, n: usize) {
        self.order
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .fresh
            .reserve(n);
    }

    fn len(&self) -> usize {
        self.len
    }

    fn ids(&self) -> Box<dyn Iterator<Item = RecordId> + '_> {
        let sorted = self.lock().catch_up();
        Box::new((0..sorted.len()).map(move |i| sorted[i]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::parse;
    use crate::testkit::World;

    #[test]
    fn ids_come_in_ascending_order_across_listings() {
        let records: Vec<Record> = World::new(1)
            .some_records(40)
            .into_iter()
            .map(|s| parse(s).expect("parses").into_trusted())
            .collect();
        let mut set = NativeSet::default();
        let mut want = Vec::new();
        for chunk in records.chunks(7) {
            for r in chunk {
                set.insert(&Arc::new(r.clone()));
                want.push(r.id());
            }
            want.sort();
            assert_eq!(set.ids().collect::<Vec<_>>(), want);
        }
        let copy = set.clone();
        assert_eq!(copy.ids().collect::<Vec<_>>(), want);
        assert_eq!(copy.len(), want.len());
    }
}
