//! Scenarios: the TOML a run is described by (groups, links, the schedule of splits,
//! crashes and moves, workload, double spend, attackers, the durable store's model),
//! parsed with serde and validated against named bounds so a typo fails with a clear
//! error instead of a strange run.

use meshpay_protocol::Limits;
use meshpay_protocol::radio::ModemPreset;
use serde::Deserialize;

/// The default scenario, built in so the binary needs no file.
pub const DEFAULT_SCENARIO: &str = include_str!("../scenarios/split-brain.toml");

/// Most nodes a scenario may hold (keeps a run within seconds to minutes).
pub const MAX_NODES: usize = 256;
/// Most groups.
pub const MAX_GROUPS: usize = 32;
/// Longest run, in seconds of virtual time.
pub const MAX_DURATION_S: u64 = 24 * 60 * 60;
/// Tick bounds: the driver polls every engine once per tick.
pub const MIN_TICK_MS: u64 = 1;
/// Longest tick.
pub const MAX_TICK_MS: u64 = 1_000;
/// Most accounts hosted on one node.
pub const MAX_ACCOUNTS_PER_NODE: usize = 64;
/// Most payments per minute over the whole network.
pub const MAX_PAYMENTS_PER_MINUTE: u64 = 60_000;
/// Loss is given per thousand frames.
pub const PER_MILLE: u64 = 1_000;
/// Smallest unicast MTU (the fragment header must fit with a byte of payload).
pub const MIN_LAN_MTU: usize = meshpay_protocol::radio::fragment::MIN_MTU;
/// Largest unicast MTU (one fragmented message at most).
pub const MAX_LAN_MTU: usize = 64 * 1024;
/// Longest simulated write delay of a node's durable store.
pub const MAX_WRITE_DELAY_MS: u64 = 60_000;
/// The store's write delay when a scenario names none: a flash write and its fsync.
pub const DEFAULT_WRITE_DELAY_MS: u64 = 200;
/// Most attackers in one scenario.
pub const MAX_ATTACKERS: usize = 8;
/// Shortest interval between an attacker's messages (bounds the run's event count).
pub const MIN_ATTACK_EVERY_MS: u64 = 10;
/// Most records a fork-flooding attacker signs at one seq.
pub const MAX_FORKS: usize = 10_000;

/// Why a scenario was refused.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// Not TOML, or fields of the wrong shape.
    #[error("scenario is not valid TOML for a scenario: {0}")]
    Parse(#[from] toml::de::Error),
    /// A field out of its bounds.
    #[error("scenario field `{field}`: {problem}")]
    Invalid {
        /// Which field.
        field: &'static str,
        /// What is wrong.
        problem: String,
    },
}

fn invalid(field: &'static str, problem: impl Into<String>) -> ScenarioError {
    ScenarioError::Invalid {
        field,
        problem: problem.into(),
    }
}

/// How the nodes of a group talk among themselves.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, serde::Serialize, PartialOrd, Ord,
)]
#[serde(rename_all = "snake_case")]
pub enum LinkKind {
    /// Full mesh of unicast links.
    Lan,
    /// One shared broadcast medium.
    Lora,
    /// Full mesh of short-range unicast links (phones relaying over BLE GATT).
    Ble,
}

impl LinkKind {
    /// Whether the kind is a mesh of unicast links (each peer its own connection).
    pub fn is_unicast(self) -> bool {
        matches!(self, LinkKind::Lan | LinkKind::Ble)
    }
}

/// A group of nodes: one side of a split.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Group {
    /// Nodes in the group.
    pub nodes: usize,
    /// How they are joined.
    pub link: LinkKind,
}

/// A scheduled change: of the partition state, of a node's life, of a node's place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Cut the backbone: frames between groups are dropped. With `group`, only that
    /// group is cut off (lifeboats launched) and the others stay joined.
    Split,
    /// Restore it (with `group`: rejoin only that group).
    Heal,
    /// Kill `node` (or every node of `group`): its ledger, engines and unwritten records go.
    Crash,
    /// Bring `node` (or every node of `group`) back from its durable store.
    Restart,
    /// Carry `node` into `to_group` (a mobile relay): it leaves its group's links.
    Move,
}

/// A scheduled event.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduledEvent {
    /// When, in seconds of virtual time.
    pub at_s: u64,
    /// What.
    pub action: Action,
    /// The node a crash, restart or move concerns.
    #[serde(default)]
    pub node: Option<usize>,
    /// Crash or restart: every node of this group (as laid out at the start). Split or
    /// heal: the one group cut off or rejoined.
    #[serde(default)]
    pub group: Option<usize>,
    /// Move: where the node goes.
    #[serde(default)]
    pub to_group: Option<usize>,
}

/// What a hostile node does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AttackKind {
    /// An account signs many records at one seq and pushes them.
    ForkFlood,
    /// Re-sends messages it captured earlier.
    Replay,
    /// Random bytes.
    Garbage,
    /// Valid but useless messages (a fresh `Hello` each time).
    Flood,
}

/// A hostile node sitting in one group, talking to its nodes through their engines.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttackerConfig {
    /// What it does.
    pub kind: AttackKind,
    /// The group it sits in.
    pub group: usize,
    /// When it starts, in seconds.
    pub start_s: u64,
    /// When it stops, in seconds.
    pub end_s: u64,
    /// Interval between its messages.
    pub every_ms: u64,
    /// Fork flood: records signed at seq 1.
    #[serde(default)]
    pub forks: usize,
    /// Fork flood: what the issuer mints to the attacking account (its records must be
    /// funded to be valid at all).
    #[serde(default)]
    pub balance: u64,
}

/// The simulated durable store of every node (DESIGN §6).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// Time from a merge until its records are durable (and only then acknowledged).
    pub write_delay_ms: u64,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            write_delay_ms: DEFAULT_WRITE_DELAY_MS,
        }
    }
}

/// Honest payments between random accounts.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Workload {
    /// Accounts (wallets) hosted on each node that hosts any.
    pub accounts_per_node: usize,
    /// Only every n-th node hosts accounts (1: every node); the others relay. Large
    /// networks use it: every record reaches every node, so the records a run makes,
    /// and the signatures each node checks, grow with the accounts.
    #[serde(default = "one")]
    pub account_node_every: usize,
    /// What the issuer mints to each account at the start.
    pub starting_balance: u64,
    /// Payment attempts per minute over the whole network.
    pub payments_per_minute: u64,
    /// When payments start (the mints must have spread first).
    pub start_s: u64,
    /// Smallest amount paid.
    pub min_amount: u64,
    /// Largest amount paid.
    pub max_amount: u64,
}

/// What the issuer does beyond the first mints. Its key lives on node 0.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssuerConfig {
    /// Settles every account whose chain moved since its last checkpoint, this often:
    /// a checkpoint fixes the branch below it and resets the offline limits.
    #[serde(default)]
    pub settle_every_s: Option<u64>,
    /// Revokes an account as soon as node 0 learns that it forked.
    #[serde(default)]
    pub revoke_forked: bool,
}

/// The double spender: one account held on a node of each of the first two groups.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DoubleSpend {
    /// When both sides pay (must fall within a split).
    pub at_s: u64,
    /// The account's minted balance.
    pub balance: u64,
    /// What it pays on each side.
    pub amount: u64,
}

/// The network's offline limits.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    /// Largest single payment.
    pub max_single: u64,
    /// Most sent in total since the last checkpoint.
    pub max_cumulative: u64,
    /// Most positive transfers since the last checkpoint.
    pub max_count: u64,
}

/// A unicast link's model (LAN or BLE).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkConfig {
    /// One-way latency.
    pub latency_ms: u64,
    /// Largest frame; messages are fragmented to it.
    pub mtu: usize,
    /// Serialisation rate.
    pub bandwidth_bytes_per_s: u64,
    /// Frames lost, per thousand.
    pub loss_per_mille: u64,
}

impl LinkConfig {
    /// BLE between phones a few metres apart: a connection event every 30 ms, 244-byte
    /// ATT payloads (247-byte MTU less the header), about 20 kB/s of GATT writes and
    /// notifications in practice, and a few percent of frames lost to interference.
    pub fn ble() -> Self {
        LinkConfig {
            latency_ms: 30,
            mtu: 244,
            bandwidth_bytes_per_s: 20_000,
            loss_per_mille: 20,
        }
    }

    fn validate(&self, name: &'static str) -> Result<(), ScenarioError> {
        if self.mtu < MIN_LAN_MTU || self.mtu > MAX_LAN_MTU {
            return Err(invalid(
                name,
                format!("mtu must be {MIN_LAN_MTU}..={MAX_LAN_MTU}"),
            ));
        }
        if self.bandwidth_bytes_per_s == 0 {
            return Err(invalid(name, "bandwidth_bytes_per_s must be positive"));
        }
        if self.loss_per_mille > PER_MILLE {
            return Err(invalid(name, format!("loss_per_mille at most {PER_MILLE}")));
        }
        Ok(())
    }
}

/// A LoRa medium's model.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoraConfig {
    /// Meshtastic modem preset name (e.g. "LongFast").
    pub preset: String,
    /// Frame copies lost, per thousand.
    pub loss_per_mille: u64,
    /// Slots a sender draws its random backoff from before each send.
    #[serde(default = "default_contention_slots")]
    pub contention_slots: u64,
    /// Most airtime each node spends in any hour, per thousand: EU868's 869.4-869.65 MHz
    /// band allows 100, and meshpay keeps its own traffic to half that. None: no limit
    /// (as in US915).
    #[serde(default)]
    pub duty_cycle_per_mille: Option<u32>,
}

/// Backoff slots when a scenario names none.
pub const DEFAULT_CONTENTION_SLOTS: u64 = 16;
/// Most backoff slots.
pub const MAX_CONTENTION_SLOTS: u64 = 1_024;

fn one() -> usize {
    1
}

fn default_contention_slots() -> u64 {
    DEFAULT_CONTENTION_SLOTS
}

/// A validated scenario.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Name, reported.
    pub name: String,
    /// Run length.
    pub duration_s: u64,
    /// Driver tick.
    pub tick_ms: u64,
    /// Time after a heal before convergence is required.
    pub settle_s: u64,
    /// The groups (partition sides).
    pub groups: Vec<Group>,
    /// Partition schedule.
    #[serde(default)]
    pub events: Vec<ScheduledEvent>,
    /// Honest payments.
    pub workload: Workload,
    /// The double spender, if any.
    pub double_spend: Option<DoubleSpend>,
    /// Settlement and revocation by the issuer.
    #[serde(default)]
    pub issuer: IssuerConfig,
    /// Offline limits of the network.
    pub limits: LimitsConfig,
    /// LAN model.
    pub lan: LinkConfig,
    /// BLE model (defaults to [`LinkConfig::ble`]).
    #[serde(default = "LinkConfig::ble")]
    pub ble: LinkConfig,
    /// LoRa model.
    pub lora: LoraConfig,
    /// Durable store model.
    #[serde(default)]
    pub store: StoreConfig,
    /// Hostile nodes.
    #[serde(default)]
    pub attacker: Vec<AttackerConfig>,
}

impl Scenario {
    /// Parses and validates a scenario.
    pub fn parse(text: &str) -> Result<Self, ScenarioError> {
        let s: Scenario = toml::from_str(text)?;
        s.validate()?;
        Ok(s)
    }

    /// The built-in default.
    pub fn default_scenario() -> Self {
        Self::parse(DEFAULT_SCENARIO).expect("the built-in scenario is valid")
    }

    /// Total nodes.
    pub fn node_count(&self) -> usize {
        self.groups.iter().map(|g| g.nodes).sum()
    }

    /// The protocol limits.
    pub fn limits(&self) -> Limits {
        Limits {
            max_single: self.limits.max_single,
            max_cumulative: self.limits.max_cumulative,
            max_count: self.limits.max_count,
        }
    }

    /// The LoRa preset (validated).
    pub fn preset(&self) -> ModemPreset {
        ModemPreset::from_name(&self.lora.preset).expect("validated")
    }

    /// Whether groups `a` and `b` are cut apart at `t_ms` by the schedule.
    pub fn separated_at(&self, t_ms: u64, a: usize, b: usize) -> bool {
        let mut split = false;
        let mut cut = std::collections::BTreeSet::new();
        for e in self.events.iter().filter(|e| e.at_s * 1_000 <= t_ms) {
            match (e.action, e.group) {
                (Action::Split, None) => split = true,
                (Action::Heal, None) => {
                    split = false;
                    cut.clear();
                }
                (Action::Split, Some(g)) => {
                    cut.insert(g);
                }
                (Action::Heal, Some(g)) => {
                    cut.remove(&g);
                }
                _ => {}
            }
        }
        a != b && (split || cut.contains(&a) || cut.contains(&b))
    }

    /// Whether the backbone is split at `t_ms` by the schedule.
    pub fn split_at(&self, t_ms: u64) -> bool {
        let mut split = false;
        for e in self
            .events
            .iter()
            .filter(|e| e.at_s * 1_000 <= t_ms && e.group.is_none())
        {
            match e.action {
                Action::Split => split = true,
                Action::Heal => split = false,
                Action::Crash | Action::Restart | Action::Move => {}
            }
        }
        split
    }

    /// Time of the last heal, in ms, if any.
    pub fn last_heal_ms(&self) -> Option<u64> {
        self.events
            .iter()
            .filter(|e| e.action == Action::Heal)
            .map(|e| e.at_s * 1_000)
            .max()
    }

    /// The group each node starts in, nodes numbered group by group.
    pub fn initial_groups(&self) -> Vec<usize> {
        self.groups
            .iter()
            .enumerate()
            .flat_map(|(g, grp)| std::iter::repeat_n(g, grp.nodes))
            .collect()
    }

    /// The nodes a crash or restart event concerns.
    pub fn event_nodes(&self, e: &ScheduledEvent) -> Vec<usize> {
        match (e.node, e.group) {
            (Some(n), _) => vec![n],
            (None, Some(g)) => {
                let groups = self.initial_groups();
                (0..groups.len()).filter(|&n| groups[n] == g).collect()
            }
            (None, None) => Vec::new(),
        }
    }

    fn validate_event(&self, e: &ScheduledEvent) -> Result<(), ScenarioError> {
        let nodes = self.node_count();
        if e.node.is_some_and(|n| n >= nodes) {
            return Err(invalid("events.node", format!("must be below {nodes}")));
        }
        let groups = self.groups.len();
        if e.group.is_some_and(|g| g >= groups) || e.to_group.is_some_and(|g| g >= groups) {
            return Err(invalid("events.group", format!("must be below {groups}")));
        }
        match e.action {
            Action::Split | Action::Heal => {
                if e.node.is_some() || e.to_group.is_some() {
                    return Err(invalid("events", "split and heal take at most a `group`"));
                }
            }
            Action::Crash | Action::Restart => {
                if e.node.is_some() == e.group.is_some() || e.to_group.is_some() {
                    return Err(invalid(
                        "events",
                        "crash and restart take either `node` or `group`",
                    ));
                }
            }
            Action::Move => {
                let (Some(n), Some(_), None) = (e.node, e.to_group, e.group) else {
                    return Err(invalid("events", "move takes `node` and `to_group`"));
                };
                // A gateway carries the backbone; moving it would move the backbone too.
                let first_of_group = self.initial_groups();
                if n == 0 || first_of_group[n - 1] != first_of_group[n] {
                    return Err(invalid(
                        "events.node",
                        "a group's first node is its gateway and stays put",
                    ));
                }
            }
        }
        Ok(())
    }

    fn validate_attacker(&self, a: &AttackerConfig) -> Result<(), ScenarioError> {
        if a.group >= self.groups.len() {
            return Err(invalid("attacker.group", "no such group"));
        }
        if a.start_s > a.end_s || a.end_s > self.duration_s {
            return Err(invalid(
                "attacker.start_s",
                "need start_s <= end_s <= duration_s",
            ));
        }
        if a.every_ms < MIN_ATTACK_EVERY_MS {
            return Err(invalid(
                "attacker.every_ms",
                format!("at least {MIN_ATTACK_EVERY_MS}"),
            ));
        }
        if a.kind == AttackKind::ForkFlood
            && (a.forks < 2 || a.forks > MAX_FORKS || a.balance < a.forks as u64)
        {
            return Err(invalid(
                "attacker.forks",
                format!(
                    "a fork flood needs 2..={MAX_FORKS} forks and a balance of at least one per fork"
                ),
            ));
        }
        Ok(())
    }

    fn validate(&self) -> Result<(), ScenarioError> {
        if self.duration_s == 0 || self.duration_s > MAX_DURATION_S {
            return Err(invalid(
                "duration_s",
                format!("must be 1..={MAX_DURATION_S}"),
            ));
        }
        if !(MIN_TICK_MS..=MAX_TICK_MS).contains(&self.tick_ms) {
            return Err(invalid(
                "tick_ms",
                format!("must be {MIN_TICK_MS}..={MAX_TICK_MS}"),
            ));
        }
        if self.groups.is_empty() || self.groups.len() > MAX_GROUPS {
            return Err(invalid("groups", format!("need 1..={MAX_GROUPS} groups")));
        }
        if self.groups.iter().any(|g| g.nodes == 0) {
            return Err(invalid("groups.nodes", "every group needs a node"));
        }
        if self.node_count() > MAX_NODES {
            return Err(invalid(
                "groups.nodes",
                format!("at most {MAX_NODES} nodes"),
            ));
        }
        let mut last = 0;
        for e in &self.events {
            if e.at_s < last || e.at_s > self.duration_s {
                return Err(invalid(
                    "events.at_s",
                    "events must be in time order and within the run",
                ));
            }
            last = e.at_s;
            self.validate_event(e)?;
        }
        if self.attacker.len() > MAX_ATTACKERS {
            return Err(invalid("attacker", format!("at most {MAX_ATTACKERS}")));
        }
        for a in &self.attacker {
            self.validate_attacker(a)?;
        }
        if self.store.write_delay_ms > MAX_WRITE_DELAY_MS {
            return Err(invalid(
                "store.write_delay_ms",
                format!("at most {MAX_WRITE_DELAY_MS}"),
            ));
        }
        let w = &self.workload;
        if w.accounts_per_node == 0 || w.accounts_per_node > MAX_ACCOUNTS_PER_NODE {
            return Err(invalid(
                "workload.accounts_per_node",
                format!("must be 1..={MAX_ACCOUNTS_PER_NODE}"),
            ));
        }
        if w.payments_per_minute > MAX_PAYMENTS_PER_MINUTE {
            return Err(invalid(
                "workload.payments_per_minute",
                format!("at most {MAX_PAYMENTS_PER_MINUTE}"),
            ));
        }
        if w.min_amount == 0 || w.min_amount > w.max_amount {
            return Err(invalid(
                "workload.min_amount",
                "must be at least 1 and at most max_amount",
            ));
        }
        if self.limits.max_single == 0
            || self.limits.max_cumulative < self.limits.max_single
            || self.limits.max_count == 0
        {
            return Err(invalid(
                "limits",
                "need max_single >= 1, max_cumulative >= max_single, max_count >= 1",
            ));
        }
        if let Some(d) = &self.double_spend {
            if self.groups.len() < 2 {
                return Err(invalid("double_spend", "needs at least two groups"));
            }
            if !self.separated_at(d.at_s * 1_000, 0, 1) {
                return Err(invalid("double_spend.at_s", "must fall within a split"));
            }
            if d.amount == 0 || d.amount > self.limits.max_single || d.balance == 0 {
                return Err(invalid(
                    "double_spend.amount",
                    "must be 1..=limits.max_single, with a positive balance",
                ));
            }
        }
        self.lan.validate("lan")?;
        self.ble.validate("ble")?;
        if self.lora.loss_per_mille > PER_MILLE {
            return Err(invalid(
                "lora.loss_per_mille",
                format!("at most {PER_MILLE}"),
            ));
        }
        if ModemPreset::from_name(&self.lora.preset).is_none() {
            return Err(invalid(
                "lora.preset",
                format!("unknown preset {:?}", self.lora.preset),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_parses() {
        let s = Scenario::default_scenario();
        assert_eq!(s.node_count(), 10);
        assert!(s.split_at(60_000) && !s.split_at(300_000));
    }

    #[test]
    fn new_events_are_checked() {
        let with = |events: &str| {
            let text = DEFAULT_SCENARIO.replace(
                "[[events]]\nat_s = 60\naction = \"split\"\n",
                &format!("{events}\n[[events]]\nat_s = 60\naction = \"split\"\n"),
            );
            Scenario::parse(&text)
        };
        assert!(with("[[events]]\nat_s = 10\naction = \"crash\"\ngroup = 1\n").is_ok());
        assert!(with("[[events]]\nat_s = 10\naction = \"move\"\nnode = 2\nto_group = 1\n").is_ok());
        // Node 5 is group 1's gateway: it carries the backbone and may not walk away.
        let err = with("[[events]]\nat_s = 10\naction = \"move\"\nnode = 5\nto_group = 0\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("gateway"), "{err}");
        let err = with("[[events]]\nat_s = 10\naction = \"crash\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("either"), "{err}");
        // A crash does not end a split.
        let s = with("[[events]]\nat_s = 10\naction = \"crash\"\nnode = 1\n").expect("valid");
        assert!(s.split_at(120_000));
    }

    #[test]
    fn bounds_are_checked() {
        let bad = DEFAULT_SCENARIO.replace("tick_ms = 50", "tick_ms = 0");
        let err = Scenario::parse(&bad).unwrap_err().to_string();
        assert!(err.contains("tick_ms"), "{err}");
    }
}
