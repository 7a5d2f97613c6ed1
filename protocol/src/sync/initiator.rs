//! The driving side of a reconciliation session, in three stages: a root check of its
//! snapshot; difference coding (it decodes the responder's coded symbols); range
//! reconciliation when the coded stream runs past its budget or one side is nearly
//! empty. Then it asks for what it lacks, sends what the responder lacks, and checks the
//! result against both root fingerprints: a short-id collision that cancelled out shows
//! there and costs a retry, never a lost record.

use std::collections::{HashMap, HashSet};

use super::config::SyncConfig;
use super::message::{self, SyncError};
use super::responder::{RANGE_ID_LEN, WANT_ID_LEN, prefers_ranges, short_table};
use super::riblt::{self, Decoder, DecoderConfig};
use super::shortid::ShortIdKey;
use super::snapshot::{Fingerprint, FingerprintKey, Snapshot};
use crate::id::RecordId;
use crate::ledger::{Ledger, RecordSet};
use crate::wire::{self, sync_message::Body};

/// How a session ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Both sets were equal, or the difference was exchanged and checked.
    Reconciled {
        /// Records received from the responder.
        received: usize,
        /// Records sent to the responder.
        sent: usize,
        /// Whether ranges were needed.
        ranges: bool,
    },
    /// The decoded difference did not check out (a short-id collision): try again with
    /// fresh salts.
    Retry,
}

/// A range still to settle, with this side's fingerprint of it.
#[derive(Clone, Debug)]
struct Open {
    lower: Vec<u8>,
    upper: Vec<u8>,
}

enum Stage {
    Root,
    /// Listening to a broadcast stream whose root was announced.
    AwaitSymbols,
    Symbols {
        key: ShortIdKey,
        decoder: Box<Decoder>,
        local: HashMap<u64, RecordId>,
    },
    Ranges {
        work: Vec<Open>,
        asked: Vec<Open>,
        /// Answers that split ranges, and answers in all.
        rounds: u32,
        answers: u64,
    },
    Fetch,
    Finished,
}

/// One reconciliation session, driven by this side.
pub struct Initiator {
    session: u32,
    step: u32,
    salt: [u8; 16],
    snapshot: Snapshot,
    remote: Option<Fingerprint>,
    stage: Stage,
    /// Short-id key the wanted short ids are under.
    want_key: Option<(wire::ShortKey, ShortIdKey)>,
    wanted: HashSet<u64>,
    local_only: Vec<RecordId>,
    remote_only: usize,
    received: Vec<RecordId>,
    sent: usize,
    used_ranges: bool,
    /// The request awaiting an answer: (step, message, sent at, tries).
    pending: Option<(u32, wire::SyncMessage, Option<u64>, u32)>,
    /// Records to push to the responder (ids, dependency order fixed when sent).
    to_send: Vec<RecordId>,
    /// What range reconciliation found so far: short ids only the responder has, and
    /// ids only this side has.
    range_remote: Vec<u64>,
    range_local: Vec<RecordId>,
    outcome: Option<Result<Outcome, SyncError>>,
    /// Listening on a broadcast medium: answers to other listeners' requests are used
    /// when they fit, and silence, not an empty answer, means "ask again".
    broadcast: bool,
}

impl Initiator {
    /// Opens a session over `ids` (the set as it stands now) with a fresh `salt`.
    pub fn new(session: u32, salt: [u8; 16], ids: Vec<RecordId>, config: &SyncConfig) -> Self {
        let snapshot = Snapshot::new(FingerprintKey::new(&salt), ids);
        let root = snapshot.root();
        let mut s = Initiator {
            session,
            step: 0,
            salt,
            snapshot,
            remote: None,
            stage: Stage::Root,
            want_key: None,
            wanted: HashSet::new(),
            local_only: Vec::new(),
            remote_only: 0,
            received: Vec::new(),
            sent: 0,
            used_ranges: false,
            pending: None,
            to_send: Vec::new(),
            range_remote: Vec::new(),
            range_local: Vec::new(),
            outcome: None,
            broadcast: false,
        };
        s.request(Body::Hello(wire::Hello {
            salt: salt.to_vec(),
            count: root.count,
            fingerprint: root.to_bytes().to_vec(),
            window: config.initial_symbols,
        }));
        s
    }

    /// Listens to the coded-symbol stream a neighbour announced on a broadcast medium
    /// (its `Hello` carries its root under its own salt). Steps start at `first_step`,
    /// drawn at random, so listeners sharing the stream do not take each other's answers.
    pub fn listen(
        session: u32,
        announced: &wire::Hello,
        ids: Vec<RecordId>,
        first_step: u32,
        config: &SyncConfig,
    ) -> Result<Self, SyncError> {
        let salt: [u8; 16] = announced
            .salt
            .as_slice()
            .try_into()
            .map_err(|_| SyncError::Invalid("salt"))?;
        let fp: [u8; 8] = announced
            .fingerprint
            .as_slice()
            .try_into()
            .map_err(|_| SyncError::Invalid("fingerprint"))?;
        let mut s = Initiator::new(session, salt, ids, config);
        s.broadcast = true;
        s.step = first_step;
        s.remote = Some(Fingerprint {
            count: announced.count,
            sum: u64::from_le_bytes(fp),
        });
        if s.remote == Some(s.snapshot.root()) {
            s.finish(Ok(Outcome::Reconciled {
                received: 0,
                sent: 0,
                ranges: false,
            }));
            return Ok(s);
        }
        let theirs = announced.count;
        if prefers_ranges(s.snapshot.len() as u64, theirs) {
            s.start_ranges(config);
        } else {
            s.stage = Stage::AwaitSymbols;
            let first = (s.snapshot.len() as u64).abs_diff(theirs).saturating_mul(3) / 2 + 4;
            let first = first.clamp(1, u64::from(config.max_symbols_per_request)) as u32;
            s.request(Body::GetSymbols(wire::GetSymbols {
                from: 0,
                count: first,
            }));
        }
        Ok(s)
    }

    /// Whether a request waits to go out.
    pub fn has_request(&self) -> bool {
        matches!(self.pending, Some((_, _, None, _)))
    }

    /// Another listener asked the same already: wait for the broadcast answer as if this
    /// request had gone out (asked again after a timeout if nothing comes).
    pub fn suppress(&mut self, now: u64) {
        if let Some((_, _, sent_at @ None, _)) = &mut self.pending {
            *sent_at = Some(now);
        }
    }

    /// The session number.
    pub fn session(&self) -> u32 {
        self.session
    }

    /// How the session ended, once it has.
    pub fn outcome(&self) -> Option<&Result<Outcome, SyncError>> {
        self.outcome.as_ref()
    }

    fn request(&mut self, body: Body) {
        self.step += 1;
        self.pending = Some((
            self.step,
            message::message(self.session, self.step, body),
            None,
            0,
        ));
    }

    fn finish(&mut self, r: Result<Outcome, SyncError>) {
        self.stage = Stage::Finished;
        self.pending = None;
        self.outcome = Some(r);
    }

    /// The next message to send, if any: the pending request (again, after a timeout),
    /// then records the responder lacks.
    pub fn poll_message<S: RecordSet>(
        &mut self,
        now: u64,
        config: &SyncConfig,
        ledger: &Ledger<S>,
    ) -> Option<wire::SyncMessage> {
        if let Some((_, msg, sent_at @ None, _)) = &mut self.pending {
            *sent_at = Some(now);
            return Some(msg.clone());
        }
        if !self.to_send.is_empty() {
            let ids = std::mem::take(&mut self.to_send);
            let ordered = ledger.in_dependency_order(&ids);
            let mut records = Vec::new();
            let mut room = config.max_message_bytes.saturating_sub(64);
            let mut rest = Vec::new();
            for r in ordered {
                let s = r.to_signed();
                let len = prost::Message::encoded_len(&s) + 4;
                if records.len() < config.max_records_per_message && len <= room {
                    room -= len;
                    records.push(s);
                } else {
                    rest.push(r.id());
                }
            }
            self.to_send = rest;
            self.sent += records.len();
            return Some(message::message(
                self.session,
                0,
                message::records(&records, false),
            ));
        }
        None
    }

    /// Whether the session is over and has nothing more to send.
    pub fn is_closed(&self) -> bool {
        match &self.outcome {
            Some(Ok(Outcome::Reconciled { .. })) => self.to_send.is_empty(),
            Some(_) => true,
            None => false,
        }
    }

    /// When the pending request should be asked again.
    pub fn poll_timeout(&self, config: &SyncConfig) -> Option<u64> {
        match &self.pending {
            Some((_, _, Some(at), _)) => Some(at + config.retransmit_ms),
            _ => None,
        }
    }

    /// Time passed: ask again, or give up.
    pub fn handle_timeout(&mut self, now: u64, config: &SyncConfig) {
        if let Some((_, _, sent_at, tries)) = &mut self.pending {
            if sent_at.is_some_and(|t| now >= t + config.retransmit_ms) {
                if *tries >= config.max_retransmits {
                    self.finish(Err(SyncError::Timeout));
                } else {
                    *tries += 1;
                    *sent_at = None;
                }
            }
        }
    }

    /// Handles an answer of the responder. Records it carries are returned for the
    /// caller to merge.
    pub fn handle(
        &mut self,
        m: &wire::SyncMessage,
        config: &SyncConfig,
    ) -> Result<Vec<wire::SignedRecord>, SyncError> {
        let body = m.body.as_ref().ok_or(SyncError::Invalid("empty message"))?;
        if let Body::Refuse(r) = body {
            let e = SyncError::Refused(r.reason.clone());
            self.finish(Err(e.clone()));
            return Err(e);
        }
        // Answers echo the step they answer; anything else is stale or a replay. On a
        // broadcast medium, symbols and records answering another listener serve too.
        let shared = self.broadcast && matches!(body, Body::Symbols(_) | Body::Records(_));
        if !shared && self.pending.as_ref().map(|p| p.0) != Some(m.step) {
            return Ok(Vec::new());
        }
        let r = self.on_answer(body, config);
        if let Err(e) = &r {
            self.finish(Err(e.clone()));
        }
        r
    }

    fn on_answer(
        &mut self,
        body: &Body,
        config: &SyncConfig,
    ) -> Result<Vec<wire::SignedRecord>, SyncError> {
        let kept = self.pending.take();
        let r = self.on_answer_inner(body, config);
        if self.broadcast
            && self.pending.is_none()
            && self.outcome.is_none()
            && r.as_ref().is_ok_and(|v| v.is_empty())
        {
            // An overheard answer that moved nothing: keep waiting for our own.
            self.pending = kept;
        }
        r
    }

    fn on_answer_inner(
        &mut self,
        body: &Body,
        config: &SyncConfig,
    ) -> Result<Vec<wire::SignedRecord>, SyncError> {
        match (body, &mut self.stage) {
            (Body::Root(root), Stage::Root) => {
                let fp: [u8; 8] = root
                    .fingerprint
                    .as_slice()
                    .try_into()
                    .map_err(|_| SyncError::Invalid("fingerprint"))?;
                let theirs = Fingerprint {
                    count: root.count,
                    sum: u64::from_le_bytes(fp),
                };
                self.remote = Some(theirs);
                if theirs == self.snapshot.root() {
                    self.finish(Ok(Outcome::Reconciled {
                        received: 0,
                        sent: 0,
                        ranges: false,
                    }));
                } else if let Some(symbols) = &root.symbols {
                    self.start_symbols(symbols, config)?;
                } else if prefers_ranges(self.snapshot.len() as u64, theirs.count) {
                    self.start_ranges(config);
                } else {
                    return Err(SyncError::Unexpected("sets differ but no symbols came"));
                }
                Ok(Vec::new())
            }
            (Body::Symbols(symbols), Stage::AwaitSymbols) => {
                // A listener can only start from the stream's first run (it has the salt).
                if symbols.first == 0 && !symbols.salt.is_empty() {
                    self.start_symbols(symbols, config)?;
                }
                Ok(Vec::new())
            }
            (Body::Symbols(symbols), Stage::Symbols { .. }) => {
                self.feed_symbols(symbols, config)?;
                Ok(Vec::new())
            }
            (Body::RangeAnswer(a), Stage::Ranges { .. }) => {
                self.on_ranges(a, config)?;
                Ok(Vec::new())
            }
            (Body::Records(r), Stage::Fetch) => self.on_records(r, config),
            _ => Err(SyncError::Unexpected(
                "answer does not fit the session's stage",
            )),
        }
    }

    fn start_symbols(&mut self, s: &wire::Symbols, config: &SyncConfig) -> Result<(), SyncError> {
        let salt: [u8; 16] = s
            .salt
            .as_slice()
            .try_into()
            .map_err(|_| SyncError::Invalid("salt"))?;
        let len = u8::try_from(s.id_len).map_err(|_| SyncError::Invalid("short id length"))?;
        let key = ShortIdKey::new(salt, len).map_err(|_| SyncError::Invalid("short id length"))?;
        let local = short_table(&key, self.snapshot.ids());
        if local.len() != self.snapshot.len() {
            // Two of our ids collide under the responder's salt: a fresh session draws
            // another.
            self.finish(Ok(Outcome::Retry));
            return Ok(());
        }
        let decoder = Decoder::new(
            &key,
            local.keys().copied(),
            DecoderConfig {
                max_symbols: config.symbol_budget,
            },
        );
        self.stage = Stage::Symbols {
            key,
            decoder: Box::new(decoder),
            local,
        };
        self.feed_symbols(s, config)
    }

    fn feed_symbols(&mut self, s: &wire::Symbols, config: &SyncConfig) -> Result<(), SyncError> {
        let Stage::Symbols { key, decoder, .. } = &mut self.stage else {
            return Err(SyncError::Unexpected("symbols outside difference coding"));
        };
        if (!s.salt.is_empty() && s.salt.as_slice() != key.salt().as_slice())
            || s.id_len != u32::from(key.len())
        {
            return Err(SyncError::Invalid("symbols under another key"));
        }
        let have = decoder.received();
        if s.first != have {
            if !self.broadcast {
                return Err(SyncError::Unexpected("symbols out of sequence"));
            }
            if s.first > have || s.first + u64::from(s.n) <= have {
                // A run we cannot use yet, or already have: wait for the next.
                return Ok(());
            }
        }
        let remote_count = self.remote.map_or(0, |r| r.count);
        let symbols = riblt::read_symbols(&s.data, s.first, remote_count, key.len(), s.n as usize)
            .map_err(|_| SyncError::Invalid("coded symbols"))?;
        if symbols.len() != s.n as usize {
            return Err(SyncError::Invalid("symbol count"));
        }
        // A coded symbol sums some of the sender's ids: its count lies between 0 and the
        // count the sender announced, and symbol 0, which holds them all, equals it.
        let possible = |i: u64, c: i64| {
            u64::try_from(c).is_ok_and(|c| c <= remote_count && (i != 0 || c == remote_count))
        };
        if !symbols
            .iter()
            .enumerate()
            .all(|(k, sym)| possible(s.first + k as u64, sym.count))
        {
            return Err(SyncError::Invalid(
                "coded symbol counts impossible for the announced set",
            ));
        }
        let skip = (have - s.first) as usize;
        for sym in symbols.into_iter().skip(skip) {
            if decoder.push(sym).is_err() || decoder.is_decoded() || decoder.is_inconsistent() {
                break;
            }
        }
        if decoder.is_inconsistent() {
            // A false purity or a collision: a fresh salt settles it.
            self.finish(Ok(Outcome::Retry));
            return Ok(());
        }
        if decoder.is_decoded() {
            return self.decoded(config);
        }
        let got = decoder.received();
        if got >= config.symbol_budget {
            self.start_ranges(config);
            return Ok(());
        }
        // Ask for about what the estimate says decoding needs (≈ 1.4 symbols per
        // difference), then small steps: overshooting costs bytes, falling short only a
        // round trip of some 35 bytes.
        let decoded = (decoder.remote_only().len() + decoder.local_only().len()) as u64;
        let estimate = decoder.estimate_remaining().min(config.symbol_budget);
        let need = ((decoded.saturating_add(estimate)) as f64 * 1.25).ceil() as u64;
        let need = need.saturating_add(2);
        let next = need
            .saturating_sub(got)
            .max((got / 16).max(4))
            .min(u64::from(config.max_symbols_per_request));
        let next = next.min(config.symbol_budget - got) as u32;
        self.request(Body::GetSymbols(wire::GetSymbols {
            from: got,
            count: next,
        }));
        Ok(())
    }

    /// The difference is decoded: check it against our own ids, then fetch and send.
    fn decoded(&mut self, config: &SyncConfig) -> Result<(), SyncError> {
        let Stage::Symbols {
            key,
            decoder,
            local,
        } = std::mem::replace(&mut self.stage, Stage::Fetch)
        else {
            unreachable!("called in the symbol stage");
        };
        let mut consistent = true;
        let mut local_only = Vec::new();
        for s in decoder.local_only() {
            match local.get(s) {
                Some(id) => local_only.push(*id),
                None => consistent = false,
            }
        }
        let remote_only: Vec<u64> = decoder.remote_only().to_vec();
        if remote_only.iter().any(|s| local.contains_key(s)) {
            consistent = false;
        }
        if !consistent {
            self.finish(Ok(Outcome::Retry));
            return Ok(());
        }
        self.fetch(
            wire::ShortKey::Symbols,
            key,
            remote_only,
            local_only,
            config,
        );
        Ok(())
    }

    fn fetch(
        &mut self,
        kind: wire::ShortKey,
        key: ShortIdKey,
        remote_only: Vec<u64>,
        mut local_only: Vec<RecordId>,
        config: &SyncConfig,
    ) {
        local_only.sort();
        self.to_send = local_only.clone();
        self.local_only = local_only;
        self.remote_only = remote_only.len();
        self.wanted = remote_only.into_iter().collect();
        self.want_key = Some((kind, key));
        self.stage = Stage::Fetch;
        self.ask_wanted(config);
    }

    fn ask_wanted(&mut self, config: &SyncConfig) {
        let Some((kind, _)) = &self.want_key else {
            return;
        };
        if self.wanted.is_empty() {
            self.verify();
            return;
        }
        let width = WANT_ID_LEN;
        // One page at a time, as many as one answer carries: each id is asked once.
        let max = (config.max_message_bytes.saturating_sub(64) / width)
            .min(config.max_records_per_message)
            .max(1);
        let mut wanted: Vec<u64> = self.wanted.iter().copied().collect();
        wanted.sort_unstable();
        let mut short_ids = Vec::with_capacity(max.min(wanted.len()) * width);
        for s in wanted.into_iter().take(max) {
            short_ids.extend_from_slice(&s.to_le_bytes()[..width]);
        }
        let kind = *kind as i32;
        self.request(Body::Want(wire::Want {
            short_ids,
            ids: Vec::new(),
            key: kind,
        }));
    }

    fn on_records(
        &mut self,
        r: &wire::Records,
        config: &SyncConfig,
    ) -> Result<Vec<wire::SignedRecord>, SyncError> {
        let Some((_, key)) = &self.want_key else {
            return Err(SyncError::Unexpected("records without a request"));
        };
        let mut useful = Vec::new();
        let records = message::unpack_records(&r.records, config.max_records_per_message)?;
        for s in &records {
            let id = RecordId::of_body(&s.body);
            if self.wanted.remove(&key.short(&id)) {
                self.received.push(id);
                useful.push(s.clone());
            }
        }
        if useful.is_empty() && !self.wanted.is_empty() {
            if self.broadcast {
                // Records for another listener: ours may still come.
                return Ok(Vec::new());
            }
            // The responder has nothing more of what we want: the decode was wrong.
            self.finish(Ok(Outcome::Retry));
            return Ok(Vec::new());
        }
        self.ask_wanted(config);
        Ok(useful)
    }

    /// Both sides' root fingerprints, less what each lacked, must describe one set.
    fn verify(&mut self) {
        let Some(remote) = self.remote else {
            self.finish(Err(SyncError::Unexpected("no root")));
            return;
        };
        let key = self.snapshot.key();
        let mine = self.snapshot.root();
        let minus = |f: Fingerprint, ids: &[RecordId]| Fingerprint {
            count: f.count.wrapping_sub(ids.len() as u64),
            sum: ids
                .iter()
                .fold(f.sum, |acc, id| acc.wrapping_sub(key.hash(id))),
        };
        if minus(mine, &self.local_only) == minus(remote, &self.received) {
            self.finish(Ok(Outcome::Reconciled {
                received: self.received.len(),
                sent: self.local_only.len(),
                ranges: self.used_ranges,
            }));
        } else {
            self.finish(Ok(Outcome::Retry));
        }
    }

    fn start_ranges(&mut self, config: &SyncConfig) {
        self.used_ranges = true;
        let n = self.snapshot.len();
        let mut lowers: Vec<Vec<u8>> = vec![Vec::new()];
        if n > config.split_fanout {
            lowers.extend(self.snapshot.split_bounds(0, n, config.split_fanout));
        } else {
            lowers.extend((1..16u8).map(|b| vec![b << 4]));
        }
        let work = lowers
            .iter()
            .enumerate()
            .map(|(i, l)| Open {
                lower: l.clone(),
                upper: lowers.get(i + 1).cloned().unwrap_or_default(),
            })
            .collect();
        self.stage = Stage::Ranges {
            work,
            asked: Vec::new(),
            rounds: 0,
            answers: 0,
        };
        self.ask_ranges(config);
    }

    /// Asks about the next batch of open ranges (consecutive ones go in one request).
    fn ask_ranges(&mut self, config: &SyncConfig) {
        let Stage::Ranges { work, asked, .. } = &mut self.stage else {
            return;
        };
        if work.is_empty() {
            let key = ShortIdKey::new(self.salt, RANGE_ID_LEN).expect("valid length");
            let mut remote_only = std::mem::take(&mut self.range_remote);
            remote_only.sort_unstable();
            remote_only.dedup();
            let mut local_only = std::mem::take(&mut self.range_local);
            local_only.sort_unstable();
            local_only.dedup();
            self.fetch(wire::ShortKey::Ranges, key, remote_only, local_only, config);
            return;
        }
        work.sort_by(|a, b| a.lower.cmp(&b.lower));
        // One request carries a run of adjacent ranges.
        let mut run: Vec<Open> = Vec::new();
        while let Some(o) = work.first() {
            let adjacent = run
                .last()
                .is_none_or(|l: &Open| l.upper == o.lower && !l.upper.is_empty());
            if !adjacent || run.len() >= config.max_ranges_per_message {
                break;
            }
            run.push(work.remove(0));
        }
        let ranges = run
            .iter()
            .map(|o| {
                let (s, e) = self.snapshot.range(&o.lower, &o.upper);
                let f = self.snapshot.fingerprint(s, e);
                wire::RangeFingerprint {
                    lower: o.lower.clone(),
                    count: f.count,
                    fingerprint: f.to_bytes().to_vec(),
                }
            })
            .collect();
        let upper = run.last().map(|o| o.upper.clone()).unwrap_or_default();
        *asked = run;
        self.request(Body::GetRanges(wire::GetRanges { ranges, upper }));
    }

    /// Takes in the responder's answer about a batch of ranges.
    fn on_ranges(&mut self, a: &wire::RangeAnswer, config: &SyncConfig) -> Result<(), SyncError> {
        let key = ShortIdKey::new(self.salt, RANGE_ID_LEN).expect("valid length");
        let Stage::Ranges {
            work,
            asked,
            rounds,
            answers,
        } = &mut self.stage
        else {
            return Err(SyncError::Unexpected("ranges outside range reconciliation"));
        };
        let asked = std::mem::take(asked);
        let answered = (a.answered as usize).min(asked.len());
        if answered == 0 && a.lists.is_empty() && a.split.is_empty() {
            return Err(SyncError::Unexpected("range answer without progress"));
        }
        // Every answer counts: an honest exchange needs about one per page of ids, so
        // the sets' sizes bound it; a responder that keeps a session open runs out.
        *answers += 1;
        let sizes = self
            .remote
            .map_or(0, |r| r.count)
            .saturating_add(self.snapshot.len() as u64);
        let page = config.list_threshold.max(1) as u64;
        if *answers > 64 + sizes / page {
            return Err(SyncError::Budget("range session past its rounds"));
        }
        let mut settled: Vec<bool> = (0..asked.len()).map(|i| i < answered).collect();
        let mut handled = vec![false; asked.len()];
        for list in &a.lists {
            if !list.upper.is_empty() && list.upper <= list.lower {
                return Err(SyncError::Invalid("id list with an empty range"));
            }
            let i = asked
                .iter()
                .position(|o| o.lower == list.lower && within(&list.upper, o))
                .ok_or(SyncError::Invalid("id list outside the ranges asked"))?;
            if std::mem::replace(&mut handled[i], true) {
                return Err(SyncError::Invalid("a range answered twice"));
            }
            let (s, e) = self.snapshot.range(&list.lower, &list.upper);
            let theirs: HashSet<u64> = message::unpack(&list.short_ids, 8)
                .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
                .collect();
            let mut mine = HashSet::with_capacity(e - s);
            for id in &self.snapshot.ids()[s..e] {
                let short = key.short(id);
                mine.insert(short);
                if !theirs.contains(&short) {
                    self.range_local.push(*id);
                }
            }
            self.range_remote
                .extend(theirs.iter().filter(|t| !mine.contains(t)));
            if list.upper != asked[i].upper && i >= answered {
                work.push(Open {
                    lower: list.upper.clone(),
                    upper: asked[i].upper.clone(),
                });
            }
            settled[i] = true;
        }
        if !a.split.is_empty() {
            *rounds += 1;
            if *rounds > config.max_split_rounds {
                return Err(SyncError::Budget("endless range splitting"));
            }
        }
        for split in &a.split {
            let first = split
                .ranges
                .first()
                .ok_or(SyncError::Invalid("empty split"))?;
            let i = asked
                .iter()
                .position(|o| o.lower == first.lower && o.upper == split.upper)
                .ok_or(SyncError::Invalid("split outside the ranges asked"))?;
            if std::mem::replace(&mut handled[i], true) {
                return Err(SyncError::Invalid("a range answered twice"));
            }
            for (j, sub) in split.ranges.iter().enumerate() {
                let upper = split
                    .ranges
                    .get(j + 1)
                    .map_or(split.upper.clone(), |n| n.lower.clone());
                let (s, e) = self.snapshot.range(&sub.lower, &upper);
                let f = self.snapshot.fingerprint(s, e);
                if f.count != sub.count || f.to_bytes().as_slice() != sub.fingerprint.as_slice() {
                    work.push(Open {
                        lower: sub.lower.clone(),
                        upper,
                    });
                }
            }
            settled[i] = true;
        }
        for (i, o) in asked.into_iter().enumerate() {
            if !settled[i] {
                work.push(o);
            }
        }
        if work.len() as u64 > 4_096u64.max(2 * sizes / page) {
            return Err(SyncError::Budget("too many open ranges"));
        }
        self.ask_ranges(config);
        Ok(())
    }
}

/// Whether an upper bound lies within a range (empty = the end of the space).
fn within(upper: &[u8], o: &Open) -> bool {
    match (upper.is_empty(), o.upper.is_empty()) {
        (_, true) => true,
        (true, false) => false,
        (false, false) => upper <= o.upper.as_slice(),
    }
}
