//! A merge whose work outside the ledger's own state runs on rayon's thread pool. The
//! batch is cut into waves of consecutive records; each wave is merged exactly as
//! [`Ledger::merge`] would merge it on its own, one wave after the other, while the next
//! wave is parsed and its signatures checked on the pool. Parsing and verdicts are pure,
//! so they may run ahead; every decision that touches the ledger is taken on the ledger's
//! side in `merge`'s order. The result is that of merging the waves one after another:
//! the same verdicts, changes and derived state whatever the number of threads, and by
//! the ledger's laws the same derived state as merging the batch at once.

use rand_chacha::ChaCha20Rng;
use rand_core::{CryptoRng, SeedableRng};
use rayon::prelude::*;

use super::{Changes, Ledger, RecordSet, Signature, parse_alone, repeated_ids};
use crate::chain::{ChainId, ChainSpec};
use crate::id::RecordId;
use crate::maps::Set;
use crate::record::Unverified;
use crate::record::parallel::{self, ParallelConfig};
use crate::record::verify::Verifier;
use crate::reject::Reject;
use crate::wire;

/// A record of a wave, as the ledger's side receives it.
// Most slots of a wave are the large variant, so boxing it would save no memory.
#[allow(clippy::large_enum_variant)]
enum Slot {
    /// Parsed ahead (it was unknown when the merge began), its signature checked if it
    /// parsed.
    Ahead {
        signature: Signature,
        parsed: Result<Unverified, Reject>,
        verdict: Option<Result<(), Reject>>,
    },
    /// Known when the merge began: left for the ledger's side, which parses and checks
    /// it only if the ledger has forgotten it meanwhile.
    Known(wire::SignedRecord),
}

/// One wave: its records' ids, the records, and the seed of its batch equations.
struct Wave {
    ids: Vec<RecordId>,
    records: Vec<(bool, wire::SignedRecord)>,
    seed: [u8; 32],
}

impl<S: RecordSet + Send> Ledger<S> {
    /// Merges a batch with the parsing and signature checks spread over the current
    /// rayon pool (the global one, or the one a caller `install`s): the result of
    /// [`Ledger::merge`] on each wave of [`ParallelConfig::default`] records in turn,
    /// whatever the number of threads (a batch of one equation's worth is merged by
    /// `merge` itself). `rng` seeds every batch equation, as in `merge`, and must be
    /// unpredictable to signers.
    pub fn merge_parallel<R: CryptoRng>(
        &mut self,
        batch: Vec<wire::SignedRecord>,
        rng: &mut R,
    ) -> Changes {
        self.merge_parallel_with(batch, &ParallelConfig::default(), rng)
    }

    /// [`Ledger::merge_parallel`] with the batch cut as `config` says.
    pub fn merge_parallel_with<R: CryptoRng>(
        &mut self,
        batch: Vec<wire::SignedRecord>,
        config: &ParallelConfig,
        rng: &mut R,
    ) -> Changes {
        if batch.len() <= config.min_chunk.min(config.wave) {
            // One equation's worth: nothing to spread, and `merge` is this batch's one
            // wave. Its equation draws from a generator seeded once from `rng`, so the
            // caller's RNG is used as for any batch (the verifier draws a varying amount).
            let mut seed = [0u8; 32];
            rng.fill_bytes(&mut seed);
            return self.merge(batch, &mut ChaCha20Rng::from_seed(seed));
        }
        let waves = self.cut(batch, config.wave.max(1), rng);
        // The checks ahead use the verifier while the ledger's side admits records, so
        // it is lent out for the merge (its memo only saves work; a fresh one would do).
        let mut verifier = std::mem::replace(&mut self.verifier, Verifier::new(self.chain_id));
        let spec = self.spec.clone();
        let chain = self.chain_id;
        let mut total = Changes::default();
        let mut ready: Option<(Vec<RecordId>, Vec<Slot>)> = None;
        for wave in waves {
            let earlier = ready.take();
            let ids = wave.ids;
            let ((), slots) = rayon::join(
                || {
                    if let Some((ids, slots)) = earlier {
                        total.append(self.merge_wave(&ids, slots));
                    }
                },
                || {
                    ahead(
                        wave.records,
                        &ids,
                        wave.seed,
                        config,
                        &spec,
                        &chain,
                        &mut verifier,
                    )
                },
            );
            ready = Some((ids, slots));
        }
        if let Some((ids, slots)) = ready {
            total.append(self.merge_wave(&ids, slots));
        }
        self.verifier = verifier;
        total.orphaned.retain(|id| self.orphans.contains(id));
        total
    }

    /// Cuts the batch into waves, marking the records unknown when the merge begins (the
    /// ones worth checking ahead), and draws one seed per wave from `rng`, in order.
    fn cut<R: CryptoRng>(
        &self,
        batch: Vec<wire::SignedRecord>,
        wave: usize,
        rng: &mut R,
    ) -> Vec<Wave> {
        let ids: Vec<RecordId> = batch
            .par_iter()
            .map(|s| RecordId::of_body(&s.body))
            .collect();
        let mut waves = Vec::with_capacity(ids.len().div_ceil(wave));
        let mut records = batch.into_iter();
        for ids in ids.chunks(wave) {
            let mut seed = [0u8; 32];
            rng.fill_bytes(&mut seed);
            waves.push(Wave {
                records: ids
                    .iter()
                    .zip(records.by_ref())
                    .map(|(id, s)| (!self.is_known(id), s))
                    .collect(),
                ids: ids.to_vec(),
                seed,
            });
        }
        waves
    }

    /// Merges one wave as [`Ledger::merge`] merges a batch, with what was done ahead.
    fn merge_wave(&mut self, ids: &[RecordId], slots: Vec<Slot>) -> Changes {
        let repeated = repeated_ids(ids.iter(), ids.len());
        let mut seen = Set::default();
        let mut checked = Vec::with_capacity(ids.len());
        for (id, slot) in ids.iter().zip(slots) {
            if self.is_known(id)
                || (repeated.contains(id) && !seen.insert((*id, slot_signature(&slot))))
            {
                self.changes.known += 1;
                continue;
            }
            let (parsed, verdict) = match slot {
                Slot::Ahead {
                    parsed, verdict, ..
                } => (parsed, verdict),
                // Forgotten since the merge began (an evicted orphan or refusal).
                Slot::Known(s) => (parse_alone(&self.spec, s, *id), None),
            };
            match parsed {
                Err(e) => self.refuse(*id, e),
                Ok(p) => checked.push((p, verdict)),
            }
        }
        for (p, verdict) in checked {
            let verdict = verdict
                .unwrap_or_else(|| self.verifier.verify(p.key(), p.signature(), p.body_bytes()));
            match verdict {
                Ok(()) if self.is_known(&p.id()) => self.changes.known += 1,
                Ok(()) => self.admit(p.into_checked()),
                Err(e) => self.refuse(p.id(), e),
            }
        }
        self.finish()
    }
}

/// The signature of a wave's record, as a batch tells copies apart.
fn slot_signature(slot: &Slot) -> Signature {
    match slot {
        Slot::Ahead { signature, .. } => signature.clone(),
        Slot::Known(s) => Signature::from_slice(&s.signature),
    }
}

/// What can be done for a wave before the ledger takes it: parsing the records that were
/// unknown when the merge began, and checking the signatures of those that parse.
fn ahead(
    records: Vec<(bool, wire::SignedRecord)>,
    ids: &[RecordId],
    seed: [u8; 32],
    config: &ParallelConfig,
    spec: &ChainSpec,
    chain: &ChainId,
    verifier: &mut Verifier,
) -> Vec<Slot> {
    let mut slots: Vec<Slot> = records
        .into_par_iter()
        .zip(ids.par_iter())
        .map(|((unknown, s), id)| {
            if unknown {
                Slot::Ahead {
                    signature: Signature::from_slice(&s.signature),
                    parsed: parse_alone(spec, s, *id),
                    verdict: None,
                }
            } else {
                Slot::Known(s)
            }
        })
        .collect();
    let parsed: Vec<(usize, &Unverified)> = slots
        .iter()
        .enumerate()
        .filter_map(|(i, slot)| match slot {
            Slot::Ahead { parsed: Ok(p), .. } => Some((i, p)),
            _ => None,
        })
        .collect();
    let keys = verifier.key_verdicts(parsed.iter().map(|(_, p)| p.key()));
    let records: Vec<&Unverified> = parsed.iter().map(|(_, p)| *p).collect();
    let verdicts = parallel::verify_all(&records, chain, &keys, config, seed);
    let positions: Vec<usize> = parsed.iter().map(|(i, _)| *i).collect();
    for (i, v) in positions.into_iter().zip(verdicts) {
        if let Slot::Ahead { verdict, .. } = &mut slots[i] {
            *verdict = Some(v);
        }
    }
    slots
}
