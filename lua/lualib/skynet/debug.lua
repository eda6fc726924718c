-- The debug protocol (PTYPE_DEBUG) that a Lua service answers for the console:
-- MEM, GC, STAT, TASK, UNIQTASK, INFO, EXIT, RUN (inject), TERM, PING, LINK, SUPPORT.
local M = {}

function M.init(skynet, export)
	local extern = {}

	local cmd = {}

	function cmd.MEM()
		skynet.ret(skynet.pack(collectgarbage "count"))
	end

	function cmd.GC()
		local before = collectgarbage "count"
		collectgarbage "collect"
		skynet.ret(skynet.pack(before, collectgarbage "count"))
	end

	function cmd.STAT()
		skynet.ret(skynet.pack {
			task = skynet.task(),
			mqlen = skynet.stat "mqlen",
			cpu = skynet.stat "cpu",
			message = skynet.stat "message",
		})
	end

	function cmd.TASK(session)
		if session then
			skynet.ret(skynet.pack(skynet.task(session)))
		else
			local t = {}
			skynet.task(t)
			skynet.ret(skynet.pack(t))
		end
	end

	function cmd.UNIQTASK()
		skynet.ret(skynet.pack(skynet.uniqtask()))
	end

	function cmd.INFO(...)
		local info_func = skynet.internal_info_func()
		if info_func then
			skynet.ret(skynet.pack(info_func(...)))
		else
			skynet.ret(skynet.pack(nil))
		end
	end

	function cmd.EXIT()
		skynet.exit()
	end

	-- Runs `source` (the text of a script) inside this service: skynet's inject, for hot
	-- fixes. The script's print goes to the reply; its error is the reply's second value.
	function cmd.RUN(source, filename, ...)
		local out = {}
		local env = setmetatable({
			print = function(...)
				local t = table.pack(...)
				for i = 1, t.n do
					t[i] = tostring(t[i])
				end
				out[#out + 1] = table.concat(t, "\t")
			end,
		}, { __index = _ENV })
		local f, err = load(source, "@" .. (filename or "inject"), "bt", env)
		if not f then
			skynet.ret(skynet.pack(nil, err))
			return
		end
		local ok, e = xpcall(f, debug.traceback, ...)
		if ok then
			skynet.ret(skynet.pack(table.concat(out, "\n")))
		else
			out[#out + 1] = tostring(e)
			skynet.ret(skynet.pack(nil, table.concat(out, "\n")))
		end
	end

	function cmd.TERM(service)
		skynet.term(service)
	end

	function cmd.PING()
		skynet.ret()
	end

	function cmd.LINK()
		-- answered only when the service exits
		skynet.response()
	end

	function cmd.SUPPORT(pname)
		return skynet.ret(skynet.pack(skynet.dispatch(pname) ~= nil))
	end

	local function dispatch(session, source, command, ...)
		local f = cmd[command] or extern[command]
		if f == nil then
			skynet.ret(skynet.pack(nil, "unknown debug command " .. tostring(command)))
			return
		end
		f(...)
	end

	skynet.register_protocol {
		name = "debug",
		id = assert(skynet.PTYPE_DEBUG),
		pack = assert(skynet.pack),
		unpack = assert(skynet.unpack),
		dispatch = dispatch,
	}

	function M.reg_debugcmd(name, fn)
		extern[name] = fn
	end
	return export
end

return M
