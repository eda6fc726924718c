//! `bench ws` and `bench http`: the web layer under load, with the echo bench's loop.
//!
//! ```text
//! bench ws   --addr 127.0.0.1:9948 --connections 100 --size 64 [--seconds 5] [--threads T] [--pid P]
//! bench http --addr 127.0.0.1:8001 --connections 100 --size 16 [--seconds 5] [--threads T] [--pid P]
//! bench http --addr 127.0.0.1:8001 --connections 50 --close [--seconds 5] [--pid P]
//! ```
//! `ws`: binary messages to an echo gate (`examples/config/wsecho.toml`), every byte
//! checked. `http`: keep-alive `POST /echo` requests (`examples/config/web.toml`), one at
//! a time per connection; with `--close`, `GET /hello` on a new connection each time
//! (`connection: close`), one client thread per connection.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use super::args::{arg, flag};
use super::echo::{connect_all, percentile, pid_arg, run_echo, Load, Wire};
use super::json::{cpu_us, JsonLine};

/// The client half of the WebSocket handshake on a blocking stream.
pub(crate) fn ws_handshake(s: &mut TcpStream) -> std::io::Result<()> {
    s.write_all(
        b"GET / HTTP/1.1\r\nHost: bench\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )?;
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut b)?;
        head.push(b[0]);
    }
    if head.starts_with(b"HTTP/1.1 101 ") {
        Ok(())
    } else {
        Err(std::io::Error::other("no 101"))
    }
}

fn addr(args: &[String], default: &str) -> SocketAddr {
    match arg::<String>(args, "--addr", default.into()).parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("bad --addr: {e}");
            std::process::exit(2);
        }
    }
}

fn echo_like(
    name: &'static str,
    wire: Wire,
    args: &[String],
    default_addr: &str,
    default_size: usize,
) {
    let connections = arg(args, "--connections", 100usize).max(1);
    let load = Load {
        name,
        wire,
        connections,
        size: arg(args, "--size", default_size).min(65_535),
        seconds: arg(args, "--seconds", 5.0f64),
        pipeline: 1,
        threads: arg(args, "--threads", 1usize).clamp(1, connections),
    };
    let stat = pid_arg(args).map(|p| format!("/proc/{p}/stat"));
    let r = run_echo(&load, addr(args, default_addr), stat);
    match r {
        Ok(line) => println!("{}", line.finish()),
        Err(e) => {
            eprintln!("{name} bench failed: {e}");
            std::process::exit(1);
        }
    }
}

/// `bench ws`.
pub fn ws(args: &[String]) {
    echo_like("ws", Wire::WebSocket, args, "127.0.0.1:9948", 64);
}

/// `bench http`.
pub fn http(args: &[String]) {
    if flag(args, "--close") {
        return http_close(args);
    }
    echo_like("http", Wire::Http, args, "127.0.0.1:8001", 16);
}

/// One request per connection, `connections` at a time.
fn http_close(args: &[String]) {
    let to = addr(args, "127.0.0.1:8001");
    let connections = arg(args, "--connections", 50usize).max(1);
    let seconds = arg(args, "--seconds", 5.0f64);
    let stat = pid_arg(args).map(|p| format!("/proc/{p}/stat"));
    // Probe once, so a wrong address fails at once.
    if connect_all(to, 1).0.is_empty() {
        eprintln!("http bench: cannot connect to {to}");
        std::process::exit(1);
    }
    let start = Instant::now() + Duration::from_millis(20);
    let end = start + Duration::from_secs_f64(seconds);
    let cpu_before = stat.as_deref().and_then(cpu_us);
    let handles: Vec<_> = (0..connections)
        .map(|_| {
            std::thread::spawn(move || {
                let mut lat = Vec::new();
                let mut errors = 0usize;
                std::thread::sleep(start.saturating_duration_since(Instant::now()));
                let mut buf = Vec::with_capacity(512);
                while Instant::now() < end {
                    let t = Instant::now();
                    let ok = (|| -> std::io::Result<bool> {
                        let mut s = TcpStream::connect(to)?;
                        s.set_read_timeout(Some(Duration::from_secs(10)))?;
                        s.write_all(b"GET /hello?name=x HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")?;
                        buf.clear();
                        s.read_to_end(&mut buf)?;
                        Ok(buf.starts_with(b"HTTP/1.1 200") && buf.ends_with(b"hello, x\n"))
                    })();
                    match ok {
                        Ok(true) => lat.push(t.elapsed().as_micros().min(u32::MAX as u128) as u32),
                        _ => errors += 1,
                    }
                }
                (lat, errors)
            })
        })
        .collect();
    let mut lat = Vec::new();
    let mut errors = 0;
    for h in handles {
        if let Ok((l, e)) = h.join() {
            lat.extend(l);
            errors += e;
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    let cpu_after = stat.as_deref().and_then(cpu_us);
    lat.sort_unstable();
    let pct = |p: f64| percentile(&lat, p);
    let mut line = JsonLine::new("http");
    line.num("ops_per_sec", lat.len() as f64 / elapsed)
        .num("connections", connections as f64)
        .num("close", 1.0)
        .num("requests", lat.len() as f64)
        .num("seconds", elapsed)
        .num("p50_us", pct(0.5))
        .num("p99_us", pct(0.99))
        .num("errors", errors as f64);
    if let (Some(a), Some(b)) = (cpu_before, cpu_after) {
        if !lat.is_empty() {
            line.num("server_cpu_us_per_rt", (b - a) as f64 / lat.len() as f64);
        }
    }
    println!("{}", line.finish());
}
