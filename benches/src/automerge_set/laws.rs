//! The ledger's CRDT laws (`meshpay_protocol::ledger::laws`, the very functions the
//! protocol runs on its native set) on a ledger over the Automerge-backed set.

use meshpay_protocol::ledger::laws;

use super::AutomergeSet;

fn set() -> AutomergeSet {
    AutomergeSet::new([0xa5; 16])
}

#[test]
fn derived_state_depends_on_the_set_alone() {
    laws::derived_state_depends_on_the_set_alone(set, laws::cases())
        .unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn money_is_conserved_and_forks_are_proven() {
    laws::money_is_conserved_and_forks_are_proven(set, laws::cases())
        .unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn conservation_holds_on_every_prefix() {
    laws::conservation_holds_on_every_prefix(set, laws::cases()).unwrap_or_else(|e| panic!("{e}"));
}
