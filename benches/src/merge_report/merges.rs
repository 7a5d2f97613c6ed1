//! meshpay's merges of the workload, each into a ledger set up beforehand (not timed):
//! verified (`merge` on one core, `merge_parallel` on all), a merge of the records when
//! most are known already, and the merge of records verified before (`merge_verified`,
//! as a store replays).

use anyhow::{Context, Result, bail};
use meshpay_protocol::chain::ChainSpec;
use meshpay_protocol::ledger::{Changes, Ledger};
use meshpay_protocol::record::Record;
use meshpay_protocol::wire::SignedRecord;
use rand_core::CryptoRng;

use super::timed;

/// A merge's time and the state it left.
pub struct Merged {
    /// Seconds the merge call took.
    pub seconds: f64,
    /// The ledger's `state_digest()` afterwards.
    pub digest: [u8; 32],
}

fn empty(spec: &ChainSpec) -> Result<Ledger> {
    Ledger::new(spec.clone()).context("workload spec")
}

/// Fails unless the merge admitted `n` records and refused or held back none.
fn admitted(c: &Changes, n: usize, what: &str) -> Result<()> {
    if let Some((id, why)) = c.refused.first() {
        bail!("{what}: {id:?} refused: {why:?}");
    }
    if !c.orphaned.is_empty() || c.added.len() != n {
        bail!(
            "{what}: {} of {n} records entered, {} wait",
            c.added.len(),
            c.orphaned.len()
        );
    }
    Ok(())
}

/// `merge` (a verified merge: `Ledger::merge` or `Ledger::merge_parallel`) of the
/// whole batch into an empty ledger.
pub fn verified(
    spec: &ChainSpec,
    signed: &[SignedRecord],
    what: &str,
    merge: impl FnOnce(&mut Ledger, Vec<SignedRecord>) -> Changes,
) -> Result<Merged> {
    let mut l = empty(spec)?;
    let batch = signed.to_vec();
    let (c, seconds) = timed(|| merge(&mut l, batch));
    admitted(&c, signed.len(), what)?;
    Ok(Merged {
        seconds,
        digest: l.state_digest(),
    })
}

/// `Ledger::merge` of the whole batch into a ledger that holds its first `known` records
/// already (merged trusted beforehand): the known ones are skipped by id, unchecked.
pub fn mostly_known<R: CryptoRng>(
    spec: &ChainSpec,
    records: &[Record],
    signed: &[SignedRecord],
    known: usize,
    rng: &mut R,
) -> Result<Merged> {
    let known = known.min(records.len());
    let mut l = empty(spec)?;
    admitted(
        &l.merge_verified(records[..known].to_vec()),
        known,
        "setup of the known records",
    )?;
    let batch = signed.to_vec();
    let (c, seconds) = timed(|| l.merge(batch, rng));
    admitted(&c, signed.len() - known, "merge of mostly known records")?;
    if c.known != known {
        bail!("{} records skipped as known, {known} expected", c.known);
    }
    Ok(Merged {
        seconds,
        digest: l.state_digest(),
    })
}

/// `Ledger::merge_verified` of the whole batch into an empty ledger.
pub fn pre_verified(spec: &ChainSpec, records: &[Record]) -> Result<Merged> {
    let mut l = empty(spec)?;
    let batch = records.to_vec();
    let (c, seconds) = timed(|| l.merge_verified(batch));
    admitted(&c, records.len(), "pre-verified merge")?;
    Ok(Merged {
        seconds,
        digest: l.state_digest(),
    })
}
