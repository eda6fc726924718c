//! The raw service layer's interface: [`RawService`] (one synchronous callback for every
//! message, like a skynet C service's `skynet_callback`) and the [`RawContext`] it is called
//! with. This is where the kernel gets its one instantiation: [`NodeInner`] is the kernel
//! holding `dyn RawService` bodies.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::base::{Message, Ptype};
use crate::kernel::{self, Hosted, Kernel, KILL_DRAIN, KILL_NONE};

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

/// The rest of a worker's batch while it runs one message of a service (see
/// [`RawContext::run`]): the messages after it, the body's `pending` buffer first, then
/// the mailbox's queue. An async service's `dispatch` loop takes the next ones straight from
/// it, in the same poll, while they are for `dispatch` (a flood then costs no callback,
/// inbox push or task resume per message). skynet's weight rule sets how many a turn takes
/// when other services wait; while none waits, the run goes on to the end of the batch in
/// hand. A kill stops it.
pub(crate) struct MessageRun<'a> {
    pending: &'a mut VecDeque<Message>,
    node: &'a NodeInner,
    cell: &'a Cell,
    /// Messages the turn takes before it looks whether other services wait.
    limit: usize,
    /// Messages taken, the one the worker is handling included.
    taken: usize,
}

impl<'a> MessageRun<'a> {
    /// The run after a message the worker took; `limit` counts that one.
    pub(crate) fn new(
        pending: &'a mut VecDeque<Message>,
        node: &'a NodeInner,
        cell: &'a Cell,
        limit: usize,
    ) -> MessageRun<'a> {
        MessageRun {
            pending,
            node,
            cell,
            limit,
            taken: 1,
        }
    }

    /// The next message, if the run offers one and `wanted` accepts it (it is left at the
    /// front otherwise, for the worker).
    #[inline]
    pub(crate) fn next_if(&mut self, wanted: impl FnOnce(&Message) -> bool) -> Option<Message> {
        // SAFETY: the worker that made this run holds the service's run token, and
        // `pending` is the body's buffer; `msg` is not used after the take below.
        let msg = unsafe { self.cell.mailbox.peek(self.pending) }?;
        // The runtime's own messages (a wake-up, a trim) are the worker's to deliver.
        if msg.ptype.0 >= Ptype::RESERVED || !wanted(msg) || !self.may_go_on() {
            return None;
        }
        self.taken += 1;
        // SAFETY: as above.
        unsafe { self.cell.mailbox.take(&raw mut *self.pending) }
    }

    /// Whether the turn may take one more message: not killed, and within its share (or
    /// nobody else waits).
    #[inline]
    fn may_go_on(&self) -> bool {
        matches!(
            self.cell.kill.load(Ordering::Relaxed),
            KILL_NONE | KILL_DRAIN
        ) && (self.taken < self.limit || !self.node.run_queue.others_waiting())
    }

    /// Messages taken, the worker's included.
    pub(crate) fn taken(&self) -> usize {
        self.taken
    }
}

/// The context of one raw callback: send, allocate sessions, set timers, exit.
pub struct RawContext<'a> {
    pub(crate) node: &'a Arc<NodeInner>,
    pub(crate) cell: &'a Arc<Cell>,
    pub(crate) exit: bool,
    /// The rest of the worker's batch, during `handle` when messages follow (see
    /// [`MessageRun`]); None otherwise.
    pub(crate) run: Option<std::ptr::NonNull<MessageRun<'static>>>,
}
