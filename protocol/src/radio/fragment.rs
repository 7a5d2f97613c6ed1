//! Messages larger than a link's frame: cut into numbered fragments on send, put back
//! together on receipt. The reassembler takes frames from untrusted peers, so every
//! claim in a header is checked against fixed bounds before anything is kept.
//!
//! Frame layout:
//!
//! ```text
//! byte 0     bits 7-6  version (FRAGMENT_VERSION = 1)
//!            bit  5    1 = fragment of a longer message, 0 = a whole message
//!            bits 4-0  reserved, zero
//! whole message:   byte 0, then the message (1 byte of overhead)
//! fragment:        byte 0,
//!            1-2       message id, big-endian (the sender's counter, wrapping)
//!            3         fragment index, 0-based
//!            4         fragment count, 2..=255
//!            5..       data: every fragment but the last carries the same length,
//!                      the last 1..= that length
//! ```

use std::collections::{BTreeMap, HashMap, VecDeque};

/// The header version this code writes and reads.
pub const FRAGMENT_VERSION: u8 = 1;
/// Header of a message sent whole in one frame: the flags byte alone.
pub const WHOLE_HEADER_LEN: usize = 1;
/// Header of a fragment: flags, message id, index, count.
pub const FRAGMENT_HEADER_LEN: usize = 5;
/// Smallest frame the fragmenter cuts for: a fragment header and one byte of data.
pub const MIN_MTU: usize = FRAGMENT_HEADER_LEN + 1;
/// Largest message either side handles, in bytes.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;
/// Most fragments one message is cut into: the count is one byte.
pub const MAX_FRAGMENTS: usize = u8::MAX as usize;
/// Default for [`ReassemblyConfig::max_partials`].
pub const DEFAULT_MAX_PARTIALS: usize = 16;
/// Default for [`ReassemblyConfig::max_buffered_bytes`]: room for four largest messages.
pub const DEFAULT_MAX_BUFFERED_BYTES: usize = 4 * MAX_MESSAGE_BYTES;
/// Default for [`ReassemblyConfig::timeout_ms`]: ten minutes, since a duty-limited LoRa
/// link may get only a few frames out per minute.
pub const DEFAULT_REASSEMBLY_TIMEOUT_MS: u64 = 10 * 60 * 1_000;
/// Default for [`ReassemblyConfig::max_delivered`].
pub const DEFAULT_MAX_DELIVERED: usize = 64;

const VERSION_SHIFT: u32 = 6;
const FLAG_FRAGMENT: u8 = 0b0010_0000;
const RESERVED_BITS: u8 = 0b0001_1111;

/// Why a message could not be cut, or a frame was not taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FragmentError {
    // Sending.
    /// The message is larger than any receiver accepts.
    #[error("message of {len} bytes exceeds {max}")]
    MessageTooLarge { len: usize, max: usize },
    /// The frame cannot hold a fragment header and a byte of data.
    #[error("mtu of {mtu} bytes, at least {MIN_MTU}")]
    MtuTooSmall { mtu: usize },
    /// At this MTU the message needs more fragments than a header can count.
    #[error("{count} fragments needed, at most {MAX_FRAGMENTS}")]
    TooManyFragments { count: usize },

    // Receiving: what a peer's frame got wrong.
    /// The frame has no bytes at all.
    #[error("empty frame")]
    EmptyFrame,
    /// The header is of a version this code does not read.
    #[error("header version {version}, not {FRAGMENT_VERSION}")]
    UnknownVersion { version: u8 },
    /// Reserved header bits are set.
    #[error("reserved bits set in header byte {byte:#04x}")]
    ReservedBits { byte: u8 },
    /// The frame ends inside the fragment header.
    #[error("frame of {len} bytes ends inside the {FRAGMENT_HEADER_LEN}-byte header")]
    Truncated { len: usize },
    /// A fragment count below two: a one-piece message is sent whole.
    #[error("fragment count {count}, a fragmented message has at least 2")]
    CountTooSmall { count: u8 },
    /// The index is not below the count.
    #[error("fragment index {index} of {count}")]
    IndexOutOfRange { index: u8, count: u8 },
    /// A fragment without data.
    #[error("fragment carries no data")]
    EmptyFragment,
    /// The count differs from earlier fragments of the same message.
    #[error("fragment count {got}, earlier fragments said {expected}")]
    CountMismatch { expected: u8, got: u8 },
    /// This fragment was already received.
    #[error("fragment {index} already received")]
    Duplicate { index: u8 },
    /// The length does not fit the other fragments' (all but the last equal, the last no
    /// longer).
    #[error("fragment {index} of {len} bytes disagrees with the message's other fragments")]
    InconsistentLength { index: u8, len: usize },
    /// The message would exceed the largest message, or the reassembly buffer.
    #[error("message of at least {at_least} bytes exceeds {max}")]
    Oversize { at_least: usize, max: usize },
    /// The message was already put together and delivered; this is a late copy.
    #[error("message already delivered")]
    AlreadyDelivered,
}

/// Cuts `msg` into frames of at most `mtu` bytes. A message that fits one frame pays
/// the one-byte header only; `msg_id` tells a source's fragmented messages apart.
pub fn fragment(msg: &[u8], mtu: usize, msg_id: u16) -> Result<Vec<Vec<u8>>, FragmentError> {
    if msg.len() > MAX_MESSAGE_BYTES {
        return Err(FragmentError::MessageTooLarge {
            len: msg.len(),
            max: MAX_MESSAGE_BYTES,
        });
    }
    if mtu < MIN_MTU {
        return Err(FragmentError::MtuTooSmall { mtu });
    }
    let version = FRAGMENT_VERSION << VERSION_SHIFT;
    if WHOLE_HEADER_LEN + msg.len() <= mtu {
        let mut frame = Vec::with_capacity(WHOLE_HEADER_LEN + msg.len());
        frame.push(version);
        frame.extend_from_slice(msg);
        return Ok(vec![frame]);
    }
    let chunk = mtu - FRAGMENT_HEADER_LEN;
    let count = msg.len().div_ceil(chunk);
    let Ok(count_byte) = u8::try_from(count) else {
        return Err(FragmentError::TooManyFragments { count });
    };
    let id = msg_id.to_be_bytes();
    Ok(msg
        .chunks(chunk)
        .zip(0u8..)
        .map(|(data, index)| {
            let mut frame = Vec::with_capacity(FRAGMENT_HEADER_LEN + data.len());
            frame.extend_from_slice(&[version | FLAG_FRAGMENT, id[0], id[1], index, count_byte]);
            frame.extend_from_slice(data);
            frame
        })
        .collect())
}

/// A frame's header, read.
enum Frame<'a> {
    Whole(&'a [u8]),
    Fragment {
        msg_id: u16,
        index: u8,
        count: u8,
        data: &'a [u8],
    },
}

/// Reads a frame's header, refusing anything [`fragment`] would not write.
fn parse(frame: &[u8]) -> Result<Frame<'_>, FragmentError> {
    let (&flags, rest) = frame.split_first().ok_or(FragmentError::EmptyFrame)?;
    let version = flags >> VERSION_SHIFT;
    if version != FRAGMENT_VERSION {
        return Err(FragmentError::UnknownVersion { version });
    }
    if flags & RESERVED_BITS != 0 {
        return Err(FragmentError::ReservedBits { byte: flags });
    }
    if flags & FLAG_FRAGMENT == 0 {
        return Ok(Frame::Whole(rest));
    }
    let [_, id0, id1, index, count, data @ ..] = frame else {
        return Err(FragmentError::Truncated { len: frame.len() });
    };
    if *count < 2 {
        return Err(FragmentError::CountTooSmall { count: *count });
    }
    if index >= count {
        return Err(FragmentError::IndexOutOfRange {
            index: *index,
            count: *count,
        });
    }
    if data.is_empty() {
        return Err(FragmentError::EmptyFragment);
    }
    Ok(Frame::Fragment {
        msg_id: u16::from_be_bytes([*id0, *id1]),
        index: *index,
        count: *count,
        data,
    })
}

/// Bounds on what a [`Reassembler`] keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReassemblyConfig {
    /// Most messages in reassembly at once; starting another drops the oldest.
    pub max_partials: usize,
    /// Most fragment bytes held across all partial messages; the oldest partials are
    /// dropped to make room, and a message larger than this is refused.
    pub max_buffered_bytes: usize,
    /// A partial message that gets no new fragment for this long is dropped; a delivered
    /// message is remembered this long.
    pub timeout_ms: u64,
    /// How many delivered messages are remembered, to refuse late copies of their
    /// fragments instead of starting a partial that never completes.
    pub max_delivered: usize,
}

impl Default for ReassemblyConfig {
    fn default() -> Self {
        ReassemblyConfig {
            max_partials: DEFAULT_MAX_PARTIALS,
            max_buffered_bytes: DEFAULT_MAX_BUFFERED_BYTES,
            timeout_ms: DEFAULT_REASSEMBLY_TIMEOUT_MS,
            max_delivered: DEFAULT_MAX_DELIVERED,
        }
    }
}

/// A message is known by its sender and the sender's message id.
type Key = (u64, u16);

/// A message some of whose fragments have arrived.
struct Partial {
    count: u8,
    /// Length of every fragment but the last, once one of them has arrived.
    chunk_len: Option<usize>,
    /// Length of the last fragment, once it has arrived.
    last_len: Option<usize>,
    fragments: BTreeMap<u8, Vec<u8>>,
    /// Data bytes held.
    bytes: usize,
    /// Order of the first fragment's arrival, for eviction.
    seq: u64,
    /// When the latest new fragment arrived, for expiry.
    touched_ms: u64,
}

/// Puts fragmented messages back together, within fixed memory.
pub struct Reassembler {
    config: ReassemblyConfig,
    partials: HashMap<Key, Partial>,
    /// Data bytes held across all partials.
    buffered: usize,
    next_seq: u64,
    /// Recently delivered messages and when, oldest first.
    delivered: VecDeque<(Key, u64)>,
}

impl Reassembler {
    /// An empty reassembler under `config` (at least one partial is always allowed).
    pub fn new(config: ReassemblyConfig) -> Self {
        Reassembler {
            config: ReassemblyConfig {
                max_partials: config.max_partials.max(1),
                ..config
            },
            partials: HashMap::new(),
            buffered: 0,
            next_seq: 0,
            delivered: VecDeque::new(),
        }
    }

    /// The bounds in force.
    pub fn config(&self) -> &ReassemblyConfig {
        &self.config
    }

    /// How many messages are partly received.
    pub fn partials(&self) -> usize {
        self.partials.len()
    }

    /// Data bytes held for partial messages.
    pub fn buffered_bytes(&self) -> usize {
        self.buffered
    }

    /// Takes one frame from `source` (an opaque sender id); returns the message it
    /// completes, if any. Expired partials are dropped first. A whole-message frame is
    /// returned every time it arrives: deduplicating messages is the caller's job.
    pub fn push(
        &mut self,
        now_ms: u64,
        source: u64,
        frame: &[u8],
    ) -> Result<Option<Vec<u8>>, FragmentError> {
        self.expire(now_ms);
        match parse(frame)? {
            Frame::Whole(msg) => {
                if msg.len() > MAX_MESSAGE_BYTES {
                    return Err(FragmentError::Oversize {
                        at_least: msg.len(),
                        max: MAX_MESSAGE_BYTES,
                    });
                }
                Ok(Some(msg.to_vec()))
            }
            Frame::Fragment {
                msg_id,
                index,
                count,
                data,
            } => self.add(now_ms, (source, msg_id), index, count, data),
        }
    }

    /// Drops partials idle for `timeout_ms` and forgets deliveries as old; returns how
    /// many partials were dropped.
    pub fn expire(&mut self, now_ms: u64) -> usize {
        let timeout = self.config.timeout_ms;
        let before = self.partials.len();
        let mut freed = 0;
        self.partials.retain(|_, p| {
            let keep = now_ms.saturating_sub(p.touched_ms) < timeout;
            if !keep {
                freed += p.bytes;
            }
            keep
        });
        self.buffered -= freed;
        self.delivered
            .retain(|&(_, at)| now_ms.saturating_sub(at) < timeout);
        before - self.partials.len()
    }

    /// Adds one fragment of message `key`.
    fn add(
        &mut self,
        now_ms: u64,
        key: Key,
        index: u8,
        count: u8,
        data: &[u8],
    ) -> Result<Option<Vec<u8>>, FragmentError> {
        if self.delivered.iter().any(|(k, _)| *k == key) {
            return Err(FragmentError::AlreadyDelivered);
        }
        let is_last = index == count - 1;
        let len = data.len();
        let (chunk_len, last_len) = match self.partials.get(&key) {
            Some(p) => {
                if p.count != count {
                    return Err(FragmentError::CountMismatch {
                        expected: p.count,
                        got: count,
                    });
                }
                if p.fragments.contains_key(&index) {
                    return Err(FragmentError::Duplicate { index });
                }
                (p.chunk_len, p.last_len)
            }
            None => (None, None),
        };
        // Every fragment but the last has the same length; the last is no longer.
        let consistent = if is_last {
            chunk_len.is_none_or(|c| len <= c)
        } else {
            chunk_len.is_none_or(|c| len == c) && last_len.is_none_or(|l| l <= len)
        };
        if !consistent {
            return Err(FragmentError::InconsistentLength { index, len });
        }
        let chunk_len = if is_last { chunk_len } else { Some(len) };
        let last_len = if is_last { Some(len) } else { last_len };
        // The least the whole message can weigh given what is known, checked before
        // anything is kept: unknown fragments count as short as they could be.
        let last_lb = last_len.unwrap_or(1);
        let chunk_lb = chunk_len.unwrap_or(last_lb);
        let at_least = usize::from(count - 1)
            .saturating_mul(chunk_lb)
            .saturating_add(last_lb);
        let max = MAX_MESSAGE_BYTES.min(self.config.max_buffered_bytes);
        if at_least > max {
            // The message can never be delivered: free what it holds.
            self.remove(&key);
            return Err(FragmentError::Oversize { at_least, max });
        }
        if !self.partials.contains_key(&key) {
            // Fairness between senders: when the pool is full, the sender holding the
            // most loses its oldest, so a flood from one cannot starve the others.
            while self.partials.len() >= self.config.max_partials {
                if !self.evict_heaviest(None, false) {
                    break;
                }
            }
            self.partials.insert(
                key,
                Partial {
                    count,
                    chunk_len: None,
                    last_len: None,
                    fragments: BTreeMap::new(),
                    bytes: 0,
                    seq: self.next_seq,
                    touched_ms: now_ms,
                },
            );
            self.next_seq += 1;
        }
        // Held bytes never exceed `at_least`, which fits the buffer: evicting others
        // always makes room.
        while self.buffered + len > self.config.max_buffered_bytes {
            if !self.evict_heaviest(Some(key), true) {
                self.remove(&key);
                return Err(FragmentError::Oversize {
                    at_least: self.buffered + len,
                    max: self.config.max_buffered_bytes,
                });
            }
        }
        let Some(p) = self.partials.get_mut(&key) else {
            return Ok(None);
        };
        p.chunk_len = chunk_len;
        p.last_len = last_len;
        p.fragments.insert(index, data.to_vec());
        p.bytes += len;
        p.touched_ms = now_ms;
        self.buffered += len;
        if p.fragments.len() < usize::from(count) {
            return Ok(None);
        }
        let Some(p) = self.partials.remove(&key) else {
            return Ok(None);
        };
        self.buffered -= p.bytes;
        let mut msg = Vec::with_capacity(p.bytes);
        for data in p.fragments.into_values() {
            msg.extend_from_slice(&data);
        }
        if self.config.max_delivered > 0 {
            while self.delivered.len() >= self.config.max_delivered {
                self.delivered.pop_front();
            }
            self.delivered.push_back((key, now_ms));
        }
        Ok(Some(msg))
    }

    /// Drops a partial and its bytes.
    fn remove(&mut self, key: &Key) {
        if let Some(p) = self.partials.remove(key) {
            self.buffered -= p.bytes;
        }
    }

    /// Drops the oldest partial, other than `keep`, of the sender holding the most
    /// partials (or, when `by_bytes`, the most bytes); false if there was none.
    fn evict_heaviest(&mut self, keep: Option<Key>, by_bytes: bool) -> bool {
        let mut held: HashMap<u64, usize> = HashMap::new();
        for (k, p) in &self.partials {
            if Some(*k) != keep {
                *held.entry(k.0).or_default() += if by_bytes { p.bytes + 1 } else { 1 };
            }
        }
        let heaviest = held
            .into_iter()
            .max_by_key(|(s, n)| (*n, std::cmp::Reverse(*s)));
        match heaviest {
            Some((source, _)) => self.evict_oldest_of(source, keep),
            None => false,
        }
    }

    /// Drops `source`'s oldest partial other than `keep`; false if there was none.
    fn evict_oldest_of(&mut self, source: u64, keep: Option<Key>) -> bool {
        let oldest = self
            .partials
            .iter()
            .filter(|(k, _)| k.0 == source && Some(**k) != keep)
            .min_by_key(|(_, p)| p.seq)
            .map(|(k, _)| *k);
        match oldest {
            Some(k) => {
                self.remove(&k);
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use rand_chacha::ChaCha20Rng;
    use rand_core::{Rng, SeedableRng};

    use super::*;
    use crate::testkit;

    fn message(len: usize, seed: u8) -> Vec<u8> {
        (0..len)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
            .collect()
    }

    fn small() -> ReassemblyConfig {
        ReassemblyConfig {
            max_partials: 4,
            max_buffered_bytes: 2_000,
            timeout_ms: 1_000,
            max_delivered: 8,
        }
    }

    impl Reassembler {
        /// Recounts what is held, to check the running totals.
        fn check_invariants(&self) {
            let mut total = 0;
            for p in self.partials.values() {
                let bytes: usize = p.fragments.values().map(Vec::len).sum();
                assert_eq!(bytes, p.bytes);
                assert!(p.fragments.len() < usize::from(p.count));
                total += bytes;
            }
            assert_eq!(total, self.buffered);
            assert!(self.buffered <= self.config.max_buffered_bytes);
            assert!(self.partials.len() <= self.config.max_partials);
            assert!(self.delivered.len() <= self.config.max_delivered);
        }
    }

    #[test]
    fn a_message_that_fits_pays_one_byte() {
        let msg = message(232, 1);
        let frames = fragment(&msg, 233, 7).expect("fits");
        assert_eq!(frames.len(), 1);
        assert_eq!(frames[0].len(), 233);
        assert_eq!(frames[0][0], 0b0100_0000);
        let mut r = Reassembler::new(ReassemblyConfig::default());
        assert_eq!(r.push(0, 1, &frames[0]), Ok(Some(msg)));
        assert_eq!(r.partials(), 0);
    }

    #[test]
    fn an_empty_message_is_one_header_byte() {
        let frames = fragment(&[], MIN_MTU, 0).expect("fits");
        assert_eq!(frames, [vec![0b0100_0000]]);
        let mut r = Reassembler::new(ReassemblyConfig::default());
        assert_eq!(r.push(0, 1, &frames[0]), Ok(Some(Vec::new())));
    }

    #[test]
    fn header_layout() {
        let msg = message(500, 2);
        let frames = fragment(&msg, 200, 0xBEEF).expect("cut");
        // 195 data bytes per fragment: 195 + 195 + 110.
        assert_eq!(
            frames.iter().map(Vec::len).collect::<Vec<_>>(),
            [200, 200, 115]
        );
        for (i, f) in frames.iter().enumerate() {
            assert_eq!(f[..5], [0b0110_0000, 0xBE, 0xEF, i as u8, 3]);
        }
        assert_eq!(frames.concat().len(), msg.len() + 3 * FRAGMENT_HEADER_LEN);
    }

    #[test]
    fn sending_bounds() {
        assert_eq!(
            fragment(&[0; 10], MIN_MTU - 1, 0),
            Err(FragmentError::MtuTooSmall { mtu: MIN_MTU - 1 })
        );
        assert_eq!(
            fragment(&vec![0; MAX_MESSAGE_BYTES + 1], 1_500, 0),
            Err(FragmentError::MessageTooLarge {
                len: MAX_MESSAGE_BYTES + 1,
                max: MAX_MESSAGE_BYTES
            })
        );
        // At a LoRa-sized MTU the fragment count binds before the message size does.
        let max_at_233 = MAX_FRAGMENTS * (233 - FRAGMENT_HEADER_LEN);
        assert!(fragment(&vec![0; max_at_233], 233, 0).is_ok());
        assert_eq!(
            fragment(&vec![0; max_at_233 + 1], 233, 0),
            Err(FragmentError::TooManyFragments {
                count: MAX_FRAGMENTS + 1
            })
        );
        // The largest message goes through at a LAN MTU, and comes back.
        let big = message(MAX_MESSAGE_BYTES, 3);
        let frames = fragment(&big, 1_400, 9).expect("cut");
        let mut r = Reassembler::new(ReassemblyConfig::default());
        let mut out = None;
        for f in &frames {
            if let Some(m) = r.push(0, 5, f).expect("valid") {
                out = Some(m);
            }
        }
        assert_eq!(out, Some(big));
    }

    #[test]
    fn hostile_headers_are_refused() {
        let mut r = Reassembler::new(small());
        let mut push = |f: &[u8]| r.push(0, 1, f);
        assert_eq!(push(&[]), Err(FragmentError::EmptyFrame));
        assert_eq!(
            push(&[0b1000_0000]),
            Err(FragmentError::UnknownVersion { version: 2 })
        );
        assert_eq!(
            push(&[0b0100_0001]),
            Err(FragmentError::ReservedBits { byte: 0b0100_0001 })
        );
        assert_eq!(
            push(&[0b0110_0000, 0, 0, 0]),
            Err(FragmentError::Truncated { len: 4 })
        );
        assert_eq!(
            push(&[0b0110_0000, 0, 0, 0, 1, 9]),
            Err(FragmentError::CountTooSmall { count: 1 })
        );
        assert_eq!(
            push(&[0b0110_0000, 0, 0, 3, 3, 9]),
            Err(FragmentError::IndexOutOfRange { index: 3, count: 3 })
        );
        assert_eq!(
            push(&[0b0110_0000, 0, 0, 0, 3]),
            Err(FragmentError::EmptyFragment)
        );
    }

    #[test]
    fn inconsistent_fragments_are_refused() {
        let mut r = Reassembler::new(small());
        let frag = |index: u8, count: u8, len: usize| {
            let mut f = vec![0b0110_0000, 0, 1, index, count];
            f.extend(std::iter::repeat_n(0xAA, len));
            f
        };
        assert_eq!(r.push(0, 1, &frag(0, 3, 10)), Ok(None));
        assert_eq!(
            r.push(0, 1, &frag(0, 3, 10)),
            Err(FragmentError::Duplicate { index: 0 })
        );
        assert_eq!(
            r.push(0, 1, &frag(1, 4, 10)),
            Err(FragmentError::CountMismatch {
                expected: 3,
                got: 4
            })
        );
        assert_eq!(
            r.push(0, 1, &frag(1, 3, 11)),
            Err(FragmentError::InconsistentLength { index: 1, len: 11 })
        );
        assert_eq!(
            r.push(0, 1, &frag(2, 3, 11)),
            Err(FragmentError::InconsistentLength { index: 2, len: 11 })
        );
        // None of that disturbed the partial: the honest rest completes it.
        assert_eq!(r.push(0, 1, &frag(1, 3, 10)), Ok(None));
        assert_eq!(r.push(0, 1, &frag(2, 3, 4)), Ok(Some(vec![0xAA; 24])));
        // A late copy of a delivered message's fragment starts nothing.
        assert_eq!(
            r.push(0, 1, &frag(1, 3, 10)),
            Err(FragmentError::AlreadyDelivered)
        );
        assert_eq!(r.partials(), 0);
        r.check_invariants();
    }

    #[test]
    fn claims_beyond_the_bounds_are_refused_before_buffering() {
        let mut r = Reassembler::new(small());
        // 255 fragments of 100 bytes claim at least 25_401 bytes: over the 2_000 buffer.
        let mut f = vec![0b0110_0000, 0, 1, 0, 255];
        f.extend([0; 100]);
        assert_eq!(
            r.push(0, 1, &f),
            Err(FragmentError::Oversize {
                at_least: 254 * 100 + 1,
                max: 2_000
            })
        );
        assert_eq!((r.partials(), r.buffered_bytes()), (0, 0));
        // A whole-message frame over the message limit.
        let mut whole = vec![0b0100_0000];
        whole.extend(vec![0; MAX_MESSAGE_BYTES + 1]);
        assert_eq!(
            r.push(0, 1, &whole),
            Err(FragmentError::Oversize {
                at_least: MAX_MESSAGE_BYTES + 1,
                max: MAX_MESSAGE_BYTES
            })
        );
        // A fragment that pins the total above the buffer drops the partial: the last
        // (300 bytes) fits alone, then a 900-byte middle one means 2 * 900 + 300.
        let frag = |index: u8, len: usize| {
            let mut f = vec![0b0110_0000, 0, 2, index, 3];
            f.extend(std::iter::repeat_n(1, len));
            f
        };
        assert_eq!(r.push(0, 1, &frag(2, 300)), Ok(None));
        assert_eq!(r.buffered_bytes(), 300);
        assert_eq!(
            r.push(0, 1, &frag(0, 900)),
            Err(FragmentError::Oversize {
                at_least: 2_100,
                max: 2_000
            })
        );
        assert_eq!((r.partials(), r.buffered_bytes()), (0, 0));
        r.check_invariants();
    }

    #[test]
    fn loss_leaves_nothing_after_the_timeout() {
        let mut r = Reassembler::new(small());
        let frames = fragment(&message(900, 4), 200, 3).expect("cut");
        for f in frames.iter().skip(1) {
            assert_eq!(r.push(100, 9, f), Ok(None));
        }
        assert_eq!(r.partials(), 1);
        assert_eq!(r.expire(1_099), 0);
        assert_eq!(r.expire(1_100), 1);
        assert_eq!((r.partials(), r.buffered_bytes()), (0, 0));
        // Expiry also runs on every push.
        for f in frames.iter().skip(1) {
            assert_eq!(r.push(2_000, 9, f), Ok(None));
        }
        let unrelated = fragment(b"hi", 200, 0).expect("fits");
        assert_eq!(r.push(3_000, 1, &unrelated[0]), Ok(Some(b"hi".to_vec())));
        assert_eq!((r.partials(), r.buffered_bytes()), (0, 0));
    }

    #[test]
    fn the_oldest_partial_makes_room() {
        let mut r = Reassembler::new(small());
        let frames = |id: u16| fragment(&message(400, 5), 200, id).expect("cut");
        for id in 0..4 {
            assert_eq!(r.push(0, 1, &frames(id)[0]), Ok(None));
        }
        assert_eq!(r.partials(), 4);
        // A fifth message evicts message 0, the oldest.
        assert_eq!(r.push(0, 1, &frames(4)[0]), Ok(None));
        assert_eq!(r.partials(), 4);
        // Message 1 still completes.
        assert_eq!(r.push(0, 1, &frames(1)[1]), Ok(None));
        assert_eq!(r.push(0, 1, &frames(1)[2]), Ok(Some(message(400, 5))));
        // Message 0 lost its first fragment: the rest starts over and stays partial.
        assert_eq!(r.push(0, 1, &frames(0)[1]), Ok(None));
        assert_eq!(r.push(0, 1, &frames(0)[2]), Ok(None));
        assert_eq!(r.partials(), 4);
        r.check_invariants();
    }

    #[test]
    fn the_byte_budget_evicts_oldest_first() {
        let mut r = Reassembler::new(ReassemblyConfig {
            max_partials: 100,
            ..small()
        });
        // Each first fragment holds 195 bytes; ten fit in 2_000, the eleventh evicts.
        for id in 0..11 {
            let f = fragment(&message(1_000, 6), 200, id).expect("cut");
            assert_eq!(r.push(0, 1, &f[0]), Ok(None));
            r.check_invariants();
        }
        assert_eq!(r.partials(), 10);
        assert_eq!(r.buffered_bytes(), 1_950);
    }

    /// Shuffles `frames` and mixes in `dups` copies.
    fn scramble(frames: &[Vec<u8>], seed: u64, dups: usize) -> Vec<Vec<u8>> {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let mut all = frames.to_vec();
        for _ in 0..dups {
            all.push(frames[(rng.next_u64() % frames.len() as u64) as usize].clone());
        }
        for i in (1..all.len()).rev() {
            let j = (rng.next_u64() % (i as u64 + 1)) as usize;
            all.swap(i, j);
        }
        all
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(testkit::cases()))]

        /// Any message survives cutting, reordering and duplication, and is delivered
        /// exactly once.
        #[test]
        fn round_trip(
            len in 0usize..6_000,
            mtu in prop_oneof![Just(200usize), Just(233usize)],
            msg_id in any::<u16>(),
            seed in any::<u64>(),
            dups in 0usize..6,
        ) {
            let msg = message(len, seed as u8);
            let frames = fragment(&msg, mtu, msg_id).expect("cut");
            prop_assert!(frames.iter().all(|f| f.len() <= mtu));
            let expected = if len < mtu { 1 } else { len.div_ceil(mtu - FRAGMENT_HEADER_LEN) };
            prop_assert_eq!(frames.len(), expected);
            let mut r = Reassembler::new(ReassemblyConfig::default());
            let mut delivered = Vec::new();
            for f in scramble(&frames, seed, dups) {
                match r.push(0, 42, &f) {
                    Ok(Some(m)) => delivered.push(m),
                    Ok(None) => {}
                    Err(FragmentError::Duplicate { .. } | FragmentError::AlreadyDelivered) => {}
                    Err(e) => prop_assert!(false, "unexpected {e}"),
                }
                r.check_invariants();
            }
            if frames.len() == 1 {
                // Whole messages are not deduplicated here: each copy is delivered.
                prop_assert!(delivered.iter().all(|m| *m == msg));
                prop_assert!(!delivered.is_empty());
            } else {
                prop_assert_eq!(delivered, vec![msg]);
            }
            prop_assert_eq!((r.partials(), r.buffered_bytes()), (0, 0));
        }

        /// Interleaved messages from several sources come apart again.
        #[test]
        fn interleaved_sources(lens in prop::collection::vec(0usize..1_500, 1..6), seed in any::<u64>()) {
            let msgs: Vec<Vec<u8>> =
                lens.iter().enumerate().map(|(i, &l)| message(l, i as u8)).collect();
            let mut tagged = Vec::new();
            for (i, m) in msgs.iter().enumerate() {
                for f in fragment(m, 200, 1).expect("cut") {
                    tagged.push((i as u64, f));
                }
            }
            let mut rng = ChaCha20Rng::seed_from_u64(seed);
            for i in (1..tagged.len()).rev() {
                let j = (rng.next_u64() % (i as u64 + 1)) as usize;
                tagged.swap(i, j);
            }
            let mut r = Reassembler::new(ReassemblyConfig::default());
            let mut got = vec![None; msgs.len()];
            for (src, f) in tagged {
                if let Some(m) = r.push(0, src, &f).expect("honest frames") {
                    got[src as usize] = Some(m);
                }
            }
            prop_assert_eq!(got, msgs.into_iter().map(Some).collect::<Vec<_>>());
        }

        /// Arbitrary frames never panic and never push memory past the bounds.
        #[test]
        fn hostile_frames_stay_bounded(
            frames in prop::collection::vec(
                (
                    0u64..3,
                    // Mostly within the timeout, sometimes past it.
                    prop_oneof![4 => 0u64..300, 1 => 0u64..3_000],
                    prop_oneof![
                        // Raw noise.
                        prop::collection::vec(any::<u8>(), 0..300),
                        // Plausible fragment headers over few ids, so fragments collide,
                        // with lengths often equal, so some messages complete.
                        (
                            0u8..4,
                            0u8..6,
                            0u8..6,
                            prop_oneof![Just(100usize), Just(600), 0usize..700],
                            any::<u8>(),
                        )
                            .prop_map(|(id, index, count, len, fill)| {
                                let mut f = vec![0b0110_0000, 0, id, index, count];
                                f.extend(std::iter::repeat_n(fill, len));
                                f
                            }),
                    ],
                ),
                1..200,
            ),
        ) {
            let mut r = Reassembler::new(small());
            let mut now = 0;
            for (src, gap, f) in frames {
                now += gap;
                let _ = r.push(now, src, &f);
                r.check_invariants();
            }
            prop_assert!(r.expire(now + small().timeout_ms) <= small().max_partials);
            prop_assert_eq!((r.partials(), r.buffered_bytes()), (0, 0));
        }
    }
}
