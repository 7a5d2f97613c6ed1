//! The payee's decision: from a payer's proof bundle in hand to a verdict, on a node
//! whose ledger already holds many records. Each decision reads the bundle (the payment
//! with the records it names: its `prev` and its claims, as a payer sends who does not
//! know what the payee holds), merges it (the payment's one signature checked, the rest
//! already known), and runs `policy::accept` against a request the payee issued.

use std::time::Instant;

use anyhow::{Context, Result, bail};
use indicatif::ProgressBar;
use meshpay_protocol::ledger;
use meshpay_protocol::policy::{self, RequestBook};
use meshpay_protocol::record::{self, Record};
use meshpay_protocol::wallet::{MemorySeqStore, Wallet};
use meshpay_protocol::{AccountId, Ledger, RecordId, bundle, wire};
use rand_core::SeedableRng;
use serde::Serialize;

use crate::workload::{Shape, Workload, account_key};

/// The target: 99 % of decisions within a millisecond.
pub const TARGET_P99_US: f64 = 1_000.0;

/// Latency of the payee's decision.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct DecideFigures {
    /// Records in the payee's ledger before the first decision.
    pub ledger_records: usize,
    /// Decisions timed.
    pub decisions: usize,
    /// Records per bundle, on average (the payment and what it names).
    pub bundle_records_mean: f64,
    /// Bytes per bundle, on average.
    pub bundle_bytes_mean: f64,
    /// Median decision, microseconds.
    pub p50_us: f64,
    /// 99th percentile, microseconds.
    pub p99_us: f64,
    /// Slowest decision, microseconds.
    pub max_us: f64,
    /// The target for the 99th percentile, microseconds.
    pub target_p99_us: f64,
    /// `p99_us` over the target: below 1 meets it.
    pub ratio_to_target: f64,
}

/// Builds the payee's ledger from `w` (pre-verified), then times `decisions` decisions
/// on payments by the workload's accounts in good standing, one after the other.
pub fn measure(
    w: &Workload,
    shape: &Shape,
    decisions: usize,
    bar: &ProgressBar,
) -> Result<DecideFigures> {
    let mut ledger = Ledger::new(w.spec.clone())?;
    ledger.merge_verified(w.records.clone());
    let ledger_records = ledger.len();
    let payee = record::account_of(&ed25519_dalek::SigningKey::from_bytes(&[0xee; 32]));
    let mut payers: Vec<(Wallet, MemorySeqStore)> = (0..shape.accounts)
        .filter_map(|i| {
            let key = account_key(shape, i);
            let account = record::account_of(&key);
            let view = ledger.account(&account)?;
            let good = view.effective + view.incoming > 0
                && view.debt == 0
                && view.revoked_after.is_none()
                && !ledger.has_conflict(&account);
            let next = ledger.tip(&account).map_or(1, |t| t.seq);
            good.then(|| (Wallet::new(key, &w.spec, next), MemorySeqStore::default()))
        })
        .collect();
    if payers.is_empty() {
        bail!("no account of the workload can pay");
    }
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(shape.seed);
    let mut book = RequestBook::default();
    let mut times = Vec::with_capacity(decisions);
    let (mut bundle_records, mut bundle_bytes) = (0usize, 0usize);
    for k in 0..decisions {
        let n = payers.len();
        let (wallet, seqs) = &mut payers[k % n];
        let mut nonce = [0u8; 16];
        nonce[..8].copy_from_slice(&(k as u64).to_be_bytes());
        book.issue(nonce, 1);
        let payment = wallet
            .pay(&ledger, seqs, payee, 1, Some(nonce), "", 0)
            .map_err(|e| anyhow::anyhow!("payer {} cannot pay: {e}", k % shape.accounts))?;
        let parsed = record::parse(payment.clone()).context("payment parses")?;
        let id = parsed.id;
        let named: Vec<wire::SignedRecord> = ledger::dependencies(parsed.into_trusted().body())
            .filter_map(|d| ledger.get(d).map(Record::to_signed))
            .collect();
        let bytes = bundle::encode(&w.spec, named.iter().chain([&payment]));
        bundle_records += named.len() + 1;
        bundle_bytes += bytes.len();

        let start = Instant::now();
        let verdict = decide(&mut ledger, &bytes, &id, &payee, &mut book, &mut rng);
        times.push(start.elapsed().as_secs_f64() * 1e6);
        verdict.with_context(|| format!("decision {k}"))?;
        bar.inc(1);
    }
    times.sort_by(f64::total_cmp);
    let at = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];
    let p99_us = at(0.99);
    Ok(DecideFigures {
        ledger_records,
        decisions,
        bundle_records_mean: bundle_records as f64 / decisions as f64,
        bundle_bytes_mean: bundle_bytes as f64 / decisions as f64,
        p50_us: at(0.5),
        p99_us,
        max_us: times.last().copied().unwrap_or(0.0),
        target_p99_us: TARGET_P99_US,
        ratio_to_target: p99_us / TARGET_P99_US,
    })
}

/// One decision as a payee's node makes it: read the bundle, merge it, decide.
fn decide(
    ledger: &mut Ledger,
    bundle_bytes: &[u8],
    payment: &RecordId,
    payee: &AccountId,
    book: &mut RequestBook,
    rng: &mut rand_chacha::ChaCha20Rng,
) -> Result<()> {
    let (spec, items, framing) = bundle::decode(bundle_bytes)?;
    if spec.chain_id() != ledger.chain_id() || framing.is_some() {
        bail!("the bundle is not of this network or is damaged");
    }
    let records: Vec<wire::SignedRecord> = items.into_iter().filter_map(Result::ok).collect();
    ledger.merge(records, rng);
    policy::accept(ledger, payment, payee, book)
        .map(drop)
        .map_err(|r| anyhow::anyhow!("refused: {r}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::generate;

    #[test]
    fn every_payment_is_accepted_and_timed() {
        let shape = Shape::for_records(600, 3);
        let w = generate(&shape, &ProgressBar::hidden()).expect("workload");
        let f = measure(&w, &shape, 40, &ProgressBar::hidden()).expect("measure");
        assert_eq!(f.decisions, 40);
        assert_eq!(f.ledger_records, 600);
        assert!(f.bundle_records_mean >= 2.0, "{f:?}");
        assert!(f.p50_us > 0.0 && f.p50_us <= f.p99_us && f.p99_us <= f.max_us);
    }
}
