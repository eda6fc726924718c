//! The common cases of `skynet.dispatch_message` as a raw `lua_CFunction`: a response to
//! a coroutine waiting in `skynet.call`, and a request on a registered protocol handed to
//! a pooled coroutine. `skynet.lua` builds it with `skynet.core.dispatcher` from its own
//! tables and gives it to `skynet.core.callback` in place of `dispatch_message`; the
//! interpreter then runs only the handler, not the dispatch around it.
//!
//! It does exactly what `raw_dispatch` and `dispatch_message` do, in the same order, and
//! hands everything else to Lua:
//! - before it changes anything, any case that is not the common one (tracing, a timed
//!   coroutine, an empty pool, an unknown session, a protocol without a plain table or
//!   dispatch function, a metatable that could answer a field) goes to `dispatch_message`
//!   with the message as it came;
//! - after the resume, anything but "suspended again with nothing queued" goes to
//!   skynet.lua's `finish_dispatch` with the coroutine: `suspend` in a protected call,
//!   then the forks, then the error, as `dispatch_message` words it;
//! - an error from the protocol's `unpack` goes to `finish_dispatch`, as it would out of
//!   `raw_dispatch`'s protected call.
//!
//! Coroutines are resumed with `lua_resume` here, as `skynet.core.resume` does (the error
//! object is handed on as it is), and the signal slot is told which one runs.

use std::cell::Cell;
use std::ffi::{c_int, CStr};

use mlua::ffi::{self, lua_State};

use crate::host::{Delivered, HostCell};
use crate::signal::Signal;

/// The dispatcher's upvalues, in order (`skynet.core.dispatcher`'s arguments, the
/// interned "SUSPEND", the host state, the interned field names).
mod uv {
    use std::ffi::c_int;
    pub(super) const FALLBACK: c_int = 1;
    pub(super) const FINISH: c_int = 2;
    pub(super) const RUNNING: c_int = 3;
    pub(super) const PROTO: c_int = 4;
    pub(super) const SESSION_WAIT: c_int = 5;
    pub(super) const REQUESTS: c_int = 6;
    pub(super) const REQUEST_TAG: c_int = 7;
    pub(super) const TRACE_SOURCE: c_int = 8;
    pub(super) const POOL: c_int = 9;
    pub(super) const PROFILE_STATE: c_int = 10;
    pub(super) const QUEUED: c_int = 11;
    pub(super) const CALLS: c_int = 12;
    /// The Lua values given, 1..=12.
    pub(super) const GIVEN: c_int = 12;
    /// "SUSPEND", interned.
    pub(super) const K_SUSPEND: c_int = 13;
    /// The service's `HostCell` (light userdata; it also gives the signal slot).
    pub(super) const HOST: c_int = 14;
    /// The field names read per message, interned (`lua_getfield` with a C string
    /// looks it up in the string cache with a `strcmp`: ~3% of a call for four of them).
    pub(super) const K_DISPATCH: c_int = 15;
    pub(super) const K_UNPACK: c_int = 16;
    pub(super) const K_TRACE: c_int = 17;
    pub(super) const COUNT: c_int = 17;
}

/// What the arguments of `dispatcher` must be (functions, then tables).
const FUNCTIONS: c_int = 3;

/// The upvalue of `call_slot` that is skynet.lua's `spare`: the pooled coroutine that
/// finished last (nil when taken).
const SPARE: c_int = 3;

fn up(i: c_int) -> c_int {
    ffi::lua_upvalueindex(i)
}

/// `dispatcher(dispatch_message, finish_dispatch, running, proto, session_wait, requests,
/// request_tag, trace_source, pool, profile_state, queued, call_slot)` -> a callback. Not
/// skynet's: `running` is a function whose only upvalue is skynet.lua's `running_thread`;
/// the pooled coroutine notes the request's session and source itself (its `run`, in
/// skynet.lua, gets them first), unless Lua code runs or the message fails before it
/// starts: then the dispatcher notes them in `requests` first, as `raw_dispatch` would;
/// `queued[1]` is true whenever wakeups, errors or forks may hold something, `queued[2]`
/// once `request_tag` has held anything, `queued[3]` once `trace_source` has;
/// `profile_state[1]` counts the coroutines `skynet.profile` times; once anything was
/// timed or `queued[2]` or `queued[3]` set, `skynet.core.unusual()` is called (until then
/// the dispatcher reads none of those: the flag is the host cell's); `call_slot` is a function whose first two upvalues
/// are skynet.lua's call slot (the session of a call in flight or false, the coroutine
/// waiting for it; the coroutine frees the slot when it is resumed): other calls wait in
/// `session_wait`; its third upvalue is the pool's spare (the coroutine that finished
/// last, nil once taken; `pool` holds the others).
pub(crate) unsafe extern "C-unwind" fn l_dispatcher(l: *mut lua_State) -> c_int {
    // SAFETY: called by Lua as a closure made by `raw::install` (upvalue 1 is the
    // service's `HostCell`, which outlives the state). Type checks are reads; the pushes
    // and `lua_pushcclosure` may raise (memory) with nothing owned live.
    unsafe {
        for i in 1..=uv::GIVEN {
            let want = if i <= FUNCTIONS || i == uv::GIVEN {
                ffi::LUA_TFUNCTION
            } else {
                ffi::LUA_TTABLE
            };
            if ffi::lua_type(l, i) != want {
                ffi::lua_pushfstring(l, c"bad argument #%d to 'dispatcher'".as_ptr(), i as c_int);
                ffi::lua_error(l)
            }
        }
        // `running` has exactly one upvalue (`running_thread`; not checked by name: the
        // library's upvalue names could be stripped one day).
        let one = !ffi::lua_getupvalue(l, 3, 1).is_null();
        let two = !ffi::lua_getupvalue(l, 3, 2).is_null();
        ffi::lua_pop(l, c_int::from(one) + c_int::from(two));
        if !one || two {
            ffi::lua_pushstring(l, c"bad argument #3 to 'dispatcher'".as_ptr());
            ffi::lua_error(l)
        }
        // `call_slot` has at least three upvalues (the session, the coroutine, the pool's
        // spare).
        let three = !ffi::lua_getupvalue(l, uv::GIVEN, SPARE).is_null();
        if !three {
            ffi::lua_pushfstring(l, c"bad argument #%d to 'dispatcher'".as_ptr(), uv::GIVEN);
            ffi::lua_error(l)
        }
        ffi::lua_pop(l, 1);
        ffi::lua_settop(l, uv::GIVEN);
        if ffi::lua_checkstack(l, uv::COUNT) == 0 {
            ffi::lua_pushstring(l, c"stack overflow".as_ptr());
            ffi::lua_error(l)
        }
        ffi::lua_pushstring(l, c"SUSPEND".as_ptr());
        // Interned: every live "SUSPEND" is this object while this closure holds it.
        (*(ffi::lua_touserdata(l, up(1)) as *const HostCell))
            .set_suspend(ffi::lua_topointer(l, -1) as usize);
        ffi::lua_pushvalue(l, up(1)); // the host state
        for key in [c"dispatch", c"unpack", c"trace"] {
            ffi::lua_pushstring(l, key.as_ptr());
        }
        ffi::lua_pushcclosure(l, l_dispatch, uv::COUNT);
        1
    }
}

std::thread_local! {
    /// A request the service's `handle` hands, as Rust values, to the host's dispatcher it
    /// is about to call on this thread (which then gets no arguments), with the service's
    /// host cell: taken by the dispatcher first thing.
    static DELIVERED: Cell<Option<(*const HostCell, Delivered)>> = const { Cell::new(None) };
}

/// Sets (or, `None`, clears) the request for the dispatcher `handle` calls next on this
/// thread. `host` is the service's cell (the dispatcher's own upvalue: the same).
pub(crate) fn deliver(d: Option<(&HostCell, Delivered)>) {
    DELIVERED.with(|c| c.set(d.map(|(h, m)| (h as *const HostCell, m))));
}

/// How the fast path ended.
enum Fast {
    /// Handled.
    Done,
    /// Not a common case; nothing was changed: `dispatch_message` takes the message.
    Fallback,
}

/// The callback: `(prototype, msg, sz, session, source)`; or, called by the service's
/// `handle` with no arguments, a request the host cell holds as Rust values
/// (`deliver`: no pushes, no type checks, no conversions).
pub(crate) unsafe extern "C-unwind" fn l_dispatch(l: *mut lua_State) -> c_int {
    // SAFETY: called by Lua (the host's `lua_pcall`, or any Lua code calling the callback)
    // as the closure `l_dispatcher` made; every step's safety is argued where it is done.
    // Nothing owned by Rust is live in this frame, so a raise skips no destructor.
    unsafe {
        // Lua gives a C function LUA_MINSTACK (20) free slots above its arguments: more
        // than the fast path pushes (at most 11 of its own; unpacked values are checked
        // for as they are pushed). Called with none (a delivered request), the fast path's
        // slots start at 1; a path that needs the message's values pushes them.
        if let Some((host, m)) = DELIVERED.with(Cell::take) {
            // `handle` set it just before it called this closure, with the service's host
            // cell, which outlives the state.
            let host = &*host;
            if let Fast::Fallback = request(l, host, m.ptype, Some(&m)) {
                ffi::lua_settop(l, 0);
                for i in 1..=5 {
                    push_arg(l, Some(&m), i);
                }
                fallback(l);
            }
            return 0;
        }
        let host = host_of(l);
        if ffi::lua_gettop(l) != 5 {
            ffi::lua_settop(l, 5);
        }
        let fast = match integer(l, 1) {
            Some(1) => response(l, host),
            Some(7) | None => Fast::Fallback,
            Some(p) => request(l, host, p, None),
        };
        if let Fast::Fallback = fast {
            ffi::lua_settop(l, 5);
            fallback(l);
        }
        0
    }
}

/// `dispatch_message(...)` with the five arguments at 1..=5 (the top).
unsafe fn fallback(l: *mut lua_State) {
    // SAFETY: the stack has room (LUA_MINSTACK); the call may raise with nothing owned.
    unsafe {
        ffi::lua_pushvalue(l, up(uv::FALLBACK));
        ffi::lua_insert(l, 1);
        ffi::lua_call(l, 5, 0);
    }
}

/// Pushes the callback's argument `i` (1..=5: the prototype, msg, sz, session, source):
/// from its slot, or (`m`) the delivered request, as `handle` pushes it for any other
/// callback.
unsafe fn push_arg(l: *mut lua_State, m: Option<&Delivered>, i: c_int) {
    // SAFETY: a push into the room the callers have (see `l_dispatch`); none raises.
    unsafe {
        match m {
            None => ffi::lua_pushvalue(l, i),
            Some(m) => match i {
                1 => ffi::lua_pushinteger(l, m.ptype),
                2 => ffi::lua_pushlightuserdata(l, m.ptr as *mut std::ffi::c_void),
                3 => ffi::lua_pushinteger(l, m.sz as ffi::lua_Integer),
                4 => ffi::lua_pushinteger(l, m.session),
                _ => ffi::lua_pushinteger(l, m.source),
            },
        }
    }
}

/// The integer at `i`, if it is one (a float with an integer value counts, as in Lua's
/// comparisons with integers).
unsafe fn integer(l: *mut lua_State, i: c_int) -> Option<i64> {
    let mut ok = 0;
    // SAFETY: `lua_tointegerx` converts no string in place when the type is a number.
    unsafe {
        if ffi::lua_type(l, i) != ffi::LUA_TNUMBER {
            return None;
        }
        let v = ffi::lua_tointegerx(l, i, &mut ok);
        (ok != 0).then_some(v)
    }
}

/// The service's `HostCell` (upvalue `HOST`).
unsafe fn host_of<'a>(l: *mut lua_State) -> &'a HostCell {
    // SAFETY: the dispatcher's closure holds the service's `HostCell` as light userdata
    // (`l_dispatcher` copied it from the `skynet.core` closure's upvalue 1); the cell
    // outlives the state.
    unsafe { &*(ffi::lua_touserdata(l, up(uv::HOST)) as *const HostCell) }
}

/// Is `profile_state[1]` (how many coroutines `skynet.profile` times) 0? (Then
/// skynet.lua resumes with `skynet.core.resume`.) Leaves the value pushed.
unsafe fn untimed(l: *mut lua_State) -> bool {
    // SAFETY: a raw read of a table upvalue.
    unsafe {
        // `lua_rawgeti` gives the type: no `lua_type` call.
        let mut ok = 0;
        ffi::lua_rawgeti(l, up(uv::PROFILE_STATE), 1) == ffi::LUA_TNUMBER
            && ffi::lua_tointegerx(l, -1, &mut ok) == 0
            && ok != 0
    }
}

/// Is the value of type `t` just pushed set (not nil nor false), as Lua's `if` has it?
unsafe fn set(l: *mut lua_State, t: c_int) -> bool {
    // SAFETY: a read of the top value, whose type `t` is.
    unsafe { t != ffi::LUA_TNIL && (t != ffi::LUA_TBOOLEAN || ffi::lua_toboolean(l, -1) != 0) }
}

/// Is `queued[i]` set? (Unset is nil: one read, no conversion; anything but nil and
/// false counts, as Lua's `if` would.) Leaves what it read pushed (`resume` reads it
/// last: the C function's return drops it).
unsafe fn flag(l: *mut lua_State, i: ffi::lua_Integer) -> bool {
    // SAFETY: a raw read of a table upvalue.
    unsafe { set(l, ffi::lua_rawgeti(l, up(uv::QUEUED), i)) }
}

/// `raw_dispatch`'s RESPONSE branch, for a session a coroutine waits on (no trace tag).
unsafe fn response(l: *mut lua_State, host: &HostCell) -> Fast {
    // SAFETY: the stack has room (LUA_MINSTACK: see `l_dispatch`); reads are raw, so no
    // metamethod runs; `lua_rawseti` may raise (memory) with nothing owned live.
    unsafe {
        // The call slot (the coroutine frees it when it wakes), else session_wait (then
        // cleared here, below, as raw_dispatch does). `call_slot` was checked to have two
        // upvalues; each read pushes the value. The slot's session is compared as Lua's
        // `==` would (`call_waiter`): no conversion needed.
        let in_slot =
            !ffi::lua_getupvalue(l, up(uv::CALLS), 1).is_null() && ffi::lua_rawequal(l, -1, 4) != 0;
        ffi::lua_settop(l, 5);
        let mut session = 0;
        let t = if in_slot {
            if ffi::lua_getupvalue(l, up(uv::CALLS), 2).is_null() {
                return Fast::Fallback;
            }
            ffi::lua_type(l, -1)
        } else {
            let Some(s) = integer(l, 4) else {
                return Fast::Fallback;
            };
            session = s;
            ffi::lua_rawgeti(l, up(uv::SESSION_WAIT), session)
        };
        if t != ffi::LUA_TTHREAD {
            return Fast::Fallback; // nil (unknown) or "BREAK"
        }
        let co_at = 6;
        // Until anything was timed or traced (`skynet.core.unusual`), nothing more to check.
        if host.unusual() {
            // request_tag[co], once request_tag has held anything (queued[2]: `tagged`);
            // and no coroutine timed (one pop for both).
            let tagged = set(l, ffi::lua_rawgeti(l, up(uv::QUEUED), 2)) && {
                ffi::lua_pushvalue(l, co_at);
                ffi::lua_rawget(l, up(uv::REQUEST_TAG));
                ffi::lua_toboolean(l, -1) != 0
            };
            let timed = tagged || !untimed(l);
            ffi::lua_settop(l, co_at);
            if timed {
                return Fast::Fallback;
            }
        }
        // From here on, as `raw_dispatch` does.
        if !in_slot {
            ffi::lua_pushnil(l);
            ffi::lua_rawseti(l, up(uv::SESSION_WAIT), session);
        }
        ffi::lua_pushboolean(l, 1);
        ffi::lua_pushvalue(l, 2);
        ffi::lua_pushvalue(l, 3);
        ffi::lua_pushvalue(l, 4);
        // A coroutine woken from the call slot sets `running_thread` itself.
        resume(l, host, co_at, 4, !in_slot);
        Fast::Done
    }
}

/// `raw_dispatch`'s request branch, for a protocol with a dispatch function, no tracing,
/// and a coroutine in the pool.
unsafe fn request(
    l: *mut lua_State,
    host: &HostCell,
    prototype: i64,
    m: Option<&Delivered>,
) -> Fast {
    // SAFETY: the stack has room (LUA_MINSTACK: see `l_dispatch`); reads are raw and made only
    // of tables without a metatable (or of skynet.lua's own tables), so they give what
    // `raw_dispatch`'s indexing would; the sets may raise (memory) with nothing owned.
    unsafe {
        if ffi::lua_rawgeti(l, up(uv::PROTO), prototype) != ffi::LUA_TTABLE {
            return Fast::Fallback;
        }
        // The stack from here: 6 the class, 7 its dispatch, 8 its unpack, 9 the coroutine
        // (`l_dispatch` set the top to 5); for a delivered request (no argument slots: the
        // top was 0) the same from 1.
        let base = if m.is_some() { 0 } else { 5 };
        let (p, f, unpack) = (base + 1, base + 2, base + 3);
        if ffi::lua_getmetatable(l, p) != 0 {
            return Fast::Fallback;
        }
        ffi::lua_pushvalue(l, up(uv::K_DISPATCH));
        if ffi::lua_rawget(l, p) != ffi::LUA_TFUNCTION {
            return Fast::Fallback;
        }
        ffi::lua_pushvalue(l, up(uv::K_UNPACK));
        if ffi::lua_rawget(l, p) != ffi::LUA_TFUNCTION {
            return Fast::Fallback; // raw_dispatch's error text says what is wrong
        }
        ffi::lua_pushvalue(l, up(uv::K_TRACE));
        let traced = ffi::lua_rawget(l, p) != ffi::LUA_TNIL;
        // Until anything was timed or traced (`skynet.core.unusual`), nothing more to check:
        // else trace_source[source], once trace_source has held anything (queued[3]); and
        // no coroutine timed (read here too: one pop for all).
        let slow = host.unusual() && {
            let tag_waits = set(l, ffi::lua_rawgeti(l, up(uv::QUEUED), 3)) && {
                push_arg(l, m, 5);
                ffi::lua_rawget(l, up(uv::TRACE_SOURCE)) != ffi::LUA_TNIL
            };
            tag_waits || !untimed(l)
        };
        ffi::lua_settop(l, unpack);
        if traced || slow {
            return Fast::Fallback;
        }
        let co_at = base + 4;
        // The pool's spare (`call_slot`'s third upvalue, checked to exist), else the
        // pool's last. From here on, as `raw_dispatch` does: take the coroutine (its `run`
        // notes the request's session and source in its record before the handler runs).
        ffi::lua_getupvalue(l, up(uv::CALLS), SPARE);
        if ffi::lua_type(l, co_at) == ffi::LUA_TTHREAD {
            ffi::lua_pushnil(l);
            ffi::lua_setupvalue(l, up(uv::CALLS), SPARE);
        } else {
            ffi::lua_settop(l, unpack);
            let n = ffi::lua_rawlen(l, up(uv::POOL));
            let Ok(n) = ffi::lua_Integer::try_from(n) else {
                return Fast::Fallback;
            };
            if n == 0 || ffi::lua_rawgeti(l, up(uv::POOL), n) != ffi::LUA_TTHREAD {
                return Fast::Fallback; // raw_dispatch makes a coroutine
            }
            ffi::lua_pushnil(l);
            ffi::lua_rawseti(l, up(uv::POOL), n);
        }
        // resume(co, f, true, session, source, p.unpack(msg, sz))
        ffi::lua_pushvalue(l, f);
        ffi::lua_pushboolean(l, 1);
        push_arg(l, m, 4);
        push_arg(l, m, 5);
        let values = co_at + 5; // after f, true, session, source
        let unpacked;
        if ffi::lua_tocfunction(l, unpack).is_some_and(|u| {
            std::ptr::fn_addr_eq(u, crate::rawpack::l_unpack as ffi::lua_CFunction)
        }) {
            // skynet.core.unpack itself (this state's: the same host): its work done
            // here, with no call. Its error goes where the call's would.
            // Room: `L_ROOM`'s reasoning, with the coroutine's four arguments pushed.
            let room = ffi::LUA_MINSTACK - values + 1;
            let r = match m {
                // The message being handled (`handle` delivered it).
                Some(m) => crate::rawpack::unpack_current(l, host, m.ptr, m.sz, room),
                None => crate::rawpack::unpack_args(l, host, 2, room),
            };
            match r {
                Ok(n) => unpacked = n,
                Err(e) => {
                    ffi::lua_settop(l, values - 1);
                    note_request(l, co_at, m);
                    ffi::lua_pushvalue(l, up(uv::FINISH));
                    ffi::lua_pushboolean(l, 0);
                    let b = e.bytes();
                    ffi::lua_pushlstring(l, b.as_ptr().cast(), b.len());
                    ffi::lua_call(l, 2, 0);
                    return Fast::Done;
                }
            }
        } else {
            // Lua code runs: the request is noted first, as in `raw_dispatch`.
            note_request(l, co_at, m);
            ffi::lua_pushvalue(l, unpack);
            push_arg(l, m, 2);
            push_arg(l, m, 3);
            if ffi::lua_pcall(l, 2, ffi::LUA_MULTRET, 0) != ffi::LUA_OK {
                // finish_dispatch(false, err), as out of raw_dispatch's protected call.
                ffi::lua_pushvalue(l, up(uv::FINISH));
                ffi::lua_pushboolean(l, 0);
                ffi::lua_rotate(l, -3, -1); // err, f, false -> f, false, err
                ffi::lua_call(l, 2, 0);
                return Fast::Done;
            }
            unpacked = ffi::lua_gettop(l) - values + 1;
        }
        // f, true, session, source and the values; the pooled coroutine's `run` sets
        // `running_thread` itself.
        let narg = unpacked + 4;
        resume(l, host, co_at, narg, false);
        Fast::Done
    }
}

/// `requests[co] = { session, source }` for the coroutine at `co_at` (the request at
/// stack indices 4 and 5; its record is reused when it has one), as `raw_dispatch` notes a
/// request before it unpacks it: the
/// coroutine's `run` adopts this record (or notes the request in its own). Taken only
/// when Lua code runs before the coroutine starts (a protocol's own `unpack`) or the
/// message fails to unpack, so that a request left so is answered at exit as before.
unsafe fn note_request(l: *mut lua_State, co_at: c_int, m: Option<&Delivered>) {
    // SAFETY: the stack has room (LUA_MINSTACK: see `l_dispatch`; three slots here);
    // `requests` is skynet.lua's plain table (raw set); the table creation and the sets
    // may raise (memory) with nothing owned live.
    unsafe {
        ffi::lua_pushvalue(l, co_at);
        if ffi::lua_rawget(l, up(uv::REQUESTS)) == ffi::LUA_TTABLE {
            // The coroutine's own record, still noted (skynet.lua's `request_record`
            // reuses it too).
            push_arg(l, m, 4);
            ffi::lua_rawseti(l, -2, 1);
            push_arg(l, m, 5);
            ffi::lua_rawseti(l, -2, 2);
            ffi::lua_pop(l, 1);
            return;
        }
        ffi::lua_pop(l, 1);
        ffi::lua_pushvalue(l, co_at);
        ffi::lua_createtable(l, 2, 0);
        push_arg(l, m, 4);
        ffi::lua_rawseti(l, -2, 1);
        push_arg(l, m, 5);
        ffi::lua_rawseti(l, -2, 2);
        ffi::lua_rawset(l, up(uv::REQUESTS));
    }
}

/// Free slots `l` surely has after a resume: `l_dispatch` got `LUA_MINSTACK` slots
/// above its arguments (at least 20 in all, even called from Lua with none); the
/// coroutine sits at index 9 at most, and `resumed` pushes four more.
const L_ROOM: c_int = ffi::LUA_MINSTACK - 9 - 4;

/// `suspend(co, resume(co, ...))` with the `narg` values at the top of `l` (the coroutine
/// is at `co_at`, below them): sets `running_thread` (if `set_running`: else the coroutine
/// does it first thing, where skynet.lua waits in the call slot or in the pool), resumes,
/// and when the coroutine
/// suspended again with nothing to wake, stops there (and runs the forks a handler left,
/// if any); else hands `(co, ok, command)` to skynet.lua's `dispatch_resumed`.
unsafe fn resume(l: *mut lua_State, host: &HostCell, co_at: c_int, narg: c_int, set_running: bool) {
    // SAFETY: `co` is a thread held on `l`'s stack (so alive); `lua_setupvalue` on the
    // `running_ref` upvalue sets the variable skynet.lua's functions share; the resume is
    // `skynet.core.resume`'s (`raw::l_resume`): Lua's `lua_resume` catches the
    // coroutine's errors, and the signal slot is told which thread runs (the service's
    // `Signal`, whose address `raw::install` noted in the host: it outlives the state;
    // "SUSPEND"'s address is the interned string this closure holds). Calls into Lua
    // (`dispatch_resumed`, `finish_dispatch`) run with nothing owned live.
    unsafe {
        let co = ffi::lua_tothread(l, co_at);
        if set_running {
            ffi::lua_pushvalue(l, co_at);
            ffi::lua_setupvalue(l, up(uv::RUNNING), 1); // running_thread = co
        }
        if ffi::lua_checkstack(co, narg) == 0 {
            ffi::lua_pop(l, narg);
            return resumed(l, co_at, false, Some(c"too many arguments to resume"));
        }
        ffi::lua_xmove(l, co, narg);
        let sig = (host.signal() as *const Signal).as_ref();
        if let Some(sig) = sig {
            sig.set_active(co);
        }
        let mut nres: c_int = 0;
        let status = ffi::lua_resume(co, l, narg, &mut nres);
        if let Some(sig) = sig {
            sig.set_active(l);
        }
        if status != ffi::LUA_OK && status != ffi::LUA_YIELD {
            ffi::lua_xmove(co, l, 1); // the error object, as it is
            return resumed(l, co_at, false, None);
        }
        // `lua_checkstack` fails only when the stack must grow and cannot; below `L_ROOM`
        // it never has to, so the call (kept for `l_resume`'s error on a huge yield) is
        // skipped. Only one of the values is ever moved to `l`.
        if nres + 1 > L_ROOM && ffi::lua_checkstack(l, nres + 1) == 0 {
            ffi::lua_pop(co, nres);
            return resumed(l, co_at, false, Some(c"too many results to resume"));
        }
        // The command: the first value yielded (or returned), if any. "SUSPEND" is a
        // short string, so interned: the same object as the key's.
        let suspended = nres > 0
            && ffi::lua_type(co, -nres) == ffi::LUA_TSTRING
            && ffi::lua_topointer(co, -nres) as usize == host.suspend();
        if !suspended {
            if nres > 0 {
                ffi::lua_pushvalue(co, -nres);
                ffi::lua_xmove(co, l, 1);
            } else {
                ffi::lua_pushnil(l);
            }
            ffi::lua_pop(co, nres);
            return resumed(l, co_at, true, None);
        }
        ffi::lua_pop(co, nres);
        // Nothing queued anywhere (the usual case): suspend(co, true, "SUSPEND") does
        // nothing, nor does dispatch_message after it.
        if flag(l, 1) {
            // Something may wait: suspend(co, true, "SUSPEND") wakes it, the forks run,
            // and skynet.lua notes what is still queued.
            ffi::lua_pushvalue(l, up(uv::K_SUSPEND)); // the command
            resumed(l, co_at, true, None);
        }
    }
}

/// `finish_dispatch(ok, v, co)`: suspend's work after the resume of `co` (`v` the
/// command, or the error object), then the forks. `v` is the value at the top of `l` or,
/// given, a fixed text.
unsafe fn resumed(l: *mut lua_State, co_at: c_int, ok: bool, why: Option<&CStr>) {
    // SAFETY: as `resume`: the stack has room for the four values (see `l_dispatch`),
    // and the call runs with nothing owned live.
    unsafe {
        if let Some(text) = why {
            ffi::lua_pushstring(l, text.as_ptr());
        }
        ffi::lua_pushvalue(l, up(uv::FINISH));
        ffi::lua_pushboolean(l, c_int::from(ok));
        ffi::lua_rotate(l, -3, -1); // v, f, ok -> f, ok, v
        ffi::lua_pushvalue(l, co_at);
        ffi::lua_call(l, 3, 0);
    }
}
