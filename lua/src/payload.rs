//! Payloads between Lua and the rest of the node.
//!
//! Between Lua services a LUA message carries `skynet.pack` bytes, as in skynet. A Rust
//! service is sent the unpacked values instead (`Vec<LuaValue>`, as the cluster delivers
//! them), so it reads a call from Lua, the cluster or Rust with the same typed helpers;
//! what it answers (any payload of the cluster's list: `Vec<LuaValue>`, `LuaValue`,
//! `String`, `i64`, `bool`, ..., or bytes already packed) reaches Lua packed.

use bytes::Bytes;
use skynet_runtime::{Addr, CallError, Payload, Ptype};
use skynet_seri::{pack, pack_args, unpack_bytes, LuaValue};

use crate::host::Host;

/// The most bytes a [`Small`] holds: with its length, three words, what a runtime message
/// carries inline (`Payload::value`).
pub(crate) const SMALL: usize = 23;

/// A short message body (a few packed values: most messages between Lua services) that
/// travels inside the runtime's message: no allocation to send it, none to free it (the
/// sender's allocation freed by the receiver's thread cost ~10% of a one-way send).
/// Word-aligned, so moving one is three word moves.
#[derive(Clone, Copy)]
#[repr(C, align(8))]
pub(crate) struct Small {
    bytes: [u8; SMALL],
    len: u8,
}

impl Small {
    /// `b` inline, if it fits.
    pub(crate) fn new(b: &[u8]) -> Option<Small> {
        let mut bytes = [0; SMALL];
        bytes.get_mut(..b.len())?.copy_from_slice(b);
        Some(Small {
            bytes,
            len: b.len() as u8, // <= SMALL, checked by the slice above
        })
    }

    /// The first `len` bytes of a whole slot (copied as one fixed-size block).
    pub(crate) fn from_slot(slot: &[u8; SMALL], len: usize) -> Option<Small> {
        (len <= SMALL).then_some(Small {
            bytes: *slot,
            len: len as u8, // <= SMALL (when kept)
        })
    }

    pub(crate) fn as_slice(&self) -> &[u8] {
        self.bytes.get(..usize::from(self.len)).unwrap_or(&[])
    }
}

/// A message body: bytes of its own, or short enough to travel inline.
pub(crate) enum Packed {
    Heap(Bytes),
    Small(Small),
}

impl Packed {
    pub(crate) fn as_slice(&self) -> &[u8] {
        match self {
            Packed::Heap(b) => b,
            Packed::Small(s) => s.as_slice(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.as_slice().len()
    }

    pub(crate) fn into_bytes(self) -> Bytes {
        match self {
            Packed::Heap(b) => b,
            Packed::Small(s) => Bytes::copy_from_slice(s.as_slice()),
        }
    }
}

/// The bytes Lua sees for an incoming payload (None: an empty message).
pub(crate) fn incoming(ptype: Ptype, payload: Payload) -> Option<Packed> {
    let p = match payload {
        Payload::Empty => return None,
        Payload::Bytes(b) => return Some(Packed::Heap(b)),
        p => p,
    };
    let p = match p.take::<Small>() {
        Ok(s) => return Some(Packed::Small(s)),
        Err(p) => p,
    };
    if ptype == Ptype::ERROR {
        return match p.take::<CallError>() {
            Ok(e) => Some(Packed::Heap(Bytes::from(e.to_string()))),
            Err(_) => None,
        };
    }
    let packed = match p.take::<Vec<LuaValue>>() {
        Ok(v) => pack(&v),
        Err(p) => match p.take::<LuaValue>() {
            Ok(v) => pack(std::slice::from_ref(&v)),
            Err(p) => return scalar(p).map(Packed::Heap),
        },
    };
    packed.ok().map(|b| Packed::Heap(Bytes::from(b)))
}

/// A payload of one plain value, packed.
fn scalar(p: Payload) -> Option<Bytes> {
    macro_rules! try_types {
        ($p:ident; $($t:ty),*) => {
            $(
                let $p = match $p.take::<$t>() {
                    Ok(v) => return pack_args((v,)).ok().map(Bytes::from),
                    Err(p) => p,
                };
            )*
        };
    }
    try_types!(p; String, &'static str, Bytes, i64, i32, u32, bool, f64);
    let _ = p;
    None
}

/// The payload of a message Lua sends: packed bytes to a Lua service; to a Rust service,
/// the unpacked values of a LUA request or RESPONSE, and a `CallError` for ERROR.
/// A short body to another Lua service of this node travels inline ([`Small`]).
pub(crate) fn outgoing(host: &mut Host, dest: Addr, ptype: Ptype, body: Packed) -> Payload {
    if !matches!(ptype, Ptype::LUA | Ptype::RESPONSE | Ptype::ERROR)
        || dest.harbor() != host.node.harbor()
    {
        return Payload::Bytes(body.into_bytes());
    }
    if host.is_lua(dest) {
        return match body {
            Packed::Small(s) => Payload::value(s),
            Packed::Heap(b) => Payload::Bytes(b),
        };
    }
    if ptype == Ptype::ERROR {
        let why = if body.len() == 0 {
            "error raised in Lua".to_string()
        } else {
            String::from_utf8_lossy(body.as_slice()).into_owned()
        };
        return Payload::value(CallError::Failed(host.addr, why));
    }
    let body = body.into_bytes();
    match unpack_bytes(&body) {
        Ok(values) => Payload::value(values),
        // Not skynet.pack bytes (a raw string sent on the LUA protocol): as is.
        Err(_) => Payload::Bytes(body),
    }
}
