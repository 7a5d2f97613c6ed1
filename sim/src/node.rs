//! A simulated node: its ledger, a sync engine per link kind it is on (each kind with its
//! own config), its seq store, its payees' request book, its reassemblers, its own
//! batch-verification RNG, its LoRa radio, and its simulated durable store (DESIGN §6: a record is
//! acknowledged once the store holds it; a crash loses only what it did not hold yet).

use std::collections::{BTreeMap, HashSet, VecDeque};

use meshpay_protocol::RecordId;
use meshpay_protocol::record::{self, Record};
use meshpay_protocol::wire;
use prost::Message;

use meshpay_protocol::Ledger;
use meshpay_protocol::policy::RequestBook;
use meshpay_protocol::radio::duty::DutyCycle;
use meshpay_protocol::radio::fragment::{Reassembler, ReassemblyConfig};
use meshpay_protocol::sync::{SyncConfig, SyncEngine};
use meshpay_protocol::wallet::MemorySeqStore;
use rand_chacha::ChaCha20Rng;

use crate::scenario::LinkKind;

/// One simulated node.
pub struct Node {
    /// Index in the world.
    pub index: usize,
    /// Its group (partition side).
    pub group: usize,
    /// The ledger.
    pub ledger: Ledger,
    /// One engine per link kind (a node on both talks LAN and LoRa with their configs).
    pub engines: BTreeMap<LinkKind, SyncEngine>,
    /// The broadcast medium it is on, if any.
    pub medium: Option<u64>,
    /// Where its wallets persist their next seq.
    pub store: MemorySeqStore,
    /// Requests its payees issued.
    pub book: RequestBook,
    /// The batch verifier's RNG (never the simulation's).
    pub verify_rng: ChaCha20Rng,
    /// Reassembly per link kind.
    pub reassembly: BTreeMap<LinkKind, Reassembler>,
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

/// A node's LoRa radio: one message in hand at a time, and its own airtime budget.
#[derive(Default)]
pub struct Radio {
    /// The message waiting to go out.
    pub pending: Option<Vec<u8>>,
    /// Bumped whenever a send attempt is scheduled or abandoned: an attempt whose
    /// number is not the current one is stale (the node crashed or moved since).
    pub attempt: u64,
    /// The duty-cycle budget, when the scenario sets one (it survives a crash, as the
    /// law does).
    pub duty: Option<DutyCycle>,
}

impl Radio {
    /// Forgets the message in hand; an attempt already scheduled becomes stale.
    pub fn reset(&mut self) {
        self.pending = None;
        self.attempt += 1;
    }
}

/// The simulated durable store: records written in merge order (so a record's
/// dependencies are never written after it) once the write delay has passed.
#[derive(Default)]
pub struct DurableStore {
    /// Written records, in write order, as encoded `SignedRecord` bytes.
    written: Vec<(RecordId, Vec<u8>)>,
    /// Ids of `written`, to skip rewrites.
    ids: HashSet<RecordId>,
    /// Records merged but not yet durable: (due ms, id, bytes).
    pending: VecDeque<(u64, RecordId, Vec<u8>)>,
    /// Bytes written.
    bytes: u64,
}

impl DurableStore {
    /// Queues a merged record for writing at `due` (ms).
    pub fn queue(&mut self, due: u64, record: &Record) {
        if self.ids.contains(&record.id()) {
            return;
        }
        self.pending
            .push_back((due, record.id(), record.to_signed().encode_to_vec()));
    }

    /// Writes every queued record due by `now` (all of them with `u64::MAX`: an fsync).
    pub fn write_due(&mut self, now: u64) {
        while self.pending.front().is_some_and(|(due, _, _)| *due <= now) {
            let (_, id, bytes) = self.pending.pop_front().expect("peeked");
            if self.ids.insert(id) {
                self.bytes += bytes.len() as u64;
                self.written.push((id, bytes));
            }
        }
    }

    /// Whether the record is durable (acknowledged).
    pub fn acknowledged(&self, id: &RecordId) -> bool {
        self.ids.contains(id)
    }

    /// Ids of every acknowledged record.
    pub fn acknowledged_ids(&self) -> impl Iterator<Item = &RecordId> + '_ {
        self.written.iter().map(|(id, _)| id)
    }

    /// Records and bytes held.
    pub fn size(&self) -> (usize, u64) {
        (self.written.len(), self.bytes)
    }

    /// A crash: everything not yet written is gone. Returns how many records that was.
    pub fn crash(&mut self) -> usize {
        let lost = self.pending.len();
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
    /// A node with a ledger for `ledger` and no engines yet.
    pub fn new(index: usize, group: usize, ledger: Ledger, verify_rng: ChaCha20Rng) -> Self {
        let digest = ledger.state_digest();
        Node {
            digest,
            conserved_at: None,
            index,
            group,
            ledger,
            engines: BTreeMap::new(),
            medium: None,
            store: MemorySeqStore::default(),
            book: RequestBook::default(),
            verify_rng,
            reassembly: BTreeMap::new(),
            store_model: DurableStore::default(),
            crashed: false,
            epoch: 0,
            radio: Radio::default(),
        }
    }

    /// Replaces the ledger (a crash or a restart) and refreshes the cached digest.
    pub fn set_ledger(&mut self, ledger: Ledger) {
        self.ledger = ledger;
        self.digest = self.ledger.state_digest();
    }

    /// Records and bytes its ledger holds (bytes as they travel).
    pub fn ledger_size(&self) -> (usize, u64) {
        let bytes = self
            .ledger
            .records_in_dependency_order()
            .iter()
            .map(|r| r.encoded_len() as u64)
            .sum();
        (self.ledger.len(), bytes)
    }

    /// The engine for `kind`, created with that kind's config and `seed` on first use.
    pub fn engine(&mut self, kind: LinkKind, seed: [u8; 32]) -> &mut SyncEngine {
        self.engines.entry(kind).or_insert_with(|| {
            let config = match kind {
                LinkKind::Lan => SyncConfig::default(),
                LinkKind::Lora => SyncConfig::lora(),
                LinkKind::Ble => SyncConfig::ble(),
            };
            SyncEngine::new(config, seed).expect("built-in configs are valid")
        })
    }

    /// The reassembler for frames of `kind`.
    pub fn reassembler(&mut self, kind: LinkKind) -> &mut Reassembler {
        self.reassembly
            .entry(kind)
            .or_insert_with(|| Reassembler::new(ReassemblyConfig::default()))
    }
}
