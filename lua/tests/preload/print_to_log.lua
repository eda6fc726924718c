-- Used as `preload` by tests/skynet_tests.rs: print goes to the node's log (each line
-- prefixed "PRINT "), so the test reads what a script printed.
local c = require "skynet.core"
function print(...)
	local t = table.pack(...)
	for i = 1, t.n do
		t[i] = tostring(t[i])
	end
	c.error("PRINT " .. table.concat(t, "\t"))
end
