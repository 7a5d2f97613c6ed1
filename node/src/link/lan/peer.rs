//! The tasks that move one peer's frames: a writer that owns our outbound stream and
//! drains the peer's bounded queue, and a reader per inbound stream. They report to the
//! link task; they never touch the swarm.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use futures::AsyncWriteExt as _;
use libp2p::{PeerId, Stream, StreamProtocol};
use tokio::sync::mpsc;
use tracing::{debug, trace};

use super::{
    Traffic,
    wire::{self, ReadError},
};

/// One session's traffic counters, written by its stream tasks, read by the link task.
#[derive(Debug, Default)]
pub(super) struct Counters {
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    frames_in: AtomicU64,
    frames_out: AtomicU64,
    frames_dropped: AtomicU64,
}

impl Counters {
    pub(super) fn snapshot(&self) -> Traffic {
        Traffic {
            bytes_in: self.bytes_in.load(Ordering::Relaxed),
            bytes_out: self.bytes_out.load(Ordering::Relaxed),
            frames_in: self.frames_in.load(Ordering::Relaxed),
            frames_out: self.frames_out.load(Ordering::Relaxed),
            frames_dropped: self.frames_dropped.load(Ordering::Relaxed),
        }
    }

    pub(super) fn dropped(&self) {
        self.frames_dropped.fetch_add(1, Ordering::Relaxed);
    }
}

/// A frame read from a peer, tagged with the session it belongs to.
pub(super) struct Inbound {
    pub(super) peer: PeerId,
    pub(super) session: u64,
    pub(super) bytes: Vec<u8>,
}

/// What a stream task tells the link task about its stream.
#[derive(Debug)]
pub(super) enum Report {
    /// Our outbound stream is open: the peer speaks our protocol.
    Opened { peer: PeerId, session: u64 },
    /// Our outbound stream could not be opened; `foreign` when the peer lacks our protocol.
    OpenFailed {
        peer: PeerId,
        session: u64,
        foreign: bool,
        reason: String,
    },
    /// Writing to the peer failed or stalled.
    WriterFailed {
        peer: PeerId,
        session: u64,
        reason: String,
    },
    /// The peer ended its stream to us (or the network did).
    ReaderEnded {
        peer: PeerId,
        session: u64,
        stream: u64,
    },
    /// The peer broke the framing.
    Misbehaved { peer: PeerId, reason: String },
}

/// What a stream task needs to know about its peer and where to report.
#[derive(Clone)]
pub(super) struct StreamContext {
    pub(super) peer: PeerId,
    pub(super) session: u64,
    pub(super) counters: Arc<Counters>,
    pub(super) reports: mpsc::Sender<Report>,
    pub(super) frame_timeout: Duration,
}

/// Opens our stream to the peer, then writes the queued frames until the queue closes
/// (the session ended) or a write fails or outlasts the frame timeout.
pub(super) async fn write_loop(
    ctx: StreamContext,
    mut control: libp2p_stream::Control,
    protocol: StreamProtocol,
    mut queue: mpsc::Receiver<Vec<u8>>,
) {
    let opened =
        tokio::time::timeout(ctx.frame_timeout, control.open_stream(ctx.peer, protocol)).await;
    let mut stream = match opened {
        Ok(Ok(stream)) => stream,
        Ok(Err(error)) => {
            let foreign = matches!(
                error,
                libp2p_stream::OpenStreamError::UnsupportedProtocol(_)
            );
            let report = Report::OpenFailed {
                peer: ctx.peer,
                session: ctx.session,
                foreign,
                reason: error.to_string(),
            };
            let _ = ctx.reports.send(report).await;
            return;
        }
        Err(_) => {
            let report = Report::OpenFailed {
                peer: ctx.peer,
                session: ctx.session,
                foreign: false,
                reason: "stream negotiation timed out".to_owned(),
            };
            let _ = ctx.reports.send(report).await;
            return;
        }
    };
    let opened = Report::Opened {
        peer: ctx.peer,
        session: ctx.session,
    };
    if ctx.reports.send(opened).await.is_err() {
        return;
    }
    while let Some(frame) = queue.recv().await {
        let reason =
            match tokio::time::timeout(ctx.frame_timeout, wire::write_frame(&mut stream, &frame))
                .await
            {
                Ok(Ok(written)) => {
                    ctx.counters
                        .bytes_out
                        .fetch_add(written as u64, Ordering::Relaxed);
                    ctx.counters.frames_out.fetch_add(1, Ordering::Relaxed);
                    trace!(link = "lan", peer = %ctx.peer, bytes = frame.len(), "frame sent");
                    continue;
                }
                Ok(Err(error)) => error.to_string(),
                // A peer that does not read stalls our writes; it is cut, not waited for.
                Err(_) => format!("write not done within {:?}", ctx.frame_timeout),
            };
        let report = Report::WriterFailed {
            peer: ctx.peer,
            session: ctx.session,
            reason,
        };
        let _ = ctx.reports.send(report).await;
        return;
    }
    // The session ended on our side: close the stream politely.
    let _ = tokio::time::timeout(ctx.frame_timeout, stream.close()).await;
}

/// Reads frames from one inbound stream and hands them to the link task until the
/// stream ends or the peer breaks the framing.
pub(super) async fn read_loop(
    ctx: StreamContext,
    mut stream: Stream,
    stream_seq: u64,
    max_frame_bytes: usize,
    frames: mpsc::Sender<Inbound>,
) {
    loop {
        match wire::read_frame(&mut stream, max_frame_bytes, ctx.frame_timeout).await {
            Ok(bytes) => {
                let mut prefix = Vec::new();
                wire::encode_len(bytes.len() as u64, &mut prefix);
                ctx.counters
                    .bytes_in
                    .fetch_add((prefix.len() + bytes.len()) as u64, Ordering::Relaxed);
                ctx.counters.frames_in.fetch_add(1, Ordering::Relaxed);
                let inbound = Inbound {
                    peer: ctx.peer,
                    session: ctx.session,
                    bytes,
                };
                // Waiting here is the backpressure: a busy daemon slows the peer's stream.
                if frames.send(inbound).await.is_err() {
                    return;
                }
            }
            Err(error) if error.is_misbehaviour() => {
                let report = Report::Misbehaved {
                    peer: ctx.peer,
                    reason: error.to_string(),
                };
                let _ = ctx.reports.send(report).await;
                return;
            }
            Err(error) => {
                if !matches!(error, ReadError::Closed) {
                    debug!(link = "lan", peer = %ctx.peer, %error, "inbound stream failed");
                }
                let report = Report::ReaderEnded {
                    peer: ctx.peer,
                    session: ctx.session,
                    stream: stream_seq,
                };
                let _ = ctx.reports.send(report).await;
                return;
            }
        }
    }
}
