-- bench: counts messages; after `n` of them tells `done`.
local skynet = require "skynet"
local n, done = ...
n = tonumber(n)
done = tonumber(done)
local count = 0
skynet.start(function()
	skynet.dispatch("lua", function()
		count = count + 1
		if count == n then
			skynet.send(done, "lua", count)
		end
	end)
end)
