//! The tools around a run: the convergence plot, many seeds, and determinism across
//! threads (a trace must not depend on which thread, or how many, ran it).

use meshpay_sim::report::run;
use meshpay_sim::scenario::Scenario;

mod common;
use common::small;
use meshpay_sim::world::World;
use meshpay_sim::{plot, series, sweep};

#[test]
fn plot_of_the_default_scenario_is_written() {
    let scenario = Scenario::default_scenario();
    let (report, series) = series::record(&scenario, 1, || {});
    assert_eq!(report.trace_hash, run(scenario.clone(), 1).trace_hash);
    assert_eq!(series.samples.len(), series::sample_times(&scenario).len());
    assert_eq!(
        series.samples.last().map(|s| s.distinct_digests),
        Some(1),
        "converged at the end"
    );
    assert!(
        series.samples.iter().any(|s| s.distinct_digests > 1),
        "the split shows"
    );
    assert_eq!(series.forks.len(), 1);
    assert_eq!(series.forks[0].learned_ms.len(), scenario.node_count());

    let dir = std::env::temp_dir().join(format!("meshpay-sim-plot-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("default.svg");
    plot::write(&series, &path).expect("written");
    let svg = std::fs::read_to_string(&path).expect("read back");
    std::fs::remove_dir_all(&dir).ok();
    assert!(svg.starts_with("<svg"), "{}", &svg[..svg.len().min(200)]);
    assert!(svg.contains("<polyline") || svg.contains("<path"));
    assert!(svg.contains("distinct state digests"));
    assert!(svg.len() > 2_000, "{} bytes", svg.len());

    let err = plot::write(&series, &dir.join("default.png")).unwrap_err();
    assert!(err.to_string().contains("SVG"), "{err}");
}

#[test]
fn a_run_stopped_part_way_goes_on_as_one_run() {
    // Stopping to look must not change what happens: the same events in the same
    // order, so the same trace and the same event count.
    let scenario = small();
    let mut full = World::new(scenario.clone(), 5);
    full.run();
    let mut stepped = World::new(scenario.clone(), 5);
    for t in [0, 95, 150, 152, 200] {
        stepped.run_until(t * 1_000);
        assert!(stepped.now() <= t * 1_000, "t = {t}");
    }
    stepped.run_until(u64::MAX);
    assert_eq!(stepped.trace.hex(), full.trace.hex());
    assert_eq!(stepped.events_processed, full.events_processed);
    assert!(full.events_processed > 0);
}

#[test]
fn five_seeds_summarised_with_reproducers() {
    let scenario = small();
    let done = std::sync::atomic::AtomicU64::new(0);
    let s = sweep::run(&scenario, 5, 2, |_| {
        done.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    });
    assert_eq!(done.into_inner(), 5);
    assert_eq!(s.seeds, 5);
    assert!(s.ok(), "{}", s.summary(|seed| format!("--seed {seed}")));
    assert_eq!(s.passed, 5);
    let seeds: Vec<u64> = s.results.iter().map(|r| r.seed).collect();
    assert_eq!(seeds, vec![1, 2, 3, 4, 5]);
    for r in &s.results {
        assert_eq!(r.trace_hash, run(scenario.clone(), r.seed).trace_hash);
    }
    let json = serde_json::to_value(&s).expect("serialises");
    assert_eq!(json["results"].as_array().map(Vec::len), Some(5));
    assert!(
        s.summary(|seed| format!("meshpay-sim --seed {seed}"))
            .contains("5/5 seeds passed")
    );
}

#[test]
fn a_failing_seed_is_listed_with_its_command() {
    let mut s = sweep::run(&small(), 2, 1, |_| {});
    s.failed = vec![2];
    s.passed = 1;
    assert_eq!(
        s.summary(|seed| format!("meshpay-sim --seed {seed} x.toml")),
        format!(
            "{}: 1/2 seeds passed; failed: seed 2: `meshpay-sim --seed 2 x.toml`",
            s.scenario
        )
    );
}

#[test]
fn same_trace_on_any_thread_and_thread_count() {
    let seed = 9;
    let on_main = run(small(), seed).trace_hash;
    // Two runs of the seed at once on spawned threads, each with its own stack and
    // scheduling, interleaved with each other.
    let spawned: Vec<String> = std::thread::scope(|s| {
        let a = s.spawn(|| run(small(), seed).trace_hash);
        let b = s.spawn(|| run(small(), seed).trace_hash);
        vec![a.join().expect("ran"), b.join().expect("ran")]
    });
    assert_eq!(spawned, vec![on_main.clone(), on_main.clone()]);
    // The sweep on one thread and on three: the same hashes, seed by seed.
    let one = sweep::run(&small(), 3, 1, |_| {});
    let three = sweep::run(&small(), 3, 3, |_| {});
    let hashes = |s: &sweep::Sweep| -> Vec<String> {
        s.results.iter().map(|r| r.trace_hash.clone()).collect()
    };
    assert_eq!(hashes(&one), hashes(&three));
    let third = one
        .results
        .iter()
        .find(|r| r.seed == 3)
        .map(|r| &r.trace_hash);
    assert_eq!(third, Some(&run(small(), 3).trace_hash));
}
