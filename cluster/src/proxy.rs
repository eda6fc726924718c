//! Proxies: a local address standing for a remote service (skynet's `cluster.proxy`), so
//! ordinary service code calls a remote service as it calls a local one.

use std::collections::HashMap;
use std::sync::Arc;

use skynet_runtime::{
    Addr, CallError, ExitReason, Message, NodeHandle, Payload, Ptype, RawContext, RawService,
};

use crate::sender::Outgoing;
use crate::state::Cluster;
use crate::values;
use crate::wire::Target;

struct Proxy {
    cluster: Arc<Cluster>,
    node_name: String,
    target: Target,
    /// The proxy's session of each call in flight -> the caller and its session.
    pending: HashMap<i32, (Addr, i32)>,
}

impl Proxy {
    fn error(ctx: &RawContext<'_>, to: Addr, session: i32, e: CallError) {
        if session != 0 {
            let _ = ctx.send(to, Ptype::ERROR, session, Payload::value(e));
        }
    }

    fn forward(&mut self, ctx: &RawContext<'_>, msg: Message) {
        let (caller, session) = (msg.source, msg.session);
        let payload = match values::pack_payload(msg.payload) {
            Ok(p) => p,
            Err(e) => {
                let e = CallError::Failed(ctx.self_addr(), format!("cannot pack the request: {e}"));
                return Self::error(ctx, caller, session, e);
            }
        };
        let sender = match self.cluster.sender(&ctx.node(), &self.node_name) {
            Ok(s) => s,
            Err(e) => return Self::error(ctx, caller, session, e),
        };
        let push = session == 0;
        // The proxy's caller has its own deadline; the node's default bounds the sender's
        // memory of the call.
        let deadline = ctx
            .node()
            .call_timeout()
            .map(|d| std::time::Instant::now() + d);
        let out = Outgoing {
            target: self.target.clone(),
            payload,
            push,
            deadline,
        };
        let mine = if push { 0 } else { ctx.new_session() };
        match ctx.send(sender, Ptype::LUA, mine, Payload::value(out)) {
            Ok(()) if !push => {
                self.pending.insert(mine, (caller, session));
            }
            Ok(()) => {}
            Err(e) => {
                self.cluster.drop_sender(&self.node_name, sender);
                Self::error(ctx, caller, session, e.reason);
            }
        }
    }

    fn answered(&mut self, ctx: &RawContext<'_>, msg: Message) {
        let Some((caller, session)) = self.pending.remove(&msg.session) else {
            return;
        };
        if msg.ptype == Ptype::ERROR {
            let _ = ctx.send(caller, Ptype::ERROR, session, msg.payload);
            return;
        }
        let Payload::Bytes(packed) = msg.payload else {
            return Self::error(ctx, caller, session, CallError::BadReply(msg.source));
        };
        match values::unpack_payload(&packed) {
            Ok(p) => {
                let _ = ctx.send(caller, Ptype::RESPONSE, session, p);
            }
            Err(e) => {
                let e = CallError::Failed(msg.source, format!("reply does not unpack: {e}"));
                Self::error(ctx, caller, session, e);
            }
        }
    }
}

impl RawService for Proxy {
    fn handle(&mut self, ctx: &mut RawContext<'_>, msg: Message) {
        match msg.ptype {
            Ptype::LUA => self.forward(ctx, msg),
            Ptype::RESPONSE | Ptype::ERROR => self.answered(ctx, msg),
            _ => {}
        }
    }

    fn exit(&mut self, ctx: &mut RawContext<'_>, _reason: &ExitReason) {
        for (_, (caller, session)) in self.pending.drain() {
            Self::error(ctx, caller, session, CallError::Dead(ctx.self_addr()));
        }
    }
}

/// A local address whose LUA calls and sends go to `addr` on cluster node `node`
/// (skynet's `cluster.proxy(node, name)`). Send it what you would send a service reached
/// from the cluster (a `Vec<LuaValue>`, see [`crate::ret`]'s list of types); replies come
/// back as `Vec<LuaValue>`. Calls take the caller's own deadline. Kill it when done.
///
/// ```no_run
/// # fn f(ctx: &skynet_runtime::Context) -> Result<(), skynet_runtime::CallError> {
/// use skynet_seri::IntoLuaArgs;
/// let kv = skynet_cluster::proxy(&ctx.node(), "db", "@kv")?;
/// let reply = ctx.call(kv, ("GET", "a").into_lua_args().expect("packable"));
/// # let _ = reply; Ok(()) }
/// ```
pub fn proxy(
    node: &NodeHandle,
    cluster_node: &str,
    addr: impl Into<Target>,
) -> Result<Addr, CallError> {
    let svc = Proxy {
        cluster: Cluster::of(node),
        node_name: cluster_node.to_string(),
        target: addr.into(),
        pending: HashMap::new(),
    };
    node.launch_raw(Box::new(svc), "cluster_proxy")
}
