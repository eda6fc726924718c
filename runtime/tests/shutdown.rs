//! G15: shutdown runs every service's exit and joins every thread the node started.
//! (Alone in its own test binary so no other test's threads are counted.)

mod util;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use skynet_runtime::{Context, Message, Node, Service};

struct CountsExit(Arc<AtomicUsize>);
impl Service for CountsExit {
    async fn dispatch(&mut self, ctx: &mut Context, _msg: Message) {
        ctx.sleep(std::time::Duration::from_secs(3600)).await;
    }
    fn exit(&mut self, _ctx: &mut Context) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .map(|d| d.count())
        .unwrap_or(0)
}

/// G15: every service's `exit` runs (also one suspended mid-request), no thread is left.
#[test]
fn clean_shutdown_leaves_no_threads() {
    let before = threads();
    let node = Node::builder().threads(3).build().unwrap();
    let exits = Arc::new(AtomicUsize::new(0));
    for _ in 0..50 {
        let a = node.launch(CountsExit(exits.clone())).unwrap();
        node.send(a, ()).unwrap();
    }
    assert!(threads() >= before + 5, "3 workers, timer, monitor");
    node.shutdown();
    assert_eq!(exits.load(Ordering::SeqCst), 50);
    // Every thread was joined; a joined thread can still be listed in /proc for a moment
    // while the kernel releases it, so the count is awaited (with a deadline).
    let deadline = std::time::Instant::now() + util::LONG;
    while threads() != before && std::time::Instant::now() < deadline {
        std::thread::yield_now();
    }
    assert_eq!(threads(), before);
}
