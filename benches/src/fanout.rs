//! Bytes on the LAN per new payment: `n` real nodes (rocksdb stores in temporary
//! directories, libp2p TCP on loopback, full mesh as mDNS makes it on one LAN), one
//! wallet paying, every node's frames counted by its LAN link. The idle traffic of an
//! equal window (reconciliation) is measured first and subtracted; it is reported beside.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use libp2p::multiaddr::Protocol;
use meshpay_node::api::{Backend, Mint, Payer, Payment};
use meshpay_node::config::Config;
use meshpay_node::daemon::{Daemon, StartOptions};
use meshpay_node::data_dir::DataDir;
use meshpay_node::init::{ChainChoice, InitOptions, init};
use meshpay_node::keystore::KdfParams;
use meshpay_protocol::issuer::Issuer;
use meshpay_protocol::wallet::{MemorySeqStore, Wallet};
use meshpay_protocol::{AccountId, ChainSpec, Ledger, Limits};
use prost::Message;
use rand_core::SeedableRng;
use serde::Serialize;

/// The target: at 30 nodes, a payment costs at most 30 times its record's size on the wire.
pub const TARGET_RECORD_MULTIPLE_AT_30: f64 = 30.0;

/// One LAN size's figures.
#[derive(Debug, Clone, Serialize)]
pub struct Fanout {
    /// Nodes on the LAN.
    pub nodes: usize,
    /// Payments made.
    pub payments: usize,
    /// A payment record's encoded size, bytes.
    pub record_bytes: usize,
    /// Bytes all nodes wrote per payment, idle traffic subtracted.
    pub bytes_per_payment: f64,
    /// `bytes_per_payment` over `record_bytes`.
    pub record_multiple: f64,
    /// Frames all nodes wrote per payment, idle traffic subtracted.
    pub frames_per_payment: f64,
    /// Bytes all nodes wrote per second while idle (reconciliation).
    pub idle_bytes_per_s: f64,
    /// Milliseconds from a payment's receipt until every node holds it, median.
    pub spread_ms_p50: f64,
    /// Whether LAN peers relayed what they heard (`lan.relay`).
    pub relay: bool,
    /// Milliseconds from asking the node to pay until the payment is durable and
    /// released (the API's answer), median and 99th percentile.
    pub pay_ms_p50: f64,
    /// See `pay_ms_p50`.
    pub pay_ms_p99: f64,
}

const CHEAP: KdfParams = KdfParams::DISPOSABLE;

/// The encoded size of a payment like the ones measured (no memo).
fn payment_record_bytes(
    spec: &ChainSpec,
    payer: ed25519_dalek::SigningKey,
    to: AccountId,
) -> Result<usize> {
    let issuer_key = ed25519_dalek::SigningKey::from_bytes(&[9; 32]);
    let spec = ChainSpec {
        issuers: vec![meshpay_protocol::record::account_of(&issuer_key)],
        ..spec.clone()
    };
    let mut ledger = Ledger::new(spec.clone())?;
    let mut seqs = MemorySeqStore::default();
    let mint = Issuer::new(issuer_key, &spec, 1, None)
        .mint(
            &mut seqs,
            meshpay_protocol::record::account_of(&payer),
            1_000,
            "",
            0,
        )
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1);
    ledger.merge(vec![mint], &mut rng);
    let mut wallet = Wallet::new(payer, &spec, 1);
    let record = wallet
        .pay(&ledger, &mut seqs, to, 1, None, "", 0)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(record.encode_to_vec().len())
}

async fn total_out(nodes: &[Daemon]) -> Result<(u64, u64)> {
    let mut bytes = 0;
    let mut frames = 0;
    for n in nodes {
        for p in n.handle().peers().await? {
            bytes += p.bytes_out;
            frames += p.frames_out;
        }
    }
    Ok((bytes, frames))
}

async fn records(nodes: &[Daemon]) -> Result<Vec<usize>> {
    let mut out = Vec::new();
    for n in nodes {
        out.push(n.handle().status().await?.records);
    }
    Ok(out)
}

async fn wait_all_hold(nodes: &[Daemon], want: usize, timeout: Duration) -> Result<()> {
    let until = Instant::now() + timeout;
    loop {
        let r = records(nodes).await?;
        if r.iter().all(|n| *n >= want) {
            return Ok(());
        }
        if Instant::now() > until {
            bail!("nodes hold {r:?} records, {want} expected");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Measures one LAN of `n` nodes with `payments` payments, `idle` long idle window.
pub async fn measure(n: usize, payments: usize, idle: Duration, relay: bool) -> Result<Fanout> {
    let root = tempfile::tempdir()?;
    let dirs: Vec<DataDir> = (0..n)
        .map(|i| DataDir::new(root.path().join(format!("n{i}"))))
        .collect();
    let made = init(
        &dirs[0],
        "pw",
        &InitOptions {
            chain: ChainChoice::Create {
                name: "fanout".into(),
                limits: Limits {
                    max_single: 1_000,
                    max_cumulative: 1_000_000,
                    max_count: 1_000_000,
                },
            },
            wallets: vec!["payer".into()],
            kdf: CHEAP,
        },
    )?;
    let payer = AccountId::from_hex(&made.wallets[0].1).context("payer")?;
    let mut payee = None;
    for d in &dirs[1..] {
        let joined = init(
            d,
            "pw",
            &InitOptions {
                chain: ChainChoice::Join(dirs[0].spec()),
                wallets: vec!["payee".into()],
                kdf: CHEAP,
            },
        )?;
        payee.get_or_insert(AccountId::from_hex(&joined.wallets[0].1).context("payee")?);
    }
    let payee = payee.context("at least two nodes")?;

    let mut nodes: Vec<Daemon> = Vec::new();
    let mut dial: Vec<String> = Vec::new();
    for d in &dirs {
        let mut config = Config::loopback();
        config.lan.peers = dial.clone();
        config.lan.max_connections = 256;
        config.lan.relay = relay;
        let daemon = Daemon::start(StartOptions {
            data: d.clone(),
            config,
            passphrase: zeroize::Zeroizing::new("pw".into()),
        })
        .await?;
        let peer = daemon.lan_peer().context("LAN")?;
        let addr = daemon
            .lan_addrs(Duration::from_secs(10))
            .await
            .into_iter()
            .next()
            .context("listening")?;
        dial.push(addr.with(Protocol::P2p(peer)).to_string());
        nodes.push(daemon);
    }
    let until = Instant::now() + Duration::from_secs(120);
    loop {
        let mut all = true;
        for node in &nodes {
            let s = node.handle().status().await?;
            all &= s.peers.get("lan").copied().unwrap_or(0) >= n - 1;
        }
        if all {
            break;
        }
        if Instant::now() > until {
            bail!("the {n} nodes did not form a full mesh in 2 minutes");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    nodes[0]
        .handle()
        .mint(Mint {
            to: payer,
            amount: 1_000_000,
            memo: String::new(),
        })
        .await?;
    wait_all_hold(&nodes, 1, Duration::from_secs(60)).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;

    let (b0, f0) = total_out(&nodes).await?;
    tokio::time::sleep(idle).await;
    let (b1, f1) = total_out(&nodes).await?;
    let idle_bytes_per_s = b1.saturating_sub(b0) as f64 / idle.as_secs_f64();
    let idle_frames_per_s = f1.saturating_sub(f0) as f64 / idle.as_secs_f64();

    let started = Instant::now();
    let mut spreads = Vec::new();
    let mut pays = Vec::new();
    for i in 0..payments {
        let asked = Instant::now();
        nodes[0]
            .handle()
            .pay(Payment {
                from: Some(Payer::Wallet("payer".into())),
                to: payee,
                amount: 1,
                memo: String::new(),
            })
            .await?;
        pays.push(asked.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        wait_all_hold(&nodes, 2 + i, Duration::from_secs(120)).await?;
        spreads.push(t.elapsed().as_secs_f64() * 1e3);
    }
    // Let the last pushes and their acknowledgements finish.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let elapsed = started.elapsed().as_secs_f64();
    let (b2, f2) = total_out(&nodes).await?;
    let moved = b2.saturating_sub(b1) as f64 - idle_bytes_per_s * elapsed;
    let frames = f2.saturating_sub(f1) as f64 - idle_frames_per_s * elapsed;

    let spec = meshpay_node::init::read_spec(&dirs[0].spec())?;
    let record_bytes = payment_record_bytes(
        &spec,
        ed25519_dalek::SigningKey::from_bytes(&[3; 32]),
        payee,
    )?;
    for node in nodes {
        node.stop().await?;
    }
    spreads.sort_by(f64::total_cmp);
    pays.sort_by(f64::total_cmp);
    let p99 = pays[(pays.len() * 99 / 100).min(pays.len() - 1)];
    let bytes_per_payment = moved.max(0.0) / payments as f64;
    Ok(Fanout {
        nodes: n,
        payments,
        record_bytes,
        bytes_per_payment,
        record_multiple: bytes_per_payment / record_bytes as f64,
        frames_per_payment: frames.max(0.0) / payments as f64,
        idle_bytes_per_s,
        spread_ms_p50: spreads[spreads.len() / 2],
        relay,
        pay_ms_p50: pays[pays.len() / 2],
        pay_ms_p99: p99,
    })
}
