//! Sync over a broadcast medium (LoRa: every frame reaches every node in range). A node
//! announces its root now and then; neighbours whose sets differ listen to ONE stream of
//! coded symbols from it, each decoding its own difference. Requests wait a random
//! backoff and are dropped when another neighbour asked first, so one question is asked
//! once and its answer serves everyone.

use std::collections::{BTreeMap, HashMap, VecDeque};

use super::engine::{Event, Known, PeerId, PeerStats, PushQueue, SyncEngine};
use super::initiator::Initiator;
use super::message;
use super::responder::Responder;
use crate::id::RecordId;
use crate::ledger::{Ledger, RecordSet};
use crate::wire::{self, sync_message::Body};

/// Requests remembered per medium to skip answering repeats.
const MAX_REMEMBERED: usize = 256;

/// One neighbour's stream this node listens to.
struct Listener {
    init: Initiator,
    streamer: PeerId,
    /// When the waiting request may go out (backoff), and when it was queued.
    release: Option<(u64, u64)>,
}

/// A broadcast medium this node is on.
#[derive(Default)]
pub(super) struct Medium {
    stream: Option<(Responder, u64)>,
    next_announce: u64,
    listeners: BTreeMap<u32, Listener>,
    /// session -> when someone last asked its streamer something.
    overheard: HashMap<u32, u64>,
    /// (session, request hash) -> when this node answered it.
    answered: HashMap<(u32, [u8; 8]), u64>,
    pub(super) outbox: VecDeque<wire::SyncMessage>,
    pub(super) push: PushQueue,
    pub(super) known: Known,
    pub(super) stats: PeerStats,
}

impl SyncEngine {
    /// Joins a broadcast medium (frames sent to it reach every neighbour on it).
    pub fn add_medium(&mut self, now: u64, medium: PeerId) {
        let jitter = self.seed.below(self.config.broadcast_backoff_ms + 1);
        let m = self.media.entry(medium).or_default();
        m.next_announce = now + jitter;
    }

    /// Traffic on a medium.
    pub fn medium_stats(&self, medium: PeerId) -> Option<&PeerStats> {
        self.media.get(&medium).map(|m| &m.stats)
    }

    /// Whether this node is listening to a stream on the medium.
    pub fn listening(&self, medium: PeerId) -> bool {
        self.media
            .get(&medium)
            .is_some_and(|m| !m.listeners.is_empty())
    }

    /// Takes in a frame heard on `medium` from `from`.
    pub fn handle_medium<S: RecordSet>(
        &mut self,
        now: u64,
        medium: PeerId,
        from: PeerId,
        bytes: &[u8],
        ledger: &Ledger<S>,
    ) -> Vec<Event> {
        let mut events = Vec::new();
        let config = self.config.clone();
        let Some(m) = self.media.get_mut(&medium) else {
            return events;
        };
        m.stats.bytes_in += bytes.len() as u64;
        m.stats.messages_in += 1;
        let msg = match message::decode(bytes, &config) {
            Ok(msg) => msg,
            Err(error) => {
                // No answer on a shared channel: an error frame would cost everyone airtime.
                m.stats.errors += 1;
                events.push(Event::PeerError { peer: from, error });
                return events;
            }
        };
        let body = msg.body.as_ref().expect("checked on decode");
        let mine = m
            .stream
            .as_ref()
            .is_some_and(|(r, _)| r.session() == msg.session);
        match body {
            Body::Hello(h) => {
                // Someone announced: nothing to announce ourselves for a while.
                m.next_announce = m.next_announce.max(now + config.reconcile_every_ms);
                if !mine && !m.listeners.contains_key(&msg.session) {
                    let first_step = self.seed.next_u64() as u32 & 0x7fff_ffff;
                    let m = self.media.get_mut(&medium).expect("present");
                    match Initiator::listen(
                        msg.session,
                        h,
                        ledger.set().ids().collect(),
                        first_step,
                        &config,
                    ) {
                        Ok(init) if init.outcome().is_none() => {
                            m.listeners.insert(
                                msg.session,
                                Listener {
                                    init,
                                    streamer: from,
                                    release: None,
                                },
                            );
                        }
                        Ok(_) => {}
                        Err(error) => {
                            m.stats.errors += 1;
                            events.push(Event::PeerError { peer: from, error });
                        }
                    }
                }
            }
            Body::GetSymbols(_) | Body::GetRanges(_) | Body::Want(_) => {
                m.overheard.insert(msg.session, now);
                if msg.session == 0 {
                    if let Body::Want(w) = body {
                        let ids: Vec<RecordId> = message::unpack(&w.ids, 32)
                            .take(256)
                            .map(|b| RecordId(b.try_into().expect("32 bytes")))
                            .collect();
                        for r in ledger.in_dependency_order(&ids) {
                            m.outbox.push_back(message::message(
                                0,
                                0,
                                message::records(&[r.to_signed()], false),
                            ));
                        }
                    }
                } else if mine {
                    let digest = blake3::hash(bytes);
                    let key = (
                        msg.session,
                        digest.as_bytes()[..8].try_into().expect("8 bytes"),
                    );
                    let recent = m
                        .answered
                        .get(&key)
                        .is_some_and(|t| now < t + config.broadcast_repeat_ms);
                    if !recent {
                        if m.answered.len() >= MAX_REMEMBERED {
                            m.answered.clear();
                        }
                        m.answered.insert(key, now);
                        let (r, _) = m.stream.as_mut().expect("mine");
                        match r.answer(body, &mut self.seed, &config, ledger) {
                            Ok(Some(a)) => {
                                m.outbox
                                    .push_back(message::message(msg.session, msg.step, a))
                            }
                            Ok(None) => {}
                            Err(error) => {
                                m.stats.errors += 1;
                                events.push(Event::PeerError { peer: from, error });
                            }
                        }
                    }
                }
            }
            Body::Symbols(_) | Body::RangeAnswer(_) | Body::Records(_) => {
                if let Body::Records(r) = body {
                    let records =
                        message::unpack_records(&r.records, config.max_records_per_message)
                            .expect("checked on decode");
                    for rec in &records {
                        m.known
                            .insert(RecordId::of_body(&rec.body), config.max_known_per_peer);
                    }
                    m.stats.records_in += records.len() as u64;
                    if !records.is_empty() {
                        events.push(Event::Received {
                            peer: from,
                            records,
                        });
                    }
                }
                if let Some(l) = m.listeners.get_mut(&msg.session) {
                    let r = l.init.handle(&msg, &config);
                    if let Err(error) = r {
                        m.stats.errors += 1;
                        events.push(Event::PeerError { peer: from, error });
                    }
                }
                self.close_listeners(medium, &mut events);
            }
            Body::Root(_) | Body::Done(_) | Body::Refuse(_) => {}
        }
        events
    }

    pub(super) fn close_listeners(&mut self, medium: PeerId, events: &mut Vec<Event>) {
        let Some(m) = self.media.get_mut(&medium) else {
            return;
        };
        let closed: Vec<u32> = m
            .listeners
            .iter()
            .filter(|(_, l)| l.init.is_closed())
            .map(|(s, _)| *s)
            .collect();
        for s in closed {
            let l = m.listeners.remove(&s).expect("present");
            let outcome = l
                .init
                .outcome()
                .cloned()
                .expect("closed sessions have an outcome");
            events.push(Event::Reconciled {
                peer: l.streamer,
                outcome,
            });
        }
    }

    /// The next frame for a medium: pushes of proofs and payments, answers to requests,
    /// listeners' requests once their backoff passed (unless someone asked first), their
    /// records for the streamer, then backfill.
    pub(super) fn poll_medium<S: RecordSet>(
        &mut self,
        now: u64,
        medium: PeerId,
        ledger: &Ledger<S>,
    ) -> Option<wire::SyncMessage> {
        let backoff = self.config.broadcast_backoff_ms;
        let config = self.config.clone();
        let m = self.media.get_mut(&medium)?;
        if let Some(a) = m.outbox.pop_front() {
            return Some(a);
        }
        let sessions: Vec<u32> = m.listeners.keys().copied().collect();
        for s in sessions {
            let m = self.media.get_mut(&medium)?;
            let l = m.listeners.get_mut(&s).expect("present");
            if l.init.has_request() {
                match l.release {
                    None => {
                        let wait = self.seed.below(backoff + 1);
                        let m = self.media.get_mut(&medium)?;
                        m.listeners.get_mut(&s).expect("present").release = Some((now + wait, now));
                    }
                    Some((at, queued)) if now >= at => {
                        l.release = None;
                        let asked_meanwhile = m.overheard.get(&s).is_some_and(|t| *t > queued);
                        if asked_meanwhile {
                            l.init.suppress(now);
                        } else {
                            m.overheard.insert(s, now);
                            return l.init.poll_message(now, &config, ledger);
                        }
                    }
                    Some(_) => {}
                }
            } else if let Some(msg) = l.init.poll_message(now, &config, ledger) {
                return Some(msg);
            }
        }
        None
    }

    /// Medium timers: announce, retransmit, close listeners.
    pub(super) fn medium_timeouts<S: RecordSet>(
        &mut self,
        now: u64,
        ledger: &Ledger<S>,
        events: &mut Vec<Event>,
    ) {
        let media: Vec<PeerId> = self.media.keys().copied().collect();
        for medium in media {
            let session = self.next_session;
            let salt = self.seed.salt();
            let jitter = self.seed.below(self.config.broadcast_backoff_ms + 1);
            let config = self.config.clone();
            let m = self.media.get_mut(&medium).expect("present");
            if m.stream
                .as_ref()
                .is_some_and(|(_, at)| now >= at + config.broadcast_stream_ms)
            {
                m.stream = None;
            }
            if now >= m.next_announce {
                self.next_session =
                    (self.next_session.wrapping_add(1) & super::engine::SESSION_MASK).max(1);
                let (r, hello) = Responder::announce(session, salt, ledger.set().ids().collect());
                m.stream = Some((r, now));
                m.outbox.push_back(message::message(session, 0, hello));
                m.next_announce = now + config.reconcile_every_ms + jitter;
                m.stats.sessions += 1;
            }
            for l in m.listeners.values_mut() {
                l.init.handle_timeout(now, &config);
            }
            self.close_listeners(medium, events);
        }
    }

    /// The earliest medium timer.
    pub(super) fn medium_timeout(&self) -> Option<u64> {
        self.media
            .values()
            .flat_map(|m| {
                let listeners = m.listeners.values().filter_map(|l| {
                    l.release
                        .map(|(at, _)| at)
                        .or_else(|| l.init.poll_timeout(&self.config))
                });
                std::iter::once(m.next_announce).chain(listeners)
            })
            .min()
    }
}
