//! `bench flood`: one connection writing 60,000-byte chunks as fast as it can.
//!
//! Phase 1 (`mb_per_sec`, `rss_peak_kb`): a service reads and discards with the async API
//! (`socket::read_some`), so the 128 KiB pause rule bounds what the node buffers.
//! Phase 2 (`data_events_per_sec`): a service counts raw DATA events from the driver, the
//! cost of one socket-thread-to-service message.
//!
//! `bench flood --raw` sends the same stream to a plain mio thread that reads and discards
//! (no actors): the ceiling this machine gives the pair, with `server_cpu_us_per_mb`.
//!
//! `bench flood --addr HOST:PORT [--pid NODE_PID] [--connections 1] [--size 60000]` drives a
//! running node through its gate (`examples/config/discard.toml`: gate, netpack, one
//! `discard_agent` per connection), as skynet's flood figure is taken: each connection sends
//! netpack frames of `--size` bytes, then a short sync packet the agent echoes; when it is
//! back, every frame before it was consumed. With `--pid` the line has the node's CPU per MB
//! and its peak RSS.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use skynet_net::{socket, Driver, SocketEvent};
use skynet_runtime::{Context, Message, Node, Service};

use super::args::{arg, flag};
use super::json::{cpu_us, rss_peak_kb, threads_cpu_us, JsonLine};

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

/// One connection of `bench flood --addr`: frames of `size` bytes until `end`, then a sync
/// packet; returns the payload bytes sent once the sync came back (None: it failed).
fn flood_gate(addr: &str, size: usize, end: Instant) -> Result<u64, String> {
    let mut s = std::net::TcpStream::connect(addr).map_err(|e| format!("connect {addr}: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(60)))
        .map_err(|e| e.to_string())?;
    let len = u16::try_from(size).map_err(|_| format!("--size {size}: over 65,535"))?;
    let mut frame = Vec::with_capacity(size + 2);
    frame.extend_from_slice(&len.to_be_bytes());
    frame.resize(size + 2, 0x5a);
    // Several frames per write, as a client streaming a bulk transfer does.
    let batch: Vec<u8> = frame
        .iter()
        .copied()
        .cycle()
        .take(frame.len() * 8)
        .collect();
    let mut sent = 0u64;
    while Instant::now() < end {
        s.write_all(&batch).map_err(|e| format!("write: {e}"))?;
        sent += 8 * size as u64;
    }
    s.write_all(&[0, 4, b's', b'y', b'n', b'c'])
        .map_err(|e| format!("write: {e}"))?;
    let mut back = [0u8; 6];
    std::io::Read::read_exact(&mut s, &mut back).map_err(|e| format!("sync: {e}"))?;
    if &back != b"\x00\x04sync" {
        return Err(format!("sync: got {back:?}"));
    }
    Ok(sent)
}

/// `bench flood --addr HOST:PORT`: through a running node's gate (see the module doc).
fn run_gate(args: &[String], addr: &str, seconds: f64) {
    let size = arg(args, "--size", 60_000usize);
    let connections = arg(args, "--connections", 1usize).max(1);
    let pid = Some(arg(args, "--pid", 0u32)).filter(|p| *p > 0);
    let stat = pid.map(|p| format!("/proc/{p}/stat"));
    let cpu_before = stat.as_deref().and_then(cpu_us);
    let start = Instant::now();
    let end = start + Duration::from_secs_f64(seconds);
    let results: Vec<Result<u64, String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..connections)
            .map(|_| scope.spawn(|| flood_gate(addr, size, end)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err("client thread panicked".into()))
            })
            .collect()
    });
    let elapsed = start.elapsed().as_secs_f64();
    let mut bytes = 0u64;
    let mut first_error = None;
    for r in results {
        match r {
            Ok(n) => bytes += n,
            Err(e) => first_error = first_error.or(Some(e)),
        }
    }
    let mb = bytes as f64 / 1e6;
    let mut line = JsonLine::new("flood");
    line.str("via", "gate")
        .num("ops_per_sec", mb / elapsed)
        .num("mb_per_sec", mb / elapsed)
        .num("connections", connections as f64)
        .num("size", size as f64)
        .num("seconds", elapsed);
    if let (Some(stat), Some(before)) = (stat.as_deref(), cpu_before) {
        if let Some(after) = cpu_us(stat) {
            line.num("node_cpu_us_per_mb", (after - before) as f64 / mb.max(1e-9));
        }
    }
    if let Some(rss) = pid.and_then(peak_rss_of) {
        line.num("node_rss_peak_kb", rss as f64);
    }
    if let Some(e) = first_error {
        line.str("first_error", &e);
    }
    println!("{}", line.finish());
}

/// Peak RSS of process `pid` in KiB (`VmHWM`).
fn peak_rss_of(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let l = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    l[6..].trim().trim_end_matches("kB").trim().parse().ok()
}

/// `bench flood [--seconds 3] [--raw | --addr HOST:PORT]`.
pub fn run(args: &[String]) {
    let seconds = arg(args, "--seconds", 3.0f64);
    if flag(args, "--raw") {
        return run_raw(seconds);
    }
    if let Some(addr) = args
        .iter()
        .position(|a| a == "--addr")
        .and_then(|i| args.get(i + 1))
    {
        return run_gate(args, addr, seconds);
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
