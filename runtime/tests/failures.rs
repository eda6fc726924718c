//! What a caller sees when the callee is unknown, exits, is killed, panics, or never answers.

mod util;

use std::time::{Duration, Instant};

use skynet_runtime::{Addr, CallError, Context, Message, Service};
use util::{node, node_with_log, recv, LONG};

struct Echo;
impl Service for Echo {
    async fn dispatch(&mut self, ctx: &mut Context, msg: Message) {
        if let Ok(v) = msg.take::<u32>() {
            let _ = ctx.ret(v);
        }
    }
}

/// G5: a call to an address that never existed fails at once with Unknown; to one that
/// exited, with Dead.
#[test]
fn call_to_unknown_and_dead_addresses() {
    let node = node();
    let nowhere = Addr::new(0, 0xfffff);
    let t = Instant::now();
    assert_eq!(
        node.call(nowhere, 1u32).unwrap_err(),
        CallError::Unknown(nowhere)
    );
    let e = node.launch(Echo).unwrap();
    assert!(node.handle().kill(e));
    // Wait for the kill to land (deadline, no sleep).
    let deadline = Instant::now() + LONG;
    while node.handle().service_info(e).is_some() && Instant::now() < deadline {
        std::thread::yield_now();
    }
    assert_eq!(node.call(e, 1u32).unwrap_err(), CallError::Dead(e));
    assert!(
        node.send(e, 1u32).is_err(),
        "send to a dead address hands the message back"
    );
    assert!(t.elapsed() < LONG);
}

/// Sleeps forever in dispatch, after taking its request.
struct Stuck;
impl Service for Stuck {
    async fn dispatch(&mut self, ctx: &mut Context, _msg: Message) {
        ctx.sleep(Duration::from_secs(3600)).await;
    }
}

/// G7, skynet-inventory §7 item 7 (#1371): a service killed while awaiting inside a handler
/// answers the caller with Dead, and the queued callers too.
#[test]
fn kill_with_callers_waiting() {
    let node = node();
    let s = node.launch(Stuck).unwrap();
    let handle = node.handle();
    std::thread::scope(|scope| {
        let callers: Vec<_> = (0..3).map(|_| scope.spawn(|| node.call(s, ()))).collect();
        // Wait until the first request is inside dispatch and the others are queued.
        let deadline = Instant::now() + LONG;
        while handle.service_info(s).map(|i| i.processed).unwrap_or(0) < 1
            && Instant::now() < deadline
        {
            std::thread::yield_now();
        }
        handle.kill(s);
        for c in callers {
            assert_eq!(c.join().unwrap().unwrap_err(), CallError::Dead(s));
        }
    });
}

/// Counts messages; exits on "exit".
struct Exiter {
    handled_after_exit: crossbeam_channel::Sender<u32>,
    exiting: bool,
}
impl Service for Exiter {
    async fn dispatch(&mut self, ctx: &mut Context, msg: Message) {
        if self.exiting {
            let _ = self.handled_after_exit.send(1);
        }
        if msg.downcast_ref::<&str>() == Some(&"exit") {
            self.exiting = true;
            ctx.exit();
        }
    }
}

/// G7, skynet-inventory §7 item 8 (#1220, #1846): 10k sends, then exit, then a call: the
/// call fails with an error carrying its own session, and no handler runs after exit.
#[test]
fn messages_queued_behind_exit() {
    let node = node();
    let (tx, rx) = crossbeam_channel::unbounded();
    let s = node
        .launch(Exiter {
            handled_after_exit: tx,
            exiting: false,
        })
        .unwrap();
    node.send(s, "exit").unwrap();
    // Queued behind the exit (or refused once it has happened): never handled.
    for _ in 0..10_000 {
        let _ = node.send(s, 0u32);
    }
    let r = node.call(s, 5u32);
    assert_eq!(r.unwrap_err(), CallError::Dead(s));
    assert!(rx.try_recv().is_err(), "no handler ran after exit");
}

/// Panics on request "boom".
struct Fragile;
impl Service for Fragile {
    async fn dispatch(&mut self, ctx: &mut Context, msg: Message) {
        if msg.downcast_ref::<&str>() == Some(&"boom") {
            panic!("boom requested");
        }
        let _ = ctx.ret("fine");
    }
}

/// G6: a panic kills only that service; its caller gets Panicked, the panic is logged with
/// the address, and every other service keeps serving.
#[test]
fn panic_is_isolated() {
    let (node, lines) = node_with_log(2);
    let a = node.launch(Fragile).unwrap();
    let b = node.launch(Fragile).unwrap();
    assert_eq!(node.call(a, "boom").unwrap_err(), CallError::Panicked(a));
    assert!(
        lines
            .wait_for(&[&a.to_string(), "panicked", "boom requested"], LONG)
            .is_some(),
        "{:?}",
        lines.lines()
    );
    assert_eq!(
        node.call(b, "ping").unwrap().take::<&str>().unwrap(),
        "fine"
    );
    assert_eq!(node.call(a, "ping").unwrap_err(), CallError::Dead(a));
}

/// Answers after a delay given in the request.
struct Slow;
impl Service for Slow {
    async fn dispatch(&mut self, ctx: &mut Context, msg: Message) {
        let ms = msg.take::<u64>().unwrap_or(0);
        ctx.sleep(Duration::from_millis(ms)).await;
        let _ = ctx.ret(ms);
    }
}

/// Calls Slow with a short deadline, then a fast call; checks the late reply is dropped.
struct Impatient {
    slow: Addr,
    out: crossbeam_channel::Sender<(Result<u64, CallError>, Result<u64, CallError>)>,
}
impl Service for Impatient {
    async fn init(&mut self, ctx: &mut Context) -> Result<(), skynet_runtime::Error> {
        let (c, slow, out) = (ctx.clone(), self.slow, self.out.clone());
        ctx.fork(async move {
            let first = c
                .call(slow, 300u64)
                .timeout(Duration::from_millis(30))
                .await
                .and_then(|m| m.into_value::<u64>());
            // The late reply (300) arrives while this call waits; it must not be taken.
            let second = c
                .call(slow, 400u64)
                .await
                .and_then(|m| m.into_value::<u64>());
            let _ = out.send((first, second));
        });
        Ok(())
    }
    async fn dispatch(&mut self, _ctx: &mut Context, _msg: Message) {}
}

/// G3, G4, skynet-inventory §7 item 9: a call times out with Timeout, and its late reply is
/// dropped, never delivered to a newer call.
#[test]
fn call_timeout_and_late_reply_dropped() {
    let node = node();
    let slow = node.launch(Slow).unwrap();
    let (tx, rx) = crossbeam_channel::unbounded();
    node.launch(Impatient { slow, out: tx }).unwrap();
    let (first, second) = recv(&rx, LONG);
    assert_eq!(
        first,
        Err(CallError::Timeout(slow, Duration::from_millis(30)))
    );
    assert_eq!(second, Ok(400));
}

/// Calls `peer` from dispatch (the main task) whenever asked.
struct Mutual {
    peer: Option<Addr>,
}
impl Service for Mutual {
    async fn dispatch(&mut self, ctx: &mut Context, msg: Message) {
        if let Some(peer) = msg.downcast_ref::<Addr>() {
            self.peer = Some(*peer);
            let _ = ctx.ret(());
            return;
        }
        let r = match self.peer {
            Some(p) => ctx.call(p, "ping").await.map(|_| ()),
            None => Ok(()),
        };
        let _ = ctx.ret(r);
    }
}

/// Sends "go" to two services at once, each as a call from its own fork, and reports both
/// outcomes.
struct Crosser {
    a: Addr,
    b: Addr,
    out: crossbeam_channel::Sender<Result<(), CallError>>,
}
impl Service for Crosser {
    async fn dispatch(&mut self, ctx: &mut Context, _msg: Message) {
        for peer in [self.a, self.b] {
            let (c, out) = (ctx.clone(), self.out.clone());
            ctx.fork(async move {
                let r = c.call(peer, "go").await.map(|_| ());
                let _ = out.send(r);
            });
        }
    }
}

/// G10 under a race: two services told to call each other at the same moment, from two
/// workers, store their wait-for edges and read each other's with sequentially consistent
/// atomics, so at least one of them sees the cycle when it sends, and no call hangs.
#[test]
fn crossing_calls_never_hang() {
    let node = node();
    let a = node.launch(Mutual { peer: None }).unwrap();
    let b = node.launch(Mutual { peer: None }).unwrap();
    node.call(a, b).unwrap();
    node.call(b, a).unwrap();
    let (tx, rx) = crossbeam_channel::unbounded();
    let crosser = node.launch(Crosser { a, b, out: tx }).unwrap();
    for round in 0..300 {
        node.send(crosser, ()).unwrap();
        for _ in 0..2 {
            let r = rx.recv_timeout(LONG);
            assert!(r.is_ok(), "round {round}: a call hangs");
        }
    }
}

/// G10: two services that call each other from dispatch would deadlock; the call that
/// closes the cycle fails at once with Deadlock naming both addresses, and it is logged.
#[test]
fn deadlock_is_reported() {
    let (node, lines) = node_with_log(2);
    let a = node.launch(Mutual { peer: None }).unwrap();
    let b = node.launch(Mutual { peer: None }).unwrap();
    node.call(a, b).unwrap();
    node.call(b, a).unwrap();
    // a calls b; b's dispatch calls a, which is blocked calling b: a cycle.
    let r = node.call(a, "go").unwrap();
    let inner = r.take::<Result<(), CallError>>().unwrap();
    // b's call failed with Deadlock, so b answered a with an error value... b returns Err to a.
    assert!(inner.is_ok() || matches!(inner, Err(CallError::Deadlock(_))));
    let line = lines.wait_for(&["deadlock", &a.to_string(), &b.to_string()], LONG);
    assert!(line.is_some(), "deadlock report: {:?}", lines.lines());
}
