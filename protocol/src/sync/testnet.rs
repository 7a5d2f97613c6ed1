//! An in-memory network for the sync engine's tests: nodes (ledger + engine) joined by
//! links with an MTU (messages are fragmented as on a radio), latency, jitter that
//! reorders frames, and loss, all driven by one seed and a virtual clock.

use std::collections::{BTreeSet, HashMap};

use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};

use super::{Event, SyncConfig, SyncEngine};
use crate::chain::ChainSpec;
use crate::ledger::Ledger;
use crate::radio::fragment::{Reassembler, ReassemblyConfig, fragment};
use crate::wire;

/// One node: its ledger and its engine.
pub struct Node {
    pub ledger: Ledger,
    pub engine: SyncEngine,
    pub events: Vec<Event>,
}

struct Frame {
    at: u64,
    order: u64,
    from: usize,
    to: usize,
    /// Heard on this broadcast medium, or sent over a link.
    medium: Option<u64>,
    bytes: Vec<u8>,
}

/// The network.
pub struct TestNet {
    pub nodes: Vec<Node>,
    pub now: u64,
    rng: ChaCha20Rng,
    /// Frames lost, per thousand.
    pub loss_per_mille: u64,
    pub mtu: usize,
    pub latency_ms: u64,
    pub jitter_ms: u64,
    links: BTreeSet<(usize, usize)>,
    /// Broadcast media: id -> member nodes.
    media: Vec<(u64, Vec<usize>)>,
    flight: Vec<Frame>,
    order: u64,
    reassembly: HashMap<usize, Reassembler>,
    msg_id: u16,
    /// Bytes put on the air (frames with headers), in total.
    pub wire_bytes: u64,
}

impl TestNet {
    /// `n` nodes of the network `spec`, each engine seeded from `seed`.
    pub fn new(spec: &ChainSpec, n: usize, config: SyncConfig, seed: u64) -> Self {
        let nodes = (0..n)
            .map(|i| {
                let mut s = [0u8; 32];
                s[..8].copy_from_slice(&seed.to_le_bytes());
                s[8..16].copy_from_slice(&(i as u64).to_le_bytes());
                Node {
                    ledger: Ledger::new(spec.clone()).expect("spec"),
                    engine: SyncEngine::new(config.clone(), s).expect("config"),
                    events: Vec::new(),
                }
            })
            .collect();
        TestNet {
            nodes,
            now: 0,
            rng: ChaCha20Rng::seed_from_u64(seed),
            loss_per_mille: 0,
            mtu: 200,
            latency_ms: 20,
            jitter_ms: 30,
            links: BTreeSet::new(),
            media: Vec::new(),
            flight: Vec::new(),
            order: 0,
            reassembly: HashMap::new(),
            msg_id: 0,
            wire_bytes: 0,
        }
    }

    /// Joins two nodes.
    pub fn connect(&mut self, a: usize, b: usize) {
        self.links.insert((a, b));
        self.links.insert((b, a));
        let now = self.now;
        self.nodes[a].engine.add_peer(now, b as u64);
        self.nodes[b].engine.add_peer(now, a as u64);
    }

    /// Puts nodes on one broadcast medium: a frame any of them sends reaches all the
    /// others (each copy lost on its own).
    pub fn broadcast_medium(&mut self, medium: u64, members: Vec<usize>) {
        let now = self.now;
        for &i in &members {
            self.nodes[i].engine.add_medium(now, medium);
        }
        self.media.push((medium, members));
    }

    /// Cuts a link; frames on it are lost.
    pub fn disconnect(&mut self, a: usize, b: usize) {
        self.links.remove(&(a, b));
        self.links.remove(&(b, a));
        self.nodes[a].engine.remove_peer(b as u64);
        self.nodes[b].engine.remove_peer(a as u64);
        self.flight
            .retain(|f| !((f.from == a && f.to == b) || (f.from == b && f.to == a)));
    }

    /// A record created at node `i` (a local payment), merged and pushed.
    pub fn inject(&mut self, i: usize, records: Vec<wire::SignedRecord>) {
        let mut rng = crate::testkit::rng(self.now ^ i as u64);
        let node = &mut self.nodes[i];
        let changes = node.ledger.merge(records, &mut rng);
        node.engine.on_merged(None, &changes, &node.ledger);
    }

    fn events(&mut self, i: usize, events: Vec<Event>) {
        let mut rng = crate::testkit::rng(self.now.wrapping_mul(31) ^ i as u64);
        for e in events {
            if let Event::Received { peer, records } = &e {
                let node = &mut self.nodes[i];
                let changes = node.ledger.merge(records.clone(), &mut rng);
                node.engine.on_merged(Some(*peer), &changes, &node.ledger);
            }
            self.nodes[i].events.push(e);
        }
    }

    /// Sends raw bytes from `from` to `to` as if `from` had sent them.
    pub fn send_raw(&mut self, from: usize, to: usize, msg: &[u8]) {
        self.transmit(from, &[to], None, msg);
    }

    /// Fragments a message and puts its frames in flight to every receiver.
    fn transmit(&mut self, from: usize, to: &[usize], medium: Option<u64>, msg: &[u8]) {
        self.msg_id = self.msg_id.wrapping_add(1);
        let frames = fragment(msg, self.mtu, self.msg_id).expect("fits");
        for f in frames {
            // On a medium one transmission reaches everyone: count its bytes once.
            self.wire_bytes += f.len() as u64;
            for &t in to {
                if self.rng.next_u64() % 1000 < self.loss_per_mille {
                    continue;
                }
                let at = self.now + self.latency_ms + self.rng.next_u64() % (self.jitter_ms + 1);
                self.order += 1;
                self.flight.push(Frame {
                    at,
                    order: self.order,
                    from,
                    to: t,
                    medium,
                    bytes: f.clone(),
                });
            }
        }
    }

    /// Advances the clock by `tick` ms, moving every message due.
    pub fn step(&mut self, tick: u64) {
        let links: Vec<(usize, usize)> = self.links.iter().copied().collect();
        for (a, b) in links {
            for _ in 0..64 {
                let node = &mut self.nodes[a];
                let Some(msg) =
                    node.engine
                        .poll_transmit(self.now, b as u64, usize::MAX, &node.ledger)
                else {
                    break;
                };
                self.send_raw(a, b, &msg);
            }
            let ev = self.nodes[a].engine.take_events();
            self.events(a, ev);
        }
        let media = self.media.clone();
        for (medium, members) in media {
            for &a in &members {
                let others: Vec<usize> = members.iter().copied().filter(|&b| b != a).collect();
                for _ in 0..16 {
                    let node = &mut self.nodes[a];
                    let Some(msg) =
                        node.engine
                            .poll_transmit(self.now, medium, usize::MAX, &node.ledger)
                    else {
                        break;
                    };
                    self.transmit(a, &others, Some(medium), &msg);
                }
                let ev = self.nodes[a].engine.take_events();
                self.events(a, ev);
            }
        }
        self.now += tick;
        let now = self.now;
        self.flight.sort_by_key(|f| (f.at, f.order));
        let due = self.flight.partition_point(|f| f.at <= now);
        let frames: Vec<Frame> = self.flight.drain(..due).collect();
        for f in frames {
            let r = self
                .reassembly
                .entry(f.to)
                .or_insert_with(|| Reassembler::new(ReassemblyConfig::default()));
            if let Ok(Some(msg)) = r.push(now, f.from as u64, &f.bytes) {
                let node = &mut self.nodes[f.to];
                let ev = match f.medium {
                    Some(m) => node
                        .engine
                        .handle_medium(now, m, f.from as u64, &msg, &node.ledger),
                    None => node.engine.handle(now, f.from as u64, &msg, &node.ledger),
                };
                self.events(f.to, ev);
            }
        }
        for i in 0..self.nodes.len() {
            let node = &mut self.nodes[i];
            if node.engine.poll_timeout().is_some_and(|t| t <= now) {
                let ev = node.engine.handle_timeout(now, &node.ledger);
                self.events(i, ev);
            }
        }
    }

    /// Whether nothing is in flight and no session is under way.
    pub fn quiet(&self) -> bool {
        self.flight.is_empty()
            && self
                .nodes
                .iter()
                .all(|n| n.engine.peers().all(|p| !n.engine.reconciling(p)))
            && self
                .media
                .iter()
                .all(|(m, members)| members.iter().all(|&i| !self.nodes[i].engine.listening(*m)))
    }

    /// Runs until quiet (after at least `min_ms`) or `max_ms` of virtual time.
    pub fn run(&mut self, min_ms: u64, max_ms: u64) {
        let start = self.now;
        while self.now - start < max_ms {
            self.step(10);
            if self.now - start >= min_ms && self.quiet() {
                // One more round so pushes queued by the last merges go out.
                self.step(10);
                if self.quiet() {
                    break;
                }
            }
        }
    }

    /// Runs until every node shows the same state digest and nothing is under way, or
    /// `max_ms` of virtual time passed. On a lossy link that takes periodic
    /// reconciliations: a quiet moment is not yet agreement.
    pub fn converge(&mut self, max_ms: u64) {
        let start = self.now;
        while self.now - start < max_ms {
            self.step(10);
            if self.quiet() {
                let d = self.digests();
                if d.iter().all(|x| *x == d[0]) {
                    break;
                }
            }
        }
    }

    /// State digests of the nodes.
    pub fn digests(&self) -> Vec<[u8; 32]> {
        self.nodes.iter().map(|n| n.ledger.state_digest()).collect()
    }
}
