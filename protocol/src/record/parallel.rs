//! Signature checks spread over rayon's thread pool, with the verdicts of the sequential
//! path. Records are sorted by signer and cut into chunks, each checked as one batch
//! equation, so a signer's records share an equation and its key costs the equation
//! once, not once per chunk. Every chunk draws its coefficients from its own generator,
//! seeded in chunk order from one seed the caller draws: which records share an
//! equation and every verdict are the same whatever the number of threads.

use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};
use rayon::prelude::*;

use super::Unverified;
use super::verify::{self, Item, check_key, message_prefix};
use crate::chain::ChainId;
use crate::maps::Map;
use crate::reject::Reject;

/// Batch equations a wave is cut into when its records allow: enough for as many
/// threads to share the wave.
const EQUATIONS_PER_WAVE: usize = 8;

/// How a parallel merge cuts its batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParallelConfig {
    /// Records per wave: a wave is parsed and checked while the one before it is taken
    /// into the ledger.
    pub wave: usize,
    /// Most signatures in one batch equation.
    pub chunk: usize,
    /// Fewest signatures in one batch equation, unless there are fewer to check (smaller
    /// equations cost more per signature); a batch no larger is merged by `merge`.
    pub min_chunk: usize,
}

impl Default for ParallelConfig {
    /// Waves of 32 768 records in equations of 256 to 8 192 signatures: equations small
    /// enough to keep every thread busy, large enough that a signer's records in a wave
    /// share one and the multiscalar multiplication runs at its cheaper per-point cost
    /// (2 048-signature equations in waves of 16 384 made the merge 6 % slower here).
    fn default() -> Self {
        ParallelConfig {
            wave: 32_768,
            chunk: 8_192,
            min_chunk: 256,
        }
    }
}

impl ParallelConfig {
    /// Signatures per equation for `n` signatures: an eighth of them, within the bounds.
    pub(crate) fn chunk_for(&self, n: usize) -> usize {
        n.div_ceil(EQUATIONS_PER_WAVE)
            .max(self.min_chunk)
            .min(self.chunk)
            .max(1)
    }
}

/// One batch equation: indexes into the records it checks, sorted by signer key, and
/// its generator's seed.
struct Chunk {
    positions: Vec<usize>,
    seed: [u8; 32],
}

/// Cuts records with these signer keys into chunks of at most `chunk`, sorted by key,
/// each seeded in order from a generator seeded with `seed`.
fn chunks(keys: &[&[u8; 32]], chunk: usize, seed: [u8; 32]) -> Vec<Chunk> {
    let mut order: Vec<usize> = (0..keys.len()).collect();
    order.sort_by_key(|&i| (keys[i], i));
    let mut seeds = ChaCha20Rng::from_seed(seed);
    order
        .chunks(chunk.max(1))
        .map(|positions| {
            let mut seed = [0u8; 32];
            seeds.fill_bytes(&mut seed);
            Chunk {
                positions: positions.to_vec(),
                seed,
            }
        })
        .collect()
}

/// Checks the signatures of `records` on rayon's pool, in equations sized by `config`
/// and seeded from `seed`; verdicts in the order given, each the one [`super::Parsed::verify`]
/// gives. `keys` holds the verdicts on the signer keys.
pub(crate) fn verify_all(
    records: &[&Unverified],
    chain: &ChainId,
    keys: &Map<[u8; 32], Result<(), Reject>>,
    config: &ParallelConfig,
    seed: [u8; 32],
) -> Vec<Result<(), Reject>> {
    let signers: Vec<&[u8; 32]> = records.iter().map(|p| p.key()).collect();
    let plan = chunks(&signers, config.chunk_for(records.len()), seed);
    let prefix = message_prefix(chain);
    let per_chunk: Vec<Vec<Result<(), Reject>>> = plan
        .par_iter()
        .map(|c| {
            let items: Vec<Item<'_>> = c
                .positions
                .iter()
                .map(|&i| Item {
                    key: records[i].key(),
                    sig: records[i].signature(),
                    prefix: &prefix,
                    msg: records[i].body_bytes(),
                })
                .collect();
            let mut rng = ChaCha20Rng::from_seed(c.seed);
            verify::batch_with(&items, &mut rng, |key| {
                keys.get(key).cloned().unwrap_or_else(|| check_key(key))
            })
        })
        .collect();
    let mut verdicts = vec![Ok(()); records.len()];
    for (c, vs) in plan.iter().zip(per_chunk) {
        for (&i, v) in c.positions.iter().zip(vs) {
            verdicts[i] = v;
        }
    }
    verdicts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equations_are_an_eighth_of_a_wave_within_bounds() {
        let c = ParallelConfig::default();
        assert_eq!(c.chunk_for(100), 256);
        assert_eq!(c.chunk_for(4_096), 512);
        assert_eq!(c.chunk_for(32_768), 4_096);
        assert_eq!(c.chunk_for(100_000), 8_192);
        let tiny = ParallelConfig {
            wave: 5,
            chunk: 0,
            min_chunk: 0,
        };
        assert_eq!(tiny.chunk_for(5), 1);
    }

    #[test]
    fn chunks_cover_every_record_once_sorted_by_key() {
        let keys: Vec<[u8; 32]> = (0..23u8).map(|i| [i % 5; 32]).collect();
        let refs: Vec<&[u8; 32]> = keys.iter().collect();
        let plan = chunks(&refs, 4, [9; 32]);
        assert_eq!(plan.len(), 6);
        assert!(plan.iter().all(|c| c.positions.len() <= 4));
        let order: Vec<usize> = plan.iter().flat_map(|c| c.positions.clone()).collect();
        assert!(
            order
                .windows(2)
                .all(|p| (keys[p[0]], p[0]) < (keys[p[1]], p[1]))
        );
        let mut all = order.clone();
        all.sort();
        assert_eq!(all, (0..23).collect::<Vec<_>>());
        let seeds: Vec<[u8; 32]> = plan.iter().map(|c| c.seed).collect();
        let again: Vec<[u8; 32]> = chunks(&refs, 4, [9; 32]).iter().map(|c| c.seed).collect();
        assert_eq!(seeds, again, "seeds follow from the caller's seed alone");
        assert_ne!(seeds[0], seeds[1]);
    }
}
