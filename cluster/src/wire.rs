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
        /// The frame's type byte (request body[0], response body[4]); None for an empty body.
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

/// Starts a frame of `body_len` bytes: the buffer holds the 2-byte length and has room for
/// the body. `body_len` is at most [`MAX_BODY`] by construction of every caller.
pub(crate) fn frame(body_len: usize) -> BytesMut {
    let mut b = BytesMut::with_capacity(2 + body_len);
    debug_assert!(body_len <= MAX_BODY);
    b.put_u16(body_len as u16);
    b
}

/// Splits `payload` into parts of [`MULTI_PART`] bytes, each framed as `kind(s) session
/// part` by `prefix`, which writes the part's 5-byte prefix.
pub(crate) fn parts(payload: &[u8], out: &mut Vec<Bytes>, prefix: impl Fn(&mut BytesMut, bool)) {
    let mut chunks = payload.chunks(MULTI_PART).peekable();
    while let Some(chunk) = chunks.next() {
        let last = chunks.peek().is_none();
        let mut b = frame(5 + chunk.len());
        prefix(&mut b, last);
        b.put_slice(chunk);
        out.push(b.freeze());
    }
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
