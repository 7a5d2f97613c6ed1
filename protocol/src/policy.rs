//! The payee's local decision, in well under a millisecond, whether to hand over the
//! goods: as far as the ledger decides it (after merging the payer's proof bundle), and
//! naming the rule that refused. Operators add stricter local rules in the node.

use std::collections::HashMap;

use serde::Serialize;

use crate::id::{AccountId, RecordId};
use crate::ledger::{Ledger, Lookup, RecordSet, Status};
use crate::reject::Reject;

/// The payment requests a payee issued: fresh random nonces, each paid at most once.
#[derive(Default, Debug, Clone)]
pub struct RequestBook {
    open: HashMap<[u8; 16], u64>,
    paid: HashMap<[u8; 16], RecordId>,
}

impl RequestBook {
    /// Records a request for `amount` under a fresh nonce (the caller's randomness).
    pub fn issue(&mut self, nonce: [u8; 16], amount: u64) {
        if !self.paid.contains_key(&nonce) {
            self.open.insert(nonce, amount);
        }
    }

    /// The amount an open request asks, if it is open.
    pub fn open_amount(&self, nonce: &[u8; 16]) -> Option<u64> {
        self.open.get(nonce).copied()
    }

    /// The payment that settled a request, if one did.
    pub fn paid_by(&self, nonce: &[u8; 16]) -> Option<RecordId> {
        self.paid.get(nonce).copied()
    }

    fn consume(&mut self, nonce: [u8; 16], by: RecordId) {
        self.open.remove(&nonce);
        self.paid.insert(nonce, by);
    }
}

/// Why a payment is not accepted; each names one rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[serde(tag = "rule", rename_all = "snake_case")]
pub enum Refusal {
    /// The payment is not in the ledger (the bundle did not bring it).
    #[error("payment unknown to the ledger")]
    Unknown,
    /// The payment waits for records the bundle did not bring.
    #[error("payment waits for {} missing record(s)", missing.len())]
    Incomplete { missing: Vec<RecordId> },
    /// The payment was refused at intake.
    #[error("payment refused at intake: {reason}")]
    Invalid { reason: Reject },
    /// The payment is in the ledger but void.
    #[error("payment is not canonical ({})", status.label())]
    NotCanonical { status: Status },
    /// Not a transfer to this payee.
    #[error("not a payment to this payee")]
    NotToPayee,
    /// The payer's account has a revocation.
    #[error("payer is revoked")]
    Revoked,
    /// The payer signed two histories somewhere.
    #[error("payer has a known conflict")]
    Conflict,
    /// The payer's void transfers were claimed by others.
    #[error("payer owes {debt}")]
    Debt { debt: i128 },
    /// The payer's effective balance does not cover what it paid.
    #[error("payer's effective balance {effective} does not cover the payment")]
    Uncovered { effective: i128 },
    /// The payment names no request.
    #[error("payment names no request")]
    NoRequest,
    /// This payee did not issue that request (or it expired).
    #[error("request not issued by this payee")]
    UnknownRequest,
    /// The request was paid already.
    #[error("request already paid by {by}")]
    AlreadyPaid { by: RecordId },
    /// The payment's amount differs from the request's.
    #[error("request asks {asked}, payment pays {paid}")]
    WrongAmount { asked: u64, paid: u64 },
}

/// What an accepted payment was.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Accepted {
    /// The payment record.
    pub payment: RecordId,
    /// Who paid.
    pub payer: AccountId,
    /// How much.
    pub amount: u64,
}

/// Decides whether `payment` is good money for `payee`, without consuming the request.
pub fn decide<S: RecordSet>(
    ledger: &Ledger<S>,
    payment: &RecordId,
    payee: &AccountId,
    book: &RequestBook,
) -> Result<Accepted, Refusal> {
    match ledger.lookup(payment) {
        Lookup::InSet { status } if status.is_canonical() => {}
        Lookup::InSet { status } => return Err(Refusal::NotCanonical { status }),
        Lookup::Waiting { missing } => return Err(Refusal::Incomplete { missing }),
        Lookup::Refused { reason } => return Err(Refusal::Invalid { reason }),
        Lookup::Unknown => return Err(Refusal::Unknown),
    }
    let record = ledger.get(payment).ok_or(Refusal::Unknown)?;
    let t = record.body().transfer().ok_or(Refusal::NotToPayee)?;
    if t.to != Some(*payee) {
        return Err(Refusal::NotToPayee);
    }
    let payer = record.signer();
    let view = ledger.account(&payer).ok_or(Refusal::Unknown)?;
    if view.revoked_after.is_some() {
        return Err(Refusal::Revoked);
    }
    if ledger.has_conflict(&payer) {
        return Err(Refusal::Conflict);
    }
    if view.debt > 0 {
        return Err(Refusal::Debt { debt: view.debt });
    }
    if view.effective < 0 {
        return Err(Refusal::Uncovered {
            effective: view.effective,
        });
    }
    let nonce = t.request.ok_or(Refusal::NoRequest)?;
    if let Some(by) = book.paid_by(&nonce) {
        return Err(Refusal::AlreadyPaid { by });
    }
    let asked = book.open_amount(&nonce).ok_or(Refusal::UnknownRequest)?;
    if asked != t.amount {
        return Err(Refusal::WrongAmount {
            asked,
            paid: t.amount,
        });
    }
    Ok(Accepted {
        payment: *payment,
        payer,
        amount: t.amount,
    })
}

/// Decides, and on acceptance consumes the request so it is never paid twice.
pub fn accept<S: RecordSet>(
    ledger: &Ledger<S>,
    payment: &RecordId,
    payee: &AccountId,
    book: &mut RequestBook,
) -> Result<Accepted, Refusal> {
    let accepted = decide(ledger, payment, payee, book)?;
    let nonce = ledger
        .get(payment)
        .and_then(|r| r.body().transfer())
        .and_then(|t| t.request)
        .expect("decide checked the request");
    book.consume(nonce, *payment);
    Ok(accepted)
}
