//! The driver (skynet's `socketdriver`): plain calls that return at once; results and data
//! arrive later as SOCKET messages to the owner. The gate and anything hosting its own
//! scheduler use this layer; the async API in [`crate::socket`] is built on it.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;

use bytes::Bytes;
use crossbeam_channel::Sender;
use parking_lot::Mutex;
use skynet_runtime::{Addr, Context, NodeHandle};

use crate::direct::{try_write, DirectMap, Outcome};
use crate::event::SocketId;
use crate::ids::IdAllocator;
use crate::route::Route;
use crate::socket_server::{IoTotals, Request, Server, SocketInfo, WAKER};

/// The node's socket server: its thread, request channel and waker (a node extension).
struct SocketServer {
    tx: Sender<Request>,
    /// Stream sockets, for direct writes from the caller's thread.
    direct: DirectMap,
    waker: Arc<mio::Waker>,
    /// True while the thread is (about to be) blocked in `poll`: only then does a request
    /// need the waker's syscall; a busy thread drains the channel before it polls again.
    parked: Arc<std::sync::atomic::AtomicBool>,
    ids: Arc<IdAllocator>,
    thread: Mutex<Option<JoinHandle<()>>>,
    /// The node's shutdown hook that stops this thread is installed.
    stop_hooked: std::sync::atomic::AtomicBool,
}

impl SocketServer {
    fn start(node: &NodeHandle) -> io::Result<SocketServer> {
        let poll = mio::Poll::new()?;
        let waker = Arc::new(mio::Waker::new(poll.registry(), WAKER)?);
        let (tx, rx) = crossbeam_channel::unbounded();
        let ids = Arc::new(IdAllocator::new());
        let parked = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let direct = DirectMap::default();
        let w = waker.clone();
        let wake_self: skynet_runtime::DrainWake = Arc::new(move || {
            let _ = w.wake();
        });
        let server = Server::new(
            node.clone(),
            poll,
            rx,
            ids.clone(),
            parked.clone(),
            direct.clone(),
            wake_self,
        );
        let thread = std::thread::Builder::new()
            .name("skynet-socket".into())
            .spawn(move || server.run())?;
        // When a service ends, every socket it still owns is closed (flushed first).
        let (t, w, p) = (tx.clone(), waker.clone(), parked.clone());
        node.on_service_exit(Arc::new(move |addr: Addr| {
            if t.send(Request::CloseOwnedBy(addr)).is_ok() && {
                std::sync::atomic::fence(Ordering::SeqCst);
                p.load(Ordering::SeqCst)
            } {
                let _ = w.wake();
            }
        }));
        Ok(SocketServer {
            tx,
            direct,
            waker,
            parked,
            ids,
            thread: Mutex::new(Some(thread)),
            stop_hooked: std::sync::atomic::AtomicBool::new(false),
        })
    }

    fn request(&self, req: Request) -> bool {
        if self.tx.send(req).is_err() {
            return false;
        }
        // Dekker with the thread's park: our channel write must be visible before we read
        // its flag, or both sides could miss each other (x86 lets a load pass a store).
        std::sync::atomic::fence(Ordering::SeqCst);
        if self.parked.load(Ordering::SeqCst) {
            return self.waker.wake().is_ok();
        }
        true
    }

    fn stop(&self) {
        self.request(Request::Exit);
        if let Some(t) = self.thread.lock().take() {
            let _ = t.join();
        }
    }
}

/// A handle to the node's socket server. Cheap to clone; every call returns at once.
///
/// ```no_run
/// # use skynet_net::Driver;
/// # fn f(ctx: &skynet_runtime::Context) -> std::io::Result<()> {
/// let driver = Driver::of(ctx);
/// let (listener, addr) = driver.listen("127.0.0.1", 0, ctx.self_addr())?;
/// driver.start(listener, ctx.self_addr()); // ACCEPT events now come to this service
/// # let _ = addr; Ok(()) }
/// ```
#[derive(Clone)]
pub struct Driver {
    server: Arc<Result<SocketServer, String>>,
}

impl std::fmt::Debug for Driver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Driver")
    }
}

fn not_running(e: &str) -> io::Error {
    io::Error::other(format!("the socket server is not running: {e}"))
}

impl Driver {
    /// The driver of a node (starts its socket thread on first use).
    pub fn new(node: &NodeHandle) -> Driver {
        let server = node.extension(|n| SocketServer::start(n).map_err(|e| e.to_string()));
        if let Ok(s) = &*server {
            // Once per node (a load on every later call: this runs for every reply).
            if !s.stop_hooked.load(Ordering::Acquire) && !s.stop_hooked.swap(true, Ordering::AcqRel)
            {
                let server = server.clone();
                node.on_shutdown(Box::new(move || {
                    if let Ok(s) = &*server {
                        s.stop();
                    }
                }));
            }
        }
        Driver { server }
    }

    /// The driver of the context's node.
    pub fn of(ctx: &Context) -> Driver {
        Driver::new(&ctx.node())
    }

    fn srv(&self) -> io::Result<&SocketServer> {
        self.server.as_ref().as_ref().map_err(|e| not_running(e))
    }

    fn req(&self, r: Request) -> bool {
        self.srv().map(|s| s.request(r)).unwrap_or(false)
    }

    /// A fresh id, reserved in the live-id table until its socket is dropped.
    fn new_id(&self) -> io::Result<SocketId> {
        let srv = self.srv()?;
        let mut live = srv.direct.write();
        let id = srv.ids.next(|i| live.contains_key(&i));
        live.insert(id, None);
        Ok(id)
    }

    /// Binds and listens now (port 0: any free port) with a backlog of [`DEFAULT_BACKLOG`];
    /// returns the id and the bound address. ACCEPT events go to `owner` once it calls
    /// [`Driver::start`] on the listener.
    pub fn listen(&self, host: &str, port: u16, owner: Addr) -> io::Result<(SocketId, SocketAddr)> {
        self.listen_backlog(host, port, DEFAULT_BACKLOG, owner)
    }

    /// [`Driver::listen`] with an explicit listen(2) backlog.
    pub fn listen_backlog(
        &self,
        host: &str,
        port: u16,
        backlog: u32,
        owner: Addr,
    ) -> io::Result<(SocketId, SocketAddr)> {
        let addr = resolve(host, port)?;
        let listener = bind_listener(addr, backlog)
            .map_err(|e| io::Error::new(e.kind(), format!("listen on {addr}: {e}")))?;
        let local = listener.local_addr()?;
        let id = self.new_id()?;
        if !self.req(Request::Listen {
            id,
            listener,
            owner,
        }) {
            return Err(not_running("listen"));
        }
        Ok((id, local))
    }

    /// Starts connecting; CONNECT or ERROR follows. The name is resolved on the caller.
    pub fn connect(&self, host: &str, port: u16, owner: Addr) -> io::Result<SocketId> {
        let addr = resolve(host, port)?;
        let id = self.new_id()?;
        if !self.req(Request::Connect { id, addr, owner }) {
            return Err(not_running("connect"));
        }
        Ok(id)
    }

    /// Starts reading a socket (or accepting, for a listener) and makes `owner` its owner:
    /// how an accepted socket is handed to another service. Also resumes a paused socket.
    pub fn start(&self, id: SocketId, owner: Addr) -> bool {
        self.req(Request::Start {
            id,
            owner,
            confirm: false,
        })
    }

    /// [`start`](Self::start) for a stream socket, and tell `owner` how it went: CONNECT
    /// with addr "start" once it is live (before any DATA), or ERROR if the socket was
    /// already closed, closing, or never existed (skynet's fix for its issue #1374).
    pub fn start_confirmed(&self, id: SocketId, owner: Addr) -> bool {
        self.req(Request::Start {
            id,
            owner,
            confirm: true,
        })
    }

    /// Starts reading a stream socket whose input is cut into frames on the socket thread and
    /// sent straight to `route.dest` (see [`Route`]); `owner` owns the socket and hears its
    /// CLOSE, ERROR and WARNING, never DATA. On a socket that is already routed, only the
    /// destination changes (a partial frame is kept). [`Driver::start`] resumes a paused
    /// routed socket and keeps its route.
    ///
    /// ```no_run
    /// # use skynet_net::{Driver, Framer, Route};
    /// # use skynet_runtime::{Addr, Ptype};
    /// # fn f(driver: &Driver, id: i32, me: Addr, agent: Addr, framer: Box<dyn Framer>) {
    /// driver.start_routed(id, me, Route { dest: agent, source: me, ptype: Ptype::CLIENT, framer });
    /// # }
    /// ```
    pub fn start_routed(&self, id: SocketId, owner: Addr, route: Route) -> bool {
        self.req(Request::Route {
            id,
            owner,
            route: Some(Box::new(route)),
        })
    }

    /// Removes a socket's route: the framer's unfinished frame, then everything read later,
    /// reaches `owner` as DATA again.
    pub fn unroute(&self, id: SocketId, owner: Addr) -> bool {
        self.req(Request::Route {
            id,
            owner,
            route: None,
        })
    }

    /// Stops reading (the kernel buffers, then the peer is slowed by TCP).
    pub fn pause(&self, id: SocketId) -> bool {
        self.req(Request::Pause { id })
    }

    /// Flow control for a stream socket: the socket thread stops reading it while `limit`
    /// bytes it delivered are not yet reported [`consumed`](Driver::consumed). This is what
    /// bounds the memory of a slow reader (the async API uses it; raw users may too).
    pub fn flow_limit(&self, id: SocketId, limit: usize) -> bool {
        self.req(Request::FlowLimit { id, limit })
    }

    /// Reports that the owner consumed `bytes` delivered bytes (see [`Driver::flow_limit`]).
    /// A counter shared with the socket thread takes it: the socket thread hears of it (one
    /// request) only when its window was full and now has room. False for a socket that is
    /// not a live stream.
    pub fn consumed(&self, id: SocketId, bytes: usize) -> bool {
        let Ok(srv) = self.srv() else { return false };
        let shared = srv.direct.read().get(&id).cloned().flatten();
        let Some(shared) = shared else { return false };
        if shared.consume(bytes) {
            return srv.request(Request::Credit { id });
        }
        true
    }

    /// Sends bytes (high priority): written at once from the caller's thread when nothing
    /// is queued for the socket, queued on the socket thread otherwise. False when no live
    /// socket has the id (never opened, or closed and forgotten), as skynet's send.
    pub fn send(&self, id: SocketId, data: Bytes) -> bool {
        self.send_direct(id, [data])
    }

    /// Queues bytes at low priority: they go out only when no high-priority data waits.
    pub fn send_low(&self, id: SocketId, data: Bytes) -> bool {
        let Ok(srv) = self.srv() else { return false };
        // Counted in flight, so no direct write overtakes it.
        let counted = match srv.direct.read().get(&id) {
            None => return false, // no live socket has this id
            Some(Some(shared)) => {
                shared.state.lock().inflight += 1;
                true
            }
            Some(None) => false,
        };
        self.req(Request::Send {
            id,
            data: vec![data],
            low: true,
            counted,
        })
    }

    /// Sends several buffers with one `writev` (directly when nothing is queued).
    pub fn sendv(&self, id: SocketId, data: Vec<Bytes>) -> bool {
        self.send_direct(id, data)
    }

    fn send_direct<B>(&self, id: SocketId, data: B) -> bool
    where
        B: AsRef<[Bytes]> + Into<Vec<Bytes>>,
    {
        let Ok(srv) = self.srv() else { return false };
        match try_write(&srv.direct, id, data) {
            Outcome::Done => true,
            Outcome::Queue(data) => self.req(Request::Send {
                id,
                data,
                low: false,
                counted: true,
            }),
            Outcome::Unknown(data) => self.req(Request::Send {
                id,
                data,
                low: false,
                counted: false,
            }),
            // skynet's `socket_server_send` refuses an invalid id the same way (-1).
            Outcome::Invalid => false,
        }
    }

    /// Closes after every queued byte is written. CLOSE is reported once.
    pub fn close(&self, id: SocketId) -> bool {
        self.req(Request::Close { id })
    }

    /// Closes now, dropping queued bytes.
    pub fn shutdown(&self, id: SocketId) -> bool {
        self.req(Request::Shutdown { id })
    }

    /// Sets TCP_NODELAY.
    pub fn nodelay(&self, id: SocketId) -> bool {
        self.req(Request::NoDelay { id })
    }

    /// Binds a UDP socket (port 0: any); datagrams go to `owner` as UDP events.
    pub fn udp_bind(
        &self,
        host: &str,
        port: u16,
        owner: Addr,
    ) -> io::Result<(SocketId, SocketAddr)> {
        let addr = resolve(host, port)?;
        let socket = std::net::UdpSocket::bind(addr)
            .map_err(|e| io::Error::new(e.kind(), format!("udp bind {addr}: {e}")))?;
        socket.set_nonblocking(true)?;
        let local = socket.local_addr()?;
        let id = self.new_id()?;
        if !self.req(Request::Udp { id, socket, owner }) {
            return Err(not_running("udp"));
        }
        Ok((id, local))
    }

    /// Sets a UDP socket's default peer.
    pub fn udp_connect(&self, id: SocketId, addr: SocketAddr) -> bool {
        self.req(Request::UdpConnect { id, addr })
    }

    /// Sends a datagram (to the default peer when `to` is None).
    pub fn udp_send(&self, id: SocketId, to: Option<SocketAddr>, data: Bytes) -> bool {
        self.req(Request::UdpSend { id, to, data })
    }

    /// Bytes every socket of the node has read and written, closed ones included (empty
    /// when the socket server is not running).
    pub fn io_totals(&self) -> IoTotals {
        let (tx, rx) = crossbeam_channel::bounded(1);
        if !self.req(Request::Totals(tx)) {
            return IoTotals::default();
        }
        rx.recv_timeout(std::time::Duration::from_secs(2))
            .unwrap_or_default()
    }

    /// Every socket, for the console's `netstat`.
    pub fn netstat(&self) -> Vec<SocketInfo> {
        let (tx, rx) = crossbeam_channel::bounded(1);
        if !self.req(Request::Info(tx)) {
            return Vec::new();
        }
        rx.recv_timeout(std::time::Duration::from_secs(2))
            .unwrap_or_default()
    }
}

/// The listen(2) backlog when none is given. Large enough that a connect burst does not
/// overflow the accept queue (which costs the client a 1 s SYN retransmit) while the
/// socket thread is briefly busy.
pub const DEFAULT_BACKLOG: u32 = 1024;

fn bind_listener(addr: SocketAddr, backlog: u32) -> io::Result<mio::net::TcpListener> {
    let domain = socket2::Domain::for_address(addr);
    let socket = socket2::Socket::new(domain, socket2::Type::STREAM, Some(socket2::Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(backlog.min(i32::MAX as u32) as i32)?;
    Ok(mio::net::TcpListener::from_std(socket.into()))
}

/// `host` + `port` to one address (the first the resolver gives).
pub(crate) fn resolve(host: &str, port: u16) -> io::Result<SocketAddr> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    (host, port)
        .to_socket_addrs()
        .map_err(|e| io::Error::new(e.kind(), format!("resolve {host}:{port}: {e}")))?
        .next()
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("resolve {host}:{port}: no address"),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::SocketEvent;
    use skynet_runtime::{Message, Node, RawContext, RawService};
    use std::time::Duration;

    /// Reports ACCEPT events.
    struct Accepts(crossbeam_channel::Sender<SocketId>);

    impl RawService for Accepts {
        fn handle(&mut self, _ctx: &mut RawContext<'_>, msg: Message) {
            if let Ok(SocketEvent::Accept { id, .. }) = msg.take::<SocketEvent>() {
                let _ = self.0.send(id);
            }
        }
    }

    /// After the id counter wraps, neither the driver (listen, connect) nor the socket
    /// thread (accept) hands out an id that is still live.
    #[test]
    fn ids_skip_live_sockets_after_wrapping() {
        let node = Node::builder().threads(1).build().expect("node");
        let (tx, rx) = crossbeam_channel::unbounded();
        let owner = node
            .launch_raw(Box::new(Accepts(tx)), "accepts")
            .expect("launch");
        let d = Driver::new(&node.handle());
        let (first, addr) = d.listen("127.0.0.1", 0, owner).expect("listen");
        d.start(first, owner);
        let second = d.listen("127.0.0.1", 0, owner).expect("listen").0;
        d.srv().expect("running").ids.skip_to(i32::MAX - 2);
        let mut seen = vec![first, second];
        for _ in 0..3 {
            let id = d.listen("127.0.0.1", 0, owner).expect("listen").0;
            assert!(!seen.contains(&id), "{id} handed out twice: {seen:?}");
            seen.push(id);
        }
        // The socket thread's accept allocates from the same counter and table.
        let _client = std::net::TcpStream::connect(addr).expect("connect");
        let accepted = rx.recv_timeout(Duration::from_secs(30)).expect("an accept");
        assert!(!seen.contains(&accepted), "{accepted} is live: {seen:?}");
        node.shutdown();
    }
}
