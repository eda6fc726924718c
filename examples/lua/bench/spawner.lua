-- bench: on ("run", n, done) starts n idle services, then tells `done`.
local skynet = require "skynet"
skynet.start(function()
	skynet.dispatch("lua", function(_, _, cmd, n, done)
		assert(cmd == "run")
		for _ = 1, n do
			skynet.newservice("idle")
		end
		skynet.send(done, "lua", n)
	end)
end)
