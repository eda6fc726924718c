//! A small unbounded channel whose receiver is awaited inside a service: how a handler
//! streams a chunked response body from a fork or another service.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::sync::Arc;
use std::task::{Poll, Waker};

use bytes::Bytes;
use parking_lot::Mutex;

#[derive(Default)]
struct State {
    queue: VecDeque<Bytes>,
    /// Every sender is gone: the stream ends once the queue is drained.
    closed: bool,
    waiter: Option<Waker>,
    senders: usize,
}

/// Sends the chunks of a streamed body. The body ends when every sender is dropped.
pub struct ChunkSender(Arc<Mutex<State>>);

/// The receiving end, placed in a response with [`crate::Body::Stream`].
pub struct ChunkStream(Arc<Mutex<State>>);

impl std::fmt::Debug for ChunkSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ChunkSender")
    }
}

impl std::fmt::Debug for ChunkStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ChunkStream")
    }
}

/// A channel for a streamed body.
pub fn chunk_channel() -> (ChunkSender, ChunkStream) {
    let st = Arc::new(Mutex::new(State {
        senders: 1,
        ..State::default()
    }));
    (ChunkSender(st.clone()), ChunkStream(st))
}

impl ChunkSender {
    /// Queues a chunk; false when the receiver is gone (the client left). Empty chunks
    /// are skipped (an empty chunk would end the body on the wire).
    pub fn send(&self, chunk: impl Into<Bytes>) -> bool {
        let chunk = chunk.into();
        let mut st = self.0.lock();
        if Arc::strong_count(&self.0) == st.senders {
            return false;
        }
        if !chunk.is_empty() {
            st.queue.push_back(chunk);
        }
        let w = st.waiter.take();
        drop(st);
        if let Some(w) = w {
            w.wake();
        }
        true
    }
}

impl Clone for ChunkSender {
    fn clone(&self) -> ChunkSender {
        self.0.lock().senders += 1;
        ChunkSender(self.0.clone())
    }
}

impl Drop for ChunkSender {
    fn drop(&mut self) {
        let mut st = self.0.lock();
        st.senders -= 1;
        if st.senders == 0 {
            st.closed = true;
            let w = st.waiter.take();
            drop(st);
            if let Some(w) = w {
                w.wake();
            }
        }
    }
}

impl ChunkStream {
    /// The next chunk; `None` once every sender is gone and the queue is empty.
    pub async fn next(&mut self) -> Option<Bytes> {
        poll_fn(|cx| {
            let mut st = self.0.lock();
            if let Some(c) = st.queue.pop_front() {
                return Poll::Ready(Some(c));
            }
            if st.closed {
                return Poll::Ready(None);
            }
            st.waiter = Some(cx.waker().clone());
            Poll::Pending
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sender_sees_the_receiver_go() {
        let (tx, rx) = chunk_channel();
        assert!(tx.send("a"));
        drop(rx);
        assert!(!tx.send("b"));
    }
}
