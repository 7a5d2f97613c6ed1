//! Measures the simulator itself: events per second on the default scenario and the
//! wall time of large many-group scenarios up to 10 000 nodes; see
//! `meshpay_benches::sim_report`.

use anyhow::Result;
use clap::Parser;
use meshpay_benches::sim_report::{self, LARGE_DURATION_S, Row};
use meshpay_sim::scenario::Scenario;
use serde::Serialize;

/// How fast meshpay-sim runs.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Print the rows as JSON on stdout (no table).
    #[arg(long)]
    json: bool,
    /// Runs of the default scenario (seeds 1..=N).
    #[arg(long, default_value_t = 5)]
    repeats: u64,
    /// Node counts of the large scenarios, ascending.
    #[arg(long, value_delimiter = ',', default_values_t = vec![1_000, 2_000, 5_000, 10_000])]
    sizes: Vec<usize>,
    /// Leave out a large size whose predicted wall time exceeds this (seconds), and
    /// extrapolate to it instead.
    #[arg(long, default_value_t = 240.0)]
    budget_s: f64,
    /// Virtual seconds of each large run.
    #[arg(long, default_value_t = LARGE_DURATION_S)]
    large_duration_s: u64,
}

/// A size not run: its predicted wall time.
#[derive(Serialize)]
struct Extrapolated {
    nodes: usize,
    predicted_wall_s: f64,
    /// The exponent k of wall ∝ nodes^k fitted on the two largest sizes run.
    exponent: f64,
}

#[derive(Serialize)]
struct Out {
    default_scenario: Vec<Row>,
    large: Vec<Row>,
    extrapolated: Vec<Extrapolated>,
}

/// The exponent assumed before two sizes are measured: the mints (one account per node)
/// reach every node, so the records merged across the world grow with the square of the
/// node count.
const DEFAULT_EXPONENT: f64 = 2.0;

fn main() -> Result<()> {
    let args = Args::parse();
    let default = Scenario::default_scenario();
    let mut out = Out {
        default_scenario: Vec::new(),
        large: Vec::new(),
        extrapolated: Vec::new(),
    };
    for seed in 1..=args.repeats {
        let row = sim_report::measure(&default, seed);
        if !args.json {
            eprintln!("default seed {seed}: {:.2} s", row.wall_s);
        }
        out.default_scenario.push(row);
    }
    for &n in &args.sizes {
        let exponent = fitted(&out.large);
        let predicted = out
            .large
            .last()
            .map(|r| r.wall_s * (n as f64 / r.nodes as f64).powf(exponent));
        if let Some(p) = predicted.filter(|&p| p > args.budget_s) {
            out.extrapolated.push(Extrapolated {
                nodes: n,
                predicted_wall_s: p,
                exponent,
            });
            continue;
        }
        let row = sim_report::measure(&sim_report::large(n, args.large_duration_s), 1);
        if !args.json {
            eprintln!("large {n}: {:.1} s", row.wall_s);
        }
        out.large.push(row);
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        print!("{}", table(&out));
    }
    Ok(())
}

/// The exponent k of wall ∝ nodes^k through the two largest sizes run.
fn fitted(rows: &[Row]) -> f64 {
    match rows {
        [.., a, b] if b.nodes > a.nodes && a.wall_s > 0.0 => {
            (b.wall_s / a.wall_s).ln() / (b.nodes as f64 / a.nodes as f64).ln()
        }
        _ => DEFAULT_EXPONENT,
    }
}

fn table(out: &Out) -> String {
    let mut s = String::from(
        "scenario        nodes  virtual s    wall s  speed-up     events   events/s  messages   merges  ok\n",
    );
    for r in out.default_scenario.iter().chain(&out.large) {
        s.push_str(&format!(
            "{:<14} {:>6} {:>10} {:>9.2} {:>8.1}x {:>10} {:>10.0} {:>9} {:>8}  {}\n",
            r.scenario,
            r.nodes,
            r.virtual_s,
            r.wall_s,
            r.speedup,
            r.events,
            r.events_per_s,
            r.messages,
            r.merges,
            if r.invariants_ok { "yes" } else { "NO" }
        ));
        for f in &r.failed {
            s.push_str(&format!("  {} failed: {f}\n", r.scenario));
        }
    }
    if let Some(mean) = mean(out.default_scenario.iter().map(|r| r.events_per_s)) {
        s.push_str(&format!(
            "default scenario: {mean:.0} events/s on average over {} seed(s)\n",
            out.default_scenario.len()
        ));
    }
    for e in &out.extrapolated {
        s.push_str(&format!(
            "{} nodes: NOT RUN; extrapolated {:.0} s (wall ∝ nodes^{:.2} through the two largest sizes run)\n",
            e.nodes, e.predicted_wall_s, e.exponent
        ));
    }
    s
}

fn mean(xs: impl Iterator<Item = f64>) -> Option<f64> {
    let v: Vec<f64> = xs.collect();
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}
