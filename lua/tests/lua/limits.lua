-- Errors and limits: a memory limit, a memory warning, an endless loop.
local skynet = require "skynet"

local limit = ...
if limit then
	skynet.memlimit(tonumber(limit))
end

local keep

local CMD = {}

function CMD.ping()
	return "pong"
end

function CMD.grow()
	local t = {}
	for i = 1, 1e8 do
		t[i] = string.rep("x", 64) .. i
	end
	return #t
end

function CMD.big(mb)
	keep = string.rep("y", mb * 1024 * 1024)
	return #keep
end

function CMD.spin()
	skynet.setenv("lua_spinning", "1")
	local n = 0
	while true do
		n = n + 1
	end
end

-- Sends itself bytes that do not unpack (short: they travel inline), then answers.
function CMD.badsend()
	skynet.rawsend(skynet.self(), "lua", "\x44\x05")
	return "sent"
end

function CMD.traceback()
	local function inner() error("deep error") end
	local ok, tb = xpcall(inner, debug.traceback)
	return tb, debug.getinfo(1, "S").short_src
end

skynet.start(function()
	skynet.dispatch("lua", function(_, _, cmd, ...)
		skynet.retpack(assert(CMD[cmd], cmd)(...))
	end)
end)
