//! Running a state with the C API alone, so that a service that only runs Lua code and
//! the host's C functions never needs mlua's setup of its state (58 k instructions and
//! three dozen protected calls per state, session 10): protected calls of Rust code,
//! calls whose errors read as mlua's, and the way to mlua for the rare paths (built on
//! first use, [`crate::vm::mlua_of`]).
//!
//! The rules of [`raw`](crate::raw) hold here: a Lua error is a `longjmp`, raised only
//! where no owned Rust value is live; functions that may raise run in protected mode.

use std::cell::UnsafeCell;
use std::ffi::{c_int, c_void};

use mlua::ffi::{self, lua_State};
use mlua::{Function, Lua};

/// Runs `f` on `l` in protected mode (a Lua error in it, from an allocation or a call,
/// comes back as the status, the error object left at the top); `LUA_OK` else. `f` must
/// follow the module's rule: no owned Rust value live where it may raise.
///
/// # Safety
/// `l` is a live thread that runs no Lua code now (or the running one, from a C
/// function), with two free stack slots.
pub(crate) unsafe fn pcall_rust(l: *mut lua_State, f: &mut dyn FnMut(*mut lua_State)) -> c_int {
    // SAFETY: per the contract.
    unsafe { pcall_rust_n(l, f, 0) }
}

/// [`pcall_rust`] leaving what `f` pushed on `l`'s stack (`LUA_MULTRET`) when it
/// returns, or nothing (`nresults` 0).
///
/// # Safety
/// As [`pcall_rust`].
unsafe fn pcall_rust_n(
    l: *mut lua_State,
    f: &mut dyn FnMut(*mut lua_State),
    nresults: c_int,
) -> c_int {
    unsafe extern "C-unwind" fn run(l: *mut lua_State) -> c_int {
        // SAFETY: pushed below with a pointer to a `&mut dyn FnMut` that outlives the call.
        unsafe {
            let f = ffi::lua_touserdata(l, 1).cast::<&mut dyn FnMut(*mut lua_State)>();
            ffi::lua_settop(l, 0);
            (*f)(l);
            ffi::lua_gettop(l)
        }
    }
    let mut f = f;
    let p: *mut &mut dyn FnMut(*mut lua_State) = &mut f;
    // SAFETY: per the contract; pushing a C function and a light userdata never raises.
    unsafe {
        ffi::lua_pushcfunction(l, run);
        ffi::lua_pushlightuserdata(l, p.cast::<c_void>());
        ffi::lua_pcall(l, 1, nresults, 0)
    }
}

/// mlua's message handler (`error_traceback`), for errors that are not mlua's own
/// (a userdata is left as it is: an mlua callback's error is one): the error as
/// `tostring` gives it, then a traceback.
pub(crate) unsafe extern "C-unwind" fn traceback(l: *mut lua_State) -> c_int {
    // SAFETY: called by Lua as a message handler with the error object at 1.
    unsafe {
        if ffi::lua_checkstack(l, 2) == 0 || ffi::lua_type(l, -1) == ffi::LUA_TUSERDATA {
            return 1;
        }
        let s = ffi::luaL_tolstring(l, -1, std::ptr::null_mut());
        if ffi::lua_checkstack(l, ffi::LUA_TRACEBACK_STACK) != 0 {
            ffi::luaL_traceback(l, l, s, 0);
            ffi::lua_remove(l, -2);
        }
    }
    1
}

/// The error object a failed call or load left at the top of `l` (popped), as mlua's
/// `Function::call` and `Chunk::into_function` report it: mlua's own error when it is one
/// (a callback's), else by the status, with the text.
///
/// # Safety
/// `l` is a live thread that runs no Lua code now, an error object at its top.
pub(crate) unsafe fn take_error(l: *mut lua_State, status: c_int) -> mlua::Error {
    // SAFETY: per the contract.
    unsafe {
        if ffi::lua_type(l, -1) == ffi::LUA_TUSERDATA {
            // Maybe an mlua callback's error (then mlua is set up): mlua reads it.
            let top = ffi::lua_gettop(l);
            let rc = pcall_rust(l, &mut |l| {
                ffi::lua_pushvalue(l, top);
                ffi::lua_setfield(l, ffi::LUA_REGISTRYINDEX, c"skynet.error".as_ptr());
            });
            if rc == ffi::LUA_OK {
                ffi::lua_settop(l, top - 1);
                let lua = crate::vm::mlua_of(l);
                let v = lua.named_registry_value::<mlua::Value>("skynet.error");
                let _ = lua.unset_named_registry_value("skynet.error");
                match v {
                    Ok(mlua::Value::Error(e)) => return *e,
                    Ok(other) => {
                        let text = other.to_string().unwrap_or_default();
                        return by_status(status, text);
                    }
                    Err(e) => return e,
                }
            }
            ffi::lua_settop(l, top); // the setfield's error: report the original
        }
        let text = crate::raw::error_text(l);
        ffi::lua_pop(l, 1);
        by_status(status, text)
    }
}

fn by_status(status: c_int, text: String) -> mlua::Error {
    match status {
        ffi::LUA_ERRSYNTAX => mlua::Error::SyntaxError {
            incomplete_input: text.ends_with("<eof>") || text.ends_with("'<eof>'"),
            message: text,
        },
        ffi::LUA_ERRMEM => mlua::Error::MemoryError(text),
        _ => mlua::Error::RuntimeError(text),
    }
}

/// In protected mode: `prepare` pushes a function (`Some(LUA_OK)`: the only value it
/// leaves), or fails with its error object pushed (`Some(status)`: a load's), or finds
/// nothing to call (`None`); the function is then called with the strings `args` and
/// mlua's message handler.
/// True when it was called; an error reads as mlua's `Chunk::into_function` or
/// `Function::call` gives it.
///
/// # Safety
/// `l` is a live thread that runs no Lua code now, with two free stack slots; `prepare`
/// follows the module's rule (no owned value live where it may raise).
pub(crate) unsafe fn run_function(
    l: *mut lua_State,
    prepare: &mut dyn FnMut(*mut lua_State) -> Option<c_int>,
    args: &[&str],
) -> mlua::Result<bool> {
    let mut status = ffi::LUA_OK;
    let mut called = false;
    // SAFETY: per the contract. The preparation (which may raise) runs in a protected
    // call that leaves the handler, the function and the arguments on `l`; the function
    // is then called from here, as mlua's `Function::call` does (so its traceback ends
    // with its own frames). No owned value of the closure is live where it may raise
    // (the flags are the caller's).
    unsafe {
        let base = ffi::lua_gettop(l);
        let rc = pcall_rust_n(
            l,
            &mut |l| {
                match prepare(l) {
                    None => {
                        ffi::lua_settop(l, 0);
                        return;
                    }
                    Some(ffi::LUA_OK) => {}
                    Some(st) => {
                        status = st;
                        ffi::lua_error(l);
                    }
                }
                ffi::luaL_checkstack(l, args.len() as c_int + 2, std::ptr::null());
                ffi::lua_settop(l, 1); // the function
                ffi::lua_pushcfunction(l, traceback);
                ffi::lua_insert(l, 1);
                for a in args {
                    ffi::lua_pushlstring(l, a.as_ptr().cast(), a.len());
                }
                called = true;
            },
            ffi::LUA_MULTRET,
        );
        if rc != ffi::LUA_OK {
            let st = if status != ffi::LUA_OK { status } else { rc };
            let e = take_error(l, st);
            ffi::lua_settop(l, base);
            return Err(e);
        }
        if !called {
            ffi::lua_settop(l, base);
            return Ok(false);
        }
        let st = ffi::lua_pcall(l, args.len() as c_int, 0, base + 1);
        let r = if st == ffi::LUA_OK {
            Ok(true)
        } else {
            Err(take_error(l, st))
        };
        ffi::lua_settop(l, base);
        r
    }
}

thread_local! {
    /// Where a C function puts bytes it is about to push (the push may raise: no owned
    /// value of its frame may be live then).
    static SCRATCH: UnsafeCell<Vec<u8>> = const { UnsafeCell::new(Vec::new()) };
}

/// Pushes `s` as a Lua string through this thread's scratch buffer: `s` can be dropped
/// before the push, which may raise (memory).
///
/// # Safety
/// `l` is the running thread of a C function, with a free stack slot; the caller holds
/// no owned Rust value (the string given is moved in and dropped here first).
pub(crate) unsafe fn push_owned(l: *mut lua_State, s: String) {
    let buf = SCRATCH.with(UnsafeCell::get);
    // SAFETY: the buffer is this thread's, used only here and never across a call that
    // could come back here (pushing a string runs no Lua code).
    unsafe {
        (*buf).clear();
        (*buf).extend_from_slice(s.as_bytes());
        drop(s);
        ffi::lua_pushlstring(l, (*buf).as_ptr().cast(), (*buf).len());
    }
}

/// Pushes onto `l` the mlua function `make` builds (mlua's setup of the state made now
/// if it was not); false, with an error message pushed instead, when it fails.
///
/// # Safety
/// `l` is the running thread of a C function (or a thread that runs no Lua code), with
/// two free stack slots.
pub(crate) unsafe fn push_mlua(
    l: *mut lua_State,
    make: impl FnOnce(&Lua) -> mlua::Result<Function>,
) -> bool {
    // SAFETY: per the contract; the function goes through a registry field (mlua works
    // on the main thread, `l` may be a coroutine): the key is then a string the registry
    // holds, so reading it allocates nothing.
    unsafe {
        let lua = crate::vm::mlua_of(l);
        let r = make(lua).and_then(|f| lua.set_named_registry_value("skynet.mlua", f));
        match r {
            Ok(()) => {
                ffi::lua_getfield(l, ffi::LUA_REGISTRYINDEX, c"skynet.mlua".as_ptr());
                true
            }
            Err(e) => {
                push_owned(l, e.to_string());
                false
            }
        }
    }
}
