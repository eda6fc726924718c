//! Closing, in the ways the tcp.rs tests do not reach: CLOSE exactly once when the peer's
//! EOF races the owner's close (raw driver), flushing on close after the peer half-closed,
//! flushing when the owning service exits, and ownership handed to another service.

mod util;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use skynet_net::socket::{self, ReadError};
use skynet_net::{Driver, SocketEvent, SocketId};
use skynet_runtime::{Addr, Context, Message, Node, Ptype, Service};
use util::*;

const EIGHT_MIB: usize = 8 << 20;

fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 253) as u8).collect()
}

fn read_to_end_checked(s: &mut std::net::TcpStream, n: usize) {
    let mut got = Vec::with_capacity(n);
    s.read_to_end(&mut got).expect("read to EOF");
    assert_eq!(got.len(), n, "bytes delivered");
    assert!(
        got.iter().enumerate().all(|(i, b)| *b == (i % 253) as u8),
        "bytes out of order"
    );
}

/// Counts the terminal events (CLOSE or ERROR) of every socket it accepts, driving them with
/// the raw driver: it closes each socket as soon as its first bytes arrive, while the peer
/// sends EOF right after those bytes, so the two closes race.
struct RawCloser {
    addr: crossbeam_channel::Sender<SocketAddr>,
    ends: HashMap<SocketId, usize>,
}

impl Service for RawCloser {
    async fn init(&mut self, ctx: &mut Context) -> Result<(), skynet_runtime::Error> {
        let d = Driver::of(ctx);
        let (listener, addr) = d.listen("127.0.0.1", 0, ctx.self_addr())?;
        d.start(listener, ctx.self_addr());
        let _ = self.addr.send(addr);
        Ok(())
    }

    async fn dispatch(&mut self, ctx: &mut Context, msg: Message) {
        let d = Driver::of(ctx);
        if msg.ptype == Ptype::SOCKET {
            match msg.downcast_ref::<SocketEvent>() {
                Some(SocketEvent::Accept { id, .. }) => {
                    d.start(*id, ctx.self_addr());
                }
                Some(SocketEvent::Data { id, .. }) => {
                    d.close(*id);
                }
                Some(SocketEvent::Close { id }) | Some(SocketEvent::Error { id, .. }) => {
                    *self.ends.entry(*id).or_default() += 1;
                }
                _ => {}
            }
            return;
        }
        match msg.take::<&'static str>() {
            Ok("sync") => {
                // A round trip through the socket thread: every event it reported before
                // is in our mailbox ahead of the next call.
                let streams = d.netstat().iter().filter(|i| i.kind != "listen").count();
                let _ = ctx.ret(streams);
            }
            Ok("ends") => {
                let _ = ctx.ret(self.ends.clone());
            }
            _ => {}
        }
    }
}

/// Guarantee: CLOSE is reported exactly once per socket (event.rs, lib.rs), even when the
/// peer's EOF and the owner's `close` race; afterwards the socket thread holds no stream.
#[test]
fn close_reported_once_when_peer_eof_races_owner_close() {
    const N: usize = 200;
    let node = util::builder().threads(2).build().unwrap();
    let (tx, rx) = crossbeam_channel::bounded(1);
    let svc = node
        .launch(RawCloser {
            addr: tx,
            ends: HashMap::new(),
        })
        .unwrap();
    let addr = rx.recv_timeout(LONG).unwrap();
    for i in 0..N {
        let mut s = client(addr);
        s.write_all(b"x").unwrap();
        if i % 2 == 0 {
            drop(s);
        } else {
            s.shutdown(Shutdown::Write).unwrap();
            let mut rest = Vec::new();
            let _ = s.read_to_end(&mut rest);
        }
    }
    let ends = |node: &Node| {
        node.call(svc, "ends")
            .unwrap()
            .take::<HashMap<SocketId, usize>>()
            .unwrap()
    };
    let deadline = Instant::now() + LONG;
    while ends(&node).len() < N && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    let streams = node.call(svc, "sync").unwrap().take::<usize>().unwrap();
    let ends = ends(&node);
    assert_eq!(ends.len(), N, "sockets that ended");
    let twice: Vec<_> = ends.iter().filter(|(_, n)| **n != 1).collect();
    assert!(twice.is_empty(), "ended more than once: {twice:?}");
    assert_eq!(streams, 0, "stream sockets left on the socket thread");
    node.shutdown();
}

/// Guarantee: after the peer half-closes (its EOF is CLOSE), `close` still flushes
/// everything queued: 8 MiB reach the peer, in order, before EOF (DESIGN §6).
#[test]
fn close_after_peer_eof_still_flushes_8_mib() {
    let closes = Arc::new(AtomicUsize::new(0));
    let c2 = closes.clone();
    let (done_tx, done_rx) = crossbeam_channel::bounded(1);
    let (node, _, addr) = serve(handler(move |c: Context, id| {
        let (closes, done) = (c2.clone(), done_tx.clone());
        async move {
            socket::onclose(&c, id, move |_, _| {
                closes.fetch_add(1, Ordering::SeqCst);
            });
            // Wait for the peer's EOF first.
            let r = socket::read_all(&c, id).await;
            socket::write(&c, id, pattern(EIGHT_MIB));
            socket::close(&c, id).await;
            let _ = done.send(r.map(|b| b.len()));
        }
    }));
    let mut s = client(addr);
    s.write_all(b"question").unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    read_to_end_checked(&mut s, EIGHT_MIB);
    assert_eq!(done_rx.recv_timeout(LONG).unwrap(), Ok(8));
    assert_eq!(closes.load(Ordering::SeqCst), 1, "close callbacks");
    node.shutdown();
}

/// Guarantee: when a service ends, the sockets it owns are closed after flushing what was
/// queued (lib.rs, driver.rs): 8 MiB written just before `exit` all reach the peer.
#[test]
fn exiting_service_flushes_before_closing() {
    let (node, _, addr) = serve(handler(|c: Context, id| async move {
        let _ = socket::read(&c, id, 1).await;
        socket::write(&c, id, pattern(EIGHT_MIB));
        c.exit();
    }));
    let mut s = client(addr);
    // Nothing is read until the service has queued everything and exited.
    s.write_all(b"!").unwrap();
    read_to_end_checked(&mut s, EIGHT_MIB);
    node.shutdown();
}

/// Takes sockets handed over by another service and echoes on them.
struct Taker;
impl Service for Taker {
    async fn dispatch(&mut self, ctx: &mut Context, msg: Message) {
        match msg.take::<SocketId>() {
            Ok(id) => {
                let c = ctx.clone();
                ctx.fork(async move {
                    socket::start(&c, id);
                    while let Ok(b) = socket::read_some(&c, id).await {
                        socket::write(&c, id, b);
                    }
                    socket::close(&c, id).await;
                });
            }
            Err(m) => {
                if m.downcast_ref::<&str>() == Some(&"exit") {
                    ctx.exit();
                }
            }
        }
    }
}

/// Listens and hands every accepted socket to `to` without reading it.
struct Giver {
    to: Addr,
    addr: crossbeam_channel::Sender<SocketAddr>,
}
impl Service for Giver {
    async fn init(&mut self, ctx: &mut Context) -> Result<(), skynet_runtime::Error> {
        let (listener, addr) = socket::listen(ctx, "127.0.0.1", 0)?;
        let to = self.to;
        socket::start_listener(ctx, listener, move |ctx, id, _| {
            let _ = ctx.send(to, id);
        });
        let _ = self.addr.send(addr);
        Ok(())
    }
    async fn dispatch(&mut self, _ctx: &mut Context, _msg: Message) {}
}

/// Guarantee: an accepted socket can be handed to another service, whose `start` makes it
/// the owner (driver.rs): it reads and writes, and when it exits the socket closes although
/// the listening service lives on.
#[test]
fn handed_over_socket_belongs_to_its_new_owner() {
    let node = util::builder().threads(2).build().unwrap();
    let taker = node.launch(Taker).unwrap();
    let (tx, rx) = crossbeam_channel::bounded(1);
    node.launch(Giver {
        to: taker,
        addr: tx,
    })
    .unwrap();
    let addr = rx.recv_timeout(LONG).unwrap();
    let mut s = client(addr);
    for i in 0..20u32 {
        s.write_all(&i.to_be_bytes()).unwrap();
        let mut b = [0u8; 4];
        s.read_exact(&mut b).unwrap();
        assert_eq!(b, i.to_be_bytes());
    }
    node.send(taker, "exit").unwrap();
    let mut buf = [0u8; 8];
    assert!(
        matches!(s.read(&mut buf), Ok(0) | Err(_)),
        "EOF after the owner exits"
    );
    node.shutdown();
}

/// Guarantee: after `close` the id is no longer a socket of the service: reads fail with
/// NotOpen instead of hanging, and writing or closing again is harmless.
#[test]
fn closed_socket_is_forgotten() {
    let (tx, rx) = crossbeam_channel::bounded(1);
    let (node, _, addr) = serve(handler(move |c: Context, id| {
        let tx = tx.clone();
        async move {
            let first = socket::read(&c, id, 2).await;
            socket::close(&c, id).await;
            let after = socket::read(&c, id, 1).await;
            socket::write(&c, id, &b"late"[..]);
            socket::close(&c, id).await;
            let _ = tx.send((first, after, socket::invalid(&c, id)));
        }
    }));
    let mut s = client(addr);
    s.write_all(b"hi").unwrap();
    let (first, after, invalid) = rx.recv_timeout(LONG).unwrap();
    assert_eq!(first.as_deref(), Ok(&b"hi"[..]));
    assert!(matches!(after, Err(ReadError::NotOpen(_))), "{after:?}");
    assert!(invalid);
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest);
    assert!(rest.is_empty(), "nothing written after close: {rest:?}");
    node.shutdown();
}

/// With the raw driver: connects to `port`, sends at once (while still connecting), then
/// either closes at once or, after the peer's EOF, starts the socket again; reports every
/// event of the socket.
struct RawConnector {
    port: u16,
    restart_after_eof: bool,
    id: SocketId,
    events: Vec<SocketEvent>,
}
impl Service for RawConnector {
    async fn init(&mut self, ctx: &mut Context) -> Result<(), skynet_runtime::Error> {
        let d = Driver::of(ctx);
        self.id = d.connect("127.0.0.1", self.port, ctx.self_addr())?;
        d.send(self.id, bytes::Bytes::from_static(b"sent while connecting"));
        if !self.restart_after_eof {
            d.close(self.id);
        }
        Ok(())
    }
    async fn dispatch(&mut self, ctx: &mut Context, msg: Message) {
        if msg.ptype == Ptype::SOCKET {
            if let Some(ev) = msg.downcast_ref::<SocketEvent>() {
                if self.restart_after_eof && matches!(ev, SocketEvent::Close { .. }) {
                    // A `start` (resume) racing the peer's EOF, made deterministic.
                    Driver::of(ctx).start(self.id, ctx.self_addr());
                }
                self.events.push(ev.clone());
            }
            return;
        }
        if msg.downcast_ref::<&str>() == Some(&"sync") {
            let _ = Driver::of(ctx).netstat();
            let _ = ctx.ret(());
        } else if msg.downcast_ref::<&str>() == Some(&"events") {
            let _ = ctx.ret(self.events.clone());
        }
    }
}

fn raw_connector(restart_after_eof: bool) -> (Node, Addr, std::net::TcpStream) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let node = util::builder().threads(2).build().unwrap();
    let svc = node
        .launch(RawConnector {
            port,
            restart_after_eof,
            id: 0,
            events: Vec::new(),
        })
        .unwrap();
    let (s, _) = listener.accept().unwrap();
    s.set_read_timeout(Some(LONG)).unwrap();
    (node, svc, s)
}

fn events_when(node: &Node, svc: Addr, done: impl Fn(&[SocketEvent]) -> bool) -> Vec<SocketEvent> {
    let get = || {
        node.call(svc, "events")
            .unwrap()
            .take::<Vec<SocketEvent>>()
            .unwrap()
    };
    let deadline = Instant::now() + LONG;
    while !done(&get()) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    node.call(svc, "sync").unwrap();
    get()
}

/// Guarantee: `close` flushes queued writes (driver.rs: "Closes after every queued byte is
/// written") also for bytes queued while the socket was still connecting; CLOSE once.
#[test]
fn close_while_connecting_flushes_what_was_sent() {
    let (node, svc, mut s) = raw_connector(false);
    let mut got = Vec::new();
    s.read_to_end(&mut got).expect("EOF");
    assert_eq!(got, b"sent while connecting");
    let evs = events_when(&node, svc, |e| !e.is_empty());
    let ends = evs
        .iter()
        .filter(|e| matches!(e, SocketEvent::Close { .. } | SocketEvent::Error { .. }))
        .count();
    assert_eq!(ends, 1, "{evs:?}");
    node.shutdown();
}

/// Guarantee: CLOSE (or ERROR) is reported once per socket: a `start` that arrives after the
/// peer's EOF (a resume racing it) reports nothing more.
#[test]
fn start_after_peer_eof_reports_no_second_end() {
    let (node, svc, mut s) = raw_connector(true);
    let mut b = vec![0u8; 21];
    s.read_exact(&mut b).unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    let evs = events_when(&node, svc, |e| {
        e.iter().any(|e| matches!(e, SocketEvent::Close { .. }))
    });
    // One more round trip after the restart was requested.
    node.call(svc, "sync").unwrap();
    let evs2 = node
        .call(svc, "events")
        .unwrap()
        .take::<Vec<SocketEvent>>()
        .unwrap();
    let ends = evs2
        .iter()
        .filter(|e| matches!(e, SocketEvent::Close { .. } | SocketEvent::Error { .. }))
        .count();
    assert_eq!(ends, 1, "{evs:?} then {evs2:?}");
    drop(s);
    node.shutdown();
}
