//! Helpers shared by the cluster's integration tests.
#![allow(dead_code)]

pub mod capture;
pub mod kv;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use skynet_runtime::{Config, LogCapture, Node};

/// How long a test waits for anything before it fails.
pub const LONG: Duration = Duration::from_secs(30);

/// A node with two workers, its log captured, and the given config keys.
pub fn node(keys: &[(&str, &str)]) -> (Node, LogCapture) {
    let mut config = Config::new();
    for (k, v) in keys {
        config.set(k, *v);
    }
    let log = LogCapture::new();
    let node = Node::builder()
        .threads(2)
        .config(config)
        .logger(log.logger())
        .build()
        .expect("node starts");
    (node, log)
}

/// Lines at WARN or ERROR level that none of `expected` matches (the logger writes the
/// level into each line).
pub fn unexpected_warnings(log: &LogCapture, expected: &[&str]) -> Vec<String> {
    log.lines()
        .into_iter()
        .filter(|l| l.contains("WARN") || l.contains("ERROR"))
        .filter(|l| !expected.iter().any(|e| l.contains(e)))
        .collect()
}

/// A raw cluster peer: a TCP connection speaking frames.
pub struct Peer(pub TcpStream);

impl Peer {
    pub fn connect(addr: SocketAddr) -> Peer {
        let s = TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(LONG)).expect("timeout");
        s.set_nodelay(true).expect("nodelay");
        Peer(s)
    }

    /// Writes frame bodies, each with its 2-byte length, in one write.
    pub fn send(&mut self, bodies: &[&[u8]]) {
        let mut buf = Vec::new();
        for b in bodies {
            buf.extend_from_slice(&(b.len() as u16).to_be_bytes());
            buf.extend_from_slice(b);
        }
        self.0.write_all(&buf).expect("write");
    }

    /// Reads one frame's body.
    pub fn recv(&mut self) -> std::io::Result<Vec<u8>> {
        let mut h = [0u8; 2];
        self.0.read_exact(&mut h)?;
        let mut body = vec![0u8; u16::from_be_bytes(h) as usize];
        self.0.read_exact(&mut body)?;
        Ok(body)
    }

    /// True once the node has closed the connection (EOF or reset), within `LONG`.
    pub fn closed(&mut self) -> bool {
        let mut b = [0u8; 4096];
        loop {
            match self.0.read(&mut b) {
                Ok(0) => return true,
                Ok(_) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
                Err(_) => return false,
            }
        }
    }
}

/// Runs `job` as a task of a fresh service on `node` and returns what it returns (within
/// `LONG`, or the test fails).
pub fn run<T, F, Fut>(node: &Node, job: F) -> T
where
    T: Send + 'static,
    F: FnOnce(skynet_runtime::Context) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = T> + Send + 'static,
{
    spawn(node, job)
        .recv_timeout(LONG)
        .expect("the job finishes")
}

/// Starts `job` as a task of a fresh service on `node`; its result comes on the channel.
pub fn spawn<T, F, Fut>(node: &Node, job: F) -> crossbeam_channel::Receiver<T>
where
    T: Send + 'static,
    F: FnOnce(skynet_runtime::Context) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = T> + Send + 'static,
{
    let (tx, rx) = crossbeam_channel::bounded(1);
    let start: Start = Box::new(move |ctx: skynet_runtime::Context| {
        Box::pin(async move {
            let _ = tx.send(job(ctx).await);
        })
    });
    node.launch(Job(Some(start)))
        .expect("the job's service starts");
    rx
}

type Start = Box<
    dyn FnOnce(
            skynet_runtime::Context,
        ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>
        + Send,
>;

struct Job(Option<Start>);

impl skynet_runtime::Service for Job {
    async fn init(
        &mut self,
        ctx: &mut skynet_runtime::Context,
    ) -> Result<(), skynet_runtime::Error> {
        if let Some(start) = self.0.take() {
            let c = ctx.clone();
            let job = start(c.clone());
            ctx.fork(async move {
                job.await;
                c.exit();
            });
        }
        Ok(())
    }

    async fn dispatch(
        &mut self,
        _ctx: &mut skynet_runtime::Context,
        _msg: skynet_runtime::Message,
    ) {
    }
}

/// A node serving the capture's kv as `@sdb` and `.kv` on a cluster port of its own:
/// the node, its log, the kv's address, the port's address.
pub fn db_node(keys: &[(&str, &str)]) -> (Node, LogCapture, skynet_runtime::Addr, SocketAddr) {
    let (node, log) = node(keys);
    let kv = node.launch(kv::Kv::default()).expect("kv starts");
    node.handle().register(kv, ".kv").expect("a local name");
    skynet_cluster::register(&node.handle(), "sdb", kv).expect("a cluster name");
    let (_, at) = skynet_cluster::open(&node.handle(), "127.0.0.1:0").expect("listens");
    (node, log, kv, at)
}

/// A node whose node table is `text`.
pub fn game_node(text: &str, keys: &[(&str, &str)]) -> (Node, LogCapture) {
    let (node, log) = node(keys);
    let table = skynet_cluster::NodeTable::parse(text).expect("a table");
    skynet_cluster::Cluster::of(&node.handle()).set_table(&node.handle(), table);
    (node, log)
}

/// Waits (at most `LONG`) until `cond` holds; false if it never did.
pub fn wait_until(mut cond: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + LONG;
    while std::time::Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    cond()
}

/// The counters of the sender to `name` on `node`, if it has one.
pub fn sender_info(node: &Node, name: &str) -> Option<skynet_cluster::LinkInfo> {
    skynet_cluster::Cluster::of(&node.handle())
        .senders()
        .into_iter()
        .find(|(n, _, _)| n == name)
        .map(|(_, _, info)| info)
}
