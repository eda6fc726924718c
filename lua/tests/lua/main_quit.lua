-- A node's `start` service: says it started (with its arguments), then stops the node.
local skynet = require "skynet"
require "skynet.manager"

local args = table.concat({ ... }, " ")

skynet.start(function()
	skynet.error("lua main started: " .. args)
	skynet.abort()
end)
