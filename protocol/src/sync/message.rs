//! Sync messages on the wire: decoding bounded before anything is allocated, and every
//! field checked against its limit, so a hostile peer gets an error and nothing else.

use prost::Message;

use super::config::SyncConfig;
use super::snapshot::SALT_LEN;
use crate::record::MAX_RECORD_BYTES;
use crate::wire::{self, sync_message::Body};

/// Shortest and longest short ids, in bytes.
pub const SHORT_ID_LEN: std::ops::RangeInclusive<u32> = 4..=8;

/// Why a peer's sync message was refused or a session failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SyncError {
    /// The message is larger than the configured bound.
    #[error("message of {len} bytes exceeds {max}")]
    Oversized { len: usize, max: usize },
    /// The bytes are not a sync message.
    #[error("undecodable message: {0}")]
    Undecodable(String),
    /// A field breaks its bound or shape.
    #[error("invalid message: {0}")]
    Invalid(&'static str),
    /// A message that does not fit the session's state.
    #[error("unexpected message: {0}")]
    Unexpected(&'static str),
    /// The peer asked for more than a session may cost.
    #[error("over budget: {0}")]
    Budget(&'static str),
    /// The peer opens sessions too often or misbehaved recently.
    #[error("rate limited")]
    RateLimited,
    /// The peer gave up on the session.
    #[error("peer refused: {0}")]
    Refused(String),
    /// The peer stopped answering.
    #[error("peer does not answer")]
    Timeout,
}

/// Decodes and checks one message.
pub fn decode(bytes: &[u8], config: &SyncConfig) -> Result<wire::SyncMessage, SyncError> {
    if bytes.len() > config.max_message_bytes {
        return Err(SyncError::Oversized {
            len: bytes.len(),
            max: config.max_message_bytes,
        });
    }
    let m = wire::SyncMessage::decode(bytes).map_err(|e| SyncError::Undecodable(e.to_string()))?;
    check(&m, config)?;
    Ok(m)
}

/// Encodes a message.
pub fn encode(m: &wire::SyncMessage) -> Vec<u8> {
    m.encode_to_vec()
}

fn invalid(what: &'static str) -> SyncError {
    SyncError::Invalid(what)
}

fn check_salt(s: &[u8]) -> Result<(), SyncError> {
    if s.len() == SALT_LEN {
        Ok(())
    } else {
        Err(invalid("salt must be 16 bytes"))
    }
}

fn check_bound(b: &[u8]) -> Result<(), SyncError> {
    if b.len() <= 32 {
        Ok(())
    } else {
        Err(invalid("range bound longer than an id"))
    }
}

fn check_symbols(s: &wire::Symbols, config: &SyncConfig) -> Result<(), SyncError> {
    // The salt comes with the first run of a stream only.
    if !s.salt.is_empty() {
        check_salt(&s.salt)?;
    }
    if !SHORT_ID_LEN.contains(&s.id_len) {
        return Err(invalid("short id length"));
    }
    if s.n > config.max_symbols_per_request {
        return Err(invalid("too many symbols"));
    }
    if s.first.saturating_add(u64::from(s.n)) > config.symbol_budget {
        return Err(SyncError::Budget("symbols past the budget"));
    }
    Ok(())
}

fn check_ranges(g: &wire::GetRanges, config: &SyncConfig) -> Result<(), SyncError> {
    if g.ranges.is_empty() || g.ranges.len() > config.max_ranges_per_message {
        return Err(invalid("range count"));
    }
    check_bound(&g.upper)?;
    let mut prev: Option<&[u8]> = None;
    for r in &g.ranges {
        check_bound(&r.lower)?;
        if r.fingerprint.len() != 8 {
            return Err(invalid("range fingerprint must be 8 bytes"));
        }
        if let Some(p) = prev {
            if r.lower.as_slice() <= p {
                return Err(invalid("ranges out of order"));
            }
        }
        prev = Some(&r.lower);
    }
    if !g.upper.is_empty() && prev.is_some_and(|p| g.upper.as_slice() <= p) {
        return Err(invalid("range upper bound below its lower"));
    }
    Ok(())
}

fn check_packed(bytes: &[u8], width: usize, what: &'static str) -> Result<(), SyncError> {
    if bytes.len() % width == 0 {
        Ok(())
    } else {
        Err(invalid(what))
    }
}

fn check(m: &wire::SyncMessage, config: &SyncConfig) -> Result<(), SyncError> {
    let body = m.body.as_ref().ok_or(invalid("empty message"))?;
    match body {
        Body::Hello(h) => {
            check_salt(&h.salt)?;
            if h.fingerprint.len() != 8 {
                return Err(invalid("root fingerprint must be 8 bytes"));
            }
        }
        Body::Root(r) => {
            if r.fingerprint.len() != 8 {
                return Err(invalid("root fingerprint must be 8 bytes"));
            }
            if let Some(s) = &r.symbols {
                check_symbols(s, config)?;
            }
        }
        Body::GetSymbols(g) => {
            if g.count == 0 || g.count > config.max_symbols_per_request {
                return Err(invalid("symbol request size"));
            }
            if g.from.saturating_add(u64::from(g.count)) > config.symbol_budget {
                return Err(SyncError::Budget("symbols past the budget"));
            }
        }
        Body::Symbols(s) => check_symbols(s, config)?,
        Body::GetRanges(g) => check_ranges(g, config)?,
        Body::RangeAnswer(a) => {
            if a.split.len() + a.lists.len() > config.max_ranges_per_message {
                return Err(invalid("too many ranges answered"));
            }
            for g in &a.split {
                check_ranges(g, config)?;
                if g.ranges.len() > config.split_fanout {
                    return Err(invalid("split into too many parts"));
                }
            }
            for l in &a.lists {
                check_bound(&l.lower)?;
                check_bound(&l.upper)?;
                check_packed(&l.short_ids, 8, "listed ids must be 8 bytes each")?;
            }
        }
        Body::Want(w) => {
            // Short ids' width depends on the key; the session checks it.
            check_packed(&w.ids, 32, "wanted ids must be 32 bytes each")?;
        }
        Body::Records(r) => {
            unpack_records(&r.records, config.max_records_per_message)?;
        }
        Body::Thin(t) => {
            if t.body.len() > MAX_RECORD_BYTES {
                return Err(invalid("thin body longer than a record"));
            }
            if t.signature.len() != 64 {
                return Err(invalid("thin signature must be 64 bytes"));
            }
        }
        Body::Done(_) | Body::Refuse(_) => {}
    }
    Ok(())
}

/// Builds a message.
pub fn message(session: u32, step: u32, body: Body) -> wire::SyncMessage {
    wire::SyncMessage {
        session,
        step,
        body: Some(body),
    }
}

/// Packs records: each a varint length, then its encoding.
pub fn pack_records(records: &[wire::SignedRecord]) -> Vec<u8> {
    let mut out = Vec::with_capacity(records.iter().map(|r| r.encoded_len() + 2).sum());
    for r in records {
        r.encode_length_delimited(&mut out).expect("a Vec grows");
    }
    out
}

/// A `Records` message body carrying `records`.
pub fn records(records: &[wire::SignedRecord], last: bool) -> Body {
    Body::Records(wire::Records {
        records: pack_records(records),
        last,
    })
}

/// Unpacks records, bounding their count and each one's size before decoding it.
pub fn unpack_records(mut bytes: &[u8], max: usize) -> Result<Vec<wire::SignedRecord>, SyncError> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        if out.len() >= max {
            return Err(invalid("too many records"));
        }
        let len =
            prost::encoding::decode_varint(&mut bytes).map_err(|_| invalid("record length"))?;
        if len > MAX_RECORD_BYTES as u64 || len > bytes.len() as u64 {
            return Err(invalid("record length"));
        }
        let (one, rest) = bytes.split_at(len as usize);
        out.push(wire::SignedRecord::decode(one).map_err(|_| invalid("record encoding"))?);
        bytes = rest;
    }
    Ok(out)
}

/// Splits packed fixed-width items.
pub fn unpack(bytes: &[u8], width: usize) -> impl Iterator<Item = &[u8]> {
    bytes.chunks_exact(width)
}
