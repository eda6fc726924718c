-- bench: answers n with n + 1.
local skynet = require "skynet"
skynet.start(function()
	skynet.dispatch("lua", function(_, _, n)
		skynet.retpack(n + 1)
	end)
end)
