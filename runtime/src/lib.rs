//! `skynet-runtime`: the actor runtime core, in skynet's lineage.
//!
//! Every service is a cheap actor with its own mailbox. A multi-threaded scheduler runs them:
//! a service with pending work sits once in a run queue, a worker takes it, runs a turn of its
//! messages, puts it back. Everything is a message: replies, errors, timer expiries and socket
//! events all arrive as [`Message`]s with a [`Ptype`] and a session.
//!
//! Services are written against [`Service`] (async: `dispatch` may `.await` calls with
//! `&mut self`; [`Context::fork`] starts concurrent tasks) or, for proxies and foreign
//! schedulers, against [`RawService`] (one synchronous callback for every message).
//!
//! ```
//! use skynet_runtime::{Context, Message, Node, Service};
//!
//! struct Counter(u64);
//! impl Service for Counter {
//!     async fn dispatch(&mut self, ctx: &mut Context, msg: Message) {
//!         if let Ok(n) = msg.take::<u64>() {
//!             self.0 += n;
//!             let _ = ctx.ret(self.0);
//!         }
//!     }
//! }
//!
//! let node = Node::builder().threads(2).build().unwrap();
//! let counter = node.launch(Counter(0)).unwrap();
//! assert_eq!(node.call(counter, 5u64).unwrap().take::<u64>().unwrap(), 5);
//! assert_eq!(node.call(counter, 2u64).unwrap().take::<u64>().unwrap(), 7);
//! node.shutdown();
//! ```
//!
//! How it fits: `skynet-net` adds the socket server (an extension of the node, see
//! [`NodeHandle::extension`]); `skynet-gate` builds the gate on both; `skynet-services` holds
//! the standard services and the `skynet` binary. This crate knows nothing of sockets.
//! The guarantees are in `docs/semantics.md`.

#![deny(missing_docs)]

// The layers, bottom up. A file imports only from layers below its own, or from files
// before it in its own layer (see docs/architecture.md, "Layers"; `tests/layers.rs` checks it).
mod base; // 0: addresses, messages, errors
pub mod config; // 1: the node config
mod executor; // 4: Service, Context, calls, the per-service executor
mod kernel; // 2: mailboxes, cells, run queue, the node's shared tables
mod node;
mod raw; // 3: RawService, RawContext, NodeHandle, workers, log routing
mod system; // 5: the logger services
mod time; // 1: timer wheel and thread, timestamps // 6: Node, NodeBuilder, monitor

pub use base::{Addr, CallError, DebugPing, Error, Message, NameError, NoSession, ParseAddrError};
pub use base::{Payload, Ptype, SendError, Target};
pub use config::{Config, ConfigError};
pub use executor::{Call, Context, Interceptor, Queue, QueueGuard, QueueLock, Responder};
pub use executor::{Service, Sleep, YieldNow};
pub use kernel::barrier;
pub use kernel::{DrainWake, ExitHook, RuntimeMetrics, ServiceInfo, ShutdownHook};
pub use node::{Node, NodeBuilder};
pub use raw::{ExitReason, InitStatus, NodeHandle, RawContext, RawService, ServiceRef, WakeBatch};
pub use system::{LogCapture, LoggerService};
pub use time::{timestamp, TimerId};
