//! A bundle file carried by hand: decoded, merged, encoded again.
//! The body lives in `meshpay_protocol::fuzzing`, where a stable test replays the corpus.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| meshpay_protocol::fuzzing::bundle_decode(data));
