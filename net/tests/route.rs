//! Routed sockets: frames cut on the socket thread go straight to a service; the owner keeps
//! the socket's lifecycle events.

mod util;

use std::io::{Read, Write};
use std::net::SocketAddr;

use bytes::Bytes;
use crossbeam_channel::{Receiver, Sender};
use skynet_net::{Driver, Framer, Route, SocketEvent, SocketId};
use skynet_runtime::{Addr, Message, Node, Payload, Ptype, RawContext, RawService};
use util::LONG;

/// What a recorder saw: a socket event, or a frame (source, session, ptype, bytes).
#[derive(Debug, PartialEq)]
enum Seen {
    Event(SocketEvent),
    Frame(Addr, i32, Ptype, Bytes),
}

/// Reports every message it receives.
struct Recorder(Sender<Seen>);

impl RawService for Recorder {
    fn handle(&mut self, _ctx: &mut RawContext<'_>, msg: Message) {
        let seen = match msg.payload {
            Payload::Bytes(b) => Seen::Frame(msg.source, msg.session, msg.ptype, b),
            _ => match msg.take::<SocketEvent>() {
                Ok(ev) => Seen::Event(ev),
                Err(_) => return,
            },
        };
        let _ = self.0.send(seen);
    }
}

/// Lines ending in '\n', at most `max` bytes; a longer one is an error.
struct Lines {
    line: Vec<u8>,
    max: usize,
}

impl Lines {
    fn new(max: usize) -> Lines {
        Lines {
            line: Vec::new(),
            max,
        }
    }
}

impl Framer for Lines {
    fn feed(&mut self, data: Bytes, out: &mut Vec<Bytes>) -> Result<(), String> {
        for &b in data.iter() {
            if b == b'\n' {
                out.push(Bytes::from(std::mem::take(&mut self.line)));
            } else if self.line.len() == self.max {
                return Err("line too long".into());
            } else {
                self.line.push(b);
            }
        }
        Ok(())
    }
    fn remainder(&mut self) -> Bytes {
        Bytes::from(std::mem::take(&mut self.line))
    }
}

struct Fixture {
    node: Node,
    driver: Driver,
    owner: Addr,
    owner_rx: Receiver<Seen>,
    sink: Addr,
    sink_rx: Receiver<Seen>,
    id: SocketId,
    client: std::net::TcpStream,
}

fn recorder(node: &Node) -> (Addr, Receiver<Seen>) {
    let (tx, rx) = crossbeam_channel::unbounded();
    let addr = node
        .launch_raw(Box::new(Recorder(tx)), "recorder")
        .expect("launch");
    (addr, rx)
}

/// A node, an owner and a sink, and one accepted (not started) connection.
fn fixture() -> Fixture {
    // Lines logged (a backed-up destination's overload warning) are kept, not printed.
    let node = Node::builder()
        .threads(2)
        .logger(skynet_runtime::LogCapture::default().logger())
        .build()
        .expect("node");
    let driver = Driver::new(&node.handle());
    let (owner, owner_rx) = recorder(&node);
    let (sink, sink_rx) = recorder(&node);
    let (listener, addr): (SocketId, SocketAddr) =
        driver.listen("127.0.0.1", 0, owner).expect("listen");
    driver.start(listener, owner);
    let client = util::client(addr);
    let id = match owner_rx.recv_timeout(LONG).expect("accept") {
        Seen::Event(SocketEvent::Accept { id, .. }) => id,
        other => panic!("{other:?}"),
    };
    Fixture {
        node,
        driver,
        owner,
        owner_rx,
        sink,
        sink_rx,
        id,
        client,
    }
}

fn route(dest: Addr) -> Route {
    Route {
        dest,
        source: Addr::SYSTEM,
        ptype: Ptype::CLIENT,
        framer: Box::new(Lines::new(8)),
    }
}

fn frame(rx: &Receiver<Seen>) -> Bytes {
    match rx.recv_timeout(LONG).expect("a frame") {
        Seen::Frame(_, _, _, b) => b,
        other => panic!("{other:?}"),
    }
}

/// Frames go to the route's destination, in order, as CLIENT messages with session = the
/// socket id; the owner hears CLOSE and no DATA.
#[test]
fn frames_reach_the_destination_and_close_reaches_the_owner() {
    let mut f = fixture();
    assert!(f.driver.start_routed(f.id, f.owner, route(f.sink)));
    f.client.write_all(b"one\ntw").unwrap();
    f.client.write_all(b"o\n\nthree\n").unwrap();
    match f.sink_rx.recv_timeout(LONG).expect("frame") {
        Seen::Frame(source, session, ptype, b) => {
            assert_eq!(
                (source, session, ptype),
                (Addr::SYSTEM, f.id, Ptype::CLIENT)
            );
            assert_eq!(&b[..], b"one");
        }
        other => panic!("{other:?}"),
    }
    for want in [&b"two"[..], b"", b"three"] {
        assert_eq!(&frame(&f.sink_rx)[..], want);
    }
    drop(f.client);
    assert_eq!(
        f.owner_rx.recv_timeout(LONG).expect("close"),
        Seen::Event(SocketEvent::Close { id: f.id })
    );
    assert!(f.sink_rx.try_recv().is_err());
    f.node.shutdown();
}

/// A framer's error closes that socket: the owner hears ERROR with the reason, the peer
/// sees the connection end, and the frames before it were delivered.
#[test]
fn a_framing_error_closes_the_socket_with_the_reason() {
    let mut f = fixture();
    f.driver.start_routed(f.id, f.owner, route(f.sink));
    f.client.write_all(b"ok\nmuch-too-long\n").unwrap();
    assert_eq!(&frame(&f.sink_rx)[..], b"ok");
    match f.owner_rx.recv_timeout(LONG).expect("error") {
        Seen::Event(SocketEvent::Error { id, message }) => {
            assert_eq!(id, f.id);
            assert!(message.contains("line too long"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    let mut rest = Vec::new();
    // The socket was dropped: EOF or a reset, never a hang.
    let _ = f.client.read_to_end(&mut rest);
    f.node.shutdown();
}

/// Removing the route hands the unfinished frame to the owner as DATA, ahead of later
/// reads; a second route to another service keeps the unfinished frame.
#[test]
fn unroute_and_reroute_lose_no_bytes() {
    let mut f = fixture();
    let (other, other_rx) = recorder(&f.node);
    f.driver.start_routed(f.id, f.owner, route(f.sink));
    f.client.write_all(b"a\nhal").unwrap();
    assert_eq!(&frame(&f.sink_rx)[..], b"a");
    f.driver.start_routed(f.id, f.owner, route(other));
    // Requests are handled in order: once netstat answers, the new route is in place.
    f.driver.netstat();
    f.client.write_all(b"f\nnext").unwrap();
    assert_eq!(&frame(&other_rx)[..], b"half");
    f.driver.unroute(f.id, f.owner);
    let mut got = Vec::new();
    f.client.write_all(b" more").unwrap();
    while got.len() < b"next more".len() {
        match f.owner_rx.recv_timeout(LONG).expect("data") {
            Seen::Event(SocketEvent::Data { data, .. }) => got.extend_from_slice(&data),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(&got[..], b"next more");
    assert!(f.sink_rx.try_recv().is_err());
    f.node.shutdown();
}

/// Takes a while over each message, and checks their order.
struct Slow {
    next: u32,
    out: crossbeam_channel::Sender<bool>,
}

impl RawService for Slow {
    fn handle(&mut self, _ctx: &mut RawContext<'_>, msg: Message) {
        if let Payload::Bytes(b) = msg.payload {
            // Stands for an agent's work on each packet.
            std::thread::sleep(std::time::Duration::from_micros(100));
            let n: Option<u32> = std::str::from_utf8(&b).ok().and_then(|t| t.parse().ok());
            let in_order = n == Some(self.next);
            self.next += 1;
            let _ = self.out.send(in_order);
        }
    }
}

/// Sends `lines` lines of `line` bytes to a slow destination; returns the most messages
/// its mailbox held, having checked every frame arrived in order.
fn backed_up(lines: u32, line: usize) -> usize {
    let f = fixture();
    let (tx, rx) = crossbeam_channel::unbounded();
    let slow = f
        .node
        .launch_raw(Box::new(Slow { next: 0, out: tx }), "slow")
        .expect("launch");
    let mut r = route(slow);
    r.framer = Box::new(Lines::new(line));
    f.driver.start_routed(f.id, f.owner, r);
    let mut stream = Vec::with_capacity(lines as usize * line);
    for i in 0..lines {
        stream.extend_from_slice(format!("{i:0w$}\n", w = line - 1).as_bytes());
    }
    let mut client = f.client.try_clone().unwrap();
    let writer = std::thread::spawn(move || client.write_all(&stream));
    let node = f.node.handle();
    let (mut got, mut most) = (0u32, 0usize);
    let deadline = std::time::Instant::now() + LONG;
    while got < lines {
        most = most.max(node.queue_len(slow).unwrap_or(0));
        while let Ok(in_order) = rx.try_recv() {
            assert!(in_order, "frame {got} out of order");
            got += 1;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "only {got} frames arrived"
        );
        std::thread::yield_now();
    }
    writer.join().unwrap().unwrap();
    f.node.shutdown();
    most
}

/// What one read of a routed socket may add past the backlog limits: about 256 frames, in
/// a read of 4 KiB to 1 MiB.
fn one_read(line: usize) -> usize {
    (line * 256).clamp(4 << 10, 1 << 20) / line + 1
}

/// A client sending faster than its destination works is held back: the destination's
/// mailbox stays near ROUTE_BACKLOG (plus the frames of one read) instead of holding the
/// whole stream, and every frame still arrives, in order.
#[test]
fn a_backed_up_destination_holds_its_socket_back() {
    const LINE: usize = 60;
    let most = backed_up(10_000, LINE);
    let bound = skynet_net::ROUTE_BACKLOG + one_read(LINE);
    assert!(most <= bound, "{most} messages queued (bound {bound})");
}

/// Big frames are held back by bytes: the destination's mailbox holds about
/// ROUTE_BACKLOG_BYTES of them (plus one read's), far fewer than ROUTE_BACKLOG messages.
#[test]
fn big_frames_are_held_back_by_their_bytes() {
    const LINE: usize = 30_000;
    let most = backed_up(400, LINE);
    // The route's average frame size starts at 0 and reaches LINE within a few frames.
    let bound = (skynet_net::ROUTE_BACKLOG_BYTES / LINE + one_read(LINE)) * 5 / 4 + 2;
    assert!(bound < skynet_net::ROUTE_BACKLOG / 4);
    assert!(most <= bound, "{most} messages queued (bound {bound})");
}

/// Holds every line back until its route is redirected, then releases them.
struct HoldUntilRedirected {
    lines: Lines,
    held: Option<Vec<Bytes>>,
}

impl Framer for HoldUntilRedirected {
    fn feed(&mut self, data: Bytes, out: &mut Vec<Bytes>) -> Result<(), String> {
        match &mut self.held {
            Some(held) => self.lines.feed(data, held),
            None => self.lines.feed(data, out),
        }
    }
    fn remainder(&mut self) -> Bytes {
        self.lines.remainder()
    }
    fn redirected(&mut self, out: &mut Vec<Bytes>) {
        out.extend(self.held.take().unwrap_or_default());
    }
}

/// Frames a framer releases when its route is redirected reach the new destination
/// first, ahead of everything read later.
#[test]
fn frames_released_on_redirect_go_first_to_the_new_destination() {
    let mut f = fixture();
    let r = Route {
        framer: Box::new(HoldUntilRedirected {
            lines: Lines::new(8),
            held: Some(Vec::new()),
        }),
        ..route(f.sink)
    };
    f.driver.start_routed(f.id, f.owner, r);
    f.client.write_all(b"one\ntwo\n").unwrap();
    // Wait until the socket thread has read both lines (and held their frames).
    let (other, other_rx) = recorder(&f.node);
    let deadline = std::time::Instant::now() + LONG;
    while !f
        .driver
        .netstat()
        .iter()
        .any(|s| s.id == f.id && s.bytes_in >= 8)
    {
        assert!(std::time::Instant::now() < deadline, "never read");
        std::thread::yield_now();
    }
    f.driver.start_routed(f.id, f.owner, route(other));
    f.client.write_all(b"three\n").unwrap();
    for want in [&b"one"[..], b"two", b"three"] {
        assert_eq!(&frame(&other_rx)[..], want);
    }
    assert!(f.sink_rx.try_recv().is_err());
    f.node.shutdown();
}
