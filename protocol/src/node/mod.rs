//! The node core: everything one node does that is not IO, as one sans-IO state machine.
//! It owns the ledger, a sync engine per link, the reassemblers, each radio's duty-cycle
//! budget, the wallets and their seq store, the payees' request book and the durable-
//! acknowledgement contract. The daemon drives it with real links, a real clock and
//! rocksdb; the simulator with a virtual network, clock and store (DESIGN §6).
//!
//! Inputs are method calls (bytes from a link and peer, a link or peer going up or down,
//! the time, a payment to make, "the store holds up to here"); outputs are values the
//! driver takes: frames per link and peer, batches to persist, and [`NodeEvent`]s.

mod durable;
mod event;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, VecDeque};

use prost::Message;
use rand_chacha::ChaCha20Rng;

use crate::id::{AccountId, RecordId};
use crate::ledger::{Changes, Ledger};
use crate::policy::{self, RequestBook};
use crate::radio::duty::DutyCycle;
use crate::radio::fragment::{self, Reassembler, ReassemblyConfig};
use crate::sync::config::ConfigError;
use crate::sync::{self, PeerId, SyncConfig, SyncEngine};
use crate::wallet::{Wallet, WalletError};
use crate::wire;

pub use durable::PersistBatch;
pub use event::{NodeEvent, PeerFault};

use durable::{Decision, Durable, Held};

/// A link of this node, as its driver numbers them (LAN, a LoRa radio, a BLE relay…).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LinkId(pub u8);

/// How one link carries the sync engine's messages.
#[derive(Clone, Debug)]
pub struct LinkConfig {
    /// The engine's config for this link (MTU, budget, unicast or broadcast timings).
    pub sync: SyncConfig,
    /// Largest frame the link carries: messages are fragmented to it.
    pub mtu: usize,
    /// Reassembly bounds for frames arriving on this link.
    pub reassembly: ReassemblyConfig,
    /// Whether records heard from a peer on this link are pushed on to its other peers.
    /// Off on a LAN where every node hears every other (mDNS makes a full mesh): the
    /// sender already reached them all, and reconciliation brings what a peer missed.
    /// Conflict proofs are relayed either way.
    pub relay: bool,
}

/// A payment this node's wallet signed, held until the store holds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Signed {
    /// The payment's id.
    pub id: RecordId,
    /// Its seq in the payer's chain.
    pub seq: u64,
    /// The batch that must be durable before it is released.
    pub ticket: u64,
}

/// Why the node core would not make a payment.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayError {
    /// No wallet of this node signs for the account.
    #[error("no wallet of this node signs for {0}")]
    NoWallet(AccountId),
    /// The wallet would not build the record.
    #[error(transparent)]
    Wallet(#[from] WalletError),
}

/// One node's protocol state.
pub struct NodeCore {
    ledger: Ledger,
    /// Batch verification's RNG: the node's own, never a simulation's.
    verify_rng: ChaCha20Rng,
    configs: BTreeMap<LinkId, LinkConfig>,
    engines: BTreeMap<LinkId, SyncEngine>,
    reassembly: BTreeMap<LinkId, Reassembler>,
    /// Radios' airtime budgets: the law's, so they outlive a restart of the node.
    duty: BTreeMap<LinkId, DutyCycle>,
    /// Fragment-set numbers: one counter for all of the node's links.
    msg_id: u16,
    wallets: BTreeMap<AccountId, Wallet>,
    book: RequestBook,
    durable: Durable,
    events: VecDeque<NodeEvent>,
}

impl NodeCore {
    /// A node core over `ledger`, verifying batches with `verify_rng`.
    pub fn new(ledger: Ledger, verify_rng: ChaCha20Rng) -> Self {
        NodeCore {
            ledger,
            verify_rng,
            configs: BTreeMap::new(),
            engines: BTreeMap::new(),
            reassembly: BTreeMap::new(),
            duty: BTreeMap::new(),
            msg_id: 0,
            wallets: BTreeMap::new(),
            book: RequestBook::default(),
            durable: Durable::default(),
            events: VecDeque::new(),
        }
    }

    /// The ledger.
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// Replaces the ledger (a restart rebuilt it from the store).
    pub fn set_ledger(&mut self, ledger: Ledger) {
        self.ledger = ledger;
    }

    /// Switches a ledger rule off, so a test can show the checks catch a broken ledger.
    #[cfg(feature = "fault-injection")]
    pub fn inject_fault(&mut self, fault: crate::ledger::Fault) {
        self.ledger.inject_fault(fault);
    }

    /// The node lost its memory (a crash): ledger, engines, reassembly, wallets, request
    /// book and everything not yet durable are gone. What belongs to the device and the
    /// law stays: the verification RNG's stream, the radios' duty-cycle budgets and the
    /// fragment counter.
    pub fn lose_memory(&mut self, empty: Ledger) {
        self.ledger = empty;
        self.engines.clear();
        self.reassembly.clear();
        self.wallets.clear();
        self.book = RequestBook::default();
        self.durable = Durable::default();
        self.events.clear();
    }

    // ----- links and peers -----

    /// Opens `link` with `config`; its engine starts from `seed`. A link already open
    /// keeps its engine (and ignores the new seed). Refused when the link's MTU cannot
    /// carry the engine's largest message in one fragment set.
    pub fn open_link(
        &mut self,
        link: LinkId,
        config: LinkConfig,
        seed: [u8; 32],
    ) -> Result<(), ConfigError> {
        let largest = vec![0; config.sync.max_message_bytes];
        if fragment::fragment(&largest, config.mtu, 0).is_err() {
            return Err(ConfigError(
                "the link's MTU cannot carry the engine's largest message in one fragment set",
            ));
        }
        if let std::collections::btree_map::Entry::Vacant(slot) = self.engines.entry(link) {
            slot.insert(SyncEngine::new(config.sync.clone(), seed)?);
        }
        self.configs.insert(link, config);
        Ok(())
    }

    /// Closes every link's engine (a move to another place: peers and sessions are
    /// gone); reassembly and radio budgets stay.
    pub fn close_links(&mut self) {
        self.engines.clear();
    }

    /// The links with an engine, in order.
    pub fn links(&self) -> Vec<LinkId> {
        self.engines.keys().copied().collect()
    }

    /// The engine of `link`, for its peers and statistics.
    pub fn engine(&self, link: LinkId) -> Option<&SyncEngine> {
        self.engines.get(&link)
    }

    /// Sets the duty-cycle budget of a radio link.
    pub fn set_duty_cycle(&mut self, link: LinkId, duty: DutyCycle) {
        self.duty.insert(link, duty);
    }

    /// The duty-cycle budget of a radio link, if it has one.
    pub fn duty_cycle(&self, link: LinkId) -> Option<&DutyCycle> {
        self.duty.get(&link)
    }

    /// Spends `airtime_us` of a radio link's budget for a transmission at `now`.
    pub fn record_airtime(&mut self, link: LinkId, now: u64, airtime_us: u64) {
        if let Some(d) = self.duty.get_mut(&link) {
            d.record(now, airtime_us);
        }
    }

    /// A peer came up on a unicast link (a new connection or a reconnection: the
    /// engine reconciles with it at once).
    pub fn peer_up(&mut self, now: u64, link: LinkId, peer: PeerId) {
        if let Some(e) = self.engines.get_mut(&link) {
            e.remove_peer(peer);
            e.add_peer(now, peer);
        }
    }

    /// A peer went away.
    pub fn peer_down(&mut self, link: LinkId, peer: PeerId) {
        if let Some(e) = self.engines.get_mut(&link) {
            e.remove_peer(peer);
        }
    }

    /// The node joined broadcast `medium` on `link`.
    pub fn medium_up(&mut self, now: u64, link: LinkId, medium: PeerId) {
        if let Some(e) = self.engines.get_mut(&link) {
            e.add_medium(now, medium);
        }
    }

    // ----- bytes in -----

    /// A frame from `peer` on `link`: reassembled, then handled as a message when it
    /// completes one (on a broadcast link, `medium` names the channel).
    pub fn handle_frame(
        &mut self,
        now: u64,
        link: LinkId,
        peer: PeerId,
        medium: Option<PeerId>,
        frame: &[u8],
    ) {
        if let Some(msg) = self.reassemble(now, link, peer, frame) {
            self.handle_message(now, link, peer, medium, &msg);
        }
    }

    /// Feeds a frame to `link`'s reassembler; returns the message it completes, if any.
    /// A frame that breaks the fragment format is reported as the peer's fault.
    pub fn reassemble(
        &mut self,
        now: u64,
        link: LinkId,
        peer: PeerId,
        frame: &[u8],
    ) -> Option<Vec<u8>> {
        let config = self
            .configs
            .get(&link)
            .map(|c| c.reassembly)
            .unwrap_or_default();
        let r = self
            .reassembly
            .entry(link)
            .or_insert_with(|| Reassembler::new(config));
        match r.push(now, peer, frame) {
            Ok(msg) => msg,
            Err(e) => {
                self.events.push_back(NodeEvent::PeerMisbehaved {
                    link,
                    peer,
                    error: PeerFault::Frame(e.to_string()),
                });
                None
            }
        }
    }

    /// A whole sync message from `peer` on `link` (from `medium` on a broadcast link).
    pub fn handle_message(
        &mut self,
        now: u64,
        link: LinkId,
        peer: PeerId,
        medium: Option<PeerId>,
        msg: &[u8],
    ) {
        let Some(engine) = self.engines.get_mut(&link) else {
            return;
        };
        let events = match medium {
            Some(m) => engine.handle_medium(now, m, peer, msg, &self.ledger),
            None => engine.handle(now, peer, msg, &self.ledger),
        };
        self.engine_events(link, events);
    }

    // ----- time -----

    /// The earliest time any engine wants `handle_timeout`.
    pub fn poll_timeout(&self) -> Option<u64> {
        self.engines.values().filter_map(|e| e.poll_timeout()).min()
    }

    /// Runs every engine whose timeout is due at `now`.
    pub fn handle_timeout(&mut self, now: u64) {
        for link in self.links() {
            let engine = self.engines.get_mut(&link).expect("listed");
            if engine.poll_timeout().is_some_and(|t| t <= now) {
                let events = engine.handle_timeout(now, &self.ledger);
                self.engine_events(link, events);
            }
        }
    }

    // ----- bytes out -----

    /// The next whole message for `peer` (or broadcast `medium`) on `link`, at most
    /// `budget` bytes, unfragmented: for a driver that holds it (a radio waiting for
    /// the channel) and fragments it when it goes out.
    pub fn poll_message(
        &mut self,
        now: u64,
        link: LinkId,
        peer: PeerId,
        budget: usize,
    ) -> Option<Vec<u8>> {
        let engine = self.engines.get_mut(&link)?;
        engine.poll_transmit(now, peer, budget, &self.ledger)
    }

    /// The next message for `peer` on `link` as frames within the link's MTU.
    pub fn poll_frames(
        &mut self,
        now: u64,
        link: LinkId,
        peer: PeerId,
        budget: usize,
    ) -> Option<Vec<Vec<u8>>> {
        let msg = self.poll_message(now, link, peer, budget)?;
        Some(self.fragment(link, &msg))
    }

    /// Cuts `msg` into frames within `link`'s MTU, numbering the set from the node's
    /// counter.
    pub fn fragment(&mut self, link: LinkId, msg: &[u8]) -> Vec<Vec<u8>> {
        self.msg_id = self.msg_id.wrapping_add(1);
        let mtu = self
            .configs
            .get(&link)
            .map_or(fragment::MAX_MESSAGE_BYTES, |c| c.mtu);
        // `open_link` checked that the MTU carries the engine's largest message, and the
        // engine never exceeds it: a message that still does not fit is dropped (never
        // sent over the MTU); reconciliation brings its records later.
        fragment::fragment(msg, mtu, self.msg_id).unwrap_or_default()
    }

    /// Takes the events `link`'s engine gathered while transmitting, and acts on them.
    pub fn flush_link(&mut self, link: LinkId) {
        if let Some(engine) = self.engines.get_mut(&link) {
            let events = engine.take_events();
            self.engine_events(link, events);
        }
    }

    // ----- records in -----

    /// Merges records handed in locally (an issuer's, a bundle carried by hand), or
    /// from a link when `source` names it; tells every engine, the source's peer left
    /// out, and queues what entered for the store.
    pub fn submit(
        &mut self,
        records: Vec<wire::SignedRecord>,
        source: Option<(LinkId, PeerId)>,
    ) -> Changes {
        let changes = self.ledger.merge(records, &mut self.verify_rng);
        self.merged(source, changes.clone(), None);
        changes
    }

    /// Queues what entered for the store (but `stored`, already durable), tells every
    /// engine, and reports the merge.
    fn merged(
        &mut self,
        source: Option<(LinkId, PeerId)>,
        changes: Changes,
        stored: Option<RecordId>,
    ) {
        // Merged records go to the store in merge order: dependencies first.
        for id in changes.added.iter().filter(|id| Some(**id) != stored) {
            if let Some(r) = self.ledger.get(id) {
                self.durable
                    .queue_record(*id, r.to_signed().encode_to_vec());
            }
        }
        let mut proofs_only = None;
        for (link, engine) in self.engines.iter_mut() {
            let from = source.filter(|(l, _)| l == link).map(|(_, p)| p);
            let relay = self.configs.get(link).is_none_or(|c| c.relay);
            if from.is_some() && !relay {
                let only = proofs_only.get_or_insert_with(|| proof_changes(&changes, &self.ledger));
                engine.on_merged(from, only, &self.ledger);
            } else {
                engine.on_merged(from, &changes, &self.ledger);
            }
        }
        for &(account, seq) in &changes.conflicts {
            self.events
                .push_back(NodeEvent::ConflictFound { account, seq });
        }
        self.events.push_back(NodeEvent::Merged { source, changes });
    }

    fn engine_events(&mut self, link: LinkId, events: Vec<sync::Event>) {
        for e in events {
            match e {
                sync::Event::Received { peer, records } => {
                    self.submit(records, Some((link, peer)));
                }
                sync::Event::PeerError { peer, error } => {
                    self.events.push_back(NodeEvent::PeerMisbehaved {
                        link,
                        peer,
                        error: PeerFault::Sync(error),
                    });
                }
                sync::Event::Reconciled { peer, outcome } => {
                    self.events.push_back(NodeEvent::Reconciled {
                        link,
                        peer,
                        ok: outcome.is_ok(),
                    });
                }
            }
        }
    }

    // ----- wallets and payments -----

    /// Adds a wallet this node signs with (resumed at its persisted next seq).
    pub fn add_wallet(&mut self, wallet: Wallet) {
        self.wallets.insert(wallet.account(), wallet);
    }

    /// The accounts this node's wallets sign for.
    pub fn wallets(&self) -> impl Iterator<Item = &Wallet> + '_ {
        self.wallets.values()
    }

    /// The wallet for `account`, if this node holds it.
    pub fn wallet(&self, account: &AccountId) -> Option<&Wallet> {
        self.wallets.get(account)
    }

    /// Signs a payment of `amount` from `from` to `to` (answering payment request
    /// `request`, if any). Its seq goes into the next batch to persist, and the record
    /// is held until that batch is durable: then it enters the ledger and the links
    /// ([`NodeEvent::PaymentReleased`]). Payments from one wallet go one at a time:
    /// until the last is released, the next fails with `WalletError::Unmerged`.
    pub fn pay(
        &mut self,
        now: u64,
        from: AccountId,
        to: AccountId,
        amount: u64,
        request: Option<[u8; 16]>,
        memo: &str,
    ) -> Result<Signed, PayError> {
        let wallet = self
            .wallets
            .get_mut(&from)
            .ok_or(PayError::NoWallet(from))?;
        let record = wallet.pay(
            &self.ledger,
            &mut self.durable,
            to,
            amount,
            request,
            memo,
            now,
        )?;
        // The wallet signs at the ledger's tip, which is past its own next seq when its
        // key also signs elsewhere; it moves its next seq just past what it signed.
        let seq = wallet.next_seq() - 1;
        let id = RecordId::of_body(&record.body);
        // The record goes into the same synced write as its seq: acknowledged once,
        // durable once.
        self.durable.queue_record(id, record.encode_to_vec());
        let ticket = self.durable.ticket_for_queued();
        self.durable.held.push_back(Held {
            ticket,
            payer: from,
            seq,
            record,
        });
        Ok(Signed { id, seq, ticket })
    }

    /// The records a payee's node lacks to check payment `id` on its own: the payment
    /// and its dependencies that `have` does not hold, dependencies first.
    pub fn bundle_for(
        &self,
        id: &RecordId,
        have: impl Fn(&RecordId) -> bool,
    ) -> Vec<wire::SignedRecord> {
        self.ledger
            .closure(id, have)
            .into_iter()
            .map(|r| r.to_signed())
            .collect()
    }

    /// One of this node's payees asks for `amount` under a fresh `nonce`.
    pub fn issue_request(&mut self, nonce: [u8; 16], amount: u64) {
        self.book.issue(nonce, amount);
    }

    /// A payer handed `bundle` for payment `payment` to `payee`, one of this node's
    /// accounts: merged now, decided once the records it rests on are durable
    /// ([`NodeEvent::PaymentAccepted`] or [`NodeEvent::PaymentRefused`]).
    pub fn offer_payment(
        &mut self,
        bundle: Vec<wire::SignedRecord>,
        payment: RecordId,
        payee: AccountId,
    ) {
        if !bundle.is_empty() {
            self.submit(bundle, None);
        }
        let ticket = self.durable.ticket_for_queued();
        self.durable.decisions.push_back(Decision {
            ticket,
            payment,
            payee,
        });
        self.settle_durable();
    }

    // ----- the store -----

    /// The next batch to write to the store in one synced write, if anything waits.
    pub fn poll_persist(&mut self) -> Option<PersistBatch> {
        self.durable.take()
    }

    /// The store holds every batch up to `ticket`: held payments are released and
    /// waiting decisions made.
    pub fn persisted(&mut self, ticket: u64) {
        self.durable.persisted(ticket);
        self.settle_durable();
    }

    /// The last batch the store holds.
    pub fn durable_ticket(&self) -> u64 {
        self.durable.durable_ticket()
    }

    /// Whether a held payment or a decision waits for the store.
    pub fn awaits_store(&self) -> bool {
        !self.durable.held.is_empty() || !self.durable.decisions.is_empty()
    }

    fn settle_durable(&mut self) {
        loop {
            if let Some(h) = self
                .durable
                .held
                .front()
                .filter(|h| self.durable.is_durable(h.ticket))
            {
                let h = h.clone();
                self.durable.held.pop_front();
                let id = RecordId::of_body(&h.record.body);
                let changes = self.ledger.merge(vec![h.record], &mut self.verify_rng);
                self.merged(None, changes, Some(id));
                self.events.push_back(NodeEvent::PaymentReleased {
                    payment: id,
                    payer: h.payer,
                    seq: h.seq,
                });
                continue;
            }
            if let Some(d) = self
                .durable
                .decisions
                .front()
                .filter(|d| self.durable.is_durable(d.ticket))
            {
                let d = d.clone();
                self.durable.decisions.pop_front();
                let event = match policy::accept(&self.ledger, &d.payment, &d.payee, &mut self.book)
                {
                    Ok(a) => NodeEvent::PaymentAccepted(a),
                    Err(refusal) => NodeEvent::PaymentRefused {
                        payment: d.payment,
                        payee: d.payee,
                        refusal,
                    },
                };
                self.events.push_back(event);
                continue;
            }
            break;
        }
    }

    // ----- events -----

    /// The next thing that happened, oldest first.
    pub fn poll_event(&mut self) -> Option<NodeEvent> {
        self.events.pop_front()
    }
}

/// `changes` cut down to the records that prove its conflicts: what a link that does not
/// relay still passes on.
fn proof_changes(changes: &Changes, ledger: &Ledger) -> Changes {
    let mut proofs = Vec::new();
    for (account, seq) in &changes.conflicts {
        for (s, id, _) in ledger.records_of(account) {
            if s == *seq && changes.added.contains(&id) {
                proofs.push(id);
            }
        }
    }
    Changes {
        added: proofs,
        ..changes.clone()
    }
}
