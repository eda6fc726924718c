//! What the socket server tells a socket's owner: one [`SocketEvent`] per SOCKET message.

use std::net::SocketAddr;

use bytes::Bytes;

/// A socket's id. Positive, allocated in increasing order and never reused while the node
/// lives (it wraps after 2^31 sockets, skipping ids still open), so a message about a closed
/// socket can never be mistaken for a newer one.
pub type SocketId = i32;

/// A socket event, delivered to the owning service as a SOCKET message (source
/// `Addr::SYSTEM`, session 0, payload this value). skynet's event set, same meanings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SocketEvent {
    /// Bytes arrived (only on a started socket).
    Data {
        /// The socket.
        id: SocketId,
        /// What one read returned.
        data: Bytes,
    },
    /// An outgoing connection is established, or a socket was started (`addr` says which:
    /// the peer for connects, "start" for a started accepted socket, "listen" for a listener).
    Connect {
        /// The socket.
        id: SocketId,
        /// The peer, or "start" / "listen".
        addr: String,
    },
    /// The socket closed: the peer hung up (the socket stays writable until its owner closes
    /// it), or the owner closed it. Reported exactly once per socket.
    Close {
        /// The socket.
        id: SocketId,
    },
    /// A listener accepted a connection. The new socket is not read until `start`, which
    /// also makes the caller its owner.
    Accept {
        /// The listener.
        listener: SocketId,
        /// The new socket.
        id: SocketId,
        /// The peer.
        peer: SocketAddr,
    },
    /// Something failed (connect refused, reset, write error); the socket is gone.
    Error {
        /// The socket.
        id: SocketId,
        /// What happened.
        message: String,
    },
    /// A datagram arrived on a UDP socket.
    Udp {
        /// The socket.
        id: SocketId,
        /// The datagram.
        data: Bytes,
        /// Its sender.
        from: SocketAddr,
    },
    /// Unsent bytes passed 1 MiB (then 2, 4, ...): `pending_kb` KiB wait. 0 means drained.
    Warning {
        /// The socket.
        id: SocketId,
        /// KiB still to send (rounded up); 0 when the queue has drained.
        pending_kb: usize,
    },
}

impl SocketEvent {
    /// The socket the event is about (for `Accept`, the new socket).
    pub fn id(&self) -> SocketId {
        match self {
            SocketEvent::Data { id, .. }
            | SocketEvent::Connect { id, .. }
            | SocketEvent::Close { id }
            | SocketEvent::Accept { id, .. }
            | SocketEvent::Error { id, .. }
            | SocketEvent::Udp { id, .. }
            | SocketEvent::Warning { id, .. } => *id,
        }
    }
}
