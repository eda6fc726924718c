//! [`Context`]: everything a [`Service`](crate::Service) can do.

use std::any::{Any, TypeId};
use std::future::Future;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::base::{
    Addr, CallError, Message, NameError, NoSession, Payload, Ptype, SendError, Target,
};
use crate::executor::call::{Call, Responder, Sleep, YieldNow};
use crate::executor::shared::{Context, Interceptor};
use crate::kernel::{TimerEntry, KILL_KILLED};
use crate::raw::NodeHandle;

impl Context {
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

    /// Sends a value one way (LUA protocol, session 0) to an address or a name
    /// ([`Target`]: `.name` and `:0000000a` are looked up now).
    pub fn send<'a, T: Any + Send>(
        &self,
        dest: impl Into<Target<'a>>,
        value: T,
    ) -> Result<(), SendError> {
        self.send_msg(dest, Ptype::LUA, Payload::value(value))
    }

    /// Sends any payload one way.
    pub fn send_msg<'a>(
        &self,
        dest: impl Into<Target<'a>>,
        ptype: Ptype,
        payload: Payload,
    ) -> Result<(), SendError> {
        let message = Message {
            source: self.shared.addr,
            session: 0,
            ptype,
            payload,
        };
        let dest = match dest.into() {
            Target::Addr(a) => Ok(a),
            other => self.shared.node.target(other),
        };
        match dest {
            Ok(dest) => self.shared.send_to(dest, message),
            Err(reason) => Err(SendError { reason, message }),
        }
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

    /// Calls `dest` with a value (LUA protocol); resolves with the reply message. `dest` is
    /// an address or a name ([`Target`]: `.name` and `:0000000a` are looked up now; a name
    /// nobody holds fails the call at once with [`CallError::NoSuchName`]).
    pub fn call<'a, T: Any + Send>(&self, dest: impl Into<Target<'a>>, request: T) -> Call {
        self.call_msg(dest, Ptype::LUA, Payload::value(request))
    }

    /// Calls with any protocol and payload.
    pub fn call_msg<'a>(
        &self,
        dest: impl Into<Target<'a>>,
        ptype: Ptype,
        payload: Payload,
    ) -> Call {
        match self.shared.node.target(dest.into()) {
            Ok(dest) => Call::new(&self.shared, dest, ptype, payload, self.main),
            Err(e) => Call::failed(&self.shared, e),
        }
    }

    /// Calls and takes the reply as an `R`.
    pub async fn call_as<'a, R: Any, T: Any + Send>(
        &self,
        dest: impl Into<Target<'a>>,
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
        let _ = self.shared.send_to(
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
            log::error!(
                "{}: timeout not set: too many pending, or set outside the service",
                self.shared.addr
            );
            return;
        };
        self.shared.node.add_timeout(
            d,
            TimerEntry {
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
