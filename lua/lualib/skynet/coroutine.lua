-- skynet.coroutine: coroutines for service code that may call skynet's blocking functions
-- (call, sleep, wait...) inside them. Such a yield passes through the user coroutine up to
-- the service's scheduler and the answer comes back down; skynetco.yield goes to the
-- caller of skynetco.resume, as coroutine.yield would.
local profile = require "skynet.profile"

local co_create, co_yield, co_status, co_running = coroutine.create, coroutine.yield,
	coroutine.status, coroutine.running
local resume = profile.resume

local M = {}
M.isyieldable = coroutine.isyieldable
M.running = coroutine.running
M.close = coroutine.close

-- user coroutine -> "ready" (may be resumed) or "blocked" (inside a skynet call)
local user = setmetatable({}, { __mode = "k" })
-- user coroutine -> the service coroutine that resumed it first
local root = setmetatable({}, { __mode = "kv" })

function M.create(f)
	local co = co_create(f)
	user[co] = "ready"
	return co
end

function M.yield(...)
	return co_yield("USER", ...)
end

local after

local function relay(co, ...)
	user[co] = "ready"
	return after(co, resume(co, ...))
end

function after(co, ok, tag, ...)
	if not ok then
		return false, tag
	end
	if co_status(co) == "dead" then
		user[co] = nil
		return true, tag, ...
	end
	if tag == "USER" then
		return true, ...
	end
	-- A skynet yield inside: hand it to the scheduler, and its answer back down.
	user[co] = "blocked"
	return relay(co, co_yield(tag, ...))
end

function M.resume(co, ...)
	local state = user[co]
	if state == nil then
		if co_status(co) == "dead" then
			return coroutine.resume(co, ...)
		end
		return false, "cannot resume none skynet coroutine"
	end
	if state == "blocked" then
		return false, "cannot resume a skynet coroutine suspend by skynet framework"
	end
	local from = co_running()
	root[co] = root[from] or from
	return after(co, resume(co, ...))
end

function M.status(co)
	if user[co] == "blocked" then
		return "blocked"
	end
	return co_status(co)
end

-- The service coroutine (skynet thread) that runs co, and whether co is that one.
function M.thread(co)
	co = co or co_running()
	local r = root[co]
	if r then
		return r, false
	end
	return co, true
end

function M.wrap(f)
	local co = M.create(f)
	return function(...)
		local function unwrap(ok, ...)
			if ok then
				return ...
			end
			error((...), 0)
		end
		return unwrap(M.resume(co, ...))
	end
end

return M
