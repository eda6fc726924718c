//! [`LifoSlot`]: a worker's LIFO slot (the service it woke last, run next on the same
//! thread), in shared memory so another thread can take a service out of it: a worker stuck
//! inside one long message must not strand the service it woke (the monitor moves it to
//! the global queue).
//!
//! The worker takes from its slot once per turn, and the monitor almost never. So the
//! worker takes with a plain load and store, and the monitor pays for the handshake
//! ([`LifoSlot::steal`]): it raises `stealing`, runs a barrier on every thread of the
//! process (`barrier.rs`), and takes only if the worker is then still inside the callback
//! it was stuck in. A worker that left it before the barrier shows it (the monitor backs
//! off); one that leaves after the barrier sees `stealing` and takes with a swap. Where
//! the barrier is not available, the worker always swaps.

use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicBool, AtomicPtr, Ordering};

use crate::kernel::barrier;
use crate::kernel::cell::Cell;
use crate::kernel::runnable::Runnable;

/// One service, or none; owned by whoever swaps it out. Every non-null pointer in it is a
/// [`Runnable`] put there (a run token handed over), taken out exactly once, by the swap
/// that takes it out. Only its worker puts; anyone may take. Aligned to its own cache
/// lines: the workers' slots sit side by side in the run queue, and each worker writes its
/// own on every schedule.
#[repr(align(128))]
pub(crate) struct LifoSlot<S: ?Sized> {
    cell: AtomicPtr<Cell<S>>,
    /// Another thread is taking the service out (see the module doc).
    stealing: AtomicBool,
    /// The worker may take with a plain load and store (the barrier is available).
    plain_takes: bool,
}

impl<S: ?Sized> Default for LifoSlot<S> {
    fn default() -> Self {
        LifoSlot {
            cell: AtomicPtr::new(ptr::null_mut()),
            stealing: AtomicBool::new(false),
            plain_takes: barrier::available(),
        }
    }
}

impl<S: ?Sized> LifoSlot<S> {
    /// Puts `cell` in the slot; returns the service that was there. Only the slot's worker
    /// puts: when it finds the slot empty nobody else can fill it meanwhile (others only
    /// take), so a plain store does (a call's ping-pong finds it empty: no atomic
    /// read-modify-write on that path).
    #[inline]
    pub(crate) fn put(&self, cell: Runnable<S>) -> Option<Runnable<S>> {
        let new = cell.as_ptr().cast_mut();
        if self.cell.load(Ordering::Relaxed).is_null() {
            self.cell.store(new, Ordering::Release);
            return None;
        }
        Self::entry(self.cell.swap(new, Ordering::AcqRel))
    }

    /// Takes the service out, from the slot's own worker, outside its callbacks: a plain
    /// load and store unless another thread is stealing (see the module doc).
    #[inline]
    pub(crate) fn take_own(&self) -> Option<Runnable<S>> {
        // `stealing` first, then the slot (Acquire keeps the slot's load after it). The
        // other order let a double take through: the worker read the slot, a thief that
        // had found it inside its callback swapped the entry out and lowered `stealing`,
        // and the worker then read `stealing` low and took the entry it had read too
        // (`plain_takes_and_steals_never_take_twice`, one run in many). Now a worker that
        // reads `stealing` low after a steal ended also sees that steal's swap (the
        // lowering is a release), and one that read it before the thief raised it had
        // left its callback before the thief's barrier, so the thief takes nothing.
        if !self.plain_takes || self.stealing.load(Ordering::Acquire) {
            return self.take();
        }
        let p = self.cell.load(Ordering::Relaxed);
        if p.is_null() {
            return None;
        }
        // Nobody else takes now: a thief would have raised `stealing` before its barrier,
        // and this worker, outside a callback, would see it (the module doc). `p` was put
        // by this worker (only it puts), so there is nothing to acquire.
        self.cell.store(ptr::null_mut(), Ordering::Relaxed);
        Self::entry(p)
    }

    /// Takes the service out from another thread while the slot's worker is stuck inside
    /// one callback; `still_inside` says, after the barrier, whether it still is (else the
    /// worker may be taking with plain accesses, and nothing is taken).
    pub(crate) fn steal(&self, still_inside: impl FnOnce() -> bool) -> Option<Runnable<S>> {
        if !self.plain_takes {
            return self.take();
        }
        self.stealing.store(true, Ordering::SeqCst);
        let taken = if barrier::barrier_all() && still_inside() {
            self.take()
        } else {
            None
        };
        self.stealing.store(false, Ordering::Release);
        taken
    }

    /// Takes the service out of the slot, if any (with a swap: the worker at exit, or a
    /// thief under [`steal`](Self::steal)'s handshake).
    #[inline]
    pub(crate) fn take(&self) -> Option<Runnable<S>> {
        if self.cell.load(Ordering::Relaxed).is_null() {
            return None;
        }
        Self::entry(self.cell.swap(ptr::null_mut(), Ordering::AcqRel))
    }

    /// Takes the service out if it is `cell`.
    pub(crate) fn take_if(&self, cell: *const Cell<S>) -> Option<Runnable<S>> {
        self.cell
            .compare_exchange(
                cell.cast_mut(),
                ptr::null_mut(),
                Ordering::AcqRel,
                Ordering::Relaxed,
            )
            .ok()
            .and_then(Self::entry)
    }

    /// The entry a swap took out (null: none).
    #[inline]
    fn entry(p: *mut Cell<S>) -> Option<Runnable<S>> {
        // SAFETY: a non-null pointer in the slot is a `Runnable` that `put` stored, and the
        // swap that returned it made its caller that entry's only owner.
        NonNull::new(p).map(|p| unsafe { Runnable::from_slot(p) })
    }

    /// True when a service waits in the slot.
    #[inline]
    pub(crate) fn is_occupied(&self) -> bool {
        !self.cell.load(Ordering::Relaxed).is_null()
    }
}

// SAFETY: the slot holds a `Runnable<S>` (behind a raw pointer) and hands it between
// threads only as that entry: it is as `Send`/`Sync` as the entry is `Send`.
unsafe impl<S: ?Sized> Send for LifoSlot<S> where Runnable<S>: Send {}
// SAFETY: as above; all access is through atomic swaps.
unsafe impl<S: ?Sized> Sync for LifoSlot<S> where Runnable<S>: Send {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::Addr;
    use crate::kernel::cell::LaunchNotify;
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;

    fn cell(n: u32) -> Arc<Cell<u8>> {
        Arc::new(Cell::new(
            Addr(n),
            Box::new(0u8),
            String::new(),
            false,
            LaunchNotify::None,
        ))
    }

    fn entry(c: &Arc<Cell<u8>>) -> Runnable<u8> {
        // SAFETY: the test stands for the token's holder; `c` outlives every entry.
        unsafe { Runnable::new(c) }
    }

    /// Exercises every `unsafe` path: entries are neither lost nor doubled, across
    /// threads too.
    #[test]
    fn entries_move_through_the_slot_exactly_once() {
        let slot = LifoSlot::<u8>::default();
        let (a, b) = (cell(1), cell(2));
        assert!(slot.put(entry(&a)).is_none());
        let out = slot.put(entry(&b)).expect("a was there");
        assert_eq!(out.as_ptr(), Arc::as_ptr(&a));
        assert!(slot.take_if(Arc::as_ptr(&a)).is_none());
        assert!(slot.is_occupied());
        let got = slot.take_if(Arc::as_ptr(&b)).expect("b");
        assert_eq!(got.as_ptr(), Arc::as_ptr(&b));
        assert!(slot.take().is_none());
        assert!(!slot.is_occupied());
        // Two threads racing put and take: every entry put comes out once (displaced by
        // the next put, taken, or left in the slot at the end).
        let slot = Arc::new(LifoSlot::<u8>::default());
        const PUTS: usize = 10_000;
        let cells: Arc<Vec<_>> = Arc::new((0..4).map(cell).collect());
        let t = {
            let (slot, cells) = (slot.clone(), cells.clone());
            std::thread::spawn(move || {
                (0..PUTS)
                    .filter(|i| slot.put(entry(&cells[i % 4])).is_some())
                    .count()
            })
        };
        let mut taken = 0;
        while !t.is_finished() {
            taken += usize::from(slot.take().is_some());
        }
        let displaced = t.join().expect("no panic");
        taken += usize::from(slot.take().is_some());
        assert_eq!(displaced + taken, PUTS);
    }

    /// The worker's plain takes against a thief's steals: a worker thread enters and leaves
    /// "callbacks" (a version, odd inside), puts an entry inside each and takes after each
    /// with `take_own`, while another thread steals whenever it sees the worker inside.
    /// Every entry comes out exactly once (a double take would count twice).
    #[test]
    fn plain_takes_and_steals_never_take_twice() {
        use std::sync::atomic::AtomicU64;
        const ROUNDS: usize = 200_000;
        let slot = Arc::new(LifoSlot::<u8>::default());
        let version = Arc::new(AtomicU64::new(0));
        let done = Arc::new(AtomicBool::new(false));
        let cells: Arc<Vec<_>> = Arc::new((0..4).map(cell).collect());
        let worker = {
            let (slot, version, cells) = (slot.clone(), version.clone(), cells.clone());
            std::thread::spawn(move || {
                let mut out = 0;
                for i in 0..ROUNDS {
                    version.store(version.load(Ordering::Relaxed) + 1, Ordering::Release);
                    out += usize::from(slot.put(entry(&cells[i % 4])).is_some());
                    if i % 16 == 0 {
                        // A longer callback now and then: the thief gets in.
                        for _ in 0..2_000 {
                            std::hint::spin_loop();
                        }
                    }
                    version.store(version.load(Ordering::Relaxed) + 1, Ordering::Release);
                    out += usize::from(slot.take_own().is_some());
                }
                out
            })
        };
        let thief = {
            let (slot, version, done) = (slot.clone(), version.clone(), done.clone());
            std::thread::spawn(move || {
                let mut stolen = 0;
                while !done.load(Ordering::Relaxed) {
                    let v = version.load(Ordering::Acquire);
                    if v % 2 == 1 {
                        let inside = || version.load(Ordering::Acquire) == v;
                        stolen += usize::from(slot.steal(inside).is_some());
                    }
                }
                stolen
            })
        };
        let out = worker.join().expect("no panic");
        done.store(true, Ordering::Relaxed);
        let stolen = thief.join().expect("no panic");
        let left = usize::from(slot.take().is_some());
        assert_eq!(out + stolen + left, ROUNDS);
    }
}
