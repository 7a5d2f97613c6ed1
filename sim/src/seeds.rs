//! Every random choice of a run derives from its one seed: the simulation's own RNG,
//! each node's sync-engine seed, each node's batch-verification RNG (kept apart from the
//! simulation's, DESIGN §1) and the account keys, each under its own BLAKE3 label.

use ed25519_dalek::SigningKey;
use rand_chacha::{ChaCha8Rng, ChaCha20Rng};
use rand_core::SeedableRng;

fn derive(seed: u64, label: &str, index: u64) -> [u8; 32] {
    let mut h = blake3::Hasher::new_derive_key("meshpay-sim seeds v1");
    h.update(&seed.to_le_bytes());
    h.update(label.as_bytes());
    h.update(&index.to_le_bytes());
    *h.finalize().as_bytes()
}

/// The simulation's RNG: workload timing, amounts, nonces, loss.
pub fn sim_rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::from_seed(derive(seed, "sim", 0))
}

/// The seed of node `node`'s sync engine for link kind number `kind`.
pub fn engine_seed(seed: u64, node: usize, kind: u64) -> [u8; 32] {
    // Two engines per node at most (LAN, LoRa): interleave their indices.
    derive(seed, "engine", node as u64 * 2 + kind)
}

/// Node `node`'s batch-verification RNG: its own stream, so the number of signatures
/// verified never shifts the simulation's choices.
pub fn verify_rng(seed: u64, node: usize) -> ChaCha20Rng {
    ChaCha20Rng::from_seed(derive(seed, "verify", node as u64))
}

/// The signing key of account `index` (issuer included).
pub fn account_key(seed: u64, index: u64) -> SigningKey {
    SigningKey::from_bytes(&derive(seed, "account", index))
}
