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

/// A node from config text with the standard services, its `start` service launched; its
/// log is kept in memory (a test that reads it builds its own node).
pub fn start_node(text: &str) -> Node {
    let node = skynet_services::register_standard(Node::builder())
        .config(Config::parse(text, None).expect("test config parses"))
        .logger(Lines::default().logger())
        .build()
        .expect("node starts");
    let start = node.handle().getenv("start").expect("a start service");
    node.newservice(&start, &[]).expect("start service starts");
    node
}

/// The address a service published under `key` (`gate_address`, `ws_gate_address`, ...).
pub fn addr_of(node: &Node, key: &str) -> SocketAddr {
    node.handle()
        .getenv(key)
        .unwrap_or_else(|| panic!("{key} is published"))
        .parse()
        .expect("an address")
}

/// Opens a WebSocket on a fresh connection (the raw handshake); panics unless answered 101.
pub fn ws_handshake(addr: SocketAddr) -> TcpStream {
    let mut s = connect(addr);
    s.write_all(
        b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )
    .expect("write");
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut b).expect("handshake answer");
        head.push(b[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101 "),
        "{}",
        String::from_utf8_lossy(&head)
    );
    s
}

/// Sends one debug console command; returns its output and whether it worked: the answer
/// ends with `<CMD OK>` (true) or `<CMD Error>` (false).
pub fn console_cmd(
    r: &mut std::io::BufReader<TcpStream>,
    w: &mut TcpStream,
    line: &str,
) -> (String, bool) {
    use std::io::BufRead;
    w.write_all(format!("{line}\n").as_bytes()).expect("write");
    let mut out = String::new();
    loop {
        let mut l = String::new();
        assert!(
            r.read_line(&mut l).expect("read") > 0,
            "console closed during {line:?}"
        );
        match l.as_str() {
            "<CMD OK>\n" => return (out, true),
            "<CMD Error>\n" => return (out, false),
            _ => out.push_str(&l),
        }
    }
}
