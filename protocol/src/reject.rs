//! Why a record was refused at intake. Every refusal names the rule it broke, so an
//! operator (and a test) can tell exactly which check failed.

use serde::Serialize;

use crate::id::RecordId;

/// The rule a record broke; a refused record is never stored or relayed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[serde(tag = "rule", rename_all = "snake_case")]
pub enum Reject {
    // Decoding and shape (intake step 1).
    /// The encoded record is larger than the protocol allows.
    #[error("record of {len} bytes exceeds {max}")]
    Oversized { len: usize, max: usize },
    /// The bytes are not a protobuf message of the expected type.
    #[error("undecodable: {reason}")]
    Undecodable { reason: String },
    /// The bytes decode, but are not the canonical encoding of what they decode to.
    #[error("not the canonical encoding: {reason}")]
    NonCanonical { reason: &'static str },
    /// A fixed-size field has the wrong length.
    #[error("field {field} has {len} bytes, wants {want}")]
    FieldLength {
        field: &'static str,
        len: usize,
        want: &'static str,
    },
    /// The body names no kind (transfer, mint, checkpoint, revoke).
    #[error("record has no kind")]
    NoKind,
    /// More claims than a transfer may carry.
    #[error("{count} claims, at most {max}")]
    TooManyClaims { count: usize, max: usize },
    /// A memo or reason longer than allowed.
    #[error("text of {len} bytes, at most {max}")]
    TextTooLong { len: usize, max: usize },

    // Signature (intake step 1).
    /// The signer key is not a canonical point encoding.
    #[error("signer key is not canonically encoded")]
    NonCanonicalKey,
    /// The signer key is not a curve point.
    #[error("signer key is not a curve point")]
    MalformedKey,
    /// The signer key has small order, so it can "sign" anything.
    #[error("signer key has small order")]
    SmallOrderKey,
    /// R in the signature is not canonically encoded.
    #[error("signature R is not canonically encoded")]
    NonCanonicalR,
    /// s in the signature is not below the group order.
    #[error("signature s is not canonical")]
    NonCanonicalS,
    /// The signature does not verify (also: a record from another chain).
    #[error("signature does not verify")]
    BadSignature,

    // Record rules that need nothing else (intake step 1).
    /// seq starts at 1.
    #[error("seq 0")]
    SeqZero,
    /// A seq (the record's, or a checkpoint's `at_seq`) above the highest allowed.
    #[error("{field} {seq} above the highest seq {max}")]
    SeqTooHigh {
        field: &'static str,
        seq: u64,
        max: u64,
    },
    /// prev is empty exactly at seq 1.
    #[error("prev must be empty exactly at seq 1")]
    PrevShape,
    /// The signer may not sign this kind (transfers are for accounts, the rest for issuers).
    #[error("{kind} not allowed for this signer")]
    KindNotAllowed { kind: &'static str },
    /// A transfer that neither sends a positive amount nor claims anything.
    #[error("free record: no amount and no claim")]
    FreeRecord,
    /// The recipient rules: `to` empty exactly when amount is 0, never the signer, never an issuer where money cannot go.
    #[error("recipient rule: {reason}")]
    Recipient { reason: &'static str },
    /// A mint of nothing.
    #[error("mint of zero")]
    ZeroMint,
    /// A checkpoint at seq 0 or with a previous that is not an earlier checkpoint of the account.
    #[error("checkpoint rule: {reason}")]
    CheckpointShape { reason: &'static str },

    // Chain rules once dependencies are in the set (intake step 2).
    /// prev is neither the signer's transfer at seq-1 nor a checkpoint of the signer at seq-1.
    #[error("prev is not the signer's record at seq-1")]
    BadPrev,
    /// A claim names something other than a transfer or mint to the signer.
    #[error("claim {id} is not a transfer or mint to the signer")]
    ClaimNotPayable { id: RecordId },
    /// An id claimed twice since the chain's last checkpoint.
    #[error("claim {id} already claimed since the last checkpoint")]
    DoubleClaim { id: RecordId },
    /// The stated balance does not follow from the previous balance, claims and amount.
    #[error("balance {stated} stated, {expected} follows")]
    BalanceMismatch { stated: u64, expected: u64 },
    /// The arithmetic underflows: more sent than held.
    #[error("balance underflow")]
    Underflow,
    /// The arithmetic overflows.
    #[error("arithmetic overflow")]
    Overflow,
    /// One transfer above the offline single-payment limit.
    #[error("amount {amount} above the single limit {max}")]
    OverSingleLimit { amount: u64, max: u64 },
    /// Sent since the last checkpoint above the cumulative limit.
    #[error("{total} sent since the last checkpoint, limit {max}")]
    OverCumulativeLimit { total: u64, max: u64 },
    /// More paying transfers since the last checkpoint than the count limit.
    #[error("{count} payments since the last checkpoint, limit {max}")]
    OverCountLimit { count: u64, max: u64 },
    /// A dependency was itself refused, so this record can never enter.
    #[error("depends on refused record {id}")]
    DependsOnRefused { id: RecordId },
}

impl Reject {
    /// The rule's stable snake_case name (as in the JSON output).
    pub fn rule(&self) -> &'static str {
        match self {
            Reject::Oversized { .. } => "oversized",
            Reject::Undecodable { .. } => "undecodable",
            Reject::NonCanonical { .. } => "non_canonical",
            Reject::FieldLength { .. } => "field_length",
            Reject::NoKind => "no_kind",
            Reject::TooManyClaims { .. } => "too_many_claims",
            Reject::TextTooLong { .. } => "text_too_long",
            Reject::NonCanonicalKey => "non_canonical_key",
            Reject::MalformedKey => "malformed_key",
            Reject::SmallOrderKey => "small_order_key",
            Reject::NonCanonicalR => "non_canonical_r",
            Reject::NonCanonicalS => "non_canonical_s",
            Reject::BadSignature => "bad_signature",
            Reject::SeqZero => "seq_zero",
            Reject::SeqTooHigh { .. } => "seq_too_high",
            Reject::PrevShape => "prev_shape",
            Reject::KindNotAllowed { .. } => "kind_not_allowed",
            Reject::FreeRecord => "free_record",
            Reject::Recipient { .. } => "recipient",
            Reject::ZeroMint => "zero_mint",
            Reject::CheckpointShape { .. } => "checkpoint_shape",
            Reject::BadPrev => "bad_prev",
            Reject::ClaimNotPayable { .. } => "claim_not_payable",
            Reject::DoubleClaim { .. } => "double_claim",
            Reject::BalanceMismatch { .. } => "balance_mismatch",
            Reject::Underflow => "underflow",
            Reject::Overflow => "overflow",
            Reject::OverSingleLimit { .. } => "over_single_limit",
            Reject::OverCumulativeLimit { .. } => "over_cumulative_limit",
            Reject::OverCountLimit { .. } => "over_count_limit",
            Reject::DependsOnRefused { .. } => "depends_on_refused",
        }
    }
}
