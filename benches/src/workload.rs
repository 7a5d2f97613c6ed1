//! The merge workload: what a healed partition brings. Issuers fund accounts with mints;
//! accounts pay each other, each payment claiming what its payer was paid (as a wallet
//! does, up to 16 claims); a share of payments are double spends (a second record at the
//! same seq to another payee, which that payee claims in turn). Records come in
//! dependency order, as senders send them, and are about 200 bytes. Everything follows
//! from a seed.

use anyhow::{Result, bail};
use ed25519_dalek::SigningKey;
use indicatif::ProgressBar;
use meshpay_protocol::chain::{ChainSpec, Limits};
use meshpay_protocol::id::{AccountId, RecordId};
use meshpay_protocol::record::{self, Body, Kind, MAX_CLAIMS, Mint, Record, Transfer};
use meshpay_protocol::wire::SignedRecord;
use serde::Serialize;

use crate::rng::{ReportRng, mix};
use crate::signing;

/// A plausible clock reading for the records' timestamps (mid 2025, in ms).
const EPOCH_MS: u64 = 1_750_000_000_000;
/// Most accounts a workload spreads its records over.
const MAX_ACCOUNTS: usize = 2_000;
/// Records per account in the default shape (so 1 024 records have 204 signers).
const RECORDS_PER_ACCOUNT: usize = 5;
/// Memos a payer may write, cut to a few bytes each.
const MEMOS: [&str; 6] = ["coffee", "rice 2kg", "fuel", "rent", "water", "repairs"];

/// The size and mix of a workload.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Shape {
    /// Records to generate.
    pub records: usize,
    /// Accounts that pay and are paid.
    pub accounts: usize,
    /// Issuers that mint.
    pub issuers: usize,
    /// Payments, per thousand, that the payer double-spends.
    pub forks_per_mille: u64,
    /// Records, per thousand, that are mints beyond the first funding of each account.
    pub extra_mints_per_mille: u64,
    /// Seed of keys and choices.
    pub seed: u64,
}

impl Shape {
    /// The default shape for `records`: one account per 5 records, at least 2 (someone
    /// to pay) and at most 2 000, 4 issuers, 1 % of payments forked, 3 % extra mints.
    pub fn for_records(records: usize, seed: u64) -> Self {
        Shape {
            records,
            accounts: (records / RECORDS_PER_ACCOUNT).clamp(2, MAX_ACCOUNTS),
            issuers: 4,
            forks_per_mille: 10,
            extra_mints_per_mille: 30,
            seed,
        }
    }
}

/// A generated history, signed.
pub struct Workload {
    /// The network: the workload's issuers, limits no chain of it reaches.
    pub spec: ChainSpec,
    /// The records in dependency order (signed here, so trusted).
    pub records: Vec<Record>,
    /// What the workload holds.
    pub stats: Stats,
}

/// Counts describing a workload.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Stats {
    /// Records.
    pub records: usize,
    /// Distinct signers (accounts and issuers that signed at least one record).
    pub signers: usize,
    /// Mints.
    pub mints: usize,
    /// Transfers.
    pub transfers: usize,
    /// Places (signer, seq) holding two records: the double spends.
    pub forks: usize,
    /// Claims over all transfers.
    pub claims: usize,
    /// Mean encoded size of a record as it travels, in bytes.
    pub mean_bytes: f64,
}

impl Workload {
    /// The records as they travel.
    pub fn signed(&self) -> Vec<SignedRecord> {
        self.records.iter().map(Record::to_signed).collect()
    }
}

/// One account's wallet as the generator keeps it.
#[derive(Default)]
struct Payer {
    next_seq: u64,
    prev: Option<RecordId>,
    balance: u64,
    /// Payments to this account not claimed yet, oldest first.
    incoming: Vec<(RecordId, u64)>,
    signed: bool,
}

/// Builds the bodies of a history of `shape.records` records.
struct Generator {
    rng: ReportRng,
    shape: Shape,
    accounts: Vec<AccountId>,
    issuers: Vec<AccountId>,
    payers: Vec<Payer>,
    issuer_chains: Vec<(u64, Option<RecordId>)>,
    /// (index of the signing key: issuers first, then accounts; body).
    bodies: Vec<(usize, Body)>,
    stats: Stats,
}

/// The signing key of account `i` of workloads of `shape`'s seed (a payer, in benches
/// that sign beyond the workload).
pub fn account_key(shape: &Shape, i: usize) -> SigningKey {
    key(shape.seed, 0xacc, i)
}

fn key(seed: u64, role: u64, i: usize) -> SigningKey {
    SigningKey::from_bytes(&ReportRng::new(mix(&[seed, role, i as u64])).bytes32())
}

/// Generates and signs a workload (signing on every core; `bar` counts signed records).
pub fn generate(shape: &Shape, bar: &ProgressBar) -> Result<Workload> {
    if shape.accounts < 2 && shape.records > 1 {
        bail!("a workload of several records needs at least 2 accounts");
    }
    if shape.issuers == 0 {
        bail!("a workload needs an issuer");
    }
    let issuer_keys: Vec<SigningKey> = (0..shape.issuers)
        .map(|i| key(shape.seed, 0x155, i))
        .collect();
    let account_keys: Vec<SigningKey> = (0..shape.accounts)
        .map(|i| key(shape.seed, 0xacc, i))
        .collect();
    let spec = ChainSpec {
        name: "meshpay merge workload".into(),
        issuers: issuer_keys.iter().map(record::account_of).collect(),
        // No chain of the workload reaches these: it has no checkpoints to reset them.
        limits: Limits {
            max_single: 1_000,
            max_cumulative: u64::MAX / 2,
            max_count: 1_000_000,
        },
    };
    let mut g = Generator {
        rng: ReportRng::new(mix(&[shape.seed, 0x10ad])),
        shape: *shape,
        accounts: account_keys.iter().map(record::account_of).collect(),
        issuers: spec.issuers.clone(),
        payers: (0..shape.accounts)
            .map(|_| Payer {
                next_seq: 1,
                ..Payer::default()
            })
            .collect(),
        issuer_chains: vec![(1, None); shape.issuers],
        bodies: Vec::with_capacity(shape.records),
        stats: Stats::default(),
    };
    while g.bodies.len() < shape.records {
        g.step();
    }
    let keys: Vec<SigningKey> = issuer_keys.into_iter().chain(account_keys).collect();
    let records = signing::sign_all(&g.bodies, &keys, &spec.chain_id(), bar)?;
    let mut stats = g.stats;
    stats.records = records.len();
    stats.signers = g.issuer_chains.iter().filter(|(s, _)| *s > 1).count()
        + g.payers.iter().filter(|p| p.signed).count();
    stats.mean_bytes =
        records.iter().map(|r| r.encoded_len() as f64).sum::<f64>() / records.len().max(1) as f64;
    Ok(Workload {
        spec,
        records,
        stats,
    })
}

/// The workload of `records` records in the default shape, seed 1, without progress:
/// the datasets the criterion benches run on (1, 64, 1 024 and 100 000 records).
pub fn dataset(records: usize) -> Result<Workload> {
    generate(&Shape::for_records(records, 1), &ProgressBar::hidden())
}

impl Generator {
    fn now(&self) -> u64 {
        EPOCH_MS + self.bodies.len() as u64 * 1_000
    }

    /// One event: a mint, or a payment (perhaps double-spent).
    fn step(&mut self) {
        let payer = self.rng.below(self.shape.accounts as u64) as usize;
        let p = &self.payers[payer];
        let funds = p.balance + p.incoming.iter().map(|(_, a)| a).sum::<u64>();
        if funds == 0 || self.rng.below(1_000) < self.shape.extra_mints_per_mille {
            let amount = 200 + self.rng.below(1_800);
            self.mint(payer, amount);
            return;
        }
        let claims: Vec<(RecordId, u64)> = {
            let p = &mut self.payers[payer];
            let take = p.incoming.len().min(MAX_CLAIMS);
            p.incoming.drain(..take).collect()
        };
        let avail = self.payers[payer].balance + claims.iter().map(|(_, a)| a).sum::<u64>();
        let payee = self.other_than(payer);
        let amount = 1 + self.rng.below(avail.min(200));
        let fork = self.bodies.len() + 2 <= self.shape.records
            && self.rng.below(1_000) < self.shape.forks_per_mille;
        let body = self.transfer(payer, payee, amount, &claims);
        let id = self.push(self.shape.issuers + payer, body);
        self.payers[payee].incoming.push((id, amount));
        if fork {
            // The same seq again, to someone else: both records are valid alone.
            let twin_payee = self.other_than(payer);
            let twin_amount = 1 + self.rng.below(avail.min(200));
            let body = self.transfer(payer, twin_payee, twin_amount, &claims);
            let twin = self.push(self.shape.issuers + payer, body);
            self.payers[twin_payee].incoming.push((twin, twin_amount));
            self.stats.forks += 1;
        }
        let p = &mut self.payers[payer];
        p.balance = avail - amount;
        p.next_seq += 1;
        p.prev = Some(id);
        p.signed = true;
    }

    fn other_than(&mut self, account: usize) -> usize {
        let n = self.shape.accounts as u64;
        (account + 1 + self.rng.below(n - 1) as usize) % self.shape.accounts
    }

    fn mint(&mut self, to: usize, amount: u64) {
        let issuer = self.rng.below(self.shape.issuers as u64) as usize;
        let (seq, prev) = self.issuer_chains[issuer];
        let body = Body {
            signer: self.issuers[issuer],
            seq,
            prev,
            timestamp_ms: self.now(),
            kind: Kind::Mint(Mint {
                to: self.accounts[to],
                amount,
                memo: String::new(),
            }),
        };
        let id = self.push(issuer, body);
        self.issuer_chains[issuer] = (seq + 1, Some(id));
        self.payers[to].incoming.push((id, amount));
        self.stats.mints += 1;
    }

    fn transfer(
        &mut self,
        payer: usize,
        payee: usize,
        amount: u64,
        claims: &[(RecordId, u64)],
    ) -> Body {
        let p = &self.payers[payer];
        let claimed: u64 = claims.iter().map(|(_, a)| a).sum();
        let mut ids: Vec<RecordId> = claims.iter().map(|(id, _)| *id).collect();
        ids.sort();
        let (seq, prev, balance) = (p.next_seq, p.prev, p.balance + claimed - amount);
        // Some payments answer a payee's request, some carry a memo.
        let request = (self.rng.below(100) < 15).then(|| {
            let b = self.rng.bytes32();
            b[..16].try_into().expect("16 bytes")
        });
        let memo = if self.rng.below(100) < 25 {
            MEMOS[self.rng.below(MEMOS.len() as u64) as usize].to_owned()
        } else {
            String::new()
        };
        self.stats.transfers += 1;
        self.stats.claims += ids.len();
        Body {
            signer: self.accounts[payer],
            seq,
            prev,
            timestamp_ms: self.now(),
            kind: Kind::Transfer(Transfer {
                claims: ids,
                to: Some(self.accounts[payee]),
                amount,
                balance,
                request,
                memo,
            }),
        }
    }

    fn push(&mut self, key: usize, body: Body) -> RecordId {
        let id = RecordId::of_body(&body.encode());
        self.bodies.push((key, body));
        id
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use meshpay_protocol::ledger::Ledger;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    fn small(records: usize, seed: u64) -> Workload {
        generate(&Shape::for_records(records, seed), &ProgressBar::hidden()).expect("generates")
    }

    #[test]
    fn every_record_enters_a_ledger_and_forks_are_conflicts() {
        let w = small(600, 3);
        assert_eq!(w.records.len(), 600);
        assert!(w.stats.forks > 0, "{:?}", w.stats);
        assert!(w.stats.signers > 100, "{:?}", w.stats);
        assert!(w.stats.claims > w.stats.transfers / 2, "{:?}", w.stats);
        assert!(
            (170.0..240.0).contains(&w.stats.mean_bytes),
            "{:?}",
            w.stats
        );
        let mut l = Ledger::new(w.spec.clone()).expect("spec");
        let c = l.merge(w.signed(), &mut ChaCha20Rng::seed_from_u64(1));
        assert!(c.refused.is_empty(), "{:?}", c.refused.first());
        assert!(c.orphaned.is_empty());
        assert_eq!(c.added.len(), 600);
        assert_eq!(c.conflicts.len(), w.stats.forks);
    }

    #[test]
    fn same_seed_same_records() {
        let a = small(50, 9);
        let b = small(50, 9);
        let c = small(50, 10);
        assert_eq!(a.records, b.records);
        assert_ne!(a.records, c.records);
        assert_eq!(small(1, 1).records.len(), 1);
    }
}
