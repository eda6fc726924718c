//! [`WorkerSlot`]: what one worker exposes to the endless-loop monitor.

use std::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, Ordering};

use crate::base::Addr;

/// What one worker exposes to the monitor. Aligned to its own cache lines (two, for the
/// adjacent-line prefetcher): each worker writes its slot on every callback, and two slots
/// sharing a line made the workers of `bench pairs` stall on each other's writes.
#[derive(Default)]
#[repr(align(128))]
pub(crate) struct WorkerSlot {
    /// Bumped before and after each callback.
    pub(crate) version: AtomicU64,
    /// The service inside a callback now (0: none).
    pub(crate) current: AtomicU32,
    /// Time spent running services, in `TurnClock` ticks (written by its worker only, when
    /// profiling).
    pub(crate) busy_ticks: AtomicU64,
    /// Calls started minus calls ended on this worker (written by its worker only; a call
    /// may end on another worker than it started on, so only the sum over workers counts).
    pub(crate) calls: AtomicI64,
}

impl WorkerSlot {
    // Only the slot's own worker writes it, so a plain load and store bump the version (no
    // atomic read-modify-write on the hot path); the monitor only reads.
    #[inline]
    pub(crate) fn enter(&self, addr: Addr) {
        self.current.store(addr.0, Ordering::Relaxed);
        let v = self.version.load(Ordering::Relaxed);
        self.version.store(v.wrapping_add(1), Ordering::Release);
    }

    #[inline]
    pub(crate) fn leave(&self) {
        self.current.store(0, Ordering::Relaxed);
        let v = self.version.load(Ordering::Relaxed);
        self.version.store(v.wrapping_add(1), Ordering::Release);
    }
}
