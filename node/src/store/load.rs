//! Loading the stored records for replay: every record passed intake before it was
//! stored, so it comes back trusted (no signature check), in the order it entered; one
//! whose bytes no longer hash to its key, or no longer parse, is reported and skipped.

use std::collections::{HashMap, HashSet};

use meshpay_protocol::RecordId;
use meshpay_protocol::record::{self, Record};
use rocksdb::IteratorMode;

use super::{CF_ORDER, CF_RECORDS, Store, StoreError};

/// The stored records, ready for `Ledger::merge_verified`, and what could not be read.
#[derive(Debug, Default)]
pub struct Loaded {
    /// Every readable record, in the order it entered the ledger.
    pub records: Vec<Record>,
    /// Stored entries skipped because they are damaged.
    pub corrupt: Vec<CorruptRecord>,
}

/// A stored entry that was skipped, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CorruptRecord {
    /// The entry's key, in hex.
    pub key: String,
    /// What is wrong with it.
    pub reason: String,
}

impl Store {
    /// Every stored record as a trusted `Record`, in the order the records were written;
    /// damaged entries are reported in `Loaded::corrupt` and the rest still load.
    pub fn load(&self) -> Result<Loaded, StoreError> {
        let mut corrupt = Vec::new();
        // Each id's rank: its first place in the order index. The same record written
        // twice keeps its first place.
        let mut rank: HashMap<RecordId, usize> = HashMap::new();
        let mut ordered: Vec<RecordId> = Vec::new();
        for item in self.db.iterator_cf(self.cf(CF_ORDER), IteratorMode::Start) {
            let (key, value) = item?;
            let Some(id) = RecordId::from_slice(&value) else {
                corrupt.push(CorruptRecord {
                    key: hex::encode(&key),
                    reason: format!("order entry names {} bytes, not a record id", value.len()),
                });
                continue;
            };
            rank.entry(id).or_insert_with(|| {
                ordered.push(id);
                ordered.len() - 1
            });
        }

        let mut slots: Vec<Option<Record>> = Vec::new();
        slots.resize_with(ordered.len(), || None);
        // Records missing from the index (it cannot happen, they are written in one batch)
        // still load, after the indexed ones.
        let mut unindexed = Vec::new();
        let mut damaged = HashSet::new();
        for item in self
            .db
            .iterator_cf(self.cf(CF_RECORDS), IteratorMode::Start)
        {
            let (key, value) = item?;
            match trusted(&key, &value) {
                Err(reason) => {
                    damaged.extend(RecordId::from_slice(&key));
                    corrupt.push(CorruptRecord {
                        key: hex::encode(&key),
                        reason,
                    })
                }
                Ok(r) => match rank.get(&r.id()) {
                    Some(&i) => slots[i] = Some(r),
                    None => unindexed.push(r),
                },
            }
        }

        let mut records = Vec::with_capacity(slots.len() + unindexed.len());
        for (id, slot) in ordered.iter().zip(slots) {
            match slot {
                Some(r) => records.push(r),
                // Reported only when the key was not reported damaged already.
                None if !damaged.contains(id) => corrupt.push(CorruptRecord {
                    key: id.to_hex(),
                    reason: "in the order index but not stored".into(),
                }),
                None => {}
            }
        }
        records.extend(unindexed);
        Ok(Loaded { records, corrupt })
    }
}

/// A stored value as a trusted record, when it still parses and its body still hashes to
/// its key.
fn trusted(key: &[u8], value: &[u8]) -> Result<Record, String> {
    let key = RecordId::from_slice(key).ok_or_else(|| format!("key of {} bytes", key.len()))?;
    let signed = record::decode_signed(value).map_err(|e| format!("does not decode: {e}"))?;
    let parsed = record::parse(signed).map_err(|e| format!("does not parse: {e}"))?;
    if parsed.id != key {
        return Err(format!("its body hashes to {}, not to its key", parsed.id));
    }
    Ok(parsed.into_trusted())
}
