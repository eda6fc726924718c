//! The standard agents behind the WebSocket gate: echo (text stays text), and one chat
//! room shared by netpack and WebSocket clients.

mod util;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

use skynet_http::ws_frame::{encode, Decoder, DecoderConf, Frame, Opcode, Role};
use skynet_runtime::{Config, Node};
use util::*;

/// A WebSocket client on a raw socket, with the crate's codec in the client role.
struct WsClient {
    s: TcpStream,
    dec: Decoder,
}

const KEY: Option<[u8; 4]> = Some([9, 8, 7, 6]);

impl WsClient {
    fn open(addr: SocketAddr) -> WsClient {
        WsClient {
            s: ws_handshake(addr),
            dec: Decoder::new(DecoderConf::new(Role::Client)),
        }
    }

    fn send(&mut self, op: Opcode, payload: &[u8]) {
        self.s.write_all(&encode(op, payload, KEY)).unwrap();
    }

    fn recv(&mut self) -> std::io::Result<Frame> {
        loop {
            if let Some(f) = self.dec.next_frame().expect("valid frames") {
                return Ok(f);
            }
            let mut buf = [0u8; 4096];
            let n = self.s.read(&mut buf)?;
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            self.dec.feed(&buf[..n]);
        }
    }
}

#[test]
fn the_echo_agent_serves_websocket_clients_unchanged() {
    let node = start_node(
        "thread = 2\nstart = \"ws_watchdog\"\naddress = \"127.0.0.1\"\nws_port = 0\nagent = \"echo_agent\"\n",
    );
    let addr = addr_of(&node, "ws_gate_address");
    let mut c = WsClient::open(addr);
    // Sent at once after the handshake: held until the agent is there, not lost.
    c.send(Opcode::Text, b"first");
    c.send(Opcode::Text, b"second");
    assert_eq!(c.recv().unwrap(), Frame::Text("first".into()));
    assert_eq!(c.recv().unwrap(), Frame::Text("second".into()));
    c.send(Opcode::Binary, &[0, 159, 146, 150]);
    assert_eq!(
        c.recv().unwrap(),
        Frame::Binary(vec![0u8, 159, 146, 150].into())
    );
    let big = vec![b'z'; 60_000];
    c.send(Opcode::Text, &big);
    assert_eq!(c.recv().unwrap(), Frame::Text(big.into()));
    c.send(Opcode::Ping, b"p");
    assert_eq!(c.recv().unwrap(), Frame::Pong("p".into()));
    c.send(Opcode::Close, &1000u16.to_be_bytes());
    assert_eq!(c.recv().unwrap(), Frame::Close(Some(1000), String::new()));
    assert!(
        c.recv().is_err(),
        "the server closes after the close handshake"
    );
    // Many clients at once, each with its own agent.
    let mut many: Vec<WsClient> = (0..20).map(|_| WsClient::open(addr)).collect();
    for (i, c) in many.iter_mut().enumerate() {
        c.send(Opcode::Text, format!("n{i}").as_bytes());
    }
    for (i, c) in many.iter_mut().enumerate() {
        assert_eq!(c.recv().unwrap(), Frame::Text(format!("n{i}").into()));
    }
    node.shutdown();
}

#[test]
fn one_chat_room_serves_netpack_and_websocket_clients() {
    let node = start_node(
        "thread = 2\nstart = \"start_all\"\nstart_services = \"watchdog ws_watchdog\"\n\
         address = \"127.0.0.1\"\nport = 0\nws_port = 0\nagent = \"chat_agent\"\n",
    );
    let mut tcp = connect(addr_of(&node, "gate_address"));
    let mut ws = WsClient::open(addr_of(&node, "ws_gate_address"));
    // Joining is asynchronous: probe until the WebSocket client hears the TCP one.
    ws.s.set_read_timeout(Some(std::time::Duration::from_millis(200)))
        .unwrap();
    assert!(eventually(LONG, || {
        send_packet(&mut tcp, b"probe");
        let mut heard = false;
        while let Ok(f) = ws.recv() {
            heard |= matches!(f, Frame::Text(t) if t.ends_with(b"probe"));
        }
        heard
    }));
    ws.s.set_read_timeout(Some(LONG)).unwrap();
    ws.send(Opcode::Text, b"hello from the browser");
    loop {
        let p = recv_packet(&mut tcp).unwrap();
        if p.ends_with(b"hello from the browser") {
            break;
        }
    }
    send_packet(&mut tcp, b"hello from tcp");
    assert!(matches!(ws.recv().unwrap(), Frame::Text(t) if t.ends_with(b"hello from tcp")));
    node.shutdown();
}

/// Sends raw bytes after the handshake, expects a close frame with `code` and the close.
fn gate_closes_with(addr: SocketAddr, log: &skynet_runtime::LogCapture, raw: &[u8], code: u16) {
    let mut c = WsClient::open(addr);
    c.s.write_all(raw).unwrap();
    match c.recv() {
        Ok(Frame::Close(Some(got), _)) => assert_eq!(got, code),
        other => panic!("expected close {code}, got {other:?}"),
    }
    assert!(c.recv().is_err(), "closed after the close frame");
    let line = log.wait_for(
        &["websocket gate: fd", &format!("closing with {code}")],
        LONG,
    );
    assert!(line.is_some(), "{:?}", log.lines());
}

/// A masked frame as a client writes it, built by hand (not by the codec under test).
fn raw_frame(first: u8, payload: &[u8], masked: bool) -> Vec<u8> {
    let mut f = vec![first];
    let m = if masked { 0x80 } else { 0 };
    match payload.len() {
        n if n < 126 => f.push(m | n as u8),
        n if n <= 65535 => {
            f.push(m | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(m | 127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    if masked {
        f.extend_from_slice(&[0, 0, 0, 0]); // a zero mask leaves the payload as it is
    }
    f.extend_from_slice(payload);
    f
}

#[test]
fn the_gate_answers_bad_input_with_close_codes_and_keeps_serving() {
    let log = skynet_runtime::LogCapture::new();
    let text = "thread = 2\nstart = \"ws_watchdog\"\naddress = \"127.0.0.1\"\nws_port = 0\nagent = \"echo_agent\"\n";
    let node = skynet_services::register_standard(Node::builder())
        .config(Config::parse(text, None).unwrap())
        .logger(log.logger())
        .build()
        .unwrap();
    node.newservice("ws_watchdog", &[]).unwrap();
    let addr = addr_of(&node, "ws_gate_address");
    let mut steady = WsClient::open(addr);
    gate_closes_with(
        addr,
        &log,
        &raw_frame(0x81, &[0xff, 0xfe, 0xfd], true),
        1007,
    );
    gate_closes_with(addr, &log, &raw_frame(0x81, b"bare", false), 1002);
    gate_closes_with(addr, &log, &raw_frame(0x8b, b"", true), 1002);
    // A 300 KiB frame is refused from its header: the client is stopped after its first
    // KiB (the rest unsent, so no unread bytes turn the server's close into a reset).
    let mut big = raw_frame(0x82, &vec![1u8; 300 * 1024], true);
    big.truncate(1024);
    gate_closes_with(addr, &log, &big, 1009);
    // A close in the middle of a fragmented message: the close handshake.
    let mut c = WsClient::open(addr);
    c.s.write_all(&raw_frame(0x01, b"frag", true)).unwrap();
    c.s.write_all(&raw_frame(0x88, &1000u16.to_be_bytes(), true))
        .unwrap();
    assert_eq!(c.recv().unwrap(), Frame::Close(Some(1000), String::new()));
    // A bad handshake gets its status.
    let mut h = connect(addr);
    h.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut answer = String::new();
    h.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 426 "), "{answer}");
    // The client that behaved was never disturbed.
    steady.send(Opcode::Text, b"still here");
    assert_eq!(steady.recv().unwrap(), Frame::Text("still here".into()));
    node.shutdown();
}

#[test]
fn the_config_sets_subprotocols_and_the_handshake_deadline() {
    let log = skynet_runtime::LogCapture::new();
    let text = "thread = 2\nstart = \"ws_watchdog\"\naddress = \"127.0.0.1\"\nws_port = 0\n\
                agent = \"echo_agent\"\nws_protocols = \"chat, superchat\"\nws_handshake_timeout = 1\n";
    let node = skynet_services::register_standard(Node::builder())
        .config(Config::parse(text, None).unwrap())
        .logger(log.logger())
        .build()
        .unwrap();
    node.newservice("ws_watchdog", &[]).unwrap();
    let addr = addr_of(&node, "ws_gate_address");
    let mut s = connect(addr);
    s.write_all(
        b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
          Sec-WebSocket-Protocol: superchat, chat\r\n\r\n",
    )
    .unwrap();
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut b).unwrap();
        head.push(b[0]);
    }
    let head = String::from_utf8_lossy(&head);
    assert!(head.contains("sec-websocket-protocol: chat\r\n"), "{head}");
    // Half a handshake: 408 once the deadline passes.
    let mut slow = connect(addr);
    slow.write_all(b"GET / HTTP/1.1\r\n").unwrap();
    let mut answer = String::new();
    slow.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 408 "), "{answer}");
    assert!(log.wait_for(&["no handshake in time"], LONG).is_some());
    node.shutdown();
}
