-- A service started by skynet.service: ("init", code, ...) runs the main function sent as
-- bytecode, with skynet.start caught so its start function runs before the answer.
local skynet = require "skynet"

local name = ...

skynet.start(function()
	skynet.dispatch("lua", function(_, _, cmd, code, ...)
		assert(cmd == "init", "service_cell: not started yet")
		local start_func
		local real_start = skynet.start
		skynet.start = function(f)
			start_func = f
		end
		local main = assert(load(code, "=" .. tostring(name), "b"))
		local ok, err = pcall(main, ...)
		skynet.start = real_start
		assert(ok, err)
		if start_func then
			start_func()
		end
		skynet.retpack(skynet.self())
	end)
end)
