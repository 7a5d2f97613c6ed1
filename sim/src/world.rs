//! The world: nodes, network, accounts and the event loop that drives them over the
//! virtual clock — ticks (timeouts, transmissions, durable writes), frame deliveries,
//! payments, the double spend, partition changes, crashes and restarts, mobile relays
//! and attackers — recording what the report and invariants need.

use std::collections::{BTreeMap, BTreeSet};

use meshpay_protocol::issuer::Issuer;
use meshpay_protocol::ledger::Changes;
use meshpay_protocol::node::{NodeEvent, PayError, PeerFault};
use meshpay_protocol::radio::duty::{DutyCycle, EU868_WINDOW_MS, PPM};
use meshpay_protocol::record::account_of;
use meshpay_protocol::wallet::Wallet;
use meshpay_protocol::{AccountId, ChainSpec, Ledger, RecordId, policy, wire};
use rand_chacha::ChaCha8Rng;
use rand_core::Rng;

use crate::attack::{AttackTally, Attacker};
use crate::clock::Clock;
use crate::network::{Frame, Network};
use crate::node::{Node, link_id, link_kind};
use crate::scenario::{Action, LinkKind, Scenario};
use crate::seeds;
use crate::trace::Trace;

/// Messages drained from one engine for one peer per poll (the rest wait a tick).
const MAX_MESSAGES_PER_POLL: usize = 64;
/// How often the cheap invariants (conservation, convergence) are checked, in ms.
const CHECK_EVERY_MS: u64 = 1_000;
/// Medium ids start here so they never collide with node ids used as LAN peer ids.
pub(crate) const MEDIUM_BASE: u64 = 1 << 32;
/// Key index of the issuer; accounts follow.
const ISSUER_KEY: u64 = 0;
/// The node holding the issuer's key (it mints, settles and revokes there).
const ISSUER_NODE: usize = 0;
/// Milliseconds per minute, for the payment rate.
const MS_PER_MINUTE: u64 = 60_000;
/// Up to this many groups the gateways form a full mesh (every shipped scenario has at
/// most four groups, and their traces were recorded on that topology). Beyond it, a
/// full mesh makes every gateway poll an engine per other gateway each tick — quadratic
/// in the group count — so the backbone becomes a ring with power-of-two chords.
const FULL_MESH_MAX_GROUPS: usize = 4;

/// What happens on the clock.
pub(crate) enum Ev {
    /// Poll every engine: timeouts and transmissions; check invariants cheaply.
    Tick,
    /// A frame arrives.
    Deliver(Frame),
    /// An honest payment is attempted.
    Payment,
    /// The double spender pays on each side.
    DoubleSpend,
    /// Scheduled event number n of the scenario (split, heal, crash, restart, move).
    Scheduled(usize),
    /// Attacker number n acts.
    Attack(usize),
    /// A node's radio tries to send the message in hand: (node, attempt number).
    Transmit(usize, u64),
    /// The issuer settles the accounts whose chains moved.
    Settle,
}

/// An honest account: its wallet lives on one node.
pub struct Account {
    /// The account.
    pub id: AccountId,
    /// Its node (whose core holds its wallet).
    pub node: usize,
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
    /// Seqs the double spender signed, one per side that built a record: a seq signed on
    /// both sides is a fork every node must come to know, whatever the ledgers report.
    pub double_spend_signed: Vec<u64>,
    /// When each node first learned of each fork: (account, seq) -> node -> ms.
    pub conflict_learned: BTreeMap<(AccountId, u64), BTreeMap<usize, u64>>,
    /// First time after the last heal at which all nodes showed one digest.
    pub converged_at: Option<u64>,
    /// First conservation failure seen during the run: (time, node, message).
    pub conservation_failure: Option<(u64, usize, String)>,
    /// Node crashes.
    pub crashes: u64,
    /// Node restarts.
    pub restarts: u64,
    /// Moves of mobile relays between groups.
    pub moves: u64,
    /// Checkpoints the issuer signed.
    pub settlements: u64,
    /// Revocations the issuer signed.
    pub revocations: u64,
    /// Records merged but not yet durable when their node crashed: never acknowledged,
    /// so losing them is within the contract (sync brings them back).
    pub unwritten_lost: u64,
    /// Acknowledged records checked after restarts.
    pub acknowledged_checked: u64,
    /// Acknowledged records missing from a ledger after its restart (must be 0).
    pub acknowledged_lost: u64,
    /// Accepted payments missing from their payee's ledger at the end (must be 0).
    pub accepted_lost: u64,
    /// Frames that reached a crashed node.
    pub dropped_at_crashed: u64,
    /// Peer errors the honest engines reported (attackers' included).
    pub peer_errors: u64,
    /// Storage per node at the end of the run.
    pub storage: Vec<NodeStorage>,
    /// One entry per attacker.
    pub attacks: Vec<AttackTally>,
    /// Payments accepted: (payee node, record), for the end-of-run check.
    accepted_ids: Vec<(usize, RecordId)>,
}

/// What one node holds at the end of a run.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct NodeStorage {
    /// Records in its ledger.
    pub records: usize,
    /// Their bytes, as they travel.
    pub bytes: u64,
    /// Records in its durable store.
    pub durable_records: usize,
    /// Bytes in its durable store.
    pub durable_bytes: u64,
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
    /// The double spender's account and the two nodes holding a wallet of its key.
    pub double_spender: Option<(AccountId, Vec<usize>)>,
    /// The trace hash.
    pub trace: Trace,
    /// What happened.
    pub tally: Tally,
    /// Each group's first node, joined to the others by the backbone.
    pub gateways: Vec<usize>,
    /// For each gateway (by group), the groups whose gateways it links to, ascending.
    pub backbone: Vec<Vec<usize>>,
    /// Events taken off the clock so far.
    pub events_processed: u64,
    /// The hostile nodes (outside `nodes`: the invariants are about honest ones).
    pub attackers: Vec<Attacker>,
    /// The network's genesis spec.
    pub(crate) spec: ChainSpec,
    /// The issuer, whose key lives on node 0, and where it persists its next seq.
    issuer: (Issuer, meshpay_protocol::wallet::MemorySeqStore),
    /// Accounts the issuer revoked.
    revoked: BTreeSet<AccountId>,
    pub(crate) clock: Clock<Ev>,
    rng: ChaCha8Rng,
    /// Test-only: a ledger rule every node's ledger breaks, so the checks must fail.
    #[cfg(test)]
    pub(crate) fault: Option<meshpay_protocol::ledger::Fault>,
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
        let network = Network::new(&scenario);
        let nodes: Vec<Node> = (0..scenario.node_count())
            .map(|i| {
                let ledger = Ledger::new(spec.clone()).expect("the simulator's spec is valid");
                let mut node =
                    Node::new(i, network.group_of(i), ledger, seeds::verify_rng(seed, i));
                if let Some(d) = scenario.lora.duty_cycle_per_mille {
                    let duty = DutyCycle::new(EU868_WINDOW_MS, d * (PPM / 1_000))
                        .expect("validated: 1..=1000 per mille");
                    node.core.set_duty_cycle(link_id(LinkKind::Lora), duty);
                }
                node
            })
            .collect();
        let mut first = 0;
        let mut gateways = Vec::new();
        for group in &scenario.groups {
            gateways.push(first);
            first += group.nodes;
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
            backbone: backbone(gateways.len()),
            gateways,
            events_processed: 0,
            attackers: Vec::new(),
            spec: spec.clone(),
            issuer: (
                Issuer::new(issuer_key.clone(), &spec, 1, None),
                Default::default(),
            ),
            revoked: BTreeSet::new(),
            clock: Clock::default(),
            #[cfg(test)]
            fault: None,
        };
        world.add_attackers();
        for i in 0..world.nodes.len() {
            world.connect(i, 0);
        }
        world.open_accounts();
        world.schedule_start();
        world
    }

    /// Creates the wallets and mints their balances on node 0 (sync spreads them).
    fn open_accounts(&mut self) {
        let spec = &self.spec.clone();
        let w = self.scenario.workload.clone();
        let mut key_index = ISSUER_KEY + 1;
        for node in (0..self.nodes.len()).step_by(w.account_node_every) {
            for _ in 0..w.accounts_per_node {
                let key = seeds::account_key(self.seed, key_index);
                key_index += 1;
                self.accounts.push(Account {
                    id: account_of(&key),
                    node,
                });
                self.nodes[node].core.add_wallet(Wallet::new(key, spec, 1));
            }
        }
        let mut mints: Vec<(AccountId, u64)> = self
            .accounts
            .iter()
            .map(|a| (a.id, w.starting_balance))
            .collect();
        mints.extend(self.attacker_mints());
        if let Some(d) = self.scenario.double_spend.clone() {
            // One key, two wallets: one on a node of group 0, one on a node of group 1,
            // each the group's last node (away from the gateway when the group allows).
            let key = seeds::account_key(self.seed, key_index);
            let id = account_of(&key);
            let sides: Vec<usize> = (0..2)
                .map(|g| {
                    self.group_nodes(g)
                        .last()
                        .copied()
                        .expect("groups are non-empty")
                })
                .collect();
            for &node in &sides {
                self.nodes[node]
                    .core
                    .add_wallet(Wallet::new(key.clone(), spec, 1));
            }
            self.double_spender = Some((id, sides));
            mints.push((id, d.balance));
        }
        let (issuer, store) = &mut self.issuer;
        let records: Vec<wire::SignedRecord> = mints
            .into_iter()
            .map(|(to, amount)| {
                issuer
                    .mint(store, to, amount, "", 0)
                    .expect("minting within bounds")
            })
            .collect();
        self.apply(ISSUER_NODE, records);
    }

    /// The nodes in `group` now.
    pub(crate) fn group_nodes(&self, group: usize) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|&n| self.network.group_of(n) == group)
            .collect()
    }

    fn schedule_start(&mut self) {
        self.clock.schedule(0, Ev::Tick);
        for (n, e) in self.scenario.events.iter().enumerate() {
            self.clock.schedule(e.at_s * 1_000, Ev::Scheduled(n));
        }
        for (k, a) in self.scenario.attacker.iter().enumerate() {
            self.clock.schedule(a.start_s * 1_000, Ev::Attack(k));
        }
        if let Some(d) = &self.scenario.double_spend {
            self.clock.schedule(d.at_s * 1_000, Ev::DoubleSpend);
        }
        if let Some(every) = self.scenario.issuer.settle_every_s {
            self.clock.schedule(every * 1_000, Ev::Settle);
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
        self.run_until(self.duration_ms());
    }

    /// The scenario's length, ms.
    pub fn duration_ms(&self) -> u64 {
        self.scenario.duration_s * 1_000
    }

    /// Runs every event due at or before `until_ms` (capped at the scenario's end), so
    /// a caller can stop part way to look at the world and then go on: the events and
    /// their order are those of one uninterrupted run. Reaching the end also gathers
    /// the end-of-run figures.
    pub fn run_until(&mut self, until_ms: u64) {
        let duration = self.duration_ms();
        let end = until_ms.min(duration);
        while let Some(ev) = self.clock.next_until(end) {
            self.events_processed += 1;
            let now = self.clock.now();
            match ev {
                Ev::Tick => {
                    self.tick(now);
                    self.clock.schedule(now + self.scenario.tick_ms, Ev::Tick);
                }
                Ev::Deliver(frame) => self.deliver(now, frame),
                Ev::Transmit(i, attempt) => self.transmit(now, i, attempt),
                Ev::Settle => {
                    self.settle(now);
                    if let Some(every) = self.scenario.issuer.settle_every_s {
                        let next = now + every * 1_000;
                        if next < self.workload_end_ms() {
                            self.clock.schedule(next, Ev::Settle);
                        }
                    }
                }
                Ev::Payment => {
                    self.payment(now);
                    self.schedule_payment(now);
                }
                Ev::DoubleSpend => self.double_spend(now),
                Ev::Scheduled(n) => self.scheduled(now, n),
                Ev::Attack(k) => {
                    self.attack(now, k);
                    let a = &self.scenario.attacker[k];
                    let next = now + a.every_ms;
                    if next <= a.end_s * 1_000 {
                        self.clock.schedule(next, Ev::Attack(k));
                    }
                }
            }
        }
        if end == duration {
            self.finish();
        }
    }

    /// End-of-run figures: storage per node, accepted payments still held.
    fn finish(&mut self) {
        self.tally.storage = self
            .nodes
            .iter()
            .map(|n| {
                let (records, bytes) = n.ledger_size();
                let (durable_records, durable_bytes) = n.store_model.size();
                NodeStorage {
                    records,
                    bytes,
                    durable_records,
                    durable_bytes,
                }
            })
            .collect();
        self.tally.accepted_lost = self
            .tally
            .accepted_ids
            .iter()
            .filter(|(n, id)| !self.nodes[*n].ledger().contains(id))
            .count() as u64;
        self.tally.attacks = self.attackers.iter().map(|a| a.tally.clone()).collect();
    }

    fn scheduled(&mut self, now: u64, n: usize) {
        let e = self.scenario.events[n].clone();
        match e.action {
            Action::Split => match e.group {
                Some(g) => {
                    self.network.cut.insert(g);
                }
                None => self.network.split = true,
            },
            Action::Heal => {
                let healed: Vec<usize> = match e.group {
                    Some(g) => {
                        self.network.cut.remove(&g);
                        vec![g]
                    }
                    None => {
                        self.network.split = false;
                        self.network.cut.clear();
                        (0..self.gateways.len()).collect()
                    }
                };
                self.reconnect_backbone(now, &healed);
            }
            Action::Crash => {
                for i in self.scenario.event_nodes(&e) {
                    self.crash(i);
                }
            }
            Action::Restart => {
                for i in self.scenario.event_nodes(&e) {
                    self.restart(now, i);
                }
            }
            Action::Move => {
                if let (Some(i), Some(to)) = (e.node, e.to_group) {
                    self.move_node(now, i, to);
                }
            }
        }
    }

    /// Gives node `i` fresh engines for the group it is in now and (re)connects it: its
    /// group's LAN peers (which reconnect to it too) or its group's medium, the backbone
    /// if it is a gateway, and the attackers sitting in its group.
    fn connect(&mut self, i: usize, now: u64) {
        let g = self.network.group_of(i);
        let epoch = self.nodes[i].epoch;
        let seed = self.seed;
        self.nodes[i].core.close_links();
        self.nodes[i].medium = None;
        self.nodes[i].radio.reset();
        let link = self.scenario.groups[g].link;
        let mut peers: Vec<(LinkKind, usize)> = Vec::new();
        if link.is_unicast() {
            peers.extend(
                self.group_nodes(g)
                    .into_iter()
                    .filter(|&b| b != i)
                    .map(|b| (link, b)),
            );
            let outsiders = self.attackers.iter().filter(|a| a.group == g);
            let ids: Vec<u64> = outsiders.map(|a| a.index as u64).collect();
            let mtu = self.network.mtu(link);
            let node = &mut self.nodes[i];
            node.open_link(link, mtu, engine_seed(seed, i, link, epoch));
            for id in ids {
                node.core.peer_up(now, link_id(link), id);
            }
        } else {
            let medium = MEDIUM_BASE + g as u64;
            self.nodes[i].medium = Some(medium);
            let mtu = self.network.mtu(LinkKind::Lora);
            let node = &mut self.nodes[i];
            node.open_link(
                LinkKind::Lora,
                mtu,
                engine_seed(seed, i, LinkKind::Lora, epoch),
            );
            node.core.medium_up(now, link_id(LinkKind::Lora), medium);
            self.network.join_medium(medium, i);
        }
        if let Some(g) = self.gateways.iter().position(|&b| b == i) {
            peers.extend(
                self.backbone[g]
                    .iter()
                    .map(|&h| (LinkKind::Lan, self.gateways[h])),
            );
        }
        for (kind, b) in peers {
            let mtu = self.network.mtu(kind);
            self.nodes[i].open_link(kind, mtu, engine_seed(seed, i, kind, epoch));
            self.nodes[i].core.peer_up(now, link_id(kind), b as u64);
            // The peer sees the connection drop and come back: it reconciles at once.
            self.nodes[b].core.peer_up(now, link_id(kind), i as u64);
        }
    }

    /// The backbone links of the healed groups' gateways come back: both ends see the
    /// connection return and reconcile at once, as after any reconnection.
    fn reconnect_backbone(&mut self, now: u64, groups: &[usize]) {
        let mut links = BTreeSet::new();
        for &g in groups {
            for &h in &self.backbone[g] {
                links.insert((g.min(h), g.max(h)));
            }
        }
        for (g, h) in links {
            let (a, b) = (self.gateways[g], self.gateways[h]);
            if self.nodes[a].crashed || self.nodes[b].crashed {
                continue;
            }
            for (x, y) in [(a, b), (b, a)] {
                self.nodes[x]
                    .core
                    .peer_up(now, link_id(LinkKind::Lan), y as u64);
            }
        }
    }

    /// Node `i` dies: its ledger, engines, reassembly, request book and every record not
    /// yet durable are gone; its durable store and its wallets' seq store survive.
    fn crash(&mut self, i: usize) {
        if self.nodes[i].crashed {
            return;
        }
        self.tally.crashes += 1;
        let empty = self.empty_ledger();
        let node = &mut self.nodes[i];
        node.crashed = true;
        self.tally.unwritten_lost += node.store_model.crash() as u64;
        node.core.lose_memory(empty);
        node.digest = node.ledger().state_digest();
        node.radio.reset();
        // Its unicast peers see the connection drop.
        for n in &mut self.nodes {
            for kind in [LinkKind::Lan, LinkKind::Ble] {
                n.core.peer_down(link_id(kind), i as u64);
            }
        }
    }

    /// Node `i` comes back: its ledger rebuilt from its durable store (records it
    /// verified before, so trusted), fresh engines with a new seed, its peers re-added,
    /// its wallets resumed at their persisted next seq. Checks that every record it
    /// acknowledged before the crash is in the rebuilt ledger.
    fn restart(&mut self, now: u64, i: usize) {
        if !self.nodes[i].crashed {
            return;
        }
        self.tally.restarts += 1;
        let mut ledger = self.empty_ledger();
        let node = &mut self.nodes[i];
        let records = node
            .store_model
            .read_back()
            .expect("the store reads back the records it wrote");
        ledger.merge_verified(records);
        let acked: Vec<RecordId> = node.store_model.acknowledged_ids().copied().collect();
        self.tally.acknowledged_checked += acked.len() as u64;
        self.tally.acknowledged_lost +=
            acked.iter().filter(|id| !ledger.contains(id)).count() as u64;
        node.set_ledger(ledger);
        node.crashed = false;
        node.epoch += 1;
        self.trace.merge(now, i, &node.digest);
        // Wallets resume where their seq store says: they never sign a seq twice.
        for (a, account) in self
            .accounts
            .iter()
            .enumerate()
            .filter(|(_, a)| a.node == i)
        {
            let key = seeds::account_key(self.seed, ISSUER_KEY + 1 + a as u64);
            let node = &mut self.nodes[i];
            let next = node.store_model.next_seq(&account.id);
            node.core.add_wallet(Wallet::new(key, &self.spec, next));
        }
        let spender_key = ISSUER_KEY + 1 + self.accounts.len() as u64;
        if let Some((id, sides)) = self.double_spender.as_ref() {
            if sides.contains(&i) {
                let node = &mut self.nodes[i];
                let next = node.store_model.next_seq(id);
                let key = seeds::account_key(self.seed, spender_key);
                node.core.add_wallet(Wallet::new(key, &self.spec, next));
            }
        }
        self.connect(i, now);
    }

    /// An empty ledger for a node (with the test-only broken rule, if one is set).
    fn empty_ledger(&self) -> Ledger {
        #[allow(unused_mut)]
        let mut ledger = Ledger::new(self.spec.clone()).expect("the simulator's spec is valid");
        #[cfg(test)]
        if let Some(f) = self.fault {
            ledger.inject_fault(f);
        }
        ledger
    }

    /// A mobile relay walks from its group into `to`: it leaves its group's links and
    /// medium and joins the new group's, carrying its ledger along.
    fn move_node(&mut self, now: u64, i: usize, to: usize) {
        let from = self.network.group_of(i);
        if from == to {
            return;
        }
        self.tally.moves += 1;
        if let Some(m) = self.nodes[i].medium.take() {
            self.network.leave_medium(m, i);
        }
        for b in self.group_nodes(from) {
            for kind in [LinkKind::Lan, LinkKind::Ble] {
                self.nodes[b].core.peer_down(link_id(kind), i as u64);
            }
        }
        self.network.set_group(i, to);
        self.nodes[i].group = to;
        self.nodes[i].epoch += 1;
        self.nodes[i].core.close_links();
        if !self.nodes[i].crashed {
            self.connect(i, now);
        }
    }

    /// Virtual time now.
    pub fn now(&self) -> u64 {
        self.clock.now()
    }

    fn tick(&mut self, now: u64) {
        for i in 0..self.nodes.len() {
            if self.nodes[i].crashed {
                continue;
            }
            let node = &mut self.nodes[i];
            if let Some(ticket) = node.store_model.write_due(now) {
                node.core.persisted(ticket);
            }
            node.core.handle_timeout(now);
            self.drain(now, i);
            self.pump(now, i);
        }
        if now % CHECK_EVERY_MS < self.scenario.tick_ms {
            self.check(now);
        }
    }

    /// Cheap checks during the run: conservation everywhere, convergence after a heal.
    fn check(&mut self, now: u64) {
        if self.tally.conservation_failure.is_none() {
            // A ledger whose digest has not moved since conservation last held is the
            // same ledger: only changed ones are checked again.
            for n in &mut self.nodes {
                if n.conserved_at == Some(n.digest) || !n.ledger().holds_checkpoint_heads() {
                    continue;
                }
                match n.ledger().check_conservation() {
                    Ok(()) => n.conserved_at = Some(n.digest),
                    Err(e) => {
                        self.tally.conservation_failure = Some((now, n.index, e.to_string()));
                        break;
                    }
                }
            }
        }
        let healed = self
            .scenario
            .last_heal_ms()
            .is_some_and(|h| now >= h && self.network.whole());
        if healed && self.tally.converged_at.is_none() {
            let d0 = self.nodes[0].digest;
            if self.nodes.iter().all(|n| n.digest == d0) {
                self.tally.converged_at = Some(now);
            }
        }
    }

    /// Moves what node `i`'s engines want to send onto the network.
    fn pump(&mut self, now: u64, i: usize) {
        let mut sends = Vec::new();
        for link in self.nodes[i].core.links() {
            let kind = link_kind(link);
            let node = &mut self.nodes[i];
            match kind {
                LinkKind::Lan | LinkKind::Ble => {
                    let peers: Vec<u64> = node
                        .core
                        .engine(link)
                        .map(|e| e.peers().collect())
                        .unwrap_or_default();
                    for peer in peers {
                        for _ in 0..MAX_MESSAGES_PER_POLL {
                            let Some(frames) =
                                self.nodes[i].core.poll_frames(now, link, peer, usize::MAX)
                            else {
                                break;
                            };
                            sends.extend(self.network.send_unicast_frames(
                                kind,
                                now,
                                i,
                                peer as usize,
                                frames,
                                &mut self.rng,
                            ));
                        }
                    }
                }
                LinkKind::Lora => {
                    // The radio holds one message at a time: take the next only when
                    // the hand is empty and the channel sounds free, then wait a random
                    // backoff before listening again and sending.
                    let medium = node.medium.expect("a LoRa engine has a medium");
                    if node.radio.pending.is_none() && self.network.medium_free(medium, now, i) {
                        if let Some(msg) = node.core.poll_message(now, link, medium, usize::MAX) {
                            node.radio.pending = Some(msg);
                            node.radio.attempt += 1;
                            let at = now + self.network.backoff_ms(&mut self.rng);
                            self.clock.schedule(at, Ev::Transmit(i, node.radio.attempt));
                        }
                    }
                }
            }
            self.nodes[i].core.flush_link(link);
            self.drain(now, i);
        }
        for (at, frame) in sends {
            self.clock.schedule(at, Ev::Deliver(frame));
        }
    }

    /// Node `i`'s radio tries to send the message in hand: it listens first (a burst
    /// heard puts it off until the burst ends, plus a fresh backoff), then checks its
    /// duty-cycle budget (put off until the budget allows; dropped if the message
    /// exceeds the whole budget), then sends.
    fn transmit(&mut self, now: u64, i: usize, attempt: u64) {
        let node = &self.nodes[i];
        if node.crashed || node.radio.attempt != attempt {
            return;
        }
        let (Some(medium), Some(msg)) = (node.medium, node.radio.pending.as_ref()) else {
            return;
        };
        if let Some(end) = self.network.busy_until(medium, now, i) {
            self.network.count_deferred(false);
            let at = end + self.network.backoff_ms(&mut self.rng);
            self.clock.schedule(at, Ev::Transmit(i, attempt));
            return;
        }
        let airtime = self.network.lora_airtime_us(msg);
        let lora = link_id(LinkKind::Lora);
        if let Some(duty) = self.nodes[i].core.duty_cycle(lora) {
            if !duty.allows(now, airtime) {
                match duty.next_allowed_ms(now, airtime) {
                    Some(t) => {
                        self.network.count_deferred(true);
                        let at = t.max(now + 1) + self.network.backoff_ms(&mut self.rng);
                        self.clock.schedule(at, Ev::Transmit(i, attempt));
                    }
                    None => {
                        self.network.count_dropped_duty();
                        self.nodes[i].radio.reset();
                    }
                }
                return;
            }
        }
        let node = &mut self.nodes[i];
        let msg = node.radio.pending.take().expect("checked above");
        node.core.record_airtime(lora, now, airtime);
        let frames = node.core.fragment(lora, &msg);
        let sends = self
            .network
            .send_lora_frames(now, i, medium, frames, &mut self.rng);
        for (at, frame) in sends {
            self.clock.schedule(at, Ev::Deliver(frame));
        }
        // The hand is empty again: the engine may have more to say.
        self.pump(now, i);
    }

    fn deliver(&mut self, now: u64, frame: Frame) {
        if !self.network.reachable(frame.from, frame.to) {
            self.network.count_cut(frame.kind);
            return;
        }
        if self.network.collided(frame.tx) {
            self.network.count_collided();
            return;
        }
        let to = frame.to;
        if to >= self.nodes.len() {
            self.attacker_heard(now, frame);
            return;
        }
        if self.nodes[to].crashed {
            self.tally.dropped_at_crashed += 1;
            return;
        }
        let link = link_id(frame.kind);
        let from = frame.from as u64;
        let Some(msg) = self.nodes[to]
            .core
            .reassemble(now, link, from, &frame.bytes)
        else {
            return;
        };
        self.trace.message(now, frame.from, to, &msg);
        let node = &mut self.nodes[to];
        if node.core.engine(link).is_none() {
            return;
        }
        node.core
            .handle_message(now, link, from, frame.medium, &msg);
        self.drain(now, to);
        self.pump(now, to);
    }

    /// Acts on what node `i`'s core reports (traces merges, tallies forks and peer
    /// errors, the issuer revokes) and hands its batches to the store; returns the
    /// payees' decisions.
    fn drain(&mut self, now: u64, i: usize) -> Vec<NodeEvent> {
        let mut decisions = Vec::new();
        loop {
            let due = now + self.scenario.store.write_delay_ms;
            let node = &mut self.nodes[i];
            while let Some(batch) = node.core.poll_persist() {
                node.store_model.queue(due, batch);
            }
            let Some(event) = node.core.poll_event() else {
                return decisions;
            };
            match event {
                NodeEvent::Merged { changes, .. } => self.merged(now, i, &changes),
                NodeEvent::PeerMisbehaved {
                    peer,
                    error: PeerFault::Sync(_),
                    ..
                } => {
                    self.tally.peer_errors += 1;
                    self.attacker_struck(peer);
                }
                e @ (NodeEvent::PaymentAccepted(_) | NodeEvent::PaymentRefused { .. }) => {
                    decisions.push(e)
                }
                _ => {}
            }
        }
    }

    /// Writes everything node `i` queued for its store now (an fsync) and tells its core.
    fn fsync(&mut self, now: u64, i: usize) -> Vec<NodeEvent> {
        let mut decisions = self.drain(now, i);
        let node = &mut self.nodes[i];
        if let Some(ticket) = node.store_model.write_due(u64::MAX) {
            node.core.persisted(ticket);
        }
        decisions.extend(self.drain(now, i));
        decisions
    }

    fn apply(&mut self, i: usize, records: Vec<wire::SignedRecord>) {
        let now = self.clock.now();
        self.apply_at(now, i, records);
    }

    /// Merges records handed in at node `i` (the issuer's): its core tells its engines.
    fn apply_at(&mut self, now: u64, i: usize, records: Vec<wire::SignedRecord>) {
        if self.nodes[i].crashed {
            return;
        }
        self.nodes[i].core.submit(records, None);
        self.drain(now, i);
    }

    /// What the world records of a merge at node `i`: the trace, the forks it learned
    /// of, and the issuer's revocations.
    fn merged(&mut self, now: u64, i: usize, changes: &Changes) {
        let node = &mut self.nodes[i];
        if !changes.added.is_empty() {
            node.digest = node.ledger().state_digest();
            self.trace.merge(now, i, &node.digest);
        }
        for c in &changes.conflicts {
            self.tally
                .conflict_learned
                .entry(*c)
                .or_default()
                .entry(i)
                .or_insert(now);
        }
        if i == ISSUER_NODE && self.scenario.issuer.revoke_forked {
            for &(account, seq) in &changes.conflicts {
                self.revoke(now, account, seq);
            }
        }
    }

    /// The issuer settles, on its node, every honest account whose canonical chain
    /// moved past its governing checkpoint.
    fn settle(&mut self, now: u64) {
        if self.nodes[ISSUER_NODE].crashed {
            return;
        }
        let ledger = self.nodes[ISSUER_NODE].ledger();
        let (issuer, store) = &mut self.issuer;
        let mut records = Vec::new();
        for a in &self.accounts {
            let Some(view) = ledger.account(&a.id) else {
                continue;
            };
            let settled_to = view
                .governing
                .and_then(|g| ledger.get(&g))
                .and_then(|r| r.body().checkpoint().map(|c| c.at_seq))
                .unwrap_or(0);
            let head = ledger
                .records_of(&a.id)
                .iter()
                .rfind(|(_, _, s)| s.is_canonical())
                .map(|(seq, _, _)| *seq);
            if view.frozen || self.revoked.contains(&a.id) || head <= Some(settled_to) {
                continue;
            }
            if let Ok(Some(r)) = issuer.settle(ledger, store, a.id, now) {
                records.push(r);
            }
        }
        self.tally.settlements += records.len() as u64;
        if !records.is_empty() {
            self.apply(ISSUER_NODE, records);
        }
    }

    /// The issuer cuts off an account that forked at `seq`: everything from that seq on
    /// is void, whatever arrives later.
    fn revoke(&mut self, now: u64, account: AccountId, seq: u64) {
        if self.spec.is_issuer(&account) || !self.revoked.insert(account) {
            return;
        }
        let (issuer, store) = &mut self.issuer;
        let Ok(r) = issuer.revoke(store, account, seq.saturating_sub(1), "forked", now) else {
            return;
        };
        self.tally.revocations += 1;
        self.apply(ISSUER_NODE, vec![r]);
    }

    fn reachable_accounts(&self, payer: usize, exclude: AccountId) -> Vec<usize> {
        let node = self.accounts[payer].node;
        (0..self.accounts.len())
            .filter(|&a| a != payer && self.accounts[a].id != exclude)
            .filter(|&a| !self.nodes[self.accounts[a].node].crashed)
            .filter(|&a| self.network.reachable(node, self.accounts[a].node))
            .collect()
    }

    fn payment(&mut self, now: u64) {
        let payer = (self.rng.next_u64() % self.accounts.len() as u64) as usize;
        let payer_id = self.accounts[payer].id;
        if self.nodes[self.accounts[payer].node].crashed {
            return;
        }
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
        let result = self.pay(now, payer_id, payer_node, payee_id, payee_node, amount);
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
        let Some((id, sides)) = self.double_spender.take() else {
            return;
        };
        let amount = self.scenario.double_spend.as_ref().map_or(0, |d| d.amount);
        for node in sides.iter() {
            if self.nodes[*node].crashed {
                continue;
            }
            // The payee: the first honest account on another node of this side.
            let group = self.network.group_of(*node);
            let Some(payee) = self
                .accounts
                .iter()
                .find(|a| {
                    a.node != *node
                        && self.network.group_of(a.node) == group
                        && !self.nodes[a.node].crashed
                })
                .or_else(|| {
                    self.accounts
                        .iter()
                        .find(|a| self.network.group_of(a.node) == group)
                })
                .map(|a| (a.id, a.node))
            else {
                continue;
            };
            let next_seq = |w: &World| w.nodes[*node].core.wallet(&id).map_or(0, |w| w.next_seq());
            let seq = next_seq(self);
            let result = self.pay(now, id, *node, payee.0, payee.1, amount);
            if next_seq(self) > seq {
                self.tally.double_spend_signed.push(seq);
            }
            match result {
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
        payer: AccountId,
        payer_node: usize,
        payee: AccountId,
        payee_node: usize,
        amount: u64,
    ) -> Result<u64, PayFailure> {
        if self.nodes[payee_node].crashed {
            return Err(PayFailure::NotBuilt("payee_down".to_owned()));
        }
        let mut nonce = [0u8; 16];
        self.rng.fill_bytes(&mut nonce);
        self.nodes[payee_node].core.issue_request(nonce, amount);
        let signed = self.nodes[payer_node]
            .core
            .pay(now, payer, payee, amount, Some(nonce), "")
            .map_err(|e| match e {
                PayError::Wallet(e) => PayFailure::NotBuilt(wallet_reason(&e)),
                PayError::NoWallet(_) => PayFailure::NotBuilt("no_wallet".to_owned()),
            })?;
        // The payer's node makes its seq and record durable before handing it out.
        self.fsync(now, payer_node);
        let bundle = if payee_node != payer_node {
            let have = self.nodes[payee_node].ledger();
            self.nodes[payer_node]
                .core
                .bundle_for(&signed.id, |r| have.contains(r))
        } else {
            Vec::new()
        };
        // The payee's node decides once what it rests on is durable.
        self.nodes[payee_node]
            .core
            .offer_payment(bundle, signed.id, payee);
        let decisions = self.fsync(now, payee_node);
        match decisions.into_iter().next() {
            Some(NodeEvent::PaymentAccepted(a)) => {
                self.tally.accepted_ids.push((payee_node, signed.id));
                Ok(a.amount)
            }
            Some(NodeEvent::PaymentRefused { refusal, .. }) => {
                Err(PayFailure::Refused(refusal_rule(&refusal)))
            }
            _ => Err(PayFailure::Refused("undecided".to_owned())),
        }
    }

    /// Node indices grouped by who can reach whom now, each component in node order
    /// and the components in the order of their first node. Reachability is decided
    /// per group, so one representative group per component is enough: linear in the
    /// nodes rather than a reachability test per pair.
    pub fn components(&self) -> Vec<Vec<usize>> {
        // A group cut off (or every group, while split) is its own component; the
        // joined groups share one, keyed `None`.
        let mut index: BTreeMap<Option<usize>, usize> = BTreeMap::new();
        let mut out: Vec<Vec<usize>> = Vec::new();
        for a in 0..self.nodes.len() {
            let g = self.network.group_of(a);
            let alone = self.network.split || self.network.cut.contains(&g);
            let key = alone.then_some(g);
            let k = *index.entry(key).or_insert_with(|| {
                out.push(Vec::new());
                out.len() - 1
            });
            out[k].push(a);
        }
        out
    }
}

/// A node's engine seed for links of `kind` in its `epoch` (LAN and LoRa keep the
/// streams they always had, so recorded traces stay valid).
fn engine_seed(seed: u64, node: usize, kind: LinkKind, epoch: u64) -> [u8; 32] {
    let stream = match kind {
        LinkKind::Lan => 0,
        LinkKind::Lora => 1,
        LinkKind::Ble => 2,
    };
    seeds::engine_seed_at(seed, node, stream, epoch)
}

/// The backbone between `groups` gateways: for each, the others it links to, ascending.
/// A full mesh up to [`FULL_MESH_MAX_GROUPS`]; beyond, a ring with chords to the
/// gateways 2, 4, 8, … places away either way, so each gateway keeps O(log groups)
/// links and any two are O(log groups) hops apart — like backhaul between sites, where
/// no site links to every other.
fn backbone(groups: usize) -> Vec<Vec<usize>> {
    (0..groups)
        .map(|g| {
            let mut peers: BTreeSet<usize> = if groups <= FULL_MESH_MAX_GROUPS {
                (0..groups).collect()
            } else {
                let mut set = BTreeSet::new();
                let mut step = 1;
                while step <= groups / 2 {
                    set.insert((g + step) % groups);
                    set.insert((g + groups - step) % groups);
                    step *= 2;
                }
                set
            };
            peers.remove(&g);
            peers.into_iter().collect()
        })
        .collect()
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
        E::SeqExhausted { .. } => "seq_exhausted",
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Report;
    use crate::scenario::DEFAULT_SCENARIO;
    use meshpay_protocol::ledger::Fault;

    fn small() -> Scenario {
        let text = DEFAULT_SCENARIO
            .replace("nodes = 5", "nodes = 3")
            .replace("duration_s = 600", "duration_s = 240")
            .replace("settle_s = 120", "settle_s = 60")
            .replace("at_s = 300", "at_s = 150")
            .replace("at_s = 120", "at_s = 90");
        Scenario::parse(&text).expect("valid")
    }

    fn report(fault: Option<Fault>) -> Report {
        let mut world = World::new(small(), 4);
        world.fault = fault;
        if let Some(f) = fault {
            for n in &mut world.nodes {
                n.core.inject_fault(f);
            }
        }
        world.run();
        Report::of(&world)
    }

    /// Small backbones stay a full mesh (the shipped scenarios' traces depend on it);
    /// large ones are symmetric, sparse and connected.
    #[test]
    fn the_backbone_is_a_full_mesh_when_small_and_sparse_when_large() {
        for g in 1..=FULL_MESH_MAX_GROUPS {
            for (a, peers) in backbone(g).iter().enumerate() {
                let all: Vec<usize> = (0..g).filter(|&b| b != a).collect();
                assert_eq!(peers, &all);
            }
        }
        let groups = 1_000;
        let b = backbone(groups);
        let mut reached = BTreeSet::from([0]);
        let mut frontier = vec![0];
        while let Some(a) = frontier.pop() {
            assert!(b[a].len() <= 2 * (usize::BITS - groups.leading_zeros()) as usize);
            for &c in &b[a] {
                assert!(b[c].contains(&a), "{a} -> {c} has no way back");
                if reached.insert(c) {
                    frontier.push(c);
                }
            }
        }
        assert_eq!(reached.len(), groups);
    }

    /// The checker can fail: with the fork rule broken in every ledger (the first record
    /// at a seq wins), the double spend goes unseen and the two sides never agree.
    #[test]
    fn the_invariants_fail_when_the_ledger_lets_the_first_record_win() {
        let normal = report(None);
        assert!(normal.invariants_ok, "{}", normal.table());
        let broken = report(Some(Fault::FirstSeenWins));
        assert!(!broken.invariants_ok, "{}", broken.table());
        let failed: Vec<&str> = broken
            .invariants
            .iter()
            .filter(|i| !i.ok)
            .map(|i| i.name)
            .collect();
        assert!(failed.contains(&"forks_known_everywhere"), "{failed:?}");
        assert!(failed.contains(&"convergence"), "{failed:?}");
    }
}
