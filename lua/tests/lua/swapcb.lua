-- A service on skynet.core alone that replaces its callback from inside it (the host
-- keeps the callback on the main thread's stack between messages: it must see the
-- change), and can clear it to a function that raises.
local c = require "skynet.core"
local first, second
second = function(_, msg, sz, session, source)
	local cmd = c.unpack(msg, sz)
	if cmd == "back" then
		c.callback(first)
	elseif cmd == "fail" then
		error("second fails")
	end
	c.send(source, 1, session, c.pack("second", cmd))
end
first = function(_, msg, sz, session, source)
	local cmd = c.unpack(msg, sz)
	if cmd == "swap" then
		c.callback(second)
		c.callback(second) -- set twice: still the one function
	end
	c.send(source, 1, session, c.pack("first", cmd))
end
c.callback(first)
c.command("LAUNCHOK")
