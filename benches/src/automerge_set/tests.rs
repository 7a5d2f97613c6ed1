use std::sync::Arc;

use automerge::transaction::Transactable;
use automerge::{ActorId, AutoCommit, ChangeHash, ObjType, ROOT, ScalarValue};
use indicatif::ProgressBar;
use meshpay_protocol::ledger::{Ledger, LedgerConfig, RecordSet};
use meshpay_protocol::record::{self, Record};
use meshpay_protocol::{RecordId, wire};
use prost::Message;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

use super::*;
use crate::sync_report::pool::{self, Pool};

fn pool(n: usize) -> Pool {
    pool::build(n, 12, 7, &ProgressBar::hidden()).expect("pool")
}

fn rng() -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(3)
}

fn set_of(actor: u8, records: &[Record]) -> AutomergeSet {
    let mut s = AutomergeSet::new([actor; 16]);
    for r in records {
        s.insert(&Arc::new(r.clone()));
    }
    s
}

fn sorted_ids(records: &[Record]) -> Vec<RecordId> {
    let mut ids: Vec<_> = records.iter().map(Record::id).collect();
    ids.sort();
    ids
}

fn wire_bytes(r: &Record) -> Vec<u8> {
    r.to_signed().encode_to_vec()
}

/// The record with a broken signature: same id, other bytes.
fn forged(r: &Record) -> wire::SignedRecord {
    let mut s = r.to_signed();
    s.signature[0] ^= 1;
    s
}

/// Everything a merge could change.
fn state(s: &mut AutomergeSet) -> (Vec<ChangeHash>, Vec<RecordId>, Vec<u8>) {
    let ids = s.ids().collect();
    (s.heads(), ids, s.save())
}

#[test]
fn insert_contains_get_and_ids_in_id_order() {
    let p = pool(40);
    let mut s = set_of(1, &p.records);
    assert_eq!(s.len(), 40);
    assert_eq!(s.ids().collect::<Vec<_>>(), sorted_ids(&p.records));
    for r in &p.records {
        assert!(s.contains(&r.id()));
        assert_eq!(s.get(&r.id()).as_deref(), Some(r));
        s.insert(&Arc::new(r.clone()));
    }
    assert!(!s.contains(&RecordId([9; 32])));
    assert_eq!(s.len(), 40, "a second insert adds nothing");
}

#[test]
fn the_index_is_what_the_document_holds() {
    let p = pool(30);
    let mut s = set_of(1, &p.records[..20]);
    let mut peer = set_of(2, &p.records[10..]);
    let staged = s.check_peer(&mut peer).expect("honest peer");
    s.apply_trusted(staged).expect("applies");
    let mut loaded = AutomergeSet::load(&s.save(), [3; 16]).expect("loads");
    assert_eq!(
        loaded.ids().collect::<Vec<_>>(),
        s.ids().collect::<Vec<_>>()
    );
    for id in s.ids() {
        assert_eq!(loaded.get(&id), s.get(&id));
    }
    assert_eq!(loaded.heads(), s.heads());
}

#[test]
fn two_documents_merge_both_ways() {
    let p = pool(30);
    let mut a = set_of(1, &p.records[..20]);
    let mut b = set_of(2, &p.records[10..]);
    // Records 10..20 were put by both: equal bytes under one key are no conflict.
    let staged = a.check_peer(&mut b).expect("honest peer");
    assert_eq!(staged.len(), 10);
    let mut added = a.apply_trusted(staged).expect("applies");
    added.sort();
    assert_eq!(added, sorted_ids(&p.records[20..]));
    assert_eq!(a.ids().collect::<Vec<_>>(), sorted_ids(&p.records));

    let staged = b.check_peer(&mut a).expect("honest peer");
    assert_eq!(staged.len(), 10);
    b.apply_trusted(staged).expect("applies");
    assert_eq!(b.ids().collect::<Vec<_>>(), sorted_ids(&p.records));
    assert_eq!(a.heads(), b.heads());
    let again = a.check_peer(&mut b).expect("nothing new");
    assert_eq!((again.changes(), again.len()), (0, 0));
}

fn ledger_of(p: &Pool, actor: u8, records: &[Record]) -> Ledger<AutomergeSet> {
    let mut l = Ledger::with_set(
        p.spec.clone(),
        LedgerConfig::default(),
        AutomergeSet::new([actor; 16]),
    )
    .expect("spec");
    let c = l.merge(records.iter().map(Record::to_signed).collect(), &mut rng());
    assert_eq!(c.added.len(), records.len(), "{c:?}");
    l
}

#[test]
fn a_ledger_takes_a_peer_document_in() {
    let p = pool(30);
    let mut la = ledger_of(&p, 1, &p.records[..20]);
    let mut lb = ledger_of(&p, 2, &p.records[10..]);
    let m = merge_peer(&mut la, lb.set_mut(), &mut rng()).expect("honest peer");
    assert!(m.adopted);
    assert_eq!(m.changes.added.len(), 10);
    let native = {
        let mut l = Ledger::new(p.spec.clone()).expect("spec");
        l.merge(
            p.records.iter().map(Record::to_signed).collect(),
            &mut rng(),
        );
        l
    };
    assert_eq!(la.len(), 30);
    assert_eq!(la.set().len(), 30);
    assert_eq!(la.state_digest(), native.state_digest());
    // The peer's own changes were applied: nothing of its history is missing.
    let (set_a, set_b) = (la.set_mut(), lb.set_mut());
    assert_eq!(set_a.check_peer(set_b).expect("checks").changes(), 0);
    let reloaded = AutomergeSet::load(&la.set_mut().save(), [9; 16]).expect("loads");
    assert_eq!(reloaded.len(), 30);
}

#[test]
fn a_record_the_ledger_refuses_never_enters_the_document() {
    let p = pool(12);
    let mut la = ledger_of(&p, 1, &p.records[..6]);
    // A peer whose document holds a well-formed record with a broken signature.
    let mut peer = set_of(2, &p.records[4..11]);
    let bad = record::parse(forged(&p.records[11]))
        .expect("well formed")
        .into_trusted();
    peer.insert(&Arc::new(bad.clone()));
    let m = merge_peer(&mut la, &mut peer, &mut rng()).expect("passes the document checks");
    assert!(!m.adopted);
    assert_eq!(m.changes.refused.len(), 1, "{:?}", m.changes);
    assert_eq!(la.len(), 11);
    assert_eq!(la.set().len(), 11);
    assert!(!la.set().contains(&bad.id()));
    let reloaded = AutomergeSet::load(&la.set_mut().save(), [9; 16]).expect("loads");
    assert_eq!(
        reloaded.ids().collect::<Vec<_>>(),
        sorted_ids(&p.records[..11])
    );
}

/// A hostile peer: the victim's document, forked and edited by `edit`.
fn hostile(victim: &mut AutomergeSet, edit: impl FnOnce(&mut AutoCommit)) -> AutomergeSet {
    victim.commit();
    let mut doc = victim.doc.fork().with_actor(ActorId::from([0xee; 16]));
    edit(&mut doc);
    doc.commit();
    AutomergeSet {
        doc,
        index: Default::default(),
        tips: Default::default(),
        limits: MergeLimits::default(),
        awaited: Default::default(),
        deferred: Vec::new(),
    }
}

/// Merges `peer` into a ledger over `victim`'s records; the merge must fail and leave
/// ledger and document as they were.
fn refused(p: &Pool, edit: impl FnOnce(&mut AutoCommit)) -> MergeError {
    let mut l = ledger_of(p, 1, &p.records[..4]);
    let mut peer = hostile(l.set_mut(), edit);
    let before = (state(l.set_mut()), l.state_digest());
    let e = merge_peer(&mut l, &mut peer, &mut rng()).expect_err("hostile change accepted");
    assert_eq!((state(l.set_mut()), l.state_digest()), before, "{e}");
    e
}

fn put_bytes(doc: &mut AutoCommit, key: String, bytes: Vec<u8>) {
    doc.put(ROOT, key, ScalarValue::Bytes(bytes)).expect("put");
}

#[test]
fn a_delete_is_refused() {
    let p = pool(6);
    let key = p.records[0].id().to_hex();
    let e = refused(&p, |d| d.delete(ROOT, key.as_str()).expect("delete"));
    assert!(
        matches!(&e, MergeError::Delete { key: k, .. } if *k == key),
        "{e}"
    );
}

#[test]
fn an_overwrite_is_refused() {
    let p = pool(6);
    let key = p.records[0].id().to_hex();
    let other = forged(&p.records[0]).encode_to_vec();
    let e = refused(&p, |d| put_bytes(d, key, other));
    assert!(matches!(e, MergeError::Overwrite { .. }), "{e}");
}

#[test]
fn other_bytes_under_a_held_key_are_refused() {
    let p = pool(6);
    let mut l = ledger_of(&p, 1, &p.records[..4]);
    // A peer that never saw the record puts a copy with another signature under its key.
    let mut peer = AutomergeSet::new([0xee; 16]);
    put_bytes(
        &mut peer.doc,
        p.records[0].id().to_hex(),
        forged(&p.records[0]).encode_to_vec(),
    );
    let before = state(l.set_mut());
    let e = merge_peer(&mut l, &mut peer, &mut rng()).expect_err("conflicting record");
    assert!(matches!(e, MergeError::ConflictingRecord { .. }), "{e}");
    assert_eq!(state(l.set_mut()), before);
}

#[test]
fn a_record_under_another_key_is_refused() {
    let p = pool(6);
    let bytes = wire_bytes(&p.records[4]);
    let elsewhere = p.records[5].id().to_hex();
    let e = refused(&p, |d| put_bytes(d, elsewhere, bytes.clone()));
    assert!(matches!(e, MergeError::WrongKey { .. }), "{e}");
    let upper = p.records[4].id().to_hex().to_uppercase();
    let e = refused(&p, |d| put_bytes(d, upper, bytes));
    assert!(matches!(e, MergeError::WrongKey { .. }), "{e}");
}

#[test]
fn a_value_that_is_not_bytes_is_refused() {
    let p = pool(6);
    let key = p.records[4].id().to_hex();
    let e = refused(&p, |d| d.put(ROOT, key, "a payment").expect("put"));
    assert!(matches!(e, MergeError::NotBytes { .. }), "{e}");
}

#[test]
fn bytes_that_are_not_a_record_are_refused() {
    let p = pool(6);
    let key = p.records[4].id().to_hex();
    let e = refused(&p, |d| put_bytes(d, key.clone(), vec![0xff; 40]));
    assert!(matches!(e, MergeError::NotARecord { .. }), "{e}");
    // The record's fields, encoded twice over: decodes, but is not its canonical bytes.
    let mut padded = wire_bytes(&p.records[4]);
    padded.extend(wire_bytes(&p.records[4]));
    let e = refused(&p, |d| put_bytes(d, key, padded));
    assert!(matches!(e, MergeError::NotARecord { .. }), "{e}");
}

#[test]
fn a_nested_object_is_refused() {
    let p = pool(6);
    let key = p.records[4].id().to_hex();
    let e = refused(&p, |d| {
        let obj = d.put_object(ROOT, key, ObjType::Map).expect("object");
        d.put(&obj, "x", 1).expect("put");
    });
    assert!(matches!(e, MergeError::NestedObject { .. }), "{e}");
}

#[test]
fn one_bad_change_refuses_the_whole_merge() {
    let p = pool(8);
    let key = p.records[0].id().to_hex();
    let good: Vec<Vec<u8>> = p.records[4..].iter().map(wire_bytes).collect();
    let records = &p.records;
    let e = refused(&p, |d| {
        for (r, b) in records[4..].iter().zip(good) {
            put_bytes(d, r.id().to_hex(), b);
        }
        d.commit();
        d.delete(ROOT, key.as_str()).expect("delete");
    });
    assert!(matches!(e, MergeError::Delete { .. }), "{e}");
}

#[test]
fn garbage_change_bytes_are_refused() {
    let p = pool(6);
    let mut s = set_of(1, &p.records[..2]);
    let before = state(&mut s);
    let e = s
        .check_change_bytes(vec![b"not a change at all".to_vec()])
        .err()
        .expect("garbage accepted");
    assert!(matches!(e, MergeError::Undecodable { index: 0, .. }), "{e}");

    // A real change with one byte flipped fails its checksum.
    let mut peer = set_of(2, &p.records[2..4]);
    peer.commit();
    let mut raw = peer.doc.get_changes(&[])[0].raw_bytes().to_vec();
    let last = raw.len() - 1;
    raw[last] ^= 0x40;
    let e = s
        .check_change_bytes(vec![raw])
        .err()
        .expect("corrupt accepted");
    assert!(matches!(e, MergeError::Undecodable { .. }), "{e}");

    // A compressed chunk is refused before it is inflated.
    let mut c = peer.doc.get_changes(&[])[0].clone();
    let mut compressed = c.bytes().to_vec();
    compressed[8] = 2;
    let e = s
        .check_change_bytes(vec![compressed])
        .err()
        .expect("compressed");
    assert!(matches!(e, MergeError::Undecodable { .. }), "{e}");
    assert_eq!(state(&mut s), before);

    // The same change intact goes through.
    let raw = peer.doc.get_changes(&[])[0].raw_bytes().to_vec();
    assert_eq!(s.check_change_bytes(vec![raw]).expect("intact").len(), 2);
}

#[test]
fn a_merge_is_bounded() {
    let p = pool(10);
    let mut peer = AutomergeSet::new([2; 16]);
    for r in &p.records {
        peer.insert(&Arc::new(r.clone()));
        peer.commit();
    }
    let mut s = AutomergeSet::new([1; 16]).with_limits(MergeLimits {
        max_changes: 9,
        max_bytes: 1 << 20,
    });
    let e = s.check_peer(&mut peer).err().expect("too many");
    assert!(
        matches!(e, MergeError::TooManyChanges { count: 10, max: 9 }),
        "{e}"
    );
    let mut s = AutomergeSet::new([1; 16]).with_limits(MergeLimits {
        max_changes: 100,
        max_bytes: 1_000,
    });
    let e = s.check_peer(&mut peer).err().expect("too large");
    assert!(matches!(e, MergeError::TooManyBytes { .. }), "{e}");
    assert_eq!(s.len(), 0);
}

#[test]
fn a_history_with_a_gap_is_refused() {
    let p = pool(6);
    let mut peer = AutomergeSet::new([2; 16]);
    for r in &p.records[..2] {
        peer.insert(&Arc::new(r.clone()));
        peer.commit();
    }
    let changes = peer.doc.get_changes(&[]);
    let mut s = AutomergeSet::new([1; 16]);
    let e = s
        .check_changes(vec![changes[1].clone()])
        .err()
        .expect("gap");
    assert!(matches!(e, MergeError::MissingDependency { .. }), "{e}");
    assert_eq!(s.check_changes(changes).expect("whole").len(), 2);
}

#[test]
fn changes_in_this_documents_own_name_are_refused() {
    let p = pool(6);
    let mut s = set_of(1, &p.records[..2]);
    let mut impostor = set_of(1, &p.records[2..4]);
    let e = s.check_peer(&mut impostor).err().expect("own actor");
    assert!(matches!(e, MergeError::OwnActor { .. }), "{e}");
}
