//! Names: a record is named by the BLAKE3 hash of its body bytes, an account by its
//! ed25519 public key. Both print as lowercase hex.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};

use serde::{Serialize, Serializer};

macro_rules! hex_name {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Default)]
        pub struct $name(pub [u8; 32]);

        impl Hash for $name {
            /// Hashes the first 8 bytes only. Names are hashes or keys: no one can make
            /// many of them share 8 bytes (2^64 work each), and maps key their hasher with
            /// a secret, so this spreads as well as all 32 bytes for half the hashing.
            #[inline]
            fn hash<H: Hasher>(&self, state: &mut H) {
                state.write_u64(self.word(0));
            }
        }

        impl Ord for $name {
            /// Byte order, compared a word at a time.
            #[inline]
            fn cmp(&self, other: &Self) -> Ordering {
                (0..4)
                    .map(|i| self.word(i).cmp(&other.word(i)))
                    .find(|o| o.is_ne())
                    .unwrap_or(Ordering::Equal)
            }
        }

        impl PartialOrd for $name {
            #[inline]
            fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
                Some(self.cmp(other))
            }
        }

        impl $name {
            /// Word `i` (0 to 3) of the bytes, read big-endian so words compare as bytes do.
            #[inline]
            fn word(&self, i: usize) -> u64 {
                let mut w = [0u8; 8];
                w.copy_from_slice(&self.0[8 * i..8 * i + 8]);
                u64::from_be_bytes(w)
            }

            /// Takes exactly 32 bytes, or nothing.
            pub fn from_slice(bytes: &[u8]) -> Option<Self> {
                bytes.try_into().ok().map(Self)
            }

            /// The first 8 hex digits, for tables meant for people.
            pub fn short(&self) -> String {
                to_hex(&self.0[..4])
            }

            /// All 64 hex digits.
            pub fn to_hex(&self) -> String {
                to_hex(&self.0)
            }

            /// Parses 64 hex digits.
            pub fn from_hex(s: &str) -> Option<Self> {
                let s = s.as_bytes();
                if s.len() != 64 {
                    return None;
                }
                let mut out = [0u8; 32];
                for (i, pair) in s.chunks(2).enumerate() {
                    let hi = (pair[0] as char).to_digit(16)?;
                    let lo = (pair[1] as char).to_digit(16)?;
                    out[i] = (hi * 16 + lo) as u8;
                }
                Some(Self(out))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.to_hex())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.short())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.to_hex())
            }
        }
    };
}

hex_name!(
    /// The id of a record: BLAKE3 of its exact body bytes.
    RecordId
);
hex_name!(
    /// An account: the signer's 32-byte ed25519 public key.
    AccountId
);

impl RecordId {
    /// The id of a body: BLAKE3 of its bytes.
    pub fn of_body(body: &[u8]) -> Self {
        Self(*blake3::hash(body).as_bytes())
    }
}

fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_is_byte_order() {
        let ids: Vec<RecordId> = (0..200u64)
            .map(|i| {
                let mut b = *blake3::hash(&i.to_le_bytes()).as_bytes();
                // Equal leading words, so later words decide too.
                b[..8].copy_from_slice(&[(i % 3) as u8; 8]);
                b[8..16].copy_from_slice(&[(i % 2) as u8; 8]);
                RecordId(b)
            })
            .collect();
        for a in &ids {
            for b in &ids {
                assert_eq!(a.cmp(b), a.0.cmp(&b.0), "{a:?} {b:?}");
            }
        }
    }

    #[test]
    fn hex_round_trip() {
        let id = RecordId::of_body(b"hello");
        assert_eq!(RecordId::from_hex(&id.to_hex()), Some(id));
        assert_eq!(id.short().len(), 8);
        assert!(RecordId::from_hex("zz").is_none());
        assert!(RecordId::from_hex(&"g".repeat(64)).is_none());
    }
}
