//! Randomness the engine was handed: a seed expanded by keyed BLAKE3, so salts and
//! delays are reproducible in the simulator and unpredictable to peers in the node
//! (which seeds from the OS).

/// A stream of pseudo-random values from a 32-byte seed.
#[derive(Clone)]
pub struct SeedStream {
    key: [u8; 32],
    counter: u64,
}

impl SeedStream {
    /// A stream from `seed`.
    pub fn new(seed: [u8; 32]) -> Self {
        SeedStream {
            key: seed,
            counter: 0,
        }
    }

    /// The next 32 pseudo-random bytes.
    pub fn next_block(&mut self) -> [u8; 32] {
        self.counter += 1;
        *blake3::keyed_hash(&self.key, &self.counter.to_le_bytes()).as_bytes()
    }

    /// A fresh 16-byte salt.
    pub fn salt(&mut self) -> [u8; 16] {
        self.next_block()[..16].try_into().expect("16 bytes")
    }

    /// A pseudo-random u64.
    pub fn next_u64(&mut self) -> u64 {
        u64::from_le_bytes(self.next_block()[..8].try_into().expect("8 bytes"))
    }

    /// A pseudo-random value in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}
