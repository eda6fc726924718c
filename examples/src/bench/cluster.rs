//! `bench cluster`: calls between two nodes over loopback (issue 15, item 8).
//!
//! The callee node is a child process (`bench cluster-server`, a node serving `@echo`:
//! the arguments come back as they went); the caller node runs `--in-flight N` tasks, each
//! calling `@echo` with a string of `--size` bytes in a loop, for `--seconds` after a
//! warm-up. Both nodes have `thread = 2` (`--threads`), profile on unless `--no-profile`.
//! Without `--in-flight` it runs the five points: 1, 16 and 100 in flight with 16
//! bytes, 16 with 1 KiB, 4 with 100 KB; one JSON line each, with the CPU time both nodes
//! spent per call (`cpu_us_per_call`), steadier than the rate on a shared machine.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use skynet_cluster::{Cluster, NodeTable};
use skynet_runtime::{Context, Error, Message, Node, Service};
use skynet_seri::LuaValue;

use super::args::{arg, flag};
use super::json::{cpu_us, JsonLine};

fn node(args: &[String]) -> Node {
    Node::builder()
        .threads(arg(args, "--threads", 2usize))
        .profile(!flag(args, "--no-profile"))
        .sched_batch(!flag(args, "--no-batch"))
        .build()
        .expect("node starts")
}

/// Answers with its arguments.
struct Echo;
impl Service for Echo {
    async fn dispatch(&mut self, ctx: &mut Context, msg: Message) {
        if let Ok(v) = msg.take::<Vec<LuaValue>>() {
            let _ = ctx.ret(v);
        }
    }
}

/// `bench cluster-server`: serves `@echo` on 127.0.0.1:0, prints the port, runs until its
/// stdin closes (the parent exits).
pub fn server(args: &[String]) {
    let node = node(args);
    let echo = node.launch(Echo).expect("echo");
    let h = node.handle();
    skynet_cluster::register(&h, "echo", echo).expect("register");
    let (_, at) = skynet_cluster::open(&h, "127.0.0.1:0").expect("listen");
    println!("{at}");
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
    node.shutdown();
}

/// Calls `@echo` in a loop until told to stop, counting the replies.
struct Caller {
    payload: Bytes,
    count: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}
impl Service for Caller {
    async fn init(&mut self, ctx: &mut Context) -> Result<(), Error> {
        let (c, payload, count, stop) = (
            ctx.clone(),
            self.payload.clone(),
            self.count.clone(),
            self.stop.clone(),
        );
        ctx.fork(async move {
            while !stop.load(Ordering::Relaxed) {
                let r: Result<(Bytes,), _> =
                    skynet_cluster::call(&c, "db", "@echo", (&payload,)).await;
                match r {
                    Ok((back,)) if back.len() == payload.len() => {
                        count.fetch_add(1, Ordering::Relaxed);
                    }
                    other => {
                        eprintln!("bench cluster: call failed: {other:?}");
                        return;
                    }
                }
            }
        });
        Ok(())
    }
    async fn dispatch(&mut self, _ctx: &mut Context, _msg: Message) {}
}

fn one(args: &[String], at: &str, server: u32, in_flight: usize, size: usize) {
    let seconds = arg(args, "--seconds", 3.0f64);
    let node = node(args);
    let h = node.handle();
    let table = NodeTable::parse(&format!("db = \"{at}\"\n")).expect("table");
    Cluster::of(&h).set_table(&h, table);
    let count = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let payload = Bytes::from(vec![b'x'; size]);
    for _ in 0..in_flight {
        node.launch(Caller {
            payload: payload.clone(),
            count: count.clone(),
            stop: stop.clone(),
        })
        .expect("caller");
    }
    std::thread::sleep(Duration::from_millis(500));
    // CPU of both nodes per call: steadier than calls/s on a machine shared with other work.
    let server_stat = format!("/proc/{server}/stat");
    let cpu = || cpu_us("/proc/self/stat").unwrap_or(0) + cpu_us(&server_stat).unwrap_or(0);
    let (c0, t0, u0) = (count.load(Ordering::Relaxed), Instant::now(), cpu());
    std::thread::sleep(Duration::from_secs_f64(seconds));
    let (c1, t1, u1) = (count.load(Ordering::Relaxed), Instant::now(), cpu());
    stop.store(true, Ordering::Relaxed);
    let calls = (c1 - c0) as f64;
    let secs = (t1 - t0).as_secs_f64();
    let mut line = JsonLine::new("cluster");
    line.num("in_flight", in_flight as f64)
        .num("size", size as f64)
        .num("calls_per_sec", calls / secs)
        .num("payload_mb_per_sec", calls * size as f64 / secs / 1e6)
        .num("cpu_us_per_call", (u1 - u0) as f64 / calls.max(1.0))
        .num("calls", calls)
        .num("seconds", secs)
        .num("profile", f64::from(u8::from(!flag(args, "--no-profile"))));
    println!("{}", line.finish());
    node.shutdown();
}

/// `bench cluster`: see the module documentation.
pub fn run(args: &[String]) {
    let exe = std::env::current_exe().expect("the bench binary");
    let mut child = Command::new(exe)
        .arg("cluster-server")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("the server node starts");
    let mut at = String::new();
    if let Some(out) = child.stdout.take() {
        let _ = BufReader::new(out).read_line(&mut at);
    }
    let at = at.trim().to_string();
    let points: Vec<(usize, usize)> = if args.iter().any(|a| a == "--in-flight") {
        vec![(
            arg(args, "--in-flight", 1usize),
            arg(args, "--size", 16usize),
        )]
    } else {
        vec![(1, 16), (16, 16), (100, 16), (16, 1024), (4, 100_000)]
    };
    for (in_flight, size) in points {
        one(args, &at, child.id(), in_flight, size);
    }
    drop(child.stdin.take());
    let _ = child.wait();
}
