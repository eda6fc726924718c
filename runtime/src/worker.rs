//! A worker thread: takes a runnable service, runs a turn of its messages, puts it back.

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use parking_lot::MutexGuard;

use crate::cell::{Body, Cell, KILL_DRAIN, KILL_NONE, KILL_SHUTDOWN};
use crate::error::CallError;
use crate::logger;
use crate::message::{Message, Ptype};
use crate::monitor::WorkerSlot;
use crate::node::NodeInner;
use crate::raw_context::{notify_launch, RawContext};
use crate::service::{ExitReason, InitStatus, RawService};

/// skynet's weight table: worker i takes `len >> weight` messages per turn (-1: one).
const WEIGHTS: [i8; 32] = [
    -1, -1, -1, -1, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3,
    3, 3,
];

/// The weight used by worker `index`.
pub(crate) fn weight(index: usize) -> i8 {
    WEIGHTS.get(index).copied().unwrap_or(0)
}

/// A worker thread's body.
pub(crate) fn worker_main(node: Arc<NodeInner>, index: usize, weight: i8) {
    node.run_queue.enter_worker();
    logger::enter_node(&node);
    let mut buf = VecDeque::new();
    let mut lifo_runs = 0;
    // One clock read per turn: a turn starts when the previous one ended, unless the worker
    // parked in between.
    let mut clock: Option<Instant> = None;
    loop {
        let mut parked = false;
        let Some(cell) = node.run_queue.next(&mut lifo_runs, &mut parked) else {
            break;
        };
        let started = match clock {
            Some(t) if !parked => t,
            _ => Instant::now(),
        };
        clock = Some(run_turn(
            &node,
            &node.workers[index],
            weight,
            cell,
            &mut buf,
            started,
        ));
    }
    if let Some(cell) = node.run_queue.leave_worker() {
        node.run_queue.push_global(cell);
    }
    logger::leave_node();
}

/// Runs one callback with the monitor told, the panic caught.
fn guarded<R>(slot: &WorkerSlot, addr: crate::Addr, f: impl FnOnce() -> R) -> Result<R, String> {
    slot.enter(addr);
    logger::set_current(addr);
    let r = catch_unwind(AssertUnwindSafe(f)).map_err(|p| panic_message(&*p));
    logger::set_current(crate::Addr::SYSTEM);
    slot.leave();
    r
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

/// Runs one turn of `cell`, begun at `started`; returns when it ended.
fn run_turn(
    node: &Arc<NodeInner>,
    slot: &WorkerSlot,
    weight: i8,
    cell: Arc<Cell>,
    buf: &mut VecDeque<Message>,
    started: Instant,
) -> Instant {
    let mut body = cell.body.lock();
    let requeue = run_locked(node, slot, weight, &cell, &mut body, buf);
    // Only the worker holding the body writes the statistics: a load and a store suffice.
    let ended = Instant::now();
    let spent = ended.saturating_duration_since(started).as_nanos() as u64;
    let cpu = cell.cpu_ns.load(Ordering::Relaxed);
    cell.cpu_ns
        .store(cpu.wrapping_add(spent), Ordering::Relaxed);
    drop(body);
    if requeue {
        node.run_queue.push_global(cell);
    }
    ended
}

/// Returns true when the service still has work and must go back to the run queue.
fn run_locked(
    node: &Arc<NodeInner>,
    slot: &WorkerSlot,
    weight: i8,
    cell: &Arc<Cell>,
    body: &mut MutexGuard<'_, Body>,
    buf: &mut VecDeque<Message>,
) -> bool {
    let addr = cell.addr;
    if body.svc.is_none() {
        return false; // retired while queued
    }
    if !body.started {
        body.started = true;
        let Some(svc) = body.svc.as_mut() else {
            return false;
        };
        let mut ctx = RawContext::new(node, cell);
        let status = guarded(slot, addr, || svc.init(&mut ctx));
        let exit = ctx.exit;
        match status {
            Ok(InitStatus::Ready) => notify_launch(node, cell, Ok(())),
            Ok(InitStatus::Pending) => {}
            Ok(InitStatus::Failed(why)) => {
                retire(node, cell, body, ExitReason::InitFailed(why), buf);
                return false;
            }
            Err(p) => {
                retire(node, cell, body, ExitReason::Panicked(p), buf);
                return false;
            }
        }
        if exit {
            retire(node, cell, body, ExitReason::Exit, buf);
            return false;
        }
    }
    loop {
        let kill = cell.kill.load(Ordering::SeqCst);
        match kill {
            KILL_NONE | KILL_DRAIN => {}
            KILL_SHUTDOWN => {
                retire(node, cell, body, ExitReason::Shutdown, buf);
                return false;
            }
            _ => {
                retire(node, cell, body, ExitReason::Killed, buf);
                return false;
            }
        }
        let (n, overload) = cell.mailbox.pop_batch(buf, weight);
        if let Some(len) = overload {
            log::warn!("service {addr} may overload, message queue length = {len}");
        }
        if n == 0 {
            if kill == KILL_DRAIN {
                retire(node, cell, body, ExitReason::Shutdown, buf);
            }
            return false; // mailbox empty: it is unscheduled now
        }
        let Some(svc) = body.svc.as_mut() else {
            return false;
        };
        while let Some(msg) = buf.pop_front() {
            let mut ctx = RawContext::new(node, cell);
            let r = if msg.ptype == Ptype::WAKE {
                guarded(slot, addr, || svc.wake(&mut ctx))
            } else {
                guarded(slot, addr, || svc.handle(&mut ctx, msg))
            };
            // Written only under the body lock (see run_turn): no read-modify-write needed.
            let done = cell.processed.load(Ordering::Relaxed);
            cell.processed
                .store(done.wrapping_add(1), Ordering::Relaxed);
            if let Err(p) = r {
                retire(node, cell, body, ExitReason::Panicked(p), buf);
                return false;
            }
            if ctx.exit {
                retire(node, cell, body, ExitReason::Exit, buf);
                return false;
            }
            if !matches!(cell.kill.load(Ordering::Relaxed), KILL_NONE | KILL_DRAIN) {
                break; // handled at the top of the loop, after buf is put back
            }
        }
        if !buf.is_empty() {
            // Killed mid-turn: the rest are answered by retire.
            continue;
        }
        if node.run_queue.others_waiting() {
            // Back of the queue if more is waiting; otherwise it is simply done.
            return cell.mailbox.end_turn();
        }
    }
}

/// Ends a service: closes its mailbox, runs its exit, answers everything queued for it with
/// an error, removes it from the node.
pub(crate) fn retire(
    node: &Arc<NodeInner>,
    cell: &Arc<Cell>,
    body: &mut MutexGuard<'_, Body>,
    reason: ExitReason,
    buf: &mut VecDeque<Message>,
) {
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
        logger::set_current(crate::Addr::SYSTEM);
        if let Err(p) = r {
            log::error!("service {addr} panicked in exit: {}", panic_message(&*p));
        }
    }
    for msg in buf.drain(..).chain(queued) {
        if msg.wants_reply() {
            node.send_error(addr, msg.source, msg.session, err.clone());
        }
    }
    let why = match &reason {
        ExitReason::InitFailed(w) => w.clone(),
        ExitReason::Panicked(p) => format!("panicked during init: {p}"),
        _ => "exited during init".to_string(),
    };
    notify_launch(node, cell, Err(why));
    cell.waiting_on.store(0, Ordering::SeqCst);
    node.unregister(cell);
}
