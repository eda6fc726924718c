-- A helper of api_checks.lua. `api_helper` answers commands; `api_helper forward TARGET`
-- relays every LUA request raw to TARGET through skynet.forward_type; `api_helper filter`
-- sees every message first through skynet.filter (and turns TEXT into LUA).
local skynet = require "skynet"
require "skynet.manager"
local c = require "skynet.core"

local mode, target = ...
local CMD = {}
local recorded = {}

function CMD.add(a, b)
	return a + b
end

function CMD.fail()
	error("helper fails on purpose")
end

function CMD.exit()
	skynet.exit()
end

function CMD.tag()
	return skynet.tracetag()
end

function CMD.trace_then_tag()
	skynet.trace("in the helper")
	return skynet.tracetag()
end

function CMD.traceproto(name, flag)
	skynet.traceproto(name, flag)
	return true
end

function CMD.count(...)
	return select("#", ...)
end

function CMD.running()
	return skynet.running() == coroutine.running()
end

function CMD.context()
	return skynet.context()
end

-- A send: records what skynet.context says (no reply).
function CMD.record_context()
	recorded.send = table.pack(skynet.context())
end

-- After ignoreret the session is spent; the source stays.
function CMD.record_after_ignoreret()
	skynet.ignoreret()
	recorded.ignoreret = table.pack(skynet.context())
end

function CMD.recorded(what)
	local r = recorded[what]
	return table.unpack(r, 1, r.n)
end

-- A send whose handler yields many values to the dispatcher (not a command: the message
-- fails with "Unknown command", the service goes on).
function CMD.yield_many()
	coroutine.yield(1, 2, 3, 4, 5, 6, 7, 8, 9, 10)
end

-- Never answers: the request's end tells the caller (an error; "Maybe forgot response").
function CMD.forget()
	return "NORET"
end

-- Waits for ever: a kill tells the caller (the request record is still held).
function CMD.hold()
	skynet.wait()
	return "NORET"
end

-- Answers through skynet.response: once it is taken, context has no session.
function CMD.context_after_response()
	local resp = skynet.response()
	resp(true, skynet.context())
	return "NORET"
end

local function dispatch_lua(_, _, cmd, ...)
	local f = assert(CMD[cmd], cmd)
	local function reply(first, ...)
		if first ~= "NORET" and cmd ~= "record_context" and cmd ~= "record_after_ignoreret" then
			skynet.retpack(first, ...)
		end
	end
	reply(f(...))
end

if mode == "forward" then
	-- skynet's proxy pattern: LUA requests arrive as "relay" and go on raw; responses
	-- stay responses; anything else (the "own" protocol) is dispatched as it is.
	target = tonumber(target)
	local relayed = 0
	skynet.register_protocol {
		name = "relay",
		id = 100,
		unpack = function(...) return ... end,
		dispatch = function(session, source, msg, sz)
			relayed = relayed + 1
			skynet.ret(skynet.rawcall(target, "lua", msg, sz))
		end,
	}
	skynet.register_protocol {
		name = "own",
		id = 101,
		pack = skynet.pack,
		unpack = skynet.unpack,
		dispatch = function(_, _, cmd)
			assert(cmd == "relayed")
			skynet.retpack(relayed)
		end,
	}
	skynet.forward_type({ [skynet.PTYPE_LUA] = 100, [skynet.PTYPE_RESPONSE] = skynet.PTYPE_RESPONSE },
		function() end)
elseif mode == "filter" then
	local seen = {}
	local total = 0
	CMD.add_total = function(n)
		total = total + n
		return "NORET"
	end
	CMD.total = function()
		return total
	end
	CMD.seen = function(ptype)
		return seen[ptype] or 0
	end
	skynet.filter(function(ptype, msg, sz, session, source)
		seen[ptype] = (seen[ptype] or 0) + 1
		if ptype == skynet.PTYPE_TEXT then
			ptype = skynet.PTYPE_LUA -- the bytes are skynet.pack values
		end
		return ptype, msg, sz, session, source
	end, function()
		skynet.dispatch("lua", dispatch_lua)
	end)
else
	skynet.start(function()
		skynet.dispatch("lua", dispatch_lua)
	end)
end
