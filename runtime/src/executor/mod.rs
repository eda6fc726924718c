//! Layer 4: the async executor. A [`Service`] runs on a small executor of its own
//! ([`AsyncHost`](host::AsyncHost), a raw service): the main task feeds `dispatch` one
//! message at a time, forks run between its awaits, replies are routed by session to the
//! future waiting for them. [`Context`] is a service's view of the node.

pub(crate) mod call;
pub(crate) mod context;
pub(crate) mod host;
pub(crate) mod launch;
pub(crate) mod queue;
pub(crate) mod service;
pub(crate) mod sessions;
pub(crate) mod shared;

pub use call::{Call, Responder, Sleep, YieldNow};
pub use queue::{Queue, QueueGuard, QueueLock};
pub use service::Service;
pub use shared::{Context, Interceptor};
