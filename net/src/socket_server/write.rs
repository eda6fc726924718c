//! The socket thread's write path: flushing queued bytes when a socket is writable, queueing
//! sends, finishing outgoing connects, and closing (`close` flushes first, `shutdown` drops)
//! or failing a socket, with CLOSE or ERROR reported once.

use std::io;

use bytes::Bytes;
use skynet_runtime::Addr;

use super::{report, Kind, Server};
use crate::event::{SocketEvent, SocketId};
use crate::write_queue::Warn;

impl Server {
    pub(super) fn writable(&mut self, id: SocketId) {
        let Some(s) = self.socks.get_mut(&id) else {
            return;
        };
        let Kind::Stream(st) = &mut s.kind else {
            return;
        };
        if st.connecting {
            st.connecting = false;
            let owner = s.owner;
            // Closed by its owner while connecting (to flush what it sent): CLOSE is already
            // reported, so neither CONNECT nor ERROR follows.
            let closed = s.close_reported;
            match st.shared.stream.take_error() {
                Ok(Some(e)) | Err(e) => {
                    let addr = st
                        .target
                        .as_deref()
                        .map(|p| p.to_string())
                        .unwrap_or_default();
                    self.connect_failed(id, owner, closed, format!("connect to {addr}: {e}"));
                    return;
                }
                Ok(None) => {}
            }
            match st.shared.stream.peer_addr() {
                Ok(_) if st.closing => {
                    let _ = st.shared.stream.shutdown(std::net::Shutdown::Read);
                    self.flush(id);
                }
                Ok(peer) => {
                    st.reading = true;
                    report(
                        &self.node,
                        owner,
                        SocketEvent::Connect {
                            id,
                            addr: peer.to_string(),
                        },
                    );
                    self.update_interest(id);
                    self.readable(id);
                    // Bytes sent while connecting were queued; the writable edge that
                    // announced the connection is the last one, so write them now.
                    self.flush(id);
                }
                Err(e) if e.kind() == io::ErrorKind::NotConnected => {
                    // Not yet: wait for the next event.
                    st.connecting = true;
                }
                Err(e) => self.connect_failed(id, owner, closed, format!("connect: {e}")),
            }
            return;
        }
        self.flush(id);
    }

    /// A connect failed: the socket is dropped; ERROR unless its owner already closed it.
    pub(super) fn connect_failed(
        &mut self,
        id: SocketId,
        owner: Addr,
        closed: bool,
        message: String,
    ) {
        self.drop_sock(id);
        if !closed {
            report(&self.node, owner, SocketEvent::Error { id, message });
        }
    }

    pub(super) fn flush(&mut self, id: SocketId) {
        let Some(s) = self.socks.get_mut(&id) else {
            return;
        };
        let Kind::Stream(st) = &mut s.kind else {
            return;
        };
        let before = st.queue.pending();
        let r = st.queue.flush(&mut &st.shared.stream);
        s.bytes_out += (before - st.queue.pending()) as u64;
        let owner = s.owner;
        match r {
            Ok(w) => {
                if w == Warn::Drained {
                    report(
                        &self.node,
                        owner,
                        SocketEvent::Warning { id, pending_kb: 0 },
                    );
                }
                let done = match self.socks.get(&id).map(|s| &s.kind) {
                    Some(Kind::Stream(st)) => st.closing && st.queue.is_empty(),
                    _ => false,
                };
                if done {
                    self.drop_sock(id);
                } else {
                    self.update_interest(id);
                    self.update_idle(id);
                }
            }
            Err(e) => self.fail(id, format!("write: {e}")),
        }
    }

    pub(super) fn send(&mut self, id: SocketId, data: Vec<Bytes>, low: bool, counted: bool) {
        let Some(s) = self.socks.get_mut(&id) else {
            return;
        };
        let owner = s.owner;
        let Kind::Stream(st) = &mut s.kind else {
            return;
        };
        if counted {
            let mut d = st.shared.state.lock();
            d.inflight = d.inflight.saturating_sub(1);
        }
        if st.closing {
            return;
        }
        let mut warn = None;
        for d in data {
            if let Warn::Over(kb) = st.queue.push(d, low) {
                warn = Some(kb);
            }
        }
        if let Some(kb) = warn {
            report(
                &self.node,
                owner,
                SocketEvent::Warning { id, pending_kb: kb },
            );
        }
        let connecting = st.connecting;
        if !connecting {
            self.flush(id);
        }
    }

    /// `close` (flush first) or `shutdown` (drop pending data now).
    pub(super) fn close(&mut self, id: SocketId, now: bool) {
        let Some(s) = self.socks.get_mut(&id) else {
            return;
        };
        let owner = s.owner;
        let first = !s.close_reported;
        s.close_reported = true;
        let flush = match &mut s.kind {
            // Also while connecting: what was sent goes out once connected (skynet too).
            Kind::Stream(st) if !now && !st.queue.is_empty() => {
                st.closing = true;
                st.reading = false;
                st.shared.state.lock().idle = false;
                if !st.connecting {
                    let _ = st.shared.stream.shutdown(std::net::Shutdown::Read);
                }
                true
            }
            _ => false,
        };
        if flush {
            self.update_interest(id);
        } else {
            self.drop_sock(id);
        }
        if first {
            report(&self.node, owner, SocketEvent::Close { id });
        }
    }

    /// An error ends the socket: ERROR to the owner (instead of CLOSE), then it is dropped.
    pub(super) fn fail(&mut self, id: SocketId, message: String) {
        let Some(s) = self.socks.get_mut(&id) else {
            return;
        };
        let owner = s.owner;
        let first = !s.close_reported;
        s.close_reported = true;
        self.drop_sock(id);
        if first {
            report(&self.node, owner, SocketEvent::Error { id, message });
        }
    }
}
