//! `meshpay-sim [SCENARIO.toml] [--seed N | --seeds N] [--plot FILE.svg] [--json]`: runs a
//! scenario (the built-in split-brain one without a file), prints the report, and exits
//! non-zero when an invariant fails. `--seeds N` runs seeds 1..=N and prints one line
//! with the failing seeds and the command that reproduces each; `--plot` also writes
//! the convergence plot of the run.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};
use meshpay_sim::scenario::Scenario;
use meshpay_sim::{parallel, plot, report, series, sweep};

/// How often a spinner redraws.
const SPIN_EVERY: Duration = Duration::from_millis(120);

/// Deterministic network-partition simulator for meshpay.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Scenario file (TOML); the built-in split-brain scenario when absent.
    scenario: Option<PathBuf>,
    /// Seed of every random choice.
    #[arg(long, default_value_t = 1, conflicts_with = "seeds")]
    seed: u64,
    /// Run seeds 1..=N and summarise; exits non-zero when any fails.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    seeds: Option<u64>,
    /// Write the convergence plot of the run to this SVG file.
    #[arg(long, value_name = "FILE.svg", conflicts_with = "seeds")]
    plot: Option<PathBuf>,
    /// Threads for --seeds and --plot (default: all cores). Results do not depend on it.
    #[arg(long)]
    threads: Option<usize>,
    /// Print the report as JSON (and no progress).
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
    // Progress goes to stderr only for a person watching, never into JSON or a log.
    let progress = !args.json && std::io::stderr().is_terminal();
    let threads = args.threads.unwrap_or_else(parallel::default_threads);
    if let Some(n) = args.seeds {
        return seeds(&args, &scenario, n, threads, progress);
    }
    let report = match &args.plot {
        Some(path) => {
            plot::check_path(path)?;
            let times = series::sample_times(&scenario).len() as u64;
            let bar = bar(progress, times, "samples");
            let (report, series) = series::record(&scenario, args.seed, threads, || bar.inc(1));
            bar.finish_and_clear();
            plot::write(&series, path)?;
            if !args.json {
                eprintln!("plot written to {}", path.display());
            }
            report
        }
        None => {
            // The world runs to its end in one call, so there is no virtual-time
            // position to show: a spinner with the elapsed time says it is alive.
            let bar = spinner(progress, &scenario.name, args.seed);
            let report = report::run(scenario, args.seed);
            bar.finish_and_clear();
            report
        }
    };
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

fn seeds(
    args: &Args,
    scenario: &Scenario,
    n: u64,
    threads: usize,
    progress: bool,
) -> anyhow::Result<()> {
    let bar = bar(progress, n, "seeds");
    let sweep = sweep::run(scenario, n, threads, |o| {
        bar.inc(1);
        if !o.invariants_ok {
            bar.println(format!("seed {} failed: {:?}", o.seed, o.failed_invariants));
        }
    });
    bar.finish_and_clear();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&sweep)?);
    } else {
        println!(
            "{}",
            sweep.summary(|s| reproduce(s, args.scenario.as_deref()))
        );
    }
    if !sweep.ok() {
        std::process::exit(1);
    }
    Ok(())
}

/// The command that reruns one seed.
fn reproduce(seed: u64, scenario: Option<&Path>) -> String {
    match scenario {
        Some(p) => format!("meshpay-sim --seed {seed} {}", p.display()),
        None => format!("meshpay-sim --seed {seed}"),
    }
}

fn bar(progress: bool, len: u64, what: &str) -> ProgressBar {
    if !progress {
        return ProgressBar::hidden();
    }
    let b = ProgressBar::new(len);
    let style = ProgressStyle::with_template(&format!(
        "{what:>7} [{{elapsed_precise}}] {{wide_bar}} {{pos}}/{{len}} eta {{eta}}"
    ))
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    b.set_style(style);
    b
}

fn spinner(progress: bool, scenario: &str, seed: u64) -> ProgressBar {
    if !progress {
        return ProgressBar::hidden();
    }
    let b = ProgressBar::new_spinner();
    let style = ProgressStyle::with_template("{spinner} [{elapsed_precise}] {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_spinner());
    b.set_style(style);
    b.set_message(format!("simulating {scenario} (seed {seed})"));
    b.enable_steady_tick(SPIN_EVERY);
    b
}
