//! Seed inputs for every target, built from the fixture and from a real exchange
//! between two engines, so the fuzzer starts from inputs that reach deep. The replay
//! test runs them too; `write_seeds` (an ignored test) writes them out for a fuzzer.

use prost::Message;

use super::engine::{self, Harness, Op, Script};
use super::fixture::{self, fixture, issuer_key};
use super::input::Writer;
use crate::bundle;
use crate::id::RecordId;
use crate::radio::fragment;
use crate::record::{self, Body, Checkpoint, Kind};
use crate::sync::{Event, SyncEngine};

/// The seed inputs of target `name` (none for an unknown name).
pub fn seeds(name: &str) -> Vec<Vec<u8>> {
    match name {
        "record_intake" => record_intake(),
        "bundle_decode" => bundle_decode(),
        "sync_message" => exchanges().into_iter().flat_map(|(_, m)| m).collect(),
        "sync_engine" => exchanges().into_iter().map(|(s, _)| s).collect(),
        "reassembly" => reassembly(),
        "ledger_ops" => ledger_ops(),
        _ => Vec::new(),
    }
}

fn record_intake() -> Vec<Vec<u8>> {
    let fx = fixture();
    let mut out: Vec<Vec<u8>> = fx.history.iter().map(|r| r.encode_to_vec()).collect();
    // A checkpoint at the top of the seq range, and one at the bound.
    let issuer = record::account_of(issuer_key(0));
    let last = fx.records.last().expect("a history").clone();
    for at_seq in [u64::MAX, record::MAX_SEQ] {
        let body = Body {
            signer: issuer,
            seq: 9,
            prev: Some(last.id()),
            timestamp_ms: 0,
            kind: Kind::Checkpoint(Checkpoint {
                account: last.signer(),
                at_seq,
                head: RecordId([7; 32]),
                balance: 0,
                previous: None,
            }),
        };
        out.push(record::sign(issuer_key(0), &fx.spec.chain_id(), &body).encode_to_vec());
    }
    out
}

fn bundle_decode() -> Vec<Vec<u8>> {
    let fx = fixture();
    let whole = bundle::encode(&fx.spec, &fx.history);
    let first = bundle::encode(&fx.spec, &fx.history[..2]);
    let cut = whole[..whole.len() - 7].to_vec();
    vec![whole, first, cut]
}

fn reassembly() -> Vec<Vec<u8>> {
    let msg: Vec<u8> = fixture().history[..3]
        .iter()
        .flat_map(|r| r.encode_to_vec())
        .collect();
    let mut out = Vec::new();
    for (mtu, sources) in [(60u8, 1u8), (120, 2), (233, 3)] {
        let frames = fragment::fragment(&msg, mtu.into(), 1).expect("fits");
        let mut w = Writer::default();
        // Interleaved from several senders, with time passing between rounds.
        for f in &frames {
            for s in 0..sources {
                w.byte(0).byte(s).chunk(f);
            }
            w.byte(1).u16(250);
        }
        w.byte(2).byte(mtu).chunk(&msg);
        out.push(w.bytes);
    }
    out
}

fn ledger_ops() -> Vec<Vec<u8>> {
    // `arbitrary` reads these as operations; the fuzzer takes it from there.
    vec![
        vec![0; 64],
        (0..=255).collect(),
        (0..128).map(|i: u8| i.wrapping_mul(37)).collect(),
    ]
}

/// Real exchanges between the harness's engine (which lacks part of the history) and a
/// peer holding all of it, each started by one side under each link's configuration:
/// the harness's script, and the messages the peer sent.
fn exchanges() -> Vec<(Vec<u8>, Vec<Vec<u8>>)> {
    let mut out = Vec::new();
    for choice in 0..3 {
        for harness_starts in [true, false] {
            let (script, sent, _) = exchange(choice, harness_starts);
            out.push((script, sent));
        }
    }
    out
}

/// One exchange: the harness's script, the peer's messages, and how many records the
/// harness's ledger ended with.
fn exchange(choice: u8, harness_starts: bool) -> (Vec<u8>, Vec<Vec<u8>>, usize) {
    let config = engine::config(choice);
    let budget = u16::try_from(config.max_message_bytes).unwrap_or(u16::MAX);
    let mut h = Harness::new(choice);
    let mut script = Script::new(choice);
    let mut peer = SyncEngine::new(config, [9; 32]).expect("stock config");
    let mut peer_ledger = fixture().full_ledger();
    peer.add_peer(0, 0);
    let mut sent = Vec::new();
    if harness_starts {
        script.op(Op::Reconcile, 0);
        h.reconcile(1);
    } else {
        peer.reconcile(0, 0, &peer_ledger);
    }
    for _ in 0..64 {
        let mut quiet = true;
        loop {
            script.op(Op::Transmit, 0).u16(budget);
            let Some(m) = h.transmit(1, budget.into()) else {
                break;
            };
            quiet = false;
            for e in peer.handle(h.now(), 0, &m, &peer_ledger) {
                if let Event::Received { records, .. } = e {
                    let c = peer_ledger.merge(records, &mut fixture::rng());
                    peer.on_merged(Some(0), &c, &peer_ledger);
                }
            }
        }
        while let Some(m) = peer.poll_transmit(h.now(), 0, budget.into(), &peer_ledger) {
            quiet = false;
            script.op(Op::Frame, 0).chunk(&m);
            h.frame(1, &m);
            sent.push(m);
        }
        if quiet {
            break;
        }
        let [lo, hi] = 20u16.to_le_bytes();
        script.op(Op::Advance, lo).byte(hi);
        h.advance(20);
        peer.handle_timeout(h.now(), &peer_ledger);
    }
    (script.w.bytes, sent, h.ledger().len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exchanges_bring_the_harness_the_whole_history() {
        for choice in 0..3 {
            for harness_starts in [true, false] {
                let (_, sent, held) = exchange(choice, harness_starts);
                assert!(!sent.is_empty());
                assert_eq!(
                    held,
                    fixture().history.len(),
                    "config {choice}, {harness_starts}"
                );
            }
        }
    }
}
