//! What the sender and the agent share about their connection: writing frames, and the
//! counters the console shows.

use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering};

use bytes::Bytes;
use std::time::Duration;

use skynet_net::{Driver, SocketId};
use skynet_netpack::Decoder;
use skynet_runtime::{Message, Ptype, RawContext};

use crate::wire::Frames;

/// One connection's writes. A single frame is held until the service has handled what is
/// already in its mailbox (a zero-delay timer posts the flush behind it), so the replies or
/// requests of one burst leave in one `writev` instead of one `send` each; a multi-part
/// message goes at once at low priority (skynet's `socket.lwrite`), as one buffer, so small
/// frames may pass before it but no frame is ever split.
pub(crate) struct Writer {
    driver: Driver,
    id: SocketId,
    held: Vec<Bytes>,
    /// The session of the flush timer (from the service's own counter).
    flush_session: i32,
    flush_posted: bool,
}

impl Writer {
    pub(crate) fn new(driver: Driver, id: SocketId, flush_session: i32) -> Writer {
        Writer {
            driver,
            id,
            held: Vec::new(),
            flush_session,
            flush_posted: false,
        }
    }

    /// Queues one message's frames; returns the bytes.
    pub(crate) fn write(&mut self, ctx: &RawContext<'_>, frames: Frames) -> usize {
        let multi = frames.is_multi_part();
        let bytes = frames.into_bytes();
        let n = bytes.len();
        if multi {
            self.driver.send_low(self.id, bytes);
        } else {
            self.held.push(bytes);
            if !self.flush_posted {
                self.flush_posted = true;
                ctx.timeout(Duration::ZERO, self.flush_session);
            }
        }
        n
    }

    /// True for the flush timer's message; the held frames are written.
    pub(crate) fn flush_if_mine(&mut self, msg: &Message) -> bool {
        if !(msg.source.is_system()
            && msg.ptype == Ptype::RESPONSE
            && msg.session == self.flush_session)
        {
            return false;
        }
        self.flush();
        true
    }

    pub(crate) fn flush(&mut self) {
        self.flush_posted = false;
        match self.held.len() {
            0 => {}
            1 => {
                if let Some(b) = self.held.pop() {
                    self.driver.send(self.id, b);
                }
            }
            _ => {
                self.driver.sendv(self.id, std::mem::take(&mut self.held));
            }
        }
    }
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

/// A snapshot of one connection's counters (state, calls in flight, bytes each way).
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
