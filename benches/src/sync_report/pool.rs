//! The record pool: real signed issuer mints, built once at the largest size and taken
//! by prefix, and the ledgers each configuration starts from.

use anyhow::{Context, Result, bail};
use ed25519_dalek::SigningKey;
use indicatif::ProgressBar;
use meshpay_protocol::chain::{ChainSpec, Limits};
use meshpay_protocol::id::{AccountId, RecordId};
use meshpay_protocol::ledger::Ledger;
use meshpay_protocol::record::{self, Body, Kind, Mint, Record};

use crate::rng::{ReportRng, mix};
use crate::signing;

/// Issuers minting the pool, each on its own chain.
pub const ISSUERS: usize = 8;
/// Distinct recipients of the mints.
const RECIPIENTS: u64 = 10_000;
/// Records merged into a ledger per call while building it.
const MERGE_CHUNK: usize = 8_192;
/// A plausible clock reading for the records' timestamps (mid 2025, in ms).
const EPOCH_MS: u64 = 1_750_000_000_000;
/// Memo text, cut to the wanted length.
const MEMO: &str =
    "market stall 17: bread, eggs, two coffees and a bag of rice. thanks! see you next week";

/// Signed records, in pool order, with the spec they were signed for.
pub struct Pool {
    /// The network: the pool's issuers and default limits.
    pub spec: ChainSpec,
    /// The records, parsed (signatures were made here, so they are trusted).
    pub records: Vec<Record>,
    /// Each record's encoded size as it travels (`SignedRecord::encoded_len`).
    pub sizes: Vec<u32>,
}

impl Pool {
    /// Mean encoded record size over the first `n` records.
    pub fn mean_size(&self, n: usize) -> f64 {
        let n = n.min(self.sizes.len()).max(1);
        self.sizes[..n].iter().map(|&s| f64::from(s)).sum::<f64>() / n as f64
    }

    /// Record `i`'s id.
    pub fn id(&self, i: usize) -> RecordId {
        self.records[i].id()
    }
}

fn issuer_key(seed: u64, i: usize) -> SigningKey {
    SigningKey::from_bytes(&ReportRng::new(mix(&[seed, 0x155, i as u64])).bytes32())
}

fn memo(index: usize, len: usize) -> String {
    let mut m = format!("#{index} {MEMO}");
    while m.len() < len {
        m.push_str(MEMO);
    }
    m.truncate(len);
    m
}

/// Builds `count` mints (pool index `i` is issuer `i % ISSUERS` at seq `i / ISSUERS + 1`)
/// with memos of `memo_bytes`, signed on every core.
pub fn build(count: usize, memo_bytes: usize, seed: u64, bar: &ProgressBar) -> Result<Pool> {
    if memo_bytes > record::MAX_TEXT_BYTES {
        bail!(
            "memo of {memo_bytes} bytes exceeds {}",
            record::MAX_TEXT_BYTES
        );
    }
    let keys: Vec<SigningKey> = (0..ISSUERS).map(|i| issuer_key(seed, i)).collect();
    let spec = ChainSpec {
        name: "meshpay sync-report".into(),
        issuers: keys.iter().map(record::account_of).collect(),
        limits: Limits {
            max_single: 1_000,
            max_cumulative: 5_000,
            max_count: 8,
        },
    };
    let mut rng = ReportRng::new(mix(&[seed, 0x7ec]));
    let recipients: Vec<AccountId> = (0..RECIPIENTS).map(|_| AccountId(rng.bytes32())).collect();
    let signers: Vec<AccountId> = keys.iter().map(record::account_of).collect();
    let mut prevs: Vec<Option<RecordId>> = vec![None; ISSUERS];
    let bodies: Vec<(usize, Body)> = (0..count)
        .map(|index| {
            let issuer = index % ISSUERS;
            let mut r = ReportRng::new(mix(&[seed, index as u64]));
            let body = Body {
                signer: signers[issuer],
                seq: (index / ISSUERS) as u64 + 1,
                prev: prevs[issuer],
                timestamp_ms: EPOCH_MS + index as u64 * 1_000 + r.below(1_000),
                kind: Kind::Mint(Mint {
                    to: recipients[r.below(RECIPIENTS) as usize],
                    amount: 1 + r.below(1_000),
                    memo: memo(index, memo_bytes),
                }),
            };
            prevs[issuer] = Some(RecordId::of_body(&body.encode()));
            (issuer, body)
        })
        .collect();
    let records = signing::sign_all(&bodies, &keys, &spec.chain_id(), bar)?;
    let sizes = records.iter().map(|r| r.encoded_len() as u32).collect();
    Ok(Pool {
        spec,
        records,
        sizes,
    })
}

/// A ledger holding `records`, merged trusted (setup, not measured).
pub fn ledger<'a>(spec: &ChainSpec, records: impl Iterator<Item = &'a Record>) -> Result<Ledger> {
    let mut l = Ledger::new(spec.clone()).context("spec")?;
    let mut batch = Vec::with_capacity(MERGE_CHUNK);
    let flush = |l: &mut Ledger, batch: &mut Vec<Record>| -> Result<()> {
        let c = l.merge_verified(std::mem::take(batch));
        if let Some((id, why)) = c.refused.first() {
            bail!("ledger refused {id:?} while building: {why:?}");
        }
        if !c.orphaned.is_empty() {
            bail!("{} orphans while building", c.orphaned.len());
        }
        Ok(())
    };
    for r in records {
        batch.push(r.clone());
        if batch.len() == MERGE_CHUNK {
            flush(&mut l, &mut batch)?;
        }
    }
    flush(&mut l, &mut batch)?;
    Ok(l)
}
