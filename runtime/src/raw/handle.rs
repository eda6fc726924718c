//! [`NodeHandle`], the thread-safe way to reach a node from anywhere; [`ServiceRef`], a
//! service resolved once; [`WakeBatch`], deferred worker wake-ups.

use std::any::Any;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use crate::base::{Addr, CallError, Message, NameError, SendError};
use crate::config::ConfigError;
use crate::kernel::{
    DrainWake, ExitHook, LaunchNotify, RuntimeMetrics, ServiceInfo, ShutdownHook, KILL_KILLED,
};
use crate::raw::service::{Cell, NodeInner, RawContext, RawService};

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

impl ServiceRef {
    /// Calls `wake` once, from the worker that runs the service, when it next takes a batch
    /// of at most `below` messages (it has handled what was queued before): how the socket
    /// thread learns that a destination it held a socket back for has caught up, without
    /// polling. Returns true, and calls nothing, when the mailbox is that short already. A
    /// new watch replaces the previous one.
    pub fn notify_when_drained(&self, below: usize, wake: DrainWake) -> bool {
        *self.cell.drain_wake.lock() = Some(wake);
        if self.cell.mailbox.watch_drain(below) {
            self.cell.drain_wake.lock().take();
            return true;
        }
        false
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
    pub fn getenv_parsed<T: std::str::FromStr>(&self, key: &str) -> Result<Option<T>, ConfigError> {
        self.inner.env.read().get_parsed(key)
    }

    /// A warning for each config key nothing has read so far, naming the likely intended
    /// key (see [`Config::unused_key_warnings`](crate::Config::unused_key_warnings)).
    pub fn unused_config_warnings(&self) -> Vec<String> {
        self.inner.env.read().unused_key_warnings()
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

    /// Whether the monitor reported `addr` as stuck inside one message since the last time
    /// this was asked, clearing the flag (skynet's `STAT endless`, read by
    /// `skynet.endless()`: true once per report). `None` if there is no such service.
    pub fn take_endless(&self, addr: Addr) -> Option<bool> {
        self.inner
            .cell(addr)
            .map(|c| c.endless.swap(false, Ordering::Relaxed))
    }

    /// Messages waiting in a service's mailbox now; `None` if there is no such service.
    /// Read without stopping anyone, so it is a close count, not an exact one: the
    /// messages of the batch the service is handling count until it next looks at its
    /// mailbox, and a send in progress on another thread may be missing. Cheap enough to
    /// call per socket read (the socket thread uses it to hold back a
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
    /// the number of messages now waiting in its mailbox, this one included (a close count,
    /// as [`queue_len`](Self::queue_len) gives, without another lookup).
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
        self.inner.push(&to.cell, msg)?;
        // The mailbox's length is a close count whose sender side moves once per block:
        // the message just sent is counted even when the hint has not caught up yet.
        Ok(to.cell.mailbox.len().max(1))
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

    /// Launches a service of a type registered with the node builder, by name; its `init`
    /// runs on a worker. Returns the address at once (a handle may be used on a worker,
    /// where waiting would hold it): an error only when no type has that name or its
    /// factory refused the arguments. `Node::newservice` and `Context::newservice` wait for
    /// `init`.
    ///
    /// ```
    /// # use skynet_runtime::{Context, Message, Node, Service};
    /// struct Quiet;
    /// impl Service for Quiet {
    ///     async fn dispatch(&mut self, _ctx: &mut Context, _msg: Message) {}
    /// }
    /// let node = Node::builder().service("quiet", |_args| Ok(Quiet)).build().unwrap();
    /// let handle = node.handle();
    /// let a = handle.newservice("quiet", &[]).unwrap();
    /// assert!(handle.newservice("nobody", &[]).is_err());
    /// # let _ = a;
    /// node.shutdown();
    /// ```
    pub fn newservice(&self, name: &str, args: &[&str]) -> Result<Addr, CallError> {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let svc = self.inner.make_registered(name, &args)?;
        let system = self.inner.is_system_type(name);
        self.inner
            .spawn(svc, name.to_string(), system, LaunchNotify::None)
    }

    /// Runs `hook(addr)` whenever a service retires (after its `exit`).
    pub fn on_service_exit(&self, hook: ExitHook) {
        self.inner.add_exit_hook(hook);
    }

    /// Runs `hook` once at shutdown, after every user service has exited.
    pub fn on_shutdown(&self, hook: ShutdownHook) {
        self.inner.add_shutdown_hook(hook);
    }

    /// The node-wide singleton of type `T`, created by `init` on first use (how `skynet-net`
    /// attaches its socket server to a node).
    pub fn extension<T: Any + Send + Sync>(&self, init: impl FnOnce(&NodeHandle) -> T) -> Arc<T> {
        self.inner.extension(|| init(self))
    }

    /// The service types `newservice` can launch by name (registered with
    /// [`NodeBuilder::service`](crate::NodeBuilder::service) and `raw_service`), sorted.
    pub fn service_types(&self) -> Vec<String> {
        let mut types: Vec<String> = self.inner.registry.read().keys().cloned().collect();
        types.sort();
        types
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

    /// A snapshot of the node's runtime for monitoring: services, mailboxes, counters of
    /// overload warnings, endless loops and call errors by kind, timers, worker busy time.
    pub fn metrics(&self) -> RuntimeMetrics {
        self.inner.metrics()
    }

    /// Pending timers (for the console's `timers`).
    pub fn pending_timers(&self) -> usize {
        self.inner.timers.len()
    }
}

impl RawContext<'_> {
    /// A handle to the node.
    pub fn node(&self) -> NodeHandle {
        NodeHandle {
            inner: self.node.clone(),
        }
    }
}
