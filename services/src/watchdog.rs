//! The watchdog (skynet's `examples/watchdog.lua`): starts a gate from the node's config,
//! launches one agent per connection and forwards the connection to it; on close, kicks the
//! connection and ends the agent.
//!
//! Config keys: `address` (default `0.0.0.0`), `port` (required), `maxclient` (1024),
//! `nodelay` (false), `backlog` (1024), `agent` (default `echo_agent`: a registered agent
//! type, or else a Lua script found over `luaservice`). Once listening it sets
//! `gate_address` to the bound address.
//!
//! A Rust agent is told [`AgentCmd::Start`] (a call; it forwards the connection to itself
//! with [`skynet_gate::forward_here`]) and [`AgentCmd::Disconnect`]. A Lua agent (`agent =
//! "agent"` with no Rust type of that name) is started with `newservice("snlua",
//! ["agent"])` and told in the form skynet's `examples/watchdog.lua` uses, LUA messages
//! packed as `skynet.pack` values: the call `start, {client = fd, fd = fd, gate = gate,
//! watchdog = watchdog}` (addresses as integers; `client` is skynet's key, `fd` the same
//! value), then, once it answered, the watchdog itself forwards the connection to it
//! (`GateCmd::Forward`; our gate is a Rust service and does not read Lua's
//! `skynet.call(gate, "lua", "forward", fd)`), and the send `disconnect` when the client
//! leaves. The agent receives each packet as a CLIENT message (session = fd, as skynet's
//! gate sends it) and replies with `skynet.socketdriver` and `skynet.netpack`
//! (`examples/lua/agent.lua`). Lua agents serve the netpack gate only: their replies are
//! netpack-framed by the agent.
//!
//! The WebSocket watchdog ([`Watchdog::websocket`], registered as `ws_watchdog`) does the
//! same over a `skynet_http::WsGate`, with every key prefixed `ws_` (`ws_port`, ...;
//! `ws_address`, `ws_nodelay` and `ws_agent` fall back to the unprefixed keys), plus
//! `ws_max_message` (bytes, 262144), `ws_accept_unmasked` (false), `ws_protocols`
//! (comma-separated) and `ws_handshake_timeout` (seconds, 10; 0 for none); it sets `ws_gate_address`. The same agents serve both.

use std::collections::HashMap;

use skynet_gate::{AgentCmd, Fd, Gate, GateCmd, GateConf, WatchdogEvent};
use skynet_http::{ws::WsConf, WsGate};
use skynet_runtime::{Addr, Context, Error, Message, Service};
use skynet_seri::{LuaTable, LuaValue};

/// The watchdog service.
#[derive(Debug, Default)]
pub struct Watchdog {
    gate: Addr,
    agent_type: String,
    /// The agent is a Lua script (no Rust type has its name).
    lua_agent: bool,
    agents: HashMap<Fd, Addr>,
    /// Config key prefix: "" for the netpack gate, "ws_" for the WebSocket gate.
    prefix: &'static str,
}

impl Watchdog {
    /// A watchdog of a netpack gate; it reads its settings from the node config in `init`.
    pub fn new() -> Watchdog {
        Watchdog::default()
    }

    /// A watchdog of a WebSocket gate (config keys prefixed `ws_`).
    pub fn websocket() -> Watchdog {
        Watchdog {
            prefix: "ws_",
            ..Watchdog::default()
        }
    }

    /// The gate's settings from the config (errors name the file, line and key).
    pub fn conf(ctx: &Context) -> Result<GateConf, Error> {
        Watchdog::conf_with(ctx, "")
    }

    /// The settings under keys prefixed with `prefix`; `address`, `nodelay` fall back to
    /// the unprefixed keys.
    fn conf_with(ctx: &Context, prefix: &str) -> Result<GateConf, Error> {
        let node = ctx.node();
        let d = GateConf::default();
        let key = |k: &str| format!("{prefix}{k}");
        let port: u16 = node.getenv_parsed(&key("port"))?.ok_or_else(|| {
            format!("config key `{prefix}port`: missing (the port the gate listens on)")
        })?;
        let nodelay = match node.getenv_parsed(&key("nodelay"))? {
            Some(v) => Some(v),
            None => node.getenv_parsed("nodelay")?,
        };
        Ok(GateConf {
            address: node
                .getenv(&key("address"))
                .or_else(|| node.getenv("address"))
                .unwrap_or(d.address),
            port,
            maxclient: node
                .getenv_parsed(&key("maxclient"))?
                .unwrap_or(d.maxclient),
            nodelay: nodelay.unwrap_or(d.nodelay),
            backlog: node.getenv_parsed(&key("backlog"))?.unwrap_or(d.backlog),
        })
    }

    /// The WebSocket settings from the config.
    pub fn ws_conf(ctx: &Context) -> Result<WsConf, Error> {
        let node = ctx.node();
        let d = WsConf::default();
        let max = node
            .getenv_parsed("ws_max_message")?
            .unwrap_or(d.max_message);
        Ok(WsConf {
            max_frame: max,
            max_message: max,
            accept_unmasked: node
                .getenv_parsed("ws_accept_unmasked")?
                .unwrap_or(d.accept_unmasked),
            protocols: node
                .getenv("ws_protocols")
                .map(|p| {
                    p.split(',')
                        .map(|s| s.trim().to_string())
                        .filter(|s| !s.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
            handshake_timeout: match node.getenv_parsed::<f64>("ws_handshake_timeout")? {
                Some(secs) if secs > 0.0 => Some(std::time::Duration::from_secs_f64(secs)),
                Some(_) => None,
                None => d.handshake_timeout,
            },
            ..d
        })
    }

    async fn connect(&mut self, ctx: &mut Context, fd: Fd) {
        if self.lua_agent {
            return self.connect_lua(ctx, fd).await;
        }
        let agent = match ctx.newservice(&self.agent_type, &[]).await {
            Ok(a) => a,
            Err(e) => {
                log::error!(
                    "watchdog: cannot launch agent `{}` for fd {fd}: {e}",
                    self.agent_type
                );
                let _ = ctx.send(self.gate, GateCmd::Kick(fd));
                return;
            }
        };
        self.agents.insert(fd, agent);
        let start = AgentCmd::Start {
            gate: self.gate,
            fd,
            watchdog: ctx.self_addr(),
        };
        if let Err(e) = ctx.call(agent, start).await {
            log::error!("watchdog: agent {agent} did not start for fd {fd}: {e}");
            self.close(ctx, fd);
        }
    }

    /// A Lua agent: launched by script name, told `start` as skynet's watchdog tells it,
    /// then given the connection.
    async fn connect_lua(&mut self, ctx: &mut Context, fd: Fd) {
        let agent = match ctx.newservice("snlua", &[&self.agent_type]).await {
            Ok(a) => a,
            Err(e) => {
                log::error!(
                    "watchdog: cannot launch Lua agent `{}` for fd {fd}: {e}",
                    self.agent_type
                );
                let _ = ctx.send(self.gate, GateCmd::Kick(fd));
                return;
            }
        };
        self.agents.insert(fd, agent);
        let conf = match lua_start_conf(fd, self.gate, ctx.self_addr()) {
            Ok(c) => c,
            Err(e) => {
                log::error!("watchdog: cannot build the start table for fd {fd}: {e}");
                return self.close(ctx, fd);
            }
        };
        let started: Result<Vec<LuaValue>, _> =
            Box::pin(skynet_lua::call(ctx, agent, ("start", conf))).await;
        if let Err(e) = started {
            log::error!("watchdog: Lua agent {agent} did not start for fd {fd}: {e}");
            return self.close(ctx, fd);
        }
        let forward = GateCmd::Forward {
            fd,
            client: None,
            agent: Some(agent),
        };
        let forwarded = match Box::pin(ctx.call(self.gate, forward)).await {
            Ok(answer) => answer.take::<bool>().unwrap_or(false),
            Err(_) => false,
        };
        if !forwarded {
            log::info!("watchdog: fd {fd} closed before it reached Lua agent {agent}");
            self.close(ctx, fd);
        }
    }

    fn disconnect(&self, ctx: &Context, agent: Addr) {
        if self.lua_agent {
            let _ = skynet_lua::send(ctx, agent, ("disconnect",));
        } else {
            let _ = ctx.send(agent, AgentCmd::Disconnect);
        }
    }

    fn close(&mut self, ctx: &Context, fd: Fd) {
        let _ = ctx.send(self.gate, GateCmd::Kick(fd));
        if let Some(agent) = self.agents.remove(&fd) {
            self.disconnect(ctx, agent);
        }
    }
}

impl Service for Watchdog {
    async fn init(&mut self, ctx: &mut Context) -> Result<(), Error> {
        let p = self.prefix;
        let conf = Watchdog::conf_with(ctx, p)?;
        self.agent_type = ctx
            .getenv(&format!("{p}agent"))
            .or_else(|| ctx.getenv("agent"))
            .unwrap_or_else(|| "echo_agent".into());
        let node = ctx.node();
        self.lua_agent = !node.service_types().contains(&self.agent_type)
            && skynet_lua::LuaNode::of(&node)
                .find_script(&self.agent_type)
                .is_ok();
        if self.lua_agent && !p.is_empty() {
            return Err(format!(
                "config key `{p}agent`: `{}` is a Lua agent; Lua agents serve the netpack \
                 gate only (they frame their replies with skynet.netpack)",
                self.agent_type
            )
            .into());
        }
        self.gate = if p.is_empty() {
            ctx.launch(Gate::service()).await?
        } else {
            ctx.launch(WsGate::new(Watchdog::ws_conf(ctx)?)).await?
        };
        let addr = ctx
            .call(self.gate, GateCmd::Open(conf))
            .await?
            .into_value::<Result<std::net::SocketAddr, String>>()??;
        log::info!(
            "{p}watchdog: gate {} listening on {addr}, agents `{}`{}",
            self.gate,
            self.agent_type,
            if self.lua_agent { " (Lua)" } else { "" }
        );
        // Where the gate really listens (with `port = 0`, the port picked).
        ctx.setenv(&format!("{p}gate_address"), &addr.to_string());
        Ok(())
    }

    async fn dispatch(&mut self, ctx: &mut Context, msg: Message) {
        let Ok(ev) = msg.take::<WatchdogEvent>() else {
            return;
        };
        match ev {
            WatchdogEvent::Open { fd, addr } => {
                log::debug!("watchdog: fd {fd} connected from {addr}");
                self.connect(ctx, fd).await;
            }
            WatchdogEvent::Close { fd } => self.close(ctx, fd),
            WatchdogEvent::Error { fd, message } => {
                log::info!("watchdog: fd {fd} error: {message}");
                self.close(ctx, fd);
            }
            WatchdogEvent::Warning { fd, kb } => {
                log::warn!("watchdog: fd {fd} has {kb} KiB waiting to be sent");
            }
            WatchdogEvent::Data { fd, packet } => {
                log::debug!(
                    "watchdog: {} bytes from fd {fd} with no agent",
                    packet.len()
                );
            }
        }
    }

    fn exit(&mut self, ctx: &mut Context) {
        for (_, agent) in std::mem::take(&mut self.agents) {
            self.disconnect(ctx, agent);
        }
        ctx.kill(self.gate);
    }
}

/// The table a Lua agent's `start` is given: `{client = fd, fd = fd, gate = gate,
/// watchdog = watchdog}` (skynet's keys, plus `fd`).
fn lua_start_conf(fd: Fd, gate: Addr, watchdog: Addr) -> Result<LuaTable, skynet_seri::Error> {
    let mut t = LuaTable::new();
    t.set("client", fd)?;
    t.set("fd", fd)?;
    t.set("gate", gate.0)?;
    t.set("watchdog", watchdog.0)?;
    Ok(t)
}
