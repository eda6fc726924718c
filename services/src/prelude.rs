//! Everything an application needs, in one import: `use skynet_services::prelude::*;`.

pub use skynet_runtime::{
    Addr, CallError, Config, Context, Error, Message, Node, NodeBuilder, NodeHandle, Payload,
    Ptype, Queue, RawContext, RawService, Responder, Service,
};
