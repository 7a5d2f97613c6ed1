//! `merge_parallel` against `merge`: the changes (every verdict included) of `merge`
//! applied to each wave in turn, and the derived state of `merge` on the whole batch, on
//! batches with bad signatures, bad keys and duplicates mixed in, under pools of 1, 2 and
//! 4 threads; and the caller's RNG used alike whatever the thread count.

use proptest::prelude::*;
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};

use super::history;
use super::*;
use crate::record::parallel::ParallelConfig;
use crate::record::verify::check_key;
use crate::testkit::{self, acct, key, transfer};

fn pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("thread pool")
}

/// A signer key that is no curve point.
fn malformed_key() -> [u8; 32] {
    (0u8..=255)
        .map(|i| [i; 32])
        .find(|k| check_key(k) == Err(Reject::MalformedKey))
        .expect("some byte pattern is no point")
}

/// A transfer at seq 1 with this signer key, signed by someone else's key.
fn with_signer(spec: &ChainSpec, signer: [u8; 32], amount: u64) -> wire::SignedRecord {
    let mut body = transfer(9, 1, None, vec![], Some(acct(2)), amount, 0);
    body.signer = AccountId(signer);
    record::sign(&key(9), &spec.chain_id(), &body)
}

/// A history's records (invalid ones included) with hostile records mixed in, shuffled
/// (so some records wait as orphans) and with exact copies.
fn hostile_batch(seed: u64, steps: usize) -> (ChainSpec, Vec<wire::SignedRecord>) {
    let h = history::generate(seed, steps);
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let mut batch = h.records.clone();
    let n = batch.len() as u64;
    let pick = |rng: &mut ChaCha20Rng| batch[(rng.next_u64() % n) as usize].clone();
    let mut extra = Vec::new();
    for _ in 0..6 {
        let mut bad_sig = pick(&mut rng);
        bad_sig.signature[5] ^= 0x10;
        let mut big_s = pick(&mut rng);
        big_s.signature[63] = 0xff;
        let mut bad_r = pick(&mut rng);
        bad_r.signature[..32].copy_from_slice(&[0xff; 32]);
        bad_r.signature[0] = 0xed;
        bad_r.signature[31] = 0x7f;
        let mut short = pick(&mut rng);
        short.signature.pop();
        // A broken copy just before a good copy of the same body: the good one counts.
        let good = pick(&mut rng);
        let mut broken = good.clone();
        broken.signature[40] ^= 1;
        extra.extend([bad_sig, big_s, bad_r, short, broken, good, pick(&mut rng)]);
    }
    let mut identity = [0u8; 32];
    identity[0] = 1;
    let mut non_canonical = [0xff; 32];
    non_canonical[31] = 0x7f;
    for (i, k) in [identity, non_canonical, malformed_key()]
        .into_iter()
        .enumerate()
    {
        extra.push(with_signer(&h.spec, k, 10 + i as u64));
    }
    extra.push(wire::SignedRecord {
        body: vec![0xff, 0x01, 0x02],
        signature: vec![0; 64],
    });
    batch.extend(extra);
    for i in (1..batch.len()).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        batch.swap(i, j);
    }
    (h.spec, batch)
}

/// What `merge` gives for `batch` cut into waves of `wave` records merged in turn.
fn merge_waves(l: &mut Ledger, batch: &[wire::SignedRecord], wave: usize, seed: u64) -> Changes {
    let mut total = Changes::default();
    for (i, w) in batch.chunks(wave.max(1)).enumerate() {
        total.append(l.merge(w.to_vec(), &mut testkit::rng(seed + i as u64)));
    }
    total.orphaned.retain(|id| l.orphans.contains(id));
    total
}

/// Merges `first` then `second` sequentially (wave by wave, and whole), then in parallel
/// under pools of 1, 2 and 4 threads, and compares every change, the digest and the RNG
/// left to the caller.
fn assert_same_as_sequential(
    spec: &ChainSpec,
    first: &[wire::SignedRecord],
    second: &[wire::SignedRecord],
    config: &ParallelConfig,
) -> Result<(), TestCaseError> {
    let mut reference = Ledger::new(spec.clone()).expect("spec");
    let expected = [
        merge_waves(&mut reference, first, config.wave, 100),
        merge_waves(&mut reference, second, config.wave, 200),
    ];
    let mut whole = Ledger::new(spec.clone()).expect("spec");
    whole.merge(first.to_vec(), &mut testkit::rng(1));
    whole.merge(second.to_vec(), &mut testkit::rng(2));
    prop_assert_eq!(reference.state_digest(), whole.state_digest());
    let mut rng_after = None;
    for threads in [1, 2, 4] {
        let mut l = Ledger::new(spec.clone()).expect("spec");
        let (mut r1, mut r2) = (testkit::rng(1), testkit::rng(2));
        let got = pool(threads).install(|| {
            [
                l.merge_parallel_with(first.to_vec(), config, &mut r1),
                l.merge_parallel_with(second.to_vec(), config, &mut r2),
            ]
        });
        prop_assert_eq!(&got, &expected, "{} threads, {:?}", threads, config);
        prop_assert_eq!(l.state_digest(), reference.state_digest());
        prop_assert_eq!(l.len(), reference.len());
        prop_assert_eq!(l.orphan_count(), reference.orphan_count());
        let next = (r1.next_u64(), r2.next_u64());
        match rng_after {
            None => rng_after = Some(next),
            Some(n) => prop_assert_eq!(n, next, "RNG use depends on the thread count"),
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(testkit::cases().min(48)))]

    #[test]
    fn parallel_merge_equals_sequential_merge(
        seed in any::<u64>(),
        split in 0usize..200,
        wave in 1usize..40,
        chunk in 1usize..24,
        min_chunk in 0usize..8,
    ) {
        let (spec, batch) = hostile_batch(seed, 60);
        let (first, second) = batch.split_at(split.min(batch.len()));
        // The second merge meets records the first one admitted, refused or orphaned.
        let second: Vec<_> = second.iter().chain(first.iter().take(20)).cloned().collect();
        let config = ParallelConfig { wave, chunk, min_chunk };
        assert_same_as_sequential(&spec, first, &second, &config)?;
    }
}

#[test]
fn hostile_records_get_their_own_verdicts() {
    let (spec, batch) = hostile_batch(5, 60);
    let mut l = Ledger::new(spec.clone()).expect("spec");
    let config = ParallelConfig {
        wave: 16,
        chunk: 5,
        min_chunk: 2,
    };
    let c = pool(2).install(|| l.merge_parallel_with(batch.clone(), &config, &mut testkit::rng(3)));
    let reasons: Vec<&Reject> = c.refused.iter().map(|(_, r)| r).collect();
    for want in [
        Reject::BadSignature,
        Reject::NonCanonicalS,
        Reject::NonCanonicalR,
        Reject::SmallOrderKey,
        Reject::NonCanonicalKey,
        Reject::MalformedKey,
    ] {
        assert!(reasons.contains(&&want), "no {want:?} in {reasons:?}");
    }
    assert!(c.known > 0, "copies are skipped");
    assert!(!c.added.is_empty());
    assert_same_as_sequential(&spec, &batch, &[], &config).expect("same as merge");
    assert_same_as_sequential(&spec, &batch, &[], &ParallelConfig::default())
        .expect("same as merge");
}
