//! What a node counts about itself, for monitoring ([`RuntimeMetrics`], a snapshot): the
//! counters the kernel keeps (overload warnings, endless-loop reports, call errors by kind)
//! and what it can read from its tables at any time (services, mailboxes, timers, workers).

use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::base::CallError;
use crate::kernel::run_queue::Hosted;
use crate::kernel::state::Kernel;

/// A snapshot of a node's runtime, for monitoring (`NodeHandle::metrics`). Counters only
/// grow while the node lives; the rest is the state at the moment of the snapshot.
#[derive(Debug, Clone, Default)]
pub struct RuntimeMetrics {
    /// Live services (system ones included).
    pub services: usize,
    /// Of those, the runtime's own (the logger, ...).
    pub system_services: usize,
    /// Messages handled since the node started (by services still alive and ended ones).
    pub messages_handled: u64,
    /// Messages waiting in every mailbox.
    pub mailbox_total: usize,
    /// The longest mailbox.
    pub mailbox_longest: usize,
    /// Services whose mailbox keeps a 4 KiB queue block: ones that took a flood (64
    /// messages or more) and have not been idle long enough to give it back (see
    /// `NodeBuilder::idle_trim`).
    pub mailbox_blocks: usize,
    /// Services whose main task is waiting on a call (a call from `dispatch` or `init`).
    pub services_in_call: usize,
    /// Calls waiting for their reply (`Context::call`s sent and not ended), every task's.
    pub calls_in_flight: u64,
    /// Overload warnings logged (a mailbox past 1024, 2048, ...).
    pub overload_warnings: u64,
    /// Endless-loop reports (a service inside one message past the threshold).
    pub endless_reports: u64,
    /// Calls that ended in an error, by [`CallError::kind`], in [`CallError::KINDS`] order.
    pub call_errors: Vec<(&'static str, u64)>,
    /// Timers pending.
    pub timers_pending: usize,
    /// Time each worker spent running services (zero with `profile = false`).
    pub worker_busy: Vec<Duration>,
    /// Since the node started.
    pub uptime: Duration,
}

impl<S: Hosted + ?Sized> Kernel<S> {
    /// Counts a call started (`delta` 1) or ended (-1) on worker `worker` (None: another
    /// thread). A worker's counter is written by that worker only: a load and a store.
    #[inline]
    pub(crate) fn note_calls(&self, worker: Option<usize>, delta: i64) {
        match worker.and_then(|i| self.workers.get(i)) {
            Some(w) => {
                let n = w.calls.load(Ordering::Relaxed);
                w.calls.store(n.wrapping_add(delta), Ordering::Relaxed);
            }
            None => {
                self.counters
                    .calls_elsewhere
                    .fetch_add(delta, Ordering::Relaxed);
            }
        }
    }

    /// The node's [`RuntimeMetrics`] now.
    pub(crate) fn metrics(&self) -> RuntimeMetrics {
        let mut m = RuntimeMetrics::default();
        for cell in self.all_cells() {
            m.services += 1;
            m.system_services += usize::from(cell.system);
            m.messages_handled += cell.processed.load(Ordering::Relaxed);
            let len = cell.mailbox.len();
            m.mailbox_total += len;
            m.mailbox_longest = m.mailbox_longest.max(len);
            m.mailbox_blocks += usize::from(cell.mailbox.holds_block());
            m.services_in_call += usize::from(cell.waiting_on.load(Ordering::Relaxed) != 0);
        }
        let c = &self.counters;
        m.messages_handled += c.retired_messages.load(Ordering::Relaxed);
        m.overload_warnings = c.overload_warnings.load(Ordering::Relaxed);
        m.endless_reports = c.endless_reports.load(Ordering::Relaxed);
        m.call_errors = CallError::KINDS
            .iter()
            .zip(&c.call_errors)
            .map(|(k, n)| (*k, n.load(Ordering::Relaxed)))
            .collect();
        let started_minus_ended: i64 = self
            .workers
            .iter()
            .map(|w| w.calls.load(Ordering::Relaxed))
            .sum::<i64>()
            + c.calls_elsewhere.load(Ordering::Relaxed);
        m.calls_in_flight = u64::try_from(started_minus_ended).unwrap_or(0);
        m.timers_pending = self.timers.len();
        m.worker_busy = self
            .workers
            .iter()
            .map(|w| {
                self.turn_clock
                    .to_duration(w.busy_ticks.load(Ordering::Relaxed))
            })
            .collect();
        m.uptime = self.start.elapsed();
        m
    }
}
