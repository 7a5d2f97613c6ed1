//! A `SignedRecord` as a peer sends it, through the ledger's intake.
//! The body lives in `meshpay_protocol::fuzzing`, where a stable test replays the corpus.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| meshpay_protocol::fuzzing::record_intake(data));
