//! A hostile peer: garbage, absurd counts and ranges, endless range splitting,
//! undecodable symbol streams, replays, a peer that only asks. No panic, bounded work,
//! an error counted, and the other peers still served.

use prost::Message;

use super::initiator::Initiator;
use super::message::{self, SyncError};
use super::testnet::TestNet;
use super::{Event, SyncConfig, SyncEngine};
use crate::ledger::history;
use crate::ledger::{Ledger, RecordSet};
use crate::testkit;
use crate::wire::{self, sync_message::Body};

fn engine_with_peer(config: SyncConfig) -> (SyncEngine, Ledger) {
    let h = history::generate(3, 40);
    let mut l = Ledger::new(h.spec.clone()).expect("spec");
    l.merge(h.records, &mut testkit::rng(3));
    let mut e = SyncEngine::new(config, [1; 32]).expect("config");
    e.add_peer(0, 9);
    (e, l)
}

fn errors(events: &[Event]) -> usize {
    events
        .iter()
        .filter(|e| matches!(e, Event::PeerError { .. }))
        .count()
}

#[test]
fn garbage_is_an_error_never_a_panic() {
    let (mut e, l) = engine_with_peer(SyncConfig::default());
    let mut rng = testkit::rng(5);
    for n in 0..300usize {
        let mut b = vec![0u8; n % 97];
        rand_core::Rng::fill_bytes(&mut rng, &mut b);
        let _ = e.handle(n as u64, 9, &b, &l);
    }
    let s = e.stats(9).expect("peer");
    assert!(s.errors > 0);
    // After enough errors the peer is ignored for a while.
    assert!(s.ignored > 0, "{s:?}");
}

fn send(
    e: &mut SyncEngine,
    l: &Ledger,
    now: u64,
    session: u32,
    step: u32,
    body: Body,
) -> Vec<Event> {
    let m = message::message(session, step, body);
    e.handle(now, 9, &m.encode_to_vec(), l)
}

#[test]
fn absurd_counts_and_ranges_are_refused() {
    let (mut e, l) = engine_with_peer(SyncConfig::default());
    let cases = vec![
        Body::GetSymbols(wire::GetSymbols {
            from: 0,
            count: u32::MAX,
        }),
        Body::GetSymbols(wire::GetSymbols {
            from: u64::MAX - 1,
            count: 10,
        }),
        Body::GetRanges(wire::GetRanges {
            ranges: (0..10_000u32)
                .map(|i| wire::RangeFingerprint {
                    lower: i.to_be_bytes().to_vec(),
                    count: 1,
                    fingerprint: vec![0; 8],
                })
                .collect(),
            upper: Vec::new(),
        }),
        Body::GetRanges(wire::GetRanges {
            ranges: vec![
                wire::RangeFingerprint {
                    lower: vec![5],
                    count: 1,
                    fingerprint: vec![0; 8],
                },
                wire::RangeFingerprint {
                    lower: vec![1],
                    count: 1,
                    fingerprint: vec![0; 8],
                },
            ],
            upper: Vec::new(),
        }),
        Body::GetRanges(wire::GetRanges {
            ranges: vec![wire::RangeFingerprint {
                lower: vec![0; 40],
                count: 1,
                fingerprint: vec![0; 8],
            }],
            upper: Vec::new(),
        }),
        Body::Hello(wire::Hello {
            salt: vec![1; 3],
            count: 1,
            fingerprint: vec![0; 8],
            window: 5,
        }),
        Body::Want(wire::Want {
            short_ids: Vec::new(),
            ids: vec![1; 33],
            key: 0,
        }),
    ];
    for (i, body) in cases.into_iter().enumerate() {
        let ev = send(&mut e, &l, i as u64, 77, 1, body);
        assert_eq!(errors(&ev), 1, "case {i}: {ev:?}");
    }
}

#[test]
fn an_initiator_gives_up_on_endless_range_splitting() {
    let config = SyncConfig::default();
    let ids: Vec<crate::RecordId> = (0..200u32)
        .map(|i| crate::RecordId::of_body(&i.to_le_bytes()))
        .collect();
    let mut ids = ids;
    ids.sort();
    let l = Ledger::new(testkit::World::new(1).spec).expect("spec");
    let mut init = Initiator::new(1, [3; 16], ids, &config);
    let hello = init.poll_message(0, &config, &l).expect("hello");
    assert!(matches!(hello.body, Some(Body::Hello(_))));
    // The responder claims an empty set: ranges follow.
    let root = message::message(
        1,
        hello.step,
        Body::Root(wire::Root {
            count: 0,
            fingerprint: vec![0; 8],
            symbols: None,
        }),
    );
    init.handle(&root, &config).expect("root");
    let mut result = Ok(Vec::new());
    for now in 1..10_000 {
        let Some(ask) = init.poll_message(now, &config, &l) else {
            break;
        };
        let Some(Body::GetRanges(g)) = &ask.body else {
            break;
        };
        // Always split the first range asked into two, never listing anything.
        let first = &g.ranges[0];
        let upper = g.ranges.get(1).map_or(g.upper.clone(), |r| r.lower.clone());
        let mut mid = first.lower.clone();
        mid.push(0x80);
        let split = wire::GetRanges {
            ranges: vec![
                wire::RangeFingerprint {
                    lower: first.lower.clone(),
                    count: 1,
                    fingerprint: vec![9; 8],
                },
                wire::RangeFingerprint {
                    lower: mid,
                    count: 1,
                    fingerprint: vec![9; 8],
                },
            ],
            upper,
        };
        let answer = message::message(
            1,
            ask.step,
            Body::RangeAnswer(wire::RangeAnswer {
                split: vec![split],
                lists: Vec::new(),
                answered: 1,
            }),
        );
        result = init.handle(&answer, &config);
        if result.is_err() {
            break;
        }
    }
    assert_eq!(result, Err(SyncError::Budget("endless range splitting")));
}

#[test]
fn an_undecodable_symbol_stream_ends_in_ranges_not_a_loop() {
    let config = SyncConfig {
        symbol_budget: 4_096,
        ..SyncConfig::default()
    };
    let mut ids: Vec<crate::RecordId> = (0..500u32)
        .map(|i| crate::RecordId::of_body(&i.to_le_bytes()))
        .collect();
    ids.sort();
    let l = Ledger::new(testkit::World::new(1).spec).expect("spec");
    let mut init = Initiator::new(1, [3; 16], ids, &config);
    let hello = init.poll_message(0, &config, &l).expect("hello");
    let mut rng = testkit::rng(11);
    let garbage = |first: u64, n: u32, rng: &mut rand_chacha::ChaCha20Rng| {
        let mut data = Vec::new();
        for _ in 0..n {
            let mut b = [0u8; 7];
            rand_core::Rng::fill_bytes(rng, &mut b);
            data.push(0); // count delta 0
            data.extend_from_slice(&b[..4]);
            data.extend_from_slice(&b[4..6]);
        }
        wire::Symbols {
            salt: vec![4; 16],
            id_len: 4,
            first,
            n,
            data,
        }
    };
    let root = message::message(
        1,
        hello.step,
        Body::Root(wire::Root {
            count: 480,
            fingerprint: vec![1; 8],
            symbols: Some(garbage(0, 16, &mut rng)),
        }),
    );
    init.handle(&root, &config).expect("root");
    let mut asked = 0;
    let mut fell_back = false;
    for now in 1..100_000 {
        let Some(ask) = init.poll_message(now, &config, &l) else {
            break;
        };
        match &ask.body {
            Some(Body::GetSymbols(g)) => {
                asked += 1;
                let s = garbage(g.from, g.count, &mut rng);
                let _ = init.handle(&message::message(1, ask.step, Body::Symbols(s)), &config);
            }
            Some(Body::GetRanges(_)) => {
                fell_back = true;
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(
        fell_back || init.outcome().is_some(),
        "falls back to ranges or ends"
    );
    // Requests grow by at least a sixteenth each time, so the budget ends them.
    assert!(
        asked <= 100,
        "symbol requests are bounded by the budget ({asked})"
    );
}

#[test]
fn replays_and_stale_answers_are_ignored() {
    let h = history::generate(8, 50);
    let mut net = TestNet::new(&h.spec, 2, SyncConfig::default(), 8);
    net.nodes[0]
        .ledger
        .merge(h.records.clone(), &mut testkit::rng(1));
    net.connect(0, 1);
    net.run(0, 60_000);
    let d = net.digests();
    assert_eq!(d[0], d[1]);
    // Replay an old-looking Root of an unknown session to node 0: ignored, no error.
    let stale = message::message(
        12345,
        1,
        Body::Root(wire::Root {
            count: 1,
            fingerprint: vec![0; 8],
            symbols: None,
        }),
    );
    let node = &mut net.nodes[0];
    let ev = node
        .engine
        .handle(net.now, 1, &stale.encode_to_vec(), &node.ledger);
    assert!(ev.is_empty(), "{ev:?}");
    assert_eq!(node.engine.stats(1).expect("peer").errors, 0);
}

#[test]
fn a_peer_that_only_asks_is_bounded_and_others_are_still_served() {
    let h = history::generate(12, 60);
    let mut net = TestNet::new(&h.spec, 3, SyncConfig::default(), 12);
    net.nodes[0]
        .ledger
        .merge(h.records.clone(), &mut testkit::rng(1));
    net.connect(0, 1);
    net.connect(0, 2);
    // Node 2 floods node 0 with Hellos and symbol requests and never reads an answer.
    for i in 0..500u32 {
        let hello = Body::Hello(wire::Hello {
            salt: vec![(i % 250) as u8; 16],
            count: 0,
            fingerprint: vec![0; 8],
            window: 8,
        });
        net.send_raw(2, 0, &message::message(i, 1, hello).encode_to_vec());
        net.send_raw(
            2,
            0,
            &message::message(
                i,
                2,
                Body::GetSymbols(wire::GetSymbols {
                    from: 0,
                    count: 100,
                }),
            )
            .encode_to_vec(),
        );
        net.step(10);
    }
    net.run(0, 120_000);
    let d = net.digests();
    assert_eq!(d[0], d[1], "node 1 was served");
    let s = net.nodes[0].engine.stats(2).expect("peer");
    assert!(s.errors > 0 && s.ignored > 0, "{s:?}");
    let _ = net.nodes[0].ledger.set().len();
}
