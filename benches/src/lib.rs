//! meshpay-benches: report binaries that measure merge and sync against their physical
//! limits. `sync_report` measures reconciliation between two nodes, byte for byte;
//! `sim_report` measures the simulator itself.

pub mod rng;
pub mod signing;
pub mod sim_report;
pub mod sync_report;
pub mod workload;
