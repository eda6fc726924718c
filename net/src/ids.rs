//! [`IdAllocator`]: socket ids, shared by the driver (which hands them out for listen and
//! connect) and the socket thread (which hands them out for accepted sockets).

use std::sync::atomic::{AtomicI32, Ordering};

use crate::event::SocketId;

/// Hands out socket ids: increasing, positive, wrapping to 1 after i32::MAX.
#[derive(Debug)]
pub(crate) struct IdAllocator {
    next: AtomicI32,
}

impl IdAllocator {
    /// Ids from 1.
    pub(crate) fn new() -> IdAllocator {
        IdAllocator {
            next: AtomicI32::new(1),
        }
    }

    /// The next id for which `in_use` is false.
    pub(crate) fn next(&self, in_use: impl Fn(SocketId) -> bool) -> SocketId {
        loop {
            let id = self
                .next
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
                    Some(if (1..i32::MAX - 1).contains(&v) {
                        v + 1
                    } else {
                        1
                    })
                })
                .unwrap_or(1);
            let id = if id < 1 { 1 } else { id };
            if !in_use(id) {
                return id;
            }
        }
    }

    /// Moves the counter (tests: to see it wrap).
    #[cfg(test)]
    pub(crate) fn skip_to(&self, id: SocketId) {
        self.next.store(id, Ordering::Relaxed);
    }
}
