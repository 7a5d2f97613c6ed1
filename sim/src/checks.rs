//! Invariants of the second part of the simulator, checked over a finished world: the
//! store contract across crashes (DESIGN §6), accepted payments kept, every node up at
//! the end, and a fork-flooding attacker's conflict known to every honest node. The
//! report lists them beside its own.

use meshpay_protocol::record::account_of;
use serde::Serialize;

use crate::scenario::AttackKind;
use crate::world::World;

/// One check's verdict.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// Its name.
    pub name: &'static str,
    /// Whether it held.
    pub ok: bool,
    /// What was found.
    pub detail: String,
}

/// The checks over `world`'s final state (call after `World::run`).
pub fn checks(world: &World) -> Vec<Check> {
    let t = &world.tally;
    let mut out = vec![
        Check {
            name: "acknowledged_kept",
            ok: t.acknowledged_lost == 0,
            detail: format!(
                "{} crash(es), {} restart(s): {} acknowledged record(s) checked, {} lost; {} unwritten lost",
                t.crashes,
                t.restarts,
                t.acknowledged_checked,
                t.acknowledged_lost,
                t.unwritten_lost
            ),
        },
        Check {
            name: "accepted_payments_kept",
            ok: t.accepted_lost == 0,
            detail: format!(
                "{} accepted payment(s) missing from their payee's ledger",
                t.accepted_lost
            ),
        },
    ];
    let down: Vec<usize> = world
        .nodes
        .iter()
        .filter(|n| n.crashed)
        .map(|n| n.index)
        .collect();
    out.push(Check {
        name: "all_nodes_up",
        ok: down.is_empty(),
        detail: format!("nodes down at the end: {down:?}"),
    });
    for a in world
        .attackers
        .iter()
        .filter(|a| a.config.kind == AttackKind::ForkFlood)
    {
        let account = account_of(a.key());
        // Every node must know the account forked; the bodies themselves may still be on
        // their way across a partition (relayed last, never dropped), so they are counted.
        let reached = world
            .nodes
            .iter()
            .any(|n| !n.ledger().records_of(&account).is_empty());
        let unaware: Vec<usize> = world
            .nodes
            .iter()
            .filter(|n| !n.ledger().has_conflict(&account))
            .map(|n| n.index)
            .collect();
        let held: Vec<usize> = world
            .nodes
            .iter()
            .map(|n| n.ledger().records_of(&account).len())
            .collect();
        out.push(Check {
            name: "flooded_fork_known_everywhere",
            ok: !reached || unaware.is_empty(),
            detail: format!(
                "{} record(s) signed at one seq; held per node {held:?}; nodes unaware: {unaware:?}",
                a.tally.forks_signed
            ),
        });
    }
    out
}
