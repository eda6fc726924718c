//! One server connection: read a request, hand it to the handler, write the response, and
//! again (keep-alive; pipelined requests are simply read in turn), until the client
//! closes, asks to close, breaks a limit or a deadline, or the connection is upgraded.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use skynet_net::socket;
use skynet_net::SocketId;
use skynet_runtime::Context;

use crate::backlog::Backlog;
use crate::body::{read_body, request_framing, Framing};
use crate::deadline::within;
use crate::error::HttpError;
use crate::handler::Handler;
use crate::head::{parse_request, read_raw_head, Request};
use crate::limits::Limits;
use crate::response::{error_bytes, write_response, Answering};
use crate::stats::HttpStats;

/// After an error response, input still buffered means the client may be sending more:
/// it is drained for up to [`LINGER`] (until a [`LINGER_GAP`] without input, at most
/// [`LINGER_BYTES`]) before the close, so the kernel does not answer unread bytes with a
/// reset that can destroy the response before the client reads it.
const LINGER: Duration = Duration::from_secs(1);
const LINGER_GAP: Duration = Duration::from_millis(200);
const LINGER_BYTES: usize = 256 * 1024;

/// Pipelined requests served in a row before the connection's task yields.
const PIPELINE_YIELD: u32 = 4;

/// How a connection's request loop ended.
enum End {
    /// Close normally (flush, then close).
    Close,
    /// Answer with an error status, then close.
    Error(HttpError),
    /// An upgrade handler owns the socket now.
    Upgraded,
}

/// Serves one accepted, started connection until it ends; closes it.
pub(crate) async fn serve(
    ctx: Context,
    id: SocketId,
    peer: SocketAddr,
    handler: &dyn Handler,
    limits: &Limits,
) {
    let stats = HttpStats::of(&ctx.node());
    match requests(&ctx, id, peer, handler, limits, &stats).await {
        End::Close => socket::close(&ctx, id).await,
        End::Upgraded => {}
        End::Error(HttpError::Status(status, why)) => {
            stats.response(status);
            log::info!("http: fd {id} ({peer}): {status} ({why}); closing");
            socket::write(&ctx, id, error_bytes(status));
            linger(&ctx, id).await;
            socket::close(&ctx, id).await;
        }
        End::Error(e) => {
            log::debug!("http: fd {id} ({peer}): {e}");
            socket::close(&ctx, id).await;
        }
    }
}

async fn linger(ctx: &Context, id: SocketId) {
    if socket::buffered(ctx, id) == 0 {
        return;
    }
    let drain = async {
        let mut n = 0;
        while n < LINGER_BYTES {
            match within(ctx, Some(LINGER_GAP), socket::read_some(ctx, id)).await {
                Some(Ok(b)) => n += b.len(),
                _ => break,
            }
        }
    };
    let _ = within(ctx, Some(LINGER), drain).await;
}

async fn requests(
    ctx: &Context,
    id: SocketId,
    peer: SocketAddr,
    handler: &dyn Handler,
    limits: &Limits,
    stats: &HttpStats,
) -> End {
    let backlog = Backlog::watch(ctx, id);
    let mut first = true;
    let mut streak = 0u32;
    loop {
        // A client that does not read its responses is not read either until they drain.
        if within(ctx, limits.idle_timeout, backlog.drained())
            .await
            .is_none()
        {
            log::info!("http: fd {id} ({peer}): responses not read in time; closing");
            return End::Close;
        }
        if !first {
            // Idle between requests: wait for the next one's first byte.
            match within(ctx, limits.idle_timeout, socket::block(ctx, id)).await {
                None => {
                    log::debug!("http: fd {id} ({peer}): idle, closing");
                    return End::Close;
                }
                Some(false) => return End::Close,
                Some(true) => {}
            }
        }
        first = false;
        let mut req = match read_head(ctx, id, limits).await {
            Ok(Some(r)) => r,
            Ok(None) => return End::Close,
            Err(e) => return End::Error(e),
        };
        req.peer = Some(peer);
        let keep_alive = limits.keep_alive
            && if req.version >= 1 {
                !req.headers.has_token("connection", "close")
            } else {
                req.headers.has_token("connection", "keep-alive")
            };
        match read_request_body(ctx, id, &mut req, limits).await {
            Ok(()) => {}
            Err(e) => return End::Error(e),
        }
        let answering = Answering {
            version: req.version,
            head_only: req.method == "HEAD",
            keep_alive,
        };
        let mut resp = handler.handle(ctx.clone(), req).await;
        let keep = write_response(ctx, id, &mut resp, &answering).await;
        stats.response(resp.status);
        if let Some(then) = resp.upgrade.take() {
            let rest = socket::buffered(ctx, id);
            let rest = match socket::read(ctx, id, rest).await {
                Ok(b) => b,
                Err(_) => Bytes::new(),
            };
            then(ctx.clone(), id, rest).await;
            return End::Upgraded;
        }
        if !keep {
            return End::Close;
        }
        // Pipelined requests already buffered are served without a wait, so nothing else
        // of this service (the socket's WARNING that stops a client not reading its
        // responses, other connections) would run: yield now and then.
        if socket::buffered(ctx, id) > 0 {
            streak += 1;
            if streak == PIPELINE_YIELD {
                streak = 0;
                ctx.yield_now().await;
            }
        } else {
            streak = 0;
        }
    }
}

/// The next request's head; `Ok(None)` when the client left (or sent nothing in time)
/// before a request began.
async fn read_head(
    ctx: &Context,
    id: SocketId,
    limits: &Limits,
) -> Result<Option<Request>, HttpError> {
    let buf = match within(
        ctx,
        limits.head_timeout,
        read_raw_head(ctx, id, limits.header),
    )
    .await
    {
        None if socket::buffered(ctx, id) == 0 => return Ok(None),
        None => return Err(HttpError::status(408, "request head not complete in time")),
        Some(Err(HttpError::Closed(_))) => return Ok(None),
        Some(r) => r?,
    };
    let req = parse_request(&buf)?;
    if req.version >= 1 && req.header("host").is_none() {
        return Err(HttpError::status(400, "HTTP/1.1 request without host"));
    }
    Ok(Some(req))
}

/// Reads the body `req`'s head announces (answering `Expect: 100-continue` first).
async fn read_request_body(
    ctx: &Context,
    id: SocketId,
    req: &mut Request,
    limits: &Limits,
) -> Result<(), HttpError> {
    let framing = request_framing(&req.headers)?;
    if let Some(expect) = req.header("expect") {
        if !expect.eq_ignore_ascii_case("100-continue") {
            return Err(HttpError::status(417, format!("expect: {expect}")));
        }
        if let Framing::Length(n) = framing {
            if n > limits.body {
                return Err(HttpError::status(
                    413,
                    format!("body over {} bytes", limits.body),
                ));
            }
        }
        if framing != Framing::None && req.version >= 1 {
            socket::write(
                ctx,
                id,
                Bytes::from_static(b"HTTP/1.1 100 Continue\r\n\r\n"),
            );
        }
    }
    let mut trailers = std::mem::take(&mut req.headers);
    let read = read_body(ctx, id, framing, limits.body, &mut trailers);
    let body = within(ctx, limits.body_timeout, read).await;
    req.headers = trailers;
    match body {
        None => Err(HttpError::status(408, "request body not complete in time")),
        Some(Ok(b)) => {
            req.body = b;
            Ok(())
        }
        Some(Err(e)) => Err(e),
    }
}
