//! A listening test service whose per-connection behaviour each test supplies.
#![allow(dead_code)]

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use skynet_net::{socket, SocketId};
use skynet_runtime::{Context, Message, Node, Service};

pub const LONG: Duration = Duration::from_secs(30);

pub type Handler =
    Arc<dyn Fn(Context, SocketId) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// Wraps an async closure as a per-connection handler.
pub fn handler<F, Fut>(f: F) -> Handler
where
    F: Fn(Context, SocketId) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    Arc::new(move |c, id| Box::pin(f(c, id)))
}

struct Server {
    handler: Handler,
    addr: crossbeam_channel::Sender<SocketAddr>,
}

impl Service for Server {
    async fn init(&mut self, ctx: &mut Context) -> Result<(), skynet_runtime::Error> {
        let (listener, addr) = socket::listen(ctx, "127.0.0.1", 0)?;
        let h = self.handler.clone();
        socket::start_listener(ctx, listener, move |ctx, id, _peer| {
            socket::start(ctx, id);
            ctx.fork(h(ctx.clone(), id));
        });
        let _ = self.addr.send(addr);
        Ok(())
    }
    async fn dispatch(&mut self, ctx: &mut Context, msg: Message) {
        if msg.downcast_ref::<&str>() == Some(&"exit") {
            ctx.exit();
        }
    }
}

/// A node builder whose log lines are captured, not printed: a passing run prints nothing
/// (tests that check a line capture their own).
pub fn builder() -> skynet_runtime::NodeBuilder {
    Node::builder().logger(skynet_runtime::LogCapture::default().logger())
}

/// A node with one listening service running `h` for each connection.
pub fn serve(h: Handler) -> (Node, skynet_runtime::Addr, SocketAddr) {
    let node = builder().threads(2).build().expect("node");
    let (tx, rx) = crossbeam_channel::bounded(1);
    let svc = node
        .launch(Server {
            handler: h,
            addr: tx,
        })
        .expect("launch");
    let addr = rx.recv_timeout(LONG).expect("listening");
    (node, svc, addr)
}

pub fn client(addr: SocketAddr) -> std::net::TcpStream {
    let s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(LONG)).expect("timeout");
    s
}
