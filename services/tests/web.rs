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
    /// The addresses logged after each of `markers` ("gate listening on " ...), in order;
    /// a line is taken by the first marker it contains.
    fn addresses(&self, markers: &[&str]) -> Vec<SocketAddr> {
        let mut found: Vec<Option<SocketAddr>> = vec![None; markers.len()];
        while found.iter().any(Option::is_none) {
            let line = self
                .lines
                .recv_timeout(LONG)
                .expect("the node logs where it listens");
            if let Some((i, rest)) = markers
                .iter()
                .enumerate()
                .find_map(|(i, m)| line.split(m).nth(1).map(|r| (i, r)))
            {
                found[i] = rest.split_whitespace().next().and_then(|a| a.parse().ok());
            }
        }
        found.into_iter().flatten().collect()
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

#[test]
fn web_toml_serves_the_page_echo_and_hello() {
    let node = run("web.toml", &["web_port=0", "ws_port=0"]);
    let found = node.addresses(&["http: listening on ", "websocket gate listening on "]);
    let (web, gate) = (found[0], found[1]);
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
    let gate = node.addresses(&["websocket gate listening on "])[0];
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
    // "websocket gate listening on" first: it also contains "gate listening on".
    let found = node.addresses(&["websocket gate listening on ", "gate listening on "]);
    let (gate, tcp) = (found[0], found[1]);
    let mut ws = ws_handshake(gate);
    let mut tcp = connect(tcp);
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
