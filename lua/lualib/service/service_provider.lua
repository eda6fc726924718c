-- The unique service behind skynet.service: one service per name.
local skynet = require "skynet"

local services = {} -- name -> { address = addr | nil, booting = bool, waiting = { response } }

local function entry(name)
	local s = services[name]
	if not s then
		s = { waiting = {} }
		services[name] = s
	end
	return s
end

local CMD = {}

-- The address, or nil and whether it is being started.
function CMD.test(name)
	local s = services[name]
	if s and s.address then
		return s.address
	end
	return nil, (s ~= nil and s.booting == true)
end

-- Waits until the service is started.
function CMD.query(name)
	local s = entry(name)
	if s.address then
		return s.address
	end
	if s.error then
		error(s.error)
	end
	s.waiting[#s.waiting + 1] = skynet.response()
	return "NORET"
end

function CMD.launch(name, code, ...)
	local s = entry(name)
	if s.address then
		return s.address
	end
	if s.booting then
		return CMD.query(name)
	end
	s.booting = true
	local ok, addr = pcall(function(...)
		local a = skynet.newservice("service_cell", name)
		skynet.call(a, "lua", "init", code, ...)
		return a
	end, ...)
	s.booting = false
	local waiting = s.waiting
	s.waiting = {}
	if ok then
		s.address = addr
	else
		services[name] = nil
	end
	for _, resp in ipairs(waiting) do
		resp(ok, addr)
	end
	if not ok then
		error(addr)
	end
	return addr
end

function CMD.close(name)
	local s = services[name]
	if s and s.address then
		services[name] = nil
		return s.address
	end
end

skynet.start(function()
	skynet.dispatch("lua", function(_, _, cmd, ...)
		local f = assert(CMD[cmd], cmd)
		local function reply(first, ...)
			if first ~= "NORET" then
				skynet.retpack(first, ...)
			end
		end
		reply(f(...))
	end)
end)
