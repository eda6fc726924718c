//! [`NodeBuilder`]: configure a node, start its threads and its logger.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

use crate::base::Error;
use crate::config::Config;
use crate::executor::host::AsyncHost;
use crate::executor::Service;
use crate::kernel::Factory;
use crate::node::monitor::run_monitor;
use crate::node::node::Node;
use crate::raw::log_route as logger;
use crate::raw::worker::{weight, worker_main};
use crate::raw::{NodeHandle, NodeInner, RawService};
use crate::system::LoggerService;

/// The default of [`NodeBuilder::idle_trim`].
const DEFAULT_IDLE_TRIM: Duration = Duration::from_secs(30);

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
    factories: Vec<(String, Factory<dyn RawService>)>,
    system_types: Vec<String>,
    logger: Option<Box<dyn RawService>>,
    monitor_threshold: Duration,
    idle_trim: Option<Duration>,
    profile: Option<bool>,
    sched_batch: Option<bool>,
}

impl Default for NodeBuilder {
    fn default() -> Self {
        NodeBuilder {
            config: Config::new(),
            threads: None,
            factories: Vec::new(),
            system_types: Vec::new(),
            logger: None,
            monitor_threshold: Duration::from_secs(5),
            idle_trim: Some(DEFAULT_IDLE_TRIM),
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
        let f: Factory<dyn RawService> = Arc::new(move |args: &[String]| {
            make(args).map(|s| Box::new(AsyncHost::new(s)) as Box<dyn RawService>)
        });
        self.factories.push((name.to_string(), f));
        self
    }

    /// Registers a service type whose services are system services, like the logger: they
    /// do not keep the node alive (it ends when its other services have), and the console
    /// kills one only when forced. For helpers every node runs, such as the Lua host's
    /// launcher.
    pub fn system_service<S, F>(mut self, name: &str, make: F) -> Self
    where
        S: Service,
        F: Fn(&[String]) -> Result<S, Error> + Send + Sync + 'static,
    {
        self.system_types.push(name.to_string());
        self.service(name, make)
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

    /// How long a service that keeps a mailbox block (one that took a flood of 64 messages
    /// or more) must handle nothing before it gives the block and its spare buffers back
    /// (default 30 s; `None`: never). The monitor thread looks once per period, so a quiet
    /// service gives it back after one to two periods.
    pub fn idle_trim(mut self, after: Option<Duration>) -> Self {
        self.idle_trim = after;
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
            inner.system_types.write().extend(self.system_types);
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
            let (threshold, idle_trim) = (self.monitor_threshold, self.idle_trim);
            std::thread::Builder::new()
                .name("skynet-monitor".into())
                .spawn(move || run_monitor(node, threshold, idle_trim, stop))?
        };
        let node = Node::started(NodeHandle { inner }, workers, monitor, monitor_stop);
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

impl Node {
    /// Starts configuring a node.
    pub fn builder() -> NodeBuilder {
        NodeBuilder::default()
    }
}
