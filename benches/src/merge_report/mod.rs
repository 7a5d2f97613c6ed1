//! The merge report: how fast a node absorbs what a healed partition brings, measured in
//! one run on one set of records, every rate set against a limit measured in the same
//! run on the same records: ZIP-215 batch verification of their signatures, on one core
//! and on all cores.
//!
//! Rows: the two limits; meshpay's verified merge on one core and on all cores; a merge
//! of the same records when most are known already; the merge of records verified
//! before; set unions without checks (`compare`); durable intake with group commit into
//! rocksdb (`crate::durable`); the Automerge-backed set's checked merge of the same
//! records, and Automerge's sync bytes beside meshpay's (`crate::automerge_bench`).

mod compare;
mod limits;
mod merges;
mod table;

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use meshpay_protocol::id::RecordId;
use meshpay_protocol::ledger::dependencies;
use meshpay_protocol::record::Record;
use meshpay_protocol::wire::SignedRecord;
use prost::Message;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use serde::Serialize;

pub use table::render;

use crate::durable::{self, IntakeFigures, IntakeShape};
use crate::rng::mix;
use crate::workload::{self, Shape, Stats};

/// What to measure.
#[derive(Clone, Debug)]
pub struct Options {
    /// Records in the batch.
    pub records: usize,
    /// Seed of the workload and of the batch verifiers' generators.
    pub seed: u64,
    /// Share of the batch the ledger holds already in the mostly-known merge.
    pub known_share: f64,
    /// Durable intake: records per merge and most records per synced write.
    pub intake: IntakeShape,
    /// Records written with one fsync each, for the rate without group commit.
    pub fsync_sample: usize,
    /// Where the rocksdb stores are made (and removed).
    pub dir: PathBuf,
    /// Rounds of the merges and their limits, each measured once a round; each figure
    /// is the fastest of its rounds.
    pub repeat: u32,
    /// Progress bars on stderr.
    pub progress: bool,
}

impl Default for Options {
    /// 100 000 records, 90 % known, merges of 256 records, groups of at most 8 192.
    fn default() -> Self {
        Options {
            records: 100_000,
            seed: 1,
            known_share: 0.9,
            intake: IntakeShape {
                merge_batch: 256,
                max_group: 8_192,
            },
            fsync_sample: 300,
            dir: std::env::temp_dir(),
            repeat: 1,
            progress: true,
        }
    }
}

/// The limit a row's rate is divided by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Limit {
    /// The row is a limit itself.
    Itself,
    /// Batch verification of the records' signatures on one core.
    OneCore,
    /// Batch verification of the records' signatures on all cores.
    AllCores,
}

/// What a row should reach.
#[derive(Clone, Copy, Debug, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// A ratio to the row's limit of at least this.
    Ratio(f64),
    /// A rate of at least this many records per second.
    Rate(f64),
}

/// One measured figure.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    /// Stable name, for machines.
    pub key: &'static str,
    /// What was measured, for people.
    pub what: String,
    /// Cores the measure used ("1", or the pool's thread count).
    pub cores: String,
    /// Records per second.
    pub rate: f64,
    /// What the rate is set against.
    pub limit: Limit,
    /// Rate over the limit's rate, once the report has the limits.
    pub ratio: Option<f64>,
    /// What the row should reach, if anything.
    pub target: Option<Target>,
    /// Whether it did.
    pub met: Option<bool>,
    /// Anything else worth knowing about the row.
    pub note: String,
}

impl Row {
    /// A row without target or note.
    pub fn new(key: &'static str, what: &str, cores: &str, rate: f64, limit: Limit) -> Self {
        Row {
            key,
            what: what.into(),
            cores: cores.into(),
            rate,
            limit,
            ratio: None,
            target: None,
            met: None,
            note: String::new(),
        }
    }

    fn target(mut self, t: Target) -> Self {
        self.target = Some(t);
        self
    }

    fn note(mut self, n: String) -> Self {
        self.note = n;
        self
    }

    /// Fills in the ratio and whether the target is met.
    fn judge(&mut self, one_core: f64, all_cores: f64) {
        let limit = match self.limit {
            Limit::Itself => return,
            Limit::OneCore => one_core,
            Limit::AllCores => all_cores,
        };
        let ratio = self.rate / limit;
        self.ratio = Some(ratio);
        self.met = self.target.map(|t| match t {
            Target::Ratio(r) => ratio >= r,
            Target::Rate(r) => self.rate >= r,
        });
    }
}

/// The report: the headline figures by name, then every row.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// Records in the batch.
    pub records: usize,
    /// Threads in rayon's global pool ("all cores").
    pub threads: usize,
    /// The run's seed.
    pub seed: u64,
    /// What the batch holds.
    pub workload: Stats,
    /// Signatures per second, one core.
    pub raw_verify_1core: f64,
    /// Signatures per second, all cores.
    pub raw_verify_all_cores: f64,
    /// Records per second, `merge` on one core.
    pub verified_merge_1core: f64,
    /// Records per second, `merge_parallel` on all cores.
    pub verified_merge_all_cores: f64,
    /// `verified_merge_1core / raw_verify_1core`.
    pub verified_merge_ratio_1core: f64,
    /// `verified_merge_all_cores / raw_verify_all_cores`.
    pub verified_merge_ratio_all_cores: f64,
    /// Records per second of the batch, `merge` when most are known.
    pub mostly_known_merge: f64,
    /// Records per second, `merge_verified`.
    pub pre_verified_merge: f64,
    /// Durable records per second, verified merge with group commit.
    pub durable_intake: f64,
    /// The durable intake run.
    pub durable: IntakeFigures,
    /// The rate of synced writes of one record each.
    pub fsync_per_record: IntakeFigures,
    /// The Automerge-backed set on the same records (absent when the batch is smaller
    /// than its sync measurement needs).
    pub automerge: Option<crate::automerge_bench::AutomergeFigures>,
    /// Pre-verified merge over the Automerge-backed set's checked merge, both of the
    /// Automerge measure's records.
    pub pre_verified_over_automerge: Option<f64>,
    /// Every figure.
    pub rows: Vec<Row>,
}

/// Runs `f` and returns what it gave with the seconds it took.
pub(crate) fn timed<T>(f: impl FnOnce() -> T) -> (T, f64) {
    let start = Instant::now();
    let out = f();
    (out, start.elapsed().as_secs_f64())
}

/// Records for the Automerge measure, whose sync part holds the first `shared` on both
/// sides and splits the next `differ` between them: a prefix of the batch (which is in
/// dependency order, so closed under dependencies) followed by records whose
/// dependencies all lie in that prefix, so neither side holds a record whose parent only
/// the other has. `None` if the batch has too few such records.
fn closed_selection(records: &[Record], shared: usize, differ: usize) -> Option<Vec<SignedRecord>> {
    use std::collections::HashSet;
    let prefix = records.get(..shared)?;
    let held: HashSet<RecordId> = prefix.iter().map(Record::id).collect();
    let leaves = records[shared..]
        .iter()
        .filter(|r| dependencies(r.body()).all(|d| held.contains(d)))
        .take(differ);
    let chosen: Vec<SignedRecord> = prefix.iter().chain(leaves).map(Record::to_signed).collect();
    (chosen.len() == shared + differ).then_some(chosen)
}

/// Generates the workload and measures every row.
pub fn run(o: &Options) -> Result<Report> {
    if o.records == 0 {
        bail!("the batch needs at least one record");
    }
    if o.repeat == 0 || o.intake.merge_batch == 0 || o.intake.max_group == 0 {
        bail!("--repeat, --merge-batch and --max-group take at least 1");
    }
    if !(0.0..=1.0).contains(&o.known_share) {
        bail!("--known is a share of the batch, from 0 to 1");
    }
    let bar = |len: u64, template: &str| {
        if !o.progress {
            return ProgressBar::hidden();
        }
        let b = ProgressBar::new(len);
        if let Ok(style) = ProgressStyle::with_template(template) {
            b.set_style(style);
        }
        b
    };
    let signing = bar(
        o.records as u64,
        "signing the workload {bar:40} {pos}/{len} records ({eta})",
    );
    let w = workload::generate(&Shape::for_records(o.records, o.seed), &signing)?;
    signing.finish_and_clear();
    // Six measures a round, then four more.
    let steps = bar(6 * u64::from(o.repeat) + 4, "{bar:20} {pos}/{len} {msg}");
    let step = |what: &str| {
        steps.set_message(what.to_owned());
        steps.inc(1);
    };
    let n = w.records.len() as f64;
    let threads = rayon::current_num_threads();
    let all = format!("{threads}");
    let signed: Vec<SignedRecord> = w.signed();
    let mut rng = ChaCha20Rng::seed_from_u64(mix(&[o.seed, 0x5e1f]));

    // Rounds of every measure in turn, each figure the fastest of its rounds: on a
    // shared machine a slow spell then slows one round of each measure, where measuring
    // each `repeat` times in a row let it slow every run of one measure (and so its
    // ratio to a limit measured outside the spell).
    let sigs = limits::Signatures::of(&w.records, &w.spec.chain_id());
    let known = (n * o.known_share.clamp(0.0, 1.0)) as usize;
    let mut digests = Vec::new();
    let mut fastest = [f64::INFINITY; 6];
    for round in 1..=o.repeat {
        let mut time = |k: usize, what: &str, measure: &mut dyn FnMut() -> Result<f64>| {
            step(&format!("round {round} of {}: {what}", o.repeat));
            fastest[k] = fastest[k].min(measure()?);
            anyhow::Ok(())
        };
        time(0, "raw verification, one core", &mut || {
            limits::one_core(&sigs, &mut rng)
        })?;
        time(1, "verified merge, one core", &mut || {
            let m = merges::verified(&w.spec, &signed, "merge", |l, b| l.merge(b, &mut rng))?;
            digests.push(("merge", m.digest));
            Ok(m.seconds)
        })?;
        time(2, "raw verification, all cores", &mut || {
            limits::all_cores(&sigs, &mut rng)
        })?;
        time(3, "verified merge, all cores", &mut || {
            let m = merges::verified(&w.spec, &signed, "merge_parallel", |l, b| {
                l.merge_parallel(b, &mut rng)
            })?;
            digests.push(("merge_parallel", m.digest));
            Ok(m.seconds)
        })?;
        time(4, "merge of mostly known records", &mut || {
            let m = merges::mostly_known(&w.spec, &w.records, &signed, known, &mut rng)?;
            digests.push(("mostly known", m.digest));
            Ok(m.seconds)
        })?;
        time(5, "pre-verified merge", &mut || {
            let m = merges::pre_verified(&w.spec, &w.records)?;
            digests.push(("merge_verified", m.digest));
            Ok(m.seconds)
        })?;
    }
    drop(sigs);
    let [raw1, merge1, raw_all, merge_all, mostly_known, pre] = fastest.map(|secs| n / secs);
    if let Some((what, _)) = digests.iter().find(|(_, d)| *d != digests[0].1) {
        bail!("{what} left another state digest than merge: the merges disagree");
    }

    step("set unions without checks");
    let comparisons = compare::rows(&signed)?;

    step("synced writes, one record each");
    let stored: Vec<(RecordId, Vec<u8>)> = signed
        .iter()
        .take(o.fsync_sample.max(1))
        .map(|s| (RecordId::of_body(&s.body), s.encode_to_vec()))
        .collect();
    let fsync_per_record = durable::synced_writes(&stored, 1, &o.dir)?;
    step("durable intake");
    let intake = durable::intake(&w.spec, &signed, &o.intake, &o.dir, &mut rng)?;
    step("the Automerge-backed set");
    let am_options = crate::automerge_bench::Options {
        seed: o.seed,
        ..Default::default()
    };
    let automerge = match closed_selection(&w.records, am_options.shared, 2 * am_options.differ) {
        Some(chosen) => Some(crate::automerge_bench::measure(
            &chosen,
            &w.spec,
            &am_options,
        )?),
        None => None,
    };
    steps.finish_and_clear();

    let mut rows = vec![
        Row::new(
            "raw_verify_1core",
            "ZIP-215 batch verification (the limit)",
            "1",
            raw1,
            Limit::Itself,
        ),
        Row::new(
            "raw_verify_all_cores",
            "ZIP-215 batch verification (the limit)",
            &all,
            raw_all,
            Limit::Itself,
        )
        .note(format!("{:.2} x one core", raw_all / raw1)),
        Row::new(
            "verified_merge_1core",
            "verified merge (merge)",
            "1",
            merge1,
            Limit::OneCore,
        )
        .target(Target::Ratio(0.9)),
        Row::new(
            "verified_merge_all_cores",
            "verified merge (merge_parallel)",
            &all,
            merge_all,
            Limit::AllCores,
        )
        .target(Target::Ratio(0.9)),
        Row::new(
            "mostly_known_merge",
            "merge, most records known already",
            "1",
            mostly_known,
            Limit::OneCore,
        )
        .target(Target::Ratio(5.0))
        .note(format!("{known} of {} known", w.records.len())),
        Row::new(
            "pre_verified_merge",
            "pre-verified merge (merge_verified)",
            "1",
            pre,
            Limit::OneCore,
        )
        .target(Target::Rate(1e6)),
    ];
    rows.extend(comparisons);
    rows.push(
        Row::new(
            "fsync_per_record",
            "rocksdb synced writes, one record each",
            "1",
            fsync_per_record.rate,
            Limit::OneCore,
        )
        .note(format!(
            "{} records, {} fsyncs",
            fsync_per_record.durable, fsync_per_record.wal_syncs
        )),
    );
    rows.push(
        Row::new(
            "durable_intake",
            "durable intake: merge + group commit",
            "1+writer",
            intake.rate,
            Limit::OneCore,
        )
        .target(Target::Rate(1e4))
        .note(format!(
            "{} fsyncs, {:.0} records each; merges of {}",
            intake.wal_syncs, intake.mean_group, o.intake.merge_batch
        )),
    );
    if let Some(a) = &automerge {
        rows.push(
            Row::new(
                "automerge_merge",
                "Automerge-backed set: checked merge",
                "1",
                a.merge.records_per_s,
                Limit::OneCore,
            )
            .note(format!(
                "{} records; pre-verified merge of the same records {:.1} x this; {:.0} % in \
                 the checks",
                a.merge.records,
                1.0 / a.merge.ratio_to_native,
                a.merge.check_share * 100.0
            )),
        );
    }
    for r in &mut rows {
        r.judge(raw1, raw_all);
    }
    Ok(Report {
        records: w.records.len(),
        threads,
        seed: o.seed,
        workload: w.stats,
        raw_verify_1core: raw1,
        raw_verify_all_cores: raw_all,
        verified_merge_1core: merge1,
        verified_merge_all_cores: merge_all,
        verified_merge_ratio_1core: merge1 / raw1,
        verified_merge_ratio_all_cores: merge_all / raw_all,
        mostly_known_merge: mostly_known,
        pre_verified_merge: pre,
        durable_intake: intake.rate,
        durable: intake,
        fsync_per_record,
        pre_verified_over_automerge: automerge.as_ref().map(|a| 1.0 / a.merge.ratio_to_native),
        automerge,
        rows,
    })
}
