//! Measures how fast a node absorbs a healed partition's records, against signature
//! verification measured in the same run; see `meshpay_benches::merge_report`.

use anyhow::{Context, Result};
use clap::Parser;
use meshpay_benches::merge_report::{self, Options};

/// Merge throughput against the signature-verification limit, one run, one set of records.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Records in the batch.
    #[arg(long, default_value_t = 100_000)]
    records: usize,
    /// Print the report as JSON on stdout (no table).
    #[arg(long)]
    json: bool,
    /// Seed of the workload and of the verifiers' generators.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Share of the batch already known in the mostly-known merge.
    #[arg(long, default_value_t = 0.9)]
    known: f64,
    /// Durable intake: records per merge.
    #[arg(long, default_value_t = 256)]
    merge_batch: usize,
    /// Durable intake: most records per synced write.
    #[arg(long, default_value_t = 8_192)]
    max_group: usize,
    /// Directory for the temporary rocksdb stores (default: the system temp dir).
    #[arg(long)]
    dir: Option<std::path::PathBuf>,
    /// Rounds of the merges and their limits (each figure the fastest of its rounds).
    #[arg(long, default_value_t = 1)]
    repeat: u32,
    /// No progress bars.
    #[arg(long)]
    no_progress: bool,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let mut o = Options {
        records: args.records,
        seed: args.seed,
        known_share: args.known,
        repeat: args.repeat,
        progress: !args.no_progress,
        ..Options::default()
    };
    o.intake.merge_batch = args.merge_batch;
    o.intake.max_group = args.max_group;
    if let Some(dir) = args.dir {
        o.dir = dir;
    }
    let report = merge_report::run(&o).context("merge report")?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", merge_report::render(&report));
    }
    Ok(())
}
