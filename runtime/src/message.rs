//! Messages: source, session, protocol type and payload.
//!
//! In-process payloads move Rust values (`Box<dyn Any + Send>`) or `Bytes`; nothing is
//! serialized. A message crosses a node boundary only through an explicit codec.

use std::any::Any;
use std::fmt;

use bytes::Bytes;

use crate::addr::Addr;
use crate::error::CallError;

/// A protocol type id, skynet's numbering. User protocols may use any other id below
/// [`Ptype::RESERVED`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ptype(pub u8);

impl Ptype {
    /// Plain text (log lines, console text).
    pub const TEXT: Ptype = Ptype(0);
    /// A reply to a call, or a timer expiry.
    pub const RESPONSE: Ptype = Ptype(1);
    /// Multicast.
    pub const MULTICAST: Ptype = Ptype(2);
    /// A client packet forwarded by a gate (session = socket id).
    pub const CLIENT: Ptype = Ptype(3);
    /// System notifications (log reopen, ...).
    pub const SYSTEM: Ptype = Ptype(4);
    /// Harbor (inter-node) traffic.
    pub const HARBOR: Ptype = Ptype(5);
    /// Socket events from the socket server.
    pub const SOCKET: Ptype = Ptype(6);
    /// An error answer to a call (payload: [`CallError`]).
    pub const ERROR: Ptype = Ptype(7);
    /// skynet's queue protocol id.
    pub const QUEUE: Ptype = Ptype(8);
    /// Debug protocol.
    pub const DEBUG: Ptype = Ptype(9);
    /// The service-to-service command protocol (skynet's name, kept for familiarity).
    pub const LUA: Ptype = Ptype(10);
    /// snax.
    pub const SNAX: Ptype = Ptype(11);
    /// Trace.
    pub const TRACE: Ptype = Ptype(12);
    /// Ids from here up are used by the runtime itself and never reach `dispatch`.
    pub const RESERVED: u8 = 250;
    /// Internal: wakes a service's executor (a task was woken from another thread).
    pub(crate) const WAKE: Ptype = Ptype(250);

    /// skynet's name for the well-known ids.
    pub fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            0 => "text",
            1 => "response",
            2 => "multicast",
            3 => "client",
            4 => "system",
            5 => "harbor",
            6 => "socket",
            7 => "error",
            8 => "queue",
            9 => "debug",
            10 => "lua",
            11 => "snax",
            12 => "trace",
            _ => return None,
        })
    }
}

impl fmt::Debug for Ptype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => write!(f, "{n}"),
            None => write!(f, "ptype({})", self.0),
        }
    }
}

/// A DEBUG-protocol ping: every async service answers it from its executor (without
/// `dispatch`), so the console can see whether a service is responsive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DebugPing;

/// What a message carries.
#[derive(Default)]
pub enum Payload {
    /// Nothing (timer expiries, wake-ups, plain signals).
    #[default]
    Empty,
    /// Raw bytes (TEXT, CLIENT packets, socket data). Moving `Bytes` never copies the data.
    Bytes(Bytes),
    /// Any Rust value, moved, never serialized.
    Value(Box<dyn Any + Send>),
}

impl Payload {
    /// Wraps a value.
    pub fn value<T: Any + Send>(v: T) -> Payload {
        Payload::Value(Box::new(v))
    }

    /// True when the payload is a value of type `T`.
    pub fn is<T: Any>(&self) -> bool {
        matches!(self, Payload::Value(v) if v.is::<T>())
    }
}

impl fmt::Debug for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Payload::Empty => write!(f, "Empty"),
            Payload::Bytes(b) => write!(f, "Bytes({} bytes)", b.len()),
            Payload::Value(_) => write!(f, "Value(..)"),
        }
    }
}

impl From<Bytes> for Payload {
    fn from(b: Bytes) -> Payload {
        Payload::Bytes(b)
    }
}

/// A message as a service receives it.
///
/// `session` 0 means no reply is wanted; a call carries the caller's session and the reply
/// comes back as RESPONSE (or ERROR) with the same session.
///
/// ```
/// use skynet_runtime::{Addr, Message, Ptype};
/// let m = Message::value(Addr(1), 0, Ptype::LUA, 42u32);
/// assert_eq!(m.downcast_ref::<u32>(), Some(&42));
/// assert_eq!(m.take::<u32>().ok(), Some(42));
/// ```
#[derive(Debug)]
pub struct Message {
    /// Who sent it (`Addr::SYSTEM` for timers and sockets).
    pub source: Addr,
    /// The sender's session (0: no reply wanted).
    pub session: i32,
    /// The protocol.
    pub ptype: Ptype,
    /// The content.
    pub payload: Payload,
}

impl Message {
    /// A message carrying a Rust value.
    pub fn value<T: Any + Send>(source: Addr, session: i32, ptype: Ptype, v: T) -> Message {
        Message {
            source,
            session,
            ptype,
            payload: Payload::value(v),
        }
    }

    /// Takes the value out if it is a `T`; otherwise gives the message back unchanged.
    pub fn take<T: Any>(self) -> Result<T, Message> {
        match self.payload {
            Payload::Value(v) => match v.downcast::<T>() {
                Ok(t) => Ok(*t),
                Err(v) => Err(Message {
                    payload: Payload::Value(v),
                    ..self
                }),
            },
            other => Err(Message {
                payload: other,
                ..self
            }),
        }
    }

    /// Like [`Message::take`], for a reply: a payload of another type is
    /// [`CallError::BadReply`], an ERROR message is its error.
    pub fn into_value<T: Any>(self) -> Result<T, CallError> {
        let source = self.source;
        match self.take::<T>() {
            Ok(v) => Ok(v),
            Err(m) if m.ptype == Ptype::ERROR => match m.take::<CallError>() {
                Ok(e) => Err(e),
                Err(_) => Err(CallError::BadReply(source)),
            },
            Err(_) => Err(CallError::BadReply(source)),
        }
    }

    /// A reference to the value if it is a `T`.
    pub fn downcast_ref<T: Any>(&self) -> Option<&T> {
        match &self.payload {
            Payload::Value(v) => v.downcast_ref::<T>(),
            _ => None,
        }
    }

    /// The bytes, when the payload is `Bytes`.
    pub fn bytes(&self) -> Option<&Bytes> {
        match &self.payload {
            Payload::Bytes(b) => Some(b),
            _ => None,
        }
    }

    /// True when the sender waits for a reply (a call). Replies and errors answer calls;
    /// CLIENT messages carry the client's fd in `session` (skynet's convention) and SOCKET
    /// messages come from the system: none of them is a request.
    pub fn wants_reply(&self) -> bool {
        self.session != 0
            && !matches!(
                self.ptype,
                Ptype::RESPONSE | Ptype::ERROR | Ptype::CLIENT | Ptype::SOCKET
            )
    }
}
