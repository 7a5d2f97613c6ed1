//! What one synced write holds: records in the order they entered the ledger, wallets'
//! next seqs and peer-book changes. The caller acknowledges all of it, or none.

use meshpay_protocol::{AccountId, Record, RecordId};
use prost::Message;

/// Changes to make durable together in one synced write.
#[derive(Clone, Debug, Default)]
pub struct WriteSet {
    /// (id, encoded `SignedRecord`), dependencies before what depends on them.
    pub(super) records: Vec<(RecordId, Vec<u8>)>,
    /// (account, next seq).
    pub(super) seqs: Vec<(AccountId, u64)>,
    /// (key, address), or (key, `None`) to forget the peer.
    pub(super) peers: Vec<(Vec<u8>, Option<Vec<u8>>)>,
}

impl WriteSet {
    /// An empty set.
    pub fn new() -> Self {
        WriteSet::default()
    }

    /// Adds a record the ledger admitted, encoded as it travels. Records must come in
    /// the order they entered the ledger: the store replays them in that order.
    pub fn record(&mut self, record: &Record) -> &mut Self {
        self.records
            .push((record.id(), record.to_signed().encode_to_vec()));
        self
    }

    /// Adds a record's encoded `SignedRecord` bytes exactly as received; `id` must be the
    /// hash of its body (a mismatch is reported as corruption when the store loads).
    pub fn record_bytes(&mut self, id: RecordId, encoded: Vec<u8>) -> &mut Self {
        self.records.push((id, encoded));
        self
    }

    /// Sets a wallet's next seq.
    pub fn next_seq(&mut self, account: AccountId, next: u64) -> &mut Self {
        self.seqs.push((account, next));
        self
    }

    /// Adds or replaces a peer-book entry.
    pub fn put_peer(&mut self, key: impl Into<Vec<u8>>, address: impl Into<Vec<u8>>) -> &mut Self {
        self.peers.push((key.into(), Some(address.into())));
        self
    }

    /// Removes a peer-book entry.
    pub fn remove_peer(&mut self, key: impl Into<Vec<u8>>) -> &mut Self {
        self.peers.push((key.into(), None));
        self
    }

    /// Records in the set.
    pub fn record_count(&self) -> usize {
        self.records.len()
    }

    /// Whether the set holds nothing to write.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty() && self.seqs.is_empty() && self.peers.is_empty()
    }

    /// Empties the set, keeping its allocations for the next group.
    pub fn clear(&mut self) {
        self.records.clear();
        self.seqs.clear();
        self.peers.clear();
    }
}
