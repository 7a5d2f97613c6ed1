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

/// The seed of a fresh engine after node `node`'s `epoch`-th restart or move (epoch 0 is
/// the start, whose seed `engine_seed` gives), so a restarted engine never repeats the
/// salts and session numbers of its previous life.
pub fn engine_seed_at(seed: u64, node: usize, kind: u64, epoch: u64) -> [u8; 32] {
    if epoch == 0 {
        return engine_seed(seed, node, kind);
    }
    let mut h = blake3::Hasher::new_derive_key("meshpay-sim seeds v1 epoch");
    h.update(&derive(seed, "engine", node as u64 * 2 + kind));
    h.update(&epoch.to_le_bytes());
    *h.finalize().as_bytes()
}

/// Attacker `index`'s own RNG (garbage bytes, replay choices): kept apart from the
/// simulation's so an attack never shifts the honest workload.
pub fn attacker_rng(seed: u64, index: usize) -> ChaCha8Rng {
    ChaCha8Rng::from_seed(derive(seed, "attacker", index as u64))
}

/// The signing key of attacker `index`'s account (fork flood).
pub fn attacker_key(seed: u64, index: usize) -> SigningKey {
    SigningKey::from_bytes(&derive(seed, "attacker key", index as u64))
}

/// The seed of attacker `index`'s engine (flood: it builds real `Hello`s).
pub fn attacker_engine_seed(seed: u64, index: usize) -> [u8; 32] {
    derive(seed, "attacker engine", index as u64)
}
