//! Signing many bodies on every core. A body's id does not depend on its signature, so
//! generators build whole histories first and sign them here afterwards.

use anyhow::{Result, anyhow};
use ed25519_dalek::SigningKey;
use indicatif::ProgressBar;
use meshpay_protocol::chain::ChainId;
use meshpay_protocol::record::{self, Body, Record};

/// Records signed between two progress-bar updates.
const BAR_STEP: usize = 512;

/// Signs `bodies` (each with the index of its key in `keys`) for `chain`, in parallel,
/// and returns them parsed as trusted records, in the order given.
pub fn sign_all(
    bodies: &[(usize, Body)],
    keys: &[SigningKey],
    chain: &ChainId,
    bar: &ProgressBar,
) -> Result<Vec<Record>> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let per_thread = bodies.len().div_ceil(threads).max(1);
    let parts: Vec<Result<Vec<Record>>> = std::thread::scope(|s| {
        let handles: Vec<_> = bodies
            .chunks(per_thread)
            .map(|part| {
                let bar = bar.clone();
                s.spawn(move || {
                    let mut out = Vec::with_capacity(part.len());
                    for (k, body) in part {
                        let key = keys.get(*k).ok_or_else(|| anyhow!("no key {k}"))?;
                        let signed = record::sign(key, chain, body);
                        let rec = record::parse(signed)
                            .map_err(|e| anyhow!("own record does not parse: {e:?}"))?
                            .into_trusted();
                        out.push(rec);
                        if out.len() % BAR_STEP == 0 {
                            bar.inc(BAR_STEP as u64);
                        }
                    }
                    bar.inc((out.len() % BAR_STEP) as u64);
                    Ok(out)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow!("signing thread panicked")))
            })
            .collect()
    });
    let mut records = Vec::with_capacity(bodies.len());
    for p in parts {
        records.extend(p?);
    }
    Ok(records)
}
