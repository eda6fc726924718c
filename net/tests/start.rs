//! `socket::start_checked`: starting a socket reports a socket that is already closed or
//! not a socket at all (skynet's fix for its issue #1374), instead of an error at the first
//! read. docs/semantics.md, "Sockets".

mod util;

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use skynet_net::{socket, Driver};
use skynet_runtime::{Context, Message, Service};
use util::LONG;

type Report = crossbeam_channel::Sender<(&'static str, Result<String, String>)>;

/// Listens; starts the first connection it accepts and reads 5 bytes from it; closes the
/// second one before starting it. Before any connection, starts an id that is no socket.
struct Starter {
    report: Report,
    addr: crossbeam_channel::Sender<std::net::SocketAddr>,
}

impl Service for Starter {
    async fn init(&mut self, ctx: &mut Context) -> Result<(), skynet_runtime::Error> {
        let r = socket::start_checked(ctx, 987_654).await;
        let _ = self.report.send((
            "no such socket",
            r.map(|()| String::new()).map_err(|e| e.to_string()),
        ));
        let (listener, addr) = socket::listen(ctx, "127.0.0.1", 0)?;
        let accepted = Arc::new(AtomicUsize::new(0));
        let report = self.report.clone();
        socket::start_listener(ctx, listener, move |ctx, id, _peer| {
            let n = accepted.fetch_add(1, Ordering::SeqCst);
            let (c, report) = (ctx.clone(), report.clone());
            ctx.fork(async move {
                if n == 0 {
                    let r = match socket::start_checked(&c, id).await {
                        Ok(()) => socket::read(&c, id, 5)
                            .await
                            .map(|b| String::from_utf8_lossy(&b).into_owned())
                            .map_err(|e| e.to_string()),
                        Err(e) => Err(e.to_string()),
                    };
                    let _ = report.send(("live", r));
                } else {
                    Driver::of(&c).close(id);
                    let r = socket::start_checked(&c, id).await;
                    let _ = report.send((
                        "closed before start",
                        r.map(|()| String::new()).map_err(|e| e.to_string()),
                    ));
                    // The failed start left nothing behind.
                    assert!(socket::invalid(&c, id));
                }
            });
        });
        let _ = self.addr.send(addr);
        Ok(())
    }
    async fn dispatch(&mut self, _ctx: &mut Context, _msg: Message) {}
}

#[test]
fn start_checked_reports_closed_and_invalid_sockets() {
    let node = util::builder().threads(2).build().expect("node");
    let (report, results) = crossbeam_channel::unbounded();
    let (tx, rx) = crossbeam_channel::bounded(1);
    node.launch(Starter { report, addr: tx }).expect("launch");
    let next = || results.recv_timeout(LONG).expect("a result");

    let (what, r) = next();
    assert_eq!(what, "no such socket");
    assert!(r.as_ref().is_err_and(|e| e.contains("closed")), "{r:?}");

    let addr = rx.recv_timeout(LONG).expect("listening");
    let mut live = std::net::TcpStream::connect(addr).expect("connect");
    live.write_all(b"hello").expect("write");
    assert_eq!(next(), ("live", Ok("hello".to_string())));

    let _gone = std::net::TcpStream::connect(addr).expect("connect");
    let (what, r) = next();
    assert_eq!(what, "closed before start");
    assert!(r.as_ref().is_err_and(|e| e.contains("start")), "{r:?}");
    node.shutdown();
}
