//! Prints the Automerge-backed set's figures beside the native set's on pool records;
//! see `meshpay_benches::automerge_bench`.

use anyhow::Result;
use clap::Parser;
use indicatif::ProgressBar;
use meshpay_benches::automerge_bench::{self, Options};
use meshpay_benches::sync_report::pool;

/// The Automerge-backed record set, measured beside the native one.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Records merged (the sync uses the first shared + 2 x differ of them).
    #[arg(long, default_value_t = 10_200)]
    records: usize,
    /// Records per Automerge change in the documents built.
    #[arg(long, default_value_t = 1)]
    records_per_change: usize,
    /// Records both documents of the sync hold.
    #[arg(long, default_value_t = 10_000)]
    shared: usize,
    /// Records each document of the sync holds alone.
    #[arg(long, default_value_t = 100)]
    differ: usize,
    /// Seed of keys, engines and the batch verifier.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Memo length of the mints, in bytes (12 gives records of about 200 bytes).
    #[arg(long, default_value_t = 12)]
    memo_bytes: usize,
    /// Print the figures as JSON.
    #[arg(long)]
    json: bool,
}

fn main() -> Result<()> {
    let a = Args::parse();
    let pool = pool::build(a.records, a.memo_bytes, a.seed, &ProgressBar::hidden())?;
    let signed: Vec<_> = pool.records.iter().map(|r| r.to_signed()).collect();
    let o = Options {
        records_per_change: a.records_per_change,
        shared: a.shared,
        differ: a.differ,
        seed: a.seed,
    };
    let f = automerge_bench::measure(&signed, &pool.spec, &o)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&f)?);
    } else {
        print!("{}", automerge_bench::summary(&f));
    }
    Ok(())
}
