//! `meshpay run`: the daemon in the foreground until SIGINT or SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

use crate::config::{Config, LogFormat};
use crate::daemon::{Daemon, StartOptions};
use crate::data_dir::DataDir;
use crate::keystore;

/// `meshpay run`'s options; each overrides the configuration file.
#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    /// The configuration file (default: meshpay.toml in the data directory, when present).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// A peer to dial and keep dialling, as a multiaddr (/ip4/10.0.0.2/tcp/7433); repeatable.
    #[arg(long = "peer", value_name = "MULTIADDR")]
    pub peers: Vec<String>,
    /// LAN addresses to listen on instead of the configured ones; repeatable.
    #[arg(long = "lan-listen", value_name = "MULTIADDR")]
    pub lan_listen: Vec<String>,
    /// Do not discover peers by mDNS (static peers only).
    #[arg(long)]
    pub no_mdns: bool,
    /// The API's address (loopback only; port 0 picks a free one, written to api.addr).
    #[arg(long, value_name = "ADDR")]
    pub api_listen: Option<SocketAddr>,
    /// Log lines as text or as JSON.
    #[arg(long, value_name = "FORMAT")]
    pub log_format: Option<LogFormatArg>,
}

/// `--log-format`'s values.
#[derive(clap::ValueEnum, Debug, Clone, Copy)]
pub enum LogFormatArg {
    /// For people.
    Text,
    /// One JSON object per line.
    Json,
}

/// The configuration `run` uses: the file (named or in the data directory), then the
/// command line's overrides, validated once.
pub fn effective_config(data: &DataDir, args: &RunArgs) -> Result<Config> {
    let mut config = match &args.config {
        Some(path) => Config::load(path)?,
        None if data.config().exists() => Config::load(&data.config())?,
        None => Config::default(),
    };
    config.lan.peers.extend(args.peers.iter().cloned());
    if !args.lan_listen.is_empty() {
        config.lan.listen = args.lan_listen.clone();
    }
    if args.no_mdns {
        config.lan.mdns = false;
    }
    if let Some(addr) = args.api_listen {
        config.api.listen = addr;
    }
    if let Some(f) = args.log_format {
        config.log.format = match f {
            LogFormatArg::Text => LogFormat::Text,
            LogFormatArg::Json => LogFormat::Json,
        };
    }
    config.validate()?;
    Ok(config)
}

/// Logs to stderr: RUST_LOG when set, else the configured filter.
pub fn init_tracing(config: &Config) {
    use tracing_subscriber::EnvFilter;
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&config.log.filter));
    use std::io::IsTerminal;
    // Colours only for a person at a terminal: a log file or a collector gets plain text.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let _ = match config.log.format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// Runs the node until SIGINT or SIGTERM, then stops it cleanly.
pub fn run(data: &DataDir, args: &RunArgs) -> Result<u8> {
    let config = effective_config(data, args)?;
    init_tracing(&config);
    let passphrase = keystore::passphrase(false)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let mut daemon = Daemon::start(StartOptions {
            data: data.clone(),
            config,
            passphrase,
        })
        .await?;
        tokio::select! {
            signal = wait_for_signal() => signal?,
            // Exit so a supervisor restarts the node; what it acknowledged is durable.
            why = daemon.crashed() => anyhow::bail!("{why}"),
        }
        tracing::info!("stopping");
        daemon.stop().await
    })?;
    Ok(0)
}

async fn wait_for_signal() -> Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("cannot watch SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot watch SIGINT")?;
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    Ok(())
}
