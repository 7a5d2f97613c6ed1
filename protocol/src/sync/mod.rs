//! The sync engine: push gossip of fresh records and three-stage set reconciliation
//! between two peers, sans-IO: it consumes and produces messages, the caller moves them.

pub mod config;
pub mod engine;
pub mod initiator;
mod medium;
pub mod message;
pub mod responder;
pub mod riblt;
pub mod seed;
pub mod shortid;
pub mod snapshot;
pub mod thin;

pub use config::SyncConfig;
pub use engine::{Event, PeerId, PeerStats, SyncEngine};
pub use initiator::Outcome;
pub use message::SyncError;

#[cfg(test)]
mod hostile_tests;
#[cfg(test)]
mod review_tests;
#[cfg(test)]
pub(crate) mod testnet;
#[cfg(test)]
mod tests;
