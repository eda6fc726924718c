//! An in-memory `.logger`, for tests that check what a node logged.

use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::base::{Message, Payload};
use crate::raw::{InitStatus, RawContext, RawService};

/// Every line a node logged, kept in memory as `[:0000000a] text` (the source's address,
/// then the text). Install its [`logger`](Self::logger) with
/// [`NodeBuilder::logger`](crate::NodeBuilder::logger); clones share the lines.
///
/// ```
/// use std::time::Duration;
/// use skynet_runtime::{LogCapture, Node};
/// let log = LogCapture::new();
/// let node = Node::builder().threads(1).logger(log.logger()).build().unwrap();
/// node.handle().enter_thread(); // this thread's records go to the node's logger
/// log::warn!("hello");
/// assert!(log.wait_for(&["hello"], Duration::from_secs(10)).is_some());
/// node.shutdown();
/// ```
#[derive(Clone, Default)]
pub struct LogCapture(Arc<(Mutex<Vec<String>>, Condvar)>);

impl LogCapture {
    /// An empty capture.
    pub fn new() -> LogCapture {
        LogCapture::default()
    }

    /// A `.logger` service that appends each line here.
    pub fn logger(&self) -> Box<dyn RawService> {
        Box::new(CaptureService(self.clone()))
    }

    /// Waits, at most `within`, for a line containing every one of `needles`; returns it.
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

    /// Every line so far.
    pub fn lines(&self) -> Vec<String> {
        self.0 .0.lock().clone()
    }

    fn push(&self, line: String) {
        let (lock, cv) = &*self.0;
        lock.lock().push(line);
        cv.notify_all();
    }
}

impl std::fmt::Debug for LogCapture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LogCapture({} lines)", self.0 .0.lock().len())
    }
}

struct CaptureService(LogCapture);

impl RawService for CaptureService {
    fn init(&mut self, ctx: &mut RawContext<'_>) -> InitStatus {
        match ctx.register(".logger") {
            Ok(()) => InitStatus::Ready,
            Err(e) => InitStatus::Failed(e.to_string()),
        }
    }

    fn handle(&mut self, _ctx: &mut RawContext<'_>, msg: Message) {
        if let Payload::Bytes(b) = &msg.payload {
            self.0
                .push(format!("[{}] {}", msg.source, String::from_utf8_lossy(b)));
        }
    }
}
