//! Figures for the Automerge-backed record set beside the native one, on records the
//! caller provides: (a) how fast a document holding them merges, checked, into an empty
//! one, split between Automerge's own work and the checks, next to the native ledger's
//! pre-verified merge of the same records; (b) what Automerge's sync protocol sends to
//! reconcile two documents that share most records and differ by a few on each side,
//! next to the bytes of the records that differ and to meshpay's own reconciliation.

use std::sync::Arc;
use std::time::Instant;

use automerge::sync::{self, SyncDoc};
use automerge::{Automerge, AutomergeError};
use meshpay_protocol::chain::ChainSpec;
use meshpay_protocol::ledger::{Ledger, LedgerConfig, RecordSet};
use meshpay_protocol::record::{self, Record};
use meshpay_protocol::reject::Reject;
use meshpay_protocol::sync::SyncConfig;
use meshpay_protocol::wire;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use serde::Serialize;

use crate::automerge_set::{self, AutomergeSet, LoadError, MergeError, MergeLimits};
use crate::sync_report;

/// Messages after which a sync counts as runaway.
const MAX_SYNC_MESSAGES: usize = 10_000;
/// Actors of the documents the measurement builds.
const SOURCE: [u8; 16] = [0x50; 16];
const TARGET: [u8; 16] = [0x7a; 16];
const BASE: [u8; 16] = [0xba; 16];
const SIDE_A: [u8; 16] = [0xa0; 16];
const SIDE_B: [u8; 16] = [0xb0; 16];

/// What to measure.
#[derive(Clone, Debug)]
pub struct Options {
    /// Records per Automerge change in the documents built (a node that puts each
    /// record as it arrives makes one change per record).
    pub records_per_change: usize,
    /// Records both documents of the sync measurement hold.
    pub shared: usize,
    /// Records only one of them holds, on each side.
    pub differ: usize,
    /// Seed of meshpay's sync engines and of the batch verifier.
    pub seed: u64,
}

impl Default for Options {
    /// One record per change, 10 000 shared, 100 differing on each side.
    fn default() -> Self {
        Options {
            records_per_change: 1,
            shared: 10_000,
            differ: 100,
            seed: 1,
        }
    }
}

/// Why a measurement failed.
#[derive(Debug, thiserror::Error)]
pub enum MeasureError {
    /// Fewer records than the sync measurement needs.
    #[error("{have} records, the sync measurement needs {need}")]
    TooFewRecords { have: usize, need: usize },
    /// A record that does not parse.
    #[error("record {index}: {why}")]
    Record { index: usize, why: Reject },
    /// The network's spec is invalid.
    #[error("spec: {0}")]
    Spec(String),
    /// The checked merge refused the caller's own records.
    #[error("checked merge: {0}")]
    Merge(#[from] MergeError),
    /// A document could not be read back.
    #[error("document: {0}")]
    Load(#[from] LoadError),
    /// Automerge's sync failed.
    #[error("automerge sync: {0}")]
    Sync(#[from] AutomergeError),
    /// A result that contradicts the setup (records lost, ledgers unequal).
    #[error("{0}")]
    Inconsistent(String),
    /// meshpay's reconciliation failed.
    #[error("meshpay reconciliation: {0:#}")]
    Meshpay(anyhow::Error),
}

/// Everything measured.
#[derive(Clone, Debug, Serialize)]
pub struct AutomergeFigures {
    /// (a) the checked merge into an empty document.
    pub merge: MergeFigures,
    /// (b) reconciling two documents.
    pub sync: SyncFigures,
}

/// A document holding the records merged, checked, into an empty one.
#[derive(Clone, Debug, Serialize)]
pub struct MergeFigures {
    /// Records merged.
    pub records: usize,
    /// Records per change, changes, and their bytes (uncompressed).
    pub records_per_change: usize,
    pub changes: usize,
    pub change_bytes: usize,
    /// Automerge finding the changes the empty document lacks (s).
    pub collect_s: f64,
    /// The checks: decoding every operation, parsing every record, recomputing ids (s).
    pub check_s: f64,
    /// Automerge applying the checked changes, plus indexing their records (s).
    pub apply_s: f64,
    /// `collect_s + apply_s`: Automerge's own merge.
    pub automerge_s: f64,
    /// Records per second of the whole checked merge.
    pub records_per_s: f64,
    /// Share of the checked merge spent in the checks.
    pub check_share: f64,
    /// The native ledger's `merge_verified` of the same records (s), records/s.
    pub native_s: f64,
    pub native_records_per_s: f64,
    /// `native_s` over the checked Automerge merge's time: below 1, Automerge is slower.
    pub ratio_to_native: f64,
    /// A ledger over the Automerge set, `merge_verified` of the same records (s): what the
    /// set costs the ledger when records arrive through meshpay's own sync.
    pub ledger_over_automerge_s: f64,
    /// A ledger over the Automerge set taking the source document in with
    /// `merge_peer`: checks, batch signature verification, intake, adoption (s), records/s.
    pub peer_merge_s: f64,
    pub peer_merge_records_per_s: f64,
}

/// Two documents sharing `shared` records, each holding `differ` the other lacks.
#[derive(Clone, Debug, Serialize)]
pub struct SyncFigures {
    /// Records both hold, records each holds alone, records per change.
    pub shared: usize,
    pub differ_each: usize,
    pub records_per_change: usize,
    /// Encoded bytes of the 2 × `differ_each` differing records: the lower bound.
    pub payload_bytes: u64,
    /// Automerge's sync between peers meeting for the first time (fresh sync states).
    pub fresh: AutomergeSync,
    /// The same after the two had synced the shared part before (persisted sync states).
    pub known: AutomergeSync,
    /// meshpay's reconciliation of the same two record sets (default engine config).
    pub meshpay_bytes: u64,
    pub meshpay_round_trips: u32,
    /// `meshpay_bytes / payload_bytes`.
    pub meshpay_ratio: f64,
}

/// One run of Automerge's sync protocol.
#[derive(Clone, Debug, Serialize)]
pub struct AutomergeSync {
    /// Encoded sync messages, both directions.
    pub bytes: u64,
    /// Messages, both directions.
    pub messages: u32,
    /// Messages of A that B answered.
    pub round_trips: u32,
    /// `bytes / payload_bytes`.
    pub ratio: f64,
}

/// Measures the Automerge-backed set on `records` (of `spec`; records the caller signed
/// or verified: signatures are not what is measured, except in `peer_merge`): the merge
/// over all of them, the sync over the first `shared + 2 × differ`.
pub fn measure(
    records: &[wire::SignedRecord],
    spec: &ChainSpec,
    o: &Options,
) -> Result<AutomergeFigures, MeasureError> {
    let need = o.shared + 2 * o.differ;
    if records.len() < need {
        return Err(MeasureError::TooFewRecords {
            have: records.len(),
            need,
        });
    }
    let parsed = records
        .iter()
        .enumerate()
        .map(|(index, s)| {
            record::parse(s.clone())
                .map(|p| p.into_trusted())
                .map_err(|why| MeasureError::Record { index, why })
        })
        .collect::<Result<Vec<Record>, _>>()?;
    Ok(AutomergeFigures {
        merge: merge(&parsed, spec, o)?,
        sync: sync(&parsed[..need], spec, o)?,
    })
}

/// A set holding `records`, a change every `per_change` records.
fn document(actor: [u8; 16], records: &[Record], per_change: usize) -> AutomergeSet {
    let mut s = AutomergeSet::new(actor);
    add(&mut s, records, per_change);
    s
}

fn add(s: &mut AutomergeSet, records: &[Record], per_change: usize) {
    for chunk in records.chunks(per_change.max(1)) {
        for r in chunk {
            s.insert(&Arc::new(r.clone()));
        }
        s.commit();
    }
}

fn ledger<S: RecordSet>(spec: &ChainSpec, set: S) -> Result<Ledger<S>, MeasureError> {
    Ledger::with_set(spec.clone(), LedgerConfig::default(), set)
        .map_err(|e| MeasureError::Spec(e.to_string()))
}

fn seconds(t: Instant) -> f64 {
    t.elapsed().as_secs_f64()
}

fn merge(records: &[Record], spec: &ChainSpec, o: &Options) -> Result<MergeFigures, MeasureError> {
    let n = records.len();
    let mut source = document(SOURCE, records, o.records_per_change);
    let limits = MergeLimits {
        max_changes: usize::MAX,
        max_bytes: usize::MAX,
    };
    let mut target = AutomergeSet::new(TARGET).with_limits(limits);

    let t = Instant::now();
    let changes = target.changes_missing_from(&mut source);
    let collect_s = seconds(t);
    let t = Instant::now();
    let staged = target.check_changes(changes)?;
    let check_s = seconds(t);
    let (change_count, change_bytes) = (staged.changes(), staged.bytes());
    let t = Instant::now();
    target.apply_trusted(staged)?;
    let apply_s = seconds(t);
    if target.len() != n {
        return Err(MeasureError::Inconsistent(format!(
            "the merged document holds {} of {n} records",
            target.len()
        )));
    }
    let total = collect_s + check_s + apply_s;

    let mut native = ledger(spec, meshpay_protocol::ledger::NativeSet::default())?;
    let batch = records.to_vec();
    let t = Instant::now();
    let c = native.merge_verified(batch);
    let native_s = seconds(t);
    expect_added(c.added.len(), n, "native ledger")?;

    let mut over = ledger(spec, AutomergeSet::new(TARGET))?;
    let batch = records.to_vec();
    let t = Instant::now();
    let c = over.merge_verified(batch);
    over.set_mut().commit();
    let ledger_over_automerge_s = seconds(t);
    expect_added(c.added.len(), n, "ledger over the Automerge set")?;

    let mut taker = ledger(spec, AutomergeSet::new(TARGET).with_limits(limits))?;
    let mut rng = ChaCha20Rng::seed_from_u64(o.seed);
    let t = Instant::now();
    let m = automerge_set::merge_peer(&mut taker, &mut source, &mut rng)?;
    let peer_merge_s = seconds(t);
    expect_added(m.changes.added.len(), n, "merge_peer")?;
    if !m.adopted || taker.state_digest() != native.state_digest() {
        return Err(MeasureError::Inconsistent(
            "merge_peer did not adopt the source's history or ended in another state".into(),
        ));
    }

    Ok(MergeFigures {
        records: n,
        records_per_change: o.records_per_change,
        changes: change_count,
        change_bytes,
        collect_s,
        check_s,
        apply_s,
        automerge_s: collect_s + apply_s,
        records_per_s: n as f64 / total,
        check_share: check_s / total,
        native_s,
        native_records_per_s: n as f64 / native_s,
        ratio_to_native: native_s / total,
        ledger_over_automerge_s,
        peer_merge_s,
        peer_merge_records_per_s: n as f64 / peer_merge_s,
    })
}

fn expect_added(added: usize, n: usize, what: &str) -> Result<(), MeasureError> {
    if added == n {
        Ok(())
    } else {
        Err(MeasureError::Inconsistent(format!(
            "{what} added {added} of {n} records"
        )))
    }
}

fn sync(records: &[Record], spec: &ChainSpec, o: &Options) -> Result<SyncFigures, MeasureError> {
    let (shared, a_only, b_only) = (
        &records[..o.shared],
        &records[o.shared..o.shared + o.differ],
        &records[o.shared + o.differ..],
    );
    let payload_bytes: u64 = a_only
        .iter()
        .chain(b_only)
        .map(|r| r.encoded_len() as u64)
        .sum();
    let per = o.records_per_change;
    let mut base = document(BASE, shared, per);
    let total = records.len();

    // Peers meeting for the first time.
    let mut a = base.fork(SIDE_A);
    let mut b = base.fork(SIDE_B);
    add(&mut a, a_only, per);
    add(&mut b, b_only, per);
    let fresh = run_sync(
        a.into_document(),
        b.into_document(),
        sync::State::new(),
        sync::State::new(),
        total,
        payload_bytes,
    )?;

    // Peers that synced the shared part before and kept their sync states.
    let mut a = base.fork(SIDE_A);
    let mut b = base.fork(SIDE_B);
    let (sa, sb) = synced_states(a.document().clone(), b.document().clone())?;
    add(&mut a, a_only, per);
    add(&mut b, b_only, per);
    let known = run_sync(
        a.into_document(),
        b.into_document(),
        sa,
        sb,
        total,
        payload_bytes,
    )?;

    let union_a: Vec<Record> = shared.iter().chain(a_only).cloned().collect();
    let union_b: Vec<Record> = shared.iter().chain(b_only).cloned().collect();
    let ex =
        sync_report::reconcile_records(spec, &union_a, &union_b, &SyncConfig::default(), o.seed)
            .map_err(MeasureError::Meshpay)?;
    Ok(SyncFigures {
        shared: o.shared,
        differ_each: o.differ,
        records_per_change: per,
        payload_bytes,
        fresh,
        known,
        meshpay_bytes: ex.bytes(),
        meshpay_round_trips: ex.round_trips,
        meshpay_ratio: ex.bytes() as f64 / payload_bytes.max(1) as f64,
    })
}

/// Sync states of two peers after they synced with each other, as a peer persists them.
fn synced_states(a: Automerge, b: Automerge) -> Result<(sync::State, sync::State), MeasureError> {
    let mut docs = [a, b];
    let mut states = [sync::State::new(), sync::State::new()];
    exchange(&mut docs, &mut states)?;
    let keep = |s: &sync::State| {
        sync::State::decode(&s.encode())
            .map_err(|e| MeasureError::Inconsistent(format!("sync state: {e}")))
    };
    Ok((keep(&states[0])?, keep(&states[1])?))
}

/// Runs Automerge's sync between `a` (initiating) and `b` until neither has anything to
/// send; both must end holding `total` records.
fn run_sync(
    a: Automerge,
    b: Automerge,
    sa: sync::State,
    sb: sync::State,
    total: usize,
    payload_bytes: u64,
) -> Result<AutomergeSync, MeasureError> {
    let mut docs = [a, b];
    let mut states = [sa, sb];
    let (bytes, messages, round_trips) = exchange(&mut docs, &mut states)?;
    for (doc, actor) in docs.iter().zip([SIDE_A, SIDE_B]) {
        let held = AutomergeSet::load(&doc.save(), actor)?.len();
        if held != total {
            return Err(MeasureError::Inconsistent(format!(
                "after Automerge's sync a document holds {held} of {total} records"
            )));
        }
    }
    Ok(AutomergeSync {
        bytes,
        messages,
        round_trips,
        ratio: bytes as f64 / payload_bytes.max(1) as f64,
    })
}

/// The sync loop, every message encoded and decoded as it would travel: bytes, messages,
/// and messages of A that B answered.
fn exchange(
    docs: &mut [Automerge; 2],
    states: &mut [sync::State; 2],
) -> Result<(u64, u32, u32), MeasureError> {
    let (mut bytes, mut messages, mut round_trips) = (0u64, 0u32, 0u32);
    loop {
        let mut sent = [false; 2];
        for from in 0..2 {
            let to = 1 - from;
            if let Some(m) = docs[from].generate_sync_message(&mut states[from]) {
                let encoded = m.encode();
                bytes += encoded.len() as u64;
                messages += 1;
                sent[from] = true;
                let m = sync::Message::decode(&encoded)
                    .map_err(|e| MeasureError::Inconsistent(format!("sync message: {e}")))?;
                docs[to].receive_sync_message(&mut states[to], m)?;
            }
        }
        if sent[0] && sent[1] {
            round_trips += 1;
        }
        if !sent[0] && !sent[1] {
            return Ok((bytes, messages, round_trips));
        }
        if messages as usize > MAX_SYNC_MESSAGES {
            return Err(MeasureError::Inconsistent(format!(
                "Automerge's sync ran past {MAX_SYNC_MESSAGES} messages"
            )));
        }
    }
}

/// The figures as a few lines of text, ratios first.
pub fn summary(f: &AutomergeFigures) -> String {
    let m = &f.merge;
    let s = &f.sync;
    let ms = |x: f64| x * 1e3;
    format!(
        "checked merge of {n} records ({per} per change, {changes} changes, {kb:.0} kB) into an empty document:\n\
         \x20 {rate:.0} records/s = {ratio:.2} x native merge_verified ({native:.0} records/s)\n\
         \x20 Automerge {am:.1} ms (collect {collect:.1}, apply {apply:.1}), checks {check:.1} ms ({share:.0} %)\n\
         \x20 ledger over the Automerge set, merge_verified: {over:.1} ms (native {nat:.1} ms)\n\
         \x20 merge_peer into a ledger, signatures included: {pm:.0} records/s\n\
         sync: {shared} shared, {d} differing on each side, {per_s} record(s) per change; payload {payload} B\n\
         \x20 Automerge, first meeting: {fb} B = {fr:.2} x payload, {frt} round trips, {fm} messages\n\
         \x20 Automerge, known peer:    {kb2} B = {kr:.2} x payload, {krt} round trips, {km} messages\n\
         \x20 meshpay:                  {mb} B = {mr:.2} x payload, {mrt} round trips\n",
        n = m.records,
        per = m.records_per_change,
        changes = m.changes,
        kb = m.change_bytes as f64 / 1e3,
        rate = m.records_per_s,
        ratio = m.ratio_to_native,
        native = m.native_records_per_s,
        am = ms(m.automerge_s),
        collect = ms(m.collect_s),
        apply = ms(m.apply_s),
        check = ms(m.check_s),
        share = m.check_share * 100.0,
        over = ms(m.ledger_over_automerge_s),
        nat = ms(m.native_s),
        pm = m.peer_merge_records_per_s,
        shared = s.shared,
        d = s.differ_each,
        per_s = s.records_per_change,
        payload = s.payload_bytes,
        fb = s.fresh.bytes,
        fr = s.fresh.ratio,
        frt = s.fresh.round_trips,
        fm = s.fresh.messages,
        kb2 = s.known.bytes,
        kr = s.known.ratio,
        krt = s.known.round_trips,
        km = s.known.messages,
        mb = s.meshpay_bytes,
        mr = s.meshpay_ratio,
        mrt = s.meshpay_round_trips,
    )
}

#[cfg(test)]
mod tests {
    use indicatif::ProgressBar;

    use super::*;
    use crate::sync_report::pool;

    #[test]
    fn figures_are_consistent_with_the_records() {
        let p = pool::build(260, 12, 5, &ProgressBar::hidden()).expect("pool");
        let signed: Vec<_> = p.records.iter().map(Record::to_signed).collect();
        let o = Options {
            records_per_change: 1,
            shared: 200,
            differ: 30,
            seed: 2,
        };
        let f = measure(&signed, &p.spec, &o).expect("measures");
        let m = &f.merge;
        assert_eq!((m.records, m.changes), (260, 260));
        assert!(m.change_bytes > signed.iter().map(|s| s.body.len()).sum());
        assert!(m.collect_s > 0.0 && m.check_s > 0.0 && m.apply_s > 0.0);
        assert!((0.0..1.0).contains(&m.check_share));
        assert!(m.records_per_s > 0.0 && m.ratio_to_native > 0.0);

        let s = &f.sync;
        let payload: u64 = p.records[200..260]
            .iter()
            .map(|r| r.encoded_len() as u64)
            .sum();
        assert_eq!(s.payload_bytes, payload);
        // The differing records travel in full either way.
        for bytes in [s.fresh.bytes, s.known.bytes, s.meshpay_bytes] {
            assert!(bytes > payload, "{bytes} <= {payload}");
        }
        assert!(s.fresh.round_trips >= 1 && s.meshpay_round_trips >= 1);
    }

    #[test]
    fn too_few_records_are_refused() {
        let p = pool::build(10, 12, 5, &ProgressBar::hidden()).expect("pool");
        let signed: Vec<_> = p.records.iter().map(Record::to_signed).collect();
        let e = measure(&signed, &p.spec, &Options::default()).expect_err("10 records");
        assert!(
            matches!(
                e,
                MeasureError::TooFewRecords {
                    have: 10,
                    need: 10_200
                }
            ),
            "{e}"
        );
    }
}
