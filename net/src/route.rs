//! Routed sockets: framing in the socket thread, frames delivered straight to a service.
//!
//! A gate that frames every client's input in its own service is one mailbox that every
//! packet of every client passes through (skynet's gate overloads that way at 1,000 clients).
//! A [`Route`] moves that work to where the bytes are read: the socket thread feeds each read
//! to the socket's [`Framer`] and sends every whole frame to the route's destination as one
//! message (`ptype`, `source`, session = the socket id, payload = the frame's `Bytes`,
//! moved, not copied). Every other event of the socket (CLOSE, ERROR, WARNING) still goes to
//! the socket's owner, so the gate keeps the connection's lifecycle.

use bytes::{Bytes, BytesMut};
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

    /// The buffer of an unfinished frame whose length is known, for the next read to land in
    /// directly: its spare capacity is what the frame still needs, and the socket thread
    /// reads at most that much into it, then calls [`filled`](Framer::filled). Frames that
    /// span reads are then not copied together. `None` (the default): reads go through
    /// [`feed`](Framer::feed).
    fn direct_buffer(&mut self) -> Option<&mut BytesMut> {
        None
    }

    /// After a read into [`direct_buffer`](Framer::direct_buffer): appends the frames it
    /// completed to `out`. An error closes the socket, as from `feed`.
    fn filled(&mut self, out: &mut Vec<Bytes>) -> Result<(), String> {
        let _ = out;
        Ok(())
    }
}

/// A routed socket is not read while its destination has this many messages waiting, and
/// is read again once they fall under half of it: a client sending faster than its agent
/// works cannot grow the node's memory without bound (skynet's gate has no such limit).
/// What the destination can have queued is this plus the frames of one read (a read of a
/// routed socket is sized to about 256 of its frames, 4 KiB to 1 MiB). Big frames hit
/// [`ROUTE_BACKLOG_BYTES`] first.
pub const ROUTE_BACKLOG: usize = 1024;

/// A routed socket is also held back once the frames its destination has waiting come to
/// this many bytes (messages waiting times the route's average frame size), and read again
/// under half of it: 1,024 frames of 60 KB would otherwise be 60 MB per connection.
pub const ROUTE_BACKLOG_BYTES: usize = 4 << 20;

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
    /// The frames' average size (moving, over about the last eight).
    avg_frame: usize,
}

impl ActiveRoute {
    pub(crate) fn new(node: &NodeHandle, route: Route) -> ActiveRoute {
        let target = node.resolve(route.dest);
        ActiveRoute {
            route,
            target,
            avg_frame: 0,
        }
    }

    /// Feeds one read and delivers the frames it completes. `frames` is scratch space kept by
    /// the socket thread (empty on entry and on return). Ok(true) when the destination is
    /// now backed up (see [`ROUTE_BACKLOG`], [`ROUTE_BACKLOG_BYTES`]); an error is the
    /// framer's reason.
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
        Ok(self.over(waiting, 1))
    }

    /// The largest read worth making for this route: about 256 frames of its average size,
    /// from `min` to `max`. A backed-up destination gets at most one read's frames past
    /// the backlog limits; bulk transfers of big frames get big reads.
    pub(crate) fn read_cap(&self, min: usize, max: usize) -> usize {
        self.avg_frame.saturating_mul(256).clamp(min, max)
    }

    /// The framer's buffer for a direct read (see [`Framer::direct_buffer`]).
    pub(crate) fn direct_buffer(&mut self) -> Option<&mut BytesMut> {
        self.route.framer.direct_buffer()
    }

    /// [`deliver`](Self::deliver) for a read that went into the framer's direct buffer.
    pub(crate) fn deliver_filled(
        &mut self,
        node: &NodeHandle,
        id: SocketId,
        frames: &mut Vec<Bytes>,
    ) -> Result<bool, String> {
        let fed = self.route.framer.filled(frames);
        let waiting = self.send_frames(node, id, frames);
        fed?;
        Ok(self.over(waiting, 1))
    }

    /// True when `waiting` messages are past the backlog limits divided by `divisor`.
    fn over(&self, waiting: usize, divisor: usize) -> bool {
        waiting >= ROUTE_BACKLOG / divisor
            || waiting.saturating_mul(self.avg_frame) >= ROUTE_BACKLOG_BYTES / divisor
    }

    /// Sends `frames` (drained) to the destination; the length of its queue after.
    fn send_frames(&mut self, node: &NodeHandle, id: SocketId, frames: &mut Vec<Bytes>) -> usize {
        let mut waiting = 0;
        for frame in frames.drain(..) {
            self.avg_frame = self.avg_frame - self.avg_frame / 8 + frame.len() / 8;
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

    /// Has the destination wake the socket thread once it has caught up to half the backlog
    /// limits (it takes a batch that short), so a held-back socket is read again then, not
    /// at the socket thread's next timeout (1 ms, in which a flood's agent could drain
    /// 2 MiB and wait idle).
    pub(crate) fn watch_drain(&self, wake: &skynet_runtime::DrainWake) {
        if let Some(to) = &self.target {
            let half_bytes = (ROUTE_BACKLOG_BYTES / 2) / self.avg_frame.max(1);
            let below = (ROUTE_BACKLOG / 2).min(half_bytes).max(1);
            to.notify_when_drained(below, wake.clone());
        }
    }

    /// True while the destination is still past half the backlog limits (a held-back
    /// socket is read again below that, so it does not flap).
    pub(crate) fn still_backlogged(&self) -> bool {
        self.target
            .as_ref()
            .is_some_and(|to| self.over(to.queue_len(), 2))
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
