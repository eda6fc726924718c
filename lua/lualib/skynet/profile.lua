-- skynet.profile: CPU time of coroutines (time while they run, not while suspended).
-- snlua puts profile.resume and profile.wrap in place of coroutine.resume and .wrap.
-- Every resume stays in Lua, so error objects keep their identity.
local c = require "skynet.core"
local hpc = c.hpc
local active = c.active -- tells the host which coroutine runs (for a signal)
local unusual = c.unusual -- tells the host's dispatcher to look for timed coroutines
local c_resume = c.resume -- coroutine.resume that also tells the host (not skynet's)
local co_resume = coroutine.resume
local co_create = coroutine.create
local co_running = coroutine.running
local co_close = coroutine.close
local select = select
local error = error

local profile = {}

-- coroutine -> { total = ns, since = ns or nil }
local timing = setmetatable({}, { __mode = "k" })

-- How many coroutines are timed: while none is, a resume does not look (and skynet.lua
-- calls skynet.core.resume straight: `profile.state` is not skynet's). The count is
-- state[1], an array slot. Once anything was ever timed (or skynet.lua has had a trace
-- tag or a trace source), `unusual()` tells the host: until then its dispatcher reads
-- neither state[1] nor skynet.lua's trace flags on a message.
local state = { 0, nil }
profile.state = state

function profile.start(co)
	co = co or co_running()
	if timing[co] then
		error("profile.start() twice for the same coroutine")
	end
	timing[co] = { total = 0, since = hpc() }
	state[1] = state[1] + 1
	if not state[2] then
		state[2] = true -- told the host
		unusual()
	end
end

function profile.stop(co)
	co = co or co_running()
	local t = timing[co]
	if not t then
		error("Call profile.start() before profile.stop()")
	end
	timing[co] = nil
	state[1] = state[1] - 1
	local total = t.total
	if t.since then
		total = total + (hpc() - t.since)
	end
	return total / 1e9
end

local function finish(t, ...)
	active(co_running())
	if t and t.since then
		t.total = t.total + (hpc() - t.since)
		t.since = nil
	end
	return ...
end

function profile.resume(co, ...)
	if state[1] == 0 then
		return c_resume(co, ...)
	end
	local t = timing[co]
	if t then
		t.since = hpc()
	end
	active(co)
	return finish(t, co_resume(co, ...))
end

local resume = profile.resume

local function unwrap(co, ok, ...)
	if ok then
		return ...
	end
	local err = ...
	co_close(co)
	error(err, 0)
end

function profile.wrap(f)
	local co = co_create(f)
	return function(...)
		return unwrap(co, resume(co, ...))
	end
end

return profile
