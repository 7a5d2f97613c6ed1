//! A run's time series, for the plot: how many distinct state digests the nodes hold
//! (1 = converged) and how many nodes know each fork, against virtual time.
//!
//! Fork knowledge is exact: the world's tally records when each node learned each fork.
//! The digest count is sampled from one world, stopped at each sample time with
//! [`World::run_until`] and then run on: the samples cost nothing beyond the run.

use std::collections::BTreeSet;

use serde::Serialize;

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
        .map(|n| n.digest)
        .collect::<BTreeSet<_>>()
        .len()
}

/// Runs `scenario` under `seed` in full (its report) and samples its digests at
/// [`sample_times`] along the way, calling `on_sample` after each sample.
pub fn record(scenario: &Scenario, seed: u64, on_sample: impl Fn()) -> (Report, Series) {
    let mut world = World::new(scenario.clone(), seed);
    let samples: Vec<Sample> = sample_times(scenario)
        .into_iter()
        .map(|t| {
            world.run_until(t * 1_000);
            on_sample();
            Sample {
                t_ms: t * 1_000,
                distinct_digests: distinct_digests(&world),
            }
        })
        .collect();
    // The samples end at the run's end, so this only finishes a run they stopped short
    // of; run_until never replays what already ran.
    world.run();
    let (report, forks) = (Report::of(&world), forks(&world));
    let series = Series {
        scenario: scenario.name.clone(),
        seed,
        nodes: scenario.node_count(),
        duration_ms: scenario.duration_s * 1_000,
        samples,
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
