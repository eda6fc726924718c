//! The hot half of `skynet.core` as raw `lua_CFunction`s (send, redirect, genid, pack,
//! unpack, packstring, tostring, trash, now, hpc, callback, active): what a message costs
//! in Lua is mostly these calls, and mlua's per-call machinery (argument conversion,
//! guards, reference counting) cost more than the work. They read their arguments
//! straight off the Lua stack and `pack`/`unpack` walk Lua values and `skynet.pack` bytes
//! directly, with no intermediate values.
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
use skynet_seri::wire::{Cursor, Item};
use skynet_seri::{PackBuf, Packer};

use crate::host::{Host, HostCell, Pin};
use crate::payload::{Packed, Small};
use crate::signal::Signal;

/// The registry slot (a light userdata key) that holds `skynet.core.callback`'s function.
static CALLBACK_KEY: u8 = 0;

/// The registry key of the callback.
pub(crate) fn callback_key() -> *const c_void {
    std::ptr::addr_of!(CALLBACK_KEY).cast()
}

/// An error message in a fixed buffer: no heap, so nothing to drop when Lua longjmps.
pub(crate) struct Msg {
    buf: [u8; 112],
    len: usize,
}

impl Msg {
    fn new() -> Msg {
        Msg {
            buf: [0; 112],
            len: 0,
        }
    }

    fn from(s: &str) -> Msg {
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

macro_rules! msg {
    ($($t:tt)*) => {{
        let mut m = Msg::new();
        let _ = write!(m, $($t)*);
        m
    }};
}

/// Raises `m` as a Lua error (a string, no position: as skynet's `luaL_error` from C).
///
/// # Safety
/// `l` is the running state of a C function called by Lua; the caller holds no owned Rust
/// value (the longjmp skips every frame up to the protected call).
unsafe fn raise(l: *mut lua_State, m: &Msg) -> c_int {
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
unsafe fn type_name(l: *mut lua_State, i: c_int) -> &'static str {
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
unsafe fn string_at<'a>(l: *mut lua_State, i: c_int) -> &'a [u8] {
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

/// An integer argument (an integer, or a float with an exact integer value).
unsafe fn integer_at(l: *mut lua_State, i: c_int) -> Option<i64> {
    let mut ok = 0;
    // SAFETY: `lua_tointegerx` does not convert strings in place and never raises.
    let v = unsafe {
        if ffi::lua_type(l, i) != ffi::LUA_TNUMBER {
            return None;
        }
        ffi::lua_tointegerx(l, i, &mut ok)
    };
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
                integer_at(l, i)
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
        match integer_at(l, i) {
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
            ffi::LUA_TNUMBER => integer_at(l, i)
                .and_then(|v| i32::try_from(v).ok())
                .map(Some)
                .ok_or_else(|| Msg::from("invalid session")),
            _ => Err(msg!("session expected, got {}", type_name(l, i))),
        }
    }
}

unsafe fn size_at(l: *mut lua_State, i: c_int) -> Result<usize, Msg> {
    // SAFETY: only non-raising reads.
    unsafe {
        if ffi::lua_type(l, i) != ffi::LUA_TNUMBER {
            return Err(msg!("size expected, got {}", type_name(l, i)));
        }
        integer_at(l, i)
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
        host(l).lock().forward = forward;
        ffi::lua_settop(l, 1);
        ffi::lua_rawsetp(l, ffi::LUA_REGISTRYINDEX, callback_key());
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

/// Packs the stack values `from..=to` onto `out`. Calls only Lua functions that cannot
/// raise (type reads, `lua_rawlen`, `lua_rawgeti`, `lua_next` over a table no code changes
/// meanwhile, `lua_checkstack`), so `out` may be an owned buffer.
unsafe fn pack_stack<B: PackBuf>(
    l: *mut lua_State,
    from: c_int,
    to: c_int,
    out: &mut B,
) -> Result<(), Msg> {
    let mut bad: Option<Msg> = None;
    let r = Packer::with(out, |p| {
        for i in from..=to {
            // SAFETY: per this function's contract.
            unsafe { pack_value(l, i, p, &mut bad)? };
        }
        Ok(())
    });
    match (bad, r) {
        (Some(m), _) => Err(m),
        (None, Err(e)) => Err(msg!("{e}")),
        (None, Ok(())) => Ok(()),
    }
}

/// Stops the packer with a message of ours (the packer's closure returns seri's errors).
fn stop(bad: &mut Option<Msg>, m: Msg) -> skynet_seri::Error {
    *bad = Some(m);
    skynet_seri::Error::Type {
        expected: "a value skynet.pack can carry",
        got: "another",
    }
}

unsafe fn pack_value<B: PackBuf>(
    l: *mut lua_State,
    i: c_int,
    p: &mut Packer<'_, B>,
    bad: &mut Option<Msg>,
) -> Result<(), skynet_seri::Error> {
    // SAFETY: `i` is an absolute index of a live stack slot; no call here raises.
    unsafe {
        match ffi::lua_type(l, i) {
            ffi::LUA_TNIL => p.nil(),
            ffi::LUA_TBOOLEAN => p.boolean(ffi::lua_toboolean(l, i) != 0),
            ffi::LUA_TNUMBER => {
                if ffi::lua_isinteger(l, i) != 0 {
                    p.integer(ffi::lua_tointegerx(l, i, std::ptr::null_mut()))
                } else {
                    p.real(ffi::lua_tonumberx(l, i, std::ptr::null_mut()))
                }
            }
            ffi::LUA_TSTRING => p.string(string_at(l, i)),
            ffi::LUA_TLIGHTUSERDATA => p.lightuserdata(ffi::lua_touserdata(l, i) as usize as u64),
            ffi::LUA_TTABLE => pack_table(l, i, p, bad),
            _ => {
                let m = msg!("Unsupport type {} to serialize", type_name(l, i));
                Err(stop(bad, m))
            }
        }
    }
}

/// A table: `1..#t` by raw length, then every other pair in `next` order (lua-seri.c's).
unsafe fn pack_table<B: PackBuf>(
    l: *mut lua_State,
    t: c_int,
    p: &mut Packer<'_, B>,
    bad: &mut Option<Msg>,
) -> Result<(), skynet_seri::Error> {
    // SAFETY: as `pack_value`; every push is matched by a pop on success, and on failure
    // the caller raises (which discards the stack) or restores the top.
    unsafe {
        if ffi::lua_checkstack(l, 3) == 0 {
            return Err(stop(bad, Msg::from("stack overflow (packing a table)")));
        }
        let n = ffi::lua_rawlen(l, t);
        p.begin_table(n)?;
        for k in 1..=n {
            ffi::lua_rawgeti(l, t, k as ffi::lua_Integer);
            let top = ffi::lua_gettop(l);
            pack_value(l, top, p, bad)?;
            ffi::lua_pop(l, 1);
        }
        ffi::lua_pushnil(l);
        while ffi::lua_next(l, t) != 0 {
            let top = ffi::lua_gettop(l);
            if ffi::lua_isinteger(l, top - 1) != 0 {
                let k = ffi::lua_tointegerx(l, top - 1, std::ptr::null_mut());
                if k >= 1 && (k as u64) <= n as u64 {
                    ffi::lua_pop(l, 1);
                    continue;
                }
            }
            p.key(|p| pack_value(l, top - 1, p, bad))?;
            pack_value(l, top, p, bad)?;
            ffi::lua_pop(l, 1);
        }
        p.end_table()
    }
}

/// `pack(...)` -> lightuserdata, sz: a buffer the host keeps until sent or trashed.
unsafe extern "C-unwind" fn l_pack(l: *mut lua_State) -> c_int {
    // SAFETY: packing raises nothing; the buffer goes to the host before anything is
    // pushed, and pushing a light userdata and an integer never raises.
    unsafe {
        let n = ffi::lua_gettop(l);
        let h = host(l);
        let r = with_pack_scratch(|out| {
            pack_stack(l, 1, n, out)?;
            let len = out.len();
            let p = if len <= COPY_UP_TO {
                h.lock().keep_packed(out)
            } else {
                // A large message: the buffer's storage is moved out whole (no copy; the
                // next `pack` grows a new one).
                h.lock().keep(Bytes::from(std::mem::take(out)))
            };
            Ok((p, len))
        });
        match r {
            Ok((p, len)) => {
                ffi::lua_pushlightuserdata(l, p as *mut c_void);
                ffi::lua_pushinteger(l, len as i64);
                2
            }
            Err(m) => raise(l, &m),
        }
    }
}

/// Runs `f` with this thread's packing buffer, emptied (its capacity stays for the next
/// `pack`: a small message then costs one allocation, its exact-size `Bytes`).
fn with_pack_scratch<T>(f: impl FnOnce(&mut Vec<u8>) -> T) -> T {
    thread_local! {
        static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut out) => {
            out.clear();
            f(&mut out)
        }
        // Not reachable (packing runs no Lua code, so it never re-enters), but a fresh
        // buffer is as correct.
        Err(_) => f(&mut Vec::new()),
    })
}

/// Packed messages up to this size are copied out of the scratch buffer (into a slot of
/// the host when short, else one exact allocation that `Bytes` frees without a shared
/// header).
const COPY_UP_TO: usize = 4096;

/// `packstring(...)` -> string.
unsafe extern "C-unwind" fn l_packstring(l: *mut lua_State) -> c_int {
    // SAFETY: the bytes are packed into the host's scratch buffer and left there while
    // `lua_pushlstring` copies them (it may raise: nothing owned is live then).
    unsafe {
        let n = ffi::lua_gettop(l);
        let h = host(l);
        let r = {
            let mut out = std::mem::take(&mut h.lock().scratch);
            out.clear();
            let r = pack_stack(l, 1, n, &mut out);
            let (p, len) = (out.as_ptr(), out.len());
            h.lock().scratch = out;
            r.map(|()| (p, len))
        };
        match r {
            Ok((p, len)) => {
                ffi::lua_pushlstring(l, p.cast(), len);
                1
            }
            Err(m) => raise(l, &m),
        }
    }
}

/// Why unpacking stopped (seri's texts).
enum UnpackError {
    Invalid(usize),
    TooDeep,
    NanKey,
    Stack,
}

impl UnpackError {
    fn msg(&self) -> Msg {
        match self {
            UnpackError::Invalid(rest) => msg!("Invalid serialize stream {rest}"),
            UnpackError::TooDeep => Msg::from("serialize can't unpack too depth table"),
            UnpackError::NanKey => Msg::from("table index is NaN"),
            UnpackError::Stack => Msg::from("stack overflow (too many values to unpack)"),
        }
    }
}

impl From<skynet_seri::Error> for UnpackError {
    fn from(e: skynet_seri::Error) -> Self {
        match e {
            skynet_seri::Error::UnpackTooDeep => UnpackError::TooDeep,
            skynet_seri::Error::InvalidStream { remaining } => UnpackError::Invalid(remaining),
            // The wire cursor raises no other error.
            _ => UnpackError::Invalid(0),
        }
    }
}

/// Reads `skynet.pack` bytes straight onto a Lua stack (lua-seri.c's `unpack_one`); the
/// format itself is read by seri's [`Cursor`](skynet_seri::wire::Cursor).
struct Reader<'a> {
    cursor: Cursor<'a>,
}

impl Reader<'_> {
    fn remaining(&self) -> usize {
        self.cursor.remaining()
    }

    /// Pushes one value (a nil for the end marker of a table: the caller looks at the
    /// result). Returns false for a nil.
    ///
    /// # Safety
    /// The stack has room for one more value; pushing may raise (memory), so the caller
    /// holds no owned Rust value.
    unsafe fn value(&mut self, l: *mut lua_State, depth: usize) -> Result<bool, UnpackError> {
        // SAFETY: per this function's contract; a string's bytes are in the input, which
        // stays alive (see `l_unpack`).
        unsafe {
            match self.cursor.item(depth)? {
                Item::Nil => {
                    ffi::lua_pushnil(l);
                    return Ok(false);
                }
                Item::Bool(b) => ffi::lua_pushboolean(l, c_int::from(b)),
                Item::Int(i) => ffi::lua_pushinteger(l, i),
                Item::Real(r) => ffi::lua_pushnumber(l, r),
                Item::LightUserdata(p) => ffi::lua_pushlightuserdata(l, p as usize as *mut c_void),
                Item::Str { bytes, .. } => {
                    ffi::lua_pushlstring(l, bytes.as_ptr().cast(), bytes.len());
                }
                Item::Table { array } => self.table(l, array, depth)?,
            }
        }
        Ok(true)
    }

    unsafe fn table(
        &mut self,
        l: *mut lua_State,
        count: usize,
        depth: usize,
    ) -> Result<(), UnpackError> {
        // SAFETY: per `value`'s contract; the table stays at the top between pushes.
        unsafe {
            if ffi::lua_checkstack(l, 4) == 0 {
                return Err(UnpackError::Stack);
            }
            // Every item takes at least one byte: never reserve more than the input fills.
            let narr = c_int::try_from(count.min(self.remaining())).unwrap_or(c_int::MAX);
            ffi::lua_createtable(l, narr, 0);
            for k in 1..=count {
                self.value(l, depth + 1)?;
                ffi::lua_rawseti(l, -2, k as ffi::lua_Integer);
            }
            loop {
                if !self.value(l, depth + 1)? {
                    ffi::lua_pop(l, 1);
                    break;
                }
                if ffi::lua_type(l, -1) == ffi::LUA_TNUMBER && ffi::lua_isinteger(l, -1) == 0 {
                    let f = ffi::lua_tonumberx(l, -1, std::ptr::null_mut());
                    if f.is_nan() {
                        return Err(UnpackError::NanKey);
                    }
                }
                self.value(l, depth + 1)?;
                ffi::lua_rawset(l, -3);
            }
        }
        Ok(())
    }
}

/// `unpack(msg, sz)` or `unpack(string)` -> values.
pub(crate) unsafe extern "C-unwind" fn l_unpack(l: *mut lua_State) -> c_int {
    // SAFETY: per `unpack_args`'s contract (this is a closure made by `install`); the
    // error is raised with nothing owned live.
    unsafe {
        match unpack_args(l, host(l), 1) {
            Ok(n) => n,
            Err(m) => raise(l, &m),
        }
    }
}

/// `unpack`'s work: the message at stack index `at` (a string, or a pointer with its
/// size at `at + 1`) unpacked onto the top of the stack; the count of values pushed, or
/// the error to raise (the stack may then hold some of the values).
///
/// # Safety
/// `l` is running a C function (so its stack may grow), `h` is its service's host, and
/// the caller holds no owned Rust value (pushing may raise a memory error).
#[inline(always)]
pub(crate) unsafe fn unpack_args(l: *mut lua_State, h: &HostCell, at: c_int) -> Result<c_int, Msg> {
    // SAFETY: the input is a string held at stack index `at`, the current message (kept
    // by the host until the callback returns), a `pack` buffer pinned in the host (a
    // finalizer run by a collection step could trash it meanwhile) or a short one's bytes
    // copied into `copy` (plain bytes on this frame); pinning leaves nothing owned here,
    // so a raise while pushing skips no destructor.
    unsafe {
        let copy: Small;
        let (p, len, pinned) = match ffi::lua_type(l, at) {
            ffi::LUA_TNONE | ffi::LUA_TNIL => return Ok(0),
            ffi::LUA_TSTRING => {
                let s = string_at(l, at);
                (s.as_ptr(), s.len(), false)
            }
            ffi::LUA_TLIGHTUSERDATA => {
                let p = ffi::lua_touserdata(l, at) as usize;
                let sz = size_at(l, at + 1)?;
                let r = h.lock().pin(p, sz);
                match r {
                    Some(Pin::Stays) => (p as *const u8, sz, false),
                    Some(Pin::Pinned) => (p as *const u8, sz, true),
                    Some(Pin::Copied(small)) => {
                        copy = small;
                        let b = copy.as_slice();
                        (b.as_ptr(), b.len(), false)
                    }
                    None => return Err(Msg::from("invalid message pointer")),
                }
            }
            _ => return Err(msg!("invalid param {}", type_name(l, at))),
        };
        let data: &[u8] = if len == 0 {
            &[]
        } else {
            std::slice::from_raw_parts(p, len)
        };
        let base = ffi::lua_gettop(l);
        let mut r = Reader {
            cursor: Cursor::new(data),
        };
        let mut err = None;
        while r.remaining() > 0 {
            if ffi::lua_checkstack(l, 2) == 0 {
                err = Some(UnpackError::Stack);
                break;
            }
            if let Err(e) = r.value(l, 0) {
                err = Some(e);
                break;
            }
        }
        if pinned {
            h.lock().unpin();
        }
        match err {
            Some(e) => Err(e.msg()),
            None => Ok(ffi::lua_gettop(l) - base),
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
        (c"resume", l_resume),
        (c"callback", l_callback),
        (c"dispatcher", crate::dispatch::l_dispatcher),
        (c"trash", l_trash),
        (c"tostring", l_tostring),
        (c"pack", l_pack),
        (c"packstring", l_packstring),
        (c"unpack", l_unpack),
    ];
    // SAFETY: per the contract.
    unsafe {
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
