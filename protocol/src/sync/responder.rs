//! The answering side of a reconciliation session. It answers each request of the
//! initiator from the snapshot it took when the session opened, with one message of
//! bounded size: its work and its bytes are paced by the initiator's own messages.

use std::collections::HashMap;

use super::config::SyncConfig;
use super::message::{self, SyncError};
use super::riblt::{self, CodedSymbol, Encoder};
use super::seed::SeedStream;
use super::shortid::ShortIdKey;
use super::snapshot::{Fingerprint, FingerprintKey, Snapshot};
use crate::id::RecordId;
use crate::ledger::{Ledger, RecordSet};
use crate::wire::{self, sync_message::Body};

/// Short-id length of id lists in range reconciliation.
pub const RANGE_ID_LEN: u8 = 8;
/// Bytes of a short id in a `Want`: its low 4 bytes. Among n ids, a prefix matches
/// another id with chance n/2^32 (2·10^-5 at 100 k); that costs one extra record, and
/// saves a byte or more per wanted record on every request.
pub const WANT_ID_LEN: usize = 4;
/// Attempts to find a symbol salt under which the responder's short ids are distinct.
const SALT_ATTEMPTS: u32 = 8;
/// Room kept in a message for its framing.
const FRAMING: usize = 64;

/// The coded-symbol stream of a session, kept so a lost run can be sent again.
struct Stream {
    key: ShortIdKey,
    encoder: Encoder,
    sent: Vec<CodedSymbol>,
}

/// One session's answering state.
pub struct Responder {
    session: u32,
    snapshot: Snapshot,
    salt: [u8; 16],
    stream: Option<Stream>,
    /// The first answer (root or announcement), sent again if asked again.
    root: Body,
    /// Per short-id key (0: ranges, else the symbols' length): low 4 bytes -> ids.
    prefixes: HashMap<u8, HashMap<u32, Vec<RecordId>>>,
}

impl Responder {
    /// Opens a session for a `Hello` over the current set; returns its root answer.
    pub fn open(
        session: u32,
        hello: &wire::Hello,
        ids: Vec<RecordId>,
        seed: &mut SeedStream,
        config: &SyncConfig,
    ) -> Result<(Self, Body), SyncError> {
        let salt: [u8; 16] = hello
            .salt
            .as_slice()
            .try_into()
            .map_err(|_| SyncError::Invalid("salt"))?;
        let snapshot = Snapshot::new(FingerprintKey::new(&salt), ids);
        let mut r = Responder {
            session,
            snapshot,
            salt,
            stream: None,
            root: Body::Done(wire::Done {}),
            prefixes: HashMap::new(),
        };
        let root = r.snapshot.root();
        let theirs = Fingerprint {
            count: hello.count,
            sum: u64::from_le_bytes(
                hello
                    .fingerprint
                    .as_slice()
                    .try_into()
                    .map_err(|_| SyncError::Invalid("fingerprint"))?,
            ),
        };
        let mut answer = wire::Root {
            count: root.count,
            fingerprint: root.to_bytes().to_vec(),
            symbols: None,
        };
        if root != theirs && !prefers_ranges(theirs.count, root.count) {
            let first = u64::from(hello.window.clamp(1, config.initial_symbols.max(1) * 4))
                .max(estimate(theirs.count, root.count));
            let n = first.min(u64::from(config.max_symbols_per_request)) as u32;
            answer.symbols = Some(r.symbols(0, n, seed, config)?);
        }
        r.root = Body::Root(answer);
        let root = r.root.clone();
        Ok((r, root))
    }

    /// Opens a stream to announce on a broadcast medium: returns the state and the
    /// `Hello` that announces its root under its own `salt`. Neighbours that differ ask
    /// it for coded symbols; one stream serves them all.
    pub fn announce(session: u32, salt: [u8; 16], ids: Vec<RecordId>) -> (Self, Body) {
        let snapshot = Snapshot::new(FingerprintKey::new(&salt), ids);
        let root = snapshot.root();
        let hello = Body::Hello(wire::Hello {
            salt: salt.to_vec(),
            count: root.count,
            fingerprint: root.to_bytes().to_vec(),
            window: 0,
        });
        let r = Responder {
            session,
            snapshot,
            salt,
            stream: None,
            root: hello.clone(),
            prefixes: HashMap::new(),
        };
        (r, hello)
    }

    /// The first answer this session gave (a root, or the announcement).
    pub fn root_answer(&self) -> Body {
        self.root.clone()
    }

    /// The session this state answers.
    pub fn session(&self) -> u32 {
        self.session
    }

    /// Answers one request of the initiator.
    pub fn answer<S: RecordSet>(
        &mut self,
        body: &Body,
        seed: &mut SeedStream,
        config: &SyncConfig,
        ledger: &Ledger<S>,
    ) -> Result<Option<Body>, SyncError> {
        match body {
            Body::GetSymbols(g) => Ok(Some(Body::Symbols(
                self.symbols(g.from, g.count, seed, config)?,
            ))),
            Body::GetRanges(g) => Ok(Some(Body::RangeAnswer(self.ranges(g, config)))),
            Body::Want(w) => Ok(Some(Body::Records(self.records(w, config, ledger)?))),
            Body::Done(_) => Ok(None),
            _ => Err(SyncError::Unexpected("not a request")),
        }
    }

    fn stream(&mut self, seed: &mut SeedStream) -> Result<&mut Stream, SyncError> {
        if self.stream.is_none() {
            let len = super::shortid::len_for(self.snapshot.len() as u64);
            let mut chosen = None;
            for _ in 0..SALT_ATTEMPTS {
                let key = ShortIdKey::new(seed.salt(), len)
                    .map_err(|_| SyncError::Invalid("short id length"))?;
                let table = short_table(&key, self.snapshot.ids());
                if table.len() == self.snapshot.len() {
                    chosen = Some((key, table));
                    break;
                }
            }
            let (key, table) = chosen.ok_or(SyncError::Budget("no collision-free symbol salt"))?;
            let encoder = Encoder::new(&key, table.keys().copied());
            self.stream = Some(Stream {
                key,
                encoder,
                sent: Vec::new(),
            });
        }
        Ok(self.stream.as_mut().expect("just set"))
    }

    fn symbols(
        &mut self,
        from: u64,
        n: u32,
        seed: &mut SeedStream,
        config: &SyncConfig,
    ) -> Result<wire::Symbols, SyncError> {
        let end = from.saturating_add(u64::from(n));
        if end > config.symbol_budget {
            return Err(SyncError::Budget("symbols past the budget"));
        }
        let count = self.snapshot.len() as u64;
        let stream = self.stream(seed)?;
        while (stream.sent.len() as u64) < end {
            let s = stream.encoder.next_symbol();
            stream.sent.push(s);
        }
        // Each symbol takes at most 10 + 8 + 2 bytes; stay inside one message.
        let room = (config.max_message_bytes.saturating_sub(FRAMING) / 20) as u64;
        let end = end.min(from + room.max(1));
        let run = &stream.sent[from as usize..end as usize];
        let mut data = Vec::with_capacity(run.len() * 12);
        riblt::write_symbols(&mut data, from, count, stream.key.len(), run);
        Ok(wire::Symbols {
            // Later runs of the stream omit the salt: the listener has it from run 0.
            salt: if from == 0 {
                stream.key.salt().to_vec()
            } else {
                Vec::new()
            },
            id_len: u32::from(stream.key.len()),
            first: from,
            n: run.len() as u32,
            data,
        })
    }

    fn ranges(&mut self, g: &wire::GetRanges, config: &SyncConfig) -> wire::RangeAnswer {
        let key = self.range_key();
        let mut answer = wire::RangeAnswer::default();
        let mut room = config.max_message_bytes.saturating_sub(FRAMING);
        for (i, r) in g.ranges.iter().enumerate() {
            let upper = g
                .ranges
                .get(i + 1)
                .map_or(g.upper.as_slice(), |n| n.lower.as_slice());
            let (start, end) = self.snapshot.range(&r.lower, upper);
            let mine = self.snapshot.fingerprint(start, end);
            if mine.count == r.count && mine.to_bytes().as_slice() == r.fingerprint.as_slice() {
                answer.answered += 1;
                continue;
            }
            let n = end - start;
            if n <= config.list_threshold || r.count == 0 {
                let fits = room.saturating_sub(80) / 8;
                if fits == 0 {
                    break;
                }
                let take = n.min(fits);
                let cut = if take < n {
                    self.snapshot
                        .split_bounds(start + take - 1, start + take + 1, 2)
                        .pop()
                        .unwrap_or_default()
                } else {
                    upper.to_vec()
                };
                let mut short_ids = Vec::with_capacity(take * 8);
                for id in &self.snapshot.ids()[start..start + take] {
                    short_ids.extend_from_slice(&key.short(id).to_le_bytes());
                }
                room = room.saturating_sub(short_ids.len() + 80);
                answer.lists.push(wire::IdList {
                    lower: r.lower.clone(),
                    upper: cut,
                    short_ids,
                });
                if take < n {
                    break;
                }
            } else {
                let mut lowers = vec![r.lower.clone()];
                lowers.extend(self.snapshot.split_bounds(start, end, config.split_fanout));
                let cost = lowers.len() * 48 + 48;
                if cost > room {
                    break;
                }
                room -= cost;
                let ranges = lowers
                    .iter()
                    .enumerate()
                    .map(|(j, lower)| {
                        let up = lowers.get(j + 1).map_or(upper, |u| u.as_slice());
                        let (s, e) = self.snapshot.range(lower, up);
                        let f = self.snapshot.fingerprint(s, e);
                        wire::RangeFingerprint {
                            lower: lower.clone(),
                            count: f.count,
                            fingerprint: f.to_bytes().to_vec(),
                        }
                    })
                    .collect();
                answer.split.push(wire::GetRanges {
                    ranges,
                    upper: upper.to_vec(),
                });
            }
            if answer.split.len() + answer.lists.len() >= config.max_ranges_per_message {
                answer.answered += 1;
                break;
            }
            answer.answered += 1;
        }
        answer
    }

    fn range_key(&self) -> ShortIdKey {
        ShortIdKey::new(self.salt, RANGE_ID_LEN).expect("8 is a valid length")
    }

    fn records<S: RecordSet>(
        &mut self,
        w: &wire::Want,
        config: &SyncConfig,
        ledger: &Ledger<S>,
    ) -> Result<wire::Records, SyncError> {
        let (slot, key) = match wire::ShortKey::try_from(w.key) {
            Ok(wire::ShortKey::Symbols) => {
                let key = &self
                    .stream
                    .as_ref()
                    .ok_or(SyncError::Unexpected("no symbols were sent"))?
                    .key;
                (key.len(), key.clone())
            }
            Ok(wire::ShortKey::Ranges) => (0, self.range_key()),
            Err(_) => return Err(SyncError::Invalid("unknown short-id key")),
        };
        if w.short_ids.len() % WANT_ID_LEN != 0 {
            return Err(SyncError::Invalid("short ids of the wrong width"));
        }
        let snapshot = &self.snapshot;
        let prefixes = self.prefixes.entry(slot).or_insert_with(|| {
            let mut m: HashMap<u32, Vec<RecordId>> = HashMap::with_capacity(snapshot.len());
            for id in snapshot.ids() {
                m.entry(key.short(id) as u32).or_default().push(*id);
            }
            m
        });
        let mut ids = Vec::new();
        for s in message::unpack(&w.short_ids, WANT_ID_LEN) {
            let p = u32::from_le_bytes(s.try_into().expect("4 bytes"));
            if let Some(found) = prefixes.get(&p) {
                ids.extend_from_slice(found);
            }
        }
        for id in message::unpack(&w.ids, 32) {
            let id = RecordId(id.try_into().expect("32 bytes"));
            if ledger.contains(&id) {
                ids.push(id);
            }
        }
        let ordered = ledger.in_dependency_order(&ids);
        let mut records = Vec::new();
        let mut room = config.max_message_bytes.saturating_sub(FRAMING);
        for r in &ordered {
            let s = r.to_signed();
            let len = prost::Message::encoded_len(&s) + 2;
            if records.len() >= config.max_records_per_message || len > room {
                break;
            }
            room -= len;
            records.push(s);
        }
        let last = records.len() == ordered.len();
        Ok(wire::Records {
            records: message::pack_records(&records),
            last,
        })
    }
}

/// Whether a session should skip difference coding: one side empty, or the sets so
/// different that listing ranges is cheaper than coded symbols.
pub fn prefers_ranges(a: u64, b: u64) -> bool {
    a == 0 || b == 0 || a.abs_diff(b) > a.max(b) / 2
}

/// A first guess at how many coded symbols the difference needs: at least the count
/// difference, at about 1.4 symbols each (the initiator asks for more if it falls short).
fn estimate(a: u64, b: u64) -> u64 {
    a.abs_diff(b).saturating_mul(7) / 5 + 2
}

/// Short id -> id for every id of a snapshot (colliding ids keep one entry).
pub fn short_table(key: &ShortIdKey, ids: &[RecordId]) -> HashMap<u64, RecordId> {
    ids.iter().map(|id| (key.short(id), *id)).collect()
}
