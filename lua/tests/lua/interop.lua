-- Lua calling Rust: a registered Rust type started with skynet.launch, called with
-- skynet.call; its replies arrive as Lua values.
local skynet = require "skynet"
require "skynet.manager"

local checkgroups = require "checkgroups"
local eq = checkgroups.eq

local T = {}

function T.rust()
	local adder = skynet.launch("adder", "10")
	assert(adder, "launch adder")
	eq(skynet.call(adder, "lua", "add", 2, 3), 15, "Rust answers a Lua call")
	local greeting, n = skynet.call(adder, "lua", "greet", "lua")
	eq(greeting, "hello lua") eq(n, 2)
	local t = skynet.call(adder, "lua", "table")
	eq(t[1], 1) eq(t[3], 3) eq(t.name, "x", "a table from Rust")
	local ok, err = pcall(skynet.call, adder, "lua", "fail")
	eq(ok, false, "a Rust error fails the call") eq(err:match("call failed") ~= nil, true, err)
	skynet.send(adder, "lua", "add", 1, 1)
	eq(skynet.launch("no_such_type"), nil, "unknown type")
	skynet.kill(adder)
	return "ok"
end

checkgroups.serve(T)
