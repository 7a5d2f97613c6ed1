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
use meshpay_sim::report::Report;
use meshpay_sim::scenario::Scenario;
use meshpay_sim::world::World;
use meshpay_sim::{parallel, plot, series, sweep};

/// How often the bar redraws on its own, so the elapsed time moves during a slow step.
const REDRAW_EVERY: Duration = Duration::from_millis(120);
/// Virtual time a single run advances between progress updates, in ms: fine enough to
/// move the bar smoothly, coarse enough that stopping costs nothing.
const PROGRESS_STEP_MS: u64 = 1_000;

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
            let (report, series) = series::record(&scenario, args.seed, || bar.inc(1));
            bar.finish_and_clear();
            plot::write(&series, path)?;
            if !args.json {
                eprintln!("plot written to {}", path.display());
            }
            report
        }
        None => run(scenario, args.seed, progress),
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

/// Runs one seed in steps of virtual time, showing how far it has got.
fn run(scenario: Scenario, seed: u64, progress: bool) -> Report {
    let mut world = World::new(scenario, seed);
    let end = world.duration_ms();
    let bar = if progress {
        let b = ProgressBar::new(end / PROGRESS_STEP_MS);
        let style = ProgressStyle::with_template(
            "{msg} [{elapsed_precise}] {wide_bar} {pos}/{len} virtual s, eta {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar());
        b.set_style(style);
        b.set_message(format!("{} (seed {seed})", world.scenario.name));
        b.enable_steady_tick(REDRAW_EVERY);
        b
    } else {
        ProgressBar::hidden()
    };
    let mut t = 0;
    while t < end {
        t = (t + PROGRESS_STEP_MS).min(end);
        world.run_until(t);
        bar.set_position(t / PROGRESS_STEP_MS);
    }
    // A zero-length scenario still finishes (its end-of-run figures).
    world.run();
    bar.finish_and_clear();
    Report::of(&world)
}
