//! Records: a signed body that is never re-encoded, named by the BLAKE3 hash of its bytes.
//! Parsing (size, canonical bytes, exact field lengths), signing with domain separation,
//! and verification, single and batch, with one verdict either way.

pub mod body;
pub mod canonical;
mod decode;
#[cfg(feature = "parallel")]
pub mod parallel;
pub mod verify;

use std::sync::Arc;

use ed25519_dalek::{Signer, SigningKey};
use prost::Message;

pub use body::{
    Body, Checkpoint, Kind, MAX_CLAIMS, MAX_SEQ, MAX_TEXT_BYTES, Mint, Revoke, Transfer,
};

use crate::chain::ChainId;
use crate::id::{AccountId, RecordId};
use crate::reject::Reject;
use crate::wire;

/// Largest encoded `SignedRecord`, in bytes.
pub const MAX_RECORD_BYTES: usize = 1024;

/// A record whose bytes parsed and whose signature verified: the only kind the ledger holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    id: RecordId,
    body: Body,
    body_bytes: Vec<u8>,
    signature: [u8; 64],
}

/// A record whose bytes parsed, signature not yet checked.
#[derive(Clone, Debug)]
pub struct Parsed {
    /// BLAKE3 of the body bytes.
    pub id: RecordId,
    /// The typed body.
    pub body: Body,
    body_bytes: Vec<u8>,
    signature: [u8; 64],
}

/// Decodes a `SignedRecord` from bytes, bounding the size first.
pub fn decode_signed(bytes: &[u8]) -> Result<wire::SignedRecord, Reject> {
    if bytes.len() > MAX_RECORD_BYTES {
        return Err(Reject::Oversized {
            len: bytes.len(),
            max: MAX_RECORD_BYTES,
        });
    }
    wire::SignedRecord::decode(bytes).map_err(|e| Reject::Undecodable {
        reason: e.to_string(),
    })
}

/// Parses a signed record: size, signature length, canonical body bytes, field lengths.
pub fn parse(signed: wire::SignedRecord) -> Result<Parsed, Reject> {
    let id = RecordId::of_body(&signed.body);
    parse_as(signed, id)
}

/// [`parse`] for a caller that hashed the body already: `id` must be its id.
pub(crate) fn parse_as(signed: wire::SignedRecord, id: RecordId) -> Result<Parsed, Reject> {
    let len = signed.encoded_len();
    if len > MAX_RECORD_BYTES {
        return Err(Reject::Oversized {
            len,
            max: MAX_RECORD_BYTES,
        });
    }
    let signature: [u8; 64] =
        signed
            .signature
            .as_slice()
            .try_into()
            .map_err(|_| Reject::FieldLength {
                field: "signature",
                len: signed.signature.len(),
                want: "64",
            })?;
    let body = decode::decode_body(&signed.body)?;
    Ok(Parsed {
        id,
        body,
        body_bytes: signed.body,
        signature,
    })
}

impl Parsed {
    /// The signer's key bytes.
    pub fn key(&self) -> &[u8; 32] {
        &self.body.signer.0
    }

    /// The signature bytes.
    pub fn signature(&self) -> &[u8; 64] {
        &self.signature
    }

    /// The exact body bytes.
    pub fn body_bytes(&self) -> &[u8] {
        &self.body_bytes
    }

    /// Checks the signature and yields the record.
    pub fn verify(self, verifier: &mut verify::Verifier) -> Result<Record, Reject> {
        verifier.verify(&self.body.signer.0, &self.signature, &self.body_bytes)?;
        Ok(self.into_record())
    }

    /// Accepts the record without checking its signature: only for bytes this node
    /// verified before and kept in its own durable store.
    pub fn into_trusted(self) -> Record {
        self.into_record()
    }

    /// The record in the shared allocation the ledger keeps it in, signature unchecked.
    pub(crate) fn into_unverified(self) -> Unverified {
        Unverified(Arc::new(self.into_record()))
    }

    pub(crate) fn into_record(self) -> Record {
        Record {
            id: self.id,
            body: self.body,
            body_bytes: self.body_bytes,
            signature: self.signature,
        }
    }
}

/// A parsed record whose signature is not checked yet, already in the allocation the
/// ledger will hold it in: a merge moves a pointer from parsing to admission, where it
/// moved the whole record through a batch-sized table and then into that allocation.
pub(crate) struct Unverified(Arc<Record>);

impl Unverified {
    /// The record's id.
    pub fn id(&self) -> RecordId {
        self.0.id
    }

    /// The signer's key bytes.
    pub fn key(&self) -> &[u8; 32] {
        &self.0.body.signer.0
    }

    /// The signature bytes.
    pub fn signature(&self) -> &[u8; 64] {
        &self.0.signature
    }

    /// The exact body bytes.
    pub fn body_bytes(&self) -> &[u8] {
        &self.0.body_bytes
    }

    /// The record, once its signature is checked.
    pub fn into_checked(self) -> Arc<Record> {
        self.0
    }
}

impl Record {
    /// The record's id.
    pub fn id(&self) -> RecordId {
        self.id
    }

    /// The typed body.
    pub fn body(&self) -> &Body {
        &self.body
    }

    /// The signer.
    pub fn signer(&self) -> AccountId {
        self.body.signer
    }

    /// The seq in the signer's chain.
    pub fn seq(&self) -> u64 {
        self.body.seq
    }

    /// The exact signed body bytes.
    pub fn body_bytes(&self) -> &[u8] {
        &self.body_bytes
    }

    /// The signature.
    pub fn signature(&self) -> &[u8; 64] {
        &self.signature
    }

    /// The record as it travels.
    pub fn to_signed(&self) -> wire::SignedRecord {
        wire::SignedRecord {
            body: self.body_bytes.clone(),
            signature: self.signature.to_vec(),
        }
    }

    /// The record's encoded size as it travels.
    pub fn encoded_len(&self) -> usize {
        self.to_signed().encoded_len()
    }
}

/// Signs a body for `chain`: ed25519 over "meshpay/v1" || chain id || body bytes.
pub fn sign(key: &SigningKey, chain: &ChainId, body: &Body) -> wire::SignedRecord {
    let bytes = body.encode();
    let sig = key.sign(&verify::signing_message(chain, &bytes));
    wire::SignedRecord {
        body: bytes,
        signature: sig.to_bytes().to_vec(),
    }
}

/// The account (public key) of a signing key.
pub fn account_of(key: &SigningKey) -> AccountId {
    AccountId(key.verifying_key().to_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit;
    use proptest::prelude::*;

    fn arb_id() -> impl Strategy<Value = RecordId> {
        any::<[u8; 32]>().prop_map(RecordId)
    }

    fn arb_account() -> impl Strategy<Value = AccountId> {
        any::<[u8; 32]>().prop_map(AccountId)
    }

    fn arb_text() -> impl Strategy<Value = String> {
        "[a-z ]{0,64}"
    }

    fn arb_kind() -> impl Strategy<Value = Kind> {
        prop_oneof![
            (
                proptest::collection::vec(arb_id(), 0..=MAX_CLAIMS),
                proptest::option::of(arb_account()),
                any::<u64>(),
                any::<u64>(),
                proptest::option::of(any::<[u8; 16]>()),
                arb_text()
            )
                .prop_map(|(claims, to, amount, balance, request, memo)| {
                    Kind::Transfer(Transfer {
                        claims,
                        to,
                        amount,
                        balance,
                        request,
                        memo,
                    })
                }),
            (arb_account(), any::<u64>(), arb_text())
                .prop_map(|(to, amount, memo)| Kind::Mint(Mint { to, amount, memo })),
            (
                arb_account(),
                any::<u64>(),
                arb_id(),
                any::<u64>(),
                proptest::option::of(arb_id())
            )
                .prop_map(|(account, at_seq, head, balance, previous)| {
                    Kind::Checkpoint(Checkpoint {
                        account,
                        at_seq,
                        head,
                        balance,
                        previous,
                    })
                }),
            (arb_account(), any::<u64>(), arb_text()).prop_map(|(account, after_seq, reason)| {
                Kind::Revoke(Revoke {
                    account,
                    after_seq,
                    reason,
                })
            }),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(testkit::cases()))]

        /// Any body encodes canonically, parses back to itself, and keeps its id.
        #[test]
        fn body_round_trip(
            seed in 0u64..50,
            seq in any::<u64>(),
            prev in proptest::option::of(arb_id()),
            ts in any::<u64>(),
            kind in arb_kind(),
        ) {
            let key = testkit::key(seed);
            let body = Body { signer: account_of(&key), seq, prev, timestamp_ms: ts, kind };
            let chain = ChainId([3; 32]);
            let signed = sign(&key, &chain, &body);
            let bytes = signed.encode_to_vec();
            let back = parse(decode_signed(&bytes).expect("decodes")).expect("parses");
            prop_assert_eq!(&back.body, &body);
            prop_assert_eq!(back.id, RecordId::of_body(&body.encode()));
            let record = back.verify(&mut verify::Verifier::new(chain)).expect("verifies");
            prop_assert_eq!(record.to_signed(), signed);
        }

        /// Chain specs round-trip and keep their chain id.
        #[test]
        fn chain_spec_round_trip(name in "[a-z]{1,64}", n in 1u64..8, single in 1u64..100, extra in 0u64..1000, count in 1u64..50) {
            let spec = crate::chain::ChainSpec {
                name,
                issuers: (0..n).map(|i| account_of(&testkit::key(500 + i))).collect(),
                limits: crate::chain::Limits { max_single: single, max_cumulative: single + extra, max_count: count },
            };
            let back = crate::chain::ChainSpec::decode(&spec.encode()).expect("decodes");
            prop_assert_eq!(back.chain_id(), spec.chain_id());
            prop_assert_eq!(back, spec);
        }

        /// Arbitrary bytes never panic the record decoder.
        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..1200)) {
            if let Ok(s) = decode_signed(&bytes) {
                let _ = parse(s);
            }
            let _ = crate::chain::ChainSpec::decode(&bytes);
            let _ = crate::bundle::decode(&bytes);
        }
    }
}
