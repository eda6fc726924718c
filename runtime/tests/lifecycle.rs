//! Launch, names, unique services, exit vs kill, sessions, shutdown.

mod util;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use skynet_runtime::{Addr, CallError, Context, Message, Node, Service};
use util::{node, recv, DropCount, LONG};

/// Counts `exit` calls; registers a name if given one.
struct Tracked {
    name: Option<&'static str>,
    exits: Arc<AtomicUsize>,
    fail_init: bool,
}
impl Service for Tracked {
    async fn init(&mut self, ctx: &mut Context) -> Result<(), skynet_runtime::Error> {
        if self.fail_init {
            return Err("refusing to start".into());
        }
        if let Some(n) = self.name {
            ctx.register(n)?;
        }
        Ok(())
    }
    async fn dispatch(&mut self, ctx: &mut Context, msg: Message) {
        if msg.downcast_ref::<&str>() == Some(&"exit") {
            ctx.exit();
        }
        let _ = ctx.ret(ctx.self_addr());
    }
    fn exit(&mut self, _ctx: &mut Context) {
        self.exits.fetch_add(1, Ordering::SeqCst);
    }
}

fn tracked(name: Option<&'static str>) -> (Tracked, Arc<AtomicUsize>) {
    let exits = Arc::new(AtomicUsize::new(0));
    (
        Tracked {
            name,
            exits: exits.clone(),
            fail_init: false,
        },
        exits,
    )
}

fn wait_gone(node: &Node, a: Addr) {
    let deadline = std::time::Instant::now() + LONG;
    while node.handle().service_info(a).is_some() && std::time::Instant::now() < deadline {
        std::thread::yield_now();
    }
    assert!(node.handle().service_info(a).is_none(), "{a} still alive");
}

/// G14: names are unique while held and removed when their service exits.
#[test]
fn names_register_query_and_vanish() {
    let node = node();
    let (t, _) = tracked(Some(".db"));
    let a = node.launch(t).unwrap();
    assert_eq!(node.handle().query(".db"), Some(a));
    assert_eq!(node.handle().query(&a.to_string()), Some(a));
    let (t2, _) = tracked(Some(".db"));
    let err = node.launch(t2).unwrap_err();
    assert!(
        matches!(err, CallError::Failed(_, ref why) if why.contains("already registered")),
        "{err}"
    );
    assert!(node.handle().register(a, "nodot").is_err());
    node.call(a, "exit").unwrap();
    wait_gone(&node, a);
    assert_eq!(node.handle().query(".db"), None);
}

/// G7: exit and kill both run `exit` exactly once; handles are never reused.
#[test]
fn exit_and_kill_run_exit_once() {
    let node = node();
    let (t, exits) = tracked(None);
    let a = node.launch(t).unwrap();
    node.call(a, "exit").unwrap();
    wait_gone(&node, a);
    assert_eq!(exits.load(Ordering::SeqCst), 1);
    let (t, exits2) = tracked(None);
    let b = node.launch(t).unwrap();
    assert_ne!(a, b);
    node.handle().kill(b);
    node.handle().kill(b);
    wait_gone(&node, b);
    assert_eq!(exits2.load(Ordering::SeqCst), 1);
}

/// G4: a failed init fails the launch with the reason, and the service is gone.
#[test]
fn failed_init_is_reported_to_the_launcher() {
    let lines = util::Lines::default();
    let node = util::builder()
        .logger(lines.logger())
        .threads(2)
        .service("picky", |args: &[String]| {
            Ok(Tracked {
                name: None,
                exits: Arc::new(AtomicUsize::new(0)),
                fail_init: args.first().map(String::as_str) == Some("fail"),
            })
        })
        .build()
        .unwrap();
    let err = node.newservice("picky", &["fail"]).unwrap_err();
    assert!(err.to_string().contains("refusing to start"), "{err}");
    // And logged, as skynet's launcher does.
    assert!(lines
        .wait_for(&["failed to start", "refusing to start"], LONG)
        .is_some());
    assert!(node.newservice("picky", &[]).is_ok());
    assert_eq!(
        node.newservice("nosuch", &[]).unwrap_err(),
        CallError::NoSuchName("nosuch".into())
    );
}

/// Asks for the unique "counter" service from many forks at once.
struct UniqueUser {
    out: crossbeam_channel::Sender<Result<Addr, CallError>>,
}
impl Service for UniqueUser {
    async fn init(&mut self, ctx: &mut Context) -> Result<(), skynet_runtime::Error> {
        for _ in 0..5 {
            let (c, out) = (ctx.clone(), self.out.clone());
            ctx.fork(async move {
                let _ = out.send(c.uniqueservice("counter", &[]).await);
            });
        }
        let (c, out) = (ctx.clone(), self.out.clone());
        ctx.fork(async move {
            let _ = out.send(c.queryservice("counter").await);
        });
        Ok(())
    }
    async fn dispatch(&mut self, _ctx: &mut Context, _msg: Message) {}
}

/// G16: uniqueservice launches once; concurrent callers and queryservice get the same address.
#[test]
fn uniqueservice_launches_once() {
    let launches = Arc::new(AtomicUsize::new(0));
    let l2 = launches.clone();
    let node = util::builder()
        .threads(2)
        .service("counter", move |_| {
            l2.fetch_add(1, Ordering::SeqCst);
            Ok(tracked(None).0)
        })
        .build()
        .unwrap();
    let (tx, rx) = crossbeam_channel::unbounded();
    node.launch(UniqueUser { out: tx.clone() }).unwrap();
    node.launch(UniqueUser { out: tx }).unwrap();
    let addrs: Vec<Addr> = (0..12).map(|_| recv(&rx, LONG).unwrap()).collect();
    assert!(addrs.iter().all(|a| *a == addrs[0]));
    assert_eq!(launches.load(Ordering::SeqCst), 1);
}

/// Holds a session open, then makes calls with the counter near i32::MAX.
struct Wrapper {
    echo: Addr,
    out: crossbeam_channel::Sender<Vec<Result<u32, CallError>>>,
}
impl Service for Wrapper {
    async fn init(&mut self, ctx: &mut Context) -> Result<(), skynet_runtime::Error> {
        ctx.set_session_counter(i32::MAX - 3);
        let (c, echo, out) = (ctx.clone(), self.echo, self.out.clone());
        ctx.fork(async move {
            // A parked session near the limit: a long sleep.
            let parked = c.sleep(Duration::from_secs(3600));
            let mut parked = Box::pin(parked);
            let noop = std::task::Waker::noop();
            let _ = std::future::Future::poll(
                parked.as_mut(),
                &mut std::task::Context::from_waker(noop),
            );
            c.set_session_counter(i32::MAX - 4);
            let mut results = Vec::new();
            for i in 0..10u32 {
                results.push(c.call(echo, i).await.and_then(|m| m.into_value::<u32>()));
            }
            drop(parked);
            let _ = out.send(results);
        });
        Ok(())
    }
    async fn dispatch(&mut self, _ctx: &mut Context, _msg: Message) {}
}

struct Echo;
impl Service for Echo {
    async fn dispatch(&mut self, ctx: &mut Context, msg: Message) {
        let v = msg.take::<u32>().unwrap_or(u32::MAX);
        let _ = ctx.ret(v);
    }
}

/// G9, skynet-inventory §7 item 13 (#1797): sessions wrap past i32::MAX to 1, skipping a
/// session still in use; every call gets its own answer.
#[test]
fn session_wrap_skips_live_sessions() {
    let node = node();
    let echo = node.launch(Echo).unwrap();
    let (tx, rx) = crossbeam_channel::unbounded();
    node.launch(Wrapper { echo, out: tx }).unwrap();
    let results = recv(&rx, LONG);
    let expected: Vec<Result<u32, CallError>> = (0..10).map(Ok).collect();
    assert_eq!(results, expected);
}

/// G15: the node ends by itself when its last service exits.
#[test]
fn node_waits_for_last_service() {
    let node = node();
    let (t, _) = tracked(None);
    let a = node.launch(t).unwrap();
    assert!(!node.wait_timeout(Duration::from_millis(10)));
    node.call(a, "exit").unwrap();
    assert!(node.wait_timeout(LONG));
}

/// Works for about 2 ms in each message.
struct Busy;
impl Service for Busy {
    async fn dispatch(&mut self, ctx: &mut Context, _msg: Message) {
        let until = std::time::Instant::now() + std::time::Duration::from_millis(2);
        while std::time::Instant::now() < until {
            std::hint::spin_loop();
        }
        let _ = ctx.ret(());
    }
}

/// `profile` (skynet's key, on by default) decides whether a service's CPU time is measured.
#[test]
fn profile_on_measures_cpu_and_off_does_not() {
    for on in [true, false] {
        let node = util::builder()
            .threads(1)
            .profile(on)
            .build()
            .expect("node");
        let a = node.launch(Busy).expect("launch");
        node.call(a, ()).expect("call");
        let cpu = node.handle().service_info(a).expect("info").cpu;
        if on {
            assert!(cpu >= std::time::Duration::from_millis(2), "{cpu:?}");
        } else {
            assert_eq!(cpu, std::time::Duration::ZERO);
        }
        node.shutdown();
    }
}

/// Does nothing until the node ends.
struct Helper;
impl Service for Helper {
    async fn dispatch(&mut self, _ctx: &mut Context, _msg: Message) {}
}

/// G15: a registered system type's services do not keep the node alive: it ends when its
/// other services have, as with the logger.
#[test]
fn system_services_do_not_keep_the_node_alive() {
    let node = util::builder()
        .threads(2)
        .system_service("helper", |_| Ok(Helper))
        .service("worker", |_| Ok(Helper))
        .build()
        .unwrap();
    let helper = node.newservice("helper", &[]).unwrap();
    let worker = node.newservice("worker", &[]).unwrap();
    assert!(node.handle().service_info(helper).unwrap().system);
    assert!(!node.handle().service_info(worker).unwrap().system);
    assert!(
        !node.wait_timeout(Duration::from_millis(50)),
        "a user service lives"
    );
    node.handle().kill(worker);
    assert!(node.wait_timeout(LONG), "only system services are left");
    node.shutdown();
}

/// An exit hook that holds a handle of its own node (the Lua host's MONITOR hook does) runs
/// for every service that ends, and is let go at the end of shutdown: the cycle does not
/// keep the node's memory after its threads stopped.
#[test]
fn exit_hooks_run_then_are_released_at_shutdown() {
    let node = node();
    let handle = node.handle();
    let ran = Arc::new(AtomicUsize::new(0));
    let dropped = Arc::new(AtomicUsize::new(0));
    let (r, d) = (ran.clone(), DropCount(dropped.clone()));
    let held = node.handle();
    node.handle().on_service_exit(Arc::new(move |_gone| {
        let _keep = (&held, &d);
        r.fetch_add(1, Ordering::SeqCst);
    }));
    let svc = node.launch(Quiet).expect("launch");
    assert!(handle.kill(svc));
    drop(handle);
    node.shutdown();
    assert!(
        ran.load(Ordering::SeqCst) >= 1,
        "the hook ran for the killed service"
    );
    assert_eq!(
        dropped.load(Ordering::SeqCst),
        1,
        "the hook was dropped at shutdown"
    );
}

/// Does nothing.
struct Quiet;
impl Service for Quiet {
    async fn dispatch(&mut self, _ctx: &mut Context, _msg: Message) {}
}

/// Answers `n` with `n + 1`.
struct Inc;
impl Service for Inc {
    async fn dispatch(&mut self, ctx: &mut Context, msg: Message) {
        if let Ok(n) = msg.take::<u32>() {
            let _ = ctx.ret(n + 1);
        }
    }
}

/// `NodeHandle::newservice` launches a registered type by name from any thread and returns
/// at once; unknown names and refused arguments are errors.
#[test]
fn a_node_handle_launches_registered_types_by_name() {
    let node = util::builder()
        .threads(2)
        .service("inc", |args: &[String]| {
            if args.iter().any(|a| a == "bad") {
                return Err("bad argument".into());
            }
            Ok(Inc)
        })
        .build()
        .expect("node starts");
    let handle = node.handle();
    let from_thread = std::thread::spawn(move || handle.newservice("inc", &["x"]))
        .join()
        .expect("thread");
    let inc = from_thread.expect("launched");
    let reply = node.call(inc, 41u32).expect("answered");
    assert_eq!(reply.take::<u32>().ok(), Some(42));
    assert_eq!(
        node.handle().newservice("nobody", &[]).unwrap_err(),
        CallError::NoSuchName("nobody".into())
    );
    match node.handle().newservice("inc", &["bad"]) {
        Err(CallError::Failed(_, why)) => assert!(why.contains("bad argument"), "{why}"),
        other => panic!("refused arguments: {other:?}"),
    }
    node.shutdown();
}
