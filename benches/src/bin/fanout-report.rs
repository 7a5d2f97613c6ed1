//! Bytes on the LAN per new payment on LANs of 3, 10 and 30 real nodes, against the
//! target of 30 times the record's size at 30 nodes; see `meshpay_benches::fanout`.

use std::time::Duration;

use anyhow::Result;
use clap::Parser;
use meshpay_benches::fanout::{self, TARGET_RECORD_MULTIPLE_AT_30};

/// How many bytes a payment costs a LAN.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// LAN sizes, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "3,10,30")]
    nodes: Vec<usize>,
    /// Payments per LAN.
    #[arg(long, default_value_t = 20)]
    payments: usize,
    /// Seconds of idle traffic measured before the payments.
    #[arg(long, default_value_t = 5)]
    idle_s: u64,
    /// Let LAN peers relay what they hear (`lan.relay`), to compare with the default.
    #[arg(long)]
    relay: bool,
    /// Print the figures as JSON on stdout (no table).
    #[arg(long)]
    json: bool,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let mut rows = Vec::new();
    for &n in &args.nodes {
        if !args.json {
            eprintln!("measuring a LAN of {n} nodes ({} payments)", args.payments);
        }
        rows.push(runtime.block_on(fanout::measure(
            n,
            args.payments,
            Duration::from_secs(args.idle_s),
            args.relay,
        ))?);
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    println!(
        "{:>5}  {:>5}  {:>8}  {:>12}  {:>9}  {:>8}  {:>10}  {:>9}  {:>8}  {:>8}  verdict",
        "nodes",
        "relay",
        "record B",
        "B/payment",
        "x record",
        "frames",
        "idle B/s",
        "spread ms",
        "pay p50",
        "pay p99"
    );
    for r in &rows {
        let verdict = if r.nodes >= 30 {
            if r.record_multiple <= TARGET_RECORD_MULTIPLE_AT_30 {
                "meets 30x"
            } else {
                "MISSES 30x"
            }
        } else {
            "-"
        };
        println!(
            "{:>5}  {:>5}  {:>8}  {:>12.0}  {:>9.1}  {:>8.1}  {:>10.0}  {:>9.1}  {:>8.2}  {:>8.2}  {verdict}",
            r.nodes,
            r.relay,
            r.record_bytes,
            r.bytes_per_payment,
            r.record_multiple,
            r.frames_per_payment,
            r.idle_bytes_per_s,
            r.spread_ms_p50,
            r.pay_ms_p50,
            r.pay_ms_p99
        );
    }
    Ok(())
}
