//! `skynet-cluster`: skynet's cluster protocol, byte for byte.
//!
//! (Crate documentation is completed in a later step.)

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
pub use wire::{FrameError, Target, MULTI_PART};
