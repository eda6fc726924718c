-- A service on skynet.core alone (no skynet library): its callback raises error objects
-- that are not strings, and the host must word them in its log line.
local c = require "skynet.core"
local n = 0
c.callback(function(ptype, msg, sz, session, source)
	n = n + 1
	if n == 1 then
		error(setmetatable({}, { __tostring = function() return "custom error object" end }))
	elseif n == 2 then
		error({})
	elseif n == 3 then
		error(setmetatable({}, { __tostring = function() error("tostring fails") end }))
	end
	-- then: answer with what the message held, unpacked and packed again
	c.send(source, 1, session, c.pack(c.unpack(msg, sz)))
end)
c.command("LAUNCHOK")
