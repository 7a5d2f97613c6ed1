//! Many seeds of one scenario: each seed's verdict and trace hash, and the command that
//! reproduces each failure. Seeds run in parallel; each run is independent and its
//! trace a pure function of (scenario, seed), so the thread count never shows in the
//! results (tested in `tests/tools.rs`).

use serde::Serialize;

use crate::parallel;
use crate::report;
use crate::scenario::Scenario;

/// One seed's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct SeedOutcome {
    /// The seed.
    pub seed: u64,
    /// The run's trace hash.
    pub trace_hash: String,
    /// Whether every invariant held.
    pub invariants_ok: bool,
    /// The invariants that failed, by name.
    pub failed_invariants: Vec<&'static str>,
}

/// The outcome of seeds `1..=seeds`.
#[derive(Debug, Clone, Serialize)]
pub struct Sweep {
    /// Scenario name.
    pub scenario: String,
    /// How many seeds ran (1..=seeds).
    pub seeds: u64,
    /// How many passed every invariant.
    pub passed: u64,
    /// The failing seeds, ascending.
    pub failed: Vec<u64>,
    /// Every seed's outcome, by seed.
    pub results: Vec<SeedOutcome>,
}

impl Sweep {
    /// Whether every seed passed.
    pub fn ok(&self) -> bool {
        self.failed.is_empty()
    }

    /// One line: how many passed, and each failing seed with `reproduce(seed)`, the
    /// command that reruns it alone.
    pub fn summary(&self, reproduce: impl Fn(u64) -> String) -> String {
        let mut s = format!(
            "{}: {}/{} seeds passed",
            self.scenario, self.passed, self.seeds
        );
        if !self.failed.is_empty() {
            let cmds: Vec<String> = self
                .failed
                .iter()
                .map(|&seed| format!("seed {seed}: `{}`", reproduce(seed)))
                .collect();
            s.push_str(&format!("; failed: {}", cmds.join(", ")));
        }
        s
    }
}

/// Runs `scenario` under seeds `1..=seeds` on `threads` threads, calling `on_done` after
/// each seed (from whichever thread ran it).
pub fn run(
    scenario: &Scenario,
    seeds: u64,
    threads: usize,
    on_done: impl Fn(&SeedOutcome) + Sync,
) -> Sweep {
    let all: Vec<u64> = (1..=seeds).collect();
    let results = parallel::map(
        &all,
        threads,
        |&seed| {
            let r = report::run(scenario.clone(), seed);
            SeedOutcome {
                seed,
                trace_hash: r.trace_hash,
                invariants_ok: r.invariants_ok,
                failed_invariants: r
                    .invariants
                    .iter()
                    .filter(|i| !i.ok)
                    .map(|i| i.name)
                    .collect(),
            }
        },
        on_done,
    );
    let failed: Vec<u64> = results
        .iter()
        .filter(|r| !r.invariants_ok)
        .map(|r| r.seed)
        .collect();
    Sweep {
        scenario: scenario.name.clone(),
        seeds,
        passed: seeds - failed.len() as u64,
        failed,
        results,
    }
}
