//! Helpers for the end-to-end tests: an echo node in-process, framed clients.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};
use skynet_runtime::{Config, Message, Node, Payload, RawContext, RawService};

pub const LONG: Duration = Duration::from_secs(30);

/// Every line the node logged.
#[derive(Clone, Default)]
pub struct Lines(Arc<(Mutex<Vec<String>>, Condvar)>);

impl Lines {
    pub fn wait_for(&self, needles: &[&str], within: Duration) -> Option<String> {
        let deadline = Instant::now() + within;
        let (lock, cv) = &*self.0;
        let mut lines = lock.lock();
        loop {
            if let Some(l) = lines.iter().find(|l| needles.iter().all(|n| l.contains(n))) {
                return Some(l.clone());
            }
            if cv.wait_until(&mut lines, deadline).timed_out() {
                return None;
            }
        }
    }
}

struct Capture(Lines);

impl RawService for Capture {
    fn init(&mut self, ctx: &mut RawContext<'_>) -> skynet_runtime::InitStatus {
        match ctx.register(".logger") {
            Ok(()) => skynet_runtime::InitStatus::Ready,
            Err(e) => skynet_runtime::InitStatus::Failed(e.to_string()),
        }
    }
    fn handle(&mut self, _ctx: &mut RawContext<'_>, msg: Message) {
        if let Payload::Bytes(b) = &msg.payload {
            let (lock, cv) = &*(self.0).0;
            lock.lock()
                .push(format!("[{}] {}", msg.source, String::from_utf8_lossy(b)));
            cv.notify_all();
        }
    }
}

/// An in-process node running `start = "watchdog"` with the given extra config keys;
/// returns it, the gate's address, and the captured log.
pub fn echo_node(extra: &[(&str, &str)]) -> (Node, SocketAddr, Lines) {
    let mut text = String::from(
        "thread = 2\nstart = \"watchdog\"\naddress = \"127.0.0.1\"\nport = 0\nnodelay = true\nagent = \"echo_agent\"\n",
    );
    for (k, v) in extra {
        text.push_str(&format!("{k} = {v}\n"));
    }
    let config = Config::parse(&text, None).expect("test config parses");
    let lines = Lines::default();
    let node = skynet_services::register_standard(Node::builder())
        .config(config)
        .logger(Box::new(Capture(lines.clone())))
        .build()
        .expect("node starts");
    node.newservice("watchdog", &[]).expect("watchdog starts");
    let addr = node
        .handle()
        .getenv("gate_address")
        .expect("watchdog publishes gate_address")
        .parse()
        .expect("an address");
    (node, addr, lines)
}

/// Connects with a read timeout so a broken server fails the test instead of hanging it.
pub fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(LONG)).expect("timeout");
    s.set_nodelay(true).expect("nodelay");
    s
}

/// Writes one framed packet.
pub fn send_packet(s: &mut TcpStream, payload: &[u8]) {
    let mut buf = Vec::with_capacity(payload.len() + 2);
    buf.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    buf.extend_from_slice(payload);
    s.write_all(&buf).expect("write");
}

/// Reads one framed packet.
pub fn recv_packet(s: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut h = [0u8; 2];
    s.read_exact(&mut h)?;
    let mut body = vec![0u8; u16::from_be_bytes(h) as usize];
    s.read_exact(&mut body)?;
    Ok(body)
}

/// True once the server has closed the connection (EOF or reset) within the deadline.
pub fn closed_by_server(s: &mut TcpStream) -> bool {
    let mut b = [0u8; 1024];
    loop {
        match s.read(&mut b) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                return false
            }
            Err(_) => return true,
        }
    }
}

/// Waits until `f` holds, with a deadline.
pub fn eventually(within: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::yield_now();
        std::thread::sleep(Duration::from_millis(5));
    }
    f()
}

/// A tiny xorshift PRNG (no rand dependency).
pub struct Rng(pub u64);
impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}
