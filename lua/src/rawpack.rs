//! `skynet.core`'s `pack`, `packstring` and `unpack` as raw `lua_CFunction`s (split from
//! [`raw`](crate::raw), whose rules they follow): `pack` walks Lua values straight into
//! `skynet.pack` bytes, `unpack` pushes values straight from them (seri's wire format), with
//! no intermediate values. The dispatcher calls [`unpack_args`] for a request directly.

use std::ffi::{c_int, c_void};
use std::fmt::Write as _;

use bytes::Bytes;
use mlua::ffi::{self, lua_State};
use skynet_seri::wire::{Cursor, Item};
use skynet_seri::{PackBuf, Packer};

use crate::host::{HostCell, Pin};
use crate::payload::Small;
use crate::raw::{host, msg, raise, size_at, string_at, type_name, Msg};

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
pub(crate) unsafe extern "C-unwind" fn l_pack(l: *mut lua_State) -> c_int {
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
pub(crate) unsafe extern "C-unwind" fn l_packstring(l: *mut lua_State) -> c_int {
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
        // A C function gets `LUA_MINSTACK` free slots above its arguments.
        match unpack_args(l, host(l), 1, ffi::LUA_MINSTACK) {
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
/// `l` is running a C function (so its stack may grow), `h` is its service's host, the
/// stack surely has `room` free slots above its top (more are asked for as needed), and
/// the caller holds no owned Rust value (pushing may raise a memory error).
#[inline(always)]
pub(crate) unsafe fn unpack_args(
    l: *mut lua_State,
    h: &HostCell,
    at: c_int,
    room: c_int,
) -> Result<c_int, Msg> {
    // SAFETY: the input is a string held at stack index `at`, the current message (kept
    // by the host until the callback returns), a `pack` buffer pinned in the host (a
    // finalizer run by a collection step could trash it meanwhile) or a short one's bytes
    // copied into `copy` (plain bytes on this frame); pinning leaves nothing owned here,
    // so a raise while pushing skips no destructor.
    unsafe {
        let (p, len, pinned) = match ffi::lua_type(l, at) {
            ffi::LUA_TNONE | ffi::LUA_TNIL => return Ok(0),
            ffi::LUA_TSTRING => {
                let s = string_at(l, at);
                (s.as_ptr(), s.len(), false)
            }
            ffi::LUA_TLIGHTUSERDATA => {
                let p = ffi::lua_touserdata(l, at) as usize;
                let sz = size_at(l, at + 1)?;
                return unpack_pointer(l, h, p, sz, room);
            }
            _ => return Err(msg!("invalid param {}", type_name(l, at))),
        };
        unpack_bytes(l, h, p, len, pinned, room)
    }
}

/// `unpack(ptr, sz)`'s work for a pointer and size given as numbers (the host's dispatcher
/// has the message's as Rust values): as `unpack_args` with a light userdata.
///
/// # Safety
/// As `unpack_args`.
#[inline(always)]
unsafe fn unpack_pointer(
    l: *mut lua_State,
    h: &HostCell,
    p: usize,
    sz: usize,
    room: c_int,
) -> Result<c_int, Msg> {
    // SAFETY: as `unpack_args`: the bytes are the current message, a pinned `pack`
    // buffer, or a short one's copied into `copy`, on this frame.
    unsafe {
        let copy: Small;
        let r = h.lock().pin(p, sz);
        let (p, len, pinned) = match r {
            Some(Pin::Stays) => (p as *const u8, sz, false),
            Some(Pin::Pinned) => (p as *const u8, sz, true),
            Some(Pin::Copied(small)) => {
                copy = small;
                let b = copy.as_slice();
                (b.as_ptr(), b.len(), false)
            }
            None => return Err(Msg::from("invalid message pointer")),
        };
        unpack_bytes(l, h, p, len, pinned, room)
    }
}

/// `unpack(ptr, sz)`'s work for the message being handled (`Host::enter_message`'s
/// address and size): its bytes stay put until the callback returns, so nothing is
/// looked up or pinned.
///
/// # Safety
/// As `unpack_args`; `p` and `sz` are the current message's.
#[inline(always)]
pub(crate) unsafe fn unpack_current(
    l: *mut lua_State,
    h: &HostCell,
    p: usize,
    sz: usize,
    room: c_int,
) -> Result<c_int, Msg> {
    // SAFETY: the caller's: the host holds the bytes (`current`) until the callback ends.
    unsafe { unpack_bytes(l, h, p as *const u8, sz, false, room) }
}

/// Pushes the values `len` bytes at `p` hold (`pinned`: a `pack` buffer the host pins,
/// unpinned at the end).
///
/// # Safety
/// As `unpack_args`; the bytes stay valid until this returns.
#[inline(always)]
unsafe fn unpack_bytes(
    l: *mut lua_State,
    h: &HostCell,
    p: *const u8,
    len: usize,
    pinned: bool,
    room: c_int,
) -> Result<c_int, Msg> {
    // SAFETY: the caller's: `p` points at `len` readable bytes; pushing may raise with
    // nothing owned live (a pinned buffer is the host's).
    unsafe {
        let data: &[u8] = if len == 0 {
            &[]
        } else {
            std::slice::from_raw_parts(p, len)
        };
        let mut r = Reader {
            cursor: Cursor::new(data),
        };
        let mut err = None;
        // Each value takes one slot (a table asks for its own room while it is built),
        // and at least two must be free before each: `lua_checkstack` only when the known
        // room runs short, for sixteen more.
        let mut room = room;
        let mut pushed = 0; // a value pushes one slot (`Reader::value`)
        while r.remaining() > 0 {
            if room < 2 {
                if ffi::lua_checkstack(l, 16) == 0 {
                    err = Some(UnpackError::Stack);
                    break;
                }
                room = 16;
            }
            if let Err(e) = r.value(l, 0) {
                err = Some(e);
                break;
            }
            room -= 1;
            pushed += 1;
        }
        if pinned {
            h.lock().unpin();
        }
        match err {
            Some(e) => Err(e.msg()),
            None => Ok(pushed),
        }
    }
}
