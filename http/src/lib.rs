//! `skynet-http`: HTTP/1.1 and WebSocket for skynet-rs services, on the node's own socket
//! API and executor (no tokio, no hyper): skynet's `httpd`, `httpc`, `url` and `websocket`,
//! with what they lack (keep-alive, pipelining, deadlines, the right error statuses).
//!
//! It sits on `skynet-runtime` (services, forks, timers) and `skynet-net` (the async
//! socket API: `read_line` with a maximum reads a head, `read(n)` a body), and on
//! `skynet-gate` for the gate/watchdog/agent contract its WebSocket gate speaks.
//! `skynet-services` registers its services for config-driven nodes.
//!
//! - [`HttpServer`]: a listening service that spreads connections over agent services;
//!   each request goes to a [`Handler`]: an async function, a service
//!   ([`ServiceHandler`]) or a [`Router`] of them. [`Limits`]: header and body sizes,
//!   head, body and idle deadlines, each broken one answered with its status.
//! - [`client`]: `request`, `get`, `head`, `post_form` with a deadline; names resolved off
//!   the workers ([`resolve()`]).
//! - [`ws`]: a WebSocket in a service: `accept` a connection, `upgrade` on a route,
//!   `connect` as a client. [`ws_frame`] is the RFC 6455 codec (no I/O),
//!   [`ws_handshake`] the opening handshake.
//! - [`WsGate`]: skynet's gate contract over WebSocket: the netpack gate's agents serve
//!   browser clients unchanged (messages cut on the socket thread, moved to the agent).
//! - [`url`]: path and query decoding.
//!
//! `docs/web.md` has the behaviour in full and every difference from skynet.
//!
//! ```no_run
//! use skynet_http::{HttpServer, Request, Response, Router, ServerConf};
//! use skynet_runtime::{Context, Node};
//!
//! let node = Node::builder().threads(2).build().unwrap();
//! let router = Router::new()
//!     .post("/echo", |_ctx: Context, req: Request| async move {
//!         Response::bytes(200, "application/octet-stream", req.body)
//!     });
//! node.launch(HttpServer::new(ServerConf { port: 8001, ..ServerConf::default() }, router)).unwrap();
//! ```

#![deny(missing_docs)]

mod backlog;
mod body;
mod chan;
pub mod client;
mod conn;
pub mod deadline;
mod error;
mod handler;
mod head;
mod limits;
mod resolve;
mod response;
mod server;
mod stats;
mod target;
pub mod url;
pub mod ws;
pub mod ws_frame;
mod ws_gate;
mod ws_gate_framer;
pub mod ws_handshake;

pub use chan::{chunk_channel, ChunkSender, ChunkStream};
pub use error::{reason_phrase, HttpError};
pub use handler::{Handler, ResponseFuture, Router, ServiceHandler};
pub use head::{parse_request, Headers, Request, MAX_HEADERS};
pub use limits::Limits;
pub use resolve::resolve;
pub use response::{Body, Response, UpgradeFn};
pub use server::{HttpServer, LocalAddr, ServerConf};
pub use stats::HttpStats;
pub use target::{parse_target, Target};
pub use ws_gate::WsGate;
