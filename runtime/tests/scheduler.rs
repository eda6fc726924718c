//! Ordering, fairness, overload warnings and the endless-loop monitor.

mod util;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use skynet_runtime::{Addr, Context, Message, Service};
use util::{node_with_log, recv, LONG};

/// Checks that values arrive as 0, 1, 2, ... and reports the count at the end marker.
struct OrderCheck {
    next: u64,
    out: crossbeam_channel::Sender<Result<u64, String>>,
}
impl Service for OrderCheck {
    async fn dispatch(&mut self, _ctx: &mut Context, msg: Message) {
        match msg.take::<u64>() {
            Ok(u64::MAX) => {
                let _ = self.out.send(Ok(self.next));
            }
            Ok(v) if v == self.next => self.next += 1,
            Ok(v) => {
                let _ = self
                    .out
                    .send(Err(format!("got {v}, expected {}", self.next)));
            }
            Err(_) => {}
        }
    }
}

/// Sends 0..n to `dest`, yielding every 1000 messages, then the end marker.
struct Sender {
    dest: Addr,
    n: u64,
}
impl Service for Sender {
    async fn dispatch(&mut self, ctx: &mut Context, _msg: Message) {
        for i in 0..self.n {
            ctx.send(self.dest, i).unwrap();
            if i % 1000 == 999 {
                ctx.yield_now().await;
            }
        }
        ctx.send(self.dest, u64::MAX).unwrap();
    }
}

/// G1: messages from one service to another arrive in send order, none lost (1,000,000).
#[test]
fn one_way_sends_keep_order() {
    let node = util::builder().threads(2).build().unwrap();
    let (tx, rx) = crossbeam_channel::unbounded();
    let check = node.launch(OrderCheck { next: 0, out: tx }).unwrap();
    let sender = node
        .launch(Sender {
            dest: check,
            n: 1_000_000,
        })
        .unwrap();
    node.send(sender, ()).unwrap();
    assert_eq!(recv(&rx, Duration::from_secs(60)), Ok(1_000_000));
}

/// Keeps itself busy: every message handled sends itself another, until told to stop.
struct Busy {
    stop: Arc<AtomicBool>,
    handled: Arc<AtomicU64>,
}
impl Service for Busy {
    async fn dispatch(&mut self, ctx: &mut Context, _msg: Message) {
        self.handled.fetch_add(1, Ordering::Relaxed);
        if !self.stop.load(Ordering::Relaxed) {
            // Two messages per message: its mailbox grows without bound.
            let _ = ctx.send(ctx.self_addr(), ());
            let _ = ctx.send(ctx.self_addr(), ());
        }
    }
}

struct Quick;
impl Service for Quick {
    async fn dispatch(&mut self, ctx: &mut Context, _msg: Message) {
        let _ = ctx.ret(());
    }
}

/// G13, G11: a flooded service does not starve others (calls to another service are answered
/// promptly on one worker), and its overload is reported at 1024 and each doubling.
#[test]
fn busy_service_does_not_starve_others() {
    let (node, lines) = node_with_log(1);
    let stop = Arc::new(AtomicBool::new(false));
    let handled = Arc::new(AtomicU64::new(0));
    let busy = node
        .launch(Busy {
            stop: stop.clone(),
            handled: handled.clone(),
        })
        .unwrap();
    node.send(busy, ()).unwrap();
    let quick = node.launch(Quick).unwrap();
    let deadline = Instant::now() + LONG;
    while handled.load(Ordering::Relaxed) < 5000 && Instant::now() < deadline {
        std::thread::yield_now();
    }
    for _ in 0..20 {
        node.call(quick, ()).unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    assert!(lines
        .wait_for(&[&busy.to_string(), "may overload", "length"], LONG)
        .is_some());
}

/// Spins inside one message for a while.
struct Spinner;
impl Service for Spinner {
    async fn dispatch(&mut self, ctx: &mut Context, msg: Message) {
        let d = msg.take::<Duration>().unwrap_or_default();
        let t = Instant::now();
        while t.elapsed() < d {
            std::hint::spin_loop();
        }
        let _ = ctx.ret(());
    }
}

/// G12, skynet-inventory §7 item 18: a handler running past the threshold is reported by
/// address and flagged, and keeps running (not killed). Default threshold 5 s; a handler of
/// 6 s is flagged.
#[test]
fn endless_loop_is_reported() {
    let lines = util::Lines::default();
    let node = util::builder()
        .threads(2)
        .logger(lines.logger())
        .build()
        .unwrap();
    let s = node.launch(Spinner).unwrap();
    node.call(s, Duration::from_secs(6)).unwrap();
    assert!(
        lines
            .wait_for(&[&s.to_string(), "endless loop"], LONG)
            .is_some(),
        "{:?}",
        lines.lines()
    );
    assert!(node.handle().service_info(s).unwrap().endless);
    // Read and cleared, as skynet's `STAT endless`: once per report.
    assert_eq!(node.handle().take_endless(s), Some(true));
    assert_eq!(node.handle().take_endless(s), Some(false));
    assert!(!node.handle().service_info(s).unwrap().endless);
}

/// Answers each call with its argument plus one, after a call of its own to `peer` (so it
/// has used its session table, its inbox and a fork-free await).
struct Relay {
    peer: Option<Addr>,
}
impl Service for Relay {
    async fn dispatch(&mut self, ctx: &mut Context, msg: Message) {
        let Ok(v) = msg.take::<u64>() else { return };
        let v = match self.peer {
            Some(p) => match ctx.call(p, v).await.map(|m| m.into_value::<u64>()) {
                Ok(Ok(w)) => w,
                _ => return,
            },
            None => v,
        };
        let _ = ctx.ret(v + 1);
    }
}

/// G1: a service that went idle after a few messages (and so gave back its empty queue
/// and session buffers) keeps working in order: many rounds of calls through pairs of
/// such services, each round after every one of them went idle again.
#[test]
fn idle_services_that_released_their_buffers_keep_working() {
    let node = util::builder().threads(2).build().expect("node");
    let relays: Vec<Addr> = (0..50)
        .map(|_| {
            let back = node.launch(Relay { peer: None }).expect("launch");
            node.launch(Relay { peer: Some(back) }).expect("launch")
        })
        .collect();
    for round in 0..10u64 {
        for r in &relays {
            let got: u64 = node
                .call(*r, round)
                .expect("call")
                .into_value()
                .expect("u64");
            assert_eq!(got, round + 2);
        }
    }
    node.shutdown();
}

/// Tells `seen` once, at the first value it handles.
struct FirstSeen {
    seen: Option<crossbeam_channel::Sender<()>>,
}
impl Service for FirstSeen {
    async fn dispatch(&mut self, _ctx: &mut Context, _msg: Message) {
        if let Some(tx) = self.seen.take() {
            let _ = tx.send(());
        }
    }
}

/// In one long turn, sends to `dest` until `dest` tells it has run (or a deadline passes),
/// then reports whether it did.
struct LongTurnSender {
    dest: Addr,
    seen: crossbeam_channel::Receiver<()>,
    out: crossbeam_channel::Sender<bool>,
}
impl Service for LongTurnSender {
    async fn dispatch(&mut self, ctx: &mut Context, _msg: Message) {
        let deadline = Instant::now() + LONG;
        let mut i = 0u64;
        let ran = loop {
            if self.seen.try_recv().is_ok() {
                break true;
            }
            if Instant::now() > deadline {
                break false;
            }
            ctx.send(self.dest, i).unwrap();
            i += 1;
        };
        let _ = self.out.send(ran);
    }
}

/// G13: a service woken by a worker waits in that worker's slot, but not behind a turn that
/// keeps sending to it: once messages pile up for it, an idle worker runs it alongside.
#[test]
fn a_long_turn_does_not_hold_back_its_receiver() {
    let node = util::builder().threads(2).build().unwrap();
    let (seen_tx, seen_rx) = crossbeam_channel::unbounded();
    let (tx, rx) = crossbeam_channel::unbounded();
    let dest = node
        .launch(FirstSeen {
            seen: Some(seen_tx),
        })
        .unwrap();
    let sender = node
        .launch(LongTurnSender {
            dest,
            seen: seen_rx,
            out: tx,
        })
        .unwrap();
    node.send(sender, ()).unwrap();
    assert!(
        recv(&rx, LONG + LONG),
        "the receiver ran while the sender's turn went on"
    );
}

/// Sends three values to the address it is given and reports each result.
struct SendThree {
    out: crossbeam_channel::Sender<Vec<Result<(), skynet_runtime::CallError>>>,
}
impl Service for SendThree {
    async fn dispatch(&mut self, ctx: &mut Context, msg: Message) {
        if let Ok(dest) = msg.take::<Addr>() {
            let r = (0..3u32)
                .map(|v| ctx.send(dest, v).map_err(|e| e.reason))
                .collect();
            let _ = self.out.send(r);
        }
    }
}

/// G5: a worker remembers the service it keeps sending to (no handle-table lookup per
/// message); once that service has exited, a send to it still fails with Dead, and sends to
/// another service still arrive.
#[test]
fn sends_to_a_remembered_service_fail_once_it_has_exited() {
    let node = util::builder().threads(1).build().unwrap();
    let (tx, rx) = crossbeam_channel::unbounded();
    let sender = node.launch(SendThree { out: tx }).unwrap();
    let (seen_tx, seen_rx) = crossbeam_channel::unbounded();
    let first = node
        .launch(FirstSeen {
            seen: Some(seen_tx),
        })
        .unwrap();
    node.send(sender, first).unwrap();
    assert!(recv(&rx, LONG).iter().all(Result::is_ok));
    recv(&seen_rx, LONG);
    assert!(node.handle().kill(first));
    let deadline = Instant::now() + LONG;
    while node.handle().service_info(first).is_some() && Instant::now() < deadline {
        std::thread::yield_now();
    }
    node.send(sender, first).unwrap();
    let dead = skynet_runtime::CallError::Dead(first);
    assert_eq!(
        recv(&rx, LONG),
        vec![Err(dead.clone()), Err(dead.clone()), Err(dead)]
    );
    let (seen_tx, seen_rx) = crossbeam_channel::unbounded();
    let second = node
        .launch(FirstSeen {
            seen: Some(seen_tx),
        })
        .unwrap();
    node.send(sender, second).unwrap();
    assert!(recv(&rx, LONG).iter().all(Result::is_ok));
    recv(&seen_rx, LONG);
}

/// Reports each value it is sent.
struct Report {
    out: crossbeam_channel::Sender<u64>,
}
impl Service for Report {
    async fn dispatch(&mut self, _ctx: &mut Context, msg: Message) {
        if let Ok(v) = msg.take::<u64>() {
            let _ = self.out.send(v);
        }
    }
}

/// G1 with deferred wake-ups (`NodeHandle::defer_wakes`, the socket thread's batches): every
/// message sent inside a batch is delivered once it ends, for batches smaller and larger
/// than the deferral limit and for a batch opened inside another; none is left waiting for
/// a wake-up that never comes.
#[test]
fn messages_sent_in_a_wake_batch_all_run() {
    let node = util::builder().threads(2).build().unwrap();
    let handle = node.handle();
    let (tx, rx) = crossbeam_channel::unbounded();
    let services: Vec<Addr> = (0..100)
        .map(|_| node.launch(Report { out: tx.clone() }).unwrap())
        .collect();
    for round in 0..300u64 {
        let n = [1, 5, 31, 32, 33, 100][round as usize % 6];
        {
            let _outer = handle.defer_wakes();
            for (i, &s) in services.iter().take(n).enumerate() {
                // Halfway, a nested batch ends without ending the outer one.
                let _inner = (i == n / 2).then(|| handle.defer_wakes());
                node.send(s, round).unwrap();
            }
        }
        for _ in 0..n {
            assert_eq!(recv(&rx, LONG), round, "round {round} of {n} sends");
        }
    }
    node.shutdown();
}

/// The calling thread's scheduling policy: field 41 of `/proc/thread-self/stat`, counted
/// after the parenthesised thread name (which may hold spaces).
#[cfg(target_os = "linux")]
fn thread_policy() -> Option<u32> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    let fields = stat.get(stat.rfind(')')? + 2..)?;
    fields.split(' ').nth(41 - 3)?.parse().ok()
}

/// Answers every request with the scheduling policy of the worker thread running it.
#[cfg(target_os = "linux")]
struct PolicyProbe;
#[cfg(target_os = "linux")]
impl Service for PolicyProbe {
    async fn dispatch(&mut self, ctx: &mut Context, _msg: Message) {
        let _ = ctx.ret(thread_policy());
    }
}

/// Workers run under SCHED_BATCH (3) by default and under the default policy (0) when the
/// node is told `sched_batch = false`, in the config or on the builder; the thread that
/// builds the node keeps its own.
#[cfg(target_os = "linux")]
#[test]
fn workers_run_under_the_batch_policy_unless_told_otherwise() {
    let mine = thread_policy();
    assert!(mine.is_some(), "policy readable");
    let mut off = skynet_runtime::config::Config::new();
    off.set("sched_batch", "false");
    let cases = [
        (util::builder().threads(2), 3),
        (util::builder().threads(2).config(off), 0),
        (util::builder().threads(2).sched_batch(false), 0),
    ];
    for (i, (builder, want)) in cases.into_iter().enumerate() {
        let node = builder.build().unwrap();
        // Two workers, several probes each: whichever worker runs a probe, it answers.
        for _ in 0..8 {
            let probe = node.launch(PolicyProbe).unwrap();
            let reply = node.call(probe, ()).unwrap();
            assert_eq!(reply.take::<Option<u32>>().unwrap(), Some(want), "case {i}");
        }
        assert_eq!(thread_policy(), mine, "only the workers change (case {i})");
        node.shutdown();
    }
}

/// G1 through a resolved service (`NodeHandle::resolve` / `send_ref`, the socket thread's
/// path for routed frames): sends through it and by address keep one order, the count it
/// returns covers what waits, and once the service has exited a send through it fails as a
/// send by address does.
#[test]
fn sends_through_a_resolved_service_keep_order_and_fail_once_it_is_gone() {
    let node = util::builder().threads(2).build().unwrap();
    let handle = node.handle();
    let (tx, rx) = crossbeam_channel::unbounded();
    let check = node.launch(OrderCheck { next: 0, out: tx }).unwrap();
    let to = handle.resolve(check).expect("live");
    assert_eq!(to.addr(), check);
    let msg =
        |v: u64| skynet_runtime::Message::value(Addr::SYSTEM, 0, skynet_runtime::Ptype::LUA, v);
    for i in 0..10_000u64 {
        if i % 2 == 0 {
            // At least this message waits (the count is taken right after the push).
            assert!(handle.send_ref(&to, msg(i)).expect("sent") >= 1);
        } else {
            handle.send(check, msg(i)).expect("sent");
        }
    }
    handle.send_ref(&to, msg(u64::MAX)).expect("sent");
    assert_eq!(recv(&rx, LONG), Ok(10_000));
    assert!(handle.kill(check));
    let deadline = Instant::now() + LONG;
    while handle.send_ref(&to, msg(0)).is_ok() {
        assert!(
            Instant::now() < deadline,
            "send_ref still succeeds after the kill"
        );
        std::thread::yield_now();
    }
    node.shutdown();
}

/// Holds its worker inside the first message until told to go on; counts the rest.
struct Gate {
    entered: crossbeam_channel::Sender<()>,
    go: crossbeam_channel::Receiver<()>,
    seen: Arc<AtomicU64>,
}
impl Service for Gate {
    async fn dispatch(&mut self, _ctx: &mut Context, msg: Message) {
        if msg.downcast_ref::<&str>() == Some(&"hold") {
            let _ = self.entered.send(());
            let _ = self.go.recv_timeout(LONG);
        } else {
            self.seen.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// G11: nothing bounds a mailbox (as in skynet): a sender faster than its receiver is never
/// refused and nothing is dropped; the overload warning names the length the receiver found,
/// and every message is handled once the receiver catches up.
#[test]
fn a_faster_sender_fills_an_unbounded_mailbox_with_warnings_per_doubling() {
    const SENT: u64 = 5000;
    let (node, lines) = node_with_log(2);
    let (entered_tx, entered) = crossbeam_channel::bounded(1);
    let (go, go_rx) = crossbeam_channel::bounded(1);
    let seen = Arc::new(AtomicU64::new(0));
    let gate = node
        .launch(Gate {
            entered: entered_tx,
            go: go_rx,
            seen: seen.clone(),
        })
        .unwrap();
    node.send(gate, "hold").unwrap();
    recv(&entered, LONG);
    for i in 0..SENT {
        node.send(gate, i)
            .expect("a send to a live service is never refused");
    }
    // Every message waits (the count may still include the one being handled).
    let queued = node.handle().queue_len(gate).unwrap_or(0) as u64;
    assert!((SENT..=SENT + 1).contains(&queued), "{queued} queued");
    go.send(()).unwrap();
    let deadline = Instant::now() + LONG;
    while seen.load(Ordering::Relaxed) < SENT && Instant::now() < deadline {
        std::thread::yield_now();
    }
    assert_eq!(seen.load(Ordering::Relaxed), SENT);
    // The receiver raises it when it takes its messages (as skynet's pop does): one line
    // with the length it found, past 1024, 2048 and 4096 at once.
    assert!(
        lines
            .wait_for(&[&gate.to_string(), "may overload", "= 5000"], LONG)
            .is_some(),
        "{:?}",
        lines.lines()
    );
    let warnings = lines
        .lines()
        .iter()
        .filter(|l| l.contains("may overload"))
        .count();
    assert_eq!(warnings, 1, "{:?}", lines.lines());
}

/// A drain watch (how the socket thread learns a held-back socket's destination caught up):
/// called once, from the receiver's worker, when it takes a batch at most that short; at
/// once (true, nothing called) when the mailbox is short already.
#[test]
fn a_drain_watch_fires_once_the_receiver_catches_up() {
    let node = util::builder().threads(2).build().unwrap();
    let (entered_tx, entered) = crossbeam_channel::bounded(1);
    let (go, go_rx) = crossbeam_channel::bounded(1);
    let seen = Arc::new(AtomicU64::new(0));
    let gate = node
        .launch(Gate {
            entered: entered_tx,
            go: go_rx,
            seen: seen.clone(),
        })
        .unwrap();
    let to = node.handle().resolve(gate).expect("live");
    // Short already: no watch.
    let never: skynet_runtime::DrainWake = Arc::new(|| panic!("not armed"));
    assert!(to.notify_when_drained(10, never));
    node.send(gate, "hold").unwrap();
    recv(&entered, LONG);
    for i in 0..100u64 {
        node.send(gate, i).unwrap();
    }
    let (woke_tx, woke) = crossbeam_channel::unbounded();
    let wake: skynet_runtime::DrainWake = Arc::new(move || {
        let _ = woke_tx.send(());
    });
    assert!(!to.notify_when_drained(10, wake));
    assert!(woke.try_recv().is_err(), "nothing drained yet");
    go.send(()).unwrap();
    recv(&woke, LONG);
    let deadline = Instant::now() + LONG;
    while seen.load(Ordering::Relaxed) < 100 && Instant::now() < deadline {
        std::thread::yield_now();
    }
    assert_eq!(seen.load(Ordering::Relaxed), 100);
    assert!(woke.try_recv().is_err(), "called once");
}

/// Sends to `woken`, then spins until it has run (or a deadline), reporting whether it ran
/// while this service was still inside that one message.
struct WakesThenSpins {
    woken: Addr,
    ran: Arc<AtomicBool>,
    out: crossbeam_channel::Sender<bool>,
}
impl Service for WakesThenSpins {
    async fn dispatch(&mut self, ctx: &mut Context, _msg: Message) {
        let _ = ctx.send(self.woken, 1u8);
        let deadline = Instant::now() + LONG;
        while !self.ran.load(Ordering::SeqCst) && Instant::now() < deadline {
            std::hint::spin_loop();
        }
        let _ = self.out.send(self.ran.load(Ordering::SeqCst));
    }
}

/// Notes that it ran.
struct Flag(Arc<AtomicBool>);
impl Service for Flag {
    async fn dispatch(&mut self, _ctx: &mut Context, _msg: Message) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// G13: a service woken by one that then stays inside a long message (here, until it has
/// run) is not held in that worker's LIFO slot: the monitor moves it to another worker.
#[test]
fn a_service_woken_by_a_long_turn_runs_beside_it() {
    let node = util::builder()
        .threads(2)
        .monitor_threshold(Duration::from_millis(100))
        .build()
        .unwrap();
    let ran = Arc::new(AtomicBool::new(false));
    let woken = node.launch(Flag(ran.clone())).unwrap();
    let (tx, rx) = crossbeam_channel::unbounded();
    let spinner = node
        .launch(WakesThenSpins {
            woken,
            ran,
            out: tx,
        })
        .unwrap();
    node.send(spinner, ()).unwrap();
    assert!(
        recv(&rx, LONG + LONG),
        "the woken service ran only after the long turn"
    );
}

/// Never finishes its first message: a call to it is answered only when it is killed.
struct Stuck;
impl Service for Stuck {
    async fn dispatch(&mut self, ctx: &mut Context, _msg: Message) {
        ctx.sleep(Duration::from_secs(3600)).await;
    }
}

/// Sends three values to the service it is given, kills it, waits for a call to it to
/// fail, then sends twice more; reports every outcome.
struct SendKillSend {
    out: crossbeam_channel::Sender<Vec<Result<(), skynet_runtime::CallError>>>,
}
impl Service for SendKillSend {
    async fn dispatch(&mut self, ctx: &mut Context, msg: Message) {
        let Some(&target) = msg.downcast_ref::<Addr>() else {
            return;
        };
        let mut outcomes = Vec::new();
        for i in 0..3u64 {
            outcomes.push(ctx.send(target, i).map_err(|e| e.reason));
        }
        ctx.kill(target);
        // Resolves once the target has retired (its mailbox refused the call, or
        // answered it with an error when it closed).
        outcomes.push(ctx.call(target, 99u64).await.map(drop));
        for i in 0..2u64 {
            outcomes.push(ctx.send(target, i).map_err(|e| e.reason));
        }
        let _ = self.out.send(outcomes);
    }
}

/// Guarantee: a service's remembered destination (the third send in a row to it skips
/// every lookup) fails sends with `Dead` once that service is gone, as a lookup would,
/// and is forgotten (the send after it takes the long way and fails the same).
#[test]
fn a_remembered_destination_that_retires_fails_sends_with_dead() {
    let node = util::builder().threads(2).build().unwrap();
    let (tx, rx) = crossbeam_channel::unbounded();
    let sender = node.launch(SendKillSend { out: tx }).unwrap();
    let target = node.launch(Stuck).unwrap();
    // Busy first (a cold service forgets its destination whenever it goes idle, as it
    // waits in the call below): 70 messages handled before the address comes.
    for _ in 0..70 {
        node.send(sender, ()).unwrap();
    }
    node.send(sender, target).unwrap();
    let dead = skynet_runtime::CallError::Dead(target);
    let outcomes = recv(&rx, LONG);
    assert_eq!(&outcomes[..3], &[Ok(()), Ok(()), Ok(())]);
    assert_eq!(
        outcomes[3],
        Err(dead.clone()),
        "the call fails when the kill lands"
    );
    assert_eq!(&outcomes[4..], &[Err(dead.clone()), Err(dead)]);
}

/// Counts the messages `dispatch` gets; kills itself at the `at`-th.
struct KillsItselfAt {
    at: u64,
    handled: Arc<AtomicU64>,
}
impl Service for KillsItselfAt {
    async fn dispatch(&mut self, ctx: &mut Context, _msg: Message) {
        if self.handled.fetch_add(1, Ordering::Relaxed) + 1 == self.at {
            ctx.kill(ctx.self_addr());
        }
    }
}

/// A flood reaches `dispatch` in runs taken straight from the worker's batch: a kill stops
/// the run after the current message (no later message is dispatched), and a request
/// queued behind the flood fails instead of hanging (G7 and G4 through the run path).
#[test]
fn a_kill_stops_a_run_of_messages_after_the_current_one() {
    let node = util::builder().threads(2).build().unwrap();
    let handled = Arc::new(AtomicU64::new(0));
    let svc = node
        .launch(KillsItselfAt {
            at: 10,
            handled: handled.clone(),
        })
        .unwrap();
    for i in 0..5_000u64 {
        node.send(svc, i).unwrap_or(());
    }
    assert!(
        node.call(svc, 0u64).is_err(),
        "the call behind the flood fails"
    );
    assert_eq!(handled.load(Ordering::Relaxed), 10);
    node.shutdown();
}
