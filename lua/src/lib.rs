//! `skynet-lua`: Lua services with skynet's Lua API.
//!
//! A Lua service is one Lua state (Lua 5.5, vendored through `mlua`) hosted by a raw
//! service ([`skynet_runtime::RawService`]), exactly the shape of skynet's `snlua`: every
//! message reaches one Lua function, and the Lua side schedules its own coroutines and
//! allocates its own sessions (per service, from 1). The async executor is not involved.
//!
//! Two halves, as in skynet:
//! - the Rust half, exposed as Lua modules with skynet's C module names and call shapes:
//!   `skynet.core` (send, genid, redirect, command, intcommand, addresscommand, error,
//!   harbor, callback, trace, tostring, pack, unpack, packstring, trash, now, hpc),
//!   `skynet.profile`, `skynet.codecache`, and the subset of `skynet.socketdriver`
//!   (send, lsend, close, shutdown, nodelay) and `skynet.netpack` (pack, tostring) a Lua
//!   agent behind the Rust gate needs to answer its client;
//! - the Lua half, this crate's own library implementing skynet's documented API
//!   (`skynet`, `skynet.manager`, `skynet.queue`, `skynet.coroutine`, `skynet.service`,
//!   the debug protocol), embedded in the binary and found by `require` after the
//!   `lua_path` entries.
//!
//! Between Lua services a LUA message carries `skynet.pack` bytes (`skynet-seri`'s codec);
//! a Rust service is sent the unpacked values (`Vec<LuaValue>`, as the cluster delivers
//! them), and its replies reach Lua as Lua values.
//!
//! ```no_run
//! use skynet_runtime::Node;
//!
//! let node = skynet_lua::register(Node::builder().threads(2)).build()?;
//! // Runs ./service/main.lua (or whatever `luaservice` finds) and waits for skynet.start.
//! let main = node.newservice("snlua", &["main", "arg1"])?;
//! # let _ = main;
//! # Ok::<(), skynet_runtime::Error>(())
//! ```
//!
//! Config keys: `luaservice` (`;`-separated `?.lua` templates for service scripts),
//! `lua_path` (`package.path`), `preload` (a script run before each service's own),
//! `lua_memlimit` (a default heap limit per service, bytes).
//!
//! How it fits: depends on `skynet-runtime`, `skynet-seri`, and `skynet-net` /
//! `skynet-netpack` (for the socket modules); `skynet-services`
//! registers the `snlua` type so a node's `start` can name a Lua script.

#![deny(missing_docs)]

mod alloc;
mod capi;
mod command;
pub mod console;
mod core;
mod dispatch;
mod endless;
mod host;
mod interop;
mod lualib;
mod node;
mod payload;
mod raw;
mod rawpack;
mod service;
mod signal;
mod socket;
mod state;
mod stdlib;
mod strip;
mod trace;
mod vm;

pub use interop::{args, call, reply, ret, send, LuaLauncher, LAUNCHER};
pub use node::{LuaNode, Script, DEFAULT_LUASERVICE, DEFAULT_LUA_PATH};
pub use service::LuaService;

use skynet_runtime::{Addr, CallError, Node, NodeBuilder, NodeHandle};

/// Registers the service types of the Lua host: `snlua` (`newservice("snlua", ["script",
/// args...])` launches a Lua service and waits until its `skynet.start` function has
/// returned) and `lua_launcher` ([`LuaLauncher`], which [`install`] starts).
pub fn register(builder: NodeBuilder) -> NodeBuilder {
    builder
        .raw_service("snlua", |args| {
            Ok(Box::new(LuaService::new(args)) as Box<dyn skynet_runtime::RawService>)
        })
        .system_service("lua_launcher", |_| Ok(LuaLauncher))
}

/// Starts the launcher that Lua's `skynet.launch(name, ...)` asks to start registered Rust
/// service types (skynet's C services), unless it runs already. The node must have been
/// built with [`register`].
pub fn install(node: &Node) -> Result<(), CallError> {
    if node.handle().query(LAUNCHER).is_none() {
        node.newservice("lua_launcher", &[])?;
    }
    Ok(())
}

/// Launches Lua service `name` with `args` now and returns its address at once (its
/// script runs on a worker; a script that fails is logged and the service ends).
/// An error when no `luaservice` template finds the script.
pub fn launch(node: &NodeHandle, name: &str, args: &[&str]) -> Result<Addr, CallError> {
    let shared = LuaNode::of(node);
    let script = shared
        .find_script(name)
        .map_err(|e| CallError::Failed(Addr::SYSTEM, e))?;
    let mut words = vec![name.to_string()];
    words.extend(args.iter().map(|a| a.to_string()));
    let svc = LuaService::with_notify(words, None, Some(script));
    node.launch_raw(Box::new(svc), "snlua")
}
