//! The node's shared state and [`NodeHandle`], the thread-safe way to reach it.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use parking_lot::{Condvar, Mutex, RwLock};

use crate::addr::{Addr, HANDLE_MASK};
use crate::cell::{Cell, LaunchNotify, KILL_KILLED, KILL_NONE};
use crate::config::Config;
use crate::error::{CallError, Error, NameError, SendError};
use crate::executor::SessionHasher;
use crate::message::{Message, Payload, Ptype};
use crate::monitor::WorkerSlot;
use crate::run_queue::RunQueue;
use crate::service::RawService;
use crate::timer_thread::TimerThread;
use crate::timer_wheel::TimerId;
use crate::unique::Uniques;

/// Builds a service of a registered type from its string arguments.
pub(crate) type Factory =
    Arc<dyn Fn(&[String]) -> Result<Box<dyn RawService>, Error> + Send + Sync>;

/// A hook run when any service retires (the socket server closes the sockets it owned).
pub type ExitHook = Arc<dyn Fn(Addr) + Send + Sync>;

/// A hook run once at shutdown, after every user service has exited (the socket server
/// flushes and stops its thread).
pub type ShutdownHook = Box<dyn FnOnce() + Send>;

/// `NodeInner::call_timeout` when calls have no default deadline.
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
    /// Registered type name (or Rust type name for `launch`).
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
pub(crate) struct NodeInner {
    pub(crate) harbor: u8,
    handles: RwLock<HashMap<u32, Arc<Cell>, BuildHasherDefault<SessionHasher>>>,
    next_handle: AtomicU32,
    names: RwLock<HashMap<String, Addr>>,
    pub(crate) registry: RwLock<HashMap<String, Factory>>,
    pub(crate) run_queue: RunQueue,
    pub(crate) timers: TimerThread<TimerEntry>,
    pub(crate) start: Instant,
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
}

impl NodeInner {
    pub(crate) fn new(harbor: u8, threads: usize, env: Config) -> Arc<NodeInner> {
        let start = Instant::now();
        let start_unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Arc::new_cyclic(|weak: &Weak<NodeInner>| {
            let weak = weak.clone();
            let timers = TimerThread::start(start, move |e: TimerEntry| {
                if let Some(node) = weak.upgrade() {
                    node.fire(e);
                }
            });
            NodeInner {
                harbor,
                handles: RwLock::new(HashMap::default()),
                next_handle: AtomicU32::new(1),
                names: RwLock::new(HashMap::new()),
                registry: RwLock::new(HashMap::new()),
                run_queue: RunQueue::new(),
                timers,
                start,
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
            }
        })
    }

    pub(crate) fn cell(&self, addr: Addr) -> Option<Arc<Cell>> {
        self.with_cell(addr, |c| c.clone())
    }

    /// Runs `f` on the live service at `addr` (None if there is none) without cloning its
    /// `Arc`: the handle table's read lock is held while `f` runs, so `f` must not take the
    /// table's write lock (spawn, unregister) nor drop the last reference to a service.
    #[inline]
    pub(crate) fn with_cell<R>(&self, addr: Addr, f: impl FnOnce(&Arc<Cell>) -> R) -> Option<R> {
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
        if dest.harbor() == self.harbor {
            if let Some(cell) = self.run_queue.take_sent_to(dest) {
                let sent = self.push(&cell, msg).map(drop);
                if sent.is_ok() {
                    self.run_queue.keep_sent_to(dest, cell);
                }
                return sent;
            }
            // Pushed under the table's read lock: no `Arc` clone per message.
            let handles = self.handles.read();
            if let Some(cell) = handles.get(&dest.handle()) {
                let sent = self.push(cell, msg).map(drop);
                let again =
                    (sent.is_ok() && self.run_queue.note_lookup(dest)).then(|| cell.clone());
                drop(handles);
                if let Some(cell) = again {
                    self.run_queue.keep_sent_to(dest, cell);
                }
                return sent;
            }
        }
        Err(SendError {
            reason: self.missing(dest),
            message: msg,
        })
    }

    /// Sends a call made by `from`'s main task (which already waits on `dest`): refused
    /// with the cycle when waiting would deadlock (see [`NodeInner::find_cycle`]). The
    /// common case, a callee that waits on nobody, is checked and sent in one lookup.
    pub(crate) fn send_call(&self, from: Addr, dest: Addr, msg: Message) -> Result<(), CallStart> {
        if dest.harbor() == self.harbor && dest != from {
            let handles = self.handles.read();
            if let Some(cell) = handles.get(&dest.handle()) {
                if Addr(cell.waiting_on.load(Ordering::SeqCst)).is_system() {
                    return self.push(cell, msg).map(drop).map_err(CallStart::Failed);
                }
            }
        }
        // The callee waits on someone (or is the caller, or is not here): the full walk.
        if let Some(cycle) = self.find_cycle(from, dest) {
            return Err(CallStart::Cycle(cycle));
        }
        self.send(dest, msg).map_err(CallStart::Failed)
    }

    /// Pushes to `cell` and schedules it if it was idle. Ok holds the length of its shared
    /// queue after the push (1 when it was idle).
    pub(crate) fn push(&self, cell: &Arc<Cell>, msg: Message) -> Result<usize, SendError> {
        match cell.mailbox.push(msg) {
            Ok(crate::mailbox::Pushed::Schedule) => {
                self.run_queue.schedule(cell.clone());
                Ok(1)
            }
            Ok(crate::mailbox::Pushed::Queued(len)) => {
                if len >= crate::run_queue::LIFO_SPILL {
                    // Piling up in a busy worker's slot: let an idle worker take it.
                    self.run_queue.spill_lifo(cell);
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
        svc: Box<dyn RawService>,
        type_name: String,
        system: bool,
        launch: LaunchNotify,
    ) -> Result<Addr, CallError> {
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
        // The mailbox starts "scheduled"; this is its one entry into the run queue.
        self.run_queue.push_global(cell);
        Ok(addr)
    }

    /// Removes a retired service from the tables and runs the exit hooks.
    pub(crate) fn unregister(&self, cell: &Cell) {
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

    pub(crate) fn info(&self, cell: &Cell) -> ServiceInfo {
        let waiting = cell.waiting_on.load(Ordering::Relaxed);
        ServiceInfo {
            addr: cell.addr,
            names: cell.names.lock().clone(),
            type_name: cell.type_name.clone(),
            mailbox_len: cell.mailbox.len(),
            processed: cell.processed.load(Ordering::Relaxed),
            cpu: Duration::from_nanos(cell.cpu_ns.load(Ordering::Relaxed)),
            started: cell.started_at,
            endless: cell.endless.load(Ordering::Relaxed),
            waiting_on: (waiting != 0).then_some(Addr(waiting)),
            system: cell.system,
        }
    }

    pub(crate) fn all_cells(&self) -> Vec<Arc<Cell>> {
        let mut v: Vec<Arc<Cell>> = self.handles.read().values().cloned().collect();
        v.sort_by_key(|c| c.addr);
        v
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
    Message {
        source: Addr::SYSTEM,
        session: 0,
        ptype: Ptype::WAKE,
        payload: Payload::Empty,
    }
}

/// A cheap, cloneable, thread-safe handle to a node: send messages, look up names, kill
/// services, read the config, from any thread (the socket server thread uses it).
#[derive(Clone)]
pub struct NodeHandle {
    pub(crate) inner: Arc<NodeInner>,
}

/// A service resolved by [`NodeHandle::resolve`]: sends to it skip the node's handle table.
#[derive(Clone)]
pub struct ServiceRef {
    cell: Arc<Cell>,
}

impl ServiceRef {
    /// The service's address.
    pub fn addr(&self) -> Addr {
        self.cell.addr
    }

    /// Messages waiting in its mailbox now, as [`NodeHandle::queue_len`] says (0 once it
    /// has exited).
    pub fn queue_len(&self) -> usize {
        self.cell.mailbox.len()
    }
}

impl std::fmt::Debug for ServiceRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ServiceRef({})", self.cell.addr)
    }
}

/// Deferred worker wake-ups of one thread, from [`NodeHandle::defer_wakes`]; dropping it
/// wakes the parked workers the queued services need.
#[must_use = "dropping the batch at once wakes the workers at once"]
pub struct WakeBatch {
    /// The node, when this batch started the deferral (the one to end it).
    node: Option<Arc<NodeInner>>,
}

impl Drop for WakeBatch {
    fn drop(&mut self) {
        if let Some(node) = &self.node {
            node.run_queue.flush_wakes();
        }
    }
}

impl std::fmt::Debug for WakeBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WakeBatch")
    }
}

impl std::fmt::Debug for NodeHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NodeHandle(harbor {})", self.inner.harbor)
    }
}

impl NodeHandle {
    /// Delivers `msg` to `dest`. Fails, handing the message back, when `dest` is gone.
    pub fn send(&self, dest: Addr, msg: Message) -> Result<(), SendError> {
        self.inner.send(dest, msg)
    }

    /// Kills a service (its `exit` runs; callers waiting on it get errors). False if unknown.
    pub fn kill(&self, addr: Addr) -> bool {
        self.inner.kill(addr, KILL_KILLED)
    }

    /// Looks up a local name (`.logger`) or parses a literal address (`:0000000a`).
    pub fn query(&self, name: &str) -> Option<Addr> {
        self.inner.query(name)
    }

    /// Gives `addr` the local name `name` (must start with `.`).
    pub fn register(&self, addr: Addr, name: &str) -> Result<(), NameError> {
        self.inner.register(addr, name)
    }

    /// A config value (every key of the config file, plus `setenv` ones).
    pub fn getenv(&self, key: &str) -> Option<String> {
        self.inner.env.read().get(key).map(str::to_string)
    }

    /// A config value parsed as `T`; a bad value is an error naming the file, line and key.
    pub fn getenv_parsed<T: std::str::FromStr>(
        &self,
        key: &str,
    ) -> Result<Option<T>, crate::config::ConfigError> {
        self.inner.env.read().get_parsed(key)
    }

    /// Sets a config value.
    pub fn setenv(&self, key: &str, value: &str) {
        self.inner.env.write().set(key, value);
    }

    /// Centiseconds since the node started (skynet's `now`).
    pub fn now(&self) -> u64 {
        (self.inner.start.elapsed().as_millis() / 10) as u64
    }

    /// The node's start time, seconds since the Unix epoch.
    pub fn starttime(&self) -> u64 {
        self.inner.start_unix.as_secs()
    }

    /// Seconds since the Unix epoch, with centisecond precision: `starttime + now/100`.
    pub fn time(&self) -> f64 {
        self.inner.start_unix.as_secs_f64() + self.now() as f64 / 100.0
    }

    /// Every live service.
    pub fn services(&self) -> Vec<ServiceInfo> {
        self.inner
            .all_cells()
            .iter()
            .map(|c| self.inner.info(c))
            .collect()
    }

    /// One service.
    pub fn service_info(&self, addr: Addr) -> Option<ServiceInfo> {
        self.inner.cell(addr).map(|c| self.inner.info(&c))
    }

    /// Messages waiting in a service's mailbox now; `None` if there is no such service.
    /// Cheap enough to call per socket read (the socket thread uses it to hold back a
    /// routed socket whose destination is backed up).
    pub fn queue_len(&self, addr: Addr) -> Option<usize> {
        self.inner.cell(addr).map(|c| c.mailbox.len())
    }

    /// Resolves `addr` once, for a stream of sends to it that should skip the node's handle
    /// table ([`send_ref`](Self::send_ref)): the socket thread keeps one per routed socket.
    /// `None` if there is no such live service. Holding a `ServiceRef` keeps the service's
    /// mailbox memory (not the service) until it is dropped; sends to a service that has
    /// exited since fail as any send to it does.
    pub fn resolve(&self, addr: Addr) -> Option<ServiceRef> {
        self.inner.cell(addr).map(|cell| ServiceRef { cell })
    }

    /// Sends to a resolved service, as [`send`](Self::send) to its address does. Ok holds
    /// the number of messages now waiting in its mailbox (as [`queue_len`](Self::queue_len)
    /// would say, without another lookup).
    ///
    /// ```
    /// # use skynet_runtime::{Addr, Context, Message, Node, Ptype, Service};
    /// # struct Quiet;
    /// # impl Service for Quiet { async fn dispatch(&mut self, _: &mut Context, _: Message) {} }
    /// let node = Node::builder().threads(1).build().unwrap();
    /// let addr = node.launch(Quiet).unwrap();
    /// let handle = node.handle();
    /// let to = handle.resolve(addr).unwrap();
    /// let msg = Message::value(Addr::SYSTEM, 0, Ptype::LUA, "hi");
    /// assert!(handle.send_ref(&to, msg).unwrap() >= 1);
    /// # node.shutdown();
    /// ```
    pub fn send_ref(&self, to: &ServiceRef, msg: Message) -> Result<usize, SendError> {
        let queued = self.inner.push(&to.cell, msg)?;
        Ok(queued + to.cell.mailbox.pending_hint())
    }

    /// Defers the wake-ups of parked workers that the calling thread's sends would cause
    /// until the returned guard drops, which then wakes as many as the services queued
    /// meanwhile need. For a thread outside the node that delivers bursts (the socket
    /// thread, per batch of readiness events): a wake-up per message lets the woken worker
    /// preempt the sender on its core for every one of them. Messages are delivered at once
    /// as always; only the wake-up waits. Has no effect on the node's own workers. A batch
    /// opened while another is open on the same thread is part of the outer one.
    ///
    /// ```
    /// # use skynet_runtime::Node;
    /// let node = Node::builder().threads(1).build().unwrap();
    /// let handle = node.handle();
    /// {
    ///     let _batch = handle.defer_wakes();
    ///     // ... many handle.send(..) calls: no worker is woken yet ...
    /// } // the guard drops: parked workers wake for what was queued
    /// node.shutdown();
    /// ```
    pub fn defer_wakes(&self) -> WakeBatch {
        let started = self.inner.run_queue.defer_wakes();
        WakeBatch {
            node: started.then(|| self.inner.clone()),
        }
    }

    /// Launches a raw service; its `init` runs on a worker. Returns the address at once.
    pub fn launch_raw(&self, svc: Box<dyn RawService>, type_name: &str) -> Result<Addr, CallError> {
        self.inner
            .spawn(svc, type_name.to_string(), false, LaunchNotify::None)
    }

    /// Runs `hook(addr)` whenever a service retires (after its `exit`).
    pub fn on_service_exit(&self, hook: ExitHook) {
        self.inner.exit_hooks.write().push(hook);
    }

    /// Runs `hook` once at shutdown, after every user service has exited.
    pub fn on_shutdown(&self, hook: ShutdownHook) {
        self.inner.shutdown_hooks.lock().push(hook);
    }

    /// The node-wide singleton of type `T`, created by `init` on first use (how `skynet-net`
    /// attaches its socket server to a node).
    pub fn extension<T: Any + Send + Sync>(&self, init: impl FnOnce(&NodeHandle) -> T) -> Arc<T> {
        let key = TypeId::of::<T>();
        if let Some(e) = self.inner.extensions.read().get(&key) {
            if let Ok(t) = e.clone().downcast::<T>() {
                return t;
            }
        }
        let mut map = self.inner.extensions.write();
        if let Some(e) = map.get(&key) {
            if let Ok(t) = e.clone().downcast::<T>() {
                return t;
            }
        }
        let t = Arc::new(init(self));
        map.insert(key, t.clone());
        t
    }

    /// The node's harbor id.
    pub fn harbor(&self) -> u8 {
        self.inner.harbor
    }

    /// Asks the node to shut down (as Ctrl-C does).
    pub fn request_shutdown(&self) {
        self.inner.request_shutdown();
    }

    /// True once shutdown has been requested.
    pub fn is_shutting_down(&self) -> bool {
        self.inner.lifecycle.lock().shutdown_requested
    }

    /// The node-wide default call deadline (`call_timeout` in the config).
    pub fn call_timeout(&self) -> Option<Duration> {
        self.inner.call_timeout()
    }

    /// Pending timers (for the console's `timers`).
    pub fn pending_timers(&self) -> usize {
        self.inner.timers.len()
    }
}
