//! A service's mailbox: a FIFO of messages plus the "already scheduled" flag.
//!
//! skynet's protocol (`skynet_mq.c`): a push links the service into the run queue only when
//! the flag was clear; a pop clears it only when it finds the queue empty. So a service with
//! work sits in the run queue exactly once and is run by one worker at a time.
//!
//! Without a lock. The queue is a chain of blocks (`chain.rs`), and the flag lives in the
//! same 64-bit *tail word* as the queue's tail, so one compare-exchange does each step:
//! - a push to an idle mailbox claims the service's run token (sets the flag) and puts its
//!   message straight into the body's *pending* buffer (see
//!   [`BodyCell`](crate::kernel::cell::BodyCell)): an idle mailbox is empty, so it is the
//!   oldest;
//! - any other push reserves the next slot of the tail block (the flag set, the offset one
//!   further), then writes its message there;
//! - the holder of the run token hands it back by clearing the flag in a word that still
//!   names the slot it would read next: that fails once anything was reserved since, so no
//!   message is left behind in an idle mailbox, and the hand-back is the holder's last touch
//!   of the service (another worker may run it, retire it and free it from then on).
//!
//! The receiver reads the slots in place, in order, after `pending` (which always holds
//! older messages than the chain). A sender pays one atomic read-modify-write per message
//! (the lock this replaced cost two, on a line the receiver also wrote: `perf` found 40% of
//! `bench send`'s sender in them) and never waits for the receiver.

use std::cell::UnsafeCell;
use std::collections::VecDeque;
use std::ptr;
use std::sync::atomic::{AtomicPtr, AtomicU64, AtomicUsize, Ordering};

use crate::base::Message;
use crate::kernel::chain::{Block, Tail, ATTN, CAP, CLOSED, FULL, SCHEDULED};

/// First queue length that logs an overload warning (skynet's `MQ_OVERLOAD`).
pub const OVERLOAD_THRESHOLD: usize = 1024;

/// Largest buffer (in messages) an idle mailbox keeps.
const SWAP_KEEP: usize = 4;

/// Largest `pending` buffer (in messages) an idle service keeps: none for a cold service.
#[inline]
fn idle_keep(cold: bool) -> usize {
    if cold {
        0
    } else {
        SWAP_KEEP
    }
}

/// What [`Mailbox::push`] did with a message.
#[derive(Debug)]
pub(crate) enum Admit {
    /// Queued; the service is already scheduled or running. For the first message of a
    /// block (every [`CAP`]-th), holds how many messages wait in the queue, counting those
    /// of the receiver's current batch until its next refill; 0 for the others (a sender
    /// reads the receiver's line once per block, not once per message).
    Queued(usize),
    /// Not queued: the service was idle, and the caller now holds its run token.
    Claimed(Message),
}

/// What a push did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Pushed {
    /// Queued; the service was idle, so the caller must put it in the run queue.
    Schedule,
    /// Queued; the service is already scheduled or running. Holds about how many
    /// messages wait in the queue now, once per block (see [`Admit::Queued`]), else 0.
    Queued(usize),
}

/// What [`Mailbox::refill`] decided for a turn.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Batch {
    /// Messages to handle now, taken with [`Mailbox::take`] (0: none waits).
    pub(crate) n: usize,
    /// The queue length that crossed an overload threshold, if one did.
    pub(crate) overload: Option<usize>,
    /// The drain watch fired (and is disarmed).
    pub(crate) drained: bool,
}

/// The receiver's side of the queue: touched only by the holder of the run token.
struct Head {
    /// The block holding the next message to read (null: none; the next chain starts at
    /// [`Senders::first`]).
    block: *mut Block,
    /// The slot to read next in `block`.
    offset: usize,
    /// Position of the next message to read in the mailbox's stream.
    pos: u64,
    /// Messages up to this position are reserved (as of the last refill): `take` reads
    /// no further.
    limit: u64,
    /// Next length that logs an overload warning; doubles each time, reset when drained.
    overload_at: usize,
}

/// The senders' cache line.
#[repr(align(64))]
struct Senders {
    /// The tail word ([`Tail`]): tail block, next slot, and [`SCHEDULED`], [`CLOSED`],
    /// [`ATTN`]. 0 flags means idle with an empty queue.
    tail: AtomicU64,
    /// The first block of a chain begun after the receiver gave its last block back.
    first: AtomicPtr<Block>,
    /// Position after the last reserved message, as its sender last wrote it (a hint).
    tail_hint: AtomicU64,
    /// Position of the first block of the next chain (written by the receiver before it
    /// gives its last block back, read by the sender that makes that block).
    next_base: AtomicU64,
    /// A stack of blocks the receiver has read to the end, kept for the senders that
    /// link new ones (a flood through a busy mailbox then allocates nothing); linked
    /// through their `next`, trimmed when the service goes idle. The receiver writes
    /// it once per block ([`CAP`] messages).
    spare: AtomicPtr<Block>,
}

/// The receiver's cache line.
#[repr(align(64))]
struct Receiver {
    head: UnsafeCell<Head>,
    /// `Head::pos` as of the last refill (a hint for lengths).
    head_hint: AtomicU64,
    /// Messages in the body's `pending` buffer when it was last refilled, claimed into or
    /// found empty (a hint for lengths).
    pending_len: AtomicUsize,
    /// A drain watch: 0 for none, else `n + 1` to fire once a refill of the receiver's
    /// batch finds at most `n` messages (see [`Mailbox::watch_drain`]).
    drain_watch: AtomicUsize,
}

/// The per-service message queue.
///
/// Two cache lines (checked by a test): the senders' (the tail word, written by every push) and the
/// receiver's (written once per batch), so neither side's writes take the other's line.
pub(crate) struct Mailbox {
    senders: Senders,
    receiver: Receiver,
}

// SAFETY: `Head` (and the blocks it points to) is touched only by the run token's holder,
// one thread at a time, with a release/acquire hand-over of the token in between (see
// `BodyCell`); everything else is atomic. Messages are `Send`.
unsafe impl Sync for Mailbox {}
// SAFETY: as above; the blocks it owns hold `Send` messages.
unsafe impl Send for Mailbox {}

impl Mailbox {
    /// A new mailbox. It starts *scheduled* so nothing runs the service before its launch
    /// puts it in the run queue (skynet's `in_global = 1` at creation).
    pub(crate) fn new() -> Mailbox {
        Mailbox {
            senders: Senders {
                tail: AtomicU64::new(Tail::new(ptr::null_mut(), 0, SCHEDULED).0),
                first: AtomicPtr::new(ptr::null_mut()),
                tail_hint: AtomicU64::new(0),
                next_base: AtomicU64::new(0),
                spare: AtomicPtr::new(ptr::null_mut()),
            },
            receiver: Receiver {
                head: UnsafeCell::new(Head {
                    block: ptr::null_mut(),
                    offset: 0,
                    pos: 0,
                    limit: 0,
                    overload_at: OVERLOAD_THRESHOLD,
                }),
                head_hint: AtomicU64::new(0),
                pending_len: AtomicUsize::new(0),
                drain_watch: AtomicUsize::new(0),
            },
        }
    }

    #[inline]
    fn tail(&self) -> Tail {
        Tail(self.senders.tail.load(Ordering::Acquire))
    }

    /// Appends a message, or hands it back when the mailbox is closed. When the service was
    /// idle the message is not queued: [`Admit::Claimed`] hands it back with the service's
    /// run token (the scheduled flag is set now), for the caller to put in the body's
    /// `pending` buffer itself (see [`Cell::push`](crate::kernel::Cell::push)). An idle
    /// mailbox is empty, so that message is the oldest.
    #[inline]
    pub(crate) fn push(&self, msg: Message) -> Result<Admit, Message> {
        let mut t = Tail(self.senders.tail.load(Ordering::Relaxed));
        loop {
            let flags = t.flags();
            if flags & CLOSED != 0 {
                return Err(msg);
            }
            if flags & SCHEDULED == 0 {
                match self.cas(t, t.with_flags(flags | SCHEDULED), Ordering::Acquire) {
                    Ok(()) => {
                        self.receiver.pending_len.store(1, Ordering::Relaxed);
                        return Ok(Admit::Claimed(msg));
                    }
                    Err(now) => {
                        t = now;
                        continue;
                    }
                }
            }
            let (block, offset) = (t.block(), t.offset());
            if offset == FULL {
                // Another sender is linking a block: it is a few instructions from done.
                std::hint::spin_loop();
                t = self.tail();
                continue;
            }
            // Reserve `offset`; the last slot of a block, or a first block, marks the word
            // FULL until the new block is linked.
            let next = if block.is_null() || offset + 1 == CAP {
                t.at(block, FULL)
            } else {
                t.at(block, offset + 1)
            };
            if let Err(now) = self.cas(t, next, Ordering::AcqRel) {
                t = now;
                continue;
            }
            let (block, offset) = if block.is_null() {
                let first = self.new_block(self.senders.next_base.load(Ordering::Acquire));
                self.senders.first.store(first, Ordering::Relaxed);
                self.relink(first, 1);
                (first, 0)
            } else {
                if offset + 1 == CAP {
                    // SAFETY: the block stays live until its last slot (ours) is read.
                    let fresh = self.new_block(unsafe { Block::base(block) } + CAP as u64);
                    // SAFETY: we reserved its last slot.
                    unsafe { Block::link(block, fresh) };
                    self.relink(fresh, 0);
                }
                (block, offset)
            };
            // SAFETY: the reservation makes slot `offset` ours; the block is live until
            // the receiver has read it, which waits for `put`.
            let pos = unsafe { Block::base(block) } + offset as u64 + 1;
            // SAFETY: as above; the block is not touched after `put`.
            unsafe { Block::put(block, offset, pos - 1, msg) };
            self.senders.tail_hint.store(pos, Ordering::Relaxed);
            if offset != 0 {
                return Ok(Admit::Queued(0));
            }
            // Once per block, a look at the receiver's line for the length.
            let head = self.receiver.head_hint.load(Ordering::Relaxed);
            return Ok(Admit::Queued(pos.saturating_sub(head) as usize));
        }
    }

    /// A block for message number `base` on: a spare if there is one. Called only by the
    /// sender whose reservation made the tail FULL, so spares have one taker at a time
    /// (and one giver, the receiver: no block can leave the stack and come back while a
    /// taker looks at it).
    #[inline]
    fn new_block(&self, base: u64) -> *mut Block {
        let spare = &self.senders.spare;
        let mut top = spare.load(Ordering::Acquire);
        while !top.is_null() {
            // SAFETY: a block on the stack is freed only by the receiver while it holds
            // the tail FULL itself, which it cannot while this sender does.
            let below = unsafe { Block::next(top) };
            match spare.compare_exchange(top, below, Ordering::Acquire, Ordering::Acquire) {
                // SAFETY: read to the end by the receiver, and ours now.
                Ok(_) => return unsafe { Block::reuse(top, base) },
                Err(now) => top = now,
            }
        }
        Block::alloc(base)
    }

    /// Puts a block the receiver has read to the end on the spare stack: a flood through
    /// a busy mailbox reuses its blocks instead of allocating.
    ///
    /// # Safety
    /// Every slot of `done` has been taken and nothing else uses it.
    #[inline]
    unsafe fn retire_block(&self, done: *mut Block) {
        let spare = &self.senders.spare;
        let mut top = spare.load(Ordering::Relaxed);
        loop {
            // SAFETY: `done` is ours until the push publishes it (release).
            unsafe { Block::set_next(done, top) };
            match spare.compare_exchange(top, done, Ordering::Release, Ordering::Relaxed) {
                Ok(_) => return,
                Err(now) => top = now,
            }
        }
    }

    /// Takes every spare block off the stack; returns them linked through their `next`,
    /// for [`free_list`] to free.
    ///
    /// # Safety
    /// No sender can take a spare meanwhile: the caller holds the tail FULL, or the
    /// mailbox is closed with no sender linking.
    unsafe fn take_spares(&self) -> *mut Block {
        self.senders.spare.swap(ptr::null_mut(), Ordering::Acquire)
    }

    /// One compare-exchange of the tail word; Err holds the word found.
    #[inline]
    fn cas(&self, from: Tail, to: Tail, success: Ordering) -> Result<(), Tail> {
        self.senders
            .tail
            .compare_exchange(from.0, to.0, success, Ordering::Relaxed)
            .map(drop)
            .map_err(Tail)
    }

    /// Ends a FULL tail (this sender's reservation made it so): the tail is now `block`
    /// at `offset`, whatever flags were set meanwhile. Release: the block's fields, its
    /// link and [`Senders::first`] are published with it.
    fn relink(&self, block: *mut Block, offset: usize) {
        let mut t = Tail(self.senders.tail.load(Ordering::Relaxed));
        loop {
            debug_assert_eq!(t.offset(), FULL);
            match self.cas(t, t.at(block, offset), Ordering::Release) {
                Ok(()) => return,
                Err(now) => t = now, // only the flags can change meanwhile
            }
        }
    }

    /// Claims the run token of an idle mailbox (the first step of [`push`](Self::push),
    /// for a caller that places the message itself: no message moves through a return
    /// value on the common path).
    #[inline]
    pub(crate) fn try_claim(&self) -> bool {
        let t = Tail(self.senders.tail.load(Ordering::Relaxed));
        // Acquire: the last holder's writes to the body (released when it handed the
        // token back) are visible to the new holder.
        let won = t.flags() == 0
            && self
                .cas(t, t.with_flags(SCHEDULED), Ordering::Acquire)
                .is_ok();
        if won {
            self.receiver.pending_len.store(1, Ordering::Relaxed);
        }
        won
    }

    /// The receiver's side.
    ///
    /// # Safety
    /// The caller holds the run token, and the reference is not used after it is handed
    /// back.
    #[allow(clippy::mut_from_ref)]
    #[inline]
    unsafe fn head(&self) -> &mut Head {
        // SAFETY: per the contract, one thread at a time.
        unsafe { &mut *self.receiver.head.get() }
    }

    /// Position after the last reserved message of tail `t`, or None while a first block
    /// is being made. Starts reading a new chain if the receiver had none.
    fn tail_pos(head: &mut Head, first: &AtomicPtr<Block>, t: Tail) -> Option<u64> {
        let block = t.block();
        if block.is_null() {
            return (t.offset() != FULL).then_some(head.pos);
        }
        if head.block.is_null() {
            // A chain begun since the last block was given back: its first block is the
            // one published with the tail (release/acquire through the tail word).
            head.block = first.load(Ordering::Relaxed);
            head.offset = 0;
        }
        let reserved = if t.offset() == FULL { CAP } else { t.offset() };
        // SAFETY: the tail block is live: the receiver frees a block only after reading
        // all of it, and the tail block still has unreserved slots or is being linked.
        Some(unsafe { Block::base(block) } + reserved as u64)
    }

    /// Decides a turn: how many messages (the body's `pending` buffer first, then the
    /// queue) to handle now, by skynet's weight rule, `len >> weight` (at least one;
    /// weight -1 means exactly one). `len` is what the receiver knows of (the buffer and
    /// the queue as of its last look) while that lasts; then it looks at the queue again,
    /// and the overload check and the drain watch run.
    /// `n` is 0 when nothing waits: the caller still holds the run token and gives it back
    /// with [`try_idle`](Self::try_idle).
    ///
    /// # Safety
    /// `pending` is the body's buffer and the caller holds the run token.
    #[inline]
    pub(crate) unsafe fn refill(
        &self,
        pending: *mut VecDeque<Message>,
        weight: i8,
        _cold: bool,
    ) -> Batch {
        // SAFETY: per the contract (the token is ours and stays ours here).
        let (pending, head) = unsafe { (&*pending, self.head()) };
        let mut batch = Batch::default();
        // Messages this receiver already knows of are taken first, without a look at the
        // senders' line (which a sender on another core is writing).
        let known = pending.len() + (head.limit - head.pos) as usize;
        if known > 0 {
            batch.n = if weight < 0 {
                1
            } else {
                (known >> weight).max(1)
            };
            return batch;
        }
        let t = self.tail();
        if t.0 & !(SCHEDULED | CLOSED) == Tail::new(head.block, head.offset, 0).0 {
            // Nothing reserved since, no watch armed: the common end of a turn.
            head.overload_at = OVERLOAD_THRESHOLD;
            self.receiver.head_hint.store(head.pos, Ordering::Relaxed);
            return batch;
        }
        let reserved = Self::tail_pos(head, &self.senders.first, t).unwrap_or(head.pos);
        head.limit = reserved;
        let queued = (reserved - head.pos) as usize;
        let len = queued + pending.len();
        if t.flags() & ATTN != 0 {
            batch.drained = self.attend(len);
        }
        if len == 0 {
            head.overload_at = OVERLOAD_THRESHOLD;
        }
        while len > head.overload_at {
            batch.overload = Some(len);
            head.overload_at *= 2;
        }
        self.receiver.head_hint.store(head.pos, Ordering::Relaxed);
        self.receiver
            .pending_len
            .store(pending.len(), Ordering::Relaxed);
        batch.n = match len {
            0 => 0,
            _ if weight < 0 => 1,
            _ => (len >> weight).max(1),
        };
        batch
    }

    /// [`ATTN`] was set: looks at the drain watch; true when it fired.
    fn attend(&self, len: usize) -> bool {
        self.senders.tail.fetch_and(!ATTN, Ordering::AcqRel);
        let watch = self.receiver.drain_watch.load(Ordering::SeqCst);
        if watch == 0 {
            return false;
        }
        if len < watch {
            return self
                .receiver
                .drain_watch
                .compare_exchange(watch, 0, Ordering::SeqCst, Ordering::Relaxed)
                .is_ok();
        }
        // Still armed: look again at the next refill (the token cannot go idle before).
        self.senders.tail.fetch_or(ATTN, Ordering::AcqRel);
        false
    }

    /// The next message of the batch [`refill`](Self::refill) decided, left in place: the
    /// body's `pending` buffer first, then the queue (as [`take`](Self::take) takes them).
    ///
    /// # Safety
    /// `pending` is the body's buffer and the caller holds the run token; the reference
    /// is not used after the message is taken.
    #[inline]
    pub(crate) unsafe fn peek<'a>(&'a self, pending: &'a VecDeque<Message>) -> Option<&'a Message> {
        match pending.front() {
            Some(m) => Some(m),
            // SAFETY: per the contract, and `pending` is empty.
            None => unsafe { self.peek_queued() },
        }
    }

    /// The next message of the batch [`refill`](Self::refill) decided: the body's
    /// `pending` buffer first, then the queue. None when the batch has none left.
    ///
    /// # Safety
    /// `pending` is the body's buffer and the caller holds the run token.
    #[inline]
    pub(crate) unsafe fn take(&self, pending: *mut VecDeque<Message>) -> Option<Message> {
        // SAFETY: per the contract.
        match unsafe { (*pending).pop_front() } {
            Some(m) => Some(m),
            // SAFETY: per the contract.
            None => unsafe { self.take_queued() },
        }
    }

    /// Whether the queue keeps a block (a service that handled a flood keeps one while
    /// idle, unless it went idle cold): read from any thread, a hint.
    pub(crate) fn holds_block(&self) -> bool {
        !Tail(self.senders.tail.load(Ordering::Relaxed))
            .block()
            .is_null()
    }

    /// Whether the batch [`refill`](Self::refill) decided has messages left in the queue.
    ///
    /// # Safety
    /// The caller holds the run token.
    #[inline]
    pub(crate) unsafe fn has_queued(&self) -> bool {
        // SAFETY: per the contract.
        let head = unsafe { self.head() };
        head.pos != head.limit
    }

    /// The next message of the batch from the queue (the body's `pending` buffer is
    /// empty), left in place. None when the batch has none left.
    ///
    /// # Safety
    /// The caller holds the run token, and the body's `pending` buffer is empty.
    #[inline]
    unsafe fn peek_queued(&self) -> Option<&Message> {
        // SAFETY: per the contract.
        let head = unsafe { self.head() };
        if head.pos == head.limit {
            return None;
        }
        // SAFETY: as in `take_queued`; the message stays in its slot until taken, and the
        // block is freed only after its last slot is taken.
        Some(unsafe { Block::peek(head.block, head.offset, head.pos) })
    }

    /// The next message of the batch from the queue (the body's `pending` buffer is
    /// empty), taken. None when the batch has none left.
    ///
    /// # Safety
    /// The caller holds the run token, and the body's `pending` buffer is empty.
    #[inline]
    pub(crate) unsafe fn take_queued(&self) -> Option<Message> {
        // SAFETY: per the contract.
        let head = unsafe { self.head() };
        if head.pos == head.limit {
            return None;
        }
        // SAFETY: positions below `limit` are reserved, so `head.block` (attached by
        // `tail_pos`) is live and slot `offset` is reserved and unread.
        let msg = unsafe { Block::take(head.block, head.offset, head.pos) };
        head.pos += 1;
        head.offset += 1;
        if head.offset == CAP {
            // Its sender linked the next block before it wrote the last slot.
            let done = head.block;
            // SAFETY: `done` is live; every slot of it has been read, and no sender
            // reaches it any more (the tail moved on to the next block).
            unsafe {
                head.block = Block::next(done);
                self.retire_block(done);
            }
            head.offset = 0;
        }
        Some(msg)
    }

    /// Hands the run token back when nothing waits: true when it did (the service is idle
    /// now, and the caller must not touch it again: this is the caller's last access to
    /// the service, which another worker may run, retire and free from here on). False
    /// when something needs the holder first (messages queued, a drain watch): the caller
    /// keeps the token and goes on ([`refill`](Self::refill)). The body's empty buffer is
    /// given back first if it is bigger than an idle service keeps; a `cold` service also
    /// gives back its queue's block.
    ///
    /// # Safety
    /// `pending` is the body's buffer, empty, and the caller holds the run token; the
    /// caller uses no reference to the service after a true.
    #[inline]
    pub(crate) unsafe fn try_idle(&self, pending: *mut VecDeque<Message>, cold: bool) -> bool {
        {
            // SAFETY: per the contract; this reference ends before the hand-back.
            let pending = unsafe { &mut *pending };
            debug_assert!(pending.is_empty());
            if pending.capacity() > idle_keep(cold) {
                *pending = VecDeque::new();
            }
        }
        // SAFETY: per the contract; not used after a successful hand-back.
        let head = unsafe { self.head() };
        self.receiver.pending_len.store(0, Ordering::Relaxed);
        self.receiver.head_hint.store(head.pos, Ordering::Relaxed);
        let busy = Tail::new(head.block, head.offset, SCHEDULED);
        if cold && !head.block.is_null() || !self.senders.spare.load(Ordering::Relaxed).is_null() {
            // SAFETY: per the contract.
            return unsafe { self.idle_trimmed(busy, cold) };
        }
        // Release: the next holder (a claim, acquire) sees every write of this one.
        self.cas(busy, busy.with_flags(0), Ordering::Release)
            .is_ok()
    }

    /// [`try_idle`](Self::try_idle) for a mailbox with spare blocks, or a cold one with
    /// a tail block: it gives them back with the token. `busy` is the tail word an empty
    /// queue has.
    ///
    /// # Safety
    /// As for `try_idle`.
    #[cold]
    unsafe fn idle_trimmed(&self, busy: Tail, cold: bool) -> bool {
        // SAFETY: per the contract; not used after a successful hand-back.
        let head = unsafe { self.head() };
        let give_back = cold && !head.block.is_null();
        // First hold the tail (FULL, as a sender linking a block does): that fails if
        // anything was reserved since, and while it holds no sender reserves a slot or
        // takes a spare.
        let held = busy.at(head.block, FULL);
        if self.cas(busy, held, Ordering::Acquire).is_err() {
            return false;
        }
        // SAFETY: the tail is held FULL by us.
        let extra = unsafe { self.take_spares() };
        let (block, offset) = (head.block, head.offset);
        let idle = if give_back {
            // The next chain starts where this one ended.
            self.senders.next_base.store(head.pos, Ordering::Relaxed);
            head.block = ptr::null_mut();
            head.offset = 0;
            Tail::new(ptr::null_mut(), 0, 0)
        } else {
            busy.with_flags(0)
        };
        // Release: the next holder (a claim, acquire) sees every write of this one.
        let idled = match self.cas(held, idle, Ordering::Release) {
            Ok(()) => true,
            Err(_) => {
                // A drain watch set ATTN meanwhile (nothing else changes a held tail):
                // keep the token and the block, and let the tail go.
                head.block = block;
                head.offset = offset;
                self.relink(block, offset);
                false
            }
        };
        // Freed after the tail is let go (senders wait while it is held). The blocks are
        // off the mailbox: touching them is not touching the service.
        // SAFETY: taken off the stack above, read to the end.
        unsafe { free_list(extra) };
        if idled && give_back {
            // SAFETY: unreachable from the mailbox now (the tail names no block), every
            // slot reserved in it read.
            unsafe { Block::free(block) };
        }
        idled
    }

    /// Arms a one-shot drain watch: the next refill of the receiver's batch that finds at
    /// most `below` messages sets `drained` in [`refill`](Self::refill). Sets [`ATTN`] so
    /// the receiver cannot go idle without looking at it. True when it is already that
    /// short (the caller should not wait).
    pub(crate) fn watch_drain(&self, below: usize) -> bool {
        loop {
            let t = self.tail();
            if t.flags() & SCHEDULED == 0 || self.len() <= below {
                return true; // idle (so empty), or short enough
            }
            self.receiver.drain_watch.store(below + 1, Ordering::SeqCst);
            if t.flags() & ATTN != 0
                || self
                    .cas(t, t.with_flags(t.flags() | ATTN), Ordering::AcqRel)
                    .is_ok()
            {
                return false;
            }
            // The word moved (a push, or the holder went idle): look again.
            self.receiver.drain_watch.store(0, Ordering::SeqCst);
        }
    }

    /// Closes the mailbox and returns every message still in its queue (the body's
    /// `pending` buffer is the caller's to empty). Only the run token's holder closes.
    pub(crate) fn close(&self) -> VecDeque<Message> {
        self.senders.tail.fetch_or(CLOSED, Ordering::AcqRel);
        // SAFETY: only the token's holder closes (the worker retiring the service).
        unsafe { self.drain_all() }
    }

    /// Takes every reserved message (waiting for a block being linked) and frees the
    /// blocks. No message can be reserved afterwards ([`CLOSED`] is set, or `&mut self`).
    ///
    /// # Safety
    /// The caller holds the run token (or the mailbox itself), and [`CLOSED`] is set.
    unsafe fn drain_all(&self) -> VecDeque<Message> {
        let mut t = self.tail();
        while t.offset() == FULL {
            std::thread::yield_now();
            t = self.tail();
        }
        let mut out = VecDeque::new();
        {
            // SAFETY: per the contract.
            let head = unsafe { self.head() };
            head.limit = Self::tail_pos(head, &self.senders.first, t).unwrap_or(head.pos);
        }
        let mut none = VecDeque::new();
        // SAFETY: per the contract; `none` stands for an empty `pending`.
        while let Some(m) = unsafe { self.take(&mut none) } {
            out.push_back(m);
        }
        // SAFETY: per the contract.
        let head = unsafe { self.head() };
        if !head.block.is_null() {
            // SAFETY: the tail block, every reserved slot read, unreachable by senders.
            unsafe { Block::free(head.block) };
            head.block = ptr::null_mut();
        }
        // SAFETY: closed, and no sender is linking (waited for above).
        unsafe { free_list(self.take_spares()) };
        let flags = t.flags() | CLOSED;
        self.senders
            .tail
            .store(Tail::new(ptr::null_mut(), 0, flags).0, Ordering::Release);
        self.receiver.pending_len.store(0, Ordering::Relaxed);
        self.receiver.head_hint.store(head.pos, Ordering::Relaxed);
        self.senders.tail_hint.store(head.pos, Ordering::Relaxed);
        out
    }

    /// Messages waiting: about the queue's length plus the body's buffer as of its last
    /// refill (handled messages count until the next refill, once per batch).
    pub(crate) fn len(&self) -> usize {
        let queued = self
            .senders
            .tail_hint
            .load(Ordering::Relaxed)
            .saturating_sub(self.receiver.head_hint.load(Ordering::Relaxed));
        queued as usize + self.pending_hint()
    }

    /// Messages in the body's `pending` buffer as of its last refill (see `pending_len`).
    fn pending_hint(&self) -> usize {
        self.receiver.pending_len.load(Ordering::Relaxed)
    }
}

/// Frees a list of blocks linked through their `next` (see [`Mailbox::take_spares`]).
///
/// # Safety
/// Every block of the list is unreachable from any mailbox and has been read to the end.
unsafe fn free_list(mut b: *mut Block) {
    while !b.is_null() {
        // SAFETY: per the contract, each block is ours.
        unsafe {
            let below = Block::next(b);
            Block::free(b);
            b = below;
        }
    }
}

impl Drop for Mailbox {
    fn drop(&mut self) {
        // A retired service's mailbox was drained by `close`; any other (a service that
        // never ran) is drained here, its messages dropped.
        self.senders.tail.fetch_or(CLOSED, Ordering::AcqRel);
        // SAFETY: `&mut self`: nothing else reaches the mailbox.
        drop(unsafe { self.drain_all() });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Addr, Ptype};

    /// The test's stand-in for a service body: its `pending` buffer (one thread touches
    /// it, the token's holder) and the messages its turns took, in order.
    #[derive(Default)]
    struct Body {
        pending: VecDeque<Message>,
        got: VecDeque<Message>,
    }

    /// A turn: a refill, its batch taken into `got`; then, when nothing waited and not
    /// `keep`, the hand-back (refilling again if refused). Returns the batch size and
    /// the overload warning.
    fn pop(mb: &Mailbox, body: &mut Body, weight: i8, keep: bool) -> (usize, Option<usize>) {
        loop {
            // SAFETY: `body.pending` is this thread's own buffer and it holds the token.
            let b = unsafe { mb.refill(&mut body.pending, weight, false) };
            for _ in 0..b.n {
                // SAFETY: as above.
                let m = unsafe { mb.take(&mut body.pending) }.expect("the batch's message");
                body.got.push_back(m);
            }
            // SAFETY: as above.
            if b.n > 0 || keep || unsafe { mb.try_idle(&mut body.pending, false) } {
                return (b.n, b.overload);
            }
        }
    }

    /// The end of a turn: true while messages wait (the token is kept), false when it
    /// was handed back.
    fn end(mb: &Mailbox, body: &mut Body, cold: bool) -> bool {
        // SAFETY: as in `pop`.
        !body.pending.is_empty() || !unsafe { mb.try_idle(&mut body.pending, cold) }
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
        let mut body = Body::default();
        // Starts scheduled: pushes before launch don't schedule.
        assert_eq!(queued(mb.push(msg(1))), 1);
        assert_eq!(pop(&mb, &mut body, 0, false).0, 1);
        body.got.clear();
        // Empty pop clears the flag; the next push claims the run token, once: its message
        // is handed back for the claimer to put in `pending`.
        assert_eq!(pop(&mb, &mut body, 0, false).0, 0);
        match mb.push(msg(2)) {
            Ok(Admit::Claimed(m)) => body.pending.push_back(m),
            other => panic!("expected a claim, got {other:?}"),
        }
        assert_eq!(
            queued(mb.push(msg(3))),
            0,
            "not the first of its block: no length"
        );
        // Weight -1: one message this turn; the other stays queued, in order.
        assert_eq!(pop(&mb, &mut body, -1, false).0, 1);
        assert_eq!(body.got.pop_front().unwrap().session, 2);
        assert!(
            end(&mb, &mut body, false),
            "a queued message keeps it scheduled"
        );
        assert_eq!(pop(&mb, &mut body, -1, false).0, 1);
        assert_eq!(body.got.pop_front().unwrap().session, 3);
        // Not the first of its block: no length.
        assert_eq!(queued(mb.push(msg(4))), 0);
        // `keep`: found empty but stays scheduled (the holder is about to retire it).
        assert_eq!(pop(&mb, &mut body, -1, false).0, 1);
        body.got.clear();
        assert_eq!(pop(&mb, &mut body, -1, true).0, 0);
        assert_eq!(
            queued(mb.push(msg(5))),
            0,
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
        let mut body = Body::default();
        let mut warnings = Vec::new();
        for round in 0..2 {
            for i in 0..5000 {
                let _ = mb.push(msg(i)); // kept scheduled (below): all queued
            }
            loop {
                let (n, w) = pop(&mb, &mut body, 2, true);
                warnings.extend(w);
                if n == 0 {
                    break;
                }
            }
            assert_eq!(body.got.len(), 5000);
            assert!(body
                .got
                .iter()
                .enumerate()
                .all(|(i, m)| m.session == i as i32));
            body.got.clear();
            assert_eq!(
                warnings.len(),
                1 + round,
                "one warning per round: {warnings:?}"
            );
        }
        // Each pop saw 5000 > 1024, 2048, 4096: one warning with the length, thresholds raised.
        assert_eq!(warnings, vec![5000, 5000]);
    }

    /// A drain watch fires at the refill that finds the queue short enough, and keeps the
    /// receiver from going idle until then.
    #[test]
    fn a_drain_watch_fires_once_the_queue_is_short() {
        let mb = Mailbox::new();
        let mut body = Body::default();
        for i in 0..100 {
            let _ = mb.push(msg(i));
        }
        assert!(!mb.watch_drain(10), "100 queued: not short yet");
        // Weight 1 takes half of what waits each turn: 50, 25, 12, 6 (at most 10 left).
        let mut fired_at = None;
        for turn in 0..10 {
            // SAFETY: as in `pop`.
            let b = unsafe { mb.refill(&mut body.pending, 1, false) };
            if b.drained {
                fired_at = Some((turn, 100 - body.got.len()));
                break;
            }
            for _ in 0..b.n {
                // SAFETY: as in `pop`.
                body.got
                    .push_back(unsafe { mb.take(&mut body.pending) }.unwrap());
            }
        }
        let (_, left) = fired_at.expect("the watch fired");
        assert!(left <= 10, "fired with {left} left");
        assert!(mb.watch_drain(1000), "short enough now");
        mb.close();
    }

    /// Blocks are linked and freed as a flood passes through them, and a cold receiver
    /// gives its block back when it goes idle; nothing is lost or reordered.
    #[test]
    fn floods_cross_blocks_and_cold_mailboxes_give_them_back() {
        let mb = Mailbox::new();
        let mut body = Body::default();
        let mut next = 0;
        for round in 0..50 {
            let burst = 1 + (round * 7) % (3 * CAP as i32);
            for _ in 0..burst {
                match mb.push(msg(next)) {
                    Ok(Admit::Claimed(m)) => body.pending.push_back(m),
                    Ok(Admit::Queued(_)) => {}
                    Err(_) => panic!("closed"),
                }
                next += 1;
            }
            loop {
                let (n, _) = pop(&mb, &mut body, 0, true);
                if n == 0 {
                    break;
                }
            }
            assert!(!end(&mb, &mut body, round % 2 == 0), "handed back");
        }
        let sessions: Vec<i32> = body.got.iter().map(|m| m.session).collect();
        assert_eq!(sessions, (0..next).collect::<Vec<_>>());
        // SAFETY: the test holds the token again after a claim.
        assert!(mb.try_claim());
        assert!(mb.close().is_empty());
    }

    /// The run token under contention: four threads push while a consumer runs turns and
    /// hands the token back whenever it finds the mailbox empty (giving its block back on
    /// every other hand-back). Every message arrives once, each sender's in order, and the
    /// token is never held twice (a push claims it only from an idle, empty mailbox).
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
        let mut body = Body::default();
        let mut hand_backs = 0;
        while got < SENDERS * EACH {
            let first = token_rx
                .recv_timeout(std::time::Duration::from_secs(30))
                .expect("a token comes while messages are missing");
            body.pending.extend(first);
            // `holders` drops before each step that may hand the token back and rises again
            // when it did not: a claim while this thread holds the token would see 1.
            loop {
                holders.fetch_sub(1, Ordering::SeqCst);
                let (n, _) = pop(&mb, &mut body, 1, false);
                if n == 0 {
                    break; // handed back: no touching `body` until the next token
                }
                holders.fetch_add(1, Ordering::SeqCst);
                for m in body.got.drain(..) {
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
                hand_backs += 1;
                if !end(&mb, &mut body, hand_backs % 2 == 0) {
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

    #[test]
    fn a_mailbox_is_two_cache_lines() {
        assert_eq!(std::mem::size_of::<Senders>(), 64);
        assert_eq!(std::mem::size_of::<Receiver>(), 64);
        assert_eq!(std::mem::size_of::<Mailbox>(), 128);
    }

    /// Closing while senders push (a service retiring under a flood): every message is
    /// either handled, returned by `close`, or refused to its sender; none is lost or
    /// seen twice, and no sender is stuck.
    #[test]
    fn closing_under_a_flood_loses_nothing() {
        use std::sync::Arc;
        const SENDERS: i32 = 3;
        const EACH: i32 = 30_000;
        for round in 0..4 {
            let mb = Arc::new(Mailbox::new());
            let senders: Vec<_> = (0..SENDERS)
                .map(|t| {
                    let mb = mb.clone();
                    std::thread::spawn(move || {
                        let (mut refused, mut claimed) = (0, Vec::new());
                        for i in 0..EACH {
                            match mb.push(msg(t * EACH + i)) {
                                Ok(Admit::Queued(_)) => {}
                                // Idle only if the test handed the token back: it never does.
                                Ok(Admit::Claimed(m)) => claimed.push(m),
                                Err(_) => refused += 1,
                            }
                        }
                        (refused, claimed)
                    })
                })
                .collect();
            let mut body = Body::default();
            // A few turns (round-dependent), then retire: close with the token held.
            for _ in 0..round * 3 {
                pop(&mb, &mut body, 2, true);
            }
            let returned = mb.close();
            let mut seen = vec![false; (SENDERS * EACH) as usize];
            let mut count = |m: &Message| {
                let s = m.session as usize;
                assert!(!seen[s], "message {s} twice");
                seen[s] = true;
            };
            body.got.iter().for_each(&mut count);
            returned.iter().for_each(&mut count);
            let mut refused = 0;
            for s in senders {
                let (r, claimed) = s.join().unwrap();
                assert!(claimed.is_empty(), "the token was never handed back");
                refused += r;
            }
            let delivered = seen.iter().filter(|&&b| b).count() as i32;
            assert_eq!(delivered + refused, SENDERS * EACH, "round {round}");
        }
    }

    /// Messages still queued when a mailbox is dropped unclosed are dropped with it.
    #[test]
    fn an_unclosed_mailbox_drops_its_messages() {
        let counted = std::sync::Arc::new(());
        let mb = Mailbox::new();
        for i in 0..100 {
            let _ = mb.push(Message::value(Addr(1), i, Ptype::LUA, counted.clone()));
        }
        assert_eq!(std::sync::Arc::strong_count(&counted), 101);
        drop(mb);
        assert_eq!(std::sync::Arc::strong_count(&counted), 1);
    }
}
