//! Layer 2: the kernel. Mailboxes, the cells that hold services, the run queue with its
//! worker slots, and the node's shared tables ([`Kernel`]). Everything above reaches the
//! node through the kernel's methods.
//!
//! Generic over the body of the services it holds (`S`, see [`Hosted`]), so it never names
//! the service interfaces built on it: the raw layer instantiates it once, for
//! `dyn RawService`.

pub mod barrier;
pub(crate) mod cell;
pub(crate) mod chain;
pub(crate) mod counters;
pub(crate) mod lifo;
pub(crate) mod mailbox;
pub(crate) mod metrics;
pub(crate) mod run_queue;
pub(crate) mod runnable;
pub(crate) mod slot;
pub(crate) mod state;
pub(crate) mod unique;

pub use cell::DrainWake;
pub(crate) use cell::{
    Body, Cell, LaunchNotify, KILL_DRAIN, KILL_KILLED, KILL_NONE, KILL_SHUTDOWN,
};
pub use metrics::RuntimeMetrics;
pub(crate) use run_queue::Hosted;
pub(crate) use runnable::Runnable;
pub(crate) use slot::WorkerSlot;
pub(crate) use state::{trim_message, wake_message, CallStart, Factory, Kernel, TimerEntry};
pub use state::{ExitHook, ServiceInfo, ShutdownHook};
pub(crate) use unique::UniqueState;
