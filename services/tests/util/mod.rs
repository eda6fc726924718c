//! Helpers for the end-to-end tests: an echo node in-process, framed clients.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use skynet_runtime::{Config, Node};

pub const LONG: Duration = Duration::from_secs(30);

/// Every line the node logged.
pub type Lines = skynet_runtime::LogCapture;

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
        .logger(lines.logger())
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
