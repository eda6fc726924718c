-- The host's dispatcher and its Lua fallbacks: a dispatch_message replaced before
-- skynet.start sees every message; while a coroutine is timed by skynet.profile,
-- requests and responses go through the Lua path.
local skynet = require "skynet"
local profile = require "skynet.profile"

local mode = ...
local seen = 0
if mode == "replaced" then
	local original = skynet.dispatch_message
	skynet.dispatch_message = function(...)
		seen = seen + 1
		return original(...)
	end
end

skynet.start(function()
	skynet.dispatch("lua", function(_, _, cmd, ...)
		if cmd == "seen" then
			skynet.retpack(seen)
		elseif cmd == "echo" then
			skynet.retpack(...)
		elseif cmd == "timed" then
			local peer = ...
			profile.start()
			local r = skynet.call(peer, "lua", "echo", 41)
			local t = profile.stop()
			skynet.retpack(r + 1, t >= 0)
		end
	end)
end)
