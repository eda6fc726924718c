//! Helpers shared by the runtime's integration tests.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};
use skynet_runtime::{Message, Node, Payload, RawContext, RawService};

/// Every line the node logged, for tests that check a report was made.
#[derive(Clone, Default)]
pub struct Lines(Arc<(Mutex<Vec<String>>, Condvar)>);

impl Lines {
    /// Waits (with a deadline) for a line containing every one of `needles`.
    pub fn wait_for(&self, needles: &[&str], within: Duration) -> Option<String> {
        let deadline = Instant::now() + within;
        let (lock, cv) = &*self.0;
        let mut lines = lock.lock();
        loop {
            if let Some(l) = lines.iter().find(|l| needles.iter().all(|n| l.contains(n))) {
                return Some(l.clone());
            }
            if cv.wait_until(&mut lines, deadline).timed_out() {
                return lines
                    .iter()
                    .find(|l| needles.iter().all(|n| l.contains(n)))
                    .cloned();
            }
        }
    }

    pub fn all(&self) -> Vec<String> {
        self.0 .0.lock().clone()
    }
}

/// A `.logger` replacement that keeps lines in memory.
pub struct CaptureLogger(pub Lines);

impl RawService for CaptureLogger {
    fn init(&mut self, ctx: &mut RawContext<'_>) -> skynet_runtime::InitStatus {
        match ctx.register(".logger") {
            Ok(()) => skynet_runtime::InitStatus::Ready,
            Err(e) => skynet_runtime::InitStatus::Failed(e.to_string()),
        }
    }

    fn handle(&mut self, _ctx: &mut RawContext<'_>, msg: Message) {
        if let Payload::Bytes(b) = &msg.payload {
            let line = format!("[{}] {}", msg.source, String::from_utf8_lossy(b));
            let (lock, cv) = &*(self.0).0;
            lock.lock().push(line);
            cv.notify_all();
        }
    }
}

/// A node with `threads` workers whose log lines are captured.
pub fn node_with_log(threads: usize) -> (Node, Lines) {
    let lines = Lines::default();
    let node = Node::builder()
        .threads(threads)
        .logger(Box::new(CaptureLogger(lines.clone())))
        .build()
        .expect("node starts");
    (node, lines)
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
