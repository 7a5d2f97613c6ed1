//! A merge whose work outside the ledger's own state runs on rayon's thread pool: ids
//! and parsing of the whole batch, then the signature checks wave by wave, each wave
//! checked while the previous one is admitted. Every decision that touches the ledger is
//! taken on the calling side in the order [`Ledger::merge`] takes it, so the changes and
//! the derived state are those of `merge`, whatever the number of threads.

use std::collections::HashSet;

use rand_core::CryptoRng;
use rayon::prelude::*;

use super::{Changes, Ledger, RecordSet, parse_alone};
use crate::id::RecordId;
use crate::record::Parsed;
use crate::record::parallel::{self, ParallelConfig};
use crate::reject::Reject;
use crate::wire;

/// A batch record not known when the merge began: its signature bytes (copies are told
/// apart by them) and what parsing it gave.
type Fresh = (Vec<u8>, Result<Parsed, Reject>);

/// A wave's records with their signature verdicts, waiting to be admitted.
type Checked = (Vec<Parsed>, Vec<Result<(), Reject>>);

impl<S: RecordSet + Send> Ledger<S> {
    /// Merges a batch like [`Ledger::merge`], with the signature checks spread over the
    /// current rayon pool (the global one, or the one a caller `install`s): the same
    /// verdicts, changes and derived state. `rng` seeds every batch equation, as in
    /// `merge`, and must be unpredictable to signers.
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
        let parsed = self.parse_batch(batch);
        let keys = self.verifier.key_verdicts(parsed.iter().map(Parsed::key));
        let key_refs: Vec<&[u8; 32]> = parsed.iter().map(Parsed::key).collect();
        let waves = parallel::plan(&key_refs, config, rng);
        drop(key_refs);
        let chain = self.chain_id;
        let mut records = parsed.into_iter();
        let mut checked: Option<Checked> = None;
        for wave in &waves {
            let batch: Vec<Parsed> = records.by_ref().take(wave.len()).collect();
            let earlier = checked.take();
            let ((), verdicts) = rayon::join(
                || {
                    if let Some((ps, vs)) = earlier {
                        self.admit_checked(ps, vs);
                    }
                },
                || parallel::verify_wave(wave, &batch, &chain, &keys),
            );
            checked = Some((batch, verdicts));
        }
        if let Some((ps, vs)) = checked {
            self.admit_checked(ps, vs);
        }
        self.finish()
    }

    /// Ids and parsing in parallel, then the decisions of `merge`'s first pass in batch
    /// order: records known (or copies seen earlier in the batch) skipped, records that
    /// fail parsing refused. Returns the records whose signatures are to be checked.
    fn parse_batch(&mut self, batch: Vec<wire::SignedRecord>) -> Vec<Parsed> {
        let ids: Vec<RecordId> = batch
            .par_iter()
            .map(|s| RecordId::of_body(&s.body))
            .collect();
        let fresh: Vec<bool> = ids.iter().map(|id| !self.is_known(id)).collect();
        let spec = &self.spec;
        let pre: Vec<Option<Fresh>> = batch
            .into_par_iter()
            .zip(fresh)
            .map(|(signed, fresh)| {
                fresh.then(|| (signed.signature.clone(), parse_alone(spec, signed)))
            })
            .collect();
        let mut parsed = Vec::with_capacity(pre.len());
        let mut seen = HashSet::with_capacity(pre.len());
        for (id, pre) in ids.into_iter().zip(pre) {
            // Parsing is pure, so it ran ahead; whether a record counts is decided here,
            // in order, exactly as `merge` decides it.
            let Some((signature, parse)) = pre else {
                self.changes.known += 1;
                continue;
            };
            if self.is_known(&id) || !seen.insert((id, signature)) {
                self.changes.known += 1;
                continue;
            }
            match parse {
                Err(e) => self.refuse(id, e),
                Ok(p) => parsed.push(p),
            }
        }
        parsed
    }

    /// Admits or refuses checked records, in order, as `merge` does after its batch check.
    fn admit_checked(&mut self, parsed: Vec<Parsed>, verdicts: Vec<Result<(), Reject>>) {
        for (p, v) in parsed.into_iter().zip(verdicts) {
            match v {
                Ok(()) if self.is_known(&p.id) => self.changes.known += 1,
                Ok(()) => self.admit(p.into_record()),
                Err(e) => self.refuse(p.id, e),
            }
        }
    }
}
