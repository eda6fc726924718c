//! A live service as the node holds it: address, mailbox, the service body, statistics.
//!
//! Generic over the body `S` (see [`Hosted`](crate::kernel::run_queue::Hosted)): this layer
//! moves services around without knowing what interface they implement.

use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::time::SystemTime;

use parking_lot::Mutex;

use crate::base::{Addr, CallError, Message};
use crate::kernel::mailbox::{Admit, Mailbox, Pushed};

/// No kill requested.
pub(crate) const KILL_NONE: u8 = 0;
/// Killed by a service or the console.
pub(crate) const KILL_KILLED: u8 = 1;
/// Ended by node shutdown.
pub(crate) const KILL_SHUTDOWN: u8 = 2;
/// Ended by node shutdown after handling everything already queued (the logger).
pub(crate) const KILL_DRAIN: u8 = 3;

/// Who waits for a launch to finish.
pub(crate) enum LaunchNotify {
    /// Nobody.
    None,
    /// A service, as the reply to its session.
    Session(Addr, i32),
    /// A thread outside the node.
    Channel(crossbeam_channel::Sender<Result<Addr, CallError>>),
}

/// The service body, touched only by the holder of the service's *run token* (see
/// [`BodyCell`]).
pub(crate) struct Body<S: ?Sized> {
    pub(crate) svc: Option<Box<S>>,
    pub(crate) started: bool,
    /// Messages whose push claimed the idle service, not handled yet: always older than
    /// anything in the mailbox's queue, so taken first (see
    /// [`Mailbox::refill`](crate::kernel::mailbox::Mailbox::refill)).
    pub(crate) pending: std::collections::VecDeque<Message>,
}

/// Everything the node keeps per service.
pub(crate) struct Cell<S: ?Sized> {
    pub(crate) addr: Addr,
    pub(crate) mailbox: Mailbox,
    pub(crate) body: BodyCell<S>,
    /// Registered type name ("agent"), or the Rust type name for `launch`.
    pub(crate) type_name: String,
    /// Runtime services (logger, ...) don't keep the node alive.
    pub(crate) system: bool,
    pub(crate) started_at: SystemTime,
    pub(crate) processed: AtomicU64,
    /// Time inside its callbacks, in [`TurnClock`](crate::time::TurnClock) ticks.
    pub(crate) cpu_ticks: AtomicU64,
    /// A kill was requested ([`KILL_NONE`], [`KILL_KILLED`], [`KILL_SHUTDOWN`]); the worker
    /// retires the service at its next turn.
    pub(crate) kill: AtomicU8,
    /// The service has ended; its mailbox is closed.
    pub(crate) retired: AtomicBool,
    /// The address this service's main task is blocked calling (0: none): the wait-for graph.
    pub(crate) waiting_on: AtomicU32,
    /// The monitor saw it inside one message for too long.
    pub(crate) endless: AtomicBool,
    /// The session counter (skynet: per service, 1..=i32::MAX then wraps to 1).
    pub(crate) session: AtomicI32,
    pub(crate) launch: Mutex<LaunchNotify>,
    /// The error callers get once it has ended (set first thing when it retires).
    pub(crate) exit_error: Mutex<Option<CallError>>,
    /// Local names this service holds, removed when it retires.
    pub(crate) names: Mutex<Vec<String>>,
    /// Called once when the mailbox's drain watch fires (see `Mailbox::watch_drain`).
    pub(crate) drain_wake: Mutex<Option<DrainWake>>,
}

/// The body of a service, without a lock: exclusive access comes from the mailbox's
/// *scheduled* flag instead (skynet's `in_global`). Whoever sets that flag (a launch, which
/// creates the mailbox with it set, or the push that finds it clear) holds the service's
/// **run token** and is the only one allowed to touch the body, until it hands the token
/// over: to the run queue (whose taker, one worker, holds it next) or back to the mailbox
/// by clearing the flag (one compare-exchange, refused while messages are queued: see
/// [`Mailbox::try_idle`](crate::kernel::mailbox::Mailbox::try_idle)). So at most one thread
/// holds it, and each hand-over is a release/acquire pair (the flag, the run queue's lock or
/// its LIFO slot's atomics): the next holder sees every write of the last. While the run
/// queue holds the token, its entry is a bare pointer (see
/// [`Runnable`](crate::kernel::runnable::Runnable)). A lock here was never contended, and cost two atomic read-modify-writes per
/// turn.
pub(crate) struct BodyCell<S: ?Sized>(UnsafeCell<Body<S>>);

// SAFETY: the body moves between threads only with the run token (see above), and `S` is
// `Send`; `&BodyCell` is shared, but the body is reached only through the pointer `get`
// returns, dereferenced only by the token's holder, so it is never touched by two threads
// at once.
unsafe impl<S: ?Sized + Send> Sync for BodyCell<S> {}

impl<S: ?Sized> BodyCell<S> {
    /// A pointer to the body. Only the holder of the service's run token (see [`BodyCell`])
    /// may dereference it, and no reference made from it may be used after the token is
    /// handed back. The holder works through short-lived references and passes the raw
    /// pointer, not a reference, to anything that hands the token back (a reference
    /// argument would still be live, for the language, while the next holder writes).
    #[inline]
    pub(crate) fn get(&self) -> *mut Body<S> {
        self.0.get()
    }
}

/// What a drain watch calls (the socket thread's waker, for a routed socket held back).
pub type DrainWake = std::sync::Arc<dyn Fn() + Send + Sync>;

impl<S: ?Sized> Cell<S> {
    pub(crate) fn new(
        addr: Addr,
        svc: Box<S>,
        type_name: String,
        system: bool,
        launch: LaunchNotify,
    ) -> Cell<S> {
        Cell {
            addr,
            mailbox: Mailbox::new(),
            body: BodyCell(UnsafeCell::new(Body {
                svc: Some(svc),
                started: false,
                pending: std::collections::VecDeque::new(),
            })),
            type_name,
            system,
            started_at: SystemTime::now(),
            processed: AtomicU64::new(0),
            cpu_ticks: AtomicU64::new(0),
            kill: AtomicU8::new(KILL_NONE),
            retired: AtomicBool::new(false),
            waiting_on: AtomicU32::new(0),
            endless: AtomicBool::new(false),
            session: AtomicI32::new(0),
            launch: Mutex::new(launch),
            exit_error: Mutex::new(None),
            names: Mutex::new(Vec::new()),
            drain_wake: Mutex::new(None),
        }
    }

    /// Delivers a message to this service's mailbox, or hands it back when the service has
    /// ended. [`Pushed::Schedule`] means the service was idle and the caller now holds its
    /// run token: it must put the service in the run queue.
    #[inline]
    pub(crate) fn push(&self, msg: Message) -> Result<Pushed, Message> {
        if self.mailbox.try_claim() {
            // SAFETY: the claim set the scheduled flag, so this thread holds the run token
            // (see `BodyCell`) until the caller schedules the service; the mailbox was idle,
            // hence empty, so this message is the oldest.
            unsafe { (*self.body.get()).pending.push_back(msg) };
            return Ok(Pushed::Schedule);
        }
        match self.mailbox.push(msg)? {
            Admit::Queued(len) => Ok(Pushed::Queued(len)),
            Admit::Claimed(msg) => {
                // SAFETY: the push set the scheduled flag, so this thread holds the run
                // token (see `BodyCell`) until the caller schedules the service; nothing
                // else touches the body meanwhile. The mailbox was idle, hence empty, so
                // this message is the oldest.
                unsafe { (*self.body.get()).pending.push_back(msg) };
                Ok(Pushed::Schedule)
            }
        }
    }

    /// The next session number: 1..=i32::MAX, wrapping to 1, never 0 or negative. Only
    /// the holder of the run token allocates sessions (the service's own tasks and raw
    /// callback), so a load and a store suffice: no read-modify-write per call.
    pub(crate) fn next_session(&self) -> i32 {
        let cur = self.session.load(Ordering::Relaxed);
        let next = if (0..i32::MAX).contains(&cur) {
            cur + 1
        } else {
            1
        };
        self.session.store(next, Ordering::Relaxed);
        next
    }
}
