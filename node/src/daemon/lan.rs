//! The LAN link as the actor sees it: the link's handle and events, and the book that
//! numbers libp2p peers for the node core (whose engines name peers by `u64`).

use std::collections::HashMap;

use libp2p::{Multiaddr, PeerId};
use meshpay_protocol::node::LinkId;
use tokio::sync::mpsc;

use crate::link::lan::{LanEvent, LanHandle};

/// The node core's number for the LAN link.
pub const LAN: LinkId = LinkId(0);

/// The LAN link attached to the actor.
pub struct LanPort {
    /// Sends frames and controls the link.
    pub handle: LanHandle,
    /// What the link reports; `None` once it has stopped.
    pub events: Option<mpsc::Receiver<LanEvent>>,
    /// Up peers and their numbers.
    pub book: PeerBook,
    /// The addresses the link listens on, as it reported them.
    pub listening: Vec<Multiaddr>,
    /// Peers in the store's peer book (bounded by `MAX_SAVED_PEERS`).
    pub saved: std::collections::HashSet<PeerId>,
}

impl LanPort {
    /// A port over a spawned link; `saved` are the peers the peer book holds already.
    pub fn new(
        handle: LanHandle,
        events: mpsc::Receiver<LanEvent>,
        saved: std::collections::HashSet<PeerId>,
    ) -> Self {
        LanPort {
            handle,
            events: Some(events),
            book: PeerBook::default(),
            listening: Vec::new(),
            saved,
        }
    }

    /// The next event, or never once the link has stopped (the actor keeps serving).
    pub async fn next_event(&mut self) -> Option<LanEvent> {
        match &mut self.events {
            Some(rx) => rx.recv().await,
            None => std::future::pending().await,
        }
    }
}

/// Up peers, numbered for the core. A number is never reused, so a frame queued for a
/// peer that went away cannot reach a newcomer; only up peers are held, so the book is
/// bounded by the link's connection limit.
#[derive(Default)]
pub struct PeerBook {
    by_peer: HashMap<PeerId, (u64, Multiaddr)>,
    by_id: HashMap<u64, PeerId>,
    next: u64,
}

impl PeerBook {
    /// Numbers a peer that came up (a peer already up keeps its number, with the new
    /// address); returns its number.
    pub fn up(&mut self, peer: PeerId, addr: Multiaddr) -> u64 {
        if let Some((id, a)) = self.by_peer.get_mut(&peer) {
            *a = addr;
            return *id;
        }
        self.next += 1;
        let id = self.next;
        self.by_peer.insert(peer, (id, addr));
        self.by_id.insert(id, peer);
        id
    }

    /// Forgets a peer that went down; returns the number it had.
    pub fn down(&mut self, peer: &PeerId) -> Option<u64> {
        let (id, _) = self.by_peer.remove(peer)?;
        self.by_id.remove(&id);
        Some(id)
    }

    /// The number of an up peer.
    pub fn id(&self, peer: &PeerId) -> Option<u64> {
        self.by_peer.get(peer).map(|(id, _)| *id)
    }

    /// The peer behind a number.
    pub fn peer(&self, id: u64) -> Option<PeerId> {
        self.by_id.get(&id).copied()
    }

    /// The address an up peer came up on.
    pub fn addr(&self, peer: &PeerId) -> Option<&Multiaddr> {
        self.by_peer.get(peer).map(|(_, a)| a)
    }

    /// How many peers are up.
    pub fn len(&self) -> usize {
        self.by_peer.len()
    }

    /// Whether no peer is up.
    pub fn is_empty(&self) -> bool {
        self.by_peer.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_stable_while_up_and_never_reused() {
        let mut book = PeerBook::default();
        let a = PeerId::random();
        let b = PeerId::random();
        let addr: Multiaddr = "/ip4/127.0.0.1/tcp/1".parse().expect("addr");
        let ia = book.up(a, addr.clone());
        assert_eq!(
            book.up(a, addr.clone()),
            ia,
            "a reconnection keeps the number"
        );
        let ib = book.up(b, addr.clone());
        assert_ne!(ia, ib);
        assert_eq!(book.peer(ib), Some(b));
        assert_eq!(book.down(&a), Some(ia));
        assert_eq!(book.down(&a), None);
        assert_eq!(book.id(&a), None);
        assert_eq!(book.peer(ia), None);
        let again = book.up(a, addr);
        assert!(again != ia && again != ib, "a number is never reused");
        assert_eq!(book.len(), 2);
    }
}
