-- Run inside a live service by the console's inject: prints go to the reply.
local skynet = require "skynet"
print("injected into", skynet.address(skynet.self()))
