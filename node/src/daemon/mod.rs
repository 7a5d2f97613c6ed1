//! The daemon's actor: one task owns the node core and the store (iroh-docs' actor); the
//! API and the links talk to it over a bounded channel. Everything the core asks to
//! persist after a step is written in one synced write (group commit) before the core
//! is told, so nothing is acknowledged before it is durable.

mod actor;
mod boot;
#[cfg(test)]
mod hostile;
pub mod lan;
#[cfg(test)]
mod tests;

pub use actor::{Actor, Handle};
pub use boot::{Daemon, Replay, StartOptions};
