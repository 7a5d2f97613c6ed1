//! `meshpay`: the meshpay node's command line.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use meshpay_node::{audit, example, write_stdout_bytes};

/// meshpay: an offline peer-to-peer payment node.
#[derive(Parser, Debug)]
#[command(name = "meshpay", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Audit a bundle: network, balances, every record's standing, conflicts, digest.
    ///
    /// Exit codes: 0 audited; 1 the file could not be audited; 2 the bundle is for
    /// another network than --expect-chain; 3 audited, but the file is damaged.
    Audit(audit::AuditArgs),
    /// Write the example bundle (examples/split-double-spend.bundle) to FILE or stdout.
    #[command(hide = true)]
    ExampleBundle {
        /// Where to write it; stdout when absent.
        file: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match &cli.command {
        Command::Audit(args) => audit::run(args),
        Command::ExampleBundle { file } => write_example(file.as_deref()),
    };
    match outcome {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            if e.downcast_ref::<audit::ChainMismatch>().is_some() {
                ExitCode::from(audit::EXIT_CHAIN_MISMATCH)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

fn write_example(file: Option<&std::path::Path>) -> Result<u8> {
    let bytes = example::split_double_spend();
    match file {
        Some(path) => std::fs::write(path, &bytes)
            .with_context(|| format!("cannot write {}", path.display()))?,
        None => write_stdout_bytes(&bytes)?,
    }
    Ok(0)
}
