//! Sync over a broadcast medium (LoRa: every frame reaches every node in range). A node
//! announces its root now and then; neighbours whose sets differ listen to ONE stream of
//! coded symbols from it, each decoding its own difference. Requests wait a random
//! backoff and are dropped when another neighbour asked first, so one question is asked
//! once and its answer serves everyone. Answers to a broadcast `Want` wait a random
//! backoff too, and leave out what was heard on the medium meanwhile: every neighbour
//! holding the records hears the `Want`, and one of them answering is enough.

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
/// Streams listened to at once (one per announcer).
const MAX_LISTENERS: usize = 4;
/// Frames queued for the medium before new answers are dropped (asked again later).
const MAX_OUTBOX: usize = 32;
/// Announcers and records remembered for rate limits and repeats.
const MAX_REMEMBERED_IDS: usize = 4_096;

/// An answer to a broadcast `Want`, waiting for its backoff.
struct WantAnswer {
    /// When it may go out.
    release: u64,
    /// When the `Want` was heard: records heard on the medium after it are left out.
    asked: u64,
    ids: Vec<RecordId>,
}

/// One neighbour's stream this node listens to.
struct Listener {
    init: Initiator,
    /// When the waiting request may go out (backoff), and when it was queued.
    release: Option<(u64, u64)>,
}

/// A broadcast medium this node is on.
#[derive(Default)]
pub(super) struct Medium {
    stream: Option<(Responder, u64)>,
    next_announce: u64,
    /// (announcer, session) -> the listener of that stream; one per announcer.
    listeners: BTreeMap<(PeerId, u32), Listener>,
    /// announcer -> when its last announcement was taken up (a rate limit).
    announcers: HashMap<PeerId, u64>,
    /// session listened to -> when someone last asked its streamer something.
    overheard: HashMap<u32, u64>,
    /// hash of a request to our stream -> when this node answered it.
    answered: HashMap<[u8; 8], u64>,
    /// record -> when this node last broadcast it on request.
    sent: HashMap<RecordId, u64>,
    /// (record, signature) -> when a neighbour last broadcast that copy. The signature is
    /// part of the key because ids name bodies alone: a copy with a broken signature,
    /// which anyone can make, must not silence the nodes holding a good one.
    heard: HashMap<(RecordId, [u8; 64]), u64>,
    /// Answers to broadcast `Want`s, waiting for their backoff.
    wanted: VecDeque<WantAnswer>,
    pub(super) outbox: VecDeque<wire::SyncMessage>,
    pub(super) push: PushQueue,
    pub(super) known: Known,
    pub(super) stats: PeerStats,
}

/// Forgets entries older than `keep_ms` once a memory is full; true if there is room.
fn make_room<K: std::hash::Hash + Eq>(
    m: &mut HashMap<K, u64>,
    now: u64,
    keep_ms: u64,
    max: usize,
) -> bool {
    if m.len() >= max {
        m.retain(|_, t| now < t.saturating_add(keep_ms));
    }
    m.len() < max
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
            Body::Hello(h) if !mine => {
                self.heard_announcement(now, medium, from, msg.session, h, ledger, &mut events)
            }
            Body::GetSymbols(_) | Body::GetRanges(_) | Body::Want(_) => {
                if m.listeners.keys().any(|(_, s)| *s == msg.session) {
                    m.overheard.insert(msg.session, now);
                }
                if msg.session == 0 {
                    if let Body::Want(w) = body {
                        self.answer_want(now, medium, w, ledger);
                    }
                } else if mine {
                    self.answer_request(now, medium, from, &msg, ledger, &mut events);
                }
            }
            Body::Symbols(_) | Body::RangeAnswer(_) | Body::Records(_) => {
                if let Body::Records(r) = body {
                    let records =
                        message::unpack_records(&r.records, config.max_records_per_message)
                            .expect("checked on decode");
                    let room = make_room(
                        &mut m.heard,
                        now,
                        config.broadcast_repeat_ms,
                        MAX_REMEMBERED_IDS,
                    );
                    for rec in &records {
                        let id = RecordId::of_body(&rec.body);
                        m.known.insert(id, config.max_known_per_peer);
                        if let (true, Ok(sig)) = (room, rec.signature.as_slice().try_into()) {
                            m.heard.insert((id, sig), now);
                        }
                    }
                    m.stats.records_in += records.len() as u64;
                    if !records.is_empty() {
                        events.push(Event::Received {
                            peer: from,
                            records,
                        });
                    }
                }
                // Only the announcer's own frames feed a listener of its stream.
                if let Some(l) = m.listeners.get_mut(&(from, msg.session)) {
                    if let Err(error) = l.init.handle(&msg, &config) {
                        m.stats.errors += 1;
                        events.push(Event::PeerError { peer: from, error });
                    }
                }
                self.close_listeners(medium, &mut events);
            }
            // Thin pushes go to peers only: a medium's listeners vary.
            Body::Hello(_) | Body::Root(_) | Body::Done(_) | Body::Refuse(_) | Body::Thin(_) => {}
        }
        events
    }

    /// A neighbour announced its root: listen to its stream if our sets differ (one
    /// stream per announcer, a few at once, each announcer at most once per session
    /// interval), or hold our own announcement back if they are equal.
    #[allow(clippy::too_many_arguments)]
    fn heard_announcement<S: RecordSet>(
        &mut self,
        now: u64,
        medium: PeerId,
        from: PeerId,
        session: u32,
        hello: &wire::Hello,
        ledger: &Ledger<S>,
        events: &mut Vec<Event>,
    ) {
        let config = self.config.clone();
        let first_step = self.seed.next_u64() as u32 & 0x7fff_ffff;
        let m = self.media.get_mut(&medium).expect("present");
        if m.listeners.contains_key(&(from, session)) {
            return;
        }
        let interval = config.min_session_interval_ms;
        if m.announcers.get(&from).is_some_and(|t| now < t + interval)
            || !make_room(&mut m.announcers, now, interval, MAX_REMEMBERED_IDS)
        {
            return;
        }
        m.announcers.insert(from, now);
        match Initiator::listen(
            session,
            hello,
            ledger.set().ids().collect(),
            first_step,
            &config,
        ) {
            Ok(init) if init.outcome().is_some() => {
                // Same set as ours: nothing for us to announce for a while.
                m.next_announce = m.next_announce.max(now + config.reconcile_every_ms);
            }
            Ok(init) => {
                m.listeners.retain(|(a, _), _| *a != from);
                if m.listeners.len() < MAX_LISTENERS {
                    m.listeners.insert(
                        (from, session),
                        Listener {
                            init,
                            release: None,
                        },
                    );
                }
            }
            Err(error) => {
                m.stats.errors += 1;
                events.push(Event::PeerError { peer: from, error });
            }
        }
    }

    /// Someone asked our stream something: answer once for everyone.
    fn answer_request<S: RecordSet>(
        &mut self,
        now: u64,
        medium: PeerId,
        from: PeerId,
        msg: &wire::SyncMessage,
        ledger: &Ledger<S>,
        events: &mut Vec<Event>,
    ) {
        let config = self.config.clone();
        let m = self.media.get_mut(&medium).expect("present");
        // Repeats are the same request whatever its step: hash the body alone.
        let body = msg.body.clone().expect("checked on decode");
        let key: [u8; 8] = blake3::hash(&message::encode(&message::message(0, 0, body.clone())))
            .as_bytes()[..8]
            .try_into()
            .expect("8 bytes");
        let recent = m
            .answered
            .get(&key)
            .is_some_and(|t| now < t + config.broadcast_repeat_ms);
        if recent
            || m.outbox.len() >= MAX_OUTBOX
            || !make_room(
                &mut m.answered,
                now,
                config.broadcast_repeat_ms,
                MAX_REMEMBERED,
            )
        {
            return;
        }
        m.answered.insert(key, now);
        let (r, _) = m.stream.as_mut().expect("our stream");
        match r.answer(&body, &mut self.seed, &config, ledger) {
            Ok(Some(a)) => m
                .outbox
                .push_back(message::message(msg.session, msg.step, a)),
            Ok(None) => {}
            Err(error) => {
                m.stats.errors += 1;
                events.push(Event::PeerError { peer: from, error });
            }
        }
    }

    /// Someone asked for records by id: queue an answer with those this node holds, to
    /// go out after a random backoff (see [`Self::want_answer`]).
    fn answer_want<S: RecordSet>(
        &mut self,
        now: u64,
        medium: PeerId,
        w: &wire::Want,
        ledger: &Ledger<S>,
    ) {
        let wait = self.seed.below(self.config.broadcast_backoff_ms + 1);
        let config = self.config.clone();
        let m = self.media.get_mut(&medium).expect("present");
        if m.wanted.len() >= MAX_OUTBOX {
            return;
        }
        let ids: Vec<RecordId> = message::unpack(&w.ids, 32)
            .take(config.max_records_per_message)
            .map(|b| RecordId(b.try_into().expect("32 bytes")))
            .filter(|id| ledger.contains(id))
            .collect();
        if ids.is_empty() {
            return;
        }
        m.wanted.push_back(WantAnswer {
            release: now + wait,
            asked: now,
            ids,
        });
    }

    /// The first answer to a `Want` whose backoff has passed, without the records heard
    /// on the medium since the `Want` (a neighbour answered first) or broadcast by this
    /// node just now; answers left empty are dropped.
    fn want_answer<S: RecordSet>(
        &mut self,
        now: u64,
        medium: PeerId,
        ledger: &Ledger<S>,
    ) -> Option<wire::SyncMessage> {
        let repeat = self.config.broadcast_repeat_ms;
        let m = self.media.get_mut(&medium)?;
        while let Some(k) = m.wanted.iter().position(|a| a.release <= now) {
            let a = m.wanted.remove(k).expect("present");
            if !make_room(&mut m.sent, now, repeat, MAX_REMEMBERED_IDS) {
                return None;
            }
            let ids: Vec<RecordId> = a
                .ids
                .into_iter()
                // Left out only if a neighbour broadcast the very copy this node holds
                // (whose signature it checked) since the `Want`.
                .filter(|id| {
                    ledger
                        .get(id)
                        .and_then(|r| m.heard.get(&(*id, *r.signature())))
                        .is_none_or(|t| *t < a.asked)
                })
                .filter(|id| m.sent.get(id).is_none_or(|t| now >= t + repeat))
                .collect();
            let records: Vec<wire::SignedRecord> = ledger
                .in_dependency_order(&ids)
                .iter()
                .map(|r| r.to_signed())
                .collect();
            if records.is_empty() {
                continue;
            }
            for r in &records {
                m.sent.insert(RecordId::of_body(&r.body), now);
            }
            return Some(message::message(0, 0, message::records(&records, false)));
        }
        None
    }

    pub(super) fn close_listeners(&mut self, medium: PeerId, events: &mut Vec<Event>) {
        let Some(m) = self.media.get_mut(&medium) else {
            return;
        };
        let closed: Vec<(PeerId, u32)> = m
            .listeners
            .iter()
            .filter(|(_, l)| l.init.is_closed())
            .map(|(k, _)| *k)
            .collect();
        for key in closed {
            let l = m.listeners.remove(&key).expect("present");
            m.overheard.remove(&key.1);
            let outcome = l
                .init
                .outcome()
                .cloned()
                .expect("closed sessions have an outcome");
            events.push(Event::Reconciled {
                peer: key.0,
                outcome,
            });
        }
    }

    /// The next frame for a medium: pushes of proofs and payments, answers to requests,
    /// answers to `Want`s once their backoff passed, listeners' requests once theirs
    /// passed (unless someone asked first), their records for the streamer, then
    /// backfill.
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
        if let Some(a) = self.want_answer(now, medium, ledger) {
            return Some(a);
        }
        let m = self.media.get_mut(&medium)?;
        let keys: Vec<(PeerId, u32)> = m.listeners.keys().copied().collect();
        for key in keys {
            let s = key.1;
            let m = self.media.get_mut(&medium)?;
            let l = m.listeners.get_mut(&key).expect("present");
            if l.init.has_request() {
                match l.release {
                    None => {
                        let wait = self.seed.below(backoff + 1);
                        let m = self.media.get_mut(&medium)?;
                        m.listeners.get_mut(&key).expect("present").release =
                            Some((now + wait, now));
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
                let answers = m.wanted.iter().map(|a| a.release);
                std::iter::once(m.next_announce)
                    .chain(listeners)
                    .chain(answers)
            })
            .min()
    }
}
