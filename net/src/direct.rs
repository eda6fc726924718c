//! Direct writes (skynet's `direct write`): a service's worker writes to the socket itself
//! when nothing is queued for it, instead of handing every reply to the socket thread.
//!
//! Order is kept with one lock and one counter per socket: every request that will queue
//! bytes first raises `inflight`; the socket thread lowers it when it takes the request and
//! marks the socket `idle` only when its queue is empty and nothing is in flight. A worker
//! writes directly only while `idle`, so a direct write can never overtake queued bytes.

use std::collections::HashMap;
use std::io::{IoSlice, Write};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use mio::net::TcpStream;
use parking_lot::{Mutex, RwLock};

use crate::event::SocketId;

#[derive(Default)]
pub(crate) struct DirectState {
    /// Nothing queued, nothing in flight, connected, not closing.
    pub(crate) idle: bool,
    /// Requests that will queue bytes, sent and not yet taken by the socket thread.
    pub(crate) inflight: usize,
}

/// A stream socket as both the socket thread and the workers see it.
pub(crate) struct Shared {
    pub(crate) stream: TcpStream,
    pub(crate) state: Mutex<DirectState>,
    /// Bytes written directly by workers (the socket thread counts its own).
    pub(crate) direct_out: AtomicU64,
    /// Flow control (see [`Driver::flow_limit`](crate::Driver::flow_limit)): bytes delivered
    /// to the owner and not yet reported consumed. The socket thread adds, the owner's
    /// worker subtracts, and no message passes between them unless the count drops back
    /// under the limit after the socket thread found it full and stopped reading.
    pub(crate) unconsumed: AtomicUsize,
    /// The flow-control window (0: none), set by the socket thread.
    pub(crate) flow_limit: AtomicUsize,
}

impl Shared {
    pub(crate) fn new(stream: TcpStream, idle: bool) -> Arc<Shared> {
        Arc::new(Shared {
            stream,
            state: Mutex::new(DirectState { idle, inflight: 0 }),
            direct_out: AtomicU64::new(0),
            unconsumed: AtomicUsize::new(0),
            flow_limit: AtomicUsize::new(0),
        })
    }
}

impl Shared {
    /// The owner consumed `bytes`; true when that brought a full window back under its
    /// limit, so the socket thread (which stopped reading at the limit) must be told.
    pub(crate) fn consume(&self, bytes: usize) -> bool {
        let limit = self.flow_limit.load(Ordering::Acquire);
        let old = self
            .unconsumed
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |u| {
                Some(u.saturating_sub(bytes))
            })
            // The closure never returns None.
            .unwrap_or_else(|u| u);
        limit > 0 && old >= limit && old.saturating_sub(bytes) < limit
    }
}

/// Every live socket id: a stream socket's shared part, or `None` for a listener, a UDP
/// socket, or an id handed out whose request has not reached the socket thread yet. It is
/// also the table both id allocators check, so no live id is handed out again after the
/// counter wraps.
pub(crate) type DirectMap = Arc<RwLock<HashMap<SocketId, Option<Arc<Shared>>>>>;

/// What the caller must still hand to the socket thread.
pub(crate) enum Outcome {
    /// All written.
    Done,
    /// Queue these (in-flight already counted).
    Queue(Vec<Bytes>),
    /// A live id, but not a stream socket workers write to (not started yet, a listener,
    /// UDP): send the request as usual (nothing counted).
    Unknown(Vec<Bytes>),
    /// No live socket has this id (never opened, or closed and forgotten): nothing to do.
    Invalid,
}

/// Writes `bufs` now if the socket is idle; otherwise (or for what the socket did not take)
/// counts a request in flight and returns what to queue. Takes an array as well as a `Vec`,
/// so a single buffer is written without allocating.
pub(crate) fn try_write<B>(map: &DirectMap, id: SocketId, bufs: B) -> Outcome
where
    B: AsRef<[Bytes]> + Into<Vec<Bytes>>,
{
    let Some(shared) = (match map.read().get(&id) {
        None => return Outcome::Invalid,
        Some(entry) => entry.clone(),
    }) else {
        return Outcome::Unknown(bufs.into());
    };
    let mut st = shared.state.lock();
    if !st.idle || st.inflight > 0 {
        st.inflight += 1;
        return Outcome::Queue(bufs.into());
    }
    let written = write_all_now(&shared.stream, bufs.as_ref());
    shared
        .direct_out
        .fetch_add(written as u64, Ordering::Relaxed);
    let total: usize = bufs.as_ref().iter().map(Bytes::len).sum();
    if written == total {
        return Outcome::Done;
    }
    // The rest goes through the queue, ahead of anything sent later (we still hold the lock
    // and are now in flight, so nobody writes directly until it is taken).
    st.inflight += 1;
    st.idle = false;
    let mut skip = written;
    let rest = bufs
        .into()
        .into_iter()
        .filter_map(|mut b| {
            if skip >= b.len() {
                skip -= b.len();
                None
            } else {
                let _ = b.split_to(skip);
                skip = 0;
                Some(b)
            }
        })
        .collect();
    Outcome::Queue(rest)
}

/// One `write`/`writev`; how many bytes the socket took (0 on WouldBlock or an error: the
/// socket thread then writes, and reports the error).
fn write_all_now(stream: &TcpStream, bufs: &[Bytes]) -> usize {
    const ON_STACK: usize = 8;
    let r = match bufs {
        [one] => (&*stream).write(one),
        _ if bufs.len() <= ON_STACK => {
            let mut slices = [IoSlice::new(&[]); ON_STACK];
            for (s, b) in slices.iter_mut().zip(bufs) {
                *s = IoSlice::new(b);
            }
            (&*stream).write_vectored(&slices[..bufs.len()])
        }
        _ => {
            let slices: Vec<IoSlice<'_>> = bufs.iter().map(|b| IoSlice::new(b)).collect();
            (&*stream).write_vectored(&slices)
        }
    };
    r.unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared() -> Arc<Shared> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let s =
            std::net::TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
        Shared::new(TcpStream::from_std(s), true)
    }

    /// Credit is asked for exactly when a full window gets room again, never otherwise, and
    /// the count never goes below zero.
    #[test]
    fn consume_reports_only_the_crossing_under_the_limit() {
        let s = shared();
        s.unconsumed.store(100, Ordering::Relaxed);
        assert!(!s.consume(50), "no limit set: never");
        s.flow_limit.store(100, Ordering::Relaxed);
        s.unconsumed.store(90, Ordering::Relaxed);
        assert!(
            !s.consume(10),
            "not full before: the socket thread is still reading"
        );
        s.unconsumed.store(100, Ordering::Relaxed);
        assert!(!s.consume(0), "still full");
        assert!(s.consume(1), "full, then room");
        assert_eq!(s.unconsumed.load(Ordering::Relaxed), 99);
        s.unconsumed.store(150, Ordering::Relaxed);
        assert!(!s.consume(40), "still at or over the limit");
        assert!(s.consume(1_000), "crossed under it");
        assert_eq!(s.unconsumed.load(Ordering::Relaxed), 0, "saturates at zero");
    }
}
