//! The raw service layer's interface: [`RawService`] (one synchronous callback for every
//! message, like a skynet C service's `skynet_callback`) and the [`RawContext`] it is called
//! with. This is where the kernel gets its one instantiation: [`NodeInner`] is the kernel
//! holding `dyn RawService` bodies.

use std::sync::Arc;

use crate::base::Message;
use crate::kernel::{self, Hosted, Kernel};

/// The node's shared state, holding raw services.
pub(crate) type NodeInner = Kernel<dyn RawService>;

/// A live raw service as the node holds it.
pub(crate) type Cell = kernel::Cell<dyn RawService>;

impl Hosted for dyn RawService {}

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

/// The context of one raw callback: send, allocate sessions, set timers, exit.
pub struct RawContext<'a> {
    pub(crate) node: &'a Arc<NodeInner>,
    pub(crate) cell: &'a Arc<Cell>,
    pub(crate) exit: bool,
}
