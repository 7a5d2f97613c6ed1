//! A session's snapshot of the record set: the ids, sorted, each with a hash keyed for
//! the session, and prefix sums of those hashes, so the count and fingerprint of any id
//! range cost two binary searches. A plain sum or XOR of ids could be forged by choosing
//! ids; a keyed sum cannot, because the key is picked after the ids exist. 64 bits: an
//! honest collision is a 2^-64 event, and nobody can aim for one without the key.

use std::hash::Hasher;

use siphasher::sip::SipHasher13;

use crate::id::RecordId;

/// Length of a session salt.
pub const SALT_LEN: usize = 16;

/// Count and fingerprint of a set of ids under a session key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fingerprint {
    /// How many ids.
    pub count: u64,
    /// Sum of their keyed hashes, mod 2^64.
    pub sum: u64,
}

impl Fingerprint {
    /// The 8-byte form sent in root checks and per range.
    pub fn to_bytes(&self) -> [u8; 8] {
        self.sum.to_le_bytes()
    }

    /// The sum from its 8-byte form.
    pub fn sum_from(bytes: &[u8]) -> Option<u64> {
        bytes.try_into().ok().map(u64::from_le_bytes)
    }
}

/// The key of a session's fingerprints.
#[derive(Clone, Copy, Debug)]
pub struct FingerprintKey {
    k0: u64,
    k1: u64,
}

impl FingerprintKey {
    /// The key for a session salt.
    pub fn new(salt: &[u8; SALT_LEN]) -> Self {
        // Domain-separated from the short-id keys derived from the same salt.
        let k = blake3::keyed_hash(&blake3::hash(b"meshpay/sync/fingerprint").into(), salt);
        let b = k.as_bytes();
        FingerprintKey {
            k0: u64::from_le_bytes(b[..8].try_into().expect("8 bytes")),
            k1: u64::from_le_bytes(b[8..16].try_into().expect("8 bytes")),
        }
    }

    /// The keyed hash of one id.
    pub fn hash(&self, id: &RecordId) -> u64 {
        let mut h = SipHasher13::new_with_keys(self.k0, self.k1);
        h.write(&id.0);
        h.finish()
    }
}

/// Whether `id` sorts at or above an id-prefix bound.
pub fn at_or_above(id: &RecordId, bound: &[u8]) -> bool {
    let n = bound.len().min(32);
    id.0[..n] >= bound[..n]
}

/// Sorted ids with prefix sums of their keyed hashes.
pub struct Snapshot {
    ids: Vec<RecordId>,
    prefix: Vec<u64>,
    key: FingerprintKey,
}

impl Snapshot {
    /// A snapshot of `ids` (sorted ascending, as a record set iterates) under `key`.
    pub fn new(key: FingerprintKey, ids: Vec<RecordId>) -> Self {
        debug_assert!(
            ids.windows(2).all(|w| w[0] < w[1]),
            "ids sorted and distinct"
        );
        let mut prefix = Vec::with_capacity(ids.len() + 1);
        let mut acc = 0u64;
        prefix.push(0);
        for id in &ids {
            acc = acc.wrapping_add(key.hash(id));
            prefix.push(acc);
        }
        Snapshot { ids, prefix, key }
    }

    /// The key the fingerprints are under.
    pub fn key(&self) -> FingerprintKey {
        self.key
    }

    /// How many ids.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether the snapshot is empty.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The ids, sorted.
    pub fn ids(&self) -> &[RecordId] {
        &self.ids
    }

    /// Whether the snapshot holds `id`.
    pub fn contains(&self, id: &RecordId) -> bool {
        self.ids.binary_search(id).is_ok()
    }

    /// Fingerprint of the whole snapshot.
    pub fn root(&self) -> Fingerprint {
        self.fingerprint(0, self.ids.len())
    }

    /// Index bounds of the ids in [lower, upper); `upper` empty means the end.
    pub fn range(&self, lower: &[u8], upper: &[u8]) -> (usize, usize) {
        let start = self.ids.partition_point(|id| !at_or_above(id, lower));
        let end = if upper.is_empty() {
            self.ids.len()
        } else {
            self.ids.partition_point(|id| !at_or_above(id, upper))
        };
        (start, end.max(start))
    }

    /// Fingerprint of the ids at indexes [start, end).
    pub fn fingerprint(&self, start: usize, end: usize) -> Fingerprint {
        Fingerprint {
            count: (end - start) as u64,
            sum: self.prefix[end].wrapping_sub(self.prefix[start]),
        }
    }

    /// Lower bounds splitting the ids at [start, end) into about `parts` runs of equal
    /// size: each the shortest prefix of a run's first id that sorts above the id before.
    pub fn split_bounds(&self, start: usize, end: usize, parts: usize) -> Vec<Vec<u8>> {
        let n = end - start;
        let parts = parts.clamp(1, n.max(1));
        let mut bounds = Vec::with_capacity(parts);
        for p in 1..parts {
            let i = start + p * n / parts;
            let (prev, cur) = (&self.ids[i - 1], &self.ids[i]);
            let diff = prev
                .0
                .iter()
                .zip(cur.0.iter())
                .position(|(a, b)| a != b)
                .unwrap_or(31);
            let bound = cur.0[..=diff].to_vec();
            if bounds.last() != Some(&bound) {
                bounds.push(bound);
            }
        }
        bounds
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(n: u8) -> Vec<RecordId> {
        let mut v: Vec<RecordId> = (0..n).map(|i| RecordId::of_body(&[i])).collect();
        v.sort();
        v
    }

    #[test]
    fn ranges_and_fingerprints_add_up() {
        let key = FingerprintKey::new(&[1; 16]);
        let s = Snapshot::new(key, ids(100));
        let bounds = s.split_bounds(0, 100, 7);
        assert!(!bounds.is_empty());
        let mut lowers = vec![Vec::new()];
        lowers.extend(bounds);
        let mut total = Fingerprint { count: 0, sum: 0 };
        for (i, lower) in lowers.iter().enumerate() {
            let upper = lowers.get(i + 1).cloned().unwrap_or_default();
            let (a, b) = s.range(lower, &upper);
            let f = s.fingerprint(a, b);
            assert!(f.count > 0, "every split part holds ids");
            total.count += f.count;
            total.sum = total.sum.wrapping_add(f.sum);
        }
        assert_eq!(total, s.root());
    }

    #[test]
    fn keys_differ_per_salt() {
        let id = RecordId([5; 32]);
        assert_ne!(
            FingerprintKey::new(&[1; 16]).hash(&id),
            FingerprintKey::new(&[2; 16]).hash(&id)
        );
    }

    #[test]
    fn an_unkeyed_sum_collision_is_told_apart() {
        // Two different sets with the same plain XOR of ids: {a, b, a^b^c} and {c}
        // padded... built directly: x ^ y == z ^ w with all four distinct.
        let a = RecordId([1; 32]);
        let b = RecordId([2; 32]);
        let c = RecordId([4; 32]);
        let mut d = [0u8; 32];
        for (i, v) in d.iter_mut().enumerate() {
            *v = a.0[i] ^ b.0[i] ^ c.0[i];
        }
        let d = RecordId(d);
        let xor = |s: &[RecordId]| {
            s.iter().fold([0u8; 32], |mut acc, id| {
                for (x, y) in acc.iter_mut().zip(id.0) {
                    *x ^= y;
                }
                acc
            })
        };
        let mut s1 = vec![a, b];
        let mut s2 = vec![c, d];
        s1.sort();
        s2.sort();
        assert_eq!(xor(&s1), xor(&s2), "the sets share an unkeyed fingerprint");
        let key = FingerprintKey::new(&[9; 16]);
        assert_ne!(Snapshot::new(key, s1).root(), Snapshot::new(key, s2).root());
    }
}
