//! The sync engine against hostile peers, case by case: each test names the rule it
//! checks and the attack it stands for (most were found by a review and fixed; the
//! ones marked coverage were checked and found fine).
//!
//! A few tests measure memory kept after many hostile messages. They use a counting
//! allocator installed for this test binary only: it counts live bytes per thread, so
//! a test sees only what its own thread allocated and still holds (tests run on their
//! own threads).

use std::panic::{AssertUnwindSafe, catch_unwind};

use prost::Message;

use super::initiator::Initiator;
use super::message;
use super::riblt::{CodedSymbol, write_symbols};
use super::{Event, SyncConfig, SyncEngine};
use crate::RecordId;
use crate::ledger::history;
use crate::ledger::{Ledger, RecordSet};
use crate::radio::fragment::{Reassembler, ReassemblyConfig, fragment};
use crate::testkit;
use crate::wire::{self, sync_message::Body};

mod alloc_count {
    //! Live heap bytes of the current thread.
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;

    pub struct Counting;

    thread_local! {
        static LIVE: Cell<i64> = const { Cell::new(0) };
    }

    fn add(delta: i64) {
        let _ = LIVE.try_with(|c| c.set(c.get() + delta));
    }

    // SAFETY: every call is forwarded to the system allocator unchanged; the counter is
    // a const-initialised thread local without a destructor, so it never allocates.
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            // SAFETY: forwarded with the caller's guarantees.
            let p = unsafe { System.alloc(layout) };
            if !p.is_null() {
                add(layout.size() as i64);
            }
            p
        }

        unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
            // SAFETY: forwarded with the caller's guarantees.
            let p = unsafe { System.alloc_zeroed(layout) };
            if !p.is_null() {
                add(layout.size() as i64);
            }
            p
        }

        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            // SAFETY: forwarded with the caller's guarantees.
            unsafe { System.dealloc(ptr, layout) };
            add(-(layout.size() as i64));
        }

        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            // SAFETY: forwarded with the caller's guarantees.
            let p = unsafe { System.realloc(ptr, layout, new_size) };
            if !p.is_null() {
                add(new_size as i64 - layout.size() as i64);
            }
            p
        }
    }

    #[global_allocator]
    static GLOBAL: Counting = Counting;

    /// Heap bytes this thread allocated and has not freed.
    pub fn live() -> i64 {
        LIVE.with(|c| c.get())
    }
}

use alloc_count::live;

const PEER: u64 = 9;
const MEDIUM: u64 = 500;
const HOSTILE: u64 = 66;

fn ledger() -> Ledger {
    let h = history::generate(3, 40);
    let mut l = Ledger::new(h.spec.clone()).expect("spec");
    l.merge(h.records, &mut testkit::rng(3));
    l
}

fn engine(config: SyncConfig) -> SyncEngine {
    SyncEngine::new(config, [1; 32]).expect("config")
}

fn engine_with_peer(config: SyncConfig) -> (SyncEngine, Ledger) {
    let mut e = engine(config);
    e.add_peer(0, PEER);
    (e, ledger())
}

fn engine_on_medium(config: SyncConfig) -> (SyncEngine, Ledger) {
    let mut e = engine(config);
    e.add_medium(0, MEDIUM);
    (e, ledger())
}

fn bytes(session: u32, step: u32, body: Body) -> Vec<u8> {
    message::message(session, step, body).encode_to_vec()
}

/// A `Hello` (session 5) for a set two records larger than `n`: the sets differ.
fn differing_hello(n: u64, window: u32) -> Vec<u8> {
    bytes(
        5,
        1,
        Body::Hello(wire::Hello {
            salt: vec![7; 16],
            count: n + 2,
            fingerprint: vec![3; 8],
            window,
        }),
    )
}

fn errors(events: &[Event]) -> usize {
    events
        .iter()
        .filter(|e| matches!(e, Event::PeerError { .. }))
        .count()
}

/// Everything `poll_transmit` hands out at `now`, decoded.
fn drain(e: &mut SyncEngine, now: u64, to: u64, l: &Ledger) -> Vec<wire::SyncMessage> {
    let mut out = Vec::new();
    for _ in 0..100_000 {
        let Some(b) = e.poll_transmit(now, to, usize::MAX, l) else {
            break;
        };
        out.push(wire::SyncMessage::decode(b.as_slice()).expect("our own encoding"));
    }
    out
}

fn packed_ids(l: &Ledger, max: usize) -> Vec<u8> {
    l.set().ids().take(max).flat_map(|id| id.0).collect()
}

fn sorted_ids(n: u32) -> Vec<RecordId> {
    let mut ids: Vec<RecordId> = (0..n)
        .map(|i| RecordId::of_body(&i.to_le_bytes()))
        .collect();
    ids.sort();
    ids
}

/// Coded symbols whose counts are far from anything a real set produces.
fn huge_count_symbols(n_sender: u64, salt: [u8; 16], n: u32) -> wire::Symbols {
    let symbols: Vec<CodedSymbol> = (0..n)
        .map(|i| CodedSymbol {
            count: 1 << 40,
            key: u64::from(i) * 0x0101_0101 + 7,
            checksum: i as u16,
        })
        .collect();
    let mut data = Vec::new();
    write_symbols(&mut data, 0, n_sender, 4, &symbols);
    wire::Symbols {
        salt: salt.to_vec(),
        id_len: 4,
        first: 0,
        n,
        data,
    }
}

// ---------------------------------------------------------------------------------------
// Engine (point-to-point peers)
// ---------------------------------------------------------------------------------------

/// Fixed. engine.rs `open_responder`: a `Hello` whose session equals the current
/// responder's skips the session rate limit (`same`), rebuilds the whole responder (a
/// snapshot of every id, a short-id table and an encoder) and pushes its `Root` onto
/// `answers` without the `MAX_ANSWERS` check. One peer repeating one small `Hello`
/// gets unlimited full-set work and an unbounded answer queue.
#[test]
fn repeating_a_hello_of_the_same_session_is_rate_limited() {
    let (mut e, l) = engine_with_peer(SyncConfig::default());
    let n = l.set().len() as u64;
    let hello = differing_hello(n, 48);
    let mut errs = 0;
    for _ in 0..200 {
        errs += errors(&e.handle(10, PEER, &hello, &l));
    }
    let roots = drain(&mut e, 10, PEER, &l)
        .iter()
        .filter(|m| matches!(m.body, Some(Body::Root(_))))
        .count();
    assert!(
        roots <= 4 && errs > 0,
        "200 copies of one Hello were each answered in full ({roots} roots queued, {errs} errors)"
    );
}

/// Coverage. Distinct sessions are rate limited: a burst of 3, then
/// `RateLimited`, counted as errors; after `max_errors` the peer is ignored.
#[test]
fn hellos_of_distinct_sessions_are_rate_limited() {
    let (mut e, l) = engine_with_peer(SyncConfig::default());
    let mut errs = 0;
    for s in 1..=20u32 {
        let hello = bytes(
            s,
            1,
            Body::Hello(wire::Hello {
                salt: vec![s as u8; 16],
                count: 1,
                fingerprint: vec![3; 8],
                window: 8,
            }),
        );
        errs += errors(&e.handle(10, PEER, &hello, &l));
    }
    assert_eq!(errs, 10);
    assert_eq!(e.stats(PEER).expect("peer").ignored, 7);
}

/// Fixed. engine.rs `handle`, `Body::Want(w) if m.session == 0`: an unsolicited
/// `Want` puts up to 256 ids on the peer's `proofs` queue, which `trim` never shortens,
/// with no answer budget, no rate limit and no check that the ids are queued already.
/// Repeating one 8 KB `Want` grows the queue by 256 entries per message for as long as
/// the peer keeps sending faster than the link drains.
#[test]
fn unsolicited_wants_do_not_grow_the_push_queue_without_bound() {
    let (mut e, l) = engine_with_peer(SyncConfig::default());
    let want = bytes(
        0,
        0,
        Body::Want(wire::Want {
            short_ids: Vec::new(),
            ids: packed_ids(&l, 256),
            key: 0,
        }),
    );
    // Warm up (first answers, map growth), then measure what many more messages keep.
    for _ in 0..10 {
        e.handle(1, PEER, &want, &l);
    }
    let before = live();
    let mut errs = 0;
    for _ in 0..5_000 {
        errs += errors(&e.handle(1, PEER, &want, &l));
    }
    let grown = live() - before;
    assert!(
        grown < 256 * 1024 || errs > 0,
        "5000 identical Wants kept {grown} bytes and drew {errs} errors"
    );
}

// ---------------------------------------------------------------------------------------
// Initiator (a hostile responder answers our session)
// ---------------------------------------------------------------------------------------

/// Starts an initiator over `ids` and answers its `Hello` with an empty root, so it
/// reconciles by ranges; returns it with its first range request.
fn ranges_session(ids: Vec<RecordId>, config: &SyncConfig) -> (Initiator, wire::SyncMessage) {
    let l = Ledger::new(testkit::World::new(1).spec).expect("spec");
    let mut init = Initiator::new(1, [3; 16], ids, config);
    let hello = init.poll_message(0, config, &l).expect("hello");
    let root = message::message(
        1,
        hello.step,
        Body::Root(wire::Root {
            count: 0,
            fingerprint: vec![0; 8],
            symbols: None,
        }),
    );
    init.handle(&root, config).expect("root");
    let ask = init.poll_message(1, config, &l).expect("ranges");
    assert!(matches!(ask.body, Some(Body::GetRanges(_))));
    (init, ask)
}

/// Fixed. initiator.rs `on_ranges`: id lists are matched to the asked range by
/// `position`, with nothing against several lists for one range. Each copy walks the
/// whole range of our snapshot (SipHash per id) and appends its ids to `range_local`
/// again: 256 copies in one 64 KB answer cost 256 × the range, in CPU and in memory.
#[test]
fn duplicate_id_lists_for_one_asked_range_are_refused() {
    let config = SyncConfig::default();
    let (mut init, ask) = ranges_session(sorted_ids(4_000), &config);
    let Some(Body::GetRanges(g)) = &ask.body else {
        unreachable!()
    };
    let first = &g.ranges[0];
    let upper = g.ranges.get(1).map_or(g.upper.clone(), |r| r.lower.clone());
    let list = wire::IdList {
        lower: first.lower.clone(),
        upper,
        short_ids: Vec::new(),
    };
    let answer = message::message(
        1,
        ask.step,
        Body::RangeAnswer(wire::RangeAnswer {
            split: Vec::new(),
            lists: vec![list; config.max_ranges_per_message],
            answered: 0,
        }),
    );
    let before = live();
    let r = init.handle(&answer, &config);
    let grown = live() - before;
    assert!(
        r.is_err(),
        "256 copies of one id list were accepted ({grown} bytes kept)"
    );
}

/// Fixed. initiator.rs `on_ranges`: an id list whose `upper` is below its `lower`
/// (only `upper <= asked.upper` is checked) puts a new open range back on `work`, and id
/// lists, unlike splits, count no round. A responder that answers every request that
/// way keeps the session alive for ever: no error, no outcome, no end; with duplicate
/// lists `work` also grows by 255 entries a round.
#[test]
fn a_responder_cannot_keep_a_range_session_open_for_ever() {
    let config = SyncConfig::default();
    let l = Ledger::new(testkit::World::new(1).spec).expect("spec");
    let (mut init, mut ask) = ranges_session(sorted_ids(200), &config);
    let mut rounds = 0;
    let before = live();
    for now in 2..5_000u64 {
        let Some(Body::GetRanges(g)) = &ask.body else {
            break;
        };
        let first = &g.ranges[0];
        // An upper bound at or below the lower bound: settles nothing.
        let cut = if first.lower.is_empty() {
            vec![0]
        } else {
            first.lower.clone()
        };
        let lists = vec![
            wire::IdList {
                lower: first.lower.clone(),
                upper: cut,
                short_ids: Vec::new(),
            };
            4
        ];
        let answer = message::message(
            1,
            ask.step,
            Body::RangeAnswer(wire::RangeAnswer {
                split: Vec::new(),
                lists,
                answered: 0,
            }),
        );
        if init.handle(&answer, &config).is_err() || init.outcome().is_some() {
            break;
        }
        rounds += 1;
        match init.poll_message(now, &config, &l) {
            Some(m) => ask = m,
            None => break,
        }
    }
    let grown = live() - before;
    assert!(
        rounds < 1_000,
        "the session was still open after {rounds} answers that settled nothing \
         ({grown} bytes kept)"
    );
}

/// Was a panic in debug builds (an overflow), fixed.
/// initiator.rs `feed_symbols`: `((decoded + estimate_remaining()) as f64 * 1.25).ceil()
/// as u64 + 2`. Coded symbols with huge counts make `estimate_remaining` (riblt.rs)
/// saturate to `u64::MAX`, the float cast saturates too, and `+ 2` overflows. A peer
/// answering our `Hello` with such a `Root` crashes the node (in release the sum wraps
/// silently).
#[test]
fn coded_symbols_with_huge_counts_are_an_error_not_a_panic() {
    let (mut e, l) = engine_with_peer(SyncConfig::default());
    e.handle_timeout(0, &l);
    let hello = drain(&mut e, 0, PEER, &l)
        .into_iter()
        .find(|m| matches!(m.body, Some(Body::Hello(_))))
        .expect("a session opened");
    let n = l.set().len() as u64;
    let root = bytes(
        hello.session,
        hello.step,
        Body::Root(wire::Root {
            count: n + 2,
            fingerprint: vec![9; 8],
            symbols: Some(huge_count_symbols(n + 2, [5; 16], 12)),
        }),
    );
    let r = catch_unwind(AssertUnwindSafe(|| e.handle(1, PEER, &root, &l)));
    assert!(
        r.is_ok(),
        "a Root with huge symbol counts panicked the engine"
    );
}

// ---------------------------------------------------------------------------------------
// Broadcast medium
// ---------------------------------------------------------------------------------------

fn announce(session: u32, count: u64, salt: u8) -> Vec<u8> {
    bytes(
        session,
        0,
        Body::Hello(wire::Hello {
            salt: vec![salt; 16],
            count,
            fingerprint: vec![salt; 8],
            window: 0,
        }),
    )
}

/// Same root cause as above, reached through the medium (fixed): any neighbour
/// announces a `Hello`, this node starts listening, and the neighbour's first run of
/// symbols with huge counts panics it. No session of ours is needed.
#[test]
fn a_broadcast_stream_with_huge_counts_does_not_panic_a_listener() {
    let (mut e, l) = engine_on_medium(SyncConfig::default());
    let n = l.set().len() as u64;
    e.handle_medium(1, MEDIUM, HOSTILE, &announce(77, n + 2, 5), &l);
    assert!(e.listening(MEDIUM));
    let symbols = bytes(77, 1, Body::Symbols(huge_count_symbols(n + 2, [5; 16], 12)));
    let r = catch_unwind(AssertUnwindSafe(|| {
        e.handle_medium(2, MEDIUM, HOSTILE, &symbols, &l)
    }));
    assert!(r.is_ok(), "a broadcast run of symbols panicked a listener");
}

/// Fixed. medium.rs `handle_medium`, `Body::Hello`: every announced session not
/// already heard gets its own listener (a full snapshot of our set each), with no cap
/// on listeners and no limit per announcer. Each listener then puts its own request on
/// the shared air, and asks again up to `max_retransmits` times. One neighbour sending
/// 200 small Hellos makes this node hold 200 snapshots and transmit 200+ requests.
#[test]
fn one_announcer_cannot_create_unbounded_listeners() {
    let config = SyncConfig::default();
    let backoff = config.broadcast_backoff_ms;
    let (mut e, l) = engine_on_medium(config);
    let n = l.set().len() as u64;
    let before = live();
    for s in 1..=200u32 {
        e.handle_medium(1, MEDIUM, HOSTILE, &announce(s, n + 2, s as u8), &l);
    }
    let grown = live() - before;
    // The first poll draws each listener's backoff; after it, requests go out.
    drain(&mut e, 1, MEDIUM, &l);
    let requests = drain(&mut e, 2 + backoff, MEDIUM, &l)
        .iter()
        .filter(|m| matches!(m.body, Some(Body::GetSymbols(_) | Body::GetRanges(_))))
        .count();
    assert!(
        requests <= 4,
        "one neighbour's 200 announcements made this node send {requests} requests \
         (listeners hold {grown} bytes)"
    );
}

/// Fixed. medium.rs `handle_medium`, `Want` with session 0: each wanted record is
/// queued as its own frame on `outbox`, which has no bound, with no rate limit, no
/// per-sender penalty and no check that the same records were just broadcast. On a
/// duty-cycled LoRa channel one ~2 KB frame buys many times its size in airtime, over
/// and over.
#[test]
fn broadcast_wants_do_not_grow_the_outbox_without_bound() {
    let config = SyncConfig::lora();
    let (mut e, l) = engine_on_medium(config.clone());
    let want = bytes(
        0,
        0,
        Body::Want(wire::Want {
            short_ids: Vec::new(),
            ids: packed_ids(&l, 60),
            key: 0,
        }),
    );
    for _ in 0..100 {
        e.handle_medium(1, MEDIUM, HOSTILE, &want, &l);
    }
    // Answers wait their backoff; afterwards each record goes out once per repeat window.
    let after = 2 + config.broadcast_backoff_ms;
    let answers: Vec<wire::SyncMessage> = drain(&mut e, after, MEDIUM, &l)
        .into_iter()
        .filter(|m| matches!(m.body, Some(Body::Records(_))))
        .collect();
    let records: usize = answers
        .iter()
        .map(|m| match &m.body {
            Some(Body::Records(r)) => message::unpack_records(&r.records, 1_000)
                .expect("ours")
                .len(),
            _ => 0,
        })
        .sum();
    assert!(records > 0, "the Want is answered");
    assert!(
        records <= 60,
        "100 Wants of 60 ids sent {records} records in {} frames",
        answers.len()
    );
}

/// A broadcast `Want` is answered after a backoff, without the records a neighbour
/// broadcast meanwhile: every holder hears the `Want`, and one answer serves everyone.
#[test]
fn a_want_answered_by_a_neighbour_first_is_not_answered_again() {
    let config = SyncConfig::lora();
    let (mut e, l) = engine_on_medium(config.clone());
    let ids = packed_ids(&l, 8);
    let want = bytes(
        0,
        0,
        Body::Want(wire::Want {
            short_ids: Vec::new(),
            ids,
            key: 0,
        }),
    );
    e.handle_medium(1, MEDIUM, HOSTILE, &want, &l);
    assert!(
        drain(&mut e, 1, MEDIUM, &l)
            .iter()
            .all(|m| !matches!(m.body, Some(Body::Records(_)))),
        "no answer before the backoff"
    );
    // A neighbour answers first with five of the eight records.
    let some: Vec<wire::SignedRecord> = l
        .set()
        .ids()
        .take(5)
        .map(|id| l.get(&id).expect("held").to_signed())
        .collect();
    let answer = bytes(0, 0, message::records(&some, false));
    e.handle_medium(2, MEDIUM, 7, &answer, &l);
    let sent: Vec<wire::SignedRecord> = drain(&mut e, 2 + config.broadcast_backoff_ms, MEDIUM, &l)
        .into_iter()
        .filter_map(|m| match m.body {
            Some(Body::Records(r)) => {
                Some(message::unpack_records(&r.records, 1_000).expect("ours"))
            }
            _ => None,
        })
        .flatten()
        .collect();
    assert_eq!(sent.len(), 3, "only what nobody broadcast meanwhile");
    assert!(sent.iter().all(|r| !some.contains(r)));
}

#[test]
fn forged_copies_heard_on_the_medium_do_not_silence_an_answer() {
    let config = SyncConfig::lora();
    let (mut e, l) = engine_on_medium(config.clone());
    let want = bytes(
        0,
        0,
        Body::Want(wire::Want {
            short_ids: Vec::new(),
            ids: packed_ids(&l, 8),
            key: 0,
        }),
    );
    e.handle_medium(1, MEDIUM, HOSTILE, &want, &l);
    // A hostile neighbour broadcasts the wanted bodies with broken signatures: same ids,
    // records no one can use.
    let forged: Vec<wire::SignedRecord> = l
        .set()
        .ids()
        .take(8)
        .map(|id| {
            let mut r = l.get(&id).expect("held").to_signed();
            r.signature[7] ^= 1;
            r
        })
        .collect();
    let answer = bytes(0, 0, message::records(&forged, false));
    e.handle_medium(2, MEDIUM, HOSTILE, &answer, &l);
    let sent: Vec<wire::SignedRecord> = drain(&mut e, 2 + config.broadcast_backoff_ms, MEDIUM, &l)
        .into_iter()
        .filter_map(|m| match m.body {
            Some(Body::Records(r)) => {
                Some(message::unpack_records(&r.records, 1_000).expect("ours"))
            }
            _ => None,
        })
        .flatten()
        .collect();
    assert_eq!(sent.len(), 8, "the good copies still go out");
    assert!(sent.iter().all(|r| !forged.contains(r)));
}

/// Starts this node's own broadcast stream; returns its session number.
fn own_stream(e: &mut SyncEngine, l: &Ledger, now: u64) -> u32 {
    e.handle_timeout(now, l);
    let hello = drain(e, now, MEDIUM, l)
        .into_iter()
        .find(|m| matches!(m.body, Some(Body::Hello(_))))
        .expect("announced");
    hello.session
}

/// Fixed. medium.rs: requests to our own stream are deduplicated by a hash of the
/// whole frame, `step` included, so changing `step` defeats it; each request is
/// answered onto the unbounded `outbox` (and `answered` is simply cleared at 256). A
/// 10-byte `GetSymbols` buys a full run of symbols on the air, as often as it is sent.
#[test]
fn requests_to_our_stream_differing_only_in_step_are_not_all_answered() {
    let (mut e, l) = engine_on_medium(SyncConfig::default());
    let session = own_stream(&mut e, &l, 1_000);
    let mut heard = 0;
    for step in 1..=300u32 {
        let ask = bytes(
            session,
            step,
            Body::GetSymbols(wire::GetSymbols { from: 0, count: 64 }),
        );
        heard += ask.len();
        e.handle_medium(1_001, MEDIUM, HOSTILE, &ask, &l);
    }
    let outbox = &e.media[&MEDIUM].outbox;
    let sent: usize = outbox.iter().map(|m| m.encoded_len()).sum();
    assert!(
        outbox.len() <= 4,
        "300 copies of one request queued {} answers ({sent} bytes for {heard} heard)",
        outbox.len()
    );
}

/// Fixed. medium.rs `overheard`: every request heard on the medium records its
/// session number (a `u32` the sender picks) and the map is never pruned. Requests for
/// 200,000 made-up sessions keep 200,000 entries for good.
#[test]
fn overheard_requests_for_made_up_sessions_do_not_grow_state() {
    let (mut e, l) = engine_on_medium(SyncConfig::default());
    for s in 1..=100u32 {
        let ask = bytes(
            s,
            1,
            Body::GetSymbols(wire::GetSymbols { from: 0, count: 1 }),
        );
        e.handle_medium(1, MEDIUM, HOSTILE, &ask, &l);
    }
    let before = live();
    for s in 1_000..201_000u32 {
        let ask = bytes(
            s,
            1,
            Body::GetSymbols(wire::GetSymbols { from: 0, count: 1 }),
        );
        e.handle_medium(2, MEDIUM, HOSTILE, &ask, &l);
    }
    let grown = live() - before;
    assert!(
        grown < 512 * 1024,
        "requests for 200,000 unknown sessions kept {grown} bytes"
    );
}

/// Fixed. medium.rs `Body::Hello`: any `Hello` heard pushes our next announcement
/// a full `reconcile_every_ms` away. A neighbour sending one small Hello per interval
/// (and never answering on its stream) silences every node in range: nobody announces,
/// and broadcast reconciliation stops for all.
#[test]
fn a_neighbour_cannot_silence_our_announcements_for_ever() {
    let config = SyncConfig::default();
    let every = config.reconcile_every_ms;
    let (mut e, l) = engine_on_medium(config);
    let n = l.set().len() as u64;
    let mut ours = 0;
    let mut now = 0;
    let mut s = 1u32;
    while now < 20 * every {
        if now % (every - 10_000) == 0 {
            e.handle_medium(now, MEDIUM, HOSTILE, &announce(s, n + 2, s as u8), &l);
            s += 1;
        }
        e.handle_timeout(now, &l);
        ours += drain(&mut e, now, MEDIUM, &l)
            .iter()
            .filter(|m| matches!(m.body, Some(Body::Hello(_))))
            .count();
        now += 1_000;
    }
    assert!(
        ours > 0,
        "in {} minutes this node never announced, silenced by one Hello a minute",
        20 * every / 60_000
    );
}

/// Fixed. medium.rs: listeners are keyed by session number alone, not by
/// (streamer, session). Frames from any other neighbour with that number are fed to
/// the listener: two of them (a first run, then a run under another key) end it with an
/// error blamed on the streamer. Two honest announcers drawing the same 14-bit session
/// number collide the same way.
#[test]
fn a_listener_ignores_frames_from_other_senders() {
    const STREAMER: u64 = 10;
    let (mut e, l) = engine_on_medium(SyncConfig::default());
    let n = l.set().len() as u64;
    e.handle_medium(1, MEDIUM, STREAMER, &announce(77, n + 2, 5), &l);
    assert!(e.listening(MEDIUM));
    let run = |salt: u8, id_len: u32, first: u64| {
        bytes(
            77,
            1,
            Body::Symbols(wire::Symbols {
                salt: vec![salt; 16],
                id_len,
                first,
                n: 0,
                data: Vec::new(),
            }),
        )
    };
    let mut events = e.handle_medium(2, MEDIUM, HOSTILE, &run(8, 5, 0), &l);
    events.extend(e.handle_medium(3, MEDIUM, HOSTILE, &run(9, 4, 0), &l));
    let streamer_failed = events.iter().any(|ev| {
        matches!(
            ev,
            Event::Reconciled {
                peer: STREAMER,
                outcome: Err(_)
            }
        )
    });
    assert!(
        e.listening(MEDIUM) && !streamer_failed,
        "frames from a third node ended the listener of streamer {STREAMER}: {events:?}"
    );
}

// ---------------------------------------------------------------------------------------
// Responder (checked, fine)
// ---------------------------------------------------------------------------------------

/// Coverage. Range requests with nested, prefix-related bounds, empty
/// ranges with a wrong fingerprint, and requests at the very end of the symbol budget
/// are answered or refused without a panic, each answer within the message bound.
#[test]
fn awkward_requests_are_answered_within_bounds() {
    let config = SyncConfig::default();
    let (mut e, l) = engine_with_peer(config.clone());
    let n = l.set().len() as u64;
    let hello = differing_hello(n, 8);
    assert_eq!(errors(&e.handle(10, PEER, &hello, &l)), 0);
    drain(&mut e, 10, PEER, &l);
    let range = |lower: Vec<u8>, count: u64| wire::RangeFingerprint {
        lower,
        count,
        fingerprint: vec![1; 8],
    };
    let requests = vec![
        Body::GetRanges(wire::GetRanges {
            ranges: vec![
                range(vec![], 0),
                range(vec![0], 5),
                range(vec![0, 0], 0),
                range(vec![0, 0, 0], 1_000_000),
                range(vec![0x80], 0),
                range(vec![0xff; 32], 3),
            ],
            upper: Vec::new(),
        }),
        Body::GetRanges(wire::GetRanges {
            ranges: vec![range(vec![0x10], u64::MAX)],
            upper: vec![0x10, 0],
        }),
        Body::GetSymbols(wire::GetSymbols {
            from: config.symbol_budget - 1,
            count: 1,
        }),
        Body::GetSymbols(wire::GetSymbols {
            from: 0,
            count: config.max_symbols_per_request,
        }),
        Body::Want(wire::Want {
            short_ids: vec![0xab; 4 * 1000],
            ids: vec![0xcd; 32 * 100],
            key: 1,
        }),
        Body::Want(wire::Want {
            short_ids: vec![0xab; 4 * 10],
            ids: Vec::new(),
            key: 0,
        }),
    ];
    for (i, body) in requests.into_iter().enumerate() {
        let _ = e.handle(11 + i as u64, PEER, &bytes(5, 2 + i as u32, body), &l);
        for m in drain(&mut e, 11 + i as u64, PEER, &l) {
            assert!(m.encoded_len() <= config.max_message_bytes, "request {i}");
        }
    }
}

// ---------------------------------------------------------------------------------------
// Fragment reassembly
// ---------------------------------------------------------------------------------------

/// Fixed. fragment.rs `add`: `max_partials` and `max_buffered_bytes` are shared by
/// all sources, and a new partial evicts the oldest whoever it belongs to. A neighbour
/// that starts 16 fragmented messages between two fragments of an honest one evicts the
/// honest partial every time: on a slow LoRa link no fragmented message from anyone
/// else ever completes. A per-source quota (evict the sender's own oldest) fixes it.
#[test]
fn one_source_cannot_evict_every_other_sources_partials() {
    let mut r = Reassembler::new(ReassemblyConfig::default());
    let honest: Vec<u8> = (0..600u32).map(|i| i as u8).collect();
    let frames = fragment(&honest, 233, 1).expect("cut");
    assert!(frames.len() > 1);
    let mut delivered = None;
    let mut hostile_id = 0u16;
    for (t, f) in frames.iter().enumerate() {
        if let Ok(Some(m)) = r.push(t as u64 * 1_000, 1, f) {
            delivered = Some(m);
        }
        for _ in 0..16 {
            hostile_id = hostile_id.wrapping_add(1);
            let junk = [
                0b0110_0000,
                (hostile_id >> 8) as u8,
                hostile_id as u8,
                0,
                2,
                0xAA,
            ];
            let _ = r.push(t as u64 * 1_000 + 1, 2, &junk);
        }
    }
    assert_eq!(
        delivered,
        Some(honest),
        "a hostile source's first fragments evicted the honest message"
    );
}
