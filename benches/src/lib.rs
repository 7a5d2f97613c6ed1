//! meshpay-benches: report binaries that measure merge and sync against their physical
//! limits. `sync_report` measures reconciliation between two nodes, byte for byte.

pub mod sync_report;
