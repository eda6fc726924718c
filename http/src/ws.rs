//! A WebSocket in a service, over the async socket API (skynet's `websocket.lua`): accept
//! one on a raw connection ([`accept`]) or on an HTTP route ([`upgrade`]), or connect to
//! a server ([`connect`]); then [`WebSocket::recv`] and the `send_*` calls.
//!
//! Pings are answered with pongs on their own (and still reported); a close from the
//! peer is echoed with its code; a violation is answered with its close code (1002,
//! 1007, 1009) and a close, and logged with the connection.

use std::time::Duration;

use bytes::Bytes;
use skynet_net::socket;
use skynet_net::SocketId;
use skynet_runtime::Context;

use crate::backlog::Backlog;
use crate::deadline::within;
use crate::error::HttpError;
use crate::head::{parse_request, parse_response, read_raw_head, Headers, Request};
use crate::resolve::resolve;
use crate::response::{error_bytes, Response};
use crate::stats::HttpStats;
use crate::target::parse_target;
use crate::ws_frame::{
    close_payload, encode, frame_header, Decoder, DecoderConf, Frame, Opcode, Role, Violation,
};
use crate::ws_handshake::{self, check_request, client_key, random_u64, Accepted};

/// How long a closing side waits for the peer's close frame.
const CLOSE_WAIT: Duration = Duration::from_secs(5);

/// Payloads up to this size are copied behind their header (one write); larger ones go
/// out as header + payload in one `writev`, uncopied (server side: no mask to apply).
const COPY_MAX: usize = 1024;

/// WebSocket settings for a server side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WsConf {
    /// Largest frame payload (close 1009 past it). Default 256 KiB, as skynet.
    pub max_frame: usize,
    /// Largest message, fragments together (close 1009 past it). Default 256 KiB.
    pub max_message: usize,
    /// Accept unmasked client frames (skynet's own client sends them). Default false:
    /// RFC 6455 requires masking, and the mask is what keeps a page's script from
    /// writing chosen bytes at a caching proxy.
    pub accept_unmasked: bool,
    /// Subprotocols this server speaks, in preference order.
    pub protocols: Vec<String>,
    /// Longest handshake head (431 past it). Default 8 KiB.
    pub max_head: usize,
    /// Deadline for the handshake head. Default 10 s.
    pub handshake_timeout: Option<Duration>,
}

impl Default for WsConf {
    fn default() -> WsConf {
        WsConf {
            max_frame: 256 * 1024,
            max_message: 256 * 1024,
            accept_unmasked: false,
            protocols: Vec::new(),
            max_head: 8192,
            handshake_timeout: Some(Duration::from_secs(10)),
        }
    }
}

impl WsConf {
    /// The decoder settings for a server reading client frames.
    pub fn decoder(&self) -> DecoderConf {
        DecoderConf {
            max_frame: self.max_frame,
            max_message: self.max_message,
            accept_unmasked: self.accept_unmasked,
            ..DecoderConf::new(Role::Server)
        }
    }
}

/// A data or control message received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WsMessage {
    /// Text (valid UTF-8).
    Text(Bytes),
    /// Binary.
    Binary(Bytes),
    /// A ping (already answered with a pong).
    Ping(Bytes),
    /// A pong.
    Pong(Bytes),
}

/// Why a WebSocket ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WsError {
    /// The close handshake: the code and reason (the peer's, or ours), and the socket closed.
    Closed(Option<u16>, String),
    /// The peer broke the protocol: we sent this close code and closed.
    Protocol(Violation),
    /// The connection ended without a close frame (close code 1006) or could not be made.
    Io(String),
}

impl std::fmt::Display for WsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WsError::Closed(c, r) => write!(f, "closed ({c:?} {r:?})"),
            WsError::Protocol(v) => write!(
                f,
                "protocol violation, closed with {}: {}",
                v.code, v.reason
            ),
            WsError::Io(m) => write!(f, "connection lost: {m}"),
        }
    }
}

impl std::error::Error for WsError {}

/// An open WebSocket, owned by one task of a service.
pub struct WebSocket {
    ctx: Context,
    id: SocketId,
    dec: Decoder,
    role: Role,
    close_sent: bool,
    /// Output backpressure: no more input is read while the peer leaves 1 MiB unread.
    backlog: Backlog,
    /// The subprotocol agreed in the handshake.
    pub protocol: Option<String>,
}

impl Drop for WebSocket {
    fn drop(&mut self) {
        HttpStats::of(&self.ctx.node()).ws_closed();
    }
}

impl std::fmt::Debug for WebSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WebSocket({} {:?})", self.id, self.role)
    }
}

impl WebSocket {
    fn new(
        ctx: Context,
        id: SocketId,
        dec: DecoderConf,
        rest: &[u8],
        protocol: Option<String>,
    ) -> WebSocket {
        let role = dec.role;
        let mut dec = Decoder::new(dec);
        dec.feed(rest);
        let backlog = Backlog::watch(&ctx, id);
        HttpStats::of(&ctx.node()).ws_opened();
        WebSocket {
            ctx,
            id,
            dec,
            role,
            close_sent: false,
            backlog,
            protocol,
        }
    }

    /// The socket.
    pub fn id(&self) -> SocketId {
        self.id
    }

    /// The next message. Ends with `Err` once the connection is closed (either way). While
    /// 1 MiB or more written to the peer waits unsent (it does not read), no more input is
    /// read: the peer's sends are held back by TCP.
    pub async fn recv(&mut self) -> Result<WsMessage, WsError> {
        loop {
            match self.dec.next_frame() {
                Ok(Some(Frame::Text(b))) => return Ok(WsMessage::Text(b)),
                Ok(Some(Frame::Binary(b))) => return Ok(WsMessage::Binary(b)),
                Ok(Some(Frame::Pong(b))) => return Ok(WsMessage::Pong(b)),
                Ok(Some(Frame::Ping(b))) => {
                    self.send(Opcode::Pong, &b);
                    return Ok(WsMessage::Ping(b));
                }
                Ok(Some(Frame::Close(code, reason))) => {
                    if !self.close_sent {
                        // Echo the peer's code (an empty close is echoed empty).
                        let p = code.map(|c| close_payload(c, "")).unwrap_or_default();
                        self.send(Opcode::Close, &p);
                        self.close_sent = true;
                    }
                    socket::close(&self.ctx, self.id).await;
                    return Err(WsError::Closed(code, reason));
                }
                Ok(None) => {}
                Err(v) => {
                    log::info!(
                        "websocket: fd {}: {} (closing with {})",
                        self.id,
                        v.reason,
                        v.code
                    );
                    if !self.close_sent {
                        self.send(Opcode::Close, &close_payload(v.code, &v.reason));
                        self.close_sent = true;
                    }
                    socket::close(&self.ctx, self.id).await;
                    return Err(WsError::Protocol(v));
                }
            }
            // A peer that does not read what we write is not read either (an echo to a
            // client that only sends would otherwise queue without bound).
            self.backlog.drained().await;
            match socket::read_some(&self.ctx, self.id).await {
                Ok(b) => self.dec.feed_bytes(b),
                Err(e) => {
                    socket::close(&self.ctx, self.id).await;
                    return Err(WsError::Io(e.to_string()));
                }
            }
        }
    }

    /// Sends a text message.
    pub fn send_text(&mut self, text: &str) -> bool {
        self.send(Opcode::Text, text.as_bytes())
    }

    /// Sends a binary message.
    pub fn send_binary(&mut self, data: &[u8]) -> bool {
        self.send(Opcode::Binary, data)
    }

    /// Sends a message of `opcode` whose payload is already `Bytes` (a server sends it
    /// without copying when it is large).
    pub fn send_bytes(&mut self, opcode: Opcode, data: Bytes) -> bool {
        if self.role == Role::Server && data.len() > COPY_MAX {
            let (h, n) = frame_header(opcode, data.len(), None);
            return socket::lwrite(
                &self.ctx,
                self.id,
                vec![Bytes::copy_from_slice(&h[..n]), data],
            );
        }
        self.send(opcode, &data)
    }

    /// Sends a ping.
    pub fn ping(&mut self, payload: &[u8]) -> bool {
        self.send(Opcode::Ping, &payload[..payload.len().min(125)])
    }

    fn send(&mut self, opcode: Opcode, payload: &[u8]) -> bool {
        if self.close_sent {
            return false;
        }
        // A client masks every frame (RFC 6455 §5.3); a server never does.
        let mask = (self.role == Role::Client)
            .then(|| random_u64().to_ne_bytes()[..4].try_into().unwrap_or([0; 4]));
        socket::write(&self.ctx, self.id, encode(opcode, payload, mask))
    }

    /// Closes with `code` and `reason`: sends the close frame, waits (5 s at most) for
    /// the peer's, then closes the socket.
    pub async fn close(mut self, code: u16, reason: &str) {
        self.send(Opcode::Close, &close_payload(code, reason));
        self.close_sent = true;
        let _ = within(&self.ctx.clone(), Some(CLOSE_WAIT), async {
            while self.recv().await.is_ok() {}
        })
        .await;
        socket::close(&self.ctx, self.id).await;
    }
}

/// Reads a handshake from an accepted connection (started here) and answers it: the
/// WebSocket, or the error that was answered with its status and a close.
pub async fn accept(ctx: &Context, id: SocketId, conf: &WsConf) -> Result<WebSocket, HttpError> {
    socket::start(ctx, id);
    let r = async {
        let head = match within(
            ctx,
            conf.handshake_timeout,
            read_raw_head(ctx, id, conf.max_head),
        )
        .await
        {
            Some(h) => h?,
            None => return Err(HttpError::status(408, "handshake not complete in time")),
        };
        let req = parse_request(&head)?;
        let a = check_request(&req, &conf.protocols)?;
        Ok(a)
    }
    .await;
    match r {
        Ok(a) => {
            socket::write(ctx, id, ws_handshake::response_bytes(&a));
            let rest = socket::buffered(ctx, id);
            let rest = socket::read(ctx, id, rest).await.unwrap_or_default();
            Ok(WebSocket::new(
                ctx.clone(),
                id,
                conf.decoder(),
                &rest,
                a.protocol,
            ))
        }
        Err(e) => {
            if let HttpError::Status(status, why) = &e {
                log::info!("websocket: fd {id}: handshake refused: {status} ({why})");
                socket::write(ctx, id, error_bytes(*status));
            }
            socket::close(ctx, id).await;
            Err(e)
        }
    }
}

/// Answers an upgrade request on an HTTP route: a `101` whose connection then runs
/// `then(websocket)`, or the error status a bad upgrade request deserves.
///
/// ```no_run
/// use skynet_http::{ws, Request, Router};
/// use skynet_runtime::Context;
///
/// let router = Router::new().get("/ws", |_ctx: Context, req: Request| async move {
///     ws::upgrade(&req, ws::WsConf::default(), |mut sock| async move {
///         while let Ok(ws::WsMessage::Text(t)) = sock.recv().await {
///             sock.send_bytes(skynet_http::ws_frame::Opcode::Text, t);
///         }
///     })
/// });
/// ```
pub fn upgrade<F, Fut>(req: &Request, conf: WsConf, then: F) -> Response
where
    F: FnOnce(WebSocket) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let a: Accepted = match check_request(req, &conf.protocols) {
        Ok(a) => a,
        Err(HttpError::Status(status, why)) => {
            log::info!("websocket: upgrade refused: {status} ({why})");
            return Response::text(status, format!("{why}\n")).header("connection", "close");
        }
        Err(e) => return Response::text(400, format!("{e}\n")),
    };
    let protocol = a.protocol.clone();
    Response::upgrade(
        101,
        ws_handshake::response_headers(&a),
        Box::new(move |ctx: Context, id: SocketId, rest: Bytes| {
            Box::pin(async move {
                then(WebSocket::new(ctx, id, conf.decoder(), &rest, protocol)).await;
            })
        }),
    )
}

/// Client settings for [`connect`].
#[derive(Debug, Clone, Default)]
pub struct ClientConf {
    /// Extra header lines for the handshake request.
    pub headers: Headers,
    /// Subprotocols to offer.
    pub protocols: Vec<String>,
    /// Deadline for connecting and the handshake (none: wait as long as it takes).
    pub timeout: Option<Duration>,
    /// Largest frame and message accepted from the server (none: no limit, as skynet's
    /// client).
    pub max_message: Option<usize>,
}

/// Connects to `url` (`ws://host:port/path`, `host:port`, `[v6]:port`), with the
/// handshake; frames it sends are masked.
pub async fn connect(ctx: &Context, url: &str, conf: &ClientConf) -> Result<WebSocket, WsError> {
    let t = parse_target(url, 80).map_err(WsError::Io)?;
    let work = async {
        let addr = resolve(&t.host, t.port)
            .await
            .map_err(|e| WsError::Io(e.to_string()))?;
        let id = socket::open(ctx, &addr.ip().to_string(), addr.port())
            .await
            .map_err(|e| WsError::Io(format!("{url}: {e}")))?;
        let key = client_key();
        socket::write(
            ctx,
            id,
            ws_handshake::client_request(
                &t.host_header,
                &t.path,
                &key,
                &conf.protocols,
                &conf.headers,
            ),
        );
        let answer = async {
            let head = read_raw_head(ctx, id, 16 * 1024)
                .await
                .map_err(|e| e.to_string())?;
            let r = parse_response(&head).map_err(|e| e.to_string())?;
            ws_handshake::check_response(&r, &key)
        }
        .await;
        match answer {
            Ok(protocol) => {
                let rest = socket::buffered(ctx, id);
                let rest = socket::read(ctx, id, rest).await.unwrap_or_default();
                let limit = conf.max_message.unwrap_or(usize::MAX);
                let dec = DecoderConf {
                    max_frame: limit,
                    max_message: limit,
                    ..DecoderConf::new(Role::Client)
                };
                Ok(WebSocket::new(ctx.clone(), id, dec, &rest, protocol))
            }
            Err(why) => {
                socket::close(ctx, id).await;
                Err(WsError::Io(format!("{url}: handshake failed: {why}")))
            }
        }
    };
    match within(ctx, conf.timeout, work).await {
        Some(r) => r,
        None => Err(WsError::Io(format!("{url}: no handshake in time"))),
    }
}
