//! `skynet-services`: the standard services, the config-driven node, and the `skynet`
//! binary.
//!
//! [`run_node`] is what `skynet CONFIG` does: load the config (with `--set` overrides),
//! write the pid file if `daemon` is set, register the standard service types
//! ([`register_standard`]), launch the `start` service and run until the node ends.
//! Applications with their own service types call [`register_standard`] on their own
//! [`NodeBuilder`] and add theirs.

#![deny(missing_docs)]

pub mod chat;
pub mod console;
pub mod echo_agent;
pub mod metrics;
pub mod pidfile;
pub mod prelude;
pub mod start_all;
pub mod watchdog;
pub mod web;

use skynet_runtime::{Config, Error, NodeBuilder};

/// `docs/guide.md`, included so its Rust blocks run as doc-tests (the guide cannot drift
/// from the code; its TOML blocks are parsed by `tests/guide.rs`).
#[cfg(doctest)]
#[doc = include_str!("../../docs/guide.md")]
pub struct Guide;

/// Registers the standard service types on a node builder: `watchdog`, `ws_watchdog`,
/// `gate`, `echo_agent`, `discard_agent`, `chat_agent`, `chat_room`, `debug_console`,
/// `metrics`, `start_all`, `web`, and the Lua host's `snlua` and `lua_launcher`.
pub fn register_standard(builder: NodeBuilder) -> NodeBuilder {
    skynet_lua::register(builder)
        .service("watchdog", |_| Ok(watchdog::Watchdog::new()))
        .service("ws_watchdog", |_| Ok(watchdog::Watchdog::websocket()))
        .service("gate", |_| Ok(skynet_gate::Gate::service()))
        .service("echo_agent", |_| Ok(echo_agent::EchoAgent::default()))
        .service("discard_agent", |_| Ok(echo_agent::EchoAgent::discarding()))
        .service("chat_agent", |_| Ok(chat::ChatAgent::default()))
        .service("chat_room", |_| Ok(chat::ChatRoom::default()))
        .service("debug_console", |_| Ok(console::DebugConsole))
        .service("metrics", |_| Ok(metrics::Metrics))
        .service("start_all", |_| Ok(start_all::StartAll))
        .service("web", |_| Ok(web::Web))
}

/// Runs a node from the config file at `path`, with `--set` overrides: what `skynet CONFIG`
/// does. Errors name the file, line and key where the config is at fault.
pub fn run_node(path: &str, overrides: &[(String, String)]) -> Result<(), Error> {
    let config = Config::load(path)?.with_overrides(overrides)?;
    run_with(register_standard(skynet_runtime::Node::builder()), config)
}

/// Starts `start`: a registered service type, or else a Lua service by script name
/// (`start = "main"` runs `main.lua` found over `luaservice`, with any words after the
/// name as its arguments).
fn start_service(
    node: &skynet_runtime::Node,
    start: &str,
) -> Result<(), skynet_runtime::CallError> {
    let mut words = start.split_whitespace();
    let name = words.next().unwrap_or("");
    let args: Vec<&str> = words.collect();
    match node.newservice(name, &args) {
        Err(skynet_runtime::CallError::NoSuchName(_))
            if skynet_lua::LuaNode::of(&node.handle())
                .find_script(name)
                .is_ok() =>
        {
            let mut lua_args = vec![name];
            lua_args.extend(args);
            node.newservice("snlua", &lua_args).map(|_| ())
        }
        r => r.map(|_| ()),
    }
}

/// Runs a node from an already loaded config on the given builder.
pub fn run_with(builder: NodeBuilder, config: Config) -> Result<(), Error> {
    let start = config.require_start()?.to_string();
    let console = config.get("debug_address").is_some();
    let metrics = config.get("metrics_address").is_some();
    let log_to_file = config.logger().is_some();
    let pid_path = config.daemon().map(|p| p.to_owned());
    let mut node = builder.config(config).build()?;
    // Before anything announces the node (the pid file, a log line), so a signal sent on
    // seeing it is handled, not fatal.
    if let Err(e) = node.catch_signals() {
        node.shutdown();
        return Err(e);
    }
    let _pid = match pid_path.map(pidfile::PidFile::create).transpose() {
        Ok(p) => p,
        Err(e) => {
            node.shutdown();
            return Err(e.into());
        }
    };
    if console {
        if let Err(e) = node.newservice("debug_console", &[]) {
            node.shutdown();
            return Err(format!("cannot start the debug console: {e}").into());
        }
    }
    if metrics {
        if let Err(e) = node.newservice("metrics", &[]) {
            node.shutdown();
            return Err(format!("cannot start the metrics endpoint: {e}").into());
        }
    }
    // skynet.launch from Lua starts Rust types through the Lua launcher (absent when the
    // builder did not register the Lua host: then Lua services cannot launch Rust types).
    let _ = skynet_lua::install(&node);
    if let Err(e) = start_service(&node, &start) {
        node.shutdown();
        // A failed init is logged by the runtime with its reason; when the log is this
        // same stderr, once is enough.
        let logged = matches!(e, skynet_runtime::CallError::Failed(..)) && !log_to_file;
        return Err(if logged {
            format!("cannot start service `{start}` (the reason is logged above)").into()
        } else {
            format!("cannot start service `{start}`: {e}").into()
        });
    }
    // The node is up: a key nothing read is likely a typo (`prot` for `port`).
    for warning in node.handle().unused_config_warnings() {
        log::warn!("{warning}");
    }
    node.run()
}
