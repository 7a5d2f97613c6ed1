//! Times the payee's decision (read the proof bundle, merge it, `policy::accept`) on a
//! ledger of many records, against the target of a 99th percentile under 1 ms; see
//! `meshpay_benches::decide`.

use anyhow::Result;
use clap::Parser;
use indicatif::ProgressBar;
use meshpay_benches::decide::{self, TARGET_P99_US};
use meshpay_benches::text::thousands;
use meshpay_benches::workload::{Shape, generate};

/// How fast a payee decides on a payment.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Records in the payee's ledger (the workload's default shape, seed 1, with one
    /// payment in a thousand forked rather than ten: at a million records the default
    /// puts every account in a conflict, and a payer in conflict is refused unread).
    #[arg(long, default_value_t = 1_000_000)]
    ledger_records: usize,
    /// Decisions to time.
    #[arg(long, default_value_t = 10_000)]
    decisions: usize,
    /// Print the figures as JSON on stdout (no table).
    #[arg(long)]
    json: bool,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let shape = Shape {
        forks_per_mille: 1,
        ..Shape::for_records(args.ledger_records, 1)
    };
    let bar = |n: usize, what: &str| {
        if args.json {
            ProgressBar::hidden()
        } else {
            eprintln!("{what}");
            ProgressBar::new(n as u64)
        }
    };
    let b = bar(
        args.ledger_records,
        &format!(
            "generating {} records",
            thousands(args.ledger_records as u64)
        ),
    );
    let w = generate(&shape, &b)?;
    b.finish_and_clear();
    let b = bar(
        args.decisions,
        "building the payee's ledger, then timing decisions",
    );
    let f = decide::measure(&w, &shape, args.decisions, &b)?;
    b.finish_and_clear();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&f)?);
        return Ok(());
    }
    let verdict = if f.ratio_to_target < 1.0 {
        "met"
    } else {
        "missed"
    };
    let rows = [
        (
            "payee's ledger",
            format!("{} records", thousands(f.ledger_records as u64)),
        ),
        ("decisions", thousands(f.decisions as u64)),
        (
            "bundle",
            format!(
                "{:.1} records, {:.0} bytes on average",
                f.bundle_records_mean, f.bundle_bytes_mean
            ),
        ),
        ("p50", format!("{:.0} µs", f.p50_us)),
        ("p99", format!("{:.0} µs", f.p99_us)),
        ("max", format!("{:.0} µs", f.max_us)),
        (
            "p99 / target",
            format!(
                "{:.2} of {:.0} µs: {verdict}",
                f.ratio_to_target, TARGET_P99_US
            ),
        ),
    ];
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    for (k, v) in rows {
        println!("{k:<width$}  {v}");
    }
    Ok(())
}
