-- The echo agent in Lua: one per connection, behind the Rust watchdog and gate
-- (examples/config/lua_echo.toml), in the style of skynet's examples/agent.lua.
-- The watchdog calls `start` with {client = fd, gate = ..., watchdog = ...}, then
-- forwards the connection here; each packet arrives as a "client" message whose session
-- is the fd; the reply goes straight to the socket, netpack-framed. `disconnect` ends
-- the agent when the client leaves.
local skynet = require "skynet"
local socketdriver = require "skynet.socketdriver"
local netpack = require "skynet.netpack"

local CMD = {}
local client_fd
local echoed = 0

skynet.register_protocol {
	name = "client",
	id = skynet.PTYPE_CLIENT,
	-- The packet as a pointer and a size (no copy): netpack.pack reads it from there.
	unpack = function(msg, sz)
		return msg, sz
	end,
	dispatch = function(fd, _, msg, sz)
		assert(fd == client_fd) -- the session is the fd
		skynet.ignoreret() -- session is fd, don't call skynet.ret
		socketdriver.send(fd, netpack.pack(msg, sz))
		echoed = echoed + 1
	end,
}

function CMD.start(conf)
	client_fd = conf.client
	-- skynet's agent calls skynet.call(conf.gate, "lua", "forward", fd) here; our
	-- watchdog forwards the connection itself once start has returned.
end

function CMD.disconnect()
	skynet.error(string.format("agent: fd %d gone after %d packets", client_fd or -1, echoed))
	skynet.exit()
end

skynet.start(function()
	skynet.dispatch("lua", function(_, _, command, ...)
		local f = assert(CMD[command], command)
		skynet.ret(skynet.pack(f(...)))
	end)
end)
