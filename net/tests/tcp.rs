//! The socket API over real TCP connections on 127.0.0.1 (DESIGN §6). Each test names the
//! guarantee it proves.

mod util;

use std::io::{Read, Write};
use std::net::Shutdown;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use skynet_net::socket::{self, ReadError, BUFFER_LIMIT, PAUSE_LIMIT};
use skynet_net::Driver;
use skynet_runtime::{Context, Message, Service};
use util::*;

/// Guarantee: accepted connections are read and written; bytes come back in order.
#[test]
fn echo() {
    let (node, _, addr) = serve(handler(|c: Context, id| async move {
        while let Ok(b) = socket::read_some(&c, id).await {
            socket::write(&c, id, b);
        }
        socket::close(&c, id).await;
    }));
    let mut s = client(addr);
    for i in 0..100u32 {
        let msg = format!("hello {i}\n");
        s.write_all(msg.as_bytes()).unwrap();
        let mut back = vec![0u8; msg.len()];
        s.read_exact(&mut back).unwrap();
        assert_eq!(back, msg.as_bytes());
    }
    node.shutdown();
}

/// Guarantee: `read(n)` returns exactly n bytes however the peer split its writes.
#[test]
fn read_exact_sizes_across_small_writes() {
    let (node, _, addr) = serve(handler(|c: Context, id| async move {
        for n in [1usize, 7, 100, 4096, 70_000] {
            match socket::read(&c, id, n).await {
                Ok(b) => {
                    assert_eq!(b.len(), n);
                    socket::write(
                        &c,
                        id,
                        format!("{}:{}\n", n, b.iter().map(|x| *x as u64).sum::<u64>()),
                    );
                }
                Err(e) => panic!("read {n}: {e}"),
            }
        }
    }));
    let mut s = client(addr);
    let total: usize = 1 + 7 + 100 + 4096 + 70_000;
    let data: Vec<u8> = (0..total).map(|i| (i % 251) as u8).collect();
    for chunk in data.chunks(13) {
        s.write_all(chunk).unwrap();
    }
    let mut expect = String::new();
    let mut pos = 0;
    for n in [1usize, 7, 100, 4096, 70_000] {
        let sum: u64 = data[pos..pos + n].iter().map(|x| *x as u64).sum();
        expect.push_str(&format!("{n}:{sum}\n"));
        pos += n;
    }
    let mut got = vec![0u8; expect.len()];
    s.read_exact(&mut got).unwrap();
    assert_eq!(String::from_utf8(got).unwrap(), expect);
    node.shutdown();
}

/// Guarantee: `read_line` finds separators split across reads, strips them, and refuses a
/// line longer than its maximum instead of buffering without bound.
#[test]
fn read_line_with_split_separators_and_a_maximum() {
    let (node, _, addr) = serve(handler(|c: Context, id| async move {
        loop {
            match socket::read_line(&c, id, b"\r\n", Some(1000)).await {
                Ok(line) => {
                    let mut out = b"<".to_vec();
                    out.extend_from_slice(&line);
                    out.extend_from_slice(b">");
                    socket::write(&c, id, out);
                }
                Err(ReadError::LineTooLong(_)) => {
                    socket::write(&c, id, Bytes::from_static(b"TOO LONG"));
                    socket::close(&c, id).await;
                    return;
                }
                Err(_) => return,
            }
        }
    }));
    let mut s = client(addr);
    for part in [&b"ab"[..], b"c\r", b"\nde", b"f\r\n"] {
        s.write_all(part).unwrap();
    }
    let mut got = [0u8; 10];
    s.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"<abc><def>");
    s.write_all(&vec![b'x'; 5000]).unwrap();
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).unwrap();
    assert_eq!(rest, b"TOO LONG");
    node.shutdown();
}

const EIGHT_MIB: usize = 8 << 20;

/// Guarantee: `close` with 8 MiB still queued delivers all of it before the socket closes.
#[test]
fn close_flushes_everything_queued() {
    let (node, _, addr) = serve(handler(|c: Context, id| async move {
        let data: Vec<u8> = (0..EIGHT_MIB).map(|i| (i % 253) as u8).collect();
        socket::write(&c, id, data);
        socket::close(&c, id).await;
    }));
    let mut s = client(addr);
    let mut got = Vec::new();
    s.read_to_end(&mut got).unwrap();
    assert_eq!(got.len(), EIGHT_MIB);
    assert!(got.iter().enumerate().all(|(i, b)| *b == (i % 253) as u8));
    node.shutdown();
}

/// Guarantee: `shutdown` closes at once and drops what was queued.
#[test]
fn shutdown_drops_what_is_queued() {
    let (tx, rx) = crossbeam_channel::bounded(1);
    let (node, _, addr) = serve(handler(move |c: Context, id| {
        let tx = tx.clone();
        async move {
            // CLOSE reaches the owner once the socket thread has handled the shutdown. The
            // client reads only then: reading earlier lets the socket thread drain the
            // whole queue into it before it gets to the shutdown request (on a machine
            // whose receive buffers grow to 32 MiB).
            socket::onclose(&c, id, move |_, _| {
                let _ = tx.send(());
            });
            socket::write(&c, id, vec![1u8; EIGHT_MIB * 4]);
            socket::shutdown(&c, id);
        }
    }));
    let mut s = client(addr);
    rx.recv_timeout(LONG).unwrap();
    let mut got = 0usize;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got += n,
        }
    }
    assert!(
        got < EIGHT_MIB * 4,
        "shutdown still delivered everything ({got} bytes)"
    );
    node.shutdown();
}

/// Guarantee: WARNING fires when unsent bytes pass 1 MiB, and 0 when the peer catches up.
#[test]
fn warning_past_one_mib_and_zero_when_drained() {
    let (tx, rx) = crossbeam_channel::unbounded();
    let (node, _, addr) = serve(handler(move |c: Context, id| {
        let tx = tx.clone();
        async move {
            socket::warning(&c, id, move |_c, _id, kb| {
                let _ = tx.send(kb);
            });
            // The kernel takes a few MiB directly; the rest queues and passes 1 MiB.
            socket::write(&c, id, vec![0u8; 16 << 20]);
            let _ = socket::read_some(&c, id).await;
        }
    }));
    let mut s = client(addr);
    let first = rx.recv_timeout(LONG).expect("a warning");
    assert!(first >= 1024, "warned at {first} KiB");
    let mut buf = vec![0u8; 1 << 16];
    let mut got = 0;
    while got < 16 << 20 {
        got += s.read(&mut buf).unwrap();
    }
    loop {
        let kb = rx.recv_timeout(LONG).expect("the drained warning");
        if kb == 0 {
            break;
        }
    }
    node.shutdown();
}

/// Guarantee (backpressure): a peer writing at full speed into a service that reads slowly
/// never makes the service buffer much more than BUFFER_LIMIT, and every byte arrives in
/// order.
#[test]
fn slow_reader_stays_bounded_and_loses_nothing() {
    const TOTAL: usize = 24 << 20;
    let (tx, rx) = crossbeam_channel::bounded(1);
    let (node, _, addr) = serve(handler(move |c: Context, id| {
        let tx = tx.clone();
        async move {
            let mut max_buffered = 0usize;
            let mut sum = 0u64;
            let mut got = 0usize;
            let mut expect_next = 0usize;
            let mut ok = true;
            while got < TOTAL {
                max_buffered = max_buffered.max(socket::buffered(&c, id));
                match socket::read(&c, id, 4096.min(TOTAL - got)).await {
                    Ok(b) => {
                        for x in b.iter() {
                            ok &= *x == (expect_next % 251) as u8;
                            expect_next += 1;
                            sum += *x as u64;
                        }
                        got += b.len();
                    }
                    Err(_) => break,
                }
                if got.is_multiple_of(256 << 10) {
                    c.sleep(Duration::from_millis(1)).await;
                }
            }
            let _ = tx.send((got, sum, ok, max_buffered));
        }
    }));
    let mut s = client(addr);
    let data: Vec<u8> = (0..TOTAL).map(|i| (i % 251) as u8).collect();
    let expect_sum: u64 = data.iter().map(|x| *x as u64).sum();
    s.write_all(&data).unwrap();
    let (got, sum, ok, max_buffered) = rx.recv_timeout(Duration::from_secs(120)).unwrap();
    assert_eq!(got, TOTAL);
    assert_eq!(sum, expect_sum);
    assert!(ok, "bytes out of order");
    // The socket thread stops at BUFFER_LIMIT unconsumed bytes, counting what is still in
    // the mailbox.
    assert!(max_buffered <= BUFFER_LIMIT, "buffered {max_buffered}");
    node.shutdown();
}

/// Guarantee: a socket with more than 128 KiB (PAUSE_LIMIT) unread in its service is
/// paused, and reading it resumes it: every byte then arrives, in order.
#[test]
fn unread_past_128_kib_pauses_and_reading_resumes() {
    const TOTAL: usize = 4 << 20;
    let go = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (tx, rx) = crossbeam_channel::bounded(1);
    let g = go.clone();
    let (node, _, addr) = serve(handler(move |c: Context, id| {
        let (tx, go) = (tx.clone(), g.clone());
        async move {
            // Not reading until the test has seen the socket paused.
            while !go.load(Ordering::SeqCst) {
                c.sleep(Duration::from_millis(1)).await;
            }
            let at_go = socket::buffered(&c, id);
            let (mut got, mut ok) = (0usize, true);
            while got < TOTAL {
                match socket::read_some(&c, id).await {
                    Ok(b) => {
                        ok &= b
                            .iter()
                            .enumerate()
                            .all(|(i, x)| *x == ((got + i) % 251) as u8);
                        got += b.len();
                    }
                    Err(_) => break,
                }
            }
            let _ = tx.send((at_go, got, ok));
        }
    }));
    let mut s = client(addr);
    let writer = std::thread::spawn(move || {
        let data: Vec<u8> = (0..TOTAL).map(|i| (i % 251) as u8).collect();
        s.write_all(&data).unwrap();
        s
    });
    let driver = Driver::new(&node.handle());
    let paused = || driver.netstat().iter().any(|i| i.kind == "paused");
    let deadline = std::time::Instant::now() + LONG;
    while !paused() {
        assert!(std::time::Instant::now() < deadline, "never paused");
        std::thread::yield_now();
    }
    go.store(true, Ordering::SeqCst);
    let (at_go, got, ok) = rx.recv_timeout(LONG).expect("the reader finishes");
    assert!(
        at_go > PAUSE_LIMIT && at_go <= BUFFER_LIMIT,
        "buffered at pause: {at_go}"
    );
    assert_eq!(got, TOTAL);
    assert!(ok, "bytes out of order");
    drop(writer.join().unwrap());
    node.shutdown();
}

/// Guarantee: `limit` closes a socket whose unread bytes pass the bound.
#[test]
fn limit_closes_an_overflowing_socket() {
    let (node, _, addr) = serve(handler(|c: Context, id| async move {
        socket::limit(&c, id, 1000);
        // Never read: wait for the close.
        let _ = socket::read(&c, id, 1 << 20).await;
    }));
    let mut s = client(addr);
    let _ = s.write_all(&[0u8; 5000]);
    let mut buf = [0u8; 16];
    let r = s.read(&mut buf);
    assert!(matches!(r, Ok(0) | Err(_)), "closed by the server: {r:?}");
    node.shutdown();
}

/// Guarantee: a peer that goes away mid-read ends the read with what was buffered, never a
/// hang.
#[test]
fn peer_gone_mid_read_returns_the_rest() {
    let (tx, rx) = crossbeam_channel::bounded(1);
    let (node, _, addr) = serve(handler(move |c: Context, id| {
        let tx = tx.clone();
        async move {
            let _ = tx.send(socket::read(&c, id, 1000).await);
        }
    }));
    let mut s = client(addr);
    s.write_all(b"0123456789").unwrap();
    drop(s);
    match rx.recv_timeout(LONG).unwrap() {
        Err(ReadError::Closed(rest)) | Err(ReadError::Failed(_, rest)) => {
            assert_eq!(&rest[..], b"0123456789")
        }
        other => panic!("{other:?}"),
    }
    node.shutdown();
}

struct Opener {
    port: u16,
    out: crossbeam_channel::Sender<std::io::Result<()>>,
}
impl Service for Opener {
    async fn init(&mut self, ctx: &mut Context) -> Result<(), skynet_runtime::Error> {
        let (c, port, out) = (ctx.clone(), self.port, self.out.clone());
        ctx.fork(async move {
            let r = socket::open(&c, "127.0.0.1", port).await;
            let r = match r {
                Ok(id) => {
                    socket::write(&c, id, Bytes::from_static(b"ping"));
                    socket::read(&c, id, 4)
                        .await
                        .map(|_| ())
                        .map_err(std::io::Error::other)
                }
                Err(e) => Err(e),
            };
            let _ = out.send(r);
        });
        Ok(())
    }
    async fn dispatch(&mut self, _ctx: &mut Context, _msg: Message) {}
}

/// Guarantee: `open` connects (and the socket reads and writes); to a closed port it fails
/// with the reason.
#[test]
fn open_connects_or_fails_with_the_reason() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let peer = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut b = [0u8; 4];
        s.read_exact(&mut b).unwrap();
        s.write_all(b"pong").unwrap();
    });
    let node = util::builder().threads(2).build().unwrap();
    let (tx, rx) = crossbeam_channel::bounded(1);
    node.launch(Opener { port, out: tx }).unwrap();
    rx.recv_timeout(LONG)
        .unwrap()
        .expect("connected and talked");
    peer.join().unwrap();
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (tx, rx) = crossbeam_channel::bounded(1);
    node.launch(Opener {
        port: closed,
        out: tx,
    })
    .unwrap();
    let err = rx.recv_timeout(LONG).unwrap().unwrap_err();
    assert!(err.to_string().to_lowercase().contains("refused"), "{err}");
    node.shutdown();
}

/// Guarantee: when a service ends, every socket it owns is closed (the peer sees EOF).
#[test]
fn exiting_service_closes_its_sockets() {
    let (node, svc, addr) = serve(handler(|c: Context, id| async move {
        let _ = socket::read(&c, id, 1 << 20).await;
    }));
    let mut s = client(addr);
    s.write_all(b"hi").unwrap();
    node.send(svc, "exit").unwrap();
    let mut buf = [0u8; 8];
    assert!(matches!(s.read(&mut buf), Ok(0) | Err(_)));
    node.shutdown();
}

/// Guarantee (half-close, skynet#1346): the peer writes then shuts down its side; the service
/// reads everything, can still reply, and its close callback runs exactly once.
#[test]
fn half_close_still_lets_us_reply() {
    let closes = Arc::new(AtomicUsize::new(0));
    let c2 = closes.clone();
    let (node, _, addr) = serve(handler(move |c: Context, id| {
        let closes = c2.clone();
        async move {
            socket::onclose(&c, id, move |_c, _id| {
                closes.fetch_add(1, Ordering::SeqCst);
            });
            let all = socket::read_all(&c, id).await.unwrap_or_default();
            let mut reply = b"got ".to_vec();
            reply.extend_from_slice(&all);
            // The peer's EOF was CLOSE; the socket is still writable until we close it.
            socket::write(&c, id, reply);
            socket::close(&c, id).await;
        }
    }));
    let mut s = client(addr);
    s.write_all(b"question").unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    let mut got = Vec::new();
    s.read_to_end(&mut got).unwrap();
    assert_eq!(got, b"got question");
    assert_eq!(closes.load(Ordering::SeqCst), 1);
    node.shutdown();
}

struct UdpEcho {
    host: &'static str,
    out: crossbeam_channel::Sender<std::net::SocketAddr>,
}
impl Service for UdpEcho {
    async fn init(&mut self, ctx: &mut Context) -> Result<(), skynet_runtime::Error> {
        let (_id, addr) = socket::udp(ctx, self.host, 0, |c, id, data, from| {
            let mut reply = b"echo:".to_vec();
            reply.extend_from_slice(&data);
            socket::sendto(c, id, Some(from), reply);
        })?;
        let _ = self.out.send(addr);
        Ok(())
    }
    async fn dispatch(&mut self, _ctx: &mut Context, _msg: Message) {}
}

fn udp_round_trip(host: &'static str) {
    let node = util::builder().threads(2).build().unwrap();
    let (tx, rx) = crossbeam_channel::bounded(1);
    node.launch(UdpEcho { host, out: tx }).unwrap();
    let addr = rx.recv_timeout(LONG).unwrap();
    let sock = std::net::UdpSocket::bind((host, 0)).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut buf = [0u8; 64];
    // UDP may drop: retry a few times within the deadline.
    let got = (0..40).find_map(|_| {
        sock.send_to(b"hi", addr).ok()?;
        sock.recv_from(&mut buf).ok()
    });
    let (n, from) = got.expect("an echo");
    assert_eq!(&buf[..n], b"echo:hi");
    assert_eq!(from, addr);
    node.shutdown();
}

/// Guarantee: UDP datagrams arrive with the sender's address and can be answered (IPv4).
#[test]
fn udp_round_trip_v4() {
    udp_round_trip("127.0.0.1");
}

/// The same over IPv6 (skipped where ::1 is unavailable).
#[test]
fn udp_round_trip_v6() {
    if std::net::UdpSocket::bind("[::1]:0").is_err() {
        eprintln!("no IPv6 loopback here: skipped");
        return;
    }
    udp_round_trip("::1");
}

/// Guarantee (skynet#774): direct writes (made by the worker when nothing is queued) and
/// queued ones never reorder: a stream of numbered writes, some high, some low, some lists,
/// against a client that reads slowly, arrives in order.
#[test]
fn direct_and_queued_writes_keep_order() {
    const N: u32 = 20_000;
    let (node, _, addr) = serve(handler(|c: Context, id| async move {
        for i in 0..N {
            let b = Bytes::copy_from_slice(&i.to_be_bytes());
            match i % 7 {
                0 => {
                    socket::lwrite(&c, id, vec![b.slice(..2), b.slice(2..)]);
                }
                3 => {
                    // Low priority only when nothing else waits, so send it alone and yield.
                    socket::write(&c, id, b);
                }
                _ => {
                    socket::write(&c, id, b);
                }
            }
            if i % 1000 == 0 {
                c.yield_now().await;
            }
        }
        socket::close(&c, id).await;
    }));
    let mut s = client(addr);
    let mut all = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                all.extend_from_slice(&buf[..n]);
                if all.len() % 8192 < 64 {
                    std::thread::yield_now();
                }
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(all.len(), N as usize * 4);
    for (i, chunk) in all.chunks(4).enumerate() {
        assert_eq!(
            u32::from_be_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]),
            i as u32
        );
    }
    node.shutdown();
}
