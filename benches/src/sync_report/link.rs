//! Two sync engines over a lossless in-memory link: node A initiates, node B only
//! answers; every message is delivered at once and counted, byte for byte.

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use meshpay_protocol::ledger::Ledger;
use meshpay_protocol::record;
use meshpay_protocol::sync::message;
use meshpay_protocol::sync::{Event, Outcome, PeerId, SyncConfig, SyncEngine};
use meshpay_protocol::wire::sync_message::Body;
use prost::Message;
use serde::Serialize;

/// A's name for B.
const PEER_B: PeerId = 2;
/// B's name for A.
const PEER_A: PeerId = 1;
/// The virtual clock's start (any value well past zero).
const START_MS: u64 = 1_000_000;
/// Messages after which a reconciliation counts as runaway.
const MAX_MESSAGES: u64 = 1_000_000;

/// Traffic of one kind of message.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct KindStats {
    /// Messages of this kind.
    pub messages: u64,
    /// Their bytes as encoded.
    pub bytes: u64,
    /// Items they carry: coded symbols, ranges, listed or wanted ids, records.
    pub items: u64,
    /// Bytes of those items (symbol data, packed ids, encoded records); the rest of
    /// `bytes` is framing.
    pub item_bytes: u64,
}

/// One message as it went over the link.
#[derive(Clone, Debug)]
pub struct Sent {
    /// Sent by A (else by B).
    pub from_a: bool,
    /// The encoded message.
    pub bytes: Vec<u8>,
}

/// What one reconciliation cost.
#[derive(Debug)]
pub struct Exchange {
    /// Bytes A sent.
    pub bytes_a: u64,
    /// Bytes B sent.
    pub bytes_b: u64,
    /// Messages in both directions.
    pub messages: u64,
    /// Requests of A (hello, symbols, ranges, want) that B answered.
    pub round_trips: u32,
    /// Sessions A opened (more than one: a retry after a wrong decode).
    pub sessions: u64,
    /// How A's reconciliation ended.
    pub outcome: Outcome,
    /// Traffic by message kind, direction in the name ("a:hello", "b:records").
    pub kinds: BTreeMap<String, KindStats>,
    /// Records delivered that the receiver already held.
    pub redundant_records: u64,
    /// Wall time of the exchange (engines and merges).
    pub elapsed: Duration,
    /// Every message, when asked for.
    pub log: Vec<Sent>,
}

impl Exchange {
    /// Bytes in both directions.
    pub fn bytes(&self) -> u64 {
        self.bytes_a + self.bytes_b
    }
}

fn kind_of(body: &Body) -> (&'static str, u64, u64) {
    match body {
        Body::Hello(_) => ("hello", 0, 0),
        Body::Root(r) => match &r.symbols {
            Some(s) => ("root", u64::from(s.n), s.data.len() as u64),
            None => ("root", 0, 0),
        },
        Body::GetSymbols(_) => ("get_symbols", 0, 0),
        Body::Symbols(s) => ("symbols", u64::from(s.n), s.data.len() as u64),
        Body::GetRanges(g) => ("get_ranges", g.ranges.len() as u64, 0),
        Body::RangeAnswer(a) => {
            let listed: usize = a.lists.iter().map(|l| l.short_ids.len()).sum();
            let items = a.split.iter().map(|s| s.ranges.len()).sum::<usize>() + listed / 8;
            ("range_answer", items as u64, listed as u64)
        }
        Body::Want(w) => {
            let b = w.short_ids.len() + w.ids.len();
            ("want", 0, b as u64)
        }
        Body::Records(r) => {
            let records = message::unpack_records(&r.records, usize::MAX).unwrap_or_default();
            let b: usize = records.iter().map(|s| s.encoded_len()).sum();
            ("records", records.len() as u64, b as u64)
        }
        Body::Thin(t) => ("thin", 1, (t.body.len() + t.signature.len()) as u64),
        Body::Done(_) => ("done", 0, 0),
        Body::Refuse(_) => ("refuse", 0, 0),
    }
}

fn is_request(body: &Body) -> bool {
    matches!(
        body,
        Body::Hello(_) | Body::GetSymbols(_) | Body::GetRanges(_) | Body::Want(_)
    )
}

struct Side<'a> {
    ledger: &'a mut Ledger,
    engine: SyncEngine,
    peer: PeerId,
}

#[derive(Default)]
struct Tally {
    redundant: u64,
    reconciled: Option<Result<Outcome, String>>,
    errors: Vec<String>,
}

impl Side<'_> {
    /// Merges what arrived (trusted: the measurement is about bytes on the wire) and
    /// notes the rest.
    fn events(&mut self, events: Vec<Event>, initiator: bool, tally: &mut Tally) -> Result<()> {
        for e in events {
            match e {
                Event::Received { peer, records } => {
                    let parsed = records
                        .into_iter()
                        .map(|s| record::parse(s).map(record::Parsed::into_trusted))
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(|e| {
                            anyhow::anyhow!("a record on the wire does not parse: {e:?}")
                        })?;
                    let changes = self.ledger.merge_verified(parsed);
                    tally.redundant += changes.known as u64;
                    if let Some((id, why)) = changes.refused.first() {
                        bail!("record {id:?} refused after sync: {why:?}");
                    }
                    self.engine.on_merged(Some(peer), &changes, self.ledger);
                }
                Event::Reconciled { outcome, .. } if initiator => {
                    tally.reconciled = Some(outcome.map_err(|e| e.to_string()));
                }
                Event::Reconciled { .. } => tally.errors.push("B reconciled on its own".into()),
                Event::PeerError { error, .. } => tally.errors.push(error.to_string()),
            }
        }
        Ok(())
    }
}

/// Reconciles `a` and `b` (A initiates) with engines seeded from `seed`; records cross
/// into the other ledger as they arrive. Keeps every message if `keep_log`.
pub fn reconcile(
    a: &mut Ledger,
    b: &mut Ledger,
    config: &SyncConfig,
    seed: u64,
    keep_log: bool,
) -> Result<Exchange> {
    let mut seed_a = [0u8; 32];
    seed_a[..8].copy_from_slice(&seed.to_le_bytes());
    let mut seed_b = seed_a;
    seed_a[8] = b'A';
    seed_b[8] = b'B';
    let mut now = START_MS;
    let mut sa = Side {
        ledger: a,
        engine: SyncEngine::new(config.clone(), seed_a).context("config")?,
        peer: PEER_B,
    };
    let mut sb = Side {
        ledger: b,
        engine: SyncEngine::new(config.clone(), seed_b).context("config")?,
        peer: PEER_A,
    };
    sa.engine.add_peer(now, sa.peer);
    sb.engine.add_peer(now, sb.peer);

    let started = Instant::now();
    sa.engine.reconcile(now, sa.peer, sa.ledger);
    let mut ex = Exchange {
        bytes_a: 0,
        bytes_b: 0,
        messages: 0,
        round_trips: 0,
        sessions: 0,
        outcome: Outcome::Retry,
        kinds: BTreeMap::new(),
        redundant_records: 0,
        elapsed: Duration::ZERO,
        log: Vec::new(),
    };
    let mut tally = Tally::default();
    let mut asked: HashSet<(u32, u32)> = HashSet::new();
    let mut sessions_seen = 0u64;
    let mut account = |ex: &mut Exchange, bytes: &[u8], from_a: bool| -> Result<()> {
        let m =
            message::decode(bytes, config).context("a message the engine sent does not decode")?;
        let body = m.body.as_ref().context("empty message")?;
        let (kind, items, item_bytes) = kind_of(body);
        let k = ex
            .kinds
            .entry(format!("{}:{kind}", if from_a { "a" } else { "b" }))
            .or_default();
        k.messages += 1;
        k.bytes += bytes.len() as u64;
        k.items += items;
        k.item_bytes += item_bytes;
        ex.messages += 1;
        if from_a {
            ex.bytes_a += bytes.len() as u64;
            if m.session != 0 && is_request(body) {
                asked.insert((m.session, m.step));
            }
        } else {
            ex.bytes_b += bytes.len() as u64;
            if asked.remove(&(m.session, m.step)) {
                ex.round_trips += 1;
            }
        }
        if keep_log {
            ex.log.push(Sent {
                from_a,
                bytes: bytes.to_vec(),
            });
        }
        if ex.messages > MAX_MESSAGES {
            bail!("runaway reconciliation: over {MAX_MESSAGES} messages");
        }
        Ok(())
    };
    loop {
        let mut moved = false;
        while let Some(msg) = sa.engine.poll_transmit(now, sa.peer, usize::MAX, sa.ledger) {
            moved = true;
            let sessions = sa.engine.stats(sa.peer).map_or(0, |s| s.sessions);
            if sessions > sessions_seen {
                // A retry opens a fresh session at once; B refuses sessions opened
                // closer together than this, so the virtual clock steps over it.
                if sessions_seen > 0 {
                    now += config.min_session_interval_ms;
                }
                sessions_seen = sessions;
            }
            account(&mut ex, &msg, true)?;
            let ev = sb.engine.handle(now, sb.peer, &msg, sb.ledger);
            sb.events(ev, false, &mut tally)?;
        }
        let ev = sa.engine.take_events();
        sa.events(ev, true, &mut tally)?;
        while let Some(msg) = sb.engine.poll_transmit(now, sb.peer, usize::MAX, sb.ledger) {
            moved = true;
            account(&mut ex, &msg, false)?;
            let ev = sa.engine.handle(now, sa.peer, &msg, sa.ledger);
            sa.events(ev, true, &mut tally)?;
        }
        let ev = sb.engine.take_events();
        sb.events(ev, false, &mut tally)?;
        if !moved {
            break;
        }
    }
    ex.elapsed = started.elapsed();
    ex.sessions = sa.engine.stats(sa.peer).map_or(0, |s| s.sessions);
    ex.redundant_records = tally.redundant;
    if let Some(e) = tally.errors.first() {
        bail!(
            "peer error during reconciliation: {e} ({} in all)",
            tally.errors.len()
        );
    }
    match tally.reconciled {
        Some(Ok(o)) => ex.outcome = o,
        Some(Err(e)) => bail!("reconciliation failed: {e}"),
        None => bail!("link went quiet before A reported the reconciliation"),
    }
    if sa.engine.reconciling(sa.peer) {
        bail!("A still reconciling after the link went quiet");
    }
    Ok(ex)
}
