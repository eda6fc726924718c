//! Building a service's Lua state: the standard libraries (debug included: skynet's
//! library needs it), the host modules, `require` over `lua_path` then the embedded
//! library, and loading chunks through the node's code cache.

use std::sync::Arc;

use mlua::chunk::ChunkMode;
use std::sync::atomic::Ordering;

use mlua::{Function, HookTriggers, Lua, LuaOptions, StdLib, Table, Value, VmState};

use crate::host::Host;
use crate::node::LuaNode;
use crate::{core, lualib};

/// Instructions between two checks of the signal flag.
const SIGNAL_HOOK_INSTRUCTIONS: u32 = 1 << 20;

/// A new Lua state for the service `host` describes.
pub(crate) fn new_state(host: Host) -> mlua::Result<Lua> {
    // SAFETY: `unsafe_new_with` is unsafe only because the debug library (and C module
    // loading) can break the sandbox mlua otherwise promises. skynet's library needs
    // `debug` (tracebacks, getinfo, the registry for memlimit), as skynet itself runs
    // with it; and no C module can be loaded: the C searchers are removed below, and
    // `package.loadlib` with them. Exercised by every test that runs a Lua service
    // (`tests/basics.rs`), including one that uses `debug.traceback` and `getinfo`.
    let lua = unsafe { Lua::unsafe_new_with(StdLib::ALL, LuaOptions::new()) };
    let shared = host.shared.clone();
    let flag = shared.signal_flag(host.addr);
    lua.set_app_data(host);
    install_package(&lua, &shared)?;
    // The count hook behind `signal`: coroutines inherit it from the thread that creates
    // them, so it covers every coroutine of the service. One call per 2^20 instructions
    // (a millisecond or so of Lua) costs nothing measurable.
    let triggers = HookTriggers::new().every_nth_instruction(SIGNAL_HOOK_INSTRUCTIONS);
    lua.set_global_hook(triggers, move |_, _| {
        if flag.swap(false, Ordering::AcqRel) {
            Err(mlua::Error::runtime(
                "signal 0: interrupted (endless loop?)",
            ))
        } else {
            Ok(VmState::Continue)
        }
    })?;
    Ok(lua)
}

fn install_package(lua: &Lua, shared: &Arc<LuaNode>) -> mlua::Result<()> {
    let package: Table = lua.globals().get("package")?;
    package.set("path", shared.lua_path.as_str())?;
    package.set("cpath", shared.lua_cpath.as_str())?;
    package.set("loadlib", Value::Nil)?;
    let preload: Table = package.get("preload")?;
    preload.set(
        "skynet.core",
        lua.create_function(|lua, _: mlua::MultiValue| core::module(lua))?,
    )?;
    preload.set(
        "skynet.codecache",
        lua.create_function(|lua, _: mlua::MultiValue| codecache(lua))?,
    )?;
    for (name, _) in lualib::PRELOADED {
        let name = name.to_string();
        preload.set(
            name.clone(),
            lua.create_function(move |lua, _: mlua::MultiValue| {
                let f = load_embedded(lua, &name, true)?;
                f.call::<Value>(name.as_str())
            })?,
        )?;
    }
    // searchers: 1 preload, 2 lua_path, then ours; the C searchers go.
    let searchers: Table = package.get("searchers")?;
    let lua_searcher: Value = searchers.raw_get(2)?;
    let embedded = lua.create_function(|lua, name: String| {
        if lualib::find(&name).is_none() {
            return Ok((
                Value::String(lua.create_string(format!("no embedded module '{name}'"))?),
                Value::Nil,
            ));
        }
        let f = load_embedded(lua, &name, false)?;
        let where_ = lua.create_string(format!(":embedded:{name}"))?;
        Ok((Value::Function(f), Value::String(where_)))
    })?;
    let fresh = lua.create_table()?;
    fresh.raw_set(1, searchers.raw_get::<Value>(1)?)?;
    fresh.raw_set(2, lua_searcher)?;
    fresh.raw_set(3, embedded)?;
    package.set("searchers", fresh)?;
    Ok(())
}

/// The embedded module `name` (or a preloaded host module) as a function, compiled once
/// per node.
fn load_embedded(lua: &Lua, name: &str, preloaded: bool) -> mlua::Result<Function> {
    let src = if preloaded {
        lualib::PRELOADED
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, s)| *s)
    } else {
        lualib::find(name)
    };
    let src = src.ok_or_else(|| mlua::Error::runtime(format!("no embedded module {name}")))?;
    let key = format!("embedded:{name}");
    load_cached(lua, &key, &lualib::chunkname(name), || {
        Ok(src.as_bytes().to_vec())
    })
}

/// Loads a chunk through the node's cache: bytecode when this node compiled it before,
/// else the source (read by `source`), compiled and kept.
pub(crate) fn load_cached(
    lua: &Lua,
    key: &str,
    chunkname: &str,
    source: impl FnOnce() -> Result<Vec<u8>, String>,
) -> mlua::Result<Function> {
    let shared = core::host(lua)?.shared.clone();
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
pub(crate) fn load_file(lua: &Lua, path: &str) -> mlua::Result<Function> {
    load_cached(lua, &format!("file:{path}"), &format!("@{path}"), || {
        std::fs::read(path).map_err(|e| format!("cannot open {path}: {e}"))
    })
}

/// `skynet.codecache`: clear, mode, loadfile.
fn codecache(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set(
        "clear",
        lua.create_function(|lua, ()| {
            core::host(lua)?.shared.clear_cache();
            Ok(())
        })?,
    )?;
    t.set(
        "mode",
        lua.create_function(|lua, mode: Option<String>| {
            let shared = core::host(lua)?.shared.clone();
            let old = if shared.cache_mode() { "ON" } else { "OFF" };
            match mode.as_deref() {
                Some("ON") | Some("EXIST") => shared.set_cache_mode(true),
                Some("OFF") => shared.set_cache_mode(false),
                _ => {}
            }
            Ok(old)
        })?,
    )?;
    t.set(
        "loadfile",
        lua.create_function(|lua, path: String| match load_file(lua, &path) {
            Ok(f) => Ok((Value::Function(f), Value::Nil)),
            Err(e) => Ok((Value::Nil, Value::String(lua.create_string(e.to_string())?))),
        })?,
    )?;
    Ok(t)
}
