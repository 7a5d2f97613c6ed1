//! The report as a table for people.

use std::fmt::Write;

use super::{Report, Row, mode};
use crate::text::thousands;

fn overhead(r: &Row) -> String {
    if r.d == 0 {
        "-".into()
    } else if r.trials > 1 {
        format!(
            "{:.3} ({:.3}-{:.3})",
            r.overhead, r.overhead_min, r.overhead_max
        )
    } else {
        format!("{:.3}", r.overhead)
    }
}

fn bytes(r: &Row) -> String {
    if r.trials > 1 {
        format!(
            "{} ({}-{})",
            thousands(r.bytes),
            thousands(r.bytes_min),
            thousands(r.bytes_max)
        )
    } else {
        thousands(r.bytes)
    }
}

fn breakdown(out: &mut String, r: &Row) {
    let _ = writeln!(
        out,
        "\n  where the bytes go: n={} d={} {} ({} config{}), {} B in all, records {} B:",
        thousands(r.n as u64),
        r.d,
        mode(r.d, r.split),
        r.config,
        if r.trials > 1 {
            format!(", mean of {} trials", r.trials)
        } else {
            String::new()
        },
        thousands(r.bytes),
        thousands(r.payload_bytes),
    );
    let _ = writeln!(
        out,
        "    {:<16} {:>5} {:>9} {:>7} {:>9} {:>9}",
        "kind", "msgs", "bytes", "items", "item B", "framing"
    );
    for (k, s) in &r.kinds {
        let _ = writeln!(
            out,
            "    {:<16} {:>5} {:>9} {:>7} {:>9} {:>9}",
            k,
            s.messages,
            thousands(s.bytes),
            s.items,
            thousands(s.item_bytes),
            thousands(s.bytes.saturating_sub(s.item_bytes))
        );
    }
}

/// The table, the targets, the LoRa line and the breakdowns (all rows' when `all`).
pub fn render(report: &Report, all: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "meshpay sync report: {} signed issuer mints in the pool, mean {:.1} B each (memo {} B); engine config {} (messages up to {} B)",
        thousands(report.pool_records as u64),
        report.mean_record_bytes,
        report.memo_bytes,
        report.config,
        thousands(report.max_message_bytes as u64),
    );
    let _ = writeln!(
        out,
        "A initiates; split: A holds ceil(d/2) of the differing records, B the rest; one-sided: B holds all d (A fetches).\n\
         bytes: both directions, records included; payload: the differing records alone (lower bound); msg bytes = bytes - payload;\n\
         overhead = msg bytes / payload; RT: requests of A answered; negentropy: ids only, frame size limit none; neg/msg = negentropy bytes / msg bytes.\n"
    );
    let _ = writeln!(
        out,
        "{:>9} {:>5} {:<9} {:>6} {:>24} {:>9} {:>9} {:>22} {:>5} {:>4} {:>10} {:>7} {:>5} {:>9} {:>9}",
        "n",
        "d",
        "mode",
        "trials",
        "bytes",
        "payload",
        "msg bytes",
        "overhead",
        "RT",
        "sess",
        "negentropy",
        "neg/msg",
        "equal",
        "build ms",
        "sync ms"
    );
    for r in report.rows.iter().filter(|r| r.airtime.is_none()) {
        let ratio = if r.message_bytes > 0 {
            format!("{:.1}x", r.negentropy_bytes as f64 / r.message_bytes as f64)
        } else {
            "-".into()
        };
        let _ = writeln!(
            out,
            "{:>9} {:>5} {:<9} {:>6} {:>24} {:>9} {:>9} {:>22} {:>5} {:>4} {:>10} {:>7} {:>5} {:>9.0} {:>9.1}",
            thousands(r.n as u64),
            r.d,
            mode(r.d, r.split),
            r.trials,
            bytes(r),
            thousands(r.payload_bytes),
            thousands(r.message_bytes),
            overhead(r),
            if r.trials > 1 {
                format!("{:.2}", r.round_trips)
            } else {
                format!("{:.0}", r.round_trips)
            },
            if r.trials > 1 {
                format!("{:.2}", r.sessions)
            } else {
                format!("{:.0}", r.sessions)
            },
            thousands(r.negentropy_bytes),
            ratio,
            if r.equal { "yes" } else { "NO" },
            r.build_ms,
            r.reconcile_ms,
        );
    }

    for r in report.rows.iter().filter(|r| r.airtime.is_some()) {
        let a = r.airtime.as_ref().expect("filtered");
        let _ = writeln!(
            out,
            "\nMeshtastic {}: n={} d={} {} with SyncConfig::lora(): {} B in {:.0} messages, {} round trips -> {} + {} frames ({} B on air with headers)\n  \
             {:.1} s on air (A {:.1} s, B {:.1} s) = {:.1}% of the {:.0} s an hour a node keeps (half of a 10% duty cycle); busiest side {:.1}% of its own;\n  \
             the records alone would take {:.1} s; overhead {:.3}",
            a.preset,
            thousands(r.n as u64),
            r.d,
            mode(r.d, r.split),
            thousands(r.bytes),
            r.messages,
            r.round_trips,
            a.frames_a,
            a.frames_b,
            thousands(a.air_bytes),
            a.seconds,
            a.seconds_a,
            a.seconds_b,
            a.budget_share * 100.0,
            a.budget_s,
            a.busiest_side_share * 100.0,
            a.payload_seconds,
            r.overhead,
        );
    }

    let _ = writeln!(out, "\ntargets:");
    for t in &report.targets {
        let verdict = match t.pass {
            Some(true) => "PASS",
            Some(false) => "MISS",
            None => "n/a ",
        };
        let _ = writeln!(out, "  {verdict}  {}: {}", t.name, t.measured);
    }

    let max_n = report.rows.iter().map(|r| r.n).max().unwrap_or(0);
    for r in &report.rows {
        let focus =
            r.trials > 1 || r.airtime.is_some() || (r.n == max_n && (r.d == 1 || r.d == 1_000));
        if all || focus {
            breakdown(&mut out, r);
        }
    }
    let _ = writeln!(
        out,
        "\nsigning the pool took {:.1} s; the whole run {:.1} s",
        report.pool_seconds, report.total_seconds
    );
    out
}
