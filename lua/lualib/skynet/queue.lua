-- skynet.queue: a critical section. `local cs = queue(); cs(f, ...)` runs f(...) when no
-- other coroutine of this service is inside cs (the same coroutine may enter again);
-- waiting coroutines run in the order they came.
local skynet = require "skynet"

local co_running = coroutine.running
local tremove = table.remove
local traceback = debug.traceback

return function()
	local owner -- the coroutine inside
	local depth = 0 -- its nesting
	local waiting = {}

	local function leave(ok, ...)
		depth = depth - 1
		if depth == 0 then
			owner = tremove(waiting, 1)
			if owner then
				skynet.wakeup(owner)
			end
		end
		if not ok then
			error((...), 0)
		end
		return ...
	end

	return function(f, ...)
		local co = co_running()
		if owner and owner ~= co then
			waiting[#waiting + 1] = co
			skynet.wait()
			assert(depth == 0 and owner == co)
		end
		owner = co
		depth = depth + 1
		return leave(xpcall(f, traceback, ...))
	end
end
