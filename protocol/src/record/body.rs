//! The typed record body: what a `RecordBody` says once every fixed-size field has been
//! checked for its exact length. Built from the wire form, and encoded back for signing.

use prost::Message;

use crate::id::{AccountId, RecordId};
use crate::wire::{self, record_body};

/// Most claims one transfer may carry.
pub const MAX_CLAIMS: usize = 16;
/// Longest memo or revocation reason, in bytes.
pub const MAX_TEXT_BYTES: usize = 64;
/// Highest seq a record, or a checkpoint's `at_seq`, may name (2^63 - 1). Bounded at
/// intake so that the seq after any chain position still fits a u64: the chain rules,
/// the account walk and settlement all step to `seq + 1`. No honest chain comes near
/// it, and it fits a signed 64-bit integer wherever a store or client keeps seqs.
pub const MAX_SEQ: u64 = i64::MAX as u64;

/// A decoded record body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Body {
    /// The account that signed: its public key.
    pub signer: AccountId,
    /// Position in the signer's chain, from 1.
    pub seq: u64,
    /// The record at seq-1 (or a checkpoint at seq-1); `None` at seq 1.
    pub prev: Option<RecordId>,
    /// Signer's clock, informational only.
    pub timestamp_ms: u64,
    /// What the record does.
    pub kind: Kind,
}

/// The four kinds of record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// An account pays and/or takes in what it was paid.
    Transfer(Transfer),
    /// An issuer creates money.
    Mint(Mint),
    /// An issuer settles an account.
    Checkpoint(Checkpoint),
    /// An issuer cuts off an account's later records.
    Revoke(Revoke),
}

/// A payment and/or the claim of incoming records.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Transfer {
    /// Transfers and mints to the signer that this record takes in.
    pub claims: Vec<RecordId>,
    /// The payee; `None` exactly when `amount` is 0.
    pub to: Option<AccountId>,
    /// What is paid, in minor units.
    pub amount: u64,
    /// The signer's balance after this record.
    pub balance: u64,
    /// The payee's request nonce this pays, if any.
    pub request: Option<[u8; 16]>,
    /// Free text, at most 64 bytes.
    pub memo: String,
}

/// New money for an account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mint {
    /// Who receives it.
    pub to: AccountId,
    /// How much.
    pub amount: u64,
    /// Free text, at most 64 bytes.
    pub memo: String,
}

/// An issuer's settlement of an account at one of its records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// The account settled.
    pub account: AccountId,
    /// The seq settled.
    pub at_seq: u64,
    /// The account's transfer at `at_seq` that the settlement fixes.
    pub head: RecordId,
    /// The settled balance.
    pub balance: u64,
    /// The checkpoint of this account it extends.
    pub previous: Option<RecordId>,
}

/// An issuer's revocation of an account's records above a seq.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Revoke {
    /// The account cut off.
    pub account: AccountId,
    /// Records above this seq are void.
    pub after_seq: u64,
    /// Why, for people.
    pub reason: String,
}

impl Kind {
    /// Lowercase name of the kind.
    pub fn name(&self) -> &'static str {
        match self {
            Kind::Transfer(_) => "transfer",
            Kind::Mint(_) => "mint",
            Kind::Checkpoint(_) => "checkpoint",
            Kind::Revoke(_) => "revoke",
        }
    }
}

impl Body {
    /// The recipient and amount, for a transfer that pays or a mint.
    pub fn payment(&self) -> Option<(AccountId, u64)> {
        match &self.kind {
            Kind::Transfer(t) => t.to.map(|to| (to, t.amount)),
            Kind::Mint(m) => Some((m.to, m.amount)),
            _ => None,
        }
    }

    /// The transfer, if this is one.
    pub fn transfer(&self) -> Option<&Transfer> {
        match &self.kind {
            Kind::Transfer(t) => Some(t),
            _ => None,
        }
    }

    /// The checkpoint, if this is one.
    pub fn checkpoint(&self) -> Option<&Checkpoint> {
        match &self.kind {
            Kind::Checkpoint(c) => Some(c),
            _ => None,
        }
    }

    /// The account an issuer record is about (the target of a checkpoint or revoke).
    pub fn subject(&self) -> Option<AccountId> {
        match &self.kind {
            Kind::Checkpoint(c) => Some(c.account),
            Kind::Revoke(r) => Some(r.account),
            _ => None,
        }
    }

    /// The canonical encoding: the bytes that are signed, hashed and sent.
    pub fn encode(&self) -> Vec<u8> {
        self.to_wire().encode_to_vec()
    }

    /// Types a decoded wire body, checking every fixed-size field's exact length: the
    /// reference the body decoder (`decode.rs`) is tested against.
    #[cfg(test)]
    pub fn from_wire(w: wire::RecordBody) -> Result<Self, crate::reject::Reject> {
        use super::decode::{account, bounded, id, optional_id};
        use crate::reject::Reject;
        let signer = account(&w.signer, "signer")?;
        let prev = optional_id(&w.prev, "prev")?;
        let kind = match w.kind.ok_or(Reject::NoKind)? {
            record_body::Kind::Transfer(t) => {
                if t.claims.len() > MAX_CLAIMS {
                    return Err(Reject::TooManyClaims {
                        count: t.claims.len(),
                        max: MAX_CLAIMS,
                    });
                }
                let claims = t
                    .claims
                    .iter()
                    .map(|c| id(c, "claim"))
                    .collect::<Result<Vec<_>, _>>()?;
                let request = match t.request.len() {
                    0 => None,
                    16 => Some(t.request.as_slice().try_into().expect("length checked")),
                    len => {
                        return Err(Reject::FieldLength {
                            field: "request",
                            len,
                            want: "16 or 0",
                        });
                    }
                };
                Kind::Transfer(Transfer {
                    claims,
                    to: if t.to.is_empty() {
                        None
                    } else {
                        Some(account(&t.to, "to")?)
                    },
                    amount: t.amount,
                    balance: t.balance,
                    request,
                    memo: bounded(&t.memo)?,
                })
            }
            record_body::Kind::Mint(m) => Kind::Mint(Mint {
                to: account(&m.to, "to")?,
                amount: m.amount,
                memo: bounded(&m.memo)?,
            }),
            record_body::Kind::Checkpoint(c) => Kind::Checkpoint(Checkpoint {
                account: account(&c.account, "account")?,
                at_seq: c.at_seq,
                head: id(&c.head, "head")?,
                balance: c.balance,
                previous: optional_id(&c.previous, "previous")?,
            }),
            record_body::Kind::Revoke(r) => Kind::Revoke(Revoke {
                account: account(&r.account, "account")?,
                after_seq: r.after_seq,
                reason: bounded(&r.reason)?,
            }),
        };
        Ok(Body {
            signer,
            seq: w.seq,
            prev,
            timestamp_ms: w.timestamp_ms,
            kind,
        })
    }

    /// The wire form of this body.
    pub fn to_wire(&self) -> wire::RecordBody {
        let bytes = |id: Option<[u8; 32]>| id.map(|b| b.to_vec()).unwrap_or_default();
        let kind = match &self.kind {
            Kind::Transfer(t) => record_body::Kind::Transfer(wire::Transfer {
                claims: t.claims.iter().map(|c| c.0.to_vec()).collect(),
                to: bytes(t.to.map(|a| a.0)),
                amount: t.amount,
                balance: t.balance,
                request: t.request.map(|r| r.to_vec()).unwrap_or_default(),
                memo: t.memo.clone(),
            }),
            Kind::Mint(m) => record_body::Kind::Mint(wire::Mint {
                to: m.to.0.to_vec(),
                amount: m.amount,
                memo: m.memo.clone(),
            }),
            Kind::Checkpoint(c) => record_body::Kind::Checkpoint(wire::Checkpoint {
                account: c.account.0.to_vec(),
                at_seq: c.at_seq,
                head: c.head.0.to_vec(),
                balance: c.balance,
                previous: bytes(c.previous.map(|p| p.0)),
            }),
            Kind::Revoke(r) => record_body::Kind::Revoke(wire::Revoke {
                account: r.account.0.to_vec(),
                after_seq: r.after_seq,
                reason: r.reason.clone(),
            }),
        };
        wire::RecordBody {
            signer: self.signer.0.to_vec(),
            seq: self.seq,
            prev: bytes(self.prev.map(|p| p.0)),
            timestamp_ms: self.timestamp_ms,
            kind: Some(kind),
        }
    }
}
