//! Layer 0: the values every other part passes around. Addresses ([`Addr`]), messages
//! ([`Message`], [`Payload`], [`Ptype`]), the errors a caller sees, and the id hash. Nothing
//! here knows a node exists.

pub(crate) mod addr;
pub(crate) mod error;
pub(crate) mod hash;
pub(crate) mod message;
pub(crate) mod type_name;

pub use addr::{Addr, ParseAddrError, Target};
pub use error::{CallError, Error, NameError, NoSession};
pub use message::{DebugPing, Message, Payload, Ptype, SendError};
