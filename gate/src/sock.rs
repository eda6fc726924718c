//! The gate's use of the socket driver, and [`reply`] for agents.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use skynet_net::{Driver, Framer, Route, SocketEvent};
use skynet_netpack::Decoder;
use skynet_runtime::{Addr, Context, Message, Ptype};

use crate::protocol::Fd;

/// The socket events a gate cares about.
pub(crate) enum Event {
    Accept { id: Fd, peer: SocketAddr },
    Data { id: Fd, data: Bytes },
    Close { id: Fd },
    Error { id: Fd, message: String },
    Warning { id: Fd, kb: usize },
    Other,
}

pub(crate) fn event(msg: Message) -> Option<Event> {
    let ev = msg.take::<SocketEvent>().ok()?;
    Some(match ev {
        SocketEvent::Accept { id, peer, .. } => Event::Accept { id, peer },
        SocketEvent::Data { id, data } => Event::Data { id, data },
        SocketEvent::Close { id } => Event::Close { id },
        SocketEvent::Error { id, message } => Event::Error { id, message },
        SocketEvent::Warning { id, pending_kb } => Event::Warning { id, kb: pending_kb },
        _ => Event::Other,
    })
}

pub(crate) fn listen(
    ctx: &Context,
    host: &str,
    port: u16,
    backlog: u32,
) -> io::Result<(Fd, SocketAddr)> {
    let d = Driver::of(ctx);
    let (id, addr) = d.listen_backlog(host, port, backlog, ctx.self_addr())?;
    d.start(id, ctx.self_addr());
    Ok((id, addr))
}

pub(crate) fn start(ctx: &Context, id: Fd) {
    Driver::of(ctx).start(id, ctx.self_addr());
}

/// netpack framing on the socket thread: a forwarded client's packets go from there
/// straight to its agent, without a hop through the gate's mailbox.
struct NetpackFramer(Decoder);

impl Framer for NetpackFramer {
    fn feed(&mut self, data: Bytes, out: &mut Vec<Bytes>) -> Result<(), String> {
        // Any byte stream is valid netpack framing: nothing to refuse.
        self.0.feed(data, out);
        Ok(())
    }

    fn remainder(&mut self) -> Bytes {
        self.0.take_partial()
    }

    fn direct_buffer(&mut self) -> Option<&mut BytesMut> {
        self.0.direct_buffer()
    }

    fn filled(&mut self, out: &mut Vec<Bytes>) -> Result<(), String> {
        self.0.after_direct(out);
        Ok(())
    }
}

/// Starts reading `id` with its packets sent to `agent` as CLIENT messages from `client`
/// (session = fd), framed on the socket thread. `partial`: bytes of an unfinished packet
/// the gate already holds for it.
pub(crate) fn start_routed(ctx: &Context, id: Fd, agent: Addr, client: Addr, partial: Bytes) {
    let mut decoder = Decoder::new();
    decoder.feed(partial, &mut Vec::new());
    let route = Route {
        dest: agent,
        source: client,
        ptype: Ptype::CLIENT,
        framer: Box::new(NetpackFramer(decoder)),
    };
    Driver::of(ctx).start_routed(id, ctx.self_addr(), route);
}

/// Takes `id`'s framing back into the gate (its partial packet arrives as DATA).
pub(crate) fn unroute(ctx: &Context, id: Fd) {
    Driver::of(ctx).unroute(id, ctx.self_addr());
}

pub(crate) fn pause(ctx: &Context, id: Fd) {
    Driver::of(ctx).pause(id);
}

pub(crate) fn close(ctx: &Context, id: Fd) {
    Driver::of(ctx).close(id);
}

pub(crate) fn shutdown(ctx: &Context, id: Fd) {
    Driver::of(ctx).shutdown(id);
}

pub(crate) fn nodelay(ctx: &Context, id: Fd) {
    Driver::of(ctx).nodelay(id);
}

/// Payloads up to this size are copied behind their header into one buffer (one small
/// allocation and one `write`); larger ones go out as header + payload in one `writev`,
/// without copying the payload.
const COPY_REPLY_MAX: usize = 1024;

/// How replies reach a client whose gate does not speak netpack (a WebSocket gate): the
/// gate answers `Forward` with a [`Forwarded`] carrying one, [`forward_here`] keeps it in
/// the agent, and [`reply`] writes through it. So an agent written for the netpack gate
/// serves any gate unchanged.
pub trait ClientWriter: Send + Sync + 'static {
    /// Writes one reply to `fd`, framed for its protocol; false if it was not sent.
    fn write(&self, ctx: &Context, fd: Fd, payload: &Bytes) -> bool;
}

/// A gate's answer to `GateCmd::Forward` when its clients are not framed with netpack
/// (a netpack gate answers `true`).
#[derive(Clone)]
pub struct Forwarded(pub Arc<dyn ClientWriter>);

impl std::fmt::Debug for Forwarded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Forwarded")
    }
}

/// Set once any agent holds a [`ClientWriter`]: until then [`reply`] does not look for one.
static ANY_WRITER: AtomicBool = AtomicBool::new(false);

/// The writers of an agent's clients, by fd (kept in the agent, `Context::local`).
#[derive(Default)]
struct Writers(HashMap<Fd, Arc<dyn ClientWriter>>);

/// Makes [`reply`] to `fd` from this service go through `writer` (None: netpack again).
pub fn set_writer(ctx: &Context, fd: Fd, writer: Option<Arc<dyn ClientWriter>>) {
    if writer.is_some() {
        ANY_WRITER.store(true, Ordering::Relaxed);
    }
    ctx.local(|w: &mut Writers| match writer {
        Some(wr) => {
            w.0.insert(fd, wr);
        }
        None => {
            w.0.remove(&fd);
        }
    });
}

/// Writes one packet to a client: the 2-byte length, then `payload`. False (and nothing
/// sent) for a payload over 65,535 bytes. A client of another kind of gate (see
/// [`ClientWriter`]) gets the payload framed for its protocol instead.
pub fn reply(ctx: &Context, fd: Fd, payload: &Bytes) -> bool {
    if ANY_WRITER.load(Ordering::Relaxed) {
        if let Some(w) = ctx.local(|w: &mut Writers| w.0.get(&fd).cloned()) {
            return w.write(ctx, fd, payload);
        }
    }
    let Ok(header) = skynet_netpack::header(payload.len()) else {
        log::warn!(
            "fd {fd}: reply of {} bytes is too large for one packet",
            payload.len()
        );
        return false;
    };
    let driver = Driver::of(ctx);
    if payload.len() <= COPY_REPLY_MAX {
        let mut packet = BytesMut::with_capacity(header.len() + payload.len());
        packet.extend_from_slice(&header);
        packet.extend_from_slice(payload);
        driver.send(fd, packet.freeze())
    } else {
        driver.sendv(fd, vec![Bytes::copy_from_slice(&header), payload.clone()])
    }
}

/// For an agent handling `AgentCmd::Start`: asks `gate` to send `fd`'s packets here (as
/// CLIENT messages) and start reading it. True when the gate agreed.
pub async fn forward_here(ctx: &Context, gate: skynet_runtime::Addr, fd: Fd) -> bool {
    let forward = crate::protocol::GateCmd::Forward {
        fd,
        client: None,
        agent: None,
    };
    // Boxed: this future lives inside the agent's dispatch future, which every agent
    // keeps for its whole life; the call's state is needed only for this one exchange.
    let Ok(answer) = Box::pin(ctx.call(gate, forward)).await else {
        return false;
    };
    match answer.take::<bool>() {
        Ok(ok) => ok,
        // A gate of another protocol: replies to this client go through its writer.
        Err(answer) => match answer.take::<Forwarded>() {
            Ok(Forwarded(writer)) => {
                set_writer(ctx, fd, Some(writer));
                true
            }
            Err(_) => false,
        },
    }
}
