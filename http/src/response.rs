//! [`Response`]: what a handler answers, and how the server writes it.

use std::future::Future;
use std::pin::Pin;

use bytes::{BufMut, Bytes, BytesMut};
use skynet_net::{socket, SocketId};
use skynet_runtime::Context;

use crate::chan::ChunkStream;
use crate::error::reason_phrase;
use crate::head::Headers;

/// Bodies up to this size are copied behind the head into one buffer (one write);
/// larger ones go out as head + body in one `writev`, uncopied.
const COPY_BODY_MAX: usize = 4096;

/// Takes over a connection after an upgrade response (a WebSocket on a route): called
/// with the connection's socket and the bytes the client sent after the request head. It
/// owns the socket from then on (and closes it).
pub type UpgradeFn =
    Box<dyn FnOnce(Context, SocketId, Bytes) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send>;

/// A response body.
#[derive(Debug, Default)]
pub enum Body {
    /// No body (`content-length: 0` where the status has a body).
    #[default]
    Empty,
    /// A whole body, sent with `content-length`.
    Full(Bytes),
    /// Chunks as they come (`transfer-encoding: chunked`; close-delimited for HTTP/1.0).
    Stream(ChunkStream),
}

/// A response: status, header lines, body. `content-length`, `transfer-encoding` and
/// `connection` are written by the server; a handler sets the rest.
pub struct Response {
    /// The status code.
    pub status: u16,
    /// Header lines other than the framing ones.
    pub headers: Headers,
    /// The body.
    pub body: Body,
    /// Set by [`Response::upgrade`]: who takes the connection over.
    pub(crate) upgrade: Option<UpgradeFn>,
}

impl std::fmt::Debug for Response {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Response")
            .field("status", &self.status)
            .field("headers", &self.headers)
            .field("body", &self.body)
            .field("upgrade", &self.upgrade.is_some())
            .finish()
    }
}

impl Response {
    /// An empty response with `status`.
    pub fn new(status: u16) -> Response {
        Response {
            status,
            headers: Headers::default(),
            body: Body::Empty,
            upgrade: None,
        }
    }

    /// `status` with a `text/plain; charset=utf-8` body.
    pub fn text(status: u16, body: impl Into<String>) -> Response {
        Response::new(status)
            .header("content-type", "text/plain; charset=utf-8")
            .body(Bytes::from(body.into()))
    }

    /// `status` with a body of `content_type`.
    pub fn bytes(status: u16, content_type: &str, body: impl Into<Bytes>) -> Response {
        Response::new(status)
            .header("content-type", content_type)
            .body(body.into())
    }

    /// A streamed body (see [`crate::chunk_channel`]).
    pub fn stream(status: u16, content_type: &str, chunks: ChunkStream) -> Response {
        let mut r = Response::new(status).header("content-type", content_type);
        r.body = Body::Stream(chunks);
        r
    }

    /// Adds a header line.
    pub fn header(mut self, name: &str, value: &str) -> Response {
        self.headers.push(name.to_ascii_lowercase(), value);
        self
    }

    /// Sets a whole body.
    pub fn body(mut self, body: impl Into<Bytes>) -> Response {
        self.body = Body::Full(body.into());
        self
    }

    /// A response whose head is written as it is (a `101 Switching Protocols`), after
    /// which `then` owns the connection: the server neither reads nor closes it again.
    pub fn upgrade(status: u16, headers: Headers, then: UpgradeFn) -> Response {
        Response {
            status,
            headers,
            body: Body::Empty,
            upgrade: Some(then),
        }
    }

    /// True when the status never has a body (1xx, 204, 304).
    fn bodiless(&self) -> bool {
        self.status < 200 || self.status == 204 || self.status == 304
    }
}

/// What the server knows of the request a response answers.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Answering {
    /// HTTP/1.x minor version of the request.
    pub version: u8,
    /// A HEAD request: the head only.
    pub head_only: bool,
    /// The connection stays open after this response.
    pub keep_alive: bool,
}

/// Appends `n` in decimal (no formatting machinery: this runs for every response).
fn put_decimal(out: &mut BytesMut, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.put_slice(&digits[at..]);
}

/// What frames the body: nothing, `content-length: N`, or chunked.
enum Framing {
    None,
    Length(usize),
    Chunked,
}

fn put_head(out: &mut BytesMut, resp: &Response, a: &Answering, framing: Framing) {
    out.put_slice(b"HTTP/1.1 ");
    put_decimal(out, u64::from(resp.status));
    out.put_u8(b' ');
    out.put_slice(reason_phrase(resp.status).as_bytes());
    out.put_slice(b"\r\n");
    for (k, v) in &resp.headers.0 {
        if matches!(
            k.as_str(),
            "content-length" | "transfer-encoding" | "connection"
        ) && resp.upgrade.is_none()
        {
            continue;
        }
        out.put_slice(k.as_bytes());
        out.put_slice(b": ");
        out.put_slice(v.as_bytes());
        out.put_slice(b"\r\n");
    }
    match framing {
        Framing::None => {}
        Framing::Length(n) => {
            out.put_slice(b"content-length: ");
            put_decimal(out, n as u64);
            out.put_slice(b"\r\n");
        }
        Framing::Chunked => out.put_slice(b"transfer-encoding: chunked\r\n"),
    }
    if resp.upgrade.is_none() {
        if !a.keep_alive {
            out.put_slice(b"connection: close\r\n");
        } else if a.version == 0 {
            out.put_slice(b"connection: keep-alive\r\n");
        }
    }
    out.put_slice(b"\r\n");
}

/// Writes `resp` (streamed bodies until their end). False when the body stream ended the
/// connection's usefulness (HTTP/1.0 streaming is close-delimited).
pub(crate) async fn write_response(
    ctx: &Context,
    id: SocketId,
    resp: &mut Response,
    a: &Answering,
) -> bool {
    let mut out = BytesMut::with_capacity(256);
    let body = std::mem::take(&mut resp.body);
    match body {
        _ if resp.upgrade.is_some() => {
            put_head(&mut out, resp, a, Framing::None);
            socket::write(ctx, id, out.freeze());
            true
        }
        _ if resp.bodiless() => {
            put_head(&mut out, resp, a, Framing::None);
            socket::write(ctx, id, out.freeze());
            a.keep_alive
        }
        Body::Empty => {
            put_head(&mut out, resp, a, Framing::Length(0));
            socket::write(ctx, id, out.freeze());
            a.keep_alive
        }
        Body::Full(b) => {
            put_head(&mut out, resp, a, Framing::Length(b.len()));
            if a.head_only {
                socket::write(ctx, id, out.freeze());
            } else if b.len() <= COPY_BODY_MAX {
                out.put_slice(&b);
                socket::write(ctx, id, out.freeze());
            } else {
                socket::lwrite(ctx, id, vec![out.freeze(), b]);
            }
            a.keep_alive
        }
        Body::Stream(mut chunks) => {
            let chunked = a.version >= 1;
            let keep = a.keep_alive && chunked;
            let framing = if chunked {
                Framing::Chunked
            } else {
                Framing::None
            };
            let a2 = Answering {
                keep_alive: keep,
                ..*a
            };
            put_head(&mut out, resp, &a2, framing);
            socket::write(ctx, id, out.freeze());
            if a.head_only {
                return keep;
            }
            while let Some(c) = chunks.next().await {
                if chunked {
                    let size = Bytes::from(format!("{:x}\r\n", c.len()));
                    socket::lwrite(ctx, id, vec![size, c, Bytes::from_static(b"\r\n")]);
                } else {
                    socket::write(ctx, id, c);
                }
            }
            if chunked {
                socket::write(ctx, id, Bytes::from_static(b"0\r\n\r\n"));
            }
            keep
        }
    }
}

/// A short error response (the status as its body) with `connection: close`. The
/// detailed reason goes to the log, not to the peer.
pub(crate) fn error_bytes(status: u16) -> Bytes {
    let body = format!("{} {}\n", status, reason_phrase(status));
    Bytes::from(format!(
        "HTTP/1.1 {status} {}\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        reason_phrase(status),
        body.len()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals() {
        for n in [0u64, 7, 10, 200, 65_535, u64::MAX] {
            let mut b = BytesMut::new();
            put_decimal(&mut b, n);
            assert_eq!(&b[..], n.to_string().as_bytes());
        }
    }
}
