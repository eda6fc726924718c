//! The socket server thread: one mio `Poll`, the socket table, requests from services.
//!
//! Services never touch a socket: they send a [`Request`] over a channel and wake the poll
//! with a `mio::Waker`; results come back to the owner as SOCKET messages.
//!
//! This file has the loop, the socket table and the requests; `read.rs` the read path,
//! `write.rs` the write and close paths.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use crossbeam_channel::Receiver;
use mio::net::{TcpListener, TcpStream, UdpSocket};
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use skynet_runtime::{Addr, Message, NodeHandle, Payload, Ptype};

use crate::direct::{DirectMap, Shared};
use crate::event::{SocketEvent, SocketId};
use crate::route::{ActiveRoute, Route};
use crate::scratch::Scratch;
use crate::write_queue::WriteQueue;

mod read;
mod write;

/// The waker's token (socket ids are positive i32, so they never reach it).
pub(crate) const WAKER: Token = Token(usize::MAX);

/// Smallest read. skynet starts at 64 bytes (`MIN_READ_BUFFER`) because each socket owns
/// its buffer; here reads land in one shared slab, so a small size saves no memory and only
/// costs syscalls (64 bytes made a 66-byte packet two reads: 64, then 2).
const MIN_READ: usize = 64 << 10;
/// Largest read buffer.
const MAX_READ: usize = 1 << 20;
/// Most bytes read from one socket per readiness event before others get a turn.
const READ_BUDGET: usize = 4 << 20;
/// Bytes a poll round may read before the workers are woken for what it delivered so far
/// (otherwise once per round, or per 32 services queued): copying this much takes tens of
/// microseconds, while up to 32 sockets' read budgets would take tens of milliseconds.
const WAKE_AFTER_BYTES: usize = 256 << 10;
/// How long accepting pauses after running out of file descriptors.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// Largest UDP datagram.
const MAX_UDP: usize = 65_535;

/// What services ask of the socket thread.
pub(crate) enum Request {
    Listen {
        id: SocketId,
        listener: TcpListener,
        owner: Addr,
    },
    Connect {
        id: SocketId,
        addr: SocketAddr,
        owner: Addr,
    },
    Start {
        id: SocketId,
        owner: Addr,
        /// Tell the owner it started (CONNECT "start"), as skynet's `socket.start` waits for.
        confirm: bool,
    },
    Pause {
        id: SocketId,
    },
    /// Start reading with frames routed (`Some`), or remove the route (`None`).
    Route {
        id: SocketId,
        owner: Addr,
        route: Option<Box<Route>>,
    },
    /// Stop reading while `limit` delivered bytes are not yet consumed (async API sockets).
    FlowLimit {
        id: SocketId,
        limit: usize,
    },
    /// The owner's consumption brought a full flow-control window back under its limit:
    /// read again (see `Shared::consume`).
    Credit {
        id: SocketId,
    },
    /// `counted`: the sender raised the socket's in-flight count (see `direct.rs`).
    Send {
        id: SocketId,
        data: Vec<Bytes>,
        low: bool,
        counted: bool,
    },
    Close {
        id: SocketId,
    },
    Shutdown {
        id: SocketId,
    },
    NoDelay {
        id: SocketId,
    },
    Udp {
        id: SocketId,
        socket: std::net::UdpSocket,
        owner: Addr,
    },
    UdpConnect {
        id: SocketId,
        addr: SocketAddr,
    },
    UdpSend {
        id: SocketId,
        to: Option<SocketAddr>,
        data: Bytes,
    },
    CloseOwnedBy(Addr),
    Info(crossbeam_channel::Sender<Vec<SocketInfo>>),
    Totals(crossbeam_channel::Sender<IoTotals>),
    Exit,
}

/// Bytes every socket of the node has read and written since it started, closed ones
/// included (counters, for metrics).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IoTotals {
    /// Bytes read.
    pub bytes_in: u64,
    /// Bytes written.
    pub bytes_out: u64,
}

/// One socket as the console's `netstat` shows it.
#[derive(Debug, Clone)]
pub struct SocketInfo {
    /// The socket.
    pub id: SocketId,
    /// Its owner.
    pub owner: Addr,
    /// "listen", "tcp", "udp", "connecting", "accepted" (not started yet), "paused" (started,
    /// not being read).
    pub kind: &'static str,
    /// The peer (or the bound address for listeners and UDP).
    pub peer: Option<SocketAddr>,
    /// Bytes read.
    pub bytes_in: u64,
    /// Bytes written.
    pub bytes_out: u64,
    /// Bytes waiting to be written.
    pub pending: usize,
}

struct Stream {
    /// The socket, shared with workers for direct writes.
    shared: Arc<Shared>,
    /// Started and not paused.
    reading: bool,
    /// Accepted, not started yet (skynet's PACCEPT).
    accepted: bool,
    connecting: bool,
    /// The peer sent EOF (half-closed).
    peer_closed: bool,
    /// The owner closed it: flush, then drop.
    closing: bool,
    read_size: usize,
    /// With flow control: most delivered-but-unconsumed bytes (the count is
    /// `shared.unconsumed`).
    flow_limit: Option<usize>,
    queue: WriteQueue,
    interest: Option<Interest>,
    /// Where an outgoing connect goes (for its error message); accepted sockets ask the
    /// kernel for their peer when netstat wants it, so they keep no copy (32 bytes each).
    target: Option<Box<SocketAddr>>,
    /// Frames go straight to a service (see `route.rs`); DATA is not reported.
    route: Option<Box<ActiveRoute>>,
    /// Not read while the route's destination is backed up (see `ROUTE_BACKLOG`).
    throttled: bool,
}

enum Kind {
    Listener {
        listener: TcpListener,
        started: bool,
        backoff: Option<Instant>,
    },
    Stream(Box<Stream>),
    /// Boxed: UDP sockets are rare, and inline they would double every socket's entry.
    Udp(Box<UdpSock>),
}

struct UdpSock {
    socket: UdpSocket,
    peer: Option<SocketAddr>,
    local: Option<SocketAddr>,
}

struct Sock {
    owner: Addr,
    kind: Kind,
    close_reported: bool,
    bytes_in: u64,
    bytes_out: u64,
}

impl Sock {
    /// A new stream socket: connecting (an outgoing connect) or accepted (not started).
    fn stream(
        owner: Addr,
        shared: Arc<Shared>,
        peer: SocketAddr,
        connecting: bool,
        interest: Option<Interest>,
    ) -> Sock {
        let st = Stream {
            shared,
            reading: false,
            accepted: !connecting,
            connecting,
            peer_closed: false,
            closing: false,
            read_size: MIN_READ,
            flow_limit: None,
            queue: WriteQueue::default(),
            interest,
            target: connecting.then(|| Box::new(peer)),
            route: None,
            throttled: false,
        };
        Sock {
            owner,
            kind: Kind::Stream(Box::new(st)),
            close_reported: false,
            bytes_in: 0,
            bytes_out: 0,
        }
    }
}

pub(crate) struct Server {
    node: NodeHandle,
    poll: Poll,
    rx: Receiver<Request>,
    socks: HashMap<SocketId, Sock>,
    /// Sockets whose read budget ran out: read again before sleeping.
    retry: Vec<SocketId>,
    /// Listeners pausing after an accept error (kept apart so the loop never scans every
    /// socket: that made each event cost O(sockets)).
    backed_off: Vec<SocketId>,
    next_id: std::sync::Arc<crate::ids::IdAllocator>,
    exiting: Option<Instant>,
    /// What closed sockets read and wrote (see [`IoTotals`]).
    retired: IoTotals,
    emfile_logged: bool,
    /// The memory reads land in (see `scratch.rs`).
    scratch: Scratch,
    /// Frames of one read of a routed socket, on their way out.
    frames: Vec<Bytes>,
    /// The reads of one readiness event, on their way out.
    reads: Vec<Bytes>,
    /// Bytes read since the workers were last woken (see `WAKE_AFTER_BYTES`).
    round_bytes: usize,
    /// Routed sockets held back while their destination is backed up; rechecked each
    /// millisecond (a mailbox draining raises no event here).
    throttled: Vec<SocketId>,
    /// Wakes this thread (a held-back socket's destination calls it once it has caught up).
    wake_self: skynet_runtime::DrainWake,
    /// Stream sockets shared with workers for direct writes.
    direct: DirectMap,
    /// Set just before polling (see `Driver`): senders wake the poll only then.
    parked: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

/// Gives a table's memory back once most of its entries are gone (after a wave of
/// connections closes), keeping room for twice what is left.
fn shrink_if_sparse<K: Eq + std::hash::Hash, V>(table: &mut HashMap<K, V>) {
    if table.capacity() > 1024 && table.len() * 4 < table.capacity() {
        table.shrink_to(table.len() * 2);
    }
}

fn token(id: SocketId) -> Token {
    Token(id as usize)
}

impl Server {
    pub(crate) fn new(
        node: NodeHandle,
        poll: Poll,
        rx: Receiver<Request>,
        next_id: std::sync::Arc<crate::ids::IdAllocator>,
        parked: std::sync::Arc<std::sync::atomic::AtomicBool>,
        direct: DirectMap,
        wake_self: skynet_runtime::DrainWake,
    ) -> Server {
        Server {
            node,
            poll,
            rx,
            socks: HashMap::new(),
            retry: Vec::new(),
            backed_off: Vec::new(),
            next_id,
            exiting: None,
            retired: IoTotals::default(),
            emfile_logged: false,
            scratch: Scratch::default(),
            frames: Vec::new(),
            reads: Vec::new(),
            round_bytes: 0,
            throttled: Vec::new(),
            direct,
            parked,
            wake_self,
        }
    }
}

/// Tells a socket's owner; an owner that is gone just doesn't hear it (skynet frees the data).
fn report(node: &NodeHandle, owner: Addr, ev: SocketEvent) {
    {
        let _ = node.send(
            owner,
            Message {
                source: Addr::SYSTEM,
                session: 0,
                ptype: Ptype::SOCKET,
                payload: Payload::value(ev),
            },
        );
    }
}

impl Server {
    /// The loop; returns when asked to exit and everything is flushed (or the grace is over).
    pub(crate) fn run(mut self) {
        self.node.enter_thread();
        let mut events = Events::with_capacity(1024);
        loop {
            let mut timeout = self.timeout();
            // Announce the park, then look once more: a request sent before the flag was
            // seen is in the channel now (SeqCst on both sides), so it is never missed.
            self.parked.store(true, std::sync::atomic::Ordering::SeqCst);
            std::sync::atomic::fence(std::sync::atomic::Ordering::SeqCst);
            if !self.rx.is_empty() {
                timeout = Some(Duration::ZERO);
            }
            let polled = self.poll.poll(&mut events, timeout);
            self.parked
                .store(false, std::sync::atomic::Ordering::SeqCst);
            // Workers woken for what this round delivers wake once, at its end, not per
            // message (each would preempt this thread on its core); sooner when the round
            // reads a lot (below).
            let mut batch = self.node.defer_wakes();
            self.round_bytes = 0;
            if let Err(e) = polled {
                if e.kind() != io::ErrorKind::Interrupted {
                    log::error!("socket server: poll failed: {e}");
                    return;
                }
            }
            for ev in events.iter() {
                // Requests before reads: a request made before the bytes arrived (a route
                // change, a pause) applies to them, even when this poll returned earlier.
                self.drain_requests();
                if ev.token() == WAKER {
                    continue;
                }
                let id = ev.token().0 as SocketId;
                if ev.is_readable() || ev.is_read_closed() || ev.is_error() {
                    self.readable_until(id, ev.is_read_closed() || ev.is_error());
                }
                if ev.is_writable() || ev.is_write_closed() {
                    self.writable(id);
                }
                if self.round_bytes >= WAKE_AFTER_BYTES {
                    // Bulk reads: what was delivered does not wait for the rest of them.
                    drop(batch);
                    batch = self.node.defer_wakes();
                    self.round_bytes = 0;
                }
            }
            self.drain_requests();
            if !self.throttled.is_empty() {
                self.recheck_throttled();
            }
            for id in std::mem::take(&mut self.retry) {
                self.readable(id);
            }
            self.rearm_listeners();
            self.drain_requests();
            drop(batch);
            if let Some(deadline) = self.exiting {
                let pending = self.socks.values().any(|s| match &s.kind {
                    Kind::Stream(st) => !st.queue.is_empty(),
                    _ => false,
                });
                if !pending || Instant::now() >= deadline {
                    return;
                }
            }
        }
    }

    /// A socket that never came to be: its id's reservation is released and its owner hears
    /// ERROR with the reason.
    fn refuse(&self, id: SocketId, owner: Addr, message: String) {
        self.direct.write().remove(&id);
        report(&self.node, owner, SocketEvent::Error { id, message });
    }

    fn drain_requests(&mut self) {
        while let Ok(req) = self.rx.try_recv() {
            self.request(req);
        }
    }

    fn timeout(&self) -> Option<Duration> {
        if !self.retry.is_empty() {
            return Some(Duration::ZERO);
        }
        if !self.throttled.is_empty() {
            return Some(Duration::from_millis(1));
        }
        if !self.backed_off.is_empty() || self.exiting.is_some() {
            Some(Duration::from_millis(10))
        } else {
            None
        }
    }

    fn rearm_listeners(&mut self) {
        if self.backed_off.is_empty() {
            return;
        }
        let now = Instant::now();
        let mut due = Vec::new();
        self.backed_off.retain(|id| {
            let Some(s) = self.socks.get_mut(id) else {
                return false;
            };
            if let Kind::Listener { backoff, .. } = &mut s.kind {
                if backoff.is_some_and(|t| t <= now) {
                    *backoff = None;
                    due.push(*id);
                    return false;
                }
                return backoff.is_some();
            }
            false
        });
        for id in due {
            self.accept(id);
        }
    }

    fn request(&mut self, req: Request) {
        match req {
            Request::Listen {
                id,
                listener,
                owner,
            } => {
                self.socks.insert(
                    id,
                    Sock {
                        owner,
                        kind: Kind::Listener {
                            listener,
                            started: false,
                            backoff: None,
                        },
                        close_reported: false,
                        bytes_in: 0,
                        bytes_out: 0,
                    },
                );
            }
            Request::Connect { id, addr, owner } => {
                let interest = Interest::READABLE | Interest::WRITABLE;
                let connecting = TcpStream::connect(addr).and_then(|mut stream| {
                    self.poll
                        .registry()
                        .register(&mut stream, token(id), interest)
                        .map(|()| stream)
                });
                match connecting {
                    Ok(stream) => {
                        self.socks.insert(
                            id,
                            self.new_stream(id, owner, stream, addr, true, Some(interest)),
                        );
                    }
                    Err(e) => self.refuse(id, owner, format!("connect to {addr}: {e}")),
                }
            }
            Request::Start { id, owner, confirm } => self.start(id, owner, confirm),
            Request::Route { id, owner, route } => self.route(id, owner, route),
            Request::FlowLimit { id, limit } => {
                if let Some(Sock {
                    kind: Kind::Stream(st),
                    ..
                }) = self.socks.get_mut(&id)
                {
                    let limit = limit.max(1);
                    st.flow_limit = Some(limit);
                    st.shared
                        .flow_limit
                        .store(limit, std::sync::atomic::Ordering::Release);
                }
            }
            Request::Credit { id } => {
                // It stopped reading with data possibly left: no new edge will come.
                self.readable(id);
            }
            Request::Pause { id } => {
                if let Some(Sock {
                    kind: Kind::Stream(st),
                    ..
                }) = self.socks.get_mut(&id)
                {
                    st.reading = false;
                }
                self.update_interest(id);
            }
            Request::Send {
                id,
                data,
                low,
                counted,
            } => self.send(id, data, low, counted),
            Request::Close { id } => self.close(id, false),
            Request::Shutdown { id } => self.close(id, true),
            Request::NoDelay { id } => {
                if let Some(Sock {
                    kind: Kind::Stream(st),
                    ..
                }) = self.socks.get(&id)
                {
                    let _ = st.shared.stream.set_nodelay(true);
                }
            }
            Request::Udp { id, socket, owner } => {
                let local = socket.local_addr().ok();
                let mut socket = UdpSocket::from_std(socket);
                if let Err(e) =
                    self.poll
                        .registry()
                        .register(&mut socket, token(id), Interest::READABLE)
                {
                    self.refuse(id, owner, format!("udp: {e}"));
                    return;
                }
                self.socks.insert(
                    id,
                    Sock {
                        owner,
                        kind: Kind::Udp(Box::new(UdpSock {
                            socket,
                            peer: None,
                            local,
                        })),
                        close_reported: false,
                        bytes_in: 0,
                        bytes_out: 0,
                    },
                );
            }
            Request::UdpConnect { id, addr } => {
                if let Some(Sock {
                    kind: Kind::Udp(u), ..
                }) = self.socks.get_mut(&id)
                {
                    u.peer = Some(addr);
                }
            }
            Request::UdpSend { id, to, data } => {
                let Some(s) = self.socks.get_mut(&id) else {
                    return;
                };
                let Kind::Udp(u) = &s.kind else {
                    return;
                };
                let Some(to) = to.or(u.peer) else {
                    log::warn!("udp socket {id}: send with no address and no peer");
                    return;
                };
                match u.socket.send_to(&data, to) {
                    Ok(n) => s.bytes_out += n as u64,
                    // UDP may drop: a full buffer loses the datagram, as the network would.
                    Err(e) => log::debug!("udp socket {id}: send to {to}: {e}"),
                }
            }
            Request::CloseOwnedBy(owner) => {
                let ids: Vec<SocketId> = self
                    .socks
                    .iter()
                    .filter(|(_, s)| s.owner == owner)
                    .map(|(id, _)| *id)
                    .collect();
                for id in ids {
                    self.close(id, false);
                }
            }
            Request::Info(tx) => {
                let mut v: Vec<SocketInfo> =
                    self.socks.iter().map(|(id, s)| self.info(*id, s)).collect();
                v.sort_by_key(|i| i.id);
                let _ = tx.send(v);
            }
            Request::Totals(tx) => {
                let mut t = self.retired;
                for (id, s) in &self.socks {
                    let i = self.info(*id, s);
                    t.bytes_in += i.bytes_in;
                    t.bytes_out += i.bytes_out;
                }
                let _ = tx.send(t);
            }
            Request::Exit => {
                let ids: Vec<SocketId> = self.socks.keys().copied().collect();
                for id in ids {
                    self.close(id, false);
                }
                self.exiting = Some(Instant::now() + Duration::from_secs(2));
            }
        }
    }

    fn info(&self, id: SocketId, s: &Sock) -> SocketInfo {
        let (kind, peer, pending) = match &s.kind {
            Kind::Listener { listener, .. } => ("listen", listener.local_addr().ok(), 0),
            Kind::Stream(st) => (
                if st.connecting {
                    "connecting"
                } else if st.accepted {
                    "accepted"
                } else if !st.reading && !st.peer_closed && !st.closing {
                    "paused"
                } else {
                    "tcp"
                },
                st.shared
                    .stream
                    .peer_addr()
                    .ok()
                    .or(st.target.as_deref().copied()),
                st.queue.pending(),
            ),
            Kind::Udp(u) => ("udp", u.peer.or(u.local), 0),
        };
        let direct_out = match &s.kind {
            Kind::Stream(st) => st
                .shared
                .direct_out
                .load(std::sync::atomic::Ordering::Relaxed),
            _ => 0,
        };
        SocketInfo {
            id,
            owner: s.owner,
            kind,
            peer,
            bytes_in: s.bytes_in,
            bytes_out: s.bytes_out + direct_out,
            pending,
        }
    }

    fn start(&mut self, id: SocketId, owner: Addr, confirm: bool) {
        let Some(s) = self.socks.get_mut(&id) else {
            // Closed in transit (skynet#1374): tell whoever wanted it.
            report(
                &self.node,
                owner,
                SocketEvent::Error {
                    id,
                    message: "start: socket is closed".into(),
                },
            );
            return;
        };
        if s.close_reported && s.owner == owner {
            // Its owner already heard CLOSE (e.g. a resume racing the peer's EOF): nothing
            // to start, and no second end to report. A new owner still hears ERROR below;
            // a starter waiting for the outcome hears it too.
            if confirm {
                report(
                    &self.node,
                    owner,
                    SocketEvent::Error {
                        id,
                        message: "start: socket is closed".into(),
                    },
                );
            }
            return;
        }
        s.owner = owner;
        match &mut s.kind {
            Kind::Listener {
                listener, started, ..
            } => {
                if !*started {
                    *started = true;
                    if let Err(e) =
                        self.poll
                            .registry()
                            .register(listener, token(id), Interest::READABLE)
                    {
                        report(
                            &self.node,
                            owner,
                            SocketEvent::Error {
                                id,
                                message: format!("listen: {e}"),
                            },
                        );
                        return;
                    }
                }
                self.accept(id);
            }
            Kind::Stream(st) => {
                if st.peer_closed || st.closing {
                    report(
                        &self.node,
                        owner,
                        SocketEvent::Error {
                            id,
                            message: "start: socket is closing".into(),
                        },
                    );
                    return;
                }
                st.accepted = false;
                if !st.connecting {
                    st.reading = true;
                    st.shared.state.lock().idle = st.queue.is_empty();
                }
                if confirm {
                    // Before any DATA: the starter knows it is live first.
                    report(
                        &self.node,
                        owner,
                        SocketEvent::Connect {
                            id,
                            addr: "start".into(),
                        },
                    );
                }
                self.update_interest(id);
                // Edge-triggered: data that came while paused raises no new event.
                self.readable(id);
            }
            Kind::Udp(_) => {}
        }
    }

    /// Routes a stream socket's frames and starts reading it, or removes its route (what is
    /// left of an unfinished frame goes to the owner as DATA, ahead of later reads).
    fn route(&mut self, id: SocketId, owner: Addr, route: Option<Box<Route>>) {
        if let Some(Sock {
            kind: Kind::Stream(st),
            ..
        }) = self.socks.get_mut(&id)
        {
            match (&mut st.route, route) {
                (Some(old), Some(new)) => old.redirect(&self.node, id, *new, &mut self.frames),
                (slot @ None, Some(new)) => {
                    *slot = Some(Box::new(ActiveRoute::new(&self.node, *new)));
                }
                (slot, None) => {
                    if let Some(mut old) = slot.take() {
                        let data = old.remainder();
                        if !data.is_empty() {
                            report(&self.node, owner, SocketEvent::Data { id, data });
                        }
                    }
                    return;
                }
            }
        }
        // An unknown or closed socket: `start` tells `owner` so.
        self.start(id, owner, false);
    }

    fn update_interest(&mut self, id: SocketId) {
        let Some(Sock {
            kind: Kind::Stream(st),
            ..
        }) = self.socks.get_mut(&id)
        else {
            return;
        };
        let mut want: Option<Interest> = None;
        if st.reading || st.connecting {
            want = Some(Interest::READABLE);
        }
        if !st.queue.is_empty() || st.connecting {
            want = Some(want.map_or(Interest::WRITABLE, |i| i | Interest::WRITABLE));
        }
        if want == st.interest {
            return;
        }
        let reg = self.poll.registry();
        let fd = st.shared.stream.as_raw_fd();
        let r = match (st.interest, want) {
            (None, Some(i)) => reg.register(&mut SourceFd(&fd), token(id), i),
            (Some(_), Some(i)) => reg.reregister(&mut SourceFd(&fd), token(id), i),
            (Some(_), None) => reg.deregister(&mut SourceFd(&fd)),
            (None, None) => Ok(()),
        };
        if let Err(e) = r {
            log::error!("socket {id}: cannot update its poll interest: {e}");
        }
        st.interest = want;
    }

    fn accept(&mut self, id: SocketId) {
        loop {
            let Some(Sock {
                owner,
                kind:
                    Kind::Listener {
                        listener,
                        started: true,
                        backoff,
                    },
                ..
            }) = self.socks.get_mut(&id)
            else {
                return;
            };
            if backoff.is_some() {
                return;
            }
            let owner = *owner;
            match listener.accept() {
                Ok((stream, peer)) => {
                    self.emfile_logged = false;
                    let new_id = {
                        let live = self.direct.read();
                        self.next_id.next(|i| live.contains_key(&i))
                    };
                    self.socks.insert(
                        new_id,
                        self.new_stream(new_id, owner, stream, peer, false, None),
                    );
                    report(
                        &self.node,
                        owner,
                        SocketEvent::Accept {
                            listener: id,
                            id: new_id,
                            peer,
                        },
                    );
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    // EMFILE and friends: the pending connection stays in the backlog and the
                    // listener stays readable, so retrying now would spin. Back off instead.
                    if !self.emfile_logged {
                        log::error!("socket {id}: accept failed: {e}; pausing accepts for {ACCEPT_BACKOFF:?}");
                        self.emfile_logged = true;
                    }
                    *backoff = Some(Instant::now() + ACCEPT_BACKOFF);
                    self.backed_off.push(id);
                    return;
                }
            }
        }
    }

    fn new_stream(
        &self,
        id: SocketId,
        owner: Addr,
        stream: TcpStream,
        peer: SocketAddr,
        connecting: bool,
        interest: Option<Interest>,
    ) -> Sock {
        let shared = Shared::new(stream, !connecting);
        self.direct.write().insert(id, Some(shared.clone()));
        Sock::stream(owner, shared, peer, connecting, interest)
    }

    /// Workers may write directly only while nothing is queued or on its way here.
    fn update_idle(&self, id: SocketId) {
        if let Some(Sock {
            kind: Kind::Stream(st),
            ..
        }) = self.socks.get(&id)
        {
            let mut d = st.shared.state.lock();
            d.idle = st.queue.is_empty() && d.inflight == 0 && !st.closing && !st.connecting;
        }
    }

    fn drop_sock(&mut self, id: SocketId) {
        {
            let mut direct = self.direct.write();
            if let Some(Some(st)) = direct.remove(&id) {
                st.state.lock().idle = false;
            }
            shrink_if_sparse(&mut direct);
        }
        shrink_if_sparse(&mut self.socks);
        if let Some(info) = self.socks.get(&id).map(|s| self.info(id, s)) {
            self.retired.bytes_in += info.bytes_in;
            self.retired.bytes_out += info.bytes_out;
        }
        if let Some(mut s) = self.socks.remove(&id) {
            let reg = self.poll.registry();
            match &mut s.kind {
                Kind::Listener {
                    listener, started, ..
                } => {
                    if *started {
                        let _ = reg.deregister(listener);
                    }
                }
                Kind::Stream(st) => {
                    if st.interest.is_some() {
                        let _ = reg.deregister(&mut SourceFd(&st.shared.stream.as_raw_fd()));
                    }
                    st.queue.clear();
                }
                Kind::Udp(u) => {
                    let _ = reg.deregister(&mut u.socket);
                }
            }
        }
    }
}
