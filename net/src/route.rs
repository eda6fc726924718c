//! Routed sockets: framing in the socket thread, frames delivered straight to a service.
//!
//! A gate that frames every client's input in its own service is one mailbox that every
//! packet of every client passes through (skynet's gate overloads that way at 1,000 clients).
//! A [`Route`] moves that work to where the bytes are read: the socket thread feeds each read
//! to the socket's [`Framer`] and sends every whole frame to the route's destination as one
//! message (`ptype`, `source`, session = the socket id, payload = the frame's `Bytes`,
//! moved, not copied). Every other event of the socket (CLOSE, ERROR, WARNING) still goes to
//! the socket's owner, so the gate keeps the connection's lifecycle.

use bytes::Bytes;
use skynet_runtime::{Addr, Message, NodeHandle, Payload, Ptype, ServiceRef};

use crate::event::SocketId;

/// Cuts a byte stream into frames. Runs on the socket thread, one instance per socket.
///
/// ```
/// use bytes::Bytes;
/// use skynet_net::Framer;
///
/// /// Frames are lines ending in '\n'.
/// #[derive(Default)]
/// struct Lines(Vec<u8>);
///
/// impl Framer for Lines {
///     fn feed(&mut self, data: Bytes, out: &mut Vec<Bytes>) -> Result<(), String> {
///         for &b in data.iter() {
///             if b == b'\n' {
///                 out.push(Bytes::from(std::mem::take(&mut self.0)));
///             } else if self.0.len() >= 4096 {
///                 return Err("line longer than 4096 bytes".into());
///             } else {
///                 self.0.push(b);
///             }
///         }
///         Ok(())
///     }
///     fn remainder(&mut self) -> Bytes {
///         Bytes::from(std::mem::take(&mut self.0))
///     }
/// }
/// ```
pub trait Framer: Send + 'static {
    /// Feeds one read; appends every frame it completes to `out`, in order. An error closes
    /// the socket (its owner hears ERROR with the message); frames already in `out` are
    /// still delivered.
    fn feed(&mut self, data: Bytes, out: &mut Vec<Bytes>) -> Result<(), String>;

    /// The bytes of an unfinished frame, handed back when the route is removed (they reach
    /// the owner as DATA, before anything read later).
    fn remainder(&mut self) -> Bytes;

    /// The route has taken a new destination ([`Driver::start_routed`] on a routed
    /// socket; the framer is kept). Frames appended to `out` go to the new destination
    /// at once, before anything read later: a framer that held frames back until its
    /// socket had a destination (a WebSocket gate's, until `forward`) releases them here,
    /// at the exact point in the stream where the destination changed. Does nothing by
    /// default.
    ///
    /// [`Driver::start_routed`]: crate::Driver::start_routed
    fn redirected(&mut self, out: &mut Vec<Bytes>) {
        let _ = out;
    }
}

/// A routed socket is not read while its destination has this many messages waiting, and
/// is read again once they fall under half of it: a client sending faster than its agent
/// works cannot grow the node's memory without bound (skynet's gate has no such limit).
/// What the destination can have queued is this plus the frames of one read (reads of a
/// routed socket are at most 64 KiB).
pub const ROUTE_BACKLOG: usize = 1024;

/// Where a routed socket's frames go.
pub struct Route {
    /// The service that receives the frames.
    pub dest: Addr,
    /// The source address the frames carry (a gate puts its client address here).
    pub source: Addr,
    /// The frames' protocol (CLIENT for a gate).
    pub ptype: Ptype,
    /// Cuts the stream into frames.
    pub framer: Box<dyn Framer>,
}

impl std::fmt::Debug for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Route(to {} as {} from {})",
            self.dest, self.ptype.0, self.source
        )
    }
}

impl Route {
    /// Takes another route's destination, keeping this framer (and any partial frame).
    fn redirect(&mut self, other: Route) {
        self.dest = other.dest;
        self.source = other.source;
        self.ptype = other.ptype;
    }
}

/// A route in use on the socket thread, with its destination resolved once
/// ([`NodeHandle::resolve`]): a frame then costs one mailbox push, not a lookup in the
/// node's handle table for the send and another for the backlog check.
pub(crate) struct ActiveRoute {
    route: Route,
    /// `None` when the destination was gone already: its frames are dropped.
    target: Option<ServiceRef>,
}

impl ActiveRoute {
    pub(crate) fn new(node: &NodeHandle, route: Route) -> ActiveRoute {
        let target = node.resolve(route.dest);
        ActiveRoute { route, target }
    }

    /// Feeds one read and delivers the frames it completes. `frames` is scratch space kept by
    /// the socket thread (empty on entry and on return). Ok(true) when the destination is
    /// now backed up (see [`ROUTE_BACKLOG`]); an error is the framer's reason.
    pub(crate) fn deliver(
        &mut self,
        node: &NodeHandle,
        id: SocketId,
        data: Bytes,
        frames: &mut Vec<Bytes>,
    ) -> Result<bool, String> {
        let fed = self.route.framer.feed(data, frames);
        let waiting = self.send_frames(node, id, frames);
        fed?;
        Ok(waiting >= ROUTE_BACKLOG)
    }

    /// Sends `frames` (drained) to the destination; the length of its queue after.
    fn send_frames(&mut self, node: &NodeHandle, id: SocketId, frames: &mut Vec<Bytes>) -> usize {
        let mut waiting = 0;
        for frame in frames.drain(..) {
            let msg = Message {
                source: self.route.source,
                session: id,
                ptype: self.route.ptype,
                payload: Payload::Bytes(frame),
            };
            match self.target.as_ref().map(|to| node.send_ref(to, msg)) {
                Some(Ok(n)) => waiting = n,
                // The agent is gone; its owner (the gate) hears of it through its watchdog.
                _ => log::debug!(
                    "socket {id}: frame for {} dropped: it is gone",
                    self.route.dest
                ),
            }
        }
        waiting
    }

    /// True when the destination has at least `limit` messages waiting.
    pub(crate) fn backlogged(&self, limit: usize) -> bool {
        self.target
            .as_ref()
            .is_some_and(|to| to.queue_len() >= limit)
    }

    /// Takes another route's destination, keeping this framer (and any partial frame);
    /// frames the framer releases on the change ([`Framer::redirected`]) go to the new
    /// destination. `frames` is the socket thread's scratch space.
    pub(crate) fn redirect(
        &mut self,
        node: &NodeHandle,
        id: SocketId,
        other: Route,
        frames: &mut Vec<Bytes>,
    ) {
        self.route.redirect(other);
        self.target = node.resolve(self.route.dest);
        self.route.framer.redirected(frames);
        self.send_frames(node, id, frames);
    }

    /// The unfinished frame's bytes (see [`Framer::remainder`]).
    pub(crate) fn remainder(&mut self) -> Bytes {
        self.route.framer.remainder()
    }
}
