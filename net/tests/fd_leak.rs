//! Guarantee: connect/close cycles leave no socket or fd behind (its own process, so other
//! tests' sockets are not counted).

mod util;

use std::io::{Read, Write};

use skynet_net::socket;
use skynet_runtime::Context;
use util::*;

fn fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0)
}

#[test]
fn connect_close_cycles_leak_no_fd() {
    let (node, _, addr) = serve(handler(|c: Context, id| async move {
        if let Ok(b) = socket::read_some(&c, id).await {
            socket::write(&c, id, b);
        }
        socket::close(&c, id).await;
    }));
    // Warm up, then count.
    for _ in 0..10 {
        let mut s = client(addr);
        s.write_all(b"x").unwrap();
        let mut b = [0u8; 1];
        let _ = s.read(&mut b);
    }
    let before = fds();
    for i in 0..10_000u32 {
        let mut s = client(addr);
        s.write_all(&i.to_be_bytes()).unwrap();
        let mut b = [0u8; 4];
        s.read_exact(&mut b).unwrap();
        assert_eq!(b, i.to_be_bytes());
    }
    // The node closes its side after echoing; wait (bounded) for the count to settle.
    let deadline = std::time::Instant::now() + LONG;
    while fds() > before + 5 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(fds() <= before + 5, "fds before {before}, after {}", fds());
    node.shutdown();
}
