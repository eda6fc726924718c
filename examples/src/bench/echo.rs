//! The project's own load client: `bench echo` (round trips through an echo node, every
//! byte checked) and `bench hold` (how many connections a node keeps open).
//!
//! ```text
//! bench echo --addr 127.0.0.1:8888 --connections 100 --size 64 --seconds 5 [--pipeline 1]
//!            [--threads T] [--pid NODE_PID]
//! bench echo --raw ...          # against the in-process raw mio echo server (the ceiling;
//!                               # its lines have "raw":1)
//! bench hold --addr 127.0.0.1:8888 --connections 10000 [--seconds 2] [--pid NODE_PID]
//! ```
//! Packets use the client framing (2-byte big-endian length, then the payload); `bench ws`
//! (`web.rs`) drives the same loop with WebSocket frames, `bench http` with requests.
//! `--threads` spreads the connections over that many client threads (each its own poll).
//! With `--pid` (or `--raw`) the line also has `server_cpu_us_per_rt`: the server's CPU
//! time (user + system) per round trip, a figure the machine's other load barely moves.

use std::collections::VecDeque;
use std::io::{ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

use skynet_http::ws_frame::{frame_header, Opcode};

use super::args::{arg, flag};
use super::json::{cpu_us, JsonLine};

/// Byte `i` of packet `seq` on connection `conn`: cheap to make and to check.
fn pattern(conn: usize, seq: u64, i: usize) -> u8 {
    (conn as u64)
        .wrapping_mul(31)
        .wrapping_add(seq.wrapping_mul(7))
        .wrapping_add(i as u64) as u8
}

/// What goes over a connection: the loop is the same for every protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wire {
    /// netpack packets (the gate's client framing).
    Netpack,
    /// Masked binary WebSocket frames out, unmasked ones back (after a handshake).
    WebSocket,
    /// `POST /echo` keep-alive requests, the body echoed in the response.
    Http,
}

struct Conn {
    stream: TcpStream,
    out: Vec<u8>,
    out_pos: usize,
    input: Vec<u8>,
    sent: VecDeque<Instant>,
    next_send: u64,
    next_recv: u64,
    dead: bool,
}

pub(crate) fn connect_all(addr: SocketAddr, n: usize) -> (Vec<std::net::TcpStream>, usize) {
    let mut streams = Vec::with_capacity(n);
    let mut failed = 0;
    for _ in 0..n {
        match std::net::TcpStream::connect(addr) {
            Ok(s) => {
                let _ = s.set_nodelay(true);
                streams.push(s);
            }
            Err(_) => failed += 1,
        }
    }
    (streams, failed)
}

/// `bench echo`.
pub fn echo(args: &[String]) {
    let connections = arg(args, "--connections", 100usize).max(1);
    let size = arg(args, "--size", 64usize).min(65_535);
    let seconds = arg(args, "--seconds", 5.0f64);
    let pipeline = arg(args, "--pipeline", 1usize).max(1);
    let threads = arg(args, "--threads", 1usize).clamp(1, connections);
    let pid: Option<u32> = pid_arg(args);
    let mut server_stat = pid.map(|p| format!("/proc/{p}/stat"));
    let mut _raw_stop = None;
    let addr: SocketAddr = if flag(args, "--raw") {
        let local = "127.0.0.1:0".parse().expect("literal address");
        match super::raw_echo::start(local, super::raw_echo::Mode::Echo) {
            Ok(raw) => {
                _raw_stop = Some(raw.stop);
                server_stat = raw.stat;
                raw.addr
            }
            Err(e) => {
                eprintln!("cannot start the raw echo server: {e}");
                std::process::exit(1);
            }
        }
    } else {
        match arg::<String>(args, "--addr", "127.0.0.1:8888".into()).parse() {
            Ok(a) => a,
            Err(e) => {
                eprintln!("bad --addr: {e}");
                std::process::exit(2);
            }
        }
    };
    let load = Load {
        name: "echo",
        wire: Wire::Netpack,
        connections,
        size,
        seconds,
        pipeline,
        threads,
    };
    match run_echo(&load, addr, server_stat) {
        Ok(mut line) => {
            if _raw_stop.is_some() {
                line.num("raw", 1.0);
            }
            println!("{}", line.finish());
        }
        Err(e) => {
            eprintln!("echo bench failed: {e}");
            std::process::exit(1);
        }
    }
    if let Some(stop) = _raw_stop {
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

fn queue_packets(c: &mut Conn, id: usize, size: usize, pipeline: usize, wire: Wire) {
    while c.sent.len() < pipeline {
        let seq = c.next_send;
        c.next_send += 1;
        let body = (0..size).map(|i| pattern(id, seq, i));
        match wire {
            Wire::Netpack => {
                c.out.extend_from_slice(&(size as u16).to_be_bytes());
                c.out.extend(body);
            }
            Wire::WebSocket => {
                // Header, then the payload masked as it is written (no buffer between).
                let (h, n) = frame_header(Opcode::Binary, size, Some(MASK));
                c.out.extend_from_slice(&h[..n]);
                c.out.extend(body.enumerate().map(|(i, b)| b ^ MASK[i % 4]));
            }
            Wire::Http => {
                c.out.extend_from_slice(
                    format!("POST /echo HTTP/1.1\r\nhost: bench\r\ncontent-length: {size}\r\n\r\n")
                        .as_bytes(),
                );
                c.out.extend(body);
            }
        }
        c.sent.push_back(Instant::now());
    }
}

/// The mask of the bench's WebSocket frames (a client must mask; any key costs the same).
const MASK: [u8; 4] = [0x5a, 0x13, 0xc7, 0x2e];

/// The next whole echo in `input` from `pos`: (where its payload is, where it ends).
fn next_echo(
    input: &[u8],
    pos: usize,
    wire: Wire,
) -> Result<Option<(std::ops::Range<usize>, usize)>, String> {
    let b = &input[pos..];
    let (start, len) = match wire {
        Wire::Netpack => {
            if b.len() < 2 {
                return Ok(None);
            }
            (2, u16::from_be_bytes([b[0], b[1]]) as usize)
        }
        Wire::WebSocket => {
            if b.len() < 2 {
                return Ok(None);
            }
            if b[0] != 0x82 || b[1] & 0x80 != 0 {
                return Err(format!("unexpected frame header {:02x} {:02x}", b[0], b[1]));
            }
            match b[1] & 0x7f {
                126 if b.len() < 4 => return Ok(None),
                126 => (4, u16::from_be_bytes([b[2], b[3]]) as usize),
                127 => return Err("a frame over 64 KiB".into()),
                n => (2, n as usize),
            }
        }
        Wire::Http => {
            let Some(end) = b.windows(4).position(|w| w == b"\r\n\r\n") else {
                return Ok(None);
            };
            let head = std::str::from_utf8(&b[..end]).map_err(|_| "a head that is not UTF-8")?;
            if !head.starts_with("HTTP/1.1 200") {
                return Err(format!("answered {:?}", head.lines().next()));
            }
            let len = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().ok())?
                })
                .ok_or("no content-length")?;
            (end + 4, len)
        }
    };
    if b.len() < start + len {
        return Ok(None);
    }
    Ok(Some((pos + start..pos + start + len, pos + start + len)))
}

fn flush(c: &mut Conn) -> bool {
    while c.out_pos < c.out.len() {
        match c.stream.write(&c.out[c.out_pos..]) {
            Ok(n) => c.out_pos += n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => return true,
            Err(_) => return false,
        }
    }
    c.out.clear();
    c.out_pos = 0;
    true
}

/// Reads what is there; returns (round trips completed with their latencies, ok).
fn read_echoes(
    c: &mut Conn,
    id: usize,
    buf: &mut [u8],
    lat: &mut Vec<u32>,
    wire: Wire,
) -> Result<(), String> {
    loop {
        match c.stream.read(buf) {
            Ok(0) => return Err("server closed the connection".into()),
            Ok(n) => c.input.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) => return Err(e.to_string()),
        }
    }
    let mut pos = 0;
    while let Some((body, end)) = next_echo(&c.input, pos, wire)? {
        let body = &c.input[body];
        let seq = c.next_recv;
        if let Some(i) = (0..body.len()).find(|&i| body[i] != pattern(id, seq, i)) {
            return Err(format!("connection {id}: packet {seq} differs at byte {i}"));
        }
        c.next_recv += 1;
        let sent = c.sent.pop_front().ok_or("an echo nobody sent")?;
        lat.push(sent.elapsed().as_micros().min(u32::MAX as u128) as u32);
        pos = end;
    }
    c.input.drain(..pos);
    Ok(())
}

/// What one client thread measured.
struct Tally {
    lat: Vec<u32>,
    errors: usize,
    first_error: Option<String>,
}

/// One client thread: drives its share of the connections until `end`.
fn drive(
    streams: Vec<(usize, std::net::TcpStream)>,
    size: usize,
    pipeline: usize,
    start: Instant,
    end: Instant,
    wire: Wire,
) -> std::io::Result<Tally> {
    let mut poll = Poll::new()?;
    let mut conns: Vec<(usize, Conn)> = Vec::with_capacity(streams.len());
    for (token, (id, s)) in streams.into_iter().enumerate() {
        s.set_nonblocking(true)?;
        let mut stream = TcpStream::from_std(s);
        poll.registry().register(
            &mut stream,
            Token(token),
            Interest::READABLE | Interest::WRITABLE,
        )?;
        let conn = Conn {
            stream,
            out: Vec::new(),
            out_pos: 0,
            input: Vec::new(),
            sent: VecDeque::new(),
            next_send: 0,
            next_recv: 0,
            dead: false,
        };
        conns.push((id, conn));
    }
    let mut t = Tally {
        lat: Vec::with_capacity(1 << 20),
        errors: 0,
        first_error: None,
    };
    let mut buf = vec![0u8; 256 * 1024];
    // Every thread starts sending at the same instant.
    std::thread::sleep(start.saturating_duration_since(Instant::now()));
    for (id, c) in conns.iter_mut() {
        queue_packets(c, *id, size, pipeline, wire);
        if !flush(c) {
            c.dead = true;
            t.errors += 1;
        }
    }
    let mut events = Events::with_capacity(4096);
    while Instant::now() < end {
        poll.poll(&mut events, Some(Duration::from_millis(50)))?;
        for ev in events.iter() {
            let Some((id, c)) = conns.get_mut(ev.token().0) else {
                continue;
            };
            if c.dead {
                continue;
            }
            if ev.is_readable() {
                if let Err(e) = read_echoes(c, *id, &mut buf, &mut t.lat, wire) {
                    c.dead = true;
                    t.errors += 1;
                    t.first_error.get_or_insert(e);
                    continue;
                }
            }
            queue_packets(c, *id, size, pipeline, wire);
            if !flush(c) {
                c.dead = true;
                t.errors += 1;
            }
        }
    }
    Ok(t)
}

/// What a run of the load loop does.
#[derive(Clone, Copy)]
pub(crate) struct Load {
    /// The result line's `bench`.
    pub name: &'static str,
    pub wire: Wire,
    pub connections: usize,
    pub size: usize,
    pub seconds: f64,
    pub pipeline: usize,
    pub threads: usize,
}

/// Runs the loop against `addr`; `server_stat` is the server's `/proc/PID/stat`.
pub(crate) fn run_echo(
    load: &Load,
    addr: SocketAddr,
    server_stat: Option<String>,
) -> std::io::Result<JsonLine> {
    let Load {
        name,
        wire,
        connections,
        size,
        seconds,
        pipeline,
        threads,
    } = *load;
    let (mut streams, mut connect_failed) = connect_all(addr, connections);
    if wire == Wire::WebSocket {
        let before = streams.len();
        streams.retain_mut(|s| super::web::ws_handshake(s).is_ok());
        connect_failed += before - streams.len();
    }
    let mut shares: Vec<Vec<(usize, std::net::TcpStream)>> =
        (0..threads).map(|_| Vec::new()).collect();
    for (i, s) in streams.into_iter().enumerate() {
        shares[i % threads].push((i, s));
    }
    let start = Instant::now() + Duration::from_millis(20);
    let end = start + Duration::from_secs_f64(seconds);
    let cpu_before = server_stat.as_deref().and_then(cpu_us);
    let handles: Vec<_> = shares
        .into_iter()
        .map(|share| std::thread::spawn(move || drive(share, size, pipeline, start, end, wire)))
        .collect();
    let mut lat: Vec<u32> = Vec::new();
    let mut errors = connect_failed;
    let mut first_error = None;
    for h in handles {
        let t = h
            .join()
            .map_err(|_| std::io::Error::other("a client thread panicked"))??;
        lat.extend_from_slice(&t.lat);
        errors += t.errors;
        if first_error.is_none() {
            first_error = t.first_error;
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    let cpu_after = server_stat.as_deref().and_then(cpu_us);
    lat.sort_unstable();
    let pct = |p: f64| percentile(&lat, p);
    let mut line = JsonLine::new(name);
    line.num("ops_per_sec", lat.len() as f64 / elapsed)
        .num("connections", connections as f64)
        .num("size", size as f64)
        .num("pipeline", pipeline as f64)
        .num("threads", threads as f64)
        .num("round_trips", lat.len() as f64)
        .num("seconds", elapsed)
        .num("p50_us", pct(0.5))
        .num("p99_us", pct(0.99))
        .num("max_us", pct(1.0))
        .num("errors", errors as f64);
    if let (Some(a), Some(b)) = (cpu_before, cpu_after) {
        if !lat.is_empty() {
            // The server's CPU per round trip: what the machine's noise does not change.
            line.num("server_cpu_us_per_rt", (b - a) as f64 / lat.len() as f64);
        }
    }
    if let Some(e) = first_error {
        line.str("first_error", &e);
    }
    Ok(line)
}

/// The `p` quantile (0 to 1) of sorted latencies; 0 when there are none.
pub(crate) fn percentile(sorted: &[u32], p: f64) -> f64 {
    match sorted.len() {
        0 => 0.0,
        n => f64::from(sorted[((n - 1) as f64 * p) as usize]),
    }
}

pub(crate) fn pid_arg(args: &[String]) -> Option<u32> {
    args.iter()
        .position(|a| a == "--pid")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
}

fn rss_of(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let l = s.lines().find(|l| l.starts_with("VmRSS:"))?;
    l[6..].trim().trim_end_matches("kB").trim().parse().ok()
}

/// `bench hold`: opens C connections, keeps them `--seconds`, reports how many stayed open
/// (and, with `--pid`, the node's RSS per held connection and after they close).
pub fn hold(args: &[String]) {
    let connections = arg(args, "--connections", 1000usize);
    let seconds = arg(args, "--seconds", 2.0f64);
    let pid = pid_arg(args);
    let addr: SocketAddr = match arg::<String>(args, "--addr", "127.0.0.1:8888".into()).parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("bad --addr: {e}");
            std::process::exit(2);
        }
    };
    let rss_before = pid.and_then(rss_of);
    let start = Instant::now();
    let (streams, connect_failed) = connect_all(addr, connections);
    let connect_secs = start.elapsed().as_secs_f64();
    // Watch for the server closing any of them.
    let Ok(mut poll) = Poll::new() else {
        eprintln!("cannot create a poll");
        std::process::exit(1);
    };
    let mut held: Vec<TcpStream> = Vec::with_capacity(streams.len());
    for (i, s) in streams.into_iter().enumerate() {
        if s.set_nonblocking(true).is_err() {
            continue;
        }
        let mut st = TcpStream::from_std(s);
        if poll
            .registry()
            .register(&mut st, Token(i), Interest::READABLE)
            .is_ok()
        {
            held.push(st);
        }
    }
    let mut closed = vec![false; held.len()];
    let mut events = Events::with_capacity(4096);
    let end = Instant::now() + Duration::from_secs_f64(seconds);
    let mut buf = [0u8; 1024];
    while Instant::now() < end {
        if poll
            .poll(&mut events, Some(Duration::from_millis(100)))
            .is_err()
        {
            break;
        }
        for ev in events.iter() {
            let i = ev.token().0;
            if let Some(s) = held.get_mut(i) {
                if matches!(s.read(&mut buf), Ok(0) | Err(_)) && !closed[i] {
                    let would_block =
                        matches!(s.read(&mut buf), Err(ref e) if e.kind() == ErrorKind::WouldBlock);
                    if !would_block {
                        closed[i] = true;
                    }
                }
            }
        }
    }
    let accepted = closed.iter().filter(|c| !**c).count();
    let rss_held = pid.and_then(rss_of);
    drop(held);
    // Give the node a moment to notice the closes, waiting on its RSS, bounded.
    let mut rss_after = rss_held;
    if let Some(p) = pid {
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(200));
            rss_after = rss_of(p);
        }
    }
    let mut line = JsonLine::new("hold");
    line.num("ops_per_sec", connections as f64 / connect_secs.max(1e-9))
        .num("connections", connections as f64)
        .num("accepted", accepted as f64)
        .num("connect_failed", connect_failed as f64)
        .num("connect_seconds", connect_secs);
    if let (Some(b), Some(h)) = (rss_before, rss_held) {
        line.num("rss_before_kb", b as f64)
            .num("rss_held_kb", h as f64);
        if accepted > 0 {
            line.num(
                "rss_per_conn_bytes",
                (h.saturating_sub(b) as f64 * 1024.0) / accepted as f64,
            );
        }
    }
    if let Some(a) = rss_after {
        line.num("rss_after_close_kb", a as f64);
    }
    println!("{}", line.finish());
}
