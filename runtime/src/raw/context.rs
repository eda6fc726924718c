//! [`RawContext`]: what a [`RawService`](crate::raw::RawService) callback can do.

use std::sync::Arc;
use std::time::Duration;

use crate::base::{Addr, Message, NameError, Payload, Ptype, SendError};
use crate::kernel::{TimerEntry, KILL_KILLED};
use crate::raw::service::{Cell, NodeInner, RawContext};
use crate::time::TimerId;

impl<'a> RawContext<'a> {
    pub(crate) fn new(node: &'a Arc<NodeInner>, cell: &'a Arc<Cell>) -> RawContext<'a> {
        RawContext {
            node,
            cell,
            exit: false,
            run: None,
        }
    }

    /// A context for `handle` with the rest of the worker's batch (see
    /// [`MessageRun`](crate::raw::service::MessageRun)).
    pub(crate) fn with_run(
        node: &'a Arc<NodeInner>,
        cell: &'a Arc<Cell>,
        run: &'a mut crate::raw::service::MessageRun<'_>,
    ) -> RawContext<'a> {
        RawContext {
            node,
            cell,
            exit: false,
            run: Some(std::ptr::NonNull::from(run).cast()),
        }
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
