//! The two service interfaces: [`Service`] (async, what applications write) and
//! [`RawService`] (one synchronous callback for every message, what the async executor and
//! proxies are built on, like a skynet C service's `skynet_callback`).

use std::future::Future;

use crate::context::Context;
use crate::error::Error;
use crate::message::Message;
use crate::raw_context::RawContext;

/// A service written with async Rust.
///
/// `dispatch` receives every message that is not the reply to one of this service's own calls
/// or sleeps, one at a time: while it awaits, replies to its calls still arrive, but the next
/// message waits (use [`Context::fork`] for concurrency).
///
/// ```
/// use skynet_runtime::{Context, Message, Service};
///
/// struct Echo;
///
/// impl Service for Echo {
///     async fn dispatch(&mut self, ctx: &mut Context, msg: Message) {
///         if let Ok(text) = msg.take::<String>() {
///             let _ = ctx.ret(text);
///         }
///     }
/// }
/// ```
pub trait Service: Send + 'static {
    /// Runs once, before any message. An error fails the launch; the launcher gets it.
    fn init(&mut self, ctx: &mut Context) -> impl Future<Output = Result<(), Error>> + Send {
        let _ = ctx;
        async { Ok(()) }
    }

    /// Handles one message. A request (`msg.session != 0`) that finishes without
    /// [`Context::ret`] or [`Context::response`] is answered with
    /// [`CallError::NoReply`](crate::CallError::NoReply), so no caller hangs.
    fn dispatch(&mut self, ctx: &mut Context, msg: Message) -> impl Future<Output = ()> + Send;

    /// Runs once when the service ends, whatever the cause (exit, kill, panic, failed init,
    /// node shutdown). Its pending tasks are already dropped; it may still send messages.
    fn exit(&mut self, ctx: &mut Context) {
        let _ = ctx;
    }
}

/// How a raw service's start went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InitStatus {
    /// Started; the launcher is told at once.
    Ready,
    /// Failed; the launcher gets the reason and the service is removed.
    Failed(String),
    /// Not finished: the service will call [`RawContext::init_done`] later.
    Pending,
}

/// Why a service ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExitReason {
    /// It called `exit`.
    Exit,
    /// Another service (or the console) killed it.
    Killed,
    /// It panicked (the message is the panic's).
    Panicked(String),
    /// Its init failed.
    InitFailed(String),
    /// The node is shutting down.
    Shutdown,
}

/// The low-level service interface: one synchronous callback for every message, replies,
/// errors and timer expiries included; sessions are allocated by hand with
/// [`RawContext::new_session`].
pub trait RawService: Send + 'static {
    /// Runs on a worker before the first message.
    fn init(&mut self, ctx: &mut RawContext<'_>) -> InitStatus {
        let _ = ctx;
        InitStatus::Ready
    }

    /// Every message, in arrival order.
    fn handle(&mut self, ctx: &mut RawContext<'_>, msg: Message);

    /// Called when something asked to run this service without a message (a task waker
    /// fired on another thread, or a kill). Most raw services ignore it.
    fn wake(&mut self, ctx: &mut RawContext<'_>) {
        let _ = ctx;
    }

    /// Runs once when the service ends. Messages still queued for it are answered with errors
    /// by the runtime after this returns.
    fn exit(&mut self, ctx: &mut RawContext<'_>, reason: &ExitReason) {
        let _ = (ctx, reason);
    }

    /// The service just went idle, and it has handled few messages so far (an agent whose
    /// client connected and went quiet): free whatever empty buffers it keeps for speed.
    /// Tens of thousands of such services are what a node holds, so their spare capacity is
    /// most of its memory. Optional.
    fn release_idle(&mut self) {}
}
