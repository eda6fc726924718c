//! Between the wire's packed bytes and the values services exchange inside the node.
//!
//! A service reached from the cluster (through an agent) or calling through a proxy sees
//! the arguments as a LUA message whose payload is `Vec<LuaValue>` (read it typed with
//! `skynet_seri::from_lua_args`). What it answers, or what a caller sends to a proxy, is
//! packed from one of: `Vec<LuaValue>` (an argument list), `LuaValue` (one value), `()`
//! (no values), `String`, `&'static str`, `Bytes` (a string), `i64`, `i32`, `u32`, `bool`,
//! `f64` (one value), or a `Payload::Bytes` holding bytes already packed (skynet's
//! `skynet.ret(msg, sz)`). [`crate::ret`] turns any tuple into the first form.

use bytes::Bytes;
use skynet_runtime::Payload;
use skynet_seri::{pack, pack_args, unpack_bytes, LuaValue};

use crate::state::Cluster;

/// A packed payload as a service receives it: the unpacked values, or why they don't
/// unpack (skynet's text: `Invalid serialize stream N`).
pub(crate) fn unpack_payload(payload: &Bytes) -> Result<Payload, String> {
    unpack_bytes(payload)
        .map(Payload::value)
        .map_err(|e| e.to_string())
}

/// What a service answered (or sent to a proxy), packed for the wire.
pub(crate) fn pack_payload(payload: Payload) -> Result<Bytes, String> {
    let packed = match payload {
        Payload::Bytes(b) => return Ok(b),
        Payload::Empty => return Ok(Bytes::new()),
        p => match p.take::<Vec<LuaValue>>() {
            Ok(v) => pack(&v),
            Err(p) => match p.take::<LuaValue>() {
                Ok(v) => pack(std::slice::from_ref(&v)),
                Err(p) => return pack_scalar(p),
            },
        },
    };
    packed.map(Bytes::from).map_err(|e| e.to_string())
}

/// Packs a payload of one of the plain types of the module's list.
fn pack_scalar(p: Payload) -> Result<Bytes, String> {
    macro_rules! try_types {
        ($p:ident; $($t:ty),*) => {
            $(
                let $p = match $p.take::<$t>() {
                    Ok(v) => return pack_args((v,)).map(Bytes::from).map_err(|e| e.to_string()),
                    Err(p) => p,
                };
            )*
        };
    }
    if p.is::<()>() {
        return Ok(Bytes::new());
    }
    try_types!(p; String, &'static str, Bytes, i64, i32, u32, bool, f64);
    Err(format!(
        "a reply of {p:?} cannot be packed (use Vec<LuaValue>, skynet_cluster::ret or packed bytes)"
    ))
}

/// Answers a name query (address 0): the payload is `pack(name)`; the answer is the
/// handle registered as `@name`, packed as one integer, or skynet's `name not found`.
pub(crate) fn name_query(cluster: &Cluster, payload: &Bytes) -> Result<Bytes, String> {
    let values = unpack_bytes(payload).map_err(|e| e.to_string())?;
    // skynet looks up "@" .. name, so a number is looked up as its text ("@123").
    let name = match values.first() {
        Some(LuaValue::Str(s)) => String::from_utf8_lossy(s).into_owned(),
        Some(LuaValue::Int(i)) => i.to_string(),
        Some(LuaValue::Real(r)) => r.to_string(),
        _ => return Err("name not found".into()),
    };
    let addr = cluster.lookup_name(&name).ok_or("name not found")?;
    pack_args((addr.0,))
        .map(Bytes::from)
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_of_every_listed_type_pack() {
        let cases: Vec<(Payload, &[u8])> = vec![
            (
                Payload::value(vec![LuaValue::from("foobar")]),
                b"\x34foobar",
            ),
            (Payload::value(LuaValue::Nil), b"\x00"),
            (Payload::value(()), b""),
            (Payload::Empty, b""),
            (Payload::value(String::from("a")), b"\x0ca"),
            (Payload::value("a"), b"\x0ca"),
            (Payload::value(Bytes::from_static(b"a")), b"\x0ca"),
            (Payload::value(5i64), b"\x0a\x05"),
            (Payload::value(5i32), b"\x0a\x05"),
            (Payload::value(5u32), b"\x0a\x05"),
            (Payload::value(true), b"\x09"),
            (
                Payload::value(1.0f64),
                b"\x42\x00\x00\x00\x00\x00\x00\xf0\x3f",
            ),
            (Payload::Bytes(Bytes::from_static(b"\x0a\x01")), b"\x0a\x01"),
        ];
        for (p, want) in cases {
            let d = format!("{p:?}");
            assert_eq!(pack_payload(p).expect(&d), Bytes::from_static(want), "{d}");
        }
        assert!(pack_payload(Payload::value(3u8)).is_err());
    }
}
