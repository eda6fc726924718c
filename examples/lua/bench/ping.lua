-- bench: on ("run", target, n, done) calls target n times, then tells `done`.
local skynet = require "skynet"
skynet.start(function()
	skynet.dispatch("lua", function(_, _, cmd, target, n, done)
		assert(cmd == "run")
		local v = 0
		for _ = 1, n do
			v = skynet.call(target, "lua", v)
		end
		skynet.send(done, "lua", v)
	end)
end)
