//! The node's durable store on rocksdb: the records in the order they entered, as they
//! travelled, an index of them by id, each wallet's next seq, the chain spec and the
//! peer book. Everything a
//! [`WriteSet`] holds lands in one synced write, so whatever the caller acknowledges after
//! [`Store::write`] returns survives a crash; [`Store::load`] hands it back for replay.

mod load;
mod migrate;
mod options;
mod write_set;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use meshpay_protocol::chain::SpecError;
use meshpay_protocol::wallet::SeqStore;
use meshpay_protocol::{AccountId, ChainSpec, RecordId};
use rocksdb::{ColumnFamily, DB, IteratorMode, WriteBatch, WriteOptions};

pub use load::{CorruptRecord, Loaded};
pub use options::StoreOptions;
pub use write_set::WriteSet;

/// The records in the order they entered the ledger: u64 big-endian position -> the
/// record's 32-byte id, then its encoded `SignedRecord` as received. Replay reads this
/// one table front to back: every record finds its dependencies already in the ledger
/// (the orphan pool is bounded, and a replay in id order would overflow it and lose
/// records), and the stored id lets each body be checked against what was acknowledged.
const CF_LOG: &str = "log";
/// Records by id: 32-byte record id -> u64 big-endian position in the log.
const CF_IDS: &str = "ids";
/// Each wallet's next seq: 32-byte account -> u64 big-endian.
const CF_SEQS: &str = "seqs";
/// The chain spec and the schema version, under the keys below.
const CF_META: &str = "meta";
/// The peer book: the caller's key -> the caller's address bytes.
const CF_PEERS: &str = "peers";
/// Every column family of this layout, in the order they are opened.
const COLUMN_FAMILIES: [&str; 5] = [CF_LOG, CF_IDS, CF_SEQS, CF_META, CF_PEERS];

/// Meta key of the schema version (u32 big-endian).
const META_SCHEMA: &[u8] = b"schema";
/// Meta key of the chain spec (`ChainSpec::encode`).
const META_SPEC: &[u8] = b"chain_spec";
/// The layout this code reads and writes. Version 1 kept records by id and a separate
/// order index; a store of version 1 is rewritten on open (`migrate`).
pub const SCHEMA_VERSION: u32 = 2;

/// One peer-book entry: the caller's key and the address bytes stored under it.
pub type PeerEntry = (Vec<u8>, Vec<u8>);

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The directory holds no store and creating one was not asked for.
    #[error("no store at {path}: create it first (meshpay init)")]
    Missing {
        /// The store's directory.
        path: PathBuf,
    },
    /// Another opener (another process, or this one) holds the store's lock.
    #[error(
        "the store at {path} is in use by another meshpay node (or by this process); stop it first"
    )]
    Locked {
        /// The store's directory.
        path: PathBuf,
    },
    /// The store's directory could not be created.
    #[error("cannot create the store directory {path}: {source}")]
    Dir {
        /// The store's directory.
        path: PathBuf,
        /// What the file system said.
        source: std::io::Error,
    },
    /// The store was written by a version of meshpay with another layout.
    #[error("the store has schema version {found}; this meshpay reads version {supported}")]
    Schema {
        /// The version on disk.
        found: u32,
        /// The version this code reads.
        supported: u32,
    },
    /// A value outside the records has the wrong shape.
    #[error("store entry {table}/{key} is corrupt: {reason}")]
    Corrupt {
        /// The column family.
        table: &'static str,
        /// The key, in hex.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The stored chain spec does not decode.
    #[error("the stored chain spec is unreadable: {0}")]
    Spec(#[from] SpecError),
    /// rocksdb refused an operation.
    #[error("rocksdb: {0}")]
    Db(#[from] rocksdb::Error),
}

/// The node's durable store. One owner writes; reads may come from anywhere.
pub struct Store {
    db: DB,
    path: PathBuf,
    /// rocksdb's options, kept for its statistics.
    opts: rocksdb::Options,
    /// Position the next stored record takes in the order index.
    next_position: u64,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.path)
            .field("next_position", &self.next_position)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens the store in `dir`, creating it when `options.create` says so.
    pub fn open(dir: &Path, options: &StoreOptions) -> Result<Store, StoreError> {
        let path = dir.to_path_buf();
        // rocksdb's CURRENT file names the live manifest: without it there is no store.
        if !options.create && !dir.join("CURRENT").is_file() {
            return Err(StoreError::Missing { path });
        }
        if options.create {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::Dir {
                path: path.clone(),
                source,
            })?;
        }
        let opts = options.db_options();
        let cache = options.block_cache();
        // rocksdb opens a store only with every column family it holds: an older
        // layout's tables are opened too, until the migration drops them.
        let mut names: Vec<String> = COLUMN_FAMILIES.iter().map(|n| n.to_string()).collect();
        if let Ok(existing) = DB::list_cf(&opts, dir) {
            for n in existing {
                if n != rocksdb::DEFAULT_COLUMN_FAMILY_NAME && !names.contains(&n) {
                    names.push(n);
                }
            }
        }
        let cfs = names.iter().map(|name| options.cf_descriptor(name, &cache));
        let db = DB::open_cf_descriptors(&opts, dir, cfs).map_err(|e| {
            if is_lock_error(&e) {
                StoreError::Locked { path: path.clone() }
            } else {
                StoreError::Db(e)
            }
        })?;
        let mut store = Store {
            db,
            path,
            opts,
            next_position: 0,
        };
        store.check_schema()?;
        store.next_position = store.last_position()?.map_or(0, |p| p + 1);
        Ok(store)
    }

    /// The store's directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes everything in `set` in one synced write: when this returns `Ok`, all of it
    /// survives a crash, and none of it does otherwise.
    pub fn write(&mut self, set: &WriteSet) -> Result<(), StoreError> {
        if set.is_empty() {
            return Ok(());
        }
        let mut batch = WriteBatch::default();
        let (log, ids) = (self.cf(CF_LOG), self.cf(CF_IDS));
        let mut position = self.next_position;
        let mut value = Vec::new();
        for (id, bytes) in &set.records {
            value.clear();
            value.extend_from_slice(&id.0);
            value.extend_from_slice(bytes);
            batch.put_cf(log, position.to_be_bytes(), &value);
            batch.put_cf(ids, id.0, position.to_be_bytes());
            position += 1;
        }
        let seqs = self.cf(CF_SEQS);
        for (account, next) in &set.seqs {
            batch.put_cf(seqs, account.0, next.to_be_bytes());
        }
        let peers = self.cf(CF_PEERS);
        for (key, addr) in &set.peers {
            match addr {
                Some(addr) => batch.put_cf(peers, key, addr),
                None => batch.delete_cf(peers, key),
            }
        }
        self.write_synced(batch)?;
        self.next_position = position;
        Ok(())
    }

    /// Every wallet's next seq.
    pub fn next_seqs(&self) -> Result<BTreeMap<AccountId, u64>, StoreError> {
        let mut out = BTreeMap::new();
        for item in self.db.iterator_cf(self.cf(CF_SEQS), IteratorMode::Start) {
            let (key, value) = item?;
            let corrupt = |reason: &str| StoreError::Corrupt {
                table: CF_SEQS,
                key: hex::encode(&key),
                reason: reason.to_owned(),
            };
            let account =
                AccountId::from_slice(&key).ok_or_else(|| corrupt("key is not 32 bytes"))?;
            let next: [u8; 8] = value
                .as_ref()
                .try_into()
                .map_err(|_| corrupt("value is not 8 bytes"))?;
            out.insert(account, u64::from_be_bytes(next));
        }
        Ok(out)
    }

    /// The stored chain spec, if one was stored.
    pub fn spec(&self) -> Result<Option<ChainSpec>, StoreError> {
        match self.db.get_cf(self.cf(CF_META), META_SPEC)? {
            None => Ok(None),
            Some(bytes) => Ok(Some(ChainSpec::decode(&bytes)?)),
        }
    }

    /// Stores the chain spec (synced).
    pub fn put_spec(&mut self, spec: &ChainSpec) -> Result<(), StoreError> {
        let mut batch = WriteBatch::default();
        batch.put_cf(self.cf(CF_META), META_SPEC, spec.encode());
        self.write_synced(batch)
    }

    /// The peer book: every key with its address bytes, in key order.
    pub fn peers(&self) -> Result<Vec<PeerEntry>, StoreError> {
        self.db
            .iterator_cf(self.cf(CF_PEERS), IteratorMode::Start)
            .map(|item| {
                let (k, v) = item?;
                Ok((k.into_vec(), v.into_vec()))
            })
            .collect()
    }

    /// A stored record's bytes (the encoded `SignedRecord`), as stored.
    pub fn record_bytes(&self, id: &RecordId) -> Result<Option<Vec<u8>>, StoreError> {
        let Some(position) = self.db.get_cf(self.cf(CF_IDS), id.0)? else {
            return Ok(None);
        };
        let Some(mut value) = self.db.get_cf(self.cf(CF_LOG), &position)? else {
            return Ok(None);
        };
        if value.get(..32) != Some(&id.0[..]) {
            return Err(StoreError::Corrupt {
                table: CF_LOG,
                key: hex::encode(&position),
                reason: format!("holds another record than {id}, which the id index names"),
            });
        }
        value.drain(..32);
        Ok(Some(value))
    }

    /// How many records the store holds (a scan of the log's keys).
    pub fn record_count(&self) -> Result<usize, StoreError> {
        let mut n = 0;
        let mut it = self.db.raw_iterator_cf(self.cf(CF_LOG));
        it.seek_to_first();
        while it.valid() {
            n += 1;
            it.next();
        }
        it.status()?;
        Ok(n)
    }

    /// rocksdb's count of write-ahead-log fsyncs since the store opened (0 unless
    /// `StoreOptions::statistics` is on).
    pub fn wal_syncs(&self) -> u64 {
        self.opts
            .get_ticker_count(rocksdb::statistics::Ticker::WalFileSynced)
    }

    fn write_synced(&self, batch: WriteBatch) -> Result<(), StoreError> {
        let mut w = WriteOptions::default();
        w.set_sync(true);
        self.db.write_opt(batch, &w)?;
        Ok(())
    }

    fn cf(&self, name: &str) -> &ColumnFamily {
        // Every name in COLUMN_FAMILIES is opened (or created) by `open`, or `open` failed.
        self.db
            .cf_handle(name)
            .expect("column family opened with the store")
    }

    /// Writes the schema version into a new store, rewrites a store of version 1,
    /// refuses a store of another version.
    fn check_schema(&mut self) -> Result<(), StoreError> {
        let meta = self.cf(CF_META);
        match self.db.get_cf(meta, META_SCHEMA)? {
            Some(v) if v.as_slice() == 1u32.to_be_bytes() => {
                migrate::from_v1(self)?;
                self.drop_old_tables()
            }
            None => {
                let mut batch = WriteBatch::default();
                batch.put_cf(meta, META_SCHEMA, SCHEMA_VERSION.to_be_bytes());
                self.write_synced(batch)
            }
            Some(v) => {
                let found = <[u8; 4]>::try_from(v.as_slice()).map_err(|_| StoreError::Corrupt {
                    table: CF_META,
                    key: hex::encode(META_SCHEMA),
                    reason: "schema version is not 4 bytes".into(),
                })?;
                let found = u32::from_be_bytes(found);
                if found == SCHEMA_VERSION {
                    // A migration stopped after its last write leaves the old tables.
                    self.drop_old_tables()
                } else {
                    Err(StoreError::Schema {
                        found,
                        supported: SCHEMA_VERSION,
                    })
                }
            }
        }
    }

    /// Drops the column families of an older layout, if any are left.
    fn drop_old_tables(&mut self) -> Result<(), StoreError> {
        for name in migrate::V1_TABLES {
            if self.db.cf_handle(name).is_some() {
                self.db.drop_cf(name)?;
            }
        }
        Ok(())
    }

    /// The last position used in the log.
    fn last_position(&self) -> Result<Option<u64>, StoreError> {
        let Some(item) = self
            .db
            .iterator_cf(self.cf(CF_LOG), IteratorMode::End)
            .next()
        else {
            return Ok(None);
        };
        let (key, _) = item?;
        let position = <[u8; 8]>::try_from(key.as_ref()).map_err(|_| StoreError::Corrupt {
            table: CF_LOG,
            key: hex::encode(&key),
            reason: "position is not 8 bytes".into(),
        })?;
        Ok(Some(u64::from_be_bytes(position)))
    }
}

/// A wallet's next seq made durable on its own, before its record leaves the node.
impl SeqStore for Store {
    type Error = StoreError;

    fn persist_next_seq(&mut self, account: &AccountId, next: u64) -> Result<(), StoreError> {
        let mut set = WriteSet::default();
        set.next_seq(*account, next);
        self.write(&set)
    }
}

/// Whether rocksdb refused to open because another opener holds the LOCK file. rocksdb
/// says so only in its message: "While lock file: …/LOCK: Resource temporarily
/// unavailable" from another process, "lock hold by current process" from this one.
fn is_lock_error(e: &rocksdb::Error) -> bool {
    let msg = e.to_string();
    e.kind() == rocksdb::ErrorKind::IOError && (msg.contains("/LOCK") || msg.contains("lock "))
}
