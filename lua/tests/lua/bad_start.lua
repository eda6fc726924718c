local skynet = require "skynet"

skynet.start(function()
	error("cannot start")
end)
