//! Durable intake on rocksdb, measured, so the node's store can take its design from the
//! figures. Records a merge admitted are written keyed by id (the value: the record as it
//! travels) in one `WriteBatch` written with `sync = true` (the write-ahead log is
//! fsync'd before the write returns): nothing is acknowledged before that. A group
//! commit gathers the records of many merges into one synced write, so one fsync covers
//! them all; a writer thread commits whatever has queued while the ledger keeps merging.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::Instant;

use meshpay_protocol::chain::ChainSpec;
use meshpay_protocol::id::RecordId;
use meshpay_protocol::ledger::Ledger;
use meshpay_protocol::wire::SignedRecord;
use prost::Message;
use rand_core::CryptoRng;
use rocksdb::statistics::Ticker;
use rocksdb::{DB, DBCompressionType, Options, WriteBatch, WriteOptions};
use serde::Serialize;

/// Why durable intake failed.
#[derive(Debug, thiserror::Error)]
pub enum DurableError {
    /// rocksdb refused an operation.
    #[error("rocksdb: {0}")]
    Db(#[from] rocksdb::Error),
    /// The store's directory could not be made.
    #[error("store directory {path}: {source}")]
    Dir {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The chain spec was refused.
    #[error("chain spec: {0}")]
    Spec(String),
    /// A merge refused or held back a record the intake expected to enter.
    #[error("{0}")]
    Intake(String),
    /// The writer thread stopped early.
    #[error("the writer thread stopped")]
    Writer,
}

/// A directory that exists as long as this value does.
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// A fresh, empty directory under `base`.
    pub fn new_in(base: &Path) -> Result<Self, DurableError> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let name = format!(
            "meshpay-durable-{}-{}-{nanos}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let path = base.join(name);
        std::fs::create_dir_all(&path).map_err(|source| DurableError::Dir {
            path: path.clone(),
            source,
        })?;
        Ok(TempDir { path })
    }

    /// Where the directory is.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        // Best effort: a leftover directory under the temp dir is harmless.
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// A rocksdb store of records keyed by id, in a directory removed when it is dropped.
pub struct Store {
    db: DB,
    opts: Options,
    dir: TempDir,
}

impl Store {
    /// Opens a new store in a fresh directory under `base` (lz4-compressed tables,
    /// statistics on, so rocksdb's own count of log fsyncs can be read).
    pub fn open_temp(base: &Path) -> Result<Self, DurableError> {
        let dir = TempDir::new_in(base)?;
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.set_compression_type(DBCompressionType::Lz4);
        opts.enable_statistics();
        let db = DB::open(&opts, dir.path())?;
        Ok(Store { db, opts, dir })
    }

    /// Where the store lives.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a batch and fsyncs the write-ahead log before returning.
    pub fn write_synced(&self, batch: WriteBatch) -> Result<(), DurableError> {
        let mut w = WriteOptions::default();
        w.set_sync(true);
        self.db.write_opt(batch, &w)?;
        Ok(())
    }

    /// rocksdb's count of write-ahead-log fsyncs since the store opened.
    pub fn wal_syncs(&self) -> u64 {
        self.opts.get_ticker_count(Ticker::WalFileSynced)
    }

    /// The stored bytes of a record.
    pub fn get(&self, id: &RecordId) -> Result<Option<Vec<u8>>, DurableError> {
        Ok(self.db.get(id.0)?)
    }

    /// How many records the store holds (a full scan).
    pub fn count(&self) -> usize {
        self.db.iterator(rocksdb::IteratorMode::Start).count()
    }
}

/// Records staged for one synced write.
pub struct GroupCommit<'a> {
    store: &'a Store,
    batch: WriteBatch,
    commits: u64,
}

impl<'a> GroupCommit<'a> {
    /// An empty group over `store`.
    pub fn new(store: &'a Store) -> Self {
        GroupCommit {
            store,
            batch: WriteBatch::default(),
            commits: 0,
        }
    }

    /// Stages one record (its id and its bytes as it travels).
    pub fn stage(&mut self, id: &RecordId, bytes: &[u8]) {
        self.batch.put(id.0, bytes);
    }

    /// Records staged and not yet committed.
    pub fn staged(&self) -> usize {
        self.batch.len()
    }

    /// Writes what is staged in one synced write; returns how many records it made
    /// durable (none and no write when nothing is staged).
    pub fn commit(&mut self) -> Result<usize, DurableError> {
        let n = self.batch.len();
        if n == 0 {
            return Ok(0);
        }
        self.store.write_synced(std::mem::take(&mut self.batch))?;
        self.commits += 1;
        Ok(n)
    }

    /// Synced writes made so far.
    pub fn commits(&self) -> u64 {
        self.commits
    }
}

/// How a durable intake run is cut.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct IntakeShape {
    /// Records per merge (a peer's message).
    pub merge_batch: usize,
    /// Most records in one synced write; the writer commits whatever queued, up to this.
    pub max_group: usize,
}

/// What a durable intake run measured.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct IntakeFigures {
    /// Records offered.
    pub records: usize,
    /// Records durable at the end (admitted by the merges and written).
    pub durable: usize,
    /// Wall time from the first merge until the last synced write returned.
    pub seconds: f64,
    /// Durable records per second.
    pub rate: f64,
    /// Synced writes the intake made.
    pub commits: u64,
    /// Write-ahead-log fsyncs rocksdb counted.
    pub wal_syncs: u64,
    /// Mean records per synced write.
    pub mean_group: f64,
}

impl IntakeFigures {
    /// The figures of `durable` of `records` records written in `seconds` by `commits`
    /// synced writes (`wal_syncs` as rocksdb counted them).
    fn new(records: usize, durable: usize, seconds: f64, commits: u64, wal_syncs: u64) -> Self {
        IntakeFigures {
            records,
            durable,
            seconds,
            rate: durable as f64 / seconds.max(f64::MIN_POSITIVE),
            commits,
            wal_syncs,
            mean_group: durable as f64 / commits.max(1) as f64,
        }
    }
}

/// Merges `signed` into a fresh ledger in merges of `shape.merge_batch` records (on this
/// thread, with `Ledger::merge`) while a writer thread makes every admitted record durable
/// by group commit into a new store under `base`. Every record must enter the ledger.
pub fn intake<R: CryptoRng>(
    spec: &ChainSpec,
    signed: &[SignedRecord],
    shape: &IntakeShape,
    base: &Path,
    rng: &mut R,
) -> Result<IntakeFigures, DurableError> {
    let store = Store::open_temp(base)?;
    let mut ledger = Ledger::new(spec.clone()).map_err(|e| DurableError::Spec(e.to_string()))?;
    let max_group = shape.max_group.max(1);
    // Bounded, so a slow disk holds the merges back instead of piling records up.
    let (tx, rx) = mpsc::sync_channel::<Vec<(RecordId, Vec<u8>)>>(64);
    let start = Instant::now();
    let (durable, commits) = std::thread::scope(|s| {
        let writer = s.spawn(|| writer(&store, rx, max_group));
        let merged = (|| {
            for chunk in signed.chunks(shape.merge_batch.max(1)) {
                let c = ledger.merge(chunk.to_vec(), rng);
                if let Some((id, why)) = c.refused.first() {
                    return Err(DurableError::Intake(format!("{id:?} refused: {why:?}")));
                }
                let admitted: Vec<(RecordId, Vec<u8>)> = c
                    .added
                    .iter()
                    .filter_map(|id| ledger.get(id).map(|r| (*id, r.to_signed().encode_to_vec())))
                    .collect();
                if tx.send(admitted).is_err() {
                    return Err(DurableError::Writer);
                }
            }
            Ok(())
        })();
        drop(tx);
        let written = writer.join().map_err(|_| DurableError::Writer)?;
        merged.and(written)
    })?;
    let seconds = start.elapsed().as_secs_f64();
    if ledger.orphan_count() > 0 {
        return Err(DurableError::Intake(format!(
            "{} records still wait for dependencies",
            ledger.orphan_count()
        )));
    }
    Ok(IntakeFigures::new(
        signed.len(),
        durable,
        seconds,
        commits,
        store.wal_syncs(),
    ))
}

/// The writer: waits for admitted records, then commits everything queued meanwhile (up
/// to `max_group` records) in one synced write. Returns (records written, commits).
fn writer(
    store: &Store,
    rx: mpsc::Receiver<Vec<(RecordId, Vec<u8>)>>,
    max_group: usize,
) -> Result<(usize, u64), DurableError> {
    let mut group = GroupCommit::new(store);
    let mut written = 0;
    while let Ok(first) = rx.recv() {
        for (id, bytes) in &first {
            group.stage(id, bytes);
        }
        while group.staged() < max_group {
            match rx.try_recv() {
                Ok(more) => {
                    for (id, bytes) in &more {
                        group.stage(id, bytes);
                    }
                }
                Err(_) => break,
            }
        }
        written += group.commit()?;
    }
    Ok((written, group.commits()))
}

/// Synced writes of `group` records each, of the records given, into a new store under
/// `base`: what the disk allows without a ledger in front of it (with `group` 1: one
/// fsync per record, the rate without group commit).
pub fn synced_writes(
    records: &[(RecordId, Vec<u8>)],
    group: usize,
    base: &Path,
) -> Result<IntakeFigures, DurableError> {
    let store = Store::open_temp(base)?;
    let mut g = GroupCommit::new(&store);
    let start = Instant::now();
    let mut durable = 0;
    for chunk in records.chunks(group.max(1)) {
        for (id, bytes) in chunk {
            g.stage(id, bytes);
        }
        durable += g.commit()?;
    }
    let seconds = start.elapsed().as_secs_f64();
    Ok(IntakeFigures::new(
        records.len(),
        durable,
        seconds,
        g.commits(),
        store.wal_syncs(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::{Shape, generate};
    use indicatif::ProgressBar;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    #[test]
    fn every_admitted_record_is_durable_and_groups_share_fsyncs() {
        let w = generate(&Shape::for_records(300, 2), &ProgressBar::hidden()).expect("workload");
        let shape = IntakeShape {
            merge_batch: 16,
            max_group: 64,
        };
        let base = std::env::temp_dir();
        let f = intake(
            &w.spec,
            &w.signed(),
            &shape,
            &base,
            &mut ChaCha20Rng::seed_from_u64(1),
        )
        .expect("intake");
        assert_eq!(f.durable, 300);
        assert!(
            f.commits >= 300 / 64 && f.commits <= 300_u64.div_ceil(16),
            "{f:?}"
        );
        assert!(
            f.wal_syncs >= f.commits,
            "every commit fsyncs the log: {f:?}"
        );
    }

    #[test]
    fn a_store_holds_what_was_committed_and_its_directory_goes_with_it() {
        let base = std::env::temp_dir();
        let path;
        {
            let store = Store::open_temp(&base).expect("store");
            path = store.path().to_path_buf();
            let mut g = GroupCommit::new(&store);
            assert_eq!(g.commit().expect("empty commit"), 0);
            let id = RecordId([7; 32]);
            g.stage(&id, b"record");
            g.stage(&RecordId([8; 32]), b"other");
            assert_eq!(g.commit().expect("commit"), 2);
            assert_eq!(g.commits(), 1);
            assert_eq!(store.get(&id).expect("get"), Some(b"record".to_vec()));
            assert_eq!(store.count(), 2);
            assert!(store.wal_syncs() >= 1);
        }
        assert!(!path.exists(), "the store's directory is removed");
    }
}
