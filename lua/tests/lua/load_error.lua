-- fails while it loads (limits.rs): the error and its traceback as mlua reported them
local function f() error("boom at load") end
f()
