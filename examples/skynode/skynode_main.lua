-- The skynet side of the mixed-cluster check (written for this project, not part of skynet):
-- a skynet node named `skynode` serving @echo / .echo with the same commands as
-- `cluster_interop`, running the same checks against `rustnode`, then reporting to it.
-- See config.skynode for how to run it on a skynet built from its public source.
local skynet = require "skynet"
local cluster = require "skynet.cluster"
require "skynet.manager"

local N = 12
local function sample()
	return 1, "hello", {1,2,x=3}, true, nil, 3.5, 1<<40, -2, ("s"):rep(40), {nested={deep={}}}, false, 0
end

local function deq(a, b)
	if type(a) ~= type(b) then return false end
	if type(a) == "number" then return math.type(a) == math.type(b) and a == b end
	if type(a) ~= "table" then return a == b end
	for k, v in pairs(a) do if not deq(v, b[k]) then return false end end
	for k in pairs(b) do if a[k] == nil then return false end end
	return true
end

local function check_sample(...)
	if select('#', ...) ~= N then return false end
	local want = table.pack(sample())
	local got = table.pack(...)
	for i = 1, N do if not deq(got[i], want[i]) then return false end end
	return true
end

local pushes, last = 0, nil
local CMD = {}
function CMD.echo(...) return ... end
function CMD.echo_delay(ms, ...) skynet.sleep(ms // 10) return ... end
function CMD.sample() return sample() end
function CMD.check_sample(...) return check_sample(...) end
function CMD.push(x) pushes = pushes + 1 last = x end
function CMD.pushed() return pushes, last end
function CMD.fail() error "fail as asked" end
function CMD.add(a, b) return a + b end
function CMD.report(p, f, t)
	local s = {}
	for _, e in ipairs(t or {}) do s[#s+1] = tostring(e[1]) .. "=" .. tostring(e[2]) end
	print("SKYNODE got report from rustnode: passed", p, "failed", f, table.concat(s, " "))
	return true
end

local function run_checks()
	local results, passed, failed = {}, 0, 0
	local function check(name, f)
		local ok, err = pcall(f)
		if ok then passed = passed + 1 else failed = failed + 1 end
		results[#results+1] = {name, ok}
		print(ok and "SKYNODE ok  " or "SKYNODE FAIL", name, ok and "" or tostring(err))
	end
	-- wait for rustnode
	for i = 1, 120 do
		local ok = pcall(cluster.call, "rustnode", "@echo", "echo", 1)
		if ok then break end
		skynet.sleep(50)
	end
	check("sample", function() assert(check_sample(cluster.call("rustnode", "@echo", "sample"))) end)
	check("check_sample", function() assert(cluster.call("rustnode", "@echo", "check_sample", sample()) == true) end)
	check("echo_nils", function()
		local r = table.pack(cluster.call("rustnode", "@echo", "echo", 1, nil, 2.0, nil))
		assert(r.n == 4 and r[1] == 1 and r[2] == nil and math.type(r[3]) == "float" and r[4] == nil, r.n)
	end)
	check("query_then_handle", function()
		local h = cluster.query("rustnode", "echo")
		assert(cluster.call("rustnode", h, "echo", "by handle") == "by handle")
	end)
	check("local_name_add", function() assert(cluster.call("rustnode", ".echo", "add", 2, 3) == 5) end)
	check("push", function()
		cluster.send("rustnode", "@echo", "push", 42)
		local n, x = cluster.call("rustnode", "@echo", "pushed")
		assert(n >= 1 and x == 42, tostring(n) .. " " .. tostring(x))
	end)
	check("big_racing_small", function()
		local done, bad, total = 0, 0, 12
		local co = coroutine.running()
		local function one(v)
			skynet.fork(function()
				local ok, r = pcall(cluster.call, "rustnode", "@echo", "echo", v)
				if not ok or r ~= v then bad = bad + 1 end
				done = done + 1
				if done == total then skynet.wakeup(co) end
			end)
		end
		one(("b"):rep(100 * 1024)) one(("B"):rep(150 * 1024))
		for i = 1, 10 do one("small " .. i) end
		skynet.wait(co)
		assert(bad == 0, bad)
	end)
	check("pipelined_delays", function()
		local done, bad = 0, 0
		local co = coroutine.running()
		for i = 0, 19 do
			skynet.fork(function()
				local ok, r = pcall(cluster.call, "rustnode", "@echo", "echo_delay", 200 - 10 * i, i)
				if not ok or r ~= i then bad = bad + 1 end
				done = done + 1
				if done == 20 then skynet.wakeup(co) end
			end)
		end
		skynet.wait(co)
		assert(bad == 0, bad)
	end)
	check("fail", function() assert(not pcall(cluster.call, "rustnode", "@echo", "fail")) end)
	check("unknown_name", function() assert(not pcall(cluster.call, "rustnode", "@nope", "echo", 1)) end)
	check("query_unknown", function() assert(not pcall(cluster.query, "rustnode", "nope")) end)
	check("traced_call", function()
		skynet.trace("from skynode")
		assert(cluster.call("rustnode", "@echo", "echo", "traced") == "traced")
		local n = cluster.call("rustnode", "@echo", "traces")
		assert(n >= 1, n)
	end)
	print("SKYNODE checks: passed", passed, "failed", failed)
	pcall(cluster.call, "rustnode", "@echo", "report", passed, failed, results)
end

skynet.start(function()
	skynet.dispatch("lua", function(session, source, cmd, ...)
		local f = CMD[cmd]
		if not f then error("unknown command " .. tostring(cmd)) end
		if session == 0 then f(...) return end
		skynet.ret(skynet.pack(f(...)))
	end)
	skynet.register ".echo"
	cluster.register("echo")
	cluster.open "skynode"
	skynet.fork(run_checks)
end)
