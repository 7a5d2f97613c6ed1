//! Two node cores wired together in memory: payments held until durable, records that
//! travel as frames and are acknowledged only once stored, payees' decisions, hostile
//! frames, and a crash that loses only what was never acknowledged.

use super::*;
use crate::policy::Refusal;
use crate::testkit::{self, World, key};

const LAN: LinkId = LinkId(0);

fn lan() -> LinkConfig {
    LinkConfig {
        sync: SyncConfig::default(),
        mtu: 1_200,
        reassembly: ReassemblyConfig::default(),
        relay: true,
    }
}

fn core(world: &World, n: u8) -> NodeCore {
    let mut c = NodeCore::new(
        Ledger::new(world.spec.clone()).expect("valid"),
        testkit::rng(u64::from(n)),
    );
    c.open_link(LAN, lan(), [n; 32]).expect("valid config");
    c
}

/// Writes every batch the core asks for, at once: a store with no delay.
fn store_all(c: &mut NodeCore, store: &mut Vec<PersistBatch>) {
    while let Some(b) = c.poll_persist() {
        let t = b.ticket;
        store.push(b);
        c.persisted(t);
    }
}

fn events(c: &mut NodeCore) -> Vec<NodeEvent> {
    std::iter::from_fn(|| c.poll_event()).collect()
}

/// Moves frames both ways until neither side has anything to say.
fn exchange(now: u64, a: &mut NodeCore, b: &mut NodeCore) -> usize {
    let mut frames = 0;
    loop {
        let mut moved = false;
        for (from, peer_of_from) in [(0, 1), (1, 0)] {
            let (src, dst) = if from == 0 {
                (&mut *a, &mut *b)
            } else {
                (&mut *b, &mut *a)
            };
            while let Some(fs) = src.poll_frames(now, LAN, peer_of_from, usize::MAX) {
                for f in fs {
                    frames += 1;
                    dst.handle_frame(now, LAN, from as u64, None, &f);
                }
                moved = true;
            }
            src.flush_link(LAN);
        }
        if !moved {
            return frames;
        }
    }
}

#[test]
fn a_payment_is_held_until_its_seq_and_record_are_durable() {
    let mut w = World::new(1);
    let alice = crate::record::account_of(&key(1));
    let bob = crate::record::account_of(&key(2));
    let mint = w.mint(alice, 500);
    let mut a = core(&w, 1);
    a.submit(vec![mint], None);
    let mut stored = Vec::new();
    store_all(&mut a, &mut stored);
    a.add_wallet(w.wallet(1));
    let signed = a.pay(10, alice, bob, 100, None, "tea").expect("pays");
    assert!(
        !a.ledger().contains(&signed.id),
        "not released before durable"
    );
    assert!(a.awaits_store());
    let batch = a.poll_persist().expect("the seq and the record wait");
    assert_eq!(batch.seqs, vec![(alice, 2)]);
    assert_eq!(batch.records.len(), 1);
    assert_eq!(batch.records[0].0, signed.id);
    events(&mut a);
    a.persisted(batch.ticket);
    assert!(a.ledger().contains(&signed.id));
    let ev = events(&mut a);
    assert!(ev.contains(&NodeEvent::PaymentReleased {
        payment: signed.id,
        payer: alice,
        seq: 1
    }));
    assert_eq!(
        a.poll_persist(),
        None,
        "the released record is not written twice"
    );
}

#[test]
fn records_travel_as_frames_and_both_sides_agree() {
    let mut w = World::new(1);
    let alice = crate::record::account_of(&key(1));
    let mints: Vec<_> = (0..40).map(|i| w.mint(alice, 10 + i)).collect();
    let (mut a, mut b) = (core(&w, 1), core(&w, 2));
    a.submit(mints, None);
    a.peer_up(0, LAN, 1);
    b.peer_up(0, LAN, 0);
    let mut now = 0;
    while b.ledger().len() < 40 && now < 60_000 {
        exchange(now, &mut a, &mut b);
        now += 100;
        a.handle_timeout(now);
        b.handle_timeout(now);
    }
    assert_eq!(a.ledger().state_digest(), b.ledger().state_digest());
    let merged_from_a = events(&mut b).into_iter().any(|e| {
        matches!(e, NodeEvent::Merged { source: Some((LAN, 0)), ref changes } if !changes.added.is_empty())
    });
    assert!(merged_from_a);
    let mut stored = Vec::new();
    store_all(&mut b, &mut stored);
    let n: usize = stored.iter().map(|s| s.records.len()).sum();
    assert_eq!(n, 40, "everything merged is handed to the store once");
}

#[test]
fn a_payee_decides_only_once_the_payment_is_durable() {
    let mut w = World::new(1);
    let alice = crate::record::account_of(&key(1));
    let bob = crate::record::account_of(&key(2));
    let mint = w.mint(alice, 500);
    let (mut a, mut b) = (core(&w, 1), core(&w, 2));
    a.submit(vec![mint], None);
    a.add_wallet(w.wallet(1));
    store_all(&mut a, &mut Vec::new());
    let nonce = [7; 16];
    b.issue_request(nonce, 120);
    let paid = a.pay(5, alice, bob, 120, Some(nonce), "").expect("pays");
    store_all(&mut a, &mut Vec::new());
    let bundle = a.bundle_for(&paid.id, |id| b.ledger().contains(id));
    assert_eq!(bundle.len(), 2, "the mint and the payment");
    b.offer_payment(bundle, paid.id, bob);
    let before: Vec<_> = events(&mut b);
    assert!(
        !before
            .iter()
            .any(|e| matches!(e, NodeEvent::PaymentAccepted(_)))
    );
    store_all(&mut b, &mut Vec::new());
    let after = events(&mut b);
    assert!(
        after
            .iter()
            .any(|e| matches!(e, NodeEvent::PaymentAccepted(acc) if acc.amount == 120)),
        "{after:?}"
    );
    // Offered again, the request is spent: refused by its rule.
    b.offer_payment(Vec::new(), paid.id, bob);
    let again = events(&mut b);
    assert!(
        again.iter().any(|e| matches!(
            e,
            NodeEvent::PaymentRefused { refusal, .. } if !matches!(refusal, Refusal::Unknown)
        )),
        "{again:?}"
    );
}

#[test]
fn garbage_frames_are_the_peers_fault_and_the_node_keeps_serving() {
    let mut w = World::new(1);
    let alice = crate::record::account_of(&key(1));
    let mint = w.mint(alice, 500);
    let (mut a, mut b) = (core(&w, 1), core(&w, 2));
    a.submit(vec![mint], None);
    a.peer_up(0, LAN, 1);
    b.peer_up(0, LAN, 0);
    b.peer_up(0, LAN, 9);
    for junk in [
        &[0xff; 40][..],
        &[0u8; 3][..],
        &[1, 2, 3, 4, 5, 6, 7, 8, 9][..],
    ] {
        b.handle_frame(0, LAN, 9, None, junk);
    }
    let ev = events(&mut b);
    assert!(
        ev.iter()
            .any(|e| matches!(e, NodeEvent::PeerMisbehaved { peer: 9, .. })),
        "{ev:?}"
    );
    let mut now = 0;
    while b.ledger().is_empty() && now < 10_000 {
        exchange(now, &mut a, &mut b);
        now += 100;
        a.handle_timeout(now);
        b.handle_timeout(now);
    }
    assert_eq!(b.ledger().len(), 1, "the honest peer is still served");
}

#[test]
fn a_crash_loses_only_what_was_never_acknowledged() {
    let mut w = World::new(1);
    let alice = crate::record::account_of(&key(1));
    let m1 = w.mint(alice, 1);
    let m2 = w.mint(alice, 2);
    let mut a = core(&w, 1);
    a.submit(vec![m1], None);
    let mut stored = Vec::new();
    store_all(&mut a, &mut stored);
    a.submit(vec![m2], None);
    a.lose_memory(Ledger::new(w.spec.clone()).expect("valid"));
    assert_eq!(
        a.poll_persist(),
        None,
        "the unwritten batch died with the node"
    );
    let back: Vec<_> = stored
        .iter()
        .flat_map(|b| b.records.iter())
        .map(|(_, bytes)| {
            crate::record::parse(crate::record::decode_signed(bytes).expect("decodes"))
                .expect("parses")
                .into_trusted()
        })
        .collect();
    let mut ledger = Ledger::new(w.spec.clone()).expect("valid");
    ledger.merge_verified(back);
    assert_eq!(ledger.len(), 1);
    a.set_ledger(ledger);
    assert_eq!(a.ledger().len(), 1);
}

#[test]
fn a_link_whose_mtu_cannot_carry_the_largest_message_is_refused() {
    let w = World::new(1);
    let mut c = core(&w, 1);
    let tiny = LinkConfig {
        mtu: fragment::MIN_MTU,
        ..lan()
    };
    assert!(c.open_link(LinkId(1), tiny, [0; 32]).is_err());
    assert!(c.engine(LinkId(1)).is_none());
}

/// Moves frames among three cores (peer ids are their indices) until all are quiet;
/// returns the bytes that went from each core to each other.
fn mesh_exchange(now: u64, cores: &mut [NodeCore; 3]) -> [[usize; 3]; 3] {
    let mut bytes = [[0usize; 3]; 3];
    loop {
        let mut moved = false;
        for from in 0..3 {
            for to in (0..3).filter(|t| *t != from) {
                while let Some(fs) = cores[from].poll_frames(now, LAN, to as u64, usize::MAX) {
                    for f in fs {
                        bytes[from][to] += f.len();
                        cores[to].handle_frame(now, LAN, from as u64, None, &f);
                    }
                    moved = true;
                }
                cores[from].flush_link(LAN);
            }
        }
        if !moved {
            return bytes;
        }
    }
}

fn mesh(w: &World, relay: bool) -> [NodeCore; 3] {
    let mut cores = [1, 2, 3].map(|n| {
        let mut c = NodeCore::new(
            Ledger::new(w.spec.clone()).expect("valid"),
            testkit::rng(u64::from(n)),
        );
        c.open_link(LAN, LinkConfig { relay, ..lan() }, [n; 32])
            .expect("valid config");
        c
    });
    for (i, c) in cores.iter_mut().enumerate() {
        for p in (0..3u64).filter(|p| *p != i as u64) {
            c.peer_up(0, LAN, p);
        }
    }
    mesh_exchange(0, &mut cores);
    cores
}

#[test]
fn a_link_that_does_not_relay_leaves_the_spreading_to_the_sender() {
    let alice = crate::record::account_of(&key(1));
    for relay in [false, true] {
        let mut w = World::new(1);
        let mut cores = mesh(&w, relay);
        cores[0].submit(vec![w.mint(alice, 7)], None);
        let bytes = mesh_exchange(10, &mut cores);
        for c in &cores {
            assert_eq!(
                c.ledger().len(),
                1,
                "relay {relay}: every core holds the record"
            );
        }
        let between_the_others = bytes[1][2] + bytes[2][1];
        if relay {
            assert!(
                between_the_others > 0,
                "a relaying link passes the record on"
            );
        } else {
            assert_eq!(between_the_others, 0, "{bytes:?}");
        }
    }
}

#[test]
fn a_wallet_whose_key_signed_elsewhere_reports_the_seq_it_signed_at() {
    let mut w = World::new(1);
    let alice = crate::record::account_of(&key(1));
    let bob = crate::record::account_of(&key(2));
    let mint = w.mint(alice, 500);
    // The same key on another device paid at seq 1.
    let mut elsewhere = w.wallet(1);
    let first = elsewhere
        .pay(&w.ledger, &mut w.store, bob, 10, None, "", 0)
        .expect("pays");
    let mut a = core(&w, 1);
    a.submit(vec![mint, first], None);
    let mut stored = Vec::new();
    store_all(&mut a, &mut stored);
    a.add_wallet(w.wallet(1));
    let signed = a.pay(10, alice, bob, 20, None, "").expect("pays");
    assert_eq!(signed.seq, 2, "signed at the ledger's tip, and says so");
    store_all(&mut a, &mut stored);
    assert_eq!(a.ledger().get(&signed.id).map(|r| r.body().seq), Some(2));
    assert!(events(&mut a).contains(&NodeEvent::PaymentReleased {
        payment: signed.id,
        payer: alice,
        seq: 2
    }));
}

#[test]
fn a_link_that_does_not_relay_still_passes_on_the_record_that_proves_a_fork() {
    let alice = crate::record::account_of(&key(1));
    let (bob, carol) = (
        crate::record::account_of(&key(2)),
        crate::record::account_of(&key(3)),
    );
    let mut w = World::new(1);
    let mint = w.mint(alice, 100);
    // One key, two devices: two records at seq 1 (both built on the mint alone).
    let x = w
        .wallet(1)
        .pay(&w.ledger, &mut w.store, bob, 10, None, "", 0)
        .expect("pays");
    let y = w
        .wallet(1)
        .pay(&w.ledger, &mut w.store, carol, 10, None, "", 0)
        .expect("pays");
    let plain = w.mint(bob, 5);
    // A line, not a mesh: 0 - 1 - 2, and no link relays.
    let mut cores = [1, 2, 3].map(|n| {
        let mut c = NodeCore::new(
            Ledger::new(w.spec.clone()).expect("valid"),
            testkit::rng(u64::from(n)),
        );
        c.open_link(
            LAN,
            LinkConfig {
                relay: false,
                ..lan()
            },
            [n; 32],
        )
        .expect("valid config");
        c.submit(vec![mint.clone()], None);
        c
    });
    for (a, b) in [(0usize, 1usize), (1, 2)] {
        cores[a].peer_up(0, LAN, b as u64);
        cores[b].peer_up(0, LAN, a as u64);
    }
    mesh_exchange(0, &mut cores);

    cores[0].submit(vec![plain], None);
    mesh_exchange(1, &mut cores);
    assert_eq!(cores[1].ledger().len(), 2);
    assert_eq!(cores[2].ledger().len(), 1, "a plain record is not relayed");

    cores[2].submit(vec![y], None);
    mesh_exchange(2, &mut cores);
    cores[0].submit(vec![x], None);
    mesh_exchange(3, &mut cores);
    assert!(cores[1].ledger().has_conflict(&alice));
    assert!(
        cores[2].ledger().has_conflict(&alice),
        "the middle node passed on the record that makes the fork"
    );
}
