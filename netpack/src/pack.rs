//! Encoding: a payload becomes `[len_hi, len_lo, payload...]`.

use std::fmt;

use bytes::{BufMut, Bytes, BytesMut};

/// The largest payload a packet can carry: 65,535 bytes (the length is a `u16`).
pub const MAX_PACKET: usize = 65535;

/// The size of a packet's length header in bytes.
pub const HEADER_LEN: usize = 2;

/// Why a payload could not be framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PackError {
    /// The payload is longer than [`MAX_PACKET`] bytes. It is refused whole: never
    /// truncated, never wrapped modulo 65,536.
    TooLarge {
        /// The refused payload's length in bytes.
        len: usize,
    },
}

impl fmt::Display for PackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PackError::TooLarge { len } => write!(
                f,
                "packet payload of {len} bytes exceeds the maximum of {MAX_PACKET} bytes"
            ),
        }
    }
}

impl std::error::Error for PackError {}

/// The 2-byte big-endian header for a payload of `len` bytes.
///
/// Useful to send a header and an existing `Bytes` payload without copying the payload
/// (vectored write, or two queued buffers).
///
/// # Errors
/// [`PackError::TooLarge`] when `len > MAX_PACKET`.
pub fn header(len: usize) -> Result<[u8; HEADER_LEN], PackError> {
    match u16::try_from(len) {
        Ok(n) => Ok(n.to_be_bytes()),
        Err(_) => Err(PackError::TooLarge { len }),
    }
}

/// Frames `payload` into a new buffer: the 2-byte big-endian length, then the payload.
///
/// # Errors
/// [`PackError::TooLarge`] when `payload.len() > MAX_PACKET`; nothing is allocated then.
///
/// ```
/// let p = skynet_netpack::pack(b"hi").unwrap();
/// assert_eq!(&p[..], b"\x00\x02hi");
/// assert!(skynet_netpack::pack(&vec![0; 65536]).is_err());
/// ```
pub fn pack(payload: &[u8]) -> Result<Bytes, PackError> {
    let head = header(payload.len())?;
    let mut buf = BytesMut::with_capacity(HEADER_LEN + payload.len());
    buf.put_slice(&head);
    buf.put_slice(payload);
    Ok(buf.freeze())
}

/// Appends the framed `payload` to `out` (reserving room once).
///
/// # Errors
/// [`PackError::TooLarge`] when `payload.len() > MAX_PACKET`; `out` is left unchanged.
pub fn pack_into(payload: &[u8], out: &mut BytesMut) -> Result<(), PackError> {
    let head = header(payload.len())?;
    out.reserve(HEADER_LEN + payload.len());
    out.put_slice(&head);
    out.put_slice(payload);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_big_endian() {
        assert_eq!(&pack(b"").unwrap()[..], b"\x00\x00");
        assert_eq!(&pack(&[7; 258]).unwrap()[..2], &[1, 2]);
        assert_eq!(header(65535), Ok([0xff, 0xff]));
    }

    #[test]
    fn refuses_too_large() {
        let big = vec![0u8; MAX_PACKET + 1];
        assert_eq!(pack(&big), Err(PackError::TooLarge { len: 65536 }));
        let mut out = BytesMut::from(&b"keep"[..]);
        assert_eq!(
            pack_into(&big, &mut out),
            Err(PackError::TooLarge { len: 65536 })
        );
        assert_eq!(&out[..], b"keep");
        assert_eq!(
            header(usize::MAX),
            Err(PackError::TooLarge { len: usize::MAX })
        );
        let msg = PackError::TooLarge { len: 70000 }.to_string();
        assert!(msg.contains("70000") && msg.contains("65535"), "{msg}");
    }

    #[test]
    fn pack_into_appends() {
        let mut out = BytesMut::new();
        pack_into(b"a", &mut out).unwrap();
        pack_into(b"bc", &mut out).unwrap();
        assert_eq!(&out[..], b"\x00\x01a\x00\x02bc");
    }
}
