//! Time on air of a reconciliation on a Meshtastic channel: every message cut into
//! frames of at most `MESHTASTIC_MAX_PAYLOAD` bytes, each frame sent with Meshtastic's
//! header at the preset's modulation.

use anyhow::{Context, Result};
use meshpay_protocol::radio::fragment::{FRAGMENT_HEADER_LEN, fragment};
use meshpay_protocol::radio::preset::MESHTASTIC_HEADER_LEN;
use meshpay_protocol::radio::{MESHTASTIC_MAX_PAYLOAD, ModemPreset};
use serde::Serialize;

use super::link::Sent;

/// The duty-cycle window: an hour.
pub const WINDOW_S: f64 = 3_600.0;
/// The regulatory duty cycle (EU868 g-band: 10 %).
pub const DUTY: f64 = 0.10;
/// The share of that meshpay keeps for itself: half.
pub const KEPT: f64 = 0.5;

/// Airtime of one reconciliation.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Airtime {
    /// The preset's name.
    pub preset: &'static str,
    /// Frames each side sent.
    pub frames_a: u64,
    pub frames_b: u64,
    /// Bytes on air (frames with fragment and Meshtastic headers), both sides.
    pub air_bytes: u64,
    /// Seconds on air, each side and in all.
    pub seconds_a: f64,
    pub seconds_b: f64,
    pub seconds: f64,
    /// The hourly budget one node keeps: window × duty cycle × kept share, in seconds.
    pub budget_s: f64,
    /// `seconds` over the budget.
    pub budget_share: f64,
    /// The busier side's seconds over its own budget (each node has its own).
    pub busiest_side_share: f64,
    /// Lower bound: the differing records alone, packed into full frames.
    pub payload_seconds: f64,
}

fn frame_us(preset: ModemPreset, frame_len: usize) -> u64 {
    preset.modem().airtime_us(frame_len + MESHTASTIC_HEADER_LEN)
}

/// Airtime of `log` at `preset`; `payload_bytes` gives the lower bound.
pub fn airtime(preset: ModemPreset, log: &[Sent], payload_bytes: u64) -> Result<Airtime> {
    let (mut frames, mut us, mut air_bytes) = ([0u64; 2], [0u64; 2], 0u64);
    let mut ids = [0u16; 2];
    for m in log {
        let side = usize::from(!m.from_a);
        ids[side] = ids[side].wrapping_add(1);
        let cut = fragment(&m.bytes, MESHTASTIC_MAX_PAYLOAD, ids[side])
            .context("message does not fragment")?;
        for f in cut {
            frames[side] += 1;
            air_bytes += (f.len() + MESHTASTIC_HEADER_LEN) as u64;
            us[side] += frame_us(preset, f.len());
        }
    }
    // The records alone, as one stream in full fragments.
    let per_frame = (MESHTASTIC_MAX_PAYLOAD - FRAGMENT_HEADER_LEN) as u64;
    let full = payload_bytes / per_frame;
    let rest = payload_bytes % per_frame;
    let mut payload_us = full * frame_us(preset, MESHTASTIC_MAX_PAYLOAD);
    if rest > 0 {
        payload_us += frame_us(preset, rest as usize + FRAGMENT_HEADER_LEN);
    }
    let budget_s = WINDOW_S * DUTY * KEPT;
    let (sa, sb) = (us[0] as f64 / 1e6, us[1] as f64 / 1e6);
    Ok(Airtime {
        preset: preset.name(),
        frames_a: frames[0],
        frames_b: frames[1],
        air_bytes,
        seconds_a: sa,
        seconds_b: sb,
        seconds: sa + sb,
        budget_s,
        budget_share: (sa + sb) / budget_s,
        busiest_side_share: sa.max(sb) / budget_s,
        payload_seconds: payload_us as f64 / 1e6,
    })
}
