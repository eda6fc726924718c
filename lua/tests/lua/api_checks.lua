-- Checks of the API functions checks.lua does not cover: tracing (trace, tracetag,
-- tracecall, traceproto, skynet.core.trace), context, uniqtask and task, and
-- skynet.manager's forward_type, filter and monitor. `call(addr, "lua", "run", name)`
-- runs one group and answers "ok" or raises. tests/checks.rs also reads the log lines
-- the trace group writes.
local skynet = require "skynet"
require "skynet.manager"
local c = require "skynet.core"

local checkgroups = require "checkgroups"
local eq = checkgroups.eq

local T = {}

function T.trace()
	local helper = skynet.newservice("api_helper")
	eq(skynet.tracetag(), nil, "no tag before skynet.trace")
	skynet.trace("hello") -- logs "TRACE nil", then "<TRACE :ADDR-1> TIME trace hello"
	local tag = skynet.tracetag()
	eq(tag, string.format(":%08x-1", skynet.self()), "the tag is :ADDR-N")
	-- the tag travels with a call (a TRACE message goes first): the callee's handler
	-- runs under it, and logs request, response, end
	eq(skynet.call(helper, "lua", "tag"), tag, "the callee runs under the caller's tag")
	-- a fork has no tag of its own
	local fork_tag = "unset"
	skynet.fork(function() fork_tag = skynet.tracetag() end)
	skynet.yield()
	eq(fork_tag, nil, "a fork is not traced")
	-- tracecall: an explicit tag for one raw call
	local msg, sz = skynet.tracecall("mytag", helper, "lua", skynet.pack("tag"))
	eq(skynet.unpack(msg, sz), "mytag", "tracecall's tag reaches the callee")
	-- traceproto(false) forces tracing off for the protocol: a traced caller's tag is
	-- dropped, and skynet.trace inside does nothing
	skynet.call(helper, "lua", "traceproto", "lua", false)
	eq(skynet.call(helper, "lua", "tag"), false, "traceproto false: no tag")
	eq(skynet.call(helper, "lua", "trace_then_tag"), false, "trace does nothing then")
	-- traceproto(true): every request is traced, tagged by the callee
	skynet.call(helper, "lua", "traceproto", "lua", true)
	local got
	skynet.fork(function() got = skynet.call(helper, "lua", "tag") end) -- untraced caller
	while got == nil do
		skynet.yield()
	end
	eq(got, string.format(":%08x-1", helper), "traceproto true: the callee traces")
	-- skynet.core.trace's shapes: no frames, frames from a level, frames of a thread
	c.trace("shape", "plain")
	c.trace("shape", "here", 1)
	local co = coroutine.create(function() coroutine.yield() end)
	coroutine.resume(co)
	c.trace("shape", "thread", co, 0)
	c.trace("shape", 42) -- a number is a string, as luaL_checkstring has it
	for i, bad in ipairs {
		function() c.trace(nil, "x") end,
		function() c.trace("t", {}) end,
		function() c.trace("t", "x", "level") end,
		function() c.trace("t", "x", 1.5) end,
	} do
		eq(pcall(bad), false, "bad trace arguments #" .. i)
	end
	skynet.kill(helper)
	return "ok"
end

function T.context()
	local helper = skynet.newservice("api_helper")
	-- inside a call: the request's session and source
	local session, source = skynet.call(helper, "lua", "context")
	eq(source, skynet.self(), "context source")
	eq(math.type(session), "integer", "context session type")
	eq(session > 0, true, "a call has a session")
	-- a send has session 0
	skynet.send(helper, "lua", "record_context")
	local s, a = skynet.call(helper, "lua", "recorded", "send")
	eq(s, 0, "a send's session") eq(a, skynet.self(), "a send's source")
	-- once skynet.response or ignoreret took the session, context has none
	s, a = skynet.call(helper, "lua", "context_after_response")
	eq(s, nil, "no session after response") eq(a, skynet.self(), "source after response")
	skynet.send(helper, "lua", "record_after_ignoreret")
	s, a = skynet.call(helper, "lua", "recorded", "ignoreret")
	eq(s, nil, "no session after ignoreret") eq(a, skynet.self(), "source after ignoreret")
	-- a fork handles no request
	local fs, fa = "unset", "unset"
	skynet.fork(function() fs, fa = skynet.context() end)
	skynet.yield()
	eq(fs, nil, "a fork's session") eq(fa, nil, "a fork's source")
	-- our own handler (called from Rust): a session and the caller
	s, a = skynet.context()
	eq(s > 0, true, "the run request has a session")
	eq(math.type(a), "integer", "and a source")
	-- a request never answered fails its call when the handler ends; the coroutine's
	-- record is reused for the next request
	eq(pcall(skynet.call, helper, "lua", "forget"), false, "a forgotten response fails")
	session, source = skynet.call(helper, "lua", "context")
	eq(source, skynet.self(), "context source after a forgotten response")
	eq(session > 0, true, "and a session")
	-- A request to a new helper, then the helper killed: what the call gave (waiting for
	-- its answer however long a loaded machine takes: the test's own deadline bounds it).
	local function outcome_when_killed(call, ...)
		local me, victim, got = coroutine.running(), skynet.newservice("api_helper"), "unset"
		local args = table.pack(...)
		skynet.fork(function()
			got = pcall(call, victim, "lua", table.unpack(args, 1, args.n))
			skynet.wakeup(me)
		end)
		skynet.yield()
		skynet.kill(victim)
		if got == "unset" then
			skynet.wait(me)
		end
		return got
	end
	-- a request held when its service is killed fails its call
	eq(outcome_when_killed(skynet.call, "hold"), false, "a held request fails when its service is killed")
	-- so does a request that did not unpack (noted before its unpack, as in skynet)
	eq(
		outcome_when_killed(skynet.rawcall, "\x44\x05"),
		false,
		"a request that did not unpack fails when its service is killed"
	)
	-- a handler yielding many values to the dispatcher fails that message only
	skynet.send(helper, "lua", "yield_many")
	eq(skynet.call(helper, "lua", "add", 1, 2), 3, "the service goes on after many yielded values")
	skynet.kill(helper)
	return "ok"
end

function T.uniqtask()
	local tokens = {}
	local woken = 0
	for i = 1, 12 do -- twelve coroutines waiting at the same place
		tokens[i] = {}
		skynet.fork(function()
			skynet.wait(tokens[i])
			woken = woken + 1
		end)
	end
	local lone = {}
	skynet.fork(function() skynet.sleep(100000, lone) end) -- one elsewhere
	skynet.yield()
	local function check(u, what)
		local twelve, one = nil, nil
		for head, stack in pairs(u) do
			eq(type(stack), "string", what .. ": a traceback")
			local n, sessions = head:match("^(%d+)\tsessions:%[(.*)%]\n$")
			assert(n, what .. ": head line " .. head)
			if n == "12" then
				twelve = sessions
				eq(stack:match("stack traceback") ~= nil, true, what .. ": traceback text")
			elseif n == "1" and stack:match("sleep") then
				one = sessions
			end
		end
		-- skynet lists nine sessions of a group, and "..." past ten
		assert(twelve and twelve:match("^%d+,%d+,%d+,%d+,%d+,%d+,%d+,%d+,%d+%.%.%.$"),
			what .. ": twelve waiters: " .. tostring(twelve))
		assert(one and one:match("^%d+$"), what .. ": the sleeper: " .. tostring(one))
	end
	check(skynet.uniqtask(), "uniqtask")
	-- the debug protocol's UNIQTASK answers the same (the caller waits there too)
	check(skynet.call(skynet.self(), "debug", "UNIQTASK"), "debug UNIQTASK")
	-- skynet.task: the count, and tracebacks keyed "thread: 0x... session: N"
	eq(skynet.task(), 13, "task count")
	local t = {}
	skynet.task(t)
	local n = 0
	for key, tb in pairs(t) do
		assert(key:match("^thread: 0x%x+ session: %d+$"), "task key " .. key)
		eq(type(tb), "string", "task traceback")
		n = n + 1
	end
	eq(n, 13, "task table entries")
	for i = 1, 12 do
		skynet.wakeup(tokens[i])
	end
	skynet.wakeup(lone)
	skynet.yield()
	eq(woken, 12, "all woken")
	eq(skynet.task(), 0, "no task left")
	-- the woken sleep's timer has not fired yet: skynet lists its session as "BREAK"
	for head, stack in pairs(skynet.uniqtask()) do
		eq(stack, "BREAK", "only the broken sleep is left: " .. head)
	end
	return "ok"
end

-- Calls in flight at once: the first waits in skynet.lua's call slot, the ones made
-- meanwhile in session_wait. Each reply wakes its own caller; skynet.task lists every
-- waiting call; "the callee is gone" (ERROR with session 0 from it) fails each.
function T.calls_in_flight()
	local helper = skynet.newservice("api_helper")
	local me, n = coroutine.running(), 3
	-- a fork gets exactly its arguments, on a fresh or a pooled coroutine
	local counts = {}
	for round = 1, 3 do
		skynet.fork(function(...) counts[#counts + 1] = select("#", ...) end)
		skynet.fork(function(...) counts[#counts + 1] = select("#", ...) end, 1, nil)
		skynet.yield()
	end
	eq(table.concat(counts, ","), "0,2,0,2,0,2", "fork arguments")
	local sums, left = {}, n
	for i = 1, n do
		skynet.fork(function()
			sums[i] = skynet.call(helper, "lua", "add", i, 10)
			-- woken from the call slot or session_wait, the coroutine is skynet.running()
			assert(skynet.running() == coroutine.running(), "running after call " .. i)
			left = left - 1
			if left == 0 then
				skynet.wakeup(me)
			end
		end)
	end
	skynet.wait(me)
	for i = 1, n do
		eq(sums[i], i + 10, "the reply of call " .. i)
	end
	eq(skynet.call(helper, "lua", "running"), true, "a request's handler is skynet.running()")
	-- many values unpacked at once (the stack grows as they come)
	local many = {}
	for i = 1, 100 do
		many[i] = i
	end
	eq(select("#", skynet.unpack(skynet.pack(table.unpack(many)))), 100, "100 values unpacked")
	eq(skynet.call(helper, "lua", "count", table.unpack(many)), 100, "a request of 101 values")
	eq(skynet.running(), coroutine.running(), "and the caller after it")
	local cos, got = {}, {}
	left = n
	for i = 1, n do
		cos[i] = skynet.fork(function()
			got[i] = table.pack(pcall(skynet.call, helper, "lua", "hold"))
			left = left - 1
			if left == 0 then
				skynet.wakeup(me)
			end
		end)
	end
	skynet.yield() -- the forks have made their calls
	eq(skynet.task(), n, "every call waiting is a task")
	local t, k = {}, 0
	skynet.task(t)
	for key, tb in pairs(t) do
		assert(key:match("^thread: 0x%x+ session: %d+$"), "task key " .. key)
		eq(type(tb), "string", "task traceback")
		k = k + 1
	end
	eq(k, n, "task table entries")
	for i = 1, n do
		local session = skynet.task(cos[i])
		eq(math.type(session), "integer", "the session call " .. i .. " waits on")
		eq(skynet.task(session):match("stack traceback") ~= nil, true, "its traceback")
	end
	c.redirect(skynet.self(), helper, skynet.PTYPE_ERROR, 0, "")
	if left > 0 then
		skynet.wait(me)
	end
	for i = 1, n do
		eq(got[i][1], false, "call " .. i .. " failed")
		eq(tostring(got[i][2]):match("call failed") ~= nil, true, "call " .. i .. ": " .. tostring(got[i][2]))
	end
	eq(skynet.task(), 0, "no call waits")
	eq(skynet.call(helper, "lua", "add", 1, 1), 2, "a call after them")
	skynet.kill(helper) -- answers the held requests: sessions nobody waits on any more
	return "ok"
end

function T.forward_type()
	local target = skynet.newservice("api_helper")
	local fwd = skynet.newservice("api_helper", "forward", target)
	eq(skynet.call(fwd, "lua", "add", 2, 3), 5, "a LUA call relayed raw")
	eq(skynet.call(fwd, "lua", "add", 40, 2), 42, "again")
	local ok = pcall(skynet.call, fwd, "lua", "fail")
	eq(ok, false, "the target's error reaches the caller")
	-- a type not in the map is dispatched as itself
	skynet.register_protocol { name = "own", id = 101, pack = skynet.pack, unpack = skynet.unpack }
	eq(skynet.call(fwd, "own", "relayed"), 3, "unmapped protocol dispatched as itself")
	skynet.kill(fwd)
	skynet.kill(target)
	return "ok"
end

function T.filter()
	local f = skynet.newservice("api_helper", "filter")
	-- TEXT messages carrying packed values: the filter makes them LUA
	c.send(f, skynet.PTYPE_TEXT, 0, skynet.packstring("add_total", 5))
	c.send(f, skynet.PTYPE_TEXT, 0, skynet.packstring("add_total", 7))
	eq(skynet.call(f, "lua", "total"), 12, "TEXT turned into LUA by the filter")
	eq(skynet.call(f, "lua", "seen", skynet.PTYPE_TEXT), 2, "the filter saw the TEXT messages")
	eq(skynet.call(f, "lua", "seen", skynet.PTYPE_LUA) >= 2, true, "and the LUA ones")
	eq(skynet.call(f, "lua", "add", 1, 2), 3, "other messages pass unchanged")
	skynet.kill(f)
	return "ok"
end

function T.monitor()
	eq(c.command("MONITOR"), nil, "no monitor yet")
	local m = skynet.monitor("api_monitor")
	eq(skynet.uniqueservice("api_monitor"), m, "the monitor is the unique service")
	eq(skynet.monitor("api_monitor", true), m, "query: the same monitor")
	eq(c.command("MONITOR"), skynet.address(m), "MONITOR without a name answers it")
	local a = skynet.newservice("api_helper")
	local b = skynet.newservice("api_helper")
	local alive = skynet.newservice("api_helper")
	skynet.send(a, "lua", "exit") -- ends itself
	skynet.kill(b) -- killed
	eq(skynet.call(m, "lua", "wait_exit", a), true, "an exit is reported")
	eq(skynet.call(m, "lua", "wait_exit", b), true, "a kill is reported")
	eq(skynet.call(m, "lua", "exited", alive), false, "a live service is not")
	eq(pcall(c.command, "MONITOR", ".no_such_name"), false, "MONITOR of nobody raises")
	skynet.kill(alive)
	return "ok"
end

-- dispatch_unknown_request / dispatch_unknown_response: what a message nobody expects
-- reaches, and the previous handler returned.
function T.unknown()
	local requests, responses = {}, {}
	local prev_req = skynet.dispatch_unknown_request(function(session, source, msg, sz, prototype)
		requests[#requests + 1] = { session, source, skynet.tostring(msg, sz), prototype }
	end)
	local prev_resp = skynet.dispatch_unknown_response(function(session, source, msg, sz)
		responses[#responses + 1] = { session, source, skynet.tostring(msg, sz) }
	end)
	eq(type(prev_req), "function", "the default request handler is returned")
	eq(type(prev_resp), "function", "the default response handler is returned")
	-- an unregistered protocol, no session: the handler gets the type's number
	c.send(skynet.self(), 99, 0, "who?")
	-- a registered protocol without dispatch: the handler gets its name
	skynet.register_protocol { name = "nodispatch", id = 98 }
	c.send(skynet.self(), 98, 0, "nobody")
	-- a response nobody waits for
	c.send(skynet.self(), skynet.PTYPE_RESPONSE, 0x7fff0000, "late")
	skynet.yield()
	eq(#requests, 2, "two unknown requests")
	eq(requests[1][1], 0) eq(requests[1][2], skynet.self()) eq(requests[1][3], "who?")
	eq(requests[1][4], 99, "the type of an unregistered protocol")
	eq(requests[2][3], "nobody") eq(requests[2][4], "nodispatch", "a protocol's name")
	eq(#responses, 1, "one unknown response")
	eq(responses[1][1], 0x7fff0000) eq(responses[1][2], skynet.self())
	eq(responses[1][3], "late")
	-- with a session, an unknown request is answered with an error, not handed over
	eq(pcall(skynet.rawcall, skynet.self(), "nodispatch", "x"), false, "a call fails")
	eq(#requests, 2, "and the handler was not called")
	-- handing the old handlers back returns ours
	eq(skynet.dispatch_unknown_request(prev_req) ~= prev_req, true, "ours comes back")
	skynet.dispatch_unknown_response(prev_resp)
	return "ok"
end

-- skynet.netpack (pack, tostring) and skynet.socketdriver's argument checks; writing to
-- a real client is services/tests/lua_echo.rs.
function T.socket()
	local netpack = require "skynet.netpack"
	local socketdriver = require "skynet.socketdriver"
	local p, sz = netpack.pack("abc")
	eq(type(p), "userdata", "pack gives a pointer") eq(sz, 5, "and the framed size")
	eq(netpack.tostring(p, sz), "\0\3abc", "2-byte big-endian length, then the bytes")
	eq(pcall(netpack.tostring, p, sz), false, "tostring consumed the buffer")
	p, sz = netpack.pack(skynet.pack("x", 1)) -- a pointer and a size, as skynet's
	local framed = netpack.tostring(p, sz)
	eq(#framed, sz, "pack of a pointer")
	eq(skynet.unpack(framed:sub(3)), "x", "the packed values follow the header")
	p, sz = netpack.pack(string.rep("z", 65535))
	eq(sz, 65537, "the largest packet")
	skynet.trash(p, sz)
	local ok, err = pcall(netpack.pack, string.rep("z", 65536))
	eq(ok, false, "65,536 bytes do not fit")
	err = tostring(err) -- an error from a host function is an mlua error object
	eq(err:match("Invalid size %(too long%) of data : 65536") ~= nil, true, err)
	eq(netpack.tostring(nil, 0), "", "tostring of NULL")
	eq(netpack.filter, nil, "only pack and tostring")
	-- a socket that does not exist: nothing is written, and the answer is false (skynet's too)
	eq(socketdriver.send(0x7ffffff0, "x"), false, "send to no socket (skynet: false)")
	eq(socketdriver.lsend(0x7ffffff0, { "a", "b" }), false, "lsend to no socket (skynet: false)")
	socketdriver.close(0x7ffffff0)
	socketdriver.shutdown(0x7ffffff0)
	socketdriver.nodelay(0x7ffffff0)
	for i, bad in ipairs {
		function() socketdriver.send("one", "x") end,
		function() socketdriver.send(1, 42) end,
		function() socketdriver.send(1, { "a", 1 }) end,
		function() socketdriver.send(1, (netpack.pack("x"))) end, -- a pointer needs its size
		function() socketdriver.close(nil) end,
		function() socketdriver.send(1.5, "x") end,
		function() netpack.pack({}) end,
		function() netpack.tostring("x", 1) end,
	} do
		eq(pcall(bad), false, "bad socket arguments #" .. i)
	end
	return "ok"
end

checkgroups.serve(T)
