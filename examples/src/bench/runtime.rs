//! Runtime benchmarks: `call`, `send`, `pairs`, `spawn`, `timers` (issue: the runtime).
//!
//! Each runs on a fresh node with `thread = 2` (or `--threads N`) and prints one JSON line.
//! `--no-profile` runs it with `profile = false` (skynet's key: no per-turn CPU accounting),
//! the setting skynet's own figures were taken with; the line says which (`profile`).

use std::time::{Duration, Instant};

use skynet_runtime::{
    Addr, Context, Message, Node, Payload, Ptype, RawContext, RawService, Service,
};

use super::args::{arg, flag};
use super::json::{rss_now_kb, rss_peak_kb, JsonLine};

fn node(args: &[String]) -> Node {
    Node::builder()
        .threads(arg(args, "--threads", 2usize))
        .profile(profile(args))
        .build()
        .expect("node starts")
}

fn profile(args: &[String]) -> bool {
    !flag(args, "--no-profile")
}

/// Answers `n` with `n + 1`.
struct Inc;
impl Service for Inc {
    async fn dispatch(&mut self, ctx: &mut Context, msg: Message) {
        if let Ok(n) = msg.take::<u64>() {
            let _ = ctx.ret(n + 1);
        }
    }
}

/// Calls `target` `n` times in a row, then reports the elapsed time.
struct Caller {
    target: Addr,
    n: u64,
    done: crossbeam_channel::Sender<(Duration, u64)>,
}
impl Service for Caller {
    async fn dispatch(&mut self, ctx: &mut Context, _msg: Message) {
        let start = Instant::now();
        let mut v = 0u64;
        for _ in 0..self.n {
            v = match ctx
                .call(self.target, v)
                .await
                .and_then(|m| m.into_value::<u64>())
            {
                Ok(v) => v,
                Err(e) => panic!("bench call failed: {e}"),
            };
        }
        let _ = self.done.send((start.elapsed(), v));
    }
}

/// Raw layer: answers each request with RESPONSE to its session (no executor).
struct RawInc;
impl RawService for RawInc {
    fn handle(&mut self, ctx: &mut RawContext<'_>, msg: Message) {
        if let Ok(n) = msg.downcast_ref::<u64>().copied().ok_or(()) {
            let _ = ctx.send(
                msg.source,
                Ptype::RESPONSE,
                msg.session,
                Payload::value(n + 1),
            );
        }
    }
}

/// Raw layer: on any non-response message, calls `target` `n` times in a row (a new
/// session each, the next sent from the previous one's reply), then reports.
struct RawCaller {
    target: Addr,
    n: u64,
    left: u64,
    started: Option<Instant>,
    done: crossbeam_channel::Sender<(Duration, u64)>,
}
impl RawService for RawCaller {
    fn handle(&mut self, ctx: &mut RawContext<'_>, msg: Message) {
        let v = if msg.ptype == Ptype::RESPONSE {
            msg.downcast_ref::<u64>().copied().unwrap_or(0)
        } else {
            self.started = Some(Instant::now());
            self.left = self.n;
            0
        };
        if self.left == 0 {
            let elapsed = self.started.map(|s| s.elapsed()).unwrap_or_default();
            let _ = self.done.send((elapsed, v));
            return;
        }
        self.left -= 1;
        let session = ctx.new_session();
        let _ = ctx.send(self.target, Ptype::LUA, session, Payload::value(v));
    }
}

/// `call`: one service calling another in a loop. `--raw`: two raw services (the layer
/// under the executor, what the Lua host is built on) doing the same.
pub fn call(args: &[String]) {
    let n = arg(args, "--n", 1_000_000u64);
    let node = node(args);
    if flag(args, "--raw") {
        let inc = node
            .launch_raw(Box::new(RawInc), "raw_inc")
            .expect("launch");
        let (tx, rx) = crossbeam_channel::unbounded();
        let caller = node
            .launch_raw(
                Box::new(RawCaller {
                    target: inc,
                    n,
                    left: 0,
                    started: None,
                    done: tx,
                }),
                "raw_caller",
            )
            .expect("launch");
        node.send(caller, ()).expect("send");
        let (elapsed, v) = rx.recv().expect("bench finishes");
        assert_eq!(v, n);
        let mut line = JsonLine::new("call");
        line.num("raw", 1.0);
        line.num("profile", f64::from(u8::from(profile(args))));
        line.num("ops_per_sec", n as f64 / elapsed.as_secs_f64())
            .num("calls", n as f64)
            .num("seconds", elapsed.as_secs_f64());
        println!("{}", line.finish());
        node.shutdown();
        return;
    }
    let inc = node.launch(Inc).expect("launch");
    let (tx, rx) = crossbeam_channel::unbounded();
    let caller = node
        .launch(Caller {
            target: inc,
            n,
            done: tx,
        })
        .expect("launch");
    node.send(caller, ()).expect("send");
    let (elapsed, v) = rx.recv().expect("bench finishes");
    assert_eq!(v, n);
    let mut line = JsonLine::new("call");
    line.num("profile", f64::from(u8::from(profile(args))));
    line.num("ops_per_sec", n as f64 / elapsed.as_secs_f64())
        .num("calls", n as f64)
        .num("seconds", elapsed.as_secs_f64())
        .num("mean_us", elapsed.as_secs_f64() * 1e6 / n as f64);
    println!("{}", line.finish());
    node.shutdown();
}

/// Counts messages; reports when the last one arrives.
struct Sink {
    expect: u64,
    got: u64,
    done: crossbeam_channel::Sender<Instant>,
}
impl Service for Sink {
    async fn dispatch(&mut self, _ctx: &mut Context, msg: Message) {
        if msg.downcast_ref::<u64>().is_some() {
            self.got += 1;
            if self.got == self.expect {
                let _ = self.done.send(Instant::now());
            }
        }
    }
}

/// Sends `n` values to `dest`, yielding every `chunk` so the sink runs alongside.
struct Source {
    dest: Addr,
    n: u64,
    chunk: u64,
    started: crossbeam_channel::Sender<Instant>,
}
impl Service for Source {
    async fn dispatch(&mut self, ctx: &mut Context, _msg: Message) {
        let _ = self.started.send(Instant::now());
        for i in 0..self.n {
            if ctx.send(self.dest, i).is_err() {
                return;
            }
            if i % self.chunk == self.chunk - 1 {
                ctx.yield_now().await;
            }
        }
    }
}

/// `send`: one-way messages A to B, first send to last receive.
pub fn send(args: &[String]) {
    let n = arg(args, "--n", 10_000_000u64);
    let chunk = arg(args, "--chunk", 4096u64).max(1);
    let node = node(args);
    let (done_tx, done_rx) = crossbeam_channel::unbounded();
    let (start_tx, start_rx) = crossbeam_channel::unbounded();
    let sink = node
        .launch(Sink {
            expect: n,
            got: 0,
            done: done_tx,
        })
        .expect("launch");
    let source = node
        .launch(Source {
            dest: sink,
            n,
            chunk,
            started: start_tx,
        })
        .expect("launch");
    node.send(source, ()).expect("send");
    let start = start_rx.recv().expect("started");
    let end = done_rx.recv().expect("bench finishes");
    let elapsed = end.duration_since(start);
    let mut line = JsonLine::new("send");
    line.num("profile", f64::from(u8::from(profile(args))));
    line.num("ops_per_sec", n as f64 / elapsed.as_secs_f64())
        .num("messages", n as f64)
        .num("seconds", elapsed.as_secs_f64())
        .num("rss_peak_kb", rss_peak_kb().unwrap_or(0) as f64);
    println!("{}", line.finish());
    node.shutdown();
}

/// Does nothing: what an idle service costs.
struct Idle;
impl Service for Idle {
    async fn dispatch(&mut self, _ctx: &mut Context, _msg: Message) {}
}

/// Launches `n` idle services from inside a service and reports the time it took.
struct Spawner {
    n: u64,
    done: crossbeam_channel::Sender<Duration>,
}
impl Service for Spawner {
    async fn dispatch(&mut self, ctx: &mut Context, _msg: Message) {
        let start = Instant::now();
        for _ in 0..self.n {
            if let Err(e) = ctx.launch(Idle).await {
                panic!("bench spawn failed: {e}");
            }
        }
        let _ = self.done.send(start.elapsed());
    }
}

/// `spawn [--n 10000] [--in-service]`: launches `n` idle services, from `main` with
/// `Node::launch` (each waits for its `init`), or from inside a service with `ctx.launch`;
/// reports the time per launch and the memory each idle service holds (RSS growth / n).
pub fn spawn(args: &[String]) {
    let n = arg(args, "--n", 10_000u64).max(1);
    let in_service = flag(args, "--in-service");
    let node = node(args);
    let rss_before = rss_now_kb().unwrap_or(0);
    let elapsed = if in_service {
        let (tx, rx) = crossbeam_channel::unbounded();
        let spawner = node.launch(Spawner { n, done: tx }).expect("launch");
        node.send(spawner, ()).expect("send");
        rx.recv().expect("bench finishes")
    } else {
        let start = Instant::now();
        for _ in 0..n {
            node.launch(Idle).expect("launch");
        }
        start.elapsed()
    };
    let rss_after = rss_now_kb().unwrap_or(0);
    let mut line = JsonLine::new("spawn");
    line.str("from", if in_service { "service" } else { "main" })
        .num("profile", f64::from(u8::from(profile(args))))
        .num("ops_per_sec", n as f64 / elapsed.as_secs_f64())
        .num("spawned", n as f64)
        .num("spawn_us", elapsed.as_secs_f64() * 1e6 / n as f64)
        .num(
            "kb_per_service",
            rss_after.saturating_sub(rss_before) as f64 / n as f64,
        );
    println!("{}", line.finish());
    node.shutdown();
}

/// `pairs`: many caller/callee pairs calling concurrently.
pub fn pairs(args: &[String]) {
    let pairs = arg(args, "--pairs", 1000usize);
    let n = arg(args, "--n", 1000u64);
    let node = node(args);
    let (tx, rx) = crossbeam_channel::unbounded();
    let mut callers = Vec::with_capacity(pairs);
    for _ in 0..pairs {
        let inc = node.launch(Inc).expect("launch");
        callers.push(
            node.launch(Caller {
                target: inc,
                n,
                done: tx.clone(),
            })
            .expect("launch"),
        );
    }
    let start = Instant::now();
    for c in &callers {
        node.send(*c, ()).expect("send");
    }
    for _ in 0..pairs {
        rx.recv().expect("pair finishes");
    }
    let elapsed = start.elapsed();
    let total = pairs as f64 * n as f64;
    let mut line = JsonLine::new("pairs");
    line.num("profile", f64::from(u8::from(profile(args))));
    line.num("ops_per_sec", total / elapsed.as_secs_f64())
        .num("pairs", pairs as f64)
        .num("calls", total)
        .num("seconds", elapsed.as_secs_f64());
    println!("{}", line.finish());
    node.shutdown();
}

/// Sets `n` timeouts at random 0..=100 ticks (10 ms each) and records how late each fires.
struct TimerLoad {
    n: usize,
    done: crossbeam_channel::Sender<Vec<Duration>>,
    /// How long creating the timeouts took (the earliest wait for it: it drives the p99).
    created: crossbeam_channel::Sender<Duration>,
}
impl Service for TimerLoad {
    async fn dispatch(&mut self, ctx: &mut Context, _msg: Message) {
        // One shared sink per run, so each callback captures one `Arc` and its due time
        // (a 24-byte closure): the bench's own cost per timeout stays small beside the
        // runtime's, since it too delays the expiries that fall due while it runs.
        let lateness =
            std::sync::Arc::new(parking_lot_free::Collector::new(self.n, self.done.clone()));
        let began = Instant::now();
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut base = began;
        for i in 0..self.n {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let ticks = seed % 101;
            let d = Duration::from_millis(ticks * 10);
            // Lateness is measured from a clock read taken at most 64 timeouts before this
            // one is set: an earlier base can only make a timer look later than it is, and
            // one read per timeout would add a fifth to the time it takes to set them.
            if i % 64 == 0 {
                base = Instant::now();
            }
            let due = base + d;
            let l = lateness.clone();
            ctx.timeout(d, move |_ctx| {
                l.push(Instant::now().saturating_duration_since(due));
            });
        }
        let _ = self.created.send(began.elapsed());
    }
}

mod parking_lot_free {
    //! Collects samples from many callbacks; the last push sends them all.
    use std::sync::Mutex;
    use std::time::Duration;

    pub struct Collector {
        expect: usize,
        samples: Mutex<Vec<Duration>>,
        done: crossbeam_channel::Sender<Vec<Duration>>,
    }

    impl Collector {
        pub fn new(expect: usize, done: crossbeam_channel::Sender<Vec<Duration>>) -> Self {
            Collector {
                expect,
                samples: Mutex::new(Vec::with_capacity(expect)),
                done,
            }
        }

        pub fn push(&self, d: Duration) {
            let mut s = self.samples.lock().unwrap_or_else(|p| p.into_inner());
            s.push(d);
            if s.len() == self.expect {
                let _ = self.done.send(std::mem::take(&mut *s));
            }
        }
    }
}

/// `timers`: 100,000 timeouts from one service; completion time and lateness.
pub fn timers(args: &[String]) {
    let n = arg(args, "--n", 100_000usize);
    let node = node(args);
    let (tx, rx) = crossbeam_channel::unbounded();
    let (created_tx, created_rx) = crossbeam_channel::unbounded();
    let svc = node
        .launch(TimerLoad {
            n,
            done: tx,
            created: created_tx,
        })
        .expect("launch");
    let start = Instant::now();
    node.send(svc, ()).expect("send");
    let mut late = rx.recv().expect("all timers fire");
    let elapsed = start.elapsed();
    late.sort();
    let pct = |p: f64| late[((late.len() as f64 - 1.0) * p) as usize].as_secs_f64() * 1e6;
    let mut line = JsonLine::new("timers");
    line.num("profile", f64::from(u8::from(profile(args))));
    line.num("ops_per_sec", n as f64 / elapsed.as_secs_f64())
        .num("timers", n as f64)
        .num("seconds", elapsed.as_secs_f64())
        .num("p50_us", pct(0.5))
        .num("p99_us", pct(0.99))
        .num("max_us", pct(1.0));
    if let Ok(c) = created_rx.try_recv() {
        line.num("create_ms", c.as_secs_f64() * 1e3);
    }
    println!("{}", line.finish());
    node.shutdown();
}
