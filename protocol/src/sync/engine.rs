//! The sync engine of one node: a session pair (initiator, responder) and a push queue
//! per peer. Fresh records are pushed to every peer but their source (conflict proofs
//! first, then payments, then backfill, dependencies first); reconciliation runs on
//! connect and periodically. Sans-IO: the driver hands in bytes, time and the ledger,
//! and moves the bytes `poll_transmit` returns.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use super::config::{ConfigError, SyncConfig};
use super::initiator::{Initiator, Outcome};
use super::medium::Medium;
use super::message::{self, SyncError};
use super::responder::Responder;
use super::seed::SeedStream;
use super::thin;
use crate::id::{AccountId, RecordId};
use crate::ledger::{Changes, Ledger, RecordSet};
use crate::record::Kind;
use crate::wire::{self, sync_message::Body};

/// A peer, as the driver names it.
pub type PeerId = u64;

/// Most missing dependencies asked for in one message.
const MAX_WANT_IDS: usize = 256;
/// Most answers queued for one peer before its requests are refused.
const MAX_ANSWERS: usize = 4;
/// Session numbers wrap within 14 bits (a 2-byte varint); only recent ones matter.
pub(super) const SESSION_MASK: u32 = 0x3fff;
/// Sessions a peer may open within `SESSION_BURST` session intervals.
const SESSION_BURST: usize = 3;
/// A thin push this node could not expand brings the next reconciliation with its
/// sender forward to this long after the last one began, at the earliest: a missed
/// record comes soon, and a peer sending unresolvable pushes cannot make this node
/// reconcile more often than this.
const THIN_MISS_RECONCILE_GAP_MS: u64 = 5_000;

/// What the engine tells its driver.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// Records a peer sent: merge them, then report the changes with `on_merged`.
    Received {
        /// Who sent them.
        peer: PeerId,
        /// The records, as they came.
        records: Vec<wire::SignedRecord>,
    },
    /// A reconciliation this node drove ended.
    Reconciled {
        /// With whom.
        peer: PeerId,
        /// How.
        outcome: Result<Outcome, SyncError>,
    },
    /// A peer sent something wrong; it was answered with an error and counted.
    PeerError {
        /// Who.
        peer: PeerId,
        /// What.
        error: SyncError,
    },
}

/// Traffic and trouble with one peer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerStats {
    /// Bytes received.
    pub bytes_in: u64,
    /// Bytes sent.
    pub bytes_out: u64,
    /// Messages received.
    pub messages_in: u64,
    /// Messages sent.
    pub messages_out: u64,
    /// Records received.
    pub records_in: u64,
    /// Records sent.
    pub records_out: u64,
    /// Messages that broke a rule.
    pub errors: u64,
    /// Messages ignored while the peer was penalised.
    pub ignored: u64,
    /// Reconciliations this node drove.
    pub sessions: u64,
    /// Thin pushes whose left-out `prev` this node could not find (it then reconciles).
    pub thin_misses: u64,
}

/// Ids a peer is known to have (sent to or received from it), bounded, oldest forgotten.
#[derive(Default)]
pub(super) struct Known {
    set: HashSet<RecordId>,
    order: VecDeque<RecordId>,
}

impl Known {
    pub(super) fn insert(&mut self, id: RecordId, max: usize) {
        if self.set.insert(id) {
            self.order.push_back(id);
            while self.order.len() > max {
                if let Some(old) = self.order.pop_front() {
                    self.set.remove(&old);
                }
            }
        }
    }
}

/// Records waiting to be pushed to a peer, by priority.
#[derive(Default)]
pub(super) struct PushQueue {
    proofs: VecDeque<RecordId>,
    /// Records a peer asked for by id (its missing dependencies), bounded on intake.
    asked: VecDeque<RecordId>,
    payments: VecDeque<RecordId>,
    backfill: VecDeque<RecordId>,
    /// Further records of accounts already in conflict: relayed last, and at most
    /// `conflict_relay_per_account` per account and window (delayed, not refused).
    flooded: VecDeque<RecordId>,
    /// account -> (window start, records relayed in it).
    relayed: HashMap<AccountId, (u64, u32)>,
}

impl PushQueue {
    fn len(&self) -> usize {
        self.proofs.len()
            + self.asked.len()
            + self.payments.len()
            + self.backfill.len()
            + self.flooded.len()
    }

    /// Makes room: records of accounts in conflict go first, then backfill, then the
    /// oldest payments; proofs are never dropped. (Reconciliation brings whatever a
    /// full queue dropped.)
    fn trim(&mut self, max: usize) {
        while self.len() > max {
            if self.flooded.pop_front().is_none()
                && self.backfill.pop_front().is_none()
                && self.payments.pop_front().is_none()
            {
                break;
            }
        }
    }
}

#[derive(Default)]
struct Peer {
    initiator: Option<Initiator>,
    responder: Option<Responder>,
    answers: VecDeque<wire::SyncMessage>,
    push: PushQueue,
    known: Known,
    held: Option<Vec<u8>>,
    stats: PeerStats,
    strikes: u32,
    penalty_until: u64,
    session_opens: VecDeque<u64>,
    /// When the responder last heard from its initiator (it is dropped when idle).
    responder_active_at: u64,
    next_reconcile: u64,
    /// When this node last started a reconciliation with the peer.
    reconcile_started_at: Option<u64>,
    retries: u32,
}

/// One node's sync engine.
pub struct SyncEngine {
    pub(super) config: SyncConfig,
    pub(super) seed: SeedStream,
    peers: BTreeMap<PeerId, Peer>,
    pub(super) media: BTreeMap<PeerId, Medium>,
    pub(super) next_session: u32,
    /// Events noticed while transmitting, handed out with the next `handle` or timeout.
    events: Vec<Event>,
    /// Thin pushes from any peer whose `prev` this node could not find, since the start.
    thin_misses: u64,
}

impl SyncEngine {
    /// An engine with `config`, drawing salts and session numbers from `seed`.
    pub fn new(config: SyncConfig, seed: [u8; 32]) -> Result<Self, ConfigError> {
        config.validate()?;
        let mut seed = SeedStream::new(seed);
        // Small session numbers keep every message's session field at two bytes.
        let next_session = (seed.next_u64() as u32 & SESSION_MASK).max(1);
        Ok(SyncEngine {
            config,
            seed,
            peers: BTreeMap::new(),
            media: BTreeMap::new(),
            next_session,
            events: Vec::new(),
            thin_misses: 0,
        })
    }

    /// Thin pushes from any peer, gone or not, that could not be expanded (each made this
    /// node reconcile with the sender), since the engine started.
    pub fn thin_misses(&self) -> u64 {
        self.thin_misses
    }

    /// The engine's configuration.
    pub fn config(&self) -> &SyncConfig {
        &self.config
    }

    /// A peer connected: it will be reconciled with at once.
    pub fn add_peer(&mut self, now: u64, peer: PeerId) {
        self.peers.entry(peer).or_default().next_reconcile = now;
    }

    /// A peer went away.
    pub fn remove_peer(&mut self, peer: PeerId) {
        self.peers.remove(&peer);
    }

    /// The peers, in order.
    pub fn peers(&self) -> impl Iterator<Item = PeerId> + '_ {
        self.peers.keys().copied()
    }

    /// Traffic with a peer.
    pub fn stats(&self, peer: PeerId) -> Option<&PeerStats> {
        self.peers.get(&peer).map(|p| &p.stats)
    }

    /// Whether a reconciliation this node drives with `peer` is under way.
    pub fn reconciling(&self, peer: PeerId) -> bool {
        self.peers.get(&peer).is_some_and(|p| p.initiator.is_some())
    }

    /// Starts a reconciliation with `peer` now (one at a time per peer).
    pub fn reconcile<S: RecordSet>(&mut self, now: u64, peer: PeerId, ledger: &Ledger<S>) {
        let session = self.next_session;
        self.next_session = (self.next_session.wrapping_add(1) & SESSION_MASK).max(1);
        let salt = self.seed.salt();
        let Some(p) = self.peers.get_mut(&peer) else {
            return;
        };
        if p.initiator.is_some() {
            return;
        }
        p.stats.sessions += 1;
        p.reconcile_started_at = Some(now);
        p.next_reconcile = now + self.config.reconcile_every_ms;
        p.initiator = Some(Initiator::new(
            session,
            salt,
            ledger.set().ids().collect(),
            &self.config,
        ));
    }

    /// Takes in one message from `peer`.
    pub fn handle<S: RecordSet>(
        &mut self,
        now: u64,
        peer: PeerId,
        bytes: &[u8],
        ledger: &Ledger<S>,
    ) -> Vec<Event> {
        let mut events = Vec::new();
        let config = self.config.clone();
        let Some(p) = self.peers.get_mut(&peer) else {
            return events;
        };
        p.stats.bytes_in += bytes.len() as u64;
        p.stats.messages_in += 1;
        if now < p.penalty_until {
            p.stats.ignored += 1;
            return events;
        }
        let m = match message::decode(bytes, &config) {
            Ok(m) => m,
            Err(e) => {
                self.strike(now, peer, e, &mut events);
                return events;
            }
        };
        let body = m.body.as_ref().expect("checked on decode");
        let result = match body {
            Body::Records(r) => {
                let p = self.peers.get_mut(&peer).expect("present");
                let mine = p
                    .initiator
                    .as_ref()
                    .is_some_and(|i| i.session() == m.session)
                    && m.session != 0;
                if mine {
                    self.session_answer(now, peer, &m, ledger, &mut events)
                } else {
                    let records =
                        message::unpack_records(&r.records, config.max_records_per_message)
                            .expect("checked on decode");
                    for s in &records {
                        p.known
                            .insert(RecordId::of_body(&s.body), config.max_known_per_peer);
                    }
                    p.stats.records_in += records.len() as u64;
                    if !records.is_empty() {
                        events.push(Event::Received { peer, records });
                    }
                    Ok(())
                }
            }
            Body::Thin(t) => match thin::expand(t, ledger) {
                Ok(Some(record)) => {
                    let p = self.peers.get_mut(&peer).expect("present");
                    p.known
                        .insert(RecordId::of_body(&record.body), config.max_known_per_peer);
                    p.stats.records_in += 1;
                    events.push(Event::Received {
                        peer,
                        records: vec![record],
                    });
                    Ok(())
                }
                Ok(None) => {
                    let p = self.peers.get_mut(&peer).expect("present");
                    p.stats.thin_misses += 1;
                    self.thin_misses += 1;
                    // Kept from the last session's real start, so a peer sending misses
                    // cannot bring sessions closer together than the gap.
                    let soon = match p.reconcile_started_at {
                        Some(at) => now.max(at.saturating_add(THIN_MISS_RECONCILE_GAP_MS)),
                        None => now,
                    };
                    p.next_reconcile = p.next_reconcile.min(soon);
                    Ok(())
                }
                Err(e) => Err(e),
            },
            Body::Want(w) if m.session == 0 => {
                let ids: Vec<RecordId> = message::unpack(&w.ids, 32)
                    .take(MAX_WANT_IDS)
                    .map(|b| RecordId(b.try_into().expect("32 bytes")))
                    .collect();
                let p = self.peers.get_mut(&peer).expect("present");
                if p.push.asked.len() >= config.max_records_per_message * MAX_ANSWERS {
                    Err(SyncError::Budget(
                        "asks for records faster than they go out",
                    ))
                } else {
                    for r in ledger.in_dependency_order(&ids) {
                        if !p.push.asked.contains(&r.id()) {
                            p.push.asked.push_back(r.id());
                        }
                    }
                    Ok(())
                }
            }
            Body::Hello(h) => self.open_responder(now, peer, m.session, h, ledger),
            Body::GetSymbols(_) | Body::GetRanges(_) | Body::Want(_) | Body::Done(_) => {
                self.answer(now, peer, &m, ledger)
            }
            Body::Root(_) | Body::Symbols(_) | Body::RangeAnswer(_) | Body::Refuse(_) => {
                self.session_answer(now, peer, &m, ledger, &mut events)
            }
        };
        if let Err(e) = result {
            self.strike(now, peer, e, &mut events);
        }
        events.append(&mut self.events);
        events
    }

    fn strike(&mut self, now: u64, peer: PeerId, error: SyncError, events: &mut Vec<Event>) {
        let Some(p) = self.peers.get_mut(&peer) else {
            return;
        };
        p.stats.errors += 1;
        p.strikes += 1;
        if p.strikes >= self.config.max_errors {
            p.strikes = 0;
            p.penalty_until = now + self.config.penalty_ms;
            p.responder = None;
            p.answers.clear();
        }
        if p.answers.len() < MAX_ANSWERS {
            p.answers.push_back(message::message(
                0,
                0,
                Body::Refuse(wire::Refuse {
                    reason: error.to_string(),
                }),
            ));
        }
        events.push(Event::PeerError { peer, error });
    }

    fn open_responder<S: RecordSet>(
        &mut self,
        now: u64,
        peer: PeerId,
        session: u32,
        hello: &wire::Hello,
        ledger: &Ledger<S>,
    ) -> Result<(), SyncError> {
        let interval = self.config.min_session_interval_ms;
        let p = self.peers.get_mut(&peer).expect("present");
        if p.answers.len() >= MAX_ANSWERS {
            return Err(SyncError::Budget("requests faster than answers go out"));
        }
        if let Some(r) = p.responder.as_ref().filter(|r| r.session() == session) {
            // The initiator did not hear our root (or replays it): the same answer again,
            // not a fresh snapshot.
            p.answers
                .push_back(message::message(session, 1, r.root_answer()));
            p.responder_active_at = now;
            return Ok(());
        }
        {
            // A small burst is allowed (a retry after a collision follows at once); a
            // peer that keeps opening sessions is refused.
            p.session_opens
                .retain(|t| now < t + SESSION_BURST as u64 * interval);
            if p.session_opens.len() >= SESSION_BURST {
                return Err(SyncError::RateLimited);
            }
            p.session_opens.push_back(now);
        }
        let (r, root) = Responder::open(
            session,
            hello,
            ledger.set().ids().collect(),
            &mut self.seed,
            &self.config,
        )?;
        let p = self.peers.get_mut(&peer).expect("present");
        p.responder = Some(r);
        p.responder_active_at = now;
        p.answers.push_back(message::message(session, 1, root));
        Ok(())
    }

    fn answer<S: RecordSet>(
        &mut self,
        now: u64,
        peer: PeerId,
        m: &wire::SyncMessage,
        ledger: &Ledger<S>,
    ) -> Result<(), SyncError> {
        let p = self.peers.get_mut(&peer).expect("present");
        let Some(r) = p.responder.as_mut().filter(|r| r.session() == m.session) else {
            // A request of a session this node no longer holds: stale, not hostile.
            return Ok(());
        };
        p.responder_active_at = now;
        if p.answers.len() >= MAX_ANSWERS {
            return Err(SyncError::Budget("requests faster than answers go out"));
        }
        let body = m.body.as_ref().expect("checked on decode");
        match r.answer(body, &mut self.seed, &self.config, ledger)? {
            Some(a) => p.answers.push_back(message::message(m.session, m.step, a)),
            None => p.responder = None,
        }
        Ok(())
    }

    fn session_answer<S: RecordSet>(
        &mut self,
        now: u64,
        peer: PeerId,
        m: &wire::SyncMessage,
        ledger: &Ledger<S>,
        events: &mut Vec<Event>,
    ) -> Result<(), SyncError> {
        let config = self.config.clone();
        let p = self.peers.get_mut(&peer).expect("present");
        let refusal = matches!(m.body, Some(Body::Refuse(_)));
        let Some(init) = p
            .initiator
            .as_mut()
            .filter(|i| i.session() == m.session || refusal)
        else {
            return Ok(());
        };
        let records = init.handle(m, &config);
        let result = match records {
            Ok(records) => {
                if !records.is_empty() {
                    for s in &records {
                        p.known
                            .insert(RecordId::of_body(&s.body), config.max_known_per_peer);
                    }
                    p.stats.records_in += records.len() as u64;
                    events.push(Event::Received { peer, records });
                }
                Ok(())
            }
            Err(SyncError::Refused(_)) => Ok(()),
            Err(e) => Err(e),
        };
        self.settle_session(now, peer, ledger);
        events.append(&mut self.events);
        result
    }

    /// Reports a finished session; a wrong decode starts a fresh one with new salts.
    fn settle_session<S: RecordSet>(&mut self, now: u64, peer: PeerId, ledger: &Ledger<S>) {
        let max_retries = self.config.max_retries;
        let Some(p) = self.peers.get_mut(&peer) else {
            return;
        };
        let Some(init) = p.initiator.as_ref().filter(|i| i.is_closed()) else {
            return;
        };
        let outcome = init
            .outcome()
            .cloned()
            .expect("closed sessions have an outcome");
        p.initiator = None;
        if outcome == Ok(Outcome::Retry) && p.retries < max_retries {
            p.retries += 1;
            self.reconcile(now, peer, ledger);
            return;
        }
        p.retries = 0;
        self.events.push(Event::Reconciled { peer, outcome });
    }

    /// Queues the records that just entered the set for every peer but their source.
    pub fn on_merged<S: RecordSet>(
        &mut self,
        from: Option<PeerId>,
        changes: &Changes,
        ledger: &Ledger<S>,
    ) {
        let mut proofs = HashSet::new();
        for (account, seq) in &changes.conflicts {
            for (s, id, _) in ledger.records_of(account) {
                if s == *seq {
                    proofs.insert(id);
                }
            }
        }
        let max = self.config.max_push_queue;
        // The source is skipped per record, through what it is known to have: records it
        // sent were marked on arrival, while orphans they woke up may be new to it.
        let queues = self
            .peers
            .values_mut()
            .map(|p| (&mut p.push, &p.known))
            .chain(self.media.values_mut().map(|m| (&mut m.push, &m.known)));
        for (push, known) in queues {
            for id in &changes.added {
                if known.set.contains(id) {
                    continue;
                }
                let paying = ledger
                    .get(id)
                    .is_some_and(|r| matches!(&r.body().kind, Kind::Transfer(t) if t.amount > 0));
                let in_conflict = ledger
                    .get(id)
                    .is_some_and(|r| ledger.has_conflict(&r.signer()));
                if proofs.contains(id) {
                    push.proofs.push_back(*id);
                } else if in_conflict {
                    push.flooded.push_back(*id);
                } else if paying {
                    push.payments.push_back(*id);
                } else {
                    push.backfill.push_back(*id);
                }
            }
            push.trim(max);
        }
        // Records that arrived before their dependencies: ask their source for them.
        if let Some(src) = from {
            if !changes.orphaned.is_empty() {
                let wanted: Vec<RecordId> =
                    ledger.wanted().into_iter().take(MAX_WANT_IDS).collect();
                if let Some(p) = self
                    .peers
                    .get_mut(&src)
                    .filter(|p| p.answers.len() < MAX_ANSWERS)
                {
                    let mut ids = Vec::with_capacity(wanted.len() * 32);
                    for id in &wanted {
                        ids.extend_from_slice(&id.0);
                    }
                    p.answers.push_back(message::message(
                        0,
                        0,
                        Body::Want(wire::Want {
                            short_ids: Vec::new(),
                            ids,
                            key: 0,
                        }),
                    ));
                }
            }
        }
    }

    /// The next message for `peer`, at most `budget` bytes: conflict proofs, then
    /// payments, then session traffic, then backfill.
    pub fn poll_transmit<S: RecordSet>(
        &mut self,
        now: u64,
        peer: PeerId,
        budget: usize,
        ledger: &Ledger<S>,
    ) -> Option<Vec<u8>> {
        let config = self.config.clone();
        if self.media.contains_key(&peer) {
            return self.transmit_medium(now, peer, budget, ledger);
        }
        let p = self.peers.get_mut(&peer)?;
        let out = if let Some(h) = p.held.take() {
            Some(h)
        } else if let Some(m) = URGENT.iter().find_map(|q| {
            push_batch(
                &mut p.push,
                &mut p.known,
                &mut p.stats,
                q,
                true,
                &config,
                ledger,
            )
        }) {
            Some(m)
        } else if let Some(a) = p.answers.pop_front() {
            Some(message::encode(&a))
        } else if let Some(m) = p
            .initiator
            .as_mut()
            .and_then(|i| i.poll_message(now, &config, ledger))
        {
            if let Some(Body::Records(r)) = &m.body {
                let sent = message::unpack_records(&r.records, usize::MAX).unwrap_or_default();
                for s in &sent {
                    p.known
                        .insert(RecordId::of_body(&s.body), config.max_known_per_peer);
                }
                p.stats.records_out += sent.len() as u64;
            }
            Some(message::encode(&m))
        } else {
            push_batch(
                &mut p.push,
                &mut p.known,
                &mut p.stats,
                |q| &mut q.backfill,
                true,
                &config,
                ledger,
            )
            .or_else(|| {
                push_flooded(
                    &mut p.push,
                    &mut p.known,
                    &mut p.stats,
                    now,
                    &config,
                    ledger,
                )
            })
        };
        self.settle_session(now, peer, ledger);
        let out = out?;
        let p = self.peers.get_mut(&peer)?;
        if out.len() > budget {
            p.held = Some(out);
            return None;
        }
        p.stats.bytes_out += out.len() as u64;
        p.stats.messages_out += 1;
        Some(out)
    }

    fn transmit_medium<S: RecordSet>(
        &mut self,
        now: u64,
        medium: PeerId,
        budget: usize,
        ledger: &Ledger<S>,
    ) -> Option<Vec<u8>> {
        let config = self.config.clone();
        let m = self.media.get_mut(&medium)?;
        let urgent = URGENT.iter().find_map(|q| {
            push_batch(
                &mut m.push,
                &mut m.known,
                &mut m.stats,
                q,
                false,
                &config,
                ledger,
            )
        });
        let out = if let Some(b) = urgent {
            Some(b)
        } else if let Some(msg) = self.poll_medium(now, medium, ledger) {
            Some(message::encode(&msg))
        } else {
            let m = self.media.get_mut(&medium)?;
            push_batch(
                &mut m.push,
                &mut m.known,
                &mut m.stats,
                |q| &mut q.backfill,
                false,
                &config,
                ledger,
            )
            .or_else(|| {
                push_flooded(
                    &mut m.push,
                    &mut m.known,
                    &mut m.stats,
                    now,
                    &config,
                    ledger,
                )
            })
        };
        let mut events = Vec::new();
        self.close_listeners(medium, &mut events);
        self.events.append(&mut events);
        let out = out?;
        let m = self.media.get_mut(&medium)?;
        if out.len() > budget {
            // Put it back; a later call with a larger budget sends it.
            m.outbox.push_front(message::decode(&out, &config).ok()?);
            return None;
        }
        m.stats.bytes_out += out.len() as u64;
        m.stats.messages_out += 1;
        Some(out)
    }

    /// Takes the events noticed while transmitting (a session that closed).
    pub fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }

    /// When `handle_timeout` next has work: a retransmission or a periodic reconciliation.
    pub fn poll_timeout(&self) -> Option<u64> {
        self.peers
            .values()
            .filter_map(|p| match &p.initiator {
                Some(i) => i.poll_timeout(&self.config),
                None => Some(p.next_reconcile),
            })
            .chain(self.medium_timeout())
            .min()
    }

    /// Time passed: retransmit, give up on silent peers, start periodic reconciliations.
    pub fn handle_timeout<S: RecordSet>(&mut self, now: u64, ledger: &Ledger<S>) -> Vec<Event> {
        let mut events = Vec::new();
        let peers: Vec<PeerId> = self.peers.keys().copied().collect();
        for peer in peers {
            let p = self.peers.get_mut(&peer).expect("present");
            // A responder whose initiator went silent holds a snapshot: drop it.
            let idle = self.config.retransmit_ms * u64::from(self.config.max_retransmits + 2);
            if p.responder.is_some() && now > p.responder_active_at + idle {
                p.responder = None;
            }
            match p.initiator.as_mut() {
                Some(i) => {
                    i.handle_timeout(now, &self.config);
                    self.settle_session(now, peer, ledger);
                }
                None if now >= p.next_reconcile => self.reconcile(now, peer, ledger),
                None => {}
            }
        }
        self.medium_timeouts(now, ledger, &mut events);
        events.append(&mut self.events);
        events
    }
}

/// Accounts whose relay budget is remembered per peer, at most.
const MAX_RELAY_ACCOUNTS: usize = 4_096;

/// Packs records of accounts in conflict that their per-account budget lets through;
/// the others wait at the back of the queue for the next window.
fn push_flooded<S: RecordSet>(
    push: &mut PushQueue,
    known: &mut Known,
    stats: &mut PeerStats,
    now: u64,
    config: &SyncConfig,
    ledger: &Ledger<S>,
) -> Option<Vec<u8>> {
    let window = config.conflict_relay_window_ms;
    if push.relayed.len() >= MAX_RELAY_ACCOUNTS {
        push.relayed.retain(|_, (start, _)| now < *start + window);
    }
    let mut records = Vec::new();
    let mut room = config.max_message_bytes.saturating_sub(64);
    for _ in 0..push.flooded.len() {
        let Some(id) = push.flooded.pop_front() else {
            break;
        };
        let Some(r) = ledger.get(&id).filter(|_| !known.set.contains(&id)) else {
            continue;
        };
        let s = r.to_signed();
        let len = prost::Message::encoded_len(&s) + 2;
        if records.len() >= config.max_records_per_message || len > room {
            push.flooded.push_front(id);
            break;
        }
        let full = push.relayed.len() >= MAX_RELAY_ACCOUNTS;
        let budget = push.relayed.entry(r.signer());
        let (start, count) = match budget {
            std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
            std::collections::hash_map::Entry::Vacant(_) if full => {
                push.flooded.push_back(id);
                continue;
            }
            std::collections::hash_map::Entry::Vacant(v) => v.insert((now, 0)),
        };
        if now >= *start + window {
            (*start, *count) = (now, 0);
        }
        if *count >= config.conflict_relay_per_account {
            push.flooded.push_back(id);
            continue;
        }
        *count += 1;
        room -= len;
        known.insert(id, config.max_known_per_peer);
        records.push(s);
    }
    pushed(records, stats)
}

/// The push message carrying `records`, counted; none when there is nothing to push.
fn pushed(records: Vec<wire::SignedRecord>, stats: &mut PeerStats) -> Option<Vec<u8>> {
    if records.is_empty() {
        return None;
    }
    stats.records_out += records.len() as u64;
    Some(message::encode(&message::message(
        0,
        0,
        message::records(&records, false),
    )))
}

/// Push queues that go before session traffic, in order: conflict proofs, records asked
/// for, payments.
const URGENT: [fn(&mut PushQueue) -> &mut VecDeque<RecordId>; 3] =
    [|q| &mut q.proofs, |q| &mut q.asked, |q| &mut q.payments];

/// Packs queued records the peer (or medium) lacks into one message, or sends the first
/// one thin (`thin_ok`: a peer, whose `known` says what it holds; a medium's listeners
/// vary, so a medium gets records whole).
fn push_batch<S: RecordSet>(
    push: &mut PushQueue,
    known: &mut Known,
    stats: &mut PeerStats,
    queue: impl Fn(&mut PushQueue) -> &mut VecDeque<RecordId>,
    thin_ok: bool,
    config: &SyncConfig,
    ledger: &Ledger<S>,
) -> Option<Vec<u8>> {
    let mut records = Vec::new();
    let mut room = config.max_message_bytes.saturating_sub(64);
    // Records a peer asked for go out even if it was sent them before (it lost them).
    let asked = std::ptr::eq(queue(push), &push.asked);
    while let Some(id) = queue(push).front().copied() {
        if !asked && known.set.contains(&id) {
            queue(push).pop_front();
            continue;
        }
        let Some(r) = ledger.get(&id) else {
            queue(push).pop_front();
            continue;
        };
        // A record the peer asked for goes whole: it lacked something already.
        if thin_ok && !asked {
            if let Some(t) = thin::thin(r, ledger, |prev| known.set.contains(prev)) {
                if !records.is_empty() {
                    break;
                }
                queue(push).pop_front();
                known.insert(id, config.max_known_per_peer);
                stats.records_out += 1;
                return Some(message::encode(&message::message(0, 0, Body::Thin(t))));
            }
        }
        let s = r.to_signed();
        let len = prost::Message::encoded_len(&s) + 4;
        if records.len() >= config.max_records_per_message || len > room {
            break;
        }
        room -= len;
        queue(push).pop_front();
        known.insert(id, config.max_known_per_peer);
        records.push(s);
    }
    pushed(records, stats)
}
