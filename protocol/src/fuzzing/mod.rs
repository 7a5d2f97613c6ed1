//! Fuzz bodies: one plain `fn(&[u8])` per decoder of peer input, so the fuzz targets in
//! `fuzz/` and a stable test that replays their corpora run the very same code. A body
//! panics only on a bug: a panic, an overflow, or a broken invariant it checks.
//!
//! Behind the `fuzzing` feature (and always in this crate's tests); never in a node.

mod engine;
mod fixture;
mod input;
mod ledger_ops;
pub mod seeds;

#[cfg(test)]
mod replay_tests;

use crate::bundle;
use crate::ledger::{Ledger, RecordSet};
use crate::radio::fragment::{self, MAX_MESSAGE_BYTES, Reassembler, ReassemblyConfig};
use crate::record::{self, Record};
use crate::sync::{SyncConfig, message};
use crate::wire;
use input::Input;

pub use engine::sync_engine;
pub use fixture::{Fixture, fixture};
pub use ledger_ops::ledger_ops;

/// A fuzz body: takes any bytes, panics only on a bug.
pub type Body = fn(&[u8]);

/// Every fuzz target by name (as in `fuzz/fuzz_targets/<name>.rs` and
/// `fuzz/corpus/<name>/`), with its body.
pub const TARGETS: &[(&str, Body)] = &[
    ("record_intake", record_intake),
    ("bundle_decode", bundle_decode),
    ("sync_message", sync_message),
    ("sync_engine", sync_engine),
    ("reassembly", reassembly),
    ("ledger_ops", ledger_ops),
];

/// The body of target `name`.
pub fn target(name: &str) -> Option<Body> {
    TARGETS.iter().find(|(n, _)| *n == name).map(|(_, b)| *b)
}

/// A `SignedRecord` as a peer sends it, through intake: alone and in a batch (the
/// verdicts must agree), and with its signature taken as checked, as a store's replay
/// would, so the rules behind the signature are reached too.
pub fn record_intake(data: &[u8]) {
    let fx = fixture();
    let Ok(signed) = record::decode_signed(data) else {
        return;
    };
    let mut alone = fx.full_ledger();
    let a = alone.insert(signed.clone());
    let mut batch = fx.full_ledger();
    let b = batch.merge(vec![signed.clone(), signed.clone()], &mut fixture::rng());
    // One verdict everywhere: how a signature was checked never changes it.
    assert_eq!((&a.added, &a.refused), (&b.added, &b.refused));
    assert_eq!(alone.state_digest(), batch.state_digest());
    if let Ok(parsed) = record::parse(signed) {
        let mut trusted = fx.full_ledger();
        trusted.merge_verified(vec![parsed.into_trusted()]);
        check_ledger(&trusted);
    }
}

/// A bundle file as carried by hand: decoded, its records merged into a ledger of the
/// network it names, and encoded again (which must decode to the same).
pub fn bundle_decode(data: &[u8]) {
    let Ok((spec, items, _framing)) = bundle::decode(data) else {
        return;
    };
    let records: Vec<wire::SignedRecord> = items.into_iter().filter_map(Result::ok).collect();
    let again = bundle::encode(&spec, &records);
    let (spec2, items2, framing2) = bundle::decode(&again).expect("an encoded bundle decodes");
    assert_eq!(spec2, spec);
    assert!(framing2.is_none());
    let records2: Vec<wire::SignedRecord> = items2
        .into_iter()
        .map(|i| i.expect("an encoded record decodes"))
        .collect();
    assert_eq!(records2, records);
    if let Ok(mut ledger) = Ledger::new(spec) {
        ledger.merge(records, &mut fixture::rng());
        check_ledger(&ledger);
    }
}

/// A sync message, under each link's configuration: what one accepts encodes to bytes
/// it accepts again, as the same message.
pub fn sync_message(data: &[u8]) {
    for config in [SyncConfig::default(), SyncConfig::lora(), SyncConfig::ble()] {
        let Ok(m) = message::decode(data, &config) else {
            continue;
        };
        let bytes = message::encode(&m);
        let again = message::decode(&bytes, &config).expect("a re-encoded message is accepted");
        assert_eq!(again, m);
        if let Some(wire::sync_message::Body::Records(r)) = &m.body {
            let records = message::unpack_records(&r.records, config.max_records_per_message)
                .expect("checked on decode");
            assert!(records.len() <= config.max_records_per_message);
        }
    }
}

/// Radio frames from several senders into one reassembler with tight bounds, with time
/// passing. Operations, each a tag byte and its arguments:
/// `0 source len:u16 frame` pushes a frame; `1 ms:u16` lets time pass;
/// `2 mtu len:u16 message` cuts a message (anything else) and pushes its fragments,
/// last first, from a sender of its own, which must deliver it whole.
pub fn reassembly(data: &[u8]) {
    let mut input = Input::new(data);
    let config = ReassemblyConfig {
        max_partials: 4,
        max_buffered_bytes: 4_096,
        timeout_ms: 2_000,
        max_delivered: 8,
    };
    let mut r = Reassembler::new(config);
    let mut now = 0u64;
    let mut msg_id = 0u16;
    while let Some(tag) = input.byte() {
        match tag % 3 {
            0 => {
                let source = u64::from(input.byte().unwrap_or(0) % 4);
                let frame = input.chunk();
                if let Ok(Some(msg)) = r.push(now, source, frame) {
                    assert!(msg.len() <= MAX_MESSAGE_BYTES);
                }
            }
            1 => now += u64::from(input.u16().unwrap_or(0)),
            _ => {
                let mtu = usize::from(input.byte().unwrap_or(0)).max(fragment::MIN_MTU);
                let msg = input.chunk();
                msg_id = msg_id.wrapping_add(1);
                let Ok(frames) = fragment::fragment(msg, mtu, msg_id) else {
                    continue;
                };
                // A reassembler of its own: the shared one may rightly evict it.
                let mut alone = Reassembler::new(ReassemblyConfig::default());
                let mut out = None;
                for f in frames.iter().rev() {
                    r.push(now, 100, f).ok();
                    if let Some(m) = alone.push(now, 100, f).expect("own fragments fit") {
                        out = Some(m);
                    }
                }
                assert_eq!(out.as_deref(), Some(msg));
            }
        }
        assert!(r.buffered_bytes() <= config.max_buffered_bytes);
        assert!(r.partials() <= config.max_partials);
    }
}

/// Invariants any ledger must meet: rebuilt from its own records (in dependency order,
/// and in reverse, which puts them through the orphan pool) it derives the same state;
/// and where every checkpoint's head is held, money is conserved.
pub fn check_ledger<S: RecordSet>(ledger: &Ledger<S>) {
    let records: Vec<Record> = ledger
        .records_in_dependency_order()
        .into_iter()
        .cloned()
        .collect();
    let digest = ledger.state_digest();
    let mut forward = Ledger::new(ledger.spec().clone()).expect("valid spec");
    forward.merge_verified(records.clone());
    assert_eq!(
        forward.state_digest(),
        digest,
        "a rebuild derives another state"
    );
    let mut backward = Ledger::new(ledger.spec().clone()).expect("valid spec");
    backward.merge_verified(records.into_iter().rev().collect());
    assert_eq!(
        backward.state_digest(),
        digest,
        "arrival order changed the state"
    );
    if ledger.holds_checkpoint_heads() {
        ledger.check_conservation().expect("money is conserved");
    }
}
