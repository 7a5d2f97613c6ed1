//! A wallet builds valid entries for one account: it claims incoming funds, computes
//! the balance, keeps to the offline limits, and persists its next seq before it
//! releases a signed record, so a crash can never make it sign twice at one seq.

use ed25519_dalek::SigningKey;

use crate::chain::{ChainId, ChainSpec, Limits};
use crate::id::{AccountId, RecordId};
use crate::ledger::{Ledger, RecordSet};
use crate::record::{self, Body, Kind, MAX_CLAIMS, MAX_SEQ, MAX_TEXT_BYTES, Transfer};
use crate::wire;

/// Where a signer's next seq is made durable before a record is released.
pub trait SeqStore {
    /// Why persisting failed.
    type Error: std::fmt::Display;
    /// Makes `next` durable as the account's next seq.
    fn persist_next_seq(&mut self, account: &AccountId, next: u64) -> Result<(), Self::Error>;
}

/// A seq store in memory, for tests and the simulator (whose durability is simulated).
#[derive(Default, Debug, Clone)]
pub struct MemorySeqStore {
    /// Last persisted next seq per account.
    pub next: std::collections::HashMap<AccountId, u64>,
}

impl SeqStore for MemorySeqStore {
    type Error = std::convert::Infallible;
    fn persist_next_seq(&mut self, account: &AccountId, next: u64) -> Result<(), Self::Error> {
        self.next.insert(*account, next);
        Ok(())
    }
}

/// Why a wallet would not build a record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WalletError {
    /// The account is frozen by a fork or revoked.
    #[error("account is frozen (a fork awaits settlement) or revoked")]
    Frozen,
    /// The wallet released a record the ledger does not hold yet: signing now would fork.
    #[error(
        "wallet's next seq is {wallet}, the ledger's chain ends before {ledger}: merge the wallet's own records first"
    )]
    Unmerged { wallet: u64, ledger: u64 },
    /// Not enough money, even after claiming what is incoming.
    #[error("{available} available, {amount} asked")]
    Insufficient { available: u64, amount: u64 },
    /// An offline limit would be broken.
    #[error("offline limit: {0}")]
    Limit(&'static str),
    /// The chain reached the highest seq a record may take: nothing more can be signed.
    #[error("seq {seq} is above the highest a record may take ({MAX_SEQ})")]
    SeqExhausted { seq: u64 },
    /// Nothing to pay and nothing to claim.
    #[error("nothing to do: no amount and nothing to claim")]
    NothingToDo,
    /// Paying oneself.
    #[error("a wallet cannot pay itself")]
    PaysItself,
    /// Memo longer than allowed.
    #[error("memo longer than {MAX_TEXT_BYTES} bytes")]
    MemoTooLong,
    /// The seq could not be persisted; nothing was released.
    #[error("persisting the next seq failed: {0}")]
    Store(String),
}

/// One account's signing wallet.
pub struct Wallet {
    key: SigningKey,
    account: AccountId,
    chain: ChainId,
    limits: Limits,
    next_seq: u64,
}

impl Wallet {
    /// A wallet for `key` on the network `spec`, resuming at its persisted `next_seq`
    /// (1 for a new account).
    pub fn new(key: SigningKey, spec: &ChainSpec, next_seq: u64) -> Self {
        Wallet {
            account: record::account_of(&key),
            key,
            chain: spec.chain_id(),
            limits: spec.limits,
            next_seq: next_seq.max(1),
        }
    }

    /// The account this wallet signs for.
    pub fn account(&self) -> AccountId {
        self.account
    }

    /// The seq the next record will take.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Pays `amount` to `to`, claiming incoming funds first.
    #[allow(clippy::too_many_arguments)]
    pub fn pay<S: RecordSet, T: SeqStore>(
        &mut self,
        ledger: &Ledger<S>,
        store: &mut T,
        to: AccountId,
        amount: u64,
        request: Option<[u8; 16]>,
        memo: &str,
        now_ms: u64,
    ) -> Result<wire::SignedRecord, WalletError> {
        if to == self.account {
            return Err(WalletError::PaysItself);
        }
        self.build(ledger, store, Some(to), amount, request, memo, now_ms)
    }

    /// Claims incoming funds without paying anyone.
    pub fn claim<S: RecordSet, T: SeqStore>(
        &mut self,
        ledger: &Ledger<S>,
        store: &mut T,
        now_ms: u64,
    ) -> Result<wire::SignedRecord, WalletError> {
        self.build(ledger, store, None, 0, None, "", now_ms)
    }

    /// What the wallet could pay now: balance plus claimable incoming, capped by limits.
    pub fn spendable<S: RecordSet>(&self, ledger: &Ledger<S>) -> u64 {
        let Some(tip) = ledger.tip(&self.account) else {
            return 0;
        };
        let incoming: u64 = self
            .claimable(ledger)
            .iter()
            .map(|id| {
                ledger
                    .get(id)
                    .and_then(|r| r.body().payment())
                    .map_or(0, |(_, a)| a)
            })
            .fold(0u64, u64::saturating_add);
        let cumulative_left = self.limits.max_cumulative.saturating_sub(tip.window.sent);
        let count_left = tip.window.count < self.limits.max_count;
        if !count_left {
            return 0;
        }
        tip.balance
            .saturating_add(incoming)
            .min(self.limits.max_single)
            .min(cumulative_left)
    }

    fn claimable<S: RecordSet>(&self, ledger: &Ledger<S>) -> Vec<RecordId> {
        let mut c = ledger.unclaimed(&self.account);
        c.truncate(MAX_CLAIMS);
        c
    }

    #[allow(clippy::too_many_arguments)]
    fn build<S: RecordSet, T: SeqStore>(
        &mut self,
        ledger: &Ledger<S>,
        store: &mut T,
        to: Option<AccountId>,
        amount: u64,
        request: Option<[u8; 16]>,
        memo: &str,
        now_ms: u64,
    ) -> Result<wire::SignedRecord, WalletError> {
        if memo.len() > MAX_TEXT_BYTES {
            return Err(WalletError::MemoTooLong);
        }
        let tip = ledger.tip(&self.account).ok_or(WalletError::Frozen)?;
        // A record past the bound would be refused everywhere; refusing here also keeps
        // the next seq persisted below inside a u64.
        if tip.seq > MAX_SEQ {
            return Err(WalletError::SeqExhausted { seq: tip.seq });
        }
        if tip.seq < self.next_seq {
            return Err(WalletError::Unmerged {
                wallet: self.next_seq,
                ledger: tip.seq,
            });
        }
        let claims = self.claimable(ledger);
        let claimed = claims
            .iter()
            .map(|id| {
                ledger
                    .get(id)
                    .and_then(|r| r.body().payment())
                    .map_or(0, |(_, a)| a)
            })
            .try_fold(0u64, u64::checked_add)
            .ok_or(WalletError::Limit("claimed total overflows"))?;
        if amount == 0 && claims.is_empty() {
            return Err(WalletError::NothingToDo);
        }
        let available = tip
            .balance
            .checked_add(claimed)
            .ok_or(WalletError::Limit("balance overflows"))?;
        if amount > available {
            return Err(WalletError::Insufficient { available, amount });
        }
        if amount > self.limits.max_single {
            return Err(WalletError::Limit("above the single-payment limit"));
        }
        if tip.window.sent.saturating_add(amount) > self.limits.max_cumulative {
            return Err(WalletError::Limit(
                "above the cumulative limit since the last checkpoint",
            ));
        }
        if amount > 0 && tip.window.count >= self.limits.max_count {
            return Err(WalletError::Limit(
                "too many payments since the last checkpoint",
            ));
        }
        let body = Body {
            signer: self.account,
            seq: tip.seq,
            prev: tip.prev,
            timestamp_ms: now_ms,
            kind: Kind::Transfer(Transfer {
                claims,
                to: if amount > 0 { to } else { None },
                amount,
                balance: available - amount,
                request,
                memo: memo.to_owned(),
            }),
        };
        // Durable before released: a crash after this point skips a seq, never reuses one.
        store
            .persist_next_seq(&self.account, tip.seq + 1)
            .map_err(|e| WalletError::Store(e.to_string()))?;
        self.next_seq = tip.seq + 1;
        Ok(record::sign(&self.key, &self.chain, &body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{World, acct, id};

    struct Broken;
    impl SeqStore for Broken {
        type Error = &'static str;
        fn persist_next_seq(&mut self, _: &AccountId, _: u64) -> Result<(), Self::Error> {
            Err("disk full")
        }
    }

    #[test]
    fn nothing_is_released_unless_the_seq_is_durable() {
        let mut w = World::new(1);
        w.mint(acct(1), 100);
        let mut alice = w.wallet(1);
        let r = alice.pay(&w.ledger, &mut Broken, acct(2), 10, None, "", 0);
        assert_eq!(r, Err(WalletError::Store("disk full".into())));
        assert_eq!(alice.next_seq(), 1);
        let r = alice
            .pay(&w.ledger, &mut w.store, acct(2), 10, None, "", 0)
            .expect("builds");
        assert_eq!(w.store.next[&acct(1)], 2);
        assert_eq!(alice.next_seq(), 2);
        // Until its record is merged, the wallet refuses to sign at the same seq again.
        assert_eq!(
            alice.pay(&w.ledger, &mut w.store, acct(2), 10, None, "", 0),
            Err(WalletError::Unmerged {
                wallet: 2,
                ledger: 1
            })
        );
        w.apply(&r);
        assert!(
            alice
                .pay(&w.ledger, &mut w.store, acct(2), 10, None, "", 0)
                .is_ok()
        );
    }

    #[test]
    fn claims_incoming_and_keeps_to_limits() {
        let mut w = World::new(1);
        let m1 = w.mint(acct(1), 600);
        let m2 = w.mint(acct(1), 600);
        let mut alice = w.wallet(1);
        assert_eq!(
            alice.spendable(&w.ledger),
            1_000,
            "capped by the single limit"
        );
        assert_eq!(
            alice.pay(&w.ledger, &mut w.store, acct(2), 1_001, None, "", 0),
            Err(WalletError::Limit("above the single-payment limit"))
        );
        assert_eq!(
            alice.pay(&w.ledger, &mut w.store, acct(1), 1, None, "", 0),
            Err(WalletError::PaysItself)
        );
        let r = w.pay(&mut alice, acct(2), 1_000);
        let body = crate::record::parse(r).expect("parses").body;
        let t = body.transfer().expect("transfer");
        let mut claims = vec![id(&m1), id(&m2)];
        claims.sort();
        assert_eq!(t.claims, claims);
        assert_eq!(t.balance, 200);
        assert_eq!(
            alice.pay(&w.ledger, &mut w.store, acct(2), 201, None, "", 0),
            Err(WalletError::Insufficient {
                available: 200,
                amount: 201
            })
        );
        assert_eq!(
            alice.claim(&w.ledger, &mut w.store, 0),
            Err(WalletError::NothingToDo)
        );
    }
}
