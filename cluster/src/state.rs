//! The cluster's per-node state (a node extension): the node table, the sender of each
//! remote node, the names registered for the cluster, and the counters the console shows.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use skynet_runtime::{Addr, CallError, Message, NodeHandle, Ptype};

use crate::config::Limits;
use crate::link::{LinkInfo, LinkStats};
use crate::nodes::{Lookup, NodeTable};
use crate::sender::{Sender, SenderCmd, Where};

/// One remote node's sender.
struct SenderEntry {
    addr: Addr,
    stats: Arc<LinkStats>,
}

/// The cluster state of one node; [`Cluster::of`] gives it.
pub struct Cluster {
    table: RwLock<NodeTable>,
    /// The table file could not be read at start (reported by `open` and the console).
    load_error: Mutex<Option<String>>,
    limits: RwLock<Limits>,
    /// `@name` registrations (the key has no `@`), and the name of each address.
    names: RwLock<Names>,
    senders: Mutex<HashMap<String, SenderEntry>>,
    agents: Mutex<HashMap<Addr, (SocketAddr, Arc<LinkStats>)>>,
    traces: AtomicU64,
}

#[derive(Default)]
struct Names {
    by_name: HashMap<String, Addr>,
    by_addr: HashMap<Addr, String>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Cluster")
    }
}

impl Cluster {
    /// The node's cluster state, created on first use: the table comes from the file named
    /// by the config key `cluster` (empty without one), the limits from `cluster_max_*`.
    pub fn of(node: &NodeHandle) -> Arc<Cluster> {
        node.extension(|n| {
            let mut load_error = None;
            let table = match n.getenv("cluster") {
                Some(path) => NodeTable::load(&path).unwrap_or_else(|e| {
                    log::error!("cluster: {e}");
                    load_error = Some(e);
                    NodeTable::new()
                }),
                None => NodeTable::new(),
            };
            let limits = Limits::from_node(n).unwrap_or_else(|e| {
                log::error!("cluster: {e}");
                load_error = Some(e);
                Limits::default()
            });
            let c = Arc::new(Cluster {
                table: RwLock::new(table),
                load_error: Mutex::new(load_error),
                limits: RwLock::new(limits),
                names: RwLock::new(Names::default()),
                senders: Mutex::new(HashMap::new()),
                agents: Mutex::new(HashMap::new()),
                traces: AtomicU64::new(0),
            });
            let hook = c.clone();
            n.on_service_exit(Arc::new(move |addr| hook.forget(addr)));
            ClusterHandle(c)
        })
        .0
        .clone()
    }

    /// The error met reading the table or the limits at start, if any.
    pub fn load_error(&self) -> Option<String> {
        self.load_error.lock().clone()
    }

    /// The limits.
    pub fn limits(&self) -> Limits {
        self.limits.read().clone()
    }

    pub(crate) fn set_limits(&self, l: Limits) {
        *self.limits.write() = l;
    }

    /// A copy of the node table.
    pub fn table(&self) -> NodeTable {
        self.table.read().clone()
    }

    /// Replaces the node table (skynet's `cluster.reload`): each sender whose node moved
    /// closes its connection (calls in flight on it fail) and uses the new address for the
    /// next call; calls waiting for a node that now appears go out.
    pub fn set_table(&self, node: &NodeHandle, table: NodeTable) {
        *self.table.write() = table;
        let senders: Vec<(String, Addr)> = self
            .senders
            .lock()
            .iter()
            .map(|(k, v)| (k.clone(), v.addr))
            .collect();
        for (name, addr) in senders {
            let cmd = SenderCmd::Move(self.where_is(&name));
            let _ = node.send(addr, Message::value(Addr::SYSTEM, 0, Ptype::LUA, cmd));
        }
    }

    /// Re-reads the table from the file named by the config key `cluster`.
    pub fn reload(&self, node: &NodeHandle) -> Result<(), String> {
        let path = node
            .getenv("cluster")
            .ok_or("no node table: the config key `cluster` is not set")?;
        let table = NodeTable::load(&path)?;
        self.set_table(node, table);
        *self.load_error.lock() = None;
        Ok(())
    }

    fn where_is(&self, name: &str) -> Where {
        match self.table.read().lookup(name) {
            Lookup::At(a) => Where::At(a.to_string()),
            Lookup::Down => Where::Down,
            Lookup::Absent { nowaiting: true } => Where::Absent,
            Lookup::Absent { nowaiting: false } => Where::Waiting,
        }
    }

    /// The sender of `name`, launched on first use. A node marked down, or absent from the
    /// table with `__nowaiting`, is an error at once.
    pub(crate) fn sender(&self, node: &NodeHandle, name: &str) -> Result<Addr, CallError> {
        // A sender that exists knows where its node is (reloads tell it) and answers calls
        // to a node that is down or absent itself.
        if let Some(e) = self.senders.lock().get(name) {
            return Ok(e.addr);
        }
        let at = self.where_is(name);
        let refuse = |why: &str| {
            Err(CallError::Failed(
                Addr::SYSTEM,
                format!("cluster node [{name}] is {why}"),
            ))
        };
        match at {
            Where::Down => return refuse("down"),
            Where::Absent => return refuse("absent"),
            _ => {}
        }
        let mut senders = self.senders.lock();
        if let Some(e) = senders.get(name) {
            return Ok(e.addr);
        }
        let stats = Arc::new(LinkStats::default());
        let limits = self.limits();
        let svc = Sender::new(
            name,
            at,
            stats.clone(),
            limits.max_message,
            limits.max_pending,
        );
        let addr = node.launch_raw(Box::new(svc), "cluster_sender")?;
        senders.insert(name.to_string(), SenderEntry { addr, stats });
        Ok(addr)
    }

    /// Forgets a sender that has gone (the next call launches another).
    pub(crate) fn drop_sender(&self, name: &str, addr: Addr) {
        let mut senders = self.senders.lock();
        if senders.get(name).is_some_and(|e| e.addr == addr) {
            senders.remove(name);
        }
    }

    /// Registers `@name` for `addr` (skynet's `cluster.register`): a name belongs to one
    /// service, a service holds one name; both end when the service does.
    pub fn register(&self, name: &str, addr: Addr) -> Result<(), String> {
        let name = name.strip_prefix('@').unwrap_or(name);
        if name.is_empty() || name.len() > 254 {
            return Err(format!("cluster name {name:?} must be 1 to 254 bytes"));
        }
        let mut n = self.names.write();
        if let Some(holder) = n.by_name.get(name) {
            return Err(format!(
                "cluster name @{name} is already registered by {holder}"
            ));
        }
        if let Some(old) = n.by_addr.insert(addr, name.to_string()) {
            n.by_name.remove(&old);
        }
        n.by_name.insert(name.to_string(), addr);
        Ok(())
    }

    /// Removes `@name`; false if it was not registered.
    pub fn unregister(&self, name: &str) -> bool {
        let name = name.strip_prefix('@').unwrap_or(name);
        let mut n = self.names.write();
        match n.by_name.remove(name) {
            Some(addr) => {
                n.by_addr.remove(&addr);
                true
            }
            None => false,
        }
    }

    /// The service registered as `@name` (`name` with or without the `@`).
    pub fn lookup_name(&self, name: &str) -> Option<Addr> {
        let name = name.strip_prefix('@').unwrap_or(name);
        self.names.read().by_name.get(name).copied()
    }

    /// Every registered name and its service.
    pub fn names(&self) -> Vec<(String, Addr)> {
        let mut v: Vec<_> = self
            .names
            .read()
            .by_name
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        v.sort();
        v
    }

    fn forget(&self, addr: Addr) {
        if self.names.read().by_addr.contains_key(&addr) {
            let mut n = self.names.write();
            if let Some(name) = n.by_addr.remove(&addr) {
                n.by_name.remove(&name);
            }
        }
    }

    pub(crate) fn add_agent(&self, addr: Addr, peer: SocketAddr, stats: Arc<LinkStats>) {
        self.agents.lock().insert(addr, (peer, stats));
    }

    pub(crate) fn remove_agent(&self, addr: Addr) {
        self.agents.lock().remove(&addr);
    }

    pub(crate) fn traced(&self) {
        self.traces.fetch_add(1, Ordering::Relaxed);
    }

    /// Trace frames received on every connection so far.
    pub fn traces(&self) -> u64 {
        self.traces.load(Ordering::Relaxed)
    }

    /// Each remote node this node has called: name, sender address, counters.
    pub fn senders(&self) -> Vec<(String, Addr, LinkInfo)> {
        let mut v: Vec<_> = self
            .senders
            .lock()
            .iter()
            .map(|(k, e)| (k.clone(), e.addr, e.stats.info()))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    /// Each accepted connection: its agent, peer, counters.
    pub fn agents(&self) -> Vec<(Addr, SocketAddr, LinkInfo)> {
        let mut v: Vec<_> = self
            .agents
            .lock()
            .iter()
            .map(|(a, (p, s))| (*a, *p, s.info()))
            .collect();
        v.sort_by_key(|e| e.0);
        v
    }
}

/// The extension's type: a newtype so no other crate's `Arc<Cluster>` extension collides.
struct ClusterHandle(Arc<Cluster>);

impl Cluster {
    /// The console's `cluster` text: the node table, each remote node's connection (state,
    /// calls in flight, bytes each way), each accepted connection, the registered names.
    pub fn report(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        let table = self.table();
        let file = table
            .path()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "(not from a file)".into());
        let _ = writeln!(out, "node table {file}");
        if let Some(e) = self.load_error() {
            let _ = writeln!(out, "  error: {e}");
        }
        for (name, addr) in table.nodes() {
            let _ = writeln!(out, "  {name:<16} {}", addr.unwrap_or("false (down)"));
        }
        if table.nowaiting() {
            let _ = writeln!(out, "  __nowaiting = true");
        }
        let _ = writeln!(
            out,
            "outgoing\n  {:<16} {:<10} {:<11} {:>9} {:>10} {:>12} {:>12}",
            "NODE", "SENDER", "STATE", "INFLIGHT", "CALLS", "BYTES_OUT", "BYTES_IN"
        );
        for (name, addr, i) in self.senders() {
            let _ = writeln!(
                out,
                "  {name:<16} {:<10} {:<11} {:>9} {:>10} {:>12} {:>12}",
                addr.to_string(),
                i.state.name(),
                i.in_flight,
                i.requests,
                i.bytes_out,
                i.bytes_in
            );
        }
        let _ = writeln!(
            out,
            "incoming\n  {:<22} {:<10} {:>9} {:>10} {:>12} {:>12}",
            "PEER", "AGENT", "INFLIGHT", "REQUESTS", "BYTES_IN", "BYTES_OUT"
        );
        for (addr, peer, i) in self.agents() {
            let _ = writeln!(
                out,
                "  {:<22} {:<10} {:>9} {:>10} {:>12} {:>12}",
                peer.to_string(),
                addr.to_string(),
                i.in_flight,
                i.requests,
                i.bytes_in,
                i.bytes_out
            );
        }
        let names: Vec<String> = self
            .names()
            .into_iter()
            .map(|(n, a)| format!("@{n}={a}"))
            .collect();
        let _ = write!(out, "names {}", names.join(" "));
        out
    }
}
