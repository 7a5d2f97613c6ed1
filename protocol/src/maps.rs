//! Hash maps and sets keyed by names (record ids, account keys), with a fast hasher.
//!
//! Names are hashes or public keys and hash only 8 bytes (see `id`), so the hasher's work
//! is one multiply; it is still keyed per process, so no one can aim records at one
//! bucket. std's SipHash costs several times more per lookup, and the ledger looks up
//! dozens of names per record it takes in.

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
