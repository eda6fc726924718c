-- skynet: the Lua service API, this project's own implementation of skynet's documented
-- API (same names, arguments, results, error texts and ordering), on the host modules
-- skynet.core and skynet.profile. The service is the scheduler of its own coroutines:
-- every message reaches the host's dispatcher (skynet.core.dispatcher: the common cases
-- of dispatch_message in C) or skynet.dispatch_message through skynet.core.callback, and
-- every coroutine is resumed here or by that dispatcher, with Lua's own resume (error
-- objects are handed on as they are).

local c = require "skynet.core"
local profile = require "skynet.profile"

local assert, error, pairs, pcall, select, setmetatable, tostring, type =
	assert, error, pairs, pcall, select, setmetatable, tostring, type
local tremove, tinsert, tunpack = table.remove, table.insert, table.unpack
local sformat = string.format
local co_create, co_yield, co_running, co_close = coroutine.create, coroutine.yield,
	coroutine.running, coroutine.close
local traceback = debug.traceback
local profile_resume = profile.resume
local c_send = c.send -- (skynet.core's functions are fixed: read once)

-- Made with room for every field the main chunk sets (51, the PTYPEs and the functions):
-- grown from a constructor's 16 slots it was rehashed twice per service.
local skynet = table.create(0, 64)
skynet.PTYPE_TEXT = 0
skynet.PTYPE_RESPONSE = 1
skynet.PTYPE_MULTICAST = 2
skynet.PTYPE_CLIENT = 3
skynet.PTYPE_SYSTEM = 4
skynet.PTYPE_HARBOR = 5
skynet.PTYPE_SOCKET = 6
skynet.PTYPE_ERROR = 7
skynet.PTYPE_QUEUE = 8
skynet.PTYPE_DEBUG = 9
skynet.PTYPE_LUA = 10
skynet.PTYPE_SNAX = 11
skynet.PTYPE_TRACE = 12

-- The coroutine running now (the one ret, response and call act for).
local running_thread = nil
local init_thread = nil

-- skynet.running. Its only upvalue is running_thread: the host's dispatcher sets the
-- variable through it.
local function running()
	return running_thread
end

-- While skynet.profile times no coroutine, its resume is skynet.core.resume (which also
-- tells the host which coroutine runs, for a signal): called straight.
-- [1]: how many coroutines are timed; [2]: true once anything was timed, traced or had a
-- trace source (set here too), for the host's dispatcher
local profile_state = profile.state or { 1, true }
local c_resume = c.resume

local function resume(co, ...)
	running_thread = co
	if profile_state[1] == 0 then
		return c_resume(co, ...)
	end
	return profile_resume(co, ...)
end

---------------------------------------------------------------------------------------
-- Protocols

local proto = table.create(0, 8) -- the standard protocols' names and ids
skynet.proto_table = proto -- for skynet.debug and skynet.coroutine

function skynet.register_protocol(class)
	local name, id = class.name, class.id
	assert(type(name) == "string" and math.type(id) == "integer" and id >= 0 and id <= 255,
		"a protocol needs a name and an id in 0..255")
	if proto[name] ~= nil or proto[id] ~= nil then -- (assert's message would be built each time)
		error("protocol " .. name .. " already registered", 0)
	end
	proto[name] = class
	proto[id] = class
end

---------------------------------------------------------------------------------------
-- Bookkeeping of sessions and coroutines

local session_wait = {} -- session -> coroutine waiting for it, or "BREAK" (woken early)
-- coroutine -> its request record, while it handles a request: [1] the session (0: a
-- send; nil once answered), [2] the sender, [3] true while noted here. One lookup finds
-- both; a pooled coroutine keeps its record (made at its first request) for the next
-- one, and while few are pooled the record stays here, empty.
local requests = {}
local request_tag = {} -- coroutine -> trace tag (false: a protocol never traced)
local watching = {} -- session of a call in flight -> callee address (but the call slot's)
-- The call in flight that waits in none of those tables (most calls; another call made
-- meanwhile uses them): its session (false: none), the coroutine waiting for it and the
-- callee. (Every session is a new key in those tables: two inserts into a hash part per
-- call; these are three upvalues.) The waiting coroutine frees them when it is resumed,
-- and sets running_thread itself (the host's dispatcher reads the first two through
-- `call_slot` and does not set it, nor for a pooled coroutine's request: `run` does).
local call_session, call_co, call_callee = false, false, false
-- The pool's spare: the coroutine that finished last, if not taken since (the pool table
-- holds the others). The host's dispatcher takes it through `call_slot` (its third
-- upvalue): no length, no table read or write per request.
local spare = nil
local function call_slot()
	return call_session, call_co, spare
end
local sleeping = {} -- token -> session of a sleep or wait
local wakeups = {} -- tokens woken, in order
local errors = {} -- sessions to fail, in order
local unresponded = {} -- response closure -> address, until used
local forks = { h = 1, t = 0 }
-- [1] is true whenever wakeups, errors or forks may hold something (set by whatever
-- queues there; recomputed at the end of finish_dispatch): the host's dispatcher reads
-- this one slot after a message instead of the three queues. [2] is `tagged`; [3] is
-- true once trace_source has held anything (until then the dispatcher does not look).
-- Unset is nil, not false: the dispatcher then needs only the slot's type.
local queued = { nil, nil, nil }
-- True once request_tag has held anything (every new key goes through its metatable,
-- which sets this): until then the per-message paths (call, ret, a request's end) do not
-- look in it.
local tagged = false
setmetatable(request_tag, {
	__newindex = function(t, co, tag)
		if tag ~= nil then
			tagged = true
			queued[2] = true
			if not profile_state[2] then
				profile_state[2] = true
				c.unusual()
			end
		end
		rawset(t, co, tag)
	end,
})
local trace_source = {}

---------------------------------------------------------------------------------------
-- Coroutines, pooled: a finished handler's coroutine takes the next function.

local pool = setmetatable({}, { __mode = "kv" })

local function forgot_response(r, f)
	local session = r[1]
	if session and session ~= 0 then
		local info = debug.getinfo(f, "S")
		skynet.error(sformat("Maybe forgot response session %s from %s : %s:%d", session,
			skynet.address(r[2]), info.source, info.linedefined))
		-- Better than skynet: the caller gets an error instead of waiting forever.
		c.send(r[2], skynet.PTYPE_ERROR, session, "")
	end
end

-- How many pooled coroutines keep their (empty) request record in `requests`, besides the
-- spare (its `n` is 0).
local KEEP_NOTED <const> = 4

-- The request record of `co`, made (and noted in `requests`) if it has none. A record's
-- [3] is true while it is noted (set where skynet.lua notes it). A pooled coroutine
-- keeps its record (`rec`) only while it is noted: `run` need not note it again.
local function request_record(co)
	local r = requests[co]
	if r == nil then
		r = { nil, nil, true }
		requests[co] = r
	end
	return r
end

-- The end of a run of `co` that handled a request (its record `r`) other than in `run`'s
-- request branch (which has this inline): a forgotten response answered with an error,
-- the record emptied. `n`: where `co` goes in the pool.
local function request_end(co, r, f, n)
	local session = r[1] -- an integer or nil (`if session` tests faster than `~= nil`)
	if session then
		if session ~= 0 then
			forgot_response(r, f)
		end
		r[1] = nil
	end
	r[2] = nil
	-- The record (now empty) stays noted while few coroutines are pooled: the next
	-- request's note is then no new key. More are left to the pool's weak references.
	if n > KEEP_NOTED then
		requests[co] = nil
		r[3] = nil
	end
end

-- A new pooled coroutine running f. After a function returns, the coroutine waits in the
-- pool for its next one (`run`): `now` true, a request, with the arguments in the same
-- resume (its session and source first, noted in the coroutine's request record); false,
-- a fork or a timeout, with the arguments in a later resume; nil, nothing more to run (a
-- fresh coroutine's first function ran). Each run ends in a tail call of the next: no
-- loop, no frame between the handler and the coroutine's base. A fresh coroutine for a
-- request (`session` given) is noted as handling it.
local function co_create_pooled(f, session, source)
	local co, rec
	local function run(f, now, session, source, ...)
		local n
		if now then
			running_thread = co -- (the host's dispatcher leaves it to the coroutine)
			local r = rec -- while set, it is noted in `requests` (dropped when un-noted)
			if not r then
				r = request_record(co)
				rec = r
			end
			r[1], r[2] = session, source
			f(session, source, ...)
			if spare then
				n = #pool + 1
			else
				n = 0 -- the spare
			end
			if r[2] then -- request_end(co, r, f, n), inline
				session = r[1]
				if session then
					if session ~= 0 then
						forgot_response(r, f)
					end
					r[1] = nil
				end
				r[2] = nil
				if n > KEEP_NOTED then
					requests[co] = nil
					r[3] = nil
					rec = nil
				end
			end
		else
			if now == false then
				f(co_yield())
			end
			if spare then
				n = #pool + 1
			else
				n = 0 -- the spare
			end
			local r = rec
			if r and r[2] then -- this run handled a request
				request_end(co, r, f, n)
				if n > KEEP_NOTED then
					rec = nil -- un-noted
				end
			end
		end
		if tagged then
			local tag = request_tag[co]
			if tag ~= nil then
				if tag then
					c.trace(tag, "end")
				end
				request_tag[co] = nil
			end
		end
		if n == 0 then
			spare = co
		else
			pool[n] = co
		end
		return run(co_yield "SUSPEND")
	end
	co = co_create(function(...)
		local first = f
		f = nil -- (not kept while the coroutine is pooled)
		first(...)
		return run(first)
	end)
	if session then
		rec = request_record(co)
		rec[1], rec[2] = session, source
	end
	return co
end

-- The newest pooled coroutine, taken out (table.remove without the call).
local function pool_take()
	local co = spare
	if co then
		spare = nil
		return co
	end
	local n = #pool
	if n == 0 then
		return nil
	end
	co = pool[n]
	pool[n] = nil
	return co
end

local function co_new(f)
	local co = pool_take()
	if co == nil then
		co = co_create_pooled(f)
	else
		-- Hand the pooled coroutine its function; it yields at once for the arguments.
		local running = running_thread
		resume(co, f, false)
		running_thread = running
	end
	return co
end

---------------------------------------------------------------------------------------
-- What happens when a coroutine yields or ends

local suspend

-- The coroutine waiting in the call slot for `session`, if any (it frees the slot itself).
local function call_waiter(session)
	if call_session == session then
		return call_co
	end
	return nil
end

local function wake_errors()
	local session = tremove(errors, 1)
	if session then
		local co = session_wait[session]
		if co == nil then
			co = call_waiter(session)
		else
			session_wait[session] = nil
		end
		if type(co) == "thread" then
			return suspend(co, resume(co, false, nil, nil, session))
		end
		return wake_errors()
	end
end

local function wake_sleepers()
	while true do
		local token = tremove(wakeups, 1)
		if token == nil then
			break
		end
		local session = sleeping[token]
		if session then
			local co = session_wait[session]
			session_wait[session] = "BREAK"
			if type(co) == "thread" then
				return suspend(co, resume(co, false, "BREAK", nil, session))
			end
		end
	end
	return wake_errors()
end

function suspend(co, ok, command)
	if not ok then
		local r = requests[co]
		local session = r and r[1]
		if session then -- a fork has none
			if session ~= 0 then
				local tag = request_tag[co]
				if tag then
					c.trace(tag, "error")
				end
				c.send(r[2], skynet.PTYPE_ERROR, session, "")
			end
			r[1] = nil
		end
		if r then
			r[2] = nil
			r[3] = nil
			requests[co] = nil
		end
		request_tag[co] = nil
		skynet.fork(function() end) -- runs the wake-ups the failed coroutine left
		local tb = traceback(co, tostring(command))
		co_close(co)
		error(tb)
	end
	if command == "SUSPEND" then
		if wakeups[1] == nil and errors[1] == nil then
			return
		end
		return wake_sleepers()
	elseif command == "QUIT" then
		co_close(co)
		return
	elseif command == "USER" then
		error("Call skynet.coroutine.yield out of skynet.coroutine.resume\n" .. traceback(co))
	elseif command == nil then
		return
	else
		error("Unknown command : " .. tostring(command) .. "\n" .. traceback(co))
	end
end

---------------------------------------------------------------------------------------
-- Dispatch

local function unknown_response(session, source, msg, sz)
	skynet.error(sformat("Response message : %s", c.tostring(msg, sz)))
	error(sformat("Unknown session : %d from %x", session, source))
end

local function unknown_request(session, source, msg, sz, prototype)
	skynet.error(sformat("Unknown request (%s): %s", prototype, c.tostring(msg, sz)))
	error(sformat("Unknown session : %d from %x", session, source))
end

function skynet.dispatch_unknown_request(f)
	local old = unknown_request
	unknown_request = f
	return old
end

function skynet.dispatch_unknown_response(f)
	local old = unknown_response
	unknown_response = f
	return old
end

-- ERROR with a session fails that call; with session 0 the sender is gone, and every
-- call waiting on it fails.
local function error_dispatch(session, source)
	if session == 0 then
		for s, addr in pairs(watching) do
			if addr == source then
				errors[#errors + 1] = s
				queued[1] = true
			end
		end
		if call_session and call_callee == source then
			errors[#errors + 1] = call_session
			queued[1] = true
		end
	else
		errors[#errors + 1] = session
		queued[1] = true
	end
end

local function raw_dispatch(prototype, msg, sz, session, source)
	if prototype == 1 then -- RESPONSE
		local co = session_wait[session]
		if co == nil then
			co = call_waiter(session)
		elseif co == "BREAK" then
			session_wait[session] = nil
			return
		else
			session_wait[session] = nil
		end
		if co == nil then
			unknown_response(session, source, msg, sz)
		else
			local tag = request_tag[co]
			if tag then
				c.trace(tag, "resume")
			end
			suspend(co, resume(co, true, msg, sz, session))
		end
		return
	end
	if prototype == 7 and not proto[7].dispatch then -- ERROR
		error_dispatch(session, source)
		return wake_errors()
	end
	local p = proto[prototype]
	if p == nil then
		if prototype == skynet.PTYPE_TRACE then
			trace_source[source] = c.tostring(msg, sz)
			queued[3] = true
			if not profile_state[2] then
				profile_state[2] = true
				c.unusual()
			end
		elseif session ~= 0 then
			c.send(source, skynet.PTYPE_ERROR, session, "")
		else
			unknown_request(session, source, msg, sz, prototype)
		end
		return
	end
	local f = p.dispatch
	if not f then
		trace_source[source] = nil
		if session ~= 0 then
			c.send(source, skynet.PTYPE_ERROR, session, "")
		else
			unknown_request(session, source, msg, sz, p.name)
		end
		return
	end
	local co = pool_take()
	local fresh = co == nil
	if fresh then
		co = co_create_pooled(f, session, source)
	else
		local r = request_record(co) -- the coroutine's run notes the same again
		r[1], r[2] = session, source
	end
	if p.trace == false then
		trace_source[source] = nil
		request_tag[co] = false
	else
		local tag = trace_source[source]
		if tag then
			trace_source[source] = nil
			c.trace(tag, "request")
			request_tag[co] = tag
		elseif p.trace then
			running_thread = co
			skynet.trace()
		end
	end
	if fresh then
		return suspend(co, resume(co, session, source, p.unpack(msg, sz)))
	end
	return suspend(co, resume(co, f, true, session, source, p.unpack(msg, sz)))
end

-- The end of every dispatch: for the host's dispatcher (skynet.core.dispatcher, set in
-- skynet.start), first suspend's work after its resume of `co` (`ok, err`: the resume's
-- result); then runs the forks (a handler's, or the wake-ups a failed coroutine left),
-- notes whether anything is still queued, and raises the dispatch's error and theirs, if
-- any. (The dispatcher does the common cases of raw_dispatch itself; every other message
-- goes to dispatch_message.)
local function finish_dispatch(ok, err, co)
	if co then
		ok, err = pcall(suspend, co, ok, err)
	end
	if ok and forks.t < forks.h then
		queued[1] = wakeups[1] ~= nil or errors[1] ~= nil or nil
		return
	end
	while true do
		local h = forks.h
		if h > forks.t then
			forks.h, forks.t = 1, 0
			break
		end
		local co = forks[h]
		forks[h] = nil
		forks.h = h + 1
		local fork_ok, fork_err = pcall(suspend, co, resume(co))
		if not fork_ok then
			if ok then
				ok, err = false, tostring(fork_err)
			else
				err = tostring(err) .. "\n" .. tostring(fork_err)
			end
		end
	end
	queued[1] = wakeups[1] ~= nil or errors[1] ~= nil or nil
	if not ok then
		error(tostring(err), 0)
	end
end

local function dispatch_message(prototype, msg, sz, session, source)
	local ok, err = pcall(raw_dispatch, prototype, msg, sz, session, source)
	return finish_dispatch(ok, err)
end
skynet.dispatch_message = dispatch_message


---------------------------------------------------------------------------------------
-- Calls, sends, replies

local function wait_session(callee, session)
	if call_session then -- the slot is taken
		watching[session] = callee
		session_wait[session] = running_thread
		local ok, msg, sz = co_yield "SUSPEND"
		watching[session] = nil
		if not ok then
			error "call failed"
		end
		return msg, sz
	end
	local co = running_thread
	call_session, call_co, call_callee = session, co, callee
	local ok, msg, sz = co_yield "SUSPEND"
	running_thread = co -- (the host's dispatcher leaves it to the coroutine it wakes here)
	call_session, call_co, call_callee = false, false, false
	if not ok then
		error "call failed"
	end
	return msg, sz
end

function skynet.send(addr, typename, ...)
	local p = proto[typename]
	return c_send(addr, p.id, 0, p.pack(...))
end

function skynet.rawsend(addr, typename, msg, sz)
	local p = proto[typename]
	return c.send(addr, p.id, 0, msg, sz)
end

function skynet.call(addr, typename, ...)
	local tag = tagged and request_tag[running_thread]
	if tag then
		c.trace(tag, "call", 2)
		c.send(addr, skynet.PTYPE_TRACE, 0, tag)
	end
	local p = proto[typename]
	local session = c_send(addr, p.id, nil, p.pack(...))
	if not session then -- an integer or nil
		error("call to invalid address " .. skynet.address(addr))
	end
	if call_session then -- the call slot is taken
		return p.unpack(wait_session(addr, session))
	end
	-- wait_session's common case, inline
	local co = running_thread
	call_session, call_co, call_callee = session, co, addr
	local ok, msg, sz = co_yield "SUSPEND"
	running_thread = co
	call_session, call_co, call_callee = false, false, false
	if not ok then
		error "call failed"
	end
	return p.unpack(msg, sz)
end

function skynet.rawcall(addr, typename, msg, sz)
	local tag = request_tag[running_thread]
	if tag then
		c.trace(tag, "call", 2)
		c.send(addr, skynet.PTYPE_TRACE, 0, tag)
	end
	local p = proto[typename]
	local session = assert(c.send(addr, p.id, nil, msg, sz), "call to invalid address")
	return wait_session(addr, session)
end

function skynet.ret(msg, sz)
	msg = msg or ""
	local co = running_thread
	local tag = tagged and request_tag[co]
	if tag then
		c.trace(tag, "response")
	end
	local r = requests[co]
	local session = r and r[1]
	if not session then -- an integer or nil
		error "No session"
	end
	r[1] = nil
	if session == 0 then
		if sz ~= nil then
			c.trash(msg, sz)
		end
		return false -- a send wants no reply
	end
	local source = r[2]
	local r = c_send(source, 1, session, msg, sz) -- RESPONSE
	if r then
		return true
	elseif r == false then
		c.send(source, 7, session, "") -- ERROR
	end
	return false
end

function skynet.retpack(...)
	return skynet.ret(skynet.pack(...))
end

function skynet.ignoreret()
	local r = requests[running_thread]
	if r then
		r[1] = nil
	end
end

function skynet.context()
	local r = requests[running_thread]
	if r then
		return r[1], r[2]
	end
	return nil, nil
end

function skynet.response(pack)
	pack = pack or skynet.pack
	local r = requests[running_thread]
	local session = assert(r and r[1], "no session")
	r[1] = nil
	local source = r[2]
	if session == 0 then
		return function() end -- a send wants no reply
	end
	local function response(ok, ...)
		if ok == "TEST" then
			return unresponded[response] ~= nil
		end
		if not pack then
			error "Can't response more than once"
		end
		local sent
		if unresponded[response] then
			if ok then
				sent = c.send(source, skynet.PTYPE_RESPONSE, session, pack(...))
				if sent == false then
					c.send(source, skynet.PTYPE_ERROR, session, "")
				end
			else
				sent = c.send(source, skynet.PTYPE_ERROR, session, "")
			end
			unresponded[response] = nil
			sent = sent ~= nil
		else
			sent = false
		end
		pack = nil
		return sent
	end
	unresponded[response] = source
	return response
end

---------------------------------------------------------------------------------------
-- Forks, timers, sleeping and waking

function skynet.fork(func, ...)
	local n = select("#", ...)
	local co
	if n == 0 then
		co = co_new(func)
	else
		local args = { ... }
		co = co_new(function() func(tunpack(args, 1, n)) end)
	end
	local t = forks.t + 1
	forks.t = t
	forks[t] = co
	queued[1] = true
	return co
end

-- With trace_timeout(true), skynet.task shows where each pending timeout was set.
local timeout_traceback = nil

function skynet.trace_timeout(on)
	if on then
		timeout_traceback = timeout_traceback or setmetatable({}, { __mode = "k" })
	else
		timeout_traceback = nil
	end
end

function skynet.timeout(ti, func)
	local session = c.intcommand("TIMEOUT", ti)
	assert(session)
	local co = co_new(func)
	assert(session_wait[session] == nil)
	session_wait[session] = co
	if timeout_traceback then
		timeout_traceback[co] = traceback(sformat("TIMER %d+%d : ", skynet.now(), ti), 2)
	end
	return co
end

local function sleep_on(session, token)
	local tag = request_tag[running_thread]
	if tag then
		c.trace(tag, "sleep", 2)
	end
	session_wait[session] = running_thread
	assert(sleeping[token] == nil, "token duplicative")
	sleeping[token] = session
	return co_yield "SUSPEND"
end

function skynet.sleep(ti, token)
	local session = c.intcommand("TIMEOUT", ti)
	assert(session)
	token = token or co_running()
	local ok, why = sleep_on(session, token)
	sleeping[token] = nil
	if ok then
		return
	end
	if why == "BREAK" then
		return "BREAK"
	end
	error(why)
end

function skynet.yield()
	return skynet.sleep(0)
end

function skynet.wait(token)
	local session = c.genid()
	token = token or co_running()
	sleep_on(session, token)
	sleeping[token] = nil
	session_wait[session] = nil
end

function skynet.wakeup(token)
	if sleeping[token] then
		tinsert(wakeups, token)
		queued[1] = true
		return true
	end
end

---------------------------------------------------------------------------------------
-- Addresses, names, time, env

local self_handle
function skynet.self()
	if not self_handle then
		self_handle = c.addresscommand "REG"
	end
	return self_handle
end

function skynet.address(addr)
	if type(addr) == "number" then
		return sformat(":%08x", addr)
	end
	return tostring(addr)
end

skynet.now = c.now
skynet.hpc = c.hpc

---------------------------------------------------------------------------------------
-- Values

skynet.pack = c.pack
skynet.packstring = c.packstring
skynet.unpack = c.unpack
skynet.tostring = c.tostring
skynet.trash = c.trash

function skynet.error(...)
	return c.error(...)
end

---------------------------------------------------------------------------------------
-- Start

local init_funcs = {}
local started = false

function skynet.init(f, name)
	assert(type(f) == "function")
	if started then
		f()
	else
		init_funcs[#init_funcs + 1] = f
	end
end

local function init_all()
	local funcs = init_funcs
	init_funcs = {}
	for _, f in ipairs(funcs) do
		f()
	end
	started = true
end

function skynet.init_service(start)
	local ok, err = xpcall(function()
		init_all()
		start()
	end, traceback)
	if not ok then
		skynet.error("init service failed: " .. tostring(err))
		c.command("LAUNCHERR", tostring(err))
		skynet.exit()
	else
		c.command "LAUNCHOK"
	end
end

-- The host's dispatcher: dispatch_message's common cases in C (built here, once, so
-- that no function that lives on keeps these names as upvalues).
local dispatcher = c.dispatcher(dispatch_message, finish_dispatch, running, proto,
	session_wait, requests, request_tag, trace_source, pool,
	profile_state, queued, call_slot)

function skynet.start(start_func)
	-- Unless dispatch_message was replaced: then every message goes to the replacement.
	if skynet.dispatch_message == dispatch_message then
		c.callback(dispatcher)
	else
		c.callback(skynet.dispatch_message)
	end
	init_thread = skynet.timeout(0, function()
		skynet.init_service(start_func)
		init_thread = nil
	end)
end

function skynet.dispatch(typename, func)
	local p = proto[typename]
	if func then
		local old = p.dispatch
		p.dispatch = func
		return old
	end
	return p and p.dispatch
end

skynet.running = running

-- For skynet.coroutine and skynet.debug.
skynet.suspend_internal = function(co, ...)
	return suspend(co, ...)
end
skynet.resume_internal = resume

---------------------------------------------------------------------------------------
-- The standard protocols

do
	local REG = skynet.register_protocol
	REG { name = "lua", id = skynet.PTYPE_LUA, pack = skynet.pack, unpack = skynet.unpack }
	REG { name = "response", id = skynet.PTYPE_RESPONSE }
	REG { name = "error", id = skynet.PTYPE_ERROR, unpack = function(...) return ... end }
end

-- The rest of the API (skynet.lazy) loads on the first use of any of its names: most
-- services touch little of it, and its functions would cost every service memory and
-- start-up time.
local internal = {
	c = c,
	proto = proto,
	session_wait = session_wait,
	requests = requests,
	request_tag = request_tag,
	watching = watching,
	unresponded = unresponded,
	wait_session = wait_session,
	error_dispatch = error_dispatch,
	wake_errors = wake_errors,
	-- session -> coroutine (or "BREAK") of every session waited on, and session -> callee
	-- of every call in flight (session_wait and watching with the call slot): new
	-- tables, for the rare readers.
	waiting = function()
		local t = {}
		for s, co in pairs(session_wait) do
			t[s] = co
		end
		if call_session then
			t[call_session] = call_co
		end
		return t
	end,
	watched = function()
		local t = {}
		for s, addr in pairs(watching) do
			t[s] = addr
		end
		if call_session then
			t[call_session] = call_callee
		end
		return t
	end,
	reset_forks = function() -- in place: the host's dispatcher holds the table
		for i = forks.h, forks.t do
			forks[i] = nil
		end
		forks.h, forks.t = 1, 0
	end,
	init_thread = function()
		return init_thread
	end,
	timeout_traceback = function()
		return timeout_traceback
	end,
}

local function load_lazy()
	if internal.loaded == nil then
		require("skynet.lazy")(skynet, internal)
		internal.loaded = true
		setmetatable(skynet, nil)
	end
end

setmetatable(skynet, {
	__index = function(t, k)
		load_lazy()
		return rawget(t, k)
	end,
})

-- Run by the host when the service is killed: fails everything that waits on it.
debug.getregistry().skynet_on_exit = function()
	local answers = false
	for _, r in pairs(requests) do
		if r[1] ~= nil then
			answers = true
			break
		end
	end
	if not answers and next(unresponded) == nil and next(watching) == nil
		and not call_session then
		return -- nothing waits on it (and the lazy half need not load to say so)
	end
	load_lazy()
	return internal.fail_waiters()
end

-- The debug protocol (skynet.debug) loads on the first DEBUG message: most services never
-- get one, and its functions would cost every service memory.
skynet.register_protocol {
	name = "debug",
	id = skynet.PTYPE_DEBUG,
	pack = skynet.pack,
	unpack = skynet.unpack,
	dispatch = function(...)
		proto.debug, proto[skynet.PTYPE_DEBUG] = nil, nil
		require("skynet.debug").init(skynet, {
			dispatch = skynet.dispatch_message,
			suspend = suspend,
			resume = resume,
		})
		return proto[skynet.PTYPE_DEBUG].dispatch(...)
	end,
}

return skynet
