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

#[tokio::test]
async fn an_issuer_resumes_after_its_last_mint_across_a_restart() {
    use crate::api::Mint;
    use crate::config::Config;
    use crate::daemon::{Daemon, StartOptions};
    use crate::data_dir::DataDir;
    use crate::init::{ChainChoice, InitOptions, init};
    use crate::keystore::KdfParams;

    let root = tempfile::tempdir().expect("temp dir");
    let data = DataDir::new(root.path().join("n"));
    let made = init(
        &data,
        "pw",
        &InitOptions {
            chain: ChainChoice::Create {
                name: "restart".into(),
                limits: Limits {
                    max_single: 10,
                    max_cumulative: 100,
                    max_count: 10,
                },
            },
            wallets: vec!["alice".into()],
            kdf: KdfParams::DISPOSABLE,
        },
    )
    .expect("init");
    let alice = AccountId::from_hex(&made.wallets[0].1).expect("hex");
    let start = || async {
        let mut config = Config::loopback();
        config.lan.enabled = false;
        Daemon::start(StartOptions {
            data: data.clone(),
            config,
            passphrase: zeroize::Zeroizing::new("pw".into()),
        })
        .await
        .expect("starts")
    };
    let mint = |amount| Mint {
        to: alice,
        amount,
        memo: String::new(),
    };
    let node = start().await;
    let first = node.handle().mint(mint(5)).await.expect("mint");
    // Refused before anything is signed: no seq is spent on it.
    let refused = node
        .handle()
        .mint(Mint {
            memo: "x".repeat(65),
            ..mint(1)
        })
        .await;
    assert!(refused.is_err());
    let second = node.handle().mint(mint(6)).await.expect("mint");
    assert_eq!((first.seq, second.seq), (1, 2));
    node.stop().await.expect("stops");

    let node = start().await;
    assert_eq!(node.replay().records, 2);
    let third = node
        .handle()
        .mint(mint(7))
        .await
        .expect("mint after a restart");
    assert_eq!(third.seq, 3);
    let balance = node.handle().balance(Some(alice)).await.expect("balance");
    assert_eq!(balance[0].incoming + balance[0].stated, 18);
    node.stop().await.expect("stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_dials_the_peers_it_dialed_before_after_a_restart() {
    use crate::config::Config;
    use crate::daemon::{Daemon, StartOptions};
    use crate::data_dir::DataDir;
    use crate::init::{ChainChoice, InitOptions, init};
    use crate::keystore::KdfParams;
    use libp2p::multiaddr::Protocol;
    use std::time::{Duration, Instant};

    let root = tempfile::tempdir().expect("temp dir");
    let (da, db) = (
        DataDir::new(root.path().join("a")),
        DataDir::new(root.path().join("b")),
    );
    let kdf = KdfParams::DISPOSABLE;
    let limits = Limits {
        max_single: 10,
        max_cumulative: 100,
        max_count: 10,
    };
    init(
        &da,
        "pw",
        &InitOptions {
            chain: ChainChoice::Create {
                name: "book".into(),
                limits,
            },
            wallets: vec![],
            kdf,
        },
    )
    .expect("init a");
    init(
        &db,
        "pw",
        &InitOptions {
            chain: ChainChoice::Join(da.spec()),
            wallets: vec![],
            kdf,
        },
    )
    .expect("init b");
    let start = |dir: DataDir, peers: Vec<String>| async move {
        let mut config = Config::loopback();
        config.lan.peers = peers;
        Daemon::start(StartOptions {
            data: dir,
            config,
            passphrase: zeroize::Zeroizing::new("pw".into()),
        })
        .await
        .expect("starts")
    };
    let connected = |d: &Daemon| {
        let h = d.handle().clone();
        async move {
            let until = Instant::now() + Duration::from_secs(20);
            loop {
                let s = h.status().await.expect("status");
                if s.peers.get("lan").copied().unwrap_or(0) == 1 {
                    return;
                }
                assert!(Instant::now() < until, "never connected");
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
        }
    };
    let a = start(da, vec![]).await;
    let addr = a.lan_addrs(Duration::from_secs(10)).await[0]
        .clone()
        .with(Protocol::P2p(a.lan_peer().expect("peer")));
    let b = start(db.clone(), vec![addr.to_string()]).await;
    connected(&b).await;
    b.stop().await.expect("stops");
    // No peer given this time, no mDNS: only the peer book knows where a is.
    let b = start(db, vec![]).await;
    connected(&b).await;
    b.stop().await.expect("stops");
    a.stop().await.expect("stops");
}
