//! Calls, replies, forks and responders. Each test names the guarantee of
//! docs/semantics.md it proves.

mod util;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use skynet_runtime::{Addr, CallError, Context, Message, Queue, Responder, Service};
use util::{node, recv, LONG};

/// Answers `n` with `n + 1`.
struct Inc;
impl Service for Inc {
    async fn dispatch(&mut self, ctx: &mut Context, msg: Message) {
        if let Ok(n) = msg.take::<u64>() {
            let _ = ctx.ret(n + 1);
        }
    }
}

/// Calls `target` `rounds` times in a loop, reports the last value.
struct Pinger {
    target: Addr,
    rounds: u64,
    done: crossbeam_channel::Sender<Result<u64, CallError>>,
}
impl Service for Pinger {
    async fn init(&mut self, ctx: &mut Context) -> Result<(), skynet_runtime::Error> {
        let (target, rounds, done) = (self.target, self.rounds, self.done.clone());
        let c = ctx.clone();
        ctx.fork(async move {
            let mut n = 0u64;
            for _ in 0..rounds {
                match c.call(target, n).await.and_then(|m| m.into_value::<u64>()) {
                    Ok(v) => n = v,
                    Err(e) => {
                        let _ = done.send(Err(e));
                        return;
                    }
                }
            }
            let _ = done.send(Ok(n));
        });
        Ok(())
    }
    async fn dispatch(&mut self, _ctx: &mut Context, _msg: Message) {}
}

/// G3, G4: a call resolves with its reply; ping-pong keeps the values in order.
#[test]
fn ping_pong_calls() {
    let node = node();
    let inc = node.launch(Inc).unwrap();
    let (tx, rx) = crossbeam_channel::unbounded();
    node.launch(Pinger {
        target: inc,
        rounds: 10_000,
        done: tx,
    })
    .unwrap();
    assert_eq!(recv(&rx, LONG), Ok(10_000));
    // From outside the node too.
    assert_eq!(node.call(inc, 41u64).unwrap().take::<u64>().unwrap(), 42);
}

/// G4 under load: 1,000 services calling each other concurrently all get their answers.
#[test]
fn thousand_services_call_each_other() {
    let node = node();
    let incs: Vec<Addr> = (0..1000).map(|_| node.launch(Inc).unwrap()).collect();
    let (tx, rx) = crossbeam_channel::unbounded();
    for i in 0..1000 {
        let target = incs[(i * 7 + 3) % 1000];
        node.launch(Pinger {
            target,
            rounds: 100,
            done: tx.clone(),
        })
        .unwrap();
    }
    for _ in 0..1000 {
        assert_eq!(recv(&rx, LONG), Ok(100));
    }
}

/// Keeps a responder and answers from a fork after a sleep; also drops one unanswered.
struct Deferred;
impl Service for Deferred {
    async fn dispatch(&mut self, ctx: &mut Context, msg: Message) {
        let Ok(cmd) = msg.take::<&'static str>() else {
            return;
        };
        let responder: Responder = ctx.response().expect("a call has a responder");
        match cmd {
            "later" => {
                let c = ctx.clone();
                ctx.fork(async move {
                    c.sleep(Duration::from_millis(20)).await;
                    responder.send("answered later");
                });
            }
            "drop" => drop(responder),
            _ => {}
        }
    }
}

/// G4: a responder may answer later from a fork.
#[test]
fn response_from_a_fork() {
    let node = node();
    let d = node.launch(Deferred).unwrap();
    let reply = node.call(d, "later").unwrap();
    assert_eq!(reply.take::<&str>().unwrap(), "answered later");
}

/// G4: a responder dropped unanswered answers with NoReply; the caller never hangs.
#[test]
fn dropped_responder_is_an_error() {
    let node = node();
    let d = node.launch(Deferred).unwrap();
    assert_eq!(node.call(d, "drop").unwrap_err(), CallError::NoReply(d));
}

/// Returns without answering.
struct Silent;
impl Service for Silent {
    async fn dispatch(&mut self, _ctx: &mut Context, _msg: Message) {}
}

/// G4: a request that dispatch finishes without answering gets NoReply.
#[test]
fn unanswered_request_is_an_error() {
    let node = node();
    let s = node.launch(Silent).unwrap();
    assert_eq!(node.call(s, 1u8).unwrap_err(), CallError::NoReply(s));
}

/// Calls `.inc` by name from a service: the by-name call, a send by name, a call by address
/// literal, and a call to a name nobody holds.
struct ByName {
    report: crossbeam_channel::Sender<Vec<Result<u64, CallError>>>,
}
impl Service for ByName {
    async fn dispatch(&mut self, ctx: &mut Context, msg: Message) {
        let Ok(literal) = msg.take::<String>() else {
            return;
        };
        let mut results = vec![
            ctx.call(".inc", 1u64).await.and_then(|m| m.into_value()),
            ctx.call(&literal, 2u64).await.and_then(|m| m.into_value()),
            ctx.call(".nobody", 3u64).await.and_then(|m| m.into_value()),
            ctx.call_as::<u64, _>(".inc", 4u64).await,
        ];
        // A send by name goes; to a missing name it fails at once, handing the value back.
        results.push(ctx.send(".inc", 5u64).map(|()| 0).map_err(|e| e.reason));
        match ctx.send("nobody", 6u64) {
            Err(e) => {
                assert_eq!(
                    e.message.take::<u64>().ok(),
                    Some(6),
                    "the value comes back"
                );
                results.push(Err(e.reason));
            }
            Ok(()) => results.push(Ok(6)),
        }
        let _ = self.report.send(results);
    }
}

/// G5: a call or send may name its destination (`.name`, `:0000000a`); the name is looked up
/// when it is sent, and a name nobody holds fails at once with `NoSuchName` (`is_unknown`).
#[test]
fn calls_and_sends_by_name() {
    let node = node();
    let inc = node.launch(Inc).unwrap();
    node.handle().register(inc, ".inc").unwrap();
    let (tx, rx) = crossbeam_channel::unbounded();
    let caller = node.launch(ByName { report: tx }).unwrap();
    node.send(caller, inc.to_string()).unwrap();
    let results = recv(&rx, LONG);
    assert_eq!(results[0], Ok(2));
    assert_eq!(results[1], Ok(3));
    assert_eq!(results[2], Err(CallError::NoSuchName(".nobody".into())));
    assert!(results[2].as_ref().unwrap_err().is_unknown());
    assert_eq!(results[3], Ok(5));
    assert_eq!(results[4], Ok(0));
    assert_eq!(results[5], Err(CallError::NoSuchName("nobody".into())));
    // From outside the node too.
    let reply = node.call(".inc", 41u64).unwrap();
    assert_eq!(reply.take::<u64>().unwrap(), 42);
    assert_eq!(
        node.call(".gone", 1u64).unwrap_err(),
        CallError::NoSuchName(".gone".into())
    );
    assert!(node.send(".gone", 1u64).unwrap_err().reason.is_unknown());
    assert!(CallError::Unknown(Addr(77)).is_unknown());
    assert!(!CallError::Dead(Addr(77)).is_unknown());
}

/// Exits in the middle of a request, without answering it.
struct Quitter;
impl Service for Quitter {
    async fn dispatch(&mut self, ctx: &mut Context, _msg: Message) {
        ctx.exit();
    }
}

/// G7: a service that calls `exit` while handling a request and does not answer it gives
/// its caller `Dead` (it is ending), not `NoReply`, and logs no "without answering" warning.
#[test]
fn exit_without_answering_is_dead() {
    let (node, lines) = util::node_with_log(2);
    let q = node.launch(Quitter).unwrap();
    assert_eq!(node.call(q, 1u8).unwrap_err(), CallError::Dead(q));
    // Later calls find it gone.
    assert_eq!(node.call(q, 1u8).unwrap_err(), CallError::Dead(q));
    assert!(
        !lines
            .lines()
            .iter()
            .any(|l| l.contains("without answering")),
        "{:?}",
        lines.lines()
    );
}

/// Records the order in which its tasks run around awaits.
struct Interleave {
    log: Arc<parking_lot::Mutex<Vec<&'static str>>>,
}
impl Service for Interleave {
    async fn dispatch(&mut self, ctx: &mut Context, _msg: Message) {
        let log = self.log.clone();
        let c = ctx.clone();
        ctx.fork(async move {
            log.lock().push("fork-start");
            c.yield_now().await;
            log.lock().push("fork-end");
        });
        self.log.lock().push("main-before-await");
        ctx.yield_now().await;
        self.log.lock().push("main-after-await");
        let _ = ctx.ret(());
    }
}

/// G2: a fork runs only while the main task is suspended at an await, never in the middle
/// of its code.
#[test]
fn forks_interleave_only_at_awaits() {
    let node = node();
    let log = Arc::new(parking_lot::Mutex::new(Vec::new()));
    let s = node.launch(Interleave { log: log.clone() }).unwrap();
    node.call(s, ()).unwrap();
    let log = log.lock().clone();
    assert_eq!(log[0], "main-before-await");
    assert_eq!(log[1], "fork-start");
    assert!(log.contains(&"main-after-await"));
}

/// Fails requests marked odd, answers even ones after a pause.
struct Picky;
impl Service for Picky {
    async fn dispatch(&mut self, ctx: &mut Context, msg: Message) {
        let n = msg.take::<u32>().unwrap_or(1);
        if n % 2 == 1 {
            let _ = ctx.ret_error(CallError::Failed(ctx.self_addr(), "odd".into()));
        } else {
            let _ = ctx.ret(n);
        }
    }
}

/// Makes two concurrent calls from forks; one fails, the other must still succeed.
struct TwoCalls {
    target: Addr,
    out: crossbeam_channel::Sender<(u32, Result<u32, CallError>)>,
}
impl Service for TwoCalls {
    async fn init(&mut self, ctx: &mut Context) -> Result<(), skynet_runtime::Error> {
        for n in [1u32, 2] {
            let (c, t, out) = (ctx.clone(), self.target, self.out.clone());
            ctx.fork(async move {
                let r = c.call(t, n).await.and_then(|m| m.into_value::<u32>());
                let _ = out.send((n, r));
            });
        }
        Ok(())
    }
    async fn dispatch(&mut self, _ctx: &mut Context, _msg: Message) {}
}

/// G4, skynet#578: an error answer to one call does not fail a sibling call to the same
/// service.
#[test]
fn one_error_does_not_fail_sibling_calls() {
    let node = node();
    let p = node.launch(Picky).unwrap();
    let (tx, rx) = crossbeam_channel::unbounded();
    node.launch(TwoCalls { target: p, out: tx }).unwrap();
    let mut got = [recv(&rx, LONG), recv(&rx, LONG)];
    got.sort_by_key(|(n, _)| *n);
    assert!(matches!(got[0].1, Err(CallError::Failed(_, _))));
    assert_eq!(got[1].1, Ok(2));
}

/// Counts with an await inside a critical section; forks must not interleave inside it.
struct Critical {
    queue: Queue,
    inside: Arc<AtomicUsize>,
    max_inside: Arc<AtomicUsize>,
    finished: crossbeam_channel::Sender<()>,
}
impl Service for Critical {
    async fn init(&mut self, ctx: &mut Context) -> Result<(), skynet_runtime::Error> {
        for _ in 0..10 {
            let (c, q) = (ctx.clone(), self.queue.clone());
            let (inside, max_inside, fin) = (
                self.inside.clone(),
                self.max_inside.clone(),
                self.finished.clone(),
            );
            ctx.fork(async move {
                let _g = q.lock().await;
                let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                max_inside.fetch_max(now, Ordering::SeqCst);
                c.sleep(Duration::from_millis(2)).await;
                inside.fetch_sub(1, Ordering::SeqCst);
                let _ = fin.send(());
            });
        }
        Ok(())
    }
    async fn dispatch(&mut self, _ctx: &mut Context, _msg: Message) {}
}

/// G2, skynet#788: a `Queue` keeps forks from interleaving across awaits.
#[test]
fn queue_is_a_critical_section() {
    let node = node();
    let (tx, rx) = crossbeam_channel::unbounded();
    let max_inside = Arc::new(AtomicUsize::new(0));
    node.launch(Critical {
        queue: Queue::new(),
        inside: Arc::new(AtomicUsize::new(0)),
        max_inside: max_inside.clone(),
        finished: tx,
    })
    .unwrap();
    for _ in 0..10 {
        recv(&rx, LONG);
    }
    assert_eq!(max_inside.load(Ordering::SeqCst), 1);
}

/// Holds a counter invariant across an await inside dispatch: `a == b` whenever a message starts.
struct Invariant {
    a: u64,
    b: u64,
}
impl Service for Invariant {
    async fn dispatch(&mut self, ctx: &mut Context, _msg: Message) {
        let ok = self.a == self.b;
        self.a += 1;
        ctx.sleep(Duration::from_millis(1)).await;
        self.b += 1;
        let _ = ctx.ret(ok);
    }
}

/// G2, skynet#788: state does not change under a suspended dispatch; the next message waits.
#[test]
fn state_is_stable_across_awaits() {
    let node = node();
    let s = node.launch(Invariant { a: 0, b: 0 }).unwrap();
    let results: Vec<bool> = std::thread::scope(|s2| {
        let hs: Vec<_> = (0..8)
            .map(|_| s2.spawn(|| node.call(s, ()).unwrap().take::<bool>().unwrap()))
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(results.iter().all(|ok| *ok), "{results:?}");
}

/// Calls `target` from `init` (the main task awaits the reply), then answers with what it got.
struct CallsInInit {
    target: Addr,
    got: u64,
}
impl Service for CallsInInit {
    async fn init(&mut self, ctx: &mut Context) -> Result<(), skynet_runtime::Error> {
        self.got = ctx
            .call(self.target, 1u64)
            .await
            .and_then(|m| m.into_value::<u64>())
            .map_err(|e| skynet_runtime::Error::from(e.to_string()))?;
        Ok(())
    }
    async fn dispatch(&mut self, ctx: &mut Context, _msg: Message) {
        let _ = ctx.ret(self.got);
    }
}

/// G3, launch: an `init` that awaits a call finishes the launch when the reply comes (the
/// reply resumes the main task, which then reports init), and the service then serves.
#[test]
fn init_that_awaits_a_call_completes_the_launch() {
    let node = std::sync::Arc::new(node());
    let inc = node.launch(Inc).unwrap();
    let (tx, rx) = crossbeam_channel::unbounded();
    let launcher = node.clone();
    // Launched from another thread so that a launch that never completes fails the test at
    // the deadline instead of hanging it.
    std::thread::spawn(move || {
        let r = launcher.launch(CallsInInit {
            target: inc,
            got: 0,
        });
        let _ = tx.send(r.map_err(|e| e.to_string()));
    });
    let addr = recv(&rx, LONG).expect("launch succeeds");
    assert_eq!(node.call(addr, ()).unwrap().into_value::<u64>(), Ok(2));
}

/// Answers after `d`.
struct Late(Duration);
impl Service for Late {
    async fn dispatch(&mut self, ctx: &mut Context, _msg: Message) {
        ctx.sleep(self.0).await;
        let _ = ctx.ret(());
    }
}

/// Calls its target with a deadline when poked, reports how the call ended.
struct Impatient {
    target: Addr,
    deadline: Duration,
    out: crossbeam_channel::Sender<Result<(), CallError>>,
}
impl Service for Impatient {
    async fn dispatch(&mut self, ctx: &mut Context, _msg: Message) {
        let r = ctx.call(self.target, ()).timeout(self.deadline).await;
        let _ = self.out.send(r.map(drop));
    }
}

/// The metrics count calls in flight: one while a call waits, none once it answered or
/// timed out; call errors are counted by kind.
#[test]
fn calls_in_flight_and_call_errors_are_counted() {
    let node = node();
    let handle = node.handle();
    let (tx, rx) = crossbeam_channel::unbounded();
    let late = node.launch(Late(Duration::from_millis(300))).unwrap();
    let waiting = node
        .launch(Impatient {
            target: late,
            deadline: LONG,
            out: tx.clone(),
        })
        .unwrap();
    node.send(waiting, ()).unwrap();
    let deadline = std::time::Instant::now() + LONG;
    while handle.metrics().calls_in_flight == 0 && std::time::Instant::now() < deadline {
        std::thread::yield_now();
    }
    assert_eq!(handle.metrics().calls_in_flight, 1);
    assert_eq!(recv(&rx, LONG), Ok(()));
    assert_eq!(handle.metrics().calls_in_flight, 0);
    // A deadline that passes: a timeout, counted, and nothing left in flight.
    let late = node.launch(Late(LONG)).unwrap();
    let hasty = node
        .launch(Impatient {
            target: late,
            deadline: Duration::from_millis(20),
            out: tx,
        })
        .unwrap();
    node.send(hasty, ()).unwrap();
    assert!(matches!(recv(&rx, LONG), Err(CallError::Timeout(..))));
    let m = handle.metrics();
    assert_eq!(m.calls_in_flight, 0);
    let timeouts = m.call_errors.iter().find(|(k, _)| *k == "timeout");
    assert_eq!(timeouts.map(|(_, n)| *n), Some(1));
}

/// Takes a `Context` of another service in a message and calls with it: the context is not
/// this service's, so the call fails with `Detached` (its session table belongs to its own
/// service's worker) instead of touching another service's state.
struct Borrower {
    target: Addr,
}
impl Service for Borrower {
    async fn dispatch(&mut self, ctx: &mut Context, msg: Message) {
        let Ok(foreign) = msg.take::<Context>() else {
            return;
        };
        let stray = foreign.call(self.target, 1u64).await.map(|_| ());
        let sleep_ended = {
            foreign.sleep(Duration::from_secs(60)).await;
            true
        };
        let _ = ctx.ret((stray, sleep_ended));
    }
}

/// Hands its own context to `borrower` and reports what the borrower saw.
struct Lender {
    borrower: Addr,
}
impl Service for Lender {
    async fn dispatch(&mut self, ctx: &mut Context, _msg: Message) {
        let r = ctx.call(self.borrower, ctx.clone()).await;
        let _ = ctx.ret(r.and_then(|m| m.into_value::<(Result<(), CallError>, bool)>()));
    }
}

/// A context used by another service's task (sent to it in a message) fails its calls with
/// `Detached` and ends its sleeps at once: it never waits on, nor touches, the sessions of
/// the service it belongs to.
#[test]
fn a_context_used_by_another_service_is_detached() {
    let node = node();
    let inc = node.launch(Inc).unwrap();
    let borrower = node.launch(Borrower { target: inc }).unwrap();
    let lender = node.launch(Lender { borrower }).unwrap();
    let seen = node
        .call(lender, ())
        .unwrap()
        .take::<Result<(Result<(), CallError>, bool), CallError>>()
        .unwrap();
    assert_eq!(seen, Ok((Err(CallError::Detached), true)));
    // Both services still work.
    assert_eq!(node.call(inc, 1u64).unwrap().take::<u64>().unwrap(), 2);
}

/// Makes a call without awaiting it, answers with the `Call` itself, and exits.
struct CallMaker {
    target: Addr,
}
impl Service for CallMaker {
    async fn dispatch(&mut self, ctx: &mut Context, _msg: Message) {
        let call = ctx.call(self.target, 1u64);
        let _ = ctx.ret(call);
        ctx.exit();
    }
}

/// Awaits a `Call` it was sent and answers with what came of it.
struct CallPoller;
impl Service for CallPoller {
    async fn dispatch(&mut self, ctx: &mut Context, msg: Message) {
        let Ok(call) = msg.take::<skynet_runtime::Call>() else {
            return;
        };
        let r = call.await.map(|_| ());
        let _ = ctx.ret(r);
    }
}

/// A `Call` future that outlives the service that made it, awaited by another service,
/// fails with `Detached` (it reaches its maker's state only on its maker's own thread while
/// the maker runs), and dropping one unpolled touches nothing.
#[test]
fn a_call_awaited_by_another_service_after_its_maker_exited_is_detached() {
    let node = node();
    let inc = node.launch(Inc).unwrap();
    let maker = node.launch(CallMaker { target: inc }).unwrap();
    let call = node
        .call(maker, ())
        .unwrap()
        .take::<skynet_runtime::Call>()
        .unwrap();
    let dropped = node
        .call(node.launch(CallMaker { target: inc }).unwrap(), ())
        .unwrap();
    drop(dropped);
    let poller = node.launch(CallPoller).unwrap();
    let r = node
        .call(poller, call)
        .unwrap()
        .take::<Result<(), CallError>>()
        .unwrap();
    assert_eq!(r, Err(CallError::Detached));
    assert_eq!(node.call(inc, 1u64).unwrap().take::<u64>().unwrap(), 2);
}
