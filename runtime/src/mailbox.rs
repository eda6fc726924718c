//! A service's mailbox: a FIFO of messages plus the "already scheduled" flag.
//!
//! skynet's protocol (`skynet_mq.c`): a push links the service into the run queue only when
//! the flag was clear; a pop clears it only when it finds the queue empty. So a service with
//! work sits in the run queue exactly once and is run by one worker at a time.

use std::collections::VecDeque;

use parking_lot::Mutex;

use crate::message::Message;

/// First queue length that logs an overload warning (skynet's `MQ_OVERLOAD`).
pub const OVERLOAD_THRESHOLD: usize = 1024;

/// Largest buffer (in messages) handed back to a mailbox by a swap.
const SWAP_KEEP: usize = 4;

/// What a push did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Pushed {
    /// Queued; the service was idle, so the caller must put it in the run queue.
    Schedule,
    /// Queued; the service is already scheduled or running.
    Queued,
}

struct Inner {
    queue: VecDeque<Message>,
    /// True while the service is in the run queue or being run.
    scheduled: bool,
    /// No more messages are accepted (the service retired).
    closed: bool,
    /// Next length that logs an overload warning; doubles each time, reset when drained.
    overload_at: usize,
}

/// The per-service message queue.
pub(crate) struct Mailbox {
    inner: Mutex<Inner>,
}

impl Mailbox {
    /// A new mailbox. It starts *scheduled* so nothing runs the service before its launch
    /// puts it in the run queue (skynet's `in_global = 1` at creation).
    pub(crate) fn new() -> Mailbox {
        Mailbox {
            inner: Mutex::new(Inner {
                queue: VecDeque::new(),
                scheduled: true,
                closed: false,
                overload_at: OVERLOAD_THRESHOLD,
            }),
        }
    }

    /// Appends a message, or hands it back when the mailbox is closed.
    pub(crate) fn push(&self, msg: Message) -> Result<Pushed, Message> {
        let mut inner = self.inner.lock();
        if inner.closed {
            return Err(msg);
        }
        inner.queue.push_back(msg);
        if inner.scheduled {
            Ok(Pushed::Queued)
        } else {
            inner.scheduled = true;
            Ok(Pushed::Schedule)
        }
    }

    /// Moves a turn's worth of messages into `out` (which must be empty): skynet's weight
    /// rule, `len >> weight` messages (at least one; weight -1 means exactly one). Returns how many moved
    /// and, when the queue passed an overload threshold, the length to warn about. When the
    /// queue is empty the scheduled flag is cleared and 0 is returned: the caller must then
    /// forget the service until a push schedules it again.
    pub(crate) fn pop_batch(
        &self,
        out: &mut VecDeque<Message>,
        weight: i8,
    ) -> (usize, Option<usize>) {
        let mut inner = self.inner.lock();
        let len = inner.queue.len();
        if len == 0 {
            inner.scheduled = false;
            inner.overload_at = OVERLOAD_THRESHOLD;
            return (0, None);
        }
        let mut overload = None;
        while len > inner.overload_at {
            overload = Some(len);
            inner.overload_at *= 2;
        }
        let max = if weight < 0 {
            1
        } else {
            (len >> weight).max(1)
        };
        let n = if len <= max {
            // Swap the whole queue out: O(1). The mailbox gets the caller's buffer, so a big
            // one (left from some flooded service) is dropped first: buffers never migrate
            // into idle services and pin memory there.
            if out.capacity() > SWAP_KEEP {
                *out = VecDeque::new();
            }
            std::mem::swap(&mut inner.queue, out);
            len
        } else {
            out.extend(inner.queue.drain(..max));
            max
        };
        (n, overload)
    }

    /// Ends a turn: true when messages wait (the service stays scheduled and must be put
    /// back in the run queue); false when empty (the service is unscheduled now).
    pub(crate) fn end_turn(&self) -> bool {
        let mut inner = self.inner.lock();
        if inner.queue.is_empty() {
            inner.scheduled = false;
            inner.overload_at = OVERLOAD_THRESHOLD;
            false
        } else {
            true
        }
    }

    /// Closes the mailbox and returns every message still in it.
    pub(crate) fn close(&self) -> VecDeque<Message> {
        let mut inner = self.inner.lock();
        inner.closed = true;
        std::mem::take(&mut inner.queue)
    }

    /// Messages waiting now.
    pub(crate) fn len(&self) -> usize {
        self.inner.lock().queue.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Addr, Ptype};

    fn msg(i: i32) -> Message {
        Message::value(Addr(1), i, Ptype::LUA, ())
    }

    #[test]
    fn schedule_flag_protocol() {
        let mb = Mailbox::new();
        // Starts scheduled: pushes before launch don't schedule.
        assert_eq!(mb.push(msg(1)).unwrap(), Pushed::Queued);
        let mut out = VecDeque::new();
        assert_eq!(mb.pop_batch(&mut out, 0).0, 1);
        out.clear();
        // Empty pop clears the flag; next push schedules exactly once.
        assert_eq!(mb.pop_batch(&mut out, 0).0, 0);
        assert_eq!(mb.push(msg(2)).unwrap(), Pushed::Schedule);
        assert_eq!(mb.push(msg(3)).unwrap(), Pushed::Queued);
        assert_eq!(mb.pop_batch(&mut out, -1).0, 1);
        assert_eq!(out.pop_front().unwrap().session, 2);
        assert_eq!(mb.close().len(), 1);
        assert!(mb.push(msg(4)).is_err());
    }

    /// Guarantee: overload warnings at >1024, >2048, ... and re-armed after draining
    /// (skynet-inventory §7 item 14).
    #[test]
    fn overload_thresholds_double_and_rearm() {
        let mb = Mailbox::new();
        let mut out = VecDeque::new();
        let mut warnings = Vec::new();
        for round in 0..2 {
            for i in 0..5000 {
                let _ = mb.push(msg(i));
            }
            loop {
                let (n, w) = mb.pop_batch(&mut out, 2);
                warnings.extend(w);
                if n == 0 {
                    break;
                }
                out.clear();
            }
            assert_eq!(
                warnings.len(),
                1 + round,
                "one warning per round: {warnings:?}"
            );
        }
        // Each pop saw 5000 > 1024, 2048, 4096: one warning with the length, thresholds raised.
        assert_eq!(warnings, vec![5000, 5000]);
    }
}
