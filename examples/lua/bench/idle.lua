-- bench: an idle service.
local skynet = require "skynet"
skynet.start(function() end)
