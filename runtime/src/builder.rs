//! [`Node`] and [`NodeBuilder`]: start a node, run it until its services end or a signal
//! comes, shut it down cleanly.

use std::any::Any;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::addr::Addr;
use crate::cell::{LaunchNotify, KILL_DRAIN, KILL_SHUTDOWN};
use crate::config::Config;
use crate::error::{CallError, Error, SendError};
use crate::executor::AsyncHost;
use crate::logger::{self, LoggerService};
use crate::message::{Message, Payload, Ptype};
use crate::monitor::run_monitor;
use crate::node::{Factory, NodeHandle, NodeInner};
use crate::raw_context::RawContext;
use crate::service::{RawService, Service};
use crate::worker::{weight, worker_main};

/// How long shutdown waits for services to run their `exit` before giving up on them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Configures and starts a [`Node`].
///
/// ```
/// use skynet_runtime::{Context, Message, Node, Service};
///
/// struct Hello;
/// impl Service for Hello {
///     async fn dispatch(&mut self, ctx: &mut Context, msg: Message) {
///         let _ = ctx.ret(format!("hello, {}", msg.take::<String>().unwrap_or_default()));
///     }
/// }
///
/// let node = Node::builder().threads(2).service("hello", |_args| Ok(Hello)).build().unwrap();
/// let addr = node.newservice("hello", &[]).unwrap();
/// let reply = node.call(addr, "rust".to_string()).unwrap();
/// assert_eq!(reply.take::<String>().unwrap(), "hello, rust");
/// node.shutdown();
/// ```
pub struct NodeBuilder {
    config: Config,
    threads: Option<usize>,
    factories: Vec<(String, Factory)>,
    logger: Option<Box<dyn RawService>>,
    monitor_threshold: Duration,
    profile: Option<bool>,
    sched_batch: Option<bool>,
}

impl Default for NodeBuilder {
    fn default() -> Self {
        NodeBuilder {
            config: Config::new(),
            threads: None,
            factories: Vec::new(),
            logger: None,
            monitor_threshold: Duration::from_secs(5),
            profile: None,
            sched_batch: None,
        }
    }
}

impl NodeBuilder {
    /// Uses this configuration (every key readable with `getenv`).
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// Worker threads (overrides the config's `thread`).
    pub fn threads(mut self, n: usize) -> Self {
        self.threads = Some(n.max(1));
        self
    }

    /// Registers a service type for `newservice(name, args)`.
    pub fn service<S, F>(mut self, name: &str, make: F) -> Self
    where
        S: Service,
        F: Fn(&[String]) -> Result<S, Error> + Send + Sync + 'static,
    {
        let f: Factory = Arc::new(move |args: &[String]| {
            make(args).map(|s| Box::new(AsyncHost::new(s)) as Box<dyn RawService>)
        });
        self.factories.push((name.to_string(), f));
        self
    }

    /// Registers a raw service type.
    pub fn raw_service<F>(mut self, name: &str, make: F) -> Self
    where
        F: Fn(&[String]) -> Result<Box<dyn RawService>, Error> + Send + Sync + 'static,
    {
        self.factories.push((name.to_string(), Arc::new(make)));
        self
    }

    /// Replaces the standard `.logger` service (it must register `.logger` itself).
    pub fn logger(mut self, svc: Box<dyn RawService>) -> Self {
        self.logger = Some(svc);
        self
    }

    /// Measures each service's CPU time (default: the config's `profile`, true when absent).
    /// Off saves a clock read per worker turn; `ServiceInfo::cpu` then stays zero.
    pub fn profile(mut self, on: bool) -> Self {
        self.profile = Some(on);
        self
    }

    /// Runs the worker threads under Linux's `SCHED_BATCH` policy (default: the config's
    /// `sched_batch`, true when absent): a woken worker waits for an idle core or the end of
    /// the running thread's slice instead of preempting it. Ignored elsewhere than Linux.
    pub fn sched_batch(mut self, on: bool) -> Self {
        self.sched_batch = Some(on);
        self
    }

    /// How long a service may stay inside one message before the monitor reports it
    /// (default 5 s, as skynet).
    pub fn monitor_threshold(mut self, d: Duration) -> Self {
        self.monitor_threshold = d;
        self
    }

    /// Starts the node's threads and its logger.
    pub fn build(self) -> Result<Node, Error> {
        self.config.validate()?;
        let threads = match self.threads {
            Some(n) => n,
            None => self.config.thread()?,
        };
        let harbor = self.config.harbor()?;
        let level = self.config.loglevel()?;
        let call_timeout = self.config.call_timeout()?;
        let profile = match self.profile {
            Some(on) => on,
            None => self.config.profile()?,
        };
        let sched_batch = match self.sched_batch {
            Some(on) => on,
            None => self.config.sched_batch()?,
        };
        let log_path = self.config.logger().map(std::path::PathBuf::from);
        let inner = NodeInner::new(harbor, threads, self.config);
        inner.set_call_timeout(call_timeout);
        {
            let mut reg = inner.registry.write();
            for (name, f) in self.factories {
                reg.insert(name, f);
            }
        }
        logger::install(level);
        let mut workers = Vec::with_capacity(threads);
        for i in 0..threads {
            let node = inner.clone();
            let w = weight(i);
            workers.push(
                std::thread::Builder::new()
                    .name(format!("skynet-worker-{i}"))
                    .spawn(move || worker_main(node, i, w, profile, sched_batch))?,
            );
        }
        let monitor_stop = Arc::new((Mutex::new(false), Condvar::new()));
        let monitor = {
            let node = inner.clone();
            let stop = monitor_stop.clone();
            let threshold = self.monitor_threshold;
            std::thread::Builder::new()
                .name("skynet-monitor".into())
                .spawn(move || run_monitor(node, threshold, stop))?
        };
        let node = Node {
            handle: NodeHandle { inner },
            workers,
            monitor: Some(monitor),
            monitor_stop,
            stopped: false,
            signals: None,
        };
        let logger_svc = self
            .logger
            .unwrap_or_else(|| Box::new(LoggerService::new(log_path)));
        node.spawn_wait(logger_svc, ".logger", true)
            .map_err(|e| format!("cannot start the logger: {e}"))?;
        Ok(node)
    }

    /// Loads the config file, applies `overrides`, starts the node and its `start` service,
    /// and runs until every service has exited or SIGINT/SIGTERM arrives.
    pub fn run_config(
        self,
        path: impl AsRef<Path>,
        overrides: &[(String, String)],
    ) -> Result<(), Error> {
        let config = Config::load(path)?.with_overrides(overrides)?;
        let start = config.require_start()?.to_string();
        let node = self.config(config).build()?;
        if let Err(e) = node.newservice(&start, &[]) {
            node.shutdown();
            return Err(format!("cannot start service `{start}`: {e}").into());
        }
        node.run()
    }
}

/// A running node. Dropping it (or [`Node::shutdown`]) shuts it down cleanly.
pub struct Node {
    handle: NodeHandle,
    workers: Vec<JoinHandle<()>>,
    monitor: Option<JoinHandle<()>>,
    monitor_stop: Arc<(Mutex<bool>, Condvar)>,
    stopped: bool,
    /// SIGINT/SIGTERM/SIGHUP, caught since [`Node::catch_signals`].
    signals: Option<signal_hook::iterator::Signals>,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Node({} workers)", self.workers.len())
    }
}

impl Node {
    /// Starts configuring a node.
    pub fn builder() -> NodeBuilder {
        NodeBuilder::default()
    }

    /// A thread-safe handle.
    pub fn handle(&self) -> NodeHandle {
        self.handle.clone()
    }

    fn inner(&self) -> &Arc<NodeInner> {
        &self.handle.inner
    }

    fn spawn_wait(
        &self,
        svc: Box<dyn RawService>,
        type_name: &str,
        system: bool,
    ) -> Result<Addr, CallError> {
        let (tx, rx) = crossbeam_channel::bounded(1);
        self.inner().spawn(
            svc,
            type_name.to_string(),
            system,
            LaunchNotify::Channel(tx),
        )?;
        rx.recv().unwrap_or(Err(CallError::Detached))
    }

    /// Launches a service and waits until its `init` finished.
    pub fn launch<S: Service>(&self, svc: S) -> Result<Addr, CallError> {
        self.spawn_wait(
            Box::new(AsyncHost::new(svc)),
            std::any::type_name::<S>(),
            false,
        )
    }

    /// Launches a raw service and waits until its `init` finished.
    pub fn launch_raw(&self, svc: Box<dyn RawService>, type_name: &str) -> Result<Addr, CallError> {
        self.spawn_wait(svc, type_name, false)
    }

    /// Launches a registered service type by name and waits until its `init` finished.
    pub fn newservice(&self, name: &str, args: &[&str]) -> Result<Addr, CallError> {
        let factory = self
            .inner()
            .registry
            .read()
            .get(name)
            .cloned()
            .ok_or_else(|| CallError::NoSuchName(name.to_string()))?;
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let svc =
            factory(&args).map_err(|e| CallError::Failed(Addr::SYSTEM, format!("{name}: {e}")))?;
        self.spawn_wait(svc, name, false)
    }

    /// Sends a value one way from outside the node (source: the system address).
    pub fn send<T: Any + Send>(&self, dest: Addr, value: T) -> Result<(), SendError> {
        self.handle
            .send(dest, Message::value(Addr::SYSTEM, 0, Ptype::LUA, value))
    }

    /// Calls a service from outside the node and blocks for the reply (the node's
    /// `call_timeout` applies).
    pub fn call<T: Any + Send>(&self, dest: Addr, request: T) -> Result<Message, CallError> {
        let timeout = self.handle.call_timeout();
        self.call_msg(dest, Ptype::LUA, Payload::value(request), timeout)
    }

    /// Calls with any payload and an optional deadline, blocking.
    pub fn call_msg(
        &self,
        dest: Addr,
        ptype: Ptype,
        payload: Payload,
        timeout: Option<Duration>,
    ) -> Result<Message, CallError> {
        let (tx, rx) = crossbeam_channel::bounded(1);
        let caller = OneShotCaller {
            dest,
            request: Some((ptype, payload)),
            session: 0,
            tx,
        };
        let addr = self.spawn_wait(Box::new(caller), "call", true)?;
        let r = match timeout {
            Some(d) => rx.recv_timeout(d).map_err(|_| CallError::Timeout(dest, d)),
            None => rx.recv().map_err(|_| CallError::Dead(dest)),
        };
        if r.is_err() {
            self.handle.kill(addr);
        }
        r?
    }

    /// Blocks until every (non-system) service has exited or shutdown was requested.
    pub fn wait(&self) {
        let inner = self.inner();
        let mut l = inner.lifecycle.lock();
        while inner.user_services.load(Ordering::SeqCst) > 0 && !l.shutdown_requested {
            inner.lifecycle_cv.wait(&mut l);
        }
    }

    /// Like [`Node::wait`], with a deadline; true when the node is done.
    pub fn wait_timeout(&self, d: Duration) -> bool {
        let inner = self.inner();
        let deadline = Instant::now() + d;
        let mut l = inner.lifecycle.lock();
        while inner.user_services.load(Ordering::SeqCst) > 0 && !l.shutdown_requested {
            if inner.lifecycle_cv.wait_until(&mut l, deadline).timed_out() {
                return false;
            }
        }
        true
    }

    /// Catches SIGINT, SIGTERM and SIGHUP from now on; [`run`](Node::run) acts on them.
    /// Call it before starting services when something outside may signal the node as soon
    /// as they announce themselves (a signal before `run` would otherwise kill the process).
    pub fn catch_signals(&mut self) -> Result<(), Error> {
        if self.signals.is_none() {
            use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
            self.signals = Some(signal_hook::iterator::Signals::new([
                SIGINT, SIGTERM, SIGHUP,
            ])?);
        }
        Ok(())
    }

    /// Runs until every service has exited or SIGINT/SIGTERM arrives (SIGHUP reopens the
    /// log file), then shuts down.
    pub fn run(mut self) -> Result<(), Error> {
        use signal_hook::consts::SIGHUP;
        self.catch_signals()?;
        let Some(mut signals) = self.signals.take() else {
            return Err("signals could not be caught".into());
        };
        let sig_handle = signals.handle();
        let h = self.handle.clone();
        let sig_thread = std::thread::Builder::new()
            .name("skynet-signals".into())
            .spawn(move || {
                // Its log lines go to the node's logger like every other thread's.
                h.enter_thread();
                for sig in signals.forever() {
                    if sig == SIGHUP {
                        if let Some(logger) = h.query(".logger") {
                            let _ = h.send(
                                logger,
                                Message {
                                    source: Addr::SYSTEM,
                                    session: 0,
                                    ptype: Ptype::SYSTEM,
                                    payload: Payload::Empty,
                                },
                            );
                        }
                    } else {
                        log::info!("signal {sig}: shutting down");
                        h.request_shutdown();
                    }
                }
            })?;
        self.wait();
        sig_handle.close();
        let _ = sig_thread.join();
        self.shutdown();
        Ok(())
    }

    /// Shuts down: every service runs its `exit` (user services first, the logger last),
    /// then every thread is joined.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn wait_until(&self, deadline: Instant, done: impl Fn(&NodeInner) -> bool) -> bool {
        let inner = self.inner();
        let mut l = inner.lifecycle.lock();
        while !done(inner) {
            if inner
                .lifecycle_cv
                .wait_until(
                    &mut l,
                    deadline.min(Instant::now() + Duration::from_millis(50)),
                )
                .timed_out()
                && Instant::now() >= deadline
            {
                return done(inner);
            }
        }
        true
    }

    fn stop(&mut self) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        let inner = self.inner().clone();
        inner.request_shutdown();
        let deadline = Instant::now() + SHUTDOWN_GRACE;
        for cell in inner.all_cells().iter().rev().filter(|c| !c.system) {
            inner.kill(cell.addr, KILL_SHUTDOWN);
        }
        if !self.wait_until(deadline, |n| n.user_services.load(Ordering::SeqCst) == 0) {
            log::error!("shutdown: some services did not finish their exit in time");
        }
        for hook in inner.take_shutdown_hooks() {
            hook();
        }
        let logger = Addr(inner.logger.load(Ordering::SeqCst));
        for cell in inner.all_cells().iter().rev().filter(|c| c.addr != logger) {
            inner.kill(cell.addr, KILL_SHUTDOWN);
        }
        self.wait_until(deadline, |n| n.all_cells().iter().all(|c| c.addr == logger));
        if !logger.is_system() {
            // The logger writes what is queued for it, then exits.
            inner.kill(logger, KILL_DRAIN);
            self.wait_until(deadline, |n| n.all_cells().is_empty());
        }
        inner.run_queue.stop();
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
        {
            let (lock, cv) = &*self.monitor_stop;
            *lock.lock() = true;
            cv.notify_all();
        }
        if let Some(m) = self.monitor.take() {
            let _ = m.join();
        }
        inner.timers.shutdown();
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A throwaway service that makes one call on behalf of a thread outside the node.
struct OneShotCaller {
    dest: Addr,
    request: Option<(Ptype, Payload)>,
    session: i32,
    tx: crossbeam_channel::Sender<Result<Message, CallError>>,
}

impl RawService for OneShotCaller {
    fn init(&mut self, ctx: &mut RawContext<'_>) -> crate::InitStatus {
        if let Some((ptype, payload)) = self.request.take() {
            self.session = ctx.new_session();
            if let Err(e) = ctx.send(self.dest, ptype, self.session, payload) {
                let _ = self.tx.send(Err(e.reason));
                ctx.exit();
            }
        }
        crate::InitStatus::Ready
    }

    fn handle(&mut self, ctx: &mut RawContext<'_>, msg: Message) {
        if msg.session != self.session {
            return;
        }
        let r = if msg.ptype == Ptype::ERROR {
            let from = msg.source;
            Err(msg
                .take::<CallError>()
                .unwrap_or(CallError::Failed(from, "error".into())))
        } else {
            Ok(msg)
        };
        let _ = self.tx.send(r);
        ctx.exit();
    }
}
