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

use std::any::{Any, TypeId};
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::hash::{BuildHasherDefault, Hasher};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::task::{Context as TaskContext, Poll, Wake, Waker};

use parking_lot::Mutex;
use slab::Slab;

use crate::addr::Addr;
use crate::cell::Cell;
use crate::context::Context;
use crate::error::CallError;
use crate::message::{Message, Ptype};
use crate::node::{wake_message, NodeInner};
use crate::raw_context::RawContext;
use crate::service::{ExitReason, InitStatus, RawService, Service};

pub(crate) type BoxFuture = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// A library's handler for one protocol (the socket API takes SOCKET messages this way).
/// Returns the message back to have it dispatched normally.
pub type Interceptor = Arc<dyn Fn(&Context, Message) -> Option<Message> + Send + Sync>;

const MAIN: usize = usize::MAX;

/// Sessions (and service handles) are small consecutive integers. The hash keeps them in
/// its low bits, so consecutive keys land in consecutive buckets (100,000 timeouts set in a
/// row are written to memory in order, not at random: no cache miss per insert), and puts a
/// multiply's top bits in its top 7 bits, which hashbrown uses as the control byte (with an
/// identity hash every control byte would be equal and every probe would compare keys).
#[derive(Default)]
pub(crate) struct SessionHasher(u64);

impl Hasher for SessionHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 << 8) | u64::from(*b);
        }
    }
    fn write_i32(&mut self, i: i32) {
        self.write_u32(i as u32);
    }
    fn write_u32(&mut self, i: u32) {
        let x = u64::from(i);
        self.0 = x ^ (x.wrapping_mul(0x9e37_79b9_7f4a_7c15) & 0xFE00_0000_0000_0000);
    }
}

/// The session a timeout's expiry carries for callback `key`: `-1 - key` (never 0 nor a
/// positive, call-style session). None beyond `i32::MIN`.
fn callback_session(key: usize) -> Option<i32> {
    i32::try_from(key).ok().map(|k| -1 - k)
}

/// The callback key of a timeout's session (the inverse of [`callback_session`]).
fn callback_key(session: i32) -> Option<usize> {
    if session < 0 {
        usize::try_from(-1 - i64::from(session)).ok()
    } else {
        None
    }
}

/// Who to wake when a session is answered.
#[derive(Default)]
pub(crate) enum Waiter {
    /// Nobody has polled yet.
    #[default]
    None,
    /// The main task, polled with its own waker: the reply re-queues it directly, with no
    /// waker clone and no second lock.
    Main,
    /// Any other waker (a fork, or a combinator's own waker).
    Other(Waker),
}

impl Waiter {
    /// The waiter for a poll with `cx`; keeps `self` when it already wakes the same task.
    fn update(&mut self, cx: &TaskContext<'_>, main: &Waker) {
        let w = cx.waker();
        match self {
            Waiter::Main if w.will_wake(main) => {}
            Waiter::Other(old) if old.will_wake(w) => {}
            _ if w.will_wake(main) => *self = Waiter::Main,
            _ => *self = Waiter::Other(w.clone()),
        }
    }
}

/// A session some future is waiting on.
#[derive(Default)]
pub(crate) struct Slot {
    pub(crate) waker: Waiter,
    pub(crate) reply: Option<Message>,
}

/// `Context::timeout`'s function: run when its session is answered, no task needed.
pub(crate) type Callback = Box<dyn FnOnce(Context) + Send>;

/// What became of a reply.
enum Delivered {
    /// A future waits for it and has been woken; `Some(task)` when that task (the main
    /// task) is the only one ready: not queued, and the host not marked running, for the
    /// caller to poll on the lock-free path.
    ToFuture(Option<usize>),
    /// A timeout's function is due.
    Callback(Callback),
    /// Nobody waits (a late reply after a timeout or a cancelled call): dropped.
    Nobody,
}

/// Executor state only the worker running the service touches: see [`OwnerCell`].
pub(crate) struct Local {
    /// Messages for `dispatch`, waiting for the main task.
    inbox: VecDeque<Message>,
    /// The main task is parked waiting for the next message.
    main_idle: bool,
}

/// A value touched only by the worker that runs the service, never concurrently: from the
/// `AsyncHost` methods (which take `&mut self` and run under the service's body lock, so
/// two workers never run them at once, and the lock orders one worker's accesses before the
/// next one's) and from the main task's [`NextMessage`], which is polled only from inside
/// those methods. No `&mut` to the value is held across a poll.
struct OwnerCell<T>(std::cell::UnsafeCell<T>);

// SAFETY: the value moves between worker threads only as the body lock is handed over, and
// it is `Send`; sharing `&OwnerCell` between threads is sound because the value is only
// reached through `with`, whose callers are the one worker running the service (see above).
unsafe impl<T: Send> Sync for OwnerCell<T> {}

impl<T> OwnerCell<T> {
    fn new(v: T) -> OwnerCell<T> {
        OwnerCell(std::cell::UnsafeCell::new(v))
    }

    /// Runs `f` on the value.
    ///
    /// # Safety
    /// Only the worker running the service may call this (from `AsyncHost`'s methods or the
    /// main task's poll), and `f` must not call `with` again.
    unsafe fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        // SAFETY: per this function's contract, no other reference to the value exists
        // while `f` runs.
        f(unsafe { &mut *self.0.get() })
    }
}

thread_local! {
    /// The host this thread is polling on the lock-free path (0: none): wakes and forks of
    /// that host from this thread need no WAKE message, they set `FAST_DIRTY` instead.
    static FAST_HOST: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    /// A task of `FAST_HOST` became ready during the lock-free poll.
    static FAST_DIRTY: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Executor state shared by the host and the service's futures.
pub(crate) struct HostState {
    /// Tasks to poll.
    pub(crate) ready: VecDeque<usize>,
    /// Forks created since the host last looked.
    pub(crate) spawned: Vec<BoxFuture>,
    /// Sessions futures are waiting on.
    pub(crate) pending: HashMap<i32, Slot, BuildHasherDefault<SessionHasher>>,
    /// `Context::timeout`s' functions, by key. Their expiry carries the *negative* session
    /// `-1 - key` (see [`callback_session`]): no session number is used up, and a dense slab
    /// of 3-word entries stays compact for 100,000 pending timeouts.
    pub(crate) callbacks: Slab<Callback>,
    /// The host is polling now (a wake needs no message).
    pub(crate) running: bool,
    /// A WAKE message is on its way.
    pub(crate) wake_posted: bool,
    pub(crate) exit_requested: bool,
    pub(crate) init_outcome: Option<Result<(), String>>,
    pub(crate) intercepts: Vec<(Ptype, Interceptor)>,
    /// `Context::local` values by type: a few at most, so a list (24 bytes in every
    /// service, not a 48-byte map).
    pub(crate) locals: Vec<(TypeId, Box<dyn Any + Send>)>,
}

/// What every `Context` of a service points at.
pub(crate) struct HostShared {
    pub(crate) addr: Addr,
    pub(crate) node: Arc<NodeInner>,
    pub(crate) cell: Arc<Cell>,
    pub(crate) state: Mutex<HostState>,
    /// The main task's waker, to recognise polls by the main task itself.
    main_waker: Waker,
    /// The main task's inbox, touched without a lock.
    local: OwnerCell<Local>,
    /// `exit_requested`, readable without the lock.
    exit_flag: AtomicBool,
    /// Some protocol is intercepted (`intercepts` is not empty), readable without the lock.
    has_intercepts: AtomicBool,
}

impl HostState {
    /// Makes `task` ready. When nothing else is ready (or spawned) and the host may run,
    /// returns it instead of queueing it: the caller polls it first, without a second lock.
    fn push_ready(&mut self, task: usize) -> Option<usize> {
        if self.ready.is_empty() && self.spawned.is_empty() && !self.exit_requested {
            Some(task)
        } else {
            self.ready.push_back(task);
            None
        }
    }
}

impl HostShared {
    /// Allocates a session no future is waiting on, and starts waiting on it.
    pub(crate) fn register_wait(&self) -> i32 {
        self.register(Slot::default())
    }

    /// Like [`HostShared::register_wait`], for a future being polled with `cx`: its waker is
    /// registered in the same lock, so the future may return Pending without polling again.
    pub(crate) fn register_polled(&self, cx: &TaskContext<'_>) -> i32 {
        let mut waker = Waiter::None;
        waker.update(cx, &self.main_waker);
        self.register(Slot {
            waker,
            ..Slot::default()
        })
    }

    /// Allocates a session whose answer runs `f` (a timeout).
    /// Stores a timeout's function; returns the (negative) session its expiry must carry,
    /// None if 2^31 are already pending.
    pub(crate) fn register_callback(&self, f: Callback) -> Option<i32> {
        let mut st = self.state.lock();
        let key = st.callbacks.insert(f);
        let session = callback_session(key);
        if session.is_none() {
            drop(st.callbacks.remove(key));
        }
        session
    }

    fn register(&self, slot: Slot) -> i32 {
        let mut st = self.state.lock();
        loop {
            let s = self.cell.next_session();
            if let std::collections::hash_map::Entry::Vacant(e) = st.pending.entry(s) {
                e.insert(slot);
                return s;
            }
        }
    }

    /// Ready(reply) once the session is answered.
    pub(crate) fn poll_reply(&self, session: i32, cx: &mut TaskContext<'_>) -> Poll<Message> {
        let mut st = self.state.lock();
        let Some(slot) = st.pending.get_mut(&session) else {
            return Poll::Ready(Message::value(
                self.addr,
                session,
                Ptype::ERROR,
                CallError::Detached,
            ));
        };
        if let Some(reply) = slot.reply.take() {
            st.pending.remove(&session);
            return Poll::Ready(reply);
        }
        slot.waker.update(cx, &self.main_waker);
        Poll::Pending
    }

    /// Stops waiting on a session (its reply, if it ever comes, is dropped).
    pub(crate) fn cancel_wait(&self, session: i32) {
        self.state.lock().pending.remove(&session);
    }

    /// Hands a reply to the future waiting on its session. False when nobody waits (a late
    /// reply after a timeout, or a reply to a cancelled call): it is dropped.
    fn deliver(&self, msg: Message) -> Delivered {
        let waker = {
            let mut guard = self.state.lock();
            let st = &mut *guard;
            match st.pending.get_mut(&msg.session) {
                Some(slot) => {
                    slot.reply = Some(msg);
                    let waiter = std::mem::take(&mut slot.waker);
                    if let Waiter::Main = waiter {
                        if let Some(task) = st.push_ready(MAIN) {
                            // Only the main task is ready: the caller polls it on the
                            // lock-free path (`poll_main_fast`); the host is not marked
                            // running.
                            return Delivered::ToFuture(Some(task));
                        }
                    }
                    // The host polls after this: wakes from now on need no WAKE message.
                    st.running = true;
                    match waiter {
                        Waiter::Other(w) => Some(w),
                        Waiter::Main | Waiter::None => None,
                    }
                }
                None => {
                    st.running = true;
                    // A timeout's expiry: negative session, from the timer (the system).
                    let key = callback_key(msg.session).filter(|_| msg.source.is_system());
                    return match key.and_then(|k| st.callbacks.try_remove(k)) {
                        Some(cb) => Delivered::Callback(cb),
                        None => Delivered::Nobody,
                    };
                }
            }
        };
        if let Some(w) = waker {
            w.wake();
        }
        Delivered::ToFuture(None)
    }

    /// Marks a task ready; from outside a running host, posts a WAKE so a worker runs us.
    fn wake_task(&self, task: usize) {
        let post = {
            let mut st = self.state.lock();
            st.ready.push_back(task);
            self.needs_post(&mut st)
        };
        if post {
            let _ = self.node.push(&self.cell, wake_message());
        }
    }

    fn needs_post(&self, st: &mut HostState) -> bool {
        if st.running || st.wake_posted {
            false
        } else if FAST_HOST.with(|h| h.get()) == self as *const HostShared as usize {
            // This thread is polling us on the lock-free path: it looks again after.
            FAST_DIRTY.with(|d| d.set(true));
            false
        } else {
            st.wake_posted = true;
            true
        }
    }

    /// Asks the service to end (see [`Context::exit`]).
    pub(crate) fn request_exit(&self) {
        self.state.lock().exit_requested = true;
        self.exit_flag.store(true, Ordering::Relaxed);
    }

    /// Notes that some protocol is intercepted.
    pub(crate) fn note_intercepts(&self) {
        self.has_intercepts.store(true, Ordering::Relaxed);
    }

    /// Starts a fork.
    pub(crate) fn spawn(&self, fut: BoxFuture) {
        let post = {
            let mut st = self.state.lock();
            st.spawned.push(fut);
            self.needs_post(&mut st)
        };
        if post {
            let _ = self.node.push(&self.cell, wake_message());
        }
    }

    /// The error a caller gets from this service now: the exit error once it has ended,
    /// Panicked while a panic unwinds through its task (unwinding drops the task's locals,
    /// requests included, before the service is retired), NoReply otherwise.
    pub(crate) fn unanswered_error(&self) -> CallError {
        if let Some(e) = self.cell.exit_error.lock().clone() {
            e
        } else if std::thread::panicking() {
            CallError::Panicked(self.addr)
        } else {
            CallError::NoReply(self.addr)
        }
    }
}

struct TaskWaker {
    host: Weak<HostShared>,
    task: usize,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        if let Some(h) = self.host.upgrade() {
            h.wake_task(self.task);
        }
    }
}

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

/// Resolves with the next message for `dispatch`.
struct NextMessage<'a> {
    ctx: &'a Context,
}

impl Future for NextMessage<'_> {
    type Output = Message;
    fn poll(self: Pin<&mut Self>, _cx: &mut TaskContext<'_>) -> Poll<Message> {
        let shared = &self.ctx.shared;
        let exiting = shared.exit_flag.load(Ordering::Relaxed);
        // SAFETY: NextMessage is awaited only by the main task, which only `run_ready` and
        // `AsyncHost::handle` poll, on the worker running the service, holding no other
        // borrow of `local` while they poll.
        unsafe {
            shared.local.with(|l| {
                if !exiting {
                    if let Some(m) = l.inbox.pop_front() {
                        return Poll::Ready(m);
                    }
                }
                // The host re-queues MAIN when a message arrives; no waker needed.
                l.main_idle = true;
                Poll::Pending
            })
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
            }),
            exit_flag: AtomicBool::new(false),
            has_intercepts: AtomicBool::new(false),
            state: Mutex::new(HostState {
                ready: VecDeque::from([MAIN]),
                spawned: Vec::new(),
                pending: HashMap::default(),
                callbacks: Slab::new(),
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
        let is_reply =
            (msg.ptype == Ptype::RESPONSE || msg.ptype == Ptype::ERROR) && msg.session != 0;
        if !is_reply
            && self.init_reported
            && msg.ptype != Ptype::DEBUG
            && msg.ptype != Ptype::ERROR
            && !shared.has_intercepts.load(Ordering::Relaxed)
        {
            // The common case, a message for `dispatch`: no lock at all.
            // SAFETY: we are in `AsyncHost::handle` (`&mut self`), on the worker running the
            // service; nothing else borrows `local` now.
            let idle = unsafe {
                shared.local.with(|l| {
                    l.inbox.push_back(msg);
                    std::mem::replace(&mut l.main_idle, false)
                })
            };
            if idle {
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
        } else if msg.ptype == Ptype::DEBUG && msg.payload.is::<crate::message::DebugPing>() {
            shared.state.lock().running = true;
            // The debug console's `ping`: answered by the executor, not by `dispatch`.
            if msg.session != 0 {
                let _ = ctx.send(
                    msg.source,
                    Ptype::RESPONSE,
                    msg.session,
                    crate::message::Payload::Empty,
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
        // (the runtime calls this under the body lock); nothing else borrows `local` now.
        unsafe {
            shared.local.with(|l| {
                if l.inbox.is_empty() && l.inbox.capacity() > 0 {
                    l.inbox = VecDeque::new();
                }
            })
        };
        let mut st = shared.state.lock();
        if st.pending.is_empty() && st.pending.capacity() > 0 {
            st.pending = HashMap::default();
        }
        if st.ready.is_empty() && st.ready.capacity() > 0 {
            st.ready = VecDeque::new();
        }
        if st.spawned.is_empty() && st.spawned.capacity() > 0 {
            st.spawned = Vec::new();
        }
        if st.callbacks.is_empty() && st.callbacks.capacity() > 0 {
            st.callbacks = Slab::new();
        }
    }

    fn wake(&mut self, ctx: &mut RawContext<'_>) {
        let done = self.run_ready(None, false);
        Self::report(ctx, done);
    }

    fn exit(&mut self, ctx: &mut RawContext<'_>, _reason: &ExitReason) {
        // Dropping the tasks answers every request they held (responders, the current
        // request of `dispatch`) with the exit error, and cancels their timers.
        self.main = None;
        self.forks.clear();
        let Some(shared) = self.shared.take() else {
            return;
        };
        let spawned = {
            let mut st = shared.state.lock();
            st.pending.clear();
            st.callbacks.clear();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callback_sessions_are_negative_and_round_trip() {
        for key in [0usize, 1, 2, 1000, i32::MAX as usize] {
            let s = callback_session(key).expect("fits");
            assert!(s < 0, "{key} -> {s}");
            assert_eq!(callback_key(s), Some(key));
        }
        assert_eq!(callback_session(i32::MAX as usize + 1), None);
        assert_eq!(callback_key(0), None);
        assert_eq!(callback_key(5), None);
        assert_eq!(callback_key(i32::MIN), Some(i32::MAX as usize));
    }

    #[test]
    fn session_hash_keeps_neighbours_apart_in_control_bytes() {
        use std::hash::BuildHasher;
        let b = BuildHasherDefault::<SessionHasher>::default();
        let h = |i: i32| b.hash_one(i);
        // Consecutive sessions: consecutive low bits (buckets), varied top 7 bits.
        assert_eq!(h(1001) & 0xffff_ffff, 1001);
        let tops: std::collections::HashSet<u64> = (0..64).map(|i| h(i) >> 57).collect();
        assert!(tops.len() > 32, "control bytes too alike: {}", tops.len());
    }
}
