//! The limits every merge is measured against: ZIP-215 batch verification of the
//! records' signatures by the protocol's own batch verifier, over their exact signing
//! messages (built beforehand, not timed), on one core and on all cores.

use anyhow::{Result, bail};
use meshpay_protocol::chain::ChainId;
use meshpay_protocol::record::Record;
use meshpay_protocol::record::verify::{Item, signing_message, verify_raw_batch};
use rand_chacha::ChaCha20Rng;
use rand_core::{CryptoRng, SeedableRng};
use rayon::prelude::*;

use super::timed;

/// Batch equations per thread in the all-cores limit: a few, so a thread that finishes
/// early takes more work, each still holding most of a signer's records.
const CHUNKS_PER_THREAD: usize = 4;

/// The records' signer keys, signatures and exact signing messages.
pub struct Signatures {
    keys: Vec<[u8; 32]>,
    sigs: Vec<[u8; 64]>,
    msgs: Vec<Vec<u8>>,
}

impl Signatures {
    /// What the records' signatures cover on `chain`.
    pub fn of(records: &[Record], chain: &ChainId) -> Self {
        Signatures {
            keys: records.iter().map(|r| r.signer().0).collect(),
            sigs: records.iter().map(|r| *r.signature()).collect(),
            msgs: records
                .iter()
                .map(|r| signing_message(chain, r.body_bytes()))
                .collect(),
        }
    }

    fn item(&self, i: usize) -> Item<'_> {
        Item {
            key: &self.keys[i],
            sig: &self.sigs[i],
            prefix: &[],
            msg: &self.msgs[i],
        }
    }
}

fn all_valid(verdicts: &[Result<(), meshpay_protocol::Reject>]) -> Result<()> {
    if let Some(bad) = verdicts.iter().position(|v| v.is_err()) {
        bail!("signature {bad} refused: {:?}", verdicts[bad]);
    }
    Ok(())
}

/// Seconds to check every signature in one batch on this thread.
pub fn one_core<R: CryptoRng>(s: &Signatures, rng: &mut R) -> Result<f64> {
    let items: Vec<Item<'_>> = (0..s.keys.len()).map(|i| s.item(i)).collect();
    let (verdicts, secs) = timed(|| verify_raw_batch(&items, rng));
    all_valid(&verdicts)?;
    Ok(secs)
}

/// Seconds to check every signature on rayon's global pool: the records sorted by
/// signer (a signer's key then costs its equation about once) and cut into
/// `CHUNKS_PER_THREAD` batches per thread, each with a generator seeded from `rng`.
pub fn all_cores<R: CryptoRng>(s: &Signatures, rng: &mut R) -> Result<f64> {
    let mut order: Vec<usize> = (0..s.keys.len()).collect();
    order.sort_by_key(|&i| (s.keys[i], i));
    let items: Vec<Item<'_>> = order.iter().map(|&i| s.item(i)).collect();
    let chunks = rayon::current_num_threads() * CHUNKS_PER_THREAD;
    let per_chunk = items.len().div_ceil(chunks).max(1);
    let seeds: Vec<[u8; 32]> = items
        .chunks(per_chunk)
        .map(|_| {
            let mut seed = [0u8; 32];
            rng.fill_bytes(&mut seed);
            seed
        })
        .collect();
    let (verdicts, secs) = timed(|| {
        items
            .par_chunks(per_chunk)
            .zip(seeds)
            .map(|(chunk, seed)| verify_raw_batch(chunk, &mut ChaCha20Rng::from_seed(seed)))
            .collect::<Vec<_>>()
    });
    for v in &verdicts {
        all_valid(v)?;
    }
    Ok(secs)
}
