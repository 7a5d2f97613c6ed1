//! The ledger fed structured sequences of valid and invalid signed records.
//! The body lives in `meshpay_protocol::fuzzing`, where a stable test replays the corpus.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| meshpay_protocol::fuzzing::ledger_ops(data));
