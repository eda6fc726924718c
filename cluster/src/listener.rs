//! The listener: accepts cluster connections and gives each its own agent (skynet's
//! `cluster.open`, with clusterd as the gate's watchdog).

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use skynet_net::{Driver, SocketEvent};
use skynet_runtime::{Addr, Message, NodeHandle, Ptype, RawContext, RawService};

use crate::agent::Agent;
use crate::config::Limits;
use crate::nodes::split_address;
use crate::state::Cluster;

struct Listener {
    cluster: Arc<Cluster>,
    limits: Limits,
    bound: SocketAddr,
}

impl RawService for Listener {
    fn handle(&mut self, ctx: &mut RawContext<'_>, msg: Message) {
        if msg.ptype == Ptype::LUA && msg.source.is_system() {
            if let Ok(bound) = msg.take::<SocketAddr>() {
                self.bound = bound;
            }
            return;
        }
        if msg.ptype != Ptype::SOCKET {
            return;
        }
        let Ok(ev) = msg.take::<SocketEvent>() else {
            return;
        };
        match ev {
            SocketEvent::Accept { id, peer, .. } => {
                let driver = Driver::new(&ctx.node());
                if !self.limits.allow.allows(peer.ip()) {
                    log::warn!(
                        "cluster {}: refused {peer}: not in cluster_allow ({})",
                        self.bound,
                        self.limits.allow
                    );
                    driver.shutdown(id);
                    return;
                }
                let agent = Agent::new(id, peer, self.cluster.clone(), &self.limits);
                if let Err(e) = ctx.node().launch_raw(Box::new(agent), "cluster_agent") {
                    log::error!("cluster {}: no agent for {peer}: {e}", self.bound);
                    driver.shutdown(id);
                }
            }
            SocketEvent::Error { message, .. } => {
                log::error!("cluster {}: listener failed: {message}", self.bound);
                ctx.exit();
            }
            _ => {}
        }
    }
}

/// Listens for cluster connections (skynet's `cluster.open`): `at` is a node name from the
/// table, or `host:port` (port 0: any free port). Returns the listener service (kill it to
/// stop listening; connections already accepted stay) and the bound address. Reads the
/// limits and the allow-list from the config now; a bad one is an error.
pub fn open(node: &NodeHandle, at: &str) -> io::Result<(Addr, SocketAddr)> {
    let cluster = Cluster::of(node);
    let limits = Limits::from_node(node).map_err(io::Error::other)?;
    cluster.set_limits(limits.clone());
    let addr = if split_address(at).is_some() {
        at.to_string()
    } else {
        match cluster.table().lookup(at) {
            crate::nodes::Lookup::At(a) => a.to_string(),
            _ => {
                let why = match cluster.load_error() {
                    Some(e) => format!("cluster node [{at}] is not in the node table ({e})"),
                    None => format!("cluster node [{at}] is not in the node table"),
                };
                return Err(io::Error::new(io::ErrorKind::NotFound, why));
            }
        }
    };
    let Some((host, port)) = split_address(&addr) else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{addr:?}: expected host:port"),
        ));
    };
    let driver = Driver::new(node);
    // The listener must exist to own the socket; it learns its address before any ACCEPT.
    let svc = Listener {
        cluster,
        limits,
        bound: SocketAddr::from(([0, 0, 0, 0], 0)),
    };
    let listener = node
        .launch_raw(Box::new(svc), "cluster_listener")
        .map_err(io::Error::other)?;
    let (id, bound) = match driver.listen(host, port, listener) {
        Ok(r) => r,
        Err(e) => {
            node.kill(listener);
            return Err(e);
        }
    };
    node.send(listener, Message::value(Addr::SYSTEM, 0, Ptype::LUA, bound))
        .map_err(|e| io::Error::other(e.to_string()))?;
    driver.start(id, listener);
    log::info!("cluster listening on {bound}");
    Ok((listener, bound))
}
