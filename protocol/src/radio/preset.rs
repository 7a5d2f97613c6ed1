//! Meshtastic's modem presets as LoRa parameters, so a node sharing a Meshtastic channel
//! (and the simulator modelling one) computes the airtime the firmware does.

use super::airtime::{LORA_MAX_PACKET, LdroMode, LoraModem, LoraParams};

/// Most application bytes in one Meshtastic packet: the firmware's `DATA_PAYLOAD_LEN`.
pub const MESHTASTIC_MAX_PAYLOAD: usize = 233;
/// The unencrypted header in front of every Meshtastic packet on air (`PacketHeader`:
/// to, from, id, flags, channel, next hop, relay node).
pub const MESHTASTIC_HEADER_LEN: usize = 16;
/// Meshtastic's preamble below 2.4 GHz: longer than LoRaWAN's 8 so receivers can sleep
/// longer between listens.
pub const MESHTASTIC_PREAMBLE_SYMBOLS: u16 = 16;

// A full Meshtastic packet, header and payload, fits one LoRa packet.
const _: () = assert!(MESHTASTIC_HEADER_LEN + MESHTASTIC_MAX_PAYLOAD <= LORA_MAX_PACKET);

/// A Meshtastic modem preset (the sub-GHz variants; 2.4 GHz widens every bandwidth).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ModemPreset {
    /// SF7, 500 kHz, 4/5.
    ShortTurbo,
    /// SF7, 250 kHz, 4/5.
    ShortFast,
    /// SF8, 250 kHz, 4/5.
    ShortSlow,
    /// SF9, 250 kHz, 4/5.
    MediumFast,
    /// SF10, 250 kHz, 4/5.
    MediumSlow,
    /// SF11, 250 kHz, 4/5: the firmware's default.
    LongFast,
    /// SF11, 500 kHz, 4/8.
    LongTurbo,
    /// SF11, 125 kHz, 4/8.
    LongModerate,
    /// SF12, 125 kHz, 4/8.
    LongSlow,
    /// SF12, 62.5 kHz, 4/8. Deprecated: current firmware has no case for it and runs
    /// LongFast instead; these are the values older firmware used.
    VeryLongSlow,
}

impl ModemPreset {
    /// Every preset, fastest first.
    pub const ALL: [ModemPreset; 10] = [
        ModemPreset::ShortTurbo,
        ModemPreset::ShortFast,
        ModemPreset::ShortSlow,
        ModemPreset::MediumFast,
        ModemPreset::MediumSlow,
        ModemPreset::LongFast,
        ModemPreset::LongTurbo,
        ModemPreset::LongModerate,
        ModemPreset::LongSlow,
        ModemPreset::VeryLongSlow,
    ];

    /// The name Meshtastic shows (and hashes into the default channel name).
    pub fn name(self) -> &'static str {
        match self {
            ModemPreset::ShortTurbo => "ShortTurbo",
            ModemPreset::ShortFast => "ShortFast",
            ModemPreset::ShortSlow => "ShortSlow",
            ModemPreset::MediumFast => "MediumFast",
            ModemPreset::MediumSlow => "MediumSlow",
            ModemPreset::LongFast => "LongFast",
            ModemPreset::LongTurbo => "LongTurbo",
            ModemPreset::LongModerate => "LongModerate",
            ModemPreset::LongSlow => "LongSlow",
            ModemPreset::VeryLongSlow => "VeryLongSlow",
        }
    }

    /// The preset named `name`, as Meshtastic shows it ("LongFast") or as its protobuf
    /// enum spells it ("LONG_FAST").
    pub fn from_name(name: &str) -> Option<Self> {
        let squashed: String = name
            .chars()
            .filter(|c| *c != '_')
            .map(|c| c.to_ascii_lowercase())
            .collect();
        Self::ALL
            .into_iter()
            .find(|p| p.name().to_ascii_lowercase() == squashed)
    }

    /// (spreading factor, bandwidth in Hz, coding rate denominator).
    ///
    /// From the firmware's preset table, `modemPresetToParams()` in
    /// `src/mesh/MeshRadio.h` (formerly the switch in `RadioInterface::applyModemConfig()`),
    /// non-wide-LoRa column; VeryLongSlow from that older switch, the last to carry it.
    pub fn sf_bw_cr(self) -> (u8, u32, u8) {
        match self {
            ModemPreset::ShortTurbo => (7, 500_000, 5),
            ModemPreset::ShortFast => (7, 250_000, 5),
            ModemPreset::ShortSlow => (8, 250_000, 5),
            ModemPreset::MediumFast => (9, 250_000, 5),
            ModemPreset::MediumSlow => (10, 250_000, 5),
            ModemPreset::LongFast => (11, 250_000, 5),
            ModemPreset::LongTurbo => (11, 500_000, 8),
            ModemPreset::LongModerate => (11, 125_000, 8),
            ModemPreset::LongSlow => (12, 125_000, 8),
            ModemPreset::VeryLongSlow => (12, 62_500, 8),
        }
    }

    /// The full LoRa parameters: 16-symbol preamble, explicit header, CRC on, LDRO as
    /// RadioLib sets it (on from 16 ms symbols).
    pub fn params(self) -> LoraParams {
        let (spreading_factor, bandwidth_hz, coding_rate) = self.sf_bw_cr();
        LoraParams {
            spreading_factor,
            bandwidth_hz,
            coding_rate,
            preamble_symbols: MESHTASTIC_PREAMBLE_SYMBOLS,
            explicit_header: true,
            crc: true,
            low_data_rate_optimize: LdroMode::Auto,
        }
    }

    /// The preset's modem; every preset is in range (a test checks).
    pub fn modem(self) -> LoraModem {
        LoraModem::checked(self.params())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_is_valid_and_named_uniquely() {
        for p in ModemPreset::ALL {
            assert_eq!(p.params().validate(), Ok(p.modem()), "{p:?}");
            assert_eq!(ModemPreset::from_name(p.name()), Some(p));
        }
        assert_eq!(
            ModemPreset::from_name("LONG_FAST"),
            Some(ModemPreset::LongFast)
        );
        assert_eq!(
            ModemPreset::from_name("very_long_slow"),
            Some(ModemPreset::VeryLongSlow)
        );
        assert_eq!(ModemPreset::from_name("LongFastest"), None);
    }

    #[test]
    fn long_fast_full_packet_airtime() {
        // By hand: SF11 at 250 kHz, Tsym = 2048 / 250 kHz = 8.192 ms, LDRO off.
        // Preamble 16 + 4.25 = 20.25 symbols = 165.888 ms.
        // Payload 8 + ceil((8*255 - 4*11 + 28 + 16) / (4*11)) * 5
        //       = 8 + ceil(2040 / 44) * 5 = 8 + 47 * 5 = 243 symbols = 1990.656 ms.
        // Total 263.25 symbols = 2156.544 ms.
        let m = ModemPreset::LongFast.modem();
        assert!(!m.ldro());
        assert_eq!(m.symbol_time_us(), 8_192);
        assert_eq!(m.payload_symbols(LORA_MAX_PACKET), 243);
        assert_eq!(m.airtime_us(LORA_MAX_PACKET), 2_156_544);
    }

    #[test]
    fn ldro_follows_symbol_time() {
        let on: Vec<ModemPreset> = ModemPreset::ALL
            .into_iter()
            .filter(|p| p.modem().ldro())
            .collect();
        assert_eq!(
            on,
            [
                ModemPreset::LongModerate,
                ModemPreset::LongSlow,
                ModemPreset::VeryLongSlow
            ]
        );
    }

    #[test]
    fn full_packet_airtime_table() {
        // Every preset at 255 bytes; the expected values come from an independent
        // exact-fraction evaluation of AN1200.13's formula (16-symbol preamble, explicit
        // header, CRC, LDRO on from 16 ms symbols), not from this code.
        let table: Vec<(&str, u64)> = ModemPreset::ALL
            .into_iter()
            .map(|p| (p.name(), p.modem().airtime_us(LORA_MAX_PACKET)))
            .collect();
        for (name, us) in &table {
            println!("{name:>13}: {:>9.3} ms", *us as f64 / 1000.0);
        }
        assert_eq!(
            table,
            [
                ("ShortTurbo", 101_952),
                ("ShortFast", 203_904),
                ("ShortSlow", 361_728),
                ("MediumFast", 641_536),
                ("MediumSlow", 1_180_672),
                ("LongFast", 2_156_544),
                ("LongTurbo", 1_655_808),
                ("LongModerate", 7_933_952),
                ("LongSlow", 14_295_040),
                ("VeryLongSlow", 28_590_080),
            ]
        );
    }
}
