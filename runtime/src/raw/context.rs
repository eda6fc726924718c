//! [`RawContext`]: what a [`RawService`](crate::raw::RawService) callback can do.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use crate::base::{Addr, Message, NameError, Payload, Ptype, SendError};
use crate::kernel::{TimerEntry, KILL_DRAIN, KILL_KILLED, KILL_NONE};
use crate::raw::service::{Cell, NodeInner, RawContext};
use crate::time::TimerId;

impl<'a> RawContext<'a> {
    pub(crate) fn new(node: &'a Arc<NodeInner>, cell: &'a Arc<Cell>) -> RawContext<'a> {
        RawContext {
            node,
            cell,
            exit: false,
            feed: None,
        }
    }

    /// Takes the next message of this worker's turn, if `wanted` accepts it and the turn
    /// may go on with it: nothing else waits to run, no kill or exit is pending, and it is
    /// not an internal wake-up. A service that handles a run of messages alike (the async
    /// executor's `dispatch` loop) takes them in one callback instead of one callback each;
    /// each counts as handled, in order, as if it had been its own callback. None outside a
    /// worker's turn.
    pub fn next_message_if(&mut self, wanted: impl FnOnce(&Message) -> bool) -> Option<Message> {
        if self.exit {
            return None;
        }
        let feed = self.feed.as_mut()?;
        let next = feed.pending.front()?;
        if next.ptype == Ptype::WAKE || !wanted(next) {
            return None;
        }
        if !matches!(
            self.cell.kill.load(Ordering::Relaxed),
            KILL_NONE | KILL_DRAIN
        ) || self.node.run_queue.others_waiting()
        {
            return None;
        }
        feed.taken += 1;
        // One callback per message, as the monitor sees it: a long run is not a stuck one.
        feed.slot.leave();
        feed.slot.enter(self.cell.addr);
        feed.pending.pop_front()
    }

    /// This service's address.
    pub fn self_addr(&self) -> Addr {
        self.cell.addr
    }

    /// Sends a message from this service.
    pub fn send(
        &self,
        dest: Addr,
        ptype: Ptype,
        session: i32,
        payload: Payload,
    ) -> Result<(), SendError> {
        self.node.send(
            dest,
            Message {
                source: self.cell.addr,
                session,
                ptype,
                payload,
            },
        )
    }

    /// Sends a message with a forged source and session (skynet's `redirect`).
    pub fn redirect(&self, dest: Addr, msg: Message) -> Result<(), SendError> {
        self.node.send(dest, msg)
    }

    /// A fresh session number (1..=i32::MAX, wrapping to 1).
    pub fn new_session(&self) -> i32 {
        self.cell.next_session()
    }

    /// After `delay`, this service receives RESPONSE with `session` from the system address.
    pub fn timeout(&self, delay: Duration, session: i32) -> TimerId {
        self.node.add_timeout(
            delay,
            TimerEntry {
                dest: self.cell.addr,
                session,
                error: false,
            },
        )
    }

    /// Cancels a timer set with [`RawContext::timeout`]; true if it had not fired.
    pub fn cancel_timeout(&self, id: TimerId) -> bool {
        self.node.timers.cancel(id).is_some()
    }

    /// Ends this service after the current callback.
    pub fn exit(&mut self) {
        self.exit = true;
    }

    /// Kills another service.
    pub fn kill(&self, addr: Addr) -> bool {
        self.node.kill(addr, KILL_KILLED)
    }

    /// Finishes a launch that [`InitStatus::Pending`](crate::InitStatus::Pending) left open.
    pub fn init_done(&mut self, result: Result<(), String>) {
        if let Err(why) = &result {
            log::error!("init of {} failed: {why}", self.cell.addr);
            self.exit = true;
        }
        self.node.notify_launch(self.cell, result);
    }

    /// Registers a local name for this service.
    pub fn register(&self, name: &str) -> Result<(), NameError> {
        self.node.register(self.cell.addr, name)
    }
}
