//! `meshpay demo`: three real nodes on this machine (rocksdb stores in temporary
//! directories, libp2p on loopback, the local API's backend), wallets funded by an
//! issuer, payments, a partition, one wallet paying the same money on both sides, the
//! heal, and every node reporting the conflict with its proof. Nothing to set up.

mod nodes;
mod report;

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Args;
use meshpay_protocol::AccountId;

use crate::api::{Backend, Mint, Payer, Payment};
use nodes::{Cluster, Role};
pub use report::{DemoReport, NodeOutcome, PaymentStanding, Step};

/// How long the nodes may take to agree after a step before the demo gives up.
const CONVERGE_TIMEOUT: Duration = Duration::from_secs(60);

/// `meshpay demo`'s options.
#[derive(Args, Debug, Clone)]
pub struct DemoArgs {
    /// Print the whole run as one JSON document instead of step by step.
    #[arg(long)]
    pub json: bool,
    /// Keep the nodes' data directories (printed) instead of removing them.
    #[arg(long)]
    pub keep: bool,
}

/// Runs the demo; exit code 0 when every node found the conflict and they agree.
pub fn run(args: &DemoArgs) -> Result<u8> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let report = runtime.block_on(demo(args))?;
    if args.json {
        let mut text = serde_json::to_string_pretty(&report)?;
        text.push('\n');
        crate::write_stdout(&text)?;
    } else {
        crate::write_stdout(&report::summary(&report))?;
    }
    Ok(if report.ok { 0 } else { 1 })
}

/// The demo's story, step by step; each step is printed as it ends unless `--json`.
async fn demo(args: &DemoArgs) -> Result<DemoReport> {
    let started = Instant::now();
    let mut steps: Vec<Step> = Vec::new();
    let log = |steps: &mut Vec<Step>, step: Step| {
        if !args.json {
            let _ = crate::write_stdout(&report::step_line(&step));
        }
        steps.push(step);
    };

    let t = Instant::now();
    let cluster = Cluster::start(args.keep).await?;
    if args.keep && !args.json {
        let _ = crate::write_stdout(&format!(
            "the nodes' keystores are kept with the passphrase {}\n",
            cluster.passphrase()
        ));
    }
    log(
        &mut steps,
        Step::new(
            "start",
            format!(
                "3 nodes on 127.0.0.1 (rocksdb, libp2p TCP): {}; data in {}",
                cluster.describe(),
                cluster.root().display()
            ),
            t,
        ),
    );
    let outcome = story(&cluster, started, steps, &log).await;
    cluster.stop().await?;
    outcome
}

/// The story on a started cluster; the caller stops the cluster whatever happens here.
async fn story(
    cluster: &Cluster,
    started: Instant,
    mut steps: Vec<Step>,
    log: &impl Fn(&mut Vec<Step>, Step),
) -> Result<DemoReport> {
    let t = Instant::now();
    cluster.wait_connected(CONVERGE_TIMEOUT).await?;
    log(
        &mut steps,
        Step::new("connect", "every node is connected to the other two", t),
    );

    let harbour = cluster.node(Role::Harbour);
    let alice = cluster.account("alice");
    let bob = cluster.account("bob");
    let carol = cluster.account("carol");

    let t = Instant::now();
    harbour
        .handle()
        .mint(Mint {
            to: alice,
            amount: 1_000,
            memo: "opening balance".into(),
        })
        .await
        .context("mint")?;
    harbour
        .handle()
        .mint(Mint {
            to: bob,
            amount: 300,
            memo: "opening balance".into(),
        })
        .await
        .context("mint")?;
    let records = cluster.converge(CONVERGE_TIMEOUT).await?;
    log(
        &mut steps,
        Step::new(
            "fund",
            format!(
                "the issuer minted 1000 to alice and 300 to bob; all 3 nodes hold {records} records"
            ),
            t,
        ),
    );

    let t = Instant::now();
    pay(cluster, Role::Harbour, "alice", bob, 100, "fish").await?;
    pay(cluster, Role::Ship, "bob", carol, 50, "rope").await?;
    let records = cluster.converge(CONVERGE_TIMEOUT).await?;
    log(
        &mut steps,
        Step::new(
            "pay",
            format!(
                "alice paid bob 100, bob paid carol 50; all 3 nodes agree on {records} records"
            ),
            t,
        ),
    );

    let t = Instant::now();
    cluster.partition(Role::Camp, true).await?;
    log(
        &mut steps,
        Step::new(
            "partition",
            "the camp is cut off from the harbour and the ship (links blocked on every side)",
            t,
        ),
    );

    // The camp holds a copy of alice's key: the same money, spent twice.
    let t = Instant::now();
    let first = pay(cluster, Role::Harbour, "alice", bob, 800, "boat").await?;
    let second = pay(cluster, Role::Camp, "alice", carol, 800, "fuel").await?;
    if first.seq != second.seq {
        bail!(
            "the copied wallet signed at seq {} and the original at seq {}: no double spend",
            second.seq,
            first.seq
        );
    }
    // The ship hears the harbour's payment and bob, trusting it, passes most of it on.
    cluster
        .converge_among(&[Role::Harbour, Role::Ship], CONVERGE_TIMEOUT)
        .await?;
    let onward = pay(cluster, Role::Ship, "bob", carol, 700, "nets").await?;
    let split = cluster.digests().await?;
    log(
        &mut steps,
        Step::new(
            "double spend",
            format!(
                "alice's key, copied to the camp, paid 800 to bob at the harbour and 800 to carol at the camp, both at seq {}; bob, trusting his 800, paid 700 on to carol (seq {}); the nodes now hold {} different ledgers",
                first.seq,
                onward.seq,
                split
                    .iter()
                    .collect::<std::collections::BTreeSet<_>>()
                    .len()
            ),
            t,
        ),
    );

    let t = Instant::now();
    cluster.partition(Role::Camp, false).await?;
    cluster.wait_connected(CONVERGE_TIMEOUT).await?;
    let records = cluster.converge(CONVERGE_TIMEOUT).await?;
    log(
        &mut steps,
        Step::new(
            "heal",
            format!("links restored; all 3 nodes agree again on {records} records"),
            t,
        ),
    );

    let t = Instant::now();
    let outcomes = cluster.outcomes(alice).await?;
    let found = outcomes.iter().filter(|o| o.conflict_found).count();
    log(
        &mut steps,
        Step::new(
            "detect",
            format!(
                "{found} of 3 nodes report alice's double spend at seq {} with a proof that checks on its own",
                first.seq
            ),
            t,
        ),
    );

    let history = cluster
        .node(Role::Harbour)
        .handle()
        .history(Some(alice), 100)
        .await?;
    let standing = |id: &str| {
        history
            .iter()
            .find(|e| e.id == id)
            .map_or("unknown".to_owned(), |e| e.status.clone())
    };
    let spent_twice = vec![
        PaymentStanding {
            what: "alice → bob 800 (harbour)".into(),
            id: first.id.clone(),
            status: standing(&first.id),
        },
        PaymentStanding {
            what: "alice → carol 800 (camp)".into(),
            id: second.id.clone(),
            status: standing(&second.id),
        },
    ];
    let ok = found == outcomes.len()
        && outcomes.windows(2).all(|w| w[0].digest == w[1].digest)
        && outcomes.iter().all(|o| o.proof_verified);
    let report = DemoReport {
        ok,
        seconds: started.elapsed().as_secs_f64(),
        culprit: alice.to_hex(),
        seq: first.seq,
        payments: spent_twice,
        steps,
        nodes: outcomes,
    };
    Ok(report)
}

/// One payment through a node's backend, as `POST /v1/payments` makes it.
async fn pay(
    cluster: &Cluster,
    at: Role,
    wallet: &str,
    to: AccountId,
    amount: u64,
    memo: &str,
) -> Result<crate::api::PayReceipt> {
    cluster
        .node(at)
        .handle()
        .pay(Payment {
            from: Some(Payer::Wallet(wallet.into())),
            to,
            amount,
            memo: memo.into(),
        })
        .await
        .with_context(|| format!("{wallet} paying {amount} at the {}", at.name()))
}
