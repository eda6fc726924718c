//! Helpers shared by the Lua host's integration tests.
#![allow(dead_code)]

use std::time::Duration;

use skynet_runtime::{Addr, Config, LogCapture, Node};
use skynet_seri::LuaValue;

/// How long a test waits for anything before it fails.
pub const LONG: Duration = Duration::from_secs(30);

/// The folder of the test scripts.
pub fn scripts() -> String {
    format!("{}/tests/lua/?.lua", env!("CARGO_MANIFEST_DIR"))
}

/// A node with two workers, `snlua` registered, the test scripts on `luaservice`, its
/// log captured, and the given extra config keys.
pub fn node(keys: &[(&str, &str)]) -> (Node, LogCapture) {
    let mut config = Config::new();
    config.set("luaservice", scripts());
    // Only the test folder: the library must come from the binary.
    config.set("lua_path", scripts());
    config.set("call_timeout", "30");
    config.set("lua_test_key", "value");
    for (k, v) in keys {
        config.set(k, *v);
    }
    let log = LogCapture::new();
    let node = skynet_lua::register(
        Node::builder()
            .threads(2)
            .config(config)
            .logger(log.logger()),
    )
    .build()
    .expect("node starts");
    (node, log)
}

/// Calls a Lua service with `args` and returns what it answered.
pub fn call(node: &Node, addr: Addr, args: Vec<LuaValue>) -> Result<Vec<LuaValue>, String> {
    let reply = node.call(addr, args).map_err(|e| e.to_string())?;
    reply
        .into_value::<Vec<LuaValue>>()
        .map_err(|e| e.to_string())
}

/// Lines at WARN or ERROR level that none of `expected` matches.
pub fn unexpected_warnings(log: &LogCapture, expected: &[&str]) -> Vec<String> {
    log.lines()
        .into_iter()
        .filter(|l| l.contains("WARN") || l.contains("ERROR"))
        .filter(|l| !expected.iter().any(|e| l.contains(e)))
        .collect()
}
