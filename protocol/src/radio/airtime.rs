//! LoRa time on air by Semtech's formula (SX127x datasheet and AN1200.13; the SX126x
//! datasheet, section 6.1.4, for SF5 and SF6), in exact integer arithmetic so the node's
//! duty budget and the simulator's channel model agree to the microsecond.

/// Smallest spreading factor (SX126x; the SX127x stops at 6).
pub const MIN_SPREADING_FACTOR: u8 = 5;
/// Largest spreading factor.
pub const MAX_SPREADING_FACTOR: u8 = 12;
/// Narrowest LoRa bandwidth: the SX127x's 7.8 kHz setting.
pub const MIN_BANDWIDTH_HZ: u32 = 7_800;
/// Widest LoRa bandwidth: the SX128x's 1625 kHz setting.
pub const MAX_BANDWIDTH_HZ: u32 = 1_625_000;
/// Coding rate 4/5, as its denominator.
pub const MIN_CODING_RATE: u8 = 5;
/// Coding rate 4/8, as its denominator.
pub const MAX_CODING_RATE: u8 = 8;
/// Shortest preamble an SX127x can be programmed with.
pub const MIN_PREAMBLE_SYMBOLS: u16 = 6;
/// Symbol time from which [`LdroMode::Auto`] turns low data rate optimisation on: the
/// threshold Semtech recommends and RadioLib (Meshtastic's driver) applies.
pub const LDRO_THRESHOLD_US: u64 = 16_000;
/// Most payload bytes one LoRa packet carries: the PHY length field is one byte.
pub const LORA_MAX_PACKET: usize = 255;

const US_PER_S: u128 = 1_000_000;

/// Whether the radio uses low data rate optimisation (fewer bits per symbol, for clock
/// drift tolerance on long symbols).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LdroMode {
    /// On when a symbol lasts at least [`LDRO_THRESHOLD_US`].
    Auto,
    /// Always on.
    On,
    /// Always off.
    Off,
}

/// A LoRa modulation as configured; [`LoraParams::validate`] turns it into a
/// [`LoraModem`] that computes airtime.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LoraParams {
    /// Spreading factor, [`MIN_SPREADING_FACTOR`]..=[`MAX_SPREADING_FACTOR`].
    pub spreading_factor: u8,
    /// Bandwidth in Hz (125 kHz is 125_000).
    pub bandwidth_hz: u32,
    /// Coding rate denominator: 5..=8 for 4/5..4/8.
    pub coding_rate: u8,
    /// Programmed preamble length; the radio adds 4.25 symbols of sync (6.25 at SF5/SF6).
    pub preamble_symbols: u16,
    /// Whether packets carry the explicit PHY header (length, coding rate, CRC flag).
    pub explicit_header: bool,
    /// Whether packets carry the 16-bit payload CRC.
    pub crc: bool,
    /// Low data rate optimisation.
    pub low_data_rate_optimize: LdroMode,
}

/// A LoRa parameter outside what the radios support.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoraParamsError {
    /// The spreading factor is outside 5..=12.
    #[error("spreading factor {sf}, want {MIN_SPREADING_FACTOR}..={MAX_SPREADING_FACTOR}")]
    SpreadingFactor { sf: u8 },
    /// The bandwidth is outside what any LoRa radio offers.
    #[error("bandwidth {hz} Hz, want {MIN_BANDWIDTH_HZ}..={MAX_BANDWIDTH_HZ}")]
    Bandwidth { hz: u32 },
    /// The coding rate denominator is outside 5..=8.
    #[error("coding rate 4/{denominator}, want 4/{MIN_CODING_RATE}..=4/{MAX_CODING_RATE}")]
    CodingRate { denominator: u8 },
    /// The preamble is shorter than a radio can send.
    #[error("preamble of {symbols} symbols, at least {MIN_PREAMBLE_SYMBOLS}")]
    PreambleTooShort { symbols: u16 },
}

impl LoraParams {
    /// Checks every field against the radios' ranges.
    pub fn validate(self) -> Result<LoraModem, LoraParamsError> {
        let sf = self.spreading_factor;
        if !(MIN_SPREADING_FACTOR..=MAX_SPREADING_FACTOR).contains(&sf) {
            return Err(LoraParamsError::SpreadingFactor { sf });
        }
        let hz = self.bandwidth_hz;
        if !(MIN_BANDWIDTH_HZ..=MAX_BANDWIDTH_HZ).contains(&hz) {
            return Err(LoraParamsError::Bandwidth { hz });
        }
        let denominator = self.coding_rate;
        if !(MIN_CODING_RATE..=MAX_CODING_RATE).contains(&denominator) {
            return Err(LoraParamsError::CodingRate { denominator });
        }
        if self.preamble_symbols < MIN_PREAMBLE_SYMBOLS {
            return Err(LoraParamsError::PreambleTooShort {
                symbols: self.preamble_symbols,
            });
        }
        Ok(LoraModem::checked(self))
    }
}

/// Validated LoRa parameters: the only way to compute airtime, so no airtime is ever
/// computed from a modulation no radio runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LoraModem {
    params: LoraParams,
    /// `low_data_rate_optimize` resolved against the symbol time.
    ldro: bool,
}

impl LoraModem {
    /// Validates `params`; the same as [`LoraParams::validate`].
    pub fn new(params: LoraParams) -> Result<Self, LoraParamsError> {
        params.validate()
    }

    /// Wraps parameters already known valid (validation, the preset table).
    pub(super) fn checked(params: LoraParams) -> Self {
        // Exact comparison of 2^SF / BW >= 16 ms, with no rounding of the symbol time.
        let long_symbols = (1u128 << params.spreading_factor) * US_PER_S
            >= u128::from(LDRO_THRESHOLD_US) * u128::from(params.bandwidth_hz);
        let ldro = match params.low_data_rate_optimize {
            LdroMode::Auto => long_symbols,
            LdroMode::On => true,
            LdroMode::Off => false,
        };
        LoraModem { params, ldro }
    }

    /// The parameters this modem was built from.
    pub fn params(&self) -> LoraParams {
        self.params
    }

    /// Whether low data rate optimisation is on (after resolving `Auto`).
    pub fn ldro(&self) -> bool {
        self.ldro
    }

    /// One symbol, 2^SF / BW, in microseconds rounded up (exact at 62.5, 125, 250 and
    /// 500 kHz).
    pub fn symbol_time_us(&self) -> u64 {
        self.quarter_symbols_to_us(4)
    }

    /// Symbols after the preamble and sync: the 8 fixed ones plus the coded payload
    /// (Semtech's `payloadSymbNb`).
    pub fn payload_symbols(&self, payload_len: usize) -> u64 {
        let p = &self.params;
        let sf = u128::from(p.spreading_factor);
        let short_sf = p.spreading_factor < 7;
        // Numerator: payload and CRC bits plus header, minus what the 8 fixed symbols
        // already carry. SF5/SF6 drop the +8 (SX126x datasheet); the SX127x form writes
        // the same as 8PL - 4SF + 28 + 16CRC - 20IH.
        let plus = 16 * u128::from(p.crc)
            + 20 * u128::from(p.explicit_header)
            + if short_sf { 0 } else { 8 };
        let bits = (8 * payload_len as u128 + plus).saturating_sub(4 * sf);
        // Denominator: bits per symbol times four; LDRO drops two bits per symbol.
        // Applied whenever LDRO is on, as RadioLib does, though no valid bandwidth makes
        // Auto turn it on at SF5/SF6.
        let per_symbol = 4 * (sf - if self.ldro { 2 } else { 0 });
        let blocks = bits.div_ceil(per_symbol);
        let symbols = 8 + blocks * u128::from(p.coding_rate);
        u64::try_from(symbols).unwrap_or(u64::MAX)
    }

    /// Time on air of one packet carrying `payload_len` bytes, in microseconds rounded
    /// up. A radio sends at most [`LORA_MAX_PACKET`]; longer lengths follow the same
    /// formula, saturating.
    pub fn airtime_us(&self, payload_len: usize) -> u64 {
        let p = &self.params;
        // Preamble plus sync word and start of frame: n + 4.25 symbols (n + 6.25 at
        // SF5/SF6), counted in quarter symbols to stay in integers.
        let sync_quarters: u128 = if p.spreading_factor < 7 { 25 } else { 17 };
        let preamble_quarters = 4 * u128::from(p.preamble_symbols) + sync_quarters;
        let quarters =
            preamble_quarters.saturating_add(4 * u128::from(self.payload_symbols(payload_len)));
        self.quarter_symbols_to_us(quarters)
    }

    /// `quarters` quarter-symbols in microseconds, rounded up.
    fn quarter_symbols_to_us(&self, quarters: u128) -> u64 {
        let p = &self.params;
        let num = quarters
            .saturating_mul(1u128 << p.spreading_factor)
            .saturating_mul(US_PER_S);
        let den = 4 * u128::from(p.bandwidth_hz);
        u64::try_from(num.div_ceil(den)).unwrap_or(u64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::testkit;

    /// The textbook LoRaWAN setting: 8-symbol preamble, explicit header, CRC on.
    fn lorawan(sf: u8, bandwidth_hz: u32, ldro: LdroMode) -> LoraModem {
        LoraParams {
            spreading_factor: sf,
            bandwidth_hz,
            coding_rate: 5,
            preamble_symbols: 8,
            explicit_header: true,
            crc: true,
            low_data_rate_optimize: ldro,
        }
        .validate()
        .expect("valid")
    }

    // Reference values. Each is Semtech's formula (AN1200.13, SX1276 datasheet 4.1.1.7)
    // as published with worked numbers:
    // - rfwireless-world.com "LoRaWAN Airtime calculator", example 1: SF7, BW125, CR4/5,
    //   8 preamble, explicit header, CRC, 10 bytes, LDRO off: preamble 12.544 ms,
    //   header+payload 28.672 ms, packet 41.216 ms.
    // - the same page, example 2: SF11, BW125, LDRO on, 10 bytes: preamble 200.704 ms,
    //   payload 376.832 ms, packet 577.536 ms; and its SF table (10 bytes): SF12 991 ms.
    // - the "LoRa airtime" spreadsheet built on AN1200.13: SF9, BW125, CR4/5, 8 preamble,
    //   explicit header, LDRO off, 13 bytes: Tsym 4.096 ms, payloadSymbNb 28,
    //   Tpacket 164.864 ms.

    #[test]
    fn sf7_bw125_ten_bytes_is_41_216_ms() {
        let m = lorawan(7, 125_000, LdroMode::Auto);
        assert!(!m.ldro());
        assert_eq!(m.symbol_time_us(), 1_024);
        // 8 + ceil((80 - 28 + 28 + 16) / 28) * 5 = 8 + 4 * 5 = 28 symbols = 28.672 ms.
        assert_eq!(m.payload_symbols(10), 28);
        assert_eq!(m.airtime_us(10) - 28 * 1_024, 12_544);
        assert_eq!(m.airtime_us(10), 41_216);
    }

    #[test]
    fn sf11_bw125_ldro_ten_bytes_is_577_536_ms() {
        let m = lorawan(11, 125_000, LdroMode::On);
        // 8 + ceil((80 - 44 + 28 + 16) / 36) * 5 = 8 + 3 * 5 = 23 symbols.
        assert_eq!(m.payload_symbols(10), 23);
        assert_eq!(m.airtime_us(10), 577_536);
        // Auto agrees: 2048 / 125 kHz = 16.384 ms >= 16 ms.
        assert!(lorawan(11, 125_000, LdroMode::Auto).ldro());
    }

    #[test]
    fn sf12_bw125_ten_bytes_is_991_ms() {
        let m = lorawan(12, 125_000, LdroMode::Auto);
        assert!(m.ldro());
        assert_eq!(m.symbol_time_us(), 32_768);
        // Preamble 12.25 * 32.768 = 401.408 ms; 8 + ceil(76 / 40) * 5 = 18 symbols =
        // 589.824 ms.
        assert_eq!(m.payload_symbols(10), 18);
        assert_eq!(m.airtime_us(10), 991_232);
    }

    #[test]
    fn sf9_bw125_thirteen_bytes_is_164_864_ms() {
        let m = lorawan(9, 125_000, LdroMode::Off);
        assert_eq!(m.symbol_time_us(), 4_096);
        assert_eq!(m.payload_symbols(13), 28);
        assert_eq!(m.airtime_us(13), 164_864);
    }

    #[test]
    fn sf6_uses_the_sx126x_short_sf_form() {
        // SX126x datasheet 6.1.4 (and RadioLib's getTimeOnAir): preamble + 6.25 + 8 +
        // ceil((8PL + 16CRC - 4SF + 20) / (4SF)) * (CR + 4). SF6, BW125, 10 bytes:
        // Tsym = 64 / 125 kHz = 512 us; ceil((80 + 16 - 24 + 20) / 24) = 4, so
        // 8 + 6.25 + 8 + 20 = 42.25 symbols = 21.632 ms.
        let m = lorawan(6, 125_000, LdroMode::Auto);
        assert_eq!(m.payload_symbols(10), 28);
        assert_eq!(m.airtime_us(10), 21_632);
    }

    #[test]
    fn empty_payload_still_pays_the_fixed_symbols() {
        // Without CRC or header at SF12 the numerator goes negative and clamps to zero:
        // only the 8 fixed symbols remain.
        let m = LoraParams {
            explicit_header: false,
            crc: false,
            ..lorawan(12, 125_000, LdroMode::Off).params()
        }
        .validate()
        .expect("valid");
        assert_eq!(m.payload_symbols(0), 8);
        assert_eq!(m.airtime_us(0), (8 * 4 + 17 + 8 * 4) * 32_768 / 4);
    }

    #[test]
    fn ldro_auto_flips_at_sixteen_ms() {
        assert!(!lorawan(10, 125_000, LdroMode::Auto).ldro()); // 8.192 ms
        assert!(lorawan(11, 125_000, LdroMode::Auto).ldro()); // 16.384 ms
        assert!(!lorawan(11, 250_000, LdroMode::Auto).ldro()); // 8.192 ms
        assert!(lorawan(12, 250_000, LdroMode::Auto).ldro()); // 16.384 ms
        assert!(lorawan(10, 62_500, LdroMode::Auto).ldro()); // 16.384 ms
        assert!(!lorawan(12, 125_000, LdroMode::Off).ldro());
        assert!(lorawan(7, 125_000, LdroMode::On).ldro());
    }

    #[test]
    fn non_integer_symbol_times_round_up() {
        // SF7 at 203.125 kHz (SX128x): 128 / 203125 Hz = 630.15 us.
        let m = lorawan(7, 203_125, LdroMode::Auto);
        assert_eq!(m.symbol_time_us(), 631);
        // 12.25 + 28 = 40.25 symbols = 161 * 128 / (4 * 203125) s = 25363.69 us.
        assert_eq!(m.payload_symbols(10), 28);
        assert_eq!(m.airtime_us(10), 25_364);
    }

    #[test]
    fn out_of_range_parameters_are_refused() {
        let ok = lorawan(7, 125_000, LdroMode::Auto).params();
        let bad = |p: LoraParams| p.validate().expect_err("invalid");
        assert_eq!(
            bad(LoraParams {
                spreading_factor: 4,
                ..ok
            }),
            LoraParamsError::SpreadingFactor { sf: 4 }
        );
        assert_eq!(
            bad(LoraParams {
                spreading_factor: 13,
                ..ok
            }),
            LoraParamsError::SpreadingFactor { sf: 13 }
        );
        assert_eq!(
            bad(LoraParams {
                bandwidth_hz: 0,
                ..ok
            }),
            LoraParamsError::Bandwidth { hz: 0 }
        );
        assert_eq!(
            bad(LoraParams {
                bandwidth_hz: 2_000_000,
                ..ok
            }),
            LoraParamsError::Bandwidth { hz: 2_000_000 }
        );
        assert_eq!(
            bad(LoraParams {
                coding_rate: 4,
                ..ok
            }),
            LoraParamsError::CodingRate { denominator: 4 }
        );
        assert_eq!(
            bad(LoraParams {
                coding_rate: 9,
                ..ok
            }),
            LoraParamsError::CodingRate { denominator: 9 }
        );
        assert_eq!(
            bad(LoraParams {
                preamble_symbols: 5,
                ..ok
            }),
            LoraParamsError::PreambleTooShort { symbols: 5 }
        );
    }

    fn any_modem() -> impl Strategy<Value = LoraModem> {
        (
            MIN_SPREADING_FACTOR..=MAX_SPREADING_FACTOR,
            MIN_BANDWIDTH_HZ..=MAX_BANDWIDTH_HZ,
            MIN_CODING_RATE..=MAX_CODING_RATE,
            MIN_PREAMBLE_SYMBOLS..=u16::MAX,
            any::<bool>(),
            any::<bool>(),
            prop_oneof![
                Just(LdroMode::Auto),
                Just(LdroMode::On),
                Just(LdroMode::Off)
            ],
        )
            .prop_map(|(sf, bw, cr, pre, header, crc, ldro)| {
                LoraParams {
                    spreading_factor: sf,
                    bandwidth_hz: bw,
                    coding_rate: cr,
                    preamble_symbols: pre,
                    explicit_header: header,
                    crc,
                    low_data_rate_optimize: ldro,
                }
                .validate()
                .expect("in range")
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(testkit::cases()))]

        /// A longer payload never takes less air, and the total is the preamble plus the
        /// payload symbols to within the one rounding.
        #[test]
        fn airtime_is_monotone_and_consistent(m in any_modem(), len in 0..=LORA_MAX_PACKET) {
            let a = m.airtime_us(len);
            prop_assert!(a <= m.airtime_us(len + 1));
            let p = m.params();
            let sync: u128 = if p.spreading_factor < 7 { 25 } else { 17 };
            let quarters = 4 * u128::from(p.preamble_symbols) + sync
                + 4 * u128::from(m.payload_symbols(len));
            let exact_num = quarters * (1u128 << p.spreading_factor) * 1_000_000;
            let den = 4 * u128::from(p.bandwidth_hz);
            prop_assert!(u128::from(a) * den >= exact_num);
            prop_assert!(u128::from(a) * den < exact_num + den);
        }

        /// Huge lengths saturate instead of overflowing.
        #[test]
        fn huge_lengths_do_not_overflow(m in any_modem(), len in any::<usize>()) {
            let _ = m.airtime_us(len);
        }
    }
}
