//! Values keyed by a chain position (seq), for an account's records and its canonical
//! chain. Seqs of an honest account run 1, 2, 3, ... and arrive mostly in order, so they
//! live in a vector indexed from the first seq seen; a seq far from that run (a hostile
//! record at seq 2^60, or one below the run) lives in an ordered map beside it. An
//! insert at the run's end is a push where an ordered tree took a descent of cache
//! misses.

use std::collections::BTreeMap;
use std::ops::{Bound, RangeBounds};

/// How far past the run's end a seq may land and still extend the run (the gap is
/// filled with empty slots, so this bounds what a far seq can make the vector grow by).
const MAX_GAP: u64 = 64;

/// Highest seq the run may cover, so its end never overflows.
const RUN_MAX: u64 = u64::MAX / 2;

/// An ordered map from seq to `V`.
#[derive(Clone, Debug)]
pub struct SeqMap<V> {
    /// Seq of `run[0]`.
    base: u64,
    /// Values for seqs `base..base + run.len()`; `None` where a seq holds nothing.
    run: Vec<Option<V>>,
    /// Values at seqs outside the run; never a seq inside it.
    outside: BTreeMap<u64, V>,
}

impl<V> Default for SeqMap<V> {
    fn default() -> Self {
        SeqMap {
            base: 0,
            run: Vec::new(),
            outside: BTreeMap::new(),
        }
    }
}

impl<V> SeqMap<V> {
    fn end(&self) -> u64 {
        self.base + self.run.len() as u64
    }

    /// The run's slot for `seq`, if the run covers it.
    fn slot(&self, seq: u64) -> Option<usize> {
        (seq >= self.base && seq < self.end()).then(|| (seq - self.base) as usize)
    }

    /// The value at `seq`.
    pub fn get(&self, seq: u64) -> Option<&V> {
        match self.slot(seq) {
            Some(i) => self.run[i].as_ref(),
            None => self.outside.get(&seq),
        }
    }

    /// Whether `seq` holds a value.
    pub fn contains(&self, seq: u64) -> bool {
        self.get(seq).is_some()
    }

    /// Makes the run cover `seq` if it is empty or `seq` lies at most [`MAX_GAP`] past
    /// its end, taking in any outside values the run grows over. Returns whether the run
    /// covers `seq` now.
    fn reach(&mut self, seq: u64) -> bool {
        if seq > RUN_MAX {
            return false;
        }
        if self.run.is_empty() {
            // The first seq the run may cover starts it (nothing is ever removed). Only
            // seqs above `RUN_MAX` can lie outside yet, and those stay above the run.
            self.base = seq;
            // Room for a short chain at once, rather than growing it step by step.
            self.run.reserve(8);
        }
        if self.slot(seq).is_some() {
            return true;
        }
        let end = self.end();
        if seq < end || seq - end > MAX_GAP {
            return false;
        }
        let keys: Vec<u64> = self.outside.range(end..=seq).map(|(k, _)| *k).collect();
        self.run
            .resize_with((seq - self.base + 1) as usize, || None);
        for k in keys {
            let v = self.outside.remove(&k);
            self.run[(k - self.base) as usize] = v;
        }
        true
    }

    /// Sets the value at `seq`; returns the one it replaces.
    pub fn insert(&mut self, seq: u64, value: V) -> Option<V> {
        if self.reach(seq) {
            let i = (seq - self.base) as usize;
            self.run[i].replace(value)
        } else {
            self.outside.insert(seq, value)
        }
    }

    /// The value at `seq`, made from `V::default()` if there was none.
    pub fn get_or_default(&mut self, seq: u64) -> &mut V
    where
        V: Default,
    {
        if self.reach(seq) {
            let i = (seq - self.base) as usize;
            self.run[i].get_or_insert_with(V::default)
        } else {
            self.outside.entry(seq).or_default()
        }
    }

    /// Every (seq, value), seq ascending.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (u64, &V)> + '_ {
        let below = self.outside.range(..self.base).map(|(k, v)| (*k, v));
        let run = self
            .run
            .iter()
            .enumerate()
            .filter_map(|(i, v)| v.as_ref().map(|v| (self.base + i as u64, v)));
        let above = self.outside.range(self.end()..).map(|(k, v)| (*k, v));
        below.chain(run).chain(above)
    }

    /// The seqs that hold a value, ascending.
    pub fn keys(&self) -> impl DoubleEndedIterator<Item = u64> + '_ {
        self.iter().map(|(k, _)| k)
    }

    /// The values, by seq ascending.
    pub fn values(&self) -> impl DoubleEndedIterator<Item = &V> + '_ {
        self.iter().map(|(_, v)| v)
    }

    /// The (seq, value) pairs with seq in `range`, ascending. Walks from the lowest seq:
    /// its callers (recounts and conservation) read a chain from its governing
    /// checkpoint on, most of it.
    pub fn range(&self, range: impl RangeBounds<u64>) -> impl Iterator<Item = (u64, &V)> + '_ {
        let (lo, hi) = (range.start_bound().cloned(), range.end_bound().cloned());
        self.iter()
            .skip_while(move |(k, _)| !(lo, Bound::Unbounded).contains(k))
            .take_while(move |(k, _)| (Bound::Unbounded, hi).contains(k))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Seqs an account may see: mostly a run from 1, some far, some huge.
    fn seq() -> impl Strategy<Value = u64> {
        prop_oneof![
            8 => 1u64..200,
            1 => 200u64..2_000,
            1 => Just(u64::MAX),
            1 => (u64::MAX - 100)..u64::MAX,
        ]
    }

    proptest! {
        #[test]
        fn behaves_as_an_ordered_map(
            ops in proptest::collection::vec((seq(), any::<u8>(), any::<bool>()), 0..300),
            lo in seq(),
            hi in seq(),
        ) {
            let mut m: SeqMap<u8> = SeqMap::default();
            let mut model: BTreeMap<u64, u8> = BTreeMap::new();
            for (s, v, by_default) in ops {
                if by_default {
                    let got = m.get_or_default(s);
                    let want = model.entry(s).or_insert(0u8);
                    prop_assert_eq!(*got, *want);
                    *got = got.wrapping_add(v);
                    *want = want.wrapping_add(v);
                } else {
                    prop_assert_eq!(m.insert(s, v), model.insert(s, v));
                }
                prop_assert_eq!(m.iter().count(), model.len());
            }
            let all: Vec<(u64, u8)> = m.iter().map(|(k, v)| (k, *v)).collect();
            let want: Vec<(u64, u8)> = model.iter().map(|(k, v)| (*k, *v)).collect();
            prop_assert_eq!(&all, &want);
            prop_assert_eq!(m.keys().next_back(), model.keys().next_back().copied());
            for s in [lo, hi, 0, 1, u64::MAX] {
                prop_assert_eq!(m.get(s), model.get(&s));
                prop_assert_eq!(m.contains(s), model.contains_key(&s));
            }
            let r: Vec<u64> = m.range(lo..=hi).map(|(k, _)| k).collect();
            let want_r: Vec<u64> = if lo <= hi {
                model.range(lo..=hi).map(|(k, _)| *k).collect()
            } else {
                Vec::new()
            };
            prop_assert_eq!(r, want_r);
            let r: Vec<u64> = m.range(lo..).map(|(k, _)| k).collect();
            let want_r: Vec<u64> = model.range(lo..).map(|(k, _)| *k).collect();
            prop_assert_eq!(r, want_r);
            let r: Vec<u64> = m.range(..=hi).map(|(k, _)| k).collect();
            let want_r: Vec<u64> = model.range(..=hi).map(|(k, _)| *k).collect();
            prop_assert_eq!(r, want_r);
        }
    }

    #[test]
    fn a_far_seq_does_not_grow_the_run() {
        let mut m = SeqMap::default();
        m.insert(1, ());
        m.insert(u64::MAX - 1, ());
        m.insert(1_000_000, ());
        assert_eq!(m.run.len(), 1);
        assert_eq!(
            m.keys().collect::<Vec<_>>(),
            vec![1, 1_000_000, u64::MAX - 1]
        );
    }
}
