//! Set unions without meshpay's checks, on the same records: what merging costs when
//! nothing is parsed, verified or derived. Every other set the records could live in is
//! measured here and adds its rows in [`rows`] (an Automerge-backed set joins this list).

use std::collections::HashMap;

use anyhow::{Result, bail};
use meshpay_protocol::id::RecordId;
use meshpay_protocol::wire::SignedRecord;

use super::{Limit, Row, timed};

/// Seconds to union the records into an empty hash map keyed by id (ids computed).
pub fn hash_set_union(signed: &[SignedRecord]) -> Result<f64> {
    let batch = signed.to_vec();
    let (set, secs) = timed(|| {
        let mut set: HashMap<RecordId, SignedRecord> = HashMap::with_capacity(batch.len());
        for r in batch {
            set.entry(RecordId::of_body(&r.body)).or_insert(r);
        }
        set
    });
    if set.len() != signed.len() {
        bail!("{} distinct ids among {} records", set.len(), signed.len());
    }
    Ok(secs)
}

/// The comparison rows, measured on `signed`.
pub fn rows(signed: &[SignedRecord]) -> Result<Vec<Row>> {
    let n = signed.len() as f64;
    Ok(vec![Row::new(
        "hash_set_union",
        "plain hash-set union by id (no checks)",
        "1",
        n / hash_set_union(signed)?,
        Limit::OneCore,
    )])
}
