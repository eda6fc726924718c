//! The HTTP client against our server and against raw servers: content-length, chunked
//! and until-close bodies, HEAD, forms, deadlines, refused connections.

mod util;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Duration;

use skynet_http::client::{self, ClientResponse, Options};
use skynet_http::{chunk_channel, HttpError, Request, Response, Router, ServerConf};
use skynet_runtime::{Context, Message, Service};
use util::*;

/// Runs one client request per call: (method, url, body) -> result.
struct Caller;

type Call = (String, String, String, Option<Duration>);

impl Service for Caller {
    async fn dispatch(&mut self, ctx: &mut Context, msg: Message) {
        let Ok((method, url, body, timeout)) = msg.take::<Call>() else {
            return;
        };
        let opts = Options {
            timeout,
            ..Options::default()
        };
        let r = if method == "FORM" {
            client::post_form(ctx, &url, &[("a b", "1&2"), ("c", "é")], &opts).await
        } else {
            client::request(ctx, &method, &url, body.into(), &opts).await
        };
        let _ = ctx.ret(r);
    }
}

fn call(
    node: &skynet_runtime::Node,
    c: skynet_runtime::Addr,
    m: &str,
    url: &str,
    body: &str,
    t: Option<Duration>,
) -> Result<ClientResponse, HttpError> {
    node.call(c, (m.to_string(), url.to_string(), body.to_string(), t))
        .expect("caller answers")
        .into_value()
        .expect("a result")
}

#[test]
fn requests_to_our_server() {
    let (node, _log) = node();
    let router = Router::new()
        .get("/hello", |_c: Context, req: Request| async move {
            Response::text(200, format!("hello {}", req.query.get("n").unwrap_or("?")))
        })
        .post("/echo", |_c: Context, req: Request| async move {
            let ct = req.header("content-type").unwrap_or("").to_string();
            Response::bytes(200, "text/plain", req.body).header("x-ct", &ct)
        })
        .get("/stream", |c: Context, _req: Request| async move {
            let (tx, rx) = chunk_channel();
            c.fork(async move {
                tx.send("a");
                tx.send("bc");
            });
            Response::stream(200, "text/plain", rx)
        });
    let addr = serve(&node, ServerConf::default(), router);
    let c = node.launch(Caller).unwrap();
    let r = call(
        &node,
        c,
        "GET",
        &format!("http://{addr}/hello?n=1"),
        "",
        None,
    )
    .unwrap();
    assert_eq!((r.status, r.text().as_str()), (200, "hello 1"));
    // A name, resolved off the workers.
    let r = call(
        &node,
        c,
        "GET",
        &format!("http://localhost:{}/hello?n=2", addr.port()),
        "",
        None,
    )
    .unwrap();
    assert_eq!(r.text(), "hello 2");
    // host:port without a scheme.
    let r = call(&node, c, "POST", &format!("{addr}/echo"), "payload", None).unwrap();
    assert_eq!(r.text(), "payload");
    let r = call(&node, c, "GET", &format!("http://{addr}/stream"), "", None).unwrap();
    assert_eq!(
        (r.headers.get("transfer-encoding"), r.text().as_str()),
        (Some("chunked"), "abc")
    );
    let r = call(&node, c, "HEAD", &format!("http://{addr}/hello"), "", None).unwrap();
    assert_eq!((r.status, r.body.len()), (200, 0));
    let r = call(&node, c, "FORM", &format!("http://{addr}/echo"), "", None).unwrap();
    assert_eq!(r.text(), "a%20b=1%262&c=%C3%A9");
    assert_eq!(
        r.headers.get("x-ct"),
        Some("application/x-www-form-urlencoded")
    );
    let r = call(&node, c, "GET", &format!("http://{addr}/none"), "", None).unwrap();
    assert_eq!(r.status, 404);
    node.shutdown();
}

/// A one-shot raw server: reads a request head, writes `answer` (None: nothing, holding
/// the connection until the client leaves).
fn raw_server(answer: Option<&'static [u8]>) -> std::net::SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        s.set_read_timeout(Some(LONG)).unwrap();
        let mut head = Vec::new();
        let mut b = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") && s.read(&mut b).map(|n| n > 0).unwrap_or(false) {
            head.push(b[0]);
        }
        match answer {
            Some(a) => {
                let _ = s.write_all(a);
            }
            None => {
                let _ = s.read(&mut b);
            }
        }
    });
    addr
}

#[test]
fn until_close_bodies_interim_answers_deadlines_and_refusals() {
    let (node, _log) = node();
    let c = node.launch(Caller).unwrap();
    let addr = raw_server(Some(b"HTTP/1.0 200 OK\r\nx-a: 1\r\n\r\nuntil the end"));
    let r = call(&node, c, "GET", &format!("http://{addr}/"), "", None).unwrap();
    assert_eq!((r.status, r.text().as_str()), (200, "until the end"));
    let addr = raw_server(Some(
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\ncontent-length: 2\r\n\r\nok",
    ));
    let r = call(&node, c, "POST", &format!("http://{addr}/"), "x", None).unwrap();
    assert_eq!((r.status, r.text().as_str()), (201, "ok"));
    let addr = raw_server(None);
    let r = call(
        &node,
        c,
        "GET",
        &format!("http://{addr}/"),
        "",
        Some(Duration::from_millis(200)),
    );
    // (Usually the response's deadline; on a stalled machine it can be the connect's.)
    assert!(matches!(r, Err(HttpError::Timeout(_))), "{r:?}");
    let r = call(&node, c, "GET", "http://127.0.0.1:1/", "", None);
    assert!(matches!(r, Err(HttpError::Closed(_))), "{r:?}");
    let r = call(&node, c, "GET", "https://127.0.0.1/", "", None);
    assert!(matches!(r, Err(HttpError::Closed(m)) if m.contains("TLS")));
    node.shutdown();
}
