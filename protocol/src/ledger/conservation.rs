//! The conservation invariant (DESIGN §3), checked on demand: money held plus money in
//! flight equals money minted plus what settlements adjusted. Tests and the simulator
//! check it; it holds on sets that hold every checkpoint's head.

use super::{Ledger, RecordSet, Status};
use crate::record::Kind;

/// The two sides of the invariant, when they differ.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "conservation broken: held + unclaimed = {held}, minted + settlement adjustments = {minted}"
)]
pub struct ConservationError {
    /// Effective balances plus canonical payments nobody canonical claims.
    pub held: i128,
    /// Mints plus, per governed account, checkpoint balance minus what the account
    /// would hold at the checkpoint's head counted from the start of its history.
    pub minted: i128,
}

impl<S: RecordSet> Ledger<S> {
    /// Whether every checkpoint's head is in the set (the invariant applies then).
    pub fn holds_checkpoint_heads(&self) -> bool {
        self.accounts.iter().all(|a| {
            a.checkpoints.iter().all(|c| {
                self.entries[c]
                    .record
                    .body()
                    .checkpoint()
                    .is_some_and(|cp| self.entries.contains_key(&cp.head))
            })
        })
    }

    /// Checks the conservation invariant. O(records).
    pub fn check_conservation(&self) -> Result<(), ConservationError> {
        let mut held: i128 = 0;
        let mut minted: i128 = 0;
        for acct in self.accounts.iter() {
            if !acct.issuer {
                held += acct.totals.stated - acct.totals.shortfall;
            }
        }
        for e in self.entries.iter() {
            let body = e.record.body();
            if let Some((_, amount)) = body.payment() {
                if e.status == Some(Status::Canonical) && e.canonical_claimers == 0 {
                    held += i128::from(amount);
                }
                if matches!(body.kind, Kind::Mint(_)) {
                    minted += i128::from(amount);
                }
            }
        }
        for acct in self.accounts.iter() {
            let Some(g) = acct.governing else { continue };
            let Some(c) = self.entries[&g].record.body().checkpoint() else {
                continue;
            };
            let at_head: i128 = acct
                .chain
                .range(..=c.at_seq)
                .filter_map(|(_, id)| self.entries.ix(id))
                .filter(|ix| self.entries[*ix].status == Some(Status::Canonical))
                .map(|ix| {
                    let (s, f) = self.effect(ix);
                    s - f
                })
                .sum();
            minted += i128::from(c.balance) - at_head;
        }
        if held == minted {
            Ok(())
        } else {
            Err(ConservationError { held, minted })
        }
    }
}
