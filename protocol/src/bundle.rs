//! Bundles: records carried by hand (a file, a QR code). A bundle is a magic tag, then
//! the network's `ChainSpec`, then `SignedRecord`s, each length-delimited (a protobuf
//! varint length, then the message). Decoding bounds every length before allocating.

use prost::Message;

use crate::chain::{ChainSpec, SpecError};
use crate::record::{self, Record};
use crate::reject::Reject;
use crate::wire;

/// The first bytes of every bundle.
pub const MAGIC: &[u8; 8] = b"meshpay1";
/// Largest encoded chain spec a bundle may carry.
pub const MAX_SPEC_BYTES: usize = 8 * 1024;

/// Why a bundle cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BundleError {
    /// The file does not start with the bundle magic.
    #[error("not a meshpay bundle (magic missing)")]
    NotABundle,
    /// A length runs past the end of the file.
    #[error("truncated at byte {offset}")]
    Truncated { offset: usize },
    /// A length prefix is larger than any valid item.
    #[error("item at byte {offset} claims {len} bytes, at most {max}")]
    Oversized { offset: usize, len: u64, max: usize },
    /// The chain spec is invalid.
    #[error("chain spec: {0}")]
    Spec(#[from] SpecError),
}

/// Encodes a bundle of `records` for the network `spec`.
pub fn encode<'a>(
    spec: &ChainSpec,
    records: impl IntoIterator<Item = &'a wire::SignedRecord>,
) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    let spec = spec.encode();
    prost::encoding::encode_varint(spec.len() as u64, &mut out);
    out.extend_from_slice(&spec);
    for r in records {
        r.encode_length_delimited(&mut out).expect("a Vec grows");
    }
    out
}

/// Encodes a bundle from ledger records.
pub fn encode_records<'a>(
    spec: &ChainSpec,
    records: impl IntoIterator<Item = &'a Record>,
) -> Vec<u8> {
    let signed: Vec<wire::SignedRecord> = records.into_iter().map(Record::to_signed).collect();
    encode(spec, &signed)
}

/// An item read from a bundle: a record, or why it could not be decoded.
pub type Item = Result<wire::SignedRecord, (usize, Reject)>;

/// Reads a bundle: its chain spec, and its items in order. A framing error (a length
/// past the end or beyond any valid record) ends the reading; a record that does not
/// decode becomes an error item and reading goes on.
pub fn decode(bytes: &[u8]) -> Result<(ChainSpec, Vec<Item>, Option<BundleError>), BundleError> {
    if !bytes.starts_with(MAGIC) {
        return Err(BundleError::NotABundle);
    }
    let mut pos = MAGIC.len();
    let spec_bytes = frame(bytes, &mut pos, MAX_SPEC_BYTES)?;
    let spec = ChainSpec::decode(spec_bytes)?;
    let mut items = Vec::new();
    while pos < bytes.len() {
        let offset = pos;
        match frame(bytes, &mut pos, record::MAX_RECORD_BYTES) {
            Ok(b) => items.push(record::decode_signed(b).map_err(|e| (offset, e))),
            Err(e) => return Ok((spec, items, Some(e))),
        }
    }
    Ok((spec, items, None))
}

/// Reads one length-delimited frame at `pos`, at most `max` bytes long.
fn frame<'a>(bytes: &'a [u8], pos: &mut usize, max: usize) -> Result<&'a [u8], BundleError> {
    let offset = *pos;
    let mut buf = &bytes[*pos..];
    let before = buf.len();
    let len =
        prost::encoding::decode_varint(&mut buf).map_err(|_| BundleError::Truncated { offset })?;
    let header = before - buf.len();
    if len > max as u64 {
        return Err(BundleError::Oversized { offset, len, max });
    }
    let len = len as usize;
    let start = offset + header;
    let item = bytes
        .get(start..start + len)
        .ok_or(BundleError::Truncated { offset })?;
    *pos = start + len;
    Ok(item)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit;

    #[test]
    fn round_trip() {
        let w = testkit::World::new(1);
        let recs = w.some_records(5);
        let b = encode(&w.spec, &recs);
        let (spec, items, err) = decode(&b).expect("decodes");
        assert_eq!(spec, w.spec);
        assert!(err.is_none());
        let back: Vec<_> = items.into_iter().map(|i| i.expect("record")).collect();
        assert_eq!(back, recs);
    }

    #[test]
    fn hostile_bundles_are_errors() {
        let w = testkit::World::new(1);
        let b = encode(&w.spec, &w.some_records(3));
        assert_eq!(decode(b"garbage").unwrap_err(), BundleError::NotABundle);
        // Cut anywhere: never a panic, and a cut inside a record is reported.
        for cut in 0..b.len() {
            let _ = decode(&b[..cut]);
        }
        let (_, items, err) = decode(&b[..b.len() - 1]).expect("spec intact");
        assert_eq!(items.len(), 2);
        assert!(matches!(err, Some(BundleError::Truncated { .. })));
        // An absurd length prefix is refused before anything is allocated.
        let mut huge = MAGIC.to_vec();
        prost::encoding::encode_varint(u64::MAX, &mut huge);
        assert!(matches!(decode(&huge), Err(BundleError::Oversized { .. })));
    }
}
