//! Incremental upkeep of the derived state at the end of each operation. A record that
//! extends its account's chain (or joins a known fork, or builds past one) is settled in
//! O(claims); anything else re-walks only the accounts it touches. Balances follow from
//! status changes by deltas, and an account's stated balance and shortfall are recounted
//! over its window since the governing checkpoint only when its chain or the status of
//! something it claimed changed.

use super::account::Frontier;
use super::arena::{Acct, Entry, Ix};
use super::{Ledger, Parent, RecordSet, Status, VoidReason};

/// What a record adds to others' totals: incoming for its recipient while canonical and
/// unclaimed, debt for its signer while void and claimed.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
struct Contribution {
    incoming: Option<(Acct, i128)>,
    debt: Option<(Acct, i128)>,
}

impl<S: RecordSet> Ledger<S> {
    /// Settles what the operation changed: the records that entered, then the accounts
    /// to re-walk and the balances to recount.
    pub(super) fn settle(&mut self) {
        self.settle_entered();
        for a in self.dirty.take_by_key(&self.accounts) {
            self.rederive(a);
        }
        for a in self.balance_dirty.take_by_key(&self.accounts) {
            self.recount(a);
        }
    }

    /// Settles the records that entered since the last call by the fast path; accounts
    /// that need a re-walk or a recount wait for the end of the operation, so a batch
    /// re-walks an account once however many of its records call for it.
    pub(super) fn settle_entered(&mut self) {
        let pending = std::mem::take(&mut self.pending);
        for id in pending {
            self.settle_new(id);
        }
    }

    /// Settles a record that just entered, by the fast path where it applies.
    fn settle_new(&mut self, ix: Ix) {
        let e = &self.entries[ix];
        let (signer, seq, parent) = (e.signer, e.seq, e.parent);
        let acct = &self.accounts[signer];
        if acct.issuer {
            self.set_status(ix, Status::Canonical);
            return;
        }
        if self.dirty.contains(signer) || self.heads.contains_key(&e.id) {
            self.dirty.insert(signer);
            return;
        }
        let parent = parent.expect("transfers have a parent");
        let f = acct.frontier;
        let extends = seq == f.seq && parent == f.parent;
        let status = if extends && !f.forked {
            Status::Canonical
        } else if extends {
            Status::Void(VoidReason::Fork)
        } else if seq >= f.seq {
            Status::Void(VoidReason::AfterVoid)
        } else {
            // A second record at a settled or canonical seq: re-walk the account.
            self.dirty.insert(signer);
            return;
        };
        let revoked = acct.revoke_bound.is_some_and(|b| seq > b);
        let status = if revoked {
            Status::Void(VoidReason::Revoked)
        } else {
            status
        };
        if extends && !f.forked {
            // seq ≤ `MAX_SEQ` (intake), so the next seq fits.
            let id = self.entries[ix].id;
            let acct = &mut self.accounts[signer];
            acct.chain.insert(seq, id);
            acct.frontier = Frontier {
                seq: seq + 1,
                parent: Parent::Record(id),
                forked: false,
            };
        }
        self.set_status(ix, status);
        if status == Status::Canonical && !self.balance_dirty.contains(signer) {
            let (stated, shortfall) = self.effect(ix);
            let t = &mut self.accounts[signer].totals;
            t.stated += stated;
            t.shortfall += shortfall;
        }
    }

    /// Re-walks one account from scratch and applies the status changes.
    fn rederive(&mut self, n: Acct) {
        let a = self.accounts[n].key;
        let walk = self.accounts[n].walk(a, &self.spec, &self.entries);
        for (ix, s) in walk.statuses {
            self.set_status(ix, s);
        }
        let acct = &mut self.accounts[n];
        acct.chain = walk.chain;
        acct.frontier = walk.frontier;
        acct.governing = walk.governing;
        acct.revoke_bound = walk.revoke_bound;
        self.balance_dirty.insert(n);
    }

    /// Recounts stated balance and shortfall over the canonical records after the
    /// governing checkpoint.
    fn recount(&mut self, n: Acct) {
        let acct = &self.accounts[n];
        // base_seq is a checkpoint's `at_seq`, at most `MAX_SEQ` (intake).
        let (base_seq, base) = match acct.governing {
            Some(g) => {
                let c = self.entries[&g]
                    .record
                    .body()
                    .checkpoint()
                    .expect("checkpoint")
                    .clone();
                (c.at_seq, i128::from(c.balance))
            }
            None => (0, 0),
        };
        let mut stated = base;
        let mut shortfall = 0;
        for (_, id) in acct.chain.range(base_seq + 1..) {
            let Some(ix) = self.entries.ix(id) else {
                continue;
            };
            if self.entries[ix].status == Some(Status::Canonical) {
                let (s, f) = self.effect(ix);
                stated += s;
                shortfall += f;
            }
        }
        let t = &mut self.accounts[n].totals;
        t.stated = stated;
        t.shortfall = shortfall;
    }

    /// A canonical transfer's effect on its signer: (stated delta, shortfall delta).
    /// A claim counts as shortfall when the claimed record is void, or when a lower
    /// canonical record of the signer claimed it already (across a checkpoint).
    pub(super) fn effect(&self, ix: Ix) -> (i128, i128) {
        let e = &self.entries[ix];
        if !e.transfer {
            return (0, 0);
        }
        let seq = e.seq;
        let mut stated = -i128::from(e.payment.map_or(0, |(_, a)| a));
        let mut shortfall = 0;
        for &c in &e.claims {
            let x = &self.entries[c];
            let amount = i128::from(x.payment.map_or(0, |(_, a)| a));
            stated += amount;
            let void = matches!(x.status, Some(Status::Void(_)));
            let claimed_before = !void
                && x.claimers.iter().any(|&y| {
                    y != ix && {
                        let ye = &self.entries[y];
                        ye.status == Some(Status::Canonical) && ye.seq < seq
                    }
                });
            if void || claimed_before {
                shortfall += amount;
            }
        }
        (stated, shortfall)
    }

    /// Sets a record's status and carries the consequences to others' totals.
    pub(super) fn set_status(&mut self, ix: Ix, new: Status) {
        let e = &mut self.entries[ix];
        let old = e.status;
        if old == Some(new) {
            return;
        }
        let before = contribution(e);
        e.status = Some(new);
        let after = contribution(e);
        let id = e.id;
        self.apply_change(before, after);

        let was_canonical = old == Some(Status::Canonical);
        let is_canonical = new == Status::Canonical;
        if is_canonical {
            self.changes.canonical.push(id);
        } else if was_canonical {
            self.changes.voided.push(id);
        }
        if was_canonical != is_canonical {
            for k in 0..self.entries[ix].claims.len() {
                let c = self.entries[ix].claims[k];
                let x = &mut self.entries[c];
                let before = contribution(x);
                if is_canonical {
                    x.canonical_claimers += 1;
                } else {
                    x.canonical_claimers -= 1;
                }
                let after = contribution(x);
                self.apply_change(before, after);
            }
        }
        let was_void = matches!(old, Some(Status::Void(_)));
        let is_void = matches!(new, Status::Void(_));
        if was_void != is_void {
            // Whoever claimed this record gains or loses a shortfall.
            for &y in &self.entries[ix].claimers {
                let ye = &self.entries[y];
                if ye.status == Some(Status::Canonical) {
                    self.balance_dirty.insert(ye.signer);
                }
            }
        }
    }

    /// Moves others' totals from what a record contributed to what it contributes now.
    fn apply_change(&mut self, before: Contribution, after: Contribution) {
        if before != after {
            self.apply(before, -1);
            self.apply(after, 1);
        }
    }

    fn apply(&mut self, c: Contribution, sign: i128) {
        if let Some((to, amount)) = c.incoming {
            self.accounts[to].totals.incoming += sign * amount;
        }
        if let Some((who, amount)) = c.debt {
            self.accounts[who].totals.debt += sign * amount;
        }
    }
}

/// What a record in the set contributes to others' totals, given its status.
fn contribution(e: &Entry) -> Contribution {
    let Some(status) = e.status else {
        return Contribution::default();
    };
    let Some((to, amount)) = e.payment else {
        return Contribution::default();
    };
    let amount = i128::from(amount);
    let claimed = e.canonical_claimers > 0;
    Contribution {
        incoming: (status == Status::Canonical && !claimed).then_some((to, amount)),
        debt: (e.transfer && !status.is_canonical() && claimed).then_some((e.signer, amount)),
    }
}
