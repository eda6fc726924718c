//! Building a service's Lua state: the standard libraries (debug included: skynet's
//! library needs it), the host modules, `require` over `lua_path` then the embedded
//! library, and loading chunks through the node's code cache.

use std::collections::HashMap;
use std::ffi::c_int;
use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;

use mlua::chunk::ChunkMode;
use mlua::{ffi, Function, Lua, Table, Value};

use crate::core::HostRef;
use crate::host::Host;
use crate::node::LuaNode;
use crate::vm::LuaState;
use crate::{core, lualib};

/// A new Lua state for the service `host` describes, and the host state its functions share.
pub(crate) fn new_state(host: Host) -> mlua::Result<(LuaState, HostRef)> {
    // The debug library is open (skynet's library needs it: tracebacks, getinfo, the
    // registry for memlimit), as skynet itself runs with it; no C module can be loaded:
    // the C searchers are removed below, and `package.loadlib` with them. `io`, `os` and
    // `utf8` open on first use (`raw::install_lazy_libs`).
    let lua = LuaState::new()?;
    let shared = host.shared.clone();
    let signal = shared.signal_slot(host.addr);
    let h: HostRef = Arc::new(crate::host::HostCell::new(host));
    h.set_signal(Arc::as_ptr(&signal) as usize);
    h.lock().signal_keep = Some(signal);
    install_package(&lua, &shared, &h)?;
    Ok((lua, h))
}

/// The modules written in Rust, found through `package.preload` as skynet's C modules.
const HOST_MODULES: &[&str] = &[
    "skynet.core",
    "skynet.codecache",
    "skynet.socketdriver",
    "skynet.netpack",
];

/// The preload loader of every host module and preloaded Lua module (called with the
/// module's name), as an mlua function: what [`l_loader`] hands the rare modules to.
fn mlua_loader(lua: &Lua, h: HostRef) -> mlua::Result<Function> {
    let s = h.lock().shared.clone();
    let sig = h.signal();
    lua.create_function(move |lua, (name, _): (String, mlua::MultiValue)| {
        Ok(match name.as_str() {
            "skynet.core" => {
                let hp = Arc::as_ptr(&h);
                // SAFETY: exec_raw gives a protected call with room for 5 values; the
                // service keeps `h` and the signal slot `sig` (set) past its state.
                let t: Table = unsafe {
                    debug_assert_ne!(sig, 0);
                    lua.exec_raw((), |l| core::module(l, hp))?
                };
                Value::Table(t)
            }
            "skynet.codecache" => Value::Table(codecache(lua, &s)?),
            "skynet.socketdriver" => Value::Table(crate::socket::socketdriver(lua, &h)?),
            "skynet.netpack" => Value::Table(crate::socket::netpack(lua, &h)?),
            other => load_embedded(lua, &s, other, true)?.call::<Value>(other)?,
        })
    })
}

/// The last searcher: the embedded modules, as an mlua function (for [`l_embedded`]'s
/// rare cases).
fn mlua_embedded(lua: &Lua, h: HostRef) -> mlua::Result<Function> {
    let s = h.lock().shared.clone();
    lua.create_function(move |lua, name: String| {
        if lualib::find(&name).is_none() {
            return Ok((
                Value::String(lua.create_string(format!("no embedded module '{name}'"))?),
                Value::Nil,
            ));
        }
        let f = load_embedded(lua, &s, &name, false)?;
        let where_ = lua.create_string(format!(":embedded:{name}"))?;
        Ok((Value::Function(f), Value::String(where_)))
    })
}

/// Calls the mlua function `make` builds with every argument of the running C function;
/// returns its results.
///
/// # Safety
/// `l` runs a C function whose upvalue 1 is the service's host state (`Arc::as_ptr` of
/// its `HostRef`, alive past the state); no owned Rust value of the caller is live.
unsafe fn through_mlua(
    l: *mut ffi::lua_State,
    make: fn(&Lua, HostRef) -> mlua::Result<Function>,
) -> c_int {
    // SAFETY: per the contract; the Arc made here is moved into `make` before anything
    // may raise.
    unsafe {
        ffi::luaL_checkstack(l, 3, std::ptr::null());
        let p = ffi::lua_touserdata(l, ffi::lua_upvalueindex(1)) as *const crate::host::HostCell;
        Arc::increment_strong_count(p);
        let h = Arc::from_raw(p);
        if !crate::capi::push_mlua(l, move |lua| make(lua, h)) {
            ffi::lua_error(l);
        }
        ffi::lua_insert(l, 1);
        ffi::lua_call(l, ffi::lua_gettop(l) - 1, ffi::LUA_MULTRET);
        ffi::lua_gettop(l)
    }
}

/// The preload loader of the host modules (`skynet.core`, built with the C API) and of
/// the preloaded Lua modules (a closure over the shared chunk, called with the name);
/// the other host modules (codecache, socketdriver, netpack: mlua tables) through
/// [`mlua_loader`]. Upvalue 1: the host state.
unsafe extern "C-unwind" fn l_loader(l: *mut ffi::lua_State) -> c_int {
    // SAFETY: called by Lua with the module's name (and the loader data); the chunk's
    // name (a String) is gone before the clone, which may raise.
    unsafe {
        if ffi::lua_type(l, 1) == ffi::LUA_TSTRING {
            let name = crate::raw::string_at(l, 1);
            if name == b"skynet.core" {
                ffi::luaL_checkstack(l, 5, std::ptr::null());
                let p = ffi::lua_touserdata(l, ffi::lua_upvalueindex(1))
                    as *const crate::host::HostCell;
                core::module(l, p);
                return 1;
            }
            let proto = lualib::PRELOADED
                .iter()
                .find(|(n, _)| n.as_bytes() == name)
                .and_then(|(n, _)| crate::vm::shared::find(&lualib::chunkname(n)));
            if let Some(p) = proto {
                ffi::luaL_checkstack(l, 2, std::ptr::null());
                if crate::vm::shared::clone_found(l, p) {
                    ffi::lua_pushvalue(l, 1);
                    ffi::lua_call(l, 1, 1);
                    return 1;
                }
            }
        }
        through_mlua(l, mlua_loader)
    }
}

/// The embedded searcher: a closure over the shared chunk and ":embedded:NAME", or the
/// message that there is none; what it cannot answer so (no shared chunk) through
/// [`mlua_embedded`]. Upvalue 1: the host state.
unsafe extern "C-unwind" fn l_embedded(l: *mut ffi::lua_State) -> c_int {
    // SAFETY: called by Lua with the module's name; the chunk's name (a String) is gone
    // before anything may raise.
    unsafe {
        if ffi::lua_type(l, 1) == ffi::LUA_TSTRING {
            if let Ok(name) = std::str::from_utf8(crate::raw::string_at(l, 1)) {
                ffi::luaL_checkstack(l, 4, std::ptr::null());
                if lualib::find(name).is_none() {
                    ffi::lua_pushstring(l, c"no embedded module '".as_ptr());
                    ffi::lua_pushvalue(l, 1);
                    ffi::lua_pushstring(l, c"'".as_ptr());
                    ffi::lua_concat(l, 3);
                    ffi::lua_pushnil(l);
                    return 2;
                }
                let proto = crate::vm::shared::find(&lualib::chunkname(name));
                if let Some(p) = proto {
                    if crate::vm::shared::clone_found(l, p) {
                        ffi::lua_pushstring(l, c":embedded:".as_ptr());
                        ffi::lua_pushvalue(l, 1);
                        ffi::lua_concat(l, 2);
                        return 2;
                    }
                }
            }
        }
        through_mlua(l, mlua_embedded)
    }
}

/// `package.path` and `cpath` from the config, no `loadlib`, [`l_loader`] as the preload
/// of every host module and preloaded Lua module, and the searchers: preload, `lua_path`,
/// then [`l_embedded`] (the C searchers go). With the C API: mlua is not set up for it.
fn install_package(lua: &LuaState, shared: &LuaNode, h: &HostRef) -> mlua::Result<()> {
    let path = shared.lua_path.as_bytes();
    let cpath = shared.lua_cpath.as_bytes();
    let hp = Arc::as_ptr(h) as *mut std::ffi::c_void;
    let l = lua.main();
    // SAFETY: `l` is the new state's main thread, running nothing; the closure runs in
    // protected mode (a failed allocation is an error returned here) with LUA_MINSTACK
    // free slots, of which at most five are used at once, and owns nothing. `package` is
    // checked to be a table before it is indexed (a non-table `preload` or `searchers`
    // would raise, in protected mode). The host state behind `hp` outlives the state.
    let rc = unsafe {
        crate::capi::pcall_rust(l, &mut |l| {
            if ffi::lua_getglobal(l, c"package".as_ptr()) != ffi::LUA_TTABLE {
                return;
            }
            ffi::lua_pushlstring(l, path.as_ptr().cast(), path.len());
            ffi::lua_setfield(l, 1, c"path".as_ptr());
            ffi::lua_pushlstring(l, cpath.as_ptr().cast(), cpath.len());
            ffi::lua_setfield(l, 1, c"cpath".as_ptr());
            ffi::lua_pushnil(l);
            ffi::lua_setfield(l, 1, c"loadlib".as_ptr());
            ffi::lua_getfield(l, 1, c"preload".as_ptr()); // 2
            ffi::lua_pushlightuserdata(l, hp);
            ffi::lua_pushcclosure(l, l_loader, 1); // 3
            let names = HOST_MODULES
                .iter()
                .chain(lualib::PRELOADED.iter().map(|(n, _)| n));
            for n in names {
                ffi::lua_pushlstring(l, n.as_ptr().cast(), n.len());
                ffi::lua_pushvalue(l, 3);
                ffi::lua_settable(l, 2);
            }
            ffi::lua_getfield(l, 1, c"searchers".as_ptr()); // 4
            ffi::lua_createtable(l, 3, 0); // 5
            ffi::lua_geti(l, 4, 1);
            ffi::lua_rawseti(l, 5, 1);
            ffi::lua_geti(l, 4, 2);
            ffi::lua_rawseti(l, 5, 2);
            ffi::lua_pushlightuserdata(l, hp);
            ffi::lua_pushcclosure(l, l_embedded, 1);
            ffi::lua_rawseti(l, 5, 3);
            ffi::lua_setfield(l, 1, c"searchers".as_ptr());
            ffi::lua_settop(l, 0);
        })
    };
    if rc != ffi::LUA_OK {
        // SAFETY: the error object is at the top of the main thread, running nothing.
        return Err(unsafe { crate::capi::take_error(l, rc) });
    }
    Ok(())
}

/// The embedded module `name` (or a preloaded host module) as a function, compiled once
/// per process and loaded from fixed bytecode.
fn load_embedded(
    lua: &Lua,
    _shared: &LuaNode,
    name: &str,
    preloaded: bool,
) -> mlua::Result<Function> {
    let src = if preloaded {
        lualib::PRELOADED
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, s)| *s)
    } else {
        lualib::find(name)
    };
    let src = src.ok_or_else(|| mlua::Error::runtime(format!("no embedded module {name}")))?;
    load_static(lua, src, &lualib::chunkname(name))
}

/// Bytecode of the embedded chunks, compiled on first use and kept for the life of the
/// process (a fixed set: the library and the embedded services), by chunk name: the
/// words, and the length in bytes.
type StaticChunks = HashMap<String, (&'static [u64], usize)>;

fn static_chunks() -> &'static Mutex<StaticChunks> {
    static CHUNKS: OnceLock<Mutex<StaticChunks>> = OnceLock::new();
    CHUNKS.get_or_init(|| Mutex::new(HashMap::new()))
}

/// Loads an embedded chunk as a *fixed* binary chunk (Lua 5.5's mode `B`): the functions'
/// code, line information and long strings are not copied into the state but point into
/// the process-wide bytecode, which is never freed. What each state then holds of the
/// library is only the function headers, constants and debug names: this is how a Lua
/// service stays small without skynet's patched, proto-sharing Lua.
pub(crate) fn load_static(lua: &Lua, src: &'static str, chunkname: &str) -> mlua::Result<Function> {
    // Shared: a closure over the template's prototype (`vm::shared`), when the state
    // uses the template (every `LuaState` does once the template could be made).
    // SAFETY: exec_raw runs the closure in protected mode with a free stack slot; it
    // leaves the closure, or nothing (then the value is nil).
    let v: Value = unsafe {
        lua.exec_raw((), |l| {
            crate::vm::shared::clone_chunk(l, chunkname);
        })?
    };
    if let Value::Function(f) = v {
        return Ok(f);
    }
    let (code, len) = {
        let mut chunks = static_chunks().lock();
        match chunks.get(chunkname) {
            Some(c) => *c,
            None => {
                let f = lua
                    .load(src)
                    .set_mode(ChunkMode::Text)
                    .set_name(chunkname)
                    .into_function()?;
                let bytes = f.dump(false);
                let bytes = crate::strip::drop_local_names(&bytes).unwrap_or(bytes);
                // u64 words: the loader reads instructions and line records in place, so
                // the buffer must be aligned (offsets inside are aligned by the dump).
                let mut words = vec![0u64; bytes.len().div_ceil(8)];
                for (w, b) in words.iter_mut().zip(bytes.chunks(8)) {
                    let mut a = [0u8; 8];
                    a.get_mut(..b.len()).unwrap_or_default().copy_from_slice(b);
                    *w = u64::from_ne_bytes(a);
                }
                let code: &'static [u64] = Box::leak(words.into_boxed_slice());
                chunks.insert(chunkname.to_string(), (code, bytes.len()));
                (code, bytes.len())
            }
        }
    };
    let name = std::ffi::CString::new(chunkname)
        .map_err(|_| mlua::Error::runtime("a chunk name holds a NUL"))?;
    let ptr = code.as_ptr().cast::<std::ffi::c_char>();
    debug_assert!(len <= code.len() * 8);
    // SAFETY: `ptr..ptr + len` lies in leaked bytecode, alive and unchanged for the rest
    // of the process, as mode `B` requires; exec_raw runs the closure in protected mode,
    // and the loader leaves one value (the function, or the error message) on the stack.
    // Exercised by every test (the library loads this way).
    let v: Value = unsafe {
        lua.exec_raw((), |l| {
            mlua::ffi::luaL_loadbufferx(l, ptr, len, name.as_ptr(), c"B".as_ptr());
        })?
    };
    match v {
        Value::Function(f) => Ok(f),
        other => Err(mlua::Error::runtime(format!(
            "cannot load {chunkname}: {}",
            other.to_string().unwrap_or_default()
        ))),
    }
}

/// Loads a chunk through the node's cache: bytecode when this node compiled it before,
/// else the source (read by `source`), compiled and kept.
pub(crate) fn load_cached(
    lua: &Lua,
    shared: &LuaNode,
    key: &str,
    chunkname: &str,
    source: impl FnOnce() -> Result<Vec<u8>, String>,
) -> mlua::Result<Function> {
    if let Some(code) = shared.cached(key) {
        return lua
            .load(&code[..])
            .set_mode(ChunkMode::Binary)
            .set_name(chunkname)
            .into_function();
    }
    let src = source().map_err(mlua::Error::runtime)?;
    let f = lua
        .load(&src[..])
        .set_mode(ChunkMode::Text)
        .set_name(chunkname)
        .into_function()?;
    shared.store(key, f.dump(false));
    Ok(f)
}

/// Loads a file through the cache (`loadfile` with skynet's code cache).
pub(crate) fn load_file(lua: &Lua, shared: &LuaNode, path: &str) -> mlua::Result<Function> {
    load_cached(
        lua,
        shared,
        &format!("file:{path}"),
        &format!("@{path}"),
        || std::fs::read(path).map_err(|e| format!("cannot open {path}: {e}")),
    )
}

/// `skynet.codecache`: clear, mode, loadfile.
fn codecache(lua: &Lua, shared: &Arc<LuaNode>) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    let s = shared.clone();
    t.set(
        "clear",
        lua.create_function(move |_, ()| {
            s.clear_cache();
            Ok(())
        })?,
    )?;
    let s = shared.clone();
    t.set(
        "mode",
        lua.create_function(move |_, mode: Option<String>| {
            let old = if s.cache_mode() { "ON" } else { "OFF" };
            match mode.as_deref() {
                Some("ON") | Some("EXIST") => s.set_cache_mode(true),
                Some("OFF") => s.set_cache_mode(false),
                _ => {}
            }
            Ok(old)
        })?,
    )?;
    let s = shared.clone();
    t.set(
        "loadfile",
        lua.create_function(move |lua, path: String| match load_file(lua, &s, &path) {
            Ok(f) => Ok((Value::Function(f), Value::Nil)),
            Err(e) => Ok((Value::Nil, Value::String(lua.create_string(e.to_string())?))),
        })?,
    )?;
    Ok(t)
}
