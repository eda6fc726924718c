-- bench: on ("run", sink, n) sends sink n messages.
local skynet = require "skynet"
skynet.start(function()
	skynet.dispatch("lua", function(_, _, cmd, sink, n)
		assert(cmd == "run")
		for i = 1, n do
			skynet.send(sink, "lua", i)
		end
	end)
end)
