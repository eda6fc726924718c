-- A monitor for api_checks.lua (in the manner of skynet's examples/simplemonitor.lua):
-- skynet.monitor makes the node send it a CLIENT message, source = the service, for
-- every service that exits.
local skynet = require "skynet"

local exited = {}
local waiting = {}

skynet.register_protocol {
	name = "client",
	id = skynet.PTYPE_CLIENT,
	unpack = function() end,
	dispatch = function(session, address)
		assert(session == 0, "an exit report has session 0")
		exited[address] = true
		local w = waiting[address]
		waiting[address] = nil
		for _, resp in ipairs(w or {}) do
			resp(true, true)
		end
	end,
}

skynet.start(function()
	skynet.dispatch("lua", function(_, _, cmd, addr)
		if cmd == "exited" then
			skynet.retpack(exited[addr] == true)
		elseif cmd == "wait_exit" then
			if exited[addr] then
				skynet.retpack(true)
			else
				waiting[addr] = waiting[addr] or {}
				table.insert(waiting[addr], skynet.response())
			end
		end
	end)
end)
