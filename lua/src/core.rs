//! `skynet.core`: the Rust half of the API, with the names and call shapes of skynet's
//! `lua-skynet.c` (send, genid, redirect, command, intcommand, addresscommand, error,
//! harbor, callback, trace, tostring, pack, unpack, packstring, trash, now, hpc), so
//! skynet's own `skynet.lua` could sit on it as ours does. The functions on every
//! message's path are raw C functions ([`raw`](crate::raw)); this module builds the table
//! and keeps the rest (commands, error, harbor, trace) as mlua functions.
//!
//! Messages are handed to Lua as skynet hands them: a light userdata pointer and a size.
//! Unlike C, every function that reads such a pointer checks that it lies inside the
//! message being handled or a live buffer from `pack` ([`Host::resolve`]); anything else
//! is a Lua error, never a read of arbitrary memory.

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use mlua::{Lua, Table, Value, Variadic};
use skynet_runtime::{Addr, Message};

use crate::command;

use crate::signal::Signal;

/// The host state of a service, shared by its host functions (each captures one).
/// Borrowed only while no Lua code runs, so a borrow is never re-entered.
pub(crate) type HostRef = std::sync::Arc<crate::host::HostCell>;

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

/// Process-wide origin of `hpc`.
pub(crate) fn hpc_origin() -> Instant {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    *ORIGIN.get_or_init(Instant::now)
}

/// Builds the `skynet.core` table for the service whose host state is `h`: the hot
/// functions are raw C functions ([`raw`](crate::raw)), the rest mlua closures.
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
    crate::trace::install(lua, &t)?; // `trace`, built on first use
    let host = Arc::as_ptr(h);
    let sig = Arc::as_ptr(signal);
    // SAFETY: the service keeps `h` and `signal` until after its Lua state is closed
    // (`LuaService`: the state is dropped first); exec_raw runs the closure in protected
    // mode with the table pushed at the top. Exercised by every test.
    unsafe {
        lua.exec_raw::<()>(&t, |l| {
            crate::raw::install(l, host, sig);
            mlua::ffi::lua_pop(l, 1);
        })?;
    }
    Ok(t)
}

/// The payload a message carries into Lua: the message's own bytes where it has them.
pub(crate) fn payload_bytes(msg: Message) -> Option<crate::payload::Packed> {
    crate::payload::incoming(msg.ptype, msg.payload)
}
