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

mod addr;
mod builder;
mod call;
mod cell;
pub mod config;
mod context;
mod error;
mod executor;
mod log_capture;
mod logger;
mod mailbox;
mod message;
mod monitor;
mod node;
mod queue;
mod raw_context;
mod run_queue;
mod sched;
mod service;
mod timer_thread;
mod timer_wheel;
mod trim;
mod unique;
mod worker;

pub use addr::{Addr, ParseAddrError};
pub use builder::{Node, NodeBuilder};
pub use call::{Call, Responder, Sleep, YieldNow};
pub use config::{Config, ConfigError};
pub use context::Context;
pub use error::{CallError, Error, NameError, NoSession, SendError};
pub use executor::Interceptor;
pub use log_capture::LogCapture;
pub use logger::{timestamp, LoggerService};
pub use message::{DebugPing, Message, Payload, Ptype};
pub use node::{ExitHook, NodeHandle, ServiceInfo, ServiceRef, ShutdownHook, WakeBatch};
pub use queue::{Queue, QueueGuard, QueueLock};
pub use raw_context::RawContext;
pub use service::{ExitReason, InitStatus, RawService, Service};
pub use timer_wheel::TimerId;
