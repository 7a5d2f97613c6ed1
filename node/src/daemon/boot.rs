//! Starting and stopping a node: the store opened and replayed, the keys unlocked, the
//! LAN link and the API started around the actor, and all of it closed in order.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use libp2p::{Multiaddr, PeerId};
use meshpay_protocol::node::{LinkConfig, NodeCore};
use meshpay_protocol::radio::fragment::ReassemblyConfig;
use meshpay_protocol::sync::SyncConfig;
use meshpay_protocol::wallet::Wallet;
use meshpay_protocol::{AccountId, ChainSpec, Ledger, RecordId};
use rand_core::SeedableRng;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::actor::MAX_SAVED_PEERS;
use super::lan::{LAN, LanPort};
use super::{Actor, Handle};
use crate::api::{self, Cookie};
use crate::config::Config;
use crate::data_dir::{DataDir, IDENTITY_KEY};
use crate::keystore::{Keystore, NamedKey};
use crate::link::lan::{Lan, LanConfig};
use crate::metrics::Metrics;
use crate::store::{Store, StoreOptions};

/// How long a stop waits for the API's open requests.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// What a node needs to start.
pub struct StartOptions {
    /// Its data directory (made by `meshpay init`).
    pub data: DataDir,
    /// Its configuration, validated.
    pub config: Config,
    /// The keystore's passphrase.
    pub passphrase: zeroize::Zeroizing<String>,
}

/// What a start found in the store, for the operator.
#[derive(Debug, Clone, Default)]
pub struct Replay {
    /// Records replayed into the ledger.
    pub records: usize,
    /// Stored records whose bytes no longer match their key: reported and left out.
    pub corrupt: Vec<String>,
    /// How long opening and replaying took.
    pub took: Duration,
}

/// A running node.
pub struct Daemon {
    handle: Handle,
    api_addr: SocketAddr,
    lan_peer: Option<PeerId>,
    replay: Replay,
    stop_api: Option<oneshot::Sender<()>>,
    api_task: JoinHandle<Result<(), api::ServeError>>,
    actor_task: JoinHandle<(NodeCore, Store)>,
    cookie: Cookie,
}

impl Daemon {
    /// Opens the store, replays it, unlocks the keys, starts the LAN link, the actor and
    /// the API. Every failure names what to fix.
    pub async fn start(options: StartOptions) -> anyhow::Result<Daemon> {
        use anyhow::Context;
        let StartOptions {
            data,
            config,
            passphrase,
        } = options;
        let started = Instant::now();
        let store_options = StoreOptions::default();
        let store = Store::open(&data.store(), &store_options)?;
        let spec = store
            .spec()?
            .context("the store holds no network spec: run `meshpay init` on a new directory")?;
        let keys = Keystore::open(&data.keystore(), &passphrase)?;
        drop(passphrase);

        let mut ledger = Ledger::new(spec.clone())?;
        // Everything stored was verified on intake: replay without signature checks,
        // merging each chunk while the store reads and parses the next.
        let damaged = store.replay(|chunk| {
            ledger.merge_verified(chunk);
        })?;
        let corrupt: Vec<String> = damaged
            .iter()
            .map(|c| format!("{}: {}", c.key, c.reason))
            .collect();
        for c in &corrupt {
            tracing::error!(record = %c, "stored record is damaged; left out");
        }
        let replay = Replay {
            records: ledger.len(),
            corrupt,
            took: started.elapsed(),
        };
        tracing::info!(
            records = replay.records,
            corrupt = replay.corrupt.len(),
            ms = replay.took.as_millis() as u64,
            "ledger rebuilt from the store"
        );

        let seqs = store.next_seqs()?;
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).context("no randomness from the operating system")?;
        let mut core = NodeCore::new(ledger, rand_chacha::ChaCha20Rng::from_seed(seed));
        let roles = Roles::of(keys, &spec);
        let mut names = BTreeMap::new();
        for key in &roles.wallets {
            let account = key.account();
            let next = resume_seq(&seqs, core.ledger(), &account);
            core.add_wallet(Wallet::new(key.signing_key(), &spec, next));
            names.insert(account, key.name.clone());
        }
        // An issuer resumes just after its last record: a mint is durable before it
        // leaves the node, so a seq past it (stored, then a crash or a failed write)
        // was never released and is signed again.
        let issuers: Vec<_> = roles
            .issuers
            .iter()
            .map(|key| {
                let last = last_record_of(core.ledger(), &key.account());
                let next = last.map_or(1, |(seq, _)| seq + 1);
                (key.signing_key(), next, last.map(|(_, id)| id))
            })
            .collect();

        // The API's address and cookie before anything is spawned: a port in use fails
        // the start with nothing left running.
        let cookie = Cookie::create(data.path())?;
        let listener = api::bind(config.api.listen).await?;
        let api_addr = listener.local_addr()?;
        cookie.write_addr(api_addr)?;

        let metrics = Arc::new(Metrics::new());
        let mut lan_port = None;
        let mut lan_peer = None;
        if config.lan.enabled {
            let identity = roles
                .identity
                .context("the keystore holds no LAN identity key (lan-identity)")?;
            let keypair = libp2p::identity::Keypair::ed25519_from_bytes(*identity.secret())
                .context("the LAN identity key is not an ed25519 secret")?;
            let mut lan_config = lan_config(&config)?;
            // The peer book: peers this node dialed before, dialed again at start.
            let mut saved = std::collections::HashSet::new();
            for (key, addr) in store.peers()?.into_iter().take(MAX_SAVED_PEERS) {
                match (PeerId::from_bytes(&key), Multiaddr::try_from(addr)) {
                    (Ok(peer), Ok(addr)) => {
                        saved.insert(peer);
                        if !lan_config.peers.contains(&addr) {
                            lan_config.peers.push(addr);
                        }
                    }
                    _ => tracing::warn!("a peer book entry does not parse; skipped"),
                }
            }
            let mtu = lan_config.max_frame_bytes;
            let mut engine_seed = [0u8; 32];
            getrandom::fill(&mut engine_seed).context("no randomness from the operating system")?;
            core.open_link(
                LAN,
                LinkConfig {
                    sync: SyncConfig::default(),
                    mtu,
                    reassembly: ReassemblyConfig::default(),
                    relay: config.lan.relay,
                },
                engine_seed,
            )
            .map_err(|e| anyhow::anyhow!("lan.max_frame_bytes: {e}"))?;
            let (handle, events) = Lan::spawn(lan_config, keypair, spec.chain_id())?;
            lan_peer = Some(handle.local_peer_id());
            lan_port = Some(LanPort::new(handle, events, saved));
        }

        let (mut actor, handle) = Actor::new(config.node.name.clone(), core, store, names, metrics);
        if let Some(port) = lan_port {
            actor.attach_lan(port);
        }
        for (key, next, prev) in issuers {
            actor.add_issuer(key, next, prev);
        }
        let actor_task = tokio::spawn(actor.run());

        let (stop_api, stopped) = oneshot::channel::<()>();
        let api_task = tokio::spawn(api::serve_on(
            listener,
            handle.clone(),
            cookie.token().clone(),
            async move {
                let _ = stopped.await;
            },
        ));
        tracing::info!(
            node = %config.node.name,
            chain = %spec.chain_id().to_hex(),
            api = %api_addr,
            lan = ?lan_peer.map(|p| p.to_string()),
            "node started"
        );
        Ok(Daemon {
            handle,
            api_addr,
            lan_peer,
            replay,
            stop_api: Some(stop_api),
            api_task,
            actor_task,
            cookie,
        })
    }

    /// The API's address.
    pub fn api_addr(&self) -> SocketAddr {
        self.api_addr
    }

    /// The API's token.
    pub fn token(&self) -> &api::Token {
        self.cookie.token()
    }

    /// The node's LAN peer id, when it runs the LAN link.
    pub fn lan_peer(&self) -> Option<PeerId> {
        self.lan_peer
    }

    /// What the start replayed.
    pub fn replay(&self) -> &Replay {
        &self.replay
    }

    /// The node's backend, as the API sees it (for a process that drives nodes itself).
    pub fn handle(&self) -> &Handle {
        &self.handle
    }

    /// The LAN addresses the node listens on, once the link reports them (up to `wait`).
    pub async fn lan_addrs(&self, wait: Duration) -> Vec<Multiaddr> {
        use crate::api::Backend;
        let until = Instant::now() + wait;
        loop {
            if let Ok(status) = self.handle.status().await
                && let Some(lan) = status.lan
                && !lan.listen.is_empty()
            {
                return lan.listen.iter().filter_map(|a| a.parse().ok()).collect();
            }
            if Instant::now() >= until {
                return Vec::new();
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Resolves when the API or the actor ended on its own (a panic, a failed server):
    /// the node cannot serve any more and its process should exit and be restarted.
    /// After it resolves, drop the daemon rather than calling [`Daemon::stop`].
    pub async fn crashed(&mut self) -> String {
        tokio::select! {
            r = &mut self.api_task => format!("the API server ended: {}", match r {
                Ok(Ok(())) => "without an error".to_owned(),
                Ok(Err(e)) => e.to_string(),
                Err(e) => e.to_string(),
            }),
            r = &mut self.actor_task => format!("the node's task ended: {}", match r {
                Ok(_) => "without being asked".to_owned(),
                Err(e) => e.to_string(),
            }),
        }
    }

    /// Stops the API, then the actor (which writes what it holds and stops the link),
    /// then closes the store and removes the cookie. Requests still in flight after
    /// `STOP_GRACE` (a payment waiting on a failing store) are cut.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop_api.take() {
            let _ = stop.send(());
        }
        let served = match tokio::time::timeout(STOP_GRACE, &mut self.api_task).await {
            Ok(r) => r,
            Err(_) => {
                tracing::warn!("API requests still open after the grace period; cut");
                self.api_task.abort();
                Ok(Ok(()))
            }
        };
        // The actor ends once every handle is gone: the API's went with its server.
        drop(self.handle);
        let (_, store) = self.actor_task.await?;
        drop(store);
        drop(self.cookie);
        served??;
        tracing::info!("node stopped");
        Ok(())
    }
}

/// The keystore's keys by what they do on this network.
struct Roles {
    identity: Option<NamedKey>,
    issuers: Vec<NamedKey>,
    wallets: Vec<NamedKey>,
}

impl Roles {
    fn of(keys: Vec<NamedKey>, spec: &ChainSpec) -> Roles {
        let mut roles = Roles {
            identity: None,
            issuers: Vec::new(),
            wallets: Vec::new(),
        };
        for key in keys {
            if key.name == IDENTITY_KEY {
                roles.identity = Some(key);
            } else if spec.is_issuer(&key.account()) {
                roles.issuers.push(key);
            } else {
                roles.wallets.push(key);
            }
        }
        roles
    }
}

/// A signer's next seq: the stored one, or past the ledger's last record of it when the
/// ledger knows more (its key used elsewhere too): never a seq already signed.
fn resume_seq(seqs: &BTreeMap<AccountId, u64>, ledger: &Ledger, account: &AccountId) -> u64 {
    let stored = seqs.get(account).copied().unwrap_or(1);
    let known = ledger.account(account).map_or(1, |v| v.next_seq);
    stored.max(known).max(1)
}

/// An issuer's record with the highest seq the ledger holds, which its next names.
fn last_record_of(ledger: &Ledger, account: &AccountId) -> Option<(u64, RecordId)> {
    ledger
        .records_of(account)
        .into_iter()
        .map(|(seq, id, _)| (seq, id))
        .max()
}

/// The LAN link's configuration from the node's.
fn lan_config(config: &Config) -> anyhow::Result<LanConfig> {
    use anyhow::Context;
    let parse = |field: &str, addrs: &[String]| -> anyhow::Result<Vec<Multiaddr>> {
        addrs
            .iter()
            .map(|a| {
                a.parse()
                    .with_context(|| format!("{field}: {a:?} is not a multiaddr"))
            })
            .collect()
    };
    Ok(LanConfig {
        listen: parse("lan.listen", &config.lan.listen)?,
        mdns: config.lan.mdns,
        peers: parse("lan.peers", &config.lan.peers)?,
        max_connections: config.lan.max_connections,
        max_connections_per_peer: config.lan.max_connections_per_peer,
        max_frame_bytes: config.lan.max_frame_bytes,
        ..LanConfig::default()
    })
}
