//! The socket thread's read path: reading a socket that is readable, handing over what it
//! read (DATA to the owner, or frames along the socket's route), and holding back routed
//! sockets while their destination is backed up.

use std::io;
use std::sync::atomic::Ordering;

use bytes::Bytes;

use super::{report, Kind, Server, Sock, MAX_READ, MAX_UDP, MIN_READ, READ_BUDGET};
use crate::event::{SocketEvent, SocketId};
use crate::scratch::recv_into;

/// Largest read of a routed socket (of big frames): what a backed-up destination may get
/// past `ROUTE_BACKLOG_BYTES` (4 MiB) is at most this. Bulk transfers need big reads: each
/// read of a stream also sends a window update, which on loopback costs the reader as much
/// as the copy (`bench flood --addr`: 64 KiB reads made 0.5x of the raw reader, 1 MiB 0.8x).
const ROUTED_READ: usize = MAX_READ;
/// Smallest read of a routed socket (of tiny frames).
const ROUTED_READ_MIN: usize = 4 << 10;

impl Server {
    /// Reads again every held-back socket whose destination has caught up (to half of the
    /// backlog limits, so it does not flap).
    pub(super) fn recheck_throttled(&mut self) {
        for id in std::mem::take(&mut self.throttled) {
            let Some(Sock {
                kind: Kind::Stream(st),
                ..
            }) = self.socks.get_mut(&id)
            else {
                continue;
            };
            if !st.throttled {
                continue;
            }
            let behind = st.route.as_ref().is_some_and(|r| r.still_backlogged());
            if behind {
                if let Some(r) = &st.route {
                    r.watch_drain(&self.wake_self);
                }
                self.throttled.push(id);
            } else {
                st.throttled = false;
                self.readable(id);
            }
        }
    }

    /// Reads what is there, until EAGAIN, EOF or the budget.
    pub(super) fn readable(&mut self, id: SocketId) {
        self.readable_until(id, true);
    }

    /// `drain`: read until EAGAIN even after a short read (needed when the event carried the
    /// peer's EOF, which only a further read reports, and when no event prompted the read).
    pub(super) fn readable_until(&mut self, id: SocketId, drain: bool) {
        let Some(s) = self.socks.get_mut(&id) else {
            return;
        };
        match &mut s.kind {
            Kind::Listener { .. } => self.accept(id),
            Kind::Udp(u) => {
                let socket = &mut u.socket;
                let owner = s.owner;
                let mut buf = vec![0u8; MAX_UDP];
                let mut got = Vec::new();
                loop {
                    match socket.recv_from(&mut buf) {
                        Ok((n, from)) => {
                            s.bytes_in += n as u64;
                            self.round_bytes += n;
                            got.push(SocketEvent::Udp {
                                id,
                                data: Bytes::copy_from_slice(&buf[..n]),
                                from,
                            });
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(e) => {
                            log::debug!("udp socket {id}: {e}");
                            break;
                        }
                    }
                }
                for ev in got {
                    report(&self.node, owner, ev);
                }
            }
            Kind::Stream(st) => {
                if st.connecting || !st.reading || st.peer_closed || st.throttled {
                    return;
                }
                let owner = s.owner;
                let mut budget = READ_BUDGET;
                // Reused across events: no allocation per read.
                let mut out = std::mem::take(&mut self.reads);
                let mut end: Option<Option<String>> = None;
                while budget > 0 {
                    // With flow control, read no more than the owner has room for.
                    let mut room = match st.flow_limit {
                        Some(l) => {
                            // Read with the owner's progress up to now, not as of its last
                            // message: it consumes while this loop runs.
                            let unconsumed = st.shared.unconsumed.load(Ordering::Acquire);
                            if unconsumed >= l {
                                // Full: the consume that brings it under `l` sends Credit.
                                break;
                            }
                            (l - unconsumed).min(st.read_size)
                        }
                        None => st.read_size,
                    };
                    if let Some(route) = &st.route {
                        // One read's frames are what a backed-up destination may still
                        // get past the backlog limits: about 256 frames at most.
                        room = room.min(route.read_cap(ROUTED_READ_MIN, ROUTED_READ));
                    }
                    // A frame that spans reads and knows its length takes the read into
                    // its own buffer: no copying its parts together.
                    let direct = st.route.as_mut().and_then(|r| r.direct_buffer());
                    let direct_read = direct.is_some();
                    let result = match direct {
                        Some(buf) => recv_into(&st.shared.stream, buf, room),
                        None => self.scratch.recv(&st.shared.stream, room),
                    };
                    match result {
                        Ok(0) => {
                            end = Some(None);
                            break;
                        }
                        Ok(n) => {
                            s.bytes_in += n as u64;
                            self.round_bytes += n;
                            if st.flow_limit.is_some() {
                                st.shared.unconsumed.fetch_add(n, Ordering::AcqRel);
                            }
                            budget = budget.saturating_sub(n);
                            // A routed socket's frames go out read by read, so a backed-up
                            // destination stops the reading at once.
                            let delivered = match &mut st.route {
                                Some(route) if direct_read => {
                                    Some(route.deliver_filled(&self.node, id, &mut self.frames))
                                }
                                Some(route) => {
                                    let data = self.scratch.take();
                                    Some(route.deliver(&self.node, id, data, &mut self.frames))
                                }
                                None => {
                                    out.push(self.scratch.take());
                                    None
                                }
                            };
                            match delivered {
                                Some(Ok(true)) => {
                                    st.throttled = true;
                                    self.throttled.push(id);
                                    if let Some(route) = &st.route {
                                        route.watch_drain(&self.wake_self);
                                    }
                                    break;
                                }
                                Some(Err(why)) => {
                                    log::warn!("socket {id}: closing it: {why}");
                                    self.frames.clear();
                                    end = Some(Some(why));
                                    break;
                                }
                                Some(Ok(false)) | None => {}
                            }
                            if direct_read {
                                // A short read emptied the kernel's queue (as below); a read
                                // that finished its frame was only as long as the frame.
                                let unfinished = st
                                    .route
                                    .as_mut()
                                    .is_some_and(|r| r.direct_buffer().is_some());
                                if n < room && !drain && unfinished {
                                    break;
                                }
                                continue;
                            }
                            if n == room && room < st.read_size {
                                // Filled the flow-control room: stop until credit returns.
                                continue;
                            } else if n == st.read_size {
                                st.read_size = (st.read_size * 2).min(MAX_READ);
                            } else {
                                if n * 2 < st.read_size && st.read_size > MIN_READ {
                                    st.read_size /= 2;
                                }
                                // A short read emptied the kernel's queue; data arriving
                                // later raises a new edge, so no read is needed to see
                                // EAGAIN (one syscall fewer per event).
                                if !drain {
                                    break;
                                }
                            }
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(e) => {
                            end = Some(Some(e.to_string()));
                            break;
                        }
                    }
                }
                if budget == 0 && !st.throttled {
                    self.retry.push(id);
                }
                for data in out.drain(..) {
                    report(&self.node, owner, SocketEvent::Data { id, data });
                }
                self.reads = out;
                match end {
                    None => {}
                    Some(None) => {
                        // The peer's EOF: CLOSE now; writable until the owner closes it.
                        st.peer_closed = true;
                        st.reading = false;
                        let first = !s.close_reported;
                        s.close_reported = true;
                        self.update_interest(id);
                        if first {
                            report(&self.node, owner, SocketEvent::Close { id });
                        }
                    }
                    Some(Some(message)) => self.fail(id, message),
                }
            }
        }
    }
}
