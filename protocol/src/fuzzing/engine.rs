//! The sync engine fed arbitrary frames from several peers and a broadcast medium, with
//! time passing, its own transmissions taken, and what peers send merged as a node
//! would. Checked: nothing panics, and every message the engine sends is one its own
//! decoder accepts and fits the budget it was given.

use super::fixture::{self, fixture};
use super::input::{Input, Writer};
use crate::ledger::Ledger;
use crate::sync::{Event, PeerId, SyncConfig, SyncEngine, message};

/// The peers the engine knows: `1..=PEERS`.
pub const PEERS: u64 = 3;
/// The broadcast medium the engine listens on.
pub const MEDIUM: PeerId = 9;
/// How many records of the fixture history the engine's ledger starts with: the rest
/// is what a peer may bring.
pub const START_RECORDS: usize = 3;
/// The engine's seed: fixed, so an input replays exactly.
const SEED: [u8; 32] = [7; 32];

/// One operation of the engine body, as written in an input.
#[derive(Clone, Copy, Debug)]
#[repr(u8)]
pub enum Op {
    /// `peer chunk`: a frame from a peer.
    Frame = 0,
    /// `from chunk`: a frame heard on the medium.
    MediumFrame = 1,
    /// `ms:u16`: time passes; timeouts fire when due.
    Advance = 2,
    /// `peer budget:u16`: the engine's next message for a peer (or the medium).
    Transmit = 3,
    /// `peer`: start a reconciliation.
    Reconcile = 4,
    /// `peer`: the peer leaves and comes back.
    Rejoin = 5,
}

impl Op {
    /// The operation a tag byte names (every byte names one).
    fn from_tag(tag: u8) -> Op {
        match tag % 6 {
            0 => Op::Frame,
            1 => Op::MediumFrame,
            2 => Op::Advance,
            3 => Op::Transmit,
            4 => Op::Reconcile,
            _ => Op::Rejoin,
        }
    }
}

/// A peer id from an input byte.
fn peer(b: u8) -> PeerId {
    1 + u64::from(b) % PEERS
}

/// A peer id or the medium, from an input byte: `0..PEERS` name the peers as
/// [`peer`] does, `PEERS` the medium.
fn destination(b: u8) -> PeerId {
    match b % (PEERS as u8 + 1) {
        n if u64::from(n) == PEERS => MEDIUM,
        n => 1 + u64::from(n),
    }
}

/// A configuration from an input byte: a LAN's, a LoRa radio's or a BLE relay's.
pub fn config(b: u8) -> SyncConfig {
    match b % 3 {
        0 => SyncConfig::default(),
        1 => SyncConfig::lora(),
        _ => SyncConfig::ble(),
    }
}

/// An engine, its node's ledger and the clock, driven like a node drives them.
pub struct Harness {
    engine: SyncEngine,
    ledger: Ledger,
    config: SyncConfig,
    now: u64,
}

impl Harness {
    /// An engine with configuration `choice` (see [`config`]), its peers and medium.
    pub fn new(choice: u8) -> Self {
        let config = config(choice);
        let mut engine = SyncEngine::new(config.clone(), SEED).expect("stock config");
        for p in 1..=PEERS {
            engine.add_peer(0, p);
        }
        engine.add_medium(0, MEDIUM);
        Harness {
            engine,
            ledger: fixture().ledger(START_RECORDS),
            config,
            now: 0,
        }
    }

    /// The harness's clock.
    pub fn now(&self) -> u64 {
        self.now
    }

    /// The harness's ledger.
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// A frame from `peer`.
    pub fn frame(&mut self, peer: PeerId, bytes: &[u8]) {
        let events = self.engine.handle(self.now, peer, bytes, &self.ledger);
        self.take(events);
    }

    /// A frame heard on the medium from `from`.
    pub fn medium_frame(&mut self, from: PeerId, bytes: &[u8]) {
        let events = self
            .engine
            .handle_medium(self.now, MEDIUM, from, bytes, &self.ledger);
        self.take(events);
    }

    /// Time passes; the engine's timeouts fire when due.
    pub fn advance(&mut self, ms: u64) {
        self.now += ms;
        if self.engine.poll_timeout().is_some_and(|t| t <= self.now) {
            let events = self.engine.handle_timeout(self.now, &self.ledger);
            self.take(events);
        }
    }

    /// The engine's next message for `to`, checked.
    pub fn transmit(&mut self, to: PeerId, budget: usize) -> Option<Vec<u8>> {
        let out = self
            .engine
            .poll_transmit(self.now, to, budget, &self.ledger);
        let events = self.engine.take_events();
        self.take(events);
        let out = out?;
        assert!(
            out.len() <= budget,
            "{} bytes over a budget of {budget}",
            out.len()
        );
        if let Err(e) = message::decode(&out, &self.config) {
            panic!("the engine sent a message its own decoder refuses: {e}");
        }
        Some(out)
    }

    /// Starts a reconciliation with `peer`.
    pub fn reconcile(&mut self, peer: PeerId) {
        self.engine.reconcile(self.now, peer, &self.ledger);
    }

    /// `peer` leaves and comes back.
    pub fn rejoin(&mut self, peer: PeerId) {
        self.engine.remove_peer(peer);
        self.engine.add_peer(self.now, peer);
    }

    /// Merges what peers sent, as a node does, and tells the engine what entered.
    fn take(&mut self, events: Vec<Event>) {
        for e in events {
            if let Event::Received { peer, records } = e {
                let changes = self.ledger.merge(records, &mut fixture::rng());
                self.engine.on_merged(Some(peer), &changes, &self.ledger);
            }
        }
    }
}

/// The body: a configuration byte, then operations ([`Op`]) until the input ends.
pub fn sync_engine(data: &[u8]) {
    let mut input = Input::new(data);
    let mut h = Harness::new(input.byte().unwrap_or(0));
    while let Some(tag) = input.byte() {
        let arg = input.byte().unwrap_or(0);
        match Op::from_tag(tag) {
            Op::Frame => h.frame(peer(arg), input.chunk()),
            Op::MediumFrame => h.medium_frame(100 + u64::from(arg), input.chunk()),
            Op::Advance => {
                let hi = input.byte().unwrap_or(0);
                h.advance(u64::from(u16::from_le_bytes([arg, hi])));
            }
            Op::Transmit => {
                let budget = usize::from(input.u16().unwrap_or(0));
                h.transmit(destination(arg), budget);
            }
            Op::Reconcile => h.reconcile(peer(arg)),
            Op::Rejoin => h.rejoin(peer(arg)),
        }
    }
}

/// Writes engine operations in the body's input form, mirroring what it runs.
pub struct Script {
    /// The input written so far.
    pub w: Writer,
}

impl Script {
    /// A script for configuration `choice`.
    pub fn new(choice: u8) -> Self {
        let mut w = Writer::default();
        w.byte(choice);
        Script { w }
    }

    /// Writes one operation with its argument byte.
    pub fn op(&mut self, op: Op, arg: u8) -> &mut Writer {
        self.w.byte(op as u8).byte(arg)
    }
}
