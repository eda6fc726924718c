//! [`RawContext`]: what a [`RawService`](crate::RawService) callback can do.

use std::sync::Arc;
use std::time::Duration;

use crate::addr::Addr;
use crate::cell::{Cell, LaunchNotify, KILL_KILLED};
use crate::error::{CallError, NameError, SendError};
use crate::message::{Message, Payload, Ptype};
use crate::node::{NodeHandle, NodeInner, TimerEntry};
use crate::timer_wheel::TimerId;

/// The context of one raw callback: send, allocate sessions, set timers, exit.
pub struct RawContext<'a> {
    pub(crate) node: &'a Arc<NodeInner>,
    pub(crate) cell: &'a Arc<Cell>,
    pub(crate) exit: bool,
}

impl<'a> RawContext<'a> {
    pub(crate) fn new(node: &'a Arc<NodeInner>, cell: &'a Arc<Cell>) -> RawContext<'a> {
        RawContext {
            node,
            cell,
            exit: false,
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
        notify_launch(self.node, self.cell, result);
    }

    /// Registers a local name for this service.
    pub fn register(&self, name: &str) -> Result<(), NameError> {
        self.node.register(self.cell.addr, name)
    }

    /// A handle to the node.
    pub fn node(&self) -> NodeHandle {
        NodeHandle {
            inner: self.node.clone(),
        }
    }
}

/// Tells whoever launched `cell` how its init went (once).
pub(crate) fn notify_launch(node: &NodeInner, cell: &Cell, result: Result<(), String>) {
    let who = std::mem::replace(&mut *cell.launch.lock(), LaunchNotify::None);
    let addr = cell.addr;
    let outcome = result
        .map(|_| addr)
        .map_err(|why| CallError::Failed(addr, why));
    match who {
        LaunchNotify::None => {}
        LaunchNotify::Session(dest, session) => {
            let msg = match outcome {
                Ok(a) => Message::value(addr, session, Ptype::RESPONSE, a),
                Err(e) => Message::value(addr, session, Ptype::ERROR, e),
            };
            let _ = node.send(dest, msg);
        }
        LaunchNotify::Channel(tx) => {
            let _ = tx.send(outcome);
        }
    }
}
