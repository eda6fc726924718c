//! [`LuaState`]: a service's Lua state, made by the C API with its own [`Arena`] as the
//! allocator and the standard libraries skynet's library needs, then handed to mlua (as
//! a state mlua does not own: this type closes it, then frees the arena).

use std::ffi::{c_int, CStr};
use std::mem::ManuallyDrop;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use mlua::ffi::{self, lua_State};
use mlua::Lua;

use crate::alloc::{self, Arena};

/// A Lua state with its arena. Derefs to its [`Lua`]; `used_memory` and
/// `set_memory_limit` are the arena's (mlua's own only work with mlua's allocator).
pub(crate) struct LuaState {
    /// mlua's handle (not the owner: dropping it leaves the state open).
    lua: ManuallyDrop<Lua>,
    main: *mut lua_State,
    arena: *mut Arena,
}

// SAFETY: the state and its arena are used by one thread at a time (the worker running
// the service, or the thread dropping it): moving them between threads is what mlua's
// `send` feature allows for `Lua` itself; the raw pointers add no shared access.
unsafe impl Send for LuaState {}

impl std::ops::Deref for LuaState {
    type Target = Lua;
    fn deref(&self) -> &Lua {
        &self.lua
    }
}

impl LuaState {
    /// A new state with the standard libraries a service needs open (most of them fill
    /// in on first use), as mlua's `Lua` without owning it. Its collector is stopped:
    /// `gc_restart` once the scripts it starts with have loaded.
    pub(crate) fn new() -> mlua::Result<LuaState> {
        let arena = Box::into_raw(Arena::new());
        // SAFETY: `arena` is a live arena that only this state will use; the allocator
        // follows Lua's contract (tests in `alloc`). A null state (out of memory) frees
        // the arena and fails.
        let main = unsafe { ffi::lua_newstate(alloc::lua_alloc, arena.cast(), seed()) };
        if main.is_null() {
            // SAFETY: from Box::into_raw above; the failed state holds nothing of it.
            drop(unsafe { Box::from_raw(arena) });
            return Err(mlua::Error::MemoryError("cannot create a Lua state".into()));
        }
        // No collection while the state is set up (it allocates only what it keeps):
        // `LuaService::start` restarts the collector once the scripts have loaded.
        // SAFETY: a new state running nothing; LUA_GCSTOP never raises.
        unsafe {
            ffi::lua_gc(main, ffi::LUA_GCSTOP);
        }
        // From here on the state is closed by LuaState's drop, whatever fails.
        // SAFETY: `main` is the new state, running nothing; `open_libs` runs in protected
        // mode (`lua_pcall`), so an error (out of memory) unwinds to here, not past Rust.
        let rc = unsafe {
            ffi::lua_pushcfunction(main, open_libs);
            ffi::lua_pcall(main, 0, 0, 0)
        };
        if rc != ffi::LUA_OK {
            // SAFETY: as above: a live state nothing else refers to, then its arena.
            unsafe {
                ffi::lua_close(main);
                drop(Box::from_raw(arena));
            }
            return Err(mlua::Error::MemoryError("cannot open the libraries".into()));
        }
        // SAFETY: `main` is a live main thread without mlua data; mlua then keeps its data
        // in the registry (closed with the state) and does not own the state. The clone is
        // the handle we keep: `LuaState` outlives every use of it and drops it before
        // closing the state.
        let lua = unsafe { Lua::get_or_init_from_ptr(main).clone() };
        Ok(LuaState {
            lua: ManuallyDrop::new(lua),
            main,
            arena,
        })
    }

    /// Bytes the Lua heap holds (every allocation of the state, strings built by
    /// `string.rep` and `luaL_Buffer` included).
    pub(crate) fn used_memory(&self) -> usize {
        // SAFETY: the arena lives as long as `self`; no Lua code runs while a `&self`
        // method of the service reads it (the service's thread is here).
        unsafe { (*self.arena).used() }
    }

    /// Sets the memory limit (0: none); returns the previous one.
    pub(crate) fn set_memory_limit(&self, limit: usize) -> usize {
        // SAFETY: as in `used_memory`: no Lua code of this state runs now.
        unsafe { (*self.arena).set_limit(limit) }
    }

    /// Gives the arena's empty blocks back (after a collection); returns the bytes.
    pub(crate) fn release_empty(&self) -> usize {
        // SAFETY: as in `used_memory`: no Lua code of this state runs now.
        unsafe { (*self.arena).release_empty() }
    }

    /// The main thread.
    pub(crate) fn main(&self) -> *mut lua_State {
        self.main
    }
}

impl Drop for LuaState {
    fn drop(&mut self) {
        // SAFETY: our handle goes first (it holds no Lua value); then the state is closed
        // (mlua's registry data is finalized with it; no other handle of it is used after
        // this: the service drops its host functions' data only after), then its arena,
        // which nothing refers to any more.
        unsafe {
            ManuallyDrop::drop(&mut self.lua);
            ffi::lua_close(self.main);
            drop(Box::from_raw(self.arena));
        }
    }
}

/// Sets the memory limit of the state `lua` was made from (0: none).
pub(crate) fn set_memory_limit(lua: &Lua, limit: usize) -> mlua::Result<()> {
    // SAFETY: exec_raw runs the closure with the state's current thread, and no Lua code
    // runs meanwhile; the stack is untouched.
    unsafe {
        lua.exec_raw::<()>((), |l| {
            if let Some(a) = alloc::arena_of(l) {
                (*a).set_limit(limit);
            }
        })
    }
}

/// Opens base and package; the other libraries open on first use ([`crate::stdlib`],
/// `raw::install_lazy_libs`).
unsafe extern "C-unwind" fn open_libs(l: *mut lua_State) -> c_int {
    type F = unsafe extern "C-unwind" fn(*mut lua_State) -> c_int;
    const LIBS: &[(&CStr, F)] = &[
        (c"_G", ffi::luaopen_base),
        (c"package", ffi::luaopen_package),
    ];
    // SAFETY: called by `lua_pcall` on a fresh state; each require leaves one value,
    // popped.
    unsafe {
        for (name, open) in LIBS {
            ffi::luaL_requiref(l, name.as_ptr(), *open, 1);
            ffi::lua_pop(l, 1);
        }
        crate::stdlib::install(l);
        crate::raw::install_lazy_libs(l);
    }
    0
}

/// A hash seed per state: a process-wide random base (once) mixed with a counter
/// (splitmix64), instead of a `getrandom` call per state.
fn seed() -> u32 {
    static BASE: OnceLock<u64> = OnceLock::new();
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let base = *BASE.get_or_init(|| {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let local = 0u8;
        t ^ (&raw const local as usize as u64).rotate_left(32) ^ u64::from(std::process::id())
    });
    let mut z = base.wrapping_add(NEXT.fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed));
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    (z ^ (z >> 31)) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `io`, `os` and `utf8` open on first read, and a field the program set in one
    /// before that stays.
    #[test]
    fn a_lazily_opened_library_keeps_what_the_program_set() {
        let s = LuaState::new().expect("a state");
        let r: (String, bool, String, bool) = s
            .load(
                "os.exit = 'mine'; utf8.char = 'kept'\n\
                 local opened = type(os.time()) == 'number'\n\
                 local pattern = utf8.charpattern ~= nil\n\
                 return os.exit, opened, utf8.char, pattern",
            )
            .eval()
            .expect("runs");
        assert_eq!(r, ("mine".to_string(), true, "kept".to_string(), true));
    }

    #[test]
    fn a_state_counts_limits_and_closes() {
        let s = LuaState::new().expect("a state");
        s.gc_restart();
        let base = s.used_memory();
        assert!(base > 1000, "{base}");
        s.load("big = string.rep('x', 100000)")
            .exec()
            .expect("runs");
        assert!(s.used_memory() > base + 100_000);
        s.set_memory_limit(s.used_memory() + 50_000);
        let e = s
            .load("local t = {} for i = 1, 1e6 do t[i] = {} end")
            .exec();
        assert!(matches!(e, Err(mlua::Error::MemoryError(_))), "{e:?}");
        // still usable, and the limit can go through mlua's handle too
        set_memory_limit(&s, 0).expect("set");
        s.load("local t = {} for i = 1, 1e4 do t[i] = {} end")
            .exec()
            .expect("runs");
        // a finalizer that allocates while the state closes
        s.load("setmetatable({}, {__gc = function() local t = {} for i = 1, 100 do t[i] = {i} end end})")
            .exec()
            .expect("runs");
        let f: mlua::Function = s
            .load("return function(x) return x .. os.date('%Y') end")
            .eval()
            .expect("f");
        assert!(f.call::<String>("y").expect("call").starts_with('y'));
        drop(s);
    }
}
