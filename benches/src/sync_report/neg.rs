//! The same two sets reconciled with negentropy (range-based set reconciliation, the
//! Nostr implementation), for comparison: bytes of its messages until the initiator
//! knows the difference. It moves ids only; the records would still have to follow.

use anyhow::{Result, bail};
use meshpay_protocol::id::RecordId;
use negentropy::{Id, Negentropy, NegentropyStorageVector};
use serde::Serialize;

/// Frame size limit used: none (negentropy sends each round in one message).
pub const FRAME_SIZE_LIMIT: u64 = 0;

/// What negentropy spent.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct NegResult {
    /// Bytes of every message, both directions.
    pub bytes: u64,
    /// Answers of the responder.
    pub round_trips: u32,
    /// Ids only the initiator holds, as it found them.
    pub have: usize,
    /// Ids only the responder holds, as the initiator found them.
    pub need: usize,
}

fn storage(ids: impl Iterator<Item = RecordId>) -> Result<NegentropyStorageVector> {
    let mut s = NegentropyStorageVector::new();
    for id in ids {
        // Timestamp 0 for all: items order by id alone, as meshpay's ranges do.
        s.insert(0, Id::from_byte_array(id.0))?;
    }
    s.seal()?;
    Ok(s)
}

/// Reconciles the id sets `a` (initiator) and `b`.
pub fn reconcile(
    a: impl Iterator<Item = RecordId>,
    b: impl Iterator<Item = RecordId>,
) -> Result<NegResult> {
    let (sa, sb) = (storage(a)?, storage(b)?);
    let mut client = Negentropy::borrowed(&sa, FRAME_SIZE_LIMIT)?;
    let mut server = Negentropy::borrowed(&sb, FRAME_SIZE_LIMIT)?;
    let mut out = NegResult::default();
    let mut query = client.initiate()?;
    let (mut have, mut need) = (Vec::new(), Vec::new());
    loop {
        out.bytes += query.len() as u64;
        let answer = server.reconcile(&query)?;
        out.bytes += answer.len() as u64;
        out.round_trips += 1;
        match client.reconcile_with_ids(&answer, &mut have, &mut need)? {
            Some(next) => query = next,
            None => break,
        }
        if out.round_trips > 10_000 {
            bail!("negentropy does not converge");
        }
    }
    out.have = have.len();
    out.need = need.len();
    Ok(out)
}
