//! Hostile peers against a running node (store, actor, LAN link, API): garbage in a
//! well-formed frame, a length no frame may have, half a frame, a peer of another
//! network, a connection flood. Each is cut or ignored while an honest node keeps
//! syncing with it.

use std::time::{Duration, Instant};

use futures::AsyncWriteExt as _;
use libp2p::Multiaddr;
use libp2p::multiaddr::Protocol;
use meshpay_protocol::{AccountId, ChainId, Limits};
use zeroize::Zeroizing;

use super::{Daemon, StartOptions};
use crate::api::{Backend, Mint};
use crate::config::Config;
use crate::data_dir::DataDir;
use crate::init::{ChainChoice, InitOptions, init};
use crate::keystore::KdfParams;
use crate::link::lan::task::sync_protocol;
use crate::link::lan::tests::raw_peer;
use crate::link::lan::wire::encode_len;

const CHEAP: KdfParams = KdfParams::DISPOSABLE;

async fn start(dir: DataDir, peers: Vec<String>) -> Daemon {
    let mut config = Config::loopback();
    config.lan.peers = peers;
    Daemon::start(StartOptions {
        data: dir,
        config,
        passphrase: Zeroizing::new("pw".into()),
    })
    .await
    .expect("daemon starts")
}

async fn addr(d: &Daemon) -> Multiaddr {
    let peer = d.lan_peer().expect("LAN");
    d.lan_addrs(Duration::from_secs(10))
        .await
        .into_iter()
        .next()
        .expect("listening")
        .with(Protocol::P2p(peer))
}

async fn until(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let end = Instant::now() + Duration::from_secs(20);
    while !check().await {
        assert!(Instant::now() < end, "gave up waiting for {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn lan_peers(d: &Daemon) -> usize {
    let s = d.handle().status().await.expect("status");
    s.peers.get("lan").copied().unwrap_or(0)
}

/// Mints on `a` and waits until `b` holds it: the honest link works.
async fn honest_round(a: &Daemon, b: &Daemon, to: AccountId, n: u64) {
    a.handle()
        .mint(Mint {
            to,
            amount: n,
            memo: String::new(),
        })
        .await
        .expect("mint");
    let want = a.handle().status().await.expect("status").records;
    until("the honest node to receive the record", async || {
        b.handle().status().await.expect("status").records == want
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_peers_are_cut_while_an_honest_node_keeps_syncing() {
    let root = tempfile::tempdir().expect("temp dir");
    let (da, db) = (
        DataDir::new(root.path().join("a")),
        DataDir::new(root.path().join("b")),
    );
    init(
        &da,
        "pw",
        &InitOptions {
            chain: ChainChoice::Create {
                name: "hostile".into(),
                limits: Limits {
                    max_single: 100,
                    max_cumulative: 1_000,
                    max_count: 10,
                },
            },
            wallets: vec![],
            kdf: CHEAP,
        },
    )
    .expect("init a");
    let made = init(
        &db,
        "pw",
        &InitOptions {
            chain: ChainChoice::Join(da.spec()),
            wallets: vec!["bob".into()],
            kdf: CHEAP,
        },
    )
    .expect("init b");
    let bob = AccountId::from_hex(&made.wallets[0].1).expect("hex");
    let a = start(da, vec![]).await;
    let a_addr = addr(&a).await;
    let b = start(db, vec![a_addr.to_string()]).await;
    until("a and b to connect", async || lan_peers(&a).await == 1).await;
    honest_round(&a, &b, bob, 1).await;
    let chain =
        ChainId::from_hex(&a.handle().status().await.expect("status").chain.id).expect("chain hex");
    let a_peer = a.lan_peer().expect("peer");

    let mut garbage = Vec::new();
    encode_len(64, &mut garbage);
    garbage.extend([0xa5; 64]);
    let attacks: [(&str, Vec<u8>); 3] = [
        ("garbage in a well-formed frame", garbage),
        (
            "a length no frame may have",
            vec![0xff, 0xff, 0xff, 0xff, 0x0f],
        ),
        ("half a frame, then silence", vec![100, 1, 2, 3]),
    ];
    for (n, (what, bytes)) in attacks.into_iter().enumerate() {
        let mut raw = raw_peer(&a_addr, &chain).await.expect("raw peer connects");
        let mut stream = raw
            .control
            .open_stream(a_peer, sync_protocol(&chain))
            .await
            .expect("stream on the chain's protocol");
        // The raw peer accepts a's stream, so it comes up as a sync peer first.
        until("the raw peer to come up", async || lan_peers(&a).await == 2).await;
        stream.write_all(&bytes).await.expect("write");
        stream.flush().await.expect("flush");
        honest_round(&a, &b, bob, 2 + n as u64).await;
        // Then it is cut, and refused while its backoff lasts.
        until(what, async || lan_peers(&a).await == 1).await;
        let peers = a.handle().peers().await.expect("peers");
        assert!(
            peers.iter().all(|p| p.peer != raw.peer.to_string()),
            "{what}: the hostile peer is gone: {peers:?}"
        );
        drop(stream);
    }

    // A peer of another network connects but never becomes a sync peer.
    let other = ChainId([7; 32]);
    let _foreign = raw_peer(&a_addr, &other).await;
    // A flood of connections.
    let mut flood = Vec::new();
    for _ in 0..80 {
        flood.push(raw_peer(&a_addr, &chain));
    }
    let _flood = futures::future::join_all(flood).await;
    // The honest node is still served with the connection table full.
    honest_round(&a, &b, bob, 9).await;
    b.stop().await.expect("b stops");
    a.stop().await.expect("a stops");
}
