//! What the two kinds of frames share: the part size, targets, and why a body is refused.
//!
//! Every frame on a cluster connection is netpack's: a 2-byte big-endian length, then the
//! body. Inside a body every DWORD is little-endian (skynet `memcpy`s host integers).

use std::fmt;

use bytes::{BufMut, Bytes, BytesMut};

/// A payload is cut into parts of this size (skynet's `MULTI_PART`, 32 KiB).
pub const MULTI_PART: usize = 0x8000;

/// The longest frame body (the length is a `u16`).
pub const MAX_BODY: usize = skynet_netpack::MAX_PACKET;

/// Where a request goes on the receiving node.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Target {
    /// A service handle (a full 32-bit address); 0 is the name query.
    Handle(u32),
    /// A name of 1..=255 bytes: `@name` (registered with the cluster), `.name` or `:hex`
    /// (local names), anything else (answered with an error).
    Name(Bytes),
}

impl Target {
    /// The name query's target (address 0).
    pub const QUERY: Target = Target::Handle(0);

    /// A name target (`"@kv"`, `".echo"`, `":0000000a"`); refused when empty or over 255
    /// bytes, as skynet's packer refuses it.
    pub fn name(name: impl Into<Bytes>) -> Result<Target, FrameError> {
        let name = name.into();
        if name.is_empty() || name.len() > 255 {
            return Err(FrameError::BadName(name.len()));
        }
        Ok(Target::Name(name))
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Handle(h) => write!(f, ":{h:08x}"),
            Target::Name(n) => write!(f, "{}", String::from_utf8_lossy(n)),
        }
    }
}

/// Why a frame body could not be read or built. Reading one never panics: any bytes give a
/// frame or one of these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameError {
    /// The body is shorter than its type needs (`needed` bytes).
    Short {
        /// The frame's type byte (request `body[0]`, response `body[4]`); None for an empty body.
        kind: Option<u8>,
        /// Its length.
        len: usize,
        /// What its type needs at least.
        needed: usize,
    },
    /// A type byte skynet does not define.
    UnknownType(u8),
    /// A header whose length must be exact is not (`01`/`41` requests: 13, `02` replies: 9).
    BadLength {
        /// The frame's type byte.
        kind: u8,
        /// Its length.
        len: usize,
    },
    /// A name target of this many bytes (names are 1..=255 bytes).
    BadName(usize),
    /// A payload too large for a 32-bit total.
    TooLarge(usize),
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::Short {
                kind: None,
                len,
                needed,
            } => write!(f, "frame of {len} bytes, at least {needed} needed"),
            FrameError::Short {
                kind: Some(k),
                len,
                needed,
            } => write!(
                f,
                "frame of type {k:#04x} has {len} bytes, at least {needed} needed"
            ),
            FrameError::UnknownType(t) => write!(f, "invalid package type {t}"),
            FrameError::BadLength { kind, len } => {
                write!(f, "frame of type {kind:#04x} has {len} bytes (wrong size)")
            }
            FrameError::BadName(n) => write!(f, "name of {n} bytes (1 to 255 allowed)"),
            FrameError::TooLarge(n) => write!(f, "payload of {n} bytes is too large"),
        }
    }
}

impl std::error::Error for FrameError {}

/// A little-endian u32 at `at` (the caller checked the length).
pub(crate) fn le32(body: &[u8], at: usize) -> u32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(&body[at..at + 4]);
    u32::from_le_bytes(b)
}

/// The frames of one message (a request, a push or a reply), back to back in one buffer:
/// one frame, or a multi-part header and its parts. A connection writes them as one piece,
/// so no frame is ever split by another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frames {
    buf: Bytes,
    /// Where each frame ends in `buf`.
    ends: Vec<usize>,
}

impl Frames {
    /// Every frame, 2-byte lengths included, back to back.
    pub fn bytes(&self) -> &Bytes {
        &self.buf
    }

    /// The buffer, to write.
    pub fn into_bytes(self) -> Bytes {
        self.buf
    }

    /// How many frames (1, or a header and its parts).
    pub fn count(&self) -> usize {
        self.ends.len()
    }

    /// True for a multi-part message (written at low priority).
    pub fn is_multi_part(&self) -> bool {
        self.ends.len() > 1
    }

    /// Each frame on its own (slices of the one buffer, not copies).
    pub fn to_vec(&self) -> Vec<Bytes> {
        let mut start = 0;
        self.ends
            .iter()
            .map(|&end| {
                let f = self.buf.slice(start..end);
                start = end;
                f
            })
            .collect()
    }
}

/// Builds [`Frames`]: each frame is started with its body length, written, then ended.
pub(crate) struct FrameWriter {
    b: BytesMut,
    ends: Vec<usize>,
}

impl FrameWriter {
    /// Room for `bytes` bytes of frames (lengths included) and `frames` frames.
    pub(crate) fn with_capacity(bytes: usize, frames: usize) -> FrameWriter {
        FrameWriter {
            b: BytesMut::with_capacity(bytes),
            ends: Vec::with_capacity(frames),
        }
    }

    /// Starts a frame of `body_len` bytes (at most [`MAX_BODY`] by construction of every
    /// caller); write its body into the returned buffer, then [`end`](Self::end) it.
    pub(crate) fn start(&mut self, body_len: usize) -> &mut BytesMut {
        debug_assert!(body_len <= MAX_BODY);
        self.b.put_u16(body_len as u16);
        &mut self.b
    }

    pub(crate) fn end(&mut self) {
        self.ends.push(self.b.len());
    }

    /// Writes `payload` as parts of [`MULTI_PART`] bytes, each one `prefix` (which writes
    /// the part's 5-byte prefix) and the bytes.
    pub(crate) fn parts(&mut self, payload: &[u8], prefix: impl Fn(&mut BytesMut, bool)) {
        let mut chunks = payload.chunks(MULTI_PART).peekable();
        while let Some(chunk) = chunks.next() {
            let last = chunks.peek().is_none();
            let b = self.start(5 + chunk.len());
            prefix(b, last);
            b.put_slice(chunk);
            self.end();
        }
    }

    pub(crate) fn finish(self) -> Frames {
        Frames {
            buf: self.b.freeze(),
            ends: self.ends,
        }
    }
}

/// Bytes taken by the parts of a payload of `len` bytes, lengths and prefixes included.
pub(crate) fn parts_size(len: usize) -> (usize, usize) {
    let n = len.div_ceil(MULTI_PART);
    (len + n * 7, n)
}

impl From<&str> for Target {
    /// A name target; its length is checked when the request is built.
    fn from(name: &str) -> Target {
        Target::Name(Bytes::copy_from_slice(name.as_bytes()))
    }
}

impl From<String> for Target {
    fn from(name: String) -> Target {
        Target::Name(Bytes::from(name))
    }
}

impl From<u32> for Target {
    /// A handle (0: the name query).
    fn from(handle: u32) -> Target {
        Target::Handle(handle)
    }
}

impl From<skynet_runtime::Addr> for Target {
    fn from(addr: skynet_runtime::Addr) -> Target {
        Target::Handle(addr.0)
    }
}
