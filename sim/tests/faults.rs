//! Crashes and restarts, mobile relays, attackers, and the ship and disaster-zone
//! scenarios: each run must pass the report's invariants and the second part's checks.

use meshpay_sim::checks::{Check, checks};
use meshpay_sim::report::Report;
use meshpay_sim::scenario::{AttackKind, DEFAULT_SCENARIO, LinkKind, Scenario};
use meshpay_sim::world::World;

const SHIP: &str = include_str!("../scenarios/ship.toml");
const DISASTER_ZONE: &str = include_str!("../scenarios/disaster-zone.toml");

/// Runs a scenario; returns the world (for its tally), the report and the checks.
fn run(text: &str, seed: u64) -> (World, Report, Vec<Check>) {
    let scenario = Scenario::parse(text).expect("valid scenario");
    let mut world = World::new(scenario, seed);
    world.run();
    let report = Report::of(&world);
    let checks = checks(&world);
    (world, report, checks)
}

fn passes(report: &Report, checks: &[Check]) {
    assert!(report.invariants_ok, "{}", report.table());
    for c in checks {
        assert!(c.ok, "{}: {}\n{}", c.name, c.detail, report.table());
    }
}

/// The default scenario, small, with extra TOML appended (events must stay in order,
/// so callers give the whole `[[events]]` list).
fn small_lan(events: &str, extra: &str) -> String {
    let base = DEFAULT_SCENARIO
        .replace("nodes = 5", "nodes = 3")
        .replace("duration_s = 600", "duration_s = 240")
        .replace("settle_s = 120", "settle_s = 60")
        .replace("payments_per_minute = 20", "payments_per_minute = 10");
    let cut = base.find("[[events]]").expect("has events");
    let rest = &base[base.find("[workload]").expect("has a workload")..];
    format!("{}{events}\n{rest}\n{extra}", &base[..cut])
}

const SPLIT_HEAL: &str =
    "[[events]]\nat_s = 60\naction = \"split\"\n\n[[events]]\nat_s = 150\naction = \"heal\"\n";

#[test]
fn crash_and_restart_keep_every_acknowledged_record() {
    let events = "[[events]]\nat_s = 60\naction = \"split\"\n\n\
        [[events]]\nat_s = 100\naction = \"crash\"\ngroup = 1\n\n\
        [[events]]\nat_s = 130\naction = \"restart\"\ngroup = 1\n\n\
        [[events]]\nat_s = 150\naction = \"heal\"\n";
    // A slow store, so a crash catches records not yet written.
    let text =
        small_lan(events, "[store]\nwrite_delay_ms = 5000\n").replace("at_s = 120", "at_s = 90");
    for seed in 1..=3 {
        let (world, report, checks) = run(&text, seed);
        passes(&report, &checks);
        let t = &world.tally;
        assert_eq!((t.crashes, t.restarts), (3, 3));
        assert!(t.acknowledged_checked > 0, "restarts read records back");
        assert_eq!(t.acknowledged_lost, 0);
    }
}

#[test]
fn a_crash_loses_what_was_not_yet_durable() {
    // Crash while records are still arriving and the store lags far behind.
    let events = "[[events]]\nat_s = 1\naction = \"crash\"\nnode = 4\n\n\
        [[events]]\nat_s = 20\naction = \"restart\"\nnode = 4\n\n\
        [[events]]\nat_s = 60\naction = \"split\"\n\n\
        [[events]]\nat_s = 150\naction = \"heal\"\n";
    let text =
        small_lan(events, "[store]\nwrite_delay_ms = 60000\n").replace("at_s = 120", "at_s = 90");
    let (world, report, checks) = run(&text, 2);
    passes(&report, &checks);
    assert!(
        world.tally.unwritten_lost > 0,
        "the mints were not yet durable"
    );
}

#[test]
fn a_mobile_relay_carries_records_between_split_groups() {
    // Never healed: only the relay (node 1) joins the two sides, so the double spend is
    // known on both only if it carried it there and back.
    let events = "[[events]]\nat_s = 60\naction = \"split\"\n\n\
        [[events]]\nat_s = 120\naction = \"move\"\nnode = 1\nto_group = 1\n\n\
        [[events]]\nat_s = 160\naction = \"move\"\nnode = 1\nto_group = 0\n";
    let text = small_lan(events, "").replace("at_s = 120\nbalance", "at_s = 90\nbalance");
    let (world, report, checks) = run(&text, 5);
    passes(&report, &checks);
    assert_eq!(world.tally.moves, 2);
    assert_eq!(report.forks.len(), 1);
    assert!(
        report.forks[0]
            .learned_after_heal_ms
            .iter()
            .all(Option::is_some),
        "{}",
        report.table()
    );
}

fn attacker(kind: &str, extra: &str) -> String {
    format!(
        "[[attacker]]\nkind = \"{kind}\"\ngroup = 1\nstart_s = 30\nend_s = 200\nevery_ms = 500\n{extra}\n"
    )
}

#[test]
fn honest_nodes_converge_under_each_attack() {
    for (kind, extra) in [
        ("fork_flood", "forks = 40\nbalance = 100"),
        ("replay", ""),
        ("garbage", ""),
        ("flood", ""),
    ] {
        let text = small_lan(SPLIT_HEAL, &attacker(kind, extra)).replace("at_s = 120", "at_s = 90");
        let (world, report, checks) = run(&text, 3);
        passes(&report, &checks);
        let a = &world.tally.attacks[0];
        assert!(a.messages > 0 && a.bytes > 0, "{kind}: {a:?}");
        match a.kind.expect("kind") {
            AttackKind::ForkFlood => {
                assert_eq!(a.forks_signed, 40);
                // The double spend's fork and the flood's.
                assert_eq!(report.forks.len(), 2, "{}", report.table());
                let most = world.tally.storage.iter().map(|s| s.records).max();
                assert!(most.is_some_and(|m| m >= 40), "every fork is stored");
            }
            AttackKind::Replay => assert!(a.captured > 0),
            AttackKind::Garbage | AttackKind::Flood => {
                assert!(
                    a.peer_errors > 0,
                    "{kind}: honest engines refused it: {a:?}"
                );
            }
        }
    }
}

#[test]
fn ship_passes_for_several_seeds() {
    for seed in 1..=2 {
        let (world, report, checks) = run(SHIP, seed);
        passes(&report, &checks);
        assert_eq!(report.double_spend_accepted.len(), 2);
        assert!(world.tally.storage.iter().all(|s| s.durable_records > 0));
        // The purser settled accounts and revoked the double spender.
        assert!(report.settlements > 0, "{}", report.table());
        assert_eq!(report.revocations, 1);
    }
}

#[test]
fn disaster_zone_passes_for_several_seeds() {
    for seed in 1..=2 {
        let (world, report, checks) = run(DISASTER_ZONE, seed);
        passes(&report, &checks);
        let t = &world.tally;
        assert_eq!((t.crashes, t.restarts, t.moves), (1, 1, 7));
        // The double spend and the flood.
        assert_eq!(report.forks.len(), 2, "{}", report.table());
        assert_eq!(t.attacks[0].forks_signed, 24);
        // The hospital camp's phones talked BLE.
        assert!(report.traffic[&LinkKind::Ble].frames > 0);
    }
}
