//! Conflicts: several valid records of one signer at one seq. Any two of them are a
//! transferable proof of a double spend that anyone can check with the chain id alone.

use prost::Message;
use serde::Serialize;

use super::{Ledger, RecordSet};
use crate::chain::ChainId;
use crate::id::{AccountId, RecordId};
use crate::record::{self, verify::Verifier};
use crate::reject::Reject;
use crate::wire;

/// A fork: the records one signer signed at one seq.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Conflict {
    /// The signer who signed two histories.
    pub account: AccountId,
    /// Where.
    pub seq: u64,
    /// Every record at that seq, by id.
    pub records: Vec<RecordId>,
    /// Whether the signer is an issuer (reported, voids nothing).
    pub issuer: bool,
}

/// Two signed records of one signer at one seq.
#[derive(Clone, Debug, PartialEq)]
pub struct ConflictProof {
    /// One record.
    pub first: wire::SignedRecord,
    /// Another record at the same seq.
    pub second: wire::SignedRecord,
}

/// Why a conflict proof does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// The encoding is broken.
    #[error("proof undecodable: {0}")]
    Undecodable(String),
    /// A record of the proof is not valid on its own.
    #[error("a record of the proof is invalid: {0}")]
    Record(Reject),
    /// The two records are not by one signer at one seq, or are the same record.
    #[error("the records are not two different records of one signer at one seq")]
    NotAFork,
}

impl ConflictProof {
    /// Checks the proof with nothing but the chain id; yields the culprit and the seq.
    pub fn verify(&self, chain: ChainId) -> Result<(AccountId, u64), ProofError> {
        let mut verifier = Verifier::new(chain);
        let mut check = |s: &wire::SignedRecord| {
            record::parse(s.clone())
                .and_then(|p| p.verify(&mut verifier))
                .map_err(ProofError::Record)
        };
        let a = check(&self.first)?;
        let b = check(&self.second)?;
        if a.signer() != b.signer() || a.seq() != b.seq() || a.id() == b.id() {
            return Err(ProofError::NotAFork);
        }
        Ok((a.signer(), a.seq()))
    }

    /// The wire encoding.
    pub fn encode(&self) -> Vec<u8> {
        wire::ConflictProof {
            first: Some(self.first.clone()),
            second: Some(self.second.clone()),
        }
        .encode_to_vec()
    }

    /// Decodes a proof, bounding its size.
    pub fn decode(bytes: &[u8]) -> Result<Self, ProofError> {
        if bytes.len() > 2 * record::MAX_RECORD_BYTES + 16 {
            return Err(ProofError::Undecodable("too large".into()));
        }
        let w = wire::ConflictProof::decode(bytes)
            .map_err(|e| ProofError::Undecodable(e.to_string()))?;
        match (w.first, w.second) {
            (Some(first), Some(second)) => Ok(ConflictProof { first, second }),
            _ => Err(ProofError::Undecodable("a record is missing".into())),
        }
    }
}

impl<S: RecordSet> Ledger<S> {
    /// Every conflict in the set, by account then seq.
    pub fn conflicts(&self) -> Vec<Conflict> {
        self.forks
            .iter()
            .map(|(account, seq)| self.conflict_at(*account, *seq))
            .collect()
    }

    /// How many conflicts the set holds (what `conflicts().len()` says, without building
    /// them).
    pub fn conflict_count(&self) -> usize {
        self.forks.len()
    }

    /// Whether the account has signed two records at one seq.
    pub fn has_conflict(&self, account: &AccountId) -> bool {
        self.forks
            .range((*account, 0)..=(*account, u64::MAX))
            .next()
            .is_some()
    }

    fn conflict_at(&self, account: AccountId, seq: u64) -> Conflict {
        let mut records = self
            .accounts
            .get(&account)
            .expect("a fork's account is known")
            .by_seq
            .get(seq)
            .map_or_else(Vec::new, |ids| ids.to_vec());
        records.sort();
        Conflict {
            account,
            seq,
            records,
            issuer: self.spec.is_issuer(&account),
        }
    }

    /// The proof of a conflict: its two lowest ids, signed records included.
    pub fn proof(&self, conflict: &Conflict) -> Option<ConflictProof> {
        let a = self.get(conflict.records.first()?)?;
        let b = self.get(conflict.records.get(1)?)?;
        Some(ConflictProof {
            first: a.to_signed(),
            second: b.to_signed(),
        })
    }
}
