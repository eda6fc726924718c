//! The HTTP server service: listens, and spreads connections over a pool of agent
//! services (skynet's simpleweb: a master and 20 agents, round robin), each serving its
//! connections as forks; or serves them all itself; or launches an agent per connection.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use skynet_net::{socket, SocketId};
use skynet_runtime::{Addr, Context, Error, Message, Service};

use crate::conn::serve;
use crate::handler::Handler;
use crate::limits::Limits;

/// Where and how an [`HttpServer`] listens.
#[derive(Debug, Clone)]
pub struct ServerConf {
    /// Address to bind (default `127.0.0.1`).
    pub address: String,
    /// Port (0: any free port; see [`ServerConf::publish`]).
    pub port: u16,
    /// Agent services that serve connections (round robin); 0 serves every connection
    /// in the server service itself. Default 4.
    pub agents: usize,
    /// Launch one agent service per connection instead (it exits with its connection);
    /// `agents` is then ignored. Default false.
    pub agent_per_connection: bool,
    /// TCP_NODELAY on every connection (default true: a pipelined response must not wait
    /// for the client's delayed ACK of the previous one).
    pub nodelay: bool,
    /// The node config key set to the bound address once listening (`web_address`).
    pub publish: Option<String>,
    /// Per-connection limits and deadlines.
    pub limits: Limits,
}

impl Default for ServerConf {
    fn default() -> ServerConf {
        ServerConf {
            address: "127.0.0.1".into(),
            port: 0,
            agents: 4,
            agent_per_connection: false,
            nodelay: true,
            publish: None,
            limits: Limits::default(),
        }
    }
}

/// A connection handed from the server to one of its agents.
#[derive(Debug)]
struct Conn {
    id: SocketId,
    peer: SocketAddr,
}

/// Asks an [`HttpServer`] (call) for its bound address; answered with `SocketAddr`.
#[derive(Debug, Clone, Copy)]
pub struct LocalAddr;

/// The HTTP server service. Launch it with a handler; it listens in `init` (a failure to
/// listen fails the launch).
///
/// ```no_run
/// use skynet_http::{HttpServer, Request, Response, Router, ServerConf};
/// use skynet_runtime::{Context, Node};
///
/// let node = Node::builder().threads(2).build().unwrap();
/// let router = Router::new().get("/hello", |_ctx: Context, req: Request| async move {
///     let name = req.query.get("name").unwrap_or("world").to_string();
///     Response::text(200, format!("hello, {name}\n"))
/// });
/// let conf = ServerConf { port: 8001, ..ServerConf::default() };
/// node.launch(HttpServer::new(conf, router)).unwrap();
/// ```
pub struct HttpServer {
    conf: ServerConf,
    handler: Arc<dyn Handler>,
    agents: Vec<Addr>,
    addr: Option<SocketAddr>,
}

impl std::fmt::Debug for HttpServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "HttpServer({:?}, {} agents)",
            self.addr,
            self.agents.len()
        )
    }
}

impl HttpServer {
    /// A server answering with `handler`.
    pub fn new(conf: ServerConf, handler: impl Handler) -> HttpServer {
        HttpServer::with_handler(conf, Arc::new(handler))
    }

    /// A server answering with a shared handler.
    pub fn with_handler(conf: ServerConf, handler: Arc<dyn Handler>) -> HttpServer {
        HttpServer {
            conf,
            handler,
            agents: Vec::new(),
            addr: None,
        }
    }
}

/// Starts serving an accepted connection in this service.
fn serve_here(
    ctx: &Context,
    id: SocketId,
    peer: SocketAddr,
    h: Arc<dyn Handler>,
    l: Arc<Limits>,
    nodelay: bool,
) {
    socket::start(ctx, id);
    if nodelay {
        socket::nodelay(ctx, id);
    }
    let c = ctx.clone();
    ctx.fork(async move { serve(c, id, peer, &*h, &l).await });
}

impl Service for HttpServer {
    async fn init(&mut self, ctx: &mut Context) -> Result<(), Error> {
        let c = &self.conf;
        let (listener, addr) = socket::listen(ctx, &c.address, c.port)
            .map_err(|e| format!("http: cannot listen on {}:{}: {e}", c.address, c.port))?;
        let limits = Arc::new(c.limits.clone());
        let agent = HttpAgent {
            handler: self.handler.clone(),
            limits: limits.clone(),
            nodelay: c.nodelay,
            once: false,
        };
        let pool = if c.agent_per_connection { 0 } else { c.agents };
        for _ in 0..pool {
            self.agents.push(ctx.launch(agent.clone()).await?);
        }
        let agents = self.agents.clone();
        let handler = self.handler.clone();
        let nodelay = c.nodelay;
        let per_connection = c.agent_per_connection;
        let next = AtomicUsize::new(0);
        socket::start_listener(ctx, listener, move |ctx, id, peer| {
            if per_connection {
                let (c, agent) = (
                    ctx.clone(),
                    HttpAgent {
                        once: true,
                        ..agent.clone()
                    },
                );
                return ctx.fork(async move {
                    match c.launch(agent).await {
                        Ok(a) if c.send(a, Conn { id, peer }).is_ok() => {}
                        _ => {
                            log::warn!("http: no agent for fd {id} from {peer}; closing it");
                            skynet_net::Driver::of(&c).close(id);
                        }
                    }
                });
            }
            if agents.is_empty() {
                return serve_here(ctx, id, peer, handler.clone(), limits.clone(), nodelay);
            }
            let agent = agents[next.fetch_add(1, Ordering::Relaxed) % agents.len()];
            if ctx.send(agent, Conn { id, peer }).is_err() {
                log::warn!("http: agent {agent} is gone; closing fd {id} from {peer}");
                skynet_net::Driver::of(ctx).close(id);
            }
        });
        log::info!("http: listening on {addr} ({} agents)", self.agents.len());
        if let Some(key) = &c.publish {
            ctx.setenv(key, &addr.to_string());
        }
        self.addr = Some(addr);
        Ok(())
    }

    async fn dispatch(&mut self, ctx: &mut Context, msg: Message) {
        if msg.take::<LocalAddr>().is_ok() {
            let _ = ctx.ret(self.addr);
        }
    }

    fn exit(&mut self, ctx: &mut Context) {
        for a in self.agents.drain(..) {
            ctx.kill(a);
        }
    }
}

/// Serves the connections the server hands it, each in a fork.
#[derive(Clone)]
struct HttpAgent {
    handler: Arc<dyn Handler>,
    limits: Arc<Limits>,
    nodelay: bool,
    /// Serves one connection, then exits (`agent_per_connection`).
    once: bool,
}

impl Service for HttpAgent {
    async fn dispatch(&mut self, ctx: &mut Context, msg: Message) {
        let Ok(Conn { id, peer }) = msg.take::<Conn>() else {
            return;
        };
        let (h, l) = (self.handler.clone(), self.limits.clone());
        if !self.once {
            return serve_here(ctx, id, peer, h, l, self.nodelay);
        }
        // Served in dispatch itself: the agent has nothing else to do, and exits after.
        socket::start(ctx, id);
        if self.nodelay {
            socket::nodelay(ctx, id);
        }
        serve(ctx.clone(), id, peer, &*h, &l).await;
        ctx.exit();
    }
}
