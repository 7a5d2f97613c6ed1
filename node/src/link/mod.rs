//! Links: the ways this node reaches its peers (LAN today; radios and relays beside it).
//! A link only moves opaque frames of the sync engine; what every link shares lives here:
//! how the daemon names a peer, and the bounds every frame is checked against.

pub mod lan;

use std::fmt;

use libp2p::PeerId;

/// The largest frame any link carries: a LAN sync message of 64 KiB plus 1 KiB of headers.
pub const MAX_FRAME_BYTES: usize = 64 * 1024 + 1024;

/// The smallest frame a link accepts: the engine never sends an empty message.
pub const MIN_FRAME_BYTES: usize = 1;

/// A peer as the daemon names it: the link it is reached over and that link's address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum PeerAddr {
    /// A libp2p peer on the LAN link, named by its public key.
    Lan(PeerId),
}

impl fmt::Display for PeerAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PeerAddr::Lan(peer) => write!(f, "lan/{peer}"),
        }
    }
}

/// Why a frame's length is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// A frame of no bytes: nothing the engine sends.
    #[error("empty frame")]
    Empty,
    /// A frame longer than the link's bound.
    #[error("frame of {len} bytes exceeds the bound of {max}")]
    Oversized {
        /// The frame's length in bytes.
        len: u64,
        /// The bound it was checked against.
        max: usize,
    },
}

/// Checks a frame length against a link's bound, before anything of that length is allocated.
pub fn check_frame_len(len: u64, max: usize) -> Result<(), FrameError> {
    if len < MIN_FRAME_BYTES as u64 {
        Err(FrameError::Empty)
    } else if len > max as u64 {
        Err(FrameError::Oversized { len, max })
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_bounds() {
        assert_eq!(check_frame_len(0, 10), Err(FrameError::Empty));
        assert_eq!(check_frame_len(1, 10), Ok(()));
        assert_eq!(check_frame_len(10, 10), Ok(()));
        assert_eq!(
            check_frame_len(11, 10),
            Err(FrameError::Oversized { len: 11, max: 10 })
        );
    }
}
