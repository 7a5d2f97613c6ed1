//! The actor and its handle: commands in, the node core stepped, batches persisted.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use meshpay_protocol::node::{NodeCore, NodeEvent};
use meshpay_protocol::{AccountId, RecordId};
use tokio::sync::{mpsc, oneshot};

use crate::api::{
    ApiError, Backend, BalanceView, ChainView, ConflictView, Direction, HistoryEntry, PayReceipt,
    Payer, Payment, PeerView, StatusView, WalletView,
};
use crate::metrics::Metrics;
use crate::store::{Store, WriteSet};

/// Commands queued for the actor before senders wait.
const COMMAND_QUEUE: usize = 256;
/// How soon a failed store write is tried again, ms.
const STORE_RETRY_MS: u64 = 500;

type Reply<T> = oneshot::Sender<Result<T, ApiError>>;

/// What the API and the links ask of the actor.
enum Command {
    Status(Reply<StatusView>),
    Balances(Option<AccountId>, Reply<Vec<BalanceView>>),
    Conflicts(Reply<Vec<ConflictView>>),
    History(Option<AccountId>, usize, Reply<Vec<HistoryEntry>>),
    Pay(Payment, Reply<PayReceipt>),
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
        };
        (
            actor,
            Handle {
                commands: tx,
                metrics,
            },
        )
    }

    /// Runs until every handle is dropped; returns the store and core for a clean close.
    pub async fn run(mut self) -> (NodeCore, Store) {
        loop {
            let mut timeout = self.core.poll_timeout();
            if self.unwritten.is_some() {
                let retry = now_ms() + STORE_RETRY_MS;
                timeout = Some(timeout.map_or(retry, |t| t.min(retry)));
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
            }
            self.persist();
            self.events();
        }
        self.persist();
        self.events();
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
                }
                _ => {}
            }
        }
        let ledger = self.core.ledger();
        self.metrics.set_ledger(
            ledger.len(),
            ledger.accounts().len(),
            ledger.conflicts().len(),
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
            accounts: ledger.accounts().len(),
            conflicts: ledger.conflicts().len(),
            orphans: ledger.orphan_count(),
            peers: BTreeMap::new(),
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

    /// Money in and out of `account` (or of every wallet here), newest first.
    fn history(&self, account: Option<AccountId>, limit: usize) -> Vec<HistoryEntry> {
        use meshpay_protocol::Kind;
        let ledger = self.core.ledger();
        let mine: Vec<AccountId> = match account {
            Some(a) => vec![a],
            None => self.core.wallets().map(|w| w.account()).collect(),
        };
        let mut out = Vec::new();
        for r in ledger.records_in_dependency_order().into_iter().rev() {
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

    /// No link is attached to the actor yet, so it has no peers to list.
    async fn peers(&self) -> Result<Vec<PeerView>, ApiError> {
        Ok(Vec::new())
    }

    async fn pay(&self, payment: Payment) -> Result<PayReceipt, ApiError> {
        self.ask(|r| Command::Pay(payment, r)).await
    }

    async fn metrics_text(&self) -> Result<String, ApiError> {
        Ok(self.metrics.encode())
    }
}
