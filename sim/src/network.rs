//! The link model: unicast LAN and BLE links (latency, MTU, bandwidth, loss) and LoRa
//! media: frames of at most a Meshtastic payload, sent back to back, each holding the
//! shared channel for its airtime and lost per copy; a sender listens before it talks
//! (channel activity detection), so only transmissions that start within one slot of
//! each other collide, and then every overlapping frame of both is lost. Partition state
//! and traffic are counted per link kind.

use std::collections::{BTreeMap, HashMap, HashSet};

use meshpay_protocol::radio::fragment::fragment;
use meshpay_protocol::radio::preset::MESHTASTIC_HEADER_LEN;
use meshpay_protocol::radio::{LoraModem, MESHTASTIC_MAX_PAYLOAD};
use rand_chacha::ChaCha8Rng;
use rand_core::Rng;
use serde::Serialize;

use crate::scenario::{LinkConfig, LinkKind, PER_MILLE, Scenario};

/// Microseconds per millisecond.
const US_PER_MS: u64 = 1_000;
/// Microseconds per second.
const US_PER_S: u64 = 1_000_000;

/// A frame on its way.
#[derive(Debug, Clone)]
pub struct Frame {
    /// Sender node.
    pub from: usize,
    /// Receiver node.
    pub to: usize,
    /// The broadcast medium it was heard on, or `None` for a unicast link.
    pub medium: Option<u64>,
    /// Which kind of link carried it.
    pub kind: LinkKind,
    /// The frame's bytes (fragment header included).
    pub bytes: Vec<u8>,
    /// Its transmission on a medium (0 on a unicast link): lost if it collided.
    pub tx: u64,
}

/// One sender's frames sent back to back on a medium.
#[derive(Debug, Clone)]
struct Burst {
    from: usize,
    start_us: u64,
    end_us: u64,
    /// (transmission id, start, end) of each frame.
    frames: Vec<(u64, u64, u64)>,
}

/// Traffic of one link kind.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Traffic {
    /// Frames put on the wire (a broadcast counts once).
    pub frames: u64,
    /// Their bytes, fragment headers included.
    pub bytes: u64,
    /// Frame copies lost to the loss model.
    pub lost: u64,
    /// Frame copies dropped because a split cut the link.
    pub cut: u64,
    /// Time on air, in ms (LoRa only).
    pub airtime_ms: f64,
    /// Frame copies lost to a collision on the channel (LoRa only).
    pub collided: u64,
    /// Sends put off because the channel was heard busy (LoRa only).
    pub deferred_busy: u64,
    /// Sends put off by the node's duty-cycle budget (LoRa only).
    pub deferred_duty: u64,
    /// Messages dropped because they exceed the whole duty-cycle budget (LoRa only).
    pub dropped_duty: u64,
}

/// The network between the nodes.
pub struct Network {
    lan: LinkConfig,
    ble: LinkConfig,
    lora_loss: u64,
    modem: LoraModem,
    /// Each node's group.
    group_of: Vec<usize>,
    /// Whether the backbone between groups is cut.
    pub split: bool,
    /// Groups cut off on their own while the rest stay joined.
    pub cut: std::collections::BTreeSet<usize>,
    /// When each directed unicast link is free again, in µs.
    link_busy: HashMap<(LinkKind, usize, usize), u64>,
    /// Bursts on each medium that may still be on air.
    air: BTreeMap<u64, Vec<Burst>>,
    /// Transmissions that collided, until their bursts are forgotten.
    collided: HashSet<u64>,
    next_tx: u64,
    /// A backoff slot, and the time a transmission must have been on air to be heard.
    slot_us: u64,
    /// Slots a sender picks its backoff from.
    contention_slots: u64,
    /// Members of each medium.
    media: BTreeMap<u64, Vec<usize>>,
    msg_ids: Vec<u16>,
    /// Traffic per link kind.
    pub traffic: BTreeMap<LinkKind, Traffic>,
}

/// A backoff slot: two and a half symbols, about what channel activity detection needs
/// to hear a preamble (the contention slot Meshtastic's firmware uses is of this size).
fn slot_us(modem: &LoraModem) -> u64 {
    modem.symbol_time_us() * 5 / 2
}

impl Network {
    /// The network of `scenario`, nodes numbered group by group.
    pub fn new(scenario: &Scenario) -> Self {
        let group_of = scenario.initial_groups();
        Network {
            lan: scenario.lan.clone(),
            ble: scenario.ble.clone(),
            lora_loss: scenario.lora.loss_per_mille,
            modem: scenario.preset().modem(),
            msg_ids: vec![0; group_of.len()],
            group_of,
            split: false,
            cut: Default::default(),
            link_busy: HashMap::new(),
            air: BTreeMap::new(),
            collided: HashSet::new(),
            next_tx: 0,
            slot_us: slot_us(&scenario.preset().modem()),
            contention_slots: scenario.lora.contention_slots,
            media: BTreeMap::new(),
            traffic: BTreeMap::new(),
        }
    }

    /// Node `node`'s group.
    pub fn group_of(&self, node: usize) -> usize {
        self.group_of[node]
    }

    /// Adds a party outside the honest nodes (an attacker) to `group`; returns its
    /// index, which follows the nodes'.
    pub fn add_outsider(&mut self, group: usize) -> usize {
        self.group_of.push(group);
        self.msg_ids.push(0);
        self.group_of.len() - 1
    }

    /// Moves `node` into `group` (a mobile relay walking to another camp).
    pub fn set_group(&mut self, node: usize, group: usize) {
        self.group_of[node] = group;
    }

    /// Adds `node` to a medium's members (it is in range now).
    pub fn join_medium(&mut self, medium: u64, node: usize) {
        let members = self.media.entry(medium).or_default();
        if !members.contains(&node) {
            members.push(node);
        }
    }

    /// Takes `node` off a medium (out of range).
    pub fn leave_medium(&mut self, medium: u64, node: usize) {
        if let Some(m) = self.media.get_mut(&medium) {
            m.retain(|&n| n != node);
        }
    }

    /// Registers a broadcast medium and its members.
    pub fn add_medium(&mut self, medium: u64, members: Vec<usize>) {
        self.media.insert(medium, members);
    }

    /// Whether `a` and `b` can talk now.
    pub fn reachable(&self, a: usize, b: usize) -> bool {
        let (ga, gb) = (self.group_of[a], self.group_of[b]);
        ga == gb || !(self.split || self.cut.contains(&ga) || self.cut.contains(&gb))
    }

    /// Whether every group reaches every other.
    pub fn whole(&self) -> bool {
        !self.split && self.cut.is_empty()
    }

    /// Whether `listener` finds the medium free at `now` (ms): it is not sending, and
    /// no other burst has been on air for a slot or more (a younger one is not heard).
    pub fn medium_free(&self, medium: u64, now: u64, listener: usize) -> bool {
        self.busy_until(medium, now, listener).is_none()
    }

    /// When the burst `listener` hears (or sends) at `now` ends, in ms, if any.
    pub fn busy_until(&self, medium: u64, now: u64, listener: usize) -> Option<u64> {
        let t = now * US_PER_MS;
        self.air
            .get(&medium)?
            .iter()
            .filter(|b| t < b.end_us && (b.from == listener || b.start_us + self.slot_us <= t))
            .map(|b| b.end_us.div_ceil(US_PER_MS))
            .max()
    }

    /// A random backoff before a LoRa send: a whole number of slots, in ms.
    pub fn backoff_ms(&self, rng: &mut ChaCha8Rng) -> u64 {
        let k = rng.next_u64() % self.contention_slots.max(1);
        (k * self.slot_us).div_ceil(US_PER_MS)
    }

    /// Time on air of `msg` sent on LoRa, fragments and Meshtastic headers included.
    pub fn lora_airtime_us(&self, msg: &[u8]) -> u64 {
        fragment(msg, MESHTASTIC_MAX_PAYLOAD, 0)
            .map(|frames| {
                frames
                    .iter()
                    .map(|f| self.modem.airtime_us(f.len() + MESHTASTIC_HEADER_LEN))
                    .sum()
            })
            .unwrap_or(u64::MAX)
    }

    /// Whether a frame's transmission collided.
    pub fn collided(&self, tx: u64) -> bool {
        tx != 0 && self.collided.contains(&tx)
    }

    /// Counts a send put off on LoRa: by a busy channel, or by the duty-cycle budget.
    pub fn count_deferred(&mut self, by_duty: bool) {
        let t = self.traffic.entry(LinkKind::Lora).or_default();
        if by_duty {
            t.deferred_duty += 1;
        } else {
            t.deferred_busy += 1;
        }
    }

    /// Counts a message too long for the whole duty-cycle budget.
    pub fn count_dropped_duty(&mut self) {
        self.traffic.entry(LinkKind::Lora).or_default().dropped_duty += 1;
    }

    /// Counts a frame copy lost to a collision.
    pub fn count_collided(&mut self) {
        self.traffic.entry(LinkKind::Lora).or_default().collided += 1;
    }

    fn next_msg_id(&mut self, from: usize) -> u16 {
        self.msg_ids[from] = self.msg_ids[from].wrapping_add(1);
        self.msg_ids[from]
    }

    fn lost(rng: &mut ChaCha8Rng, per_mille: u64) -> bool {
        per_mille > 0 && rng.next_u64() % PER_MILLE < per_mille
    }

    /// Sends `msg` from `from` to `to` over a unicast link of `kind` (LAN or BLE);
    /// returns the frames with their arrival times (ms). Serialisation queues behind
    /// earlier frames on the link.
    pub fn send_unicast(
        &mut self,
        kind: LinkKind,
        now: u64,
        from: usize,
        to: usize,
        msg: &[u8],
        rng: &mut ChaCha8Rng,
    ) -> Vec<(u64, Frame)> {
        let id = self.next_msg_id(from);
        let frames = fragment(msg, self.mtu(kind), id).expect("engine messages fit a fragment set");
        self.send_unicast_frames(kind, now, from, to, frames, rng)
    }

    /// The largest frame a link of `kind` carries.
    pub fn mtu(&self, kind: LinkKind) -> usize {
        match kind {
            LinkKind::Ble => self.ble.mtu,
            LinkKind::Lan => self.lan.mtu,
            LinkKind::Lora => MESHTASTIC_MAX_PAYLOAD,
        }
    }

    /// Sends frames a node core cut (within the link's MTU) from `from` to `to` over a
    /// unicast link of `kind`; returns them with their arrival times (ms).
    pub fn send_unicast_frames(
        &mut self,
        kind: LinkKind,
        now: u64,
        from: usize,
        to: usize,
        frames: Vec<Vec<u8>>,
        rng: &mut ChaCha8Rng,
    ) -> Vec<(u64, Frame)> {
        let link = match kind {
            LinkKind::Ble => &self.ble,
            LinkKind::Lan | LinkKind::Lora => &self.lan,
        };
        let mut out = Vec::with_capacity(frames.len());
        let busy = self.link_busy.entry((kind, from, to)).or_insert(0);
        let traffic = self.traffic.entry(kind).or_default();
        for f in frames {
            let start = (*busy).max(now * US_PER_MS);
            let end = start + (f.len() as u64 * US_PER_S).div_ceil(link.bandwidth_bytes_per_s);
            *busy = end;
            traffic.frames += 1;
            traffic.bytes += f.len() as u64;
            if Self::lost(rng, link.loss_per_mille) {
                traffic.lost += 1;
                continue;
            }
            let at = end.div_ceil(US_PER_MS) + link.latency_ms;
            out.push((
                at,
                Frame {
                    from,
                    to,
                    medium: None,
                    kind,
                    bytes: f,
                    tx: 0,
                },
            ));
        }
        out
    }

    /// Broadcasts `msg` from `from` on `medium`, starting at `now`: frames go out back
    /// to back, each occupying the channel for its airtime, and reach each member (lost
    /// per copy). A burst already on air that overlaps this one collides with it: the
    /// overlapping frames of both are lost (no capture effect is modelled).
    pub fn send_lora(
        &mut self,
        now: u64,
        from: usize,
        medium: u64,
        msg: &[u8],
        rng: &mut ChaCha8Rng,
    ) -> Vec<(u64, Frame)> {
        let id = self.next_msg_id(from);
        let frames =
            fragment(msg, MESHTASTIC_MAX_PAYLOAD, id).expect("LoRa messages fit a fragment set");
        self.send_lora_frames(now, from, medium, frames, rng)
    }

    /// Broadcasts frames a node core cut from `from` on `medium`, as `send_lora` does.
    pub fn send_lora_frames(
        &mut self,
        now: u64,
        from: usize,
        medium: u64,
        frames: Vec<Vec<u8>>,
        rng: &mut ChaCha8Rng,
    ) -> Vec<(u64, Frame)> {
        let members = self.media.get(&medium).cloned().unwrap_or_default();
        let start_us = now * US_PER_MS;
        self.forget_old_bursts(medium, start_us);
        let traffic = self.traffic.entry(LinkKind::Lora).or_default();
        let mut burst = Burst {
            from,
            start_us,
            end_us: start_us,
            frames: Vec::with_capacity(frames.len()),
        };
        let mut out = Vec::new();
        for f in frames {
            let airtime = self.modem.airtime_us(f.len() + MESHTASTIC_HEADER_LEN);
            let start = burst.end_us;
            burst.end_us = start + airtime;
            self.next_tx += 1;
            let tx = self.next_tx;
            burst.frames.push((tx, start, burst.end_us));
            traffic.frames += 1;
            traffic.bytes += f.len() as u64;
            traffic.airtime_ms += airtime as f64 / US_PER_MS as f64;
            for &to in members.iter().filter(|&&m| m != from) {
                if Self::lost(rng, self.lora_loss) {
                    traffic.lost += 1;
                    continue;
                }
                out.push((
                    burst.end_us.div_ceil(US_PER_MS),
                    Frame {
                        from,
                        to,
                        medium: Some(medium),
                        kind: LinkKind::Lora,
                        bytes: f.clone(),
                        tx,
                    },
                ));
            }
        }
        let on_air = self.air.entry(medium).or_default();
        for other in on_air.iter() {
            for &(a, a0, a1) in &other.frames {
                for &(b, b0, b1) in &burst.frames {
                    if a0 < b1 && b0 < a1 {
                        self.collided.insert(a);
                        self.collided.insert(b);
                    }
                }
            }
        }
        on_air.push(burst);
        out
    }

    /// Drops bursts whose frames were all delivered long ago, with their collision marks.
    fn forget_old_bursts(&mut self, medium: u64, now_us: u64) {
        let Some(on_air) = self.air.get_mut(&medium) else {
            return;
        };
        // Frames are delivered at their end rounded up to the ms: a burst that ended
        // more than a second ago has no frame left in flight.
        let horizon = now_us.saturating_sub(US_PER_S);
        let collided = &mut self.collided;
        on_air.retain(|b| {
            let keep = b.end_us > horizon;
            if !keep {
                for (tx, _, _) in &b.frames {
                    collided.remove(tx);
                }
            }
            keep
        });
    }

    /// Counts a frame dropped by a split.
    pub fn count_cut(&mut self, kind: LinkKind) {
        self.traffic.entry(kind).or_default().cut += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::{DEFAULT_SCENARIO, LinkConfig};
    use rand_core::SeedableRng;

    /// A BLE message goes out in ATT-sized frames, paced by the link's rate, and
    /// arrives after the connection interval; a LAN link of the same scenario is faster.
    #[test]
    fn ble_frames_are_small_and_slow() {
        let mut scenario = Scenario::parse(DEFAULT_SCENARIO).expect("valid");
        scenario.ble.loss_per_mille = 0;
        scenario.lan.loss_per_mille = 0;
        let mut net = Network::new(&scenario);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let msg = vec![7u8; 2_000];
        let ble = net.send_unicast(LinkKind::Ble, 0, 0, 1, &msg, &mut rng);
        let mtu = LinkConfig::ble().mtu;
        assert!(ble.len() >= msg.len().div_ceil(mtu));
        assert!(
            ble.iter()
                .all(|(_, f)| f.bytes.len() <= mtu && f.kind == LinkKind::Ble)
        );
        let last = ble.iter().map(|(at, _)| *at).max().expect("frames");
        let sent: u64 = ble.iter().map(|(_, f)| f.bytes.len() as u64).sum();
        let floor = sent * 1_000 / LinkConfig::ble().bandwidth_bytes_per_s + 30;
        assert!(last >= floor, "{last} < {floor}");
        let lan = net.send_unicast(LinkKind::Lan, 0, 0, 1, &msg, &mut rng);
        let lan_last = lan.iter().map(|(at, _)| *at).max().expect("frames");
        assert!(lan_last < last);
        assert_eq!(net.traffic[&LinkKind::Ble].frames, ble.len() as u64);
    }

    /// Two senders that start within one slot of each other both lose every
    /// overlapping frame; one that starts later hears the first and waits.
    #[test]
    fn bursts_within_a_slot_collide_and_later_ones_are_heard() {
        let mut scenario = Scenario::parse(DEFAULT_SCENARIO).expect("valid");
        scenario.lora.loss_per_mille = 0;
        let mut net = Network::new(&scenario);
        let medium = 1 << 40;
        net.add_medium(medium, vec![0, 1, 2]);
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let msg = vec![1u8; 100];
        assert!(net.medium_free(medium, 1_000, 0));
        let a = net.send_lora(1_000, 0, medium, &msg, &mut rng);
        // Node 1 listens at the same instant: too soon to hear node 0's preamble.
        assert!(net.medium_free(medium, 1_000, 1));
        assert!(
            !net.medium_free(medium, 1_000, 0),
            "a sender knows it is sending"
        );
        let b = net.send_lora(1_000, 1, medium, &msg, &mut rng);
        assert!(a.iter().chain(&b).all(|(_, f)| net.collided(f.tx)));
        // A slot later node 2 hears the channel busy until the bursts end.
        let later = 1_000 + slot_us(&net.modem).div_ceil(US_PER_MS);
        let end = net.busy_until(medium, later, 2).expect("heard");
        assert!(end >= a.iter().map(|(at, _)| *at).max().expect("frames") - 1);
        // After both ended, a new burst is clean.
        let c = net.send_lora(end + 10, 2, medium, &msg, &mut rng);
        assert!(c.iter().all(|(_, f)| !net.collided(f.tx)));
    }
}
