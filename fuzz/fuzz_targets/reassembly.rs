//! Radio frames from several senders into one bounded reassembler.
//! The body lives in `meshpay_protocol::fuzzing`, where a stable test replays the corpus.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| meshpay_protocol::fuzzing::reassembly(data));
