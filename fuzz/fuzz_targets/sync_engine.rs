//! A sync engine fed arbitrary frames from several peers and a medium.
//! The body lives in `meshpay_protocol::fuzzing`, where a stable test replays the corpus.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| meshpay_protocol::fuzzing::sync_engine(data));
