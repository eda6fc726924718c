//! `bench flood`: one connection writing 60,000-byte chunks as fast as it can.
//!
//! Phase 1 (`mb_per_sec`, `rss_peak_kb`): a service reads and discards with the async API
//! (`socket::read_some`), so the 128 KiB pause rule bounds what the node buffers.
//! Phase 2 (`data_events_per_sec`): a service counts raw DATA events from the driver, the
//! cost of one socket-thread-to-service message.
//!
//! `bench flood --raw` sends the same stream to a plain mio thread that reads and discards
//! (no actors): the ceiling this machine gives the pair, with `server_cpu_us_per_mb`.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use skynet_net::{socket, Driver, SocketEvent};
use skynet_runtime::{Context, Message, Node, Service};

use super::args::{arg, flag};
use super::json::{rss_peak_kb, threads_cpu_us, JsonLine};

struct Discard {
    bytes: Arc<AtomicU64>,
    addr: crossbeam_channel::Sender<SocketAddr>,
}

impl Service for Discard {
    async fn init(&mut self, ctx: &mut Context) -> Result<(), skynet_runtime::Error> {
        let (listener, addr) = socket::listen(ctx, "127.0.0.1", 0)?;
        let bytes = self.bytes.clone();
        socket::start_listener(ctx, listener, move |ctx, id, _peer| {
            let (c, bytes) = (ctx.clone(), bytes.clone());
            ctx.fork(async move {
                socket::start(&c, id);
                while let Ok(b) = socket::read_some(&c, id).await {
                    bytes.fetch_add(b.len() as u64, Ordering::Relaxed);
                }
            });
        });
        let _ = self.addr.send(addr);
        Ok(())
    }
    async fn dispatch(&mut self, _ctx: &mut Context, _msg: Message) {}
}

struct CountEvents {
    events: Arc<AtomicU64>,
    bytes: Arc<AtomicU64>,
    addr: crossbeam_channel::Sender<SocketAddr>,
}

impl Service for CountEvents {
    async fn init(&mut self, ctx: &mut Context) -> Result<(), skynet_runtime::Error> {
        let d = Driver::of(ctx);
        let (listener, addr) = d.listen("127.0.0.1", 0, ctx.self_addr())?;
        d.start(listener, ctx.self_addr());
        let _ = self.addr.send(addr);
        Ok(())
    }
    async fn dispatch(&mut self, ctx: &mut Context, msg: Message) {
        match msg.take::<SocketEvent>() {
            Ok(SocketEvent::Accept { id, .. }) => {
                Driver::of(ctx).start(id, ctx.self_addr());
            }
            Ok(SocketEvent::Data { data, .. }) => {
                self.events.fetch_add(1, Ordering::Relaxed);
                self.bytes.fetch_add(data.len() as u64, Ordering::Relaxed);
            }
            _ => {}
        }
    }
}

fn blast(addr: SocketAddr, seconds: f64, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let mut s = match std::net::TcpStream::connect(addr) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("flood: connect: {e}");
                return 0;
            }
        };
        let chunk = vec![0x5au8; 60_000];
        let end = Instant::now() + Duration::from_secs_f64(seconds);
        let mut sent = 0u64;
        while Instant::now() < end && !stop.load(Ordering::Relaxed) {
            if s.write_all(&chunk).is_err() {
                break;
            }
            sent += chunk.len() as u64;
        }
        sent
    })
}

/// Waits (bounded) until `counter` reaches `target`; returns when it got there.
fn wait_count(counter: &AtomicU64, target: u64, start: Instant) -> Instant {
    let deadline = Instant::now() + Duration::from_secs(10);
    while counter.load(Ordering::Relaxed) < target && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    let _ = start;
    Instant::now()
}

/// `bench flood --raw`: the same client against a raw mio reader.
fn run_raw(seconds: f64) {
    let local = "127.0.0.1:0".parse().expect("literal address");
    let raw = match super::raw_echo::start(local, super::raw_echo::Mode::Discard) {
        Ok(raw) => raw,
        Err(e) => {
            eprintln!("cannot start the raw server: {e}");
            std::process::exit(1);
        }
    };
    let start = Instant::now();
    let cpu_before = threads_cpu_us("raw-server");
    let sent = blast(raw.addr, seconds, Arc::new(AtomicBool::new(false)))
        .join()
        .unwrap_or(0);
    let done = wait_count(&raw.received, sent, start);
    let received = raw.received.load(Ordering::Relaxed) as f64;
    let mb_per_sec = received / 1e6 / done.duration_since(start).as_secs_f64();
    let cpu_us_per_mb = (threads_cpu_us("raw-server") - cpu_before) as f64 / (received / 1e6);
    raw.stop.store(true, Ordering::Relaxed);
    let mut line = JsonLine::new("flood");
    line.num("raw", 1.0)
        .num("ops_per_sec", mb_per_sec)
        .num("mb_per_sec", mb_per_sec)
        .num("server_cpu_us_per_mb", cpu_us_per_mb)
        .num("seconds", seconds);
    println!("{}", line.finish());
}

/// `bench flood [--seconds 3] [--raw]`.
pub fn run(args: &[String]) {
    let seconds = arg(args, "--seconds", 3.0f64);
    if flag(args, "--raw") {
        return run_raw(seconds);
    }
    let node = Node::builder().threads(2).build().expect("node starts");
    // Phase 1: async API, read and discard.
    let bytes = Arc::new(AtomicU64::new(0));
    let (tx, rx) = crossbeam_channel::bounded(1);
    node.launch(Discard {
        bytes: bytes.clone(),
        addr: tx,
    })
    .expect("launch");
    let addr = rx.recv().expect("listening");
    let start = Instant::now();
    let cpu_before = threads_cpu_us("skynet-");
    let sent = blast(addr, seconds, Arc::new(AtomicBool::new(false)))
        .join()
        .unwrap_or(0);
    let done = wait_count(&bytes, sent, start);
    let received = bytes.load(Ordering::Relaxed) as f64;
    let mb_per_sec = received / 1e6 / done.duration_since(start).as_secs_f64();
    // The node's own CPU (socket thread and workers) per MB: steadier than MB/s when other
    // work shares the machine.
    let node_cpu_us_per_mb = (threads_cpu_us("skynet-") - cpu_before) as f64 / (received / 1e6);
    let rss = rss_peak_kb().unwrap_or(0);
    // Phase 2: raw DATA events through the driver.
    let (events, ebytes) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let (tx, rx) = crossbeam_channel::bounded(1);
    node.launch(CountEvents {
        events: events.clone(),
        bytes: ebytes.clone(),
        addr: tx,
    })
    .expect("launch");
    let addr = rx.recv().expect("listening");
    let start = Instant::now();
    let sent = blast(addr, seconds.min(2.0), Arc::new(AtomicBool::new(false)))
        .join()
        .unwrap_or(0);
    let done = wait_count(&ebytes, sent, start);
    let events_per_sec =
        events.load(Ordering::Relaxed) as f64 / done.duration_since(start).as_secs_f64();
    let mut line = JsonLine::new("flood");
    line.num("ops_per_sec", mb_per_sec)
        .num("mb_per_sec", mb_per_sec)
        .num("rss_peak_kb", rss as f64)
        .num("node_cpu_us_per_mb", node_cpu_us_per_mb)
        .num("data_events_per_sec", events_per_sec)
        .num("seconds", seconds);
    println!("{}", line.finish());
    node.shutdown();
}
