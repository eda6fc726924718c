-- The example node's first service: starts the key-value store, uses it, calls a Rust
-- service (`counter`, a registered Rust type started with skynet.launch), and keeps a
-- timer going. `lua_example_quit = true` in the config makes it stop the node when done.
local skynet = require "skynet"
require "skynet.manager"

skynet.start(function()
	local kv = skynet.uniqueservice("kvstore")
	skynet.call(kv, "lua", "set", "hello", "world")
	skynet.call(kv, "lua", "set", "answer", 42)
	skynet.error("kv: hello =", skynet.call(kv, "lua", "get", "hello"),
		"keys =", table.concat(skynet.call(kv, "lua", "keys"), ","))

	local counter = assert(skynet.launch("counter"), "the counter is a Rust service type")
	for i = 1, 3 do
		skynet.error("counter: total =", skynet.call(counter, "lua", "add", i))
	end

	if skynet.getenv("lua_example_quit") then
		skynet.error("example done")
		skynet.abort()
		return
	end
	skynet.fork(function()
		while true do
			skynet.sleep(500)
			skynet.error("tick", skynet.now())
		end
	end)
end)
