//! [`Kernel`]: the node's shared state. The handle table, local names, the run queue, the
//! timer thread, the config, the lifecycle and the hooks, and the operations on them that
//! every upper part uses: deliver a message, spawn, retire, kill, register a name, set a
//! timer, find a wait-for cycle.
//!
//! Generic over the service body `S`, so this layer never names the service interfaces
//! above it. The raw layer instantiates it once (`NodeInner`, `Kernel<dyn RawService>`).

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use parking_lot::{Condvar, Mutex, RwLock};

use crate::base::addr::HANDLE_MASK;
use crate::base::hash::IdMap;
use crate::base::{Addr, CallError, Error, Message, NameError, Payload, Ptype, SendError, Target};
use crate::config::Config;
use crate::kernel::cell::{Cell, LaunchNotify, KILL_NONE};
use crate::kernel::counters::Counters;
use crate::kernel::mailbox::Pushed;
use crate::kernel::run_queue::{Hosted, RunQueue, LIFO_SPILL};
use crate::kernel::runnable::Runnable;
use crate::kernel::slot::WorkerSlot;
use crate::kernel::unique::Uniques;
use crate::time::{TimerId, TimerThread, TurnClock};

/// Builds a service of a registered type from its string arguments.
pub(crate) type Factory<S> = Arc<dyn Fn(&[String]) -> Result<Box<S>, Error> + Send + Sync>;

/// A hook run when any service retires (the socket server closes the sockets it owned).
pub type ExitHook = Arc<dyn Fn(Addr) + Send + Sync>;

/// A hook run once at shutdown, after every user service has exited (the socket server
/// flushes and stops its thread).
pub type ShutdownHook = Box<dyn FnOnce() + Send>;

/// `Kernel::call_timeout` when calls have no default deadline.
const NO_TIMEOUT: u64 = u64::MAX;

/// Why a call could not be sent.
pub(crate) enum CallStart {
    /// Waiting would deadlock: the services in the cycle, starting with the caller.
    Cycle(Vec<Addr>),
    /// The destination is gone.
    Failed(SendError),
}

/// What the timer thread posts when a timer fires.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TimerEntry {
    pub(crate) dest: Addr,
    pub(crate) session: i32,
    /// Deadline of a call: delivered as ERROR from the system address.
    pub(crate) error: bool,
}

/// A snapshot of one service, for the launcher's `list` and the debug console.
#[derive(Debug, Clone)]
pub struct ServiceInfo {
    /// Its address.
    pub addr: Addr,
    /// Local names it holds.
    pub names: Vec<String>,
    /// Registered type name (`echo_agent`), or for `launch` the Rust type's name without
    /// module paths (`Gate`).
    pub type_name: String,
    /// Messages waiting in its mailbox.
    pub mailbox_len: usize,
    /// Messages it has handled.
    pub processed: u64,
    /// CPU (wall time inside its callbacks).
    pub cpu: Duration,
    /// When it was launched.
    pub started: SystemTime,
    /// The monitor saw it inside one message for longer than the limit.
    pub endless: bool,
    /// The service its main task is blocked calling, if any.
    pub waiting_on: Option<Addr>,
    /// A runtime service (logger, ...).
    pub system: bool,
}

pub(crate) struct Lifecycle {
    /// Shutdown was asked for (signal, console, `Node::shutdown`).
    pub(crate) shutdown_requested: bool,
}

/// Shared state of one node.
pub(crate) struct Kernel<S: ?Sized> {
    pub(crate) harbor: u8,
    handles: RwLock<IdMap<u32, Arc<Cell<S>>>>,
    next_handle: AtomicU32,
    names: RwLock<HashMap<String, Addr>>,
    pub(crate) registry: RwLock<HashMap<String, Factory<S>>>,
    /// Registered types whose services are system services (they do not keep the node
    /// alive, and the console refuses to kill them unless forced).
    pub(crate) system_types: RwLock<std::collections::HashSet<String>>,
    pub(crate) run_queue: RunQueue<S>,
    pub(crate) timers: TimerThread<TimerEntry>,
    pub(crate) start: Instant,
    /// Times worker turns for the CPU statistic.
    pub(crate) turn_clock: TurnClock,
    pub(crate) start_unix: Duration,
    pub(crate) env: RwLock<Config>,
    /// The default call deadline in nanoseconds, [`NO_TIMEOUT`] for none (read per call).
    call_timeout: AtomicU64,
    pub(crate) user_services: AtomicUsize,
    pub(crate) lifecycle: Mutex<Lifecycle>,
    pub(crate) lifecycle_cv: Condvar,
    extensions: RwLock<HashMap<TypeId, Arc<dyn Any + Send + Sync>>>,
    exit_hooks: RwLock<Vec<ExitHook>>,
    shutdown_hooks: Mutex<Vec<ShutdownHook>>,
    pub(crate) uniques: Uniques,
    pub(crate) workers: Vec<WorkerSlot>,
    pub(crate) logger: AtomicU32,
    /// Event counters for monitoring.
    pub(crate) counters: Counters,
}

impl<S: Hosted + ?Sized> Kernel<S> {
    pub(crate) fn new(harbor: u8, threads: usize, env: Config) -> Arc<Kernel<S>> {
        let start = Instant::now();
        let start_unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Arc::new_cyclic(|weak: &Weak<Kernel<S>>| {
            let weak = weak.clone();
            let timers = TimerThread::start(start, move |e: TimerEntry| {
                if let Some(node) = weak.upgrade() {
                    node.fire(e);
                }
            });
            Kernel {
                harbor,
                handles: RwLock::new(HashMap::default()),
                next_handle: AtomicU32::new(1),
                names: RwLock::new(HashMap::new()),
                registry: RwLock::new(HashMap::new()),
                system_types: RwLock::new(std::collections::HashSet::new()),
                run_queue: RunQueue::new(threads),
                timers,
                start,
                turn_clock: TurnClock::new(),
                start_unix,
                env: RwLock::new(env),
                call_timeout: AtomicU64::new(NO_TIMEOUT),
                user_services: AtomicUsize::new(0),
                lifecycle: Mutex::new(Lifecycle {
                    shutdown_requested: false,
                }),
                lifecycle_cv: Condvar::new(),
                extensions: RwLock::new(HashMap::new()),
                exit_hooks: RwLock::new(Vec::new()),
                shutdown_hooks: Mutex::new(Vec::new()),
                uniques: Uniques::default(),
                workers: (0..threads).map(|_| WorkerSlot::default()).collect(),
                logger: AtomicU32::new(0),
                counters: Counters::default(),
            }
        })
    }

    pub(crate) fn cell(&self, addr: Addr) -> Option<Arc<Cell<S>>> {
        self.with_cell(addr, |c| c.clone())
    }

    /// Runs `f` on the live service at `addr` (None if there is none) without cloning its
    /// `Arc`: the handle table's read lock is held while `f` runs, so `f` must not take the
    /// table's write lock (spawn, unregister) nor drop the last reference to a service.
    #[inline]
    pub(crate) fn with_cell<R>(&self, addr: Addr, f: impl FnOnce(&Arc<Cell<S>>) -> R) -> Option<R> {
        if addr.harbor() != self.harbor {
            return None;
        }
        self.handles.read().get(&addr.handle()).map(f)
    }

    /// The node-wide default call deadline.
    #[inline]
    pub(crate) fn call_timeout(&self) -> Option<Duration> {
        match self.call_timeout.load(Ordering::Relaxed) {
            NO_TIMEOUT => None,
            n => Some(Duration::from_nanos(n)),
        }
    }

    /// Sets the node-wide default call deadline (capped at about 584 years).
    pub(crate) fn set_call_timeout(&self, d: Option<Duration>) {
        let n = d.map_or(NO_TIMEOUT, |d| {
            u64::try_from(d.as_nanos())
                .unwrap_or(NO_TIMEOUT - 1)
                .min(NO_TIMEOUT - 1)
        });
        self.call_timeout.store(n, Ordering::Relaxed);
    }

    /// Unknown (never existed) or Dead (existed, gone).
    pub(crate) fn missing(&self, addr: Addr) -> CallError {
        if addr.harbor() == self.harbor
            && addr.handle() != 0
            && addr.handle() < self.next_handle.load(Ordering::Relaxed)
        {
            CallError::Dead(addr)
        } else {
            CallError::Unknown(addr)
        }
    }

    /// Delivers a message. Fails (handing it back) when the destination is gone.
    pub(crate) fn send(&self, dest: Addr, msg: Message) -> Result<(), SendError> {
        self.send_cached(dest, msg, |_| true).unwrap_or_else(|msg| {
            Err(SendError {
                reason: self.missing(dest),
                message: msg,
            })
        })
    }

    /// Pushes `msg` to the local service `dest` if `admit(its cell)` says so, through the
    /// calling worker's destination cache (see [`RunQueue::with_cached`]), else under the
    /// handle table's read lock. Err hands the message back when `dest` is not a local
    /// service or was not admitted.
    #[inline]
    fn send_cached(
        &self,
        dest: Addr,
        msg: Message,
        admit: impl Fn(&Cell<S>) -> bool,
    ) -> Result<Result<(), SendError>, Message> {
        if dest.harbor() != self.harbor {
            return Err(msg);
        }
        let cached = self.run_queue.with_cached(dest, msg, |cell, msg| {
            if admit(cell) {
                Ok(self.push(cell, msg).map(drop))
            } else {
                Err(msg)
            }
        });
        let msg = match cached {
            Ok(sent) => return sent,
            Err(msg) => msg,
        };
        // Pushed under the table's read lock: no `Arc` clone per message.
        let handles = self.handles.read();
        let Some(cell) = handles.get(&dest.handle()) else {
            return Err(msg);
        };
        if !admit(cell) {
            return Err(msg);
        }
        let sent = self.push(cell, msg).map(drop);
        let again = (sent.is_ok() && self.run_queue.note_lookup(dest)).then(|| cell.clone());
        drop(handles);
        if let Some(cell) = again {
            self.run_queue.keep_cached(dest, cell);
        }
        Ok(sent)
    }

    /// Sends a call made by `from`'s main task (which already waits on `dest`): refused
    /// with the cycle when waiting would deadlock (see [`Kernel::find_cycle`]). The
    /// common case, a callee that waits on nobody, is checked and sent in one lookup
    /// (through the worker's destination cache when it calls that service again and again).
    pub(crate) fn send_call(&self, from: Addr, dest: Addr, msg: Message) -> Result<(), CallStart> {
        let msg = if dest != from {
            let idle_callee = |c: &Cell<S>| Addr(c.waiting_on.load(Ordering::SeqCst)).is_system();
            match self.send_cached(dest, msg, idle_callee) {
                Ok(sent) => return sent.map_err(CallStart::Failed),
                Err(msg) => msg,
            }
        } else {
            msg
        };
        // The callee waits on someone (or is the caller, or is not here): the full walk.
        if let Some(cycle) = self.find_cycle(from, dest) {
            return Err(CallStart::Cycle(cycle));
        }
        self.send(dest, msg).map_err(CallStart::Failed)
    }

    /// Pushes to `cell` and schedules it if it was idle. Ok holds 1 when it was idle,
    /// else the length of its queue once per block of the queue and 0 for the other
    /// messages (see `Admit::Queued`): enough for the LIFO spill below.
    #[inline]
    pub(crate) fn push(&self, cell: &Arc<Cell<S>>, msg: Message) -> Result<usize, SendError> {
        match cell.push(msg) {
            Ok(Pushed::Schedule) => {
                // SAFETY: the push claimed the run token, which goes to the run queue with
                // this entry; the mailbox was not closed, so the cell is still registered.
                self.run_queue.schedule(unsafe { Runnable::new(cell) });
                Ok(1)
            }
            Ok(Pushed::Queued(len)) => {
                if len >= LIFO_SPILL {
                    // Piling up in a busy worker's slot: let an idle worker take it.
                    self.run_queue.spill_lifo(Arc::as_ptr(cell));
                }
                Ok(len)
            }
            Err(message) => Err(SendError {
                reason: CallError::Dead(cell.addr),
                message,
            }),
        }
    }

    /// Answers `session` at `dest` with an error (no-op for session 0).
    pub(crate) fn send_error(&self, from: Addr, dest: Addr, session: i32, err: CallError) {
        if session == 0 || dest.is_system() {
            return;
        }
        let _ = self.send(dest, Message::value(from, session, Ptype::ERROR, err));
    }

    /// Creates a service and puts it in the run queue; its `init` runs on a worker.
    pub(crate) fn spawn(
        &self,
        svc: Box<S>,
        type_name: String,
        system: bool,
        launch: LaunchNotify,
    ) -> Result<Addr, CallError> {
        let cell = self.spawn_unqueued(svc, type_name, system, launch)?;
        let addr = cell.addr;
        // The mailbox starts "scheduled": the creator holds the run token, and this is its
        // one entry into the run queue.
        // SAFETY: the token is handed over with the entry; the cell was just registered.
        self.run_queue.push_global(unsafe { Runnable::new(&cell) });
        Ok(addr)
    }

    /// Creates a service, registered and reachable, but not in the run queue: its mailbox
    /// starts "scheduled", so the caller owns its first turn (its `init`) and must run it
    /// and then queue it if messages wait.
    pub(crate) fn spawn_unqueued(
        &self,
        svc: Box<S>,
        type_name: String,
        system: bool,
        launch: LaunchNotify,
    ) -> Result<Arc<Cell<S>>, CallError> {
        if self.lifecycle.lock().shutdown_requested && !system {
            if let LaunchNotify::Channel(tx) = launch {
                let _ = tx.send(Err(CallError::Detached));
            }
            return Err(CallError::Detached);
        }
        let handle = self.next_handle.fetch_add(1, Ordering::Relaxed);
        if handle > HANDLE_MASK {
            return Err(CallError::Failed(
                Addr::SYSTEM,
                "out of service handles (16M per node)".into(),
            ));
        }
        let addr = Addr::new(self.harbor, handle);
        let cell = Arc::new(Cell::new(addr, svc, type_name, system, launch));
        if !system {
            self.user_services.fetch_add(1, Ordering::SeqCst);
        }
        self.handles.write().insert(handle, cell.clone());
        Ok(cell)
    }

    /// Removes a retired service from the tables and runs the exit hooks.
    pub(crate) fn unregister(&self, cell: &Cell<S>) {
        let _ = self
            .logger
            .compare_exchange(cell.addr.0, 0, Ordering::SeqCst, Ordering::SeqCst);
        self.handles.write().remove(&cell.addr.handle());
        let names = std::mem::take(&mut *cell.names.lock());
        if !names.is_empty() {
            let mut table = self.names.write();
            for n in names {
                if table.get(&n) == Some(&cell.addr) {
                    table.remove(&n);
                }
            }
        }
        self.counters
            .retired_messages
            .fetch_add(cell.processed.load(Ordering::Relaxed), Ordering::Relaxed);
        let hooks: Vec<ExitHook> = self.exit_hooks.read().clone();
        for hook in hooks {
            hook(cell.addr);
        }
        if !cell.system {
            self.user_services.fetch_sub(1, Ordering::SeqCst);
        }
        // Shutdown and `Node::wait` watch the service count.
        let _g = self.lifecycle.lock();
        self.lifecycle_cv.notify_all();
    }

    /// Tells whoever launched `cell` how its init went (once).
    pub(crate) fn notify_launch(&self, cell: &Cell<S>, result: Result<(), String>) {
        let who = std::mem::replace(&mut *cell.launch.lock(), LaunchNotify::None);
        let addr = cell.addr;
        let outcome = result
            .map(|_| addr)
            .map_err(|why| CallError::Failed(addr, why));
        match who {
            LaunchNotify::None => {}
            LaunchNotify::Session(dest, session) => {
                let msg = match outcome {
                    Ok(a) => Message::value(addr, session, Ptype::RESPONSE, a),
                    Err(e) => Message::value(addr, session, Ptype::ERROR, e),
                };
                let _ = self.send(dest, msg);
            }
            LaunchNotify::Channel(tx) => {
                let _ = tx.send(outcome);
            }
        }
    }

    pub(crate) fn kill(&self, addr: Addr, how: u8) -> bool {
        let Some(cell) = self.cell(addr) else {
            return false;
        };
        if cell
            .kill
            .compare_exchange(KILL_NONE, how, Ordering::SeqCst, Ordering::SeqCst)
            .is_err()
        {
            return true;
        }
        // A wake-up message gets it scheduled; the worker sees the flag first.
        let _ = self.push(&cell, wake_message());
        true
    }

    pub(crate) fn register(&self, addr: Addr, name: &str) -> Result<(), NameError> {
        if !name.starts_with('.') || name.len() < 2 {
            return Err(NameError::Invalid(name.to_string()));
        }
        let cell = self
            .cell(addr)
            .ok_or(NameError::Invalid(name.to_string()))?;
        let mut table = self.names.write();
        if let Some(&holder) = table.get(name) {
            if holder != addr && self.cell(holder).is_some() {
                return Err(NameError::Taken(name.to_string(), holder));
            }
        }
        table.insert(name.to_string(), addr);
        cell.names.lock().push(name.to_string());
        if name == ".logger" {
            // Whoever holds `.logger` receives the `log` facade's lines.
            self.logger.store(addr.0, Ordering::SeqCst);
        }
        Ok(())
    }

    /// True for a registered type whose services are system services.
    pub(crate) fn is_system_type(&self, name: &str) -> bool {
        self.system_types.read().contains(name)
    }

    /// A new service of the type registered as `name`, made from `args`: `NoSuchName` when
    /// no type has that name, `Failed` when its factory refuses the arguments.
    pub(crate) fn make_registered(&self, name: &str, args: &[String]) -> Result<Box<S>, CallError> {
        let factory = self.registry.read().get(name).cloned();
        match factory {
            None => Err(CallError::NoSuchName(name.to_string())),
            Some(f) => f(args).map_err(|e| CallError::Failed(Addr::SYSTEM, format!("{name}: {e}"))),
        }
    }

    /// The address a send or call to `dest` goes to: a name is looked up now.
    #[inline]
    pub(crate) fn target(&self, dest: Target<'_>) -> Result<Addr, CallError> {
        match dest {
            Target::Addr(a) => Ok(a),
            Target::Name(name) => self.target_name(name),
        }
    }

    /// [`Kernel::target`] for a name (kept out of line: addresses are the hot case).
    fn target_name(&self, name: &str) -> Result<Addr, CallError> {
        self.query(name)
            .ok_or_else(|| CallError::NoSuchName(name.to_string()))
    }

    pub(crate) fn query(&self, name: &str) -> Option<Addr> {
        if let Ok(a) = name.parse::<Addr>() {
            return Some(a);
        }
        self.names.read().get(name).copied()
    }

    pub(crate) fn add_timer(&self, deadline: Instant, entry: TimerEntry) -> TimerId {
        self.timers.add(deadline, entry)
    }

    /// Sets a timer `delay` from now. A zero delay fires here and now, as skynet's
    /// `skynet_timeout` does: the expiry goes straight into the mailbox (a stale id comes
    /// back), with no trip through the wheel and no wake-up of the timer thread. A service
    /// setting many timeouts at once used to wake that thread for every zero delay.
    pub(crate) fn add_timeout(&self, delay: Duration, entry: TimerEntry) -> TimerId {
        if delay.is_zero() {
            self.fire(entry);
            return TimerId::FIRED;
        }
        self.add_timer(Instant::now() + delay, entry)
    }

    /// Delivers a timer's expiry: RESPONSE (ERROR for a call's deadline) from the system
    /// address. A dead destination just drops it.
    pub(crate) fn fire(&self, e: TimerEntry) {
        let ptype = if e.error {
            Ptype::ERROR
        } else {
            Ptype::RESPONSE
        };
        let _ = self.send(
            e.dest,
            Message {
                source: Addr::SYSTEM,
                session: e.session,
                ptype,
                payload: Payload::Empty,
            },
        );
    }

    /// Follows the wait-for graph from `to`; Some(cycle) when it leads back to `from`.
    pub(crate) fn find_cycle(&self, from: Addr, to: Addr) -> Option<Vec<Addr>> {
        if to == from {
            return Some(vec![from]);
        }
        // The common case, a callee that waits on nobody, allocates nothing.
        let first = Addr(self.with_cell(to, |c| c.waiting_on.load(Ordering::SeqCst))?);
        if first.is_system() {
            return None;
        }
        let mut path = vec![from, to, first];
        let mut cur = first;
        for _ in 0..63 {
            if cur == from {
                path.pop();
                return Some(path);
            }
            let next = Addr(self.with_cell(cur, |c| c.waiting_on.load(Ordering::SeqCst))?);
            if next.is_system() {
                return None;
            }
            path.push(next);
            cur = next;
        }
        None
    }

    pub(crate) fn info(&self, cell: &Cell<S>) -> ServiceInfo {
        let waiting = cell.waiting_on.load(Ordering::Relaxed);
        ServiceInfo {
            addr: cell.addr,
            names: cell.names.lock().clone(),
            type_name: cell.type_name.clone(),
            mailbox_len: cell.mailbox.len(),
            processed: cell.processed.load(Ordering::Relaxed),
            cpu: self
                .turn_clock
                .to_duration(cell.cpu_ticks.load(Ordering::Relaxed)),
            started: cell.started_at,
            endless: cell.endless.load(Ordering::Relaxed),
            waiting_on: (waiting != 0).then_some(Addr(waiting)),
            system: cell.system,
        }
    }

    pub(crate) fn all_cells(&self) -> Vec<Arc<Cell<S>>> {
        let mut v: Vec<Arc<Cell<S>>> = self.handles.read().values().cloned().collect();
        v.sort_by_key(|c| c.addr);
        v
    }

    /// Runs `hook(addr)` whenever a service retires.
    pub(crate) fn add_exit_hook(&self, hook: ExitHook) {
        self.exit_hooks.write().push(hook);
    }

    /// Drops the exit hooks (at the end of shutdown: no service is left to retire). A hook
    /// may hold a handle of this node (the Lua host's MONITOR hook does): kept, that cycle
    /// would keep the node's memory after its threads stopped.
    pub(crate) fn release_exit_hooks(&self) {
        let hooks = std::mem::take(&mut *self.exit_hooks.write());
        // Dropped outside the lock: a hook's captures may do anything when dropped.
        drop(hooks);
    }

    /// Runs `hook` once at shutdown.
    pub(crate) fn add_shutdown_hook(&self, hook: ShutdownHook) {
        self.shutdown_hooks.lock().push(hook);
    }

    /// The node-wide singleton of type `T`, created by `init` on first use.
    pub(crate) fn extension<T: Any + Send + Sync>(&self, init: impl FnOnce() -> T) -> Arc<T> {
        let key = TypeId::of::<T>();
        if let Some(e) = self.extensions.read().get(&key) {
            if let Ok(t) = e.clone().downcast::<T>() {
                return t;
            }
        }
        let mut map = self.extensions.write();
        if let Some(e) = map.get(&key) {
            if let Ok(t) = e.clone().downcast::<T>() {
                return t;
            }
        }
        let t = Arc::new(init());
        map.insert(key, t.clone());
        t
    }

    pub(crate) fn take_shutdown_hooks(&self) -> Vec<ShutdownHook> {
        std::mem::take(&mut *self.shutdown_hooks.lock())
    }

    pub(crate) fn request_shutdown(&self) {
        let mut l = self.lifecycle.lock();
        l.shutdown_requested = true;
        self.lifecycle_cv.notify_all();
    }
}

pub(crate) fn wake_message() -> Message {
    internal_message(Ptype::WAKE)
}

/// The message that has an idle service give back its spare memory (see `Ptype::TRIM`).
pub(crate) fn trim_message() -> Message {
    internal_message(Ptype::TRIM)
}

fn internal_message(ptype: Ptype) -> Message {
    Message {
        source: Addr::SYSTEM,
        session: 0,
        ptype,
        payload: Payload::Empty,
    }
}
