//! `socket::write` (the driver's `send`, skynet's `socketdriver.send`) answers false for an
//! id no live socket has, never opened or closed and forgotten, as skynet's does.

mod util;

use std::io::Read;

use skynet_net::socket;
use util::{client, handler, serve, LONG};

#[test]
fn write_is_false_for_a_socket_that_is_not_there() {
    let (tx, rx) = crossbeam_channel::unbounded();
    let (node, _svc, addr) = serve(handler(move |ctx, id| {
        let tx = tx.clone();
        async move {
            let live = socket::write(&ctx, id, &b"hi"[..]);
            let low = socket::write_low(&ctx, id, &b"!"[..]);
            let never = socket::write(&ctx, 987_654, &b"x"[..]);
            let never_low = socket::write_low(&ctx, 987_654, &b"x"[..]);
            socket::close(&ctx, id).await;
            let closed = socket::write(&ctx, id, &b"x"[..]);
            let _ = tx.send((live, low, never, never_low, closed));
        }
    }));
    let mut c = client(addr);
    let (live, low, never, never_low, closed) = rx.recv_timeout(LONG).expect("a report");
    assert!(live && low, "a live socket takes writes");
    assert!(!never && !never_low, "an id never opened");
    assert!(!closed, "a socket closed and forgotten");
    let mut got = Vec::new();
    c.read_to_end(&mut got).expect("read until the close");
    assert_eq!(got, b"hi!");
    node.shutdown();
}
