//! The actor over a real store: a payment's receipt comes only once its record and its
//! wallet's next seq are durable, and both are there after the store is reopened.

use std::collections::BTreeMap;
use std::sync::Arc;

use ed25519_dalek::SigningKey;
use meshpay_protocol::issuer::Issuer;
use meshpay_protocol::node::NodeCore;
use meshpay_protocol::record::account_of;
use meshpay_protocol::wallet::{MemorySeqStore, Wallet};
use meshpay_protocol::{AccountId, ChainSpec, Ledger, Limits, RecordId};
use rand_core::SeedableRng;

use super::Actor;
use crate::api::{Backend, Payer, Payment};
use crate::metrics::Metrics;
use crate::store::{Store, StoreOptions};

fn key(n: u8) -> SigningKey {
    SigningKey::from_bytes(&[n; 32])
}

#[tokio::test]
async fn a_payment_is_acknowledged_only_once_durable_and_survives_a_reopen() {
    let dir = tempfile::tempdir().expect("temp dir");
    let spec = ChainSpec {
        name: "actor-test".into(),
        issuers: vec![account_of(&key(9))],
        limits: Limits {
            max_single: 1_000,
            max_cumulative: 5_000,
            max_count: 10,
        },
    };
    let alice = account_of(&key(1));
    let bob: AccountId = account_of(&key(2));
    let mint = Issuer::new(key(9), &spec, 1, None)
        .mint(&mut MemorySeqStore::default(), alice, 700, "", 0)
        .expect("mint");
    let mut core = NodeCore::new(
        Ledger::new(spec.clone()).expect("valid"),
        rand_chacha::ChaCha20Rng::seed_from_u64(1),
    );
    core.submit(vec![mint], None);
    core.add_wallet(Wallet::new(key(1), &spec, 1));
    let store = Store::open(dir.path(), &StoreOptions::creating()).expect("store");
    let names = BTreeMap::from([(alice, "alice".to_owned())]);
    let (actor, handle) = Actor::new("n1".into(), core, store, names, Arc::new(Metrics::new()));
    let task = tokio::spawn(actor.run());

    let receipt = handle
        .pay(Payment {
            from: Some(Payer::Wallet("alice".into())),
            to: bob,
            amount: 250,
            memo: "rice".into(),
        })
        .await
        .expect("paid");
    assert_eq!(receipt.seq, 1);
    let balances = handle.balance(None).await.expect("balances");
    assert_eq!(balances[0].stated, 450);
    let history = handle.history(None, 10).await.expect("history");
    assert_eq!(
        history.len(),
        2,
        "the mint in, the payment out: {history:?}"
    );
    let refused = handle
        .pay(Payment {
            from: None,
            to: bob,
            amount: 5_000,
            memo: String::new(),
        })
        .await;
    assert!(refused.is_err(), "more than the balance and the limit");
    let status = handle.status().await.expect("status");
    assert_eq!(status.records, 2);
    // Two payments queued at once: the second waits for the first's write, not fails.
    let small = |amount| Payment {
        from: None,
        to: bob,
        amount,
        memo: String::new(),
    };
    let (a, b) = tokio::join!(handle.pay(small(10)), handle.pay(small(20)));
    let mut seqs = [a.expect("first").seq, b.expect("second").seq];
    seqs.sort_unstable();
    assert_eq!(seqs, [2, 3]);
    drop(handle);
    let (_, store) = task.await.expect("actor ends when its handles are gone");
    drop(store);

    let store = Store::open(dir.path(), &StoreOptions::default()).expect("reopen");
    let loaded = store.load().expect("load");
    let id = RecordId::from_hex(&receipt.id).expect("hex id");
    assert!(
        loaded.records.iter().any(|r| r.id() == id),
        "the payment is durable"
    );
    assert_eq!(loaded.records.len(), 4);
    assert_eq!(store.next_seqs().expect("seqs").get(&alice), Some(&4));
}
