//! [`HttpStats`]: what a node's HTTP servers and WebSockets count, for metrics.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use skynet_runtime::NodeHandle;

/// Counters shared by every HTTP server and WebSocket of one node (a node extension).
#[derive(Debug, Default)]
pub struct HttpStats {
    responses: Mutex<BTreeMap<u16, u64>>,
    ws_open: AtomicI64,
    ws_opened: AtomicU64,
}

impl HttpStats {
    /// The node's counters.
    pub fn of(node: &NodeHandle) -> Arc<HttpStats> {
        node.extension(|_| HttpStats::default())
    }

    /// A response with `status` was sent (error answers included).
    pub fn response(&self, status: u16) {
        *self.responses.lock().entry(status).or_default() += 1;
    }

    /// Responses sent, by status, in order of status.
    pub fn responses(&self) -> Vec<(u16, u64)> {
        self.responses
            .lock()
            .iter()
            .map(|(s, n)| (*s, *n))
            .collect()
    }

    /// A WebSocket (in a service or a WebSocket gate's client) opened.
    pub fn ws_opened(&self) {
        self.ws_open.fetch_add(1, Ordering::Relaxed);
        self.ws_opened.fetch_add(1, Ordering::Relaxed);
    }

    /// A WebSocket ended.
    pub fn ws_closed(&self) {
        self.ws_open.fetch_sub(1, Ordering::Relaxed);
    }

    /// WebSockets open now, and opened since the node started.
    pub fn websockets(&self) -> (u64, u64) {
        let open = u64::try_from(self.ws_open.load(Ordering::Relaxed)).unwrap_or(0);
        (open, self.ws_opened.load(Ordering::Relaxed))
    }
}
