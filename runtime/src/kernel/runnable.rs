//! [`Runnable`]: a service in the run queue, held there by its run token instead of a
//! reference count.
//!
//! A service in the run queue (or a worker's LIFO slot) is kept alive by the node's handle
//! table, which holds an `Arc` of every cell from its spawn until it retires; and only the
//! holder of the service's run token retires it (see
//! [`BodyCell`](crate::kernel::cell::BodyCell)). While the service waits in the queue, the
//! queue entry *is* the token's holder, so nobody can retire it, and the entry needs no
//! `Arc` of its own. That saves an atomic increment when a push schedules a service and a
//! decrement when its turn ends: two read-modify-writes on a cache line that, with a
//! caller and a callee on two workers, both workers write (about 6 % of the CPU of
//! `bench pairs`).
//!
//! The cost is discipline in the worker: it reaches the cell through
//! [`Runnable::enter`] (a borrowed `Arc` that is never dropped) only until it hands the
//! token back, and retires a service through an `Arc` of its own (the table's goes then).

use std::mem::ManuallyDrop;
use std::ptr::NonNull;
use std::sync::Arc;

use crate::kernel::cell::Cell;

/// A runnable service: a pointer to its cell, valid while the run token it stands for is
/// held (see the module doc). Not `Clone`: one entry per token.
pub(crate) struct Runnable<S: ?Sized>(NonNull<Cell<S>>);

// SAFETY: a `Runnable` is a hand-over of the run token between threads; the cell it points
// to is `Sync` (its body is reached only by the token's holder, see `BodyCell`), and the
// pointer is dereferenced only by the holder, while the handle table keeps the cell alive.
unsafe impl<S: ?Sized> Send for Runnable<S> where Arc<Cell<S>>: Send {}

impl<S: ?Sized> Runnable<S> {
    /// The run queue's entry for `cell`.
    ///
    /// # Safety
    /// The caller holds `cell`'s run token and hands it over with this entry, and `cell`
    /// is registered in its node's handle table (it is from spawn until the token's
    /// holder retires it: a push that claims the token of a mailbox that is not closed
    /// finds it registered).
    #[inline]
    pub(crate) unsafe fn new(cell: &Arc<Cell<S>>) -> Runnable<S> {
        Runnable(NonNull::from(&**cell))
    }

    /// The entry whose pointer this is, taken back out of a slot that stored it.
    ///
    /// # Safety
    /// `p` is [`as_ptr`](Self::as_ptr) of an entry whose ownership (the run token) the
    /// caller now has, that entry having been forgotten where it was kept.
    #[inline]
    pub(crate) unsafe fn from_slot(p: NonNull<Cell<S>>) -> Runnable<S> {
        Runnable(p)
    }

    /// The cell's address, for comparisons; never dereferenced.
    #[inline]
    pub(crate) fn as_ptr(&self) -> *const Cell<S> {
        self.0.as_ptr()
    }

    /// The cell as an `Arc` the caller borrows: never dropped, so the count is untouched;
    /// cloning it makes a real, counted `Arc`.
    ///
    /// # Safety
    /// The caller took this entry from the run queue (so it holds the run token), and uses
    /// the result only until it hands the token back or retires the service (the handle
    /// table's `Arc` may go then: a retiring worker keeps a clone of its own).
    #[inline]
    pub(crate) unsafe fn enter(&self) -> ManuallyDrop<Arc<Cell<S>>> {
        // SAFETY: the pointer came from a live `Arc` (`new`), and the handle table still
        // holds that `Arc` while the token is held (the contract): rebuilding an `Arc` from
        // it and never dropping it leaves the count as it is.
        ManuallyDrop::new(unsafe { Arc::from_raw(self.0.as_ptr()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::Addr;
    use crate::kernel::cell::LaunchNotify;

    /// `new` and `enter` leave the reference count alone; a clone of the entered view is a
    /// real reference that outlives it.
    #[test]
    fn entering_borrows_without_counting() {
        let cell = Arc::new(Cell::new(
            Addr(7),
            Box::new(0u8),
            String::new(),
            false,
            LaunchNotify::None,
        ));
        // SAFETY: this test stands for the token's holder; `cell` (the "table") lives on.
        let r = unsafe { Runnable::new(&cell) };
        assert_eq!(Arc::strong_count(&cell), 1);
        // SAFETY: as above.
        let view = unsafe { r.enter() };
        assert_eq!(view.addr, Addr(7));
        let owned = Arc::clone(&view);
        assert_eq!(Arc::strong_count(&cell), 2);
        drop(owned);
        assert_eq!(Arc::strong_count(&cell), 1);
        assert_eq!(r.as_ptr(), Arc::as_ptr(&cell));
        fn is_send<T: std::marker::Send>(_: &T) {}
        is_send(&r);
    }
}
