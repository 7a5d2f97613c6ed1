//! Helpers for the crate's tests: deterministic keys, a small network, raw record
//! builders for records an honest wallet would never sign.

use ed25519_dalek::SigningKey;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

use crate::chain::{ChainSpec, Limits};
use crate::id::{AccountId, RecordId};
use crate::issuer::Issuer;
use crate::ledger::{Changes, Ledger};
use crate::record::{self, Body, Kind, Transfer};
use crate::wallet::{MemorySeqStore, Wallet};
use crate::wire;

/// Property-test cases: `PROPTEST_CASES` or 256.
pub fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

/// A deterministic signing key.
pub fn key(seed: u64) -> SigningKey {
    let mut input = b"meshpay test key ".to_vec();
    input.extend_from_slice(&seed.to_le_bytes());
    SigningKey::from_bytes(blake3::hash(&input).as_bytes())
}

/// A deterministic batch-verification RNG (tests only: a node uses the OS's).
pub fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

/// The limits tests run under.
pub const LIMITS: Limits = Limits {
    max_single: 1_000,
    max_cumulative: 5_000,
    max_count: 8,
};

/// A network with issuers, a ledger and a seq store.
pub struct World {
    pub spec: ChainSpec,
    pub issuers: Vec<Issuer>,
    pub ledger: Ledger,
    pub store: MemorySeqStore,
}

impl World {
    /// A network with `n` issuers (keys 1000, 1001, ...).
    pub fn new(n: u64) -> Self {
        let keys: Vec<SigningKey> = (0..n).map(|i| key(1000 + i)).collect();
        let spec = ChainSpec {
            name: "test".into(),
            issuers: keys.iter().map(record::account_of).collect(),
            limits: LIMITS,
        };
        let issuers = keys
            .into_iter()
            .map(|k| Issuer::new(k, &spec, 1, None))
            .collect();
        World {
            ledger: Ledger::new(spec.clone()).expect("valid spec"),
            spec,
            issuers,
            store: MemorySeqStore::default(),
        }
    }

    /// A fresh wallet for key `seed`.
    pub fn wallet(&self, seed: u64) -> Wallet {
        Wallet::new(key(seed), &self.spec, 1)
    }

    /// Merges one record into the world's ledger.
    pub fn apply(&mut self, signed: &wire::SignedRecord) -> Changes {
        self.ledger.insert(signed.clone())
    }

    /// Issuer 0 mints `amount` to `to`, merged.
    pub fn mint(&mut self, to: AccountId, amount: u64) -> wire::SignedRecord {
        let m = self.issuers[0]
            .mint(&mut self.store, to, amount, "", 0)
            .expect("mint");
        let c = self.apply(&m);
        assert_eq!(c.added.len(), 1, "{c:?}");
        m
    }

    /// `n` mints to key 1, not merged.
    pub fn some_records(&self, n: u64) -> Vec<wire::SignedRecord> {
        let mut iss = Issuer::new(key(1000), &self.spec, 1, None);
        let mut store = MemorySeqStore::default();
        (0..n)
            .map(|i| {
                iss.mint(&mut store, record::account_of(&key(1)), 10 + i, "", 0)
                    .expect("mint")
            })
            .collect()
    }

    /// Wallet `w` pays, merged; panics if refused.
    pub fn pay(&mut self, w: &mut Wallet, to: AccountId, amount: u64) -> wire::SignedRecord {
        let r = w
            .pay(&self.ledger, &mut self.store, to, amount, None, "", 0)
            .expect("wallet builds");
        let c = self.apply(&r);
        assert_eq!(c.added.len(), 1, "{c:?}");
        r
    }

    /// Signs a raw body with key `seed` for this network.
    pub fn sign(&self, seed: u64, body: &Body) -> wire::SignedRecord {
        record::sign(&key(seed), &self.spec.chain_id(), body)
    }
}

/// A raw transfer body, for records no honest wallet would build.
#[allow(clippy::too_many_arguments)]
pub fn transfer(
    signer: u64,
    seq: u64,
    prev: Option<RecordId>,
    claims: Vec<RecordId>,
    to: Option<AccountId>,
    amount: u64,
    balance: u64,
) -> Body {
    Body {
        signer: record::account_of(&key(signer)),
        seq,
        prev,
        timestamp_ms: 0,
        kind: Kind::Transfer(Transfer {
            claims,
            to,
            amount,
            balance,
            request: None,
            memo: String::new(),
        }),
    }
}

/// The account of key `seed`.
pub fn acct(seed: u64) -> AccountId {
    record::account_of(&key(seed))
}

/// The id of a signed record.
pub fn id(r: &wire::SignedRecord) -> RecordId {
    RecordId::of_body(&r.body)
}

/// A byte edit for property tests: at a place (any index, wrapped to the bytes), a byte,
/// and what to do (0 overwrite, 1 insert, 2 remove).
#[cfg(test)]
pub type Edit = (proptest::sample::Index, u8, u8);

/// Applies byte edits to an encoding, as the codec property tests mutate bodies.
#[cfg(test)]
pub fn apply_edits(b: &mut Vec<u8>, edits: Vec<Edit>) {
    for (at, byte, op) in edits {
        let i = at.index(b.len() + 1);
        match op {
            0 if i < b.len() => b[i] = byte,
            1 => b.insert(i, byte),
            _ if i < b.len() => {
                b.remove(i);
            }
            _ => {}
        }
    }
}
