//! A service's mailbox: a FIFO of messages plus the "already scheduled" flag.
//!
//! skynet's protocol (`skynet_mq.c`): a push links the service into the run queue only when
//! the flag was clear; a pop clears it only when it finds the queue empty. So a service with
//! work sits in the run queue exactly once and is run by one worker at a time.
//!
//! Two parts: the shared queue senders push to (a mutex), and a *pending* buffer owned by
//! the service's body (only the holder of the service's run token touches it, see
//! [`BodyCell`](crate::kernel::cell::BodyCell)). A push that finds the service idle claims
//! the token and puts its message straight into `pending`. A worker moves the whole shared queue into `pending` with one swap when `pending`
//! runs dry, then takes a turn's worth from `pending` with no lock at all: the shared lock is
//! taken once per batch on the receiving side, not once per message, so senders on other
//! cores rarely meet the receiver on it. Order is kept: `pending` always holds older messages
//! than the shared queue.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};

use parking_lot::Mutex;

use crate::base::Message;

/// First queue length that logs an overload warning (skynet's `MQ_OVERLOAD`).
pub const OVERLOAD_THRESHOLD: usize = 1024;

/// Largest buffer (in messages) an idle mailbox keeps.
const SWAP_KEEP: usize = 4;

/// Largest buffer (in messages) an idle mailbox keeps: none for a cold service.
#[inline]
fn idle_keep(cold: bool) -> usize {
    if cold {
        0
    } else {
        SWAP_KEEP
    }
}

/// Largest buffer (in messages) a busy mailbox recycles between its shared queue and its
/// batch (see `refill`): 4 MiB of messages. A bigger one, left by a flood that outran
/// its receiver, is freed at the swap rather than kept twice.
const SWAP_RECYCLE: usize = 1 << 16;

/// What [`Mailbox::push`] did with a message.
#[derive(Debug)]
pub(crate) enum Admit {
    /// Queued; the service is already scheduled or running. Holds the shared queue's length.
    Queued(usize),
    /// Not queued: the service was idle, and the caller now holds its run token.
    Claimed(Message),
}

/// What a push did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Pushed {
    /// Queued; the service was idle, so the caller must put it in the run queue.
    Schedule,
    /// Queued; the service is already scheduled or running. Holds the shared queue's
    /// length after the push.
    Queued(usize),
}

/// What [`Mailbox::refill`] decided for a turn.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Batch {
    /// Messages to handle now from the front of the body's buffer (0: none waits).
    pub(crate) n: usize,
    /// The queue length that crossed an overload threshold, if one did.
    pub(crate) overload: Option<usize>,
    /// The drain watch fired (and is disarmed).
    pub(crate) drained: bool,
}

/// [`Mailbox::state`]: the service is in the run queue or being run (its run token is
/// held).
const SCHEDULED: u8 = 1;
/// [`Mailbox::state`]: no more messages are accepted (the service retired).
const CLOSED: u8 = 2;
/// [`Mailbox::state`]: the token's holder must take the lock before it goes idle: messages
/// wait in the shared queue, a drain watch is armed, an overload threshold is raised, or
/// the shared queue holds a buffer to give back. Set under the lock (by a push, a watch or
/// a refill), cleared only by the holder under the lock.
const ATTN: u8 = 4;

struct Inner {
    queue: VecDeque<Message>,
    /// Next length that logs an overload warning; doubles each time, reset when drained.
    overload_at: usize,
}

/// The per-service message queue.
///
/// Aligned to its own cache lines: senders on other cores write it on every push, and the
/// service's other fields (its body, kill flag, counters), read by the worker on every
/// message, must not share a line with it (false sharing made each message a cross-core
/// cache miss). 64-byte lines, not crossbeam's 128 (which also keeps the adjacent-line
/// prefetcher out): 128 made every service's cell an over-aligned 500-byte allocation, a
/// quarter of a held connection's memory, for no difference `bench send` could show.
#[repr(align(64))]
pub(crate) struct Mailbox {
    inner: Mutex<Inner>,
    /// [`SCHEDULED`], [`CLOSED`] and [`ATTN`]. The token's holder hands the token back with
    /// one compare-exchange from exactly [`SCHEDULED`] to 0, without the lock; it fails
    /// while [`ATTN`] is set, and a push that queues sets [`ATTN`] (under the lock) unless
    /// it is set already. So 0 means idle with an empty shared queue, and a push that
    /// finds 0 claims the run token with one compare-exchange, without the lock: a call to
    /// an idle service and its receiver's going idle again cost one atomic operation each.
    /// The hand-back is the holder's last touch of the service: after it, another worker
    /// may run the service, retire it and free it.
    state: AtomicU8,
    /// Messages in the body's `pending` buffer when it was last refilled or found empty
    /// (for `len`, an upper bound between refills). Written once per batch, not once per
    /// message: it shares the lock's cache line, which every sender takes, and a store per
    /// message bounced that line between the receiver's core and the sender's on every
    /// message (`bench send` lost a third of its speed to it).
    pending_len: AtomicUsize,
    /// A drain watch: 0 for none, else `n + 1` to fire once a refill of the receiver's
    /// batch finds at most `n` messages (see [`Mailbox::watch_drain`]).
    drain_watch: AtomicUsize,
}

impl Mailbox {
    /// A new mailbox. It starts *scheduled* so nothing runs the service before its launch
    /// puts it in the run queue (skynet's `in_global = 1` at creation).
    pub(crate) fn new() -> Mailbox {
        Mailbox {
            inner: Mutex::new(Inner {
                queue: VecDeque::new(),
                overload_at: OVERLOAD_THRESHOLD,
            }),
            state: AtomicU8::new(SCHEDULED),
            drain_watch: AtomicUsize::new(0),
            pending_len: AtomicUsize::new(0),
        }
    }

    /// Appends a message, or hands it back when the mailbox is closed. When the service was
    /// idle the message is not queued: [`Admit::Claimed`] hands it back with the service's
    /// run token (the scheduled flag is set now), for the caller to put in the body's
    /// `pending` buffer itself (see [`Cell::push`](crate::kernel::Cell::push)). An idle
    /// mailbox is empty, so that message is the oldest; its receiver then starts its turn
    /// without taking this lock again.
    pub(crate) fn push(&self, msg: Message) -> Result<Admit, Message> {
        if self.try_claim() {
            return Ok(Admit::Claimed(msg));
        }
        let mut inner = self.inner.lock();
        // Under the lock nobody clears ATTN nor sets CLOSED; a claim may still set
        // SCHEDULED and the holder may clear it, hence the compare-exchanges.
        loop {
            match self.state.load(Ordering::Relaxed) {
                0 => {
                    if self.claim() {
                        drop(inner);
                        return Ok(Admit::Claimed(msg));
                    }
                }
                state if state & CLOSED != 0 => return Err(msg),
                state => {
                    // Marked before the message goes in: the holder, refused its hand-back,
                    // takes this lock to refill and so finds the message.
                    if state & ATTN != 0 || self.mark(state) {
                        inner.queue.push_back(msg);
                        return Ok(Admit::Queued(inner.queue.len()));
                    }
                }
            }
        }
    }

    /// Claims the run token of an idle mailbox without the lock (the first step of
    /// [`push`](Self::push), for a caller that places the message itself: no message moves
    /// through a return value on the common path).
    #[inline]
    pub(crate) fn try_claim(&self) -> bool {
        self.state.load(Ordering::Relaxed) == 0 && self.claim()
    }

    /// Sets [`ATTN`] on a scheduled mailbox whose state is `seen` (the caller holds the
    /// lock); false when the state changed meanwhile (the holder went idle).
    #[inline]
    fn mark(&self, seen: u8) -> bool {
        self.state
            .compare_exchange(seen, seen | ATTN, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    }

    /// Takes the run token of an idle service. Acquire: the last holder's writes to the
    /// body (released when it handed the token back) are visible to the new holder.
    #[inline]
    fn claim(&self) -> bool {
        let won = self
            .state
            .compare_exchange(0, SCHEDULED, Ordering::Acquire, Ordering::Relaxed)
            .is_ok();
        if won {
            self.pending_len.store(1, Ordering::Relaxed);
        }
        won
    }

    /// Decides a turn: how many messages from the front of `pending` (the body's buffer)
    /// to handle now, by skynet's weight rule, `len >> weight` (at least one; weight -1 means
    /// exactly one). When `pending` is empty and the state says the lock is needed
    /// ([`ATTN`]) it is first refilled with everything in the shared queue (one lock, one
    /// swap); the overload check and the drain watch run then. `n` is 0 when nothing
    /// waits: the caller still holds the run token and gives it back with
    /// [`try_idle`](Self::try_idle). With `cold`, an empty shared queue gives back its
    /// buffer.
    ///
    /// # Safety
    /// `pending` is the body's buffer and the caller holds the run token.
    pub(crate) unsafe fn refill(
        &self,
        pending: *mut VecDeque<Message>,
        weight: i8,
        cold: bool,
    ) -> Batch {
        // SAFETY: per the contract (the token is ours and stays ours here).
        let pending = unsafe { &mut *pending };
        let mut batch = Batch::default();
        if pending.is_empty() {
            if self.state.load(Ordering::Relaxed) & ATTN == 0 {
                return batch; // nothing queued; a push that comes now refuses the hand-back
            }
            let mut inner = self.inner.lock();
            let len = inner.queue.len();
            let watch = self.drain_watch.load(Ordering::Relaxed);
            if watch != 0 && len < watch {
                self.drain_watch.store(0, Ordering::Relaxed);
                batch.drained = true;
            }
            if len == 0 {
                self.pending_len.store(0, Ordering::Relaxed);
                inner.overload_at = OVERLOAD_THRESHOLD;
                let limit = idle_keep(cold);
                let spare =
                    (inner.queue.capacity() > limit).then(|| std::mem::take(&mut inner.queue));
                // Nothing left for the lock: the watch fired (0 < any watch), the
                // threshold is reset and the buffer given back.
                self.state.store(SCHEDULED, Ordering::Relaxed);
                drop(inner);
                drop(spare); // freed outside the lock (a flood's buffer may be unmapped)
                return batch;
            }
            while len > inner.overload_at {
                batch.overload = Some(len);
                inner.overload_at *= 2;
            }
            // Swap the whole queue out: O(1). The mailbox gets `pending`'s (empty) buffer
            // and its capacity: during a flood the two buffers go back and forth, and the
            // senders fill one that has the flood's size already (growing a fresh one by
            // doubling cost copies and, past malloc's mmap threshold, a page fault per
            // page of every new buffer: `bench send` spent a fifth of its time there). An
            // idle service gives it back (the refill that finds the queue empty), and a
            // flood's oversized buffer is not recycled (`SWAP_RECYCLE`).
            let spare = if pending.capacity() > SWAP_RECYCLE {
                std::mem::take(pending)
            } else {
                VecDeque::new()
            };
            std::mem::swap(&mut inner.queue, pending);
            // The queue is empty now; the lock is still needed before going idle while a
            // watch is armed, a threshold raised or a buffer is to be given back.
            let attn = self.drain_watch.load(Ordering::Relaxed) != 0
                || inner.overload_at != OVERLOAD_THRESHOLD
                || inner.queue.capacity() > idle_keep(cold);
            let state = if attn { SCHEDULED | ATTN } else { SCHEDULED };
            self.state.store(state, Ordering::Relaxed);
            drop(inner);
            drop(spare);
            self.pending_len.store(pending.len(), Ordering::Relaxed);
        }
        let len = pending.len();
        batch.n = if weight < 0 {
            1
        } else {
            (len >> weight).max(1)
        };
        batch
    }

    /// Hands the run token back when nothing waits: true when it did (the service is idle
    /// now, and the caller must not touch it again: this is the caller's last access to
    /// the service, which another worker may run, retire and free from here on). False
    /// when something needs the holder first (messages queued, see [`ATTN`]): the caller
    /// keeps the token and goes on ([`refill`](Self::refill)). The body's empty buffer is
    /// given back first if it is bigger than an idle service keeps (any, with `cold`).
    ///
    /// # Safety
    /// `pending` is the body's buffer, empty, and the caller holds the run token; the
    /// caller uses no reference to the service after a true.
    pub(crate) unsafe fn try_idle(&self, pending: *mut VecDeque<Message>, cold: bool) -> bool {
        {
            // SAFETY: per the contract; this reference ends before the hand-back.
            let pending = unsafe { &mut *pending };
            debug_assert!(pending.is_empty());
            let limit = idle_keep(cold);
            if pending.capacity() > limit {
                *pending = VecDeque::new();
            }
        }
        self.pending_len.store(0, Ordering::Relaxed);
        // Release: the next holder (a claim, Acquire) sees every write of this one.
        self.state
            .compare_exchange(SCHEDULED, 0, Ordering::Release, Ordering::Relaxed)
            .is_ok()
    }

    /// Arms a one-shot drain watch: the next refill of the receiver's batch that finds at
    /// most `below` messages sets `drained` in [`refill`](Self::refill). Set under the
    /// queue's lock, with [`ATTN`] so the receiver cannot go idle without looking at it;
    /// a refill cannot slip between a sender's look at the length and the watch. True when
    /// it is already that short (the caller should not wait).
    pub(crate) fn watch_drain(&self, below: usize) -> bool {
        let inner = self.inner.lock();
        loop {
            let state = self.state.load(Ordering::Relaxed);
            if state == 0 || inner.queue.len() + self.pending_hint() <= below {
                return true; // idle (so empty), or short enough
            }
            self.drain_watch.store(below + 1, Ordering::Relaxed);
            if state & ATTN != 0 || self.mark(state) {
                return false;
            }
            // The holder went idle meanwhile: look again.
            self.drain_watch.store(0, Ordering::Relaxed);
        }
    }

    /// Closes the mailbox and returns every message still in its shared queue (the body's
    /// `pending` buffer is the caller's to empty).
    pub(crate) fn close(&self) -> VecDeque<Message> {
        let mut inner = self.inner.lock();
        // Only the run token's holder closes: the state is SCHEDULED, and stays so.
        self.state.store(SCHEDULED | CLOSED, Ordering::Release);
        self.pending_len.store(0, Ordering::Relaxed);
        std::mem::take(&mut inner.queue)
    }

    /// Messages waiting: the shared queue's exact length plus the body's buffer as of its
    /// last refill (never less than the truth; handled messages count until the buffer
    /// is refilled or runs dry, once per batch).
    pub(crate) fn len(&self) -> usize {
        self.inner.lock().queue.len() + self.pending_hint()
    }

    /// Messages in the body's `pending` buffer as of its last refill (see `pending_len`).
    pub(crate) fn pending_hint(&self) -> usize {
        self.pending_len.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Addr, Ptype};

    /// A refill on the test's own buffer (standing for the body; one thread touches it),
    /// then, when nothing waits and not `keep`, the hand-back (refilling again if refused).
    fn pop(
        mb: &Mailbox,
        out: &mut VecDeque<Message>,
        weight: i8,
        keep: bool,
    ) -> (usize, Option<usize>) {
        loop {
            // SAFETY: `out` is this thread's own buffer; nothing else reaches it.
            let b = unsafe { mb.refill(out, weight, false) };
            // SAFETY: as above.
            if b.n > 0 || keep || unsafe { mb.try_idle(out, false) } {
                return (b.n, b.overload);
            }
        }
    }

    /// The end of a turn on the test's own buffer: true while messages wait (the token is
    /// kept), false when it was handed back.
    fn end(mb: &Mailbox, out: &mut VecDeque<Message>) -> bool {
        // SAFETY: as in `pop`.
        !out.is_empty() || !unsafe { mb.try_idle(out, false) }
    }

    fn msg(i: i32) -> Message {
        Message::value(Addr(1), i, Ptype::LUA, ())
    }

    fn queued(a: Result<Admit, Message>) -> usize {
        match a {
            Ok(Admit::Queued(n)) => n,
            other => panic!("expected Queued, got {other:?}"),
        }
    }

    #[test]
    fn schedule_flag_protocol() {
        let mb = Mailbox::new();
        // Starts scheduled: pushes before launch don't schedule.
        assert_eq!(queued(mb.push(msg(1))), 1);
        let mut out = VecDeque::new();
        assert_eq!(pop(&mb, &mut out, 0, false).0, 1);
        out.clear();
        // Empty pop clears the flag; the next push claims the run token, once: its message
        // is handed back for the claimer to put in `pending`.
        assert_eq!(pop(&mb, &mut out, 0, false).0, 0);
        match mb.push(msg(2)) {
            Ok(Admit::Claimed(m)) => out.push_back(m),
            other => panic!("expected a claim, got {other:?}"),
        }
        assert_eq!(queued(mb.push(msg(3))), 1);
        // Weight -1: one message this turn; the other stays queued, in order.
        assert_eq!(pop(&mb, &mut out, -1, false).0, 1);
        assert_eq!(out.pop_front().unwrap().session, 2);
        assert!(end(&mb, &mut out), "a queued message keeps it scheduled");
        assert_eq!(pop(&mb, &mut out, -1, false).0, 1);
        assert_eq!(out.pop_front().unwrap().session, 3);
        assert_eq!(queued(mb.push(msg(4))), 1);
        // `keep`: found empty but stays scheduled (the holder is about to retire it).
        out.clear();
        assert_eq!(pop(&mb, &mut out, -1, false).0, 1);
        out.clear();
        assert_eq!(pop(&mb, &mut out, -1, true).0, 0);
        assert_eq!(
            queued(mb.push(msg(5))),
            1,
            "still scheduled: queued, not claimed"
        );
        assert_eq!(mb.close().len(), 1);
        assert!(mb.push(msg(6)).is_err());
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
                let _ = mb.push(msg(i)); // kept scheduled (below): all queued
            }
            loop {
                let (n, w) = pop(&mb, &mut out, 2, true);
                warnings.extend(w);
                if n == 0 {
                    break;
                }
                out.drain(..n);
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

    /// The run token under contention: four threads push while a consumer runs turns and
    /// hands the token back whenever it finds the mailbox empty. Every message arrives once,
    /// each sender's in order, and the token is never held twice (a push claims it only from
    /// an idle, empty mailbox).
    #[test]
    fn run_token_is_held_once_and_loses_nothing() {
        use std::sync::atomic::AtomicIsize;
        use std::sync::Arc;
        const SENDERS: i32 = 4;
        const EACH: i32 = 20_000;
        let mb = Arc::new(Mailbox::new());
        let holders = Arc::new(AtomicIsize::new(1)); // the creator holds it first
        let (token_tx, token_rx) = crossbeam_channel::unbounded::<Option<Message>>();
        let senders: Vec<_> = (0..SENDERS)
            .map(|t| {
                let (mb, holders, token_tx) = (mb.clone(), holders.clone(), token_tx.clone());
                std::thread::spawn(move || {
                    for i in 0..EACH {
                        let m = Message::value(Addr(1), t * EACH + i, Ptype::LUA, ());
                        match mb.push(m) {
                            Ok(Admit::Claimed(m)) => {
                                assert_eq!(holders.fetch_add(1, Ordering::SeqCst), 0);
                                token_tx.send(Some(m)).unwrap();
                            }
                            Ok(Admit::Queued(_)) => {}
                            Err(_) => panic!("closed"),
                        }
                    }
                })
            })
            .collect();
        token_tx.send(None).unwrap(); // the creator's token: its first turn
        let mut last = vec![-1; SENDERS as usize];
        let mut got = 0;
        let mut pending = VecDeque::new();
        while got < SENDERS * EACH {
            let first = token_rx
                .recv_timeout(std::time::Duration::from_secs(30))
                .expect("a token comes while messages are missing");
            pending.extend(first);
            // `holders` drops before each step that may hand the token back and rises again
            // when it did not: a claim while this thread holds the token would see 1.
            loop {
                holders.fetch_sub(1, Ordering::SeqCst);
                let (n, _) = pop(&mb, &mut pending, 1, false);
                if n == 0 {
                    break; // handed back: no touching `pending` until the next token
                }
                holders.fetch_add(1, Ordering::SeqCst);
                for m in pending.drain(..n) {
                    let (t, i) = (m.session / EACH, m.session % EACH);
                    assert!(
                        i > last[t as usize],
                        "sender {t}: {i} after {}",
                        last[t as usize]
                    );
                    last[t as usize] = i;
                    got += 1;
                }
                holders.fetch_sub(1, Ordering::SeqCst);
                if !end(&mb, &mut pending) {
                    break;
                }
                holders.fetch_add(1, Ordering::SeqCst);
            }
        }
        for s in senders {
            s.join().unwrap();
        }
        assert_eq!(got, SENDERS * EACH);
        assert!(last.iter().all(|&l| l == EACH - 1));
    }
}
