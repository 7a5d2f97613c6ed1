//! Scenarios: the TOML a run is described by (groups, links, partition schedule,
//! workload, double spend), parsed with serde and validated against named bounds so a
//! typo fails with a clear error instead of a strange run.

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
/// Smallest LAN MTU (the fragment header must fit with a byte of payload).
pub const MIN_LAN_MTU: usize = meshpay_protocol::radio::fragment::MIN_MTU;
/// Largest LAN MTU (one fragmented message at most).
pub const MAX_LAN_MTU: usize = 64 * 1024;

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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum LinkKind {
    /// Full mesh of unicast links.
    Lan,
    /// One shared broadcast medium.
    Lora,
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

/// A change of the partition state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Cut the backbone: frames between groups are dropped.
    Split,
    /// Restore it.
    Heal,
}

/// A scheduled partition event.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduledEvent {
    /// When, in seconds of virtual time.
    pub at_s: u64,
    /// What.
    pub action: Action,
}

/// Honest payments between random accounts.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Workload {
    /// Accounts (wallets) hosted on each node.
    pub accounts_per_node: usize,
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

/// A LAN link's model.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LanConfig {
    /// One-way latency.
    pub latency_ms: u64,
    /// Largest frame; messages are fragmented to it.
    pub mtu: usize,
    /// Serialisation rate.
    pub bandwidth_bytes_per_s: u64,
    /// Frames lost, per thousand.
    pub loss_per_mille: u64,
}

/// A LoRa medium's model.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoraConfig {
    /// Meshtastic modem preset name (e.g. "LongFast").
    pub preset: String,
    /// Frame copies lost, per thousand.
    pub loss_per_mille: u64,
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
    /// Offline limits of the network.
    pub limits: LimitsConfig,
    /// LAN model.
    pub lan: LanConfig,
    /// LoRa model.
    pub lora: LoraConfig,
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

    /// Whether the backbone is split at `t_ms` by the schedule.
    pub fn split_at(&self, t_ms: u64) -> bool {
        let mut split = false;
        for e in &self.events {
            if e.at_s * 1_000 <= t_ms {
                split = e.action == Action::Split;
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
            if !self.split_at(d.at_s * 1_000) {
                return Err(invalid("double_spend.at_s", "must fall within a split"));
            }
            if d.amount == 0 || d.amount > self.limits.max_single || d.balance == 0 {
                return Err(invalid(
                    "double_spend.amount",
                    "must be 1..=limits.max_single, with a positive balance",
                ));
            }
        }
        if self.lan.mtu < MIN_LAN_MTU || self.lan.mtu > MAX_LAN_MTU {
            return Err(invalid(
                "lan.mtu",
                format!("must be {MIN_LAN_MTU}..={MAX_LAN_MTU}"),
            ));
        }
        if self.lan.bandwidth_bytes_per_s == 0 {
            return Err(invalid("lan.bandwidth_bytes_per_s", "must be positive"));
        }
        if self.lan.loss_per_mille > PER_MILLE || self.lora.loss_per_mille > PER_MILLE {
            return Err(invalid("loss_per_mille", format!("at most {PER_MILLE}")));
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
    fn bounds_are_checked() {
        let bad = DEFAULT_SCENARIO.replace("tick_ms = 50", "tick_ms = 0");
        let err = Scenario::parse(&bad).unwrap_err().to_string();
        assert!(err.contains("tick_ms"), "{err}");
    }
}
