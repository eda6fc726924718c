-- skynet.manager: launch, kill, abort, register, name, forward_type, filter, monitor.
local skynet = require "skynet"
local c = require "skynet.core"

-- skynet.launch is in skynet (this host's LAUNCH); kept here too for skynet's layout.
local launch = skynet.launch

function skynet.launch(...)
	return launch(...)
end

function skynet.kill(name)
	if type(name) == "number" then
		name = skynet.address(name)
	end
	c.command("KILL", name)
end

function skynet.abort()
	c.command "ABORT"
end

local function local_name(name)
	assert(type(name) == "string" and string.sub(name, 1, 1) == ".",
		"only local names (.name) on this node: " .. tostring(name))
	return name
end

function skynet.register(name)
	c.command("REG", local_name(name))
end

function skynet.name(name, handle)
	c.command("NAME", local_name(name) .. " " .. skynet.address(handle))
end

local dispatch_message = skynet.dispatch_message

-- Messages whose type is in map are dispatched as map's type; the others as they are.
function skynet.forward_type(map, start_func)
	c.callback(function(ptype, msg, sz, ...)
		local prototype = map[ptype]
		if prototype then
			dispatch_message(prototype, msg, sz, ...)
		else
			local ok, err = pcall(dispatch_message, ptype, msg, sz, ...)
			c.trash(msg, sz)
			assert(ok, err)
		end
	end, true)
	skynet.timeout(0, function()
		skynet.init_service(start_func)
	end)
end

-- f sees every message first and returns what to dispatch.
function skynet.filter(f, start_func)
	c.callback(function(...)
		dispatch_message(f(...))
	end)
	skynet.timeout(0, function()
		skynet.init_service(start_func)
	end)
end

function skynet.monitor(service, query)
	local monitor
	if query then
		monitor = skynet.queryservice(true, service)
	else
		monitor = skynet.uniqueservice(true, service)
	end
	assert(monitor, "Monitor launch failed")
	c.command("MONITOR", string.format(":%08x", monitor))
	return monitor
end

return skynet
