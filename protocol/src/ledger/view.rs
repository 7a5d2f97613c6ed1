//! Read-only views of the derived state, for the audit, the policy and wallets.

use serde::Serialize;

use super::{Ledger, Parent, RecordSet, Status, Window};
use crate::id::{AccountId, RecordId};
use crate::maps::{Set, set_with_capacity};
use crate::record::Record;
use crate::reject::Reject;

/// An account's derived balances and standing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AccountView {
    /// The account.
    pub account: AccountId,
    /// Whether it is an issuer (holds no balance).
    pub issuer: bool,
    /// Governing balance plus claims minus payments since it.
    pub stated: i128,
    /// Claims of void records, and records claimed twice, since the governing checkpoint.
    pub shortfall: i128,
    /// stated - shortfall: what the account really holds (negative: it owes).
    pub effective: i128,
    /// Canonical payments to it not yet claimed.
    pub incoming: i128,
    /// Its void transfers that others claimed.
    pub debt: i128,
    /// The governing checkpoint.
    pub governing: Option<RecordId>,
    /// Records above this seq are revoked.
    pub revoked_after: Option<u64>,
    /// Several records compete at the end of its chain: frozen until settled.
    pub frozen: bool,
    /// The seq its next canonical record would take.
    pub next_seq: u64,
    /// Records it signed that the set holds.
    pub records: usize,
}

/// Where a record stands with this ledger.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Lookup {
    /// In the set, with its status.
    InSet {
        /// Canonical or void, and why.
        status: Status,
    },
    /// Valid on its own, waiting for these dependencies.
    Waiting {
        /// The ids it still misses.
        missing: Vec<RecordId>,
    },
    /// Refused, and by which rule.
    Refused {
        /// The rule it broke.
        reason: Reject,
    },
    /// Never seen (or forgotten).
    Unknown,
}

/// Where an account's next record builds: for wallets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tip {
    /// The seq to sign at.
    pub seq: u64,
    /// The record to name as `prev`.
    pub prev: Option<RecordId>,
    /// The balance the next record starts from.
    pub balance: u64,
    /// The window the next record joins.
    pub window: Window,
}

impl<S: RecordSet> Ledger<S> {
    /// One account's view, if the ledger knows the account.
    pub fn account(&self, account: &AccountId) -> Option<AccountView> {
        let a = self.accounts.get(account)?;
        let t = a.totals;
        let issuer = self.spec.is_issuer(account);
        // An issuer's records never form a walked chain: its next seq follows its last.
        let next_seq = if issuer {
            a.by_seq
                .keys()
                .next_back()
                .map_or(1, |s| s.saturating_add(1))
        } else {
            a.frontier.seq
        };
        Some(AccountView {
            account: *account,
            issuer,
            stated: t.stated,
            shortfall: t.shortfall,
            effective: t.stated - t.shortfall,
            incoming: t.incoming,
            debt: t.debt,
            governing: a.governing,
            revoked_after: a.revoke_bound,
            frozen: a.frontier.forked,
            next_seq,
            records: a.by_seq.values().map(|ids| ids.len()).sum(),
        })
    }

    /// How many accounts the ledger knows (what `accounts().len()` says, without building
    /// the views).
    pub fn account_count(&self) -> usize {
        self.accounts.len()
    }

    /// Every account the ledger knows, in key order.
    pub fn accounts(&self) -> Vec<AccountView> {
        let mut keys: Vec<&AccountId> = self.accounts.iter().map(|a| &a.key).collect();
        keys.sort_unstable();
        keys.into_iter().filter_map(|a| self.account(a)).collect()
    }

    /// Where a record stands.
    pub fn lookup(&self, id: &RecordId) -> Lookup {
        if let Some(s) = self.status(id) {
            Lookup::InSet { status: s }
        } else if let Some(m) = self.orphans.missing(id) {
            Lookup::Waiting {
                missing: m.to_vec(),
            }
        } else if let Some(r) = self.refused.get(id) {
            Lookup::Refused { reason: r.clone() }
        } else {
            Lookup::Unknown
        }
    }

    /// Records waiting for dependencies.
    pub fn orphan_count(&self) -> usize {
        self.orphans.len()
    }

    /// Dependencies the orphans miss: what to request from peers.
    pub fn wanted(&self) -> Vec<RecordId> {
        self.orphans.wanted()
    }

    /// The ids of the records in the set that `account` signed at `seq`.
    pub fn signed_at(&self, account: &AccountId, seq: u64) -> &[RecordId] {
        self.accounts
            .get(account)
            .and_then(|a| a.by_seq.get(seq))
            .map_or(&[], |ids| ids.as_slice())
    }

    /// An account's records by seq, with statuses.
    pub fn records_of(&self, account: &AccountId) -> Vec<(u64, RecordId, Status)> {
        let Some(a) = self.accounts.get(account) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (seq, ids) in a.by_seq.iter() {
            let mut ids = ids.clone();
            ids.sort();
            for id in ids {
                if let Some(s) = self.status(&id) {
                    out.push((seq, id, s));
                }
            }
        }
        out
    }

    /// The payments (transfers with an amount, and mints) that any of `accounts` made or
    /// received, each once, the ones this ledger took in last first. O(their records).
    pub fn payments_of(&self, accounts: &[AccountId]) -> Vec<&Record> {
        let mut numbers = Vec::new();
        for a in accounts.iter().filter_map(|a| self.accounts.get(a)) {
            numbers.extend_from_slice(&a.received);
            for (_, ids) in a.by_seq.iter() {
                numbers.extend(
                    ids.iter()
                        .filter_map(|id| self.entries.ix(id))
                        .filter(|&ix| self.entries[ix].payment.is_some()),
                );
            }
        }
        numbers.sort_unstable_by(|x, y| y.cmp(x));
        numbers.dedup();
        numbers
            .into_iter()
            .map(|ix| self.entries[ix].record.as_ref())
            .collect()
    }

    /// Canonical payments to the account that no canonical record claims yet, by id.
    pub fn unclaimed(&self, account: &AccountId) -> Vec<RecordId> {
        let mut out: Vec<RecordId> = self
            .accounts
            .get(account)
            .into_iter()
            .flat_map(|a| &a.received)
            .map(|&ix| &self.entries[ix])
            .filter(|e| e.status == Some(Status::Canonical) && e.canonical_claimers == 0)
            .map(|e| e.id)
            .collect();
        out.sort();
        out
    }

    /// Where the account's next record builds, or `None` while it is frozen by a fork or
    /// revoked. Builds on the governing checkpoint when that settles the chain's end.
    pub fn tip(&self, account: &AccountId) -> Option<Tip> {
        let Some(a) = self.accounts.get(account) else {
            return Some(Tip {
                seq: 1,
                prev: None,
                balance: 0,
                window: Window::starting_at(1),
            });
        };
        let f = a.frontier;
        if f.forked || a.revoke_bound.is_some_and(|b| f.seq > b) {
            return None;
        }
        if let Some(g) = a.governing {
            let c = self.entries[&g].record.body().checkpoint()?;
            if c.at_seq.checked_add(1) == Some(f.seq) {
                return Some(Tip {
                    seq: f.seq,
                    prev: Some(g),
                    balance: c.balance,
                    window: Window::starting_at(f.seq),
                });
            }
        }
        match f.parent {
            Parent::Genesis => Some(Tip {
                seq: 1,
                prev: None,
                balance: 0,
                window: Window::starting_at(1),
            }),
            Parent::Record(id) => {
                let e = self.entries.get(&id)?;
                let t = e.record.body().transfer()?;
                Some(Tip {
                    seq: f.seq,
                    prev: Some(id),
                    balance: t.balance,
                    window: e.window,
                })
            }
        }
    }

    /// The records `id` depends on, transitively, that `have` lacks, with `id` itself
    /// last: dependencies first, as a proof bundle or a sync must send them.
    pub fn closure(&self, id: &RecordId, have: impl Fn(&RecordId) -> bool) -> Vec<&Record> {
        let mut out = Vec::new();
        let mut done = Set::default();
        // Iterative post-order: a record is emitted after all its dependencies.
        let mut stack = vec![(*id, false)];
        while let Some((x, expanded)) = stack.pop() {
            if done.contains(&x) || have(&x) {
                continue;
            }
            let Some(e) = self.entries.get(&x) else {
                continue;
            };
            if expanded {
                done.insert(x);
                out.push(e.record.as_ref());
                continue;
            }
            stack.push((x, true));
            for d in super::dependencies(e.record.body()).rev() {
                if !done.contains(d) {
                    stack.push((*d, false));
                }
            }
        }
        out
    }

    /// The records of `ids` that the set holds, dependencies first (a dependency outside
    /// `ids` is left out: the receiver has it, or asks for it).
    pub fn in_dependency_order(&self, ids: &[RecordId]) -> Vec<&Record> {
        let wanted: Set<RecordId> = ids.iter().copied().collect();
        let mut done: Set<RecordId> = set_with_capacity(ids.len());
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            for r in self.closure(id, |x| !wanted.contains(x) || done.contains(x)) {
                done.insert(r.id());
                out.push(r);
            }
        }
        out
    }

    /// Every record of the set in an order that puts dependencies first.
    pub fn records_in_dependency_order(&self) -> Vec<&Record> {
        let mut out = Vec::with_capacity(self.entries.len());
        let mut done: Set<RecordId> = set_with_capacity(self.entries.len());
        for id in self.set.ids() {
            for r in self.closure(&id, |x| done.contains(x)) {
                done.insert(r.id());
                out.push(r);
            }
        }
        out
    }
}
