//! The virtual clock and event queue: events ordered by (time in ms, sequence number),
//! so two events at one instant keep the order they were scheduled in and a run is a
//! pure function of its seed.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// One queued event with its ordering key.
struct Entry<E> {
    at: u64,
    seq: u64,
    event: E,
}

impl<E> PartialEq for Entry<E> {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl<E> Eq for Entry<E> {}
impl<E> PartialOrd for Entry<E> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl<E> Ord for Entry<E> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

/// A discrete-event queue over virtual time.
pub struct Clock<E> {
    now: u64,
    seq: u64,
    queue: BinaryHeap<Reverse<Entry<E>>>,
}

impl<E> Default for Clock<E> {
    fn default() -> Self {
        Clock {
            now: 0,
            seq: 0,
            queue: BinaryHeap::new(),
        }
    }
}

impl<E> Clock<E> {
    /// Virtual time now, in ms.
    pub fn now(&self) -> u64 {
        self.now
    }

    /// Schedules `event` at `at` (never in the past: clamped to now).
    pub fn schedule(&mut self, at: u64, event: E) {
        self.seq += 1;
        self.queue.push(Reverse(Entry {
            at: at.max(self.now),
            seq: self.seq,
            event,
        }));
    }

    /// The next event due at or before `until`, advancing the clock to it.
    pub fn next_until(&mut self, until: u64) -> Option<E> {
        if self.queue.peek()?.0.at > until {
            return None;
        }
        let Reverse(e) = self.queue.pop()?;
        self.now = e.at;
        Some(e.event)
    }

    /// Events still queued.
    pub fn pending(&self) -> usize {
        self.queue.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_by_time_then_sequence() {
        let mut c = Clock::default();
        c.schedule(10, "b");
        c.schedule(5, "a");
        c.schedule(10, "c");
        let mut out = Vec::new();
        while let Some(e) = c.next_until(100) {
            out.push((c.now(), e));
        }
        assert_eq!(out, vec![(5, "a"), (10, "b"), (10, "c")]);
    }
}
