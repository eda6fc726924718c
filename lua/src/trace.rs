//! `skynet.core.trace(tag, user [, co] [, level])`: skynet's trace log line.
//!
//! Without a level (and no thread) it logs `<TRACE tag> TIME user`; with one, up to three
//! Lua frames from that level of the caller's stack (or of thread `co`'s, from level 1 by
//! default) follow: `<TRACE tag> TIME user : @file:line @file:line`, frames without a
//! current line (C functions) skipped, as skynet's `lua-skynet.c` does. TIME is the
//! high-precision counter (`skynet.hpc`, nanoseconds).
//!
//! The frames are read with `debug.getinfo` in a small Lua wrapper (a thread's stack is
//! not reachable from mlua otherwise), built on the first use of `trace` in a service;
//! the line itself is logged from Rust.

use mlua::{Function, Lua, Table};

/// The wrapper: arguments checked as `luaL_checkstring` / `luaL_optinteger` would, then
/// the frames collected and the line handed to `log`.
const WRAPPER: &str = r#"
local log, hpc, getinfo, running = ...
local type, tostring, concat, mtype = type, tostring, table.concat, math.type
local function str(v, n)
	local t = type(v)
	if t == "string" then
		return v
	elseif t == "number" then
		return tostring(v)
	end
	error(string.format("bad argument #%d to 'trace' (string expected, got %s)", n,
		v == nil and "no value" or t), 0)
end
local function int(v, n)
	if v == nil then
		return 1
	elseif mtype(v) == "integer" then
		return v
	end
	error(string.format("bad argument #%d to 'trace' (number has no integer representation)", n), 0)
end
return function(tag, user, co, level)
	tag, user = str(tag, 1), str(user, 2)
	if co == nil then
		return log(tag, hpc(), user)
	end
	if type(co) == "thread" then
		level = int(level, 4)
		if co == running() then
			co = nil
		end
	else
		level = int(co, 3)
		co = nil
	end
	local frames = {}
	while #frames < 3 do
		-- level 1 is trace's caller: one more from inside this function
		local info
		if co then
			info = getinfo(co, level, "Sl")
		else
			info = getinfo(level + 1, "Sl")
		end
		if not info then
			break
		end
		level = level + 1
		if info.currentline >= 0 then
			frames[#frames + 1] = info.source .. ":" .. info.currentline
		end
	end
	if #frames == 0 then
		return log(tag, hpc(), user)
	end
	return log(tag, hpc(), user .. " : " .. concat(frames, " "))
end
"#;

/// The `__index` of the `skynet.core` table (`core`, which must hold `hpc`) that makes
/// `trace` on first use: most services never trace, and the wrapper would cost each of
/// them memory (called through `core::l_index`).
pub(crate) fn index_function(lua: &Lua) -> mlua::Result<Function> {
    lua.create_function(|lua, (core, key): (Table, mlua::Value)| {
        if key
            .as_string()
            .is_none_or(|k| k.as_bytes() != b"trace".as_slice())
        {
            return Ok(mlua::Value::Nil);
        }
        let f = build(lua, &core)?;
        core.raw_set("trace", f.clone())?;
        Ok(mlua::Value::Function(f))
    })
}

/// The wrapper, given the logger, `hpc`, `debug.getinfo` and `coroutine.running`.
fn build(lua: &Lua, core: &Table) -> mlua::Result<Function> {
    let log = lua.create_function(
        |_, (tag, time, text): (mlua::LuaString, i64, mlua::LuaString)| {
            log::info!(
                "<TRACE {}> {time} {}",
                tag.to_string_lossy(),
                text.to_string_lossy()
            );
            Ok(())
        },
    )?;
    let debug: Table = lua.globals().get("debug")?;
    let coroutine: Table = lua.globals().get("coroutine")?;
    lua.load(WRAPPER).set_name("=[skynet.core.trace]").call((
        log,
        core.raw_get::<Function>("hpc")?,
        debug.get::<Function>("getinfo")?,
        coroutine.get::<Function>("running")?,
    ))
}
