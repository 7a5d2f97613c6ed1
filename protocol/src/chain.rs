//! The genesis of a network: its name, issuer keys and offline limits. Its hash is the
//! chain id every signature commits to, so a record from another network never verifies.

use prost::Message;
use serde::Serialize;

use crate::id::AccountId;
use crate::record::canonical;
use crate::wire;

/// Most issuers a chain may name.
pub const MAX_ISSUERS: usize = 64;
/// Longest chain name, in bytes.
pub const MAX_NAME_BYTES: usize = 64;

/// BLAKE3 of the canonical encoding of the genesis `ChainSpec`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct ChainId(pub [u8; 32]);

impl ChainId {
    /// Hex form, for people comparing two networks.
    pub fn to_hex(&self) -> String {
        crate::id::RecordId(self.0).to_hex()
    }

    /// Parses 64 hex digits.
    pub fn from_hex(s: &str) -> Option<Self> {
        crate::id::RecordId::from_hex(s).map(|r| ChainId(r.0))
    }
}

/// Offline limits, counted on a chain since its last checkpoint.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize)]
pub struct Limits {
    /// Largest single payment.
    pub max_single: u64,
    /// Most that may be sent in total.
    pub max_cumulative: u64,
    /// Most transfers with a positive amount.
    pub max_count: u64,
}

/// The network's genesis: name, issuers (their order breaks checkpoint ties) and limits.
#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
pub struct ChainSpec {
    /// Human name of the network.
    pub name: String,
    /// Issuer keys, in priority order.
    pub issuers: Vec<AccountId>,
    /// Offline limits.
    pub limits: Limits,
}

/// Why a genesis spec was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    /// Not decodable, or not the canonical encoding.
    #[error("chain spec is not a canonical ChainSpec: {0}")]
    Encoding(String),
    /// A field outside its bounds.
    #[error("chain spec invalid: {0}")]
    Invalid(&'static str),
}

impl ChainSpec {
    /// The canonical encoding, the bytes hashed into the chain id.
    pub fn encode(&self) -> Vec<u8> {
        self.to_wire().encode_to_vec()
    }

    /// The chain id: BLAKE3 of the canonical encoding.
    pub fn chain_id(&self) -> ChainId {
        ChainId(*blake3::hash(&self.encode()).as_bytes())
    }

    /// Position of `key` among the issuers, or `None` for an ordinary account.
    pub fn issuer_index(&self, key: &AccountId) -> Option<usize> {
        self.issuers.iter().position(|k| k == key)
    }

    /// Whether `key` is an issuer.
    pub fn is_issuer(&self, key: &AccountId) -> bool {
        self.issuer_index(key).is_some()
    }

    /// Checks the bounds a network's genesis must meet.
    pub fn validate(&self) -> Result<(), SpecError> {
        if self.name.is_empty() || self.name.len() > MAX_NAME_BYTES {
            return Err(SpecError::Invalid("name must be 1 to 64 bytes"));
        }
        if self.issuers.is_empty() || self.issuers.len() > MAX_ISSUERS {
            return Err(SpecError::Invalid("1 to 64 issuers"));
        }
        for (i, k) in self.issuers.iter().enumerate() {
            if self.issuers[..i].contains(k) {
                return Err(SpecError::Invalid("an issuer is listed twice"));
            }
            if crate::record::verify::check_key(&k.0).is_err() {
                return Err(SpecError::Invalid(
                    "an issuer key is not a valid public key",
                ));
            }
        }
        let l = self.limits;
        if l.max_single == 0 || l.max_cumulative == 0 || l.max_count == 0 {
            return Err(SpecError::Invalid("limits must be positive"));
        }
        if l.max_single > l.max_cumulative {
            return Err(SpecError::Invalid("max_single above max_cumulative"));
        }
        Ok(())
    }

    /// Decodes and validates a spec; only the canonical encoding is accepted.
    pub fn decode(bytes: &[u8]) -> Result<Self, SpecError> {
        canonical::check_chain_spec(bytes).map_err(|r| SpecError::Encoding(r.to_string()))?;
        let w = wire::ChainSpec::decode(bytes).map_err(|e| SpecError::Encoding(e.to_string()))?;
        let limits = w.limits.ok_or(SpecError::Invalid("limits missing"))?;
        let issuers = w
            .issuers
            .iter()
            .map(|k| {
                AccountId::from_slice(k).ok_or(SpecError::Invalid("issuer key of wrong length"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let spec = ChainSpec {
            name: w.name,
            issuers,
            limits: Limits {
                max_single: limits.max_single,
                max_cumulative: limits.max_cumulative,
                max_count: limits.max_count,
            },
        };
        spec.validate()?;
        Ok(spec)
    }

    fn to_wire(&self) -> wire::ChainSpec {
        wire::ChainSpec {
            name: self.name.clone(),
            issuers: self.issuers.iter().map(|k| k.0.to_vec()).collect(),
            limits: Some(wire::Limits {
                max_single: self.limits.max_single,
                max_cumulative: self.limits.max_cumulative,
                max_count: self.limits.max_count,
            }),
        }
    }
}
