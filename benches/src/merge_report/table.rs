//! The report as a table for people.

use std::fmt::Write;

use super::{Limit, Report, Row, Target};

use crate::text::thousands;

/// A rate, `1234567.8` as `1 234 568`.
fn rate(x: f64) -> String {
    thousands(x.max(0.0).round() as u64)
}

fn limit(r: &Row) -> &'static str {
    match r.limit {
        Limit::Itself => "-",
        Limit::OneCore => "verify, 1 core",
        Limit::AllCores => "verify, all cores",
    }
}

fn target(r: &Row) -> String {
    let t = match r.target {
        None => return String::new(),
        Some(Target::Ratio(x)) => format!(">= {x}"),
        Some(Target::Rate(x)) => format!(">= {}/s", rate(x)),
    };
    match r.met {
        Some(true) => format!("{t}  met"),
        Some(false) => format!("{t}  MISSED"),
        None => t,
    }
}

/// The report as an aligned table with a header naming the workload and the machine.
pub fn render(report: &Report) -> String {
    let w = &report.workload;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "meshpay merge report: {} records from {} signers ({} mints, {} transfers with {} claims, \
         {} double spends), mean {:.0} B; seed {}; {} threads",
        thousands(report.records as u64),
        thousands(w.signers as u64),
        thousands(w.mints as u64),
        thousands(w.transfers as u64),
        thousands(w.claims as u64),
        w.forks,
        w.mean_bytes,
        report.seed,
        report.threads,
    );
    let _ = writeln!(
        out,
        "every ratio is a rate over a limit measured in this run on these records\n"
    );
    let header = ["measure", "cores", "records/s", "limit", "ratio", "target"];
    let cells: Vec<[String; 6]> = report
        .rows
        .iter()
        .map(|r| {
            [
                r.what.clone(),
                r.cores.clone(),
                rate(r.rate),
                limit(r).to_owned(),
                r.ratio.map_or("-".into(), |x| format!("{x:.3}")),
                target(r),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &cells {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |out: &mut String, row: &[String]| {
        for (i, (c, w)) in row.iter().zip(widths).enumerate() {
            let pad = w - c.chars().count();
            // Text left, numbers right.
            if matches!(i, 1 | 2 | 4) {
                let _ = write!(out, "{}{c}  ", " ".repeat(pad));
            } else {
                let _ = write!(out, "{c}{}  ", " ".repeat(pad));
            }
        }
        let trimmed = out.trim_end().len();
        out.truncate(trimmed);
        out.push('\n');
    };
    line(&mut out, &header.map(String::from));
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    line(&mut out, &rule);
    for row in &cells {
        line(&mut out, row);
    }
    let notes: Vec<&Row> = report.rows.iter().filter(|r| !r.note.is_empty()).collect();
    if !notes.is_empty() {
        out.push('\n');
        for r in notes {
            let _ = writeln!(out, "  {} ({}): {}", r.what, r.cores, r.note);
        }
    }
    if let Some(a) = &report.automerge {
        let s = &a.sync;
        let _ = writeln!(
            out,
            "\nreconciling {} shared records and {} differing on each side ({} B of records):",
            thousands(s.shared as u64),
            s.differ_each,
            thousands(s.payload_bytes)
        );
        for (who, bytes, ratio, round_trips) in [
            (
                "Automerge sync, first meeting",
                s.fresh.bytes,
                s.fresh.ratio,
                s.fresh.round_trips,
            ),
            (
                "Automerge sync, states kept",
                s.known.bytes,
                s.known.ratio,
                s.known.round_trips,
            ),
            (
                "meshpay reconciliation",
                s.meshpay_bytes,
                s.meshpay_ratio,
                s.meshpay_round_trips,
            ),
        ] {
            let _ = writeln!(
                out,
                "  {who:<30} {:>9} B  {ratio:.2} x the records  {round_trips} round trips",
                thousands(bytes),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_round_to_whole_records() {
        assert_eq!(rate(0.4), "0");
        assert_eq!(rate(-3.0), "0");
        assert_eq!(rate(1_234_567.8), "1 234 568");
    }
}
