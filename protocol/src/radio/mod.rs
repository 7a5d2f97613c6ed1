//! What the radio links and the network simulator share about the air: LoRa time on
//! air, Meshtastic's presets, the duty-cycle budget, and fragmentation of messages
//! larger than a frame. Pure, like the rest of the crate: time comes in as `now_ms`.
//!
//! Units: airtime is always microseconds (`u64`), clock readings milliseconds.

pub mod airtime;
pub mod duty;
pub mod fragment;
pub mod preset;

pub use airtime::{LORA_MAX_PACKET, LdroMode, LoraModem, LoraParams, LoraParamsError};
pub use duty::{DutyCycle, DutyCycleError};
pub use fragment::{
    FragmentError, MAX_FRAGMENTS, MAX_MESSAGE_BYTES, Reassembler, ReassemblyConfig, fragment,
};
pub use preset::{MESHTASTIC_MAX_PAYLOAD, ModemPreset};
