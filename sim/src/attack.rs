//! Hostile nodes. Each sits in one group, outside the honest nodes (the invariants are
//! about honest ones), and reaches them only through the network and their real
//! engines' `handle` / `handle_medium` paths: a fork flood (one funded account signs
//! many records at seq 1 and pushes them), a replayer (re-sends messages it overheard),
//! a garbage sender (random bytes) and a flooder (a fresh, valid `Hello` each time).
//! What each one cost and caused is counted in its [`AttackTally`].

use std::collections::{BTreeMap, VecDeque};

use ed25519_dalek::SigningKey;
use meshpay_protocol::radio::fragment::{Reassembler, ReassemblyConfig};
use meshpay_protocol::record::account_of;
use meshpay_protocol::sync::{SyncConfig, SyncEngine, message};
use meshpay_protocol::wallet::{MemorySeqStore, Wallet};
use meshpay_protocol::{AccountId, Ledger, wire};
use rand_chacha::ChaCha8Rng;
use rand_core::Rng;
use serde::Serialize;

use crate::network::Frame;
use crate::scenario::{AttackKind, AttackerConfig, LinkKind};
use crate::seeds;
use crate::world::{Ev, MEDIUM_BASE, World};

/// Messages a replayer keeps (the oldest go first).
const MAX_CAPTURED: usize = 256;
/// Longest garbage message, in bytes.
const MAX_GARBAGE_BYTES: u64 = 200;
/// Room left in a message for its envelope when packing fork records.
const ENVELOPE_BYTES: usize = 64;
/// What each fork pays: the least, so the balance funds as many forks as possible.
const FORK_AMOUNT: u64 = 1;
/// The flooder's engine's only peer: the id it opens its throwaway sessions with.
const FLOOD_PEER: u64 = 0;

/// What one attacker did and caused.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AttackTally {
    /// Its kind.
    pub kind: Option<AttackKind>,
    /// The group it sat in.
    pub group: usize,
    /// Messages it sent (a LAN message to n peers counts n times).
    pub messages: u64,
    /// Their bytes, fragment headers included.
    pub bytes: u64,
    /// Its own time on air, in ms (LoRa).
    pub airtime_ms: f64,
    /// Sends skipped because the medium was busy.
    pub skipped_busy: u64,
    /// Errors the honest engines reported about it.
    pub peer_errors: u64,
    /// Fork flood: records signed at seq 1.
    pub forks_signed: u64,
    /// Fork flood: those pushed at least once.
    pub forks_sent: u64,
    /// Fork flood: bytes of the signed records.
    pub fork_bytes: u64,
    /// Replay: messages overheard.
    pub captured: u64,
}

/// One hostile node.
pub struct Attacker {
    /// What it does and when.
    pub config: AttackerConfig,
    /// Its index in the network (after the honest nodes') and its peer id.
    pub index: usize,
    /// The group it sits in.
    pub group: usize,
    /// What it did.
    pub tally: AttackTally,
    rng: ChaCha8Rng,
    key: SigningKey,
    /// Fork flood: the signed records and how many went out.
    forks: Vec<wire::SignedRecord>,
    next_fork: usize,
    /// Replay: overheard messages.
    captured: VecDeque<Vec<u8>>,
    next_replay: usize,
    reassembly: BTreeMap<LinkKind, Reassembler>,
    /// Flood: a real engine over an empty ledger builds each `Hello`.
    engine: SyncEngine,
}

impl Attacker {
    /// The key of its account (fork flood).
    pub fn key(&self) -> &SigningKey {
        &self.key
    }
}

impl World {
    /// Creates the scenario's attackers and puts them on the network.
    pub(crate) fn add_attackers(&mut self) {
        for (k, config) in self.scenario.attacker.clone().into_iter().enumerate() {
            let index = self.network.add_outsider(config.group);
            if self.scenario.groups[config.group].link == LinkKind::Lora {
                self.network
                    .join_medium(MEDIUM_BASE + config.group as u64, index);
            }
            let engine = SyncEngine::new(
                SyncConfig::default(),
                seeds::attacker_engine_seed(self.seed, k),
            )
            .expect("the default config is valid");
            self.attackers.push(Attacker {
                index,
                group: config.group,
                tally: AttackTally {
                    kind: Some(config.kind),
                    group: config.group,
                    ..AttackTally::default()
                },
                rng: seeds::attacker_rng(self.seed, k),
                key: seeds::attacker_key(self.seed, k),
                forks: Vec::new(),
                next_fork: 0,
                captured: VecDeque::new(),
                next_replay: 0,
                reassembly: BTreeMap::new(),
                engine,
                config,
            });
        }
    }

    /// What the issuer mints to the fork-flooding accounts (their forks must be funded).
    pub(crate) fn attacker_mints(&self) -> Vec<(AccountId, u64)> {
        self.attackers
            .iter()
            .filter(|a| a.config.kind == AttackKind::ForkFlood)
            .map(|a| (account_of(&a.key), a.config.balance))
            .collect()
    }

    /// Attacker `k` acts once.
    pub(crate) fn attack(&mut self, now: u64, k: usize) {
        let group = self.attackers[k].group;
        let link = self.scenario.groups[group].link;
        // Its radio queues like any other: it sends only when the channel is free.
        let me = self.attackers[k].index;
        if link == LinkKind::Lora
            && !self
                .network
                .medium_free(MEDIUM_BASE + group as u64, now, me)
        {
            self.attackers[k].tally.skipped_busy += 1;
            return;
        }
        let msg = match self.attackers[k].config.kind {
            AttackKind::ForkFlood => self.next_forks(now, k, link),
            AttackKind::Replay => {
                let a = &mut self.attackers[k];
                let n = a.captured.len();
                (n > 0).then(|| {
                    a.next_replay = (a.next_replay + 1) % n;
                    a.captured[a.next_replay].clone()
                })
            }
            AttackKind::Garbage => {
                let a = &mut self.attackers[k];
                let len = 1 + a.rng.next_u64() % MAX_GARBAGE_BYTES;
                let mut bytes = vec![0u8; len as usize];
                a.rng.fill_bytes(&mut bytes);
                Some(bytes)
            }
            AttackKind::Flood => {
                let a = &mut self.attackers[k];
                // A fresh session each time: a new, valid Hello over an empty set.
                let empty = Ledger::new(self.spec.clone()).expect("the spec is valid");
                a.engine.remove_peer(FLOOD_PEER);
                a.engine.add_peer(now, FLOOD_PEER);
                a.engine.reconcile(now, FLOOD_PEER, &empty);
                a.engine.poll_transmit(now, FLOOD_PEER, usize::MAX, &empty)
            }
        };
        if let Some(msg) = msg {
            self.attacker_send(now, k, link, &msg);
        }
    }

    /// Fork flood: signs the forks once the account's mint has reached the group, then
    /// hands out the next message's worth of them.
    fn next_forks(&mut self, now: u64, k: usize, link: LinkKind) -> Option<Vec<u8>> {
        if self.attackers[k].forks.is_empty() {
            self.sign_forks(now, k);
        }
        let config = match link {
            LinkKind::Lan => SyncConfig::default(),
            LinkKind::Lora => SyncConfig::lora(),
            LinkKind::Ble => SyncConfig::ble(),
        };
        let a = &mut self.attackers[k];
        let mut batch = Vec::new();
        let mut room = config.max_message_bytes.saturating_sub(ENVELOPE_BYTES);
        while let Some(r) = a.forks.get(a.next_fork) {
            let len = prost::Message::encoded_len(r) + 4;
            if batch.len() >= config.max_records_per_message || len > room {
                break;
            }
            room -= len;
            batch.push(r.clone());
            a.next_fork += 1;
        }
        if batch.is_empty() {
            return None;
        }
        a.tally.forks_sent += batch.len() as u64;
        Some(message::encode(&message::message(
            0,
            0,
            message::records(&batch, false),
        )))
    }

    fn sign_forks(&mut self, now: u64, k: usize) {
        let group = self.attackers[k].group;
        let Some(host) = self
            .group_nodes(group)
            .into_iter()
            .find(|&n| !self.nodes[n].crashed)
        else {
            return;
        };
        let ledger = &self.nodes[host].ledger();
        let a = &self.attackers[k];
        let mut forks = Vec::with_capacity(a.config.forks);
        for f in 0..a.config.forks {
            // A fresh wallet and seq store each time: every record takes seq 1.
            let mut wallet = Wallet::new(a.key.clone(), &self.spec, 1);
            let payee = self.accounts[f % self.accounts.len()].id;
            match wallet.pay(
                ledger,
                &mut MemorySeqStore::default(),
                payee,
                FORK_AMOUNT,
                None,
                "",
                now + f as u64,
            ) {
                Ok(r) => forks.push(r),
                // The mint has not reached this group yet: try again next time.
                Err(_) => return,
            }
        }
        let a = &mut self.attackers[k];
        a.tally.forks_signed = forks.len() as u64;
        a.tally.fork_bytes = forks
            .iter()
            .map(|r| prost::Message::encoded_len(r) as u64)
            .sum();
        a.forks = forks;
    }

    /// Puts an attacker's message on the wire: to every node of its group on a LAN or BLE, on
    /// the group's medium for LoRa.
    fn attacker_send(&mut self, now: u64, k: usize, link: LinkKind, msg: &[u8]) {
        let group = self.attackers[k].group;
        let from = self.attackers[k].index;
        let before = self.network.traffic.get(&link).cloned().unwrap_or_default();
        let mut sends: Vec<(u64, Frame)> = Vec::new();
        match link {
            LinkKind::Lan | LinkKind::Ble => {
                for to in self.group_nodes(group) {
                    let a = &mut self.attackers[k];
                    sends.extend(
                        self.network
                            .send_unicast(link, now, from, to, msg, &mut a.rng),
                    );
                    a.tally.messages += 1;
                }
            }
            LinkKind::Lora => {
                let medium = MEDIUM_BASE + group as u64;
                let a = &mut self.attackers[k];
                sends.extend(self.network.send_lora(now, from, medium, msg, &mut a.rng));
                a.tally.messages += 1;
            }
        }
        let after = self.network.traffic.get(&link).cloned().unwrap_or_default();
        let a = &mut self.attackers[k];
        a.tally.bytes += after.bytes - before.bytes;
        a.tally.airtime_ms += after.airtime_ms - before.airtime_ms;
        for (at, frame) in sends {
            self.clock.schedule(at, Ev::Deliver(frame));
        }
    }

    /// A frame reached an attacker: a replayer keeps the whole messages it overhears.
    pub(crate) fn attacker_heard(&mut self, now: u64, frame: Frame) {
        let Some(a) = self.attackers.iter_mut().find(|a| a.index == frame.to) else {
            return;
        };
        if a.config.kind != AttackKind::Replay {
            return;
        }
        let r = a
            .reassembly
            .entry(frame.kind)
            .or_insert_with(|| Reassembler::new(ReassemblyConfig::default()));
        if let Ok(Some(msg)) = r.push(now, frame.from as u64, &frame.bytes) {
            if a.captured.len() >= MAX_CAPTURED {
                a.captured.pop_front();
            }
            a.captured.push_back(msg);
            a.tally.captured += 1;
        }
    }

    /// An honest engine reported an error about `peer`: count it against the attacker.
    pub(crate) fn attacker_struck(&mut self, peer: u64) {
        if let Some(a) = self.attackers.iter_mut().find(|a| a.index as u64 == peer) {
            a.tally.peer_errors += 1;
        }
    }
}
