//! One account's share of the derived state, and the walk that derives it: effective
//! checkpoints and the governing one, the canonical chain (where a fork voids every
//! branch unless the governing checkpoint decides), revocation, and each record's status.

use std::collections::BTreeMap;

use smallvec::SmallVec;

use super::arena::{Ix, Records};
use super::seqmap::SeqMap;
use super::{Parent, Status, VoidReason};
use crate::chain::ChainSpec;
use crate::id::{AccountId, RecordId};
use crate::maps::{Ids, Map};
use crate::record::{Checkpoint, Kind};

/// Where an account's canonical walk ended: the next canonical record would sit at
/// `seq` with this `parent`; `forked` when several records already compete there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frontier {
    pub seq: u64,
    pub parent: Parent,
    pub forked: bool,
}

impl Default for Frontier {
    fn default() -> Self {
        Frontier {
            seq: 1,
            parent: Parent::Genesis,
            forked: false,
        }
    }
}

/// Balances derived for an account (signed: an account can owe).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    pub stated: i128,
    pub shortfall: i128,
    pub incoming: i128,
    pub debt: i128,
}

/// What the ledger keeps per account.
pub struct Account {
    /// The account's key.
    pub key: AccountId,
    /// Whether it is an issuer (its records never form a walked chain).
    pub issuer: bool,
    /// Records signed by this account, by seq.
    pub by_seq: SeqMap<Ids>,
    /// Issuer checkpoints of this account.
    pub checkpoints: Vec<RecordId>,
    /// Issuer revocations of this account.
    pub revokes: Vec<RecordId>,
    /// Canonical chain by seq (before revocation), including settled ids whose bodies
    /// the set lacks.
    pub chain: SeqMap<RecordId>,
    pub frontier: Frontier,
    pub governing: Option<RecordId>,
    /// Records above this seq are revoked.
    pub revoke_bound: Option<u64>,
    pub totals: Totals,
    /// Payments to it (transfers and mints) in the set.
    pub received: Vec<Ix>,
}

/// The result of walking an account from scratch.
pub struct Walk {
    pub chain: SeqMap<RecordId>,
    pub frontier: Frontier,
    pub governing: Option<RecordId>,
    pub revoke_bound: Option<u64>,
    /// Every record of the account with its status, by number.
    pub statuses: Vec<(Ix, Status)>,
}

fn checkpoint_of<'a>(entries: &'a Records, id: &RecordId) -> &'a Checkpoint {
    entries[id]
        .record
        .body()
        .checkpoint()
        .expect("indexed as a checkpoint")
}

impl Account {
    /// An account the ledger has just met.
    pub fn new(key: AccountId, issuer: bool) -> Self {
        Account {
            key,
            issuer,
            by_seq: SeqMap::default(),
            checkpoints: Vec::new(),
            revokes: Vec::new(),
            chain: SeqMap::default(),
            frontier: Frontier::default(),
            governing: None,
            revoke_bound: None,
            totals: Totals::default(),
            received: Vec::new(),
        }
    }

    /// The revocation bound for a given governing checkpoint.
    fn bound(&self, entries: &Records, governing_seq: u64) -> Option<u64> {
        self.revokes
            .iter()
            .filter_map(|r| match &entries[r].record.body().kind {
                Kind::Revoke(rv) => Some(rv.after_seq),
                _ => None,
            })
            .min()
            .map(|after| after.max(governing_seq))
    }

    /// Derives the account's chain and every record's status from the set alone.
    pub fn walk(&self, me: AccountId, spec: &ChainSpec, entries: &Records) -> Walk {
        let governing = self.governing(me, spec, entries);
        let g = governing.map(|g| checkpoint_of(entries, &g));
        let revoke_bound = self.bound(entries, g.map_or(0, |c| c.at_seq));

        // The settled path: from the governing checkpoint's head down through parents.
        let mut path = BTreeMap::new();
        if let Some(c) = g {
            let (mut seq, mut id) = (c.at_seq, c.head);
            loop {
                path.insert(seq, id);
                match entries.get(&id) {
                    Some(e) if e.record.signer() == me && e.record.seq() == seq => match e.parent {
                        Some(Parent::Record(p)) if seq > 1 => {
                            seq -= 1;
                            id = p;
                        }
                        _ => break,
                    },
                    _ => break,
                }
            }
        }

        // Seqs ascending: the account's own, and the settled path's where it has one.
        let mut seqs: Vec<u64> = self.by_seq.keys().collect();
        if !path.is_empty() {
            seqs.extend(path.keys().copied());
            seqs.sort_unstable();
            seqs.dedup();
        }
        let mut chain = SeqMap::default();
        let mut statuses = Vec::with_capacity(seqs.len());
        let mut cur = Some(Parent::Genesis);
        let mut end: Option<Frontier> = None;
        let mut next = 1u64;
        for k in seqs {
            if k > next {
                if let Some(p) = cur.take() {
                    end = Some(Frontier {
                        seq: next,
                        parent: p,
                        forked: false,
                    });
                }
            }
            // Each record at this seq looked up once: its number and its parent.
            let recs: SmallVec<[(RecordId, Ix, Option<Parent>); 2]> = self
                .by_seq
                .get(k)
                .map_or(&[][..], |v| v.as_slice())
                .iter()
                .map(|r| {
                    let ix = entries.ix(r).expect("an account's records are in the set");
                    (*r, ix, entries[ix].parent)
                })
                .collect();
            if let Some(&settled) = path.get(&k) {
                for &(r, ix, parent) in &recs {
                    let s = if r == settled {
                        Status::Canonical
                    } else if cur.is_some() && parent == cur {
                        Status::Void(VoidReason::Fork)
                    } else {
                        Status::Void(VoidReason::AfterVoid)
                    };
                    statuses.push((ix, s));
                }
                chain.insert(k, settled);
                cur = Some(Parent::Record(settled));
                end = None;
            } else if let Some(p) = cur {
                let (candidates, others): (SmallVec<[_; 2]>, SmallVec<[_; 2]>) = recs
                    .iter()
                    .copied()
                    .partition(|&(_, _, parent)| parent == Some(p));
                for &(_, ix, _) in &others {
                    statuses.push((ix, Status::Void(VoidReason::AfterVoid)));
                }
                if let [(r, ix, _)] = candidates[..] {
                    statuses.push((ix, Status::Canonical));
                    chain.insert(k, r);
                    cur = Some(Parent::Record(r));
                } else {
                    for &(_, ix, _) in &candidates {
                        statuses.push((ix, Status::Void(VoidReason::Fork)));
                    }
                    end = Some(Frontier {
                        seq: k,
                        parent: p,
                        forked: candidates.len() > 1,
                    });
                    cur = None;
                }
            } else {
                for (_, ix, _) in &recs {
                    statuses.push((*ix, Status::Void(VoidReason::AfterVoid)));
                }
            }
            // k is a seq that entered, or a checkpoint's `at_seq`: at most `MAX_SEQ`.
            next = k + 1;
        }
        if let Some(p) = cur {
            end = Some(Frontier {
                seq: next,
                parent: p,
                forked: false,
            });
        }
        if let Some(bound) = revoke_bound {
            for (ix, s) in statuses.iter_mut() {
                if entries[*ix].seq > bound {
                    *s = Status::Void(VoidReason::Revoked);
                }
            }
        }
        Walk {
            chain,
            frontier: end.unwrap_or_default(),
            governing,
            revoke_bound,
            statuses,
        }
    }

    /// The governing checkpoint: the effective one with the highest `at_seq`; ties go
    /// to the lowest issuer index, then the issuer's later seq, then the lowest id.
    fn governing(&self, me: AccountId, spec: &ChainSpec, entries: &Records) -> Option<RecordId> {
        let effective = self.effective(me, entries);
        self.checkpoints
            .iter()
            .filter(|c| effective.get(*c).copied().unwrap_or(false))
            .max_by_key(|id| {
                let r = &entries[*id].record;
                let at = checkpoint_of(entries, id).at_seq;
                let issuer = spec.issuer_index(&r.signer()).unwrap_or(usize::MAX);
                (
                    at,
                    std::cmp::Reverse(issuer),
                    r.seq(),
                    std::cmp::Reverse(**id),
                )
            })
            .copied()
    }

    /// Which checkpoints are effective: previous effective or empty, head (where known)
    /// the account's transfer at `at_seq` with at least the settled balance, and head
    /// descending from the previous checkpoint's head (where both are known).
    fn effective(&self, me: AccountId, entries: &Records) -> Map<RecordId, bool> {
        let mut memo: Map<RecordId, bool> = Map::default();
        for &start in &self.checkpoints {
            let mut stack = vec![start];
            while let Some(&top) = stack.last() {
                if memo.contains_key(&top) {
                    stack.pop();
                    continue;
                }
                let c = checkpoint_of(entries, &top);
                if let Some(p) = c.previous {
                    if !memo.contains_key(&p) {
                        stack.push(p);
                        continue;
                    }
                }
                let prev = c.previous.map(|p| (memo[&p], checkpoint_of(entries, &p)));
                let ok = prev.is_none_or(|(ok, _)| ok)
                    && head_fits(me, c, entries)
                    && prev.is_none_or(|(_, pc)| descends(me, c, pc, entries));
                memo.insert(top, ok);
                stack.pop();
            }
        }
        memo
    }
}

/// Where the head is in the set: it is the account's transfer at `at_seq`, and the
/// settled balance is not above the head's.
fn head_fits(me: AccountId, c: &Checkpoint, entries: &Records) -> bool {
    let Some(h) = entries.get(&c.head) else {
        return true;
    };
    let b = h.record.body();
    match &b.kind {
        Kind::Transfer(t) => b.signer == me && b.seq == c.at_seq && c.balance <= t.balance,
        _ => false,
    }
}

/// Where both heads are in the set: `c`'s head descends from `p`'s. Undetermined (a
/// record on the way is missing) counts as descending: nothing in the set refutes it.
fn descends(me: AccountId, c: &Checkpoint, p: &Checkpoint, entries: &Records) -> bool {
    if !entries.contains_key(&c.head) || !entries.contains_key(&p.head) {
        return true;
    }
    let (mut seq, mut id) = (c.at_seq, c.head);
    while seq > p.at_seq {
        let Some(e) = entries.get(&id) else {
            return true;
        };
        if e.record.signer() != me || e.record.seq() != seq {
            return false;
        }
        match e.parent {
            Some(Parent::Record(parent)) => {
                id = parent;
                seq -= 1;
            }
            _ => return false,
        }
    }
    id == p.head
}
