//! Rewriting a store of schema version 1 (records by id in one table, their order in
//! another) into the log of version 2, on open. The rewrite reads version 1 in its
//! order index, writes the log and the id index in batches, and only then, in one
//! synced write, sets the version to 2: a crash part way leaves a store of version 1
//! that the next open rewrites again from the start (the same keys, the same values).
//! The old tables are dropped after that write.

use std::collections::HashSet;

use rocksdb::{IteratorMode, WriteBatch};

use super::{CF_IDS, CF_LOG, CF_META, META_SCHEMA, SCHEMA_VERSION, Store, StoreError};

/// Version 1's records: 32-byte id -> encoded `SignedRecord`.
const V1_RECORDS: &str = "records";
/// Version 1's order index: u64 big-endian position -> 32-byte id.
const V1_ORDER: &str = "order";
/// Version 1's tables that version 2 no longer has.
pub(super) const V1_TABLES: [&str; 2] = [V1_RECORDS, V1_ORDER];
/// Records rewritten per batch.
const BATCH: usize = 8_192;

/// Rewrites a version-1 store's records into the log and the id index, then marks the
/// store version 2. Order entries that name nothing (not an id, or an id whose record is
/// gone) are left out and logged; records the order index misses are kept and logged.
pub(super) fn from_v1(store: &Store) -> Result<(), StoreError> {
    let (Some(order), Some(records)) =
        (store.db.cf_handle(V1_ORDER), store.db.cf_handle(V1_RECORDS))
    else {
        // Version 1 always had both; without them there are no records to keep.
        return mark_v2(store);
    };
    let mut batch = WriteBatch::default();
    let mut position: u64 = 0;
    let mut seen = HashSet::new();
    for item in store.db.iterator_cf(order, IteratorMode::Start) {
        let (key, id) = item?;
        if id.len() != 32 {
            tracing::warn!(key = %hex::encode(&key), "version-1 order entry is not a record id; left out");
            continue;
        }
        // The same record written twice kept its first place in version 1's replay.
        if !seen.insert(id.to_vec()) {
            continue;
        }
        let Some(bytes) = store.db.get_cf(records, &id)? else {
            tracing::warn!(record = %hex::encode(&id), "version-1 order names a record that is not stored; left out");
            continue;
        };
        append(store, &mut batch, &mut position, &id, &bytes)?;
    }
    let in_order = position;
    // A record stored without its order entry was held all the same: it is kept, after
    // the ordered ones (replay merges in any order).
    for item in store.db.iterator_cf(records, IteratorMode::Start) {
        let (id, bytes) = item?;
        if id.len() != 32 || seen.contains(id.as_ref()) {
            continue;
        }
        tracing::warn!(record = %hex::encode(&id), "version-1 record missing from the order index; kept");
        append(store, &mut batch, &mut position, &id, &bytes)?;
    }
    store.db.write(batch)?;
    tracing::info!(
        records = position,
        unordered = position - in_order,
        "store rewritten from schema version 1 to 2"
    );
    mark_v2(store)
}

/// Adds one record at `position` to the log and the id index, writing the batch out
/// every `BATCH` records.
fn append(
    store: &Store,
    batch: &mut WriteBatch,
    position: &mut u64,
    id: &[u8],
    bytes: &[u8],
) -> Result<(), StoreError> {
    let mut value = Vec::with_capacity(id.len() + bytes.len());
    value.extend_from_slice(id);
    value.extend_from_slice(bytes);
    batch.put_cf(store.cf(CF_LOG), position.to_be_bytes(), &value);
    batch.put_cf(store.cf(CF_IDS), id, position.to_be_bytes());
    *position += 1;
    if position.is_multiple_of(BATCH as u64) {
        store.db.write(std::mem::take(batch))?;
    }
    Ok(())
}

/// Sets the schema version to this code's, synced (which makes every earlier write of
/// the rewrite durable too: rocksdb's log is written in order).
fn mark_v2(store: &Store) -> Result<(), StoreError> {
    let mut batch = WriteBatch::default();
    batch.put_cf(store.cf(CF_META), META_SCHEMA, SCHEMA_VERSION.to_be_bytes());
    store.write_synced(batch)
}
