//! The example bundle `examples/split-double-spend.bundle`, built deterministically: keys
//! from fixed seeds, fixed timestamps, and ed25519's deterministic signatures, so the
//! same bytes come out on every machine.
//!
//! The story, on the network "example-island" (one issuer, the purser): the purser mints
//! 10 000 to alice and 3 000 to bob. The network splits. On side A alice pays bob 4 000;
//! bob claims it and pays dave 1 000. On side B alice's second device, with the same key
//! but knowing only side B, pays carol 4 500 at the same seq (the double spend), and
//! carol claims it. The bundle is the union of both sides, dependencies first.
//!
//! Regenerate the committed file with
//! `MESHPAY_UPDATE_EXAMPLES=1 cargo test -p meshpay-node example`
//! (or `meshpay example-bundle examples/split-double-spend.bundle`).

use ed25519_dalek::SigningKey;
use meshpay_protocol::issuer::Issuer;
use meshpay_protocol::wallet::{MemorySeqStore, Wallet};
use meshpay_protocol::{AccountId, ChainSpec, Ledger, Limits, bundle, record, wire};

/// When the story begins (ms since the epoch; informational only).
const T0: u64 = 1_750_000_000_000;
/// One minute, in ms.
const MINUTE: u64 = 60_000;

/// The example key of a named participant.
fn key(name: &str) -> SigningKey {
    let seed = blake3::hash(format!("meshpay example key: {name}").as_bytes());
    SigningKey::from_bytes(seed.as_bytes())
}

/// The example network.
fn spec() -> ChainSpec {
    ChainSpec {
        name: "example-island".into(),
        issuers: vec![record::account_of(&key("purser"))],
        limits: Limits {
            max_single: 5_000,
            max_cumulative: 20_000,
            max_count: 10,
        },
    }
}

/// A ledger holding `records`, each of which must enter it.
fn ledger_of(spec: &ChainSpec, records: &[&wire::SignedRecord]) -> Ledger {
    let mut ledger = Ledger::new(spec.clone()).expect("the example spec is valid");
    for r in records {
        add(&mut ledger, r);
    }
    ledger
}

/// Merges one record, which must enter the ledger.
fn add(ledger: &mut Ledger, r: &wire::SignedRecord) {
    let changes = ledger.insert(r.clone());
    assert_eq!(
        changes.added.len(),
        1,
        "an example record did not enter: {changes:?}"
    );
}

/// The split-double-spend story as a bundle (see the module documentation).
pub fn split_double_spend() -> Vec<u8> {
    let spec = spec();
    let alice_key = key("alice");
    let [alice, bob, carol, dave]: [AccountId; 4] =
        ["alice", "bob", "carol", "dave"].map(|n| record::account_of(&key(n)));

    // Before the split: the purser's float.
    let mut store = MemorySeqStore::default();
    let mut purser = Issuer::new(key("purser"), &spec, 1, None);
    let mint_alice = purser
        .mint(&mut store, alice, 10_000, "opening float", T0)
        .expect("mint");
    let mint_bob = purser
        .mint(&mut store, bob, 3_000, "opening float", T0 + MINUTE)
        .expect("mint");

    // Side A: alice pays bob; bob claims it and pays dave.
    let mut side_a = ledger_of(&spec, &[&mint_alice, &mint_bob]);
    let mut store_a = MemorySeqStore::default();
    let mut alice_phone = Wallet::new(alice_key.clone(), &spec, 1);
    let alice_to_bob = alice_phone
        .pay(
            &side_a,
            &mut store_a,
            bob,
            4_000,
            None,
            "boat repair",
            T0 + 10 * MINUTE,
        )
        .expect("alice pays bob");
    add(&mut side_a, &alice_to_bob);
    let mut bob_wallet = Wallet::new(key("bob"), &spec, 1);
    let bob_claims = bob_wallet
        .claim(&side_a, &mut store_a, T0 + 20 * MINUTE)
        .expect("bob claims");
    add(&mut side_a, &bob_claims);
    let bob_to_dave = bob_wallet
        .pay(
            &side_a,
            &mut store_a,
            dave,
            1_000,
            None,
            "fish",
            T0 + 30 * MINUTE,
        )
        .expect("bob pays dave");
    add(&mut side_a, &bob_to_dave);

    // Side B: alice's second device knows nothing of side A and signs the same seq.
    let mut side_b = ledger_of(&spec, &[&mint_alice, &mint_bob]);
    let mut store_b = MemorySeqStore::default();
    let mut alice_tablet = Wallet::new(alice_key, &spec, 1);
    let alice_to_carol = alice_tablet
        .pay(
            &side_b,
            &mut store_b,
            carol,
            4_500,
            None,
            "nets",
            T0 + 15 * MINUTE,
        )
        .expect("alice pays carol");
    add(&mut side_b, &alice_to_carol);
    let mut carol_wallet = Wallet::new(key("carol"), &spec, 1);
    let carol_claims = carol_wallet
        .claim(&side_b, &mut store_b, T0 + 25 * MINUTE)
        .expect("carol claims");
    add(&mut side_b, &carol_claims);

    // The heal: everything, dependencies first.
    let all = ledger_of(
        &spec,
        &[
            &mint_alice,
            &mint_bob,
            &alice_to_bob,
            &bob_claims,
            &bob_to_dave,
            &alice_to_carol,
            &carol_claims,
        ],
    );
    bundle::encode_records(&spec, all.records_in_dependency_order())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{self, Standing};
    use meshpay_protocol::ledger::VoidReason;

    const COMMITTED: &[u8] = include_bytes!("../../examples/split-double-spend.bundle");
    const COMMITTED_PATH: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/split-double-spend.bundle"
    );

    fn id(name: &str) -> AccountId {
        record::account_of(&key(name))
    }

    #[test]
    fn example_bundle_matches_the_committed_file() {
        let fresh = split_double_spend();
        assert_eq!(
            fresh,
            split_double_spend(),
            "the example is not deterministic"
        );
        if std::env::var("MESHPAY_UPDATE_EXAMPLES").as_deref() == Ok("1") {
            std::fs::write(COMMITTED_PATH, &fresh).expect("rewrite the example bundle");
            return;
        }
        assert!(
            fresh == COMMITTED,
            "examples/split-double-spend.bundle is stale; regenerate it with \
             MESHPAY_UPDATE_EXAMPLES=1 cargo test -p meshpay-node example"
        );
    }

    #[test]
    fn audit_of_the_example_tells_the_story() {
        let bytes = split_double_spend();
        let a = audit::audit(&bytes, None).expect("the example audits");
        assert!(!a.is_damaged());
        assert_eq!(a.network.name, "example-island");
        assert_eq!(a.bundle.records, 7);
        assert_eq!(a.totals.in_ledger, 7);

        let (alice, bob, carol, dave) = (id("alice"), id("bob"), id("carol"), id("dave"));
        // Both of alice's payments are void: the fork voids every branch.
        let alice_payments: Vec<_> = a
            .records
            .iter()
            .filter(|r| r.signer == Some(alice) && r.amount.unwrap_or(0) > 0)
            .collect();
        assert_eq!(alice_payments.len(), 2);
        for r in &alice_payments {
            assert_eq!(
                r.standing,
                Standing::Void {
                    reason: VoidReason::Fork
                },
                "{r:?}"
            );
        }
        assert_eq!(alice_payments[0].seq, alice_payments[1].seq);
        let fork_seq = alice_payments[0].seq.expect("parsed");

        // One conflict, at alice's forked seq, whose proof verifies and names alice.
        assert_eq!(a.conflicts.len(), 1);
        let c = &a.conflicts[0];
        assert_eq!((c.conflict.account, c.conflict.seq), (alice, fork_seq));
        assert!(!c.conflict.issuer);
        assert_eq!(c.conflict.records.len(), 2);
        assert_eq!(a.culprits(), vec![(alice, fork_seq)]);

        let view = |who: AccountId| {
            a.accounts
                .iter()
                .find(|r| r.view.account == who)
                .map(|r| r.view.clone())
                .expect("account listed")
        };
        // Bob and carol each took in a payment that is void: a shortfall of that much.
        assert_eq!(view(bob).shortfall, 4_000);
        assert_eq!(view(carol).shortfall, 4_500);
        // Bob still holds his own float, less what he paid dave.
        assert_eq!(view(bob).stated, 3_000 + 4_000 - 1_000);
        assert_eq!(view(bob).effective, 3_000 - 1_000);
        assert_eq!(view(carol).effective, 0);
        assert_eq!(view(dave).incoming, 1_000);
        // Alice owes what others took in from her void payments.
        assert_eq!(view(alice).debt, 8_500);
        assert!(view(alice).frozen);

        // Every record is in the ledger; nothing refused or waiting.
        assert_eq!(a.totals.refused + a.totals.orphan + a.totals.undecodable, 0);
        assert_eq!(a.totals.canonical + a.totals.void, 7);

        // The digest does not depend on the batch verifier's randomness.
        let again = audit::audit(&bytes, None).expect("audits again");
        assert_eq!(a.state_digest, again.state_digest);
        assert_eq!(a.state_digest.len(), 64);
    }

    #[test]
    fn expect_chain_mismatch_is_its_own_error() {
        let bytes = split_double_spend();
        let right = spec().chain_id();
        assert!(audit::audit(&bytes, Some(right)).is_ok());
        let mut wrong = right;
        wrong.0[0] ^= 1;
        let e = audit::audit(&bytes, Some(wrong)).expect_err("another network");
        assert!(e.downcast_ref::<audit::ChainMismatch>().is_some(), "{e:#}");
    }

    #[test]
    fn damaged_copies_never_panic() {
        let bytes = split_double_spend();
        // Cut anywhere.
        for cut in 0..bytes.len() {
            if let Ok(a) = audit::audit(&bytes[..cut], None) {
                assert!(cut == bytes.len() || a.is_damaged() || a.bundle.items < 7);
            }
        }
        // Flip each byte.
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0x55;
            if let Ok(a) = audit::audit(&b, None) {
                let _ = audit::render_text(&a);
                serde_json::to_string(&a).expect("serialises");
            }
        }
    }

    #[test]
    fn text_output_is_complete() {
        let a = audit::audit(&split_double_spend(), None).expect("audits");
        let text = audit::render_text(&a);
        for needle in [
            "NETWORK",
            "example-island",
            "ACCOUNTS (5)",
            "RECORDS (7, in bundle order)",
            "CONFLICTS (1)",
            "void: fork",
            "verifies on its own",
            &a.state_digest,
        ] {
            assert!(text.contains(needle), "missing {needle:?} in\n{text}");
        }
    }
}
