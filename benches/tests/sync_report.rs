//! The quick grid at tiny n, in-process: the rows must be consistent with each other and
//! with what a reconciliation must cost at least.

use meshpay_benches::sync_report::{self, Options};

#[test]
fn tiny_grid_is_consistent() {
    let o = Options {
        ns: vec![2_000],
        ds: vec![0, 10],
        trials: 3,
        trial_point: Some((2_000, 10)),
        airtime_point: Some((2_000, 10)),
        progress: false,
        ..Options::quick()
    };
    let report = sync_report::run(&o).expect("runs");
    // 2 modes x 2 d, 2 trial rows, 1 LoRa row.
    assert_eq!(report.rows.len(), 7);
    assert!(
        (150.0..260.0).contains(&report.mean_record_bytes),
        "{}",
        report.mean_record_bytes
    );
    for r in &report.rows {
        let what = format!("n={} d={} split={} config={}", r.n, r.d, r.split, r.config);
        assert!(r.equal, "{what}: ledgers differ after reconciliation");
        assert!(
            r.bytes >= r.payload_bytes,
            "{what}: fewer bytes than the records"
        );
        assert!(r.bytes_min <= r.bytes && r.bytes <= r.bytes_max, "{what}");
        assert_eq!(r.a_only + r.b_only, r.d, "{what}");
        // Rows over several trials carry rounded means: allow the rounding.
        let slack = u64::from(r.trials > 1);
        assert!(
            r.message_bytes.abs_diff(r.bytes - r.payload_bytes) <= slack,
            "{what}: message bytes are bytes less payload"
        );
        assert!(r.negentropy_bytes > 0, "{what}");
        assert!(r.round_trips >= 1.0, "{what}");
        let kinds: u64 = r.kinds.values().map(|k| k.bytes).sum();
        if r.trials == 1 {
            assert_eq!(kinds, r.bytes, "{what}: the breakdown adds up");
        }
        if r.d == 0 {
            assert_eq!(
                r.round_trips_max, 1,
                "{what}: identical sets take one round trip"
            );
            assert_eq!(r.payload_bytes, 0, "{what}");
            assert_eq!(r.overhead, 0.0, "{what}");
        } else {
            assert!(r.payload_bytes > 0 && r.overhead >= 0.0, "{what}");
            assert!(
                (r.overhead - r.message_bytes as f64 / r.payload_bytes as f64).abs() < 0.01
                    || r.trials > 1,
                "{what}"
            );
        }
        if r.split && r.d > 0 {
            assert_eq!(r.a_only, r.d - r.d / 2, "{what}");
        } else {
            assert_eq!(r.a_only, 0, "{what}");
        }
    }
    let trials: Vec<_> = report.rows.iter().filter(|r| r.trials == 3).collect();
    assert_eq!(trials.len(), 2);
    let lora = report
        .rows
        .iter()
        .find(|r| r.airtime.is_some())
        .expect("a LoRa row");
    assert_eq!(lora.config, "lora");
    let a = lora.airtime.as_ref().expect("airtime");
    assert!(a.seconds > a.payload_seconds && a.seconds > 0.0);
    assert!((a.seconds - a.seconds_a - a.seconds_b).abs() < 1e-9);
    // Targets are judged, not assumed: those at sizes this run skipped say so.
    assert_eq!(report.targets.len(), 4);
    assert!(report.targets[0].pass.is_some());
    assert!(report.targets[1..].iter().all(|t| t.pass.is_none()));
    let table = sync_report::render(&report, true);
    assert!(table.contains("targets:") && table.contains("LongFast"));
    let json = serde_json::to_value(&report.rows).expect("serialises");
    for key in [
        "n",
        "d",
        "split",
        "bytes",
        "payload_bytes",
        "overhead",
        "round_trips",
        "trials",
        "negentropy_bytes",
        "message_bytes",
    ] {
        assert!(json[0].get(key).is_some(), "JSON rows carry {key}");
    }
}
