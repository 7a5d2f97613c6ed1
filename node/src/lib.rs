//! The meshpay node: a tokio daemon that drives the protocol's node core over real links
//! and a rocksdb store, its local API, and the command line's subcommands.

pub mod api;
pub mod audit;
pub mod cli;
pub mod client;
pub mod config;
pub mod daemon;
pub mod data_dir;
pub mod demo;
pub mod example;
pub mod init;
pub mod keystore;
pub mod link;
pub mod metrics;
pub mod output;
pub mod store;

use std::io::Write;

use anyhow::{Context, Result};

/// Writes text to stdout; a closed pipe is an error, not a panic.
pub fn write_stdout(text: &str) -> Result<()> {
    write_stdout_bytes(text.as_bytes())
}

/// Writes bytes to stdout; a closed pipe is an error, not a panic.
pub fn write_stdout_bytes(bytes: &[u8]) -> Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)
        .and_then(|()| out.flush())
        .context("cannot write to standard output")
}
