//! A simulated node: the protocol's node core (ledger, engines, reassembly, wallets,
//! request book, durable-acknowledgement contract) driven by the world, beside what is
//! the world's and not the node's: its place in the network, its LoRa radio's hand, and
//! its simulated durable store (DESIGN §6: a record is acknowledged once the store holds
//! it; a crash loses only what it did not hold yet).

use std::collections::{HashMap, HashSet, VecDeque};

use meshpay_protocol::node::{LinkConfig, LinkId, NodeCore, PersistBatch};
use meshpay_protocol::radio::fragment::ReassemblyConfig;
use meshpay_protocol::record::{self, Record};
use meshpay_protocol::sync::SyncConfig;
use meshpay_protocol::{AccountId, Ledger, RecordId, wire};
use rand_chacha::ChaCha20Rng;

use crate::scenario::LinkKind;

/// One simulated node.
pub struct Node {
    /// Index in the world.
    pub index: usize,
    /// Its group (partition side).
    pub group: usize,
    /// The node core: the same code the daemon drives.
    pub core: NodeCore,
    /// The broadcast medium it is on, if any.
    pub medium: Option<u64>,
    /// The durable store.
    pub store_model: DurableStore,
    /// Whether the node is down.
    pub crashed: bool,
    /// Incarnation: bumped by each restart and move, so fresh engines get fresh seeds.
    pub epoch: u64,
    /// The ledger's state digest, kept current by the world after each change to the
    /// ledger: computing it is O(records), and the checks and samples ask for every
    /// node's digest far more often than ledgers change.
    pub digest: [u8; 32],
    /// The digest at which conservation last held, so an unchanged ledger is not
    /// rechecked (the check is O(records) too).
    pub conserved_at: Option<[u8; 32]>,
    /// The radio: a message waiting for its backoff slot, the channel or the budget.
    pub radio: Radio,
}

/// A node's LoRa radio: one message in hand at a time (its airtime budget is the core's).
#[derive(Default)]
pub struct Radio {
    /// The message waiting to go out.
    pub pending: Option<Vec<u8>>,
    /// Bumped whenever a send attempt is scheduled or abandoned: an attempt whose
    /// number is not the current one is stale (the node crashed or moved since).
    pub attempt: u64,
}

impl Radio {
    /// Forgets the message in hand; an attempt already scheduled becomes stale.
    pub fn reset(&mut self) {
        self.pending = None;
        self.attempt += 1;
    }
}

/// The simulated durable store: batches written in the order the core handed them (so a
/// record's dependencies are never written after it) once the write delay has passed.
#[derive(Default)]
pub struct DurableStore {
    /// Written records, in write order, as encoded `SignedRecord` bytes.
    written: Vec<(RecordId, Vec<u8>)>,
    /// Ids of `written`, to skip rewrites.
    ids: HashSet<RecordId>,
    /// Wallets' next seqs as written.
    seqs: HashMap<AccountId, u64>,
    /// Batches taken but not yet durable: (due ms, batch).
    pending: VecDeque<(u64, PersistBatch)>,
    /// Bytes written.
    bytes: u64,
}

impl DurableStore {
    /// Queues a batch for writing at `due` (ms).
    pub fn queue(&mut self, due: u64, batch: PersistBatch) {
        self.pending.push_back((due, batch));
    }

    /// Writes every batch due by `now` (all of them with `u64::MAX`: an fsync); returns
    /// the last ticket written, if any was.
    pub fn write_due(&mut self, now: u64) -> Option<u64> {
        let mut last = None;
        while self.pending.front().is_some_and(|(due, _)| *due <= now) {
            let (_, batch) = self.pending.pop_front().expect("peeked");
            for (id, bytes) in batch.records {
                if self.ids.insert(id) {
                    self.bytes += bytes.len() as u64;
                    self.written.push((id, bytes));
                }
            }
            self.seqs.extend(batch.seqs);
            last = Some(batch.ticket);
        }
        last
    }

    /// Ids of every acknowledged record.
    pub fn acknowledged_ids(&self) -> impl Iterator<Item = &RecordId> + '_ {
        self.written.iter().map(|(id, _)| id)
    }

    /// A wallet's persisted next seq (1 when it never signed).
    pub fn next_seq(&self, account: &AccountId) -> u64 {
        self.seqs.get(account).copied().unwrap_or(1)
    }

    /// Records and bytes held.
    pub fn size(&self) -> (usize, u64) {
        (self.written.len(), self.bytes)
    }

    /// A crash: every batch not yet written is gone. Returns how many records that was.
    pub fn crash(&mut self) -> usize {
        let lost = self.pending.iter().map(|(_, b)| b.records.len()).sum();
        self.pending.clear();
        lost
    }

    /// Reads the store back for a restart: the records parse as they were written and
    /// are trusted (this node verified them before writing them).
    pub fn read_back(&self) -> Result<Vec<Record>, meshpay_protocol::Reject> {
        self.written
            .iter()
            .map(|(_, bytes)| {
                let signed: wire::SignedRecord = record::decode_signed(bytes)?;
                Ok(record::parse(signed)?.into_trusted())
            })
            .collect()
    }
}

impl Node {
    /// A node with a core over `ledger` and no links yet.
    pub fn new(index: usize, group: usize, ledger: Ledger, verify_rng: ChaCha20Rng) -> Self {
        let digest = ledger.state_digest();
        Node {
            digest,
            conserved_at: None,
            index,
            group,
            core: NodeCore::new(ledger, verify_rng),
            medium: None,
            store_model: DurableStore::default(),
            crashed: false,
            epoch: 0,
            radio: Radio::default(),
        }
    }

    /// The ledger.
    pub fn ledger(&self) -> &Ledger {
        self.core.ledger()
    }

    /// Replaces the ledger (a restart) and refreshes the cached digest.
    pub fn set_ledger(&mut self, ledger: Ledger) {
        self.core.set_ledger(ledger);
        self.digest = self.core.ledger().state_digest();
    }

    /// Records and bytes its ledger holds (bytes as they travel).
    pub fn ledger_size(&self) -> (usize, u64) {
        let ledger = self.core.ledger();
        let bytes = ledger
            .records_in_dependency_order()
            .iter()
            .map(|r| r.encoded_len() as u64)
            .sum();
        (ledger.len(), bytes)
    }

    /// Opens the link for `kind` (with that kind's config, frames cut to `mtu`),
    /// its engine seeded with `seed` when it is new.
    pub fn open_link(&mut self, kind: LinkKind, mtu: usize, seed: [u8; 32]) {
        let sync = match kind {
            LinkKind::Lan => SyncConfig::default(),
            LinkKind::Lora => SyncConfig::lora(),
            LinkKind::Ble => SyncConfig::ble(),
        };
        let config = LinkConfig {
            sync,
            mtu,
            reassembly: ReassemblyConfig::default(),
            // The simulator's links relay what they hear: its LANs are not full meshes.
            relay: true,
        };
        self.core
            .open_link(link_id(kind), config, seed)
            .expect("built-in configs are valid");
    }
}

/// The core's link number for a link kind; ordered as the kinds are, so the core visits
/// links in the order the simulator always has.
pub fn link_id(kind: LinkKind) -> LinkId {
    LinkId(kind as u8)
}

/// The link kind behind a core's link number.
pub fn link_kind(link: LinkId) -> LinkKind {
    match link.0 {
        0 => LinkKind::Lan,
        1 => LinkKind::Lora,
        _ => LinkKind::Ble,
    }
}
