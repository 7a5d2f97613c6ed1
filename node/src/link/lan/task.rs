//! The link task: owns the swarm, the peers' sessions, the dial targets and the block
//! list. Everything that changes link state happens here, one event at a time; stream
//! tasks and the daemon only send it messages.

use std::{
    collections::{HashMap, HashSet, VecDeque},
    sync::Arc,
    time::Duration,
};

use futures::StreamExt as _;
use libp2p::{
    Multiaddr, PeerId, StreamProtocol, Swarm, allow_block_list, connection_limits,
    core::ConnectedPoint,
    identify,
    identity::Keypair,
    mdns,
    multiaddr::Protocol,
    noise, ping,
    swarm::{
        ConnectionId, DialError, ListenError, NetworkBehaviour, SwarmEvent,
        behaviour::toggle::Toggle,
        dial_opts::{DialOpts, PeerCondition},
    },
    tcp, yamux,
};
use meshpay_protocol::ChainId;
use tokio::{sync::mpsc, task::AbortHandle, time::Instant};
use tracing::{debug, info, warn};

use super::{
    Command, LanConfig, LanError, LanEvent, LanStats, Traffic,
    peer::{self, Counters, Inbound, Report, StreamContext},
};

/// How often redials and expired penalties are looked at.
const TICK: Duration = Duration::from_millis(100);
/// Reports from stream tasks waiting for the link task (each task sends at most two).
const REPORT_QUEUE: usize = 256;
/// Frames read from peers waiting for the link task.
const INBOUND_QUEUE: usize = 64;
/// Peers remembered as speaking another network, so mDNS does not make us dial them again.
const MAX_FOREIGN: usize = 1024;
/// How often identify refreshes; it also tells us early that a peer lacks our protocol.
const IDENTIFY_INTERVAL: Duration = Duration::from_secs(300);

/// The behaviours of the LAN swarm; the block list and the limits come first so that a
/// refused connection is refused before the others see it.
/// Most peers mDNS may put on the dial list (announcements are unauthenticated).
const MAX_DISCOVERED_PEERS: usize = 256;
/// Most addresses kept per discovered peer.
const MAX_ADDRS_PER_PEER: usize = 8;

/// The version of the sync messages in the stream protocol's name.
const SYNC_VERSION: u32 = 2;

#[derive(NetworkBehaviour)]
pub(super) struct Behaviour {
    blocked: allow_block_list::Behaviour<allow_block_list::BlockedPeers>,
    limits: connection_limits::Behaviour,
    stream: libp2p_stream::Behaviour,
    identify: identify::Behaviour,
    ping: ping::Behaviour,
    mdns: Toggle<mdns::tokio::Behaviour>,
}

/// The stream protocol of one network: peers of another chain fail to negotiate it.
pub(crate) fn sync_protocol(chain: &ChainId) -> StreamProtocol {
    // Version 2 added thin pushes, which a node of version 1 refuses as empty messages
    // and counts against the sender: the two do not negotiate at all rather than strike
    // each other.
    StreamProtocol::try_from_owned(format!("/meshpay/sync/{SYNC_VERSION}/{}", chain.to_hex()))
        .expect("a protocol name starting with '/'")
}

/// One peer's meshpay session: from its connection to its last disconnection.
struct Session {
    id: u64,
    up: bool,
    addr: Multiaddr,
    /// This node dialed the connection: `addr` is one the peer listens on.
    dialed: bool,
    queue: mpsc::Sender<Vec<u8>>,
    writer: AbortHandle,
    reader: Option<(u64, AbortHandle)>,
    counters: Arc<Counters>,
}

/// An address the daemon wants connected (static peer or `dial`).
struct Target {
    addr: Multiaddr,
    peer: Option<PeerId>,
    redial: Redial,
}

/// A peer found by mDNS, dialed while it is announced.
struct Discovered {
    addrs: Vec<Multiaddr>,
    redial: Redial,
}

/// When to try a dial again.
#[derive(Default)]
struct Redial {
    failures: u32,
    next_try: Option<Instant>,
    pending: bool,
}

/// A misbehaving peer's record: refused until `until`, forgotten at `forget_at`.
struct Penalty {
    strikes: u32,
    until: Option<Instant>,
    forget_at: Instant,
}

pub(super) struct LanTask {
    swarm: Swarm<Behaviour>,
    config: LanConfig,
    protocol: StreamProtocol,
    control: libp2p_stream::Control,
    incoming: libp2p_stream::IncomingStreams,
    commands: mpsc::Receiver<Command>,
    events: mpsc::Sender<LanEvent>,
    backlog: VecDeque<LanEvent>,
    inbound_tx: mpsc::Sender<Inbound>,
    inbound_rx: mpsc::Receiver<Inbound>,
    reports_tx: mpsc::Sender<Report>,
    reports_rx: mpsc::Receiver<Report>,
    sessions: HashMap<PeerId, Session>,
    next_id: u64,
    targets: Vec<Target>,
    dialing: HashMap<ConnectionId, usize>,
    discovered: HashMap<PeerId, Discovered>,
    foreign: HashSet<PeerId>,
    manual_blocks: HashSet<PeerId>,
    penalties: HashMap<PeerId, Penalty>,
    total: Traffic,
    refused: u64,
    misbehaviours: u64,
}

impl LanTask {
    pub(super) fn new(
        config: LanConfig,
        keypair: Keypair,
        chain: ChainId,
        commands: mpsc::Receiver<Command>,
        events: mpsc::Sender<LanEvent>,
    ) -> Result<Self, LanError> {
        let protocol = sync_protocol(&chain);
        let limits = connection_limits::ConnectionLimits::default()
            .with_max_established(Some(config.max_connections))
            .with_max_established_per_peer(Some(config.max_connections_per_peer))
            .with_max_pending_incoming(Some(config.max_connections))
            .with_max_pending_outgoing(Some(config.max_connections));
        let use_mdns = config.mdns;
        let mut swarm = libp2p::SwarmBuilder::with_existing_identity(keypair)
            .with_tokio()
            .with_tcp(
                tcp::Config::default(),
                noise::Config::new,
                yamux::Config::default,
            )
            .map_err(|e| LanError::Transport(e.to_string()))?
            .with_quic()
            .with_behaviour(|key| {
                let local = key.public().to_peer_id();
                let mdns = if use_mdns {
                    let config = mdns::Config {
                        query_interval: Duration::from_secs(30),
                        ..Default::default()
                    };
                    Some(mdns::tokio::Behaviour::new(config, local)?)
                } else {
                    None
                };
                let identify = identify::Behaviour::new(
                    identify::Config::new("/meshpay/id/1".to_owned(), key.public())
                        .with_agent_version(format!("meshpay/{}", env!("CARGO_PKG_VERSION")))
                        .with_interval(IDENTIFY_INTERVAL),
                );
                Ok(Behaviour {
                    blocked: Default::default(),
                    limits: connection_limits::Behaviour::new(limits),
                    stream: libp2p_stream::Behaviour::new(),
                    identify,
                    ping: ping::Behaviour::new(ping::Config::new()),
                    mdns: Toggle::from(mdns),
                })
            })
            .map_err(|e| LanError::Transport(e.to_string()))?
            .with_swarm_config(|c| c.with_idle_connection_timeout(config.idle_timeout))
            .build();

        let mut control = swarm.behaviour().stream.new_control();
        let incoming = control
            .accept(protocol.clone())
            .map_err(|e| LanError::Transport(e.to_string()))?;
        for addr in &config.listen {
            swarm
                .listen_on(addr.clone())
                .map_err(|e| LanError::Listen {
                    addr: addr.clone(),
                    reason: e.to_string(),
                })?;
        }
        let now = Instant::now();
        let targets = config
            .peers
            .iter()
            .map(|addr| Target {
                addr: addr.clone(),
                peer: peer_of(addr),
                redial: Redial {
                    next_try: Some(now),
                    ..Default::default()
                },
            })
            .collect();
        let (inbound_tx, inbound_rx) = mpsc::channel(INBOUND_QUEUE);
        let (reports_tx, reports_rx) = mpsc::channel(REPORT_QUEUE);
        Ok(Self {
            swarm,
            config,
            protocol,
            control,
            incoming,
            commands,
            events,
            backlog: VecDeque::new(),
            inbound_tx,
            inbound_rx,
            reports_tx,
            reports_rx,
            sessions: HashMap::new(),
            next_id: 0,
            targets,
            dialing: HashMap::new(),
            discovered: HashMap::new(),
            foreign: HashSet::new(),
            manual_blocks: HashSet::new(),
            penalties: HashMap::new(),
            total: Traffic::default(),
            refused: 0,
            misbehaviours: 0,
        })
    }

    /// Runs until shutdown, until every handle is dropped, or until the events are no
    /// longer read.
    pub(super) async fn run(mut self) {
        info!(link = "lan", peer = %self.swarm.local_peer_id(), protocol = %self.protocol, "LAN link started");
        self.dial_due(Instant::now());
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        // A clone, so that a reserved slot borrows it rather than the whole task.
        let events = self.events.clone();
        let mut done = None;
        loop {
            let room = self.backlog.len() < self.config.event_queue;
            tokio::select! {
                event = self.swarm.select_next_some() => self.on_swarm_event(event),
                command = self.commands.recv() => match command {
                    Some(Command::Shutdown { reply }) => {
                        done = Some(reply);
                        break;
                    }
                    Some(command) => self.on_command(command),
                    None => break,
                },
                Some((peer, stream)) = self.incoming.next() => self.on_inbound_stream(peer, stream),
                Some(report) = self.reports_rx.recv() => self.on_report(report),
                Some(inbound) = self.inbound_rx.recv(), if room => self.on_inbound_frame(inbound),
                permit = events.reserve(), if !self.backlog.is_empty() => match permit {
                    Ok(permit) => {
                        if let Some(event) = self.backlog.pop_front() {
                            permit.send(event);
                        }
                    }
                    Err(_) => break,
                },
                _ = tick.tick() => self.on_tick(Instant::now()),
            }
        }
        for (_, session) in self.sessions.drain() {
            session.writer.abort();
            if let Some((_, reader)) = session.reader {
                reader.abort();
            }
        }
        info!(link = "lan", "LAN link stopped");
        if let Some(reply) = done {
            let _ = reply.send(());
        }
    }

    fn on_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::NewListenAddr { address, .. } => {
                info!(link = "lan", %address, "listening");
                self.backlog.push_back(LanEvent::Listening(address));
            }
            SwarmEvent::ExpiredListenAddr { address, .. } => {
                info!(link = "lan", %address, "no longer listening");
                self.backlog.push_back(LanEvent::ListenEnded(address));
            }
            SwarmEvent::ListenerClosed {
                addresses, reason, ..
            } => {
                warn!(link = "lan", ?reason, "a listener closed");
                self.backlog
                    .extend(addresses.into_iter().map(LanEvent::ListenEnded));
            }
            SwarmEvent::ConnectionEstablished {
                peer_id,
                connection_id,
                endpoint,
                ..
            } => {
                debug!(link = "lan", peer = %peer_id, addr = %endpoint.get_remote_address(), "connected");
                if let Some(index) = self.dialing.remove(&connection_id) {
                    let target = &mut self.targets[index];
                    target.peer = Some(peer_id);
                    target.redial = Redial::default();
                }
                if let Some(found) = self.discovered.get_mut(&peer_id) {
                    found.redial = Redial::default();
                }
                if !self.sessions.contains_key(&peer_id) {
                    self.open_session(peer_id, remote_addr(&endpoint), endpoint.is_dialer());
                }
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established: 0,
                cause,
                ..
            } => {
                debug!(link = "lan", peer = %peer_id, cause = ?cause, "disconnected");
                self.end_session(peer_id);
                self.schedule_redial(peer_id, Instant::now() + self.config.redial_backoff);
            }
            SwarmEvent::OutgoingConnectionError {
                connection_id,
                peer_id,
                error,
            } => {
                debug!(link = "lan", peer = ?peer_id, %error, "dial failed");
                let now = Instant::now();
                if let Some(index) = self.dialing.remove(&connection_id) {
                    let backoff = backoff_after_failure(
                        &self.config,
                        &mut self.targets[index].redial.failures,
                    );
                    let redial = &mut self.targets[index].redial;
                    redial.pending = false;
                    redial.next_try = Some(now + backoff);
                }
                if let Some(peer) = peer_id
                    && self.discovered.contains_key(&peer)
                {
                    let mut failures = self.discovered[&peer].redial.failures;
                    let backoff = backoff_after_failure(&self.config, &mut failures);
                    if let Some(found) = self.discovered.get_mut(&peer) {
                        found.redial = Redial {
                            failures,
                            next_try: Some(now + backoff),
                            pending: false,
                        };
                    }
                }
            }
            SwarmEvent::IncomingConnectionError {
                error,
                peer_id,
                send_back_addr,
                ..
            } => {
                if matches!(error, ListenError::Denied { .. }) {
                    self.refused += 1;
                }
                debug!(link = "lan", peer = ?peer_id, addr = %send_back_addr, %error, "incoming connection refused");
            }
            SwarmEvent::Behaviour(BehaviourEvent::Identify(identify::Event::Received {
                peer_id,
                info,
                ..
            })) if !info.protocols.contains(&self.protocol) => {
                self.foreign(peer_id, "identify lists no meshpay stream of this chain");
            }
            SwarmEvent::Behaviour(BehaviourEvent::Mdns(mdns::Event::Discovered(found))) => {
                let now = Instant::now();
                for (peer, addr) in found {
                    if self.foreign.contains(&peer) {
                        continue;
                    }
                    // mDNS is unauthenticated multicast: anyone on the LAN can announce
                    // peers, so what it may add to the dial list is bounded.
                    if !self.discovered.contains_key(&peer)
                        && self.discovered.len() >= MAX_DISCOVERED_PEERS
                    {
                        continue;
                    }
                    debug!(link = "lan", %peer, %addr, "discovered by mDNS");
                    let entry = self.discovered.entry(peer).or_insert_with(|| Discovered {
                        addrs: Vec::new(),
                        redial: Redial {
                            next_try: Some(now),
                            ..Default::default()
                        },
                    });
                    if !entry.addrs.contains(&addr) && entry.addrs.len() < MAX_ADDRS_PER_PEER {
                        entry.addrs.push(addr);
                    }
                }
                self.dial_due(now);
            }
            SwarmEvent::Behaviour(BehaviourEvent::Mdns(mdns::Event::Expired(gone))) => {
                for (peer, addr) in gone {
                    if let Some(entry) = self.discovered.get_mut(&peer) {
                        entry.addrs.retain(|a| *a != addr);
                        if entry.addrs.is_empty() {
                            self.discovered.remove(&peer);
                        }
                    }
                }
            }
            _ => {}
        }
    }

    fn on_command(&mut self, command: Command) {
        match command {
            Command::Penalize {
                peer,
                reason,
                reply,
            } => {
                self.misbehaviours += 1;
                warn!(link = "lan", %peer, %reason, "peer sent hostile frames");
                self.end_session(peer);
                self.penalize(peer, Instant::now());
                let _ = reply.send(());
            }
            Command::Send { peer, bytes, reply } => {
                let _ = reply.send(self.enqueue(peer, bytes));
            }
            Command::Dial { addr, reply } => {
                self.targets.push(Target {
                    peer: peer_of(&addr),
                    addr,
                    redial: Redial::default(),
                });
                let index = self.targets.len() - 1;
                let _ = reply.send(self.dial_target(index, Instant::now()));
            }
            Command::Block {
                peer,
                blocked,
                reply,
            } => {
                if blocked {
                    self.manual_blocks.insert(peer);
                } else {
                    self.manual_blocks.remove(&peer);
                }
                self.apply_block(peer);
                let _ = reply.send(());
            }
            Command::SetBlocked { peers, reply } => {
                let changed: Vec<PeerId> = self
                    .manual_blocks
                    .symmetric_difference(&peers)
                    .copied()
                    .collect();
                self.manual_blocks = peers;
                for peer in changed {
                    self.apply_block(peer);
                }
                let _ = reply.send(());
            }
            Command::ListenAddrs { reply } => {
                let _ = reply.send(self.swarm.listeners().cloned().collect());
            }
            Command::Stats { reply } => {
                let _ = reply.send(self.stats());
            }
            // Handled by the loop, which stops on it.
            Command::Shutdown { reply } => {
                let _ = reply.send(());
            }
        }
    }

    fn enqueue(&mut self, peer: PeerId, bytes: Vec<u8>) -> Result<(), LanError> {
        let Some(session) = self.sessions.get(&peer).filter(|s| s.up) else {
            return Err(LanError::NotConnected { peer });
        };
        match session.queue.try_send(bytes) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(_)) => {
                session.counters.dropped();
                warn!(link = "lan", %peer, "outbound queue full, frame dropped");
                Err(LanError::QueueFull { peer })
            }
            Err(mpsc::error::TrySendError::Closed(_)) => Err(LanError::NotConnected { peer }),
        }
    }

    fn on_inbound_stream(&mut self, peer: PeerId, stream: libp2p::Stream) {
        if self.is_blocked(&peer) {
            debug!(link = "lan", %peer, "stream from a refused peer dropped");
            return;
        }
        let Some(session) = self.sessions.get_mut(&peer) else {
            // No connection is known for it any more: the stream is a leftover.
            debug!(link = "lan", %peer, "stream outside a session dropped");
            return;
        };
        self.next_id += 1;
        let seq = self.next_id;
        let ctx = StreamContext {
            peer,
            session: session.id,
            counters: session.counters.clone(),
            reports: self.reports_tx.clone(),
            frame_timeout: self.config.frame_timeout,
        };
        let reader = tokio::spawn(peer::read_loop(
            ctx,
            stream,
            seq,
            self.config.max_frame_bytes,
            self.inbound_tx.clone(),
        ))
        .abort_handle();
        // The peer keeps one stream to us; a new one replaces the old.
        if let Some((_, old)) = session.reader.replace((seq, reader)) {
            old.abort();
        }
        self.mark_up(peer);
    }

    fn on_report(&mut self, report: Report) {
        match report {
            Report::Opened { peer, session } => {
                if self.current(&peer, session) {
                    self.mark_up(peer);
                }
            }
            Report::OpenFailed {
                peer,
                session,
                foreign,
                reason,
            } => {
                if !self.current(&peer, session) {
                    return;
                }
                if foreign {
                    self.foreign(peer, &reason);
                } else {
                    debug!(link = "lan", %peer, %reason, "stream not opened");
                    self.drop_peer(peer);
                }
            }
            Report::WriterFailed {
                peer,
                session,
                reason,
            } => {
                if self.current(&peer, session) {
                    debug!(link = "lan", %peer, %reason, "writing to peer failed");
                    self.drop_peer(peer);
                }
            }
            Report::ReaderEnded {
                peer,
                session,
                stream,
            } => {
                let live = self.sessions.get(&peer).is_some_and(|s| {
                    s.id == session && s.reader.as_ref().map(|r| r.0) == Some(stream)
                });
                if live {
                    debug!(link = "lan", %peer, "peer closed its stream");
                    self.drop_peer(peer);
                }
            }
            Report::Misbehaved { peer, reason } => {
                // Reported whatever the session: the bytes came from this peer either way.
                self.misbehaviours += 1;
                warn!(link = "lan", %peer, %reason, "peer misbehaved");
                self.backlog.push_back(LanEvent::Misbehaved {
                    peer,
                    reason: reason.clone(),
                });
                self.end_session(peer);
                self.penalize(peer, Instant::now());
            }
        }
    }

    fn on_inbound_frame(&mut self, inbound: Inbound) {
        if self
            .sessions
            .get(&inbound.peer)
            .is_some_and(|s| s.up && s.id == inbound.session)
        {
            self.backlog.push_back(LanEvent::Frame {
                peer: inbound.peer,
                bytes: inbound.bytes,
            });
        }
    }

    fn on_tick(&mut self, now: Instant) {
        let mut released = Vec::new();
        self.penalties.retain(|peer, penalty| {
            if penalty.until.is_some_and(|until| until <= now) {
                penalty.until = None;
                released.push(*peer);
            }
            penalty.until.is_some() || penalty.forget_at > now
        });
        for peer in released {
            info!(link = "lan", %peer, "penalty over, peer accepted again");
            self.apply_block(peer);
        }
        self.dial_due(now);
    }

    /// Dials every target and discovered peer whose time has come and that is neither
    /// connected nor refused.
    fn dial_due(&mut self, now: Instant) {
        for index in 0..self.targets.len() {
            let target = &self.targets[index];
            let due = !target.redial.pending && target.redial.next_try.is_some_and(|t| t <= now);
            let skip = target
                .peer
                .is_some_and(|p| self.swarm.is_connected(&p) || self.is_blocked(&p));
            if due && !skip {
                let _ = self.dial_target(index, now);
            }
        }
        let due: Vec<PeerId> = self
            .discovered
            .iter()
            .filter(|(peer, found)| {
                !found.redial.pending
                    && found.redial.next_try.is_some_and(|t| t <= now)
                    && !self.swarm.is_connected(peer)
                    && !self.is_blocked(peer)
            })
            .map(|(peer, _)| *peer)
            .collect();
        for peer in due {
            let Some(found) = self.discovered.get_mut(&peer) else {
                continue;
            };
            let opts = DialOpts::peer_id(peer)
                .addresses(found.addrs.clone())
                .condition(PeerCondition::DisconnectedAndNotDialing)
                .build();
            match self.swarm.dial(opts) {
                Ok(()) => found.redial.pending = true,
                Err(error) => {
                    found.redial.next_try = Some(now + self.config.redial_backoff_max);
                    debug!(link = "lan", %peer, %error, "mDNS peer not dialed");
                }
            }
        }
    }

    fn dial_target(&mut self, index: usize, now: Instant) -> Result<(), LanError> {
        let addr = self.targets[index].addr.clone();
        let opts = match peer_of(&addr) {
            Some(peer) => DialOpts::peer_id(peer)
                .addresses(vec![addr.clone()])
                .condition(PeerCondition::DisconnectedAndNotDialing)
                .build(),
            None => DialOpts::unknown_peer_id().address(addr.clone()).build(),
        };
        let connection = opts.connection_id();
        match self.swarm.dial(opts) {
            Ok(()) => {
                debug!(link = "lan", %addr, "dialing");
                self.dialing.insert(connection, index);
                self.targets[index].redial.pending = true;
                Ok(())
            }
            Err(error) => {
                let backoff =
                    backoff_after_failure(&self.config, &mut self.targets[index].redial.failures);
                self.targets[index].redial.next_try = Some(now + backoff);
                if matches!(error, DialError::DialPeerConditionFalse(_)) {
                    return Ok(());
                }
                Err(LanError::Dial {
                    addr,
                    reason: error.to_string(),
                })
            }
        }
    }

    fn schedule_redial(&mut self, peer: PeerId, at: Instant) {
        for target in self.targets.iter_mut().filter(|t| t.peer == Some(peer)) {
            if !target.redial.pending {
                target.redial.next_try = Some(at);
            }
        }
        if let Some(found) = self.discovered.get_mut(&peer)
            && !found.redial.pending
        {
            found.redial.next_try = Some(at);
        }
    }

    fn open_session(&mut self, peer: PeerId, addr: Multiaddr, dialed: bool) {
        self.next_id += 1;
        let id = self.next_id;
        let (queue, frames) = mpsc::channel(self.config.peer_queue_frames);
        let counters = Arc::new(Counters::default());
        let ctx = StreamContext {
            peer,
            session: id,
            counters: counters.clone(),
            reports: self.reports_tx.clone(),
            frame_timeout: self.config.frame_timeout,
        };
        let writer = tokio::spawn(peer::write_loop(
            ctx,
            self.control.clone(),
            self.protocol.clone(),
            frames,
        ))
        .abort_handle();
        self.sessions.insert(
            peer,
            Session {
                id,
                up: false,
                addr,
                dialed,
                queue,
                writer,
                reader: None,
                counters,
            },
        );
    }

    fn mark_up(&mut self, peer: PeerId) {
        if let Some(session) = self.sessions.get_mut(&peer)
            && !session.up
        {
            session.up = true;
            info!(link = "lan", %peer, addr = %session.addr, "peer up");
            self.backlog.push_back(LanEvent::PeerUp {
                peer,
                addr: session.addr.clone(),
                dialed: session.dialed,
            });
        }
    }

    /// Ends the peer's session; the daemon hears `PeerDown` if it had heard `PeerUp`.
    fn end_session(&mut self, peer: PeerId) {
        let Some(session) = self.sessions.remove(&peer) else {
            return;
        };
        session.writer.abort();
        if let Some((_, reader)) = session.reader {
            reader.abort();
        }
        self.total.add(&session.counters.snapshot());
        if session.up {
            info!(link = "lan", %peer, "peer down");
            self.backlog.push_back(LanEvent::PeerDown { peer });
        }
    }

    /// Ends the session and the connections, so that a redial starts a clean one.
    fn drop_peer(&mut self, peer: PeerId) {
        self.end_session(peer);
        let _ = self.swarm.disconnect_peer_id(peer);
    }

    /// The peer speaks another network (or none): cut it and stop dialing it.
    fn foreign(&mut self, peer: PeerId, reason: &str) {
        info!(link = "lan", %peer, %reason, "peer is not of this network, disconnecting");
        self.drop_peer(peer);
        if self.foreign.len() >= MAX_FOREIGN {
            self.foreign.clear();
        }
        self.foreign.insert(peer);
        self.discovered.remove(&peer);
        let later = Instant::now() + self.config.redial_backoff_max;
        for target in self.targets.iter_mut().filter(|t| t.peer == Some(peer)) {
            target.redial.failures = u32::MAX / 2;
            target.redial.next_try = Some(later);
        }
    }

    fn current(&self, peer: &PeerId, session: u64) -> bool {
        self.sessions.get(peer).is_some_and(|s| s.id == session)
    }

    fn penalize(&mut self, peer: PeerId, now: Instant) {
        let base = self.config.misbehaviour_backoff;
        let max = self.config.misbehaviour_backoff_max;
        let penalty = self.penalties.entry(peer).or_insert(Penalty {
            strikes: 0,
            until: None,
            forget_at: now,
        });
        penalty.strikes = penalty.strikes.saturating_add(1);
        let wait = exponential(base, penalty.strikes - 1, max);
        penalty.until = Some(now + wait);
        // A peer that behaves for a while starts again from the first backoff.
        penalty.forget_at = now + wait + max;
        warn!(link = "lan", %peer, strikes = penalty.strikes, wait = ?wait, "peer refused for a while");
        self.apply_block(peer);
    }

    fn is_blocked(&self, peer: &PeerId) -> bool {
        self.manual_blocks.contains(peer)
            || self.penalties.get(peer).is_some_and(|p| p.until.is_some())
    }

    /// Makes the swarm's block list agree with the manual blocks and the penalties.
    fn apply_block(&mut self, peer: PeerId) {
        if self.is_blocked(&peer) {
            if self.swarm.behaviour_mut().blocked.block_peer(peer) {
                info!(link = "lan", %peer, "peer blocked");
            }
            // The block list closes the connections; the session ends with them.
            self.end_session(peer);
        } else if self.swarm.behaviour_mut().blocked.unblock_peer(peer) {
            info!(link = "lan", %peer, "peer unblocked");
            for target in self.targets.iter_mut().filter(|t| t.peer == Some(peer)) {
                target.redial = Redial {
                    next_try: Some(Instant::now()),
                    ..Default::default()
                };
            }
            if let Some(found) = self.discovered.get_mut(&peer) {
                found.redial = Redial {
                    next_try: Some(Instant::now()),
                    ..Default::default()
                };
            }
            self.dial_due(Instant::now());
        }
    }

    fn stats(&self) -> LanStats {
        let mut total = self.total;
        let mut peers = Vec::new();
        for (peer, session) in &self.sessions {
            let traffic = session.counters.snapshot();
            total.add(&traffic);
            if session.up {
                peers.push((*peer, traffic));
            }
        }
        LanStats {
            total,
            peers,
            connections: self
                .swarm
                .network_info()
                .connection_counters()
                .num_established(),
            refused_connections: self.refused,
            misbehaviours: self.misbehaviours,
        }
    }
}

/// Counts a dial failure and returns the wait before the next try.
fn backoff_after_failure(config: &LanConfig, failures: &mut u32) -> Duration {
    *failures = failures.saturating_add(1);
    exponential(
        config.redial_backoff,
        *failures - 1,
        config.redial_backoff_max,
    )
}

/// `base` doubled `times` times, at most `max`.
fn exponential(base: Duration, times: u32, max: Duration) -> Duration {
    base.saturating_mul(1u32 << times.min(16)).min(max)
}

/// The peer id an address ends with, if it names one.
fn peer_of(addr: &Multiaddr) -> Option<PeerId> {
    match addr.iter().last() {
        Some(Protocol::P2p(peer)) => Some(peer),
        _ => None,
    }
}

/// The address of the other end of a connection.
fn remote_addr(endpoint: &ConnectedPoint) -> Multiaddr {
    endpoint.get_remote_address().clone()
}
