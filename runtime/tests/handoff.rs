//! The worker hands each message to its service's callback by moving it out of a slot the
//! compiler does not track (`worker.rs`, `ManuallyDrop`): every message must be dropped
//! exactly once, whether the callback keeps it, drops it, panics holding it, or the service
//! ends with it still queued.

mod util;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use skynet_runtime::{Addr, Context, Message, Payload, Ptype, RawContext, RawService, Service};
use util::{node, recv, DropCount, LONG};

/// Drops every message; panics on the one whose value is `boom` (holding it).
struct RawDropper {
    boom: usize,
    seen: usize,
}
impl RawService for RawDropper {
    fn handle(&mut self, _ctx: &mut RawContext<'_>, msg: Message) {
        self.seen += 1;
        if self.seen == self.boom {
            panic!("dropper panics holding message {}", self.seen);
        }
        drop(msg);
    }
}

/// Keeps every message it gets in `dispatch`, drops them all at its exit; forks a task per
/// message (each fork's wake-up is a WAKE message through the same hand-off).
struct Keeper {
    kept: Vec<Message>,
    done: crossbeam_channel::Sender<usize>,
}
impl Service for Keeper {
    async fn dispatch(&mut self, ctx: &mut Context, msg: Message) {
        if msg.payload.is::<&'static str>() {
            let _ = self.done.send(self.kept.len());
            return;
        }
        self.kept.push(msg);
        let fork = ctx.clone();
        ctx.fork(async move { fork.yield_now().await });
    }
}

fn counted(drops: &Arc<AtomicUsize>, ptype: Ptype) -> Message {
    Message {
        source: Addr::SYSTEM,
        session: 0,
        ptype,
        payload: Payload::value(DropCount(drops.clone())),
    }
}

#[test]
fn every_message_handed_to_a_callback_is_dropped_exactly_once() {
    let node = node();
    let drops = Arc::new(AtomicUsize::new(0));
    const N: usize = 2_000;

    // A raw service that drops what it gets and panics holding the 1,500th message: the
    // rest stay queued and are dropped when it retires.
    let raw = node
        .launch_raw(
            Box::new(RawDropper {
                boom: 1_500,
                seen: 0,
            }),
            "dropper",
        )
        .expect("launch");
    for _ in 0..N {
        // Once it has panicked, a send fails and hands the message back: dropped here.
        let _ = node.handle().send(raw, counted(&drops, Ptype::TEXT));
    }

    // An async service that keeps them (dropped at shutdown), with a fork per message.
    let (tx, rx) = crossbeam_channel::unbounded();
    let keeper = node
        .launch(Keeper {
            kept: Vec::new(),
            done: tx,
        })
        .expect("launch");
    for _ in 0..N {
        node.handle()
            .send(keeper, counted(&drops, Ptype::LUA))
            .expect("keeper is alive");
    }
    node.send(keeper, "done").expect("keeper is alive");
    assert_eq!(recv(&rx, LONG), N, "the keeper got every message");

    node.shutdown();
    assert_eq!(
        drops.load(Ordering::SeqCst),
        2 * N,
        "each message dropped once: not leaked, not dropped twice"
    );
}
