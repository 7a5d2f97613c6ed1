//! The ledger's rules, one test per rule, each asserting the specific reason.

use prost::Message;

use super::*;
use crate::record::{Body, Checkpoint, Kind, MAX_SEQ, Mint, Revoke};
use crate::testkit::{self, World, acct, id, key, transfer};
use crate::wallet::Wallet;

/// Applies one record and returns the reason it was refused.
fn refusal(w: &mut World, r: &wire::SignedRecord) -> Reject {
    let c = w.apply(r);
    assert!(c.added.is_empty(), "entered: {c:?}");
    assert_eq!(c.refused.len(), 1, "{c:?}");
    c.refused[0].1.clone()
}

fn admitted(w: &mut World, r: &wire::SignedRecord) {
    let c = w.apply(r);
    assert!(c.refused.is_empty() && c.added.contains(&id(r)), "{c:?}");
}

/// A world where key 1 (alice) holds a mint of 2000 claimed at seq 1 by paying bob 100.
fn funded() -> (World, Wallet, wire::SignedRecord, wire::SignedRecord) {
    let mut w = World::new(2);
    let mut alice = w.wallet(1);
    let mint = w.mint(acct(1), 2_000);
    let pay = w.pay(&mut alice, acct(2), 100);
    (w, alice, mint, pay)
}

fn issuer_body(issuer: u64, seq: u64, prev: Option<RecordId>, kind: Kind) -> Body {
    Body {
        signer: acct(issuer),
        seq,
        prev,
        timestamp_ms: 0,
        kind,
    }
}

fn checkpoint(
    account: u64,
    at_seq: u64,
    head: RecordId,
    balance: u64,
    previous: Option<RecordId>,
) -> Kind {
    Kind::Checkpoint(Checkpoint {
        account: acct(account),
        at_seq,
        head,
        balance,
        previous,
    })
}

// ---- intake step 1 ----

#[test]
fn bad_signature() {
    let (mut w, _, _, pay) = funded();
    let mut r = transfer(2, 1, None, vec![id(&pay)], None, 0, 100);
    let mut s = w.sign(2, &r);
    s.signature[5] ^= 1;
    assert_eq!(refusal(&mut w, &s), Reject::BadSignature);
    // The refusal is not remembered by id: the same body, signed properly, enters.
    r.timestamp_ms = 0;
    {
        let s = w.sign(2, &r);
        admitted(&mut w, &s)
    };
}

#[test]
fn wrong_chain() {
    let (mut w, _, _, pay) = funded();
    let body = transfer(2, 1, None, vec![id(&pay)], None, 0, 100);
    let other = ChainId([9; 32]);
    let s = crate::record::sign(&key(2), &other, &body);
    assert_eq!(refusal(&mut w, &s), Reject::BadSignature);
}

#[test]
fn truncated_and_garbage_protobuf() {
    let (mut w, _, _, pay) = funded();
    let mut s = w.sign(2, &transfer(2, 1, None, vec![id(&pay)], None, 0, 100));
    s.body.truncate(s.body.len() - 4);
    assert!(matches!(refusal(&mut w, &s), Reject::Undecodable { .. }));
    let g = wire::SignedRecord {
        body: vec![0xff; 40],
        signature: vec![0; 64],
    };
    assert!(matches!(
        refusal(&mut w, &g),
        Reject::Undecodable { .. } | Reject::NonCanonical { .. }
    ));
}

#[test]
fn non_canonical_encodings() {
    let (mut w, _, _, pay) = funded();
    let body = transfer(2, 1, None, vec![id(&pay)], None, 0, 100);
    let chain = w.spec.chain_id();
    let sign_raw = |bytes: Vec<u8>| {
        use ed25519_dalek::Signer;
        let msg = crate::record::verify::signing_message(&chain, &bytes);
        wire::SignedRecord {
            body: bytes,
            signature: key(2).sign(&msg).to_bytes().to_vec(),
        }
    };
    // Unknown field.
    let mut b = body.encode();
    b.extend_from_slice(&[(15 << 3) as u8, 1]);
    assert_eq!(
        refusal(&mut w, &sign_raw(b)),
        Reject::NonCanonical {
            reason: "unknown field"
        }
    );
    // Repeated field: seq twice (prost would take the last).
    let mut b = body.encode();
    b.extend_from_slice(&[2 << 3, 1]);
    assert_eq!(
        refusal(&mut w, &sign_raw(b)),
        Reject::NonCanonical {
            reason: "fields repeated or out of order"
        }
    );
    // Wrong-length key.
    let mut wb = body.to_wire();
    wb.signer.pop();
    assert_eq!(
        refusal(&mut w, &sign_raw(wb.encode_to_vec())),
        Reject::FieldLength {
            field: "signer",
            len: 31,
            want: "32"
        }
    );
}

#[test]
fn oversized_record() {
    let (mut w, ..) = funded();
    let s = wire::SignedRecord {
        body: vec![0x08; 1100],
        signature: vec![0; 64],
    };
    assert!(matches!(refusal(&mut w, &s), Reject::Oversized { .. }));
}

#[test]
fn too_many_claims_and_long_memo() {
    let (mut w, ..) = funded();
    let claims = (0..17).map(|i| RecordId([i; 32])).collect();
    let s = w.sign(2, &transfer(2, 1, None, claims, None, 0, 0));
    assert_eq!(
        refusal(&mut w, &s),
        Reject::TooManyClaims { count: 17, max: 16 }
    );
    let mut b = transfer(2, 1, None, vec![RecordId([1; 32])], None, 0, 0);
    if let Kind::Transfer(t) = &mut b.kind {
        t.memo = "x".repeat(65);
    }
    assert_eq!(
        {
            let s = w.sign(2, &b);
            refusal(&mut w, &s)
        },
        Reject::TextTooLong { len: 65, max: 64 }
    );
}

#[test]
fn seq_zero_and_prev_shape() {
    let (mut w, _, _, pay) = funded();
    let s = w.sign(2, &transfer(2, 0, None, vec![id(&pay)], None, 0, 100));
    assert_eq!(refusal(&mut w, &s), Reject::SeqZero);
    let s = w.sign(2, &transfer(2, 2, None, vec![id(&pay)], None, 0, 100));
    assert_eq!(refusal(&mut w, &s), Reject::PrevShape);
    let s = w.sign(
        2,
        &transfer(2, 1, Some(id(&pay)), vec![id(&pay)], None, 0, 100),
    );
    assert_eq!(refusal(&mut w, &s), Reject::PrevShape);
}

#[test]
fn free_record_and_recipient_rules() {
    let (mut w, _, _, pay) = funded();
    let s = w.sign(2, &transfer(2, 1, None, vec![], None, 0, 0));
    assert_eq!(refusal(&mut w, &s), Reject::FreeRecord);
    let s = w.sign(2, &transfer(2, 1, None, vec![id(&pay)], None, 5, 95));
    assert!(matches!(refusal(&mut w, &s), Reject::Recipient { .. }));
    let s = w.sign(
        2,
        &transfer(2, 1, None, vec![id(&pay)], Some(acct(2)), 5, 95),
    );
    assert_eq!(
        refusal(&mut w, &s),
        Reject::Recipient {
            reason: "pays itself"
        }
    );
}

#[test]
fn kinds_by_signer() {
    let (mut w, _, mint, _) = funded();
    // A transfer by an issuer.
    let s = w.sign(
        1000,
        &transfer(1000, 1, None, vec![id(&mint)], Some(acct(2)), 5, 0),
    );
    assert_eq!(
        refusal(&mut w, &s),
        Reject::KindNotAllowed { kind: "transfer" }
    );
    // A mint by an account.
    let m = issuer_body(
        3,
        1,
        None,
        Kind::Mint(Mint {
            to: acct(4),
            amount: 5,
            memo: String::new(),
        }),
    );
    assert_eq!(
        {
            let s = w.sign(3, &m);
            refusal(&mut w, &s)
        },
        Reject::KindNotAllowed { kind: "mint" }
    );
    let c = issuer_body(3, 1, None, checkpoint(4, 1, RecordId([1; 32]), 0, None));
    assert_eq!(
        {
            let s = w.sign(3, &c);
            refusal(&mut w, &s)
        },
        Reject::KindNotAllowed { kind: "checkpoint" }
    );
}

#[test]
fn small_order_signer_key() {
    let (mut w, _, _, pay) = funded();
    let mut b = transfer(2, 1, None, vec![id(&pay)], None, 0, 100);
    let mut identity = [0u8; 32];
    identity[0] = 1;
    b.signer = AccountId(identity);
    let s = wire::SignedRecord {
        body: b.encode(),
        signature: vec![0; 64],
    };
    assert_eq!(refusal(&mut w, &s), Reject::SmallOrderKey);
}

// ---- intake step 2: chain rules ----

#[test]
fn claim_of_a_record_to_someone_else() {
    let (mut w, _, mint, _) = funded();
    // Bob claims alice's mint.
    let s = w.sign(2, &transfer(2, 1, None, vec![id(&mint)], None, 0, 2_000));
    assert_eq!(
        refusal(&mut w, &s),
        Reject::ClaimNotPayable { id: id(&mint) }
    );
}

#[test]
fn double_claim_within_a_window() {
    let (mut w, _, _, pay) = funded();
    let s = w.sign(
        2,
        &transfer(2, 1, None, vec![id(&pay), id(&pay)], None, 0, 200),
    );
    assert_eq!(refusal(&mut w, &s), Reject::DoubleClaim { id: id(&pay) });
    let first = w.sign(
        2,
        &transfer(2, 1, None, vec![id(&pay)], Some(acct(3)), 10, 90),
    );
    admitted(&mut w, &first);
    let again = w.sign(
        2,
        &transfer(2, 2, Some(id(&first)), vec![id(&pay)], None, 0, 190),
    );
    assert_eq!(
        refusal(&mut w, &again),
        Reject::DoubleClaim { id: id(&pay) }
    );
}

#[test]
fn balance_mismatch_underflow_overflow() {
    let (mut w, _, _, pay) = funded();
    let s = w.sign(
        2,
        &transfer(2, 1, None, vec![id(&pay)], Some(acct(3)), 10, 91),
    );
    assert_eq!(
        refusal(&mut w, &s),
        Reject::BalanceMismatch {
            stated: 91,
            expected: 90
        }
    );
    let s = w.sign(
        2,
        &transfer(2, 1, None, vec![id(&pay)], Some(acct(3)), 101, 0),
    );
    assert_eq!(refusal(&mut w, &s), Reject::Underflow);
    let a = w.mint(acct(5), u64::MAX);
    let b = w.mint(acct(5), 1);
    let s = w.sign(5, &transfer(5, 1, None, vec![id(&a), id(&b)], None, 0, 0));
    assert_eq!(refusal(&mut w, &s), Reject::Overflow);
}

/// With fork detection switched off, the first record at a seq wins: two ledgers that
/// heard a double spend's branches in opposite orders disagree, and neither sees a fork.
#[cfg(feature = "fault-injection")]
#[test]
fn a_ledger_where_the_first_record_wins_misses_forks_and_diverges() {
    let w = World::new(2);
    let mut issuer = crate::issuer::Issuer::new(key(1000), &w.spec, 1, None);
    let mint = issuer
        .mint(
            &mut crate::wallet::MemorySeqStore::default(),
            acct(1),
            2_000,
            "",
            0,
        )
        .expect("mint");
    let to_bob = w.sign(
        1,
        &transfer(1, 1, None, vec![id(&mint)], Some(acct(2)), 700, 1_300),
    );
    let to_carol = w.sign(
        1,
        &transfer(1, 1, None, vec![id(&mint)], Some(acct(3)), 900, 1_100),
    );
    let digests: Vec<_> = [[&to_bob, &to_carol], [&to_carol, &to_bob]]
        .into_iter()
        .map(|order| {
            let mut l = Ledger::new(w.spec.clone()).expect("spec");
            l.inject_fault(Fault::FirstSeenWins);
            l.insert(mint.clone());
            for r in order {
                l.insert(r.clone());
            }
            assert!(l.conflicts().is_empty());
            assert_eq!(l.len(), 2);
            l.state_digest()
        })
        .collect();
    assert_ne!(digests[0], digests[1]);
}

#[test]
fn bad_prev() {
    let (mut w, _, mint, pay) = funded();
    let s = w.sign(
        2,
        &transfer(2, 2, Some(id(&pay)), vec![], Some(acct(3)), 1, 0),
    );
    assert_eq!(refusal(&mut w, &s), Reject::BadPrev);
    let s = w.sign(
        2,
        &transfer(2, 2, Some(id(&mint)), vec![], Some(acct(3)), 1, 0),
    );
    assert_eq!(refusal(&mut w, &s), Reject::BadPrev);
}

#[test]
fn offline_limits() {
    let mut w = World::new(1);
    let m1 = w.mint(acct(1), 9_000);
    // Single limit: 1000.
    let s = w.sign(
        1,
        &transfer(1, 1, None, vec![id(&m1)], Some(acct(2)), 1_001, 7_999),
    );
    assert_eq!(
        refusal(&mut w, &s),
        Reject::OverSingleLimit {
            amount: 1_001,
            max: 1_000
        }
    );
    // Cumulative limit: 5000 over five payments of 1000, the sixth breaks it.
    let mut alice = w.wallet(1);
    for _ in 0..5 {
        w.pay(&mut alice, acct(2), 1_000);
    }
    let tip = w.ledger.tip(&acct(1)).expect("tip");
    let s = w.sign(
        1,
        &transfer(1, 6, tip.prev, vec![], Some(acct(2)), 1, tip.balance - 1),
    );
    assert_eq!(
        refusal(&mut w, &s),
        Reject::OverCumulativeLimit {
            total: 5_001,
            max: 5_000
        }
    );
    // Count limit: 8 payments.
    let mut w = World::new(1);
    w.mint(acct(1), 100);
    let mut alice = w.wallet(1);
    for _ in 0..8 {
        w.pay(&mut alice, acct(2), 1);
    }
    let tip = w.ledger.tip(&acct(1)).expect("tip");
    let s = w.sign(
        1,
        &transfer(1, 9, tip.prev, vec![], Some(acct(2)), 1, tip.balance - 1),
    );
    assert_eq!(
        refusal(&mut w, &s),
        Reject::OverCountLimit { count: 9, max: 8 }
    );
}

#[test]
fn limits_reset_only_for_a_chain_that_names_the_checkpoint() {
    let mut w = World::new(1);
    w.mint(acct(1), 100);
    let mut alice = w.wallet(1);
    for _ in 0..8 {
        w.pay(&mut alice, acct(2), 1);
    }
    let cp = w.issuers[0]
        .settle(&w.ledger, &mut w.store, acct(1), 0)
        .expect("settle")
        .expect("something to settle");
    admitted(&mut w, &cp);
    // The wallet builds on the checkpoint, so the count starts again.
    w.pay(&mut alice, acct(2), 1);
}

// ---- dependencies and the orphan pool ----

#[test]
fn a_record_claiming_a_refused_record_never_enters() {
    let (mut w, _, mint, _) = funded();
    // Alice's seq 2 with a wrong balance: refused.
    let tip = w.ledger.tip(&acct(1)).expect("tip");
    let bad = w.sign(1, &transfer(1, 2, tip.prev, vec![], Some(acct(2)), 10, 5));
    let claim = w.sign(2, &transfer(2, 1, None, vec![id(&bad)], None, 0, 10));
    // The claim arrives first and waits.
    let c = w.apply(&claim);
    assert_eq!(c.orphaned, vec![id(&claim)]);
    assert_eq!(
        w.ledger.lookup(&id(&claim)),
        Lookup::Waiting {
            missing: vec![id(&bad)]
        }
    );
    let c = w.apply(&bad);
    assert!(matches!(c.refused[0].1, Reject::BalanceMismatch { .. }));
    assert_eq!(
        c.refused[1],
        (id(&claim), Reject::DependsOnRefused { id: id(&bad) })
    );
    // And once known refused, a dependent is refused on arrival.
    let claim2 = w.sign(
        2,
        &transfer(2, 1, None, vec![id(&bad), id(&mint)], None, 0, 10),
    );
    assert_eq!(
        refusal(&mut w, &claim2),
        Reject::DependsOnRefused { id: id(&bad) }
    );
}

#[test]
fn orphans_wait_and_enter_in_any_order() {
    let mut w = World::new(1);
    let mut other = World::new(1);
    let mint = other.mint(acct(1), 500);
    let mut alice = other.wallet(1);
    let p1 = other.pay(&mut alice, acct(2), 10);
    let p2 = other.pay(&mut alice, acct(2), 20);
    let c = w.apply(&p2);
    assert_eq!(c.orphaned, vec![id(&p2)]);
    let c = w.apply(&p1);
    assert_eq!(c.orphaned, vec![id(&p1)]);
    assert_eq!(w.ledger.wanted(), vec![id(&mint)]);
    let c = w.apply(&mint);
    assert_eq!(c.added, vec![id(&mint), id(&p1), id(&p2)]);
    assert_eq!(w.ledger.orphan_count(), 0);
    assert_eq!(w.ledger.state_digest(), other.ledger.state_digest());
}

#[test]
fn a_broken_copy_of_a_dependency_leaves_its_orphans_waiting() {
    let mut w = World::new(1);
    let mut other = World::new(1);
    let mint = other.mint(acct(1), 500);
    let mut alice = other.wallet(1);
    let pay = other.pay(&mut alice, acct(2), 10);
    assert_eq!(w.apply(&pay).orphaned, vec![id(&pay)]);
    // Anyone who saw the mint can send it with a broken signature: that copy is
    // refused, and what waits for the mint keeps waiting for a good copy.
    let mut broken = mint.clone();
    broken.signature[10] ^= 1;
    let c = w.apply(&broken);
    assert_eq!(c.refused, vec![(id(&mint), Reject::BadSignature)]);
    assert_eq!(w.ledger.orphan_count(), 1);
    let c = w.apply(&mint);
    assert_eq!(c.added, vec![id(&mint), id(&pay)]);
    assert_eq!(w.ledger.state_digest(), other.ledger.state_digest());
}

#[test]
fn orphan_pool_is_bounded_oldest_first() {
    let w = World::new(1);
    let mut l = Ledger::with_set(
        w.spec.clone(),
        LedgerConfig {
            max_orphans: 2,
            max_refused: 10,
        },
        NativeSet::default(),
    )
    .expect("spec");
    let r: Vec<_> = (0..3u8)
        .map(|i| {
            w.sign(
                7,
                &transfer(7, 1, None, vec![RecordId([i; 32])], None, 0, 0),
            )
        })
        .collect();
    l.insert(r[0].clone());
    l.insert(r[1].clone());
    let c = l.insert(r[2].clone());
    assert_eq!(c.evicted, vec![id(&r[0])]);
    assert_eq!(l.orphan_count(), 2);
}

#[test]
fn known_records_are_skipped_unchecked() {
    let (mut w, _, mint, pay) = funded();
    let c = w
        .ledger
        .merge(vec![mint.clone(), pay.clone(), pay], &mut testkit::rng(1));
    assert_eq!(c.known, 3);
    assert!(c.added.is_empty());
}

#[test]
fn payments_of_lists_what_accounts_paid_and_received_last_taken_in_first() {
    let (mut w, mut alice, mint, pay) = funded();
    let mut bob = w.wallet(2);
    // bob claims alice's 100 and pays carol 40; a claim-only record is not a payment.
    let to_carol = w.pay(&mut bob, acct(3), 40);
    let ids = |rs: Vec<&Record>| rs.into_iter().map(|r| r.id()).collect::<Vec<_>>();
    assert_eq!(
        ids(w.ledger.payments_of(&[acct(1)])),
        vec![id(&pay), id(&mint)]
    );
    assert_eq!(
        ids(w.ledger.payments_of(&[acct(2)])),
        vec![id(&to_carol), id(&pay)]
    );
    // A payment between two of the accounts asked about comes once.
    assert_eq!(
        ids(w.ledger.payments_of(&[acct(1), acct(2)])),
        vec![id(&to_carol), id(&pay), id(&mint)]
    );
    assert!(w.ledger.payments_of(&[acct(9)]).is_empty());
    let again = w.pay(&mut alice, acct(3), 5);
    assert_eq!(
        ids(w.ledger.payments_of(&[acct(3)])),
        vec![id(&again), id(&to_carol)]
    );
}

// ---- derived state ----

/// Alice (key 1) gets 2000, then signs two payments at seq 1: to bob and to carol.
fn forked() -> (
    World,
    wire::SignedRecord,
    wire::SignedRecord,
    wire::SignedRecord,
) {
    let mut w = World::new(2);
    let mint = w.mint(acct(1), 2_000);
    let to_bob = w.sign(
        1,
        &transfer(1, 1, None, vec![id(&mint)], Some(acct(2)), 700, 1_300),
    );
    let to_carol = w.sign(
        1,
        &transfer(1, 1, None, vec![id(&mint)], Some(acct(3)), 900, 1_100),
    );
    admitted(&mut w, &to_bob);
    let c = w.apply(&to_carol);
    assert_eq!(c.conflicts, vec![(acct(1), 1)]);
    assert_eq!(c.voided, vec![id(&to_bob)]);
    (w, mint, to_bob, to_carol)
}

#[test]
fn a_fork_voids_both_branches_and_freezes_the_account() {
    let (w, _, to_bob, to_carol) = forked();
    let fork = Status::Void(VoidReason::Fork);
    assert_eq!(w.ledger.status(&id(&to_bob)), Some(fork));
    assert_eq!(w.ledger.status(&id(&to_carol)), Some(fork));
    let a = w.ledger.account(&acct(1)).expect("alice");
    assert!(a.frozen);
    assert!(
        w.ledger.tip(&acct(1)).is_none(),
        "a frozen account cannot pay"
    );
    let conflicts = w.ledger.conflicts();
    assert_eq!(conflicts.len(), 1);
    let proof = w.ledger.proof(&conflicts[0]).expect("proof");
    let decoded = ConflictProof::decode(&proof.encode()).expect("decodes");
    assert_eq!(decoded.verify(w.ledger.chain_id()), Ok((acct(1), 1)));
    // Nothing on the fork counts: alice's mint is still unclaimed.
    assert_eq!(a.incoming, 2_000);
    assert_eq!(a.stated, 0);
}

#[test]
fn records_after_a_fork_are_void() {
    let (mut w, _, to_bob, _) = forked();
    let next = w.sign(
        1,
        &transfer(1, 2, Some(id(&to_bob)), vec![], Some(acct(4)), 5, 1_295),
    );
    admitted(&mut w, &next);
    assert_eq!(
        w.ledger.status(&id(&next)),
        Some(Status::Void(VoidReason::AfterVoid))
    );
}

#[test]
fn claim_of_a_void_record_is_a_shortfall_not_a_cascade() {
    let (mut w, _, to_bob, _) = forked();
    let bob_claims = w.sign(
        2,
        &transfer(2, 1, None, vec![id(&to_bob)], Some(acct(4)), 300, 400),
    );
    admitted(&mut w, &bob_claims);
    assert_eq!(w.ledger.status(&id(&bob_claims)), Some(Status::Canonical));
    let bob = w.ledger.account(&acct(2)).expect("bob");
    assert_eq!((bob.stated, bob.shortfall, bob.effective), (400, 700, -300));
    assert_eq!(w.ledger.account(&acct(1)).expect("alice").debt, 700);
    // Dave, paid by bob's canonical record, is untouched.
    assert_eq!(w.ledger.account(&acct(4)).expect("dave").incoming, 300);
}

#[test]
fn double_claim_across_a_checkpoint_counts_against_the_claimant() {
    let (mut w, _, _, pay) = funded();
    let b1 = w.sign(
        2,
        &transfer(2, 1, None, vec![id(&pay)], Some(acct(3)), 10, 90),
    );
    admitted(&mut w, &b1);
    let cp = w.issuers[0]
        .checkpoint(&mut w.store, acct(2), 1, id(&b1), 90, None, 0)
        .expect("sign");
    admitted(&mut w, &cp);
    // After the checkpoint, bob claims the same payment again: the window reset lets it
    // in, but it is no money.
    let b2 = w.sign(
        2,
        &transfer(2, 2, Some(id(&cp)), vec![id(&pay)], Some(acct(3)), 10, 180),
    );
    admitted(&mut w, &b2);
    let bob = w.ledger.account(&acct(2)).expect("bob");
    assert_eq!((bob.stated, bob.shortfall, bob.effective), (180, 100, 80));
}

#[test]
fn use_after_revoke() {
    let (mut w, mut alice, _, pay) = funded();
    let rv = w.issuers[0]
        .revoke(&mut w.store, acct(1), 1, "lost device", 0)
        .expect("sign");
    admitted(&mut w, &rv);
    assert!(w.ledger.tip(&acct(1)).is_none());
    let next = {
        let tip_prev = Some(id(&pay));
        w.sign(
            1,
            &transfer(1, 2, tip_prev, vec![], Some(acct(3)), 50, 1_850),
        )
    };
    admitted(&mut w, &next);
    assert_eq!(
        w.ledger.status(&id(&next)),
        Some(Status::Void(VoidReason::Revoked))
    );
    assert_eq!(w.ledger.status(&id(&pay)), Some(Status::Canonical));
    assert!(
        alice
            .pay(&w.ledger, &mut w.store, acct(3), 1, None, "", 0)
            .is_err()
    );
}

#[test]
fn revoke_below_a_checkpoint_has_no_effect_on_settled_history() {
    let (mut w, mut alice, _, _) = funded();
    let p2 = w.pay(&mut alice, acct(2), 100);
    let p3 = w.pay(&mut alice, acct(2), 100);
    let cp = w.issuers[0]
        .checkpoint(&mut w.store, acct(1), 2, id(&p2), 1_800, None, 0)
        .expect("sign");
    admitted(&mut w, &cp);
    let rv = w.issuers[0]
        .revoke(&mut w.store, acct(1), 0, "stolen", 0)
        .expect("sign");
    admitted(&mut w, &rv);
    assert_eq!(w.ledger.status(&id(&p2)), Some(Status::Canonical));
    assert_eq!(
        w.ledger.status(&id(&p3)),
        Some(Status::Void(VoidReason::Revoked))
    );
    assert_eq!(
        w.ledger.account(&acct(1)).expect("alice").revoked_after,
        Some(2)
    );
}

/// Alice forks at seq 2 after a common seq 1; returns (world, seq1, branch a, branch b).
fn forked_with_two_branches() -> (
    World,
    wire::SignedRecord,
    wire::SignedRecord,
    wire::SignedRecord,
) {
    let (mut w, _, _, pay) = funded();
    let a = w.sign(
        1,
        &transfer(1, 2, Some(id(&pay)), vec![], Some(acct(3)), 100, 1_800),
    );
    let b = w.sign(
        1,
        &transfer(1, 2, Some(id(&pay)), vec![], Some(acct(4)), 200, 1_700),
    );
    admitted(&mut w, &a);
    admitted(&mut w, &b);
    (w, pay, a, b)
}

#[test]
fn a_checkpoint_that_does_not_extend_the_previous_is_not_effective() {
    let (mut w, seq1, a, b) = forked_with_two_branches();
    // First checkpoint settles branch a at seq 2.
    let c1 = w.issuers[0]
        .checkpoint(&mut w.store, acct(1), 2, id(&a), 1_800, None, 0)
        .expect("sign");
    admitted(&mut w, &c1);
    assert_eq!(w.ledger.status(&id(&a)), Some(Status::Canonical));
    assert_eq!(
        w.ledger.status(&id(&b)),
        Some(Status::Void(VoidReason::Fork))
    );
    assert!(!w.ledger.account(&acct(1)).expect("alice").frozen);
    // A second checkpoint naming c1 as previous but settling branch b: not effective.
    let c2 = w.issuers[0]
        .checkpoint(&mut w.store, acct(1), 2, id(&b), 1_700, Some(id(&c1)), 0)
        .expect("sign");
    admitted(&mut w, &c2);
    let alice = w.ledger.account(&acct(1)).expect("alice");
    assert_eq!(alice.governing, Some(id(&c1)));
    assert_eq!(w.ledger.status(&id(&a)), Some(Status::Canonical));
    // One that does extend it (settled at seq 1, then at seq 2 on branch a) governs.
    let c0 = w.issuers[1]
        .checkpoint(&mut w.store, acct(1), 1, id(&seq1), 1_900, None, 0)
        .expect("sign");
    let c3 = w.issuers[1]
        .checkpoint(&mut w.store, acct(1), 2, id(&a), 1_750, Some(id(&c0)), 0)
        .expect("sign");
    admitted(&mut w, &c0);
    admitted(&mut w, &c3);
    // Both c1 (issuer 0) and c3 (issuer 1) settle seq 2: the lower issuer index wins.
    assert_eq!(
        w.ledger.account(&acct(1)).expect("alice").governing,
        Some(id(&c1))
    );
}

#[test]
fn competing_checkpoints_follow_the_tie_rules() {
    let (mut w, _, a, b) = forked_with_two_branches();
    // Issuer 1 (index 1) settles b, issuer 0 settles a, at the same seq: issuer 0 wins.
    let by1 = w.issuers[1]
        .checkpoint(&mut w.store, acct(1), 2, id(&b), 1_700, None, 0)
        .expect("sign");
    admitted(&mut w, &by1);
    assert_eq!(w.ledger.status(&id(&b)), Some(Status::Canonical));
    let by0 = w.issuers[0]
        .checkpoint(&mut w.store, acct(1), 2, id(&a), 1_800, None, 0)
        .expect("sign");
    admitted(&mut w, &by0);
    assert_eq!(
        w.ledger.account(&acct(1)).expect("alice").governing,
        Some(id(&by0))
    );
    assert_eq!(w.ledger.status(&id(&a)), Some(Status::Canonical));
    assert_eq!(
        w.ledger.status(&id(&b)),
        Some(Status::Void(VoidReason::Fork))
    );
    // The same issuer again at the same seq, later: its later seq wins.
    let again = w.issuers[0]
        .checkpoint(&mut w.store, acct(1), 2, id(&b), 1_700, None, 0)
        .expect("sign");
    admitted(&mut w, &again);
    assert_eq!(
        w.ledger.account(&acct(1)).expect("alice").governing,
        Some(id(&again))
    );
    assert_eq!(w.ledger.status(&id(&b)), Some(Status::Canonical));
}

#[test]
fn settlement_applies_when_the_next_record_names_the_head() {
    let (mut w, mut alice, _, pay) = funded();
    // Settled at 1500 (below the head's 1900): compensation taken, for example.
    let cp = w.issuers[0]
        .checkpoint(&mut w.store, acct(1), 1, id(&pay), 1_500, None, 0)
        .expect("sign");
    // Alice's device never heard of it and builds on the head.
    let next = w.sign(
        1,
        &transfer(1, 2, Some(id(&pay)), vec![], Some(acct(3)), 100, 1_800),
    );
    admitted(&mut w, &next);
    admitted(&mut w, &cp);
    assert_eq!(w.ledger.status(&id(&next)), Some(Status::Canonical));
    let a = w.ledger.account(&acct(1)).expect("alice");
    assert_eq!((a.stated, a.effective), (1_400, 1_400));
    // Its limits did not reset: the wallet continues the old window.
    let tip = w.ledger.tip(&acct(1)).expect("tip");
    assert_eq!(tip.prev, Some(id(&next)));
    assert_eq!(tip.window.count, 2);
    let _ = &mut alice;
}

#[test]
fn checkpoint_balance_above_the_head_is_not_effective() {
    let (mut w, _, _, pay) = funded();
    let cp = w.issuers[0]
        .checkpoint(&mut w.store, acct(1), 1, id(&pay), 1_901, None, 0)
        .expect("sign");
    admitted(&mut w, &cp);
    assert_eq!(w.ledger.account(&acct(1)).expect("alice").governing, None);
}

#[test]
fn a_forked_issuer_is_reported_and_voids_nothing() {
    let mut w = World::new(1);
    let m1 = w.mint(acct(1), 10);
    let stale = issuer_body(
        1000,
        1,
        None,
        Kind::Mint(Mint {
            to: acct(2),
            amount: 20,
            memo: String::new(),
        }),
    );
    let m2 = w.sign(1000, &stale);
    let c = w.apply(&m2);
    assert_eq!(c.conflicts, vec![(acct(1000), 1)]);
    assert_eq!(w.ledger.status(&id(&m1)), Some(Status::Canonical));
    assert_eq!(w.ledger.status(&id(&m2)), Some(Status::Canonical));
    let conflicts = w.ledger.conflicts();
    assert!(conflicts[0].issuer);
    assert_eq!(w.ledger.account(&acct(2)).expect("bob").incoming, 20);
}

#[test]
fn revoke_of_an_issuer_is_refused() {
    let mut w = World::new(2);
    let rv = issuer_body(
        1000,
        1,
        None,
        Kind::Revoke(Revoke {
            account: acct(1001),
            after_seq: 0,
            reason: String::new(),
        }),
    );
    assert!(matches!(
        {
            let s = w.sign(1000, &rv);
            refusal(&mut w, &s)
        },
        Reject::Recipient { .. }
    ));
}

#[test]
fn a_second_signature_over_the_same_body_adds_nothing() {
    let (mut w, _, _, pay) = funded();
    let body = transfer(2, 1, None, vec![id(&pay)], None, 0, 100);
    let s1 = w.sign(2, &body);
    admitted(&mut w, &s1);
    // ed25519 is deterministic; a different but valid signature needs a different
    // nonce, which honest signers never produce. The id is the same either way.
    let c = w.apply(&s1);
    assert_eq!(c.known, 1);
}

#[test]
fn a_broken_copy_does_not_hide_a_good_one_in_the_same_batch() {
    let (mut w, _, _, pay) = funded();
    let good = w.sign(2, &transfer(2, 1, None, vec![id(&pay)], None, 0, 100));
    let mut broken = good.clone();
    broken.signature[9] ^= 4;
    let c = w
        .ledger
        .merge(vec![broken, good.clone()], &mut testkit::rng(3));
    assert_eq!(c.added, vec![id(&good)]);
    assert_eq!(c.refused, vec![(id(&good), Reject::BadSignature)]);
}

#[test]
fn issuers_report_their_next_seq() {
    let mut w = World::new(1);
    w.mint(acct(1), 5);
    w.mint(acct(1), 6);
    assert_eq!(w.ledger.account(&acct(1000)).expect("issuer").next_seq, 3);
}

// ---- seqs at the top of the range ----

/// Hostile records whose seqs sit at the top of a u64: issuer checkpoints of account 1
/// and transfers by account 1 that build on them. Before seqs were bounded at intake,
/// each history made the ledger compute a seq past `u64::MAX` (a panic in debug
/// builds, a silent wrap in release ones); the comment names where.
fn top_of_range_histories(w: &World) -> Vec<Vec<wire::SignedRecord>> {
    let mint = |issuer: u64, seq: u64, prev: Option<RecordId>, amount: u64| {
        let kind = Kind::Mint(Mint {
            to: acct(1),
            amount,
            memo: String::new(),
        });
        w.sign(issuer, &issuer_body(issuer, seq, prev, kind))
    };
    let m1 = mint(1001, 1, None, 5);
    let m2 = mint(1001, 2, Some(id(&m1)), 7);
    let cp = |at_seq: u64, head: RecordId| {
        let kind = checkpoint(1, at_seq, head, 0, None);
        w.sign(1000, &issuer_body(1000, 1, None, kind))
    };
    // Its head is absent, so it settles the account at `u64::MAX`.
    let top = cp(u64::MAX, RecordId([7; 32]));
    // Its head is a mint, so it settles nothing: the walk never reaches its seq.
    let top_void = cp(u64::MAX, id(&m1));
    let below_top = cp(u64::MAX - 1, RecordId([7; 32]));
    let claim = |prev: &wire::SignedRecord, seq: u64, m: &wire::SignedRecord, balance: u64| {
        let t = transfer(1, seq, Some(id(prev)), vec![id(m)], None, 0, balance);
        w.sign(1, &t)
    };
    let at_top = claim(&below_top, u64::MAX, &m1, 5);
    // Built on a checkpoint that settles nothing, it is void and leaves the frontier be.
    let below_top_void = cp(u64::MAX - 1, id(&m1));
    let void_at_top = claim(&below_top_void, u64::MAX, &m1, 5);
    vec![
        // The account walk: `next = k + 1` after the settled seq `u64::MAX`.
        vec![top.clone()],
        // Intake: `at_seq + 1` for a transfer that names a checkpoint at `u64::MAX`.
        vec![m1.clone(), top_void.clone(), claim(&top_void, 2, &m1, 5)],
        // Settlement: the frontier after a transfer at `u64::MAX` (`seq + 1`).
        vec![below_top.clone(), m1.clone(), at_top.clone()],
        // Intake: `prev.seq + 1` for a transfer after the one at `u64::MAX`.
        vec![
            m1.clone(),
            m2.clone(),
            below_top_void.clone(),
            void_at_top.clone(),
            claim(&void_at_top, 3, &m2, 12),
        ],
        // An issuer's own record at `u64::MAX` (its next seq is reported).
        vec![mint(1000, u64::MAX, Some(RecordId([7; 32])), 1)],
    ]
}

#[test]
fn seqs_past_the_bound_are_refused_and_nothing_overflows() {
    let w = World::new(2);
    for history in top_of_range_histories(&w) {
        let mut w = World::new(2);
        let mut refused = Vec::new();
        for r in &history {
            refused.extend(w.apply(r).refused);
        }
        // Each history holds a record whose seq or `at_seq` is above the bound, and
        // exactly those are refused (those that build on them with them).
        let too_high: Vec<RecordId> = history
            .iter()
            .filter(|r| {
                let b = crate::record::parse((*r).clone()).expect("parses").body;
                b.seq > MAX_SEQ || b.checkpoint().is_some_and(|c| c.at_seq > MAX_SEQ)
            })
            .map(id)
            .collect();
        assert!(!too_high.is_empty());
        for (rid, why) in &refused {
            match why {
                Reject::SeqTooHigh { max, .. } => {
                    assert!(too_high.contains(rid));
                    assert_eq!(*max, MAX_SEQ);
                }
                Reject::DependsOnRefused { id } => assert!(too_high.contains(id)),
                other => panic!("unexpected refusal {other:?}"),
            }
        }
        w.ledger.state_digest();
        w.ledger.tip(&acct(1));
    }
}

#[test]
fn a_chain_may_reach_the_highest_seq_and_stops_there() {
    let mut w = World::new(1);
    let m = w.mint(acct(1), 5);
    let cp = w.sign(
        1000,
        &issuer_body(
            1000,
            2,
            Some(id(&m)),
            checkpoint(1, MAX_SEQ - 1, RecordId([7; 32]), 0, None),
        ),
    );
    admitted(&mut w, &cp);
    let last = w.sign(
        1,
        &transfer(1, MAX_SEQ, Some(id(&cp)), vec![id(&m)], None, 0, 5),
    );
    admitted(&mut w, &last);
    assert_eq!(w.ledger.status(&id(&last)), Some(Status::Canonical));
    let view = w.ledger.account(&acct(1)).expect("known");
    assert_eq!((view.next_seq, view.stated), (MAX_SEQ + 1, 5));

    // Nothing can follow it: a wallet refuses to sign, a hand-made record is refused.
    let mut alice = Wallet::new(key(1), &w.spec, MAX_SEQ);
    assert_eq!(
        alice.pay(&w.ledger, &mut w.store, acct(2), 1, None, "", 0),
        Err(crate::wallet::WalletError::SeqExhausted { seq: MAX_SEQ + 1 })
    );
    let past = w.sign(
        1,
        &transfer(1, MAX_SEQ + 1, Some(id(&last)), vec![], Some(acct(2)), 1, 4),
    );
    assert_eq!(
        refusal(&mut w, &past),
        Reject::SeqTooHigh {
            field: "seq",
            seq: MAX_SEQ + 1,
            max: MAX_SEQ
        }
    );

    // An issuer resumed past the bound signs nothing.
    let mut issuer = crate::issuer::Issuer::new(key(1000), &w.spec, MAX_SEQ + 1, Some(id(&cp)));
    assert_eq!(
        issuer.mint(&mut w.store, acct(1), 1, "", 0),
        Err(crate::wallet::WalletError::SeqExhausted { seq: MAX_SEQ + 1 })
    );
}
