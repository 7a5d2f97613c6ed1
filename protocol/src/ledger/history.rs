//! Random multi-account histories for the property tests: honest wallets paying each
//! other, a network that splits and heals (so forking signers double-spend across it and
//! payees claim void records), issuers minting, settling and revoking, and invalid
//! entries mixed in.

use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};

use super::Ledger;
use crate::chain::ChainSpec;
use crate::id::AccountId;
use crate::issuer::Issuer;
use crate::record::{self, Kind};
use crate::testkit::{self, World, acct, key, transfer};
use crate::wallet::{MemorySeqStore, Wallet};
use crate::wire;

/// Accounts in a history: keys 1..=ACCOUNTS; keys 1 and 2 fork when the network splits.
const ACCOUNTS: u64 = 5;

/// Every record a history produced, valid or not, in the order it was produced.
pub struct History {
    /// The network the records were signed for.
    pub spec: ChainSpec,
    /// The records, valid or not.
    pub records: Vec<wire::SignedRecord>,
}

struct Gen {
    rng: ChaCha20Rng,
    spec: ChainSpec,
    parts: [Ledger; 2],
    wallets: Vec<[Wallet; 2]>,
    issuers: Vec<[Issuer; 2]>,
    store: MemorySeqStore,
    split: bool,
    records: Vec<wire::SignedRecord>,
}

impl Gen {
    fn pick(&mut self, n: u64) -> u64 {
        self.rng.next_u64() % n
    }

    fn emit(&mut self, part: usize, r: wire::SignedRecord) {
        if self.split {
            self.parts[part].insert(r.clone());
        } else {
            for l in &mut self.parts {
                l.insert(r.clone());
            }
        }
        self.records.push(r);
    }

    fn heal(&mut self) {
        for l in &mut self.parts {
            l.merge(self.records.clone(), &mut testkit::rng(0));
        }
        self.split = false;
    }

    /// The partition an account acts in, if it may act now.
    fn acting_part(&mut self, account: u64) -> Option<usize> {
        if !self.split {
            return Some(0);
        }
        let part = self.pick(2) as usize;
        let forker = account <= 2;
        (forker || account as usize % 2 == part).then_some(part)
    }

    fn step(&mut self) {
        let now = self.records.len() as u64;
        match self.pick(100) {
            0..=13 => {
                let to = acct(1 + self.pick(ACCOUNTS));
                let amount = 1 + self.pick(2_000);
                let i = self.pick(2) as usize;
                // Issuers act on side 0; rarely on side 1 too, which forks them.
                let part = if self.split && self.pick(10) == 0 {
                    1
                } else {
                    0
                };
                if let Ok(m) = self.issuers[i][part].mint(&mut self.store, to, amount, "", now) {
                    self.emit(part, m);
                }
            }
            14..=60 => {
                let a = 1 + self.pick(ACCOUNTS);
                let Some(part) = self.acting_part(a) else {
                    return;
                };
                let to = if self.pick(20) == 0 {
                    self.spec.issuers[0]
                } else {
                    acct(1 + (a + self.pick(ACCOUNTS - 1)) % ACCOUNTS)
                };
                let w = &mut self.wallets[a as usize - 1][part];
                let max = w.spendable(&self.parts[part]);
                if max == 0 {
                    return;
                }
                let amount = 1 + self.rng.next_u64() % max;
                let w = &mut self.wallets[a as usize - 1][part];
                if let Ok(r) = w.pay(
                    &self.parts[part],
                    &mut self.store,
                    to,
                    amount,
                    None,
                    "",
                    now,
                ) {
                    self.emit(part, r);
                }
            }
            61..=68 => {
                let a = 1 + self.pick(ACCOUNTS);
                let Some(part) = self.acting_part(a) else {
                    return;
                };
                let w = &mut self.wallets[a as usize - 1][part];
                if let Ok(r) = w.claim(&self.parts[part], &mut self.store, now) {
                    self.emit(part, r);
                }
            }
            69..=73 => {
                if self.split {
                    self.heal();
                } else {
                    self.split = true;
                }
            }
            74..=79 => self.invalid(),
            80..=85 => {
                let a = acct(1 + self.pick(ACCOUNTS));
                let i = self.pick(2) as usize;
                if let Ok(Some(c)) =
                    self.issuers[i][0].settle(&self.parts[0], &mut self.store, a, now)
                {
                    self.emit(0, c);
                }
            }
            86..=90 => self.settle_fork(),
            91..=93 => {
                let a = acct(1 + self.pick(ACCOUNTS));
                let after = self.parts[0].account(&a).map_or(0, |v| v.next_seq);
                let after = self.pick(after + 1);
                if let Ok(r) = self.issuers[0][0].revoke(&mut self.store, a, after, "lost", now) {
                    self.emit(0, r);
                }
            }
            _ => {}
        }
    }

    /// An issuer settles a fork on side 0 by checkpointing one branch.
    fn settle_fork(&mut self) {
        let forks: Vec<_> = self.parts[0]
            .conflicts()
            .into_iter()
            .filter(|c| !c.issuer)
            .collect();
        if forks.is_empty() {
            return;
        }
        let c = forks[self.pick(forks.len() as u64) as usize].clone();
        let head = c.records[self.pick(c.records.len() as u64) as usize];
        let l = &self.parts[0];
        let Some(balance) = l
            .get(&head)
            .and_then(|r| r.body().transfer())
            .map(|t| t.balance)
        else {
            return;
        };
        let previous = l.account(&c.account).and_then(|v| v.governing);
        let (account, seq) = (c.account, c.seq);
        let cut = self.pick(3).min(balance);
        let now = self.records.len() as u64;
        if let Ok(r) = self.issuers[1][0].checkpoint(
            &mut self.store,
            account,
            seq,
            head,
            balance - cut,
            previous,
            now,
        ) {
            self.emit(0, r);
        }
    }

    /// A record no honest wallet signs: a wrong balance, a bad signature, a claim of
    /// someone else's payment.
    fn invalid(&mut self) {
        let a = 1 + self.pick(ACCOUNTS);
        let l = &self.parts[0];
        let Some(tip) = l.tip(&acct(a)) else { return };
        let to = Some(acct(1 + a % ACCOUNTS));
        let other: Vec<_> = l.unclaimed(&acct(1 + a % ACCOUNTS));
        let body = match self.pick(3) {
            0 => transfer(
                a,
                tip.seq,
                tip.prev,
                vec![],
                to,
                1,
                tip.balance.wrapping_add(7),
            ),
            1 if !other.is_empty() => transfer(
                a,
                tip.seq,
                tip.prev,
                vec![other[0]],
                None,
                0,
                tip.balance + 1,
            ),
            _ => transfer(
                a,
                tip.seq,
                tip.prev,
                vec![],
                to,
                1,
                tip.balance.saturating_sub(1),
            ),
        };
        let mut r = record::sign(&key(a), &self.spec.chain_id(), &body);
        if matches!(body.kind, Kind::Transfer(ref t) if t.balance + 1 == tip.balance) {
            r.signature[0] ^= 0x20;
        }
        self.emit(0, r);
    }
}

/// Generates a history of `steps` steps from `seed`.
pub fn generate(seed: u64, steps: usize) -> History {
    let w = World::new(2);
    let spec = w.spec.clone();
    let wallet = |a: u64| Wallet::new(key(a), &spec, 1);
    let issuer = |i: u64| Issuer::new(key(1000 + i), &spec, 1, None);
    let mut g = Gen {
        rng: ChaCha20Rng::seed_from_u64(seed),
        parts: [
            Ledger::new(spec.clone()).expect("spec"),
            Ledger::new(spec.clone()).expect("spec"),
        ],
        wallets: (1..=ACCOUNTS).map(|a| [wallet(a), wallet(a)]).collect(),
        issuers: (0..2).map(|i| [issuer(i), issuer(i)]).collect(),
        store: MemorySeqStore::default(),
        split: false,
        records: Vec::new(),
        spec: spec.clone(),
    };
    // Everyone starts with some money.
    for a in 1..=ACCOUNTS {
        let m = g.issuers[0][0]
            .mint(&mut g.store, acct(a), 3_000, "", 0)
            .expect("mint");
        g.emit(0, m);
    }
    for _ in 0..steps {
        g.step();
    }
    History {
        spec,
        records: g.records,
    }
}

/// The accounts histories use.
pub fn accounts() -> Vec<AccountId> {
    (1..=ACCOUNTS).map(acct).collect()
}
