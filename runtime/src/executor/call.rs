//! The futures a service awaits: [`Call`], [`Sleep`], [`YieldNow`], and [`Responder`].

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::{Duration, Instant};

use crate::base::{Addr, CallError, Message, Payload, Ptype};
use crate::executor::shared::{HostPtr, HostShared, Routed};
use crate::kernel::{CallStart, TimerEntry};
use crate::raw::worker::current_worker;
use crate::raw::Cell;
use crate::time::TimerId;

/// A call in flight: resolves with the reply, or with the [`CallError`] saying why none came.
///
/// Lazy like every Rust future: the request is sent on the first poll. Dropping it before
/// the reply cancels the wait (and its deadline timer); a late reply is dropped.
///
/// ```no_run
/// # use skynet_runtime::{Addr, Context};
/// # use std::time::Duration;
/// # async fn f(ctx: &Context, db: Addr) -> Result<(), skynet_runtime::CallError> {
/// let n: u64 = ctx.call(db, "count").timeout(Duration::from_secs(2)).await?.into_value()?;
/// # let _ = n; Ok(()) }
/// ```
#[must_use = "a call does nothing until awaited"]
pub struct Call {
    host: HostPtr,
    dest: Addr,
    request: Option<(Ptype, Payload)>,
    timeout: Option<Duration>,
    main: bool,
    session: i32,
    timer: Option<TimerId>,
    done: bool,
    /// Failed before sending (a name nobody holds): the first poll returns it.
    failed: Option<CallError>,
}

impl Call {
    pub(crate) fn new(
        shared: &Arc<HostShared>,
        dest: Addr,
        ptype: Ptype,
        payload: Payload,
        main: bool,
    ) -> Call {
        let timeout = shared.node.call_timeout();
        Call {
            host: HostPtr::new(shared),
            dest,
            request: Some((ptype, payload)),
            timeout,
            main,
            session: 0,
            timer: None,
            done: false,
            failed: None,
        }
    }

    /// A call that fails with `error` when awaited, having sent nothing.
    pub(crate) fn failed(shared: &Arc<HostShared>, error: CallError) -> Call {
        Call {
            host: HostPtr::new(shared),
            dest: Addr::SYSTEM,
            request: None,
            timeout: None,
            main: false,
            session: 0,
            timer: None,
            done: false,
            failed: Some(error),
        }
    }

    /// Fails the call with [`CallError::Timeout`] if no reply came within `d` (overrides the
    /// node's `call_timeout`).
    pub fn timeout(mut self, d: Duration) -> Call {
        self.timeout = Some(d);
        self
    }

    /// Waits as long as it takes (overrides the node's `call_timeout`).
    pub fn no_timeout(mut self) -> Call {
        self.timeout = None;
        self
    }

    fn start(&mut self, sh: &HostShared, cx: &TaskContext<'_>) -> Option<CallError> {
        let (ptype, payload) = self.request.take()?;
        let Some(session) = sh.register_polled(cx) else {
            return Some(CallError::Detached); // polled outside its service
        };
        let msg = Message {
            source: sh.addr,
            session,
            ptype,
            payload,
        };
        let dest = self.dest;
        let sent = if self.main {
            sh.cell.waiting_on.store(dest.0, Ordering::SeqCst);
            // A remembered callee that waits on nobody cannot close a cycle (the check
            // `send_call` makes first).
            let idle_callee =
                |c: &Cell| dest != sh.addr && Addr(c.waiting_on.load(Ordering::SeqCst)).is_system();
            match sh.send_remembered(dest, msg, idle_callee) {
                Routed::Sent(sent) => sent.map_err(CallStart::Failed),
                Routed::Missed(msg) => {
                    let sent = sh.node.send_call(sh.addr, dest, msg);
                    if sent.is_ok() {
                        sh.note_sent(dest);
                    }
                    sent
                }
            }
        } else {
            sh.send_to(dest, msg).map_err(CallStart::Failed)
        };
        match sent {
            Ok(()) => {}
            Err(CallStart::Cycle(cycle)) => {
                sh.cancel_wait(session);
                self.clear_waiting(sh);
                log::error!("{}", CallError::Deadlock(cycle.clone()));
                return Some(CallError::Deadlock(cycle));
            }
            Err(CallStart::Failed(e)) => {
                sh.cancel_wait(session);
                self.clear_waiting(sh);
                return Some(e.reason);
            }
        }
        self.session = session;
        sh.node.note_calls(current_worker(&sh.node), 1);
        if let Some(d) = self.timeout {
            self.timer = Some(sh.node.add_timeout(
                d,
                TimerEntry {
                    dest: sh.addr,
                    session,
                    error: true,
                },
            ));
        }
        None
    }

    fn clear_waiting(&self, sh: &HostShared) {
        if self.main {
            // Only this service's tasks write its `waiting_on` (on its worker): a load and a
            // store, no read-modify-write. Another call of the main task (a join of two
            // calls) may have replaced it: then it is that call's to clear.
            let waiting = &sh.cell.waiting_on;
            if waiting.load(Ordering::Relaxed) == self.dest.0 {
                waiting.store(0, Ordering::Release);
            }
        }
    }

    /// The call is answered: it stops counting as in flight and waiting, and its deadline
    /// is cancelled.
    #[inline]
    fn finish(&mut self, sh: &HostShared) {
        self.done = true;
        sh.node.note_calls(current_worker(&sh.node), -1);
        self.clear_waiting(sh);
        if let Some(t) = self.timer.take() {
            sh.node.timers.cancel(t);
        }
    }

    /// The error an ERROR reply stands for.
    #[cold]
    fn failure(&self, reply: Message) -> CallError {
        if reply.source.is_system() {
            return CallError::Timeout(self.dest, self.timeout.unwrap_or_default());
        }
        let dest = self.dest;
        match reply.take::<CallError>() {
            Ok(e) => e,
            Err(m) => CallError::Failed(dest, format!("error reply {:?}", m.payload)),
        }
    }
}

/// Counts a call's error in the node's statistics and hands it back.
#[cold]
fn counted(sh: &HostShared, e: CallError) -> CallError {
    sh.node.counters.call_error(&e);
    e
}

impl Future for Call {
    type Output = Result<Message, CallError>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if let Some(e) = this.failed.take() {
            this.done = true;
            if let Some(sh) = this.host.get() {
                sh.node.counters.call_error(&e);
            }
            return Poll::Ready(Err(e));
        }
        let host = this.host; // a copy: the borrow below is not of `this`
        let Some(sh) = host.get() else {
            // Polled outside its service (see `HostPtr`): it cannot call from here.
            this.done = true;
            return Poll::Ready(Err(CallError::Detached));
        };
        // Every error below is counted where it is made, so the result is returned as it
        // is built (no copy of it to look at it on the way out).
        if this.done {
            return Poll::Ready(Err(counted(sh, CallError::Detached)));
        }
        if this.request.is_some() {
            if let Some(err) = this.start(sh, cx) {
                this.done = true;
                return Poll::Ready(Err(counted(sh, err)));
            }
            // The waker went in with the session: a reply, even one already delivered by
            // another worker, re-polls this future.
            return Poll::Pending;
        }
        match sh.poll_reply(this.session, cx) {
            Poll::Ready(reply) => {
                this.finish(sh);
                if reply.ptype != Ptype::ERROR {
                    Poll::Ready(Ok(reply))
                } else {
                    Poll::Ready(Err(counted(sh, this.failure(reply))))
                }
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        if self.session == 0 || self.done {
            return;
        }
        // Dropped by its own service (the usual case: a cancelled wait). Anywhere else
        // (see `HostPtr`) the session's entry stays until its reply or timeout fills it,
        // and the service's exit frees it.
        let host = self.host;
        if let Some(sh) = host.get() {
            sh.node.note_calls(current_worker(&sh.node), -1);
            sh.cancel_wait(self.session);
            if let Some(t) = self.timer.take() {
                sh.node.timers.cancel(t);
            }
            self.clear_waiting(sh);
        }
    }
}

/// Waits for a launch or another runtime-level answer addressed to a pre-registered session.
pub(crate) struct Reply {
    pub(crate) shared: Arc<HostShared>,
    pub(crate) session: i32,
    pub(crate) done: bool,
}

impl Future for Reply {
    type Output = Message;
    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Message> {
        let this = self.get_mut();
        match this.shared.poll_reply(this.session, cx) {
            Poll::Ready(m) => {
                this.done = true;
                Poll::Ready(m)
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl Drop for Reply {
    fn drop(&mut self) {
        if !self.done {
            self.shared.cancel_wait(self.session);
        }
    }
}

/// Resolves after a delay (never early). Dropping it cancels its timer: nothing is left.
#[must_use = "a sleep does nothing until awaited"]
pub struct Sleep {
    shared: Arc<HostShared>,
    /// None: no timer, the RESPONSE goes straight to this service's mailbox (a yield).
    deadline: Option<Instant>,
    session: i32,
    timer: Option<TimerId>,
    done: bool,
}

impl Sleep {
    pub(crate) fn new(shared: Arc<HostShared>, d: Duration) -> Sleep {
        // A zero sleep is a yield (skynet's `sleep(0)`): no timer.
        let deadline = (!d.is_zero()).then(|| Instant::now() + d);
        Sleep::until(shared, deadline)
    }

    fn until(shared: Arc<HostShared>, deadline: Option<Instant>) -> Sleep {
        Sleep {
            shared,
            deadline,
            session: 0,
            timer: None,
            done: false,
        }
    }

    /// Registers the session and arranges its RESPONSE; false if that is impossible.
    fn arm(&mut self) -> bool {
        let sh = &self.shared;
        let Some(session) = sh.register_wait() else {
            log::error!(
                "{}: a sleep polled outside its service ends at once",
                sh.addr
            );
            return false;
        };
        self.session = session;
        match self.deadline {
            Some(deadline) => {
                let entry = TimerEntry {
                    dest: sh.addr,
                    session: self.session,
                    error: false,
                };
                self.timer = Some(sh.node.add_timer(deadline, entry));
                true
            }
            None => {
                let msg = Message {
                    source: Addr::SYSTEM,
                    session: self.session,
                    ptype: Ptype::RESPONSE,
                    payload: Payload::Empty,
                };
                sh.node.push(&sh.cell, msg).is_ok()
            }
        }
    }
}

impl Future for Sleep {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<()> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(());
        }
        if this.session == 0 && !this.arm() {
            this.done = true;
            return Poll::Ready(());
        }
        match this.shared.poll_reply(this.session, cx) {
            Poll::Ready(_) => {
                this.done = true;
                this.timer = None;
                Poll::Ready(())
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if self.session != 0 && !self.done {
            self.shared.cancel_wait(self.session);
            if let Some(t) = self.timer.take() {
                self.shared.node.timers.cancel(t);
            }
        }
    }
}

/// Lets every message already queued for this service (and other services) run first, then
/// resolves (skynet's `yield`): a sleep whose RESPONSE is queued behind them at once.
#[must_use = "a yield does nothing until awaited"]
pub struct YieldNow(Sleep);

impl YieldNow {
    pub(crate) fn new(shared: Arc<HostShared>) -> YieldNow {
        YieldNow(Sleep::until(shared, None))
    }
}

impl Future for YieldNow {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<()> {
        Pin::new(&mut self.get_mut().0).poll(cx)
    }
}

/// The right to answer one request later, from any task of the service (skynet's
/// `skynet.response()`). Dropped unanswered, it answers with an error, so no caller hangs.
pub struct Responder {
    shared: Arc<HostShared>,
    dest: Addr,
    session: i32,
}

impl std::fmt::Debug for Responder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Responder(to {} session {})", self.dest, self.session)
    }
}

impl Responder {
    pub(crate) fn new(shared: Arc<HostShared>, dest: Addr, session: i32) -> Responder {
        Responder {
            shared,
            dest,
            session,
        }
    }

    /// Who is waiting for the answer.
    pub fn caller(&self) -> Addr {
        self.dest
    }

    /// Answers with a value. False when the caller is gone (the answer is dropped).
    pub fn send<T: std::any::Any + Send>(self, value: T) -> bool {
        self.send_msg(Ptype::RESPONSE, Payload::value(value))
    }

    /// Answers with any payload.
    pub fn send_msg(mut self, ptype: Ptype, payload: Payload) -> bool {
        let session = std::mem::take(&mut self.session);
        let msg = Message {
            source: self.shared.addr,
            session,
            ptype,
            payload,
        };
        self.shared.send_to(self.dest, msg).is_ok()
    }

    /// Answers with an error.
    pub fn error(self, err: CallError) -> bool {
        self.send_msg(Ptype::ERROR, Payload::value(err))
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        if self.session != 0 {
            let err = self.shared.unanswered_error();
            self.shared
                .node
                .send_error(self.shared.addr, self.dest, self.session, err);
        }
    }
}
