//! A worker thread: takes a runnable service, runs a turn of its messages, puts it back.

use std::mem::ManuallyDrop;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::base::{Addr, CallError, Ptype};
use crate::kernel::{Body, Runnable, WorkerSlot, KILL_DRAIN, KILL_NONE, KILL_SHUTDOWN};
use crate::raw::log_route as logger;
use crate::raw::sched_policy;
use crate::raw::service::{
    Cell, ExitReason, InitStatus, MessageRun, NodeInner, RawContext, RawService,
};

/// skynet's weight table: worker i takes `len >> weight` messages per turn (-1: one).
const WEIGHTS: [i8; 32] = [
    -1, -1, -1, -1, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3,
    3, 3,
];

/// The weight used by worker `index`.
pub(crate) fn weight(index: usize) -> i8 {
    WEIGHTS.get(index).copied().unwrap_or(0)
}

thread_local! {
    /// The node (its address) and the index of the worker this thread is ((0, 0): not a
    /// worker).
    static WORKER_OF: std::cell::Cell<(usize, usize)> = const { std::cell::Cell::new((0, 0)) };
}

/// The index of the worker the calling thread is, if it is one of `node`'s.
#[inline]
pub(crate) fn current_worker(node: &NodeInner) -> Option<usize> {
    let (of, index) = WORKER_OF.with(|w| w.get());
    (of == node as *const NodeInner as usize).then_some(index)
}

/// A worker thread's body.
/// `profile`: measure each turn's time into the service's CPU statistic; `batch`: enter the
/// `SCHED_BATCH` policy (`sched.rs`).
pub(crate) fn worker_main(
    node: Arc<NodeInner>,
    index: usize,
    weight: i8,
    profile: bool,
    batch: bool,
) {
    WORKER_OF.with(|w| w.set((Arc::as_ptr(&node) as usize, index)));
    node.run_queue.enter_worker(index);
    logger::enter_node(&node);
    if batch {
        if let Err(e) = sched_policy::enter_batch_policy() {
            // Every worker fails alike: one line says it.
            if index == 0 {
                log::warn!("workers keep the default scheduling policy: SCHED_BATCH: {e}");
            }
        }
    }
    let mut lifo_runs = 0;
    // One clock read per turn: a turn starts when the previous one ended, unless the worker
    // parked in between.
    let mut clock: Option<u64> = None;
    loop {
        let mut parked = false;
        let Some(entry) = node.run_queue.next(&mut lifo_runs, &mut parked) else {
            break;
        };
        let started = match clock {
            _ if !profile => None,
            Some(t) if !parked => Some(t),
            _ => Some(node.turn_clock.ticks()),
        };
        clock = run_turn(&node, &node.workers[index], weight, entry, started);
    }
    if let Some(entry) = node.run_queue.leave_worker() {
        node.run_queue.push_global(entry);
    }
    logger::leave_node();
}

/// Runs one callback with the monitor told (on a worker), the panic caught. `f` runs exactly
/// once (the worker's message hand-off relies on it).
fn guarded<R>(slot: Option<&WorkerSlot>, addr: Addr, f: impl FnOnce() -> R) -> Result<R, String> {
    if let Some(slot) = slot {
        slot.enter(addr);
    }
    logger::set_current(addr);
    let r = catch_unwind(AssertUnwindSafe(f)).map_err(|p| panic_message(&*p));
    logger::set_current(Addr::SYSTEM);
    if let Some(slot) = slot {
        slot.leave();
    }
    r
}

/// Runs a new service's `init` (its first turn). False when the service ended there
/// (failed, panicked or exited): it is retired.
fn start(
    node: &Arc<NodeInner>,
    slot: Option<&WorkerSlot>,
    cell: &Arc<Cell>,
    body: &mut Body<dyn RawService>,
) -> bool {
    body.started = true;
    let Some(svc) = body.svc.as_mut() else {
        return false;
    };
    let mut ctx = RawContext::new(node, cell);
    let status = guarded(slot, cell.addr, || svc.init(&mut ctx));
    let exit = ctx.exit;
    let ended = match status {
        Ok(InitStatus::Ready) => {
            node.notify_launch(cell, Ok(()));
            None
        }
        Ok(InitStatus::Pending) => None,
        Ok(InitStatus::Failed(why)) => Some(ExitReason::InitFailed(why)),
        Err(p) => Some(ExitReason::Panicked(p)),
    };
    match ended.or(exit.then_some(ExitReason::Exit)) {
        Some(reason) => {
            retire(node, cell, body, reason);
            false
        }
        None => true,
    }
}

/// Starts a service made by [`Kernel::spawn_unqueued`](crate::kernel::Kernel) on the calling
/// thread, one outside the node's workers (a launch from `main`): its `init` runs here, then
/// it joins the run queue if messages wait for it. The launcher is told without a
/// cross-thread wake-up on either side (a launch from outside cost ten times one from
/// inside). Log lines of the `init` go to the node's logger as from a worker.
pub(crate) fn start_here(node: &Arc<NodeInner>, cell: Arc<Cell>) {
    let _entered = logger::EnteredNode::enter(node);
    // A cell made by `spawn_unqueued` starts scheduled and is in no run queue: its creator,
    // the caller, holds the run token (see `BodyCell`) until `try_idle` or `push_global`
    // below hands it over, and the body is not touched after.
    let body = cell.body.get();
    // SAFETY: this thread holds the run token (above); the reference ends with `start`.
    if !start(node, None, &cell, unsafe { &mut *body }) {
        return;
    }
    // SAFETY: the token is still ours; `body` is the cell's and not used after a hand-back.
    let idle = unsafe {
        (*body).pending.is_empty() && cell.mailbox.try_idle(&raw mut (*body).pending, false)
    };
    if !idle {
        // SAFETY: the token goes to the run queue with the entry; the service did not
        // retire (`start`), so it is still registered.
        node.run_queue.push_global(unsafe { Runnable::new(&cell) });
    }
}

pub(crate) fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-string payload".to_string()
    }
}

/// A turn's CPU accounting (profile on): the time since `last` goes to the service and the
/// worker at each point where the turn may end, before the run token is handed back (after
/// that another worker may be running the service and writing its statistics).
struct TurnCharge<'a> {
    node: &'a NodeInner,
    slot: &'a WorkerSlot,
    last: Option<u64>,
}

impl TurnCharge<'_> {
    /// Charges the time since the last charge to `cell` and the worker.
    #[inline]
    fn charge(&mut self, cell: &Cell) {
        let Some(last) = self.last else {
            return;
        };
        let now = self.node.turn_clock.ticks();
        let spent = now.saturating_sub(last);
        // Only the run token's holder writes the statistics: a load and a store suffice.
        let cpu = cell.cpu_ticks.load(Ordering::Relaxed);
        cell.cpu_ticks
            .store(cpu.wrapping_add(spent), Ordering::Relaxed);
        let busy = self.slot.busy_ticks.load(Ordering::Relaxed);
        self.slot
            .busy_ticks
            .store(busy.wrapping_add(spent), Ordering::Relaxed);
        self.last = Some(now);
    }
}

/// Runs one turn of the service `entry` stands for, begun at `started` (None: not
/// profiling); returns when it ended.
fn run_turn(
    node: &Arc<NodeInner>,
    slot: &WorkerSlot,
    weight: i8,
    entry: Runnable<dyn RawService>,
    started: Option<u64>,
) -> Option<u64> {
    // SAFETY: the entry came from the run queue, so this worker holds the service's run
    // token; `cell` is used only by `run_locked`, which returns false once it handed the
    // token back or retired the service, and then neither `cell` nor `entry` is touched.
    let cell = unsafe { entry.enter() };
    // `run_locked` gets the body as a pointer, not a reference: a reference argument would
    // still be live while the next holder writes the body.
    let body = cell.body.get();
    let mut clock = TurnCharge {
        node,
        slot,
        last: started,
    };
    if run_locked(node, slot, weight, &cell, body, &mut clock) {
        node.run_queue.push_global(entry); // the token goes with it
    }
    clock.last
}

/// Returns true when the service still has work and must go back to the run queue (the
/// caller keeps the run token until it queues the service). False when the token was handed
/// back or the service retired: then the service must not be touched again. `cell` is
/// the caller's view of the service (see [`Runnable::enter`]), `body` its body; the caller
/// holds the run token.
fn run_locked(
    node: &Arc<NodeInner>,
    slot: &WorkerSlot,
    weight: i8,
    cell: &Arc<Cell>,
    body: *mut Body<dyn RawService>,
    clock: &mut TurnCharge<'_>,
) -> bool {
    let addr = cell.addr;
    {
        // SAFETY: the token is ours (the caller's contract); the reference ends here.
        let b = unsafe { &mut *body };
        if b.svc.is_none() {
            return false; // retired (a retired service is never queued again)
        }
        if !b.started && !start(node, Some(slot), cell, b) {
            return false; // retired (an init is not charged to the turn)
        }
    }
    // A TRIM message came this turn: it ends as a cold service's does.
    let mut trim = false;
    loop {
        // SAFETY: the token is ours at the top of each round (every hand-back returns); this
        // reference is not used after a hand-back below.
        let b = unsafe { &mut *body };
        let kill = cell.kill.load(Ordering::SeqCst);
        match kill {
            KILL_NONE | KILL_DRAIN => {}
            KILL_SHUTDOWN => {
                clock.charge(cell);
                retire(node, cell, b, ExitReason::Shutdown);
                return false;
            }
            _ => {
                clock.charge(cell);
                retire(node, cell, b, ExitReason::Killed);
                return false;
            }
        }
        let cold = trim || is_cold(cell);
        // SAFETY: the token is ours, and stays ours through a refill.
        let batch = unsafe { cell.mailbox.refill(&raw mut b.pending, weight, cold) };
        if batch.drained {
            if let Some(wake) = cell.drain_wake.lock().take() {
                wake();
            }
        }
        if let Some(len) = batch.overload {
            log::warn!("service {addr} may overload, message queue length = {len}");
            node.counters
                .overload_warnings
                .fetch_add(1, Ordering::Relaxed);
        }
        if batch.n == 0 {
            // Nothing waits. The turn is charged before the token may go; a service being
            // drained at shutdown retires now; a cold one gives back its buffers.
            clock.charge(cell);
            if kill == KILL_DRAIN {
                retire(node, cell, b, ExitReason::Shutdown);
                return false;
            }
            if cold {
                release_idle(b);
            }
            // SAFETY: the token is ours; `b` is not used after a hand-back (true).
            if unsafe { cell.mailbox.try_idle(&raw mut b.pending, cold) } {
                return false; // handed back: the last touch of the service
            }
            continue; // a message came meanwhile: the token stays ours
        }
        let Some(svc) = b.svc.as_mut() else {
            return false;
        };
        let mut ended = None;
        let mut handled = 0;
        while handled < batch.n {
            // SAFETY: the token is ours, and `pending` is the body's buffer.
            let Some(next) = (unsafe { cell.mailbox.take(&raw mut b.pending) }) else {
                break;
            };
            // The callbacks below take the message out of `next` through a reference and
            // nothing else touches it: moved into the closure, it was copied twice more
            // (into the closure, then into `catch_unwind`'s frame), the first copy waiting
            // on the store buffer (the match above leaves its first word apart from the
            // rest): 3-5% of a call round trip.
            let mut next = ManuallyDrop::new(next);
            let (r, n, exit) = if next.ptype == Ptype::WAKE {
                // SAFETY: `next` is dropped here, once, and not touched again.
                unsafe { ManuallyDrop::drop(&mut next) };
                let mut ctx = RawContext::new(node, cell);
                let r = guarded(Some(slot), addr, || svc.wake(&mut ctx));
                (r, 1, ctx.exit)
            } else if next.ptype == Ptype::TRIM {
                // Idle a while (the monitor's judgement): the turn ends as a cold one's,
                // giving back the mailbox block and the buffers. The service sees nothing.
                // SAFETY: `next` is dropped here, once, and not touched again.
                unsafe { ManuallyDrop::drop(&mut next) };
                trim = true;
                (Ok(()), 1, false)
            } else if b.pending.is_empty()
                // SAFETY: the token is ours.
                && !unsafe { cell.mailbox.has_queued() }
            {
                // Nothing follows in the batch (a call's request or reply, usually).
                let mut ctx = RawContext::new(node, cell);
                // SAFETY: `guarded` runs the closure exactly once, which takes `next` once
                // and first thing; `next` is not touched again (a panic in `handle` drops
                // the message there, as the callee's own value).
                let r = guarded(Some(slot), addr, || {
                    svc.handle(&mut ctx, unsafe { ManuallyDrop::take(&mut next) })
                });
                (r, 1, ctx.exit)
            } else {
                // The rest of the batch rides along: an async service's `dispatch` loop
                // may take more messages from it (past `batch.n` while no other service
                // waits, as this loop would).
                let mut run = MessageRun::new(&mut b.pending, node, cell, batch.n - handled);
                let mut ctx = RawContext::with_run(node, cell, &mut run);
                // SAFETY: `guarded` runs the closure exactly once, which takes `next` once
                // and first thing; `next` is not touched again (a panic in `handle` drops
                // the message there, as the callee's own value).
                let r = guarded(Some(slot), addr, || {
                    svc.handle(&mut ctx, unsafe { ManuallyDrop::take(&mut next) })
                });
                let exit = ctx.exit;
                (r, run.taken(), exit)
            };
            handled += n;
            // Written only by the run token's holder: no read-modify-write needed.
            let done = cell.processed.load(Ordering::Relaxed);
            cell.processed
                .store(done.wrapping_add(n as u64), Ordering::Relaxed);
            if let Err(p) = r {
                ended = Some(ExitReason::Panicked(p));
                break;
            }
            if exit {
                ended = Some(ExitReason::Exit);
                break;
            }
            if !matches!(cell.kill.load(Ordering::Relaxed), KILL_NONE | KILL_DRAIN) {
                break; // handled at the top of the loop; the rest stay pending
            }
        }
        if let Some(reason) = ended {
            clock.charge(cell);
            retire(node, cell, b, reason);
            return false;
        }
        if node.run_queue.others_waiting() {
            // Back of the queue if more is waiting; otherwise it is simply done.
            clock.charge(cell);
            if !b.pending.is_empty() {
                return true;
            }
            let cold = trim || is_cold(cell);
            if cold {
                release_idle(b);
            }
            // SAFETY: the token is ours; `b` is not used after (either way we return).
            return !unsafe { cell.mailbox.try_idle(&raw mut b.pending, cold) };
        }
    }
}

/// A service that has handled fewer messages than this frees its empty buffers each time
/// its turn runs out of messages; busier ones keep them (no allocation per message in a hot
/// exchange).
const COLD_MESSAGES: u64 = 64;

/// True for a service that has handled few messages (a held connection's agent).
fn is_cold(cell: &Cell) -> bool {
    cell.processed.load(Ordering::Relaxed) < COLD_MESSAGES
}

/// Gives back the spare capacity of a cold service's empty buffers (its mailbox's shared
/// queue is freed by `refill`): 10,000 quiet agents otherwise pin ~0.7 KB
/// each. Done while the worker still holds the run token, just before it hands it back
/// (at the end of a turn, a message may still be queued meanwhile: then this was early,
/// and harmless).
fn release_idle(body: &mut Body<dyn RawService>) {
    if body.pending.capacity() > 0 {
        body.pending = std::collections::VecDeque::new();
    }
    if let Some(svc) = body.svc.as_mut() {
        svc.release_idle();
    }
}

/// Ends a service: closes its mailbox, runs its exit, answers everything queued for it with
/// an error, removes it from the node.
pub(crate) fn retire(
    node: &Arc<NodeInner>,
    cell: &Arc<Cell>,
    body: &mut Body<dyn RawService>,
    reason: ExitReason,
) {
    // The handle table's `Arc` goes in `unregister` below, and the worker's view of the
    // cell is borrowed (see `Runnable::enter`): this one keeps the cell, and `body` in it,
    // alive to the end.
    let cell = &Arc::clone(cell);
    let addr = cell.addr;
    let err = match &reason {
        ExitReason::Panicked(_) => CallError::Panicked(addr),
        _ => CallError::Dead(addr),
    };
    *cell.exit_error.lock() = Some(err.clone());
    cell.retired.store(true, Ordering::SeqCst);
    let queued = cell.mailbox.close();
    match &reason {
        ExitReason::Panicked(p) => log::error!("service {addr} panicked: {p}"),
        ExitReason::InitFailed(why) => log::error!("service {addr} failed to start: {why}"),
        ExitReason::Killed => log::info!("service {addr} killed"),
        ExitReason::Exit | ExitReason::Shutdown => log::debug!("service {addr} exited"),
    }
    if let Some(mut svc) = body.svc.take() {
        let mut ctx = RawContext::new(node, cell);
        logger::set_current(addr);
        let r = catch_unwind(AssertUnwindSafe(|| {
            svc.exit(&mut ctx, &reason);
            drop::<Box<dyn RawService>>(svc);
        }));
        logger::set_current(Addr::SYSTEM);
        if let Err(p) = r {
            log::error!("service {addr} panicked in exit: {}", panic_message(&*p));
        }
    }
    // Older messages (taken from the queue, not handled) first, then the rest.
    let pending = std::mem::take(&mut body.pending);
    for msg in pending.into_iter().chain(queued) {
        if msg.wants_reply() {
            node.send_error(addr, msg.source, msg.session, err.clone());
        }
    }
    let why = match &reason {
        ExitReason::InitFailed(w) => w.clone(),
        ExitReason::Panicked(p) => format!("panicked during init: {p}"),
        _ => "exited during init".to_string(),
    };
    node.notify_launch(cell, Err(why));
    cell.waiting_on.store(0, Ordering::SeqCst);
    node.unregister(cell);
}
