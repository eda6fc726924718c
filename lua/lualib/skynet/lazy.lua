-- skynet (continued): the rarely used part of the API, loaded into the `skynet` table on
-- first use (launching services, env and time, exit, introspection, tracing). Most
-- services touch little of it, and its functions would cost every Lua service memory and
-- start-up time. skynet.lua hands over the internals these functions share with it.

return function(skynet, internal)
	local c = internal.c
	local proto = internal.proto
	local session_wait = internal.session_wait
	local requests = internal.requests
	local request_tag = internal.request_tag
	local watching = internal.watching
	local unresponded = internal.unresponded
	local wait_session = internal.wait_session
	local error_dispatch = internal.error_dispatch
	local wake_errors = internal.wake_errors

	local assert, error, pairs, pcall, select, tostring, type, tonumber =
		assert, error, pairs, pcall, select, tostring, type, tonumber
	local tunpack, tconcat = table.unpack, table.concat
	local sformat = string.format
	local co_yield, co_close = coroutine.yield, coroutine.close
	local traceback = debug.traceback

	-- Collected here, then copied into `skynet` at the end.
	local M = {}

	function M.tracecall(tag, addr, typename, msg, sz)
		c.trace(tag, "tracecall begin")
		c.send(addr, skynet.PTYPE_TRACE, 0, tag)
		local p = proto[typename]
		local session = assert(c.send(addr, p.id, nil, msg, sz), "call to invalid address")
		local msg2, sz2 = wait_session(addr, session)
		c.trace(tag, "tracecall end")
		return msg2, sz2
	end


	function M.localname(name)
		return c.addresscommand("QUERY", name)
	end


	function M.harbor(addr)
		return c.harbor(addr)
	end


	local start_time
	function M.starttime()
		if not start_time then
			start_time = c.intcommand "STARTTIME"
		end
		return start_time
	end

	function M.time()
		return skynet.now() / 100 + (start_time or skynet.starttime())
	end

	function M.getenv(key)
		return c.command("GETENV", key)
	end

	function M.setenv(key, value)
		assert(c.command("GETENV", key) == nil, "Can't setenv exist key : " .. key)
		c.command("SETENV", key .. " " .. value)
	end


	---------------------------------------------------------------------------------------
	-- Launching services

	local function handle_of(text)
		return tonumber("0x" .. string.sub(text, 2))
	end
	M.string_to_handle = handle_of

	local function words(name, ...)
		local t = { name }
		for i = 1, select("#", ...) do
			t[#t + 1] = tostring((select(i, ...)))
		end
		return tconcat(t, " ")
	end

	-- Waits for a launch to report (RESPONSE: ready; ERROR: the reason).
	local function wait_launch(addr, session, what)
		watching[session] = addr
		session_wait[session] = skynet.running()
		local ok, msg, sz = co_yield "SUSPEND"
		watching[session] = nil
		if not ok then
			local why = msg and c.tostring(msg, sz) or "exited"
			error(sformat("%s failed: %s", what, why))
		end
	end

	function M.newservice(name, ...)
		local session = c.genid()
		local addr = c.command("NEWSERVICE", session .. " " .. words(name, ...))
		if addr == nil then
			error("newservice " .. tostring(name) .. " failed: script not found")
		end
		local handle = handle_of(addr)
		wait_launch(handle, session, "newservice " .. tostring(name))
		return handle
	end

	function M.uniqueservice(global, ...)
		if global == true then
			return skynet.uniqueservice(...) -- one node: global is local
		end
		local session = c.genid()
		local r = c.command("UNIQUE", session .. " " .. words(global, ...))
		if r == "WAIT" then
			wait_launch(0, session, "uniqueservice " .. tostring(global))
			r = c.command("UNIQUE", "0 " .. tostring(global))
		end
		if r == nil or r == "WAIT" then
			error("uniqueservice " .. tostring(global) .. " failed")
		end
		return handle_of(r)
	end

	function M.queryservice(global, ...)
		if global == true then
			return skynet.queryservice(...)
		end
		local session = c.genid()
		local r = c.command("QUERYSERVICE", session .. " " .. tostring(global))
		if r == "WAIT" then
			wait_launch(0, session, "queryservice " .. tostring(global))
			r = c.command("QUERYSERVICE", "0 " .. tostring(global))
		end
		if r == nil or r == "WAIT" then
			error("queryservice " .. tostring(global) .. " failed")
		end
		return handle_of(r)
	end

	-- skynet.launch("snlua", name, ...) starts a Lua service at once; any other name is a
	-- registered Rust service type, started by the launcher service (so, unlike skynet's,
	-- this launch yields: call it from a coroutine, skynet.start's or later). Returns the
	-- address, or nil when the launch failed (logged).
	function M.launch(name, ...)
		if name == "snlua" then
			local addr = c.command("LAUNCH", words(name, ...))
			if addr then
				return handle_of(addr)
			end
			return
		end
		if not c.addresscommand("QUERY", ".lua_launcher") then
			skynet.error("launch " .. tostring(name) .. " failed: no launcher (skynet_lua::install)")
			return
		end
		local args = { ... }
		for i = 1, select("#", ...) do
			args[i] = tostring(args[i])
		end
		local ok, addr = pcall(skynet.call, ".lua_launcher", "lua", "LAUNCH", name, tunpack(args))
		if ok then
			return addr
		end
		skynet.error("launch " .. tostring(name) .. " failed")
	end

	---------------------------------------------------------------------------------------
	-- Exit

	-- Fails everything that waits on this service: the requests it holds, the responses it
	-- promised, and (with ERROR 0) the services it was calling. Also run by the host when
	-- the service is killed.
	local function fail_waiters()
		for _, r in pairs(requests) do
			local session, source = r[1], r[2]
			if session and session ~= 0 and source then
				c.send(source, skynet.PTYPE_ERROR, session, "")
			end
		end
		for _, r in pairs(requests) do
			r[1] = nil
		end
		for resp in pairs(unresponded) do
			resp(false)
		end
		local callees = {}
		for _, addr in pairs(internal.watched()) do
			callees[addr] = true
		end
		for addr in pairs(callees) do
			c.send(addr, skynet.PTYPE_ERROR, 0, "")
		end
	end
	internal.fail_waiters = fail_waiters

	function M.exit()
		internal.reset_forks() -- no fork runs after exit
		fail_waiters()
		for _, co in pairs(internal.waiting()) do
			if type(co) == "thread" and co ~= skynet.running() then
				co_close(co)
			end
		end
		c.callback(function(_, _, _, session, source)
			if session ~= 0 and source ~= 0 then
				c.send(source, skynet.PTYPE_ERROR, session, "")
			end
		end)
		c.command "EXIT"
		co_yield "QUIT"
	end


	---------------------------------------------------------------------------------------
	-- Introspection

	function M.endless()
		return c.intcommand("STAT", "endless") == 1
	end

	function M.mqlen()
		return c.intcommand("STAT", "mqlen")
	end

	function M.stat(what)
		return c.intcommand("STAT", what)
	end

	-- A waiting coroutine's traceback (where its timeout was set, with trace_timeout on).
	local function task_traceback(co)
		if co == "BREAK" then
			return co
		end
		local timeout_traceback = internal.timeout_traceback()
		return timeout_traceback and timeout_traceback[co] or traceback(co)
	end

	function M.task(ret)
		if ret == nil then
			local n = 0
			for _, co in pairs(internal.waiting()) do
				if type(co) == "thread" then
					n = n + 1
				end
			end
			return n
		end
		if ret == "init" then
			local init_thread = internal.init_thread()
			if init_thread then
				return traceback(init_thread)
			end
			return
		end
		local tt = type(ret)
		if tt == "table" then
			for session, co in pairs(internal.waiting()) do
				ret[sformat("%s session: %d", tostring(co), session)] = task_traceback(co)
			end
			return
		elseif tt == "number" then
			local co = internal.waiting()[ret]
			if type(co) == "thread" then
				return traceback(co)
			end
			return "No session"
		elseif tt == "thread" then
			for session, co in pairs(internal.waiting()) do
				if co == ret then
					return session
				end
			end
			return
		end
	end

	-- Pending tasks grouped by stack: "COUNT\tsessions:[s1,s2,...]\n" -> traceback (nine
	-- sessions at most, then "..." past ten), as skynet's debug UNIQTASK shows them.
	function M.uniqtask()
		local stacks = {}
		for session, co in pairs(internal.waiting()) do
			local stack = task_traceback(co)
			local info = stacks[stack]
			if not info then
				info = { count = 0, sessions = {} }
				stacks[stack] = info
			end
			info.count = info.count + 1
			if info.count < 10 then
				info.sessions[#info.sessions + 1] = session
			end
		end
		local ret = {}
		for stack, info in pairs(stacks) do
			local sessions = tconcat(info.sessions, ",")
			if info.count > 10 then
				sessions = sessions .. "..."
			end
			ret[sformat("%d\tsessions:[%s]\n", info.count, sessions)] = stack
		end
		return ret
	end

	function M.term(service)
		error_dispatch(0, service)
		return wake_errors()
	end

	function M.memlimit(bytes)
		debug.getregistry().memlimit = bytes
		skynet.memlimit = nil -- only once, before the service starts
	end

	-- Tags the running coroutine (":ADDR-N") unless its protocol forces tracing off; the
	-- tag follows its calls (a TRACE message before each) and is logged at each step.
	local traceid = 0
	function M.trace(info)
		local running = skynet.running()
		local tag = request_tag[running]
		skynet.error("TRACE", tag)
		if tag == false then
			return
		end
		traceid = traceid + 1
		tag = sformat(":%08x-%d", skynet.self(), traceid)
		request_tag[running] = tag
		c.trace(tag, info and ("trace " .. info) or "trace")
	end

	function M.tracetag()
		return request_tag[skynet.running()]
	end

	function M.traceproto(prototype, flag)
		local p = assert(proto[prototype])
		p.trace = flag
	end

	local info_func
	-- The function the debug protocol's INFO calls (skynet's info_func).
	function M.info_func(f)
		info_func = f
	end

	function M.internal_info_func()
		return info_func
	end

	for k, v in pairs(M) do
		rawset(skynet, k, v)
	end
end
