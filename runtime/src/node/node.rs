//! [`Node`]: a running node. Launch services and call them from outside, wait for the
//! services to end or a signal, shut down cleanly.

use std::any::Any;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::base::{Addr, CallError, Error, Message, Payload, Ptype, SendError, Target};
use crate::executor::host::AsyncHost;
use crate::executor::Service;
use crate::kernel::{LaunchNotify, KILL_DRAIN, KILL_SHUTDOWN};
use crate::raw::worker::start_here;
use crate::raw::{InitStatus, NodeHandle, NodeInner, RawContext, RawService};

/// How long shutdown waits for services to run their `exit` before giving up on them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

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
    /// A node whose threads the builder has started.
    pub(crate) fn started(
        handle: NodeHandle,
        workers: Vec<JoinHandle<()>>,
        monitor: JoinHandle<()>,
        monitor_stop: Arc<(Mutex<bool>, Condvar)>,
    ) -> Node {
        Node {
            handle,
            workers,
            monitor: Some(monitor),
            monitor_stop,
            stopped: false,
            signals: None,
        }
    }

    /// A thread-safe handle.
    pub fn handle(&self) -> NodeHandle {
        self.handle.clone()
    }

    fn inner(&self) -> &Arc<NodeInner> {
        &self.handle.inner
    }

    pub(crate) fn spawn_wait(
        &self,
        svc: Box<dyn RawService>,
        type_name: &str,
        system: bool,
    ) -> Result<Addr, CallError> {
        let (tx, rx) = crossbeam_channel::bounded(1);
        let cell = self.inner().spawn_unqueued(
            svc,
            type_name.to_string(),
            system,
            LaunchNotify::Channel(tx),
        )?;
        // Its init runs here: no wake-up of a worker, none of this thread (an init that
        // must wait, for a call, finishes on a worker and answers through the channel).
        start_here(self.inner(), cell);
        rx.recv().unwrap_or(Err(CallError::Detached))
    }

    /// Launches a service and waits until its `init` finished.
    pub fn launch<S: Service>(&self, svc: S) -> Result<Addr, CallError> {
        self.spawn_wait(
            Box::new(AsyncHost::new(svc)),
            &crate::base::type_name::short_type_name::<S>(),
            false,
        )
    }

    /// Launches a raw service and waits until its `init` finished.
    pub fn launch_raw(&self, svc: Box<dyn RawService>, type_name: &str) -> Result<Addr, CallError> {
        self.spawn_wait(svc, type_name, false)
    }

    /// Launches a registered service type by name and waits until its `init` finished.
    pub fn newservice(&self, name: &str, args: &[&str]) -> Result<Addr, CallError> {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let svc = self.inner().make_registered(name, &args)?;
        let system = self.inner().is_system_type(name);
        self.spawn_wait(svc, name, system)
    }

    /// Sends a value one way from outside the node (source: the system address), to an
    /// address or a name ([`Target`]).
    pub fn send<'a, T: Any + Send>(
        &self,
        dest: impl Into<Target<'a>>,
        value: T,
    ) -> Result<(), SendError> {
        let message = Message::value(Addr::SYSTEM, 0, Ptype::LUA, value);
        match self.handle.inner.target(dest.into()) {
            Ok(dest) => self.handle.send(dest, message),
            Err(reason) => Err(SendError { reason, message }),
        }
    }

    /// Calls a service (an address or a name, [`Target`]) from outside the node and blocks
    /// for the reply (the node's `call_timeout` applies).
    pub fn call<'a, T: Any + Send>(
        &self,
        dest: impl Into<Target<'a>>,
        request: T,
    ) -> Result<Message, CallError> {
        let dest = self.handle.inner.target(dest.into())?;
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
        let r = r.and_then(|reply| reply);
        if let Err(e) = &r {
            self.inner().counters.call_error(e);
        }
        r
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
        inner.release_exit_hooks();
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
    fn init(&mut self, ctx: &mut RawContext<'_>) -> InitStatus {
        if let Some((ptype, payload)) = self.request.take() {
            self.session = ctx.new_session();
            if let Err(e) = ctx.send(self.dest, ptype, self.session, payload) {
                let _ = self.tx.send(Err(e.reason));
                ctx.exit();
            }
        }
        InitStatus::Ready
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
