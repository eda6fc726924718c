//! A service that took a flood keeps a 4 KiB mailbox block while it is busy; once it has
//! been idle for `NodeBuilder::idle_trim`, the monitor has it give the block back (and it
//! never sees the request). Alone in its binary: it reads its node's block count, which the
//! node's logger would add to if it took a flood (it does not here).

mod util;

use std::time::{Duration, Instant};

use skynet_runtime::{Message, Payload, Ptype, RawContext, RawService};
use util::{recv, LONG};

/// Waits on `gate` when told to (so a flood piles up in its mailbox), counts the rest and
/// reports each 100th.
struct Sink {
    gate: crossbeam_channel::Receiver<()>,
    seen: usize,
    report: crossbeam_channel::Sender<usize>,
}
impl RawService for Sink {
    fn handle(&mut self, _ctx: &mut RawContext<'_>, msg: Message) {
        if msg.payload.is::<&'static str>() {
            let _ = self.gate.recv_timeout(LONG);
            return;
        }
        self.seen += 1;
        if self.seen.is_multiple_of(100) {
            let _ = self.report.send(self.seen);
        }
    }
}

fn blocks(node: &skynet_runtime::Node) -> usize {
    node.handle().metrics().mailbox_blocks
}

fn text(payload: Payload) -> Message {
    Message {
        source: skynet_runtime::Addr::SYSTEM,
        session: 0,
        ptype: Ptype::TEXT,
        payload,
    }
}

#[test]
fn a_flooded_service_gives_its_block_back_once_idle() {
    let node = util::builder()
        .threads(2)
        .idle_trim(Some(Duration::from_millis(100)))
        .build()
        .expect("node starts");
    let (open, gate) = crossbeam_channel::unbounded();
    let (report, reports) = crossbeam_channel::unbounded();
    let sink = node
        .launch_raw(
            Box::new(Sink {
                gate,
                seen: 0,
                report,
            }),
            "sink",
        )
        .expect("launch");
    // Hold the sink inside one message while 500 more queue behind it: they go to the
    // mailbox's queue, which takes a block.
    node.handle()
        .send(sink, text(Payload::value("wait")))
        .expect("sent");
    for i in 0..500u32 {
        node.handle()
            .send(sink, text(Payload::value(i)))
            .expect("sent");
    }
    assert!(blocks(&node) >= 1, "the flood took a block");
    open.send(()).expect("gate");
    while recv(&reports, LONG) < 500 {}
    // Idle now: within a few periods the block is given back.
    let deadline = Instant::now() + LONG;
    while blocks(&node) > 0 && Instant::now() < deadline {
        std::thread::yield_now();
    }
    assert_eq!(blocks(&node), 0, "the idle sink gave its block back");
    // It still works, and never saw the trim: the next 100 messages make 600.
    for i in 0..100u32 {
        node.handle()
            .send(sink, text(Payload::value(i)))
            .expect("sent");
    }
    assert_eq!(recv(&reports, LONG), 600);
    node.shutdown();
}
