//! A simulated node: its ledger, a sync engine per link kind it is on (LAN default
//! config, LoRa config), its seq store, its payees' request book, its reassemblers and
//! its own batch-verification RNG.

use std::collections::BTreeMap;

use meshpay_protocol::Ledger;
use meshpay_protocol::policy::RequestBook;
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
}

impl Node {
    /// A node with a ledger for `ledger` and no engines yet.
    pub fn new(index: usize, group: usize, ledger: Ledger, verify_rng: ChaCha20Rng) -> Self {
        Node {
            index,
            group,
            ledger,
            engines: BTreeMap::new(),
            medium: None,
            store: MemorySeqStore::default(),
            book: RequestBook::default(),
            verify_rng,
            reassembly: BTreeMap::new(),
        }
    }

    /// The engine for `kind`, created with that kind's config and `seed` on first use.
    pub fn engine(&mut self, kind: LinkKind, seed: [u8; 32]) -> &mut SyncEngine {
        self.engines.entry(kind).or_insert_with(|| {
            let config = match kind {
                LinkKind::Lan => SyncConfig::default(),
                LinkKind::Lora => SyncConfig::lora(),
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
