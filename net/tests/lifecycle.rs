//! Outgoing connections over many open/close cycles. Alone in its binary, so other tests'
//! sockets do not disturb the descriptor count.

mod util;

use std::io::Read;
use std::time::{Duration, Instant};

use skynet_net::{socket, Driver};
use skynet_runtime::{Context, Message, Service};
use util::LONG;

fn fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Opens, writes one byte and closes `n` connections in a row, then reports the ids it got,
/// the stream sockets left on the socket thread, and any failure.
struct Cycler {
    port: u16,
    n: usize,
    out: crossbeam_channel::Sender<Result<(Vec<i32>, usize), String>>,
}
impl Service for Cycler {
    async fn init(&mut self, ctx: &mut Context) -> Result<(), skynet_runtime::Error> {
        let (c, port, n, out) = (ctx.clone(), self.port, self.n, self.out.clone());
        ctx.fork(async move {
            let mut ids = Vec::with_capacity(n);
            for _ in 0..n {
                match socket::open(&c, "127.0.0.1", port).await {
                    Ok(id) => {
                        ids.push(id);
                        socket::write(&c, id, &b"x"[..]);
                        socket::close(&c, id).await;
                    }
                    Err(e) => {
                        let _ = out.send(Err(e.to_string()));
                        return;
                    }
                }
            }
            let left = Driver::of(&c)
                .netstat()
                .iter()
                .filter(|i| i.kind != "listen" && i.kind != "udp")
                .count();
            let _ = out.send(Ok((ids, left)));
        });
        Ok(())
    }
    async fn dispatch(&mut self, _ctx: &mut Context, _msg: Message) {}
}

/// Guarantee: open/close cycles leave no socket or descriptor behind, and socket ids are
/// never reused while the node lives (event.rs): 10,000 outgoing connections, each delivering
/// its byte before EOF.
#[test]
fn open_close_cycles_leak_nothing_and_never_reuse_ids() {
    const WARM: usize = 20;
    const N: usize = 10_000;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let peer = std::thread::spawn(move || {
        let mut bad = 0;
        for _ in 0..WARM + N {
            let (mut s, _) = listener.accept().unwrap();
            s.set_read_timeout(Some(LONG)).unwrap();
            let mut got = Vec::new();
            if s.read_to_end(&mut got).is_err() || got != b"x" {
                bad += 1;
            }
        }
        bad
    });
    let node = util::builder().threads(2).build().unwrap();
    let run = |n: usize| {
        let (tx, rx) = crossbeam_channel::bounded(1);
        node.launch(Cycler { port, n, out: tx }).unwrap();
        rx.recv_timeout(Duration::from_secs(60))
            .expect("cycles finish")
            .expect("every open succeeds")
    };
    run(WARM);
    let before = fds();
    let (ids, left) = run(N);
    assert_eq!(left, 0, "stream sockets left on the socket thread");
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "ids are increasing, never reused"
    );
    assert_eq!(
        peer.join().unwrap(),
        0,
        "connections that did not get exactly b\"x\""
    );
    let deadline = Instant::now() + LONG;
    while fds() > before + 5 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(fds() <= before + 5, "fds before {before}, after {}", fds());
    node.shutdown();
}
