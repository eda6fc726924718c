-- A key-value store: set, get, del, keys. Run as a unique service.
local skynet = require "skynet"

local db = {}
local CMD = {}

function CMD.set(key, value)
	local old = db[key]
	db[key] = value
	return old
end

function CMD.get(key)
	return db[key]
end

function CMD.del(key)
	local old = db[key]
	db[key] = nil
	return old
end

function CMD.keys()
	local t = {}
	for k in pairs(db) do
		t[#t + 1] = k
	end
	table.sort(t)
	return t
end

skynet.start(function()
	skynet.dispatch("lua", function(_, _, cmd, ...)
		local f = CMD[cmd]
		if not f then
			error("unknown command " .. tostring(cmd))
		end
		skynet.retpack(f(...))
	end)
end)
