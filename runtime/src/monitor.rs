//! The endless-loop monitor: reports a service that has been inside one message too long.
//!
//! Each worker bumps a version counter before and after every callback (skynet's
//! `skynet_monitor`). Several times a second the monitor thread compares; a worker whose version has
//! not moved for the threshold while it is inside a service gets that service reported, once
//! per stuck message, by address. The service is not killed.
//!
//! The same thread returns free memory to the OS after many services end (see `trim.rs`).

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::addr::Addr;
use crate::node::NodeInner;

/// What one worker exposes to the monitor.
#[derive(Default)]
pub(crate) struct WorkerSlot {
    /// Bumped before and after each callback.
    pub(crate) version: AtomicU64,
    /// The service inside a callback now (0: none).
    pub(crate) current: AtomicU32,
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

/// Runs until the node asks it to stop; checks every `period`.
pub(crate) fn run_monitor(
    node: Arc<NodeInner>,
    threshold: Duration,
    stop: Arc<(parking_lot::Mutex<bool>, parking_lot::Condvar)>,
) {
    crate::logger::enter_node(&node);
    // The stuck time is measured from the first sample that saw the worker's version, so it
    // is short by up to one period: sample often enough that a handler just past the
    // threshold is still caught (4 wake-ups a second at the default 5 s).
    let period = (threshold / 20).clamp(Duration::from_millis(5), Duration::from_millis(250));
    // Per worker: (version seen, since when unchanged, already reported).
    let mut seen: Vec<(u64, Instant, bool)> = node
        .workers
        .iter()
        .map(|w| (w.version.load(Ordering::Acquire), Instant::now(), false))
        .collect();
    let mut janitor = crate::trim::Janitor::default();
    loop {
        if janitor.observe(node.user_services.load(Ordering::Relaxed)) {
            crate::trim::release_free_memory();
        }
        {
            let (lock, cv) = &*stop;
            let mut stopped = lock.lock();
            if *stopped {
                return;
            }
            cv.wait_for(&mut stopped, period);
            if *stopped {
                return;
            }
        }
        let now = Instant::now();
        for (slot, (version, since, reported)) in node.workers.iter().zip(seen.iter_mut()) {
            let v = slot.version.load(Ordering::Acquire);
            if v != *version {
                *version = v;
                *since = now;
                *reported = false;
                continue;
            }
            let current = Addr(slot.current.load(Ordering::Relaxed));
            if current.is_system() || *reported || now.duration_since(*since) < threshold {
                continue;
            }
            *reported = true;
            if let Some(cell) = node.cell(current) {
                cell.endless.store(true, Ordering::Relaxed);
            }
            log::error!(
                "service {current} may be in an endless loop: inside one message for {:.1} s",
                now.duration_since(*since).as_secs_f64()
            );
        }
    }
}
