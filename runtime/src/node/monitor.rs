//! The endless-loop monitor: reports a service that has been inside one message too long.
//!
//! Each worker bumps a version counter before and after every callback (skynet's
//! `skynet_monitor`). Several times a second the monitor thread compares; a worker whose version has
//! not moved for the threshold while it is inside a service gets that service reported, once
//! per stuck message, by address. The service is not killed.
//!
//! A worker seen inside the same message at two samples in a row has the service waiting
//! in its LIFO slot moved to the global queue, so another worker runs it: otherwise a
//! looping service would hold the service it woke (the logger, say) for as long as it loops.
//!
//! The same thread returns free memory to the OS after many services end (see `trim.rs`),
//! and once per `idle_trim` period has each service that keeps a mailbox block and handled
//! nothing since the last look give it back (a TRIM message: its next turn ends as a cold
//! service's, see `worker.rs`). Without it, every service that once took a flood would keep
//! 4 KiB for good: 40 MB for 10,000 agents gone quiet.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::base::Addr;
use crate::kernel::trim_message;
use crate::node::trim;
use crate::raw::log_route;
use crate::raw::NodeInner;

/// Runs until the node asks it to stop; checks every `period`, and looks for idle
/// services' blocks every `idle_trim` (None: never).
pub(crate) fn run_monitor(
    node: Arc<NodeInner>,
    threshold: Duration,
    idle_trim: Option<Duration>,
    stop: Arc<(parking_lot::Mutex<bool>, parking_lot::Condvar)>,
) {
    log_route::enter_node(&node);
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
    let mut janitor = trim::Janitor::default();
    let mut idle = IdleBlocks::default();
    let mut next_idle_scan = idle_trim.map(|every| Instant::now() + every);
    loop {
        if janitor.observe(node.user_services.load(Ordering::Relaxed)) {
            trim::release_free_memory();
        }
        if let (Some(every), Some(due)) = (idle_trim, next_idle_scan) {
            if Instant::now() >= due {
                idle.scan(&node);
                next_idle_scan = Some(Instant::now() + every);
            }
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
        for (index, (slot, (version, since, reported))) in
            node.workers.iter().zip(seen.iter_mut()).enumerate()
        {
            let v = slot.version.load(Ordering::Acquire);
            if v != *version {
                *version = v;
                *since = now;
                *reported = false;
                continue;
            }
            let current = Addr(slot.current.load(Ordering::Relaxed));
            if current.is_system() {
                continue;
            }
            // Inside one message since the last sample at least: the service it woke last
            // (its LIFO slot) runs on another worker rather than after that message.
            let version = *version;
            node.run_queue
                .rescue_lifo(index, || slot.version.load(Ordering::Acquire) == version);
            if *reported || now.duration_since(*since) < threshold {
                continue;
            }
            *reported = true;
            if let Some(cell) = node.cell(current) {
                cell.endless.store(true, Ordering::Relaxed);
            }
            node.counters
                .endless_reports
                .fetch_add(1, Ordering::Relaxed);
            log::error!(
                "service {current} may be in an endless loop: inside one message for {:.1} s",
                now.duration_since(*since).as_secs_f64()
            );
        }
    }
}

/// The services that keep a mailbox block, with how many messages each had handled when
/// last seen: one that handled none since is idle, and is sent a TRIM.
#[derive(Default)]
struct IdleBlocks {
    seen: HashMap<Addr, u64>,
}

impl IdleBlocks {
    fn scan(&mut self, node: &NodeInner) {
        let mut next = HashMap::new();
        for cell in node.all_cells() {
            if !cell.mailbox.holds_block() {
                continue;
            }
            let handled = cell.processed.load(Ordering::Relaxed);
            if self.seen.get(&cell.addr) == Some(&handled) {
                // Idle for a whole period: its next turn gives the block back (the TRIM
                // counts as handled, so it is not sent again unless the block stays).
                let _ = node.push(&cell, trim_message());
            } else {
                next.insert(cell.addr, handled);
            }
        }
        self.seen = next;
    }
}
