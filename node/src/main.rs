//! `meshpay`: the meshpay node's command line.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use meshpay_node::cli::{keys, query, run};
use meshpay_node::data_dir::DataDir;
use meshpay_node::{audit, demo, example, write_stdout_bytes};

/// meshpay: an offline peer-to-peer payment node.
#[derive(Parser, Debug)]
#[command(name = "meshpay", version, about)]
struct Cli {
    /// The node's data directory (default: $MESHPAY_DATA, else ~/.meshpay).
    #[arg(long, global = true, value_name = "DIR")]
    data: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Three nodes on this machine: payments, a partition, a double spend across it, the
    /// heal, and every node reporting the conflict with its proof.
    Demo(demo::DemoArgs),
    /// Make a data directory: keys, store, and a new network or one joined from its spec.
    Init(keys::InitArgs),
    /// Run the node until SIGINT or SIGTERM.
    Run(run::RunArgs),
    /// Pay from one of the node's wallets; returns once the payment is durable.
    Pay(query::PayArgs),
    /// Create money with the node's issuer key.
    Mint(query::MintArgs),
    /// Balances of the node's wallets or of one account.
    Balance(query::BalanceArgs),
    /// Payments in and out, newest first.
    History(query::HistoryArgs),
    /// Double spends found, each with a proof anyone can check.
    Conflicts(query::JsonArg),
    /// Connected peers; `peers block PEER` and `peers unblock PEER` cut and mend links.
    Peers(query::PeersArgs),
    /// The node at a glance.
    Status(query::JsonArg),
    /// Add or list the keystore's wallets.
    #[command(subcommand)]
    Wallet(keys::WalletCommand),
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
    let data = DataDir::resolve(cli.data.as_deref());
    let outcome = match &cli.command {
        Command::Demo(args) => demo::run(args),
        Command::Init(args) => keys::run_init(&data, args),
        Command::Run(args) => run::run(&data, args),
        Command::Pay(args) => query::pay(&data, args),
        Command::Mint(args) => query::mint(&data, args),
        Command::Balance(args) => query::balance(&data, args),
        Command::History(args) => query::history(&data, args),
        Command::Conflicts(args) => query::conflicts(&data, args),
        Command::Peers(args) => query::peers(&data, args),
        Command::Status(args) => query::status(&data, args),
        Command::Wallet(cmd) => keys::run_wallet(&data, cmd),
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
