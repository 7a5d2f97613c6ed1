//! Signature checks spread over rayon's thread pool, with the verdicts of the sequential
//! path. A batch is cut into waves of consecutive records (a wave is checked while the
//! one before it is admitted); a wave's records are sorted by signer and cut into
//! chunks, each checked as one batch equation, so a signer's records share an equation
//! and its key costs the equation once per wave, not once per chunk. Every chunk draws
//! its coefficients from its own generator, seeded from the caller's RNG in chunk order
//! before any check starts: what the caller's RNG yields, which records share an
//! equation, and every verdict are the same whatever the number of threads.

use std::collections::HashMap;

use rand_chacha::ChaCha20Rng;
use rand_core::{CryptoRng, SeedableRng};
use rayon::prelude::*;

use super::Parsed;
use super::verify::{self, Item, check_key, signing_message};
use crate::chain::ChainId;
use crate::reject::Reject;

/// How a parallel merge cuts its batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParallelConfig {
    /// Records per wave: the unit that is checked while the previous one is admitted.
    pub wave: usize,
    /// Most signatures in one batch equation.
    pub chunk: usize,
}

impl Default for ParallelConfig {
    /// Waves of 16 384 records in chunks of at most 2 048: chunks small enough to keep
    /// every thread busy, waves large enough that a signer's records in one wave share
    /// an equation.
    fn default() -> Self {
        ParallelConfig {
            wave: 16_384,
            chunk: 2_048,
        }
    }
}

/// One batch equation: positions within its wave, sorted by signer key, and its seed.
struct Chunk {
    positions: Vec<usize>,
    seed: [u8; 32],
}

/// A run of consecutive records of a batch and the chunks that check them.
pub(crate) struct Wave {
    len: usize,
    chunks: Vec<Chunk>,
}

impl Wave {
    /// How many records the wave holds.
    pub(crate) fn len(&self) -> usize {
        self.len
    }
}

/// Cuts records with these signer keys into waves and chunks, drawing every chunk's seed
/// from `rng` in order.
pub(crate) fn plan<R: CryptoRng>(
    keys: &[&[u8; 32]],
    config: &ParallelConfig,
    rng: &mut R,
) -> Vec<Wave> {
    let (wave, chunk) = (config.wave.max(1), config.chunk.max(1));
    keys.chunks(wave)
        .map(|wave_keys| {
            let mut order: Vec<usize> = (0..wave_keys.len()).collect();
            order.sort_by_key(|&i| (wave_keys[i], i));
            let chunks = order
                .chunks(chunk)
                .map(|positions| {
                    let mut seed = [0u8; 32];
                    rng.fill_bytes(&mut seed);
                    Chunk {
                        positions: positions.to_vec(),
                        seed,
                    }
                })
                .collect();
            Wave {
                len: wave_keys.len(),
                chunks,
            }
        })
        .collect()
}

/// Checks the signatures of one wave's records on rayon's pool; verdicts in wave order,
/// each the one [`Parsed::verify`] gives. `keys` holds the verdicts on their signer keys.
pub(crate) fn verify_wave(
    wave: &Wave,
    records: &[Parsed],
    chain: &ChainId,
    keys: &HashMap<[u8; 32], Result<(), Reject>>,
) -> Vec<Result<(), Reject>> {
    let per_chunk: Vec<Vec<Result<(), Reject>>> = wave
        .chunks
        .par_iter()
        .map(|c| {
            let msgs: Vec<Vec<u8>> = c
                .positions
                .iter()
                .map(|&i| signing_message(chain, records[i].body_bytes()))
                .collect();
            let items: Vec<Item<'_>> = c
                .positions
                .iter()
                .zip(&msgs)
                .map(|(&i, msg)| Item {
                    key: records[i].key(),
                    sig: records[i].signature(),
                    msg,
                })
                .collect();
            let mut rng = ChaCha20Rng::from_seed(c.seed);
            verify::batch_with(&items, &mut rng, |key| {
                keys.get(key).cloned().unwrap_or_else(|| check_key(key))
            })
        })
        .collect();
    let mut verdicts = vec![Ok(()); records.len()];
    for (c, vs) in wave.chunks.iter().zip(per_chunk) {
        for (&i, v) in c.positions.iter().zip(vs) {
            verdicts[i] = v;
        }
    }
    verdicts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit;

    #[test]
    fn plan_covers_every_record_once_sorted_by_key_within_chunks() {
        let keys: Vec<[u8; 32]> = (0..23u8).map(|i| [i % 5; 32]).collect();
        let refs: Vec<&[u8; 32]> = keys.iter().collect();
        let config = ParallelConfig { wave: 10, chunk: 4 };
        let waves = plan(&refs, &config, &mut testkit::rng(1));
        assert_eq!(
            waves.iter().map(Wave::len).collect::<Vec<_>>(),
            vec![10, 10, 3]
        );
        for w in &waves {
            let mut seen: Vec<usize> = w.chunks.iter().flat_map(|c| c.positions.clone()).collect();
            assert!(w.chunks.iter().all(|c| c.positions.len() <= 4));
            seen.sort();
            assert_eq!(seen, (0..w.len()).collect::<Vec<_>>());
        }
        let first = &waves[0].chunks[0].positions;
        assert!(first.windows(2).all(|p| keys[p[0]] <= keys[p[1]]));
        let seeds: Vec<[u8; 32]> = waves
            .iter()
            .flat_map(|w| w.chunks.iter().map(|c| c.seed))
            .collect();
        let again: Vec<[u8; 32]> = plan(&refs, &config, &mut testkit::rng(1))
            .iter()
            .flat_map(|w| w.chunks.iter().map(|c| c.seed).collect::<Vec<_>>())
            .collect();
        assert_eq!(seeds, again, "seeds follow from the caller's RNG alone");
        assert_eq!(seeds.len(), 3 + 3 + 1);
    }
}
