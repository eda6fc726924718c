//! `skynet-net`: the socket server thread and the service-side socket API.
//!
//! One thread per node owns a mio `Poll` and every socket. Services never touch a socket:
//! they ask through the [`Driver`] (skynet's `socketdriver`: calls that return at once) and
//! hear back as SOCKET messages carrying a [`SocketEvent`]: DATA, CONNECT, CLOSE, ACCEPT,
//! ERROR, UDP, WARNING, with skynet's meanings. On top, [`socket`] is skynet's `socket.lua`
//! in async Rust: `listen`, `open`, `read(n)`, `read_line`, `write`, `close`, ... with
//! backpressure (a socket stops being read while 1 MiB it delivered is unread).
//!
//! Depends on `skynet-runtime` only; `skynet-gate` builds on it.
//!
//! ```no_run
//! use skynet_net::socket;
//! use skynet_runtime::{Context, Message, Service};
//!
//! struct Echo;
//! impl Service for Echo {
//!     async fn init(&mut self, ctx: &mut Context) -> Result<(), skynet_runtime::Error> {
//!         let (listener, addr) = socket::listen(ctx, "127.0.0.1", 0)?;
//!         log::info!("echo on {addr}");
//!         socket::start_listener(ctx, listener, |ctx, id, _peer| {
//!             let c = ctx.clone();
//!             ctx.fork(async move {
//!                 socket::start(&c, id);
//!                 while let Ok(data) = socket::read_some(&c, id).await {
//!                     socket::write(&c, id, data);
//!                 }
//!                 socket::close(&c, id).await;
//!             });
//!         });
//!         Ok(())
//!     }
//!     async fn dispatch(&mut self, _ctx: &mut Context, _msg: Message) {}
//! }
//! ```
//!
//! Guarantees: CLOSE is reported once per socket; `close` flushes queued writes, `shutdown`
//! drops them; a peer's EOF is CLOSE while the socket stays writable until its owner closes
//! it; socket ids are not reused while the node lives; when a service ends, every socket it
//! owns is closed.

#![deny(missing_docs)]

mod direct;
mod driver;
mod event;
mod ids;
mod route;
mod scratch;
pub mod socket;
mod socket_server;
mod write_queue;

pub use driver::{Driver, DEFAULT_BACKLOG};
pub use event::{SocketEvent, SocketId};
pub use route::{Framer, Route, ROUTE_BACKLOG, ROUTE_BACKLOG_BYTES};
pub use socket_server::{IoTotals, SocketInfo};
