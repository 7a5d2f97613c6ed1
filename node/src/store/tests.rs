use ed25519_dalek::SigningKey;
use meshpay_protocol::issuer::Issuer;
use meshpay_protocol::wallet::{MemorySeqStore, SeqStore};
use meshpay_protocol::{AccountId, ChainSpec, Ledger, Limits, Record, RecordId, record};
use prost::Message;

use super::*;

/// Env var that turns `a_second_process_is_locked_out` into the second process.
const CHILD_DIR: &str = "MESHPAY_STORE_TEST_LOCKED_DIR";

fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

fn spec() -> ChainSpec {
    ChainSpec {
        name: "store-test".into(),
        issuers: vec![record::account_of(&key(1))],
        limits: Limits {
            max_single: 1_000,
            max_cumulative: 10_000,
            max_count: 10,
        },
    }
}

/// `n` mints by the one issuer, a chain: each depends on the one before.
fn mints(spec: &ChainSpec, n: usize) -> Vec<Record> {
    let mut issuer = Issuer::new(key(1), spec, 1, None);
    let mut seqs = MemorySeqStore::default();
    let to = record::account_of(&key(2));
    (0..n)
        .map(|i| {
            let signed = issuer
                .mint(&mut seqs, to, 10 + i as u64, "", 1_000 * i as u64)
                .expect("mint");
            record::parse(signed).expect("parses").into_trusted()
        })
        .collect()
}

fn write_records(store: &mut Store, records: &[Record]) {
    let mut set = WriteSet::new();
    for r in records {
        set.record(r);
    }
    store.write(&set).expect("write");
}

fn ids(records: &[Record]) -> Vec<RecordId> {
    records.iter().map(Record::id).collect()
}

#[test]
fn everything_written_comes_back_after_reopening_in_the_order_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spec = spec();
    let records = mints(&spec, 40);
    let alice = AccountId([9; 32]);
    {
        let mut store = Store::open(dir.path(), &StoreOptions::creating()).expect("create");
        assert_eq!(store.spec().expect("spec"), None);
        store.put_spec(&spec).expect("put spec");
        write_records(&mut store, &records[..25]);
        let mut set = WriteSet::new();
        set.next_seq(alice, 7)
            .put_peer("p1", "/ip4/10.0.0.1/tcp/4001")
            .put_peer("p2", "/ip4/10.0.0.2/tcp/4001");
        store.write(&set).expect("write");
    }
    {
        // Reopened, the store goes on numbering after what it holds.
        let mut store = Store::open(dir.path(), &StoreOptions::default()).expect("reopen");
        write_records(&mut store, &records[25..]);
        let mut set = WriteSet::new();
        set.next_seq(alice, 8).remove_peer("p1");
        // The same record again keeps its first place.
        set.record(&records[3]);
        store.write(&set).expect("write");
    }
    let store = Store::open(dir.path(), &StoreOptions::default()).expect("reopen");
    assert_eq!(store.spec().expect("spec"), Some(spec.clone()));
    assert_eq!(
        store.record_bytes(&records[5].id()).expect("get"),
        Some(records[5].to_signed().encode_to_vec())
    );
    assert_eq!(store.record_bytes(&RecordId([0; 32])).expect("get"), None);
    let loaded = store.load().expect("load");
    assert!(loaded.corrupt.is_empty(), "{:?}", loaded.corrupt);
    assert_eq!(ids(&loaded.records), ids(&records));
    assert_eq!(loaded.records, records);
    assert_eq!(store.next_seqs().expect("seqs").get(&alice), Some(&8));
    assert_eq!(
        store.peers().expect("peers"),
        vec![(b"p2".to_vec(), b"/ip4/10.0.0.2/tcp/4001".to_vec())]
    );

    let mut ledger = Ledger::new(spec).expect("ledger");
    let changes = ledger.merge_verified(loaded.records);
    assert_eq!(changes.added.len(), 40);
    assert_eq!(ledger.orphan_count(), 0);
}

/// Overwrites the log entry at `position`, as a failing disk or a stray writer would.
fn put_log(store: &Store, position: u64, value: &[u8]) {
    store
        .db
        .put_cf(store.cf(CF_LOG), position.to_be_bytes(), value)
        .expect("put");
}

#[test]
fn a_damaged_record_is_reported_and_skipped_while_the_rest_load() {
    let dir = tempfile::tempdir().expect("tempdir");
    let records = mints(&spec(), 6);
    let mut store = Store::open(dir.path(), &StoreOptions::creating()).expect("create");
    write_records(&mut store, &records);
    // Another record's bytes beside record 1's id, and garbage beside record 4's.
    let mut other = records[1].id().0.to_vec();
    other.extend(records[2].to_signed().encode_to_vec());
    put_log(&store, 1, &other);
    let mut garbage = records[4].id().0.to_vec();
    garbage.extend(b"\xff\xff not a record");
    put_log(&store, 4, &garbage);

    let loaded = store.load().expect("load");
    let want: Vec<RecordId> = [0, 2, 3, 5].iter().map(|&i| records[i].id()).collect();
    assert_eq!(ids(&loaded.records), want);
    let reason = |i: usize| {
        loaded
            .corrupt
            .iter()
            .find(|c| c.key == records[i].id().to_hex())
            .map(|c| c.reason.clone())
            .expect("reported")
    };
    assert_eq!(loaded.corrupt.len(), 2);
    assert!(reason(1).contains("not to its stored id"), "{}", reason(1));
    assert!(reason(4).contains("does not decode"), "{}", reason(4));
}

#[test]
fn a_log_entry_too_short_for_an_id_is_reported_by_position() {
    let dir = tempfile::tempdir().expect("tempdir");
    let records = mints(&spec(), 3);
    let mut store = Store::open(dir.path(), &StoreOptions::creating()).expect("create");
    write_records(&mut store, &records);
    put_log(&store, 1, b"short");
    let loaded = store.load().expect("load");
    assert_eq!(ids(&loaded.records), vec![records[0].id(), records[2].id()]);
    assert_eq!(loaded.corrupt.len(), 1);
    assert_eq!(loaded.corrupt[0].key, hex::encode(1u64.to_be_bytes()));
    assert!(loaded.corrupt[0].reason.contains("no record id"));
    // The id index still names the entry; what it finds there is reported, not served.
    assert!(store.record_bytes(&records[1].id()).is_err());
}

#[test]
fn replay_hands_every_record_over_in_chunks_in_the_order_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spec = spec();
    let records = mints(&spec, 10);
    let mut store = Store::open(dir.path(), &StoreOptions::creating()).expect("create");
    for r in &records {
        write_records(&mut store, std::slice::from_ref(r));
    }
    let mut seen = Vec::new();
    let corrupt = store
        .replay(|chunk| {
            assert!(!chunk.is_empty() && chunk.len() <= load::REPLAY_CHUNK);
            seen.extend(chunk);
        })
        .expect("replay");
    assert!(corrupt.is_empty());
    assert_eq!(ids(&seen), ids(&records));
}

/// Writes a store as schema version 1 laid it out: records by id, an order index.
fn write_v1(dir: &std::path::Path, records: &[Record], order: &[Vec<u8>]) {
    let options = StoreOptions::creating();
    let cache = options.block_cache();
    let names = ["records", "order", CF_SEQS, CF_META, CF_PEERS];
    let db = DB::open_cf_descriptors(
        &options.db_options(),
        dir,
        names.map(|n| options.cf_descriptor(n, &cache)),
    )
    .expect("open v1");
    let cf = |n: &str| db.cf_handle(n).expect("cf");
    db.put_cf(cf(CF_META), META_SCHEMA, 1u32.to_be_bytes())
        .expect("schema");
    db.put_cf(cf(CF_META), META_SPEC, spec().encode())
        .expect("spec");
    for r in records {
        db.put_cf(cf("records"), r.id().0, r.to_signed().encode_to_vec())
            .expect("record");
    }
    for (i, id) in order.iter().enumerate() {
        db.put_cf(cf("order"), (i as u64).to_be_bytes(), id)
            .expect("order");
    }
}

#[test]
fn a_store_of_schema_version_1_is_rewritten_on_open_and_keeps_every_record() {
    let dir = tempfile::tempdir().expect("tempdir");
    let records = mints(&spec(), 6);
    // Version 1's order: a record written twice (its first place counts), an entry that
    // is not an id, and an id whose record is gone (records[4] is never stored);
    // records[5] is stored but the order misses it.
    let id = |i: usize| records[i].id().0.to_vec();
    let order = vec![id(0), id(1), id(0), b"junk".to_vec(), id(2), id(4), id(3)];
    let stored: Vec<Record> = [0, 1, 2, 3, 5].map(|i| records[i].clone()).into();
    write_v1(dir.path(), &stored, &order);

    let mut store = Store::open(dir.path(), &StoreOptions::default()).expect("migrates");
    let loaded = store.load().expect("load");
    assert!(loaded.corrupt.is_empty());
    assert_eq!(ids(&loaded.records), ids(&stored));
    assert_eq!(
        store.record_bytes(&records[2].id()).expect("get"),
        Some(records[2].to_signed().encode_to_vec())
    );
    assert!(store.record_bytes(&records[5].id()).expect("get").is_some());
    assert_eq!(store.spec().expect("spec"), Some(spec()));
    // Writing goes on after the rewritten records; version 1's tables are gone.
    let more = mints(&spec(), 7);
    write_records(&mut store, &more[6..]);
    drop(store);
    let tables = DB::list_cf(&rocksdb::Options::default(), dir.path()).expect("list");
    assert!(
        !tables.iter().any(|t| t == "records" || t == "order"),
        "{tables:?}"
    );
    let store = Store::open(dir.path(), &StoreOptions::default()).expect("reopen");
    let loaded = store.load().expect("load");
    assert_eq!(loaded.records.len(), 6);
    assert_eq!(loaded.records[5].id(), more[6].id());
}

#[test]
fn a_second_opener_in_this_process_is_locked_out() {
    let dir = tempfile::tempdir().expect("tempdir");
    let _first = Store::open(dir.path(), &StoreOptions::creating()).expect("create");
    let err = Store::open(dir.path(), &StoreOptions::default()).expect_err("locked");
    assert!(matches!(err, StoreError::Locked { .. }), "{err:?}");
    assert!(err.to_string().contains("in use"), "{err}");
}

#[test]
fn a_second_process_is_locked_out() {
    if let Some(dir) = std::env::var_os(CHILD_DIR) {
        // The child: the parent holds the store open.
        let err = Store::open(Path::new(&dir), &StoreOptions::default()).expect_err("locked");
        assert!(matches!(err, StoreError::Locked { .. }), "{err:?}");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let _held = Store::open(dir.path(), &StoreOptions::creating()).expect("create");
    let status = std::process::Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "store::tests::a_second_process_is_locked_out",
            "--test-threads=1",
        ])
        .env(CHILD_DIR, dir.path())
        .stdout(std::process::Stdio::null())
        .status()
        .expect("run the child");
    assert!(status.success(), "the child was not refused with Locked");
}

#[test]
fn a_missing_store_is_not_created_unless_asked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let absent = dir.path().join("nowhere");
    let err = Store::open(&absent, &StoreOptions::default()).expect_err("missing");
    assert!(matches!(err, StoreError::Missing { .. }), "{err:?}");
    assert!(!absent.exists());
    // An empty directory holds no store either.
    let err = Store::open(dir.path(), &StoreOptions::default()).expect_err("missing");
    assert!(matches!(err, StoreError::Missing { .. }), "{err:?}");

    let store = Store::open(&absent, &StoreOptions::creating()).expect("create");
    assert_eq!(store.record_count().expect("count"), 0);
    assert!(store.load().expect("load").records.is_empty());
}

#[test]
fn a_store_of_another_schema_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let store = Store::open(dir.path(), &StoreOptions::creating()).expect("create");
        store
            .db
            .put_cf(store.cf(CF_META), META_SCHEMA, 99u32.to_be_bytes())
            .expect("put");
    }
    let err = Store::open(dir.path(), &StoreOptions::default()).expect_err("schema");
    assert!(
        matches!(
            err,
            StoreError::Schema {
                found: 99,
                supported: SCHEMA_VERSION
            }
        ),
        "{err:?}"
    );
}

#[test]
fn a_wallet_persists_its_next_seq_through_the_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = Store::open(dir.path(), &StoreOptions::creating()).expect("create");
    let account = AccountId([3; 32]);
    store.persist_next_seq(&account, 12).expect("persist");
    drop(store);
    let store = Store::open(dir.path(), &StoreOptions::default()).expect("reopen");
    assert_eq!(
        store
            .next_seqs()
            .expect("seqs")
            .into_iter()
            .collect::<Vec<_>>(),
        vec![(account, 12)]
    );
}

#[test]
fn every_write_is_synced_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let options = StoreOptions {
        statistics: true,
        ..StoreOptions::creating()
    };
    let mut store = Store::open(dir.path(), &options).expect("create");
    let before = store.wal_syncs();
    write_records(&mut store, &mints(&spec(), 20));
    assert_eq!(store.wal_syncs() - before, 1);
    assert_eq!(store.record_count().expect("count"), 20);
}
