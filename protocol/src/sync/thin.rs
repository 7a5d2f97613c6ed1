//! Thin pushes. A payment pushed to a peer that is known to hold the record it builds on
//! (the signer's record at seq−1) travels without that record's 32-byte id, which is a
//! fifth of a payment's bytes; four bytes of the id let the receiver find it among the
//! signer's records at seq−1 and rebuild the body exactly, since the body's encoding is
//! canonical. A peer that cannot find it (it lost the earlier push, or holds two records
//! with that prefix) reconciles with the sender soon after, which brings the record whole.

use prost::Message;

use super::message::SyncError;
use crate::id::{AccountId, RecordId};
use crate::ledger::{Ledger, RecordSet};
use crate::record::Record;
use crate::wire::{self, record_body};

/// Bytes of the left-out id a thin push carries.
pub const PREFIX_LEN: usize = 4;

/// The thin form of `record` for a peer that holds what `peer_has` says, when it has
/// one: a transfer whose `prev` is the signer's own record at seq−1, held by the peer.
pub fn thin<S: RecordSet>(
    record: &Record,
    ledger: &Ledger<S>,
    peer_has: impl Fn(&RecordId) -> bool,
) -> Option<wire::Thin> {
    let body = record.body();
    body.transfer()?;
    let prev = body.prev?;
    if !peer_has(&prev) {
        return None;
    }
    // A checkpoint named as `prev` is the issuer's record, not among the signer's own.
    let parent = ledger.get(&prev)?;
    if parent.signer() != body.signer || parent.seq().checked_add(1) != Some(body.seq) {
        return None;
    }
    let mut w = body.to_wire();
    w.prev.clear();
    Some(wire::Thin {
        body: w.encode_to_vec(),
        signature: record.signature().to_vec(),
        prev_prefix: prefix(&prev),
    })
}

/// The whole record a thin push stands for, rebuilt from the records `ledger` holds;
/// `Ok(None)` when the left-out id is not found exactly once there.
pub fn expand<S: RecordSet>(
    t: &wire::Thin,
    ledger: &Ledger<S>,
) -> Result<Option<wire::SignedRecord>, SyncError> {
    let mut w = wire::RecordBody::decode(t.body.as_slice())
        .map_err(|_| SyncError::Invalid("thin body does not decode"))?;
    if !w.prev.is_empty() {
        return Err(SyncError::Invalid("thin body carries prev"));
    }
    if !matches!(w.kind, Some(record_body::Kind::Transfer(_))) {
        return Err(SyncError::Invalid("thin record is not a transfer"));
    }
    let signer =
        AccountId::from_slice(&w.signer).ok_or(SyncError::Invalid("thin record's signer"))?;
    let parent_seq = w
        .seq
        .checked_sub(1)
        .filter(|s| *s >= 1)
        .ok_or(SyncError::Invalid("thin record below seq 2"))?;
    let mut found = ledger
        .signed_at(&signer, parent_seq)
        .iter()
        .filter(|id| prefix(id) == t.prev_prefix);
    let (Some(prev), None) = (found.next(), found.next()) else {
        return Ok(None);
    };
    w.prev = prev.0.to_vec();
    Ok(Some(wire::SignedRecord {
        body: w.encode_to_vec(),
        signature: t.signature.clone(),
    }))
}

/// The id's first bytes as the message carries them.
fn prefix(id: &RecordId) -> u32 {
    let mut b = [0; PREFIX_LEN];
    b.copy_from_slice(&id.0[..PREFIX_LEN]);
    u32::from_be_bytes(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record;
    use crate::testkit::{self, World};

    /// A world where wallet 1 was funded and paid twice; its second payment, not merged.
    fn world() -> (World, wire::SignedRecord, wire::SignedRecord) {
        let mut w = World::new(1);
        let mut payer = w.wallet(1);
        let mint = w.mint(payer.account(), 500);
        w.apply(&mint);
        let first = w.pay(&mut payer, testkit::acct(2), 10);
        w.apply(&first);
        let second = w.pay(&mut payer, testkit::acct(3), 20);
        (w, first, second)
    }

    fn trusted(s: &wire::SignedRecord) -> Record {
        record::parse(s.clone()).expect("parses").into_trusted()
    }

    #[test]
    fn a_thin_push_rebuilds_the_exact_record_and_is_smaller() {
        let (w, first, second) = world();
        let first_id = testkit::id(&first);
        let t = thin(&trusted(&second), &w.ledger, |id| *id == first_id).expect("thin");
        let whole = prost::Message::encoded_len(&second);
        let thin_len = prost::Message::encoded_len(&t);
        assert!(thin_len + 28 <= whole, "{thin_len} against {whole}");
        assert_eq!(expand(&t, &w.ledger), Ok(Some(second)));
    }

    #[test]
    fn no_thin_form_when_the_peer_may_lack_prev_or_prev_is_not_the_signers() {
        let (w, first, second) = world();
        assert_eq!(thin(&trusted(&second), &w.ledger, |_| false), None);
        // A first payment has no prev; a mint is not a transfer.
        assert_eq!(thin(&trusted(&first), &w.ledger, |_| true), None);
        let mint = w
            .ledger
            .get(&trusted(&first).body().transfer().unwrap().claims[0]);
        assert_eq!(thin(mint.unwrap(), &w.ledger, |_| true), None);
    }

    #[test]
    fn a_receiver_without_prev_or_with_a_wrong_prefix_reports_it_unresolved() {
        let (w, first, second) = world();
        let t = thin(&trusted(&second), &w.ledger, |_| true).expect("thin");
        let mut fresh = World::new(1);
        assert_eq!(expand(&t, &fresh.ledger), Ok(None));
        fresh.apply(
            &w.ledger
                .get(&trusted(&first).body().transfer().unwrap().claims[0])
                .unwrap()
                .to_signed(),
        );
        fresh.apply(&first);
        assert!(expand(&t, &fresh.ledger).unwrap().is_some());
        let wrong = wire::Thin {
            prev_prefix: t.prev_prefix ^ 1,
            ..t
        };
        assert_eq!(expand(&wrong, &fresh.ledger), Ok(None));
    }

    #[test]
    fn malformed_thin_bodies_are_refused() {
        let (w, first, second) = world();
        let t = thin(&trusted(&second), &w.ledger, |_| true).expect("thin");
        let garbage = wire::Thin {
            body: vec![0xff; 40],
            ..t.clone()
        };
        assert!(expand(&garbage, &w.ledger).is_err());
        let with_prev = wire::Thin {
            body: first.body.clone(),
            ..t.clone()
        };
        assert!(expand(&with_prev, &w.ledger).is_err());
        let mut at_one = wire::RecordBody::decode(t.body.as_slice()).unwrap();
        at_one.seq = 1;
        let at_one = wire::Thin {
            body: at_one.encode_to_vec(),
            ..t.clone()
        };
        assert!(expand(&at_one, &w.ledger).is_err());
        let mut short_signer = wire::RecordBody::decode(t.body.as_slice()).unwrap();
        short_signer.signer.truncate(5);
        let short_signer = wire::Thin {
            body: short_signer.encode_to_vec(),
            ..t
        };
        assert!(expand(&short_signer, &w.ledger).is_err());
    }
}
