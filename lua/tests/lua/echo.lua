-- A helper service for the tests: answers commands in various ways.
local skynet = require "skynet"

local mode = ...
local held = {}

local CMD = {}

function CMD.add(a, b)
	return a + b
end

function CMD.echo(...)
	return ...
end

function CMD.fail(text)
	error(text or "boom")
end

function CMD.sleep(ti, v)
	skynet.sleep(ti)
	return v
end

-- Answers later, from another coroutine, through skynet.response.
function CMD.later(v)
	local resp = skynet.response()
	held[#held + 1] = function() resp(true, v) end
	return "NORET"
end

function CMD.release()
	for _, f in ipairs(held) do
		f()
	end
	held = {}
	return #held
end

function CMD.refuse()
	local resp = skynet.response()
	skynet.fork(function() resp(false) end)
	return "NORET"
end

function CMD.noreply()
	return "NORET"
end

function CMD.hold()
	-- never answers: the caller waits until this service dies
	skynet.wait()
end

function CMD.exit()
	skynet.fork(skynet.exit)
	return "NORET"
end

function CMD.mode()
	return mode
end

skynet.start(function()
	skynet.dispatch("lua", function(session, source, cmd, ...)
		local f = assert(CMD[cmd], cmd)
		local function reply(first, ...)
			if first ~= "NORET" then
				skynet.retpack(first, ...)
			end
		end
		reply(f(...))
	end)
end)
