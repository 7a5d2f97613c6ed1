//! Hash maps and sets keyed by names (record ids, account keys), with a fast hasher.
//!
//! foldhash is keyed per process, so no one can aim names at one bucket, and names hash
//! all their 32 bytes: a peer chooses many of them freely (a transfer's recipient, the
//! ids an orphan waits for), so hashing a prefix would let it make any number collide.
//! std's SipHash costs several times more per lookup, and the ledger looks up several
//! names per record it takes in.

/// A hash map with the fast keyed hasher.
pub type Map<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

/// A hash set with the fast keyed hasher.
pub type Set<K> = std::collections::HashSet<K, foldhash::fast::RandomState>;

/// An empty set with room for `n` entries.
pub fn set_with_capacity<K>(n: usize) -> Set<K> {
    Set::with_capacity_and_hasher(n, Default::default())
}

/// Record ids held inline while there is one (most seqs hold one record, most payments
/// are claimed once): no allocation per record.
pub type Ids = smallvec::SmallVec<[crate::id::RecordId; 1]>;

#[cfg(test)]
mod tests {
    use std::hash::BuildHasher;

    use crate::id::AccountId;

    #[test]
    fn names_that_share_a_prefix_hash_apart() {
        // Peers choose recipients freely: names equal in all but their last byte must
        // not share a hash, or a flood of them would make every lookup a long probe.
        let hasher = foldhash::fast::FixedState::with_seed(7);
        let hashes: std::collections::HashSet<u64> = (0..=255u8)
            .map(|last| {
                let mut b = [0xab; 32];
                b[31] = last;
                hasher.hash_one(AccountId(b))
            })
            .collect();
        assert_eq!(hashes.len(), 256);
    }
}
