//! Measures a node's restart on its own store: reopen, then replay every stored record
//! into a fresh ledger as the node does (reading and parsing beside
//! `Ledger::merge_verified`), against the target of 3 s for 1 M records; then the two
//! parts apart. See
//! `meshpay_benches::durable::restart`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Parser;
use indicatif::ProgressBar;
use meshpay_benches::durable::{self, RESTART_TARGET_S_PER_MILLION};
use meshpay_benches::text::thousands;
use meshpay_benches::workload::{Shape, generate};

/// How fast a node comes back from its store.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Records stored before the restart (the workload's default shape, seed 1).
    #[arg(long, default_value_t = 100_000)]
    restart_records: usize,
    /// Records per synced write while the store is filled.
    #[arg(long, default_value_t = 4_096)]
    group: usize,
    /// Directory for the temporary store (default: the system temp dir).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Print the figures as JSON on stdout (no table).
    #[arg(long)]
    json: bool,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let bar = if args.json {
        ProgressBar::hidden()
    } else {
        eprintln!(
            "generating {} records",
            thousands(args.restart_records as u64)
        );
        ProgressBar::new(args.restart_records as u64)
    };
    let w = generate(&Shape::for_records(args.restart_records, 1), &bar)?;
    bar.finish_and_clear();
    let dir = args.dir.unwrap_or_else(std::env::temp_dir);
    let f = durable::restart(&w.spec, &w.records, args.group, &dir)
        .context("the restart measurement failed")?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&f)?);
        return Ok(());
    }
    let rows = [
        ("records stored", thousands(f.records as u64)),
        ("records back in the ledger", thousands(f.in_ledger as u64)),
        (
            "store on disk",
            format!("{:.1} MB", f.store_bytes as f64 / 1e6),
        ),
        (
            "fill (not timed in the restart)",
            format!("{:.3} s", f.fill_seconds),
        ),
        ("reopen", format!("{:.3} s", f.open_seconds)),
        (
            "replay (read and parse beside the merge)",
            format!("{:.3} s", f.replay_seconds),
        ),
        ("restart", format!("{:.3} s", f.restart_seconds)),
        (
            "target",
            format!(
                "{:.3} s ({RESTART_TARGET_S_PER_MILLION} s per million)",
                f.target_seconds
            ),
        ),
        ("restart / target", format!("{:.2}", f.ratio_to_target)),
        ("records per second", thousands(f.rate as u64)),
        (
            "  part: load alone (read, parse, check)",
            format!("{:.3} s", f.load_seconds),
        ),
        (
            "  part: merge_verified alone",
            format!("{:.3} s", f.merge_seconds),
        ),
    ];
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    let mut out = String::new();
    for (k, v) in rows {
        out.push_str(&format!("{k:<width$}  {v}\n"));
    }
    print!("{out}");
    Ok(())
}
