//! What the node core tells its driver happened: merges, payments decided, forks found,
//! peers that broke the protocol.

use crate::id::{AccountId, RecordId};
use crate::ledger::Changes;
use crate::policy::{Accepted, Refusal};
use crate::sync::{PeerId, SyncError};

use super::LinkId;

/// One thing that happened inside the node core.
#[derive(Debug, Clone, PartialEq)]
pub enum NodeEvent {
    /// Records entered the ledger (or were refused, or wait for dependencies).
    Merged {
        /// Where they came from; `None` for records made or handed in locally.
        source: Option<(LinkId, PeerId)>,
        /// What the merge changed.
        changes: Changes,
    },
    /// A fork became known: `account` signed two records at `seq`. The two records,
    /// which prove it on their own, are in the ledger.
    ConflictFound {
        /// The account that signed twice.
        account: AccountId,
        /// Where.
        seq: u64,
    },
    /// A payment handed to one of this node's payees was accepted, once durable.
    PaymentAccepted(Accepted),
    /// A payment handed to one of this node's payees was refused, by the rule named.
    PaymentRefused {
        /// The payment.
        payment: RecordId,
        /// The payee it was for.
        payee: AccountId,
        /// Why.
        refusal: Refusal,
    },
    /// A payment this node's wallet signed is durable and released to the links.
    PaymentReleased {
        /// The payment.
        payment: RecordId,
        /// The paying account.
        payer: AccountId,
        /// Its seq.
        seq: u64,
    },
    /// A peer sent something that broke a rule; it was answered and rate-limited.
    PeerMisbehaved {
        /// On which link.
        link: LinkId,
        /// Who.
        peer: PeerId,
        /// What it broke.
        error: PeerFault,
    },
    /// A reconciliation this node drove with a peer ended.
    Reconciled {
        /// On which link.
        link: LinkId,
        /// With whom.
        peer: PeerId,
        /// Whether it ended well.
        ok: bool,
    },
}

/// What a misbehaving peer did.
#[derive(Debug, Clone, PartialEq)]
pub enum PeerFault {
    /// A sync message broke the protocol.
    Sync(SyncError),
    /// A frame could not be reassembled.
    Frame(String),
}

impl std::fmt::Display for PeerFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PeerFault::Sync(e) => write!(f, "sync: {e}"),
            PeerFault::Frame(e) => write!(f, "frame: {e}"),
        }
    }
}
