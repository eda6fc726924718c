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

/// The bytes Lua sees for an incoming payload (None: an empty message).
pub(crate) fn incoming(ptype: Ptype, payload: Payload) -> Option<Bytes> {
    let p = match payload {
        Payload::Empty => return None,
        Payload::Bytes(b) => return Some(b),
        p => p,
    };
    if ptype == Ptype::ERROR {
        return match p.take::<CallError>() {
            Ok(e) => Some(Bytes::from(e.to_string())),
            Err(_) => None,
        };
    }
    let packed = match p.take::<Vec<LuaValue>>() {
        Ok(v) => pack(&v),
        Err(p) => match p.take::<LuaValue>() {
            Ok(v) => pack(std::slice::from_ref(&v)),
            Err(p) => return scalar(p),
        },
    };
    packed.ok().map(Bytes::from)
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
pub(crate) fn outgoing(host: &mut Host, dest: Addr, ptype: Ptype, body: Bytes) -> Payload {
    if !matches!(ptype, Ptype::LUA | Ptype::RESPONSE | Ptype::ERROR)
        || dest.harbor() != host.node.harbor()
        || host.is_lua(dest)
    {
        return Payload::Bytes(body);
    }
    if ptype == Ptype::ERROR {
        let why = if body.is_empty() {
            "error raised in Lua".to_string()
        } else {
            String::from_utf8_lossy(&body).into_owned()
        };
        return Payload::value(CallError::Failed(host.addr, why));
    }
    match unpack_bytes(&body) {
        Ok(values) => Payload::value(values),
        // Not skynet.pack bytes (a raw string sent on the LUA protocol): as is.
        Err(_) => Payload::Bytes(body),
    }
}
