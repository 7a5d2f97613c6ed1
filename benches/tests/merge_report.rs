//! The merge report on a tiny batch, in-process: every row measured, every ratio set
//! against the limit it names, and the JSON carries the headline figures.

use meshpay_benches::merge_report::{self, Limit, Options};

#[test]
fn tiny_report_is_consistent() {
    let o = Options {
        records: 400,
        fsync_sample: 5,
        progress: false,
        ..Options::default()
    };
    let report = merge_report::run(&o).expect("runs");
    assert_eq!(report.records, 400);
    assert!(report.workload.forks > 0 && report.workload.signers > 50);
    assert_eq!(report.durable.durable, 400);
    let keys: Vec<&str> = report.rows.iter().map(|r| r.key).collect();
    for k in [
        "raw_verify_1core",
        "raw_verify_all_cores",
        "verified_merge_1core",
        "verified_merge_all_cores",
        "mostly_known_merge",
        "pre_verified_merge",
        "hash_set_union",
        "fsync_per_record",
        "durable_intake",
    ] {
        assert!(keys.contains(&k), "no row {k}");
    }
    for r in &report.rows {
        assert!(r.rate.is_finite() && r.rate > 0.0, "{}: {}", r.key, r.rate);
        let limit = match r.limit {
            Limit::Itself => {
                assert!(r.ratio.is_none(), "{}", r.key);
                continue;
            }
            Limit::OneCore => report.raw_verify_1core,
            Limit::AllCores => report.raw_verify_all_cores,
        };
        let ratio = r.ratio.expect("ratio");
        assert!((ratio - r.rate / limit).abs() < 1e-9, "{}", r.key);
        assert_eq!(r.met.is_some(), r.target.is_some(), "{}", r.key);
    }
    // The headline fields are the rows' own figures, against the limits they name.
    let row = |k: &str| report.rows.iter().find(|r| r.key == k).expect(k);
    for (k, rate) in [
        ("raw_verify_1core", report.raw_verify_1core),
        ("raw_verify_all_cores", report.raw_verify_all_cores),
        ("verified_merge_1core", report.verified_merge_1core),
        ("verified_merge_all_cores", report.verified_merge_all_cores),
        ("pre_verified_merge", report.pre_verified_merge),
    ] {
        assert_eq!(row(k).rate, rate, "{k}");
    }
    assert_eq!(row("verified_merge_1core").limit, Limit::OneCore);
    assert_eq!(row("verified_merge_all_cores").limit, Limit::AllCores);
    assert_eq!(
        row("verified_merge_1core").ratio,
        Some(report.verified_merge_ratio_1core)
    );
    assert_eq!(
        row("verified_merge_all_cores").ratio,
        Some(report.verified_merge_ratio_all_cores)
    );
    assert!(row("mostly_known_merge").note.contains("360 of 400 known"));
    let json = serde_json::to_value(&report).expect("json");
    for k in [
        "verified_merge_ratio_1core",
        "verified_merge_ratio_all_cores",
        "raw_verify_1core",
        "raw_verify_all_cores",
        "verified_merge_1core",
        "verified_merge_all_cores",
    ] {
        assert!(json[k].as_f64().is_some(), "JSON lacks {k}");
    }
    let table = merge_report::render(&report);
    assert!(table.contains("verified merge (merge_parallel)"), "{table}");
}

#[test]
fn the_smallest_batches_run_and_bad_options_are_errors() {
    for records in [1, 2, 9] {
        let o = Options {
            records,
            fsync_sample: 1,
            progress: false,
            ..Options::default()
        };
        let report = merge_report::run(&o).unwrap_or_else(|e| panic!("{records}: {e:#}"));
        assert_eq!(report.records, records);
    }
    let base = Options {
        records: 10,
        progress: false,
        ..Options::default()
    };
    let mut bad = Vec::new();
    let mut o = base.clone();
    o.records = 0;
    bad.push(o);
    let mut o = base.clone();
    o.repeat = 0;
    bad.push(o);
    let mut o = base.clone();
    o.known_share = 1.5;
    bad.push(o);
    let mut o = base.clone();
    o.intake.merge_batch = 0;
    bad.push(o);
    for o in bad {
        assert!(merge_report::run(&o).is_err());
    }
}
