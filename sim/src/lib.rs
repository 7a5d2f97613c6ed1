//! meshpay-sim: the deterministic network-partition simulator. It drives the same
//! protocol code as the node (ledger, wallets, policy, sync engine) on many simulated
//! nodes over a virtual clock, with LAN links, LoRa media and scheduled partitions.

pub mod attack;
pub mod checks;
pub mod clock;
pub mod network;
pub mod node;
pub mod parallel;
pub mod plot;
pub mod report;
pub mod scenario;
pub mod seeds;
pub mod series;
pub mod sweep;
pub mod trace;
pub mod world;
