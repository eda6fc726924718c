//! Message heads: parsing a request head with `httparse`, and the header list both sides use.

use std::net::SocketAddr;

use bytes::{Bytes, BytesMut};
use skynet_net::socket::{self, ReadError};
use skynet_net::SocketId;
use skynet_runtime::Context;

use crate::error::HttpError;
use crate::url::{self, Query};

/// Most header lines a head may have (more is answered with 431).
pub const MAX_HEADERS: usize = 128;

/// A message's header lines in order: names lowercased (skynet's `parseheader` does the
/// same), values as sent, repeated names kept.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers(pub Vec<(String, String)>);

impl Headers {
    /// The first value of `name` (any case).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `name`, in order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// True when a comma-separated value of `name` holds `token` (any case), as in
    /// `Connection: keep-alive, Upgrade`.
    pub fn has_token(&self, name: &str, token: &str) -> bool {
        self.get_all(name)
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    }

    /// Appends a header line.
    pub fn push(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.0.push((name.into(), value.into()));
    }

    fn from_parsed(hs: &[httparse::Header<'_>]) -> Headers {
        Headers(
            hs.iter()
                .map(|h| {
                    (
                        h.name.to_ascii_lowercase(),
                        String::from_utf8_lossy(h.value).into_owned(),
                    )
                })
                .collect(),
        )
    }
}

/// A request as the server hands it to a handler.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// `GET`, `POST`, ... as sent.
    pub method: String,
    /// The request target as sent (`/a%20b?x=1`).
    pub target: String,
    /// The target's path, `%XX`-decoded (`/a b`).
    pub path: String,
    /// The target's query, decoded (`+` is a space; repeated keys kept).
    pub query: Query,
    /// The minor version: 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub version: u8,
    /// The header lines.
    pub headers: Headers,
    /// The body (content-length or chunked, already read whole; trailers are appended to
    /// `headers`).
    pub body: Bytes,
    /// The client's address.
    pub peer: Option<SocketAddr>,
}

impl Request {
    /// A request for tests and clients: `method` on `target`, no headers, no body.
    pub fn new(method: &str, target: &str) -> Request {
        let (path, query) = url::split_target(target);
        Request {
            method: method.to_string(),
            target: target.to_string(),
            path,
            query: url::parse_query(query),
            version: 1,
            ..Request::default()
        }
    }

    /// The first value of header `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)
    }
}

/// Parses a whole request head (ending in the empty line). The body is left empty.
pub fn parse_request(head: &[u8]) -> Result<Request, HttpError> {
    let mut hs = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut hs);
    match req.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => {
            return Err(HttpError::status(400, "incomplete request head"))
        }
        Err(httparse::Error::Version) => {
            return Err(HttpError::status(
                505,
                "only HTTP/1.0 and HTTP/1.1 are served",
            ))
        }
        Err(httparse::Error::TooManyHeaders) => {
            return Err(HttpError::status(
                431,
                format!("more than {MAX_HEADERS} header lines"),
            ))
        }
        Err(e) => {
            return Err(HttpError::status(
                400,
                format!("malformed request head: {e}"),
            ))
        }
    }
    // Complete means all three are there.
    let (Some(method), Some(target), Some(version)) = (req.method, req.path, req.version) else {
        return Err(HttpError::status(400, "malformed request line"));
    };
    let (path, query) = url::split_target(target);
    Ok(Request {
        method: method.to_string(),
        target: target.to_string(),
        path,
        query: url::parse_query(query),
        version,
        headers: Headers::from_parsed(req.headers),
        body: Bytes::new(),
        peer: None,
    })
}

/// Reads a whole head, at most `max` bytes with its final empty line (431 past it), and
/// returns it with that line (ready for `httparse`).
pub(crate) async fn read_raw_head(
    ctx: &Context,
    id: SocketId,
    max: usize,
) -> Result<BytesMut, HttpError> {
    let head = match socket::read_line(ctx, id, b"\r\n\r\n", Some(max)).await {
        Ok(h) => h,
        Err(ReadError::LineTooLong(_)) => {
            return Err(HttpError::status(431, format!("head over {max} bytes")))
        }
        Err(e) => return Err(HttpError::Closed(e.to_string())),
    };
    if head.len() + 4 > max {
        return Err(HttpError::status(431, format!("head over {max} bytes")));
    }
    let mut buf = BytesMut::with_capacity(head.len() + 4);
    buf.extend_from_slice(&head);
    buf.extend_from_slice(b"\r\n\r\n");
    Ok(buf)
}

/// A response head as the client reads it.
#[derive(Debug, Clone, Default)]
pub(crate) struct ResponseHead {
    pub status: u16,
    /// HTTP/1.x minor version (the client keeps an HTTP/1.0 server's connection only
    /// when it says keep-alive).
    #[allow(dead_code)] // read by the HTTP client, next
    pub version: u8,
    pub headers: Headers,
}

/// Parses a whole response head (ending in the empty line).
#[allow(dead_code)] // for the client, which comes next
pub(crate) fn parse_response(head: &[u8]) -> Result<ResponseHead, HttpError> {
    let mut hs = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut hs);
    match resp.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => {
            return Err(HttpError::Closed("incomplete response head".into()))
        }
        Err(e) => return Err(HttpError::Closed(format!("malformed response head: {e}"))),
    }
    let (Some(status), Some(version)) = (resp.code, resp.version) else {
        return Err(HttpError::Closed("malformed status line".into()));
    };
    Ok(ResponseHead {
        status,
        version,
        headers: Headers::from_parsed(resp.headers),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_request() {
        let r =
            parse_request(b"GET /a%20b?x=1&x=2 HTTP/1.1\r\nHost: h\r\nX-A: 1\r\nx-a: 2\r\n\r\n")
                .expect("parses");
        assert_eq!(r.method, "GET");
        assert_eq!(r.path, "/a b");
        assert_eq!(r.query.all("x").collect::<Vec<_>>(), ["1", "2"]);
        assert_eq!(r.version, 1);
        assert_eq!(r.header("HOST"), Some("h"));
        assert_eq!(r.headers.get_all("x-a").collect::<Vec<_>>(), ["1", "2"]);
    }

    #[test]
    fn statuses_for_bad_heads() {
        let status = |h: &[u8]| match parse_request(h) {
            Err(HttpError::Status(s, _)) => s,
            other => panic!("{other:?}"),
        };
        assert_eq!(status(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), 505);
        assert_eq!(status(b"GET / HTTP/1.1\r\nbad header\r\n\r\n"), 400);
        assert_eq!(status(b"GET\r\n\r\n"), 400);
        let mut many = b"GET / HTTP/1.1\r\n".to_vec();
        for i in 0..=MAX_HEADERS {
            many.extend_from_slice(format!("h{i}: v\r\n").as_bytes());
        }
        many.extend_from_slice(b"\r\n");
        assert_eq!(status(&many), 431);
    }

    #[test]
    fn tokens() {
        let mut h = Headers::default();
        h.push("connection", "keep-alive, Upgrade");
        assert!(h.has_token("Connection", "upgrade"));
        assert!(!h.has_token("Connection", "close"));
    }
}
