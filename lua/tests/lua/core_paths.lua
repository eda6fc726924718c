-- skynet.core's commands on their C path and through mlua, and its functions built on
-- first call (limits.rs, core_commands_answer_and_fail_as_before).
local skynet = require "skynet"
local c = require "skynet.core"

skynet.start(function()
	skynet.dispatch("lua", function()
		local ok, e = pcall(c.command, "NOPE")
		local ok2, e2 = pcall(c.intcommand, "STARTTIME", {})
		local h, remote = c.harbor(skynet.self())
		skynet.error("core paths", "logged", 1)
		local t = c.intcommand("STARTTIME")
		local a = c.addresscommand("REG")
		local s = c.command("REG")
		-- a number parameter is written out, and a string command name found
		local env_ok = pcall(c.command, "SETENV", "core_paths_key 12")
		local got = c.command("GETENV", "core_paths_key")
		skynet.ret(skynet.pack(ok, tostring(e), type(e), ok2, tostring(e2), h, remote,
			math.type(t), a == skynet.self(), s == skynet.address(skynet.self()), type(c.trace),
			env_ok, got))
	end)
end)
