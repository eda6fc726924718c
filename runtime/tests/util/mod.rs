//! Helpers shared by the runtime's integration tests.
#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use skynet_runtime::Node;

/// Every line the node logged, for tests that check a report was made.
pub type Lines = skynet_runtime::LogCapture;

/// A node with `threads` workers whose log lines are captured.
pub fn node_with_log(threads: usize) -> (Node, Lines) {
    let lines = Lines::default();
    let node = Node::builder()
        .threads(threads)
        .logger(lines.logger())
        .build()
        .expect("node starts");
    (node, lines)
}

/// A node builder whose log lines are captured, not printed: a passing run prints nothing.
pub fn builder() -> skynet_runtime::NodeBuilder {
    Node::builder().logger(Lines::default().logger())
}

/// A plain two-worker node.
pub fn node() -> Node {
    node_with_log(2).0
}

/// Receives from a channel with a deadline, failing the test on timeout.
pub fn recv<T>(rx: &crossbeam_channel::Receiver<T>, within: Duration) -> T {
    rx.recv_timeout(within).expect("event within the deadline")
}

pub const LONG: Duration = Duration::from_secs(20);

/// Adds one to its counter when dropped (tests that a value is dropped exactly once).
pub struct DropCount(pub Arc<AtomicUsize>);

impl Drop for DropCount {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}
