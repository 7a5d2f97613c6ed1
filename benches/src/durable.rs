//! Durable intake on the node's own store (`meshpay_node::store`), measured. Records a
//! merge admitted are written (keyed by id, the value the record as it travels, plus its
//! place in the entry order) in one synced write (the write-ahead log is fsync'd before
//! the write returns): nothing is acknowledged before that. A group commit gathers the
//! records of many merges into one synced write, so one fsync covers them all; a writer
//! thread commits whatever has queued while the ledger keeps merging. And the restart:
//! reopening the store, loading every record and replaying it with
//! `Ledger::merge_verified`, against the target of 3 s for 1 M records.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::Instant;

use meshpay_node::store::{self as node_store, StoreError, StoreOptions, WriteSet};
use meshpay_protocol::chain::ChainSpec;
use meshpay_protocol::id::RecordId;
use meshpay_protocol::ledger::Ledger;
use meshpay_protocol::record::Record;
use meshpay_protocol::wire::SignedRecord;
use prost::Message;
use rand_core::CryptoRng;
use serde::Serialize;

/// The restart target: 1 M stored records back in the ledger within 3 s.
pub const RESTART_TARGET_S_PER_MILLION: f64 = 3.0;

/// Why durable intake failed.
#[derive(Debug, thiserror::Error)]
pub enum DurableError {
    /// The node's store refused an operation.
    #[error("store: {0}")]
    Store(#[from] StoreError),
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

/// The node's store in a directory removed when it is dropped.
pub struct Store {
    // Declared before `dir`: the database closes before its directory goes.
    store: node_store::Store,
    dir: TempDir,
}

impl Store {
    /// Opens a new store in a fresh directory under `base`, with rocksdb's statistics on
    /// so its own count of log fsyncs can be read.
    pub fn open_temp(base: &Path) -> Result<Self, DurableError> {
        let dir = TempDir::new_in(base)?;
        let store = node_store::Store::open(dir.path(), &Self::options())?;
        Ok(Store { store, dir })
    }

    fn options() -> StoreOptions {
        StoreOptions {
            statistics: true,
            ..StoreOptions::creating()
        }
    }

    /// Where the store lives.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Closes the store and opens it again, as a restarted node does.
    pub fn reopen(self) -> Result<Self, DurableError> {
        let Store { store, dir } = self;
        drop(store);
        let store = node_store::Store::open(dir.path(), &StoreOptions::default())?;
        Ok(Store { store, dir })
    }

    /// Writes a set in one synced write.
    pub fn write_synced(&mut self, set: &WriteSet) -> Result<(), DurableError> {
        Ok(self.store.write(set)?)
    }

    /// rocksdb's count of write-ahead-log fsyncs since the store opened.
    pub fn wal_syncs(&self) -> u64 {
        self.store.wal_syncs()
    }

    /// The stored bytes of a record.
    pub fn get(&self, id: &RecordId) -> Result<Option<Vec<u8>>, DurableError> {
        Ok(self.store.record_bytes(id)?)
    }

    /// How many records the store holds (a full scan).
    pub fn count(&self) -> Result<usize, DurableError> {
        Ok(self.store.record_count()?)
    }

    /// The node's store itself.
    pub fn inner(&self) -> &node_store::Store {
        &self.store
    }
}

/// Records staged for one synced write.
pub struct GroupCommit<'a> {
    store: &'a mut Store,
    set: WriteSet,
    commits: u64,
}

impl<'a> GroupCommit<'a> {
    /// An empty group over `store`.
    pub fn new(store: &'a mut Store) -> Self {
        GroupCommit {
            store,
            set: WriteSet::new(),
            commits: 0,
        }
    }

    /// Stages one record (its id and its bytes as it travels).
    pub fn stage(&mut self, id: &RecordId, bytes: &[u8]) {
        self.set.record_bytes(*id, bytes.to_vec());
    }

    /// Records staged and not yet committed.
    pub fn staged(&self) -> usize {
        self.set.record_count()
    }

    /// Writes what is staged in one synced write; returns how many records it made
    /// durable (none and no write when nothing is staged).
    pub fn commit(&mut self) -> Result<usize, DurableError> {
        let n = self.set.record_count();
        if n == 0 {
            return Ok(0);
        }
        self.store.write_synced(&self.set)?;
        self.set.clear();
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
    let mut store = Store::open_temp(base)?;
    let mut ledger = Ledger::new(spec.clone()).map_err(|e| DurableError::Spec(e.to_string()))?;
    let max_group = shape.max_group.max(1);
    // Bounded, so a slow disk holds the merges back instead of piling records up.
    let (tx, rx) = mpsc::sync_channel::<Vec<(RecordId, Vec<u8>)>>(64);
    let start = Instant::now();
    let (durable, commits) = std::thread::scope(|s| {
        let writer = s.spawn(|| writer(&mut store, rx, max_group));
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
    store: &mut Store,
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
    let mut store = Store::open_temp(base)?;
    let mut g = GroupCommit::new(&mut store);
    let start = Instant::now();
    let mut durable = 0;
    for chunk in records.chunks(group.max(1)) {
        for (id, bytes) in chunk {
            g.stage(id, bytes);
        }
        durable += g.commit()?;
    }
    let seconds = start.elapsed().as_secs_f64();
    let commits = g.commits();
    Ok(IntakeFigures::new(
        records.len(),
        durable,
        seconds,
        commits,
        store.wal_syncs(),
    ))
}

/// What a restart measured: a store of `records` records reopened, every record loaded
/// and replayed into a fresh ledger with `Ledger::merge_verified`.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct RestartFigures {
    /// Records stored.
    pub records: usize,
    /// Records in the ledger after the replay.
    pub in_ledger: usize,
    /// Size of the store's files on disk, in bytes.
    pub store_bytes: u64,
    /// Filling the store (synced groups), before the restart; not part of it.
    pub fill_seconds: f64,
    /// Reopening the store.
    pub open_seconds: f64,
    /// The replay as the node runs it (`Store::replay`: the store reads and parses the
    /// next chunk on a thread of its own while the ledger merges this one).
    pub replay_seconds: f64,
    /// Open and replay: the restart.
    pub restart_seconds: f64,
    /// Of the replay's parts, measured apart after it: loading every record alone
    /// (read, parse, hash check against the stored id, in write order).
    pub load_seconds: f64,
    /// Of the replay's parts, measured apart after it: `Ledger::merge_verified` of the
    /// loaded records alone.
    pub merge_seconds: f64,
    /// The target for this many records (3 s per million).
    pub target_seconds: f64,
    /// Restart time over the target: below 1 meets it.
    pub ratio_to_target: f64,
    /// Records back in the ledger per second of restart.
    pub rate: f64,
}

/// Stores `records` (in groups of `group`, in the order given, which must be the order
/// they can enter a ledger) in a new store under `base`, closes it, then measures the
/// restart: reopen, load, and `merge_verified` into a fresh ledger of `spec`. Every
/// record must come back and enter the ledger.
pub fn restart(
    spec: &ChainSpec,
    records: &[Record],
    group: usize,
    base: &Path,
) -> Result<RestartFigures, DurableError> {
    let mut store = Store::open_temp(base)?;
    let start = Instant::now();
    let mut set = WriteSet::new();
    for chunk in records.chunks(group.max(1)) {
        for r in chunk {
            set.record(r);
        }
        store.write_synced(&set)?;
        set.clear();
    }
    let fill_seconds = start.elapsed().as_secs_f64();

    let start = Instant::now();
    let store = store.reopen()?;
    let open_seconds = start.elapsed().as_secs_f64();
    let mut ledger = Ledger::new(spec.clone()).map_err(|e| DurableError::Spec(e.to_string()))?;
    let mut refused = None;
    let corrupt = store.inner().replay(|chunk| {
        let changes = ledger.merge_verified(chunk);
        refused = refused.take().or(changes.refused.first().cloned());
    })?;
    let restart_seconds = start.elapsed().as_secs_f64();
    let replay_seconds = restart_seconds - open_seconds;
    if let Some(c) = corrupt.first() {
        return Err(DurableError::Intake(format!(
            "{} stored records unreadable, first {}: {}",
            corrupt.len(),
            c.key,
            c.reason
        )));
    }
    if let Some((id, why)) = refused {
        return Err(DurableError::Intake(format!("{id:?} refused: {why:?}")));
    }
    if ledger.len() != records.len() || ledger.orphan_count() > 0 {
        return Err(DurableError::Intake(format!(
            "{} of {} records back in the ledger, {} waiting for dependencies",
            ledger.len(),
            records.len(),
            ledger.orphan_count()
        )));
    }
    let in_ledger = ledger.len();
    drop(ledger);

    // The parts, one after the other.
    let start = Instant::now();
    let loaded = store.inner().load()?;
    let load_seconds = start.elapsed().as_secs_f64();
    let mut ledger = Ledger::new(spec.clone()).map_err(|e| DurableError::Spec(e.to_string()))?;
    let start = Instant::now();
    ledger.merge_verified(loaded.records);
    let merge_seconds = start.elapsed().as_secs_f64();
    let target_seconds = RESTART_TARGET_S_PER_MILLION * records.len() as f64 / 1e6;
    Ok(RestartFigures {
        records: records.len(),
        in_ledger,
        store_bytes: dir_bytes(store.path()),
        fill_seconds,
        open_seconds,
        replay_seconds,
        restart_seconds,
        load_seconds,
        merge_seconds,
        target_seconds,
        ratio_to_target: restart_seconds / target_seconds.max(f64::MIN_POSITIVE),
        rate: records.len() as f64 / restart_seconds.max(f64::MIN_POSITIVE),
    })
}

/// Total size of the files in `dir` (not recursive: rocksdb keeps its files flat).
fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok()?.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
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
            let mut store = Store::open_temp(&base).expect("store");
            path = store.path().to_path_buf();
            let mut g = GroupCommit::new(&mut store);
            assert_eq!(g.commit().expect("empty commit"), 0);
            let id = RecordId([7; 32]);
            g.stage(&id, b"record");
            g.stage(&RecordId([8; 32]), b"other");
            assert_eq!(g.commit().expect("commit"), 2);
            assert_eq!(g.commits(), 1);
            assert_eq!(store.get(&id).expect("get"), Some(b"record".to_vec()));
            assert_eq!(store.count().expect("count"), 2);
            assert!(store.wal_syncs() >= 1);
        }
        assert!(!path.exists(), "the store's directory is removed");
    }

    #[test]
    fn a_restart_brings_every_stored_record_back() {
        let w = generate(&Shape::for_records(300, 2), &ProgressBar::hidden()).expect("workload");
        let base = std::env::temp_dir();
        let f = restart(&w.spec, &w.records, 64, &base).expect("restart");
        assert_eq!(f.records, 300);
        assert_eq!(f.in_ledger, 300);
        assert!(f.store_bytes > 0, "{f:?}");
        assert!(
            f.restart_seconds >= f.open_seconds + f.replay_seconds - 1e-9,
            "{f:?}"
        );
        assert!(f.load_seconds > 0.0 && f.merge_seconds > 0.0, "{f:?}");
        assert!((f.target_seconds - 3.0 * 300.0 / 1e6).abs() < 1e-12);
    }
}
