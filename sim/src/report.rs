//! The end of a run: the invariants checked over the final state (convergence, forks
//! known everywhere, conservation, double-spend exposure) and the report with the
//! figures, printable as a table or serialisable as JSON.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde::Serialize;

use crate::network::Traffic;
use crate::scenario::LinkKind;
use crate::world::World;

/// One invariant's verdict.
#[derive(Debug, Clone, Serialize)]
pub struct Invariant {
    /// Its name.
    pub name: &'static str,
    /// Whether it held.
    pub ok: bool,
    /// What was found.
    pub detail: String,
}

/// A fork and when each node learned of it.
#[derive(Debug, Clone, Serialize)]
pub struct ForkReport {
    /// The signer, hex.
    pub account: String,
    /// The seq.
    pub seq: u64,
    /// Per node: ms after the last heal it learned of the fork (negative: before).
    pub learned_after_heal_ms: Vec<Option<i64>>,
}

/// What a run produced.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Scenario name.
    pub scenario: String,
    /// The seed.
    pub seed: u64,
    /// BLAKE3 over delivered messages and merge digests.
    pub trace_hash: String,
    /// Whether every invariant held.
    pub invariants_ok: bool,
    /// Each invariant.
    pub invariants: Vec<Invariant>,
    /// Nodes.
    pub nodes: usize,
    /// Records held per node.
    pub records: Vec<usize>,
    /// Honest payments attempted.
    pub payments_attempted: u64,
    /// Honest payments accepted.
    pub payments_accepted: u64,
    /// Refused by policy, by rule.
    pub payments_refused: BTreeMap<String, u64>,
    /// Not built by the payer's wallet, by reason.
    pub payments_not_built: BTreeMap<String, u64>,
    /// The double spender's accepted amounts.
    pub double_spend_accepted: Vec<u64>,
    /// The double spender's refusals, by rule.
    pub double_spend_refused: BTreeMap<String, u64>,
    /// Checkpoints the issuer signed (settlements).
    pub settlements: u64,
    /// Revocations the issuer signed.
    pub revocations: u64,
    /// Exposure: accepted beyond balance.
    pub exposure: u64,
    /// The bound on exposure: cumulative limit × groups.
    pub exposure_bound: u64,
    /// Forks in the union of all ledgers.
    pub forks: Vec<ForkReport>,
    /// Ms after the last heal until all digests matched.
    pub convergence_after_heal_ms: Option<u64>,
    /// Traffic per link kind.
    pub traffic: BTreeMap<LinkKind, Traffic>,
    /// Messages and merges hashed into the trace.
    pub trace_messages: u64,
    /// Merges hashed into the trace.
    pub trace_merges: u64,
    /// What each node holds at the end.
    pub storage: Vec<crate::world::NodeStorage>,
    /// What each attacker did and caused.
    pub attacks: Vec<crate::attack::AttackTally>,
}

fn check(name: &'static str, ok: bool, detail: String) -> Invariant {
    Invariant { name, ok, detail }
}

impl Report {
    /// Checks the invariants over `world`'s final state and gathers the figures.
    pub fn of(world: &World) -> Report {
        let mut invariants = Vec::new();
        // 1. Nodes that reach each other agree, bit for bit.
        let mut diverged = Vec::new();
        for comp in world.components() {
            let d0 = world.nodes[comp[0]].ledger().state_digest();
            diverged.extend(
                comp.iter()
                    .filter(|&&n| world.nodes[n].ledger().state_digest() != d0)
                    .copied(),
            );
        }
        invariants.push(check(
            "convergence",
            diverged.is_empty(),
            if diverged.is_empty() {
                "reachable nodes share one state digest".into()
            } else {
                format!("nodes {diverged:?} differ from their component")
            },
        ));
        // 2. Every fork anywhere is known everywhere: every fork some ledger reports, and
        // the double spend the simulation itself made, whatever the ledgers say.
        let mut union: BTreeSet<_> = world
            .nodes
            .iter()
            .flat_map(|n| n.ledger().conflicts())
            .map(|c| (c.account, c.seq))
            .collect();
        if let Some((spender, _)) = &world.double_spender {
            let signed = &world.tally.double_spend_signed;
            for (i, seq) in signed.iter().enumerate() {
                if signed[..i].contains(seq) {
                    union.insert((*spender, *seq));
                }
            }
        }
        let mut missing = Vec::new();
        for n in &world.nodes {
            let known: BTreeSet<_> = n
                .ledger()
                .conflicts()
                .into_iter()
                .map(|c| (c.account, c.seq))
                .collect();
            if !union.is_subset(&known) {
                missing.push(n.index);
            }
        }
        invariants.push(check(
            "forks_known_everywhere",
            missing.is_empty(),
            format!(
                "{} fork(s) in the union; nodes missing some: {missing:?}",
                union.len()
            ),
        ));
        // 3. Conservation, during the run and at the end.
        let mut broken = world
            .tally
            .conservation_failure
            .clone()
            .map(|(t, n, e)| format!("at {t} ms on node {n}: {e}"));
        let mut checked = 0;
        for n in &world.nodes {
            if n.ledger().holds_checkpoint_heads() {
                checked += 1;
                if let Err(e) = n.ledger().check_conservation() {
                    broken.get_or_insert_with(|| format!("at the end on node {}: {e}", n.index));
                }
            }
        }
        invariants.push(check(
            "conservation",
            broken.is_none(),
            broken.unwrap_or_else(|| format!("held on {checked} node(s) at every check")),
        ));
        // 4. Double-spend exposure within the offline limits.
        let balance = world
            .scenario
            .double_spend
            .as_ref()
            .map_or(0, |d| d.balance);
        let accepted: u64 = world.tally.double_spend_accepted.iter().sum();
        let exposure = accepted.saturating_sub(balance);
        let bound = world.scenario.limits.max_cumulative * world.scenario.groups.len() as u64;
        invariants.push(check(
            "double_spend_exposure",
            exposure <= bound,
            format!("exposure {exposure} <= bound {bound}"),
        ));

        // The fault checks: acknowledged records kept across crashes, accepted
        // payments kept, every node up at the end, attackers' forks known everywhere.
        for c in crate::checks::checks(world) {
            invariants.push(check(c.name, c.ok, c.detail));
        }

        let heal = world.scenario.last_heal_ms();
        let forks = union
            .iter()
            .map(|key| {
                let learned = world.tally.conflict_learned.get(key);
                ForkReport {
                    account: key.0.to_hex(),
                    seq: key.1,
                    learned_after_heal_ms: (0..world.nodes.len())
                        .map(|n| {
                            learned
                                .and_then(|m| m.get(&n))
                                .map(|&t| t as i64 - heal.unwrap_or(0) as i64)
                        })
                        .collect(),
                }
            })
            .collect();
        Report {
            scenario: world.scenario.name.clone(),
            seed: world.seed,
            trace_hash: world.trace.hex(),
            invariants_ok: invariants.iter().all(|i| i.ok),
            invariants,
            nodes: world.nodes.len(),
            records: world.nodes.iter().map(|n| n.ledger().len()).collect(),
            payments_attempted: world.tally.attempted,
            payments_accepted: world.tally.accepted,
            payments_refused: world.tally.refused.clone(),
            payments_not_built: world.tally.not_built.clone(),
            double_spend_accepted: world.tally.double_spend_accepted.clone(),
            double_spend_refused: world.tally.double_spend_refused.clone(),
            settlements: world.tally.settlements,
            revocations: world.tally.revocations,
            exposure,
            exposure_bound: bound,
            forks,
            convergence_after_heal_ms: world
                .tally
                .converged_at
                .zip(heal)
                .map(|(c, h)| c.saturating_sub(h)),
            traffic: world.network.traffic.clone(),
            trace_messages: world.trace.messages,
            trace_merges: world.trace.merges,
            storage: world.tally.storage.clone(),
            attacks: world.tally.attacks.clone(),
        }
    }

    /// The report as a human-readable table.
    pub fn table(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "scenario        {} (seed {})", self.scenario, self.seed);
        let _ = writeln!(s, "nodes           {}", self.nodes);
        let _ = writeln!(
            s,
            "records         min {} max {}",
            self.records.iter().min().unwrap_or(&0),
            self.records.iter().max().unwrap_or(&0)
        );
        let _ = writeln!(
            s,
            "payments        {} attempted, {} accepted",
            self.payments_attempted, self.payments_accepted
        );
        for (rule, n) in &self.payments_refused {
            let _ = writeln!(s, "  refused       {rule}: {n}");
        }
        for (why, n) in &self.payments_not_built {
            let _ = writeln!(s, "  not built     {why}: {n}");
        }
        let _ = writeln!(
            s,
            "double spend    accepted {:?}, refused {:?}, exposure {} (bound {})",
            self.double_spend_accepted,
            self.double_spend_refused,
            self.exposure,
            self.exposure_bound
        );
        if self.settlements + self.revocations > 0 {
            let _ = writeln!(
                s,
                "issuer          {} settlement(s), {} revocation(s)",
                self.settlements, self.revocations
            );
        }
        for f in &self.forks {
            let times: Vec<String> = f
                .learned_after_heal_ms
                .iter()
                .map(|t| t.map_or("-".into(), |t| format!("{t}")))
                .collect();
            let _ = writeln!(
                s,
                "fork            {}.. seq {}: learned (ms after heal) [{}]",
                &f.account[..16],
                f.seq,
                times.join(", ")
            );
        }
        let _ = writeln!(
            s,
            "convergence     {}",
            self.convergence_after_heal_ms
                .map_or("not reached".into(), |t| format!("{t} ms after the heal"))
        );
        for (kind, t) in &self.traffic {
            let _ = write!(
                s,
                "traffic {:<7} {} frames, {} bytes, {} lost, {} cut",
                format!("{kind:?}"),
                t.frames,
                t.bytes,
                t.lost,
                t.cut,
            );
            if *kind == LinkKind::Lora {
                let _ = write!(
                    s,
                    ", {} collided, airtime {:.1} s; sends put off: {} channel busy, {} duty cycle ({} dropped)",
                    t.collided,
                    t.airtime_ms / 1_000.0,
                    t.deferred_busy,
                    t.deferred_duty,
                    t.dropped_duty,
                );
            }
            let _ = writeln!(s);
        }
        if !self.storage.is_empty() {
            let min_max = |f: &dyn Fn(&crate::world::NodeStorage) -> u64| {
                let v = self.storage.iter().map(f);
                (v.clone().min().unwrap_or(0), v.max().unwrap_or(0))
            };
            let (r0, r1) = min_max(&|n| n.records as u64);
            let (b0, b1) = min_max(&|n| n.bytes);
            let (d0, d1) = min_max(&|n| n.durable_bytes);
            let _ = writeln!(
                s,
                "storage         records {r0}..{r1}, ledger bytes {b0}..{b1}, durable bytes {d0}..{d1} per node"
            );
        }
        for a in &self.attacks {
            let _ = writeln!(
                s,
                "attacker        {:?} in group {}: {} messages, {} bytes, airtime {:.1} ms, {} errors caused, {} forks signed",
                a.kind, a.group, a.messages, a.bytes, a.airtime_ms, a.peer_errors, a.forks_signed
            );
        }
        for i in &self.invariants {
            let _ = writeln!(
                s,
                "invariant       {:<24} {}  {}",
                i.name,
                if i.ok { "PASS" } else { "FAIL" },
                i.detail
            );
        }
        let _ = writeln!(s, "trace hash      {}", self.trace_hash);
        s
    }
}

/// Runs `scenario` under `seed` to its end and reports.
pub fn run(scenario: crate::scenario::Scenario, seed: u64) -> Report {
    let mut world = World::new(scenario, seed);
    world.run();
    Report::of(&world)
}
