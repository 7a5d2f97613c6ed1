//! Measures meshpay's reconciliation between two nodes, byte for byte, against the
//! records it must move and against negentropy; see `meshpay_benches::sync_report`.

use anyhow::Result;
use clap::Parser;
use meshpay_benches::sync_report::{self, Options};
use meshpay_protocol::sync::SyncConfig;

/// Bytes on the wire of meshpay's set reconciliation between two nodes.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Print the rows as JSON on stdout (no table).
    #[arg(long)]
    json: bool,
    /// A small grid: n in {1 000, 10 000}.
    #[arg(long)]
    quick: bool,
    /// Leave out every configuration with more records than this.
    #[arg(long)]
    max_n: Option<usize>,
    /// Random trials at n = 100 000, d = 100 (default 20; 5 with --quick).
    #[arg(long)]
    trials: Option<u32>,
    /// Seed of keys, picks and engine seeds.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Memo length of the mints, in bytes (12 gives records of about 200 bytes).
    #[arg(long, default_value_t = 12)]
    memo_bytes: usize,
    /// Run the grid with SyncConfig::lora() instead of the default configuration.
    #[arg(long)]
    lora_grid: bool,
    /// Print where the bytes go for every row, not only the focus rows.
    #[arg(long)]
    breakdown: bool,
    /// Also write the JSON rows to this file (with the table on stdout).
    #[arg(long)]
    json_out: Option<std::path::PathBuf>,
    /// No progress bars.
    #[arg(long)]
    no_progress: bool,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let mut o = if args.quick {
        Options::quick()
    } else {
        Options::full()
    };
    if let Some(t) = args.trials {
        o.trials = t;
    }
    if let Some(m) = args.max_n {
        o.cap(m);
    }
    if args.lora_grid {
        o.config = SyncConfig::lora();
        o.config_name = "lora".into();
    }
    o.seed = args.seed;
    o.memo_bytes = args.memo_bytes;
    o.progress = !args.no_progress;
    let report = sync_report::run(&o)?;
    if let Some(path) = &args.json_out {
        std::fs::write(path, serde_json::to_string_pretty(&report.rows)?)?;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report.rows)?);
    } else {
        print!("{}", sync_report::render(&report, args.breakdown));
    }
    Ok(())
}
