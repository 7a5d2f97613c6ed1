//! Criterion benches of the ledger's merges on the merge workload (`cargo bench -p
//! meshpay-benches --bench merge`): verified merge of batches of 1, 64, 1 024 and
//! 100 000 records on one core (`merge`) and on all cores (`merge_parallel`), a merge
//! where most records are known already, the merge of records verified before
//! (`merge_verified`), and `state_digest()`. The merge-report binary sets the same
//! merges against signature verification measured in the same run.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, BenchmarkId, Criterion, SamplingMode, Throughput};
use meshpay_benches::workload::{Workload, dataset};
use meshpay_protocol::ledger::{Changes, Ledger};
use meshpay_protocol::wire::SignedRecord;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

/// Batch sizes measured with criterion's defaults.
const SMALL: [usize; 3] = [1, 64, 1_024];
/// The large batch, measured with few samples.
const LARGE: usize = 100_000;
/// Share of the batch the ledger holds already in the mostly-known merge, in percent.
const KNOWN_PERCENT: usize = 90;

/// A verified merge of a batch into a ledger.
type VerifiedMerge = fn(&mut Ledger, Vec<SignedRecord>, &mut ChaCha20Rng) -> Changes;

fn load(n: usize) -> Workload {
    dataset(n).expect("workload")
}

fn empty(w: &Workload) -> Ledger {
    Ledger::new(w.spec.clone()).expect("spec")
}

/// A ledger holding all of `w`'s records, merged trusted.
fn full(w: &Workload) -> Ledger {
    let mut l = empty(w);
    l.merge_verified(w.records.clone());
    assert_eq!(l.len(), w.records.len());
    l
}

/// Every merge of one workload, in `group`.
fn merges(c: &mut Criterion, group: &str, w: &Workload, large: bool) {
    let n = w.records.len();
    let mut g = c.benchmark_group(group);
    g.throughput(Throughput::Elements(n as u64));
    if large {
        g.sample_size(10)
            .sampling_mode(SamplingMode::Flat)
            .measurement_time(Duration::from_secs(30));
    }
    let signed = w.signed();
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let verified: [(&str, VerifiedMerge); 2] = [
        ("merge", |l, batch, rng| l.merge(batch, rng)),
        ("merge_parallel", |l, batch, rng| {
            l.merge_parallel(batch, rng)
        }),
    ];
    for (name, merge) in verified {
        g.bench_with_input(BenchmarkId::new(name, n), &signed, |b, s| {
            b.iter_batched(
                || (empty(w), s.clone()),
                |(mut l, batch)| {
                    merge(&mut l, batch, &mut rng);
                    l
                },
                BatchSize::PerIteration,
            )
        });
    }
    let known = n * KNOWN_PERCENT / 100;
    g.bench_with_input(
        BenchmarkId::new(format!("merge_{KNOWN_PERCENT}pc_known"), n),
        &signed,
        |b, s| {
            b.iter_batched(
                || {
                    let mut l = empty(w);
                    l.merge_verified(w.records[..known].to_vec());
                    (l, s.clone())
                },
                |(mut l, batch)| {
                    l.merge(batch, &mut rng);
                    l
                },
                BatchSize::PerIteration,
            )
        },
    );
    g.bench_with_input(
        BenchmarkId::new("merge_verified", n),
        &w.records,
        |b, records| {
            b.iter_batched(
                || (empty(w), records.clone()),
                |(mut l, batch)| {
                    l.merge_verified(batch);
                    l
                },
                BatchSize::PerIteration,
            )
        },
    );
    let l = full(w);
    g.bench_function(BenchmarkId::new("state_digest", n), |b| {
        b.iter(|| black_box(l.state_digest()))
    });
    g.finish();
}

fn small(c: &mut Criterion) {
    for n in SMALL {
        merges(c, "merge", &load(n), false);
    }
}

fn large(c: &mut Criterion) {
    merges(c, "merge_large", &load(LARGE), true);
}

criterion::criterion_group!(benches, small, large);
criterion::criterion_main!(benches);
