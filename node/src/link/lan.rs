//! The LAN link: libp2p (TCP and QUIC, noise, yamux, mDNS, identify, ping, connection
//! limits, a block list) carrying the sync engine's frames on one stream protocol named
//! for the chain. One task owns the swarm; the daemon talks to it through [`LanHandle`]
//! and reads [`LanEvent`]s, both over bounded channels.

mod peer;
pub(crate) mod task;
pub(crate) mod wire;

#[cfg(test)]
pub(crate) mod tests;

use std::{collections::HashSet, time::Duration};

use libp2p::{Multiaddr, PeerId, identity::Keypair};
use meshpay_protocol::ChainId;
use tokio::sync::{mpsc, oneshot};

use crate::link::{FrameError, MAX_FRAME_BYTES, check_frame_len};

/// Configuration of the LAN link; limits are fields, validated once by [`Lan::spawn`].
#[derive(Debug, Clone)]
pub struct LanConfig {
    /// Addresses to listen on (TCP and/or QUIC). Default: every IPv4 interface, port 7433.
    pub listen: Vec<Multiaddr>,
    /// Discover peers on the local network by mDNS. Default: on.
    pub mdns: bool,
    /// Static peers, dialed at start and redialed with backoff whenever disconnected.
    pub peers: Vec<Multiaddr>,
    /// Established connections in all. Default: 64.
    pub max_connections: u32,
    /// Established connections per peer (two nodes dialing each other may make two). Default: 2.
    pub max_connections_per_peer: u32,
    /// Largest frame sent or accepted. Default: [`MAX_FRAME_BYTES`].
    pub max_frame_bytes: usize,
    /// Time a frame may take from its first byte to its last, either way. Default: 10 s.
    pub frame_timeout: Duration,
    /// A connection with no open stream is closed after this. Default: 30 s.
    pub idle_timeout: Duration,
    /// Frames queued towards one peer; beyond it `send` fails with [`LanError::QueueFull`]. Default: 64.
    pub peer_queue_frames: usize,
    /// Events waiting for the daemon before the link stops reading peers. Default: 256.
    pub event_queue: usize,
    /// First wait before redialing a static peer; doubles per failure. Default: 500 ms.
    pub redial_backoff: Duration,
    /// Longest wait between redials. Default: 30 s.
    pub redial_backoff_max: Duration,
    /// First time a misbehaving peer is refused; doubles per offence. Default: 10 s.
    pub misbehaviour_backoff: Duration,
    /// Longest time a misbehaving peer is refused. Default: 10 min.
    pub misbehaviour_backoff_max: Duration,
}

impl Default for LanConfig {
    fn default() -> Self {
        Self {
            listen: vec![
                "/ip4/0.0.0.0/tcp/7433".parse().expect("valid multiaddr"),
                "/ip4/0.0.0.0/udp/7433/quic-v1"
                    .parse()
                    .expect("valid multiaddr"),
            ],
            mdns: true,
            peers: Vec::new(),
            max_connections: 64,
            max_connections_per_peer: 2,
            max_frame_bytes: MAX_FRAME_BYTES,
            frame_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(30),
            peer_queue_frames: 64,
            event_queue: 256,
            redial_backoff: Duration::from_millis(500),
            redial_backoff_max: Duration::from_secs(30),
            misbehaviour_backoff: Duration::from_secs(10),
            misbehaviour_backoff_max: Duration::from_secs(600),
        }
    }
}

impl LanConfig {
    /// Checks the limits once, before anything starts.
    fn validate(&self) -> Result<(), LanError> {
        let fail = |what: &str| Err(LanError::Config(what.to_owned()));
        if self.max_connections == 0 || self.max_connections_per_peer == 0 {
            return fail("connection limits must be at least 1");
        }
        if self.max_frame_bytes == 0 || self.max_frame_bytes > u32::MAX as usize {
            return fail("max_frame_bytes must be between 1 and 2^32 - 1");
        }
        if self.peer_queue_frames == 0 || self.event_queue == 0 {
            return fail("queues must hold at least one item");
        }
        if self.frame_timeout.is_zero() || self.idle_timeout.is_zero() {
            return fail("timeouts must be positive");
        }
        if self.redial_backoff.is_zero() || self.misbehaviour_backoff.is_zero() {
            return fail("backoffs must be positive");
        }
        Ok(())
    }
}

/// What happened on the LAN link, in the order it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LanEvent {
    /// The link listens on this address.
    Listening(Multiaddr),
    /// The link no longer listens on this address (its interface went away).
    ListenEnded(Multiaddr),
    /// A meshpay stream with this peer works: add it to the sync engine.
    PeerUp {
        /// The peer.
        peer: PeerId,
        /// The remote address of the connection it came up on.
        addr: Multiaddr,
        /// This node dialed it, so `addr` is an address the peer listens on (worth
        /// keeping in the peer book); an accepted connection's is the peer's outgoing port.
        dialed: bool,
    },
    /// The peer is gone (disconnected, blocked, misbehaved): remove it from the sync engine.
    PeerDown {
        /// The peer.
        peer: PeerId,
    },
    /// A frame from an up peer, for the sync engine.
    Frame {
        /// The sender.
        peer: PeerId,
        /// The frame, within the configured bound.
        bytes: Vec<u8>,
    },
    /// The peer broke the framing; its stream was closed and it is refused for a while.
    Misbehaved {
        /// The peer.
        peer: PeerId,
        /// What it did.
        reason: String,
    },
}

/// Traffic counters of one peer or of the whole link; bytes include length prefixes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Traffic {
    /// Bytes received in frames.
    pub bytes_in: u64,
    /// Bytes written in frames.
    pub bytes_out: u64,
    /// Frames received.
    pub frames_in: u64,
    /// Frames written.
    pub frames_out: u64,
    /// Frames refused by `send` because the peer's queue was full.
    pub frames_dropped: u64,
}

impl Traffic {
    fn add(&mut self, other: &Traffic) {
        self.bytes_in += other.bytes_in;
        self.bytes_out += other.bytes_out;
        self.frames_in += other.frames_in;
        self.frames_out += other.frames_out;
        self.frames_dropped += other.frames_dropped;
    }
}

/// A snapshot of the link's counters, for metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LanStats {
    /// Since the link started, peers gone included.
    pub total: Traffic,
    /// Per peer that is up now.
    pub peers: Vec<(PeerId, Traffic)>,
    /// Established connections now.
    pub connections: u32,
    /// Incoming connections refused (limits, block list) since start.
    pub refused_connections: u64,
    /// Misbehaviour reports since start.
    pub misbehaviours: u64,
}

/// Why a LAN operation failed.
#[derive(Debug, thiserror::Error)]
pub enum LanError {
    /// The configuration is unusable.
    #[error("invalid LAN configuration: {0}")]
    Config(String),
    /// The transport or a behaviour could not be built.
    #[error("cannot build the LAN transport: {0}")]
    Transport(String),
    /// Listening on an address failed.
    #[error("cannot listen on {addr}: {reason}")]
    Listen {
        /// The address.
        addr: Multiaddr,
        /// The transport's reason.
        reason: String,
    },
    /// Dialing an address failed at once.
    #[error("cannot dial {addr}: {reason}")]
    Dial {
        /// The address.
        addr: Multiaddr,
        /// The swarm's reason.
        reason: String,
    },
    /// The frame's length is out of bounds.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// The peer is not up.
    #[error("peer {peer} is not connected")]
    NotConnected {
        /// The peer.
        peer: PeerId,
    },
    /// The peer's outbound queue is full; the frame was dropped.
    #[error("outbound queue of peer {peer} is full")]
    QueueFull {
        /// The peer.
        peer: PeerId,
    },
    /// The link task has stopped.
    #[error("the LAN link has stopped")]
    Stopped,
}

/// A request from the daemon to the link task.
enum Command {
    Send {
        peer: PeerId,
        bytes: Vec<u8>,
        reply: oneshot::Sender<Result<(), LanError>>,
    },
    Dial {
        addr: Multiaddr,
        reply: oneshot::Sender<Result<(), LanError>>,
    },
    SetBlocked {
        peers: HashSet<PeerId>,
        reply: oneshot::Sender<()>,
    },
    Block {
        peer: PeerId,
        blocked: bool,
        reply: oneshot::Sender<()>,
    },
    ListenAddrs {
        reply: oneshot::Sender<Vec<Multiaddr>>,
    },
    Stats {
        reply: oneshot::Sender<LanStats>,
    },
    Penalize {
        peer: PeerId,
        reason: String,
        reply: oneshot::Sender<()>,
    },
    Shutdown {
        reply: oneshot::Sender<()>,
    },
}

/// Commands waiting for the link task; senders wait when it is full.
const COMMAND_QUEUE: usize = 64;

/// The LAN link; [`Lan::spawn`] starts it.
pub struct Lan;

impl Lan {
    /// Builds the swarm, starts listening and dialing, and spawns the link task on the
    /// current tokio runtime. Returns the handle and the link's events.
    pub fn spawn(
        config: LanConfig,
        keypair: Keypair,
        chain: ChainId,
    ) -> Result<(LanHandle, mpsc::Receiver<LanEvent>), LanError> {
        config.validate()?;
        let local_peer_id = keypair.public().to_peer_id();
        let (cmd_tx, cmd_rx) = mpsc::channel(COMMAND_QUEUE);
        let (event_tx, event_rx) = mpsc::channel(config.event_queue);
        let max_frame_bytes = config.max_frame_bytes;
        let task = task::LanTask::new(config, keypair, chain, cmd_rx, event_tx)?;
        tokio::spawn(task.run());
        let handle = LanHandle {
            cmd: cmd_tx,
            local_peer_id,
            max_frame_bytes,
        };
        Ok((handle, event_rx))
    }
}

/// The daemon's side of the LAN link; cheap to clone.
#[derive(Clone, Debug)]
pub struct LanHandle {
    cmd: mpsc::Sender<Command>,
    local_peer_id: PeerId,
    max_frame_bytes: usize,
}

impl LanHandle {
    /// This node's peer id on the LAN.
    pub fn local_peer_id(&self) -> PeerId {
        self.local_peer_id
    }

    /// Queues a frame to an up peer; fails at once if it is not up or its queue is full.
    pub async fn send(&self, peer: PeerId, bytes: Vec<u8>) -> Result<(), LanError> {
        check_frame_len(bytes.len() as u64, self.max_frame_bytes)?;
        self.ask(|reply| Command::Send { peer, bytes, reply })
            .await?
    }

    /// Dials an address now and keeps redialing it with backoff whenever disconnected.
    pub async fn dial(&self, addr: Multiaddr) -> Result<(), LanError> {
        self.ask(|reply| Command::Dial { addr, reply }).await?
    }

    /// Disconnects a peer and refuses it until [`LanHandle::unblock`].
    pub async fn block(&self, peer: PeerId) -> Result<(), LanError> {
        self.ask(|reply| Command::Block {
            peer,
            blocked: true,
            reply,
        })
        .await
    }

    /// Accepts a blocked peer again and redials it if it is a known peer.
    pub async fn unblock(&self, peer: PeerId) -> Result<(), LanError> {
        self.ask(|reply| Command::Block {
            peer,
            blocked: false,
            reply,
        })
        .await
    }

    /// Replaces the whole set of blocked peers (a partition in one call).
    pub async fn set_blocked(&self, peers: HashSet<PeerId>) -> Result<(), LanError> {
        self.ask(|reply| Command::SetBlocked { peers, reply }).await
    }

    /// The addresses the link listens on now.
    pub async fn listen_addrs(&self) -> Result<Vec<Multiaddr>, LanError> {
        self.ask(|reply| Command::ListenAddrs { reply }).await
    }

    /// Closes a peer's stream and refuses it for the misbehaviour backoff: the daemon
    /// found its frames hostile (garbage inside well-formed framing).
    pub async fn penalize(&self, peer: PeerId, reason: String) -> Result<(), LanError> {
        self.ask(|reply| Command::Penalize {
            peer,
            reason,
            reply,
        })
        .await
    }

    /// A snapshot of the traffic counters.
    pub async fn stats(&self) -> Result<LanStats, LanError> {
        self.ask(|reply| Command::Stats { reply }).await
    }

    /// Stops the link: every connection is closed and the event channel ends.
    pub async fn shutdown(&self) -> Result<(), LanError> {
        self.ask(|reply| Command::Shutdown { reply }).await
    }

    async fn ask<T>(
        &self,
        command: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, LanError> {
        let (reply, answer) = oneshot::channel();
        self.cmd
            .send(command(reply))
            .await
            .map_err(|_| LanError::Stopped)?;
        answer.await.map_err(|_| LanError::Stopped)
    }
}
