//! Request frames (caller -> callee), skynet's `lua-cluster.c` `packrequest`/`unpackrequest`.
//!
//! | `body[0]` | frame | layout after it |
//! |---|---|---|
//! | `00` | request to a handle | `addr:u32 session:u32 payload` (session 0: a push) |
//! | `80` | request to a name | `namelen:u8 name session:u32 payload` |
//! | `01` / `41` | multi-part request / push header, handle | `addr:u32 session:u32 total:u32` |
//! | `81` / `c1` | multi-part request / push header, name | `namelen:u8 name session:u32 total:u32` |
//! | `02` / `03` | a part / the last part | `session:u32 part` |
//! | `04` | trace tag for the next request | `tag` |

use bytes::{BufMut, Bytes};

use crate::wire::{le32, parts_size, FrameError, FrameWriter, Frames, Target, MULTI_PART};

/// One request frame, read from its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestFrame {
    /// A whole request; session 0 is a push (no reply wanted).
    Single {
        /// Where it goes.
        target: Target,
        /// The caller's session (0: push).
        session: u32,
        /// `skynet.pack` of the arguments.
        payload: Bytes,
    },
    /// The header of a multi-part request: its parts follow, maybe with other frames
    /// between them.
    Header {
        /// Where it goes.
        target: Target,
        /// The session its parts carry (a multi-part push has one too).
        session: u32,
        /// The payload's total size.
        total: u32,
        /// A push (`41`/`c1`): no reply wanted.
        push: bool,
    },
    /// A part of a multi-part request.
    Part {
        /// The session of its header.
        session: u32,
        /// The last part (`03`).
        last: bool,
        /// The bytes.
        data: Bytes,
    },
    /// A trace tag for the next request on this connection.
    Trace(Bytes),
}

/// True when a request of `len` payload bytes takes a session: every call, and a push big
/// enough to be multi-part (a small push carries session 0 and uses none).
pub fn uses_session(push: bool, len: usize) -> bool {
    !push || len >= MULTI_PART
}

/// Builds the frames (each with its 2-byte length) of a request, in one buffer: one frame
/// for a payload under 32 KiB, else a header and its parts. A small push should carry session 0
/// ([`uses_session`]); the session is written as given.
pub fn encode_request(
    target: &Target,
    session: u32,
    payload: &[u8],
    push: bool,
) -> Result<Frames, FrameError> {
    let name_len = match target {
        Target::Handle(_) => 0,
        Target::Name(n) if n.is_empty() || n.len() > 255 => {
            return Err(FrameError::BadName(n.len()))
        }
        Target::Name(n) => n.len(),
    };
    if payload.len() < MULTI_PART {
        let body = match target {
            Target::Handle(_) => 9,
            Target::Name(_) => 6 + name_len,
        } + payload.len();
        let mut w = FrameWriter::with_capacity(2 + body, 1);
        let b = w.start(body);
        match target {
            Target::Handle(h) => {
                b.put_u8(0x00);
                b.put_u32_le(*h);
            }
            Target::Name(n) => {
                b.put_u8(0x80);
                b.put_u8(name_len as u8);
                b.put_slice(n);
            }
        }
        b.put_u32_le(session);
        b.put_slice(payload);
        w.end();
        return Ok(w.finish());
    }
    let total = u32::try_from(payload.len()).map_err(|_| FrameError::TooLarge(payload.len()))?;
    let push_bit = if push { 0x40 } else { 0 };
    let head = match target {
        Target::Handle(_) => 13,
        Target::Name(_) => 10 + name_len,
    };
    let (parts, count) = parts_size(payload.len());
    let mut w = FrameWriter::with_capacity(2 + head + parts, 1 + count);
    let b = w.start(head);
    match target {
        Target::Handle(h) => {
            b.put_u8(0x01 | push_bit);
            b.put_u32_le(*h);
        }
        Target::Name(n) => {
            b.put_u8(0x81 | push_bit);
            b.put_u8(name_len as u8);
            b.put_slice(n);
        }
    }
    b.put_u32_le(session);
    b.put_u32_le(total);
    w.end();
    w.parts(payload, |b, last| {
        b.put_u8(if last { 0x03 } else { 0x02 });
        b.put_u32_le(session);
    });
    Ok(w.finish())
}

/// Reads one request body. The minimum sizes are skynet's (`00` 9 bytes, `80` namelen + 6,
/// parts 5, `01`/`41` exactly 13, `81`/`c1` namelen + 10); anything else is an error and the
/// frame should be dropped (the connection stays up, as in skynet).
pub fn parse_request(body: Bytes) -> Result<RequestFrame, FrameError> {
    let Some(&kind) = body.first() else {
        return Err(FrameError::Short {
            kind: None,
            len: 0,
            needed: 1,
        });
    };
    let short = |needed: usize| FrameError::Short {
        kind: Some(kind),
        len: body.len(),
        needed,
    };
    match kind {
        0x00 => {
            if body.len() < 9 {
                return Err(short(9));
            }
            Ok(RequestFrame::Single {
                target: Target::Handle(le32(&body, 1)),
                session: le32(&body, 5),
                payload: body.slice(9..),
            })
        }
        0x01 | 0x41 => {
            if body.len() != 13 {
                return Err(FrameError::BadLength {
                    kind,
                    len: body.len(),
                });
            }
            Ok(RequestFrame::Header {
                target: Target::Handle(le32(&body, 1)),
                session: le32(&body, 5),
                total: le32(&body, 9),
                push: kind == 0x41,
            })
        }
        0x80 | 0x81 | 0xc1 => {
            let name_len = body.get(1).map_or(0, |&n| n as usize);
            let fixed = if kind == 0x80 { 6 } else { 10 };
            if body.len() < fixed + name_len {
                return Err(short(fixed + name_len));
            }
            let target = Target::Name(body.slice(2..2 + name_len));
            let session = le32(&body, 2 + name_len);
            if kind == 0x80 {
                return Ok(RequestFrame::Single {
                    target,
                    session,
                    payload: body.slice(6 + name_len..),
                });
            }
            Ok(RequestFrame::Header {
                target,
                session,
                total: le32(&body, 6 + name_len),
                push: kind == 0xc1,
            })
        }
        0x02 | 0x03 => {
            if body.len() < 5 {
                return Err(short(5));
            }
            Ok(RequestFrame::Part {
                session: le32(&body, 1),
                last: kind == 0x03,
                data: body.slice(5..),
            })
        }
        0x04 => Ok(RequestFrame::Trace(body.slice(1..))),
        other => Err(FrameError::UnknownType(other)),
    }
}
