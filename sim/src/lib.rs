//! meshpay-sim: the deterministic network-partition simulator. It will drive the same
//! protocol code as the node (ledger, policy, sync engine) on many simulated nodes with a
//! virtual clock; this crate starts empty until the sync engine it needs exists.
