//! Criterion benches of rocksdb persistence of merged batches (`cargo bench -p
//! meshpay-benches --bench durable`): one synced write (fsync'd write-ahead log) of a
//! group of 1, 64, 1 024 or 8 192 records, keyed by id, and durable intake of a
//! 1 024-record workload (merges of 64 records, group commit by a writer thread), on the
//! node's own store.

use std::time::Duration;

use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput};
use meshpay_benches::durable::{GroupCommit, IntakeShape, Store, intake};
use meshpay_benches::workload::dataset;
use meshpay_protocol::id::RecordId;
use prost::Message;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

/// Records per synced write.
const GROUPS: [usize; 4] = [1, 64, 1_024, 8_192];

fn synced_writes(c: &mut Criterion) {
    let w = dataset(*GROUPS.iter().max().expect("groups")).expect("workload");
    let stored: Vec<(RecordId, Vec<u8>)> = w
        .records
        .iter()
        .map(|r| (r.id(), r.to_signed().encode_to_vec()))
        .collect();
    let base = std::env::temp_dir();
    let mut store = Store::open_temp(&base).expect("store");
    let mut g = c.benchmark_group("synced_write");
    g.sampling_mode(SamplingMode::Flat)
        .measurement_time(Duration::from_secs(10));
    for n in GROUPS {
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(
            BenchmarkId::from_parameter(n),
            &stored[..n],
            |b, records| {
                let mut group = GroupCommit::new(&mut store);
                b.iter(|| {
                    for (id, bytes) in records {
                        group.stage(id, bytes);
                    }
                    group.commit().expect("synced write")
                })
            },
        );
    }
    g.finish();
}

fn durable_intake(c: &mut Criterion) {
    let w = dataset(1_024).expect("workload");
    let signed = w.signed();
    let base = std::env::temp_dir();
    let shape = IntakeShape {
        merge_batch: 64,
        max_group: 8_192,
    };
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let mut g = c.benchmark_group("durable_intake");
    g.sample_size(20)
        .sampling_mode(SamplingMode::Flat)
        .throughput(Throughput::Elements(signed.len() as u64));
    g.bench_function(BenchmarkId::from_parameter(signed.len()), |b| {
        b.iter(|| intake(&w.spec, &signed, &shape, &base, &mut rng).expect("intake"))
    });
    g.finish();
}

criterion::criterion_group!(benches, synced_writes, durable_intake);
criterion::criterion_main!(benches);
