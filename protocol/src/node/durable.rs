//! The durable-acknowledgement contract: what the node core hands its store, and what
//! waits for the store to say it holds it. A record the node merged, a payment one of
//! its wallets signed, and a payee's decision are acknowledged only once the batch that
//! carries them is durable; a wallet's next seq is durable before its record leaves.

use std::collections::VecDeque;

use crate::id::{AccountId, RecordId};
use crate::wallet::SeqStore;
use crate::wire;

/// What the store must write, in one synced write, before `persisted(ticket)`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PersistBatch {
    /// The batch's number; batches are numbered 1, 2, … in the order they are taken.
    pub ticket: u64,
    /// Records, as encoded `SignedRecord` bytes, dependencies first.
    pub records: Vec<(RecordId, Vec<u8>)>,
    /// Wallets' next seqs.
    pub seqs: Vec<(AccountId, u64)>,
}

impl PersistBatch {
    /// Whether the batch holds nothing.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty() && self.seqs.is_empty()
    }
}

/// A record one of this node's wallets signed, held back until it is durable.
#[derive(Debug, Clone)]
pub(super) struct Held {
    /// The batch that must be durable first.
    pub(super) ticket: u64,
    pub(super) payer: AccountId,
    pub(super) seq: u64,
    pub(super) record: wire::SignedRecord,
}

/// A payee's decision, waiting for the records it rests on to be durable.
#[derive(Debug, Clone)]
pub(super) struct Decision {
    pub(super) ticket: u64,
    pub(super) payment: RecordId,
    pub(super) payee: AccountId,
}

/// The queue between the node core and its store.
#[derive(Debug, Default)]
pub(super) struct Durable {
    /// Records and seqs queued since the last batch was taken.
    pending: PersistBatch,
    /// The last batch taken.
    taken: u64,
    /// Every batch up to this one is durable.
    durable: u64,
    pub(super) held: VecDeque<Held>,
    pub(super) decisions: VecDeque<Decision>,
}

impl Durable {
    /// Queues a record for the next batch.
    pub(super) fn queue_record(&mut self, id: RecordId, bytes: Vec<u8>) {
        self.pending.records.push((id, bytes));
    }

    /// The batch that must be durable before something queued now is acknowledged.
    pub(super) fn ticket_for_queued(&self) -> u64 {
        if self.pending.is_empty() {
            self.taken
        } else {
            self.taken + 1
        }
    }

    /// Whether everything up to `ticket` is durable.
    pub(super) fn is_durable(&self, ticket: u64) -> bool {
        ticket <= self.durable
    }

    /// Takes what is queued as the next batch.
    pub(super) fn take(&mut self) -> Option<PersistBatch> {
        if self.pending.is_empty() {
            return None;
        }
        self.taken += 1;
        let mut batch = std::mem::take(&mut self.pending);
        batch.ticket = self.taken;
        Some(batch)
    }

    /// The store holds every batch up to `ticket`.
    pub(super) fn persisted(&mut self, ticket: u64) {
        self.durable = self.durable.max(ticket.min(self.taken));
    }

    /// The last durable ticket.
    pub(super) fn durable_ticket(&self) -> u64 {
        self.durable
    }
}

/// The wallets' seq store inside the node core: a next seq goes into the next batch,
/// and the record signed with it is held until that batch is durable, so the seq is
/// durable before the record leaves the node.
impl SeqStore for Durable {
    type Error = std::convert::Infallible;
    fn persist_next_seq(&mut self, account: &AccountId, next: u64) -> Result<(), Self::Error> {
        self.pending.seqs.retain(|(a, _)| a != account);
        self.pending.seqs.push((*account, next));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tickets_count_taken_batches_and_durability_never_runs_ahead_of_them() {
        let mut d = Durable::default();
        assert_eq!(d.take(), None);
        assert_eq!(d.ticket_for_queued(), 0);
        d.queue_record(RecordId([1; 32]), vec![1]);
        assert_eq!(d.ticket_for_queued(), 1);
        let b = d.take().expect("queued");
        assert_eq!(b.ticket, 1);
        assert!(!d.is_durable(1));
        d.persisted(5);
        assert!(d.is_durable(1));
        assert!(!d.is_durable(2), "a batch not yet taken is never durable");
        d.persist_next_seq(&AccountId([2; 32]), 3).unwrap();
        d.persist_next_seq(&AccountId([2; 32]), 4).unwrap();
        let b = d.take().expect("queued");
        assert_eq!(
            b.seqs,
            vec![(AccountId([2; 32]), 4)],
            "only the latest seq per account"
        );
    }
}
