-- The test driver: `call(addr, "lua", "run", name)` runs one group of checks and answers
-- "ok", or raises (the Rust test sees the error).
local skynet = require "skynet"
require "skynet.manager"
local queue = require "skynet.queue"
local skynetco = require "skynet.coroutine"

local checkgroups = require "checkgroups"
local eq = checkgroups.eq

local T = {}

function T.calls()
	local echo = skynet.newservice("echo", "m1")
	eq(skynet.call(echo, "lua", "add", 1, 2), 3, "add")
	eq(skynet.call(echo, "lua", "mode"), "m1", "service argument")
	local a, b, c = skynet.call(echo, "lua", "echo", "x", nil, 2.5)
	eq(a, "x") eq(b, nil) eq(c, 2.5)
	eq(math.type(skynet.call(echo, "lua", "echo", 1)), "integer", "integers stay integers")
	eq(math.type(skynet.call(echo, "lua", "echo", 1.0)), "float", "floats stay floats")
	-- a Lua error in the handler fails the call
	local ok, err = pcall(skynet.call, echo, "lua", "fail", "on purpose")
	eq(ok, false, "error raised") eq(err:match("call failed") ~= nil, true, "call failed text")
	-- an unanswered request fails too (skynet would hang)
	ok = pcall(skynet.call, echo, "lua", "noreply")
	eq(ok, false, "noreply fails")
	-- response answered later, and with false
	local got = {}
	for i = 1, 3 do
		skynet.fork(function() got[i] = skynet.call(echo, "lua", "later", i * 10) end)
	end
	skynet.sleep(1)
	eq(#got, 0, "nothing answered yet")
	skynet.call(echo, "lua", "release")
	eq(got[1], 10) eq(got[2], 20) eq(got[3], 30)
	ok = pcall(skynet.call, echo, "lua", "refuse")
	eq(ok, false, "response(false)")
	-- sends
	eq(skynet.send(echo, "lua", "add", 1, 1), 0, "send returns 0")
	-- a call to an address that is not there
	ok, err = pcall(skynet.call, 0x00ffffff, "lua", "x")
	eq(ok, false) eq(err:match("call to invalid address") ~= nil, true, err)
	-- a dead call: the service exits while we wait
	local echo2 = skynet.newservice("echo")
	skynet.fork(function() skynet.sleep(1) skynet.send(echo2, "lua", "exit") end)
	ok, err = pcall(skynet.call, echo2, "lua", "hold")
	eq(ok, false, "dead call") eq(err:match("call failed") ~= nil, true, tostring(err))
	-- killed while a caller waits
	local echo3 = skynet.newservice("echo")
	skynet.fork(function() skynet.sleep(1) skynet.kill(echo3) end)
	ok = pcall(skynet.call, echo3, "lua", "hold")
	eq(ok, false, "killed callee fails the call")
	skynet.kill(echo)
	return "ok"
end

function T.timers()
	local order = {}
	for i = 5, 1, -1 do
		skynet.timeout(i, function() order[#order + 1] = i end)
	end
	skynet.timeout(0, function() order[#order + 1] = 0 end)
	skynet.sleep(10)
	eq(table.concat(order, ","), "0,1,2,3,4,5", "timeouts in order")
	-- wait / wakeup
	local co
	local woke = false
	skynet.fork(function()
		co = coroutine.running()
		skynet.wait()
		woke = true
	end)
	skynet.yield()
	eq(woke, false)
	skynet.wakeup(co)
	skynet.yield()
	eq(woke, true, "wakeup")
	-- a sleep broken by wakeup returns "BREAK"
	local r
	skynet.fork(function()
		co = coroutine.running()
		r = skynet.sleep(1000)
	end)
	skynet.yield()
	skynet.wakeup(co)
	skynet.yield()
	eq(r, "BREAK", "sleep broken")
	-- forks run after the current coroutine yields, in order
	local seq = {}
	skynet.fork(function() seq[#seq + 1] = "a" end)
	skynet.fork(function(x) seq[#seq + 1] = x end, "b")
	seq[#seq + 1] = "main"
	skynet.yield()
	eq(table.concat(seq), "mainab", "fork order")
	-- a timeout too far away to ever fire is accepted (no overflow)
	skynet.timeout(math.maxinteger, function() error("fired") end)
	local t0 = skynet.now()
	skynet.sleep(2)
	eq(skynet.now() >= t0 + 2, true, "sleep never early")
	eq(math.type(skynet.starttime()), "integer")
	eq(skynet.time() >= skynet.starttime(), true)
	return "ok"
end

function T.queue()
	local cs = queue()
	local log = {}
	local function job(name)
		cs(function()
			log[#log + 1] = name .. "<"
			skynet.sleep(1)
			cs(function() log[#log + 1] = "inner" end) -- re-entry by the owner
			log[#log + 1] = ">" .. name
		end)
	end
	skynet.fork(job, "a")
	skynet.fork(job, "b")
	skynet.sleep(10)
	eq(table.concat(log, " "), "a< inner >a b< inner >b", "critical section")
	return "ok"
end

function T.coroutines()
	local echo = skynet.newservice("echo")
	local co = skynetco.create(function(x)
		local y = skynetco.yield(x + 1)
		local sum = skynet.call(echo, "lua", "add", y, 1) -- a skynet call inside
		return sum * 2
	end)
	local ok, v = skynetco.resume(co, 1)
	eq(ok, true) eq(v, 2)
	ok, v = skynetco.resume(co, 10)
	eq(ok, true) eq(v, 22, "call inside a user coroutine")
	eq(skynetco.status(co), "dead")
	local gen = skynetco.wrap(function()
		for i = 1, 3 do skynetco.yield(i) end
	end)
	eq(gen() + gen() + gen(), 6, "wrap")
	-- errors keep their identity through resume
	local E = {}
	local bad = coroutine.create(function() error(E) end)
	local ok2, e = coroutine.resume(bad)
	eq(ok2, false) eq(e, E, "error object identity")
	skynet.kill(echo)
	return "ok"
end

function T.pack()
	local t = { 1, 2, 3, nil, 5, x = { y = { z = "deep" } }, [1.5] = true, [-1] = "neg" }
	local a, b, c, d = skynet.unpack(skynet.packstring(nil, t, "s", 2 ^ 53))
	eq(a, nil) eq(b[1], 1) eq(b.x.y.z, "deep") eq(b[1.5], true) eq(b[-1], "neg")
	eq(c, "s") eq(d, 2 ^ 53) eq(math.type(d), "float")
	local big = string.rep("x", 70000)
	eq(skynet.unpack(skynet.packstring(big)), big, "long string")
	local msg, sz = skynet.pack("hello", 1)
	eq(type(msg), "userdata") eq(sz, 8)
	eq(select("#", skynet.unpack(msg, sz)), 2)
	eq(#skynet.tostring(msg, sz), sz)
	skynet.trash(msg, sz)
	-- a freed buffer can no longer be read
	eq(pcall(skynet.unpack, msg, sz), false, "trashed pointer refused")
	local ok, err = pcall(skynet.packstring, function() end)
	eq(ok, false) eq(tostring(err):match("Unsupport type function to serialize") ~= nil, true, tostring(err))
	-- byte-exact with skynet for a simple case
	eq(skynet.packstring("GET", "a"), "\x1cGET\x0ca")
	local cyc = {}
	cyc.self = cyc
	eq(pcall(skynet.packstring, cyc), false, "a cycle is too deep")
	-- pack and packstring agree byte for byte; unpack straight from a pack buffer
	local m2, s2 = skynet.pack({ a = 1, 10, 20 }, "x", true, 1.5, -7, 2 ^ 40)
	eq(skynet.tostring(m2, s2), skynet.packstring({ a = 1, 10, 20 }, "x", true, 1.5, -7, 2 ^ 40))
	local t2, x2, b2, f2, n2, q2 = skynet.unpack(m2, s2)
	eq(t2.a, 1) eq(t2[2], 20) eq(x2, "x") eq(b2, true) eq(f2, 1.5) eq(n2, -7) eq(q2, 2 ^ 40)
	skynet.trash(m2, s2)
	-- a NaN key is refused; a cut stream says where, in skynet's words
	local nan = "\x06\x42" .. string.pack("<d", 0 / 0) .. "\x0a\x01\x00"
	eq(pcall(skynet.unpack, nan), false, "NaN key")
	local ok3, e3 = pcall(skynet.unpack, "\x2chel")
	eq(ok3, false) eq(e3, "Invalid serialize stream 3")
	-- many values at once (the stack grows)
	local many = {}
	for i = 1, 5000 do
		many[i] = i
	end
	local back = table.pack(skynet.unpack(skynet.packstring(table.unpack(many))))
	eq(back.n, 5000, "5000 values") eq(back[5000], 5000)
	-- a string body and an empty body are sent as they are
	eq(skynet.unpack(skynet.packstring()), nil, "nothing packed")
	return "ok"
end

function T.names()
	skynet.register(".checks")
	eq(skynet.localname(".checks"), skynet.self())
	eq(skynet.address(skynet.self()):match("^:%x+$") ~= nil, true)
	local echo = skynet.newservice("echo")
	skynet.name(".echo", echo)
	eq(skynet.call(".echo", "lua", "add", 2, 2), 4, "call by name")
	local u1 = skynet.uniqueservice("echo", "u")
	local u2 = skynet.uniqueservice("echo", "v")
	eq(u1, u2, "unique")
	eq(skynet.call(u1, "lua", "mode"), "u")
	eq(skynet.queryservice("echo"), u1)
	eq(skynet.getenv("lua_test_key"), "value")
	skynet.setenv("lua_new_key", "v2")
	eq(skynet.getenv("lua_new_key"), "v2")
	eq(pcall(skynet.setenv, "lua_new_key", "again"), false, "setenv twice")
	local ok = pcall(skynet.newservice, "no_such_script")
	eq(ok, false, "missing script")
	eq(math.type(skynet.mqlen()), "integer")
	eq(skynet.endless(), false)
	skynet.kill(echo)
	skynet.kill(u1)
	return "ok"
end

function T.service()
	local service = require "skynet.service"
	local function adder(...)
		local skynet = require "skynet"
		local base = ...
		skynet.start(function()
			skynet.dispatch("lua", function(_, _, a)
				skynet.retpack(a + tonumber(base))
			end)
		end)
	end
	local a = service.new("adder", adder, 100)
	eq(skynet.call(a, "lua", 1), 101, "inline service")
	eq(service.new("adder", adder, 5), a, "one per name")
	eq(service.query("adder"), a)
	local captured = 1
	eq(pcall(service.new, "bad", function() return captured end), false, "upvalues refused")
	eq(service.close("adder"), true)
	return "ok"
end

function T.misc()
	-- io, os and utf8 open on first use; they are what require and package.loaded give
	eq(getmetatable(utf8) ~= nil, true, "utf8 not opened yet")
	eq(utf8.char(72, 105), "Hi") eq(getmetatable(utf8), nil, "utf8 opened")
	eq(math.type(os.time()), "integer") eq(require("os"), os) eq(package.loaded.io, io)
	eq(type(io.write), "function") eq(next(os) ~= nil, true, "os has its fields")
	local echo = skynet.newservice("echo")
	-- rawcall / rawsend with packed bytes
	local msg, sz = skynet.rawcall(echo, "lua", skynet.pack("add", 20, 22))
	eq(skynet.unpack(msg, sz), 42, "rawcall")
	eq(skynet.rawsend(echo, "lua", skynet.pack("add", 1, 1)), 0, "rawsend")
	-- context inside a handler of our own protocol; forward_type-like user protocol
	skynet.register_protocol { name = "mine", id = 100, pack = skynet.pack, unpack = skynet.unpack }
	eq(select("#", skynet.harbor(skynet.self())), 2, "harbor gives two values")
	-- task: a pending sleep shows up
	local co
	skynet.fork(function()
		co = coroutine.running()
		skynet.sleep(1000, co)
	end)
	skynet.yield()
	eq(skynet.task() >= 1, true, "task counts the sleeper")
	local t = {}
	skynet.task(t)
	local found = false
	for _, tb in pairs(t) do
		found = found or tb:match("stack traceback") ~= nil
	end
	eq(found, true, "task tracebacks")
	skynet.wakeup(co)
	skynet.yield()
	-- info_func answers the debug protocol's INFO
	skynet.info_func(function(x) return "info " .. tostring(x) end)
	eq(skynet.call(skynet.self(), "debug", "INFO", 7), "info 7", "INFO through info_func")
	eq(skynet.call(echo, "debug", "PING"), nil, "PING")
	local kb = skynet.call(echo, "debug", "MEM")
	eq(kb > 0, true, "MEM")
	-- unknown requests on a protocol without dispatch answer with an error
	eq(pcall(skynet.call, echo, "mine", "x"), false, "no dispatch: error")
	skynet.kill(echo)
	return "ok"
end

-- skynet.core with wrong arguments: a Lua error every time, never a crash.
function T.badinput()
	local c = require "skynet.core"
	-- a light userdata pointing anywhere (skynet.unpack makes one from 8 bytes)
	local wild = skynet.unpack("\x03\x08\x07\x06\x05\x04\x03\x02\x01")
	eq(type(wild), "userdata")
	local bad = {
		function() return c.tostring(wild, 100) end,
		function() return c.unpack(wild, 4) end,
		function() return c.send(skynet.self(), 10, 0, wild, 16) end,
		function() return c.redirect(skynet.self(), 0, 10, 0, wild, 16) end,
		function() return c.send({}, 10, 0, "x") end,
		function() return c.send(skynet.self(), 300, 0, "x") end,
		function() return c.send(skynet.self(), 10, "s", "x") end,
		function() return c.send(skynet.self(), 10, 0, {}) end,
		function() return c.tostring(wild, -1) end,
		function() return c.unpack("\x06\x06\x06") end,
		function() return c.unpack("\xff") end,
		function() return c.command("NO_SUCH_COMMAND") end,
		function() return c.command("NAME", "x") end,
		function() return c.command("REG", "global_name") end,
		function() return c.callback(42) end,
		function() return c.pack(coroutine.create(function() end)) end,
	}
	for i, f in ipairs(bad) do
		eq(pcall(f), false, "bad input #" .. i)
	end
	-- the dispatcher checks what it is built from
	local t, f1 = {}, function() end
	local function one() return t end -- one upvalue, as skynet.lua's `running`
	local x, y, z = 1, 2, 3
	local function slot() return x, y, z end -- three upvalues, as skynet.lua's `call_slot`
	local ok_d, d = pcall(c.dispatcher, f1, f1, one, t, t, t, t, t, t, t, t, slot)
	eq(ok_d, true, "dispatcher")
	eq(type(d), "function")
	local _, e1 = pcall(c.dispatcher, f1, f1, one, t, t, t, t, t, t, t, 42, slot)
	eq(e1, "bad argument #11 to 'dispatcher'")
	local _, e3 = pcall(c.dispatcher, f1, f1, one, t, t, t, t, t, t, t, t, one)
	eq(e3, "bad argument #12 to 'dispatcher'")
	local function two() return x, y end
	local _, e4 = pcall(c.dispatcher, f1, f1, one, t, t, t, t, t, t, t, t, two)
	eq(e4, "bad argument #12 to 'dispatcher'")
	local _, e2 = pcall(c.dispatcher, f1, f1, f1, t, t, t, t, t, t, t, t, slot)
	eq(e2, "bad argument #3 to 'dispatcher'")
	-- trash of an unknown pointer and a send to nobody are quiet no-ops
	c.trash(wild, 8)
	eq(c.send(0x00fffffe, 10, 0, "x"), nil, "send to nobody")
	eq(skynet.sleep("abc"), nil, "a delay that is no number is 0")
	local ok = pcall(skynet.unpack, string.rep("\x16", 100) .. "\x00")
	eq(ok, false, "too deep")
	return "ok"
end

checkgroups.serve(T)
