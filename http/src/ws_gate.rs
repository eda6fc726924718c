//! The WebSocket gate: skynet's gate contract (`GateCmd`: open, close, forward, accept,
//! kick; the watchdog told open, close, error, warning, data) over WebSocket instead of
//! netpack, so the agents of a netpack gate serve browser clients unchanged.
//!
//! Like the netpack gate, a forwarded client's messages do not pass through the gate: the
//! socket is routed ([`skynet_net::Route`]) and its framer, on the socket thread, sends
//! each message to the agent as one CLIENT message (session = fd, the payload's `Bytes`
//! moved). The gate sees the handshake head, answers it, and keeps the lifecycle.
//!
//! ```text
//! client ─ws─► socket thread (WsFramer) ─CLIENT(fd, message)──► agent ─reply()─► socket
//!                 │  └ ping → pong, close → close, violation → close code
//!                 └─ head, ACCEPT/CLOSE/ERROR/WARNING ─► ws gate ─ WatchdogEvent ─► watchdog
//! ```

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::AtomicU8;
use std::sync::Arc;

use bytes::Bytes;
use skynet_gate::{Fd, Forwarded, GateCmd, GateConf, WatchdogEvent};
use skynet_net::{Driver, Framer, Route, SocketEvent};
use skynet_runtime::{Addr, Context, Message, Payload, Ptype, Service};

use crate::error::HttpError;
use crate::head::parse_request;
use crate::response::error_bytes;
use crate::stats::HttpStats;
use crate::ws::WsConf;
use crate::ws_gate_framer::{WsFramer, WsWriter};
use crate::ws_handshake::{check_request, response_bytes};

struct Client {
    peer: SocketAddr,
    /// The handshake is done (the watchdog knows the client).
    open: bool,
    /// Its messages come to the gate (after `Accept`): forwarded from here.
    read_here: bool,
    /// Where the gate forwards its messages when `read_here` (source, agent).
    agent: Option<(Addr, Addr)>,
    writer: Arc<WsWriter>,
    /// Input paused because its output is backed up.
    paused: bool,
}

/// Sent to itself when a client's handshake deadline passes.
struct HandshakeDeadline(Fd);

/// A framer for a redirect request: the socket keeps its own (see `Driver::start_routed`).
struct KeepFramer;

impl Framer for KeepFramer {
    fn feed(&mut self, _data: Bytes, _out: &mut Vec<Bytes>) -> Result<(), String> {
        Ok(())
    }
    fn remainder(&mut self) -> Bytes {
        Bytes::new()
    }
}

/// The WebSocket gate service. Launch it, then call `GateCmd::Open(conf)` on it (the
/// caller becomes its watchdog), exactly as with `skynet_gate::Gate`.
pub struct WsGate {
    ws: WsConf,
    conf: GateConf,
    listener: Option<Fd>,
    watchdog: Addr,
    clients: HashMap<Fd, Client>,
}

impl std::fmt::Debug for WsGate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WsGate({} clients)", self.clients.len())
    }
}

impl WsGate {
    /// A gate whose WebSocket settings are `ws`.
    pub fn new(ws: WsConf) -> WsGate {
        WsGate {
            ws,
            conf: GateConf::default(),
            listener: None,
            watchdog: Addr::SYSTEM,
            clients: HashMap::new(),
        }
    }

    fn tell(&self, ctx: &Context, ev: WatchdogEvent) {
        if !self.watchdog.is_system() {
            let _ = ctx.send(self.watchdog, ev);
        }
    }

    fn open(&mut self, ctx: &mut Context, source: Addr, conf: GateConf) {
        let d = Driver::of(ctx);
        if let Some(old) = self.listener.take() {
            d.close(old);
        }
        match d.listen_backlog(&conf.address, conf.port, conf.backlog, ctx.self_addr()) {
            Ok((id, addr)) => {
                d.start(id, ctx.self_addr());
                log::info!(
                    "websocket gate listening on {addr} (maxclient {})",
                    conf.maxclient
                );
                self.listener = Some(id);
                self.conf = conf;
                self.watchdog = source;
                let _ = ctx.ret(Ok::<SocketAddr, String>(addr));
            }
            Err(e) => {
                let why = format!(
                    "websocket gate cannot listen on {}:{}: {e}",
                    conf.address, conf.port
                );
                log::error!("{why}");
                let _ = ctx.ret(Err::<SocketAddr, String>(why));
            }
        }
    }

    fn accept(&mut self, ctx: &Context, id: Fd, peer: SocketAddr) {
        let d = Driver::of(ctx);
        if self.clients.len() >= self.conf.maxclient {
            log::warn!(
                "websocket gate: {} clients (maxclient) already connected, refusing {peer}",
                self.clients.len()
            );
            d.shutdown(id);
            return;
        }
        if self.conf.nodelay {
            d.nodelay(id);
        }
        let kind = Arc::new(AtomicU8::new(1));
        let framer = WsFramer::new(
            d.clone(),
            id,
            self.ws.decoder(),
            self.ws.max_head,
            kind.clone(),
        );
        HttpStats::of(&ctx.node()).ws_opened();
        self.clients.insert(
            id,
            Client {
                peer,
                open: false,
                read_here: false,
                agent: None,
                writer: Arc::new(WsWriter { kind }),
                paused: false,
            },
        );
        // The framer sends the head here, then holds messages until `forward`/`accept`.
        let me = ctx.self_addr();
        d.start_routed(
            id,
            me,
            Route {
                dest: me,
                source: me,
                ptype: Ptype::CLIENT,
                framer: Box::new(framer),
            },
        );
        if let Some(limit) = self.ws.handshake_timeout {
            ctx.timeout(limit, move |ctx| {
                let _ = ctx.send(ctx.self_addr(), HandshakeDeadline(id));
            });
        }
    }

    /// A handshake head (before `open`) or a message read by the gate (after `Accept`).
    fn client_message(&mut self, ctx: &Context, fd: Fd, data: Bytes) {
        let Some(c) = self.clients.get_mut(&fd) else {
            return;
        };
        if c.open {
            match c.agent {
                Some((source, agent)) => {
                    let _ = ctx.redirect(agent, source, Ptype::CLIENT, fd, Payload::Bytes(data));
                }
                None => self.tell(ctx, WatchdogEvent::Data { fd, packet: data }),
            }
            return;
        }
        let d = Driver::of(ctx);
        let checked = parse_request(&data).and_then(|req| check_request(&req, &self.ws.protocols));
        match checked {
            Ok(a) => {
                d.send(fd, response_bytes(&a));
                c.open = true;
                let addr = c.peer;
                self.tell(ctx, WatchdogEvent::Open { fd, addr });
            }
            Err(e) => {
                let status = match &e {
                    HttpError::Status(s, _) => *s,
                    _ => 400,
                };
                log::info!(
                    "websocket gate: fd {fd} ({}): handshake refused: {e}",
                    c.peer
                );
                d.send(fd, error_bytes(status));
                d.close(fd);
            }
        }
    }

    fn forget(&mut self, ctx: &Context, fd: Fd) -> Option<Client> {
        let c = self.clients.remove(&fd);
        if c.is_some() {
            HttpStats::of(&ctx.node()).ws_closed();
        }
        if self.clients.capacity() > 1024 && self.clients.len() * 4 < self.clients.capacity() {
            self.clients.shrink_to(self.clients.len() * 2);
        }
        c
    }

    fn event(&mut self, ctx: &Context, ev: SocketEvent) {
        let d = Driver::of(ctx);
        match ev {
            SocketEvent::Accept { id, peer, .. } => self.accept(ctx, id, peer),
            SocketEvent::Close { id } if Some(id) == self.listener => self.listener = None,
            SocketEvent::Close { id } => {
                if let Some(c) = self.forget(ctx, id) {
                    d.close(id);
                    if c.open {
                        self.tell(ctx, WatchdogEvent::Close { fd: id });
                    }
                }
            }
            SocketEvent::Error { id, message } => {
                if Some(id) == self.listener {
                    log::error!("websocket gate: listener error: {message}");
                } else if let Some(c) = self.forget(ctx, id) {
                    d.shutdown(id);
                    if c.open {
                        self.tell(ctx, WatchdogEvent::Error { fd: id, message });
                    }
                }
            }
            SocketEvent::Warning { id, pending_kb } => {
                let Some(c) = self.clients.get_mut(&id) else {
                    return;
                };
                // A client that does not read its replies stops being read until they
                // drain (as the netpack gate does).
                if pending_kb > 0 && !c.paused {
                    c.paused = true;
                    d.pause(id);
                    log::warn!("websocket gate: fd {id} has {pending_kb} KiB unsent; pausing its input until it reads");
                } else if pending_kb == 0 && c.paused {
                    c.paused = false;
                    d.start(id, ctx.self_addr());
                }
                if c.open {
                    self.tell(
                        ctx,
                        WatchdogEvent::Warning {
                            fd: id,
                            kb: pending_kb,
                        },
                    );
                }
            }
            _ => {}
        }
    }

    /// Routes `fd`'s messages to `dest` from now on (held ones first).
    fn reroute(ctx: &Context, fd: Fd, dest: Addr, source: Addr) {
        Driver::of(ctx).start_routed(
            fd,
            ctx.self_addr(),
            Route {
                dest,
                source,
                ptype: Ptype::CLIENT,
                framer: Box::new(KeepFramer),
            },
        );
    }

    fn command(&mut self, ctx: &mut Context, source: Addr, cmd: GateCmd) {
        match cmd {
            GateCmd::Open(conf) => self.open(ctx, source, conf),
            GateCmd::Close => {
                if let Some(id) = self.listener.take() {
                    Driver::of(ctx).close(id);
                }
                let _ = ctx.ret(());
            }
            GateCmd::Forward { fd, client, agent } => {
                let client = client.unwrap_or(ctx.self_addr());
                let agent = agent.unwrap_or(source);
                let Some(c) = self.clients.get_mut(&fd).filter(|c| c.open) else {
                    let _ = ctx.ret(false);
                    return;
                };
                if c.read_here {
                    // Read by the gate already: it keeps forwarding (a change of path with
                    // messages in flight could reorder them).
                    c.agent = Some((client, agent));
                } else {
                    WsGate::reroute(ctx, fd, agent, client);
                }
                let _ = ctx.ret(Forwarded(c.writer.clone()));
            }
            GateCmd::Accept(fd) => {
                let ok = match self.clients.get_mut(&fd).filter(|c| c.open) {
                    Some(c) => {
                        c.agent = None;
                        if !c.read_here {
                            c.read_here = true;
                            let me = ctx.self_addr();
                            WsGate::reroute(ctx, fd, me, me);
                        }
                        true
                    }
                    None => false,
                };
                let _ = ctx.ret(ok);
            }
            GateCmd::Kick(fd) => {
                let known = self.clients.contains_key(&fd);
                if known {
                    Driver::of(ctx).close(fd);
                }
                let _ = ctx.ret(known);
            }
            GateCmd::Count => {
                let _ = ctx.ret(self.clients.len());
            }
        }
    }
}

impl Service for WsGate {
    async fn dispatch(&mut self, ctx: &mut Context, msg: Message) {
        match msg.ptype {
            Ptype::SOCKET => {
                if let Ok(ev) = msg.take::<SocketEvent>() {
                    self.event(ctx, ev);
                }
            }
            Ptype::CLIENT => {
                let fd = msg.session;
                if let Payload::Bytes(b) = msg.payload {
                    self.client_message(ctx, fd, b);
                }
            }
            _ => {
                let source = msg.source;
                let msg = match msg.take::<HandshakeDeadline>() {
                    Ok(HandshakeDeadline(fd)) => {
                        if let Some(c) = self.clients.get(&fd).filter(|c| !c.open) {
                            log::info!(
                                "websocket gate: fd {fd} ({}): no handshake in time (408)",
                                c.peer
                            );
                            let d = Driver::of(ctx);
                            d.send(fd, error_bytes(408));
                            d.close(fd);
                        }
                        return;
                    }
                    Err(m) => m,
                };
                match msg.take::<GateCmd>() {
                    Ok(cmd) => self.command(ctx, source, cmd),
                    Err(m) => log::warn!(
                        "websocket gate: unknown message {:?} from {source}",
                        m.ptype
                    ),
                }
            }
        }
    }

    fn exit(&mut self, ctx: &mut Context) {
        let d = Driver::of(ctx);
        for fd in self.clients.keys() {
            d.close(*fd);
        }
        if let Some(id) = self.listener.take() {
            d.close(id);
        }
    }
}
