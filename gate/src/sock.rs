//! The gate's use of the socket driver, and [`reply`] for agents.

use std::io;
use std::net::SocketAddr;

use bytes::Bytes;
use skynet_net::{Driver, SocketEvent};
use skynet_runtime::{Context, Message};

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

/// Writes one packet to a client: the 2-byte length, then `payload`, in one `writev`
/// without copying the payload. False (and nothing sent) for a payload over 65,535 bytes.
pub fn reply(ctx: &Context, fd: Fd, payload: &Bytes) -> bool {
    let Ok(header) = skynet_netpack::header(payload.len()) else {
        log::warn!(
            "fd {fd}: reply of {} bytes is too large for one packet",
            payload.len()
        );
        return false;
    };
    Driver::of(ctx).sendv(fd, vec![Bytes::copy_from_slice(&header), payload.clone()])
}

/// For an agent handling `AgentCmd::Start`: asks `gate` to send `fd`'s packets here (as
/// CLIENT messages) and start reading it. True when the gate agreed.
pub async fn forward_here(ctx: &Context, gate: skynet_runtime::Addr, fd: Fd) -> bool {
    let forward = crate::protocol::GateCmd::Forward {
        fd,
        client: None,
        agent: None,
    };
    matches!(
        ctx.call(gate, forward)
            .await
            .map(|m| m.into_value::<bool>()),
        Ok(Ok(true))
    )
}
