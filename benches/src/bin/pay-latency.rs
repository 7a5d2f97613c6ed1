//! Payment latency through the local API over HTTP, from the request to its answer,
//! which comes once the payment is durable and released: one node (rocksdb store, LAN
//! link off), one wallet paying the same payee, p50 and p99.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Parser;
use meshpay_node::api::{Backend, Mint, PayRequest};
use meshpay_node::client::Client;
use meshpay_node::config::Config;
use meshpay_node::daemon::{Daemon, StartOptions};
use meshpay_node::data_dir::DataDir;
use meshpay_node::init::{ChainChoice, InitOptions, init};
use meshpay_node::keystore::KdfParams;
use meshpay_protocol::{AccountId, Limits};
use serde::Serialize;

/// How long a payment takes through the API.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Payments to time.
    #[arg(long, default_value_t = 2_000)]
    payments: usize,
    /// Print the figures as JSON on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct Latency {
    payments: usize,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    per_s: f64,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let root = tempfile::tempdir()?;
    let data = DataDir::new(root.path().join("n"));
    let made = init(
        &data,
        "pw",
        &InitOptions {
            chain: ChainChoice::Create {
                name: "latency".into(),
                limits: Limits {
                    max_single: 10,
                    max_cumulative: u64::MAX / 2,
                    max_count: u64::MAX / 2,
                },
            },
            wallets: vec!["payer".into()],
            kdf: KdfParams::DISPOSABLE,
        },
    )?;
    let payer = AccountId::from_hex(&made.wallets[0].1).context("payer")?;
    let payee = AccountId([7; 32]);
    let mut config = Config::loopback();
    config.lan.enabled = false;
    let daemon = runtime.block_on(Daemon::start(StartOptions {
        data: data.clone(),
        config,
        passphrase: zeroize::Zeroizing::new("pw".into()),
    }))?;
    runtime.block_on(daemon.handle().mint(Mint {
        to: payer,
        amount: 1_000_000_000,
        memo: String::new(),
    }))?;
    let client = Client::new(daemon.api_addr(), daemon.token().clone());
    let request = PayRequest {
        from: None,
        to: payee.to_hex(),
        amount: 1,
        memo: None,
    };
    let mut times = Vec::with_capacity(args.payments);
    let started = Instant::now();
    for _ in 0..args.payments {
        let t = Instant::now();
        client.pay(&request)?;
        times.push(t.elapsed());
    }
    let total = started.elapsed();
    runtime.block_on(daemon.stop())?;
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let at = |q: usize| times[(times.len() * q / 100).min(times.len() - 1)];
    let l = Latency {
        payments: times.len(),
        p50_ms: ms(at(50)),
        p99_ms: ms(at(99)),
        max_ms: ms(*times.last().context("payments")?),
        per_s: times.len() as f64 / total.as_secs_f64(),
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&l)?);
    } else {
        println!(
            "{} payments through the API, each answered once durable: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({:.0} payments/s, one at a time)",
            l.payments, l.p50_ms, l.p99_ms, l.max_ms, l.per_s
        );
    }
    Ok(())
}
