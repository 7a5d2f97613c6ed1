//! Incremental upkeep of the derived state at the end of each operation. A record that
//! extends its account's chain (or joins a known fork, or builds past one) is settled in
//! O(claims); anything else re-walks only the accounts it touches. Balances follow from
//! status changes by deltas, and an account's stated balance and shortfall are recounted
//! over its window since the governing checkpoint only when its chain or the status of
//! something it claimed changed.

use super::account::Frontier;
use super::{Entry, Ledger, Parent, RecordSet, Status, VoidReason};
use crate::id::{AccountId, RecordId};
use crate::record::Kind;

/// What a record adds to others' totals: incoming for its recipient while canonical and
/// unclaimed, debt for its signer while void and claimed.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
struct Contribution {
    incoming: Option<(AccountId, i128)>,
    debt: Option<(AccountId, i128)>,
}

impl<S: RecordSet> Ledger<S> {
    /// Settles what the operation changed: the records that entered, then the accounts
    /// to re-walk and the balances to recount.
    pub(super) fn settle(&mut self) {
        self.settle_entered();
        for a in std::mem::take(&mut self.dirty) {
            self.rederive(a);
        }
        for a in std::mem::take(&mut self.balance_dirty) {
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
    fn settle_new(&mut self, id: RecordId) {
        let e = &self.entries[&id];
        let me = e.record.signer();
        let seq = e.record.seq();
        if self.spec.is_issuer(&me) {
            self.set_status(id, Status::Canonical);
            return;
        }
        if self.dirty.contains(&me) || self.heads.contains_key(&id) {
            self.dirty.insert(me);
            return;
        }
        let parent = e.parent.expect("transfers have a parent");
        let acct = &self.accounts[&me];
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
            self.dirty.insert(me);
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
            let acct = self.accounts.get_mut(&me).expect("account exists");
            acct.chain.insert(seq, id);
            acct.frontier = Frontier {
                seq: seq + 1,
                parent: Parent::Record(id),
                forked: false,
            };
        }
        self.set_status(id, status);
        if status == Status::Canonical && !self.balance_dirty.contains(&me) {
            let (stated, shortfall) = self.effect(id);
            let t = &mut self.accounts.get_mut(&me).expect("account exists").totals;
            t.stated += stated;
            t.shortfall += shortfall;
        }
    }

    /// Re-walks one account from scratch and applies the status changes.
    fn rederive(&mut self, a: AccountId) {
        let walk = self.accounts[&a].walk(a, &self.spec, &self.entries);
        for (id, s) in walk.statuses {
            self.set_status(id, s);
        }
        let acct = self.accounts.get_mut(&a).expect("account exists");
        acct.chain = walk.chain;
        acct.frontier = walk.frontier;
        acct.governing = walk.governing;
        acct.revoke_bound = walk.revoke_bound;
        self.balance_dirty.insert(a);
    }

    /// Recounts stated balance and shortfall over the canonical records after the
    /// governing checkpoint.
    fn recount(&mut self, a: AccountId) {
        let acct = &self.accounts[&a];
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
            if self.entries.get(id).and_then(|e| e.status) == Some(Status::Canonical) {
                let (s, f) = self.effect(*id);
                stated += s;
                shortfall += f;
            }
        }
        let t = &mut self.accounts.get_mut(&a).expect("account exists").totals;
        t.stated = stated;
        t.shortfall = shortfall;
    }

    /// A canonical transfer's effect on its signer: (stated delta, shortfall delta).
    /// A claim counts as shortfall when the claimed record is void, or when a lower
    /// canonical record of the signer claimed it already (across a checkpoint).
    pub(super) fn effect(&self, id: RecordId) -> (i128, i128) {
        let e = &self.entries[&id];
        let Kind::Transfer(t) = &e.record.body().kind else {
            return (0, 0);
        };
        let seq = e.record.seq();
        let mut stated = -i128::from(t.amount);
        let mut shortfall = 0;
        for c in &t.claims {
            let x = &self.entries[c];
            let amount = i128::from(x.record.body().payment().map_or(0, |(_, a)| a));
            stated += amount;
            let void = matches!(x.status, Some(Status::Void(_)));
            let claimed_before = !void
                && x.claimers.iter().any(|y| {
                    *y != id && {
                        let ye = &self.entries[y];
                        ye.status == Some(Status::Canonical) && ye.record.seq() < seq
                    }
                });
            if void || claimed_before {
                shortfall += amount;
            }
        }
        (stated, shortfall)
    }

    /// Sets a record's status and carries the consequences to others' totals.
    pub(super) fn set_status(&mut self, id: RecordId, new: Status) {
        let e = self.entries.get_mut(&id).expect("in set");
        let old = e.status;
        if old == Some(new) {
            return;
        }
        let before = contribution(e);
        e.status = Some(new);
        let after = contribution(e);
        let record = e.record.clone();
        self.apply_change(before, after);

        let was_canonical = old == Some(Status::Canonical);
        let is_canonical = new == Status::Canonical;
        if is_canonical {
            self.changes.canonical.push(id);
        } else if was_canonical {
            self.changes.voided.push(id);
        }
        if was_canonical != is_canonical {
            if let Kind::Transfer(t) = &record.body().kind {
                for c in &t.claims {
                    let x = self.entries.get_mut(c).expect("claims are in the set");
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
        }
        let was_void = matches!(old, Some(Status::Void(_)));
        let is_void = matches!(new, Status::Void(_));
        if was_void != is_void {
            // Whoever claimed this record gains or loses a shortfall.
            for y in &self.entries[&id].claimers {
                let ye = &self.entries[y];
                if ye.status == Some(Status::Canonical) {
                    self.balance_dirty.insert(ye.record.signer());
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
            self.accounts.entry(to).or_default().totals.incoming += sign * amount;
        }
        if let Some((who, amount)) = c.debt {
            self.accounts.entry(who).or_default().totals.debt += sign * amount;
        }
    }
}

/// What a record in the set contributes to others' totals, given its status.
fn contribution(e: &Entry) -> Contribution {
    let Some(status) = e.status else {
        return Contribution::default();
    };
    let body = e.record.body();
    let Some((to, amount)) = body.payment() else {
        return Contribution::default();
    };
    let amount = i128::from(amount);
    let claimed = e.canonical_claimers > 0;
    Contribution {
        incoming: (status == Status::Canonical && !claimed).then_some((to, amount)),
        debt: (matches!(body.kind, Kind::Transfer(_)) && !status.is_canonical() && claimed)
            .then_some((body.signer, amount)),
    }
}
