//! WebSockets in services: accept on a raw connection, upgrade on an HTTP route, the
//! client; echo, ping/pong, fragments, close codes, violations.

mod util;

use std::net::SocketAddr;

use skynet_http::ws::{self, ClientConf, WsConf, WsError, WsMessage};
use skynet_http::ws_frame::Opcode;
use skynet_http::{Request, Router, ServerConf};
use skynet_net::socket;
use skynet_runtime::{Context, Error, Message, Node, Service};
use util::*;

/// Echoes every message with its own kind, on accepted connections.
struct EchoServer(WsConf);

async fn echo(mut sock: ws::WebSocket) {
    loop {
        match sock.recv().await {
            Ok(WsMessage::Text(t)) => sock.send_bytes(Opcode::Text, t),
            Ok(WsMessage::Binary(b)) => sock.send_bytes(Opcode::Binary, b),
            Ok(_) => true,
            Err(_) => return,
        };
    }
}

impl Service for EchoServer {
    async fn init(&mut self, ctx: &mut Context) -> Result<(), Error> {
        let (l, addr) = socket::listen(ctx, "127.0.0.1", 0)?;
        ctx.setenv("ws_echo", &addr.to_string());
        let conf = self.0.clone();
        socket::start_listener(ctx, l, move |ctx, id, _| {
            let (c, conf) = (ctx.clone(), conf.clone());
            ctx.fork(async move {
                if let Ok(sock) = ws::accept(&c, id, &conf).await {
                    echo(sock).await;
                }
            });
        });
        Ok(())
    }
    async fn dispatch(&mut self, _ctx: &mut Context, _msg: Message) {}
}

fn echo_server(node: &Node, conf: WsConf) -> SocketAddr {
    node.launch(EchoServer(conf)).expect("echo server");
    node.handle().getenv("ws_echo").unwrap().parse().unwrap()
}

#[test]
fn raw_clients_get_echoes_pongs_and_closes() {
    let (node, _log) = node();
    let addr = echo_server(&node, WsConf::default());
    let mut s = ws_connect(addr, "/");
    send(&mut s, &ws_frame(true, 1, b"hello", MASK));
    assert_eq!(ws_read(&mut s).unwrap(), (true, 1, b"hello".to_vec()));
    send(&mut s, &ws_frame(true, 2, &[0, 1, 2], MASK));
    assert_eq!(ws_read(&mut s).unwrap(), (true, 2, vec![0, 1, 2]));
    let big = vec![7u8; 100_000];
    send(&mut s, &ws_frame(true, 2, &big, MASK));
    assert_eq!(ws_read(&mut s).unwrap(), (true, 2, big));
    send(&mut s, &ws_frame(true, 9, b"are you there", MASK));
    assert_eq!(
        ws_read(&mut s).unwrap(),
        (true, 10, b"are you there".to_vec())
    );
    // Fragments with a ping between them.
    send(&mut s, &ws_frame(false, 1, b"frag", MASK));
    send(&mut s, &ws_frame(true, 9, b"", MASK));
    send(&mut s, &ws_frame(true, 0, b"mented", MASK));
    assert_eq!(ws_read(&mut s).unwrap(), (true, 10, vec![]));
    assert_eq!(ws_read(&mut s).unwrap(), (true, 1, b"fragmented".to_vec()));
    // Close: echoed with its code, then the server closes.
    let mut p = 4000u16.to_be_bytes().to_vec();
    p.extend_from_slice(b"bye");
    send(&mut s, &ws_frame(true, 8, &p, MASK));
    let (_, op, p) = ws_read(&mut s).unwrap();
    assert_eq!((op, close_code(&p)), (8, Some(4000)));
    assert!(closed_by_server(&mut s));
    node.shutdown();
}

/// Sends `frames` on a fresh connection; expects a close frame with `code`, then the
/// server's close, and a log line naming the connection.
fn expect_close(addr: SocketAddr, log: &skynet_runtime::LogCapture, frames: &[Vec<u8>], code: u16) {
    let mut s = ws_connect(addr, "/");
    for f in frames {
        send(&mut s, f);
    }
    let (_, op, p) = ws_read(&mut s).expect("a close frame");
    assert_eq!((op, close_code(&p)), (8, Some(code)));
    assert!(closed_by_server(&mut s));
    let line = log.wait_for(&["websocket: fd", &format!("closing with {code}")], LONG);
    assert!(line.is_some(), "{:?}", log.lines());
    // Nothing else is disturbed.
    let mut ok = ws_connect(addr, "/");
    send(&mut ok, &ws_frame(true, 1, b"still here", MASK));
    assert_eq!(ws_read(&mut ok).unwrap(), (true, 1, b"still here".to_vec()));
}

#[test]
fn violations_are_closed_with_their_codes() {
    let (node, log) = node();
    let addr = echo_server(&node, WsConf::default());
    // Invalid UTF-8 in a text frame.
    expect_close(addr, &log, &[ws_frame(true, 1, &[0xc3, 0x28], MASK)], 1007);
    // An unmasked frame where masking is required.
    expect_close(addr, &log, &[ws_frame(true, 1, b"bare", None)], 1002);
    // A reserved opcode.
    expect_close(addr, &log, &[ws_frame(true, 3, b"", MASK)], 1002);
    // A 300 KiB frame (over the 256 KiB default) is refused from its header: the client
    // stops after its first KiB (unsent bytes cannot turn the close into a reset).
    let mut big = ws_frame(true, 2, &vec![0u8; 300 * 1024], MASK);
    big.truncate(1024);
    expect_close(addr, &log, &[big], 1009);
    // Fragments adding up past the limit.
    let mut second = ws_frame(true, 0, &vec![0u8; 100 * 1024], MASK);
    second.truncate(1024);
    expect_close(
        addr,
        &log,
        &[ws_frame(false, 2, &vec![0u8; 200 * 1024], MASK), second],
        1009,
    );
    // A new message inside a fragmented one.
    expect_close(
        addr,
        &log,
        &[
            ws_frame(false, 1, b"a", MASK),
            ws_frame(true, 1, b"b", MASK),
        ],
        1002,
    );
    node.shutdown();
}

#[test]
fn a_close_in_the_middle_of_a_fragmented_message_is_a_normal_close() {
    let (node, _log) = node();
    let addr = echo_server(&node, WsConf::default());
    let mut s = ws_connect(addr, "/");
    send(&mut s, &ws_frame(false, 1, b"half a mess", MASK));
    send(&mut s, &ws_frame(true, 8, &1001u16.to_be_bytes(), MASK));
    let (_, op, p) = ws_read(&mut s).unwrap();
    assert_eq!((op, close_code(&p)), (8, Some(1001)));
    assert!(closed_by_server(&mut s));
    node.shutdown();
}

#[test]
fn unmasked_frames_are_accepted_when_configured() {
    let (node, _log) = node();
    let conf = WsConf {
        accept_unmasked: true,
        ..WsConf::default()
    };
    let addr = echo_server(&node, conf);
    let mut s = ws_connect(addr, "/");
    send(&mut s, &ws_frame(true, 1, b"skynet client", None));
    assert_eq!(
        ws_read(&mut s).unwrap(),
        (true, 1, b"skynet client".to_vec())
    );
    node.shutdown();
}

#[test]
fn bad_handshakes_get_their_statuses() {
    let (node, log) = node();
    let addr = echo_server(&node, WsConf::default());
    let cases: [(&[u8], u16); 4] = [
        (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 426),
        (
            b"POST / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
            400,
        ),
        (
            b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Key: short\r\nSec-WebSocket-Version: 13\r\n\r\n",
            400,
        ),
        (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505),
    ];
    for (input, status) in cases {
        let mut s = connect(addr);
        send(&mut s, input);
        assert_eq!(read_response(&mut s, false).unwrap().status, status);
        assert!(closed_by_server(&mut s));
        assert!(log
            .wait_for(&["handshake refused", &format!("{status} (")], LONG)
            .is_some());
    }
    node.shutdown();
}

/// Runs the client side: connects, talks, reports what it saw.
struct Client(String);

impl Service for Client {
    async fn dispatch(&mut self, ctx: &mut Context, msg: Message) {
        if msg.take::<&str>().is_err() {
            return;
        }
        let mut seen = Vec::new();
        let conf = ClientConf {
            protocols: vec!["chat".into()],
            ..ClientConf::default()
        };
        match ws::connect(ctx, &self.0, &conf).await {
            Ok(mut sock) => {
                seen.push(format!("protocol {:?}", sock.protocol));
                sock.send_text("hi");
                sock.send_binary(&[1, 2]);
                sock.ping(b"p");
                for _ in 0..3 {
                    seen.push(format!("{:?}", sock.recv().await));
                }
                sock.close(1000, "done").await;
            }
            Err(e) => seen.push(format!("{e}")),
        }
        let _ = ctx.ret(seen);
    }
}

#[test]
fn the_client_talks_to_a_route_upgrade() {
    let (node, _log) = node();
    let router = Router::new().get("/ws", |_c: Context, req: Request| async move {
        let conf = WsConf {
            protocols: vec!["superchat".into(), "chat".into()],
            ..WsConf::default()
        };
        ws::upgrade(&req, conf, echo)
    });
    let addr = serve(&node, ServerConf::default(), router);
    let client = node.launch(Client(format!("ws://{addr}/ws"))).unwrap();
    let seen: Vec<String> = node.call(client, "go").unwrap().into_value().unwrap();
    assert_eq!(
        seen,
        [
            "protocol Some(\"chat\")",
            "Ok(Text(b\"hi\"))",
            "Ok(Binary(b\"\\x01\\x02\"))",
            "Ok(Pong(b\"p\"))",
        ]
    );
    // A plain GET on the route is refused with 426.
    let mut s = connect(addr);
    send(&mut s, b"GET /ws HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(read_response(&mut s, false).unwrap().status, 426);
    // A client against a server that is not there fails cleanly.
    let client = node.launch(Client("ws://127.0.0.1:1/".into())).unwrap();
    let seen: Vec<String> = node.call(client, "go").unwrap().into_value().unwrap();
    assert!(seen[0].contains("connection lost"), "{seen:?}");
    let _ = WsError::Io(String::new());
    node.shutdown();
}

#[test]
fn a_peer_that_does_not_read_is_not_read_either() {
    const MESSAGES: usize = 200;
    let (node, log) = node();
    let addr = echo_server(&node, WsConf::default());
    let mut s = ws_connect(addr, "/");
    let mut writer = s.try_clone().unwrap();
    // Sends everything without reading (on its own thread: TCP holds it back).
    let sender = std::thread::spawn(move || {
        for i in 0..MESSAGES {
            let payload = vec![i as u8; 200 * 1024];
            std::io::Write::write_all(&mut writer, &ws_frame(true, 2, &payload, MASK)).unwrap();
        }
    });
    assert!(log
        .wait_for(&["unsent; not reading it until it drains"], LONG)
        .is_some());
    for i in 0..MESSAGES {
        let (_, op, p) = ws_read(&mut s).unwrap();
        assert_eq!((op, p.len(), p[0]), (2, 200 * 1024, i as u8));
    }
    sender.join().unwrap();
    node.shutdown();
}
