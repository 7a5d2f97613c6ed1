//! A run's time series, for the plot: how many distinct state digests the nodes hold
//! (1 = converged) and how many nodes know each fork, against virtual time.
//!
//! Fork knowledge is exact: the world's tally records when each node learned each fork.
//! The digest count is sampled. The world runs only to its end (there is no public way
//! to stop it part way), so each sample at `t` comes from its own run of the *prefix*
//! scenario ending at `t` ([`prefix`]), which replays the full run's first `t` seconds:
//! events are ordered by (time, sequence) and the only use of the duration during a run
//! is the end of the workload, which [`prefix`] keeps. Samples run in parallel; the cost
//! is about half a full run per sample.

use std::collections::BTreeSet;

use serde::Serialize;

use crate::parallel;
use crate::report::Report;
use crate::scenario::{Action, Scenario};
use crate::world::World;

/// Seconds sampled every second after each scheduled event, where things change fast.
pub const FINE_WINDOW_S: u64 = 10;
/// Coarse samples over the whole run, at most.
pub const COARSE_SAMPLES: u64 = 60;

/// The digests at one instant.
#[derive(Debug, Clone, Serialize)]
pub struct Sample {
    /// Virtual time, ms.
    pub t_ms: u64,
    /// Distinct state digests among all nodes (1: every node holds the same state).
    pub distinct_digests: usize,
}

/// One fork and when each node that learned of it did.
#[derive(Debug, Clone, Serialize)]
pub struct ForkSeries {
    /// The signer, hex.
    pub account: String,
    /// The seq.
    pub seq: u64,
    /// The times (ms) nodes learned of it, ascending: the k-th entry is when k+1 nodes
    /// knew.
    pub learned_ms: Vec<u64>,
}

/// What the plot draws.
#[derive(Debug, Clone, Serialize)]
pub struct Series {
    /// Scenario name.
    pub scenario: String,
    /// The seed.
    pub seed: u64,
    /// Nodes.
    pub nodes: usize,
    /// Run length, ms.
    pub duration_ms: u64,
    /// The digest samples, by time.
    pub samples: Vec<Sample>,
    /// Each fork's spread.
    pub forks: Vec<ForkSeries>,
    /// The partition schedule: (ms, split or heal).
    pub partitions: Vec<(u64, bool)>,
}

/// The scenario whose run is `scenario`'s run cut at `t_s` seconds. The duration ends
/// the run; the workload must still end where the full run's does (`duration_s -
/// settle_s`), so `settle_s` moves with it. Before the end of the workload, the prefix's
/// workload ends at `t_s` instead: payment times are drawn from the RNG either way and a
/// payment is scheduled only when it falls before that end, so up to `t_s` the same
/// payments happen — except one drawn at exactly `t_s * 1000` ms, which the full run
/// makes and the prefix does not (a ~1/3000 chance per sample at 20 payments/min).
pub fn prefix(scenario: &Scenario, t_s: u64) -> Scenario {
    let t_s = t_s.min(scenario.duration_s);
    let workload_end = scenario.duration_s.saturating_sub(scenario.settle_s);
    let mut s = scenario.clone();
    s.duration_s = t_s;
    s.settle_s = t_s.saturating_sub(workload_end);
    s
}

/// The sample times (s): `COARSE_SAMPLES` over the run, and every second for
/// `FINE_WINDOW_S` after each partition event and the double spend.
pub fn sample_times(scenario: &Scenario) -> Vec<u64> {
    let d = scenario.duration_s;
    let step = d.div_ceil(COARSE_SAMPLES).max(1);
    let mut times: BTreeSet<u64> = (0..=d).step_by(step as usize).collect();
    times.insert(d);
    let starts = scenario
        .events
        .iter()
        .map(|e| e.at_s)
        .chain(scenario.double_spend.as_ref().map(|x| x.at_s));
    for at in starts {
        times.extend((at..=at + FINE_WINDOW_S).filter(|&t| t <= d));
    }
    times.into_iter().collect()
}

/// Distinct state digests among `world`'s nodes now.
pub fn distinct_digests(world: &World) -> usize {
    world
        .nodes
        .iter()
        .map(|n| n.ledger.state_digest())
        .collect::<BTreeSet<_>>()
        .len()
}

/// Runs `scenario` under `seed` in full (its report) and samples its digests at
/// [`sample_times`] on `threads` threads, calling `on_sample` after each sample.
pub fn record(
    scenario: &Scenario,
    seed: u64,
    threads: usize,
    on_sample: impl Fn() + Sync,
) -> (Report, Series) {
    let times = sample_times(scenario);
    // The full run goes with the samples (it is the last one) so it overlaps them.
    let mut runs = parallel::map(
        &times,
        threads,
        |&t| {
            let mut world = World::new(prefix(scenario, t), seed);
            world.run();
            let sample = Sample {
                t_ms: t * 1_000,
                distinct_digests: distinct_digests(&world),
            };
            let full = (t == scenario.duration_s).then(|| (Report::of(&world), forks(&world)));
            (sample, full)
        },
        |_| on_sample(),
    );
    let (report, forks) = runs
        .iter_mut()
        .find_map(|(_, full)| full.take())
        .expect("the run's end is a sample time");
    let series = Series {
        scenario: scenario.name.clone(),
        seed,
        nodes: scenario.node_count(),
        duration_ms: scenario.duration_s * 1_000,
        samples: runs.into_iter().map(|(s, _)| s).collect(),
        forks,
        partitions: scenario
            .events
            .iter()
            .map(|e| (e.at_s * 1_000, e.action == Action::Split))
            .collect(),
    };
    (report, series)
}

fn forks(world: &World) -> Vec<ForkSeries> {
    world
        .tally
        .conflict_learned
        .iter()
        .map(|((account, seq), by_node)| {
            let mut learned_ms: Vec<u64> = by_node.values().copied().collect();
            learned_ms.sort_unstable();
            ForkSeries {
                account: account.to_hex(),
                seq: *seq,
                learned_ms,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_keeps_the_end_of_the_workload() {
        let s = Scenario::default_scenario();
        let end = s.duration_s - s.settle_s;
        for t in [0, 100, end, end + 1, s.duration_s] {
            let p = prefix(&s, t);
            assert_eq!(p.duration_s, t);
            assert_eq!(
                p.duration_s.saturating_sub(p.settle_s),
                t.min(end),
                "t = {t}"
            );
        }
    }

    #[test]
    fn samples_cover_the_run_and_its_events() {
        let s = Scenario::default_scenario();
        let times = sample_times(&s);
        assert_eq!(times.first(), Some(&0));
        assert_eq!(times.last(), Some(&s.duration_s));
        for at in [60, 61, 70, 120, 300, 305, 310] {
            assert!(times.contains(&at), "{at}");
        }
    }
}
