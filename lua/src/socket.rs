//! The two C modules a Lua agent behind the Rust gate needs to answer its client, with the
//! names and call shapes of skynet's: `skynet.socketdriver` (`send`, `lsend`, `close`,
//! `shutdown`, `nodelay`) and `skynet.netpack` (`pack`, `tostring`), on the node's
//! `skynet-net` driver. Only this subset: the rest of `socketdriver` (listen, connect,
//! start, buffers, UDP), `netpack.filter`/`pop`/`clear` and the `skynet.socket` library
//! over them are the next issue's.
//!
//! A message body is given as skynet's functions take it: a string, a light userdata
//! with a size (a buffer from `netpack.pack` or `skynet.pack`, which the call consumes,
//! or the message being handled), or, for `send`, a table of strings written as one.
//! A pointer that is none of those is a Lua error, never a read of arbitrary memory.

use std::ffi::c_void;

use bytes::{Bytes, BytesMut};
use mlua::{LightUserData, Lua, Table, Value};
use skynet_net::Driver;

use crate::core::HostRef;

/// A socket id from Lua.
fn socket_id(v: &Value) -> mlua::Result<i32> {
    let n = match v {
        Value::Integer(i) => Some(*i),
        Value::Number(n) if n.fract() == 0.0 => Some(*n as i64),
        _ => None,
    };
    n.and_then(|i| i32::try_from(i).ok()).ok_or_else(|| {
        mlua::Error::runtime(format!(
            "socket id expected (an integer), got {}",
            v.type_name()
        ))
    })
}

/// The size that goes with a light userdata.
fn size_of(v: &Value) -> mlua::Result<usize> {
    match v {
        Value::Integer(i) => {
            usize::try_from(*i).map_err(|_| mlua::Error::runtime(format!("invalid size {i}")))
        }
        other => Err(mlua::Error::runtime(format!(
            "size expected after a light userdata, got {}",
            other.type_name()
        ))),
    }
}

/// The bytes of `msg` (and `sz`): a string (copied), a buffer from `pack` (consumed) or
/// a slice of the message being handled, or (`tables`) a table of strings, concatenated.
fn body(h: &HostRef, msg: &Value, sz: &Value, tables: bool) -> mlua::Result<Bytes> {
    match msg {
        Value::String(s) => Ok(Bytes::copy_from_slice(&s.as_bytes())),
        Value::LightUserData(p) => {
            let sz = size_of(sz)?;
            h.lock()
                .resolve(p.0 as usize, sz, true)
                .ok_or_else(|| mlua::Error::runtime("invalid message pointer"))
        }
        Value::Table(t) if tables => {
            let mut out = BytesMut::new();
            for v in t.sequence_values::<Value>() {
                match v? {
                    Value::String(s) => out.extend_from_slice(&s.as_bytes()),
                    other => {
                        return Err(mlua::Error::runtime(format!(
                            "Invalid strings table (a {} in it)",
                            other.type_name()
                        )))
                    }
                }
            }
            Ok(out.freeze())
        }
        other => Err(mlua::Error::runtime(format!(
            "string or light userdata expected, got {}",
            other.type_name()
        ))),
    }
}

fn arg(args: &mlua::MultiValue, i: usize) -> Value {
    args.get(i).cloned().unwrap_or(Value::Nil)
}

/// `skynet.socketdriver`: send, lsend, close, shutdown, nodelay.
pub(crate) fn socketdriver(lua: &Lua, h: &HostRef) -> mlua::Result<Table> {
    let driver = Driver::new(&h.lock().node);
    let t = lua.create_table()?;
    for (name, low) in [("send", false), ("lsend", true)] {
        let (h, d) = (h.clone(), driver.clone());
        t.set(
            name,
            lua.create_function(move |_, args: mlua::MultiValue| {
                let id = socket_id(&arg(&args, 0))?;
                let data = body(&h, &arg(&args, 1), &arg(&args, 2), true)?;
                Ok(if low {
                    d.send_low(id, data)
                } else {
                    d.send(id, data)
                })
            })?,
        )?;
    }
    let d = driver.clone();
    t.set(
        "close",
        lua.create_function(move |_, id: Value| {
            d.close(socket_id(&id)?);
            Ok(())
        })?,
    )?;
    let d = driver.clone();
    t.set(
        "shutdown",
        lua.create_function(move |_, id: Value| {
            d.shutdown(socket_id(&id)?);
            Ok(())
        })?,
    )?;
    let d = driver;
    t.set(
        "nodelay",
        lua.create_function(move |_, id: Value| {
            d.nodelay(socket_id(&id)?);
            Ok(())
        })?,
    )?;
    Ok(t)
}

/// `skynet.netpack`: pack, tostring.
pub(crate) fn netpack(lua: &Lua, h: &HostRef) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    let hp = h.clone();
    t.set(
        "pack",
        lua.create_function(move |_, (msg, sz): (Value, Value)| {
            let payload = body(&hp, &msg, &sz, false)?;
            let header = skynet_netpack::header(payload.len()).map_err(|_| {
                mlua::Error::runtime(format!(
                    "Invalid size (too long) of data : {}",
                    payload.len()
                ))
            })?;
            let mut out = BytesMut::with_capacity(header.len() + payload.len());
            out.extend_from_slice(&header);
            out.extend_from_slice(&payload);
            let len = out.len();
            let p = hp.lock().keep(out.freeze());
            Ok((LightUserData(p as *mut c_void), len))
        })?,
    )?;
    let ht = h.clone();
    t.set(
        "tostring",
        lua.create_function(move |lua, (msg, sz): (Value, Value)| {
            let s = match msg {
                Value::Nil => Bytes::new(),
                Value::LightUserData(p) if p.0.is_null() => Bytes::new(),
                Value::LightUserData(p) => ht
                    .lock()
                    .resolve(p.0 as usize, size_of(&sz)?, true)
                    .ok_or_else(|| mlua::Error::runtime("invalid message pointer"))?,
                other => {
                    return Err(mlua::Error::runtime(format!(
                        "light userdata expected, got {}",
                        other.type_name()
                    )))
                }
            };
            lua.create_string(&s)
        })?,
    )?;
    Ok(t)
}
