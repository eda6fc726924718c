//! Response frames (callee -> caller), skynet's `lua-cluster.c` `packresponse`/`unpackresponse`.
//!
//! | `body[4]` | frame | layout |
//! |---|---|---|
//! | `00` | error | `session:u32 00 text` (a plain string, at most 32 KiB) |
//! | `01` | ok | `session:u32 01 payload` (payload may be empty) |
//! | `02` | multi-part begin | `session:u32 02 total:u32` (exactly 9 bytes) |
//! | `03` / `04` | a part / the last part | `session:u32 03|04 part` |

use bytes::{BufMut, Bytes};

use crate::wire::{le32, parts_size, FrameError, FrameWriter, Frames, MULTI_PART};

/// One response frame, read from its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResponseFrame {
    /// A whole ok reply.
    Ok {
        /// The request's session.
        session: u32,
        /// What the callee returned (normally `skynet.pack` of its results).
        payload: Bytes,
    },
    /// An error reply: its text.
    Error {
        /// The request's session.
        session: u32,
        /// The error text (not packed).
        text: Bytes,
    },
    /// The start of a multi-part ok reply.
    Begin {
        /// The request's session.
        session: u32,
        /// The payload's total size.
        total: u32,
    },
    /// A part of a multi-part reply.
    Part {
        /// The request's session.
        session: u32,
        /// The last part (`04`).
        last: bool,
        /// The bytes.
        data: Bytes,
    },
}

/// Builds the frames of a reply, in one buffer: an ok payload over 32 KiB goes as begin + parts (note
/// skynet's asymmetry: exactly 32 KiB is still one frame, while a request of 32 KiB is
/// multi-part); an error's text is cut at 32 KiB, as skynet cuts it.
pub fn encode_response(session: u32, reply: Result<&[u8], &[u8]>) -> Frames {
    let (kind, payload) = match reply {
        Ok(p) => (0x01, p),
        Err(text) => (0x00, &text[..text.len().min(MULTI_PART)]),
    };
    if payload.len() <= MULTI_PART {
        let mut w = FrameWriter::with_capacity(7 + payload.len(), 1);
        let b = w.start(5 + payload.len());
        b.put_u32_le(session);
        b.put_u8(kind);
        b.put_slice(payload);
        w.end();
        return w.finish();
    }
    // Over 32 KiB and under 4 GiB: a Rust slice that large is possible but no payload a
    // node packs; a bigger one is cut to the u32 total, and the receiver will see the
    // mismatch as a failed call rather than this side panicking.
    let total = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    let (parts, count) = parts_size(payload.len());
    let mut w = FrameWriter::with_capacity(11 + parts, 1 + count);
    let b = w.start(9);
    b.put_u32_le(session);
    b.put_u8(0x02);
    b.put_u32_le(total);
    w.end();
    w.parts(payload, |b, last| {
        b.put_u32_le(session);
        b.put_u8(if last { 0x04 } else { 0x03 });
    });
    w.finish()
}

/// Reads one response body. A body under 5 bytes, a type over 4 or a begin frame that is
/// not 9 bytes is an error; skynet's sender then closes the connection and fails every
/// call in flight on it, and so does ours.
pub fn parse_response(body: Bytes) -> Result<ResponseFrame, FrameError> {
    if body.len() < 5 {
        return Err(FrameError::Short {
            kind: body.get(4).copied(),
            len: body.len(),
            needed: 5,
        });
    }
    let session = le32(&body, 0);
    let kind = body[4];
    match kind {
        0x00 => Ok(ResponseFrame::Error {
            session,
            text: body.slice(5..),
        }),
        0x01 => Ok(ResponseFrame::Ok {
            session,
            payload: body.slice(5..),
        }),
        0x02 if body.len() == 9 => Ok(ResponseFrame::Begin {
            session,
            total: le32(&body, 5),
        }),
        0x02 => Err(FrameError::BadLength {
            kind,
            len: body.len(),
        }),
        0x03 | 0x04 => Ok(ResponseFrame::Part {
            session,
            last: kind == 0x04,
            data: body.slice(5..),
        }),
        other => Err(FrameError::UnknownType(other)),
    }
}
