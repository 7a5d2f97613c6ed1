//! meshpay-benches: report binaries and benchmarks that measure merge and sync against
//! their physical limits. `merge_report` measures how fast a ledger absorbs a batch,
//! against signature verification on the same records, over the records `workload`
//! generates; `durable` measures intake into rocksdb with group commit; `automerge_set`
//! is the Automerge-backed record set and `automerge_bench` its figures beside the
//! native set; `sync_report` measures reconciliation between two nodes, byte for byte;
//! `sim_report` measures the simulator itself; `decide` times the payee's decision on a
//! payment against a large ledger.

pub mod automerge_bench;
pub mod automerge_set;
pub mod decide;
pub mod durable;
pub mod fanout;
pub mod merge_report;
pub mod rng;
pub mod signing;
pub mod sim_report;
pub mod sync_report;
pub mod text;
pub mod workload;
