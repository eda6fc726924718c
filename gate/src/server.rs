//! The gateserver framework (skynet's `snax/gateserver.lua`): a service that listens,
//! admits at most `maxclient` clients, frames their input with netpack and drives a
//! [`GateHandler`].

use std::collections::HashMap;
use std::net::SocketAddr;

use bytes::Bytes;
use skynet_netpack::Decoder;
use skynet_runtime::{Addr, Context, Message, Ptype, Service};

use crate::protocol::{Fd, GateCmd, GateConf};
use crate::sock::{self, Event};

/// What a gate does with its clients' events. Every callback runs inside the gate service.
pub trait GateHandler: Send + 'static {
    /// The gate is listening at `addr` (the `Open` command came from `source`).
    fn open(&mut self, gate: &mut Clients, ctx: &mut Context, source: Addr, addr: SocketAddr) {
        let _ = (gate, ctx, source, addr);
    }
    /// A client connected. It is not read until [`Clients::openclient`].
    fn connect(&mut self, gate: &mut Clients, ctx: &mut Context, fd: Fd, addr: SocketAddr);
    /// One whole packet from an opened client.
    fn message(&mut self, gate: &mut Clients, ctx: &mut Context, fd: Fd, packet: Bytes);
    /// A client's connection closed (it is forgotten; its socket is closed).
    fn disconnect(&mut self, gate: &mut Clients, ctx: &mut Context, fd: Fd) {
        let _ = (gate, ctx, fd);
    }
    /// A client's connection failed (it is forgotten; its socket is shut down).
    fn error(&mut self, gate: &mut Clients, ctx: &mut Context, fd: Fd, message: &str) {
        let _ = (gate, ctx, fd, message);
    }
    /// A client's unsent data passed a threshold (KiB pending; 0 = drained).
    fn warning(&mut self, gate: &mut Clients, ctx: &mut Context, fd: Fd, kb: usize) {
        let _ = (gate, ctx, fd, kb);
    }
    /// Any other message (commands other than `Open`/`Close`). Answer calls with `ctx.ret`.
    fn command(&mut self, gate: &mut Clients, ctx: &mut Context, msg: Message) {
        let _ = (gate, ctx, msg);
    }
}

struct Client {
    /// Framing state while the gate reads this client itself (routed clients are framed on
    /// the socket thread and never need one: most clients hold none).
    decoder: Option<Box<Decoder>>,
    opened: bool,
    /// Framed on the socket thread, packets sent straight to an agent (see `forward`).
    routed: bool,
    /// Input paused because its output is backed up.
    paused: bool,
}

/// The gate's client table, handed to every [`GateHandler`] callback.
pub struct Clients {
    conf: GateConf,
    listener: Option<Fd>,
    clients: HashMap<Fd, Client>,
    packets: Vec<Bytes>,
}

impl std::fmt::Debug for Clients {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Clients({} of {})",
            self.clients.len(),
            self.conf.maxclient
        )
    }
}

impl Clients {
    /// Starts reading a connected client; its packets come to [`GateHandler::message`].
    pub fn openclient(&mut self, ctx: &Context, fd: Fd) -> bool {
        match self.clients.get_mut(&fd) {
            Some(c) => {
                if c.routed {
                    // Framing comes back here; the partial packet arrives as DATA first.
                    c.routed = false;
                    sock::unroute(ctx, fd);
                } else if !c.opened {
                    c.opened = true;
                    sock::start(ctx, fd);
                }
                true
            }
            None => false,
        }
    }

    /// Starts reading a connected client with its packets sent straight to `agent` as
    /// CLIENT messages (source `client`, session = fd), framed on the socket thread: they
    /// never pass through the gate's mailbox, and [`GateHandler::message`] does not see them.
    ///
    /// `Some(true)` when routed; `Some(false)` when the client was already being read by
    /// the gate (after [`openclient`](Clients::openclient)): its packets then keep coming to
    /// `message`, since a change of path with reads in flight could reorder them, and the
    /// handler forwards them itself. `None` for an unknown fd.
    pub fn forward(&mut self, ctx: &Context, fd: Fd, agent: Addr, client: Addr) -> Option<bool> {
        let c = self.clients.get_mut(&fd)?;
        if c.opened && !c.routed {
            return Some(false);
        }
        c.opened = true;
        c.routed = true;
        let partial = c
            .decoder
            .take()
            .map(|mut d| d.take_partial())
            .unwrap_or_default();
        sock::start_routed(ctx, fd, agent, client, partial);
        Some(true)
    }

    /// Closes a client (pending replies are flushed first). Its `disconnect` follows.
    pub fn closeclient(&mut self, ctx: &Context, fd: Fd) -> bool {
        if self.clients.contains_key(&fd) {
            sock::close(ctx, fd);
            true
        } else {
            false
        }
    }

    /// Drops a client's entry; false if it was not there.
    fn forget(&mut self, fd: Fd) -> bool {
        let known = self.clients.remove(&fd).is_some();
        shrink_if_sparse(&mut self.clients);
        known
    }

    /// Clients connected now.
    pub fn count(&self) -> usize {
        self.clients.len()
    }

    /// True when `fd` is a connected client.
    pub fn contains(&self, fd: Fd) -> bool {
        self.clients.contains_key(&fd)
    }

    /// The configuration of the last `Open`.
    pub fn conf(&self) -> &GateConf {
        &self.conf
    }
}

/// Gives a table's memory back once most of its entries are gone (after a wave of
/// disconnects), keeping room for twice what is left.
pub(crate) fn shrink_if_sparse<V>(table: &mut HashMap<Fd, V>) {
    if table.capacity() > 1024 && table.len() * 4 < table.capacity() {
        table.shrink_to(table.len() * 2);
    }
}

/// A gate service built from a handler.
pub struct GateServer<H: GateHandler> {
    handler: H,
    clients: Clients,
}

impl<H: GateHandler> GateServer<H> {
    /// A gate driven by `handler`; it listens when it receives `GateCmd::Open`.
    pub fn new(handler: H) -> GateServer<H> {
        GateServer {
            handler,
            clients: Clients {
                conf: GateConf::default(),
                listener: None,
                clients: HashMap::new(),
                packets: Vec::new(),
            },
        }
    }

    fn open(&mut self, ctx: &mut Context, source: Addr, conf: GateConf) {
        if let Some(old) = self.clients.listener.take() {
            sock::close(ctx, old);
        }
        match sock::listen(ctx, &conf.address, conf.port, conf.backlog) {
            Ok((id, addr)) => {
                log::info!("gate listening on {addr} (maxclient {})", conf.maxclient);
                self.clients.listener = Some(id);
                self.clients.conf = conf;
                self.handler.open(&mut self.clients, ctx, source, addr);
                let _ = ctx.ret(Ok::<SocketAddr, String>(addr));
            }
            Err(e) => {
                // The caller (a watchdog) hears it and reports it: no second log line.
                let why = format!("gate cannot listen on {}:{}: {e}", conf.address, conf.port);
                log::debug!("{why}");
                let _ = ctx.ret(Err::<SocketAddr, String>(why));
            }
        }
    }

    fn event(&mut self, ctx: &mut Context, ev: Event) {
        let c = &mut self.clients;
        match ev {
            Event::Accept { id, peer, .. } => {
                if c.clients.len() >= c.conf.maxclient {
                    log::warn!(
                        "gate: {} clients (maxclient) already connected, refusing {peer}",
                        c.clients.len()
                    );
                    sock::shutdown(ctx, id);
                    return;
                }
                c.clients.insert(
                    id,
                    Client {
                        decoder: None,
                        opened: false,
                        routed: false,
                        paused: false,
                    },
                );
                if c.conf.nodelay {
                    sock::nodelay(ctx, id);
                }
                self.handler.connect(c, ctx, id, peer);
            }
            Event::Data { id, data } => {
                let Some(client) = c.clients.get_mut(&id) else {
                    log::debug!(
                        "gate: dropped {} bytes from unknown socket {id}",
                        data.len()
                    );
                    return;
                };
                client
                    .decoder
                    .get_or_insert_with(Box::default)
                    .feed(data, &mut c.packets);
                let mut packets = std::mem::take(&mut c.packets);
                for p in packets.drain(..) {
                    self.handler.message(&mut self.clients, ctx, id, p);
                }
                self.clients.packets = packets;
            }
            Event::Close { id } => {
                if Some(id) == c.listener {
                    c.listener = None;
                    return;
                }
                if c.forget(id) {
                    sock::close(ctx, id);
                    self.handler.disconnect(c, ctx, id);
                }
            }
            Event::Error { id, message } => {
                if Some(id) == c.listener {
                    log::error!("gate: listener error: {message}");
                    return;
                }
                if c.forget(id) {
                    sock::shutdown(ctx, id);
                    self.handler.error(c, ctx, id, &message);
                }
            }
            Event::Warning { id, kb } => {
                if let Some(client) = c.clients.get_mut(&id) {
                    // A client that does not read its replies stops being read until they
                    // drain, so it cannot grow the node's memory without bound.
                    if kb > 0 && client.opened && !client.paused {
                        client.paused = true;
                        sock::pause(ctx, id);
                        log::warn!(
                            "gate: fd {id} has {kb} KiB unsent; pausing its input until it reads"
                        );
                    } else if kb == 0 && client.paused {
                        client.paused = false;
                        sock::start(ctx, id);
                    }
                    self.handler.warning(c, ctx, id, kb);
                }
            }
            Event::Other => {}
        }
    }
}

impl<H: GateHandler> Service for GateServer<H> {
    async fn dispatch(&mut self, ctx: &mut Context, msg: Message) {
        if msg.ptype == Ptype::SOCKET {
            if let Some(ev) = sock::event(msg) {
                self.event(ctx, ev);
            }
            return;
        }
        let (source, session) = (msg.source, msg.session);
        match msg.take::<GateCmd>() {
            Ok(GateCmd::Open(conf)) => self.open(ctx, source, conf),
            Ok(GateCmd::Close) => {
                if let Some(id) = self.clients.listener.take() {
                    sock::close(ctx, id);
                }
                let _ = ctx.ret(());
            }
            Ok(other) => self.handler.command(
                &mut self.clients,
                ctx,
                Message::value(source, session, Ptype::LUA, other),
            ),
            Err(msg) => self.handler.command(&mut self.clients, ctx, msg),
        }
    }

    fn exit(&mut self, ctx: &mut Context) {
        for fd in self.clients.clients.keys() {
            sock::close(ctx, *fd);
        }
        if let Some(id) = self.clients.listener.take() {
            sock::close(ctx, id);
        }
    }
}
