//! The ledger's laws (`laws`) on the native set, and a check that the random histories
//! they run on exercise what the laws are about.

use super::history;
use super::laws;
use super::*;
use crate::testkit;

#[test]
fn derived_state_depends_on_the_set_alone() {
    laws::derived_state_depends_on_the_set_alone(NativeSet::default, testkit::cases())
        .unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn money_is_conserved_and_forks_are_proven() {
    laws::money_is_conserved_and_forks_are_proven(NativeSet::default, testkit::cases())
        .unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn conservation_holds_on_every_prefix() {
    laws::conservation_holds_on_every_prefix(NativeSet::default, testkit::cases())
        .unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn histories_exercise_what_they_claim_to() {
    // Over a few seeds, the generator produces forks, void claims, checkpoints,
    // revocations and refusals: the laws are not vacuous.
    let mut forks = 0;
    let mut shortfalls = 0;
    let mut governed = 0;
    let mut revoked = 0;
    let mut refused = 0;
    for seed in 0..20 {
        let h = history::generate(seed, 80);
        let mut l = Ledger::new(h.spec.clone()).expect("spec");
        let c = l.merge(h.records.clone(), &mut testkit::rng(seed));
        refused += c.refused.len();
        forks += l.conflicts().iter().filter(|c| !c.issuer).count();
        for a in history::accounts() {
            if let Some(v) = l.account(&a) {
                shortfalls += usize::from(v.shortfall > 0);
                governed += usize::from(v.governing.is_some());
                revoked += usize::from(v.revoked_after.is_some());
            }
        }
    }
    assert!(
        forks > 0 && shortfalls > 0 && governed > 0 && revoked > 0 && refused > 0,
        "forks {forks} shortfalls {shortfalls} governed {governed} revoked {revoked} refused {refused}"
    );
}
