-- What the check services (checks, api_checks, interop) share: `eq`, and `serve`, the
-- driver that answers `call(addr, "lua", "run", name)` by running one group of checks and
-- answering what it returns ("ok"), or raising (the Rust test sees the error).
local skynet = require "skynet"

local M = {}

-- Raises, blaming the caller's line, when `a` is not `b`.
function M.eq(a, b, what)
	if a ~= b then
		error(string.format("%s: expected %s, got %s", what or "value", tostring(b), tostring(a)), 2)
	end
end

-- Starts the service, running the groups of `T` by name.
function M.serve(T)
	skynet.start(function()
		skynet.dispatch("lua", function(_, _, cmd, name)
			assert(cmd == "run")
			skynet.retpack(assert(T[name], name)())
		end)
	end)
end

return M
