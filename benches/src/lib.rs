//! meshpay-benches: criterion benchmarks and report binaries that measure merge and sync
//! against their physical limits; this crate starts empty until those are written.
