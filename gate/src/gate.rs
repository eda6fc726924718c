//! The gate service (skynet's `service/gate.lua`): a [`GateServer`] whose clients are either
//! forwarded to an agent (each packet a CLIENT message, session = fd, the bytes moved, not
//! copied) or reported to the watchdog.

use std::collections::HashMap;
use std::net::SocketAddr;

use bytes::Bytes;
use skynet_runtime::{Addr, Context, Message, Payload, Ptype};

use crate::protocol::{Fd, GateCmd, WatchdogEvent};
use crate::server::{shrink_if_sparse, Clients, GateHandler, GateServer};

struct Forward {
    client: Addr,
    agent: Addr,
}

/// The gate's handler: forwards packets to agents, tells the watchdog the rest.
#[derive(Default)]
pub struct Gate {
    watchdog: Addr,
    forwards: HashMap<Fd, Forward>,
}

impl std::fmt::Debug for Gate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Gate(watchdog {}, {} forwarded)",
            self.watchdog,
            self.forwards.len()
        )
    }
}

impl Gate {
    /// A gate service value, ready to `launch`; it listens on `GateCmd::Open`.
    pub fn service() -> GateServer<Gate> {
        GateServer::new(Gate::default())
    }

    fn tell(&self, ctx: &Context, ev: WatchdogEvent) {
        if !self.watchdog.is_system() {
            let _ = ctx.send(self.watchdog, ev);
        }
    }
}

impl GateHandler for Gate {
    fn open(&mut self, _gate: &mut Clients, _ctx: &mut Context, source: Addr, _addr: SocketAddr) {
        self.watchdog = source;
    }

    fn connect(&mut self, _gate: &mut Clients, ctx: &mut Context, fd: Fd, addr: SocketAddr) {
        self.tell(ctx, WatchdogEvent::Open { fd, addr });
    }

    fn message(&mut self, _gate: &mut Clients, ctx: &mut Context, fd: Fd, packet: Bytes) {
        match self.forwards.get(&fd) {
            Some(f) => {
                // The packet's bytes move to the agent: no copy.
                if ctx
                    .redirect(f.agent, f.client, Ptype::CLIENT, fd, Payload::Bytes(packet))
                    .is_err()
                {
                    log::debug!("gate: agent {} of fd {fd} is gone", f.agent);
                }
            }
            None => self.tell(ctx, WatchdogEvent::Data { fd, packet }),
        }
    }

    fn disconnect(&mut self, _gate: &mut Clients, ctx: &mut Context, fd: Fd) {
        self.forwards.remove(&fd);
        shrink_if_sparse(&mut self.forwards);
        self.tell(ctx, WatchdogEvent::Close { fd });
    }

    fn error(&mut self, _gate: &mut Clients, ctx: &mut Context, fd: Fd, message: &str) {
        self.forwards.remove(&fd);
        shrink_if_sparse(&mut self.forwards);
        self.tell(
            ctx,
            WatchdogEvent::Error {
                fd,
                message: message.to_string(),
            },
        );
    }

    fn warning(&mut self, _gate: &mut Clients, ctx: &mut Context, fd: Fd, kb: usize) {
        self.tell(ctx, WatchdogEvent::Warning { fd, kb });
    }

    fn command(&mut self, gate: &mut Clients, ctx: &mut Context, msg: Message) {
        let source = msg.source;
        match msg.take::<GateCmd>() {
            Ok(GateCmd::Forward { fd, client, agent }) => {
                let client = client.unwrap_or(ctx.self_addr());
                let agent = agent.unwrap_or(source);
                // Usually routed: packets go from the socket thread to the agent directly.
                // The table serves clients already read here (after `Accept`).
                let ok = gate.forward(ctx, fd, agent, client).is_some();
                if ok {
                    self.forwards.insert(fd, Forward { client, agent });
                }
                let _ = ctx.ret(ok);
            }
            Ok(GateCmd::Accept(fd)) => {
                self.forwards.remove(&fd);
                let ok = gate.openclient(ctx, fd);
                let _ = ctx.ret(ok);
            }
            Ok(GateCmd::Kick(fd)) => {
                let ok = gate.closeclient(ctx, fd);
                let _ = ctx.ret(ok);
            }
            Ok(GateCmd::Count) => {
                let _ = ctx.ret(gate.count());
            }
            Ok(other) => {
                log::warn!("gate: unexpected command {other:?} from {source}");
            }
            Err(m) => {
                log::warn!("gate: unknown message {:?} from {source}", m.ptype);
            }
        }
    }
}
