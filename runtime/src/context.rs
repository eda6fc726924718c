//! [`Context`]: everything a [`Service`](crate::Service) can do.

use std::any::{Any, TypeId};
use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use crate::addr::Addr;
use crate::call::{Call, Reply, Responder, Sleep, YieldNow};
use crate::cell::{LaunchNotify, KILL_KILLED};
use crate::error::{CallError, NameError, NoSession, SendError};
use crate::executor::{AsyncHost, HostShared, Interceptor};
use crate::message::{Message, Payload, Ptype};
use crate::node::NodeHandle;
use crate::service::{RawService, Service};
use crate::unique::UniqueState;

/// A service's view of the node. `dispatch` gets the main task's context; clones (for forks)
/// share the service but not the request being answered.
///
/// A request's answer: [`Context::ret`] now, or [`Context::response`] for later. A request
/// left unanswered when `dispatch` returns is answered with [`CallError::NoReply`].
pub struct Context {
    pub(crate) shared: Arc<HostShared>,
    /// The request this task is serving: (caller, session).
    current: Option<(Addr, i32)>,
    /// This is the main task's context (its calls block `dispatch`: deadlock detection).
    main: bool,
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

    pub(crate) fn end_request(&mut self) {
        if let Some((dest, session)) = self.current.take() {
            log::warn!(
                "{} finished a request from {dest} (session {session}) without answering",
                self.shared.addr
            );
            self.shared.node.send_error(
                self.shared.addr,
                dest,
                session,
                CallError::NoReply(self.shared.addr),
            );
        }
    }

    /// This service's address.
    pub fn self_addr(&self) -> Addr {
        self.shared.addr
    }

    /// A thread-safe handle to the node.
    pub fn node(&self) -> NodeHandle {
        NodeHandle {
            inner: self.shared.node.clone(),
        }
    }

    /// Sends a value one way (LUA protocol, session 0).
    pub fn send<T: Any + Send>(&self, dest: Addr, value: T) -> Result<(), SendError> {
        self.send_msg(dest, Ptype::LUA, Payload::value(value))
    }

    /// Sends any payload one way.
    pub fn send_msg(&self, dest: Addr, ptype: Ptype, payload: Payload) -> Result<(), SendError> {
        self.shared.node.send(
            dest,
            Message {
                source: self.shared.addr,
                session: 0,
                ptype,
                payload,
            },
        )
    }

    /// Forwards a message with its source and session kept as given (skynet's `redirect`):
    /// the payload moves, nothing is copied.
    pub fn redirect(
        &self,
        dest: Addr,
        source: Addr,
        ptype: Ptype,
        session: i32,
        payload: Payload,
    ) -> Result<(), SendError> {
        self.shared.node.send(
            dest,
            Message {
                source,
                session,
                ptype,
                payload,
            },
        )
    }

    /// Calls `dest` with a value (LUA protocol); resolves with the reply message.
    pub fn call<T: Any + Send>(&self, dest: Addr, request: T) -> Call {
        self.call_msg(dest, Ptype::LUA, Payload::value(request))
    }

    /// Calls with any protocol and payload.
    pub fn call_msg(&self, dest: Addr, ptype: Ptype, payload: Payload) -> Call {
        Call::new(self.shared.clone(), dest, ptype, payload, self.main)
    }

    /// Calls and takes the reply as an `R`.
    pub async fn call_as<R: Any, T: Any + Send>(
        &self,
        dest: Addr,
        request: T,
    ) -> Result<R, CallError> {
        self.call(dest, request).await?.into_value::<R>()
    }

    /// Answers the current request with a value.
    pub fn ret<T: Any + Send>(&mut self, value: T) -> Result<(), NoSession> {
        self.ret_msg(Ptype::RESPONSE, Payload::value(value))
    }

    /// Answers the current request with any payload (or an ERROR).
    pub fn ret_msg(&mut self, ptype: Ptype, payload: Payload) -> Result<(), NoSession> {
        let (dest, session) = self.current.take().ok_or(NoSession)?;
        // A caller that has gone away just doesn't get it.
        let _ = self.shared.node.send(
            dest,
            Message {
                source: self.shared.addr,
                session,
                ptype,
                payload,
            },
        );
        Ok(())
    }

    /// Answers the current request with an error.
    pub fn ret_error(&mut self, err: CallError) -> Result<(), NoSession> {
        self.ret_msg(Ptype::ERROR, Payload::value(err))
    }

    /// Takes the current request, to answer it later (from any task). None when there is no
    /// request (the message was a send, or it was answered).
    pub fn response(&mut self) -> Option<Responder> {
        let (dest, session) = self.current.take()?;
        Some(Responder::new(self.shared.clone(), dest, session))
    }

    /// Starts another task of this service (skynet's `fork`). It runs between the main task's
    /// awaits, on the same worker; it never runs at the same time as `dispatch`'s code.
    pub fn fork(&self, fut: impl Future<Output = ()> + Send + 'static) {
        self.shared.spawn(Box::pin(fut));
    }

    /// Resolves after `d` (at 1 ms resolution, never early).
    pub fn sleep(&self, d: Duration) -> Sleep {
        Sleep::new(self.shared.clone(), d)
    }

    /// Runs `f` after `d` (skynet's `timeout`), between messages of this service like any
    /// task (fork from `f` for async work). It costs one stored function and one timer: no
    /// task is created until it fires. Dropped if the service ends first.
    pub fn timeout(&self, d: Duration, f: impl FnOnce(Context) + Send + 'static) {
        let Some(session) = self.shared.register_callback(Box::new(f)) else {
            log::error!("{}: too many pending timeouts", self.shared.addr);
            return;
        };
        self.shared.node.add_timeout(
            d,
            crate::node::TimerEntry {
                dest: self.shared.addr,
                session,
                error: false,
            },
        );
    }

    /// Lets queued messages run first (skynet's `yield`).
    pub fn yield_now(&self) -> YieldNow {
        YieldNow::new(self.shared.clone())
    }

    /// Centiseconds since the node started.
    pub fn now(&self) -> u64 {
        self.node().now()
    }

    /// The node's start time, seconds since the Unix epoch.
    pub fn starttime(&self) -> u64 {
        self.node().starttime()
    }

    /// Seconds since the Unix epoch (centisecond precision).
    pub fn time(&self) -> f64 {
        self.node().time()
    }

    /// Ends this service once the current task yields: its `exit` runs, every request it
    /// holds is answered with [`CallError::Dead`].
    pub fn exit(&self) {
        self.shared.request_exit();
    }

    /// Kills another service (or this one). False if there is no such service.
    pub fn kill(&self, addr: Addr) -> bool {
        self.shared.node.kill(addr, KILL_KILLED)
    }

    /// Registers a local name (`.name`) for this service; it is removed when it exits.
    pub fn register(&self, name: &str) -> Result<(), NameError> {
        self.shared.node.register(self.shared.addr, name)
    }

    /// Looks up a local name, or parses `:0000000a`.
    pub fn query(&self, name: &str) -> Option<Addr> {
        self.shared.node.query(name)
    }

    /// A config value.
    pub fn getenv(&self, key: &str) -> Option<String> {
        self.node().getenv(key)
    }

    /// Sets a config value for the whole node.
    pub fn setenv(&self, key: &str, value: &str) {
        self.node().setenv(key, value)
    }

    fn wait_launch(
        &self,
        addr_result: Result<Addr, CallError>,
        session: i32,
    ) -> impl Future<Output = Result<Addr, CallError>> + Send + 'static {
        let shared = self.shared.clone();
        let main = self.main;
        async move {
            let reply = Reply {
                shared: shared.clone(),
                session,
                done: false,
            };
            let addr = match addr_result {
                Ok(a) => a,
                Err(e) => return Err(e),
            };
            if main {
                shared.cell.waiting_on.store(addr.0, Ordering::SeqCst);
            }
            let r = reply.await.into_value::<Addr>();
            if main {
                shared.cell.waiting_on.store(0, Ordering::SeqCst);
            }
            r
        }
    }

    fn launch_boxed(
        &self,
        svc: Box<dyn RawService>,
        type_name: String,
    ) -> impl Future<Output = Result<Addr, CallError>> + Send + 'static {
        let session = self.shared.register_wait();
        let r = self.shared.node.spawn(
            svc,
            type_name,
            false,
            LaunchNotify::Session(self.shared.addr, session),
        );
        if r.is_err() {
            self.shared.cancel_wait(session);
        }
        self.wait_launch(r, session)
    }

    /// Launches a service value; resolves with its address once its `init` succeeded, or
    /// with the reason it failed.
    pub fn launch<S: Service>(
        &self,
        svc: S,
    ) -> impl Future<Output = Result<Addr, CallError>> + Send + 'static {
        self.launch_boxed(
            Box::new(AsyncHost::new(svc)),
            std::any::type_name::<S>().to_string(),
        )
    }

    /// Launches a raw service.
    pub fn launch_raw(
        &self,
        svc: Box<dyn RawService>,
        type_name: &str,
    ) -> impl Future<Output = Result<Addr, CallError>> + Send + 'static {
        self.launch_boxed(svc, type_name.to_string())
    }

    /// Launches a service of a type registered with the node builder, by name.
    pub fn newservice(
        &self,
        name: &str,
        args: &[&str],
    ) -> impl Future<Output = Result<Addr, CallError>> + Send + 'static {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        self.newservice_owned(name.to_string(), args)
    }

    fn newservice_owned(
        &self,
        name: String,
        args: Vec<String>,
    ) -> impl Future<Output = Result<Addr, CallError>> + Send + 'static {
        let factory = self.shared.node.registry.read().get(&name).cloned();
        let svc = match factory {
            None => Err(CallError::NoSuchName(name.clone())),
            Some(f) => {
                f(&args).map_err(|e| CallError::Failed(Addr::SYSTEM, format!("{name}: {e}")))
            }
        };
        let launch = svc.map(|svc| self.launch_boxed(svc, name));
        async move {
            match launch {
                Ok(fut) => fut.await,
                Err(e) => Err(e),
            }
        }
    }

    /// The one service of a registered type `name` on this node, launched by the first
    /// caller; concurrent callers wait for that launch; a failure is remembered.
    pub async fn uniqueservice(&self, name: &str, args: &[&str]) -> Result<Addr, CallError> {
        enum Next {
            Done(Result<Addr, CallError>),
            Wait(i32),
            Launch,
        }
        let next = {
            let mut map = self.shared.node.uniques.map.lock();
            match map.get_mut(name) {
                Some(UniqueState::Ready(a)) if self.shared.node.cell(*a).is_some() => {
                    Next::Done(Ok(*a))
                }
                Some(UniqueState::Failed(e)) => {
                    Next::Done(Err(CallError::Failed(Addr::SYSTEM, e.clone())))
                }
                Some(UniqueState::Launching {
                    launcher: true,
                    waiters,
                }) => {
                    let s = self.shared.register_wait();
                    waiters.push((self.shared.addr, s));
                    Next::Wait(s)
                }
                Some(UniqueState::Launching { launcher, .. }) => {
                    *launcher = true;
                    Next::Launch
                }
                _ => {
                    map.insert(
                        name.to_string(),
                        UniqueState::Launching {
                            launcher: true,
                            waiters: Vec::new(),
                        },
                    );
                    Next::Launch
                }
            }
        };
        match next {
            Next::Done(r) => r,
            Next::Wait(s) => self.wait_launch(Ok(Addr::SYSTEM), s).await,
            Next::Launch => {
                let guard = UniqueLaunch {
                    ctx: self,
                    name,
                    result: None,
                };
                let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
                let r = self.newservice_owned(name.to_string(), args).await;
                let mut guard = guard;
                guard.result = Some(r.clone());
                r
            }
        }
    }

    /// Waits until the unique service `name` has been launched (by `uniqueservice`).
    pub async fn queryservice(&self, name: &str) -> Result<Addr, CallError> {
        let s = {
            let mut map = self.shared.node.uniques.map.lock();
            match map.get_mut(name) {
                Some(UniqueState::Ready(a)) => return Ok(*a),
                Some(UniqueState::Failed(e)) => {
                    return Err(CallError::Failed(Addr::SYSTEM, e.clone()))
                }
                Some(UniqueState::Launching { waiters, .. }) => {
                    let s = self.shared.register_wait();
                    waiters.push((self.shared.addr, s));
                    s
                }
                None => {
                    let s = self.shared.register_wait();
                    map.insert(
                        name.to_string(),
                        UniqueState::Launching {
                            launcher: false,
                            waiters: vec![(self.shared.addr, s)],
                        },
                    );
                    s
                }
            }
        };
        self.wait_launch(Ok(Addr::SYSTEM), s).await
    }

    /// Per-service state for libraries (the socket API keeps its socket table here):
    /// `f` runs on this service's `T`, created with `Default` on first use. Not reentrant
    /// for the same `T` (a nested call sees a fresh `T`).
    pub fn local<T: Default + Send + 'static, R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        let key = TypeId::of::<T>();
        let taken = {
            let mut st = self.shared.state.lock();
            let at = st.locals.iter().position(|(k, _)| *k == key);
            at.map(|i| st.locals.swap_remove(i).1)
        };
        let mut boxed: Box<dyn Any + Send> = taken.unwrap_or_else(|| Box::new(T::default()));
        let r = match boxed.downcast_mut::<T>() {
            Some(t) => f(t),
            None => f(&mut T::default()), // unreachable: the list is keyed by TypeId
        };
        let mut st = self.shared.state.lock();
        // (A nested call for the same type put its own value back meanwhile: this one wins,
        // as documented above.)
        match st.locals.iter().position(|(k, _)| *k == key) {
            Some(i) => st.locals[i].1 = boxed,
            None => st.locals.push((key, boxed)),
        }
        drop(st);
        r
    }

    /// Routes every message of protocol `ptype` to `handler` before `dispatch` (how the
    /// socket API consumes SOCKET messages). The handler returns the message to have it
    /// dispatched normally. Replaces an earlier handler for the same protocol.
    pub fn intercept(&self, ptype: Ptype, handler: Interceptor) {
        let mut st = self.shared.state.lock();
        st.intercepts.retain(|(p, _)| *p != ptype);
        st.intercepts.push((ptype, handler));
        self.shared.note_intercepts();
    }

    /// Sets the session counter (tests of session wrap-around only).
    #[doc(hidden)]
    pub fn set_session_counter(&self, n: i32) {
        self.shared.cell.session.store(n, Ordering::SeqCst);
    }

    /// True while this service has not been told to end.
    pub fn is_alive(&self) -> bool {
        !self.shared.cell.retired.load(Ordering::Relaxed)
    }
}

/// Finishes a unique launch: records the outcome and answers everyone waiting, also when the
/// launching task is dropped midway (then the entry is removed so a later caller retries).
struct UniqueLaunch<'a> {
    ctx: &'a Context,
    name: &'a str,
    result: Option<Result<Addr, CallError>>,
}

impl Drop for UniqueLaunch<'_> {
    fn drop(&mut self) {
        let node = &self.ctx.shared.node;
        let waiters = {
            let mut map = node.uniques.map.lock();
            let waiters = match map.remove(self.name) {
                Some(UniqueState::Launching { waiters, .. }) => waiters,
                _ => Vec::new(),
            };
            match &self.result {
                Some(Ok(a)) => {
                    map.insert(self.name.to_string(), UniqueState::Ready(*a));
                }
                Some(Err(e)) => {
                    map.insert(self.name.to_string(), UniqueState::Failed(e.to_string()));
                }
                None => {}
            }
            waiters
        };
        let outcome = self
            .result
            .clone()
            .unwrap_or(Err(CallError::Dead(self.ctx.shared.addr)));
        for (dest, session) in waiters {
            let msg = match &outcome {
                Ok(a) => Message::value(self.ctx.shared.addr, session, Ptype::RESPONSE, *a),
                Err(e) => Message::value(self.ctx.shared.addr, session, Ptype::ERROR, e.clone()),
            };
            let _ = node.send(dest, msg);
        }
    }
}
