//! The actor and its handle: commands in, the node core stepped, batches persisted.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use meshpay_protocol::issuer::Issuer;
use meshpay_protocol::node::{NodeCore, NodeEvent, PeerFault};
use meshpay_protocol::sync::SyncError;
use meshpay_protocol::wallet::SeqStore;
use meshpay_protocol::{AccountId, RecordId};
use tokio::sync::{mpsc, oneshot};

use super::lan::{LAN, LanPort};
use crate::api::{
    ApiError, Backend, BalanceView, BlockRequest, ChainView, ConflictView, Direction, HistoryEntry,
    Mint, PayReceipt, Payer, Payment, PeerView, StatusView, WalletView,
};
use crate::link::lan::{LanError, LanEvent};
use crate::metrics::Metrics;
use crate::store::{Store, StoreError, WriteSet};

/// Commands queued for the actor before senders wait.
const COMMAND_QUEUE: usize = 256;
/// How soon a failed store write is tried again, ms.
const STORE_RETRY_MS: u64 = 500;
/// Messages taken from one peer's engine per step: enough to drain a reconciliation's
/// burst, few enough that one peer cannot hold the actor.
const MESSAGES_PER_PEER: usize = 32;
/// Most peers kept in the store's peer book (dialed at start); the LAN's connection
/// limit is 64 by default.
pub const MAX_SAVED_PEERS: usize = 256;
/// Hostile peers waiting to be cut; more in one step are cut by the engine's penalty.
const MAX_HOSTILE_QUEUE: usize = 64;

type Reply<T> = oneshot::Sender<Result<T, ApiError>>;

/// What the API and the links ask of the actor.
enum Command {
    Status(Reply<StatusView>),
    Balances(Option<AccountId>, Reply<Vec<BalanceView>>),
    Conflicts(Reply<Vec<ConflictView>>),
    History(Option<AccountId>, usize, Reply<Vec<HistoryEntry>>),
    Pay(Payment, Reply<PayReceipt>),
    Mint(Mint, Reply<PayReceipt>),
    Peers(Reply<Vec<PeerView>>),
    Block(BlockRequest, Reply<()>),
}

/// A payment waiting to be released: its receipt goes out once it is durable.
struct Waiting {
    id: RecordId,
    receipt: PayReceipt,
    reply: Reply<PayReceipt>,
    since: Instant,
}

/// The task that owns the node core and the store.
pub struct Actor {
    core: NodeCore,
    store: Store,
    node: String,
    names: BTreeMap<AccountId, String>,
    metrics: Arc<Metrics>,
    waiting: Vec<Waiting>,
    /// A set the store failed to write, with the last ticket in it.
    unwritten: Option<(WriteSet, u64)>,
    commands: mpsc::Receiver<Command>,
    lan: Option<LanPort>,
    issuers: Vec<IssuerSlot>,
    /// Requests that need the link task's answer, served after the step.
    peer_requests: Vec<Reply<Vec<PeerView>>>,
    block_requests: Vec<(BlockRequest, Reply<()>)>,
    /// LAN peers whose frames the core found hostile, to be cut by the link.
    hostile: Vec<(libp2p::PeerId, String)>,
    /// A peer had more to send than one step took: step again without waiting.
    pump_again: bool,
    /// Peers this node dialed, to keep in the store's peer book.
    peer_book_writes: Vec<(libp2p::PeerId, libp2p::Multiaddr)>,
}

/// A cloneable way to talk to the actor; the API's backend.
#[derive(Clone)]
pub struct Handle {
    commands: mpsc::Sender<Command>,
    metrics: Arc<Metrics>,
}

/// Milliseconds since the epoch: the core's clock.
fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Actor {
    /// An actor over `core` (its ledger already rebuilt from `store`), with wallet names.
    pub fn new(
        node: String,
        core: NodeCore,
        store: Store,
        names: BTreeMap<AccountId, String>,
        metrics: Arc<Metrics>,
    ) -> (Actor, Handle) {
        let (tx, rx) = mpsc::channel(COMMAND_QUEUE);
        let actor = Actor {
            core,
            store,
            node,
            names,
            metrics: metrics.clone(),
            waiting: Vec::new(),
            unwritten: None,
            commands: rx,
            lan: None,
            issuers: Vec::new(),
            peer_requests: Vec::new(),
            block_requests: Vec::new(),
            hostile: Vec::new(),
            pump_again: false,
            peer_book_writes: Vec::new(),
        };
        (
            actor,
            Handle {
                commands: tx,
                metrics,
            },
        )
    }

    /// Attaches the LAN link; the core's LAN engine must be open (see [`LAN`]).
    pub fn attach_lan(&mut self, port: LanPort) {
        self.lan = Some(port);
    }

    /// Gives the actor an issuer key, resuming after the issuer's last record `prev` at
    /// seq `next` (1 and `None` for a new issuer), so it can mint.
    pub fn add_issuer(
        &mut self,
        key: ed25519_dalek::SigningKey,
        next: u64,
        prev: Option<RecordId>,
    ) {
        self.issuers.push(IssuerSlot { key, next, prev });
    }

    /// Runs until every handle is dropped; returns the store and core for a clean close.
    pub async fn run(mut self) -> (NodeCore, Store) {
        loop {
            let mut timeout = self.core.poll_timeout();
            if self.unwritten.is_some() {
                let retry = now_ms() + STORE_RETRY_MS;
                timeout = Some(timeout.map_or(retry, |t| t.min(retry)));
            }
            if self.pump_again {
                timeout = Some(now_ms());
            }
            let sleep = async {
                match timeout {
                    Some(t) => {
                        let wait = t.saturating_sub(now_ms());
                        tokio::time::sleep(std::time::Duration::from_millis(wait)).await
                    }
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                cmd = self.commands.recv() => match cmd {
                    Some(cmd) => {
                        let paid = matches!(cmd, Command::Pay(..));
                        self.command(cmd);
                        // Group commit: whatever else is queued joins this write, up to a
                        // payment: the next payment of a wallet needs the last one
                        // released, which needs this write.
                        let mut paid = paid;
                        while !paid {
                            let Ok(next) = self.commands.try_recv() else { break };
                            paid = matches!(next, Command::Pay(..));
                            self.command(next);
                        }
                    }
                    None => break,
                },
                () = sleep => self.core.handle_timeout(now_ms()),
                event = next_lan_event(&mut self.lan) => self.on_lan(event),
            }
            self.persist();
            self.events();
            self.pump().await;
            self.link_requests().await;
            // Sending may have finished a session whose records merge now.
            self.persist();
            self.events();
        }
        self.persist();
        self.events();
        if let Some(lan) = self.lan.take() {
            let _ = lan.handle.shutdown().await;
        }
        (self.core, self.store)
    }

    /// Writes everything the core queued in one synced write, then tells it. A set that
    /// failed to write is kept and written first next time: `persisted` covers every
    /// earlier batch, so nothing after a failed set may be acknowledged before it.
    fn persist(&mut self) {
        let (mut set, mut last) = match self.unwritten.take() {
            Some((set, ticket)) => (set, Some(ticket)),
            None => (WriteSet::new(), None),
        };
        while let Some(batch) = self.core.poll_persist() {
            for (id, bytes) in batch.records {
                set.record_bytes(id, bytes);
            }
            for (account, next) in batch.seqs {
                set.next_seq(account, next);
            }
            last = Some(batch.ticket);
        }
        let Some(ticket) = last else {
            return;
        };
        match self.store.write(&set) {
            Ok(()) => self.core.persisted(ticket),
            // Nothing in the set is acknowledged: held payments stay held and their
            // callers keep waiting (the outcome is not known until the write succeeds).
            Err(e) => {
                tracing::error!(error = %e, "store write failed; nothing acknowledged, retrying");
                self.unwritten = Some((set, ticket));
            }
        }
    }

    /// What the LAN link reported: peers to add to or remove from the engine, frames.
    fn on_lan(&mut self, event: Option<LanEvent>) {
        let Some(lan) = self.lan.as_mut() else { return };
        let now = now_ms();
        match event {
            None => {
                tracing::warn!(link = "lan", "the LAN link stopped; serving without it");
                lan.events = None;
                for peer in self
                    .core
                    .engine(LAN)
                    .map(|e| e.peers().collect::<Vec<_>>())
                    .unwrap_or_default()
                {
                    self.core.peer_down(LAN, peer);
                }
                lan.book = Default::default();
            }
            Some(LanEvent::Listening(addr)) => {
                tracing::info!(link = "lan", %addr, "listening");
                // Bounded: the config names a handful of addresses, each reported per
                // interface it binds.
                if lan.listening.len() < 64 && !lan.listening.contains(&addr) {
                    lan.listening.push(addr);
                }
            }
            Some(LanEvent::ListenEnded(addr)) => {
                lan.listening.retain(|a| *a != addr);
            }
            Some(LanEvent::PeerUp { peer, addr, dialed }) => {
                if dialed && !lan.saved.contains(&peer) && lan.saved.len() < MAX_SAVED_PEERS {
                    lan.saved.insert(peer);
                    let keep = if addr
                        .iter()
                        .any(|p| matches!(p, libp2p::multiaddr::Protocol::P2p(_)))
                    {
                        addr.clone()
                    } else {
                        addr.clone().with(libp2p::multiaddr::Protocol::P2p(peer))
                    };
                    self.peer_book_writes.push((peer, keep));
                }
                let id = lan.book.up(peer, addr.clone());
                tracing::info!(link = "lan", %peer, %addr, "peer up");
                self.core.peer_up(now, LAN, id);
            }
            Some(LanEvent::PeerDown { peer }) => {
                if let Some(id) = lan.book.down(&peer) {
                    tracing::info!(link = "lan", %peer, "peer down");
                    self.core.peer_down(LAN, id);
                }
            }
            Some(LanEvent::Frame { peer, bytes }) => {
                // A frame from a peer already gone is late, not wrong: drop it.
                if let Some(id) = lan.book.id(&peer) {
                    self.metrics.bytes_in("lan", bytes.len() as u64);
                    self.metrics.frames_in("lan", 1);
                    self.core.handle_frame(now, LAN, id, None, &bytes);
                }
            }
            Some(LanEvent::Misbehaved { peer, reason }) => {
                tracing::warn!(link = "lan", %peer, %reason, "peer broke the framing; refused for a while");
            }
        }
        self.metrics.peer_count("lan", lan.book.len());
    }

    /// Moves what the LAN engine wants to send onto the link, up to a number of messages
    /// per peer and step. A full peer queue (or a peer gone) stops that peer for the
    /// step, so at most one message is lost: the engine's retransmission and the next
    /// reconciliation bring it again. A peer with more to send gets another step at once.
    async fn pump(&mut self) {
        self.pump_again = false;
        let Some(lan) = self.lan.as_mut() else { return };
        let Some(engine) = self.core.engine(LAN) else {
            return;
        };
        let now = now_ms();
        let ids: Vec<u64> = engine.peers().collect();
        for id in ids {
            let Some(peer) = lan.book.peer(id) else {
                continue;
            };
            let mut taken = 0;
            'peer: while taken < MESSAGES_PER_PEER {
                let Some(frames) = self.core.poll_frames(now, LAN, id, usize::MAX) else {
                    break;
                };
                taken += 1;
                if taken == MESSAGES_PER_PEER {
                    self.pump_again = true;
                }
                for frame in frames {
                    let len = frame.len() as u64;
                    match lan.handle.send(peer, frame).await {
                        Ok(()) => {
                            self.metrics.bytes_out("lan", len);
                            self.metrics.frames_out("lan", 1);
                        }
                        Err(LanError::QueueFull { .. }) => {
                            tracing::debug!(link = "lan", %peer, "peer queue full; frame dropped");
                            break 'peer;
                        }
                        Err(e) => {
                            tracing::debug!(link = "lan", %peer, error = %e, "frame not sent");
                            break 'peer;
                        }
                    }
                }
            }
        }
        self.core.flush_link(LAN);
    }

    /// Answers the requests that ask the link task: peers with their traffic, blocks.
    async fn link_requests(&mut self) {
        if !self.peer_book_writes.is_empty() {
            let mut set = WriteSet::new();
            for (peer, addr) in std::mem::take(&mut self.peer_book_writes) {
                set.put_peer(peer.to_bytes(), addr.to_vec());
            }
            // The peer book only saves dialling at the next start: a failed write is
            // logged, never retried ahead of records.
            if let Err(e) = self.store.write(&set) {
                tracing::warn!(error = %e, "peer book not written");
            }
        }
        if let Some(lan) = &self.lan {
            for (peer, reason) in std::mem::take(&mut self.hostile) {
                let _ = lan.handle.penalize(peer, reason).await;
            }
        }
        for (request, reply) in std::mem::take(&mut self.block_requests) {
            let _ = reply.send(self.block(request).await);
        }
        let replies = std::mem::take(&mut self.peer_requests);
        if replies.is_empty() {
            return;
        }
        let peers = self.peers().await;
        for reply in replies {
            let _ = reply.send(peers.clone());
        }
    }

    async fn peers(&self) -> Result<Vec<PeerView>, ApiError> {
        let Some(lan) = &self.lan else {
            return Ok(Vec::new());
        };
        let stats = lan.handle.stats().await.map_err(link_unavailable)?;
        Ok(stats
            .peers
            .iter()
            .filter(|(peer, _)| lan.book.id(peer).is_some())
            .map(|(peer, t)| PeerView {
                link: "lan".into(),
                peer: peer.to_string(),
                address: lan.book.addr(peer).map(|a| a.to_string()),
                bytes_in: t.bytes_in,
                bytes_out: t.bytes_out,
                frames_in: t.frames_in,
                frames_out: t.frames_out,
            })
            .collect())
    }

    async fn block(&mut self, request: BlockRequest) -> Result<(), ApiError> {
        let peer: libp2p::PeerId = request.peer.parse().map_err(|_| {
            ApiError::bad_request("bad_peer", "peer must be a libp2p peer id (12D3Koo…)")
        })?;
        let Some(lan) = &self.lan else {
            return Err(ApiError::Unavailable("this node runs no LAN link".into()));
        };
        let done = if request.blocked {
            lan.handle.block(peer).await
        } else {
            lan.handle.unblock(peer).await
        };
        done.map_err(link_unavailable)?;
        tracing::info!(link = "lan", %peer, blocked = request.blocked, "peer block changed");
        Ok(())
    }

    /// Mints with this node's issuer key. The issuer's next seq is written (synced)
    /// before the record is signed, and the record itself before it enters the ledger
    /// or reaches a link: a mint the caller is told failed never left the node, so the
    /// issuer signs at the same seq again next time.
    fn mint(&mut self, mint: Mint) -> Result<PayReceipt, ApiError> {
        let spec = self.core.ledger().spec().clone();
        let Some(slot) = self.issuers.first_mut() else {
            return Err(ApiError::Refused {
                code: "not_issuer".into(),
                reason: "this node holds no issuer key of the network".into(),
            });
        };
        if mint.memo.len() > meshpay_protocol::record::MAX_TEXT_BYTES {
            let e = meshpay_protocol::wallet::WalletError::MemoTooLong;
            return Err(ApiError::from(e));
        }
        if spec.is_issuer(&mint.to) {
            return Err(ApiError::Refused {
                code: "to_issuer".into(),
                reason: "an issuer's account cannot hold money".into(),
            });
        }
        let mut issuer = Issuer::new(slot.key.clone(), &spec, slot.next, slot.prev);
        let record = issuer
            .mint(
                &mut StoreSeqs(&mut self.store),
                mint.to,
                mint.amount,
                &mint.memo,
                now_ms(),
            )
            .map_err(ApiError::from)?;
        let from = issuer.account();
        let id = RecordId::of_body(&record.body);
        let seq = slot.next;
        let mut set = WriteSet::new();
        set.record_bytes(id, prost::Message::encode_to_vec(&record));
        self.store.write(&set).map_err(|e| {
            ApiError::Unavailable(format!("the store failed; nothing was minted: {e}"))
        })?;
        let changes = self.core.submit(vec![record], None);
        if let Some((_, reason)) = changes.refused.iter().find(|(r, _)| *r == id) {
            return Err(ApiError::Refused {
                code: reason.rule().to_owned(),
                reason: reason.to_string(),
            });
        }
        slot.next = seq + 1;
        slot.prev = Some(id);
        Ok(PayReceipt {
            id: id.to_hex(),
            seq,
            from: from.to_hex(),
            to: mint.to.to_hex(),
            amount: mint.amount,
        })
    }

    fn events(&mut self) {
        while let Some(event) = self.core.poll_event() {
            match event {
                NodeEvent::PaymentReleased { payment, .. } => {
                    if let Some(i) = self.waiting.iter().position(|w| w.id == payment) {
                        let w = self.waiting.swap_remove(i);
                        self.metrics.ack_latency(w.since.elapsed());
                        self.metrics.payment_made();
                        let _ = w.reply.send(Ok(w.receipt));
                    }
                }
                NodeEvent::Merged { changes, .. } => {
                    for (_, reason) in &changes.refused {
                        self.metrics.refused(reason.rule());
                    }
                }
                NodeEvent::ConflictFound { account, seq } => {
                    tracing::warn!(account = %account.to_hex(), seq, "double spend found");
                }
                NodeEvent::PeerMisbehaved { link, peer, error } => {
                    tracing::warn!(link = link.0, peer, %error, "peer misbehaved");
                    if link == LAN
                        && is_hostile(&error)
                        && let Some(p) = self.lan.as_ref().and_then(|l| l.book.peer(peer))
                        && self.hostile.len() < MAX_HOSTILE_QUEUE
                    {
                        self.hostile.push((p, error.to_string()));
                    }
                }
                _ => {}
            }
        }
        if let Some(e) = self.core.engine(LAN) {
            self.metrics.thin_misses("lan", e.thin_misses());
        }
        let ledger = self.core.ledger();
        self.metrics.set_ledger(
            ledger.len(),
            ledger.account_count(),
            ledger.conflict_count(),
            ledger.orphan_count(),
        );
    }

    fn command(&mut self, cmd: Command) {
        match cmd {
            Command::Status(reply) => {
                let _ = reply.send(Ok(self.status()));
            }
            Command::Balances(account, reply) => {
                let _ = reply.send(self.balances(account));
            }
            Command::Conflicts(reply) => {
                let ledger = self.core.ledger();
                let chain = ledger.chain_id();
                let views = ledger
                    .conflicts()
                    .iter()
                    .map(|c| ConflictView::new(c, ledger.proof(c).as_ref(), chain))
                    .collect();
                let _ = reply.send(Ok(views));
            }
            Command::Pay(payment, reply) => self.pay(payment, reply),
            Command::Mint(mint, reply) => {
                let _ = reply.send(self.mint(mint));
            }
            Command::Peers(reply) => {
                // Answered after this step, from the link's own counters.
                self.peer_requests.push(reply);
            }
            Command::Block(request, reply) => self.block_requests.push((request, reply)),
            Command::History(account, limit, reply) => {
                let _ = reply.send(Ok(self.history(account, limit)));
            }
        }
    }

    fn status(&self) -> StatusView {
        let ledger = self.core.ledger();
        StatusView {
            node: self.node.clone(),
            chain: ChainView {
                id: ledger.chain_id().to_hex(),
                name: ledger.spec().name.clone(),
            },
            records: ledger.len(),
            accounts: ledger.account_count(),
            conflicts: ledger.conflict_count(),
            orphans: ledger.orphan_count(),
            peers: self
                .lan
                .iter()
                .map(|l| ("lan".to_owned(), l.book.len()))
                .collect(),
            lan: self.lan.as_ref().map(|l| crate::api::LanView {
                peer: l.handle.local_peer_id().to_string(),
                listen: l.listening.iter().map(|a| a.to_string()).collect(),
            }),
            state_digest: hex::encode(ledger.state_digest()),
            wallets: self
                .core
                .wallets()
                .map(|w| WalletView {
                    name: self.names.get(&w.account()).cloned().unwrap_or_default(),
                    account: w.account().to_hex(),
                })
                .collect(),
        }
    }

    fn balances(&self, account: Option<AccountId>) -> Result<Vec<BalanceView>, ApiError> {
        let ledger = self.core.ledger();
        let accounts: Vec<AccountId> = match account {
            Some(a) => vec![a],
            None => self.core.wallets().map(|w| w.account()).collect(),
        };
        accounts
            .iter()
            .map(|a| {
                let view = ledger
                    .account(a)
                    .ok_or_else(|| ApiError::UnknownAccount(a.to_hex()))?;
                let spendable = self.core.wallet(a).map_or(0, |w| w.spendable(ledger));
                Ok(BalanceView::new(
                    &view,
                    self.names.get(a).cloned(),
                    spendable,
                ))
            })
            .collect()
    }

    /// Money in and out of `account` (or of every wallet here), the payments this node
    /// learned of last first. Reads only those accounts' records, not the whole ledger.
    fn history(&self, account: Option<AccountId>, limit: usize) -> Vec<HistoryEntry> {
        use meshpay_protocol::Kind;
        let ledger = self.core.ledger();
        let mine: Vec<AccountId> = match account {
            Some(a) => vec![a],
            None => self.core.wallets().map(|w| w.account()).collect(),
        };
        let mut out = Vec::new();
        for r in ledger.payments_of(&mine) {
            let body = r.body();
            let (to, amount, memo, kind) = match &body.kind {
                Kind::Transfer(t) => (t.to, t.amount, t.memo.clone(), "transfer"),
                Kind::Mint(m) => (Some(m.to), m.amount, m.memo.clone(), "mint"),
                _ => continue,
            };
            let status = ledger
                .status(&r.id())
                .map_or("unknown", |s| s.label())
                .to_owned();
            for a in &mine {
                let direction = if body.signer == *a && amount > 0 {
                    Direction::Out
                } else if to == Some(*a) {
                    Direction::In
                } else {
                    continue;
                };
                out.push(HistoryEntry {
                    id: r.id().to_hex(),
                    account: a.to_hex(),
                    seq: body.seq,
                    kind: kind.to_owned(),
                    direction,
                    counterparty: match direction {
                        Direction::Out => to.map(|t| t.to_hex()),
                        Direction::In => Some(body.signer.to_hex()),
                    },
                    amount,
                    memo: (!memo.is_empty()).then(|| memo.clone()),
                    status: status.clone(),
                    void_reason: None,
                });
            }
            if out.len() >= limit {
                break;
            }
        }
        out.truncate(limit);
        out
    }

    fn payer(&self, from: Option<Payer>) -> Result<AccountId, ApiError> {
        match from {
            Some(Payer::Account(a)) if self.core.wallet(&a).is_some() => Ok(a),
            Some(Payer::Account(a)) => Err(ApiError::UnknownAccount(a.to_hex())),
            Some(Payer::Wallet(name)) => self
                .names
                .iter()
                .find(|(_, n)| **n == name)
                .map(|(a, _)| *a)
                .ok_or(ApiError::UnknownWallet(name)),
            None => self
                .core
                .wallets()
                .next()
                .map(|w| w.account())
                .ok_or_else(|| ApiError::UnknownWallet("(this node holds none)".into())),
        }
    }

    fn pay(&mut self, payment: Payment, reply: Reply<PayReceipt>) {
        let since = Instant::now();
        let from = match self.payer(payment.from) {
            Ok(a) => a,
            Err(e) => {
                let _ = reply.send(Err(e));
                return;
            }
        };
        let signed = self.core.pay(
            now_ms(),
            from,
            payment.to,
            payment.amount,
            None,
            &payment.memo,
        );
        match signed {
            Ok(s) => self.waiting.push(Waiting {
                id: s.id,
                receipt: PayReceipt {
                    id: s.id.to_hex(),
                    seq: s.seq,
                    from: from.to_hex(),
                    to: payment.to.to_hex(),
                    amount: payment.amount,
                },
                reply,
                since,
            }),
            Err(meshpay_protocol::node::PayError::Wallet(e)) => {
                let _ = reply.send(Err(ApiError::from(e)));
            }
            Err(meshpay_protocol::node::PayError::NoWallet(a)) => {
                let _ = reply.send(Err(ApiError::UnknownAccount(a.to_hex())));
            }
        }
    }
}

impl Handle {
    async fn ask<T>(&self, make: impl FnOnce(Reply<T>) -> Command) -> Result<T, ApiError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(make(tx))
            .await
            .map_err(|_| ApiError::Unavailable("the node is shutting down".into()))?;
        rx.await
            .map_err(|_| ApiError::Unavailable("the node is shutting down".into()))?
    }
}

impl Backend for Handle {
    async fn status(&self) -> Result<StatusView, ApiError> {
        self.ask(Command::Status).await
    }

    async fn balance(&self, account: Option<AccountId>) -> Result<Vec<BalanceView>, ApiError> {
        self.ask(|r| Command::Balances(account, r)).await
    }

    async fn history(
        &self,
        account: Option<AccountId>,
        limit: usize,
    ) -> Result<Vec<HistoryEntry>, ApiError> {
        self.ask(|r| Command::History(account, limit, r)).await
    }

    async fn conflicts(&self) -> Result<Vec<ConflictView>, ApiError> {
        self.ask(Command::Conflicts).await
    }

    async fn peers(&self) -> Result<Vec<PeerView>, ApiError> {
        self.ask(Command::Peers).await
    }

    async fn mint(&self, mint: Mint) -> Result<PayReceipt, ApiError> {
        self.ask(|r| Command::Mint(mint, r)).await
    }

    async fn block(&self, request: BlockRequest) -> Result<(), ApiError> {
        self.ask(|r| Command::Block(request, r)).await
    }

    async fn pay(&self, payment: Payment) -> Result<PayReceipt, ApiError> {
        self.ask(|r| Command::Pay(payment, r)).await
    }

    async fn metrics_text(&self) -> Result<String, ApiError> {
        Ok(self.metrics.encode())
    }
}

/// An issuer key and where its chain stands: the seq it signs at next and its last
/// record, which that record names.
struct IssuerSlot {
    key: ed25519_dalek::SigningKey,
    next: u64,
    prev: Option<RecordId>,
}

/// An issuer's next seq, written to the store in its own synced write before the record
/// it numbers is signed (DESIGN §2: a seq is durable before its record leaves the node).
struct StoreSeqs<'a>(&'a mut Store);

impl SeqStore for StoreSeqs<'_> {
    type Error = StoreError;

    fn persist_next_seq(&mut self, account: &AccountId, next: u64) -> Result<(), StoreError> {
        let mut set = WriteSet::new();
        set.next_seq(*account, next);
        self.0.write(&set)
    }
}

/// Whether a peer's fault is hostile (garbage, oversize, broken bounds) rather than what
/// an honest peer may cause (a stale session, a timeout, a refusal, asking faster than
/// this node answers): hostile peers are cut by the link and refused for its
/// misbehaviour backoff; the rest is the engine's own penalty.
fn is_hostile(fault: &PeerFault) -> bool {
    match fault {
        PeerFault::Frame(_) => true,
        PeerFault::Sync(e) => matches!(
            e,
            SyncError::Oversized { .. } | SyncError::Undecodable(_) | SyncError::Invalid(_)
        ),
    }
}

/// The link task stopped: the node answers, but not for the link.
fn link_unavailable(e: LanError) -> ApiError {
    ApiError::Unavailable(format!("the LAN link: {e}"))
}

/// The next LAN event, or never when no link is attached.
async fn next_lan_event(lan: &mut Option<LanPort>) -> Option<LanEvent> {
    match lan {
        Some(port) => port.next_event().await,
        None => std::future::pending().await,
    }
}
