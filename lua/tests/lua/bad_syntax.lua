local skynet = require "skynet"

local x = = 1
