//! The shipped web configs through the `skynet` binary, moved to free ports with `--set`:
//! web.toml (page, echo, hello and the chat gate), wsecho.toml, chat.toml (one room over
//! netpack and WebSocket).

mod util;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};

use crossbeam_channel::Receiver;
use util::*;

/// A node started from a shipped config with extra `--set`s, and its log lines.
struct Running {
    child: Child,
    lines: Receiver<String>,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn run(config: &str, sets: &[&str]) -> Running {
    let path = format!("{}/../examples/config/{config}", env!("CARGO_MANIFEST_DIR"));
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_skynet"));
    cmd.arg(path);
    for s in sets {
        cmd.args(["--set", s]);
    }
    let mut child = cmd.stderr(Stdio::piped()).spawn().expect("start skynet");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, lines) = crossbeam_channel::unbounded();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    Running { child, lines }
}

impl Running {
    /// The address in the first log line containing `marker` (followed by the address).
    fn address(&self, marker: &str) -> SocketAddr {
        loop {
            let line = self
                .lines
                .recv_timeout(LONG)
                .expect("the node logs where it listens");
            if let Some(rest) = line.split(marker).nth(1) {
                return rest.split_whitespace().next().unwrap().parse().unwrap();
            }
        }
    }
}

/// One HTTP/1.0 exchange (the server closes after it): the whole response.
fn http(addr: SocketAddr, request: &str) -> String {
    let mut s = connect(addr);
    s.write_all(request.as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

fn ws_handshake(addr: SocketAddr) -> std::net::TcpStream {
    let mut s = connect(addr);
    s.write_all(
        b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )
    .unwrap();
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut b).unwrap();
        head.push(b[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101 "));
    s
}

#[test]
fn web_toml_serves_the_page_echo_and_hello() {
    let node = run("web.toml", &["web_port=0", "ws_port=0"]);
    let mut web = None;
    let mut gate = None;
    while web.is_none() || gate.is_none() {
        let line = node.lines.recv_timeout(LONG).expect("listening lines");
        let after = |m: &str| {
            line.split(m)
                .nth(1)
                .and_then(|r| r.split_whitespace().next())
                .and_then(|a| a.parse::<SocketAddr>().ok())
        };
        web = web.or(after("http: listening on "));
        gate = gate.or(after("websocket gate listening on "));
    }
    let (web, gate) = (web.unwrap(), gate.unwrap());
    let hello = http(web, "GET /hello?name=x HTTP/1.0\r\n\r\n");
    assert!(
        hello.starts_with("HTTP/1.1 200") && hello.ends_with("hello, x\n"),
        "{hello}"
    );
    let echo = http(web, "POST /echo HTTP/1.0\r\nContent-Length: 5\r\n\r\nhello");
    assert!(echo.ends_with("\r\n\r\nhello"), "{echo}");
    let page = http(web, "GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
    assert!(page.contains("<title>skynet-rs chat</title>"));
    assert!(
        page.contains(&format!("\"ws://127.0.0.1:{}/\"", gate.port())),
        "the page points at the gate"
    );
    // The gate answers a handshake.
    ws_handshake(gate);
}

#[test]
fn wsecho_toml_echoes() {
    let node = run("wsecho.toml", &["ws_port=0"]);
    let gate = node.address("websocket gate listening on ");
    let mut s = ws_handshake(gate);
    // A masked text frame "hi" (mask 0): comes back unmasked, as text.
    s.write_all(&[0x81, 0x82, 0, 0, 0, 0, b'h', b'i']).unwrap();
    let mut echo = [0u8; 4];
    s.read_exact(&mut echo).unwrap();
    assert_eq!(echo, [0x81, 2, b'h', b'i']);
}

#[test]
fn chat_toml_serves_netpack_and_websocket_clients() {
    let node = run("chat.toml", &["port=0", "ws_port=0", "web_port=0"]);
    let mut tcp = None;
    let mut gate = None;
    while tcp.is_none() || gate.is_none() {
        let line = node.lines.recv_timeout(LONG).expect("listening lines");
        let after = |m: &str| {
            line.split(m)
                .nth(1)
                .and_then(|r| r.split_whitespace().next())
                .and_then(|a| a.parse::<SocketAddr>().ok())
        };
        gate = gate.or(after("websocket gate listening on "));
        if !line.contains("websocket gate") {
            tcp = tcp.or(after("gate listening on "));
        }
    }
    let mut ws = ws_handshake(gate.unwrap());
    let mut tcp = connect(tcp.unwrap());
    // Joining is asynchronous: say lines until the WebSocket client hears one.
    ws.set_read_timeout(Some(std::time::Duration::from_millis(200)))
        .unwrap();
    let mut frame = [0u8; 2];
    assert!(eventually(LONG, || {
        send_packet(&mut tcp, b"ping");
        ws.read_exact(&mut frame).is_ok()
    }));
    assert_eq!(frame[0], 0x81, "a text frame");
}
