//! The trace hash: BLAKE3 over every delivered message and every merge's state digest.
//! Two runs with one seed must give the same hash; any divergence shows up here.

/// A running trace hash.
pub struct Trace {
    hasher: blake3::Hasher,
    /// Messages hashed.
    pub messages: u64,
    /// Merges hashed.
    pub merges: u64,
}

impl Default for Trace {
    fn default() -> Self {
        Trace {
            hasher: blake3::Hasher::new_derive_key("meshpay-sim trace v1"),
            messages: 0,
            merges: 0,
        }
    }
}

impl Trace {
    /// A message delivered to `to` from `from` at `at`.
    pub fn message(&mut self, at: u64, from: usize, to: usize, bytes: &[u8]) {
        self.messages += 1;
        self.hasher.update(b"M");
        self.hasher.update(&at.to_le_bytes());
        self.hasher.update(&(from as u64).to_le_bytes());
        self.hasher.update(&(to as u64).to_le_bytes());
        self.hasher.update(&(bytes.len() as u64).to_le_bytes());
        self.hasher.update(bytes);
    }

    /// A merge at `node` at `at` that left the ledger at `digest`.
    pub fn merge(&mut self, at: u64, node: usize, digest: &[u8; 32]) {
        self.merges += 1;
        self.hasher.update(b"D");
        self.hasher.update(&at.to_le_bytes());
        self.hasher.update(&(node as u64).to_le_bytes());
        self.hasher.update(digest);
    }

    /// The hash so far, hex.
    pub fn hex(&self) -> String {
        self.hasher.finalize().to_hex().to_string()
    }
}
