//! The simulator report: how fast `meshpay-sim` itself runs. Events per second on the
//! default scenario, and the wall time of large scenarios built in code (many small LAN
//! groups, a short run), so the cost of a 10 000-node run is known before anyone starts
//! one.
//!
//! Events are the world's own count: everything taken off its clock (ticks, frame
//! deliveries, payments, scheduled and attacker events). Delivered messages and merges,
//! which the trace hash counts, are reported beside it.

use std::time::Instant;

use meshpay_sim::report::Report;
use meshpay_sim::scenario::{Action, Group, LinkKind, Scenario};
use meshpay_sim::world::World;
use serde::Serialize;

/// Nodes per group in the large scenarios: a small LAN, like a shop or a household.
pub const GROUP_SIZE: usize = 10;
/// Wallets in a large scenario, whatever its size.
pub const LARGE_ACCOUNTS: usize = 100;
/// Virtual seconds a large scenario runs: long enough for a split, a heal and sync.
pub const LARGE_DURATION_S: u64 = 10;

/// One measured run.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// Scenario name.
    pub scenario: String,
    /// Nodes.
    pub nodes: usize,
    /// Virtual seconds simulated.
    pub virtual_s: u64,
    /// Wall time of the run (world construction included), seconds.
    pub wall_s: f64,
    /// Virtual seconds per wall second.
    pub speedup: f64,
    /// Events the world processed.
    pub events: u64,
    /// `events / wall_s`.
    pub events_per_s: f64,
    /// Messages delivered whole to an engine (exact: the trace counts them).
    pub messages: u64,
    /// Merges that added records (exact: the trace counts them).
    pub merges: u64,
    /// Whether every invariant held.
    pub invariants_ok: bool,
    /// The invariants that failed, with what was found.
    pub failed: Vec<String>,
}

/// Runs `scenario` under `seed` once and measures it.
pub fn measure(scenario: &Scenario, seed: u64) -> Row {
    let start = Instant::now();
    let mut world = World::new(scenario.clone(), seed);
    world.run();
    let r = Report::of(&world);
    let wall_s = start.elapsed().as_secs_f64();
    let events = world.events_processed;
    Row {
        scenario: scenario.name.clone(),
        nodes: r.nodes,
        virtual_s: scenario.duration_s,
        wall_s,
        speedup: scenario.duration_s as f64 / wall_s,
        events,
        events_per_s: events as f64 / wall_s,
        messages: r.trace_messages,
        merges: r.trace_merges,
        invariants_ok: r.invariants_ok,
        failed: r
            .invariants
            .iter()
            .filter(|i| !i.ok)
            .map(|i| format!("{}: {}", i.name, i.detail))
            .collect(),
    }
}

/// A large scenario of `nodes` nodes in LAN groups of [`GROUP_SIZE`] (the last group
/// takes the remainder), split at a fifth of the run and healed at half, with one
/// hundred wallets in all and a payment a second. Built in code, past the file format's node
/// bound, which exists to keep hand-written scenarios small. It starts from the default
/// scenario and changes what differs, so fields added to scenarios keep their defaults.
pub fn large(nodes: usize, duration_s: u64) -> Scenario {
    let mut s = Scenario::default_scenario();
    let mut groups: Vec<Group> = (0..nodes / GROUP_SIZE)
        .map(|_| Group {
            nodes: GROUP_SIZE,
            link: LinkKind::Lan,
        })
        .collect();
    if !nodes.is_multiple_of(GROUP_SIZE) {
        groups.push(Group {
            nodes: nodes % GROUP_SIZE,
            link: LinkKind::Lan,
        });
    }
    s.name = format!("large-{nodes}");
    s.duration_s = duration_s;
    s.tick_ms = 100;
    s.settle_s = duration_s / 2;
    s.groups = groups;
    // The default's events are one split then one heal: keep those, retimed.
    s.events
        .retain(|e| matches!(e.action, Action::Split | Action::Heal));
    for e in &mut s.events {
        e.at_s = if e.action == Action::Split {
            duration_s / 5
        } else {
            duration_s / 2
        };
    }
    s.workload.accounts_per_node = 1;
    // A fixed number of wallets, on gateways: every record reaches every node, so with a
    // wallet per node the signatures checked would grow with the square of the nodes and
    // the run would measure signature checks, not the simulator.
    s.workload.account_node_every = (nodes / LARGE_ACCOUNTS).max(1).next_multiple_of(GROUP_SIZE);
    s.workload.payments_per_minute = 60;
    s.workload.start_s = 1;
    s.double_spend = None;
    s.lan.loss_per_mille = 0;
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The benchmark's scenario is a real run: after its short split every node agrees
    /// and every invariant holds.
    #[test]
    fn a_large_scenario_converges_after_its_heal() {
        let row = measure(&large(120, LARGE_DURATION_S), 1);
        assert!(row.invariants_ok, "{:?}", row.failed);
        assert_eq!(row.nodes, 120);
    }
}
