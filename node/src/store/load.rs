//! Loading the stored records for replay: every record passed intake before it was
//! stored, so it comes back trusted (no signature check), in the order it entered; one
//! whose bytes no longer hash to the id stored beside them, or no longer parse, is
//! reported and skipped.

use std::collections::HashSet;
use std::sync::mpsc;

use meshpay_protocol::RecordId;
use meshpay_protocol::record::{self, Record};

use super::{CF_LOG, Store, StoreError};

/// Records handed to the caller at a time by [`Store::replay`].
pub const REPLAY_CHUNK: usize = 16_384;
/// Chunks read ahead of the caller: reading and parsing run on a thread of their own,
/// beside the caller's merge.
const READ_AHEAD: usize = 2;

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
    /// The stored record id in hex, or the log position when not even that is readable.
    pub key: String,
    /// What is wrong with it.
    pub reason: String,
}

impl Store {
    /// Every stored record as a trusted `Record`, in the order the records were written;
    /// damaged entries are reported in `Loaded::corrupt` and the rest still load.
    pub fn load(&self) -> Result<Loaded, StoreError> {
        let mut records = Vec::new();
        let corrupt = self.replay(|chunk| records.extend(chunk))?;
        Ok(Loaded { records, corrupt })
    }

    /// Hands every stored record to `take` in chunks of [`REPLAY_CHUNK`], in the order
    /// written, while the next chunks are read and parsed on another thread; returns
    /// the damaged entries it skipped.
    pub fn replay(
        &self,
        mut take: impl FnMut(Vec<Record>),
    ) -> Result<Vec<CorruptRecord>, StoreError> {
        let (tx, rx) = mpsc::sync_channel::<Vec<Record>>(READ_AHEAD);
        std::thread::scope(|scope| {
            let reader = scope.spawn(move || self.read_log(tx));
            for chunk in rx {
                take(chunk);
            }
            reader
                .join()
                .unwrap_or_else(|p| std::panic::resume_unwind(p))
        })
    }

    /// Reads the log front to back, sending parsed records in chunks; stops early if
    /// the receiver is gone.
    fn read_log(
        &self,
        tx: mpsc::SyncSender<Vec<Record>>,
    ) -> Result<Vec<CorruptRecord>, StoreError> {
        let mut corrupt = Vec::new();
        let mut chunk = Vec::with_capacity(REPLAY_CHUNK);
        // A record written twice keeps its first place (the ledger would skip the copy
        // anyway; this thread has time to spare beside the merge).
        let mut seen: HashSet<RecordId> = HashSet::new();
        let mut it = self.db.raw_iterator_cf(self.cf(CF_LOG));
        it.seek_to_first();
        while let (Some(key), Some(value)) = (it.key(), it.value()) {
            match trusted(key, value) {
                Ok(r) if seen.insert(r.id()) => chunk.push(r),
                Ok(_) => {}
                Err(c) => corrupt.push(c),
            }
            if chunk.len() == REPLAY_CHUNK {
                let full = std::mem::replace(&mut chunk, Vec::with_capacity(REPLAY_CHUNK));
                if tx.send(full).is_err() {
                    return Ok(corrupt);
                }
            }
            it.next();
        }
        it.status()?;
        if !chunk.is_empty() {
            let _ = tx.send(chunk);
        }
        Ok(corrupt)
    }
}

/// A log entry as a trusted record, when its key is a position, its body still parses
/// and hashes to the id stored beside it.
fn trusted(key: &[u8], value: &[u8]) -> Result<Record, CorruptRecord> {
    let at = || hex::encode(key);
    if key.len() != 8 {
        return Err(CorruptRecord {
            key: at(),
            reason: format!("log key of {} bytes, not a position", key.len()),
        });
    }
    let Some(id) = value.get(..32).and_then(RecordId::from_slice) else {
        return Err(CorruptRecord {
            key: at(),
            reason: format!("log entry of {} bytes holds no record id", value.len()),
        });
    };
    let damaged = |reason: String| CorruptRecord {
        key: id.to_hex(),
        reason,
    };
    let signed = record::decode_signed(&value[32..])
        .map_err(|e| damaged(format!("does not decode: {e}")))?;
    let parsed = record::parse(signed).map_err(|e| damaged(format!("does not parse: {e}")))?;
    if parsed.id != id {
        return Err(damaged(format!(
            "its body hashes to {}, not to its stored id",
            parsed.id
        )));
    }
    Ok(parsed.into_trusted())
}
