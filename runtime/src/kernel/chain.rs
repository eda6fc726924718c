//! The blocks a mailbox's lock-free queue is made of, and the word that says where its tail
//! is.
//!
//! A queue is a chain of [`Block`]s of [`CAP`] message slots each. Senders reserve a slot
//! with one compare-exchange on the mailbox's *tail word* ([`Tail`]: the tail block's
//! address, the next free slot in it and the mailbox's state flags packed in 64 bits), then
//! write the message and mark the slot ready. The sender that takes a block's last slot
//! links a new block before it writes; the one receiver (the holder of the service's run
//! token) reads the slots in order and frees each block once it has read all of it. A
//! block is read and freed by the receiver only, so a sender may use the block its
//! reservation named until it has marked its slot ready, and no longer.
//!
//! Each slot is a cache line of its own: a sender writing slot `k + 1` does not take the
//! line the receiver is reading slot `k` from.

use std::alloc::{alloc, dealloc, handle_alloc_error, Layout};
use std::cell::UnsafeCell;
use std::mem::MaybeUninit;
use std::ptr;
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};

use crate::base::Message;

/// Message slots per block. With the block's header line that makes 1 KiB: what a busy
/// service keeps while idle (skynet's queue keeps 64 slots of 24 bytes, 1.5 KiB).
pub(crate) const CAP: usize = 63;

/// The slot offset in a [`Tail`] that means "every slot is reserved and the sender that
/// took the last one is linking the next block" (or, with no block, "the first block is
/// being made"): senders wait for it to pass.
pub(crate) const FULL: usize = 63;

/// State flag: the service is in the run queue or being run (its run token is held).
pub(crate) const SCHEDULED: u64 = 1;
/// State flag: no more messages are accepted (the service retired).
pub(crate) const CLOSED: u64 = 2;
/// State flag: the token's holder must look at the mailbox before it goes idle (a drain
/// watch is armed).
pub(crate) const ATTN: u64 = 4;
/// All state flags.
pub(crate) const FLAGS: u64 = SCHEDULED | CLOSED | ATTN;
const OFF_SHIFT: u32 = 3;
const OFF_MASK: u64 = 0x3f << OFF_SHIFT;
/// Blocks are aligned to 128 bytes, so an address leaves the low 7 bits for the flags
/// and the offset.
const PTR_MASK: u64 = !0x1ff;

/// A tail word, unpacked: the tail block (null: none yet, or given back), the next slot
/// to reserve in it (or [`FULL`]), and the state flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Tail(pub(crate) u64);

impl Tail {
    #[inline]
    pub(crate) fn new(block: *mut Block, offset: usize, flags: u64) -> Tail {
        debug_assert!(block as u64 & !PTR_MASK == 0 && offset <= FULL && flags & !FLAGS == 0);
        Tail(block as u64 | ((offset as u64) << OFF_SHIFT) | flags)
    }
    #[inline]
    pub(crate) fn block(self) -> *mut Block {
        (self.0 & PTR_MASK) as *mut Block
    }
    #[inline]
    pub(crate) fn offset(self) -> usize {
        ((self.0 & OFF_MASK) >> OFF_SHIFT) as usize
    }
    #[inline]
    pub(crate) fn flags(self) -> u64 {
        self.0 & FLAGS
    }
    /// The same block and offset with other flags.
    #[inline]
    pub(crate) fn with_flags(self, flags: u64) -> Tail {
        Tail((self.0 & !FLAGS) | flags)
    }
    /// The same flags at another block and offset.
    #[inline]
    pub(crate) fn at(self, block: *mut Block, offset: usize) -> Tail {
        Tail::new(block, offset, self.flags())
    }
}

/// One message slot: a cache line.
#[repr(C, align(64))]
pub(crate) struct Slot {
    msg: UnsafeCell<MaybeUninit<Message>>,
    /// The message's position in the mailbox's stream plus one, stored (release) by the
    /// sender once `msg` is written; the receiver reads the slot when it finds the
    /// position it expects (acquire). A block used again keeps older, smaller stamps, so
    /// it needs no clearing: the receiver never writes a slot's line.
    stamp: AtomicU64,
}

/// [`CAP`] slots, the next block, and the position of the first slot in the mailbox's
/// stream of messages (for queue lengths).
#[repr(C, align(512))]
pub(crate) struct Block {
    /// Set by the sender that reserved slot `CAP - 1`, before it writes that slot.
    next: AtomicPtr<Block>,
    /// Position of slot 0: messages reserved in this mailbox before it.
    base: u64,
    slots: [Slot; CAP],
}

impl Block {
    /// A new block whose slot 0 is message number `base`, every slot empty.
    pub(crate) fn alloc(base: u64) -> *mut Block {
        let layout = Layout::new::<Block>();
        // SAFETY: the layout is not zero-sized.
        let b = unsafe { alloc(layout) }.cast::<Block>();
        if b.is_null() {
            handle_alloc_error(layout);
        }
        // SAFETY: `b` is a fresh allocation for a `Block`; the fields are initialised in
        // place (a message slot stays uninitialised until its stamp is set).
        unsafe {
            ptr::addr_of_mut!((*b).next).write(AtomicPtr::new(ptr::null_mut()));
            ptr::addr_of_mut!((*b).base).write(base);
            for i in 0..CAP {
                ptr::addr_of_mut!((*b).slots[i].stamp).write(AtomicU64::new(0));
            }
        }
        b
    }

    /// Makes a block given back by its receiver (every slot read) new again, for message
    /// number `base` on (greater than any it held: its slots' stamps are all stale).
    ///
    /// # Safety
    /// `b` came from [`Block::alloc`], every slot of it has been taken, and nothing else
    /// uses it.
    pub(crate) unsafe fn reuse(b: *mut Block, base: u64) -> *mut Block {
        // SAFETY: per the contract, the block is ours alone.
        unsafe {
            (*b).next.store(ptr::null_mut(), Ordering::Relaxed);
            (*b).base = base;
        }
        b
    }

    /// Frees a block. Its unread messages (if any) must have been taken first.
    ///
    /// # Safety
    /// `b` came from [`Block::alloc`], and nothing uses it afterwards.
    pub(crate) unsafe fn free(b: *mut Block) {
        // SAFETY: per the contract; `Block` has no drop glue of its own (`MaybeUninit`).
        unsafe { dealloc(b.cast(), Layout::new::<Block>()) }
    }

    /// Position of slot 0.
    ///
    /// # Safety
    /// `b` is a live block.
    #[inline]
    pub(crate) unsafe fn base(b: *const Block) -> u64 {
        // SAFETY: per the contract; `base` is written before the block is published.
        unsafe { (*b).base }
    }

    /// Sets `b`'s link without ordering (for a block on the spare stack, whose push
    /// publishes it).
    ///
    /// # Safety
    /// `b` is a live block nobody else uses.
    #[inline]
    pub(crate) unsafe fn set_next(b: *mut Block, next: *mut Block) {
        // SAFETY: per the contract.
        unsafe { (*b).next.store(next, Ordering::Relaxed) }
    }

    /// Links `next` after `b`.
    ///
    /// # Safety
    /// `b` is a live block and the caller reserved its last slot.
    #[inline]
    pub(crate) unsafe fn link(b: *const Block, next: *mut Block) {
        // SAFETY: per the contract.
        unsafe { (*b).next.store(next, Ordering::Release) }
    }

    /// The block linked after `b` (set once its last slot is ready).
    ///
    /// # Safety
    /// `b` is a live block.
    #[inline]
    pub(crate) unsafe fn next(b: *const Block) -> *mut Block {
        // SAFETY: per the contract.
        unsafe { (*b).next.load(Ordering::Acquire) }
    }

    /// Writes `msg` into slot `i`, message number `pos`, and marks it ready: the
    /// sender's last use of the block.
    ///
    /// # Safety
    /// `b` is a live block and the caller reserved slot `i` (`i < CAP`), which is message
    /// number `pos` (`base + i`).
    #[inline]
    pub(crate) unsafe fn put(b: *mut Block, i: usize, pos: u64, msg: Message) {
        // SAFETY: per the contract, slot `i` is this caller's alone until its stamp is
        // set; the receiver reads it only after seeing the stamp (acquire).
        unsafe {
            let slot = ptr::addr_of!((*b).slots[i]);
            (*(*slot).msg.get()).write(msg);
            (*slot).stamp.store(pos + 1, Ordering::Release);
        }
    }

    /// The message in slot `i`, message number `pos`, left in place, waiting for its
    /// sender to finish writing it.
    ///
    /// # Safety
    /// As [`take`](Self::take); the message stays valid until it is taken.
    #[inline]
    pub(crate) unsafe fn peek<'a>(b: *mut Block, i: usize, pos: u64) -> &'a Message {
        // SAFETY: per the contract; read after its stamp (acquire), as `take` does.
        unsafe {
            let slot = ptr::addr_of!((*b).slots[i]);
            Self::wait_ready(slot, pos);
            (*(*slot).msg.get()).assume_init_ref()
        }
    }

    /// Waits until slot `slot` holds message number `pos`.
    ///
    /// # Safety
    /// `slot` is a live slot reserved for message number `pos`.
    #[inline]
    unsafe fn wait_ready(slot: *const Slot, pos: u64) {
        let mut spins = 0u32;
        // SAFETY: per the contract.
        while unsafe { (*slot).stamp.load(Ordering::Acquire) } != pos + 1 {
            // Reserved, not written yet: the sender is between its two steps. It may
            // have been preempted there; after a short spin, let it run.
            spins += 1;
            if spins < 64 {
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
    }

    /// Takes the message in slot `i`, message number `pos`, waiting for its sender to
    /// finish writing it.
    ///
    /// # Safety
    /// `b` is a live block, slot `i` (`i < CAP`) was reserved for message number `pos` and
    /// has not been taken, and the caller is the queue's receiver.
    #[inline]
    pub(crate) unsafe fn take(b: *mut Block, i: usize, pos: u64) -> Message {
        // SAFETY: per the contract; the message is read once, after its stamp (acquire)
        // made the sender's write visible.
        unsafe {
            let slot = ptr::addr_of!((*b).slots[i]);
            Self::wait_ready(slot, pos);
            (*(*slot).msg.get()).assume_init_read()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_block_is_one_kib_and_leaves_the_low_bits_free() {
        assert_eq!(std::mem::size_of::<Slot>(), 64);
        assert_eq!(std::mem::size_of::<Block>(), 4096);
        assert_eq!(std::mem::align_of::<Block>() as u64, !PTR_MASK + 1);
        assert!(FULL <= (OFF_MASK >> OFF_SHIFT) as usize && CAP <= FULL);
    }

    #[test]
    fn tail_words_pack_and_unpack() {
        let b = Block::alloc(7);
        let t = Tail::new(b, 14, SCHEDULED | ATTN);
        assert_eq!(
            (t.block(), t.offset(), t.flags()),
            (b, 14, SCHEDULED | ATTN)
        );
        let t2 = t.at(ptr::null_mut(), FULL).with_flags(CLOSED);
        assert_eq!(
            (t2.block(), t2.offset(), t2.flags()),
            (ptr::null_mut(), FULL, CLOSED)
        );
        // SAFETY: `b` is live and unused after.
        unsafe {
            assert_eq!(Block::base(b), 7);
            Block::free(b);
        }
    }
}
