//! What the sender and the agent share about their connection: writing frames, and the
//! counters the console shows.

use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering};

use bytes::Bytes;
use skynet_net::{Driver, SocketId};
use skynet_netpack::Decoder;

use crate::wire::Frames;

/// Writes one message's frames: a single frame at high priority, a multi-part message at
/// low priority (skynet's `socket.lwrite`), as one buffer, so small frames may pass before
/// it but no frame is ever split. Returns the bytes written.
pub(crate) fn write_frames(driver: &Driver, id: SocketId, frames: Frames) -> usize {
    let multi = frames.is_multi_part();
    let bytes = frames.into_bytes();
    let n = bytes.len();
    if multi {
        driver.send_low(id, bytes);
    } else {
        driver.send(id, bytes);
    }
    n
}

/// netpack framing on the socket thread: each frame body goes straight to the connection's
/// service as one message.
pub(crate) struct FrameSplitter(pub(crate) Decoder);

impl skynet_net::Framer for FrameSplitter {
    fn feed(&mut self, data: Bytes, out: &mut Vec<Bytes>) -> Result<(), String> {
        // Any byte stream is valid netpack framing; a bad body is the service's to judge.
        self.0.feed(data, out);
        Ok(())
    }

    fn remainder(&mut self) -> Bytes {
        self.0.take_partial()
    }
}

/// A connection's state, as the console shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum LinkState {
    /// No connection (not used yet, or closed: the next call connects).
    Idle = 0,
    /// Connecting.
    Connecting = 1,
    /// Connected.
    Connected = 2,
    /// Waiting for the node to appear in the table.
    Waiting = 3,
    /// The table marks the node down.
    Down = 4,
}

impl LinkState {
    fn from_u8(v: u8) -> LinkState {
        match v {
            1 => LinkState::Connecting,
            2 => LinkState::Connected,
            3 => LinkState::Waiting,
            4 => LinkState::Down,
            _ => LinkState::Idle,
        }
    }

    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            LinkState::Idle => "idle",
            LinkState::Connecting => "connecting",
            LinkState::Connected => "connected",
            LinkState::Waiting => "waiting",
            LinkState::Down => "down",
        }
    }
}

/// Counters of one connection (a sender's to a node, or an agent's from a peer), updated
/// by its service and read by the console.
#[derive(Debug, Default)]
pub struct LinkStats {
    state: AtomicU8,
    in_flight: AtomicUsize,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    requests: AtomicU64,
}

/// A snapshot of [`LinkStats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkInfo {
    /// Connection state.
    pub state: LinkState,
    /// Requests waiting for their reply.
    pub in_flight: usize,
    /// Bytes read, frame headers included.
    pub bytes_in: u64,
    /// Bytes written, frame headers included.
    pub bytes_out: u64,
    /// Requests made (sender) or received (agent), pushes included.
    pub requests: u64,
}

impl LinkStats {
    pub(crate) fn set_state(&self, s: LinkState) {
        self.state.store(s as u8, Ordering::Relaxed);
    }

    pub(crate) fn set_in_flight(&self, n: usize) {
        self.in_flight.store(n, Ordering::Relaxed);
    }

    pub(crate) fn read(&self, n: usize) {
        self.bytes_in.fetch_add(n as u64, Ordering::Relaxed);
    }

    pub(crate) fn wrote(&self, n: usize) {
        self.bytes_out.fetch_add(n as u64, Ordering::Relaxed);
    }

    pub(crate) fn request(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    /// The counters now.
    pub fn info(&self) -> LinkInfo {
        LinkInfo {
            state: LinkState::from_u8(self.state.load(Ordering::Relaxed)),
            in_flight: self.in_flight.load(Ordering::Relaxed),
            bytes_in: self.bytes_in.load(Ordering::Relaxed),
            bytes_out: self.bytes_out.load(Ordering::Relaxed),
            requests: self.requests.load(Ordering::Relaxed),
        }
    }
}
