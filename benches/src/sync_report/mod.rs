//! The sync report: what meshpay's reconciliation between two nodes costs on the wire,
//! against the records it must move anyway and against negentropy on the same sets.
//!
//! One configuration: a pool prefix of `n` signed records; `d` of them, picked at
//! random, differ: split between the nodes (A holds ⌈d/2⌉, B ⌊d/2⌋) or all on B (A
//! lacks them). Two ledgers are built (trusted merge: setup), then two sync engines
//! reconcile over a lossless in-memory link, A initiating, and every byte is counted.

pub mod airtime;
pub mod link;
pub mod neg;
pub mod pool;
mod table;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use meshpay_protocol::chain::ChainSpec;
use meshpay_protocol::id::RecordId;
use meshpay_protocol::ledger::RecordSet;
use meshpay_protocol::radio::ModemPreset;
use meshpay_protocol::record::Record;
use meshpay_protocol::sync::{Outcome, SyncConfig};
use serde::Serialize;

pub use airtime::Airtime;
pub use link::KindStats;
pub use table::render;

use crate::rng::{ReportRng, mix};
use pool::Pool;

/// Records in the pool beyond the largest `n`.
pub const POOL_EXTRA: usize = 2_000;

/// What to measure.
#[derive(Clone, Debug)]
pub struct Options {
    /// Set sizes (the union of both nodes' sets).
    pub ns: Vec<usize>,
    /// Numbers of differing records.
    pub ds: Vec<usize>,
    /// Trials at `trial_point` (every other cell runs once).
    pub trials: u32,
    /// The (n, d) measured over `trials` random trials, both modes.
    pub trial_point: Option<(usize, usize)>,
    /// The (n, d) whose split reconciliation is timed on air, under `SyncConfig::lora()`.
    pub airtime_point: Option<(usize, usize)>,
    /// Seed of everything random: keys, which records differ, engine seeds.
    pub seed: u64,
    /// Memo length of the pool's mints, in bytes.
    pub memo_bytes: usize,
    /// Engine configuration of the grid.
    pub config: SyncConfig,
    /// Its name, for the report.
    pub config_name: String,
    /// Progress bars on stderr.
    pub progress: bool,
}

impl Options {
    /// The full grid: n ∈ {10 k, 100 k, 1 M} × d ∈ {0, 1, 10, 100, 1000}.
    pub fn full() -> Self {
        Options {
            ns: vec![10_000, 100_000, 1_000_000],
            ds: vec![0, 1, 10, 100, 1_000],
            trials: 20,
            trial_point: Some((100_000, 100)),
            airtime_point: Some((10_000, 100)),
            seed: 1,
            memo_bytes: 12,
            config: SyncConfig::default(),
            config_name: "default".into(),
            progress: true,
        }
    }

    /// A small grid: n ∈ {1 000, 10 000}.
    pub fn quick() -> Self {
        Options {
            ns: vec![1_000, 10_000],
            trials: 5,
            trial_point: Some((10_000, 100)),
            ..Options::full()
        }
    }

    /// Drops every configuration above `max_n`.
    pub fn cap(&mut self, max_n: usize) {
        self.ns.retain(|&n| n <= max_n);
        self.trial_point = self.trial_point.filter(|p| p.0 <= max_n);
        self.airtime_point = self.airtime_point.filter(|p| p.0 <= max_n);
    }

    fn largest_n(&self) -> usize {
        let points = self
            .trial_point
            .iter()
            .chain(&self.airtime_point)
            .map(|p| p.0);
        self.ns.iter().copied().chain(points).max().unwrap_or(0)
    }
}

/// One configuration's figures (means over its trials).
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    /// Records in the union of both sets.
    pub n: usize,
    /// Records only one side holds.
    pub d: usize,
    /// Differing records split between the sides (else all on B).
    pub split: bool,
    /// Records only A holds, only B holds.
    pub a_only: usize,
    pub b_only: usize,
    /// Engine configuration ("default", "lora").
    pub config: String,
    /// Random trials averaged.
    pub trials: u32,
    /// Every byte sent, both directions (mean, min, max).
    pub bytes: u64,
    pub bytes_min: u64,
    pub bytes_max: u64,
    /// The differing records' encoded sizes, each counted once: the lower bound.
    pub payload_bytes: u64,
    /// `bytes - payload_bytes`: what reconciliation itself cost.
    pub message_bytes: u64,
    /// `message_bytes / payload_bytes` (0 when d = 0), mean, min, max.
    pub overhead: f64,
    pub overhead_min: f64,
    pub overhead_max: f64,
    /// Requests of A that B answered (mean, max).
    pub round_trips: f64,
    pub round_trips_max: u32,
    /// Messages in both directions (mean).
    pub messages: f64,
    /// Sessions A opened (mean; above 1: retries).
    pub sessions: f64,
    /// Trials that fell back to range reconciliation.
    pub ranges_used: u32,
    /// Records delivered that the receiver already held (total over trials).
    pub redundant_records: u64,
    /// Negentropy's bytes to find the same difference (ids only; mean).
    pub negentropy_bytes: u64,
    pub negentropy_round_trips: f64,
    /// Negentropy's frame size limit (0: none).
    pub negentropy_frame_size_limit: u64,
    /// Both ledgers ended equal (state digest) in every trial, holding all n records.
    pub equal: bool,
    /// Wall time of the measured exchange, and of building the two ledgers (mean, ms).
    pub reconcile_ms: f64,
    pub build_ms: f64,
    /// Traffic by message kind ("a:hello", "b:records"), mean per trial.
    pub kinds: BTreeMap<String, KindStats>,
    /// Time on air (the LoRa row only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub airtime: Option<Airtime>,
}

/// A target and how the run fared against it.
#[derive(Clone, Debug, Serialize)]
pub struct Target {
    /// What is asked.
    pub name: String,
    /// What was measured.
    pub measured: String,
    /// Met, missed, or not measured in this run.
    pub pass: Option<bool>,
}

/// Everything one run measured.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// The rows, grid first, then the trial rows, then the LoRa row.
    pub rows: Vec<Row>,
    /// Targets against the rows.
    pub targets: Vec<Target>,
    /// Records signed for the pool.
    pub pool_records: usize,
    /// Mean encoded record size over the pool.
    pub mean_record_bytes: f64,
    /// Memo length of the mints.
    pub memo_bytes: usize,
    /// Grid engine configuration's name and largest message.
    pub config: String,
    pub max_message_bytes: usize,
    /// Seconds spent signing the pool, and on the whole run.
    pub pool_seconds: f64,
    pub total_seconds: f64,
}

/// One trial's figures.
struct Sample {
    a_only: usize,
    b_only: usize,
    bytes: u64,
    payload: u64,
    round_trips: u32,
    messages: u64,
    sessions: u64,
    ranges: bool,
    redundant: u64,
    neg: neg::NegResult,
    equal: bool,
    reconcile_ms: f64,
    build_ms: f64,
    kinds: BTreeMap<String, KindStats>,
    log: Vec<link::Sent>,
}

/// One trial of one configuration (the LoRa cell keeps its messages for airtime).
fn measure(
    pool: &Pool,
    c: &Cell,
    seed: u64,
    config: &SyncConfig,
    bar: &ProgressBar,
) -> Result<Sample> {
    let (n, d, split, keep_log) = (c.n, c.d, c.split, c.lora);
    let mut rng = ReportRng::new(seed);
    let picks = rng.sample(n, d);
    let a_count = if split { d - d / 2 } else { 0 };
    // 0: both hold it; 1: A only; 2: B only.
    let mut side = vec![0u8; n];
    for (i, &p) in picks.iter().enumerate() {
        side[p] = if i < a_count { 1 } else { 2 };
    }
    let payload: u64 = picks.iter().map(|&p| u64::from(pool.sizes[p])).sum();
    let side = &side;
    let holds = |s: u8, who: u8| s == 0 || s == who;
    let records = |who: u8| {
        (0..n)
            .filter(move |&i| holds(side[i], who))
            .map(|i| &pool.records[i])
    };

    bar.set_message(format!("n={n} d={d} {}: building ledgers", mode(d, split)));
    let t = Instant::now();
    let (la, lb) = std::thread::scope(|s| {
        let ha = s.spawn(|| pool::ledger(&pool.spec, records(1)));
        let lb = pool::ledger(&pool.spec, records(2));
        (
            ha.join()
                .map_err(|_| anyhow::anyhow!("ledger thread panicked")),
            lb,
        )
    });
    let (mut la, mut lb) = (la??, lb?);
    let build_ms = t.elapsed().as_secs_f64() * 1e3;

    bar.set_message(format!("n={n} d={d} {}: negentropy", mode(d, split)));
    let neg = neg::reconcile(la.set().ids(), lb.set().ids())?;
    if neg.have != a_count || neg.need != d - a_count {
        bail!(
            "negentropy found {}+{} differing ids, not {a_count}+{}",
            neg.have,
            neg.need,
            d - a_count
        );
    }

    bar.set_message(format!("n={n} d={d} {}: reconciling", mode(d, split)));
    let ex = link::reconcile(&mut la, &mut lb, config, mix(&[seed, 0xe9]), keep_log)
        .with_context(|| format!("n={n} d={d} split={split} seed={seed}"))?;
    let equal = la.len() == n && lb.len() == n && la.state_digest() == lb.state_digest();
    let ranges = matches!(ex.outcome, Outcome::Reconciled { ranges: true, .. });
    // Freeing two large ledgers takes a while; do it off the clock of the next cell.
    std::thread::spawn(move || drop((la, lb)));
    Ok(Sample {
        a_only: a_count,
        b_only: d - a_count,
        bytes: ex.bytes(),
        payload,
        round_trips: ex.round_trips,
        messages: ex.messages,
        sessions: ex.sessions,
        ranges,
        redundant: ex.redundant_records,
        neg,
        equal,
        reconcile_ms: ex.elapsed.as_secs_f64() * 1e3,
        build_ms,
        kinds: ex.kinds,
        log: ex.log,
    })
}

/// meshpay's reconciliation between a node holding `a` and one holding `b` (records of
/// `spec` the caller signed or verified), A initiating: what it cost, once both ledgers
/// were checked to end holding the union.
pub fn reconcile_records(
    spec: &ChainSpec,
    a: &[Record],
    b: &[Record],
    config: &SyncConfig,
    seed: u64,
) -> Result<link::Exchange> {
    let mut la = pool::ledger(spec, a.iter())?;
    let mut lb = pool::ledger(spec, b.iter())?;
    let union: BTreeSet<RecordId> = a.iter().chain(b).map(Record::id).collect();
    let ex = link::reconcile(&mut la, &mut lb, config, seed, false)?;
    if la.len() != union.len() || lb.len() != union.len() {
        bail!(
            "after reconciliation A holds {} and B {} of {} records",
            la.len(),
            lb.len(),
            union.len()
        );
    }
    if la.state_digest() != lb.state_digest() {
        bail!("the ledgers differ after reconciliation");
    }
    Ok(ex)
}

fn mode(d: usize, split: bool) -> &'static str {
    match (d, split) {
        (0, _) => "identical",
        (_, true) => "split",
        (_, false) => "one-sided",
    }
}

fn overhead(s: &Sample) -> f64 {
    if s.payload == 0 {
        0.0
    } else {
        (s.bytes as f64 - s.payload as f64) / s.payload as f64
    }
}

fn row(n: usize, d: usize, split: bool, config: &str, samples: &[Sample]) -> Row {
    let k = samples.len().max(1) as f64;
    let mean = |f: &dyn Fn(&Sample) -> f64| samples.iter().map(f).sum::<f64>() / k;
    let fold = |f: &dyn Fn(&Sample) -> f64, init: f64, g: fn(f64, f64) -> f64| {
        samples.iter().map(f).fold(init, g)
    };
    let mut kinds: BTreeMap<String, KindStats> = BTreeMap::new();
    for s in samples {
        for (name, st) in &s.kinds {
            let e = kinds.entry(name.clone()).or_default();
            e.messages += st.messages;
            e.bytes += st.bytes;
            e.items += st.items;
            e.item_bytes += st.item_bytes;
        }
    }
    let per = |x: u64| (x as f64 / k).round() as u64;
    for st in kinds.values_mut() {
        *st = KindStats {
            messages: per(st.messages),
            bytes: per(st.bytes),
            items: per(st.items),
            item_bytes: per(st.item_bytes),
        };
    }
    let bytes = mean(&|s| s.bytes as f64);
    let payload = mean(&|s| s.payload as f64);
    Row {
        n,
        d,
        split,
        a_only: samples.first().map_or(0, |s| s.a_only),
        b_only: samples.first().map_or(0, |s| s.b_only),
        config: config.to_owned(),
        trials: samples.len() as u32,
        bytes: bytes.round() as u64,
        bytes_min: samples.iter().map(|s| s.bytes).min().unwrap_or(0),
        bytes_max: samples.iter().map(|s| s.bytes).max().unwrap_or(0),
        payload_bytes: payload.round() as u64,
        message_bytes: (bytes - payload).round().max(0.0) as u64,
        overhead: mean(&overhead),
        overhead_min: fold(&overhead, f64::INFINITY, f64::min),
        overhead_max: fold(&overhead, f64::NEG_INFINITY, f64::max),
        round_trips: mean(&|s| f64::from(s.round_trips)),
        round_trips_max: samples.iter().map(|s| s.round_trips).max().unwrap_or(0),
        messages: mean(&|s| s.messages as f64),
        sessions: mean(&|s| s.sessions as f64),
        ranges_used: samples.iter().filter(|s| s.ranges).count() as u32,
        redundant_records: samples.iter().map(|s| s.redundant).sum(),
        negentropy_bytes: mean(&|s| s.neg.bytes as f64).round() as u64,
        negentropy_round_trips: mean(&|s| f64::from(s.neg.round_trips)),
        negentropy_frame_size_limit: neg::FRAME_SIZE_LIMIT,
        equal: samples.iter().all(|s| s.equal),
        reconcile_ms: mean(&|s| s.reconcile_ms),
        build_ms: mean(&|s| s.build_ms),
        kinds,
        airtime: None,
    }
}

fn bar(progress: bool, len: u64, what: &str) -> ProgressBar {
    if !progress {
        return ProgressBar::hidden();
    }
    let b = ProgressBar::new(len);
    let style = ProgressStyle::with_template(&format!(
        "{what:>9} [{{elapsed_precise}}] {{wide_bar}} {{pos}}/{{len}} {{msg}}"
    ))
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    b.set_style(style);
    b
}

struct Cell {
    n: usize,
    d: usize,
    split: bool,
    trials: u32,
    lora: bool,
}

fn cells(o: &Options) -> Vec<Cell> {
    let mut out = Vec::new();
    for &n in &o.ns {
        for &d in o.ds.iter().filter(|&&d| d <= n) {
            for split in [true, false] {
                out.push(Cell {
                    n,
                    d,
                    split,
                    trials: 1,
                    lora: false,
                });
            }
        }
    }
    if let Some((n, d)) = o.trial_point.filter(|p| p.1 <= p.0) {
        for split in [true, false] {
            out.push(Cell {
                n,
                d,
                split,
                trials: o.trials.max(1),
                lora: false,
            });
        }
    }
    if let Some((n, d)) = o.airtime_point.filter(|p| p.1 <= p.0) {
        out.push(Cell {
            n,
            d,
            split: true,
            trials: 1,
            lora: true,
        });
    }
    out
}

/// Runs every configuration of `o`.
pub fn run(o: &Options) -> Result<Report> {
    let started = Instant::now();
    let count = o.largest_n() + POOL_EXTRA;
    let pb = bar(o.progress, count as u64, "signing");
    pb.set_message(format!("{count} mints"));
    let pool = pool::build(count, o.memo_bytes, o.seed, &pb)?;
    pb.finish_with_message(format!(
        "{count} mints, mean {:.1} B",
        pool.mean_size(count)
    ));
    let pool_seconds = started.elapsed().as_secs_f64();

    let cells = cells(o);
    let total: u64 = cells.iter().map(|c| u64::from(c.trials)).sum();
    let mb = bar(o.progress, total, "measuring");
    let lora = SyncConfig::lora();
    let mut rows = Vec::new();
    for c in &cells {
        let (config, name) = if c.lora {
            (&lora, "lora")
        } else {
            (&o.config, o.config_name.as_str())
        };
        let mut samples = Vec::new();
        for t in 0..c.trials {
            let seed = mix(&[
                o.seed,
                c.n as u64,
                c.d as u64,
                u64::from(c.split),
                u64::from(c.trials),
                u64::from(c.lora),
                u64::from(t),
            ]);
            samples.push(measure(&pool, c, seed, config, &mb)?);
            mb.inc(1);
        }
        let mut r = row(c.n, c.d, c.split, name, &samples);
        if c.lora {
            let s = samples.first().context("a sample")?;
            r.airtime = Some(airtime::airtime(ModemPreset::LongFast, &s.log, s.payload)?);
        }
        rows.push(r);
    }
    mb.finish_with_message("done");
    let targets = targets(&rows, o);
    Ok(Report {
        rows,
        targets,
        pool_records: count,
        mean_record_bytes: pool.mean_size(count),
        memo_bytes: o.memo_bytes,
        config: o.config_name.clone(),
        max_message_bytes: o.config.max_message_bytes,
        pool_seconds,
        total_seconds: started.elapsed().as_secs_f64(),
    })
}

/// The targets, judged on the rows (never on assumed figures).
pub fn targets(rows: &[Row], o: &Options) -> Vec<Target> {
    let grid = |r: &&Row| r.config == o.config_name && r.trials == 1;
    let mut out = Vec::new();

    let identical: Vec<&Row> = rows.iter().filter(grid).filter(|r| r.d == 0).collect();
    out.push(Target {
        name: "identical sets: one round trip, under 100 bytes".into(),
        measured: match identical.iter().max_by_key(|r| r.bytes_max) {
            Some(w) => format!(
                "worst {} B, {} round trip(s) over {} runs (n up to {})",
                w.bytes_max,
                identical
                    .iter()
                    .map(|r| r.round_trips_max)
                    .max()
                    .unwrap_or(0),
                identical.len(),
                identical.iter().map(|r| r.n).max().unwrap_or(0)
            ),
            None => "not measured".into(),
        },
        pass: (!identical.is_empty()).then(|| {
            identical
                .iter()
                .all(|r| r.round_trips_max == 1 && r.bytes_max < 100)
        }),
    });

    for split in [true, false] {
        let r = rows.iter().find(|r| {
            r.n == 100_000
                && r.d == 100
                && r.split == split
                && r.trials > 1
                && r.config == o.config_name
        });
        out.push(Target {
            name: format!(
                "n = 100 000, d = 100 {}: mean overhead <= 0.10",
                mode(100, split)
            ),
            measured: r.map_or("not measured".into(), |r| {
                format!(
                    "mean {:.3} (min {:.3}, max {:.3}) over {} trials",
                    r.overhead, r.overhead_min, r.overhead_max, r.trials
                )
            }),
            pass: r.map(|r| r.overhead <= 0.10),
        });
    }

    let one: Vec<&Row> = rows
        .iter()
        .filter(grid)
        .filter(|r| r.n == 1_000_000 && r.d == 1)
        .collect();
    out.push(Target {
        name: "n = 1 000 000, d = 1: reconciliation messages under 1 kB".into(),
        measured: if one.is_empty() {
            "not measured".into()
        } else {
            one.iter()
                .map(|r| format!("{}: {} B", mode(r.d, r.split), r.message_bytes))
                .collect::<Vec<_>>()
                .join(", ")
        },
        pass: (!one.is_empty()).then(|| one.iter().all(|r| r.message_bytes < 1_000)),
    });
    out
}
