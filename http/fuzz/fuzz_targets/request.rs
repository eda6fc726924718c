//! Feeds arbitrary bytes to the HTTP request head parser and checks that it never panics:
//! any head gives a request or an error status the server can answer with. A request that
//! parses is checked further: its path and query are what `Request::new` makes of its
//! target, every header is found by name, the WebSocket upgrade check and the URL helpers
//! take it without panicking, and writing the head out again parses to the same request.
//!
//! The input is read twice: as it is (whatever bytes reach `parse_request`), and as the
//! server hands it over (up to the first empty line, which is then appended).

#![no_main]

use libfuzzer_sys::fuzz_target;
use skynet_http::{parse_request, reason_phrase, url, ws_handshake, HttpError, Request};

const END: &[u8] = b"\r\n\r\n";

fn check(head: &[u8]) {
    let req = match parse_request(head) {
        Ok(req) => req,
        Err(e) => {
            let HttpError::Status(status, why) = &e else {
                panic!("a head error is not a status: {e:?}");
            };
            assert!(matches!(status, 400 | 431 | 505), "status {status}");
            assert!(!reason_phrase(*status).is_empty() && !why.is_empty());
            let _ = e.to_string();
            return;
        }
    };
    assert!(!req.method.is_empty() && !req.target.is_empty());
    assert!(req.version <= 1);
    assert!(req.headers.0.len() <= skynet_http::MAX_HEADERS);
    assert!(req.body.is_empty() && req.peer.is_none());

    let again = Request::new(&req.method, &req.target);
    assert_eq!(again.path, req.path);
    assert_eq!(again.query, req.query);
    for (name, value) in &req.headers.0 {
        assert_eq!(name, &name.to_ascii_lowercase());
        assert!(req.header(name).is_some());
        assert!(req.headers.get_all(name).any(|v| v == value));
    }
    let _ = req.headers.has_token("connection", "upgrade");
    let _ = ws_handshake::check_request(&req, &["chat".to_string()]);
    for (k, v) in &req.query.0 {
        assert!(req.query.get(k).is_some());
        assert_eq!(url::decode(&url::encode(v), false), *v);
    }

    // Written out again, the head parses to the same request.
    let mut out = format!("{} {} HTTP/1.{}\r\n", req.method, req.target, req.version);
    for (name, value) in &req.headers.0 {
        out.push_str(name);
        out.push_str(": ");
        out.push_str(value);
        out.push_str("\r\n");
    }
    out.push_str("\r\n");
    if let Ok(back) = parse_request(out.as_bytes()) {
        assert_eq!(
            (&back.method, &back.target, back.version, &back.headers),
            (&req.method, &req.target, req.version, &req.headers)
        );
    }
}

fuzz_target!(|input: &[u8]| {
    check(input);
    let head_len = input
        .windows(4)
        .position(|w| w == END)
        .unwrap_or(input.len());
    let mut head = Vec::with_capacity(head_len + 4);
    head.extend_from_slice(&input[..head_len]);
    head.extend_from_slice(END);
    check(&head);

    // The URL helpers take any text.
    let text = String::from_utf8_lossy(input);
    assert_eq!(url::decode(&url::encode(&text), false), text);
    let _ = url::decode(&text, true);
    let _ = url::parse_query(&text);
    let _ = skynet_http::parse_target(&text, 80);
});
