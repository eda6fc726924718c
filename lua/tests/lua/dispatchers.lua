-- The host's dispatcher and its Lua fallbacks: a dispatch_message replaced before
-- skynet.start sees every message; while a coroutine is timed by skynet.profile,
-- requests and responses go through the Lua path.
local skynet = require "skynet"
local profile = require "skynet.profile"

local mode = ...
local seen = 0
local held = {}
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
		elseif cmd == "hold" then
			held[#held + 1] = coroutine.running()
			skynet.wait()
			skynet.retpack("held")
		elseif cmd == "burst" then
			-- n requests held at once (more coroutines than the pool's spare and its
			-- noted records), released, then n plain calls through the pool again
			local n = ...
			local done, me = 0, coroutine.running()
			for _ = 1, n do
				skynet.fork(function()
					assert(skynet.call(skynet.self(), "lua", "hold") == "held")
					done = done + 1
					if done == n then
						skynet.wakeup(me)
					end
				end)
			end
			while #held < n do
				skynet.yield()
			end
			local cos = held
			held = {}
			for _, co in ipairs(cos) do
				skynet.wakeup(co)
			end
			skynet.wait()
			for i = 1, n do
				assert(skynet.call(skynet.self(), "lua", "echo", i) == i)
			end
			skynet.retpack(done)
		elseif cmd == "badbody" then
			-- a send to itself whose body does not unpack: the handler never runs (the
			-- error is logged); the service serves on
			local c = require "skynet.core"
			c.send(skynet.self(), skynet.PTYPE_LUA, 0, "\xff")
			skynet.retpack(skynet.call(skynet.self(), "lua", "echo", 3))
		elseif cmd == "timed" then
			local peer = ...
			profile.start()
			local r = skynet.call(peer, "lua", "echo", 41)
			local t = profile.stop()
			skynet.retpack(r + 1, t >= 0)
		end
	end)
end)
