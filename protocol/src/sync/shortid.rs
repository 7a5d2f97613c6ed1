//! Per-stream keyed short ids: a record id shortened to a few bytes under a salt the
//! sender picks for one reconciliation, so nobody can grind records whose short ids
//! collide in advance, and a collision in one stream is gone in the next.

use siphasher::sip::SipHasher24;

use crate::id::RecordId;

/// Fewest bytes a short id may have.
pub const MIN_LEN: u8 = 4;
/// Most bytes a short id may have: it travels in a `u64`.
pub const MAX_LEN: u8 = 8;

/// Bits of collision margin `len_for` adds beyond the birthday bound (2^-6 ≈ 1.6%).
const COLLISION_MARGIN_BITS: u32 = 6;

/// Domain tag for deriving the mixing key from the salt, so the mix is not the short id.
const MIX_KEY_TAG: &[u8] = b"meshpay/sync/shortid/mix";

/// A short id's length is outside `MIN_LEN..=MAX_LEN`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("short id length {len} is outside {MIN_LEN}..={MAX_LEN} bytes")]
pub struct LenOutOfRange {
    /// The length asked for.
    pub len: u8,
}

/// The keys of one stream's short ids: the announced salt and the length in bytes.
#[derive(Clone)]
pub struct ShortIdKey {
    salt: [u8; 16],
    len: u8,
    short: SipHasher24,
    mix: SipHasher24,
}

impl ShortIdKey {
    /// The key for `salt` with `len`-byte short ids.
    pub fn new(salt: [u8; 16], len: u8) -> Result<Self, LenOutOfRange> {
        if !(MIN_LEN..=MAX_LEN).contains(&len) {
            return Err(LenOutOfRange { len });
        }
        let short = SipHasher24::new_with_key(&salt);
        // The mixing key is a PRF of the salt under a domain tag, so the checksum and
        // the index mapping are independent of the short id's own bits.
        let mut tagged = MIX_KEY_TAG.to_vec();
        tagged.push(0);
        let k0 = short.hash(&tagged);
        *tagged.last_mut().expect("tag pushed") = 1;
        let k1 = short.hash(&tagged);
        Ok(ShortIdKey {
            salt,
            len,
            short,
            mix: SipHasher24::new_with_keys(k0, k1),
        })
    }

    /// The salt the sender announced.
    pub fn salt(&self) -> [u8; 16] {
        self.salt
    }

    /// Bytes per short id.
    #[allow(clippy::len_without_is_empty)] // a width, not a collection
    pub fn len(&self) -> u8 {
        self.len
    }

    /// The short id of a record: SipHash-2-4 of the id under the salt, cut to `len` bytes.
    pub fn short(&self, id: &RecordId) -> u64 {
        self.short.hash(&id.0) & self.mask()
    }

    /// The keyed 64-bit hash of a short id: its top 16 bits are the checksum, the
    /// whole seeds the short id's coded-symbol mapping.
    pub fn mix(&self, short: u64) -> u64 {
        self.mix.hash(&short.to_le_bytes())
    }

    /// The checksum of a short id, which lets a decoder recognise a cell holding one id.
    pub fn checksum(&self, short: u64) -> u16 {
        checksum_of_mix(self.mix(short))
    }

    /// The bits a short id may have set.
    pub fn mask(&self) -> u64 {
        u64::MAX >> (64 - 8 * u32::from(self.len))
    }
}

impl std::fmt::Debug for ShortIdKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShortIdKey")
            .field("salt", &self.salt)
            .field("len", &self.len)
            .finish()
    }
}

impl PartialEq for ShortIdKey {
    fn eq(&self, other: &Self) -> bool {
        self.salt == other.salt && self.len == other.len
    }
}

impl Eq for ShortIdKey {}

/// The checksum carried in a short id's mix: its top 16 bits.
pub fn checksum_of_mix(mix: u64) -> u16 {
    (mix >> 48) as u16
}

/// The short id length for reconciling sets of about `n` ids each.
///
/// The union of two such sets holds up to 2n ids, and among 2n ids of L bytes about
/// (2n)²/2 / 2^(8L) = 2n² / 2^(8L) pairs collide. Asking 8L ≥ 2·⌈log2 n⌉ + 6 keeps that
/// under 2/64 ≈ 3% per stream: ⌈(2·⌈log2 n⌉ + 6) / 8⌉ bytes, clamped to
/// `MIN_LEN..=MAX_LEN`. That gives 4 bytes up to 8,192 ids, 5 up to 131,072, 6 up to
/// 2,097,152, 7 up to 33,554,432 and 8 beyond. Nearly all such collisions are between
/// ids both sides hold, which cancel harmlessly; one within a side costs that side a
/// fresh salt, one across the difference a retried session, never a wrong ledger: the
/// full ids are checked after decoding. A byte less per symbol is worth that.
pub fn len_for(n: u64) -> u8 {
    let log2 = match n {
        0 | 1 => 0,
        n => 64 - (n - 1).leading_zeros(),
    };
    let bits = 2 * log2 + COLLISION_MARGIN_BITS;
    let bytes = bits
        .div_ceil(8)
        .clamp(u32::from(MIN_LEN), u32::from(MAX_LEN));
    bytes as u8
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::HashMap;

    use proptest::prelude::*;
    use rand_chacha::ChaCha20Rng;
    use rand_core::{Rng, SeedableRng};

    use super::*;

    /// A random record id.
    pub(crate) fn random_id(rng: &mut ChaCha20Rng) -> RecordId {
        let mut b = [0u8; 32];
        rng.fill_bytes(&mut b);
        RecordId(b)
    }

    /// Two different record ids with one short id under `key`, by brute force over at
    /// most `tries` random ids.
    pub(crate) fn find_collision(
        key: &ShortIdKey,
        seed: u64,
        tries: usize,
    ) -> Option<(RecordId, RecordId)> {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let mut seen: HashMap<u64, RecordId> = HashMap::with_capacity(tries);
        for _ in 0..tries {
            let id = random_id(&mut rng);
            if let Some(other) = seen.insert(key.short(&id), id) {
                if other != id {
                    return Some((other, id));
                }
            }
        }
        None
    }

    #[test]
    fn len_is_validated() {
        assert_eq!(ShortIdKey::new([0; 16], 3), Err(LenOutOfRange { len: 3 }));
        assert_eq!(ShortIdKey::new([0; 16], 9), Err(LenOutOfRange { len: 9 }));
        for len in MIN_LEN..=MAX_LEN {
            assert_eq!(ShortIdKey::new([0; 16], len).unwrap().len(), len);
        }
    }

    #[test]
    fn len_for_follows_the_rule() {
        assert_eq!(len_for(0), 4);
        assert_eq!(len_for(1), 4);
        assert_eq!(len_for(8_192), 4);
        assert_eq!(len_for(8_193), 5);
        assert_eq!(len_for(100_000), 5);
        assert_eq!(len_for(131_072), 5);
        assert_eq!(len_for(131_073), 6);
        assert_eq!(len_for(1_000_000), 6);
        assert_eq!(len_for(1 << 21), 6);
        assert_eq!(len_for((1 << 21) + 1), 7);
        assert_eq!(len_for(1 << 25), 7);
        assert_eq!(len_for((1 << 25) + 1), 8);
        assert_eq!(len_for(u64::MAX), 8);
    }

    #[test]
    fn salt_changes_everything() {
        let id = RecordId::of_body(b"a record");
        let a = ShortIdKey::new([1; 16], 8).unwrap();
        let b = ShortIdKey::new([2; 16], 8).unwrap();
        assert_ne!(a.short(&id), b.short(&id));
        assert_ne!(a.mix(7), b.mix(7));
        assert_eq!(a.salt(), [1; 16]);
        // The mix is not the short id's own hash.
        assert_ne!(a.mix(a.short(&id)), a.short(&id));
    }

    #[test]
    fn colliding_ids_exist_for_a_short_len_and_differ_under_another_salt() {
        // 4 bytes = 32 bits: 300,000 ids hold about 300k²/2/2^32 ≈ 10 colliding pairs.
        let key = ShortIdKey::new(*b"collision salt 1", 4).unwrap();
        let (a, b) = find_collision(&key, 1, 300_000).expect("a birthday collision");
        assert_ne!(a, b);
        assert_eq!(key.short(&a), key.short(&b));
        assert_eq!(key.checksum(key.short(&a)), key.checksum(key.short(&b)));
        // The next stream's salt separates them.
        let other = ShortIdKey::new(*b"collision salt 2", 4).unwrap();
        assert_ne!(other.short(&a), other.short(&b));
        // So do more bytes under the same salt: the full 64-bit hashes differ.
        let wide = ShortIdKey::new(*b"collision salt 1", 8).unwrap();
        assert_ne!(wide.short(&a), wide.short(&b));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(crate::testkit::cases()))]

        #[test]
        fn short_ids_fit_their_len(salt in any::<[u8; 16]>(), len in MIN_LEN..=MAX_LEN, id in any::<[u8; 32]>()) {
            let key = ShortIdKey::new(salt, len).unwrap();
            let s = key.short(&RecordId(id));
            prop_assert_eq!(s & !key.mask(), 0);
            prop_assert_eq!(s, key.short(&RecordId(id)));
            // A longer key under the same salt extends the shorter one.
            let full = ShortIdKey::new(salt, MAX_LEN).unwrap().short(&RecordId(id));
            prop_assert_eq!(full & key.mask(), s);
        }
    }
}
