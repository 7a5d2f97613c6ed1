//! The link model: unicast LAN and BLE links (latency, MTU, bandwidth, loss) and LoRa media (frames of
//! at most a Meshtastic payload, each delayed by its airtime on a shared channel, lost
//! per copy), with the partition state and traffic counted per link kind.

use std::collections::{BTreeMap, HashMap};

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
    /// When each medium is free again, in µs.
    medium_busy: BTreeMap<u64, u64>,
    /// Members of each medium.
    media: BTreeMap<u64, Vec<usize>>,
    msg_ids: Vec<u16>,
    /// Traffic per link kind.
    pub traffic: BTreeMap<LinkKind, Traffic>,
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
            medium_busy: BTreeMap::new(),
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

    /// Whether the medium is free for a new transmission at `now` (ms).
    pub fn medium_free(&self, medium: u64, now: u64) -> bool {
        self.medium_busy
            .get(&medium)
            .is_none_or(|&b| b <= now * US_PER_MS)
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
        let link = match kind {
            LinkKind::Ble => &self.ble,
            LinkKind::Lan | LinkKind::Lora => &self.lan,
        };
        let frames = fragment(msg, link.mtu, id).expect("engine messages fit a fragment set");
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
                },
            ));
        }
        out
    }

    /// Broadcasts `msg` from `from` on `medium`: frames go out back to back, each
    /// occupying the channel for its airtime, and reach each member (lost per copy).
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
        let members = self.media.get(&medium).cloned().unwrap_or_default();
        let busy = self.medium_busy.entry(medium).or_insert(0);
        let traffic = self.traffic.entry(LinkKind::Lora).or_default();
        let mut out = Vec::new();
        for f in frames {
            let airtime = self.modem.airtime_us(f.len() + MESHTASTIC_HEADER_LEN);
            let start = (*busy).max(now * US_PER_MS);
            let end = start + airtime;
            *busy = end;
            traffic.frames += 1;
            traffic.bytes += f.len() as u64;
            traffic.airtime_ms += airtime as f64 / US_PER_MS as f64;
            for &to in members.iter().filter(|&&m| m != from) {
                if Self::lost(rng, self.lora_loss) {
                    traffic.lost += 1;
                    continue;
                }
                out.push((
                    end.div_ceil(US_PER_MS),
                    Frame {
                        from,
                        to,
                        medium: Some(medium),
                        kind: LinkKind::Lora,
                        bytes: f.clone(),
                    },
                ));
            }
        }
        out
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
}
