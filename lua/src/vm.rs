//! [`LuaState`]: a service's Lua state, made by the C API with its own [`Arena`] as the
//! allocator and the standard libraries skynet's library needs, then handed to mlua (as
//! a state mlua does not own: this type closes it, then frees the arena).

use std::collections::HashMap;
use std::ffi::{c_int, c_void, CString};
use std::mem::ManuallyDrop;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use mlua::ffi::{self, lua_State};
use mlua::Lua;

use crate::alloc::{self, Arena};

/// A Lua state with its arena. Derefs to its [`Lua`] (mlua's setup of the state is
/// made on first use: a service that only runs Lua code and the host's C functions never
/// needs it); `used_memory` and `set_memory_limit` are the arena's (mlua's own only work
/// with mlua's allocator).
pub(crate) struct LuaState {
    /// mlua's handle, once made (not the owner: dropping it leaves the state open).
    lua: std::cell::OnceCell<ManuallyDrop<Lua>>,
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
        self.lua.get_or_init(|| {
            // SAFETY: `main` is the live main thread of this state, which runs no Lua code
            // while a `&self` method of its service runs (or is running the C function
            // that asked: then as mlua's own module mode does). The clone is the handle
            // we keep: dropped before the state is closed.
            ManuallyDrop::new(unsafe { mlua_of(self.main) }.clone())
        })
    }
}

impl LuaState {
    /// A new state with the standard libraries a service needs open (most of them fill
    /// in on first use), as mlua's `Lua` without owning it. Its collector is stopped:
    /// `gc_restart` once the scripts it starts with have loaded.
    pub(crate) fn new() -> mlua::Result<LuaState> {
        let arena = Box::into_raw(Arena::new());
        // Every state hashes with the template's seed: that is what lets it find the
        // template's strings (and so run the template's prototypes, see `shared`).
        let seed = shared::template().map_or_else(seed, |t| t.seed);
        // SAFETY: `arena` is a live arena that only this state will use; the allocator
        // follows Lua's contract (tests in `alloc`). A null state (out of memory) frees
        // the arena and fails.
        let main = unsafe { ffi::lua_newstate(alloc::lua_alloc, arena.cast(), seed) };
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
        Ok(LuaState {
            lua: std::cell::OnceCell::new(),
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
            if let Some(lua) = self.lua.get_mut() {
                ManuallyDrop::drop(lua);
            }
            ffi::lua_close(self.main);
            drop(Box::from_raw(self.arena));
        }
    }
}

/// mlua's handle of the state `l` belongs to, its setup made now if it was not: on the
/// state's main thread (as mlua's module mode does when it is first called from a
/// coroutine), with the memory limit lifted meanwhile (mlua panics when its setup fails).
///
/// # Safety
/// `l` is a live thread of a state made by [`LuaState::new`] (or any state mlua may set
/// up), no mlua call of it in progress but the one asking; the handle must not outlive
/// the state.
pub(crate) unsafe fn mlua_of<'a>(l: *mut lua_State) -> &'a Lua {
    // SAFETY: per the contract; the registry's main-thread slot always holds the main
    // thread (`lua_rawgeti` of the registry never raises), popped after.
    unsafe {
        ffi::lua_rawgeti(l, ffi::LUA_REGISTRYINDEX, ffi::LUA_RIDX_MAINTHREAD);
        let main = ffi::lua_tothread(l, -1);
        ffi::lua_pop(l, 1);
        let main = if main.is_null() { l } else { main };
        let arena = alloc::arena_of(main);
        let limit = arena.map(|a| (*a).set_limit(0));
        let lua = Lua::get_or_init_from_ptr(main);
        if let (Some(a), Some(limit)) = (arena, limit) {
            (*a).set_limit(limit);
        }
        lua
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
    // SAFETY: called by `lua_pcall` on a fresh state; each require leaves one value,
    // popped. The globals table is replaced before anything refers to it.
    unsafe {
        // The globals made at once with room for what every service puts there (35
        // names: base, the library stubs, `package`): filled one by one from empty it
        // was rehashed seven times.
        ffi::lua_createtable(l, 0, 64);
        ffi::lua_pushvalue(l, -1);
        ffi::lua_rawseti(l, ffi::LUA_REGISTRYINDEX, ffi::LUA_RIDX_GLOBALS);
        // The base library: its fields copied from the template's globals (no name
        // interned, no `luaopen_base`), then `_G` set as `luaL_requiref` would.
        let copied = shared::template().is_some_and(|t| shared::copy_globals(l, t));
        if copied {
            ffi::lua_pushvalue(l, -1);
            ffi::lua_setfield(l, -2, c"_G".as_ptr());
            ffi::luaL_getsubtable(l, ffi::LUA_REGISTRYINDEX, ffi::LUA_LOADED_TABLE);
            ffi::lua_pushvalue(l, -2);
            ffi::lua_setfield(l, -2, c"_G".as_ptr());
            ffi::lua_pop(l, 1);
        }
        ffi::lua_pop(l, 1);
        if !copied {
            ffi::luaL_requiref(l, c"_G".as_ptr(), ffi::luaopen_base, 1);
            ffi::lua_pop(l, 1);
        }
        // `package` likewise, when the template gave its C functions.
        let package = shared::template().and_then(|t| t.package.as_ref());
        if !copied || !package.is_some_and(|p| open_package(l, p)) {
            ffi::luaL_requiref(l, c"package".as_ptr(), ffi::luaopen_package, 1);
            ffi::lua_pop(l, 1);
        }
        crate::stdlib::install(l);
        crate::raw::install_lazy_libs(l);
    }
    0
}

/// `luaopen_package` without its work that a service does not need: the `package`
/// table gets the template's `searchpath`, `loadlib` and `config` (`lua_sharedcopy`: the
/// paths too, set from the config after), `loaded` and `preload`, and the preload and Lua
/// searchers (the C ones are removed after anyway: `state::install_package`); `require`
/// and the global and `loaded` entries as `luaL_requiref` sets them. No `CLIBS` table
/// (only the C searchers and `loadlib` use it) and no environment read for the paths.
/// False (nothing done) when the copy is refused.
///
/// # Safety
/// `l` is a new state, in protected mode, with `package.loaded` made and room for 5
/// values.
unsafe fn open_package(l: *mut lua_State, p: &shared::Package) -> bool {
    // SAFETY: per the contract; every push is consumed.
    unsafe {
        ffi::lua_createtable(l, 0, 8); // package
        if !shared::copy_fields(l, p.table) {
            ffi::lua_pop(l, 1);
            return false;
        }
        ffi::luaL_getsubtable(l, ffi::LUA_REGISTRYINDEX, ffi::LUA_LOADED_TABLE);
        ffi::lua_pushvalue(l, -1);
        ffi::lua_setfield(l, -3, c"loaded".as_ptr());
        ffi::lua_pushvalue(l, -2);
        ffi::lua_setfield(l, -2, c"package".as_ptr());
        ffi::lua_pop(l, 1);
        ffi::luaL_getsubtable(l, ffi::LUA_REGISTRYINDEX, ffi::LUA_PRELOAD_TABLE);
        ffi::lua_setfield(l, -2, c"preload".as_ptr());
        ffi::lua_createtable(l, 3, 0);
        for (i, f) in p.searchers.iter().enumerate() {
            ffi::lua_pushvalue(l, -2);
            ffi::lua_pushcclosure(l, *f, 1);
            ffi::lua_rawseti(l, -2, i as ffi::lua_Integer + 1);
        }
        ffi::lua_setfield(l, -2, c"searchers".as_ptr());
        ffi::lua_pushvalue(l, -1);
        ffi::lua_pushcclosure(l, p.require, 1);
        ffi::lua_setglobal(l, c"require".as_ptr());
        ffi::lua_setglobal(l, c"package".as_ptr());
    }
    true
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

/// Function prototypes shared between states: the embedded library's chunks, loaded once
/// into a process-wide *template* state which is then frozen (the patched Lua of
/// `lua/vendor`, `lshared.c`). A state gets such a chunk as a new closure over the
/// template's prototype (`lua_sharedclone`): no undump, no copy of its functions,
/// constants or strings.
pub(crate) mod shared {
    use super::*;

    // The patched Lua's additions (lua/vendor/lua-src/lua-5.5.1/lshared.c).
    extern "C-unwind" {
        fn lua_sharedfreeze(l: *mut lua_State) -> c_int;
        fn lua_sharedproto(l: *mut lua_State, idx: c_int) -> *const c_void;
        fn lua_sharedclone(l: *mut lua_State, proto: *const c_void) -> c_int;
        fn lua_sharedgen(l: *mut lua_State);
        fn lua_sharedcopy(l: *mut lua_State, from: *const c_void) -> c_int;
    }

    /// Sets in the table at the top of `l` what the base library puts in the globals,
    /// copied from the template's globals (light C functions and `_VERSION`: see
    /// `lua_sharedcopy`); false (nothing set) when `l` does not use the template.
    ///
    /// # Safety
    /// `l` is a live thread in protected mode (the copy may raise: memory), a table at
    /// its top.
    pub(crate) unsafe fn copy_globals(l: *mut lua_State, t: &Template) -> bool {
        // SAFETY: per the contract.
        unsafe { copy_fields(l, t.globals) }
    }

    /// Sets in the table at the top of `l` the template's string metamethods (light C
    /// functions: `__index`, the template's `string`, is left out); false (nothing set)
    /// when there is none or `l` does not use the template.
    ///
    /// # Safety
    /// As [`copy_globals`].
    pub(crate) unsafe fn copy_string_meta(l: *mut lua_State, t: &Template) -> bool {
        // SAFETY: per the contract.
        unsafe { t.string_meta.is_some_and(|m| copy_fields(l, m)) }
    }

    /// `lua_sharedcopy` of a template table `from` into the table at the top of `l`.
    ///
    /// # Safety
    /// As [`copy_globals`]; `from` is a table of the frozen template.
    pub(crate) unsafe fn copy_fields(l: *mut lua_State, from: Proto) -> bool {
        // SAFETY: per the contract.
        unsafe { lua_sharedcopy(l, from.0) == 1 }
    }

    /// The template's `package`: its table, and the C functions of its closures (the
    /// preload and Lua searchers, `require`), for `open_package`.
    pub(crate) struct Package {
        pub(crate) table: Proto,
        pub(crate) searchers: [ffi::lua_CFunction; 2],
        pub(crate) require: ffi::lua_CFunction,
    }

    /// Reads the template's `package` (before the freeze: this uses its stack).
    ///
    /// # Safety
    /// `l` is the template, not frozen yet, with room for 3 values.
    unsafe fn package_of(l: *mut lua_State) -> Option<Package> {
        // SAFETY: per the contract; reads only (`lua_getfield` of existing string keys
        // interns nothing new in a state that opened the library), the stack restored.
        unsafe {
            let top = ffi::lua_gettop(l);
            let r = (|| {
                ffi::lua_getglobal(l, c"require".as_ptr());
                let require = ffi::lua_tocfunction(l, -1)?;
                if ffi::lua_getglobal(l, c"package".as_ptr()) != ffi::LUA_TTABLE {
                    return None;
                }
                let table = Proto(ffi::lua_topointer(l, -1));
                if ffi::lua_getfield(l, -1, c"searchers".as_ptr()) != ffi::LUA_TTABLE {
                    return None;
                }
                ffi::lua_rawgeti(l, -1, 1);
                let preload = ffi::lua_tocfunction(l, -1)?;
                ffi::lua_rawgeti(l, -2, 2);
                let lua = ffi::lua_tocfunction(l, -1)?;
                Some(Package {
                    table,
                    searchers: [preload, lua],
                    require,
                })
            })();
            ffi::lua_settop(l, top);
            r
        }
    }

    /// Enters the generational mode: without a collection when the state never started
    /// one (everything it holds is taken as alive and made old: a new service has just
    /// loaded what it keeps), else as `LUA_GCGEN` does (lshared.c).
    ///
    /// # Safety
    /// `l` is a live thread of a state that runs no code now.
    pub(crate) unsafe fn enter_generational(l: *mut lua_State) {
        // SAFETY: per the contract; it never raises.
        unsafe { lua_sharedgen(l) }
    }

    /// A prototype (or the globals table) of the frozen template: read-only and alive for
    /// the rest of the process.
    #[derive(Clone, Copy)]
    pub(crate) struct Proto(*const c_void);
    // SAFETY: a frozen prototype is never written, collected or freed (lshared.c), so
    // any thread may read it; the pointer itself is only handed to `lua_sharedclone`.
    unsafe impl Send for Proto {}
    // SAFETY: as for Send: shared read-only data.
    unsafe impl Sync for Proto {}

    /// The frozen template: the seed every state hashes with, and the prototypes of the
    /// embedded chunks by chunk name.
    pub(crate) struct Template {
        pub(crate) seed: u32,
        protos: HashMap<String, Proto>,
        /// The template's globals table (every standard library opened): what
        /// `copy_globals` reads.
        globals: Proto,
        /// Its `package`, if it could be read.
        pub(crate) package: Option<Package>,
        /// Its strings' metatable.
        string_meta: Option<Proto>,
    }

    /// The template, made on first use (None when it could not be made: out of memory,
    /// or a chunk failed to compile; states then load the chunks themselves).
    pub(crate) fn template() -> Option<&'static Template> {
        static T: OnceLock<Option<Template>> = OnceLock::new();
        T.get_or_init(make).as_ref()
    }

    /// Pushes a new closure over the shared chunk `chunkname` onto `l` (a state made
    /// after the template, with its seed); false (nothing pushed) when there is none.
    ///
    /// # Safety
    /// `l` is a live thread with a free stack slot, in protected mode (a failed
    /// allocation raises).
    pub(crate) unsafe fn clone_chunk(l: *mut lua_State, chunkname: &str) -> bool {
        let Some(p) = template().and_then(|t| t.protos.get(chunkname)) else {
            return false;
        };
        // SAFETY: by the caller's contract; `p` is a frozen prototype (from
        // `lua_sharedproto`), and the call checks that `l` uses the template's strings.
        unsafe { lua_sharedclone(l, p.0) == 1 }
    }

    /// The prototype of the shared chunk `chunkname`, if there is one: for
    /// [`clone_found`], when the name must be gone before the clone may raise.
    pub(crate) fn find(chunkname: &str) -> Option<*const c_void> {
        template()
            .and_then(|t| t.protos.get(chunkname))
            .map(|p| p.0)
    }

    /// Pushes a new closure over `p` (from [`find`]) onto `l`; false (nothing pushed)
    /// when `l` does not use the template's strings.
    ///
    /// # Safety
    /// As [`clone_chunk`]; `p` comes from [`find`].
    pub(crate) unsafe fn clone_found(l: *mut lua_State, p: *const c_void) -> bool {
        // SAFETY: per the contract.
        unsafe { lua_sharedclone(l, p) == 1 }
    }

    /// Compiles a chunk the way states loaded it before sharing (text, dumped, local
    /// names dropped): the bytecode the template loads.
    fn compile(lua: &Lua, src: &str, chunkname: &str) -> Option<Vec<u8>> {
        let f = lua
            .load(src)
            .set_mode(mlua::chunk::ChunkMode::Text)
            .set_name(chunkname)
            .into_function()
            .ok()?;
        let bytes = f.dump(false);
        Some(crate::strip::drop_local_names(&bytes).unwrap_or(bytes))
    }

    /// Opens every standard library in the template, so their names (and the strings
    /// they make) are shared.
    unsafe extern "C-unwind" fn open_all(l: *mut lua_State) -> c_int {
        // SAFETY: called by `lua_pcall` on the template.
        unsafe { ffi::luaL_openlibs(l) };
        0
    }

    fn make() -> Option<Template> {
        // A scratch state compiles them (mlua's own, dropped after).
        let scratch = Lua::new();
        let chunks: Vec<(String, Vec<u8>)> = crate::lualib::all_chunks()
            .map(|(name, src)| compile(&scratch, src, &name).map(|b| (name, b)))
            .collect::<Option<_>>()?;
        drop(scratch);
        // The template's arena lives as long as the process (the template is never closed).
        let arena = Box::into_raw(Arena::new());
        let seed = seed();
        // SAFETY: a live arena only this state uses (as in `LuaState::new`).
        let l = unsafe { ffi::lua_newstate(alloc::lua_alloc, arena.cast(), seed) };
        if l.is_null() {
            // SAFETY: from Box::into_raw above; the failed state holds nothing of it.
            drop(unsafe { Box::from_raw(arena) });
            return None;
        }
        let names: Vec<CString> = chunks
            .iter()
            .map(|(n, _)| CString::new(n.as_str()).ok())
            .collect::<Option<_>>()?;
        // SAFETY: `l` is a new main thread only this function uses. Each call below
        // that may raise runs in protected mode (`lua_pcall`, and `luaL_loadbufferx`'s
        // own protection); the chunks stay on the stack (roots) until their prototypes
        // are frozen. On failure the state is left unclosed and unused (a one-off leak).
        unsafe {
            ffi::lua_pushcfunction(l, open_all);
            if ffi::lua_pcall(l, 0, 0, 0) != ffi::LUA_OK
                || ffi::lua_checkstack(l, chunks.len() as c_int + 4) == 0
            {
                return None;
            }
            for ((_, code), name) in chunks.iter().zip(&names) {
                let rc = ffi::luaL_loadbufferx(
                    l,
                    code.as_ptr().cast(),
                    code.len(),
                    name.as_ptr(),
                    c"b".as_ptr(),
                );
                if rc != ffi::LUA_OK {
                    return None;
                }
            }
            ffi::lua_rawgeti(l, ffi::LUA_REGISTRYINDEX, ffi::LUA_RIDX_GLOBALS);
            let globals = Proto(ffi::lua_topointer(l, -1));
            ffi::lua_pop(l, 1);
            let package = package_of(l);
            ffi::lua_pushstring(l, c"".as_ptr());
            let string_meta = (ffi::lua_getmetatable(l, -1) != 0).then(|| {
                let m = Proto(ffi::lua_topointer(l, -1));
                ffi::lua_pop(l, 1);
                m
            });
            ffi::lua_pop(l, 1);
            ffi::lua_pushcfunction(l, freeze);
            if ffi::lua_pcall(l, 0, 1, 0) != ffi::LUA_OK || ffi::lua_toboolean(l, -1) == 0 {
                return None;
            }
            let mut protos = HashMap::new();
            for (i, (name, _)) in chunks.into_iter().enumerate() {
                let p = lua_sharedproto(l, i as c_int + 1);
                if p.is_null() {
                    return None;
                }
                protos.insert(name, Proto(p));
            }
            Some(Template {
                seed,
                protos,
                globals,
                package,
                string_meta,
            })
        }
    }

    /// Freezes the template (see lshared.c); returns true when it was.
    unsafe extern "C-unwind" fn freeze(l: *mut lua_State) -> c_int {
        // SAFETY: called by `lua_pcall` on the template, once (the OnceLock).
        unsafe {
            let ok = lua_sharedfreeze(l) == 0;
            ffi::lua_pushboolean(l, c_int::from(ok));
        }
        1
    }
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

    /// Closures share the upvalues of the locals they capture, whatever the order of
    /// capture (the sorted walk of `pushclosure`) and with more than 32 captured locals
    /// (the plain walk).
    #[test]
    fn closures_share_captured_locals() {
        let s = LuaState::new().expect("a state");
        let src = {
            let names: Vec<String> = (0..40).map(|i| format!("v{i}")).collect();
            let decl = names
                .iter()
                .enumerate()
                .map(|(i, n)| format!("local {n} = {i}\n"))
                .collect::<String>();
            // `all` reads the 40 in a scrambled order; `few` captures a late, an early
            // and a middle one; `set` writes them through its own upvalues.
            let order: Vec<usize> = (0..40).map(|i| (i * 17 + 5) % 40).collect();
            let sum = order
                .iter()
                .map(|i| format!("v{i}"))
                .collect::<Vec<_>>()
                .join(" + ");
            let bump = order
                .iter()
                .map(|i| format!("v{i} = v{i} + 1"))
                .collect::<Vec<_>>()
                .join(" ");
            format!(
                "{decl}local function all() return {sum} end\n\
                 local function few() return v39 * 10000 + v0 * 100 + v20 end\n\
                 local function set() {bump} end\n\
                 local a = all() set() local b = all()\n\
                 return a, b, few()"
            )
        };
        let r: (i64, i64, i64) = s.load(src).eval().expect("runs");
        assert_eq!(r, (780, 820, 40 * 10000 + 100 + 21));
    }

    /// The base library copied from the template: every function `luaopen_base` sets,
    /// `_G` and `_VERSION`, and `package.loaded._G`; `package` made without
    /// `luaopen_package`, and `require` through it.
    #[test]
    fn the_base_library_is_all_there() {
        shared::template().expect("the template");
        let s = LuaState::new().expect("a state");
        let ok: bool = s
            .load(
                r#"
                local names = { "assert", "collectgarbage", "dofile", "error",
                    "getmetatable", "ipairs", "loadfile", "load", "next", "pairs", "pcall",
                    "print", "warn", "rawequal", "rawlen", "rawget", "rawset", "select",
                    "setmetatable", "tonumber", "tostring", "type", "xpcall" }
                for _, n in ipairs(names) do
                    assert(type(_G[n]) == "function", n)
                end
                assert(_G._G == _G and _VERSION == "Lua 5.5" and package.loaded._G == _G)
                assert(type(require) == "function" and package.loaded.package == package)
                assert(type(package.searchpath) == "function" and #package.searchers == 2)
                assert(package.config:sub(1, 1) == "/" and type(package.path) == "string")
                assert(package.preload == debug.getregistry()._PRELOAD)
                package.preload.m = function(name) return { name = name } end
                assert(require("m").name == "m" and package.loaded.m.name == "m")
                local n = 0
                for k, v in pairs(_G) do
                    if type(v) == "function" then n = n + 1 end
                end
                return n == #names + 1 -- and require
                "#,
            )
            .eval()
            .expect("runs");
        assert!(ok);
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

    /// The embedded `skynet.queue` chunk, cloned from the template into `s`.
    fn queue_chunk(s: &Lua) -> mlua::Function {
        let src = crate::lualib::find("skynet.queue").expect("embedded");
        crate::state::load_static(s, src, &crate::lualib::chunkname("skynet.queue")).expect("loads")
    }

    /// A state gets the embedded chunks from the template; a state mlua makes (another
    /// seed, another string table) cannot clone them.
    #[test]
    fn embedded_chunks_come_from_the_template() {
        let t = shared::template().expect("the template");
        let s = LuaState::new().expect("a state");
        let f = queue_chunk(&s);
        s.globals().set("f", f).expect("set");
        let (src, what, dumped): (String, String, bool) = s
            .load(
                "local i = debug.getinfo(f, 'S')\n\
                 local g = load(string.dump(f), '=dumped', 'b')\n\
                 return i.source, i.what, type(g) == 'function'",
            )
            .eval()
            .expect("runs");
        assert_eq!(
            (src.as_str(), what.as_str(), dumped),
            ("@embedded/skynet/queue.lua", "main", true)
        );
        // SAFETY: exec_raw gives a protected call with a free slot.
        let cloned = |lua: &Lua| -> bool {
            unsafe {
                lua.exec_raw::<bool>((), |l| {
                    let ok = shared::clone_chunk(l, "@embedded/skynet/queue.lua");
                    if ok {
                        ffi::lua_pop(l, 1);
                    }
                    ffi::lua_pushboolean(l, c_int::from(ok));
                })
                .expect("runs")
            }
        };
        assert!(cloned(&s));
        assert!(!cloned(&Lua::new()), "another seed must not clone");
        // Reserved words are the template's strings: the lexer still knows them, and
        // `global` stays a name where 5.5's compatibility mode allows it (its flag,
        // which the lexer clears at each start, was cleared at freeze).
        let r: (i64, i64) = s
            .load("local global = 2 local t = { global = 3 } while true do break end return global, t.global")
            .eval()
            .expect("compiles and runs");
        assert_eq!(r, (2, 3));
        assert!(s.load("local end = 1").exec().is_err());
        assert_ne!(t.seed, 0);
    }

    /// What one state of `shared_prototypes_are_safe_across_threads` runs: the cloned
    /// queue chunk with a `skynet` set from Rust (its `require "skynet"` must find the
    /// key the C API made: the same string as the chunk's constant), metatables and
    /// keys from Lua constants, the C API and strings built at run time, tracebacks
    /// through the library, full and generational collections, and a memory error.
    fn exercise(round: usize) -> mlua::Result<()> {
        let s = LuaState::new()?;
        s.gc_restart();
        let loaded: mlua::Table = s.load("return package.loaded").eval()?;
        let sk = s.create_table()?;
        sk.set("wait", s.create_function(|_, ()| Ok(()))?)?;
        loaded.set("skynet", sk)?; // lua_setfield-made key "skynet"
        let q: mlua::Function = queue_chunk(&s).call(())?;
        s.globals().set("newqueue", q)?;
        let rust_keys = s.create_table()?;
        for k in ["insert", "format", "__index", "wakeup", "skynet"] {
            rust_keys.set(k, k.len())?;
        }
        s.globals().set("rk", rust_keys)?;
        s.globals().set("round", round)?;
        s.load(
            r#"
            local cs = newqueue()
            assert(cs(function(a, b) return a + b end, 1, 2) == 3)
            local ok, err = pcall(cs, function() error("boom") end)
            assert(not ok and err:find("boom", 1, true), err)
            assert(err:find("embedded/skynet/queue.lua", 1, true), err) -- traceback
            -- keys from the C API, Lua constants and strings built now are one string
            assert(rk.insert == 6 and rk.format == 6 and rk.__index == 7)
            assert(rk[string.rep("in", 1) .. "sert"] == 6)
            assert(rk[("wake"):rep(1) .. "up"] == 6 and rk[table.concat({"sky", "net"})] == 6)
            local mt = {}
            mt[string.rep("_", 2) .. "index"] = function(_, k) return k .. "!" end
            local t = setmetatable({}, mt)
            assert(t.format == "format!" and t[string.format("%s", "insert")] == "insert!")
            local keep = {}
            for i = 1, 2000 do
                keep[i % 200 + 1] = { tostring(i), string.format("%d:%s", i, "insert") }
                if i % 500 == 0 then collectgarbage(round % 2 == 0 and "collect" or "step") end
            end
            collectgarbage("generational")
            for i = 1, 2000 do keep[i % 300 + 1] = { string.rep("x", i % 50), i } end
            collectgarbage("collect")
            collectgarbage("incremental")
            local weak = setmetatable({}, { __mode = "k" })
            weak["insert"] = 1; weak[{}] = 2
            collectgarbage("collect")
            assert(weak.insert == 1)
            local tb = cs(debug.traceback, "here")
            assert(tb:find("embedded/skynet/queue.lua", 1, true), tb)
            "#,
        )
        .exec()?;
        s.set_memory_limit(s.used_memory() + 20_000);
        let e = s
            .load("local t = {} for i = 1, 1e6 do t[i] = {} end")
            .exec()
            .expect_err("over the limit");
        assert!(matches!(e, mlua::Error::MemoryError(_)), "{e:?}");
        s.set_memory_limit(0);
        let same: bool = s
            .load(
                "local ok, e = pcall(function() local t = {} for i = 1, 1e6 do t[i] = {} end end)\n\
                 return ok",
            )
            .eval()?;
        assert!(same);
        Ok(())
    }

    /// Many states on several threads share the template's prototypes and strings while
    /// they run, collect (full, incremental steps, generational) and close at different
    /// times.
    #[test]
    fn shared_prototypes_are_safe_across_threads() {
        let threads: Vec<_> = (0..4)
            .map(|t| {
                std::thread::spawn(move || {
                    for round in 0..10 {
                        exercise(t * 100 + round).expect("the state runs");
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("no panic");
        }
    }

    /// The generational mode entered without a collection (`enter_generational` on a
    /// state that never collected): what the state holds stays (tables, closures over
    /// open and closed upvalues, a suspended coroutine, weak tables, finalizers), and
    /// later young and full collections free garbage and keep the rest.
    #[test]
    fn generational_mode_without_a_collection_keeps_everything() {
        let s = LuaState::new().expect("a state");
        s.load(
            r#"
            keep = { n = 0, list = {} }
            for i = 1, 500 do keep.list[i] = { i, tostring(i) .. "x" } end
            local counter = 0
            function bump() counter = counter + 1 return counter end
            co = coroutine.create(function(a)
                local inner = a
                local function get() return inner end
                while true do inner = coroutine.yield(get()) end
            end)
            assert(select(2, coroutine.resume(co, "first")) == "first")
            weak = setmetatable({}, { __mode = "k" })
            weak[keep] = true
            finalized = 0
            setmetatable({}, { __gc = function() finalized = finalized + 1 end })
            garbage = nil
            "#,
        )
        .exec()
        .expect("runs");
        s.gc_restart();
        // SAFETY: the main thread of `s`, which runs no code now.
        unsafe { shared::enter_generational(s.main()) };
        let r: (bool, i64, String, bool, i64) = s
            .load(
                r#"
                assert(collectgarbage("isrunning"))
                local mode = collectgarbage("incremental")
                collectgarbage("generational")
                for round = 1, 20 do
                    local t = {}
                    for i = 1, 2000 do t[i] = { i, string.rep("y", i % 40) } end
                    keep.n = keep.n + #t
                    collectgarbage("step")
                end
                collectgarbage("collect")
                local ok = #keep.list == 500 and keep.list[77][2] == "77x"
                local _, v = coroutine.resume(co, "second")
                return mode == "generational" and ok, bump() + bump(), v,
                    weak[keep] == true, finalized
                "#,
            )
            .eval()
            .expect("runs");
        assert_eq!(r, (true, 3, "second".to_string(), true, 1));
    }

    /// A memory error's message is the template's string, and Lua code sees it as the
    /// string it builds.
    #[test]
    fn the_memory_error_message_is_shared_and_equal() {
        let s = LuaState::new().expect("a state");
        s.gc_restart();
        s.set_memory_limit(s.used_memory() + 30_000);
        let r: (bool, bool) = s
            .load(
                "local ok, e = pcall(function() local t = {} for i = 1, 1e6 do t[i] = {} end end)\n\
                 collectgarbage()\n\
                 return ok, e == ('not enough ' .. 'memory')",
            )
            .eval()
            .expect("runs");
        assert_eq!(r, (false, true));
    }
}
