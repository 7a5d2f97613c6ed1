//! Intake: the rules a record must pass before it may enter the set. Step 1 needs
//! nothing but the record and the chain spec; step 2 (the chain rules) runs once the
//! record's dependencies are in the set and looks only at its own ancestry, so every
//! node reaches the same verdict.

use super::arena::{Accounts, Acct, Ix, Ixs, Records};
use super::{Parent, Window};
use crate::chain::ChainSpec;
use crate::id::RecordId;
use crate::record::{Body, Kind, MAX_SEQ};
use crate::reject::Reject;

/// Step 1: the rules a body must meet on its own.
pub fn check_alone(body: &Body, spec: &ChainSpec) -> Result<(), Reject> {
    if body.seq == 0 {
        return Err(Reject::SeqZero);
    }
    // Every seq the ledger derives is at most one past a seq that entered, so this
    // bound (with the one on `at_seq`) keeps all seq arithmetic inside a u64.
    if body.seq > MAX_SEQ {
        return Err(Reject::SeqTooHigh {
            field: "seq",
            seq: body.seq,
            max: MAX_SEQ,
        });
    }
    if body.prev.is_none() != (body.seq == 1) {
        return Err(Reject::PrevShape);
    }
    let issuer = spec.is_issuer(&body.signer);
    match &body.kind {
        Kind::Transfer(t) => {
            if issuer {
                return Err(Reject::KindNotAllowed { kind: "transfer" });
            }
            if t.amount == 0 && t.claims.is_empty() {
                return Err(Reject::FreeRecord);
            }
            if t.to.is_none() != (t.amount == 0) {
                return Err(Reject::Recipient {
                    reason: "`to` must be empty exactly when the amount is 0",
                });
            }
            if t.to == Some(body.signer) {
                return Err(Reject::Recipient {
                    reason: "pays itself",
                });
            }
        }
        Kind::Mint(m) => {
            if !issuer {
                return Err(Reject::KindNotAllowed { kind: "mint" });
            }
            if m.amount == 0 {
                return Err(Reject::ZeroMint);
            }
            if spec.is_issuer(&m.to) {
                return Err(Reject::Recipient {
                    reason: "mint to an issuer",
                });
            }
        }
        Kind::Checkpoint(c) => {
            if !issuer {
                return Err(Reject::KindNotAllowed { kind: "checkpoint" });
            }
            if c.at_seq == 0 {
                return Err(Reject::CheckpointShape { reason: "at_seq 0" });
            }
            if c.at_seq > MAX_SEQ {
                return Err(Reject::SeqTooHigh {
                    field: "at_seq",
                    seq: c.at_seq,
                    max: MAX_SEQ,
                });
            }
            if spec.is_issuer(&c.account) {
                return Err(Reject::Recipient {
                    reason: "checkpoint of an issuer",
                });
            }
        }
        Kind::Revoke(r) => {
            if !issuer {
                return Err(Reject::KindNotAllowed { kind: "revoke" });
            }
            if spec.is_issuer(&r.account) {
                return Err(Reject::Recipient {
                    reason: "revoke of an issuer",
                });
            }
        }
    }
    Ok(())
}

/// The records that must be in the set before this one may enter.
pub fn dependencies(body: &Body) -> impl DoubleEndedIterator<Item = &RecordId> {
    let (first, rest): (Option<&RecordId>, &[RecordId]) = match &body.kind {
        Kind::Transfer(t) => (body.prev.as_ref(), &t.claims),
        Kind::Checkpoint(c) => (c.previous.as_ref(), &[]),
        Kind::Mint(_) | Kind::Revoke(_) => (None, &[]),
    };
    first.into_iter().chain(rest)
}

/// What step 2 derives about an admitted record.
pub struct Admitted {
    /// For a transfer: the signer's record at seq-1 (through a checkpoint, its head).
    pub parent: Option<Parent>,
    /// For a transfer: its `prev` when that is a transfer (the window goes on).
    pub prev_in_window: Option<Ix>,
    /// The signer's number, where the ledger knows the signer already.
    pub signer: Option<Acct>,
    /// For a transfer: the numbers of what it claims, in its order.
    pub claims: Ixs,
    /// For a transfer: what its window since the last checkpoint holds, itself included.
    pub window: Window,
}

/// What step 2 reads: the spec and the set's indexes.
pub struct Rules<'a> {
    /// The network's genesis spec.
    pub spec: &'a ChainSpec,
    /// The records in the set.
    pub entries: &'a Records,
    /// The accounts the ledger knows.
    pub accounts: &'a Accounts,
}

/// Step 2: the chain rules, evaluated on the record's own ancestry (all in the set).
/// `deps` holds the numbers of [`dependencies`], in that order.
pub fn check_rules(body: &Body, deps: &[Ix], rules: &Rules<'_>) -> Result<Admitted, Reject> {
    match &body.kind {
        Kind::Transfer(t) => check_transfer(body, t, deps, rules),
        Kind::Checkpoint(c) => {
            if c.previous.is_some() {
                let p = &rules.entries[deps[0]];
                let ok = match p.record.body().checkpoint() {
                    Some(pc) => pc.account == c.account && pc.at_seq <= c.at_seq,
                    None => false,
                };
                if !ok {
                    return Err(Reject::CheckpointShape {
                        reason: "previous is not an earlier checkpoint of the account",
                    });
                }
            }
            Ok(no_chain())
        }
        Kind::Mint(_) | Kind::Revoke(_) => Ok(no_chain()),
    }
}

fn no_chain() -> Admitted {
    Admitted {
        parent: None,
        prev_in_window: None,
        signer: None,
        claims: Ixs::new(),
        window: Window::default(),
    }
}

fn check_transfer(
    body: &Body,
    t: &crate::record::Transfer,
    deps: &[Ix],
    rules: &Rules<'_>,
) -> Result<Admitted, Reject> {
    let Rules {
        spec,
        entries,
        accounts,
    } = *rules;
    let me = body.signer;
    // Rule 1: prev, and the state the chain continues from. Seqs are bounded at step 1;
    // the comparisons are checked anyway, so the rule stands on its own.
    let follows = |seq: u64| seq.checked_add(1) == Some(body.seq);
    let (claims, parent, prev_in_window, prev_balance, window) = match body.prev {
        None => (
            deps,
            Parent::Genesis,
            None,
            0,
            Window::starting_at(body.seq),
        ),
        Some(prev) => {
            let p = &entries[deps[0]];
            let pb = p.record.body();
            let (parent, prev_in_window, balance, window) = match &pb.kind {
                Kind::Transfer(pt) if pb.signer == me && follows(pb.seq) => {
                    (Parent::Record(prev), Some(deps[0]), pt.balance, p.window)
                }
                Kind::Checkpoint(c) if c.account == me && follows(c.at_seq) => (
                    Parent::Record(c.head),
                    None,
                    c.balance,
                    Window::starting_at(body.seq),
                ),
                _ => return Err(Reject::BadPrev),
            };
            (&deps[1..], parent, prev_in_window, balance, window)
        }
    };

    // Rule 2: claims name payments to the signer, none twice since the last checkpoint.
    // Only a payment already made to the signer can be claimed, so an account the ledger
    // has not met has nothing to claim. The previous transfer names the signer's number
    // without a lookup.
    let me_acct = match prev_in_window {
        Some(p) => Some(entries[p].signer),
        None => accounts.acct(&me),
    };
    let mut claimed: u64 = 0;
    for (k, (&c, id)) in claims.iter().zip(&t.claims).enumerate() {
        // At most `MAX_CLAIMS` claims: a scan beats hashing them.
        if claims[..k].contains(&c) {
            return Err(Reject::DoubleClaim { id: *id });
        }
        let x = &entries[c];
        let amount = match x.payment {
            Some((to, amount)) if Some(to) == me_acct => amount,
            _ => return Err(Reject::ClaimNotPayable { id: *id }),
        };
        for &y in &x.claimers {
            if in_window_ancestry(y, prev_in_window, window.start, entries) {
                return Err(Reject::DoubleClaim { id: *id });
            }
        }
        claimed = claimed.checked_add(amount).ok_or(Reject::Overflow)?;
    }

    // Rule 3: the balance follows.
    let expected = prev_balance
        .checked_add(claimed)
        .ok_or(Reject::Overflow)?
        .checked_sub(t.amount)
        .ok_or(Reject::Underflow)?;
    if t.balance != expected {
        return Err(Reject::BalanceMismatch {
            stated: t.balance,
            expected,
        });
    }

    // Rule 4: offline limits since the last checkpoint.
    let limits = spec.limits;
    if t.amount > limits.max_single {
        return Err(Reject::OverSingleLimit {
            amount: t.amount,
            max: limits.max_single,
        });
    }
    let sent = window.sent.checked_add(t.amount).ok_or(Reject::Overflow)?;
    if sent > limits.max_cumulative {
        return Err(Reject::OverCumulativeLimit {
            total: sent,
            max: limits.max_cumulative,
        });
    }
    let count = window
        .count
        .checked_add(u64::from(t.amount > 0))
        .ok_or(Reject::Overflow)?;
    if count > limits.max_count {
        return Err(Reject::OverCountLimit {
            count,
            max: limits.max_count,
        });
    }
    Ok(Admitted {
        parent: Some(parent),
        prev_in_window,
        signer: me_acct,
        claims: Ixs::from_slice(claims),
        window: Window {
            start: window.start,
            sent,
            count,
        },
    })
}

/// Whether `y` lies on the window's ancestry that ends at `last` (the new record's
/// previous transfer), within the window that starts at seq `start`. The window never
/// crosses a checkpoint, so every step is a transfer of the same account, in the set.
fn in_window_ancestry(y: Ix, last: Option<Ix>, start: u64, entries: &Records) -> bool {
    let y_seq = entries[y].seq;
    if y_seq < start {
        return false;
    }
    let mut cur = last;
    while let Some(x) = cur {
        if x == y {
            return true;
        }
        let e = &entries[x];
        if e.seq <= y_seq || e.seq <= start {
            return false;
        }
        cur = e.prev_in_window;
    }
    false
}
