//! meshpay-benches: report binaries that measure merge and sync against their physical
//! limits. `sync_report` measures reconciliation between two nodes, byte for byte;
//! `sim_report` measures the simulator itself; `automerge_set` is the Automerge-backed
//! record set and `automerge_bench` its figures beside the native set.

pub mod automerge_bench;
pub mod automerge_set;
pub mod sim_report;
pub mod sync_report;
