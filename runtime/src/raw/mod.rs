//! Layer 3: the raw service layer, skynet's C-service level. [`RawService`] gets every
//! message (replies, errors and timer expiries included) in one synchronous callback with a
//! [`RawContext`]; the workers run turns of raw services; [`NodeHandle`] reaches the node
//! from any thread; the `log` facade routes lines to the node's `.logger`.

pub(crate) mod context;
pub(crate) mod handle;
pub(crate) mod log_route;
pub(crate) mod sched_policy;
pub(crate) mod service;
pub(crate) mod worker;

pub use handle::{NodeHandle, ServiceRef, WakeBatch};
pub(crate) use service::MessageRun;
pub(crate) use service::{Cell, NodeInner};
pub use service::{ExitReason, InitStatus, RawContext, RawService};
