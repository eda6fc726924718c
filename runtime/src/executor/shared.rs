//! The state every [`Context`] of a service shares with its executor ([`HostShared`]):
//! sessions being waited on and their wakers, ready tasks, timeout callbacks, interceptors,
//! per-service locals. The executor ([`AsyncHost`](crate::executor::host::AsyncHost)) runs
//! the tasks; contexts and the futures they make (calls, sleeps) register here.

use std::any::{Any, TypeId};
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::task::{Context as TaskContext, Poll, Wake, Waker};

use parking_lot::Mutex;
use slab::Slab;

use crate::base::{Addr, CallError, Message, Ptype, SendError};
use crate::executor::sessions::{Sessions, Waiter};
use crate::kernel::wake_message;
use crate::raw::{Cell, NodeInner};

pub(crate) type BoxFuture = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// A library's handler for one protocol (the socket API takes SOCKET messages this way).
/// Returns the message back to have it dispatched normally.
pub type Interceptor = Arc<dyn Fn(&Context, Message) -> Option<Message> + Send + Sync>;

pub(crate) const MAIN: usize = usize::MAX;

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

/// `Context::timeout`'s function: run when its session is answered, no task needed.
pub(crate) type Callback = Box<dyn FnOnce(Context) + Send>;

/// What became of a reply.
pub(crate) enum Delivered {
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
    pub(crate) inbox: VecDeque<Message>,
    /// The main task is parked waiting for the next message.
    pub(crate) main_idle: bool,
    /// Sessions futures are waiting on. Only the service's own tasks register, poll and
    /// cancel them, and only the service's worker delivers their replies, so a call costs
    /// no lock (three lock round trips per call before).
    pub(crate) pending: Sessions,
    /// `Context::timeout`s' functions, by key. Their expiry carries the *negative* session
    /// `-1 - key` (see [`callback_session`]): no session number is used up, and a dense slab
    /// of 3-word entries stays compact for 100,000 pending timeouts.
    pub(crate) callbacks: Slab<Callback>,
    /// The service this one last sent to twice in a row, remembered (see
    /// [`HostShared::send_to`]).
    pub(crate) dest: DestCache,
    /// The rest of the worker's batch while `AsyncHost::handle` polls the main task
    /// (None otherwise): the `dispatch` loop takes its next messages straight from it.
    /// Set and cleared by `handle` around the poll; the run lives on the worker's stack.
    pub(crate) run: Option<RunPtr>,
}

/// The pointer to the worker's run in [`Local::run`].
#[derive(Clone, Copy)]
pub(crate) struct RunPtr(pub(crate) std::ptr::NonNull<crate::raw::MessageRun<'static>>);

// SAFETY: the pointer is set only while `AsyncHost::handle` runs on the worker holding
// the service's run token, dereferenced only by that worker inside that call (the main
// task's poll), and cleared before the call returns; whenever the host can reach another
// thread, it is None.
unsafe impl Send for RunPtr {}
// SAFETY: as above; `Local` is reached only through `OwnerCell`, by the owner.
unsafe impl Sync for RunPtr {}

/// One destination, remembered: a stream of sends (or a call and its replies) to the same
/// service skips the name resolution, the worker's cache and the handle table. Handles are
/// never reused, so the remembered cell is that address for good; once it retires, its
/// closed mailbox refuses the push and the send fails as after a lookup. Holding it keeps
/// that service's cell memory (not the service) until another destination replaces it or
/// this service goes idle while cold.
#[derive(Default)]
pub(crate) struct DestCache {
    hit: Option<(Addr, Arc<Cell>)>,
    /// The last destination looked up the long way: a second lookup in a row remembers it.
    last: Addr,
}

/// What [`HostShared::send_remembered`] did.
pub(crate) enum Routed {
    /// Pushed to the remembered destination.
    Sent(Result<(), SendError>),
    /// Not the remembered destination, not admitted, or not on the service's thread.
    Missed(Message),
}

thread_local! {
    /// The host whose `AsyncHost` method this thread is inside (0: none): the thread holds
    /// that service's run token, so it may reach the host's [`OwnerCell`]. Futures and
    /// contexts of a service are `Send`; one that strays to another service's thread (a
    /// `Context` sent in a message) finds itself not the owner there and fails with
    /// [`CallError::Detached`] instead of touching state it does not own.
    static OWNER_OF: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Marks the calling thread as running a host until dropped (restores the previous one:
/// a launch may run a new service's `init` inside another's message).
pub(crate) struct OwnerGuard(usize);

impl OwnerGuard {
    pub(crate) fn enter(shared: &HostShared) -> OwnerGuard {
        OwnerGuard(OWNER_OF.with(|o| o.replace(shared as *const HostShared as usize)))
    }
}

impl Drop for OwnerGuard {
    fn drop(&mut self) {
        OWNER_OF.with(|o| o.set(self.0));
    }
}

/// A service's host as the futures it makes ([`Call`](crate::executor::call::Call)) hold it:
/// a pointer without a reference count, reached only on the thread that runs that service
/// now. A call then costs no `Arc` clone and drop (two atomic read-modify-writes per call,
/// about 6 % of `bench call`). A future that strays to another service, or outlives its
/// own, finds itself not the owner there and acts detached, as with an `Arc` (see
/// [`OWNER_OF`]); it can no longer cancel its timer or fix the node's call gauge from
/// there, which only a misplaced future would need.
#[derive(Clone, Copy)]
pub(crate) struct HostPtr {
    ptr: std::ptr::NonNull<HostShared>,
    /// The service's address: addresses are never reused, so a new host at a freed host's
    /// memory is told apart.
    addr: Addr,
}

// SAFETY: the pointer is dereferenced only on the thread that runs the host at that moment
// (`get`), where the host is alive; moving or sharing the `HostPtr` itself between threads
// touches nothing.
unsafe impl Send for HostPtr {}
// SAFETY: as above.
unsafe impl Sync for HostPtr {}

impl HostPtr {
    pub(crate) fn new(shared: &Arc<HostShared>) -> HostPtr {
        HostPtr {
            ptr: std::ptr::NonNull::from(&**shared),
            addr: shared.addr,
        }
    }

    /// The host, when the calling thread is running it now; None anywhere else.
    #[inline]
    pub(crate) fn get(&self) -> Option<&HostShared> {
        if OWNER_OF.with(|o| o.get()) != self.ptr.as_ptr() as usize {
            return None;
        }
        // SAFETY: `OWNER_OF` names the host whose `AsyncHost` method this thread is inside
        // (an `OwnerGuard` is live), and that method holds an `Arc` of it until the guard
        // goes: the host is alive while the caller uses the reference (within a poll or a
        // drop run by that method). Compared by address first: a host since freed and
        // another allocated at its memory fails the check below.
        let sh = unsafe { self.ptr.as_ref() };
        (sh.addr == self.addr).then_some(sh)
    }
}

/// A value touched only by the worker that runs the service, never concurrently: from the
/// `AsyncHost` methods (which take `&mut self` and are run only by the holder of the
/// service's run token, so two workers never run them at once, and the token's hand-over
/// orders one worker's accesses before the next one's) and from the main task's [`NextMessage`], which is polled only from inside
/// those methods. No `&mut` to the value is held across a poll.
pub(crate) struct OwnerCell<T>(std::cell::UnsafeCell<T>);

// SAFETY: the value moves between worker threads only as the run token is handed over, and
// it is `Send`; sharing `&OwnerCell` between threads is sound because the value is only
// reached through `with`, whose callers are the one worker running the service (see above).
unsafe impl<T: Send> Sync for OwnerCell<T> {}

impl<T> OwnerCell<T> {
    pub(crate) fn new(v: T) -> OwnerCell<T> {
        OwnerCell(std::cell::UnsafeCell::new(v))
    }

    /// Runs `f` on the value.
    ///
    /// # Safety
    /// Only the worker running the service may call this (from `AsyncHost`'s methods or the
    /// main task's poll), and `f` must not call `with` again.
    #[inline(always)]
    pub(crate) unsafe fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        // SAFETY: per this function's contract, no other reference to the value exists
        // while `f` runs.
        f(unsafe { &mut *self.0.get() })
    }
}

thread_local! {
    /// The host this thread is polling on the lock-free path (0: none): wakes and forks of
    /// that host from this thread need no WAKE message, they set `FAST_DIRTY` instead.
    pub(crate) static FAST_HOST: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    /// A task of `FAST_HOST` became ready during the lock-free poll.
    pub(crate) static FAST_DIRTY: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Executor state shared by the host and the service's futures.
pub(crate) struct HostState {
    /// Tasks to poll.
    pub(crate) ready: VecDeque<usize>,
    /// Forks created since the host last looked.
    pub(crate) spawned: Vec<BoxFuture>,
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
    pub(crate) main_waker: Waker,
    /// The main task's inbox, touched without a lock.
    pub(crate) local: OwnerCell<Local>,
    /// `exit_requested`, readable without the lock.
    pub(crate) exit_flag: AtomicBool,
    /// Some protocol is intercepted (`intercepts` is not empty), readable without the lock.
    pub(crate) has_intercepts: AtomicBool,
}

impl HostState {
    /// Makes `task` ready. When nothing else is ready (or spawned) and the host may run,
    /// returns it instead of queueing it: the caller polls it first, without a second lock.
    pub(crate) fn push_ready(&mut self, task: usize) -> Option<usize> {
        if self.ready.is_empty() && self.spawned.is_empty() && !self.exit_requested {
            Some(task)
        } else {
            self.ready.push_back(task);
            None
        }
    }
}

impl HostShared {
    /// True when the calling thread runs this service now (see `OWNER_OF`).
    #[inline]
    pub(crate) fn is_owner(&self) -> bool {
        OWNER_OF.with(|o| o.get()) == self as *const HostShared as usize
    }

    /// Pushes to `dest` if it is the destination this service remembers ([`DestCache`])
    /// and `admit` (a call's deadlock check) accepts it; any other case hands the message
    /// back. Only on the thread that runs the service.
    #[inline]
    pub(crate) fn send_remembered(
        &self,
        dest: Addr,
        msg: Message,
        admit: impl FnOnce(&Cell) -> bool,
    ) -> Routed {
        if !self.is_owner() {
            return Routed::Missed(msg);
        }
        // SAFETY: `is_owner` (see `owned`); the push reaches no host's `local` (a refused
        // message comes back in the error, nothing is dropped in it).
        let (routed, gone) = unsafe {
            self.local.with(|l| match &l.dest.hit {
                Some((a, cell)) if *a == dest => {
                    if !admit(cell) {
                        return (Routed::Missed(msg), None);
                    }
                    let sent = self.node.push(cell, msg).map(drop);
                    // Retired: forget it.
                    let gone = if sent.is_err() {
                        l.dest.hit.take()
                    } else {
                        None
                    };
                    (Routed::Sent(sent), gone)
                }
                _ => (Routed::Missed(msg), None),
            })
        };
        // The forgotten cell is dropped outside the borrow.
        drop(gone);
        routed
    }

    /// Notes a send to `dest` made the long way: the second in a row to the same service
    /// remembers it ([`DestCache`]).
    pub(crate) fn note_sent(&self, dest: Addr) {
        if !self.is_owner() {
            return;
        }
        // SAFETY: `is_owner` (see `owned`).
        let again = unsafe {
            self.local
                .with(|l| std::mem::replace(&mut l.dest.last, dest))
        };
        if again != dest {
            return;
        }
        if let Some(cell) = self.node.cell(dest) {
            // SAFETY: as above; the replaced cell is dropped after the borrow.
            let old = unsafe { self.local.with(|l| l.dest.hit.replace((dest, cell))) };
            drop(old);
        }
    }

    /// Sends one way, through the destination cache.
    #[inline]
    pub(crate) fn send_to(&self, dest: Addr, msg: Message) -> Result<(), SendError> {
        match self.send_remembered(dest, msg, |_| true) {
            Routed::Sent(sent) => sent,
            Routed::Missed(msg) => {
                let sent = self.node.send(dest, msg);
                if sent.is_ok() {
                    self.note_sent(dest);
                }
                sent
            }
        }
    }

    /// Runs `f` on the owner-only state; None when the calling thread does not run this
    /// service (the future or context strayed to another thread).
    #[inline]
    fn owned<R>(&self, f: impl FnOnce(&mut Local) -> R) -> Option<R> {
        if !self.is_owner() {
            return None;
        }
        // SAFETY: `is_owner` says this thread is inside one of this host's `AsyncHost`
        // methods, so it holds the service's run token; the methods and the futures they
        // poll reach `local` only through `with`/`owned` and never while another such
        // borrow is live (callers here do not re-enter: wakers run after `f` returns).
        Some(unsafe { self.local.with(f) })
    }

    /// Allocates a session no future is waiting on, and starts waiting on it. None when
    /// called from outside the service.
    pub(crate) fn register_wait(&self) -> Option<i32> {
        self.register(Waiter::None)
    }

    /// Like [`HostShared::register_wait`], for a future being polled with `cx`: its waker is
    /// registered with the session, so the future may return Pending without polling again.
    pub(crate) fn register_polled(&self, cx: &TaskContext<'_>) -> Option<i32> {
        let mut waker = Waiter::None;
        waker.update(cx, &self.main_waker);
        self.register(waker)
    }

    /// Stores a timeout's function; returns the (negative) session its expiry must carry,
    /// None if 2^31 are already pending or when called from outside the service.
    pub(crate) fn register_callback(&self, f: Callback) -> Option<i32> {
        self.owned(|l| {
            let key = l.callbacks.insert(f);
            let session = callback_session(key);
            if session.is_none() {
                drop(l.callbacks.remove(key));
            }
            session
        })?
    }

    fn register(&self, waker: Waiter) -> Option<i32> {
        self.owned(|l| {
            let mut waker = waker;
            loop {
                let s = self.cell.next_session();
                match l.pending.insert_new(s, waker) {
                    Ok(()) => return s,
                    Err(back) => waker = back, // still waited on (after a wrap): the next
                }
            }
        })
    }

    /// Ready(reply) once the session is answered.
    #[inline]
    pub(crate) fn poll_reply(&self, session: i32, cx: &mut TaskContext<'_>) -> Poll<Message> {
        let r = self.owned(|l| {
            if let Some(reply) = l.pending.take_reply(session) {
                return Some(Poll::Ready(reply));
            }
            // Not answered yet (a poll that was not the reply's wake-up), or not waited on.
            let slot = l.pending.get_mut(session)?;
            slot.waker.update(cx, &self.main_waker);
            Some(Poll::Pending)
        });
        r.flatten().unwrap_or_else(|| {
            Poll::Ready(Message::value(
                self.addr,
                session,
                Ptype::ERROR,
                CallError::Detached,
            ))
        })
    }

    /// Stops waiting on a session (its reply, if it ever comes, is dropped). From outside
    /// the service (a future dropped on another thread) the entry is left: its reply fills
    /// it, and the service's exit frees it.
    pub(crate) fn cancel_wait(&self, session: i32) {
        let _ = self.owned(|l| l.pending.remove(session));
    }

    /// Hands a reply to the future waiting on its session; called by the service's own
    /// worker (`AsyncHost::handle`). A reply nobody waits for (a late reply after a
    /// timeout, or a reply to a cancelled call) is dropped.
    pub(crate) fn deliver(&self, msg: Message) -> Delivered {
        let found = self.owned(|l| match l.pending.get_mut(msg.session) {
            Some(slot) => {
                slot.reply = Some(msg);
                Ok(std::mem::take(&mut slot.waker))
            }
            // A timeout's expiry: negative session, from the timer (the system).
            None => Err(callback_key(msg.session)
                .filter(|_| msg.source.is_system())
                .and_then(|k| l.callbacks.try_remove(k))),
        });
        let Some(found) = found else {
            return Delivered::Nobody; // not called from outside the service
        };
        let waiter = match found {
            Ok(Waiter::Main) if !self.exit_flag.load(Ordering::Relaxed) => {
                // Only the main task needs polling: the caller polls it on the lock-free
                // path (`poll_main_fast`), the host not marked running. A task made ready
                // meanwhile by another thread has posted a WAKE (the host was not running),
                // and one made ready during that poll by this thread is noted in
                // `FAST_DIRTY`: neither is lost.
                return Delivered::ToFuture(Some(MAIN));
            }
            Ok(waiter) => waiter,
            Err(cb) => {
                self.state.lock().running = true;
                return match cb {
                    Some(cb) => Delivered::Callback(cb),
                    None => Delivered::Nobody,
                };
            }
        };
        {
            let mut st = self.state.lock();
            if let Waiter::Main = waiter {
                if let Some(task) = st.push_ready(MAIN) {
                    return Delivered::ToFuture(Some(task));
                }
            }
            // The host polls after this: wakes from now on need no WAKE message.
            st.running = true;
        }
        if let Waiter::Other(w) = waiter {
            w.wake();
        }
        Delivered::ToFuture(None)
    }

    /// Marks a task ready; from outside a running host, posts a WAKE so a worker runs us.
    pub(crate) fn wake_task(&self, task: usize) {
        let post = {
            let mut st = self.state.lock();
            st.ready.push_back(task);
            self.needs_post(&mut st)
        };
        if post {
            let _ = self.node.push(&self.cell, wake_message());
        }
    }

    pub(crate) fn needs_post(&self, st: &mut HostState) -> bool {
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

pub(crate) struct TaskWaker {
    pub(crate) host: Weak<HostShared>,
    pub(crate) task: usize,
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

/// A service's view of the node. `dispatch` gets the main task's context; clones (for forks)
/// share the service but not the request being answered.
///
/// A request's answer: [`Context::ret`] now, or [`Context::response`] for later. A request
/// left unanswered when `dispatch` returns is answered with [`CallError::NoReply`].
pub struct Context {
    pub(crate) shared: Arc<HostShared>,
    /// The request this task is serving: (caller, session).
    pub(crate) current: Option<(Addr, i32)>,
    /// This is the main task's context (its calls block `dispatch`: deadlock detection).
    pub(crate) main: bool,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Context({})", self.shared.addr)
    }
}

impl Clone for Context {
    /// A context for another task of the same service: no current request, not the main task.
    fn clone(&self) -> Context {
        Context::new(self.shared.clone(), false)
    }
}

impl Drop for Context {
    fn drop(&mut self) {
        // A task dropped in the middle of a request (kill, exit, panic) still answers it.
        if let Some((dest, session)) = self.current.take() {
            if session != 0 {
                let err = self.shared.unanswered_error();
                self.shared
                    .node
                    .send_error(self.shared.addr, dest, session, err);
            }
        }
    }
}

impl Context {
    pub(crate) fn new(shared: Arc<HostShared>, main: bool) -> Context {
        Context {
            shared,
            current: None,
            main,
        }
    }

    pub(crate) fn begin_request(&mut self, msg: &Message) {
        self.current = msg.wants_reply().then_some((msg.source, msg.session));
    }

    /// The task finished its request: one left unanswered is answered with an error now,
    /// [`CallError::Dead`] when the service asked to exit (it is ending; G7), otherwise
    /// [`CallError::NoReply`] with a warning (G4).
    pub(crate) fn end_request(&mut self) {
        if let Some((dest, session)) = self.current.take() {
            let me = self.shared.addr;
            let err = if self.shared.exit_flag.load(Ordering::Relaxed) {
                CallError::Dead(me)
            } else {
                log::warn!(
                    "{me} finished a request from {dest} (session {session}) without answering"
                );
                CallError::NoReply(me)
            };
            self.shared.node.send_error(me, dest, session, err);
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
}
