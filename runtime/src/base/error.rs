//! Error types: what a caller sees when a call, a send or a launch fails.

use std::fmt;
use std::time::Duration;

use crate::base::addr::Addr;

/// The error a service's `init` (or a library) returns: any error, boxed.
pub type Error = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a call (or a launch, or a query) failed. Every way a callee can fail to answer has its
/// own variant, so a caller never hangs and always knows what happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallError {
    /// No service ever had this address on this node.
    Unknown(Addr),
    /// The service exited (or was killed) before it answered.
    Dead(Addr),
    /// The service panicked; it has been removed.
    Panicked(Addr),
    /// The service finished the request without answering, or dropped its responder.
    NoReply(Addr),
    /// The deadline passed; a late reply will be dropped.
    Timeout(Addr, Duration),
    /// Waiting would deadlock: the services in the cycle, starting with the caller.
    Deadlock(Vec<Addr>),
    /// The service answered with an error of its own (for example a failed `init`).
    Failed(Addr, String),
    /// The reply was not of the type the caller expected.
    BadReply(Addr),
    /// The name is not registered: a service type for `newservice`, a `.name` for a query,
    /// or the `.name` a send or call was addressed to ([`Target::Name`](crate::Target)).
    NoSuchName(String),
    /// The context was used outside the service it belongs to, or after the node stopped.
    Detached,
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::Unknown(a) => write!(f, "call to unknown address {a}"),
            CallError::Dead(a) => write!(f, "service {a} exited before answering"),
            CallError::Panicked(a) => write!(f, "service {a} panicked"),
            CallError::NoReply(a) => {
                write!(f, "service {a} finished the request without answering")
            }
            CallError::Timeout(a, d) => write!(f, "call to {a} timed out after {d:?}"),
            CallError::Deadlock(cycle) => {
                write!(f, "call would deadlock: ")?;
                for (i, a) in cycle.iter().enumerate() {
                    if i > 0 {
                        write!(f, " -> ")?;
                    }
                    write!(f, "{a}")?;
                }
                if let Some(first) = cycle.first() {
                    write!(f, " -> {first}")?;
                }
                Ok(())
            }
            CallError::Failed(a, why) => write!(f, "service {a} failed: {why}"),
            CallError::BadReply(a) => write!(f, "reply from {a} has an unexpected type"),
            CallError::NoSuchName(n) => write!(f, "no service named {n:?}"),
            CallError::Detached => write!(f, "context used outside its service"),
        }
    }
}

impl std::error::Error for CallError {}

impl CallError {
    /// Every [`kind`](CallError::kind), in a fixed order (metrics count errors by kind).
    pub const KINDS: [&'static str; 10] = [
        "unknown",
        "dead",
        "panicked",
        "no_reply",
        "timeout",
        "deadlock",
        "failed",
        "bad_reply",
        "no_such_name",
        "detached",
    ];

    /// The variant's name in snake case: `timeout`, `dead`, ... (one of
    /// [`KINDS`](CallError::KINDS)).
    pub fn kind(&self) -> &'static str {
        Self::KINDS[self.kind_index()]
    }

    /// The position of [`kind`](CallError::kind) in [`KINDS`](CallError::KINDS).
    pub fn kind_index(&self) -> usize {
        match self {
            CallError::Unknown(_) => 0,
            CallError::Dead(_) => 1,
            CallError::Panicked(_) => 2,
            CallError::NoReply(_) => 3,
            CallError::Timeout(..) => 4,
            CallError::Deadlock(_) => 5,
            CallError::Failed(..) => 6,
            CallError::BadReply(_) => 7,
            CallError::NoSuchName(_) => 8,
            CallError::Detached => 9,
        }
    }

    /// True when there was nobody to ask: an address no service ever had
    /// ([`Unknown`](CallError::Unknown)) or a name nobody holds
    /// ([`NoSuchName`](CallError::NoSuchName)).
    pub fn is_unknown(&self) -> bool {
        matches!(self, CallError::Unknown(_) | CallError::NoSuchName(_))
    }
}

/// `ret` was called with no request to answer (the message was a send, or it was answered).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoSession;

impl fmt::Display for NoSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "no request to answer (already answered, or the message was a send)"
        )
    }
}

impl std::error::Error for NoSession {}

/// A local name could not be registered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameError {
    /// Local names start with `.` and have at least one more character.
    Invalid(String),
    /// Another live service holds the name.
    Taken(String, Addr),
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NameError::Invalid(n) => write!(f, "invalid local name {n:?} (must start with '.')"),
            NameError::Taken(n, a) => write!(f, "name {n:?} is already registered by {a}"),
        }
    }
}

impl std::error::Error for NameError {}
