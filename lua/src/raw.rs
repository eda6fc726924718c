//! The hot half of `skynet.core` as raw `lua_CFunction`s (send, redirect, genid,
//! tostring, trash, now, hpc, callback, active, resume; pack, packstring and unpack are in
//! [`rawpack`](crate::rawpack), `dispatcher` in [`dispatch`](crate::dispatch)): what a
//! message costs in Lua is mostly these calls, and mlua's per-call machinery (argument
//! conversion, guards, reference counting) cost more than the work. They read their
//! arguments straight off the Lua stack, with no intermediate values.
//!
//! The rules that keep this sound:
//! - a Lua error is a `longjmp` over our frames: it is raised only by [`raise`], after every
//!   owned Rust value of the function is gone (errors are carried in [`Msg`], a fixed
//!   buffer with no destructor);
//! - a Lua API function that can raise (anything that allocates: pushing a string,
//!   creating a table) is called only while no owned Rust value is live (in `packstring`
//!   the packed bytes wait in the host's scratch buffer, in `unpack` a pack buffer is
//!   pinned in the host), and never while the host's lock is held;
//! - the functions never panic: every index is checked; Rust code that might (the
//!   runtime's send) runs inside `catch_unwind`, which touches no Lua API.
//!
//! Each function finds its service's host state through upvalue 1, a light userdata
//! pointing at the [`HostCell`] of an `Arc` the [`LuaService`](crate::LuaService) keeps
//! until after its Lua state is closed (and `active` its [`Signal`] through upvalue 2).

use std::ffi::{c_int, c_void, CStr};
use std::fmt::Write as _;
use std::panic::{catch_unwind, AssertUnwindSafe};

use bytes::Bytes;
use mlua::ffi::{self, lua_State};
use skynet_runtime::{Addr, Message, Ptype};

use crate::host::{Host, HostCell};
use crate::payload::{Packed, Small};
use crate::signal::Signal;

/// An error message in a fixed buffer: no heap, so nothing to drop when Lua longjmps.
pub(crate) struct Msg {
    buf: [u8; 112],
    len: usize,
}

impl Msg {
    pub(crate) fn new() -> Msg {
        Msg {
            buf: [0; 112],
            len: 0,
        }
    }

    pub(crate) fn from(s: &str) -> Msg {
        let mut m = Msg::new();
        let _ = m.write_str(s);
        m
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or(&[])
    }
}

impl std::fmt::Write for Msg {
    /// Appends what fits (longer messages are cut at a byte boundary; they stay bytes).
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let room = self.buf.len().saturating_sub(self.len);
        let n = s.len().min(room);
        if let (Some(dst), Some(src)) = (
            self.buf.get_mut(self.len..self.len + n),
            s.as_bytes().get(..n),
        ) {
            dst.copy_from_slice(src);
            self.len += n;
        }
        Ok(())
    }
}

macro_rules! msg_impl {
    ($($t:tt)*) => {{
        let mut m = Msg::new();
        let _ = write!(m, $($t)*);
        m
    }};
}
pub(crate) use msg_impl as msg;

/// Raises `m` as a Lua error (a string, no position: as skynet's `luaL_error` from C).
///
/// # Safety
/// `l` is the running state of a C function called by Lua; the caller holds no owned Rust
/// value (the longjmp skips every frame up to the protected call).
pub(crate) unsafe fn raise(l: *mut lua_State, m: &Msg) -> c_int {
    let b = m.bytes();
    // SAFETY: per the contract; `b` is plain bytes on the caller's stack frame.
    unsafe {
        ffi::lua_pushlstring(l, b.as_ptr().cast(), b.len());
        ffi::lua_error(l)
    }
}

/// The host state behind upvalue 1.
///
/// # Safety
/// `l` runs one of this module's closures, made by [`install`] with the pointer of a
/// `HostCell` that outlives the Lua state.
pub(crate) unsafe fn host<'a>(l: *mut lua_State) -> &'a HostCell {
    // SAFETY: per the contract.
    unsafe { &*(ffi::lua_touserdata(l, ffi::lua_upvalueindex(1)) as *const HostCell) }
}

/// The type name of the value at `i`, as Lua spells it.
pub(crate) unsafe fn type_name(l: *mut lua_State, i: c_int) -> &'static str {
    // SAFETY: `lua_type` takes any index; the names are static C strings.
    let t = unsafe { ffi::lua_type(l, i) };
    match t {
        ffi::LUA_TNONE | ffi::LUA_TNIL => "nil",
        ffi::LUA_TBOOLEAN => "boolean",
        ffi::LUA_TLIGHTUSERDATA | ffi::LUA_TUSERDATA => "userdata",
        ffi::LUA_TNUMBER => "number",
        ffi::LUA_TSTRING => "string",
        ffi::LUA_TTABLE => "table",
        ffi::LUA_TFUNCTION => "function",
        ffi::LUA_TTHREAD => "thread",
        _ => "unknown",
    }
}

/// The bytes of the string at `i` (a string: never a number, which `lua_tolstring` would
/// convert in place), valid while the value stays on the stack.
pub(crate) unsafe fn string_at<'a>(l: *mut lua_State, i: c_int) -> &'a [u8] {
    let mut len = 0usize;
    // SAFETY: the caller checked the type: no conversion, no allocation.
    unsafe {
        let p = ffi::lua_tolstring(l, i, &mut len);
        if p.is_null() {
            return &[];
        }
        std::slice::from_raw_parts(p.cast(), len)
    }
}

/// The integer value of the number at `i` (an integer, or a float with an exact integer
/// value; its type already checked: one API call, not two), if it has one.
unsafe fn number_integer(l: *mut lua_State, i: c_int) -> Option<i64> {
    let mut ok = 0;
    // SAFETY: the caller saw a number at `i`: `lua_tointegerx` converts no string and
    // never raises.
    let v = unsafe { ffi::lua_tointegerx(l, i, &mut ok) };
    (ok != 0).then_some(v)
}

/// A destination as Lua gives it, before it is looked up.
enum Dest<'a> {
    Handle(Option<Addr>),
    Name(&'a [u8]),
}

unsafe fn dest_at<'a>(l: *mut lua_State, i: c_int) -> Result<Dest<'a>, Msg> {
    // SAFETY: only non-raising reads.
    unsafe {
        match ffi::lua_type(l, i) {
            ffi::LUA_TNUMBER => Ok(Dest::Handle(
                number_integer(l, i)
                    .and_then(|v| u32::try_from(v).ok())
                    .map(Addr),
            )),
            ffi::LUA_TSTRING => Ok(Dest::Name(string_at(l, i))),
            _ => Err(msg!(
                "invalid address (integer or string expected, got {})",
                type_name(l, i)
            )),
        }
    }
}

fn resolve_dest(h: &HostCell, d: &Dest<'_>) -> Option<Addr> {
    match d {
        Dest::Handle(a) => *a,
        Dest::Name(n) => {
            let name = std::str::from_utf8(n).ok()?;
            let node = h.lock().node.clone();
            node.query(name)
        }
    }
}

unsafe fn ptype_at(l: *mut lua_State, i: c_int) -> Result<Ptype, Msg> {
    // SAFETY: only non-raising reads.
    unsafe {
        if ffi::lua_type(l, i) != ffi::LUA_TNUMBER {
            return Err(msg!("protocol type expected, got {}", type_name(l, i)));
        }
        match number_integer(l, i) {
            Some(v) => u8::try_from(v)
                .ok()
                .filter(|t| *t < Ptype::RESERVED)
                .map(Ptype)
                .ok_or_else(|| msg!("invalid protocol type {v}")),
            None => Err(Msg::from("invalid protocol type")),
        }
    }
}

unsafe fn session_at(l: *mut lua_State, i: c_int) -> Result<Option<i32>, Msg> {
    // SAFETY: only non-raising reads.
    unsafe {
        match ffi::lua_type(l, i) {
            ffi::LUA_TNONE | ffi::LUA_TNIL => Ok(None),
            ffi::LUA_TNUMBER => number_integer(l, i)
                .and_then(|v| i32::try_from(v).ok())
                .map(Some)
                .ok_or_else(|| Msg::from("invalid session")),
            _ => Err(msg!("session expected, got {}", type_name(l, i))),
        }
    }
}

pub(crate) unsafe fn size_at(l: *mut lua_State, i: c_int) -> Result<usize, Msg> {
    // SAFETY: only non-raising reads.
    unsafe {
        if ffi::lua_type(l, i) != ffi::LUA_TNUMBER {
            return Err(msg!("size expected, got {}", type_name(l, i)));
        }
        number_integer(l, i)
            .and_then(|v| usize::try_from(v).ok())
            .ok_or_else(|| Msg::from("invalid size"))
    }
}

/// A message body as Lua gives it (`msg, sz`), before it is taken.
enum Body<'a> {
    Empty,
    Str(&'a [u8]),
    Ptr(usize, usize),
}

unsafe fn body_at<'a>(l: *mut lua_State, i: c_int) -> Result<Body<'a>, Msg> {
    // SAFETY: only non-raising reads.
    unsafe {
        match ffi::lua_type(l, i) {
            ffi::LUA_TNONE | ffi::LUA_TNIL => Ok(Body::Empty),
            ffi::LUA_TSTRING => Ok(Body::Str(string_at(l, i))),
            ffi::LUA_TLIGHTUSERDATA => {
                let p = ffi::lua_touserdata(l, i) as usize;
                Ok(Body::Ptr(p, size_at(l, i + 1)?))
            }
            _ => Err(msg!("invalid param {}", type_name(l, i))),
        }
    }
}

/// The bytes of a body: a string copied, a `pack` buffer moved out (the send owns it), a
/// slice of the current message.
fn take_body(h: &mut Host, b: &Body<'_>) -> Result<Packed, Msg> {
    match b {
        Body::Empty => Ok(Packed::Heap(Bytes::new())),
        Body::Str(s) => Ok(match Small::new(s) {
            Some(small) => Packed::Small(small),
            None => Packed::Heap(Bytes::copy_from_slice(s)),
        }),
        Body::Ptr(p, sz) => h
            .resolve_packed(*p, *sz, true)
            .ok_or_else(|| Msg::from("invalid message pointer")),
    }
}

/// Runs Rust code that could panic (the runtime's send) without letting a panic unwind
/// into Lua's C frames: a panic becomes a Lua error.
fn guarded<T>(f: impl FnOnce() -> Result<T, Msg>) -> Result<T, Msg> {
    catch_unwind(AssertUnwindSafe(f))
        .unwrap_or_else(|_| Err(Msg::from("skynet.core: internal error")))
}

fn post(
    h: &mut Host,
    dest: Addr,
    source: Option<Addr>,
    ptype: Ptype,
    session: Option<i32>,
    body: Packed,
) -> Option<i32> {
    let session = match session {
        Some(s) => s,
        None => h.new_session(),
    };
    let msg = Message {
        source: source.unwrap_or(h.addr),
        session,
        ptype,
        payload: crate::payload::outgoing(h, dest, ptype, body),
    };
    h.node.send(dest, msg).ok().map(|()| session)
}

/// `send(dest, ptype, session|nil, msg, sz?)` -> session, or nil for a destination that is
/// not there (skynet's shape).
unsafe extern "C-unwind" fn l_send(l: *mut lua_State) -> c_int {
    // SAFETY: called by Lua as a closure made by `install`; reads never raise, and
    // `raise` runs after the Rust values are gone.
    unsafe {
        let h = host(l);
        let r = (|| {
            let ptype = ptype_at(l, 2)?;
            let session = session_at(l, 3)?;
            let body = body_at(l, 4)?;
            let dest = dest_at(l, 1)?;
            guarded(|| {
                // A name is looked up first (that takes the lock itself), then one lock
                // for the rest; the body is taken (a `pack` buffer consumed) either way.
                let dest = resolve_dest(h, &dest);
                let mut h = h.lock();
                let payload = take_body(&mut h, &body)?;
                Ok(dest.and_then(|d| post(&mut h, d, None, ptype, session, payload)))
            })
        })();
        match r {
            Ok(Some(s)) => ffi::lua_pushinteger(l, i64::from(s)),
            Ok(None) => ffi::lua_pushnil(l),
            Err(m) => return raise(l, &m),
        }
        1
    }
}

/// `redirect(dest, source, ptype, session, msg, sz)`.
unsafe extern "C-unwind" fn l_redirect(l: *mut lua_State) -> c_int {
    // SAFETY: as `l_send`.
    unsafe {
        let h = host(l);
        let r = (|| {
            let source = dest_at(l, 2)?;
            let ptype = ptype_at(l, 3)?;
            let session = session_at(l, 4)?.unwrap_or(0);
            let body = body_at(l, 5)?;
            let dest = dest_at(l, 1)?;
            guarded(|| {
                let source = resolve_dest(h, &source).unwrap_or(Addr::SYSTEM);
                let dest = resolve_dest(h, &dest);
                let mut h = h.lock();
                let payload = take_body(&mut h, &body)?;
                if let Some(d) = dest {
                    post(&mut h, d, Some(source), ptype, Some(session), payload);
                }
                Ok(())
            })
        })();
        match r {
            Ok(()) => 0,
            Err(m) => raise(l, &m),
        }
    }
}

/// `genid()` -> a fresh session.
unsafe extern "C-unwind" fn l_genid(l: *mut lua_State) -> c_int {
    // SAFETY: as `l_send`; pushing an integer never raises.
    unsafe {
        let s = host(l).lock().new_session();
        ffi::lua_pushinteger(l, i64::from(s));
        1
    }
}

/// `now()` -> centiseconds since the node started.
unsafe extern "C-unwind" fn l_now(l: *mut lua_State) -> c_int {
    // SAFETY: as `l_genid`.
    unsafe {
        let now = host(l).lock().node.now();
        ffi::lua_pushinteger(l, now as i64);
        1
    }
}

/// `hpc()` -> nanoseconds from a process-wide origin.
unsafe extern "C-unwind" fn l_hpc(l: *mut lua_State) -> c_int {
    // SAFETY: pushing an integer never raises.
    unsafe {
        ffi::lua_pushinteger(l, crate::core::hpc_origin().elapsed().as_nanos() as i64);
        1
    }
}

/// `active(co)`: not skynet's; `skynet.profile` reports which coroutine runs (`signal`).
unsafe extern "C-unwind" fn l_active(l: *mut lua_State) -> c_int {
    // SAFETY: upvalue 2 is the `Signal` the service keeps until after its state closes;
    // `lua_tothread` gives null for a non-thread, which `set_active` takes as "none".
    unsafe {
        let sig = &*(ffi::lua_touserdata(l, ffi::lua_upvalueindex(2)) as *const Signal);
        sig.set_active(ffi::lua_tothread(l, 1));
        0
    }
}

/// `unusual()`: not skynet's; `skynet.profile` and skynet.lua say that something was
/// timed or traced (for good): the host's dispatcher then checks for both on every
/// message.
unsafe extern "C-unwind" fn l_unusual(l: *mut lua_State) -> c_int {
    // SAFETY: upvalue 1 is the service's `HostCell` (`host`'s contract).
    unsafe {
        host(l).set_unusual();
        0
    }
}

/// `resume(co, ...)`: `coroutine.resume` (Lua's `auxresume`, the same checks and error
/// texts; the error object is moved as it is, keeping its identity) that also tells the
/// signal slot which coroutine runs, and then which runs again. Not skynet's:
/// `skynet.profile.resume` uses it while no coroutine is timed, in place of its Lua
/// wrapper around `coroutine.resume` and two `active` calls.
unsafe extern "C-unwind" fn l_resume(l: *mut lua_State) -> c_int {
    // SAFETY: upvalue 2 is the service's `Signal` (see `l_active`). `co` is a thread on
    // our stack (argument 1), so it stays alive. Only `lua_checkstack`, `lua_xmove`,
    // `lua_resume` (which catches the coroutine's errors) and pushes of booleans and
    // static strings are used; nothing owned is live when `raise` runs.
    unsafe {
        let co = ffi::lua_tothread(l, 1);
        if co.is_null() {
            let m = msg!(
                "bad argument #1 to 'resume' (coroutine expected, got {})",
                type_name(l, 1)
            );
            return raise(l, &m);
        }
        let narg = ffi::lua_gettop(l) - 1;
        if ffi::lua_checkstack(co, narg) == 0 {
            ffi::lua_pushboolean(l, 0);
            ffi::lua_pushstring(l, c"too many arguments to resume".as_ptr());
            return 2;
        }
        ffi::lua_xmove(l, co, narg);
        let sig = &*(ffi::lua_touserdata(l, ffi::lua_upvalueindex(2)) as *const Signal);
        sig.set_active(co);
        let mut nres: c_int = 0;
        let status = ffi::lua_resume(co, l, narg, &mut nres);
        sig.set_active(l);
        if status == ffi::LUA_OK || status == ffi::LUA_YIELD {
            if ffi::lua_checkstack(l, nres + 1) == 0 {
                ffi::lua_pop(co, nres);
                ffi::lua_pushboolean(l, 0);
                ffi::lua_pushstring(l, c"too many results to resume".as_ptr());
                return 2;
            }
            ffi::lua_pushboolean(l, 1);
            ffi::lua_xmove(co, l, nres);
            nres + 1
        } else {
            ffi::lua_pushboolean(l, 0);
            ffi::lua_xmove(co, l, 1);
            2
        }
    }
}

/// `callback(f, forward?)`: the function every message is handed to, kept in the registry.
unsafe extern "C-unwind" fn l_callback(l: *mut lua_State) -> c_int {
    // SAFETY: reads never raise; `lua_rawsetp` may raise (memory) with nothing owned live.
    unsafe {
        if ffi::lua_type(l, 1) != ffi::LUA_TFUNCTION {
            let m = msg!(
                "bad argument #1 to 'callback' (function expected, got {})",
                type_name(l, 1)
            );
            return raise(l, &m);
        }
        let forward = ffi::lua_toboolean(l, 2) != 0;
        let slot = {
            let mut h = host(l).lock();
            h.forward = forward;
            h.callback_gen = h.callback_gen.wrapping_add(1);
            h.callback_ref
        };
        if slot == ffi::LUA_NOREF {
            return raise(l, &msg!("callback: no registry slot"));
        }
        ffi::lua_settop(l, 1);
        ffi::lua_rawseti(l, ffi::LUA_REGISTRYINDEX, ffi::lua_Integer::from(slot));
        0
    }
}

/// `trash(ptr, sz)`: frees a buffer from `pack` that will not be sent.
unsafe extern "C-unwind" fn l_trash(l: *mut lua_State) -> c_int {
    // SAFETY: reads never raise.
    unsafe {
        if ffi::lua_type(l, 1) == ffi::LUA_TLIGHTUSERDATA {
            let p = ffi::lua_touserdata(l, 1) as usize;
            host(l).lock().trash(p);
        }
        0
    }
}

/// `tostring(ptr, sz)` -> string.
unsafe extern "C-unwind" fn l_tostring(l: *mut lua_State) -> c_int {
    // SAFETY: reads never raise. The bytes pushed belong to the current message or a live
    // `pack` buffer, which nothing frees before `lua_pushlstring` has copied them (its only
    // allocation comes before any collection step could run a finalizer).
    unsafe {
        match ffi::lua_type(l, 1) {
            ffi::LUA_TNONE | ffi::LUA_TNIL => 0,
            ffi::LUA_TSTRING => {
                ffi::lua_settop(l, 1);
                1
            }
            ffi::LUA_TLIGHTUSERDATA => {
                let p = ffi::lua_touserdata(l, 1) as usize;
                let sz = match size_at(l, 2) {
                    Ok(sz) => sz,
                    Err(m) => return raise(l, &m),
                };
                let ok = host(l).lock().check(p, sz);
                if !ok {
                    return raise(l, &Msg::from("invalid message pointer"));
                }
                ffi::lua_pushlstring(l, p as *const _, sz);
                1
            }
            _ => {
                let m = msg!("invalid param {}", type_name(l, 1));
                raise(l, &m)
            }
        }
    }
}

/// Adds the raw functions to the `skynet.core` table at the top of `l`'s stack, with the
/// host state and signal slot as upvalues.
///
/// # Safety
/// `host` and `signal` outlive the Lua state (the service drops them after closing it);
/// `l` has a table at its top; called in protected mode (pushes may raise).
pub(crate) unsafe fn install(l: *mut lua_State, host: *const HostCell, signal: *const Signal) {
    type F = unsafe extern "C-unwind" fn(*mut lua_State) -> c_int;
    const FUNCS: &[(&CStr, F)] = &[
        (c"send", l_send),
        (c"redirect", l_redirect),
        (c"genid", l_genid),
        (c"now", l_now),
        (c"hpc", l_hpc),
        (c"active", l_active),
        (c"unusual", l_unusual),
        (c"resume", l_resume),
        (c"callback", l_callback),
        (c"dispatcher", crate::dispatch::l_dispatcher),
        (c"trash", l_trash),
        (c"tostring", l_tostring),
        (c"pack", crate::rawpack::l_pack),
        (c"packstring", crate::rawpack::l_packstring),
        (c"unpack", crate::rawpack::l_unpack),
    ];
    // SAFETY: per the contract; `luaL_ref` pops the placeholder it stores (`false`: a
    // nil would get no slot) and may raise (memory) with nothing owned live; the host is
    // locked only after it returned.
    unsafe {
        ffi::lua_pushboolean(l, 0);
        let slot = ffi::luaL_ref(l, ffi::LUA_REGISTRYINDEX);
        (*host).lock().callback_ref = slot;
        (*host).set_signal(signal as usize);
        for (name, f) in FUNCS {
            ffi::lua_pushlightuserdata(l, host as *mut c_void);
            ffi::lua_pushlightuserdata(l, signal as *mut c_void);
            ffi::lua_pushcclosure(l, *f, 2);
            ffi::lua_setfield(l, -2, name.as_ptr());
        }
    }
}

/// `luaL_tolstring` in protected mode (a `__tostring` may raise).
unsafe extern "C-unwind" fn l_tolstring(l: *mut lua_State) -> c_int {
    // SAFETY: called through `lua_pcall` with one argument.
    unsafe {
        ffi::luaL_tolstring(l, 1, std::ptr::null_mut());
        1
    }
}

/// The text of the error object at the top of `l` (left there), as lua.c's message
/// handler words a non-string one.
///
/// # Safety
/// `l` is a state no Lua code runs in (an error just returned by `lua_pcall`), with a
/// value at its top.
pub(crate) unsafe fn error_text(l: *mut lua_State) -> String {
    // SAFETY: per the contract; `lua_pcall` catches any error of the conversion, and the
    // top is restored.
    unsafe {
        let top = ffi::lua_gettop(l);
        if ffi::lua_type(l, top) == ffi::LUA_TSTRING {
            return String::from_utf8_lossy(string_at(l, top)).into_owned();
        }
        let text = if ffi::lua_checkstack(l, 2) != 0 {
            ffi::lua_pushcfunction(l, l_tolstring);
            ffi::lua_pushvalue(l, top);
            if ffi::lua_pcall(l, 1, 1, 0) == ffi::LUA_OK && ffi::lua_type(l, -1) == ffi::LUA_TSTRING
            {
                Some(String::from_utf8_lossy(string_at(l, -1)).into_owned())
            } else {
                None
            }
        } else {
            None
        };
        let text =
            text.unwrap_or_else(|| format!("(error object is a {} value)", type_name(l, top)));
        ffi::lua_settop(l, top);
        text
    }
}

/// `__index` of a standard library opened on first use (`io`, `os`, `utf8`): opens it
/// (upvalue 1 is its `luaopen_*`), copies its fields into the stub table that stands for
/// it (argument 1, also `package.loaded`'s entry), drops the stub's metatable, and
/// answers the field asked for.
unsafe extern "C-unwind" fn l_open_lazy(l: *mut lua_State) -> c_int {
    // SAFETY: called by Lua as `__index(t, k)`; the library table stays on the stack
    // while it is copied (`lua_next` over a table nothing changes meanwhile); the calls
    // that may raise (opening, `lua_rawset` growing the stub) run with nothing owned.
    unsafe {
        ffi::lua_settop(l, 2);
        ffi::lua_pushvalue(l, ffi::lua_upvalueindex(1));
        ffi::lua_call(l, 0, 1); // the library, at 3
        ffi::lua_pushnil(l);
        while ffi::lua_next(l, 3) != 0 {
            // A field the program set in the stub stays (as `stdlib.rs` does).
            ffi::lua_pushvalue(l, -2);
            let set = ffi::lua_rawget(l, 1) != ffi::LUA_TNIL;
            ffi::lua_pop(l, 1);
            if set {
                ffi::lua_pop(l, 1); // the library's value; the key stays for `lua_next`
                continue;
            }
            ffi::lua_pushvalue(l, -2);
            ffi::lua_insert(l, -2);
            ffi::lua_rawset(l, 1);
        }
        ffi::lua_pushnil(l);
        ffi::lua_setmetatable(l, 1);
        ffi::lua_pushvalue(l, 2);
        ffi::lua_rawget(l, 1);
        1
    }
}

/// Sets globals `io`, `os` and `utf8` (and their `package.loaded` entries) to stubs that
/// open the library on first use: most services never touch them, and opening them cost
/// every state ~3.5 KB and a few microseconds. Until then `pairs(io)` finds nothing.
///
/// # Safety
/// `l` is a state without those libraries, called in protected mode.
pub(crate) unsafe fn install_lazy_libs(l: *mut lua_State) {
    type F = unsafe extern "C-unwind" fn(*mut lua_State) -> c_int;
    const LIBS: &[(&CStr, F)] = &[
        (c"io", ffi::luaopen_io),
        (c"os", ffi::luaopen_os),
        (c"utf8", ffi::luaopen_utf8),
    ];
    // SAFETY: per the contract; every push is consumed.
    unsafe {
        ffi::lua_getfield(l, ffi::LUA_REGISTRYINDEX, ffi::LUA_LOADED_TABLE);
        for (name, open) in LIBS {
            ffi::lua_createtable(l, 0, 0); // the stub
            ffi::lua_createtable(l, 0, 1); // its metatable
            ffi::lua_pushcfunction(l, *open);
            ffi::lua_pushcclosure(l, l_open_lazy, 1);
            ffi::lua_setfield(l, -2, c"__index".as_ptr());
            ffi::lua_setmetatable(l, -2);
            ffi::lua_pushvalue(l, -1);
            ffi::lua_setfield(l, -3, name.as_ptr()); // package.loaded[name]
            ffi::lua_setglobal(l, name.as_ptr());
        }
        ffi::lua_pop(l, 1);
    }
}
