//! The LAN link over loopback: frames both ways on TCP and QUIC, another chain kept out,
//! hostile framing cut while an honest peer keeps going, partition and heal, a
//! connection flood; and mDNS between two network namespaces when run as root.

use std::time::Duration;

use futures::{AsyncWriteExt as _, StreamExt as _};
use libp2p::{
    Multiaddr, PeerId, Stream, Swarm, multiaddr::Protocol, noise, swarm::SwarmEvent, tcp, yamux,
};
use meshpay_protocol::ChainId;
use tokio::{sync::mpsc, time::timeout};

use super::{Lan, LanConfig, LanEvent, LanHandle, task::sync_protocol};

const WAIT: Duration = Duration::from_secs(15);

fn chain(n: u8) -> ChainId {
    ChainId([n; 32])
}

fn config(listen: &str) -> LanConfig {
    LanConfig {
        listen: vec![listen.parse().expect("multiaddr")],
        mdns: false,
        frame_timeout: Duration::from_millis(500),
        redial_backoff: Duration::from_millis(100),
        redial_backoff_max: Duration::from_secs(1),
        misbehaviour_backoff: Duration::from_secs(2),
        ..LanConfig::default()
    }
}

const TCP: &str = "/ip4/127.0.0.1/tcp/0";
const QUIC: &str = "/ip4/127.0.0.1/udp/0/quic-v1";

struct Node {
    handle: LanHandle,
    events: mpsc::Receiver<LanEvent>,
    peer: PeerId,
    /// The listen address with `/p2p/<peer>`.
    addr: Multiaddr,
}

async fn start(config: LanConfig, chain: ChainId) -> Node {
    let keypair = libp2p::identity::Keypair::generate_ed25519();
    let (handle, mut events) = Lan::spawn(config, keypair, chain).expect("spawn");
    let peer = handle.local_peer_id();
    let addr = match next(&mut events).await {
        LanEvent::Listening(addr) => addr.with(Protocol::P2p(peer)),
        other => panic!("expected Listening, got {other:?}"),
    };
    Node {
        handle,
        events,
        peer,
        addr,
    }
}

async fn next(events: &mut mpsc::Receiver<LanEvent>) -> LanEvent {
    timeout(WAIT, events.recv())
        .await
        .expect("an event in time")
        .expect("link running")
}

/// Reads events until one matches, returning it; the others are dropped.
async fn wait_for(
    events: &mut mpsc::Receiver<LanEvent>,
    what: &str,
    mut matches: impl FnMut(&LanEvent) -> bool,
) -> LanEvent {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Some(event)) if matches(&event) => return event,
            Ok(Some(_)) => {}
            Ok(None) => panic!("link stopped while waiting for {what}"),
            Err(_) => panic!("timed out waiting for {what}"),
        }
    }
}

async fn up(node: &mut Node, peer: PeerId) {
    wait_for(
        &mut node.events,
        "PeerUp",
        |e| matches!(e, LanEvent::PeerUp { peer: p, .. } if *p == peer),
    )
    .await;
}

async fn down(node: &mut Node, peer: PeerId) {
    wait_for(
        &mut node.events,
        "PeerDown",
        |e| matches!(e, LanEvent::PeerDown { peer: p } if *p == peer),
    )
    .await;
}

/// Sends a frame from `from` to `to` and waits for it to arrive.
async fn exchange(from: &Node, to: &mut Node, bytes: &[u8]) {
    from.handle
        .send(to.peer, bytes.to_vec())
        .await
        .expect("send");
    let got = wait_for(&mut to.events, "Frame", |e| {
        matches!(e, LanEvent::Frame { .. })
    })
    .await;
    assert_eq!(
        got,
        LanEvent::Frame {
            peer: from.peer,
            bytes: bytes.to_vec()
        }
    );
}

async fn two_nodes_exchange(listen: &str) {
    let mut a = start(config(listen), chain(1)).await;
    let mut b = start(
        LanConfig {
            peers: vec![a.addr.clone()],
            ..config(listen)
        },
        chain(1),
    )
    .await;
    up(&mut a, b.peer).await;
    up(&mut b, a.peer).await;
    exchange(&a, &mut b, b"from a").await;
    exchange(&b, &mut a, b"from b").await;
    let big = vec![0x5a; crate::link::MAX_FRAME_BYTES];
    exchange(&a, &mut b, &big).await;

    let stats = a.handle.stats().await.expect("stats");
    let (_, traffic) = stats
        .peers
        .iter()
        .find(|(p, _)| *p == b.peer)
        .expect("b counted");
    assert_eq!((traffic.frames_out, traffic.frames_in), (2, 1));
    assert!(traffic.bytes_out > big.len() as u64 && traffic.bytes_in >= 7);

    a.handle.shutdown().await.expect("shutdown");
    down(&mut b, a.peer).await;
    b.handle.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn two_nodes_exchange_frames_over_tcp() {
    two_nodes_exchange(TCP).await;
}

#[tokio::test]
async fn two_nodes_exchange_frames_over_quic() {
    two_nodes_exchange(QUIC).await;
}

#[tokio::test]
async fn oversized_send_is_refused_locally() {
    let a = start(config(TCP), chain(1)).await;
    let too_big = vec![0; crate::link::MAX_FRAME_BYTES + 1];
    assert!(matches!(
        a.handle.send(PeerId::random(), too_big).await,
        Err(super::LanError::Frame(_))
    ));
    assert!(matches!(
        a.handle.send(PeerId::random(), vec![1]).await,
        Err(super::LanError::NotConnected { .. })
    ));
}

#[tokio::test]
async fn a_node_of_another_chain_never_comes_up() {
    let mut a = start(config(TCP), chain(1)).await;
    let mut b = start(
        LanConfig {
            peers: vec![a.addr.clone()],
            ..config(TCP)
        },
        chain(2),
    )
    .await;
    let quiet = async {
        loop {
            tokio::select! {
                Some(e) = a.events.recv() => assert!(!matches!(e, LanEvent::PeerUp { .. } | LanEvent::Frame { .. }), "a: {e:?}"),
                Some(e) = b.events.recv() => assert!(!matches!(e, LanEvent::PeerUp { .. } | LanEvent::Frame { .. }), "b: {e:?}"),
            }
        }
    };
    let _ = timeout(Duration::from_secs(3), quiet).await;
    assert!(b.handle.send(a.peer, vec![1]).await.is_err());
    // The foreign connection is cut rather than kept open (the static peer is redialed
    // now and then, so look for a moment with none).
    let mut cut = false;
    for _ in 0..20 {
        if a.handle.stats().await.expect("stats").connections == 0 {
            cut = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(cut, "the foreign connection stays open");
}

/// A bare libp2p peer that speaks our stream protocol but writes what it likes.
pub(crate) struct Raw {
    pub(crate) peer: PeerId,
    pub(crate) control: libp2p_stream::Control,
}

/// Connects a bare peer to `to` and keeps its swarm running; it accepts our streams
/// (so it looks like a meshpay peer) and holds them open.
pub(crate) async fn raw_peer(to: &Multiaddr, chain: &ChainId) -> Option<Raw> {
    let mut swarm: Swarm<libp2p_stream::Behaviour> = libp2p::SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(
            tcp::Config::default(),
            noise::Config::new,
            yamux::Config::default,
        )
        .expect("tcp")
        .with_behaviour(|_| libp2p_stream::Behaviour::new())
        .expect("behaviour")
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
        .build();
    let peer = *swarm.local_peer_id();
    let mut control = swarm.behaviour().new_control();
    let mut incoming = control.accept(sync_protocol(chain)).expect("accept");
    swarm.dial(to.clone()).expect("dial");
    let connected = timeout(WAIT, async {
        loop {
            match swarm.select_next_some().await {
                SwarmEvent::ConnectionEstablished { .. } => return true,
                SwarmEvent::OutgoingConnectionError { .. } => return false,
                _ => {}
            }
        }
    })
    .await
    .unwrap_or(false);
    tokio::spawn(async move {
        let mut held: Vec<Stream> = Vec::new();
        loop {
            tokio::select! {
                _ = swarm.select_next_some() => {}
                Some((_, stream)) = incoming.next() => held.push(stream),
            }
        }
    });
    connected.then_some(Raw { peer, control })
}

#[tokio::test]
async fn hostile_framing_is_cut_while_an_honest_peer_keeps_going() {
    let mut a = start(config(TCP), chain(1)).await;
    let mut c = start(
        LanConfig {
            peers: vec![a.addr.clone()],
            ..config(TCP)
        },
        chain(1),
    )
    .await;
    up(&mut a, c.peer).await;
    up(&mut c, a.peer).await;

    let attacks: [(&str, &[u8]); 3] = [
        ("huge length", &[0xff, 0xff, 0xff, 0x7f]),
        ("garbage", &[0xff; 8]),
        ("half a frame", &[100, 1, 2, 3]),
    ];
    for (what, bytes) in attacks {
        let mut raw = raw_peer(&a.addr, &chain(1))
            .await
            .expect("raw peer connects");
        let mut stream = raw
            .control
            .open_stream(a.peer, sync_protocol(&chain(1)))
            .await
            .expect("stream on our protocol");
        stream.write_all(bytes).await.expect("write");
        stream.flush().await.expect("flush");
        // The honest peer is served while the hostile one is being judged: its frame
        // and the verdict arrive in either order.
        c.handle
            .send(a.peer, what.as_bytes().to_vec())
            .await
            .expect("send");
        let (mut framed, mut judged) = (false, false);
        while !(framed && judged) {
            match next(&mut a.events).await {
                LanEvent::Frame { peer, bytes } if peer == c.peer => {
                    assert_eq!(bytes, what.as_bytes());
                    framed = true;
                }
                LanEvent::Misbehaved { peer, reason } => {
                    assert_eq!(peer, raw.peer, "{what}: {reason}");
                    judged = true;
                }
                _ => {}
            }
        }
        exchange(&a, &mut c, what.as_bytes()).await;
        // Refused during its backoff: a new stream is not served.
        assert!(a.handle.send(raw.peer, vec![1]).await.is_err());
        drop(stream);
    }
    let stats = a.handle.stats().await.expect("stats");
    assert_eq!(stats.misbehaviours, 3);
}

#[tokio::test]
async fn a_misbehaving_peer_is_accepted_again_after_its_backoff() {
    let mut a = start(config(TCP), chain(1)).await;
    let mut raw = raw_peer(&a.addr, &chain(1))
        .await
        .expect("raw peer connects");
    let mut stream = raw
        .control
        .open_stream(a.peer, sync_protocol(&chain(1)))
        .await
        .expect("stream");
    stream.write_all(&[0]).await.expect("write");
    stream.flush().await.expect("flush");
    wait_for(&mut a.events, "Misbehaved", |e| {
        matches!(e, LanEvent::Misbehaved { .. })
    })
    .await;
    // Within the backoff the peer cannot connect; after it, it can.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let raw = raw_peer(&a.addr, &chain(1)).await;
    assert!(raw.is_some(), "accepted again after the backoff");
}

#[tokio::test]
async fn block_then_unblock_partitions_and_heals() {
    let mut a = start(LanConfig { ..config(TCP) }, chain(1)).await;
    let mut b = start(
        LanConfig {
            peers: vec![a.addr.clone()],
            ..config(TCP)
        },
        chain(1),
    )
    .await;
    up(&mut a, b.peer).await;
    up(&mut b, a.peer).await;

    a.handle.block(b.peer).await.expect("block");
    down(&mut a, b.peer).await;
    down(&mut b, a.peer).await;
    assert!(a.handle.send(b.peer, vec![1]).await.is_err());
    // B keeps redialing a static peer; the partition holds.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(a.handle.send(b.peer, vec![1]).await.is_err());
    assert!(a.handle.stats().await.expect("stats").refused_connections > 0);

    a.handle.unblock(b.peer).await.expect("unblock");
    up(&mut a, b.peer).await;
    up(&mut b, a.peer).await;
    exchange(&a, &mut b, b"healed").await;
    exchange(&b, &mut a, b"healed too").await;

    // The same through the whole-set call.
    a.handle.set_blocked([b.peer].into()).await.expect("set");
    down(&mut a, b.peer).await;
    a.handle.set_blocked(Default::default()).await.expect("set");
    up(&mut a, b.peer).await;
}

#[tokio::test]
async fn a_connection_flood_is_refused_while_a_peer_keeps_working() {
    const MAX: u32 = 4;
    let mut a = start(
        LanConfig {
            max_connections: MAX,
            ..config(TCP)
        },
        chain(1),
    )
    .await;
    let mut c = start(
        LanConfig {
            peers: vec![a.addr.clone()],
            ..config(TCP)
        },
        chain(1),
    )
    .await;
    up(&mut a, c.peer).await;
    up(&mut c, a.peer).await;

    let mut flood = Vec::new();
    for _ in 0..12 {
        if let Some(raw) = raw_peer(&a.addr, &chain(1)).await {
            flood.push(raw);
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let stats = a.handle.stats().await.expect("stats");
    assert!(stats.connections <= MAX, "{stats:?}");
    assert!(
        stats.refused_connections >= (12 - MAX as u64 + 1),
        "{stats:?}"
    );
    exchange(&a, &mut c, b"still here").await;
    exchange(&c, &mut a, b"me too").await;
}

/// Tells a re-executed test binary that it is one end of the namespace test: the value
/// is the IPv4 address it listens on inside its namespace.
const NETNS_ROLE: &str = "MESHPAY_LAN_NETNS_LISTEN";

/// Network namespaces made for one test, deleted when dropped whatever happened.
struct Namespaces(Vec<String>);

impl Drop for Namespaces {
    fn drop(&mut self) {
        for ns in &self.0 {
            let _ = std::process::Command::new("ip")
                .args(["netns", "del", ns])
                .status();
        }
    }
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = std::process::Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("cannot run ip: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Two namespaces joined by a veth pair, 10.x addresses inside them only.
fn make_namespaces() -> Result<(Namespaces, [(String, String); 2]), String> {
    let id = std::process::id() % 100_000;
    let (na, nb) = (format!("mplan-a{id}"), format!("mplan-b{id}"));
    let (va, vb) = (format!("mpa{id}"), format!("mpb{id}"));
    let subnet = id % 250 + 1;
    let (aa, ab) = (format!("10.213.{subnet}.1"), format!("10.213.{subnet}.2"));
    let mut guard = Namespaces(Vec::new());
    for ns in [&na, &nb] {
        ip(&["netns", "add", ns])?;
        guard.0.push(ns.clone());
    }
    ip(&[
        "-n", &na, "link", "add", &va, "type", "veth", "peer", "name", &vb, "netns", &nb,
    ])?;
    for (ns, dev, addr) in [(&na, &va, &aa), (&nb, &vb, &ab)] {
        ip(&["-n", ns, "addr", "add", &format!("{addr}/24"), "dev", dev])?;
        ip(&["-n", ns, "link", "set", dev, "up"])?;
        ip(&["-n", ns, "link", "set", "lo", "up"])?;
        // mDNS sends to 224.0.0.251; with no default route it needs this one.
        ip(&["-n", ns, "route", "add", "224.0.0.0/4", "dev", dev])?;
    }
    Ok((guard, [(na, aa), (nb, ab)]))
}

#[tokio::test]
async fn mdns_discovers_a_peer_in_another_network_namespace() {
    let (guard, ends) = match make_namespaces() {
        Ok(made) => made,
        Err(reason) => {
            println!("skipped: cannot make network namespaces ({reason})");
            return;
        }
    };
    let exe = std::env::current_exe().expect("test binary path");
    let mut children = Vec::new();
    for (ns, addr) in &ends {
        let child = tokio::process::Command::new("ip")
            .args(["netns", "exec", ns])
            .arg(&exe)
            .args(["--exact", "link::lan::tests::netns_child", "--nocapture"])
            .env(NETNS_ROLE, addr)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn child");
        children.push(child);
    }
    for child in children {
        let out = timeout(Duration::from_secs(60), child.wait_with_output())
            .await
            .expect("child done in time")
            .expect("child output");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("NETNS_OK"),
            "child failed: {}\n{stdout}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    drop(guard);
}

/// One end of the namespace test; does nothing unless started by it.
#[tokio::test]
async fn netns_child() {
    let Ok(addr) = std::env::var(NETNS_ROLE) else {
        return;
    };
    let mut node = start(
        LanConfig {
            listen: vec![format!("/ip4/{addr}/tcp/0").parse().expect("multiaddr")],
            mdns: true,
            ..config(TCP)
        },
        chain(1),
    )
    .await;
    let peer = match wait_for(&mut node.events, "PeerUp by mDNS", |e| {
        matches!(e, LanEvent::PeerUp { .. })
    })
    .await
    {
        LanEvent::PeerUp { peer, .. } => peer,
        _ => unreachable!(),
    };
    node.handle
        .send(peer, format!("hello from {addr}").into_bytes())
        .await
        .expect("send");
    let frame = wait_for(&mut node.events, "Frame", |e| {
        matches!(e, LanEvent::Frame { .. })
    })
    .await;
    assert!(matches!(frame, LanEvent::Frame { peer: p, .. } if p == peer));
    println!("NETNS_OK");
    // Stay up long enough for the other end to read our frame.
    tokio::time::sleep(Duration::from_secs(2)).await;
}
