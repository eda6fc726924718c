//! The async socket API: skynet's `socket.lua` in Rust.
//!
//! Every function takes the service's [`Context`]. The first use installs a SOCKET handler in
//! the service (through `Context::intercept`) that keeps each socket's unread bytes in a
//! per-service pool and wakes the task reading it; SOCKET messages about sockets not in the
//! pool still reach `dispatch`.
//!
//! Backpressure, two bounds: skynet's rule pauses a socket when more than [`PAUSE_LIMIT`]
//! (128 KiB) received bytes wait unread in the service, and the next read that has to wait
//! resumes it; and the socket thread itself delivers at most [`BUFFER_LIMIT`] (1 MiB) bytes
//! the service has not read yet, counting what is still in its mailbox, then stops reading
//! the socket until reads return the credit (the kernel and then TCP slow the peer down).
//! So a slow service never holds more than that per socket. [`limit`] closes a socket whose
//! unread bytes pass a bound instead.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::{Poll, Waker};

use bytes::{Bytes, BytesMut};
use skynet_runtime::{Context, Message, Ptype};

use crate::driver::Driver;
use crate::event::{SocketEvent, SocketId};

/// Most bytes a socket delivers that its service has not read yet, mailbox included.
///
/// skynet's socket.lua pauses at 128 KiB, but only after the bytes reached the service, so
/// what sits in the mailbox is unbounded; here the socket thread itself stops at this window
/// and resumes on credit. Credit is a counter the socket thread reads as it goes; only a
/// window found full costs a message and a wake-up (see `Driver::consumed`). The window is
/// 1 MiB rather than 128 KiB because a 128 KiB one is found full far more often: one bulk
/// connection then ran at 1.3-3.4 GB/s against 2.4-4.4 with 1 MiB (`bench flood`).
pub const BUFFER_LIMIT: usize = 1024 * 1024;

/// skynet's pause rule (socket.lua's `BUFFER_LIMIT`): when more than this many received
/// bytes wait in a socket's buffer in the service, the socket is paused, and the next read
/// that has to wait (or one that brings the buffer back under it) resumes it.
/// [`BUFFER_LIMIT`] is the hard bound that also counts what is still in the mailbox.
pub const PAUSE_LIMIT: usize = 128 * 1024;

/// Consumed bytes are reported back to the socket thread in chunks of this size.
const ACK_CHUNK: usize = 32 * 1024;

/// Called for each connection a listener accepts: `(ctx, new socket, peer)`.
pub type AcceptFn = Arc<dyn Fn(&Context, SocketId, SocketAddr) + Send + Sync>;
/// Called when a socket's unsent bytes pass a threshold (KiB; 0 = drained).
pub type WarningFn = Arc<dyn Fn(&Context, SocketId, usize) + Send + Sync>;
/// Called once when a socket closes.
pub type CloseFn = Box<dyn FnOnce(&Context, SocketId) + Send>;
/// Called for each datagram of a UDP socket: `(ctx, socket, data, sender)`.
pub type UdpFn = Arc<dyn Fn(&Context, SocketId, Bytes, SocketAddr) + Send + Sync>;

/// Why a read ended without the data asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadError {
    /// The socket closed; `rest` is whatever was still buffered.
    Closed(Bytes),
    /// The socket failed; the message and what was still buffered.
    Failed(String, Bytes),
    /// The id is not a socket of this service.
    NotOpen(SocketId),
    /// `read_line` found no separator within its maximum length.
    LineTooLong(usize),
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::Closed(rest) => {
                write!(f, "socket closed ({} bytes left unread)", rest.len())
            }
            ReadError::Failed(m, _) => write!(f, "socket failed: {m}"),
            ReadError::NotOpen(id) => write!(f, "socket {id} is not open in this service"),
            ReadError::LineTooLong(n) => write!(f, "no line separator within {n} bytes"),
        }
    }
}

impl std::error::Error for ReadError {}

#[derive(Default)]
struct Entry {
    buf: VecDeque<Bytes>,
    buffered: usize,
    connecting: bool,
    connected: bool,
    closed: bool,
    error: Option<String>,
    paused: bool,
    /// Bytes read by the service and not yet reported to the socket thread.
    to_ack: usize,
    /// Forget the entry when its CLOSE arrives (after `shutdown`).
    forget_on_close: bool,
    limit: Option<usize>,
    waiter: Option<Waker>,
    accept: Option<AcceptFn>,
    udp: Option<UdpFn>,
    on_close: Option<CloseFn>,
    on_warning: Option<WarningFn>,
}

impl Entry {
    fn take(&mut self, n: usize) -> Bytes {
        self.buffered -= n;
        if let Some(front) = self.buf.front_mut() {
            if front.len() >= n {
                let out = front.split_to(n);
                if front.is_empty() {
                    self.buf.pop_front();
                }
                return out;
            }
        }
        let mut out = BytesMut::with_capacity(n);
        while out.len() < n {
            let Some(mut front) = self.buf.pop_front() else {
                break;
            };
            let want = n - out.len();
            if front.len() > want {
                out.extend_from_slice(&front.split_to(want));
                self.buf.push_front(front);
            } else {
                out.extend_from_slice(&front);
            }
        }
        out.freeze()
    }

    fn take_all(&mut self) -> Bytes {
        let n = self.buffered;
        self.take(n)
    }

    /// Makes the buffer one contiguous chunk (for separator searches).
    fn coalesce(&mut self) -> Option<&Bytes> {
        if self.buf.len() > 1 {
            let all = self.take_all();
            self.buffered = all.len();
            self.buf.push_back(all);
        }
        self.buf.front()
    }

    fn wake(&mut self) -> Option<Waker> {
        self.waiter.take()
    }
}

#[derive(Default)]
struct Pool {
    installed: bool,
    socks: HashMap<SocketId, Entry>,
}

fn ensure(ctx: &Context) {
    let first = ctx.local(|p: &mut Pool| !std::mem::replace(&mut p.installed, true));
    if first {
        ctx.intercept(Ptype::SOCKET, Arc::new(on_socket_message));
    }
}

/// What to do after the pool is updated (outside `ctx.local`, which is not reentrant).
enum After {
    Pass,
    Wake(Option<Waker>),
    /// Past [`PAUSE_LIMIT`]: pause the socket (the bytes buffered), then wake the reader.
    Pause(Option<Waker>, usize),
    Overflow(usize),
    Closed(Option<Waker>, Option<CloseFn>),
    Accept(AcceptFn, SocketId, SocketAddr),
    Warning(Option<WarningFn>, usize),
    Udp(UdpFn, Bytes, SocketAddr),
}

fn on_socket_message(ctx: &Context, msg: Message) -> Option<Message> {
    let Some(ev) = msg.downcast_ref::<SocketEvent>() else {
        return Some(msg);
    };
    let key = match ev {
        SocketEvent::Accept { listener, .. } => *listener,
        e => e.id(),
    };
    let after = ctx.local(|p: &mut Pool| {
        let Some(e) = p.socks.get_mut(&key) else {
            return After::Pass;
        };
        match ev {
            SocketEvent::Data { data, .. } => {
                e.buffered += data.len();
                e.buf.push_back(data.clone());
                if e.limit.is_some_and(|l| e.buffered > l) {
                    return After::Overflow(e.buffered);
                }
                // Not while a read waits for more (a `read(n)` beyond the bound would
                // only resume it at once; skynet does not pause then either).
                if e.buffered > PAUSE_LIMIT && !e.paused && !e.closed && e.waiter.is_none() {
                    e.paused = true;
                    return After::Pause(e.wake(), e.buffered);
                }
                After::Wake(e.wake())
            }
            SocketEvent::Connect { .. } => {
                e.connecting = false;
                e.connected = true;
                After::Wake(e.wake())
            }
            SocketEvent::Close { .. } | SocketEvent::Error { .. } => {
                if let SocketEvent::Error { message, .. } = ev {
                    e.error = Some(message.clone());
                }
                e.closed = true;
                e.connecting = false;
                let w = e.wake();
                let cb = e.on_close.take();
                if e.forget_on_close {
                    p.socks.remove(&key);
                }
                After::Closed(w, cb)
            }
            SocketEvent::Accept { id, peer, .. } => match &e.accept {
                Some(cb) => After::Accept(cb.clone(), *id, *peer),
                None => After::Pass,
            },
            SocketEvent::Warning { pending_kb, .. } => {
                After::Warning(e.on_warning.clone(), *pending_kb)
            }
            SocketEvent::Udp { data, from, .. } => match &e.udp {
                Some(cb) => After::Udp(cb.clone(), data.clone(), *from),
                None => After::Pass,
            },
        }
    });
    match after {
        After::Pass => return Some(msg),
        After::Wake(w) => wake(w),
        After::Pause(w, size) => {
            log::debug!("pause socket {key}: {size} bytes unread");
            Driver::of(ctx).pause(key);
            wake(w);
        }
        After::Overflow(size) => {
            log::warn!("socket buffer overflow: fd={key} size={size}");
            Driver::of(ctx).close(key);
        }
        After::Closed(w, cb) => {
            wake(w);
            if let Some(cb) = cb {
                cb(ctx, key);
            }
        }
        After::Accept(cb, id, peer) => cb(ctx, id, peer),
        After::Warning(cb, kb) => match cb {
            Some(cb) => cb(ctx, key, kb),
            None if kb > 0 => log::warn!("WARNING: {kb} K bytes need to send out (fd = {key})"),
            None => {}
        },
        After::Udp(cb, data, from) => cb(ctx, key, data, from),
    }
    None
}

fn wake(w: Option<Waker>) {
    if let Some(w) = w {
        w.wake();
    }
}

/// Polls the entry of `id` with `f`; on None, waits (resuming a paused socket first).
async fn wait_for<R>(
    ctx: &Context,
    id: SocketId,
    mut f: impl FnMut(&mut Entry) -> Option<Result<R, ReadError>>,
) -> Result<R, ReadError> {
    poll_fn(|cx| {
        let (r, resume, ack) = ctx.local(|p: &mut Pool| {
            let Some(e) = p.socks.get_mut(&id) else {
                return (Some(Err(ReadError::NotOpen(id))), false, 0);
            };
            let before = e.buffered;
            let r = f(e);
            e.to_ack += before.saturating_sub(e.buffered);
            // Return credit in chunks, and always before waiting or when drained, so the
            // socket thread never waits on credit the service is sitting on.
            let ack = if e.to_ack >= ACK_CHUNK || e.buffered == 0 || r.is_none() {
                std::mem::take(&mut e.to_ack)
            } else {
                0
            };
            match r {
                Some(r) => {
                    // Resumed once the buffer is back under the pause rule's bound (a read
                    // that leaves more there would only pause it again).
                    let resume = e.paused && !e.closed && e.buffered <= PAUSE_LIMIT;
                    if resume {
                        e.paused = false;
                    }
                    (Some(r), resume, ack)
                }
                None if e.closed => {
                    let rest = e.take_all();
                    let err = match &e.error {
                        Some(m) => ReadError::Failed(m.clone(), rest),
                        None => ReadError::Closed(rest),
                    };
                    (Some(Err(err)), false, ack)
                }
                None => {
                    e.waiter = Some(cx.waker().clone());
                    // Waiting for data: a socket paused by `pause` must flow again.
                    let resume = std::mem::take(&mut e.paused);
                    (None, resume, ack)
                }
            }
        });
        if ack > 0 {
            Driver::of(ctx).consumed(id, ack);
        }
        if resume {
            Driver::of(ctx).start(id, ctx.self_addr());
        }
        match r {
            Some(r) => Poll::Ready(r),
            None => Poll::Pending,
        }
    })
    .await
}

fn add(ctx: &Context, id: SocketId, e: Entry) {
    ensure(ctx);
    ctx.local(|p: &mut Pool| {
        p.socks.insert(id, e);
    });
}

/// A listener or UDP socket: usable at once, datagrams to `udp` or else to `dispatch`.
fn add_bound(ctx: &Context, id: SocketId, udp: Option<UdpFn>) {
    add(
        ctx,
        id,
        Entry {
            connected: true,
            udp,
            ..Entry::default()
        },
    );
}

fn with<R>(ctx: &Context, id: SocketId, f: impl FnOnce(&mut Entry) -> R) -> Option<R> {
    ctx.local(|p: &mut Pool| p.socks.get_mut(&id).map(f))
}

/// Listens on `host:port` (port 0: any free port); returns the listener and the bound address.
/// Accepted connections reach [`start_listener`]'s callback, or `dispatch` as ACCEPT events.
pub fn listen(ctx: &Context, host: &str, port: u16) -> io::Result<(SocketId, SocketAddr)> {
    let (id, addr) = Driver::of(ctx).listen(host, port, ctx.self_addr())?;
    add_bound(ctx, id, None);
    Ok((id, addr))
}

/// Like [`listen`], with the address as one string: `"127.0.0.1:8888"`, `"[::1]:0"`.
pub fn listen_addr(ctx: &Context, addr: &str) -> io::Result<(SocketId, SocketAddr)> {
    let (host, port) = addr.rsplit_once(':').ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{addr:?}: expected host:port"),
        )
    })?;
    let port = port
        .parse()
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, format!("{addr:?}: bad port")))?;
    listen(ctx, host, port)
}

/// Starts accepting on a listener; each new connection is passed to `on_accept`, which
/// usually calls [`start`] (or hands the id to another service, which calls [`start`]).
pub fn start_listener(
    ctx: &Context,
    id: SocketId,
    on_accept: impl Fn(&Context, SocketId, SocketAddr) + Send + Sync + 'static,
) {
    with(ctx, id, |e| e.accept = Some(Arc::new(on_accept)));
    Driver::of(ctx).start(id, ctx.self_addr());
}

/// Connects; resolves with the socket once connected, or the reason it failed.
pub async fn open(ctx: &Context, host: &str, port: u16) -> io::Result<SocketId> {
    let d = Driver::of(ctx);
    let id = d.connect(host, port, ctx.self_addr())?;
    d.flow_limit(id, BUFFER_LIMIT);
    add(
        ctx,
        id,
        Entry {
            connecting: true,
            ..Entry::default()
        },
    );
    let r = wait_for(ctx, id, |e| e.connected.then_some(Ok(()))).await;
    match r {
        Ok(()) => Ok(id),
        Err(e) => {
            abandon(ctx, id);
            let msg = match e {
                ReadError::Failed(m, _) => m,
                other => other.to_string(),
            };
            Err(io::Error::new(io::ErrorKind::ConnectionRefused, msg))
        }
    }
}

/// Starts receiving on a socket (an accepted one, or one handed over by another service),
/// making this service its owner. Also resumes a paused socket.
pub fn start(ctx: &Context, id: SocketId) {
    ensure(ctx);
    ctx.local(|p: &mut Pool| {
        let e = p.socks.entry(id).or_default();
        e.connected = true;
        e.paused = false;
    });
    let d = Driver::of(ctx);
    d.flow_limit(id, BUFFER_LIMIT);
    d.start(id, ctx.self_addr());
}

/// [`start`], then waits until the socket thread has started it, as skynet's `socket.start`
/// does since its issue #1374: an error when the socket was already closed (by its owner,
/// or by a peer whose close was seen), is closing, or is not a socket at all, instead of an
/// error at the first read. For a socket handed over by another service (an accepted one),
/// which may be gone by the time the new owner takes it. An accepted socket is not watched
/// before it is started, so a peer that hung up before the start shows at the first read
/// (as in skynet). Not for listeners ([`start_listener`]).
///
/// ```no_run
/// # use skynet_runtime::Context;
/// # async fn f(ctx: &Context, id: skynet_net::SocketId) -> std::io::Result<()> {
/// skynet_net::socket::start_checked(ctx, id).await?;
/// let line = skynet_net::socket::read_line(ctx, id, b"\n", Some(1024)).await;
/// # let _ = line; Ok(()) }
/// ```
pub async fn start_checked(ctx: &Context, id: SocketId) -> io::Result<()> {
    ensure(ctx);
    ctx.local(|p: &mut Pool| {
        let e = p.socks.entry(id).or_default();
        e.connecting = true;
        e.paused = false;
    });
    let d = Driver::of(ctx);
    d.flow_limit(id, BUFFER_LIMIT);
    if !d.start_confirmed(id, ctx.self_addr()) {
        abandon(ctx, id);
        return Err(io::Error::new(
            io::ErrorKind::NotConnected,
            "start: the socket server is not running",
        ));
    }
    match wait_for(ctx, id, |e| e.connected.then_some(Ok(()))).await {
        Ok(()) => Ok(()),
        Err(e) => {
            abandon(ctx, id);
            let msg = match e {
                // The socket thread's own message starts with "start: ".
                ReadError::Failed(m, _) => m,
                other => format!("start: {other}"),
            };
            Err(io::Error::new(io::ErrorKind::NotConnected, msg))
        }
    }
}

/// Reads exactly `n` bytes. On close, the error carries what was buffered.
pub async fn read(ctx: &Context, id: SocketId, n: usize) -> Result<Bytes, ReadError> {
    wait_for(ctx, id, |e| (e.buffered >= n).then(|| Ok(e.take(n)))).await
}

/// Reads what is buffered, waiting if nothing is: the oldest chunk the socket delivered,
/// handed over without a copy (call again for the rest).
pub async fn read_some(ctx: &Context, id: SocketId) -> Result<Bytes, ReadError> {
    wait_for(ctx, id, |e| {
        let n = e.buf.front().map(Bytes::len)?;
        Some(Ok(e.take(n)))
    })
    .await
}

/// Reads until the socket closes; returns everything.
pub async fn read_all(ctx: &Context, id: SocketId) -> Result<Bytes, ReadError> {
    let mut all = BytesMut::new();
    loop {
        match read_some(ctx, id).await {
            Ok(b) => all.extend_from_slice(&b),
            Err(ReadError::Closed(rest)) => {
                all.extend_from_slice(&rest);
                return Ok(all.freeze());
            }
            Err(e) => return Err(e),
        }
    }
}

/// Reads one line ending in `sep` (not included). With `max`, a peer that sends more than
/// `max` bytes without a separator gets [`ReadError::LineTooLong`] instead of unbounded memory.
pub async fn read_line(
    ctx: &Context,
    id: SocketId,
    sep: &[u8],
    max: Option<usize>,
) -> Result<Bytes, ReadError> {
    let sep = if sep.is_empty() {
        b"\n".as_slice()
    } else {
        sep
    };
    wait_for(ctx, id, |e| {
        let chunk = e.coalesce()?;
        match chunk.windows(sep.len()).position(|w| w == sep) {
            Some(pos) => {
                let line = e.take(pos);
                let _ = e.take(sep.len());
                Some(Ok(line))
            }
            None => match max {
                Some(m) if e.buffered > m => Some(Err(ReadError::LineTooLong(m))),
                _ => None,
            },
        }
    })
    .await
}

/// Waits until data is buffered or the socket closes; true while it is open.
pub async fn block(ctx: &Context, id: SocketId) -> bool {
    wait_for(ctx, id, |e| (e.buffered > 0).then_some(Ok(())))
        .await
        .is_ok()
}

/// Queues bytes for the socket; false if no live socket has the id (never opened, or
/// closed and forgotten) or the socket server is gone.
pub fn write(ctx: &Context, id: SocketId, data: impl Into<Bytes>) -> bool {
    Driver::of(ctx).send(id, data.into())
}

/// Queues several buffers, written with one `writev` where possible.
pub fn lwrite(ctx: &Context, id: SocketId, data: Vec<Bytes>) -> bool {
    Driver::of(ctx).sendv(id, data)
}

/// Queues bytes at low priority (sent only when no high-priority data waits).
pub fn write_low(ctx: &Context, id: SocketId, data: impl Into<Bytes>) -> bool {
    Driver::of(ctx).send_low(id, data.into())
}

/// Closes after flushing queued writes; returns once the socket is closed and forgotten.
pub async fn close(ctx: &Context, id: SocketId) {
    let known = with(ctx, id, |_| ()).is_some();
    Driver::of(ctx).close(id);
    if known {
        let _ = wait_for(ctx, id, |e| e.closed.then_some(Ok(()))).await;
        abandon(ctx, id);
    }
}

/// Closes now, dropping queued writes.
pub fn shutdown(ctx: &Context, id: SocketId) {
    let closed = with(ctx, id, |e| {
        e.forget_on_close = true;
        e.closed
    });
    if closed == Some(true) {
        abandon(ctx, id);
    }
    Driver::of(ctx).shutdown(id);
}

/// Stops reading until the next read (or [`start`]).
pub fn pause(ctx: &Context, id: SocketId) {
    with(ctx, id, |e| e.paused = true);
    Driver::of(ctx).pause(id);
}

/// Closes the socket (with a logged reason) when more than `bytes` are unread.
pub fn limit(ctx: &Context, id: SocketId, bytes: usize) {
    with(ctx, id, |e| e.limit = Some(bytes));
}

/// Calls `f` when the socket's unsent bytes pass 1 MiB, 2 MiB, ... and with 0 when drained
/// (the default logs it).
pub fn warning(
    ctx: &Context,
    id: SocketId,
    f: impl Fn(&Context, SocketId, usize) + Send + Sync + 'static,
) {
    with(ctx, id, |e| e.on_warning = Some(Arc::new(f)));
}

/// Calls `f` once when the socket closes.
pub fn onclose(ctx: &Context, id: SocketId, f: impl FnOnce(&Context, SocketId) + Send + 'static) {
    with(ctx, id, |e| e.on_close = Some(Box::new(f)));
}

/// Sets TCP_NODELAY.
pub fn nodelay(ctx: &Context, id: SocketId) {
    Driver::of(ctx).nodelay(id);
}

/// Forgets the socket without closing it, to hand it to another service (which calls
/// [`start`]). Buffered unread bytes are dropped.
pub fn abandon(ctx: &Context, id: SocketId) {
    let dropped = ctx.local(|p: &mut Pool| p.socks.remove(&id).map(|e| e.buffered + e.to_ack));
    if let Some(n) = dropped.filter(|n| *n > 0) {
        // Whatever it still held counts as consumed, or the next owner would starve.
        Driver::of(ctx).consumed(id, n);
    }
}

/// True when `id` is not a socket of this service.
pub fn invalid(ctx: &Context, id: SocketId) -> bool {
    with(ctx, id, |_| ()).is_none()
}

/// True when the socket is neither connected nor connecting.
pub fn disconnected(ctx: &Context, id: SocketId) -> bool {
    with(ctx, id, |e| !(e.connecting || (e.connected && !e.closed))).unwrap_or(true)
}

/// Bytes buffered and unread (for tests and the console).
pub fn buffered(ctx: &Context, id: SocketId) -> usize {
    with(ctx, id, |e| e.buffered).unwrap_or(0)
}

/// Binds a UDP socket; each datagram is passed to `on_datagram` with its sender.
pub fn udp(
    ctx: &Context,
    host: &str,
    port: u16,
    on_datagram: impl Fn(&Context, SocketId, Bytes, SocketAddr) + Send + Sync + 'static,
) -> io::Result<(SocketId, SocketAddr)> {
    udp_bind(ctx, host, port, Some(Arc::new(on_datagram)))
}

/// Binds a UDP socket whose datagrams reach `dispatch` as UDP events.
pub fn udp_listen(ctx: &Context, host: &str, port: u16) -> io::Result<(SocketId, SocketAddr)> {
    udp_bind(ctx, host, port, None)
}

fn udp_bind(
    ctx: &Context,
    host: &str,
    port: u16,
    on_datagram: Option<UdpFn>,
) -> io::Result<(SocketId, SocketAddr)> {
    let (id, addr) = Driver::of(ctx).udp_bind(host, port, ctx.self_addr())?;
    add_bound(ctx, id, on_datagram);
    Ok((id, addr))
}

/// Sets a UDP socket's default peer (for [`sendto`] with no address).
pub fn udp_connect(ctx: &Context, id: SocketId, peer: SocketAddr) {
    Driver::of(ctx).udp_connect(id, peer);
}

/// Sends a datagram to `to` (or the default peer).
pub fn sendto(ctx: &Context, id: SocketId, to: Option<SocketAddr>, data: impl Into<Bytes>) -> bool {
    Driver::of(ctx).udp_send(id, to, data.into())
}
