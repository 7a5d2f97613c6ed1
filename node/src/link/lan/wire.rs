//! Frames on a LAN stream: an unsigned-varint length prefix, then that many bytes.
//! The length is checked before anything is allocated, and a frame once begun must
//! complete within a deadline, so a slow or endless sender cannot hold memory or a task.

use std::{io, time::Duration};

use futures::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};

use crate::link::{FrameError, check_frame_len};

/// Bytes a length prefix may take: 5 varint bytes carry 35 bits, more than any bound.
pub(super) const MAX_PREFIX_BYTES: usize = 5;

/// Why reading a frame stopped.
#[derive(Debug, thiserror::Error)]
pub(super) enum ReadError {
    /// The peer closed the stream between two frames.
    #[error("stream closed")]
    Closed,
    /// The stream failed or ended inside a frame (a dropped connection looks like this).
    #[error("stream failed: {0}")]
    Io(#[from] io::Error),
    /// The prefix is not a minimal varint of at most five bytes.
    #[error("malformed length prefix")]
    BadPrefix,
    /// The announced length is out of bounds.
    #[error(transparent)]
    Length(#[from] FrameError),
    /// The frame did not complete within the deadline.
    #[error("frame not complete within {0:?}")]
    Timeout(Duration),
}

impl ReadError {
    /// Whether the error is the peer's fault rather than the network's.
    pub(super) fn is_misbehaviour(&self) -> bool {
        matches!(
            self,
            ReadError::BadPrefix | ReadError::Length(_) | ReadError::Timeout(_)
        )
    }
}

/// Encodes a frame length as an unsigned LEB128 varint.
pub(crate) fn encode_len(mut len: u64, out: &mut Vec<u8>) {
    loop {
        let byte = (len & 0x7f) as u8;
        len >>= 7;
        if len == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// Reads one frame. Waits for its first byte as long as it takes (an idle peer is fine);
/// from there the whole frame must arrive within `deadline`.
pub(super) async fn read_frame<R: AsyncRead + Unpin>(
    stream: &mut R,
    max: usize,
    deadline: Duration,
) -> Result<Vec<u8>, ReadError> {
    let mut first = [0u8; 1];
    if stream.read(&mut first).await? == 0 {
        return Err(ReadError::Closed);
    }
    match tokio::time::timeout(deadline, read_rest(stream, first[0], max)).await {
        Ok(result) => result,
        Err(_) => Err(ReadError::Timeout(deadline)),
    }
}

async fn read_rest<R: AsyncRead + Unpin>(
    stream: &mut R,
    first: u8,
    max: usize,
) -> Result<Vec<u8>, ReadError> {
    let mut len = u64::from(first & 0x7f);
    let mut byte = first;
    let mut used = 1;
    while byte & 0x80 != 0 {
        if used == MAX_PREFIX_BYTES {
            return Err(ReadError::BadPrefix);
        }
        let mut next = [0u8; 1];
        stream.read_exact(&mut next).await?;
        byte = next[0];
        // A trailing zero byte is a non-minimal encoding: two spellings of one length.
        if byte == 0 {
            return Err(ReadError::BadPrefix);
        }
        len |= u64::from(byte & 0x7f) << (7 * used);
        used += 1;
    }
    check_frame_len(len, max)?;
    let mut frame = vec![0u8; len as usize];
    stream.read_exact(&mut frame).await?;
    Ok(frame)
}

/// Writes one frame (prefix and bytes in one write) and flushes it; returns bytes written.
pub(super) async fn write_frame<W: AsyncWrite + Unpin>(
    stream: &mut W,
    frame: &[u8],
) -> io::Result<usize> {
    let mut buf = Vec::with_capacity(MAX_PREFIX_BYTES + frame.len());
    encode_len(frame.len() as u64, &mut buf);
    buf.extend_from_slice(frame);
    stream.write_all(&buf).await?;
    stream.flush().await?;
    Ok(buf.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn read(bytes: &[u8], max: usize) -> Result<Vec<u8>, ReadError> {
        let mut cursor = futures::io::Cursor::new(bytes.to_vec());
        read_frame(&mut cursor, max, Duration::from_secs(1)).await
    }

    #[tokio::test]
    async fn round_trip() {
        for len in [1usize, 127, 128, 300, 16_384, MAX_FRAME] {
            let frame = vec![7u8; len];
            let mut wire = Vec::new();
            let mut sink = futures::io::Cursor::new(&mut wire);
            write_frame(&mut sink, &frame).await.expect("write");
            assert_eq!(read(&wire, MAX_FRAME).await.expect("read"), frame);
        }
    }

    const MAX_FRAME: usize = crate::link::MAX_FRAME_BYTES;

    #[tokio::test]
    async fn refuses_bad_prefixes_and_lengths() {
        assert!(matches!(read(&[], 10).await, Err(ReadError::Closed)));
        assert!(matches!(
            read(&[0xff, 0xff, 0xff, 0xff, 0xff, 0x01], 10).await,
            Err(ReadError::BadPrefix)
        ));
        assert!(matches!(
            read(&[0x80, 0x00], 10).await,
            Err(ReadError::BadPrefix)
        ));
        assert!(matches!(
            read(&[0], 10).await,
            Err(ReadError::Length(FrameError::Empty))
        ));
        assert!(matches!(
            read(&[11], 10).await,
            Err(ReadError::Length(FrameError::Oversized { len: 11, .. }))
        ));
        // Half a frame then end of stream: the network's fault, not misbehaviour.
        let err = read(&[5, 1, 2], 10).await.unwrap_err();
        assert!(matches!(err, ReadError::Io(_)) && !err.is_misbehaviour());
    }
}
