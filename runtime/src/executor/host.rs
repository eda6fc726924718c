//! The per-service executor: runs a [`Service`] on top of the raw callback layer.
//!
//! Each service owns one small executor, run only by the worker that holds the service, so
//! nothing in it is ever contended. It has a *main task*, which feeds messages to `dispatch`
//! one at a time, and any number of *forks*. Replies, errors and timer expiries are routed by
//! session to the future waiting for them, never to `dispatch`.
//!
//! ```text
//!   mailbox ──► AsyncHost::handle ──┬─ RESPONSE/ERROR with a waiting session ─► that future
//!                                   ├─ intercepted ptype (socket, ...) ─► library handler
//!                                   └─ everything else ─► inbox ─► main task ─► dispatch
//! ```

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::task::{Context as TaskContext, Poll, Waker};

use parking_lot::Mutex;
use slab::Slab;

use crate::base::{Message, Ptype};
use crate::executor::service::Service;
use crate::executor::shared::{
    BoxFuture, Context, Delivered, HostShared, HostState, Local, OwnerCell, OwnerGuard, RunPtr,
    TaskWaker, FAST_DIRTY, FAST_HOST, MAIN,
};
use crate::raw::{ExitReason, InitStatus, RawContext, RawService};

/// Runs a [`Service`] as a [`RawService`].
pub(crate) struct AsyncHost<S: Service> {
    svc: Arc<Mutex<S>>,
    shared: Option<Arc<HostShared>>,
    main: Option<(BoxFuture, Waker)>,
    forks: Slab<(BoxFuture, Waker)>,
    /// The init outcome went to the raw layer: messages may take the lock-free path.
    init_reported: bool,
}

impl<S: Service> AsyncHost<S> {
    pub(crate) fn new(svc: S) -> AsyncHost<S> {
        AsyncHost {
            svc: Arc::new(Mutex::new(svc)),
            shared: None,
            main: None,
            forks: Slab::new(),
            init_reported: false,
        }
    }

    fn waker(shared: &Arc<HostShared>, task: usize) -> Waker {
        Waker::from(Arc::new(TaskWaker {
            host: Arc::downgrade(shared),
            task,
        }))
    }

    /// Polls every ready task until none is ready, starting with `first` if given (a task
    /// the caller took as ready under its own lock). `running` says whether the caller has
    /// already marked the host running. Returns what `report` needs, read under the same
    /// final lock: the init outcome (once) and whether the service asked to exit.
    fn run_ready(
        &mut self,
        mut first: Option<usize>,
        running: bool,
    ) -> (Option<Result<(), String>>, bool) {
        let Some(shared) = self.shared.as_ref() else {
            return (None, false);
        };
        if !running {
            shared.state.lock().running = true;
        }
        loop {
            let task = match first.take() {
                Some(t) => t,
                None => {
                    let mut guard = shared.state.lock();
                    let st = &mut *guard;
                    for fut in st.spawned.drain(..) {
                        let key = self.forks.vacant_key();
                        let waker = Self::waker(shared, key);
                        self.forks.insert((fut, waker));
                        st.ready.push_back(key);
                    }
                    match st.ready.pop_front() {
                        Some(t) if !st.exit_requested => t,
                        _ => {
                            st.running = false;
                            st.wake_posted = false;
                            let outcome = st.init_outcome.take();
                            if outcome.is_some() {
                                self.init_reported = true;
                            }
                            return (outcome, st.exit_requested);
                        }
                    }
                }
            };
            if task == MAIN {
                if let Some((fut, waker)) = self.main.as_mut() {
                    let mut cx = TaskContext::from_waker(waker);
                    if fut.as_mut().poll(&mut cx).is_ready() {
                        // The main task ends only when init failed or the service exits.
                        self.main = None;
                        shared.request_exit();
                    }
                }
            } else if let Some((fut, waker)) = self.forks.get_mut(task) {
                let mut cx = TaskContext::from_waker(waker);
                if fut.as_mut().poll(&mut cx).is_ready() {
                    drop(self.forks.remove(task));
                }
            }
        }
    }

    /// Queues a message for the main task; true when the main task was idle (it must be
    /// made ready).
    fn to_inbox(shared: &HostShared, msg: Message) -> bool {
        // SAFETY: called only from `AsyncHost::handle`, on the worker running the service,
        // outside any poll.
        unsafe {
            shared.local.with(|l| {
                l.inbox.push_back(msg);
                std::mem::replace(&mut l.main_idle, false)
            })
        }
    }

    /// Polls the main task when it alone is ready (a message just queued for it while it
    /// was idle, or the reply to its call), without taking the state lock and without
    /// marking the host running: wakes and forks of this host from this thread
    /// are noted in `FAST_DIRTY` (see `needs_post`), from other threads they post a WAKE as
    /// for an idle host. Anything left to do afterwards goes through `run_ready`.
    fn poll_main_fast(&mut self, ctx: &mut RawContext<'_>) {
        let Some(shared) = self.shared.as_ref() else {
            return;
        };
        /// Restores `FAST_HOST` even if the poll panics.
        struct FastGuard(usize);
        impl Drop for FastGuard {
            fn drop(&mut self) {
                FAST_HOST.with(|h| h.set(self.0));
            }
        }
        let ended = {
            let _guard = FastGuard(FAST_HOST.with(|h| h.replace(Arc::as_ptr(shared) as usize)));
            FAST_DIRTY.with(|d| d.set(false));
            match self.main.as_mut() {
                Some((fut, waker)) => {
                    let mut cx = TaskContext::from_waker(waker);
                    fut.as_mut().poll(&mut cx).is_ready()
                }
                None => false,
            }
        };
        let dirty = FAST_DIRTY.with(|d| d.replace(false));
        if ended {
            // The main task ends only when the service exits.
            self.main = None;
            shared.request_exit();
        }
        // Before init is reported, this poll may have finished it: `run_ready` reports it.
        if ended || dirty || !self.init_reported || shared.exit_flag.load(Ordering::Relaxed) {
            let done = self.run_ready(None, false);
            Self::report(ctx, done);
        }
    }

    /// Reports init completion and exit requests to the raw layer.
    fn report(ctx: &mut RawContext<'_>, (outcome, exit): (Option<Result<(), String>>, bool)) {
        if let Some(outcome) = outcome {
            ctx.init_done(outcome);
        }
        if exit {
            ctx.exit();
        }
    }

    // The service lock is held across `init`/`dispatch` awaits on purpose: it is what gives
    // `dispatch` its `&mut self`. Nothing else takes it while the main task lives (`exit`
    // locks it only after the task is dropped), so it is never contended.
    #[allow(clippy::await_holding_lock)]
    fn main_task(svc: Arc<Mutex<S>>, mut ctx: Context) -> BoxFuture {
        Box::pin(async move {
            // Locked once for the task's life, not once per message.
            let mut s = svc.lock();
            let init = s.init(&mut ctx).await;
            let ok = init.is_ok();
            ctx.shared.state.lock().init_outcome = Some(init.map_err(|e| e.to_string()));
            if !ok {
                return;
            }
            loop {
                let msg = NextMessage { ctx: &ctx }.await;
                ctx.begin_request(&msg);
                s.dispatch(&mut ctx, msg).await;
                ctx.end_request();
            }
        })
    }
}

/// Whether `msg` goes straight to the main task's inbox (the common case: no lock, no
/// interceptor): not a reply, not a debug ping, not an error, and no library intercepts
/// messages. The host must have reported its init.
#[inline]
fn for_dispatch(shared: &HostShared, msg: &Message) -> bool {
    msg.ptype != Ptype::RESPONSE
        && msg.ptype != Ptype::ERROR
        && msg.ptype != Ptype::DEBUG
        && !shared.has_intercepts.load(Ordering::Relaxed)
}

/// Resolves with the next message for `dispatch`.
struct NextMessage<'a> {
    ctx: &'a Context,
}

impl Future for NextMessage<'_> {
    type Output = Message;
    #[inline(always)]
    fn poll(self: Pin<&mut Self>, _cx: &mut TaskContext<'_>) -> Poll<Message> {
        let shared = &self.ctx.shared;
        let exiting = shared.exit_flag.load(Ordering::Relaxed);
        // SAFETY: NextMessage is awaited only by the main task, which only `run_ready` and
        // `AsyncHost::handle` poll, on the worker running the service, holding no other
        // borrow of `local` while they poll.
        unsafe {
            shared.local.with(
                #[inline(always)]
                |l| {
                    if !exiting {
                        if let Some(m) = l.inbox.pop_front() {
                            return Poll::Ready(m);
                        }
                        if let Some(RunPtr(mut run)) = l.run {
                            // `handle` set this pointer to the worker's run, which outlives
                            // the poll we are in, and clears it before returning (covered by
                            // the SAFETY argument above: the worker running the service,
                            // inside that call).
                            let run = run.as_mut();
                            if let Some(m) = run.next_if(|m| for_dispatch(shared, m)) {
                                return Poll::Ready(m);
                            }
                        }
                    }
                    // The host re-queues MAIN when a message arrives; no waker needed.
                    l.main_idle = true;
                    Poll::Pending
                },
            )
        }
    }
}

impl<S: Service> RawService for AsyncHost<S> {
    fn init(&mut self, ctx: &mut RawContext<'_>) -> InitStatus {
        let shared = Arc::new_cyclic(|weak: &Weak<HostShared>| HostShared {
            addr: ctx.self_addr(),
            node: ctx.node.clone(),
            cell: ctx.cell.clone(),
            main_waker: Waker::from(Arc::new(TaskWaker {
                host: weak.clone(),
                task: MAIN,
            })),
            local: OwnerCell::new(Local {
                inbox: VecDeque::new(),
                main_idle: false,
                pending: Default::default(),
                callbacks: Slab::new(),
                dest: Default::default(),
                run: None,
            }),
            exit_flag: AtomicBool::new(false),
            has_intercepts: AtomicBool::new(false),
            state: Mutex::new(HostState {
                ready: VecDeque::from([MAIN]),
                spawned: Vec::new(),
                running: false,
                wake_posted: false,
                exit_requested: false,
                init_outcome: None,
                intercepts: Vec::new(),
                locals: Vec::new(),
            }),
        });
        let main_ctx = Context::new(shared.clone(), true);
        self.main = Some((
            Self::main_task(self.svc.clone(), main_ctx),
            shared.main_waker.clone(),
        ));
        let _owner = OwnerGuard::enter(&shared);
        self.shared = Some(shared);
        let (outcome, exit) = self.run_ready(None, false);
        match outcome {
            Some(Ok(())) if exit => {
                ctx.exit();
                InitStatus::Ready
            }
            Some(Ok(())) => InitStatus::Ready,
            Some(Err(why)) => InitStatus::Failed(why),
            None if exit => InitStatus::Failed("exited during init".into()),
            None => InitStatus::Pending,
        }
    }

    fn handle(&mut self, ctx: &mut RawContext<'_>, msg: Message) {
        let Some(shared) = self.shared.as_ref() else {
            return;
        };
        let _owner = OwnerGuard::enter(shared);
        let is_reply =
            (msg.ptype == Ptype::RESPONSE || msg.ptype == Ptype::ERROR) && msg.session != 0;
        if self.init_reported && for_dispatch(shared, &msg) {
            // The common case, a message for `dispatch`: no lock at all. The rest of the
            // worker's batch goes with it: the main task takes the next messages from there
            // while they are for `dispatch` and it does not stop to wait.
            let run = ctx.run.map(RunPtr);
            // SAFETY: we are in `AsyncHost::handle` (`&mut self`), on the worker running the
            // service; nothing else borrows `local` now.
            let idle = unsafe {
                shared.local.with(|l| {
                    l.inbox.push_back(msg);
                    let idle = std::mem::replace(&mut l.main_idle, false);
                    if idle {
                        l.run = run;
                    }
                    idle
                })
            };
            if idle {
                /// Takes the run away from the main task even if the poll panics.
                struct RunGuard(*const HostShared);
                impl Drop for RunGuard {
                    fn drop(&mut self) {
                        // SAFETY: the pointer is `self.shared`'s, which `handle` keeps for
                        // its whole call (only `init` and `exit` replace it); we are in
                        // `handle`, on the worker running the service, after the poll:
                        // nothing else borrows `local`.
                        unsafe { (*self.0).local.with(|l| l.run = None) };
                    }
                }
                let _run = RunGuard(&**shared);
                self.poll_main_fast(ctx);
            }
            // Otherwise the main task is inside `dispatch`; it takes the message after.
            return;
        }
        // Every other path marks the host running (wakes from then on are picked up by
        // run_ready below), in the same lock as its own work. `first` is a task that lock
        // found to be the only one ready: polled at once.
        let mut first = None;
        if is_reply {
            match shared.deliver(msg) {
                Delivered::ToFuture(Some(_)) => {
                    // The main task alone is ready (its call was answered).
                    self.poll_main_fast(ctx);
                    return;
                }
                Delivered::ToFuture(None) => {}
                Delivered::Callback(cb) => cb(Context::new(shared.clone(), false)),
                Delivered::Nobody => {
                    log::trace!("{}: dropped a reply nobody waits for", shared.addr);
                }
            }
        } else if msg.ptype == Ptype::DEBUG && msg.payload.is::<crate::base::DebugPing>() {
            shared.state.lock().running = true;
            // The debug console's `ping`: answered by the executor, not by `dispatch`.
            if msg.session != 0 {
                let _ = ctx.send(
                    msg.source,
                    Ptype::RESPONSE,
                    msg.session,
                    crate::base::Payload::Empty,
                );
            }
        } else if msg.ptype == Ptype::ERROR {
            // ERROR with session 0: nothing waits on it here.
            shared.state.lock().running = true;
        } else {
            let intercepted = {
                let mut guard = shared.state.lock();
                let st = &mut *guard;
                st.running = true;
                let handler = st
                    .intercepts
                    .iter()
                    .find(|(p, _)| *p == msg.ptype)
                    .map(|(_, h)| h.clone());
                match handler {
                    Some(h) => Some((h, msg)),
                    None => {
                        if Self::to_inbox(shared, msg) {
                            first = st.push_ready(MAIN);
                        }
                        None
                    }
                }
            };
            if let Some((h, msg)) = intercepted {
                if let Some(msg) = h(&Context::new(shared.clone(), false), msg) {
                    if Self::to_inbox(shared, msg) {
                        first = shared.state.lock().push_ready(MAIN);
                    }
                }
            }
        }
        let done = self.run_ready(first, true);
        Self::report(ctx, done);
    }

    fn release_idle(&mut self) {
        if self.forks.is_empty() && self.forks.capacity() > 0 {
            self.forks = Slab::new();
        }
        let Some(shared) = self.shared.as_ref() else {
            return;
        };
        // SAFETY: in an `AsyncHost` method (`&mut self`), on the worker running the service
        // (the runtime calls this holding the run token); nothing else borrows `local` now.
        let forgotten = unsafe {
            shared.local.with(|l| {
                if l.inbox.is_empty() && l.inbox.capacity() > 0 {
                    l.inbox = VecDeque::new();
                }
                l.pending.release_idle();
                if l.callbacks.is_empty() && l.callbacks.capacity() > 0 {
                    l.callbacks = Slab::new();
                }
                std::mem::take(&mut l.dest)
            })
        };
        // The remembered destination's cell, dropped outside the borrow.
        drop(forgotten);
        let mut st = shared.state.lock();
        if st.ready.is_empty() && st.ready.capacity() > 0 {
            st.ready = VecDeque::new();
        }
        if st.spawned.is_empty() && st.spawned.capacity() > 0 {
            st.spawned = Vec::new();
        }
    }

    fn wake(&mut self, ctx: &mut RawContext<'_>) {
        let _owner = self.shared.as_deref().map(OwnerGuard::enter);
        let done = self.run_ready(None, false);
        Self::report(ctx, done);
    }

    fn exit(&mut self, ctx: &mut RawContext<'_>, _reason: &ExitReason) {
        // Dropping the tasks answers every request they held (responders, the current
        // request of `dispatch`) with the exit error, and cancels their timers.
        let _owner = self.shared.as_deref().map(OwnerGuard::enter);
        self.main = None;
        self.forks.clear();
        let Some(shared) = self.shared.take() else {
            return;
        };
        // SAFETY: in `AsyncHost::exit` (`&mut self`), on the worker running the service; the
        // tasks are dropped (their `Drop`s ran above, outside this borrow).
        let (pending, callbacks) = unsafe {
            shared.local.with(|l| {
                (
                    std::mem::take(&mut l.pending),
                    std::mem::take(&mut l.callbacks),
                )
            })
        };
        // Dropped outside the borrow: a reply or a timeout function may own anything.
        drop((pending, callbacks));
        let spawned = {
            let mut st = shared.state.lock();
            st.intercepts.clear();
            st.locals.clear();
            std::mem::take(&mut st.spawned)
        };
        drop(spawned);
        // SAFETY: in `AsyncHost::exit` (`&mut self`), on the worker running the service; the
        // main task is already dropped.
        let inbox = unsafe { shared.local.with(|l| std::mem::take(&mut l.inbox)) };
        {
            let mut exit_ctx = Context::new(shared.clone(), false);
            let mut s = self.svc.lock();
            s.exit(&mut exit_ctx);
        }
        let err = shared.unanswered_error();
        for m in inbox {
            if m.wants_reply() {
                ctx.node
                    .send_error(shared.addr, m.source, m.session, err.clone());
            }
        }
    }
}
