//! `skynet.core`: the Rust half of the API, with the names and call shapes of skynet's
//! `lua-skynet.c` (send, genid, redirect, command, intcommand, addresscommand, error,
//! harbor, callback, trace, tostring, pack, unpack, packstring, trash, now, hpc), so
//! skynet's own `skynet.lua` could sit on it as ours does.
//!
//! Messages are handed to Lua as skynet hands them: a light userdata pointer and a size.
//! Unlike C, every function that reads such a pointer checks that it lies inside the
//! message being handled or a live buffer from `pack` ([`Host::resolve`]); anything else
//! is a Lua error, never a read of arbitrary memory.

use std::ffi::c_void;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use bytes::Bytes;
use mlua::{LightUserData, Lua, MultiValue, Table, Value, Variadic};
use skynet_runtime::{Addr, Message, Ptype};

use crate::command;
use crate::convert::{pack_values, unpack_values};
use crate::host::Host;
use crate::signal::Signal;

/// The host state of a service, shared by its host functions (each captures one).
/// Locked only while no Lua code runs, so the lock is never contended or re-entered.
pub(crate) type HostRef = std::sync::Arc<parking_lot::Mutex<Host>>;

/// A destination as Lua names it: an integer handle, or a `.name` / `:hex` string.
pub(crate) fn dest(h: &HostRef, v: &Value) -> mlua::Result<Option<Addr>> {
    match v {
        Value::Integer(i) => Ok(u32::try_from(*i).ok().map(Addr)),
        Value::Number(n) if n.fract() == 0.0 && *n >= 0.0 && *n <= u32::MAX as f64 => {
            Ok(Some(Addr(*n as u32)))
        }
        Value::String(s) => {
            let s = s.to_str()?;
            let node = h.lock().node.clone();
            Ok(node.query(&s))
        }
        other => Err(mlua::Error::runtime(format!(
            "invalid address (integer or string expected, got {})",
            other.type_name()
        ))),
    }
}

/// A message body given as `msg, sz`: a string (copied), a pointer from `pack` (moved:
/// the send owns it, skynet's DONTCOPY) or into the current message, or nil.
fn body(h: &HostRef, msg: &Value, sz: &Value) -> mlua::Result<Bytes> {
    match msg {
        Value::Nil => Ok(Bytes::new()),
        Value::String(s) => Ok(Bytes::copy_from_slice(&s.as_bytes())),
        Value::LightUserData(p) => {
            let sz = size(sz)?;
            h.lock()
                .resolve(p.0 as usize, sz, true)
                .ok_or_else(|| mlua::Error::runtime("invalid message pointer"))
        }
        other => Err(mlua::Error::runtime(format!(
            "invalid param {}",
            other.type_name()
        ))),
    }
}

fn size(v: &Value) -> mlua::Result<usize> {
    match v {
        Value::Integer(i) => usize::try_from(*i).map_err(|_| mlua::Error::runtime("invalid size")),
        Value::Number(n) if n.fract() == 0.0 && *n >= 0.0 => Ok(*n as usize),
        other => Err(mlua::Error::runtime(format!(
            "size expected, got {}",
            other.type_name()
        ))),
    }
}

fn ptype(v: &Value) -> mlua::Result<Ptype> {
    match v {
        Value::Integer(i) => u8::try_from(*i)
            .ok()
            .filter(|t| *t < Ptype::RESERVED)
            .map(Ptype)
            .ok_or_else(|| mlua::Error::runtime(format!("invalid protocol type {i}"))),
        other => Err(mlua::Error::runtime(format!(
            "protocol type expected, got {}",
            other.type_name()
        ))),
    }
}

fn session(v: &Value) -> mlua::Result<Option<i32>> {
    match v {
        Value::Nil => Ok(None),
        Value::Integer(i) => i32::try_from(*i)
            .map(Some)
            .map_err(|_| mlua::Error::runtime("invalid session")),
        other => Err(mlua::Error::runtime(format!(
            "session expected, got {}",
            other.type_name()
        ))),
    }
}

fn arg(args: &MultiValue, i: usize) -> Value {
    args.get(i).cloned().unwrap_or(Value::Nil)
}

/// `send(dest, ptype, session|nil, msg, sz?)` -> session, or nil for a destination that is
/// not there (skynet's shape).
fn send(h: &HostRef, args: MultiValue) -> mlua::Result<Option<i32>> {
    let ptype = ptype(&arg(&args, 1))?;
    let session = session(&arg(&args, 2))?;
    let payload = body(h, &arg(&args, 3), &arg(&args, 4))?;
    let Some(dest) = dest(h, &arg(&args, 0))? else {
        return Ok(None);
    };
    let mut h = h.lock();
    let session = match session {
        Some(s) => s,
        None => h.new_session(),
    };
    let msg = Message {
        source: h.addr,
        session,
        ptype,
        payload: crate::payload::outgoing(&mut h, dest, ptype, payload),
    };
    match h.node.send(dest, msg) {
        Ok(()) => Ok(Some(session)),
        Err(_) => Ok(None),
    }
}

/// `redirect(dest, source, ptype, session, msg, sz)`.
fn redirect(h: &HostRef, args: MultiValue) -> mlua::Result<()> {
    let source = dest(h, &arg(&args, 1))?.unwrap_or(Addr::SYSTEM);
    let ptype = ptype(&arg(&args, 2))?;
    let session = session(&arg(&args, 3))?.unwrap_or(0);
    let payload = body(h, &arg(&args, 4), &arg(&args, 5))?;
    let Some(dest) = dest(h, &arg(&args, 0))? else {
        return Ok(());
    };
    let mut h = h.lock();
    let msg = Message {
        source,
        session,
        ptype,
        payload: crate::payload::outgoing(&mut h, dest, ptype, payload),
    };
    let _ = h.node.send(dest, msg);
    Ok(())
}

/// `tostring(ptr, sz)` -> string.
fn tostring(
    lua: &Lua,
    h: &HostRef,
    (msg, sz): (Value, Value),
) -> mlua::Result<Option<mlua::LuaString>> {
    match msg {
        Value::Nil => Ok(None),
        Value::LightUserData(p) => {
            let sz = size(&sz)?;
            let b = h
                .lock()
                .resolve(p.0 as usize, sz, false)
                .ok_or_else(|| mlua::Error::runtime("invalid message pointer"))?;
            Ok(Some(lua.create_string(&b)?))
        }
        Value::String(s) => Ok(Some(s)),
        other => Err(mlua::Error::runtime(format!(
            "invalid param {}",
            other.type_name()
        ))),
    }
}

/// `pack(...)` -> lightuserdata, sz: a buffer the host keeps until sent or trashed.
fn pack(h: &HostRef, args: MultiValue) -> mlua::Result<(LightUserData, usize)> {
    let mut out = Vec::new();
    pack_values(&args, &mut out)?;
    let len = out.len();
    let p = h.lock().keep(Bytes::from(out));
    Ok((LightUserData(p as *mut c_void), len))
}

/// `packstring(...)` -> string.
fn packstring(lua: &Lua, args: MultiValue) -> mlua::Result<mlua::LuaString> {
    let mut out = Vec::new();
    pack_values(&args, &mut out)?;
    lua.create_string(&out)
}

/// `unpack(msg, sz)` or `unpack(string)` -> values.
fn unpack(lua: &Lua, h: &HostRef, (msg, sz): (Value, Value)) -> mlua::Result<MultiValue> {
    match msg {
        Value::Nil => Ok(MultiValue::new()),
        Value::String(s) => unpack_values(lua, &s.as_bytes()),
        Value::LightUserData(p) => {
            let sz = size(&sz)?;
            let b = h
                .lock()
                .resolve(p.0 as usize, sz, false)
                .ok_or_else(|| mlua::Error::runtime("invalid message pointer"))?;
            unpack_values(lua, &b)
        }
        other => Err(mlua::Error::runtime(format!(
            "invalid param {}",
            other.type_name()
        ))),
    }
}

/// `trash(ptr, sz)`: frees a buffer from `pack` that will not be sent.
fn trash(h: &HostRef, (msg, _sz): (Value, Value)) -> mlua::Result<()> {
    if let Value::LightUserData(p) = msg {
        h.lock().trash(p.0 as usize);
    }
    Ok(())
}

/// `error(...)`: the arguments joined with spaces, to the logger.
fn error(lua: &Lua, args: Variadic<Value>) -> mlua::Result<()> {
    let mut text = String::new();
    for (i, v) in args.iter().enumerate() {
        if i > 0 {
            text.push(' ');
        }
        match v {
            Value::String(s) => text.push_str(&s.to_string_lossy()),
            other => text.push_str(&lua.coerce_string(other.clone())?.map_or_else(
                || other.to_string().unwrap_or_default(),
                |s| s.to_string_lossy(),
            )),
        }
    }
    log::info!("{text}");
    Ok(())
}

/// `harbor(addr)` -> harbor id, is_remote.
fn harbor(h: &HostRef, addr: i64) -> mlua::Result<(i64, bool)> {
    let a = Addr(addr as u32);
    let mine = h.lock().node.harbor();
    Ok((i64::from(a.harbor()), a.harbor() != mine && a.harbor() != 0))
}

/// `callback(f, forward?)`: the function every message is handed to.
fn callback(h: &HostRef, (f, forward): (mlua::Function, Option<bool>)) -> mlua::Result<()> {
    let mut h = h.lock();
    h.callback = Some(f);
    h.forward = forward.unwrap_or(false);
    Ok(())
}

/// Process-wide origin of `hpc`.
fn hpc_origin() -> Instant {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    *ORIGIN.get_or_init(Instant::now)
}

/// Builds the `skynet.core` table for the service whose host state is `h`.
pub(crate) fn module(lua: &Lua, h: &HostRef, signal: &Arc<Signal>) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    macro_rules! with_host {
        ($name:literal, |$h:ident, $lua:ident, $args:ident : $ty:ty| $body:expr) => {{
            let $h = h.clone();
            t.set(
                $name,
                lua.create_function(move |$lua, $args: $ty| {
                    let _ = &$lua;
                    $body
                })?,
            )?;
        }};
    }
    with_host!("send", |h, lua, a: MultiValue| send(&h, a));
    with_host!("genid", |h, lua, _a: ()| Ok(h.lock().new_session()));
    with_host!("redirect", |h, lua, a: MultiValue| redirect(&h, a));
    with_host!("command", |h, lua, a: (String, Value)| command::command(
        lua, &h, a
    ));
    with_host!("intcommand", |h, lua, a: (String, Value)| {
        command::intcommand(lua, &h, a)
    });
    with_host!("addresscommand", |h, lua, a: (String, Value)| {
        command::addresscommand(lua, &h, a)
    });
    t.set("error", lua.create_function(error)?)?;
    with_host!("harbor", |h, lua, a: i64| harbor(&h, a));
    with_host!("callback", |h, lua, a: (mlua::Function, Option<bool>)| {
        callback(&h, a)
    });
    with_host!("tostring", |h, lua, a: (Value, Value)| tostring(lua, &h, a));
    with_host!("pack", |h, lua, a: MultiValue| pack(&h, a));
    with_host!("unpack", |h, lua, a: (Value, Value)| unpack(lua, &h, a));
    t.set("packstring", lua.create_function(packstring)?)?;
    with_host!("trash", |h, lua, a: (Value, Value)| trash(&h, a));
    with_host!("now", |h, lua, _a: ()| Ok(h.lock().node.now() as i64));
    // Not skynet's: skynet.profile reports here which coroutine runs (see `signal`).
    let sig = signal.clone();
    t.set(
        "active",
        lua.create_function(move |_, co: mlua::Thread| {
            sig.set_active(co.state());
            Ok(())
        })?,
    )?;
    t.set(
        "hpc",
        lua.create_function(|_, ()| Ok(hpc_origin().elapsed().as_nanos() as i64))?,
    )?;
    crate::trace::install(lua, &t)?; // `trace`, built on first use
    Ok(t)
}

/// The payload a message carries into Lua: the message's own bytes where it has them.
pub(crate) fn payload_bytes(msg: Message) -> Option<Bytes> {
    crate::payload::incoming(msg.ptype, msg.payload)
}
