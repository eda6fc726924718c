//! `skynet-cluster`: skynet's cluster protocol, byte for byte, so nodes of ours call each
//! other's services by name, and join a cluster of real skynet nodes.
//!
//! How it fits: it sits on `skynet-runtime` (services: one sender per remote node and one
//! agent per accepted connection are raw services), `skynet-net` (the sockets; frames are
//! cut on the socket thread by a routed socket), `skynet-netpack` (the 2-byte framing) and
//! `skynet-seri` (`skynet.pack`, the payload of every request and reply). `skynet-services`
//! adds the console's `cluster` command. Nothing here knows HTTP or Lua.
//!
//! - Serving: [`open`] listens (a name from the node table, or `host:port`); [`register`]
//!   names a service `@name` for the cluster. A service reached from the cluster gets a LUA
//!   message carrying `Vec<LuaValue>` and answers with `ctx.ret(values)` or [`ret`].
//! - Calling: [`call`] / [`call_timeout`] (typed arguments and results), [`send`] (a push),
//!   [`query`] (the handle behind `@name`), [`proxy`] (a local address for a remote
//!   service); [`call_packed`] / [`send_packed`] with packed bytes.
//! - The node table ([`NodeTable`], config key `cluster`), its [`reload`], the limits and
//!   allow-list ([`Limits`]), the per-node state and counters ([`Cluster`]).
//! - The wire codec, public for tools and tests: [`request`], [`response`], [`assemble`].
//!
//! ```no_run
//! use skynet_runtime::{Context, Error, Message, Service};
//!
//! /// Calls `@kv` on the node `db` once started.
//! struct Game;
//! impl Service for Game {
//!     async fn init(&mut self, ctx: &mut Context) -> Result<(), Error> {
//!         let (v,): (Option<String>,) =
//!             skynet_cluster::call(ctx, "db", "@kv", ("GET", "a")).await?;
//!         log::info!("a = {v:?}");
//!         Ok(())
//!     }
//!     async fn dispatch(&mut self, _ctx: &mut Context, _msg: Message) {}
//! }
//! ```
//!
//! Every request that wants a reply gets one, a call fails at once when its connection
//! drops and otherwise at its deadline, and a peer that sends too much is cut off; see
//! `docs/cluster.md` for the guarantees and every difference from skynet.

#![deny(missing_docs)]

mod agent;
pub mod allow;
mod api;
pub mod assemble;
pub mod config;
mod link;
mod listener;
pub mod nodes;
mod proxy;
pub mod raw;
pub mod request;
pub mod response;
mod sender;
mod state;
mod values;
pub mod wire;

pub use allow::AllowList;
pub use api::{args, call, call_timeout, query, register, reload, ret, send, unregister};
pub use config::Limits;
pub use link::{LinkInfo, LinkState};
pub use listener::open;
pub use nodes::{Lookup, NodeTable};
pub use proxy::proxy;
pub use raw::{call_packed, send_packed};
pub use request::{encode_request, parse_request, RequestFrame};
pub use response::{encode_response, parse_response, ResponseFrame};
pub use state::Cluster;
pub use wire::{FrameError, Frames, Target, MULTI_PART};
