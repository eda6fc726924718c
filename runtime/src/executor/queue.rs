//! [`Queue`]: a FIFO critical section for the tasks of one service (skynet's `skynet.queue`).

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll, Waker};

use parking_lot::Mutex;

#[derive(Default)]
struct State {
    locked: bool,
    next_ticket: u64,
    /// Waiting tickets in arrival order; the head is handed the lock on unlock.
    waiters: VecDeque<(u64, Option<Waker>)>,
    /// A ticket that was handed the lock but has not been polled yet.
    granted: Option<u64>,
}

/// A FIFO lock for forks that must not interleave: while one task holds the guard, others
/// that call [`Queue::lock`] wait their turn, in order, even across awaits.
///
/// ```
/// use skynet_runtime::Queue;
/// let q = Queue::new();
/// let q2 = q.clone();
/// // in a fork: let _g = q2.lock().await; ... critical section with awaits ...
/// # drop((q, q2));
/// ```
#[derive(Clone, Default)]
pub struct Queue {
    state: Arc<Mutex<State>>,
}

impl std::fmt::Debug for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let st = self.state.lock();
        write!(
            f,
            "Queue(locked: {}, waiting: {})",
            st.locked,
            st.waiters.len()
        )
    }
}

impl Queue {
    /// A new, unlocked queue.
    pub fn new() -> Queue {
        Queue::default()
    }

    /// Waits for the lock.
    pub fn lock(&self) -> QueueLock {
        QueueLock {
            queue: self.clone(),
            ticket: None,
            acquired: false,
        }
    }
}

/// The future of [`Queue::lock`].
#[must_use = "does nothing until awaited"]
pub struct QueueLock {
    queue: Queue,
    ticket: Option<u64>,
    acquired: bool,
}

/// Holds the queue's lock; dropping it hands the lock to the next waiter.
pub struct QueueGuard {
    queue: Queue,
}

impl std::fmt::Debug for QueueGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "QueueGuard")
    }
}

impl Future for QueueLock {
    type Output = QueueGuard;
    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<QueueGuard> {
        let this = self.get_mut();
        let mut st = this.queue.state.lock();
        match this.ticket {
            None if !st.locked && st.waiters.is_empty() => {
                st.locked = true;
                drop(st);
                this.acquired = true;
                Poll::Ready(QueueGuard {
                    queue: this.queue.clone(),
                })
            }
            None => {
                let t = st.next_ticket;
                st.next_ticket += 1;
                st.waiters.push_back((t, Some(cx.waker().clone())));
                this.ticket = Some(t);
                Poll::Pending
            }
            Some(t) if st.granted == Some(t) => {
                st.granted = None;
                drop(st);
                this.acquired = true;
                Poll::Ready(QueueGuard {
                    queue: this.queue.clone(),
                })
            }
            Some(t) => {
                if let Some(w) = st.waiters.iter_mut().find(|(x, _)| *x == t) {
                    w.1 = Some(cx.waker().clone());
                }
                Poll::Pending
            }
        }
    }
}

impl Drop for QueueLock {
    fn drop(&mut self) {
        let Some(t) = self.ticket else { return };
        if self.acquired {
            return;
        }
        let mut st = self.queue.state.lock();
        st.waiters.retain(|(x, _)| *x != t);
        if st.granted == Some(t) {
            // Handed the lock but never took it: pass it on.
            st.granted = None;
            release(&mut st);
        }
    }
}

fn release(st: &mut State) {
    match st.waiters.pop_front() {
        Some((t, w)) => {
            st.granted = Some(t);
            if let Some(w) = w {
                w.wake();
            }
        }
        None => st.locked = false,
    }
}

impl Drop for QueueGuard {
    fn drop(&mut self) {
        release(&mut self.queue.state.lock());
    }
}
