//! A reader over a fuzz input for the bodies that take a plain stream of operations
//! (the engine's frames, the reassembler's): simple enough that seeds from a real
//! exchange can be written in the same form ([`Writer`]).

/// Reads bytes off the front of an input; past its end, reads give nothing.
pub struct Input<'a> {
    rest: &'a [u8],
}

impl<'a> Input<'a> {
    /// A reader over `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Input { rest: data }
    }

    /// The next byte.
    pub fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.rest.split_first()?;
        self.rest = rest;
        Some(b)
    }

    /// The next two bytes, little-endian.
    pub fn u16(&mut self) -> Option<u16> {
        Some(u16::from_le_bytes([self.byte()?, self.byte()?]))
    }

    /// A chunk: a little-endian u16 length, then that many bytes (fewer at the end).
    pub fn chunk(&mut self) -> &'a [u8] {
        let len = usize::from(self.u16().unwrap_or(0)).min(self.rest.len());
        let (chunk, rest) = self.rest.split_at(len);
        self.rest = rest;
        chunk
    }
}

/// Writes operations in the form [`Input`] reads.
#[derive(Default)]
pub struct Writer {
    /// The bytes written so far.
    pub bytes: Vec<u8>,
}

impl Writer {
    /// Appends one byte.
    pub fn byte(&mut self, b: u8) -> &mut Self {
        self.bytes.push(b);
        self
    }

    /// Appends a little-endian u16.
    pub fn u16(&mut self, v: u16) -> &mut Self {
        self.bytes.extend_from_slice(&v.to_le_bytes());
        self
    }

    /// Appends a chunk (at most `u16::MAX` bytes of `data`).
    pub fn chunk(&mut self, data: &[u8]) -> &mut Self {
        let len = data.len().min(usize::from(u16::MAX));
        self.u16(len as u16);
        self.bytes.extend_from_slice(&data[..len]);
        self
    }
}
