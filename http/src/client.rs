//! The HTTP client (skynet's `httpc`): `request`, `get`, `post`, `head`, with header lines,
//! a body and a deadline; responses framed by content-length, chunked or the close.
//!
//! One connection per request (`connection: close`), as skynet's httpc; names are resolved
//! off the worker threads ([`crate::resolve`]).

use std::time::{Duration, Instant};

use bytes::Bytes;
use skynet_net::{socket, SocketId};
use skynet_runtime::Context;

use crate::body::{read_body, response_framing};
use crate::deadline::within;
use crate::error::HttpError;
use crate::head::{parse_response, read_raw_head, Headers};
use crate::resolve::resolve;
use crate::target::parse_target;

/// Longest response head the client reads.
const MAX_RESPONSE_HEAD: usize = 64 * 1024;

/// Per-request settings.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Extra header lines (`host`, `content-length` and `connection` are written for you).
    pub headers: Headers,
    /// Deadline for the whole exchange, from resolving the name to the body's last byte.
    pub timeout: Option<Duration>,
    /// Largest response body accepted (default 64 MiB).
    pub max_body: Option<usize>,
}

/// A response.
#[derive(Debug, Clone, Default)]
pub struct ClientResponse {
    /// The status code.
    pub status: u16,
    /// The header lines (names lowercased).
    pub headers: Headers,
    /// The body.
    pub body: Bytes,
}

impl ClientResponse {
    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// `GET url`.
pub async fn get(ctx: &Context, url: &str, opts: &Options) -> Result<ClientResponse, HttpError> {
    request(ctx, "GET", url, Bytes::new(), opts).await
}

/// `HEAD url` (the body is always empty).
pub async fn head(ctx: &Context, url: &str, opts: &Options) -> Result<ClientResponse, HttpError> {
    request(ctx, "HEAD", url, Bytes::new(), opts).await
}

/// `POST url` with a form, `application/x-www-form-urlencoded` (skynet's `httpc.post`).
pub async fn post_form(
    ctx: &Context,
    url: &str,
    form: &[(&str, &str)],
    opts: &Options,
) -> Result<ClientResponse, HttpError> {
    let body: Vec<String> = form
        .iter()
        .map(|(k, v)| format!("{}={}", crate::url::encode(k), crate::url::encode(v)))
        .collect();
    let mut o = opts.clone();
    o.headers
        .push("content-type", "application/x-www-form-urlencoded");
    request(ctx, "POST", url, Bytes::from(body.join("&")), &o).await
}

/// `method url` with `body`: the response, or why there is none. `url`: `http://host:port/path`,
/// `host:port/path`, `[v6]:port/path`.
pub async fn request(
    ctx: &Context,
    method: &str,
    url: &str,
    body: Bytes,
    opts: &Options,
) -> Result<ClientResponse, HttpError> {
    let t = parse_target(url, 80).map_err(HttpError::Closed)?;
    let deadline = opts.timeout.map(|d| Instant::now() + d);
    let left = || deadline.map(|d| d.saturating_duration_since(Instant::now()));
    let connect = async {
        let addr = resolve(&t.host, t.port).await?;
        socket::open(ctx, &addr.ip().to_string(), addr.port()).await
    };
    let id = match within(ctx, left(), connect).await {
        None => return Err(HttpError::Timeout("connect")),
        Some(Err(e)) => return Err(HttpError::Closed(format!("{url}: {e}"))),
        Some(Ok(id)) => id,
    };
    let mut head = format!(
        "{method} {} HTTP/1.1\r\nhost: {}\r\n",
        t.path, t.host_header
    );
    for (k, v) in &opts.headers.0 {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() || matches!(method, "POST" | "PUT" | "PATCH") {
        head.push_str(&format!("content-length: {}\r\n", body.len()));
    }
    head.push_str("connection: close\r\n\r\n");
    socket::lwrite(ctx, id, vec![Bytes::from(head), body]);
    let limit = opts.max_body.unwrap_or(64 * 1024 * 1024);
    let r = within(ctx, left(), exchange(ctx, id, method, limit)).await;
    socket::close(ctx, id).await;
    r.unwrap_or(Err(HttpError::Timeout("response")))
}

async fn exchange(
    ctx: &Context,
    id: SocketId,
    method: &str,
    limit: usize,
) -> Result<ClientResponse, HttpError> {
    loop {
        let raw = read_raw_head(ctx, id, MAX_RESPONSE_HEAD)
            .await
            .map_err(|e| HttpError::Closed(e.to_string()))?;
        let head = parse_response(&raw)?;
        if (100..200).contains(&head.status) {
            continue; // 100 Continue and other interim answers
        }
        let framing = response_framing(method, head.status, &head.headers)?;
        let mut headers = head.headers;
        let body = read_body(ctx, id, framing, limit, &mut headers)
            .await
            .map_err(|e| match e {
                HttpError::Status(413, _) => {
                    HttpError::Closed(format!("response body over {limit} bytes"))
                }
                HttpError::Status(_, why) => HttpError::Closed(why),
                e => e,
            })?;
        return Ok(ClientResponse {
            status: head.status,
            headers,
            body,
        });
    }
}
