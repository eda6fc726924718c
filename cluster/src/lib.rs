//! `skynet-cluster`: skynet's cluster protocol, byte for byte.
//!
//! (Crate documentation is completed in a later step.)

#![deny(missing_docs)]

pub mod assemble;
pub mod request;
pub mod response;
pub mod wire;

pub use request::{encode_request, parse_request, RequestFrame};
pub use response::{encode_response, parse_response, ResponseFrame};
pub use wire::{FrameError, Target, MULTI_PART};
