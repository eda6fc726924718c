//! [`LifoSlot`]: a worker's LIFO slot (the service it woke last, run next on the same
//! thread), in shared memory so another thread can take a service out of it: a worker stuck
//! inside one long message must not strand the service it woke (the monitor moves it to
//! the global queue).

use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::Arc;

use crate::kernel::cell::Cell;

/// One service, or none; owned by whoever swaps it out. Every non-null pointer in it came
/// from `Arc::into_raw` and is turned back into its `Arc` exactly once, by the swap that takes
/// it out (or by `Drop`). Only its worker puts; anyone may take. Aligned to its own cache
/// lines: the workers' slots sit side by side in the run queue, and each worker writes its
/// own on every schedule.
#[repr(align(128))]
pub(crate) struct LifoSlot<S: ?Sized> {
    cell: AtomicPtr<Cell<S>>,
}

impl<S: ?Sized> Default for LifoSlot<S> {
    fn default() -> Self {
        LifoSlot {
            cell: AtomicPtr::new(ptr::null_mut()),
        }
    }
}

impl<S: ?Sized> LifoSlot<S> {
    /// Puts `cell` in the slot; returns the service that was there. Only the slot's worker
    /// puts: when it finds the slot empty nobody else can fill it meanwhile (others only
    /// take), so a plain store does (a call's ping-pong finds it empty: no atomic
    /// read-modify-write on that path).
    #[inline]
    pub(crate) fn put(&self, cell: Arc<Cell<S>>) -> Option<Arc<Cell<S>>> {
        let new = Arc::into_raw(cell).cast_mut();
        if self.cell.load(Ordering::Relaxed).is_null() {
            self.cell.store(new, Ordering::Release);
            return None;
        }
        let old = self.cell.swap(new, Ordering::AcqRel);
        // SAFETY: a non-null pointer in the slot came from `Arc::into_raw` (here) and the
        // swap made this call its only owner.
        (!old.is_null()).then(|| unsafe { Arc::from_raw(old) })
    }

    /// Takes the service out of the slot, if any.
    #[inline]
    pub(crate) fn take(&self) -> Option<Arc<Cell<S>>> {
        if self.cell.load(Ordering::Relaxed).is_null() {
            return None;
        }
        let old = self.cell.swap(ptr::null_mut(), Ordering::AcqRel);
        // SAFETY: as in `put`: the swap transferred the one reference the slot held.
        (!old.is_null()).then(|| unsafe { Arc::from_raw(old) })
    }

    /// Takes the service out if it is `cell`.
    pub(crate) fn take_if(&self, cell: &Arc<Cell<S>>) -> Option<Arc<Cell<S>>> {
        let want = Arc::as_ptr(cell).cast_mut();
        self.cell
            .compare_exchange(want, ptr::null_mut(), Ordering::AcqRel, Ordering::Relaxed)
            .ok()
            // SAFETY: the exchange took the slot's reference (its pointer came from
            // `Arc::into_raw` in `put`).
            .map(|p| unsafe { Arc::from_raw(p) })
    }

    /// True when a service waits in the slot.
    #[inline]
    pub(crate) fn is_occupied(&self) -> bool {
        !self.cell.load(Ordering::Relaxed).is_null()
    }
}

impl<S: ?Sized> Drop for LifoSlot<S> {
    fn drop(&mut self) {
        drop(self.take());
    }
}

// SAFETY: the slot holds an `Arc<Cell<S>>` (behind a raw pointer) and hands it between
// threads only as that `Arc`: it is as `Send`/`Sync` as the `Arc` is.
unsafe impl<S: ?Sized> Send for LifoSlot<S> where Arc<Cell<S>>: Send {}
// SAFETY: as above; all access is through atomic swaps.
unsafe impl<S: ?Sized> Sync for LifoSlot<S> where Arc<Cell<S>>: Send + Sync {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::Addr;
    use crate::kernel::cell::LaunchNotify;

    fn cell(n: u32) -> Arc<Cell<u8>> {
        Arc::new(Cell::new(
            Addr(n),
            Box::new(0u8),
            String::new(),
            false,
            LaunchNotify::None,
        ))
    }

    /// Exercises every `unsafe` path: references are neither lost nor doubled, across
    /// threads too.
    #[test]
    fn references_move_through_the_slot_exactly_once() {
        let slot = LifoSlot::<u8>::default();
        let (a, b) = (cell(1), cell(2));
        assert!(slot.put(a.clone()).is_none());
        assert_eq!(Arc::strong_count(&a), 2);
        let out = slot.put(b.clone()).expect("a was there");
        assert!(Arc::ptr_eq(&out, &a));
        drop(out);
        assert_eq!(Arc::strong_count(&a), 1);
        assert!(slot.take_if(&a).is_none());
        assert!(slot.is_occupied());
        assert!(Arc::ptr_eq(&slot.take_if(&b).expect("b"), &b));
        assert!(slot.take().is_none());
        assert_eq!(Arc::strong_count(&b), 1);
        // Dropped with a service inside: its reference is released.
        slot.put(b.clone());
        drop(slot);
        assert_eq!(Arc::strong_count(&b), 1);
        // Two threads racing put and take: every reference comes back.
        let slot = Arc::new(LifoSlot::<u8>::default());
        let c = cell(3);
        let t = {
            let (slot, c) = (slot.clone(), c.clone());
            std::thread::spawn(move || {
                for _ in 0..10_000 {
                    drop(slot.put(c.clone()));
                }
            })
        };
        for _ in 0..10_000 {
            drop(slot.take());
        }
        t.join().expect("no panic");
        drop(slot.take());
        assert_eq!(Arc::strong_count(&c), 1);
    }
}
