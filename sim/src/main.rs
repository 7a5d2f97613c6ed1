//! `meshpay-sim [SCENARIO.toml] [--seed N] [--json]`: runs a scenario (the built-in
//! split-brain one without a file), prints the report, and exits non-zero when an
//! invariant fails.

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use meshpay_sim::report;
use meshpay_sim::scenario::Scenario;

/// Deterministic network-partition simulator for meshpay.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Scenario file (TOML); the built-in split-brain scenario when absent.
    scenario: Option<PathBuf>,
    /// Seed of every random choice.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let scenario = match &args.scenario {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            Scenario::parse(&text).with_context(|| format!("in {}", path.display()))?
        }
        None => Scenario::default_scenario(),
    };
    let report = report::run(scenario, args.seed);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.table());
    }
    if !report.invariants_ok {
        std::process::exit(1);
    }
    Ok(())
}
