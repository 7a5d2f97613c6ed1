//! The world: nodes, network, accounts and the event loop that drives them over the
//! virtual clock — ticks (timeouts and transmissions), frame deliveries, payments, the
//! double spend and partition changes — recording what the report and invariants need.

use std::collections::{BTreeMap, BTreeSet};

use meshpay_protocol::issuer::Issuer;
use meshpay_protocol::ledger::Changes;
use meshpay_protocol::record::account_of;
use meshpay_protocol::sync::Event;
use meshpay_protocol::wallet::Wallet;
use meshpay_protocol::{AccountId, ChainSpec, Ledger, RecordId, policy, wire};
use rand_chacha::ChaCha8Rng;
use rand_core::Rng;

use crate::clock::Clock;
use crate::network::{Frame, Network};
use crate::node::Node;
use crate::scenario::{Action, LinkKind, Scenario};
use crate::seeds;
use crate::trace::Trace;

/// Messages drained from one engine for one peer per poll (the rest wait a tick).
const MAX_MESSAGES_PER_POLL: usize = 64;
/// How often the cheap invariants (conservation, convergence) are checked, in ms.
const CHECK_EVERY_MS: u64 = 1_000;
/// Medium ids start here so they never collide with node ids used as LAN peer ids.
const MEDIUM_BASE: u64 = 1 << 32;
/// Key index of the issuer; accounts follow.
const ISSUER_KEY: u64 = 0;
/// Milliseconds per minute, for the payment rate.
const MS_PER_MINUTE: u64 = 60_000;

/// What happens on the clock.
enum Ev {
    /// Poll every engine: timeouts and transmissions; check invariants cheaply.
    Tick,
    /// A frame arrives.
    Deliver(Frame),
    /// An honest payment is attempted.
    Payment,
    /// The double spender pays on each side.
    DoubleSpend,
    /// The partition changes.
    Partition(Action),
}

/// An honest account: its wallet lives on one node.
pub struct Account {
    /// The account.
    pub id: AccountId,
    /// Its node.
    pub node: usize,
    /// Its wallet (taken out only while it pays).
    pub wallet: Option<Wallet>,
}

/// What a run records as it goes.
#[derive(Default)]
pub struct Tally {
    /// Payments attempted (requests issued).
    pub attempted: u64,
    /// Payments the payee accepted.
    pub accepted: u64,
    /// Payments refused, by the policy rule.
    pub refused: BTreeMap<String, u64>,
    /// Payments the payer's wallet would not build, by reason.
    pub not_built: BTreeMap<String, u64>,
    /// Amounts of the double spender's accepted payments.
    pub double_spend_accepted: Vec<u64>,
    /// Double-spend attempts refused, by rule.
    pub double_spend_refused: BTreeMap<String, u64>,
    /// When each node first learned of each fork: (account, seq) -> node -> ms.
    pub conflict_learned: BTreeMap<(AccountId, u64), BTreeMap<usize, u64>>,
    /// First time after the last heal at which all nodes showed one digest.
    pub converged_at: Option<u64>,
    /// First conservation failure seen during the run: (time, node, message).
    pub conservation_failure: Option<(u64, usize, String)>,
}

/// A running simulation.
pub struct World {
    /// The scenario.
    pub scenario: Scenario,
    /// The seed.
    pub seed: u64,
    /// The nodes.
    pub nodes: Vec<Node>,
    /// The network.
    pub network: Network,
    /// The honest accounts.
    pub accounts: Vec<Account>,
    /// The double spender's account and its two wallets (node, wallet).
    pub double_spender: Option<(AccountId, Vec<(usize, Wallet)>)>,
    /// The trace hash.
    pub trace: Trace,
    /// What happened.
    pub tally: Tally,
    clock: Clock<Ev>,
    rng: ChaCha8Rng,
}

impl World {
    /// Builds the world of `scenario` under `seed`: nodes, links, accounts, mints.
    pub fn new(scenario: Scenario, seed: u64) -> Self {
        let issuer_key = seeds::account_key(seed, ISSUER_KEY);
        let spec = ChainSpec {
            name: format!("sim-{}", scenario.name),
            issuers: vec![account_of(&issuer_key)],
            limits: scenario.limits(),
        };
        let mut network = Network::new(&scenario);
        let mut nodes: Vec<Node> = (0..scenario.node_count())
            .map(|i| {
                let ledger = Ledger::new(spec.clone()).expect("the simulator's spec is valid");
                Node::new(i, network.group_of(i), ledger, seeds::verify_rng(seed, i))
            })
            .collect();
        let mut first = 0;
        let mut gateways = Vec::new();
        for (g, group) in scenario.groups.iter().enumerate() {
            let members: Vec<usize> = (first..first + group.nodes).collect();
            gateways.push(first);
            match group.link {
                LinkKind::Lan => {
                    for &a in &members {
                        for &b in members.iter().filter(|&&b| b != a) {
                            nodes[a]
                                .engine(LinkKind::Lan, seeds::engine_seed(seed, a, 0))
                                .add_peer(0, b as u64);
                        }
                    }
                }
                LinkKind::Lora => {
                    let medium = MEDIUM_BASE + g as u64;
                    for &a in &members {
                        nodes[a].medium = Some(medium);
                        nodes[a]
                            .engine(LinkKind::Lora, seeds::engine_seed(seed, a, 1))
                            .add_medium(0, medium);
                    }
                    network.add_medium(medium, members);
                }
            }
            first += group.nodes;
        }
        // The backbone: gateways (each group's first node) on LAN links to each other.
        for &a in &gateways {
            for &b in gateways.iter().filter(|&&b| b != a) {
                nodes[a]
                    .engine(LinkKind::Lan, seeds::engine_seed(seed, a, 0))
                    .add_peer(0, b as u64);
            }
        }
        let mut world = World {
            rng: seeds::sim_rng(seed),
            scenario,
            seed,
            nodes,
            network,
            accounts: Vec::new(),
            double_spender: None,
            trace: Trace::default(),
            tally: Tally::default(),
            clock: Clock::default(),
        };
        world.open_accounts(&spec, issuer_key);
        world.schedule_start();
        world
    }

    /// Creates the wallets and mints their balances on node 0 (sync spreads them).
    fn open_accounts(&mut self, spec: &ChainSpec, issuer_key: ed25519_dalek::SigningKey) {
        let w = self.scenario.workload.clone();
        let mut key_index = ISSUER_KEY + 1;
        for node in 0..self.nodes.len() {
            for _ in 0..w.accounts_per_node {
                let key = seeds::account_key(self.seed, key_index);
                key_index += 1;
                self.accounts.push(Account {
                    id: account_of(&key),
                    node,
                    wallet: Some(Wallet::new(key, spec, 1)),
                });
            }
        }
        let mut mints: Vec<(AccountId, u64)> = self
            .accounts
            .iter()
            .map(|a| (a.id, w.starting_balance))
            .collect();
        if let Some(d) = self.scenario.double_spend.clone() {
            // One key, two wallets: one on a node of group 0, one on a node of group 1,
            // each the group's last node (away from the gateway when the group allows).
            let key = seeds::account_key(self.seed, key_index);
            let id = account_of(&key);
            let sides = (0..2)
                .map(|g| {
                    let node = self
                        .group_nodes(g)
                        .last()
                        .copied()
                        .expect("groups are non-empty");
                    (node, Wallet::new(key.clone(), spec, 1))
                })
                .collect();
            self.double_spender = Some((id, sides));
            mints.push((id, d.balance));
        }
        let mut issuer = Issuer::new(issuer_key, spec, 1, None);
        let mut store = meshpay_protocol::wallet::MemorySeqStore::default();
        let records: Vec<wire::SignedRecord> = mints
            .into_iter()
            .map(|(to, amount)| {
                issuer
                    .mint(&mut store, to, amount, "", 0)
                    .expect("minting within bounds")
            })
            .collect();
        self.apply(0, records, None);
    }

    fn group_nodes(&self, group: usize) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|&n| self.network.group_of(n) == group)
            .collect()
    }

    fn schedule_start(&mut self) {
        self.clock.schedule(0, Ev::Tick);
        for e in self.scenario.events.clone() {
            self.clock.schedule(e.at_s * 1_000, Ev::Partition(e.action));
        }
        if let Some(d) = &self.scenario.double_spend {
            self.clock.schedule(d.at_s * 1_000, Ev::DoubleSpend);
        }
        let start = self.scenario.workload.start_s * 1_000;
        self.schedule_payment(start);
    }

    /// The workload stops `settle_s` before the end, so the network can settle.
    fn workload_end_ms(&self) -> u64 {
        self.scenario
            .duration_s
            .saturating_sub(self.scenario.settle_s)
            * 1_000
    }

    fn schedule_payment(&mut self, after: u64) {
        let rate = self.scenario.workload.payments_per_minute;
        if rate == 0 {
            return;
        }
        // Uniform gaps around the mean keep the rate without floating point.
        let mean = MS_PER_MINUTE / rate;
        let gap = 1 + self.rng.next_u64() % (2 * mean.max(1));
        let at = after + gap;
        if at < self.workload_end_ms() {
            self.clock.schedule(at, Ev::Payment);
        }
    }

    /// Runs to the end of the scenario.
    pub fn run(&mut self) {
        let end = self.scenario.duration_s * 1_000;
        while let Some(ev) = self.clock.next_until(end) {
            let now = self.clock.now();
            match ev {
                Ev::Tick => {
                    self.tick(now);
                    self.clock.schedule(now + self.scenario.tick_ms, Ev::Tick);
                }
                Ev::Deliver(frame) => self.deliver(now, frame),
                Ev::Payment => {
                    self.payment(now);
                    self.schedule_payment(now);
                }
                Ev::DoubleSpend => self.double_spend(now),
                Ev::Partition(a) => self.network.split = a == Action::Split,
            }
        }
    }

    /// Virtual time now.
    pub fn now(&self) -> u64 {
        self.clock.now()
    }

    fn tick(&mut self, now: u64) {
        for i in 0..self.nodes.len() {
            let kinds: Vec<LinkKind> = self.nodes[i].engines.keys().copied().collect();
            for kind in kinds {
                let node = &mut self.nodes[i];
                let engine = node.engines.get_mut(&kind).expect("listed");
                if engine.poll_timeout().is_some_and(|t| t <= now) {
                    let events = engine.handle_timeout(now, &node.ledger);
                    self.events(now, i, kind, events);
                }
            }
            self.pump(now, i);
        }
        if now % CHECK_EVERY_MS < self.scenario.tick_ms {
            self.check(now);
        }
    }

    /// Cheap checks during the run: conservation everywhere, convergence after a heal.
    fn check(&mut self, now: u64) {
        if self.tally.conservation_failure.is_none() {
            for n in &self.nodes {
                if n.ledger.holds_checkpoint_heads() {
                    if let Err(e) = n.ledger.check_conservation() {
                        self.tally.conservation_failure = Some((now, n.index, e.to_string()));
                        break;
                    }
                }
            }
        }
        let healed = self
            .scenario
            .last_heal_ms()
            .is_some_and(|h| now >= h && !self.network.split);
        if healed && self.tally.converged_at.is_none() {
            let d0 = self.nodes[0].ledger.state_digest();
            if self.nodes.iter().all(|n| n.ledger.state_digest() == d0) {
                self.tally.converged_at = Some(now);
            }
        }
    }

    /// Moves what node `i`'s engines want to send onto the network.
    fn pump(&mut self, now: u64, i: usize) {
        let mut sends = Vec::new();
        let kinds: Vec<LinkKind> = self.nodes[i].engines.keys().copied().collect();
        for kind in kinds {
            let node = &mut self.nodes[i];
            let engine = node.engines.get_mut(&kind).expect("listed");
            match kind {
                LinkKind::Lan => {
                    let peers: Vec<u64> = engine.peers().collect();
                    for peer in peers {
                        for _ in 0..MAX_MESSAGES_PER_POLL {
                            let Some(msg) =
                                engine.poll_transmit(now, peer, usize::MAX, &node.ledger)
                            else {
                                break;
                            };
                            sends.extend(self.network.send_lan(
                                now,
                                i,
                                peer as usize,
                                &msg,
                                &mut self.rng,
                            ));
                        }
                    }
                }
                LinkKind::Lora => {
                    // The radio sends one message at a time: ask only when the channel
                    // is free, so airtime paces the engine.
                    let medium = node.medium.expect("a LoRa engine has a medium");
                    if self.network.medium_free(medium, now) {
                        if let Some(msg) =
                            engine.poll_transmit(now, medium, usize::MAX, &node.ledger)
                        {
                            sends.extend(self.network.send_lora(
                                now,
                                i,
                                medium,
                                &msg,
                                &mut self.rng,
                            ));
                        }
                    }
                }
            }
            let events = self.nodes[i]
                .engines
                .get_mut(&kind)
                .expect("listed")
                .take_events();
            self.events(now, i, kind, events);
        }
        for (at, frame) in sends {
            self.clock.schedule(at, Ev::Deliver(frame));
        }
    }

    fn deliver(&mut self, now: u64, frame: Frame) {
        if !self.network.reachable(frame.from, frame.to) {
            self.network.count_cut(frame.kind);
            return;
        }
        let to = frame.to;
        let Ok(Some(msg)) =
            self.nodes[to]
                .reassembler(frame.kind)
                .push(now, frame.from as u64, &frame.bytes)
        else {
            return;
        };
        self.trace.message(now, frame.from, to, &msg);
        let node = &mut self.nodes[to];
        let Some(engine) = node.engines.get_mut(&frame.kind) else {
            return;
        };
        let events = match frame.medium {
            Some(m) => engine.handle_medium(now, m, frame.from as u64, &msg, &node.ledger),
            None => engine.handle(now, frame.from as u64, &msg, &node.ledger),
        };
        self.events(now, to, frame.kind, events);
        self.pump(now, to);
    }

    fn events(&mut self, now: u64, i: usize, kind: LinkKind, events: Vec<Event>) {
        for e in events {
            if let Event::Received { peer, records } = e {
                self.apply_at(now, i, records, Some((kind, peer)));
            }
        }
    }

    fn apply(
        &mut self,
        i: usize,
        records: Vec<wire::SignedRecord>,
        source: Option<(LinkKind, u64)>,
    ) {
        let now = self.clock.now();
        self.apply_at(now, i, records, source);
    }

    /// Merges records at node `i` and tells its engines (the source's engine skips the
    /// source); notes forks the node learns of.
    fn apply_at(
        &mut self,
        now: u64,
        i: usize,
        records: Vec<wire::SignedRecord>,
        source: Option<(LinkKind, u64)>,
    ) -> Changes {
        let node = &mut self.nodes[i];
        let changes = node.ledger.merge(records, &mut node.verify_rng);
        for (kind, engine) in node.engines.iter_mut() {
            let from = source.filter(|(k, _)| k == kind).map(|(_, p)| p);
            engine.on_merged(from, &changes, &node.ledger);
        }
        if !changes.added.is_empty() {
            let digest = node.ledger.state_digest();
            self.trace.merge(now, i, &digest);
        }
        for c in &changes.conflicts {
            self.tally
                .conflict_learned
                .entry(*c)
                .or_default()
                .entry(i)
                .or_insert(now);
        }
        changes
    }

    fn reachable_accounts(&self, payer: usize, exclude: AccountId) -> Vec<usize> {
        let node = self.accounts[payer].node;
        (0..self.accounts.len())
            .filter(|&a| a != payer && self.accounts[a].id != exclude)
            .filter(|&a| self.network.reachable(node, self.accounts[a].node))
            .collect()
    }

    fn payment(&mut self, now: u64) {
        let payer = (self.rng.next_u64() % self.accounts.len() as u64) as usize;
        let payer_id = self.accounts[payer].id;
        let payees = self.reachable_accounts(payer, payer_id);
        if payees.is_empty() {
            return;
        }
        let payee = payees[(self.rng.next_u64() % payees.len() as u64) as usize];
        let w = &self.scenario.workload;
        let amount = w.min_amount + self.rng.next_u64() % (w.max_amount - w.min_amount + 1);
        let payer_node = self.accounts[payer].node;
        let (payee_id, payee_node) = (self.accounts[payee].id, self.accounts[payee].node);
        self.tally.attempted += 1;
        let mut wallet = self.accounts[payer].wallet.take().expect("not paying");
        let result = self.pay(now, &mut wallet, payer_node, payee_id, payee_node, amount);
        self.accounts[payer].wallet = Some(wallet);
        match result {
            Ok(_) => self.tally.accepted += 1,
            Err(PayFailure::NotBuilt(reason)) => {
                *self.tally.not_built.entry(reason).or_default() += 1;
            }
            Err(PayFailure::Refused(rule)) => {
                *self.tally.refused.entry(rule).or_default() += 1;
            }
        }
    }

    fn double_spend(&mut self, now: u64) {
        let Some((id, mut sides)) = self.double_spender.take() else {
            return;
        };
        let amount = self.scenario.double_spend.as_ref().map_or(0, |d| d.amount);
        for (node, wallet) in sides.iter_mut() {
            // The payee: the first honest account on another node of this side.
            let group = self.network.group_of(*node);
            let Some(payee) = self
                .accounts
                .iter()
                .find(|a| a.node != *node && self.network.group_of(a.node) == group)
                .or_else(|| {
                    self.accounts
                        .iter()
                        .find(|a| self.network.group_of(a.node) == group)
                })
                .map(|a| (a.id, a.node))
            else {
                continue;
            };
            match self.pay(now, wallet, *node, payee.0, payee.1, amount) {
                Ok(a) => self.tally.double_spend_accepted.push(a),
                Err(PayFailure::NotBuilt(r) | PayFailure::Refused(r)) => {
                    *self.tally.double_spend_refused.entry(r).or_default() += 1;
                }
            }
        }
        self.double_spender = Some((id, sides));
    }

    /// The payment protocol at the last meter: the payee issues a request, the payer's
    /// wallet pays it on the payer's node, the payer hands the payment with its proof
    /// bundle to the payee's node, which merges it and decides.
    fn pay(
        &mut self,
        now: u64,
        wallet: &mut Wallet,
        payer_node: usize,
        payee: AccountId,
        payee_node: usize,
        amount: u64,
    ) -> Result<u64, PayFailure> {
        let mut nonce = [0u8; 16];
        self.rng.fill_bytes(&mut nonce);
        self.nodes[payee_node].book.issue(nonce, amount);
        let node = &mut self.nodes[payer_node];
        let record = wallet
            .pay(
                &node.ledger,
                &mut node.store,
                payee,
                amount,
                Some(nonce),
                "",
                now,
            )
            .map_err(|e| PayFailure::NotBuilt(wallet_reason(&e)))?;
        let id = RecordId::of_body(&record.body);
        self.apply(payer_node, vec![record], None);
        if payee_node != payer_node {
            let have = &self.nodes[payee_node].ledger;
            let bundle: Vec<wire::SignedRecord> = self.nodes[payer_node]
                .ledger
                .closure(&id, |r| have.contains(r))
                .into_iter()
                .map(|r| r.to_signed())
                .collect();
            self.apply(payee_node, bundle, None);
        }
        let node = &mut self.nodes[payee_node];
        policy::accept(&node.ledger, &id, &payee, &mut node.book)
            .map(|a| a.amount)
            .map_err(|r| PayFailure::Refused(refusal_rule(&r)))
    }

    /// Node indices grouped by who can reach whom now.
    pub fn components(&self) -> Vec<Vec<usize>> {
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        for a in 0..self.nodes.len() {
            if seen.contains(&a) {
                continue;
            }
            let comp: Vec<usize> = (0..self.nodes.len())
                .filter(|&b| self.network.reachable(a, b))
                .collect();
            seen.extend(comp.iter().copied());
            out.push(comp);
        }
        out
    }
}

/// Why a payment did not go through.
enum PayFailure {
    /// The wallet would not build it.
    NotBuilt(String),
    /// The payee's policy refused it, by rule.
    Refused(String),
}

fn wallet_reason(e: &meshpay_protocol::wallet::WalletError) -> String {
    use meshpay_protocol::wallet::WalletError as E;
    match e {
        E::Frozen => "frozen",
        E::Unmerged { .. } => "unmerged",
        E::Insufficient { .. } => "insufficient",
        E::Limit(_) => "offline_limit",
        E::NothingToDo => "nothing_to_do",
        E::PaysItself => "pays_itself",
        E::MemoTooLong => "memo_too_long",
        E::Store(_) => "store",
    }
    .to_owned()
}

fn refusal_rule(r: &policy::Refusal) -> String {
    serde_json::to_value(r)
        .ok()
        .and_then(|v| v.get("rule").and_then(|s| s.as_str()).map(str::to_owned))
        .unwrap_or_else(|| "unknown".to_owned())
}
