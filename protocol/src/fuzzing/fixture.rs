//! The fixed network every fuzz body runs on: a few keys, a spec, and a small history
//! signed once per process, so that mutated inputs can name real records and reach the
//! rules behind the signature check.

use std::sync::OnceLock;

use ed25519_dalek::SigningKey;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

use crate::chain::{ChainSpec, Limits};
use crate::id::AccountId;
use crate::issuer::Issuer;
use crate::ledger::Ledger;
use crate::record::{self, Record};
use crate::wallet::{MemorySeqStore, Wallet};
use crate::wire;

/// Issuer keys in the fixture network.
pub const ISSUERS: usize = 2;
/// Account (wallet) keys in the fixture network.
pub const ACCOUNTS: usize = 4;

/// The limits of the fixture network: small, so a short input can reach them.
pub const LIMITS: Limits = Limits {
    max_single: 1_000,
    max_cumulative: 3_000,
    max_count: 4,
};

/// Issuer key `i` (taken modulo [`ISSUERS`]).
pub fn issuer_key(i: usize) -> &'static SigningKey {
    &keys().0[i % ISSUERS]
}

/// Account key `i` (taken modulo [`ACCOUNTS`]).
pub fn account_key(i: usize) -> &'static SigningKey {
    &keys().0[ISSUERS + i % ACCOUNTS]
}

/// Any fixture key: the issuers first, then the accounts (taken modulo their sum).
pub fn party_key(i: usize) -> &'static SigningKey {
    &keys().0[i % (ISSUERS + ACCOUNTS)]
}

/// The account of [`party_key`] `i`.
pub fn party(i: usize) -> AccountId {
    keys().1[i % (ISSUERS + ACCOUNTS)]
}

/// Every fixture key with its account, derived once: deriving a public key is a scalar
/// multiplication, and the bodies name keys many times per input.
fn keys() -> &'static (Vec<SigningKey>, Vec<AccountId>) {
    static KEYS: OnceLock<(Vec<SigningKey>, Vec<AccountId>)> = OnceLock::new();
    KEYS.get_or_init(|| {
        let keys: Vec<SigningKey> = (0..ISSUERS)
            .map(|i| derive_key(b"issuer", i))
            .chain((0..ACCOUNTS).map(|i| derive_key(b"account", i)))
            .collect();
        let accounts = keys.iter().map(record::account_of).collect();
        (keys, accounts)
    })
}

fn derive_key(role: &[u8], i: usize) -> SigningKey {
    let mut input = b"meshpay fuzz key ".to_vec();
    input.extend_from_slice(role);
    input.extend_from_slice(&(i as u64).to_le_bytes());
    SigningKey::from_bytes(blake3::hash(&input).as_bytes())
}

/// A deterministic batch-verification RNG: a fuzz run must replay exactly (a node
/// uses the OS generator).
pub fn rng() -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(0x6d65_7368)
}

/// The fixture network and its history.
pub struct Fixture {
    /// The network's genesis spec.
    pub spec: ChainSpec,
    /// The history, dependencies first, as signed records.
    pub history: Vec<wire::SignedRecord>,
    /// The same history, parsed.
    pub records: Vec<Record>,
}

impl Fixture {
    /// A ledger holding the first `n` records of the history (its signatures were
    /// checked when the fixture was built).
    pub fn ledger(&self, n: usize) -> Ledger {
        let mut ledger = Ledger::new(self.spec.clone()).expect("fixture spec is valid");
        let n = n.min(self.records.len());
        ledger.merge_verified(self.records[..n].to_vec());
        ledger
    }

    /// A ledger holding the whole history.
    pub fn full_ledger(&self) -> Ledger {
        self.ledger(self.records.len())
    }
}

/// The fixture, built on first use.
pub fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(build)
}

/// Mints, payments between wallets, a checkpoint and a payment after it.
fn build() -> Fixture {
    let spec = ChainSpec {
        name: "fuzz".into(),
        issuers: (0..ISSUERS)
            .map(|i| record::account_of(issuer_key(i)))
            .collect(),
        limits: LIMITS,
    };
    let mut ledger = Ledger::new(spec.clone()).expect("fixture spec is valid");
    let mut store = MemorySeqStore::default();
    let mut issuer = Issuer::new(issuer_key(0).clone(), &spec, 1, None);
    let mut wallets: Vec<Wallet> = (0..ACCOUNTS)
        .map(|i| Wallet::new(account_key(i).clone(), &spec, 1))
        .collect();
    let acct = |i: usize| party(ISSUERS + i);
    let mut history = Vec::new();
    let mut keep = |ledger: &mut Ledger, r: wire::SignedRecord| {
        let c = ledger.insert(r.clone());
        assert!(c.refused.is_empty(), "fixture record refused: {c:?}");
        history.push(r);
    };
    for (to, amount) in [(0, 2_000), (1, 500)] {
        let m = issuer.mint(&mut store, acct(to), amount, "", 0);
        keep(&mut ledger, m.expect("mint"));
    }
    for (from, to, amount) in [(0, 1, 100), (1, 2, 50), (0, 2, 30)] {
        let p = wallets[from].pay(&ledger, &mut store, acct(to), amount, None, "", 0);
        keep(&mut ledger, p.expect("payment"));
    }
    let cp = issuer.settle(&ledger, &mut store, acct(0), 0);
    keep(
        &mut ledger,
        cp.expect("settles").expect("account 0 has a chain"),
    );
    let p = wallets[0].pay(&ledger, &mut store, acct(3), 10, None, "after", 0);
    keep(&mut ledger, p.expect("payment"));
    let records = history
        .iter()
        .map(|r| record::parse(r.clone()).expect("parses").into_trusted())
        .collect();
    Fixture {
        spec,
        history,
        records,
    }
}
