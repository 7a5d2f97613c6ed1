//! End-to-end runs: determinism of the trace, the default scenario's invariants, the
//! double spend detected everywhere, and a small LoRa scenario.

use meshpay_sim::report::{Report, run};
use meshpay_sim::scenario::{DEFAULT_SCENARIO, Scenario};

mod common;
use common::small;

fn passes(r: &Report) {
    assert!(r.invariants_ok, "{}", r.table());
}

#[test]
fn same_seed_same_trace() {
    let a = run(small(), 7);
    let b = run(small(), 7);
    assert_eq!(a.trace_hash, b.trace_hash);
    assert_eq!(a.records, b.records);
}

#[test]
fn different_seeds_different_traces() {
    assert_ne!(run(small(), 1).trace_hash, run(small(), 2).trace_hash);
}

#[test]
fn invariants_hold_for_several_seeds() {
    for seed in 1..=3 {
        passes(&run(small(), seed));
    }
}

#[test]
fn double_spend_detected_by_every_node_after_heal() {
    let r = run(small(), 11);
    passes(&r);
    assert_eq!(
        r.double_spend_accepted.len(),
        2,
        "both sides accepted while split"
    );
    assert_eq!(r.forks.len(), 1, "{}", r.table());
    assert!(
        r.forks[0]
            .learned_after_heal_ms
            .iter()
            .all(|t| t.is_some_and(|t| t >= 0)),
        "{}",
        r.table()
    );
    assert!(r.convergence_after_heal_ms.is_some());
}

#[test]
fn lora_group_converges_and_counts_airtime() {
    let text = DEFAULT_SCENARIO
        .replacen("link = \"lan\"", "link = \"lora\"", 1)
        .replace("nodes = 5", "nodes = 3")
        .replace("loss_per_mille = 50", "loss_per_mille = 0")
        // A push lost to a collision waits for LoRa's 15-minute reconciliation.
        .replace("duration_s = 600", "duration_s = 1500")
        .replace("settle_s = 120", "settle_s = 1000");
    let r = run(Scenario::parse(&text).expect("valid"), 3);
    let lora = r
        .traffic
        .get(&meshpay_sim::scenario::LinkKind::Lora)
        .expect("LoRa traffic");
    assert!(lora.airtime_ms > 0.0 && lora.frames > 0);
    passes(&r);
}

/// A tight duty cycle holds each radio to its budget: sends are put off, and the
/// airtime spent stays within every node's share of each hour.
#[test]
fn the_duty_cycle_budget_holds_radios_back() {
    let text = DEFAULT_SCENARIO
        .replacen("link = \"lan\"", "link = \"lora\"", 1)
        .replace("nodes = 5", "nodes = 3")
        .replace(
            "loss_per_mille = 50",
            "loss_per_mille = 0\nduty_cycle_per_mille = 5",
        );
    let scenario = Scenario::parse(&text).expect("valid");
    let hours = scenario.duration_s.div_ceil(3_600) as f64;
    let r = run(scenario, 5);
    let lora = &r.traffic[&meshpay_sim::scenario::LinkKind::Lora];
    assert!(lora.deferred_duty > 0, "{lora:?}");
    // Three radios, 0.5 % of an hour each (18 s), over each hour the run touches.
    assert!(lora.airtime_ms <= 3.0 * 18_000.0 * hours, "{lora:?}");
}
