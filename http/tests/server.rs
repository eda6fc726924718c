//! The HTTP server over real sockets: keep-alive, pipelining, bodies, HEAD, streaming,
//! service handlers, HTTP/1.0.

mod util;

use std::io::Write;

use bytes::Bytes;
use skynet_http::{chunk_channel, Request, Response, Router, ServerConf, ServiceHandler};
use skynet_runtime::{Context, Message, Service};
use util::*;

fn router() -> Router {
    Router::new()
        .get("/hello", |_c: Context, req: Request| async move {
            let name = req.query.get("name").unwrap_or("world").to_string();
            Response::text(200, format!("hello, {name}"))
        })
        .post("/echo", |_c: Context, req: Request| async move {
            Response::bytes(200, "application/octet-stream", req.body)
        })
        .get("/query", |_c: Context, req: Request| async move {
            let xs: Vec<&str> = req.query.all("x").collect();
            Response::text(200, format!("{}|{}", req.path, xs.join(",")))
        })
        .get("/stream", |c: Context, _req: Request| async move {
            let (tx, rx) = chunk_channel();
            c.fork(async move {
                for i in 0..3 {
                    tx.send(format!("part{i};"));
                }
            });
            Response::stream(200, "text/plain", rx)
        })
}

#[test]
fn keep_alive_serves_many_requests_on_one_connection() {
    let (node, _log) = node();
    let addr = serve(&node, ServerConf::default(), router());
    let mut s = connect(addr);
    for i in 0..5 {
        send(
            &mut s,
            format!("GET /hello?name=n{i} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes(),
        );
        let r = read_response(&mut s, false).expect("a response");
        assert_eq!(r.status, 200);
        assert_eq!(r.text(), format!("hello, n{i}"));
        assert_eq!(r.header("connection"), None);
    }
    node.shutdown();
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let (node, _log) = node();
    let addr = serve(&node, ServerConf::default(), router());
    let mut s = connect(addr);
    let mut all = Vec::new();
    for i in 0..20 {
        all.extend_from_slice(
            format!(
                "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\nbody{i}",
                format!("body{i}").len()
            )
            .as_bytes(),
        );
    }
    send(&mut s, &all);
    for i in 0..20 {
        let r = read_response(&mut s, false).expect("a response");
        assert_eq!(r.status, 200);
        assert_eq!(r.text(), format!("body{i}"));
    }
    node.shutdown();
}

#[test]
fn chunked_request_bodies_and_trailers() {
    let (node, _log) = node();
    let addr = serve(&node, ServerConf::default(), router());
    let mut s = connect(addr);
    send(
        &mut s,
        b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
          5\r\nhello\r\n1;ext=1\r\n \r\n5\r\nworld\r\n0\r\nX-Trailer: t\r\n\r\n",
    );
    let r = read_response(&mut s, false).expect("a response");
    assert_eq!((r.status, r.text().as_str()), (200, "hello world"));
    node.shutdown();
}

#[test]
fn expect_100_continue_is_answered_before_the_body() {
    let (node, _log) = node();
    let addr = serve(&node, ServerConf::default(), router());
    let mut s = connect(addr);
    send(
        &mut s,
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n",
    );
    let r = read_response(&mut s, false).expect("100");
    assert_eq!(r.status, 100);
    send(&mut s, b"abc");
    let r = read_response(&mut s, false).expect("200");
    assert_eq!((r.status, r.text().as_str()), (200, "abc"));
    node.shutdown();
}

#[test]
fn connection_close_and_http_1_0() {
    let (node, _log) = node();
    let addr = serve(&node, ServerConf::default(), router());
    // HTTP/1.1 with Connection: close.
    let mut s = connect(addr);
    send(
        &mut s,
        b"GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    let r = read_response(&mut s, false).expect("a response");
    assert_eq!(r.header("connection"), Some("close"));
    assert!(closed_by_server(&mut s));
    // HTTP/1.0: closes unless asked to keep alive (no Host needed).
    let mut s = connect(addr);
    send(&mut s, b"GET /hello HTTP/1.0\r\n\r\n");
    assert_eq!(
        read_response(&mut s, false).expect("a response").status,
        200
    );
    assert!(closed_by_server(&mut s));
    let mut s = connect(addr);
    for _ in 0..2 {
        send(
            &mut s,
            b"GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
        );
        let r = read_response(&mut s, false).expect("a response");
        assert_eq!(r.header("connection"), Some("keep-alive"));
    }
    node.shutdown();
}

#[test]
fn skynet_style_close_after_every_response() {
    let (node, _log) = node();
    let mut conf = ServerConf::default();
    conf.limits.keep_alive = false;
    let addr = serve(&node, conf, router());
    let mut s = connect(addr);
    send(&mut s, b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
    let r = read_response(&mut s, false).expect("a response");
    assert_eq!(r.header("connection"), Some("close"));
    assert!(closed_by_server(&mut s));
    node.shutdown();
}

#[test]
fn head_answers_the_head_only_and_routes_say_404_and_405() {
    let (node, _log) = node();
    let addr = serve(&node, ServerConf::default(), router());
    let mut s = connect(addr);
    send(&mut s, b"HEAD /hello HTTP/1.1\r\nHost: x\r\n\r\n");
    let r = read_response(&mut s, true).expect("a response");
    assert_eq!((r.status, r.header("content-length")), (200, Some("12")));
    send(&mut s, b"GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(read_response(&mut s, false).expect("404").status, 404);
    send(&mut s, b"DELETE /echo HTTP/1.1\r\nHost: x\r\n\r\n");
    let r = read_response(&mut s, false).expect("405");
    assert_eq!((r.status, r.header("allow")), (405, Some("POST")));
    node.shutdown();
}

#[test]
fn paths_and_queries_are_decoded() {
    let (node, _log) = node();
    let router = router().get("/a b", |_c: Context, req: Request| async move {
        Response::text(200, req.path)
    });
    let addr = serve(&node, ServerConf::default(), router);
    let mut s = connect(addr);
    send(
        &mut s,
        b"GET /query?x=1&x=a+b&x=%41 HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    assert_eq!(
        read_response(&mut s, false).unwrap().text(),
        "/query|1,a b,A"
    );
    send(&mut s, b"GET /a%20b HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(read_response(&mut s, false).unwrap().text(), "/a b");
    node.shutdown();
}

#[test]
fn streamed_responses_are_chunked_and_close_delimited_for_1_0() {
    let (node, _log) = node();
    let addr = serve(&node, ServerConf::default(), router());
    let mut s = connect(addr);
    send(&mut s, b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n");
    let r = read_response(&mut s, false).expect("a response");
    assert_eq!(r.header("transfer-encoding"), Some("chunked"));
    assert_eq!(r.text(), "part0;part1;part2;");
    // The connection is still usable.
    send(&mut s, b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(read_response(&mut s, false).unwrap().status, 200);
    // HTTP/1.0: no chunking, the close ends the body.
    let mut s = connect(addr);
    send(&mut s, b"GET /stream HTTP/1.0\r\n\r\n");
    let mut all = Vec::new();
    std::io::Read::read_to_end(&mut s, &mut all).expect("read to close");
    let text = String::from_utf8_lossy(&all);
    assert!(text.ends_with("\r\n\r\npart0;part1;part2;"), "{text}");
    node.shutdown();
}

/// Answers every request with its method and body length.
struct Api;

impl Service for Api {
    async fn dispatch(&mut self, ctx: &mut Context, msg: Message) {
        if let Ok(req) = msg.take::<Request>() {
            let _ = ctx.ret(Response::text(
                201,
                format!("{} {}", req.method, req.body.len()),
            ));
        }
    }
}

#[test]
fn a_service_can_be_the_handler_and_agents_zero_serves_in_the_server() {
    let (node, _log) = node();
    let api = node.launch(Api).expect("api");
    let conf = ServerConf {
        agents: 0,
        ..ServerConf::default()
    };
    let addr = serve(&node, conf, ServiceHandler(api));
    let mut s = connect(addr);
    send(
        &mut s,
        b"PUT /x HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nabcd",
    );
    let r = read_response(&mut s, false).expect("a response");
    assert_eq!((r.status, r.text().as_str()), (201, "PUT 4"));
    node.handle().kill(api);
    send(&mut s, b"GET /x HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(read_response(&mut s, false).expect("503").status, 503);
    s.flush().ok();
    let _ = Bytes::new();
    node.shutdown();
}

#[test]
fn an_agent_per_connection_serves_it_and_exits() {
    let (node, _log) = node();
    let conf = ServerConf {
        agent_per_connection: true,
        ..ServerConf::default()
    };
    let addr = serve(&node, conf, router());
    // User services only: a system one (a `Node::call`'s caller) may still be ending.
    let count = || {
        node.handle()
            .services()
            .iter()
            .filter(|s| !s.system)
            .count()
    };
    let before = count();
    let mut a = connect(addr);
    let mut b = connect(addr);
    for i in 0..4 {
        let s = if i % 2 == 0 { &mut a } else { &mut b };
        send(s, b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(read_response(s, false).unwrap().status, 200);
    }
    assert_eq!(count(), before + 2);
    drop((a, b));
    let deadline = std::time::Instant::now() + LONG;
    while count() > before {
        assert!(
            std::time::Instant::now() < deadline,
            "the agents did not exit"
        );
        std::thread::yield_now();
    }
    node.shutdown();
}
