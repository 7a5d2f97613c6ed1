//! The demo's three nodes: made with `init` in temporary directories, started as the
//! daemon starts them, connected over loopback, partitioned by their own block lists.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use libp2p::Multiaddr;
use libp2p::multiaddr::Protocol;
use meshpay_protocol::{AccountId, Limits};
use zeroize::Zeroizing;

use super::report::NodeOutcome;
use crate::api::{Backend, BlockRequest};
use crate::config::Config;
use crate::daemon::{Daemon, StartOptions};
use crate::data_dir::DataDir;
use crate::init::{ChainChoice, InitOptions, init};
use crate::keystore::{KdfParams, Keystore, NamedKey};

/// The demo's nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Holds the issuer key and alice's wallet.
    Harbour,
    /// Holds bob's wallet.
    Ship,
    /// Holds carol's wallet, and a copy of alice's key.
    Camp,
}

impl Role {
    const ALL: [Role; 3] = [Role::Harbour, Role::Ship, Role::Camp];

    /// The node's name.
    pub fn name(self) -> &'static str {
        match self {
            Role::Harbour => "harbour",
            Role::Ship => "ship",
            Role::Camp => "camp",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// The demo's directories: removed at the end unless kept.
enum Root {
    Temporary(tempfile::TempDir),
    Kept(PathBuf),
}

/// Three running nodes.
pub struct Cluster {
    root: Root,
    passphrase: Zeroizing<String>,
    nodes: Vec<Daemon>,
    accounts: BTreeMap<String, AccountId>,
}

/// The keystores' cost: the demo's keys guard nothing, so the cheapest argon2 allows.
const DEMO_KDF: KdfParams = KdfParams::DISPOSABLE;

impl Cluster {
    /// Makes the three data directories and starts the nodes, each dialling the ones
    /// before it.
    pub async fn start(keep: bool) -> Result<Cluster> {
        let tmp = tempfile::Builder::new()
            .prefix("meshpay-demo-")
            .tempdir()
            .context("cannot make a temporary directory")?;
        let root = if keep {
            Root::Kept(tmp.keep())
        } else {
            Root::Temporary(tmp)
        };
        let base = match &root {
            Root::Temporary(t) => t.path().to_path_buf(),
            Root::Kept(p) => p.clone(),
        };
        let mut secret = [0u8; 16];
        getrandom::fill(&mut secret).context("no randomness from the operating system")?;
        let passphrase = Zeroizing::new(hex::encode(secret));
        let dir = |r: Role| DataDir::new(base.join(r.name()));

        let mut accounts = BTreeMap::new();
        let harbour = init(
            &dir(Role::Harbour),
            &passphrase,
            &InitOptions {
                chain: ChainChoice::Create {
                    name: "meshpay-demo".into(),
                    limits: Limits {
                        max_single: 1_000,
                        max_cumulative: 5_000,
                        max_count: 100,
                    },
                },
                wallets: vec!["alice".into()],
                kdf: DEMO_KDF,
            },
        )?;
        let spec = dir(Role::Harbour).spec();
        for (role, wallet) in [(Role::Ship, "bob"), (Role::Camp, "carol")] {
            let made = init(
                &dir(role),
                &passphrase,
                &InitOptions {
                    chain: ChainChoice::Join(spec.clone()),
                    wallets: vec![wallet.into()],
                    kdf: DEMO_KDF,
                },
            )?;
            accounts.extend(made.wallets.into_iter().map(|(n, a)| (n, parse(&a))));
        }
        accounts.extend(harbour.wallets.into_iter().map(|(n, a)| (n, parse(&a))));
        // The camp's device holds a copy of alice's key: how money gets spent twice.
        let alice = Keystore::open(&dir(Role::Harbour).keystore(), &passphrase)?
            .into_iter()
            .find(|k| k.name == "alice")
            .context("alice's key")?;
        Keystore::add_key(
            &dir(Role::Camp).keystore(),
            &passphrase,
            NamedKey::new("alice", Zeroizing::new(*alice.secret())),
        )?;

        let mut nodes: Vec<Daemon> = Vec::new();
        let mut dial: Vec<Multiaddr> = Vec::new();
        for role in Role::ALL {
            // Loopback only: nothing of the demo goes onto the machine's network.
            let mut config = Config::loopback();
            config.node.name = role.name().into();
            config.lan.peers = dial.iter().map(|a| a.to_string()).collect();
            config.log.filter = "warn".into();
            let daemon = Daemon::start(StartOptions {
                data: dir(role),
                config,
                passphrase: passphrase.clone(),
            })
            .await
            .with_context(|| format!("starting the {}", role.name()))?;
            let peer = daemon.lan_peer().context("the LAN link runs")?;
            let addr = daemon
                .lan_addrs(Duration::from_secs(10))
                .await
                .into_iter()
                .find(|a| a.iter().any(|p| matches!(p, Protocol::Tcp(_))))
                .with_context(|| format!("the {} listens on no TCP address", role.name()))?;
            dial.push(addr.with(Protocol::P2p(peer)));
            nodes.push(daemon);
        }
        Ok(Cluster {
            root,
            passphrase,
            nodes,
            accounts,
        })
    }

    /// The keystores' passphrase (random, for this run only).
    pub fn passphrase(&self) -> &str {
        &self.passphrase
    }

    /// Where the data directories are.
    pub fn root(&self) -> &Path {
        match &self.root {
            Root::Temporary(t) => t.path(),
            Root::Kept(p) => p,
        }
    }

    /// Names and peer ids, for the first line.
    pub fn describe(&self) -> String {
        Role::ALL
            .iter()
            .map(|r| r.name().to_owned())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// A node.
    pub fn node(&self, role: Role) -> &Daemon {
        &self.nodes[role.index()]
    }

    /// A wallet's account by its name.
    pub fn account(&self, wallet: &str) -> AccountId {
        self.accounts[wallet]
    }

    /// Waits until every node has both others as peers.
    pub async fn wait_connected(&self, timeout: Duration) -> Result<()> {
        self.wait(timeout, "the nodes to connect", |statuses| {
            statuses
                .iter()
                .all(|s| s.peers.get("lan").copied().unwrap_or(0) >= 2)
        })
        .await
        .map(drop)
    }

    /// Waits until every node holds the same records; returns how many.
    pub async fn converge(&self, timeout: Duration) -> Result<usize> {
        let statuses = self
            .wait(timeout, "the nodes to agree", |statuses| {
                statuses
                    .windows(2)
                    .all(|w| w[0].state_digest == w[1].state_digest && w[0].records == w[1].records)
            })
            .await?;
        Ok(statuses[0].records)
    }

    /// Waits until the nodes `among` hold the same records (a side of a partition).
    pub async fn converge_among(&self, among: &[Role], timeout: Duration) -> Result<()> {
        let idx: Vec<usize> = among.iter().map(|r| r.index()).collect();
        self.wait(timeout, "one side to agree", |statuses| {
            idx.windows(2)
                .all(|w| statuses[w[0]].state_digest == statuses[w[1]].state_digest)
        })
        .await
        .map(drop)
    }

    /// Each node's state digest.
    pub async fn digests(&self) -> Result<Vec<String>> {
        Ok(self
            .statuses()
            .await?
            .into_iter()
            .map(|s| s.state_digest)
            .collect())
    }

    /// Cuts `role` off from the others (every side blocks the other), or mends it.
    pub async fn partition(&self, role: Role, cut: bool) -> Result<()> {
        for other in Role::ALL.into_iter().filter(|r| *r != role) {
            for (a, b) in [(role, other), (other, role)] {
                let peer = self.node(b).lan_peer().context("LAN peer")?.to_string();
                self.node(a)
                    .handle()
                    .block(BlockRequest { peer, blocked: cut })
                    .await?;
            }
        }
        if cut {
            let timeout = Duration::from_secs(10);
            self.wait(timeout, "the partition", |statuses| {
                statuses[role.index()]
                    .peers
                    .get("lan")
                    .copied()
                    .unwrap_or(0)
                    == 0
            })
            .await?;
        }
        Ok(())
    }

    /// Each node's view of the outcome: the conflict, its proof, balances.
    pub async fn outcomes(&self, culprit: AccountId) -> Result<Vec<NodeOutcome>> {
        let mut out = Vec::new();
        for role in Role::ALL {
            let h = self.node(role).handle();
            let status = h.status().await?;
            let conflicts = h.conflicts().await?;
            let mine = conflicts.iter().find(|c| c.culprit == culprit.to_hex());
            let mut balances = Vec::new();
            for (name, account) in &self.accounts {
                let mut b = h.balance(Some(*account)).await?;
                if let Some(mut b) = b.pop() {
                    b.wallet = Some(name.clone());
                    balances.push(b);
                }
            }
            out.push(NodeOutcome {
                node: role.name().into(),
                records: status.records,
                digest: status.state_digest,
                conflicts: conflicts.len(),
                conflict_found: mine.is_some(),
                proof_verified: mine
                    .and_then(|c| c.proof.as_ref())
                    .is_some_and(|p| p.verified),
                proof_bytes: mine
                    .and_then(|c| c.proof.as_ref())
                    .map_or(0, |p| p.encoded.len() / 2),
                balances,
            });
        }
        Ok(out)
    }

    /// Stops every node (each writes what it holds and closes its store).
    pub async fn stop(self) -> Result<()> {
        for node in self.nodes {
            node.stop().await?;
        }
        Ok(())
    }

    async fn statuses(&self) -> Result<Vec<crate::api::StatusView>> {
        let mut out = Vec::new();
        for n in &self.nodes {
            out.push(n.handle().status().await?);
        }
        Ok(out)
    }

    async fn wait(
        &self,
        timeout: Duration,
        what: &str,
        done: impl Fn(&[crate::api::StatusView]) -> bool,
    ) -> Result<Vec<crate::api::StatusView>> {
        let until = Instant::now() + timeout;
        loop {
            let statuses = self.statuses().await?;
            if done(&statuses) {
                return Ok(statuses);
            }
            if Instant::now() >= until {
                let seen: Vec<String> = statuses
                    .iter()
                    .map(|s| {
                        format!(
                            "{}: {} records, {} peers, digest {}",
                            s.node,
                            s.records,
                            s.peers.get("lan").copied().unwrap_or(0),
                            &s.state_digest[..12.min(s.state_digest.len())]
                        )
                    })
                    .collect();
                bail!(
                    "gave up waiting for {what} after {timeout:?}: {}",
                    seen.join("; ")
                );
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

fn parse(hex: &str) -> AccountId {
    AccountId::from_hex(hex).expect("init reports accounts as hex")
}
