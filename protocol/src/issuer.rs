//! An issuer's signing helper: mints, checkpoints (settlement) and revocations, each
//! persisted by seq before release like a wallet's records.

use ed25519_dalek::SigningKey;

use crate::chain::{ChainId, ChainSpec};
use crate::id::{AccountId, RecordId};
use crate::ledger::{Ledger, RecordSet};
use crate::record::{self, Body, Checkpoint, Kind, MAX_SEQ, Mint, Revoke};
use crate::wallet::{SeqStore, WalletError};
use crate::wire;

/// An issuer key with its own chain of records.
pub struct Issuer {
    key: SigningKey,
    account: AccountId,
    chain: ChainId,
    next_seq: u64,
    prev: Option<RecordId>,
}

impl Issuer {
    /// An issuer resuming at `next_seq` after the record `prev` (1 and `None` when new).
    pub fn new(key: SigningKey, spec: &ChainSpec, next_seq: u64, prev: Option<RecordId>) -> Self {
        Issuer {
            account: record::account_of(&key),
            key,
            chain: spec.chain_id(),
            next_seq: next_seq.max(1),
            prev,
        }
    }

    /// The issuer's key.
    pub fn account(&self) -> AccountId {
        self.account
    }

    /// Creates `amount` for `to`.
    pub fn mint<T: SeqStore>(
        &mut self,
        store: &mut T,
        to: AccountId,
        amount: u64,
        memo: &str,
        now_ms: u64,
    ) -> Result<wire::SignedRecord, WalletError> {
        self.sign(
            store,
            Kind::Mint(Mint {
                to,
                amount,
                memo: memo.to_owned(),
            }),
            now_ms,
        )
    }

    /// Settles `account` at `head` (its transfer at `at_seq`) with `balance`.
    #[allow(clippy::too_many_arguments)]
    pub fn checkpoint<T: SeqStore>(
        &mut self,
        store: &mut T,
        account: AccountId,
        at_seq: u64,
        head: RecordId,
        balance: u64,
        previous: Option<RecordId>,
        now_ms: u64,
    ) -> Result<wire::SignedRecord, WalletError> {
        self.sign(
            store,
            Kind::Checkpoint(Checkpoint {
                account,
                at_seq,
                head,
                balance,
                previous,
            }),
            now_ms,
        )
    }

    /// Settles `account` at the end of its canonical chain, at its effective balance
    /// (never above the head's), extending its governing checkpoint.
    pub fn settle<S: RecordSet, T: SeqStore>(
        &mut self,
        ledger: &Ledger<S>,
        store: &mut T,
        account: AccountId,
        now_ms: u64,
    ) -> Result<Option<wire::SignedRecord>, WalletError> {
        let Some(view) = ledger.account(&account) else {
            return Ok(None);
        };
        let Some(&(seq, head, _)) = ledger
            .records_of(&account)
            .iter()
            .rfind(|(_, _, s)| s.is_canonical())
        else {
            return Ok(None);
        };
        let head_balance = ledger
            .get(&head)
            .and_then(|r| r.body().transfer().map(|t| t.balance))
            .unwrap_or(0);
        let balance = u64::try_from(view.effective.max(0))
            .unwrap_or(u64::MAX)
            .min(head_balance);
        self.checkpoint(store, account, seq, head, balance, view.governing, now_ms)
            .map(Some)
    }

    /// Voids `account`'s records above `after_seq`.
    pub fn revoke<T: SeqStore>(
        &mut self,
        store: &mut T,
        account: AccountId,
        after_seq: u64,
        reason: &str,
        now_ms: u64,
    ) -> Result<wire::SignedRecord, WalletError> {
        self.sign(
            store,
            Kind::Revoke(Revoke {
                account,
                after_seq,
                reason: reason.to_owned(),
            }),
            now_ms,
        )
    }

    fn sign<T: SeqStore>(
        &mut self,
        store: &mut T,
        kind: Kind,
        now_ms: u64,
    ) -> Result<wire::SignedRecord, WalletError> {
        // Resumed from a store, the next seq may be anything; past the bound the record
        // would be refused, and the seq after it would not fit.
        if self.next_seq > MAX_SEQ {
            return Err(WalletError::SeqExhausted { seq: self.next_seq });
        }
        let body = Body {
            signer: self.account,
            seq: self.next_seq,
            prev: self.prev,
            timestamp_ms: now_ms,
            kind,
        };
        store
            .persist_next_seq(&self.account, self.next_seq + 1)
            .map_err(|e| WalletError::Store(e.to_string()))?;
        let signed = record::sign(&self.key, &self.chain, &body);
        self.next_seq += 1;
        self.prev = Some(RecordId::of_body(&signed.body));
        Ok(signed)
    }
}
