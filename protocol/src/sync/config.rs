//! The sync engine's bounds and timings, validated once. Defaults suit a LAN; a LoRa
//! link shrinks the message size and stretches the timeouts.

/// Bounds and timings of the sync engine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncConfig {
    /// Largest message the engine sends or accepts, in bytes (links fragment to their MTU).
    pub max_message_bytes: usize,
    /// Coded symbols the initiator asks for first (more follow as needed).
    pub initial_symbols: u32,
    /// Coded symbols asked for at most in one request.
    pub max_symbols_per_request: u32,
    /// Past this many symbols without decoding, reconciliation falls back to ranges.
    pub symbol_budget: u64,
    /// Ranges sent in one range request, at most.
    pub max_ranges_per_message: usize,
    /// A range holding at most this many of the responder's ids is listed, not split.
    pub list_threshold: usize,
    /// Sub-ranges a differing range is split into.
    pub split_fanout: usize,
    /// Rounds of range splitting before a session gives up on a peer.
    pub max_split_rounds: u32,
    /// Records per message, at most.
    pub max_records_per_message: usize,
    /// How long an initiator waits for an answer before asking again.
    pub retransmit_ms: u64,
    /// Times a request is asked again before the session fails.
    pub max_retransmits: u32,
    /// Fresh sessions tried when a decode proves wrong (a short-id collision).
    pub max_retries: u32,
    /// Interval between periodic reconciliations with a peer.
    pub reconcile_every_ms: u64,
    /// A peer may open at most one session per this interval; more are refused.
    pub min_session_interval_ms: u64,
    /// Records queued for pushing to one peer, at most (backfill is dropped first).
    pub max_push_queue: usize,
    /// Ids remembered per peer as known to it (so they are not pushed to it again).
    pub max_known_per_peer: usize,
    /// Errors a peer may cause before its messages are ignored for `penalty_ms`.
    pub max_errors: u32,
    /// How long a misbehaving peer is ignored.
    pub penalty_ms: u64,
    /// On a broadcast medium, the longest random wait before asking a stream for more,
    /// so that one neighbour asks and the others listen to the answer.
    pub broadcast_backoff_ms: u64,
    /// On a broadcast medium, an identical request answered this recently is not
    /// answered again (everyone heard the answer).
    pub broadcast_repeat_ms: u64,
    /// How long an announced stream stays open for requests.
    pub broadcast_stream_ms: u64,
    /// Records of an account already in conflict pushed to one peer per window, at
    /// most (the conflict proof itself goes first and is not counted).
    pub conflict_relay_per_account: u32,
    /// The window of that budget.
    pub conflict_relay_window_ms: u64,
}

impl Default for SyncConfig {
    fn default() -> Self {
        SyncConfig {
            max_message_bytes: 64 * 1024,
            initial_symbols: 12,
            max_symbols_per_request: 4_096,
            symbol_budget: 20_000,
            max_ranges_per_message: 256,
            list_threshold: 32,
            split_fanout: 16,
            max_split_rounds: 16,
            max_records_per_message: 256,
            retransmit_ms: 2_000,
            max_retransmits: 5,
            max_retries: 2,
            reconcile_every_ms: 60_000,
            min_session_interval_ms: 1_000,
            max_push_queue: 10_000,
            max_known_per_peer: 100_000,
            max_errors: 10,
            penalty_ms: 60_000,
            broadcast_backoff_ms: 500,
            broadcast_repeat_ms: 1_000,
            broadcast_stream_ms: 120_000,
            conflict_relay_per_account: 16,
            conflict_relay_window_ms: 60_000,
        }
    }
}

/// Why a sync configuration was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("sync config invalid: {0}")]
pub struct ConfigError(pub &'static str);

impl SyncConfig {
    /// A configuration for a LoRa link: small messages, patient timeouts.
    pub fn lora() -> Self {
        SyncConfig {
            max_message_bytes: 2_048,
            initial_symbols: 8,
            max_symbols_per_request: 200,
            max_ranges_per_message: 48,
            max_records_per_message: 8,
            retransmit_ms: 30_000,
            reconcile_every_ms: 15 * 60_000,
            min_session_interval_ms: 30_000,
            broadcast_backoff_ms: 10_000,
            broadcast_repeat_ms: 20_000,
            broadcast_stream_ms: 30 * 60_000,
            conflict_relay_per_account: 4,
            conflict_relay_window_ms: 15 * 60_000,
            ..SyncConfig::default()
        }
    }

    /// A configuration for a BLE link (a phone relaying over GATT): a few kB/s at best
    /// and connections that come and go, so mid-sized messages and quicker retries than
    /// LoRa, with no shared channel to spare.
    pub fn ble() -> Self {
        SyncConfig {
            max_message_bytes: 8 * 1_024,
            max_symbols_per_request: 1_000,
            max_ranges_per_message: 64,
            max_records_per_message: 32,
            retransmit_ms: 5_000,
            reconcile_every_ms: 2 * 60_000,
            min_session_interval_ms: 5_000,
            conflict_relay_per_account: 8,
            ..SyncConfig::default()
        }
    }

    /// Checks the bounds fit together.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.max_message_bytes < 1_200 {
            return Err(ConfigError(
                "messages must hold at least one record (1200 bytes)",
            ));
        }
        if self.initial_symbols == 0 || self.max_symbols_per_request < self.initial_symbols {
            return Err(ConfigError("symbol request sizes"));
        }
        if self.symbol_budget < u64::from(self.max_symbols_per_request) {
            return Err(ConfigError("symbol budget below one request"));
        }
        if self.split_fanout < 2
            || self.list_threshold == 0
            || self.max_ranges_per_message < self.split_fanout
        {
            return Err(ConfigError("range splitting bounds"));
        }
        if self.max_records_per_message == 0 || self.max_push_queue == 0 {
            return Err(ConfigError("record queue bounds"));
        }
        if self.retransmit_ms == 0 || self.max_retransmits == 0 {
            return Err(ConfigError("retransmission"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_configs_are_valid() {
        for c in [SyncConfig::default(), SyncConfig::lora(), SyncConfig::ble()] {
            c.validate().expect("valid");
        }
        let mut c = SyncConfig::ble();
        c.max_ranges_per_message = 1;
        assert!(c.validate().is_err());
    }
}
