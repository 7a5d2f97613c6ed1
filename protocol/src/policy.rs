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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{World, acct, id, transfer};
    use crate::wire;

    const NONCE: [u8; 16] = [7; 16];

    /// Alice (1) holds 2000; bob (2) asked for 150 under NONCE.
    fn setup() -> (World, crate::wallet::Wallet, RequestBook) {
        let mut w = World::new(2);
        w.mint(acct(1), 2_000);
        let alice = w.wallet(1);
        let mut book = RequestBook::default();
        book.issue(NONCE, 150);
        (w, alice, book)
    }

    fn pay(
        w: &mut World,
        alice: &mut crate::wallet::Wallet,
        amount: u64,
        request: Option<[u8; 16]>,
    ) -> RecordId {
        let r = alice
            .pay(&w.ledger, &mut w.store, acct(2), amount, request, "", 0)
            .expect("builds");
        w.apply(&r);
        id(&r)
    }

    #[test]
    fn accepts_once() {
        let (mut w, mut alice, mut book) = setup();
        let p = pay(&mut w, &mut alice, 150, Some(NONCE));
        let ok = accept(&w.ledger, &p, &acct(2), &mut book).expect("accepted");
        assert_eq!((ok.payer, ok.amount), (acct(1), 150));
        assert_eq!(
            accept(&w.ledger, &p, &acct(2), &mut book),
            Err(Refusal::AlreadyPaid { by: p })
        );
    }

    #[test]
    fn request_rules() {
        let (mut w, mut alice, mut book) = setup();
        let none = pay(&mut w, &mut alice, 150, None);
        assert_eq!(
            decide(&w.ledger, &none, &acct(2), &book),
            Err(Refusal::NoRequest)
        );
        let other = pay(&mut w, &mut alice, 150, Some([8; 16]));
        assert_eq!(
            decide(&w.ledger, &other, &acct(2), &book),
            Err(Refusal::UnknownRequest)
        );
        let wrong = pay(&mut w, &mut alice, 149, Some(NONCE));
        assert_eq!(
            decide(&w.ledger, &wrong, &acct(2), &book),
            Err(Refusal::WrongAmount {
                asked: 150,
                paid: 149
            })
        );
        assert_eq!(
            decide(&w.ledger, &wrong, &acct(3), &book),
            Err(Refusal::NotToPayee)
        );
        book.issue(NONCE, 149);
        assert!(accept(&w.ledger, &wrong, &acct(2), &mut book).is_ok());
    }

    #[test]
    fn unknown_incomplete_and_invalid_payments() {
        let (mut w, mut alice, book) = setup();
        assert_eq!(
            decide(&w.ledger, &RecordId([1; 32]), &acct(2), &book),
            Err(Refusal::Unknown)
        );
        // A payment whose chain the payee lacks waits, and says for what.
        let mut far = World::new(2);
        let m = far.mint(acct(5), 500);
        let mut eve = far.wallet(5);
        let r = eve
            .pay(
                &far.ledger,
                &mut far.store,
                acct(2),
                150,
                Some(NONCE),
                "",
                0,
            )
            .expect("builds");
        w.apply(&r);
        assert_eq!(
            decide(&w.ledger, &id(&r), &acct(2), &book),
            Err(Refusal::Incomplete {
                missing: vec![id(&m)]
            })
        );
        // An invalid one names the intake rule.
        let tip = w.ledger.tip(&acct(1)).expect("tip");
        let claims = w.ledger.unclaimed(&acct(1));
        let bad = w.sign(
            1,
            &transfer(1, tip.seq, tip.prev, claims, Some(acct(2)), 150, 5),
        );
        w.apply(&bad);
        assert!(matches!(
            decide(&w.ledger, &id(&bad), &acct(2), &book),
            Err(Refusal::Invalid {
                reason: Reject::BalanceMismatch { .. }
            })
        ));
        let _ = pay(&mut w, &mut alice, 1, None);
    }

    /// Alice forks at seq 2 (to 3 and to 4); returns the two branches.
    fn fork(
        w: &mut World,
        alice: &mut crate::wallet::Wallet,
    ) -> (wire::SignedRecord, wire::SignedRecord) {
        pay(w, alice, 10, None);
        let tip = w.ledger.tip(&acct(1)).expect("tip");
        let m = w.ledger.unclaimed(&acct(1));
        assert!(m.is_empty());
        let a = w.sign(
            1,
            &transfer(
                1,
                tip.seq,
                tip.prev,
                vec![],
                Some(acct(3)),
                100,
                tip.balance - 100,
            ),
        );
        let b = w.sign(
            1,
            &transfer(
                1,
                tip.seq,
                tip.prev,
                vec![],
                Some(acct(4)),
                200,
                tip.balance - 200,
            ),
        );
        w.apply(&a);
        w.apply(&b);
        (a, b)
    }

    #[test]
    fn a_forked_payment_is_not_canonical() {
        let (mut w, mut alice, book) = setup();
        let (a, _) = fork(&mut w, &mut alice);
        let r = decide(&w.ledger, &id(&a), &acct(3), &book);
        assert!(matches!(r, Err(Refusal::NotCanonical { .. })), "{r:?}");
    }

    #[test]
    fn payer_with_a_settled_conflict_or_debt_is_refused() {
        let (mut w, mut alice, mut book) = setup();
        let (a, b) = fork(&mut w, &mut alice);
        // Carol (3) claims branch a; the issuer settles alice on branch b.
        let carol = w.sign(3, &transfer(3, 1, None, vec![id(&a)], None, 0, 100));
        w.apply(&carol);
        let tip_b = crate::record::parse(b.clone()).expect("parses").body;
        let bal = tip_b.transfer().expect("transfer").balance;
        let cp = w.issuers[0]
            .checkpoint(&mut w.store, acct(1), tip_b.seq, id(&b), bal, None, 0)
            .expect("sign");
        w.apply(&cp);
        let mut alice = crate::wallet::Wallet::new(crate::testkit::key(1), &w.spec, 1);
        let p = pay(&mut w, &mut alice, 150, Some(NONCE));
        assert_eq!(w.ledger.status(&p), Some(Status::Canonical));
        assert_eq!(
            decide(&w.ledger, &p, &acct(2), &book),
            Err(Refusal::Conflict)
        );
        let _ = &mut book;
    }

    #[test]
    fn revoked_payer_is_refused() {
        let (mut w, mut alice, book) = setup();
        let rv = w.issuers[0]
            .revoke(&mut w.store, acct(1), 10, "card reported lost", 0)
            .expect("sign");
        w.apply(&rv);
        let p = pay(&mut w, &mut alice, 150, Some(NONCE));
        assert_eq!(
            decide(&w.ledger, &p, &acct(2), &book),
            Err(Refusal::Revoked)
        );
    }

    #[test]
    fn payer_living_on_void_money_is_uncovered() {
        // Eve (5) forks; alice claims eve's void payment and pays bob with it.
        let (mut w, _, book) = setup();
        w.mint(acct(5), 1_000);
        let mut eve = w.wallet(5);
        let e1 = eve
            .pay(&w.ledger, &mut w.store, acct(1), 900, None, "", 0)
            .expect("builds");
        let mut eve2 = w.wallet(5);
        let e2 = eve2
            .pay(&w.ledger, &mut w.store, acct(6), 900, None, "", 0)
            .expect("builds");
        w.apply(&e1);
        let mut alice = w.wallet(1);
        let p = pay(&mut w, &mut alice, 150, Some(NONCE));
        assert!(decide(&w.ledger, &p, &acct(2), &book).is_ok());
        // Alice now spends more than her own 2000 would cover.
        let big = alice
            .pay(&w.ledger, &mut w.store, acct(3), 1_000, None, "", 0)
            .expect("builds");
        w.apply(&big);
        let big2 = alice
            .pay(&w.ledger, &mut w.store, acct(3), 1_000, None, "", 0)
            .expect("builds");
        w.apply(&big2);
        w.apply(&e2);
        let v = w.ledger.account(&acct(1)).expect("alice");
        assert_eq!(v.shortfall, 900);
        assert_eq!(
            decide(&w.ledger, &p, &acct(2), &book),
            Err(Refusal::Uncovered {
                effective: v.effective
            })
        );
    }
}
