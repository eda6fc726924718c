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

use std::ffi::{c_int, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use mlua::{ffi, Lua, Value, Variadic};
use skynet_runtime::{Addr, Message};

use crate::{capi, command};

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

/// The functions of `skynet.core` kept as mlua functions, built on first use
/// ([`l_mlua`]): `command`, `intcommand` and `addresscommand` (their errors and argument
/// conversions: the common calls take the C path, [`l_command`]), `error`, `harbor`, and
/// the `__index` that builds `trace`.
const COMMAND: u8 = 0;
const INTCOMMAND: u8 = 1;
const ADDRESSCOMMAND: u8 = 2;
const ERROR: u8 = 3;
const HARBOR: u8 = 4;
const TRACE_INDEX: u8 = 5;

/// The mlua function `kind` of the service whose host state is `h`.
fn build(lua: &Lua, h: HostRef, kind: u8) -> mlua::Result<mlua::Function> {
    match kind {
        COMMAND => lua.create_function(move |lua, a: (String, Value)| command::command(lua, &h, a)),
        INTCOMMAND => {
            lua.create_function(move |lua, a: (String, Value)| command::intcommand(lua, &h, a))
        }
        ADDRESSCOMMAND => {
            lua.create_function(move |lua, a: (String, Value)| command::addresscommand(lua, &h, a))
        }
        ERROR => lua.create_function(error),
        HARBOR => lua.create_function(move |_, a: i64| harbor(&h, a)),
        _ => crate::trace::index_function(lua),
    }
}

/// A new reference to the host state behind the pointer `p`.
///
/// # Safety
/// `p` is `Arc::as_ptr` of a `HostRef` still alive (the service keeps it until after its
/// Lua state is closed).
unsafe fn host_ref(p: *const crate::host::HostCell) -> HostRef {
    // SAFETY: per the contract: one more strong count for the Arc made here.
    unsafe {
        Arc::increment_strong_count(p);
        Arc::from_raw(p)
    }
}

/// A `skynet.core` function that is an mlua function (`K`), built on first call and
/// kept in upvalue 2 (upvalue 1: the host state): called with all the arguments, its
/// results returned.
unsafe extern "C-unwind" fn l_mlua<const K: u8>(l: *mut ffi::lua_State) -> c_int {
    // SAFETY: called by Lua as a closure made by `module`; the Arc made for `build` is
    // moved into it (kept by the mlua function, or dropped on failure) before anything
    // may raise; `lua_call` runs with no owned Rust value live.
    unsafe {
        if ffi::lua_type(l, ffi::lua_upvalueindex(2)) != ffi::LUA_TFUNCTION {
            ffi::luaL_checkstack(l, 3, std::ptr::null());
            let p =
                ffi::lua_touserdata(l, ffi::lua_upvalueindex(1)) as *const crate::host::HostCell;
            let h = host_ref(p);
            if !capi::push_mlua(l, move |lua| build(lua, h, K)) {
                ffi::lua_error(l);
            }
            ffi::lua_replace(l, ffi::lua_upvalueindex(2));
        }
        let nargs = ffi::lua_gettop(l);
        ffi::luaL_checkstack(l, 1, std::ptr::null());
        ffi::lua_pushvalue(l, ffi::lua_upvalueindex(2));
        ffi::lua_insert(l, 1);
        ffi::lua_call(l, nargs, ffi::LUA_MULTRET);
        ffi::lua_gettop(l)
    }
}

/// `command`, `intcommand`, `addresscommand` (`K`): a command name and a parameter that
/// is nil, a string or a number (UTF-8 text) take this path, the command's answer pushed
/// from Rust; anything else, and a command's error, goes to the mlua function ([`l_mlua`]:
/// the same conversions and errors as before).
unsafe extern "C-unwind" fn l_command<const K: u8>(l: *mut ffi::lua_State) -> c_int {
    // SAFETY: called by Lua as a closure made by `module`; only non-raising reads until
    // the command has run; every owned value (the parameter's text, the answer) is gone
    // or moved before a push that may raise (`push_owned` drops its string first).
    unsafe {
        let t2 = ffi::lua_type(l, 2);
        let simple = ffi::lua_type(l, 1) == ffi::LUA_TSTRING
            && matches!(
                t2,
                ffi::LUA_TNONE | ffi::LUA_TNIL | ffi::LUA_TSTRING | ffi::LUA_TNUMBER
            );
        let cmd = std::str::from_utf8(crate::raw::string_at(l, 1)).ok();
        let parm_str = if t2 == ffi::LUA_TSTRING {
            std::str::from_utf8(crate::raw::string_at(l, 2)).ok()
        } else {
            Some("")
        };
        let (Some(cmd), Some(parm_str), true) = (cmd, parm_str, simple) else {
            return l_mlua::<K>(l);
        };
        let host = ffi::lua_touserdata(l, ffi::lua_upvalueindex(1)) as *const crate::host::HostCell;
        let r = {
            let number = match t2 {
                ffi::LUA_TNUMBER if ffi::lua_isinteger(l, 2) != 0 => {
                    Some(ffi::lua_tointeger(l, 2).to_string())
                }
                ffi::LUA_TNUMBER => Some(ffi::lua_tonumber(l, 2).to_string()),
                _ => None,
            };
            let parm = match t2 {
                ffi::LUA_TSTRING => Some(parm_str),
                _ => number.as_deref(),
            };
            let h = host_ref(host);
            let set_limit = |n: usize| {
                if let Some(a) = crate::alloc::arena_of(l) {
                    (*a).set_limit(n);
                }
                Ok(())
            };
            catch_unwind(AssertUnwindSafe(|| command::run(&set_limit, &h, cmd, parm)))
                .unwrap_or_else(|_| Err(mlua::Error::runtime("skynet.core: internal error")))
        };
        match r {
            Ok(answer) => {
                match (K, answer) {
                    (_, None) => ffi::lua_pushnil(l),
                    (COMMAND, Some(s)) => capi::push_owned(l, s),
                    (INTCOMMAND, Some(s)) => match command::int_result(&s) {
                        command::Num::Int(i) => ffi::lua_pushinteger(l, i),
                        command::Num::Float(n) => ffi::lua_pushnumber(l, n),
                        command::Num::None => ffi::lua_pushnil(l),
                    },
                    (_, Some(s)) => match command::address_result(&s) {
                        Some(a) => ffi::lua_pushinteger(l, a),
                        None => ffi::lua_pushnil(l),
                    },
                }
                1
            }
            Err(e) => {
                // Raised as the mlua function raised it (an mlua callback's error).
                ffi::lua_settop(l, 0);
                ffi::luaL_checkstack(l, 3, std::ptr::null());
                let ok = capi::push_mlua(l, move |lua| {
                    lua.create_function(move |_, ()| Err::<(), _>(e.clone()))
                });
                if ok {
                    ffi::lua_call(l, 0, 0);
                }
                ffi::lua_error(l)
            }
        }
    }
}

/// `__index` of the `skynet.core` table: `trace` is built on first use.
unsafe extern "C-unwind" fn l_index(l: *mut ffi::lua_State) -> c_int {
    // SAFETY: called by Lua as `__index(t, k)`; a string key is read without conversion.
    unsafe {
        if ffi::lua_type(l, 2) != ffi::LUA_TSTRING || crate::raw::string_at(l, 2) != b"trace" {
            return 0;
        }
        l_mlua::<TRACE_INDEX>(l)
    }
}

/// Builds the `skynet.core` table for the service whose host state is `h` and pushes it
/// onto `l`, with the C API (mlua is not set up for it): the hot functions are raw C
/// functions ([`raw`](crate::raw)), the commands take a C path for their common calls,
/// the rest are mlua functions built on first call.
///
/// # Safety
/// `l` is the running thread of a C function, in protected mode, with room for 5 values;
/// `h` is `Arc::as_ptr` of the service's `HostRef`, whose signal slot is set, and which
/// the service keeps (with the signal) until after its Lua state is closed.
pub(crate) unsafe fn module(l: *mut ffi::lua_State, h: *const crate::host::HostCell) {
    type F = unsafe extern "C-unwind" fn(*mut ffi::lua_State) -> c_int;
    const MORE: &[(&CStr, F)] = &[
        (c"command", l_command::<COMMAND>),
        (c"intcommand", l_command::<INTCOMMAND>),
        (c"addresscommand", l_command::<ADDRESSCOMMAND>),
        (c"error", l_mlua::<ERROR>),
        (c"harbor", l_mlua::<HARBOR>),
    ];
    // SAFETY: per the contract; each push is consumed.
    unsafe {
        ffi::lua_createtable(l, 0, 24);
        let sig = (*h).signal() as *const Signal;
        crate::raw::install(l, h, sig);
        for (name, f) in MORE {
            ffi::lua_pushlightuserdata(l, h as *mut std::ffi::c_void);
            ffi::lua_pushnil(l);
            ffi::lua_pushcclosure(l, *f, 2);
            ffi::lua_setfield(l, -2, name.as_ptr());
        }
        // `trace` on first use: most services never trace.
        ffi::lua_createtable(l, 0, 1);
        ffi::lua_pushlightuserdata(l, h as *mut std::ffi::c_void);
        ffi::lua_pushnil(l);
        ffi::lua_pushcclosure(l, l_index, 2);
        ffi::lua_setfield(l, -2, c"__index".as_ptr());
        ffi::lua_setmetatable(l, -2);
    }
}

/// The payload a message carries into Lua: the message's own bytes where it has them.
pub(crate) fn payload_bytes(msg: Message) -> Option<crate::payload::Packed> {
    crate::payload::incoming(msg.ptype, msg.payload)
}
