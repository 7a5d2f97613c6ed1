//! Engines reconciling over in-memory links with a small MTU, loss and reordering.

use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};

use super::testnet::TestNet;
use super::{Event, Outcome, SyncConfig};
use crate::ledger::Ledger;
use crate::ledger::history;
use crate::testkit;
use crate::wire;

/// The digest every node should reach: the union of all records.
fn union_digest(spec: &crate::ChainSpec, records: &[wire::SignedRecord]) -> [u8; 32] {
    let mut l = Ledger::new(spec.clone()).expect("spec");
    l.merge(records.to_vec(), &mut testkit::rng(0));
    l.state_digest()
}

/// Deals records to nodes: each record goes to a random non-empty subset.
fn deal(net: &mut TestNet, records: &[wire::SignedRecord], seed: u64, share: u64) {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let n = net.nodes.len();
    let mut per: Vec<Vec<wire::SignedRecord>> = vec![Vec::new(); n];
    for r in records {
        let first = (rng.next_u64() % n as u64) as usize;
        per[first].push(r.clone());
        for (i, p) in per.iter_mut().enumerate() {
            if i != first && rng.next_u64() % 100 < share {
                p.push(r.clone());
            }
        }
    }
    for (i, rs) in per.into_iter().enumerate() {
        let mut l = crate::testkit::rng(i as u64);
        net.nodes[i].ledger.merge(rs, &mut l);
    }
}

/// Settings for a lossy radio-like link: small messages (few fragments each), patient
/// but frequent periodic reconciliation, which recovers pushes that were lost.
fn lossy() -> SyncConfig {
    SyncConfig {
        max_message_bytes: 1_500,
        max_records_per_message: 6,
        retransmit_ms: 1_000,
        reconcile_every_ms: 20_000,
        min_session_interval_ms: 1_000,
        ..SyncConfig::default()
    }
}

fn reconciled(net: &TestNet) -> usize {
    net.nodes
        .iter()
        .flat_map(|n| &n.events)
        .filter(|e| {
            matches!(
                e,
                Event::Reconciled {
                    outcome: Ok(Outcome::Reconciled { .. }),
                    ..
                }
            )
        })
        .count()
}

#[test]
fn identical_sets_end_in_one_round_trip_under_100_bytes() {
    let h = history::generate(1, 60);
    let mut net = TestNet::new(&h.spec, 2, SyncConfig::default(), 1);
    net.jitter_ms = 0;
    for n in &mut net.nodes {
        n.ledger.merge(h.records.clone(), &mut testkit::rng(1));
    }
    net.connect(0, 1);
    net.run(0, 10_000);
    assert_eq!(reconciled(&net), 2, "both sides reconciled");
    let s = net.nodes[0].engine.stats(1).expect("peer");
    // Node 0's session: one Hello out, one Root back (plus its answer to node 1's
    // Hello and node 1's Done).
    assert!(s.bytes_out + s.bytes_in < 2 * 100, "{s:?}");
    assert_eq!(net.digests()[0], net.digests()[1]);
}

#[test]
fn two_engines_converge() {
    for seed in 0..4 {
        let h = history::generate(seed, 80);
        let want = union_digest(&h.spec, &h.records);
        let mut net = TestNet::new(&h.spec, 2, SyncConfig::default(), seed);
        deal(&mut net, &h.records, seed, 60);
        net.connect(0, 1);
        net.run(0, 60_000);
        assert_eq!(net.digests(), vec![want; 2], "seed {seed}");
    }
}

#[test]
fn three_engines_converge_over_a_lossy_small_mtu_line() {
    for seed in 0..3 {
        let h = history::generate(seed + 10, 80);
        let want = union_digest(&h.spec, &h.records);
        let mut net = TestNet::new(&h.spec, 3, lossy(), seed);
        net.loss_per_mille = 50;
        net.mtu = 200;
        deal(&mut net, &h.records, seed, 30);
        net.connect(0, 1);
        net.connect(1, 2);
        net.converge(1_800_000);
        assert_eq!(net.digests(), vec![want; 3], "seed {seed}");
    }
}

#[test]
fn ten_engines_converge() {
    let h = history::generate(77, 90);
    let want = union_digest(&h.spec, &h.records);
    let mut net = TestNet::new(&h.spec, 10, lossy(), 77);
    net.loss_per_mille = 30;
    deal(&mut net, &h.records, 77, 20);
    for i in 0..10 {
        net.connect(i, (i + 1) % 10);
    }
    net.connect(0, 5);
    net.connect(2, 7);
    net.converge(1_800_000);
    assert_eq!(net.digests(), vec![want; 10]);
}

#[test]
fn forks_across_a_split_are_known_to_every_node_after_the_heal() {
    let mut w = testkit::World::new(1);
    let spec = w.spec.clone();
    let mint = w.mint(testkit::acct(1), 1_000);
    let mut net = TestNet::new(&spec, 6, lossy(), 5);
    net.loss_per_mille = 20;
    net.inject(0, vec![mint.clone()]);
    // Two islands: 0-1-2 and 3-4-5.
    net.connect(0, 1);
    net.connect(1, 2);
    net.connect(3, 4);
    net.connect(4, 5);
    net.inject(3, vec![mint.clone()]);
    net.run(0, 60_000);
    // Alice pays bob on one island and carol on the other, at the same seq.
    let mut a1 = w.wallet(1);
    let to_bob = a1
        .pay(&w.ledger, &mut w.store, testkit::acct(2), 600, None, "", 1)
        .expect("pay");
    let mut a2 = w.wallet(1);
    let to_carol = a2
        .pay(&w.ledger, &mut w.store, testkit::acct(3), 700, None, "", 1)
        .expect("pay");
    net.inject(1, vec![to_bob.clone()]);
    net.inject(4, vec![to_carol.clone()]);
    net.run(0, 60_000);
    assert!(
        net.nodes.iter().all(|n| n.ledger.conflicts().is_empty()),
        "no node can know yet"
    );
    // The heal.
    net.connect(2, 3);
    net.converge(1_800_000);
    for (i, n) in net.nodes.iter().enumerate() {
        let c = n.ledger.conflicts();
        assert_eq!(c.len(), 1, "node {i}");
        assert_eq!(c[0].account, testkit::acct(1));
        let proof = n.ledger.proof(&c[0]).expect("proof");
        assert!(proof.verify(n.ledger.chain_id()).is_ok());
    }
    let d = net.digests();
    assert!(d.iter().all(|x| *x == d[0]));
}

#[test]
fn new_records_are_pushed_without_loops() {
    let mut w = testkit::World::new(1);
    let spec = w.spec.clone();
    let mint = w.mint(testkit::acct(1), 1_000);
    let mut net = TestNet::new(&spec, 4, SyncConfig::default(), 9);
    for i in 0..4 {
        net.connect(i, (i + 1) % 4);
    }
    net.run(0, 10_000);
    net.inject(0, vec![mint]);
    net.run(0, 10_000);
    let d = net.digests();
    assert!(d.iter().all(|x| *x == d[0]));
    // Each node hears the record at most once per neighbour (8 directed links), and
    // nothing circulates afterwards: no loops.
    let received = |net: &TestNet| -> u64 {
        (0..4)
            .map(|i| {
                let e = &net.nodes[i].engine;
                e.peers()
                    .map(|p| e.stats(p).expect("peer").records_in)
                    .sum::<u64>()
            })
            .sum()
    };
    let once = received(&net);
    assert!((3..=8).contains(&once), "records received {once}");
    net.run(0, 10_000);
    assert_eq!(received(&net), once);
}

#[test]
fn a_cut_link_heals_by_reconciliation() {
    let h = history::generate(31, 70);
    let want = union_digest(&h.spec, &h.records);
    let mut net = TestNet::new(&h.spec, 2, lossy(), 31);
    net.connect(0, 1);
    net.run(0, 10_000);
    net.disconnect(0, 1);
    deal(&mut net, &h.records, 31, 10);
    net.run(0, 10_000);
    assert_ne!(net.digests()[0], net.digests()[1]);
    net.connect(0, 1);
    net.converge(1_800_000);
    assert_eq!(net.digests(), vec![want; 2]);
}

/// Records taken as verified (the collision test builds unsigned ones).
fn trusted(rs: Vec<wire::SignedRecord>) -> Vec<crate::record::Record> {
    rs.into_iter()
        .map(|r| crate::record::parse(r).expect("parses").into_trusted())
        .collect()
}

/// Drives one initiator against one responder directly, delivering every message; the
/// records move unverified (the callers' records are built unsigned).
fn drive(
    session: u32,
    salt: [u8; 16],
    a: &mut Ledger,
    b: &mut Ledger,
    seed_b: &mut super::seed::SeedStream,
    config: &SyncConfig,
) -> Outcome {
    use super::initiator::Initiator;
    use super::message;
    use super::responder::Responder;
    use crate::ledger::RecordSet;
    use crate::wire::sync_message::Body;
    let mut init = Initiator::new(session, salt, a.set().ids().collect(), config);
    let mut resp: Option<Responder> = None;
    for now in 0..1_000 {
        let Some(m) = init.poll_message(now, config, a) else {
            if let Some(o) = init.outcome() {
                return o.clone().expect("no error");
            }
            continue;
        };
        let m = message::decode(&message::encode(&m), config).expect("valid");
        let answer = match m.body.as_ref().expect("body") {
            Body::Hello(h) => {
                let (r, root) =
                    Responder::open(m.session, h, b.set().ids().collect(), seed_b, config)
                        .expect("opens");
                resp = Some(r);
                Some(root)
            }
            Body::Records(r) => {
                b.merge_verified(trusted(
                    message::unpack_records(&r.records, usize::MAX).expect("packed"),
                ));
                None
            }
            other => resp
                .as_mut()
                .expect("open")
                .answer(other, seed_b, config, b)
                .expect("answers"),
        };
        if let Some(body) = answer {
            let reply = message::message(m.session, m.step, body);
            let reply = message::decode(&message::encode(&reply), config).expect("valid");
            let records = init.handle(&reply, config).expect("handled");
            a.merge_verified(trusted(records));
        }
    }
    panic!("session did not end");
}

#[test]
fn a_short_id_collision_costs_a_retry_never_a_record() {
    use super::seed::SeedStream;
    use super::shortid::{ShortIdKey, len_for};
    use crate::record::{Body, Kind, Mint};
    let w = testkit::World::new(1);
    let spec = w.spec.clone();
    let common: Vec<wire::SignedRecord> = w.some_records(20);
    // The responder's first symbol salt, predicted from its seed.
    let mut seed_b = SeedStream::new([7; 32]);
    let salt_b = seed_b.clone().salt();
    let key = ShortIdKey::new(salt_b, len_for(21)).expect("len");
    assert_eq!(key.len(), 4, "a short key makes a collision cheap to find");
    // Two mints whose short ids collide under that salt (birthday search).
    let mint = |i: u64| {
        let body = Body {
            signer: spec.issuers[0],
            seq: 1_000 + i,
            prev: Some(crate::RecordId([1; 32])),
            timestamp_ms: 0,
            kind: Kind::Mint(Mint {
                to: testkit::acct(9),
                amount: 1,
                memo: String::new(),
            }),
        };
        wire::SignedRecord {
            body: body.encode(),
            signature: vec![0; 64],
        }
    };
    let mut seen = std::collections::HashMap::new();
    let (x, y) = (0u64..)
        .find_map(|i| {
            let r = mint(i);
            let short = key.short(&crate::RecordId::of_body(&r.body));
            seen.insert(short, i).map(|j| (mint(j), r))
        })
        .expect("a collision exists");
    let mut a = Ledger::new(spec.clone()).expect("spec");
    let mut b = Ledger::new(spec.clone()).expect("spec");
    let mut with_x = common.clone();
    with_x.push(x);
    let mut with_y = common;
    with_y.push(y);
    a.merge_verified(trusted(with_x));
    b.merge_verified(trusted(with_y));
    let config = SyncConfig::default();
    // The two differing records cancel out in the coded symbols: the decode looks empty,
    // the root fingerprints disagree, and the session asks for a retry.
    assert_eq!(
        drive(1, [1; 16], &mut a, &mut b, &mut seed_b, &config),
        Outcome::Retry
    );
    // A fresh session draws fresh salts and gets both records across.
    let second = drive(2, [2; 16], &mut a, &mut b, &mut seed_b, &config);
    assert_eq!(
        second,
        Outcome::Reconciled {
            received: 1,
            sent: 1,
            ranges: false
        }
    );
    assert_eq!(a.state_digest(), b.state_digest());
    assert_eq!(a.len(), 22);
}

mod laws {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(testkit::cases().min(64)))]

        /// Any two record sets converge to their union, and the bytes exchanged stay
        /// within twice the records' own bytes plus a fixed allowance per session.
        #[test]
        fn any_two_sets_converge(seed in any::<u64>(), share in 0u64..100, loss in 0u64..60) {
            let h = history::generate(seed, 60);
            let want = union_digest(&h.spec, &h.records);
            let mut net = TestNet::new(&h.spec, 2, lossy(), seed);
            net.loss_per_mille = loss;
            deal(&mut net, &h.records, seed, share);
            net.connect(0, 1);
            net.converge(1_800_000);
            prop_assert_eq!(net.digests(), vec![want; 2]);
            if loss == 0 {
                let payload: u64 = h.records.iter().map(|r| prost::Message::encoded_len(r) as u64).sum();
                let s = net.nodes[0].engine.stats(1).expect("peer");
                let sessions = s.sessions + net.nodes[1].engine.stats(0).expect("peer").sessions;
                prop_assert!(s.bytes_in + s.bytes_out <= 2 * payload + 2_000 * sessions,
                    "{} bytes for {} bytes of records over {} sessions", s.bytes_in + s.bytes_out, payload, sessions);
            }
        }
    }
}

#[test]
fn one_stream_serves_every_neighbour_on_a_broadcast_medium() {
    let h = history::generate(41, 80);
    let want = union_digest(&h.spec, &h.records);
    let config = SyncConfig {
        reconcile_every_ms: 30_000,
        ..lossy()
    };
    // Five nodes in radio range of each other, each holding part of the records.
    let mut radio = TestNet::new(&h.spec, 5, config.clone(), 41);
    radio.loss_per_mille = 20;
    deal(&mut radio, &h.records, 41, 50);
    radio.broadcast_medium(100, (0..5).collect());
    radio.converge(1_800_000);
    assert_eq!(radio.digests(), vec![want; 5]);

    // The same nodes and records over a full mesh of unicast links.
    let mut mesh = TestNet::new(&h.spec, 5, config, 41);
    mesh.loss_per_mille = 20;
    deal(&mut mesh, &h.records, 41, 50);
    for a in 0..5 {
        for b in a + 1..5 {
            mesh.connect(a, b);
        }
    }
    mesh.converge(1_800_000);
    assert_eq!(mesh.digests(), vec![want; 5]);
    // A broadcast is sent once for everyone in range: well under a fifth of the mesh's
    // bytes (about a tenth in this run).
    assert!(
        radio.wire_bytes * 5 < mesh.wire_bytes,
        "broadcast {} bytes, unicast mesh {} bytes",
        radio.wire_bytes,
        mesh.wire_bytes
    );
}

#[test]
fn records_of_an_account_in_conflict_are_relayed_within_a_budget() {
    let mut w = testkit::World::new(1);
    let spec = w.spec.clone();
    let mint = w.mint(testkit::acct(1), 1_000);
    let config = SyncConfig {
        conflict_relay_per_account: 4,
        conflict_relay_window_ms: 60_000,
        reconcile_every_ms: 3_600_000,
        ..SyncConfig::default()
    };
    let mut net = TestNet::new(&spec, 2, config, 17);
    net.jitter_ms = 0;
    net.inject(0, vec![mint.clone()]);
    net.connect(0, 1);
    net.run(0, 10_000);
    // The account floods: thirty records at one seq, each valid on its own.
    let forks: Vec<wire::SignedRecord> = (1..=30u64)
        .map(|i| {
            let body = testkit::transfer(
                1,
                1,
                None,
                vec![testkit::id(&mint)],
                Some(testkit::acct(2)),
                i,
                1_000 - i,
            );
            w.sign(1, &body)
        })
        .collect();
    net.inject(0, forks[..2].to_vec());
    net.run(0, 5_000);
    assert_eq!(
        net.nodes[1].ledger.conflicts().len(),
        1,
        "the proof goes first"
    );
    net.inject(0, forks[2..].to_vec());
    net.run(0, 30_000);
    let held = |net: &TestNet| net.nodes[1].ledger.len();
    // The mint, the two records of the proof, and four more within the window.
    assert_eq!(held(&net), 1 + 2 + 4);
    // The rest is delayed, not dropped: each window lets four more through.
    net.run(60_000, 70_000);
    assert_eq!(held(&net), 1 + 2 + 8);
}

#[test]
fn a_payment_whose_prev_the_peer_holds_travels_thin_and_arrives_whole() {
    let mut w = testkit::World::new(1);
    let spec = w.spec.clone();
    let mut payer = w.wallet(1);
    let mint = w.mint(payer.account(), 1_000);
    w.apply(&mint);
    let first = w.pay(&mut payer, testkit::acct(2), 10);
    w.apply(&first);
    let second = w.pay(&mut payer, testkit::acct(3), 20);
    let mut net = TestNet::new(&spec, 2, SyncConfig::default(), 3);
    net.jitter_ms = 0;
    net.connect(0, 1);
    net.run(0, 5_000);
    net.inject(0, vec![mint, first]);
    net.run(0, 5_000);
    let before = net.wire_bytes;
    net.inject(0, vec![second.clone()]);
    net.run(0, 5_000);
    let moved = net.wire_bytes - before;
    assert!(net.nodes[1].ledger.contains(&testkit::id(&second)));
    let whole = prost::Message::encoded_len(&second) as u64;
    // One message: the record less its 32-byte prev, a few bytes of envelope.
    assert!(
        moved + 20 < whole,
        "{moved} bytes moved for a {whole}-byte record"
    );
    let d = net.digests();
    assert_eq!(d[0], d[1]);
    assert_eq!(net.nodes[1].engine.stats(0).expect("peer").thin_misses, 0);
}

/// A mint and two payments on it by one payer (not given to any node), and two engines
/// joined by a link without jitter that reconcile only every ten minutes.
fn a_mint_two_payments_and_a_pair(
    world: u64,
    seed: u64,
) -> ([wire::SignedRecord; 3], TestNet, crate::ChainSpec) {
    let mut w = testkit::World::new(world);
    let mut payer = w.wallet(1);
    let mint = w.mint(payer.account(), 1_000);
    w.apply(&mint);
    let first = w.pay(&mut payer, testkit::acct(2), 10);
    w.apply(&first);
    let second = w.pay(&mut payer, testkit::acct(3), 20);
    let config = SyncConfig {
        reconcile_every_ms: 600_000,
        ..SyncConfig::default()
    };
    let mut net = TestNet::new(&w.spec, 2, config, seed);
    net.jitter_ms = 0;
    net.connect(0, 1);
    ([mint, first, second], net, w.spec.clone())
}

#[test]
fn a_thin_push_that_cannot_be_expanded_brings_reconciliation_forward() {
    let ([mint, first, second], mut net, spec) = a_mint_two_payments_and_a_pair(1, 4);
    net.run(0, 5_000);
    // Node 0 believes node 1 holds `first` (node 1 sent it), but node 1 lost it.
    net.inject(1, vec![mint.clone(), first.clone()]);
    net.run(0, 5_000);
    net.nodes[1].ledger = Ledger::new(spec.clone()).expect("spec");
    net.inject(0, vec![second.clone()]);
    net.run(0, 2_000);
    assert_eq!(net.nodes[1].engine.stats(0).expect("peer").thin_misses, 1);
    assert!(!net.nodes[1].ledger.contains(&testkit::id(&second)));
    // Not ten minutes later, but within seconds, a reconciliation brings all of it.
    net.run(10_000, 10_000);
    for r in [&mint, &first, &second] {
        assert!(net.nodes[1].ledger.contains(&testkit::id(r)));
    }
}

#[test]
fn a_peer_sending_thin_misses_cannot_bring_reconciliations_closer_than_the_gap() {
    use prost::Message;
    let ([mint, first, second], mut net, _) = a_mint_two_payments_and_a_pair(2, 5);
    net.inject(0, vec![mint, first]);
    net.converge(10_000);
    // `second` stripped of its prev, with a prefix of no record node 1 holds.
    let mut body = wire::RecordBody::decode(second.body.as_slice()).expect("body");
    body.prev.clear();
    let miss = super::message::encode(&super::message::message(
        0,
        0,
        wire::sync_message::Body::Thin(wire::Thin {
            body: body.encode_to_vec(),
            signature: second.signature.clone(),
            prev_prefix: 0xdead_beef,
        }),
    ));
    let before = net.nodes[1].engine.stats(0).expect("peer").sessions;
    let span = 30_000;
    let start = net.now;
    while net.now < start + span {
        net.send_raw(0, 1, &miss);
        net.run(200, 200);
    }
    let stats = net.nodes[1].engine.stats(0).expect("peer");
    assert!(stats.thin_misses >= 100, "{} misses", stats.thin_misses);
    // The engine-wide count (the node's metric) sees every one of them.
    assert_eq!(net.nodes[1].engine.thin_misses(), stats.thin_misses);
    let sessions = stats.sessions - before;
    // One session may be due at once, then one per gap at most.
    let most = span.div_ceil(5_000) + 1;
    assert!(
        (1..=most).contains(&sessions),
        "{sessions} sessions in {span} ms of misses (at most {most})"
    );
}
