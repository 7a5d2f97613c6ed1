//! The ledger's CRDT laws as functions over any record set, so every `RecordSet` runs the
//! same checks on the same random histories: the derived state is a function of the set
//! alone (any permutation, duplication or batch split gives the same state and digest,
//! equal to a rebuild from scratch), money is conserved, and every fork is reported with a
//! proof that verifies on its own.

use std::collections::HashMap;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestError, TestRunner};
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};

use super::history::{self, History};
use super::*;
use crate::testkit;

pub use crate::testkit::cases;

/// Steps of the histories the order law runs on.
const ORDER_STEPS: usize = 70;
/// Steps of the histories the prefix law runs on.
const PREFIX_STEPS: usize = 50;

/// A law that did not hold, with the input that broke it (shrunk by proptest).
#[derive(Debug, thiserror::Error)]
#[error("{law}: {failure}")]
pub struct LawBroken {
    /// The law.
    pub law: &'static str,
    /// Proptest's report: the reason and the smallest failing input it found.
    pub failure: String,
}

/// How a history's records are reordered, duplicated and cut into batches.
#[derive(Clone, Debug)]
pub struct Scramble {
    /// Seed of the shuffle and of which records are duplicated.
    pub order: u64,
    /// Records sent twice.
    pub dups: usize,
    /// Batch sizes, used in turn.
    pub cuts: Vec<usize>,
}

fn scrambles() -> impl Strategy<Value = Scramble> {
    (
        any::<u64>(),
        0usize..12,
        proptest::collection::vec(1usize..40, 1..5),
    )
        .prop_map(|(order, dups, cuts)| Scramble { order, dups, cuts })
}

fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config {
        cases,
        // Failures are reported with their input; nothing is written beside the sources
        // of whichever crate runs the laws.
        failure_persistence: None,
        ..Config::default()
    })
}

fn broken<T: std::fmt::Debug>(law: &'static str, e: TestError<T>) -> LawBroken {
    LawBroken {
        law,
        failure: e.to_string(),
    }
}

fn fail(e: impl std::fmt::Display) -> TestCaseError {
    TestCaseError::fail(e.to_string())
}

/// Checks a condition inside a law, failing the case with the values that differ.
macro_rules! ensure_eq {
    ($a:expr, $b:expr, $what:expr) => {{
        let (a, b) = (&$a, &$b);
        if a != b {
            return Err(fail(format!("{}: {:?} != {:?}", $what, a, b)));
        }
    }};
}

/// Law: the derived state depends on the set alone. Over `cases` random histories, any
/// permutation, duplication or batch split of the records merged into a ledger over
/// `new_set()` gives the derived state and `state_digest()` of one in-order merge, and
/// incremental upkeep equals a rebuild from scratch.
pub fn derived_state_depends_on_the_set_alone<S: RecordSet>(
    new_set: impl Fn() -> S,
    cases: u32,
) -> Result<(), LawBroken> {
    runner(cases)
        .run(&(any::<u64>(), scrambles()), |(seed, s)| {
            order_law(seed, &s, &new_set)
        })
        .map_err(|e| broken("derived state depends on the set alone", e))
}

fn order_law<S: RecordSet>(
    seed: u64,
    s: &Scramble,
    new_set: &impl Fn() -> S,
) -> Result<(), TestCaseError> {
    let h = history::generate(seed, ORDER_STEPS);
    let reference = merged(&h, std::slice::from_ref(&h.records), new_set)?;
    let mut other = merged(&h, &scramble(&h.records, s), new_set)?;
    ensure_eq!(snapshot(&other), snapshot(&reference), "derived state");
    ensure_eq!(other.state_digest(), reference.state_digest(), "digest");
    ensure_eq!(other.len(), reference.len(), "records");
    ensure_eq!(other.set().len(), other.len(), "set size");
    ensure_eq!(
        other.set().ids().collect::<Vec<_>>(),
        reference.set().ids().collect::<Vec<_>>(),
        "set ids"
    );

    // Incremental upkeep equals a rebuild from scratch.
    other.recompute_from_scratch();
    ensure_eq!(snapshot(&other), snapshot(&reference), "rebuilt state");
    ensure_eq!(
        other.state_digest(),
        reference.state_digest(),
        "rebuilt digest"
    );
    Ok(())
}

/// Law: money is conserved and forks are proven. Over `cases` random histories of 10 to
/// 90 steps merged into a ledger over `new_set()`, the conservation invariant holds, the
/// conflicts reported are exactly the forks found by brute force, and each conflict's
/// proof survives encoding and verifies on its own.
pub fn money_is_conserved_and_forks_are_proven<S: RecordSet>(
    new_set: impl Fn() -> S,
    cases: u32,
) -> Result<(), LawBroken> {
    runner(cases)
        .run(&(any::<u64>(), 10usize..90), |(seed, steps)| {
            let h = history::generate(seed, steps);
            let l = merged(&h, std::slice::from_ref(&h.records), &new_set)?;
            l.check_conservation().map_err(fail)?;
            let reported: Vec<_> = l.conflicts().iter().map(|c| (c.account, c.seq)).collect();
            ensure_eq!(reported, l.forks_by_brute_force(), "conflicts");
            ensure_eq!(l.conflict_count(), reported.len(), "conflict count");
            ensure_eq!(l.account_count(), l.accounts().len(), "account count");
            for c in l.conflicts() {
                let proof = l
                    .proof(&c)
                    .ok_or_else(|| fail("a conflict without proof"))?;
                let decoded = ConflictProof::decode(&proof.encode()).map_err(fail)?;
                ensure_eq!(
                    decoded.verify(l.chain_id()),
                    Ok((c.account, c.seq)),
                    "proof"
                );
            }
            Ok(())
        })
        .map_err(|e| broken("money is conserved and forks are proven", e))
}

/// Law: conservation holds on every prefix. Over `cases` random histories merged record
/// by record in production order into a ledger over `new_set()`, the invariant holds
/// whenever the set holds every checkpoint's head.
pub fn conservation_holds_on_every_prefix<S: RecordSet>(
    new_set: impl Fn() -> S,
    cases: u32,
) -> Result<(), LawBroken> {
    runner(cases)
        .run(&any::<u64>(), |seed| {
            let h = history::generate(seed, PREFIX_STEPS);
            let mut l = ledger(&h, &new_set)?;
            for r in &h.records {
                l.insert(r.clone());
                if l.holds_checkpoint_heads() {
                    l.check_conservation().map_err(fail)?;
                }
            }
            Ok(())
        })
        .map_err(|e| broken("conservation holds on every prefix", e))
}

/// Runs every law above on `new_set`, `cases` histories each.
pub fn check_all<S: RecordSet>(new_set: impl Fn() -> S, cases: u32) -> Result<(), LawBroken> {
    derived_state_depends_on_the_set_alone(&new_set, cases)?;
    money_is_conserved_and_forks_are_proven(&new_set, cases)?;
    conservation_holds_on_every_prefix(&new_set, cases)
}

fn ledger<S: RecordSet>(h: &History, new_set: &impl Fn() -> S) -> Result<Ledger<S>, TestCaseError> {
    Ledger::with_set(h.spec.clone(), LedgerConfig::default(), new_set()).map_err(fail)
}

fn merged<S: RecordSet>(
    h: &History,
    batches: &[Vec<wire::SignedRecord>],
    new_set: &impl Fn() -> S,
) -> Result<Ledger<S>, TestCaseError> {
    let mut l = ledger(h, new_set)?;
    for (i, b) in batches.iter().enumerate() {
        l.merge(b.clone(), &mut testkit::rng(i as u64));
    }
    Ok(l)
}

/// Shuffles, duplicates and cuts the records into batches.
fn scramble(records: &[wire::SignedRecord], s: &Scramble) -> Vec<Vec<wire::SignedRecord>> {
    let mut rng = ChaCha20Rng::seed_from_u64(s.order);
    let mut all = records.to_vec();
    for _ in 0..s.dups {
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
        let n = s.cuts[k % s.cuts.len()].max(1);
        batches.push(it.by_ref().take(n).collect());
        k += 1;
    }
    batches
}

impl<S: RecordSet> Ledger<S> {
    /// Forgets every derived fact and derives them again with full walks.
    fn recompute_from_scratch(&mut self) {
        for e in self.entries.iter_mut() {
            e.status = None;
            e.canonical_claimers = 0;
        }
        for a in self.accounts.iter_mut() {
            let keep = (
                std::mem::take(&mut a.by_seq),
                std::mem::take(&mut a.checkpoints),
                std::mem::take(&mut a.revokes),
                std::mem::take(&mut a.received),
            );
            *a = account::Account::new(a.key, a.issuer);
            (a.by_seq, a.checkpoints, a.revokes, a.received) = keep;
        }
        let mut ids: Vec<(RecordId, arena::Ix)> = self
            .entries
            .numbers()
            .map(|ix| (self.entries[ix].id, ix))
            .collect();
        ids.sort();
        for (_, ix) in ids {
            if self.accounts[self.entries[ix].signer].issuer {
                self.set_status(ix, Status::Canonical);
            }
        }
        for a in self.accounts.numbers() {
            if !self.accounts[a].issuer {
                self.dirty.insert(a);
            }
            self.balance_dirty.insert(a);
        }
        self.settle();
        self.changes = Changes::default();
    }

    /// Every place where one signer has several records, found by brute force.
    fn forks_by_brute_force(&self) -> Vec<(AccountId, u64)> {
        let mut n: HashMap<(AccountId, u64), usize> = HashMap::new();
        for e in self.entries.iter() {
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

fn snapshot<S: RecordSet>(l: &Ledger<S>) -> Snapshot {
    let mut statuses: Vec<_> = l.entries.iter().map(|e| (e.id, e.status)).collect();
    statuses.sort();
    (l.accounts(), statuses, l.conflicts())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A set that loses every third record it is given: the laws must catch it.
    #[derive(Default)]
    struct LossySet {
        inner: NativeSet,
        seen: usize,
    }

    impl RecordSet for LossySet {
        fn insert(&mut self, record: &Arc<Record>) {
            self.seen += 1;
            if self.seen % 3 != 0 {
                self.inner.insert(record);
            }
        }
        fn len(&self) -> usize {
            self.inner.len()
        }
        fn ids(&self) -> Box<dyn Iterator<Item = RecordId> + '_> {
            self.inner.ids()
        }
    }

    #[test]
    fn a_set_that_loses_records_breaks_the_order_law() {
        let e = derived_state_depends_on_the_set_alone(LossySet::default, 4)
            .expect_err("a lossy set passed");
        assert!(e.to_string().contains("set alone"), "{e}");
    }
}
