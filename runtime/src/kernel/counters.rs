//! [`Counters`]: events the kernel counts for monitoring (see `metrics.rs`).

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use crate::base::CallError;

/// Event counters: a relaxed increment on paths that are already slow (a warning, an
/// error), nothing on the message path.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) overload_warnings: AtomicU64,
    /// Messages handled by services that have ended.
    pub(crate) retired_messages: AtomicU64,
    pub(crate) endless_reports: AtomicU64,
    pub(crate) call_errors: [AtomicU64; CallError::KINDS.len()],
    /// Calls started minus ended off the workers (an `init` run by `Node::launch`'s thread).
    pub(crate) calls_elsewhere: AtomicI64,
}

impl Counters {
    /// A caller got `e`.
    pub(crate) fn call_error(&self, e: &CallError) {
        self.call_errors[e.kind_index()].fetch_add(1, Ordering::Relaxed);
    }
}
