//! [`Service`]: the async service interface, what applications write.

use std::future::Future;

use crate::base::{Error, Message};
use crate::executor::shared::Context;

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
