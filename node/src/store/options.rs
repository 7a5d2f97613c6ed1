//! How the store opens, and rocksdb's tuning for a small device: lz4 tables, small
//! memtables, a bounded write-ahead log, two background jobs.

use rocksdb::{BlockBasedOptions, Cache, ColumnFamilyDescriptor, DBCompressionType, Options};

/// Memtable size per column family by default: the records arrive a few hundred bytes at
/// a time, so 8 MiB holds tens of thousands before a flush.
pub const DEFAULT_WRITE_BUFFER_BYTES: usize = 8 << 20;
/// Total write-ahead log kept before the quiet column families are flushed too, so a
/// column family written rarely (the peer book) does not pin old logs forever.
const MAX_TOTAL_WAL_BYTES: u64 = 64 << 20;
/// Block cache shared by the column families' tables.
const BLOCK_CACHE_BYTES: usize = 16 << 20;

/// How to open a store.
#[derive(Clone, Debug)]
pub struct StoreOptions {
    /// Create the directory and the store when they do not exist (`meshpay init`).
    pub create: bool,
    /// Memtable size per column family, in bytes.
    pub write_buffer_bytes: usize,
    /// Keep rocksdb's statistics (the count of log fsyncs, for benchmarks); costs a little
    /// on every operation.
    pub statistics: bool,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            create: false,
            write_buffer_bytes: DEFAULT_WRITE_BUFFER_BYTES,
            statistics: false,
        }
    }
}

impl StoreOptions {
    /// Options that create the store when it does not exist.
    pub fn creating() -> Self {
        StoreOptions {
            create: true,
            ..StoreOptions::default()
        }
    }

    /// The block cache the column families share.
    pub(super) fn block_cache(&self) -> Cache {
        Cache::new_lru_cache(BLOCK_CACHE_BYTES)
    }

    /// The database-wide options.
    pub(super) fn db_options(&self) -> Options {
        let mut o = Options::default();
        o.create_if_missing(self.create);
        // A store made by an older layout gains the new (empty) tables; their schema
        // version says whether it is readable at all.
        o.create_missing_column_families(true);
        o.set_max_background_jobs(2);
        o.set_max_total_wal_size(MAX_TOTAL_WAL_BYTES);
        o.set_keep_log_file_num(4);
        o.set_bytes_per_sync(1 << 20);
        if self.statistics {
            o.enable_statistics();
        }
        o
    }

    /// One column family's options.
    pub(super) fn cf_descriptor(&self, name: &str, cache: &Cache) -> ColumnFamilyDescriptor {
        let mut o = Options::default();
        o.set_compression_type(DBCompressionType::Lz4);
        o.set_write_buffer_size(self.write_buffer_bytes);
        o.set_max_write_buffer_number(2);
        let mut table = BlockBasedOptions::default();
        table.set_block_cache(cache);
        // "Do we hold this id?" is the common question a peer's offer asks.
        table.set_bloom_filter(10.0, false);
        o.set_block_based_table_factory(&table);
        ColumnFamilyDescriptor::new(name, o)
    }
}
