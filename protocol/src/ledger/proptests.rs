//! The ledger's laws under random histories: the derived state is a function of the set
//! alone (any permutation, duplication or batch split gives the same state, equal to a
//! rebuild from scratch), money is conserved, and every fork is reported with a proof
//! that verifies on its own.

use std::collections::HashMap;

use proptest::prelude::*;
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};

use super::history::{self, History};
use super::*;
use crate::testkit;

fn merged(h: &History, batches: &[Vec<wire::SignedRecord>]) -> Ledger {
    let mut l = Ledger::new(h.spec.clone()).expect("spec");
    for (i, b) in batches.iter().enumerate() {
        l.merge(b.clone(), &mut testkit::rng(i as u64));
    }
    l
}

/// Shuffles, duplicates and cuts the records into batches.
fn scramble(
    records: &[wire::SignedRecord],
    seed: u64,
    dups: usize,
    cuts: &[usize],
) -> Vec<Vec<wire::SignedRecord>> {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let mut all = records.to_vec();
    for _ in 0..dups {
        if !records.is_empty() {
            all.push(records[(rng.next_u64() % records.len() as u64) as usize].clone());
        }
    }
    for i in (1..all.len()).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        all.swap(i, j);
    }
    let mut batches = Vec::new();
    let mut it = all.into_iter().peekable();
    let mut k = 0;
    while it.peek().is_some() {
        let n = cuts[k % cuts.len()];
        batches.push(it.by_ref().take(n).collect());
        k += 1;
    }
    batches
}

impl Ledger {
    /// Forgets every derived fact and derives them again with full walks.
    fn recompute_from_scratch(&mut self) {
        for e in self.entries.values_mut() {
            e.status = None;
            e.canonical_claimers = 0;
        }
        let accounts: Vec<AccountId> = self.accounts.keys().copied().collect();
        for a in self.accounts.values_mut() {
            let keep = (
                std::mem::take(&mut a.by_seq),
                std::mem::take(&mut a.checkpoints),
                std::mem::take(&mut a.revokes),
            );
            *a = account::Account::default();
            (a.by_seq, a.checkpoints, a.revokes) = keep;
        }
        let mut ids: Vec<RecordId> = self.entries.keys().copied().collect();
        ids.sort();
        for id in ids {
            if self.spec.is_issuer(&self.entries[&id].record.signer()) {
                self.set_status(id, Status::Canonical);
            }
        }
        for a in &accounts {
            if !self.spec.is_issuer(a) {
                self.dirty.insert(*a);
            }
        }
        self.balance_dirty.extend(accounts);
        self.settle();
        self.changes = Changes::default();
    }

    /// Every place where one signer has several records, found by brute force.
    fn forks_by_brute_force(&self) -> Vec<(AccountId, u64)> {
        let mut n: HashMap<(AccountId, u64), usize> = HashMap::new();
        for e in self.entries.values() {
            *n.entry((e.record.signer(), e.record.seq())).or_default() += 1;
        }
        let mut f: Vec<_> = n
            .into_iter()
            .filter(|(_, c)| *c > 1)
            .map(|(k, _)| k)
            .collect();
        f.sort();
        f
    }
}

/// Everything derived, in a comparable form.
type Snapshot = (
    Vec<AccountView>,
    Vec<(RecordId, Option<Status>)>,
    Vec<Conflict>,
);

fn snapshot(l: &Ledger) -> Snapshot {
    let mut statuses: Vec<_> = l.entries.iter().map(|(id, e)| (*id, e.status)).collect();
    statuses.sort();
    (l.accounts(), statuses, l.conflicts())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(testkit::cases()))]

    #[test]
    fn derived_state_depends_on_the_set_alone(
        seed in any::<u64>(),
        order in any::<u64>(),
        dups in 0usize..12,
        cuts in proptest::collection::vec(1usize..40, 1..5),
    ) {
        let h = history::generate(seed, 70);
        let reference = merged(&h, std::slice::from_ref(&h.records));
        let mut other = merged(&h, &scramble(&h.records, order, dups, &cuts));
        prop_assert_eq!(snapshot(&other), snapshot(&reference));
        prop_assert_eq!(other.state_digest(), reference.state_digest());
        prop_assert_eq!(other.len(), reference.len());

        // Incremental upkeep equals a rebuild from scratch.
        other.recompute_from_scratch();
        prop_assert_eq!(snapshot(&other), snapshot(&reference));
        prop_assert_eq!(other.state_digest(), reference.state_digest());
    }

    #[test]
    fn money_is_conserved_and_forks_are_proven(seed in any::<u64>(), steps in 10usize..90) {
        let h = history::generate(seed, steps);
        let l = merged(&h, std::slice::from_ref(&h.records));
        if let Err(e) = l.check_conservation() {
            prop_assert!(false, "{}", e);
        }
        let reported: Vec<_> = l.conflicts().iter().map(|c| (c.account, c.seq)).collect();
        prop_assert_eq!(&reported, &l.forks_by_brute_force());
        for c in l.conflicts() {
            let proof = l.proof(&c).expect("two records");
            let decoded = ConflictProof::decode(&proof.encode()).expect("round trip");
            prop_assert_eq!(decoded.verify(l.chain_id()), Ok((c.account, c.seq)));
        }
    }

    #[test]
    fn conservation_holds_on_every_prefix(seed in any::<u64>()) {
        // Merging record by record in production order, the invariant holds whenever
        // the set holds every checkpoint's head.
        let h = history::generate(seed, 50);
        let mut l = Ledger::new(h.spec.clone()).expect("spec");
        for r in &h.records {
            l.insert(r.clone());
            let heads_present = l.holds_checkpoint_heads();
            if heads_present {
                if let Err(e) = l.check_conservation() {
                    prop_assert!(false, "{}", e);
                }
            }
        }
    }
}

#[test]
fn histories_exercise_what_they_claim_to() {
    // Over a few seeds, the generator produces forks, void claims, checkpoints,
    // revocations and refusals: the properties above are not vacuous.
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
