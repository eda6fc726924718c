//! Bad HTTP input: each gets its status (or a quiet close), a log line naming the
//! connection, and the server goes on serving everyone else.

mod util;

use std::time::Duration;

use skynet_http::{Limits, Request, Response, Router, ServerConf};
use skynet_runtime::{Context, LogCapture, Node};
use util::*;

fn start(limits: Limits) -> (Node, std::net::SocketAddr, LogCapture) {
    let (node, log) = node();
    let router = Router::new().post("/echo", |_c: Context, req: Request| async move {
        Response::bytes(200, "application/octet-stream", req.body)
    });
    let conf = ServerConf {
        limits,
        ..ServerConf::default()
    };
    let addr = serve(&node, conf, router);
    (node, addr, log)
}

/// Sends `input`, expects `status` and a close, a log line with it, and a healthy server.
fn expect_status(addr: std::net::SocketAddr, log: &LogCapture, input: &[u8], status: u16) {
    let mut s = connect(addr);
    send(&mut s, input);
    let r = read_response(&mut s, false).expect("an error response");
    assert_eq!(r.status, status, "for {:?}", String::from_utf8_lossy(input));
    assert_eq!(r.header("connection"), Some("close"));
    assert!(closed_by_server(&mut s));
    let line = log.wait_for(&["http: fd", &format!(": {status} (")], LONG);
    assert!(
        line.is_some(),
        "no log line for {status}: {:?}",
        log.lines()
    );
    let mut ok = connect(addr);
    send(
        &mut ok,
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nok",
    );
    assert_eq!(
        read_response(&mut ok, false).expect("still serving").text(),
        "ok"
    );
}

#[test]
fn a_header_past_the_limit_is_431() {
    let (node, addr, log) = start(Limits::default());
    let big = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(9000)
    );
    expect_status(addr, &log, big.as_bytes(), 431);
    // A head that never ends is cut at the limit too, without waiting for its end.
    let endless = format!("GET / HTTP/1.1\r\nX-Big: {}", "a".repeat(9000));
    expect_status(addr, &log, endless.as_bytes(), 431);
    node.shutdown();
}

#[test]
fn a_body_past_the_limit_is_413() {
    let limits = Limits {
        body: 1000,
        ..Limits::default()
    };
    let (node, addr, log) = start(limits);
    expect_status(
        addr,
        &log,
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1001\r\n\r\n",
        413,
    );
    let mut chunked =
        b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..3 {
        chunked.extend_from_slice(format!("190\r\n{}\r\n", "b".repeat(400)).as_bytes());
    }
    expect_status(addr, &log, &chunked, 413);
    node.shutdown();
}

#[test]
fn malformed_requests_are_400() {
    let (node, addr, log) = start(Limits::default());
    expect_status(addr, &log, b"GET /\r\n\r\n", 400);
    expect_status(addr, &log, b"GET / HTTP/1.1\r\nno colon\r\n\r\n", 400);
    expect_status(addr, &log, b"GET / HTTP/1.1\r\n\r\n", 400); // no Host
    expect_status(
        addr,
        &log,
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: x\r\n\r\n",
        400,
    );
    expect_status(
        addr,
        &log,
        b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        400,
    );
    node.shutdown();
}

#[test]
fn the_http2_preface_is_505_and_an_unknown_coding_501() {
    let (node, addr, log) = start(Limits::default());
    expect_status(addr, &log, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505);
    expect_status(addr, &log, b"GET / HTTP/3.0\r\nHost: x\r\n\r\n", 505);
    expect_status(
        addr,
        &log,
        b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
        501,
    );
    expect_status(
        addr,
        &log,
        b"POST /echo HTTP/1.1\r\nHost: x\r\nExpect: magic\r\n\r\n",
        417,
    );
    node.shutdown();
}

#[test]
fn a_slow_loris_gets_408_and_a_silent_client_is_closed() {
    let limits = Limits {
        // Long enough that a loaded machine never cuts a request sent whole.
        head_timeout: Some(Duration::from_secs(1)),
        body_timeout: Some(Duration::from_secs(1)),
        ..Limits::default()
    };
    let (node, addr, log) = start(limits);
    // Half a head, then nothing: the deadline answers.
    expect_status(addr, &log, b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow:", 408);
    // A head, half a body.
    expect_status(
        addr,
        &log,
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc",
        408,
    );
    // Nothing at all: closed without a word.
    let mut s = connect(addr);
    assert!(closed_by_server(&mut s));
    node.shutdown();
}

#[test]
fn a_client_that_does_not_read_its_responses_is_not_read_either() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    const REQUESTS: usize = 300;
    let (node, log) = node();
    let handled = Arc::new(AtomicUsize::new(0));
    let h = handled.clone();
    let router = Router::new().get("/big", move |_c: Context, _req: Request| {
        h.fetch_add(1, Ordering::SeqCst);
        async move { Response::bytes(200, "application/octet-stream", vec![b'z'; 256 * 1024]) }
    });
    let addr = serve(&node, ServerConf::default(), router);
    let mut s = connect(addr);
    let mut all = Vec::new();
    for _ in 0..REQUESTS {
        all.extend_from_slice(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n");
    }
    send(&mut s, &all);
    // Once 1 MiB waits unsent, the server stops taking requests from this client...
    assert!(log
        .wait_for(&["not reading it until it drains"], LONG)
        .is_some());
    let at_warning = handled.load(Ordering::SeqCst);
    assert!(
        at_warning < REQUESTS,
        "{at_warning} handled while the client read nothing"
    );
    // ... and goes on as the client reads: every response arrives, in order.
    for _ in 0..REQUESTS {
        let r = read_response(&mut s, false).expect("a response");
        assert_eq!((r.status, r.body.len()), (200, 256 * 1024));
    }
    assert_eq!(handled.load(Ordering::SeqCst), REQUESTS);
    node.shutdown();
}
