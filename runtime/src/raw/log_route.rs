//! Logging: the `log` facade routed into the node's `.logger` service.
//!
//! Every `log::info!` (and friends) called on a worker is sent as a TEXT message to the
//! `.logger` service of that worker's node, with the running service as its source, so lines
//! read `2026-11-25 06:48:07.12 [:0000000a] text` (skynet's format, plus the date). Threads
//! outside a node write to stderr.

use std::cell::{Cell as StdCell, RefCell};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Once, Weak};

use bytes::Bytes;

use crate::base::{Addr, Message, Payload, Ptype};
use crate::raw::handle::NodeHandle;
use crate::raw::service::NodeInner;
use crate::time::timestamp;

thread_local! {
    static NODE: RefCell<Option<Weak<NodeInner>>> = const { RefCell::new(None) };
    static CURRENT: StdCell<u32> = const { StdCell::new(0) };
}

pub(crate) fn enter_node(node: &Arc<NodeInner>) {
    NODE.with(|n| *n.borrow_mut() = Some(Arc::downgrade(node)));
}

/// Routes the calling thread's log lines to `node` until dropped, then restores where they
/// went before (for work a node does on a thread it does not own).
pub(crate) struct EnteredNode(Option<Weak<NodeInner>>);

impl EnteredNode {
    pub(crate) fn enter(node: &Arc<NodeInner>) -> EnteredNode {
        EnteredNode(NODE.with(|n| n.borrow_mut().replace(Arc::downgrade(node))))
    }
}

impl Drop for EnteredNode {
    fn drop(&mut self) {
        let before = self.0.take();
        NODE.with(|n| *n.borrow_mut() = before);
    }
}

pub(crate) fn leave_node() {
    NODE.with(|n| *n.borrow_mut() = None);
}

#[inline]
pub(crate) fn set_current(addr: Addr) {
    CURRENT.with(|c| c.set(addr.0));
}

impl NodeHandle {
    /// Routes `log` records from the calling thread (one the node did not start, such as the
    /// socket server thread) to this node's logger.
    pub fn enter_thread(&self) {
        enter_node(&self.inner);
    }
}

struct Facade;

static FACADE: Facade = Facade;
static INSTALL: Once = Once::new();

/// Installs the facade as the process's `log` logger (once; later calls only set the level).
pub(crate) fn install(level: log::LevelFilter) {
    INSTALL.call_once(|| {
        let _ = log::set_logger(&FACADE);
    });
    log::set_max_level(level);
}

impl log::Log for Facade {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        let source = Addr(CURRENT.with(|c| c.get()));
        let text = match record.level() {
            log::Level::Info => format!("{}", record.args()),
            level => format!("{level}: {}", record.args()),
        };
        let node = NODE.with(|n| n.borrow().as_ref().and_then(Weak::upgrade));
        if let Some(node) = node {
            let logger = Addr(node.logger.load(Ordering::Relaxed));
            if !logger.is_system() {
                let msg = Message {
                    source,
                    session: 0,
                    ptype: Ptype::TEXT,
                    payload: Payload::Bytes(Bytes::from(text)),
                };
                match node.send(logger, msg) {
                    Ok(()) => return,
                    Err(e) => {
                        if let Payload::Bytes(b) = e.message.payload {
                            eprintln!("{} [{source}] {}", timestamp(), String::from_utf8_lossy(&b));
                        }
                        return;
                    }
                }
            }
        }
        eprintln!("{} [{source}] {text}", timestamp());
    }

    fn flush(&self) {}
}
