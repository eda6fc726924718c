//! Calls and pushes with packed payloads: the layer the typed API and the proxy share.

use std::time::{Duration, Instant};

use bytes::Bytes;
use skynet_runtime::{Addr, CallError, Context, Message, Payload, Ptype};

use crate::sender::Outgoing;
use crate::state::Cluster;
use crate::wire::Target;

/// The reply payload of a sender: its bytes.
fn reply_bytes(from: Addr, msg: Message) -> Result<Bytes, CallError> {
    match msg.payload {
        Payload::Bytes(b) => Ok(b),
        Payload::Empty => Ok(Bytes::new()),
        _ => Err(CallError::BadReply(from)),
    }
}

/// Calls `target` on cluster node `node` with a packed payload (`skynet.pack` of the
/// arguments); resolves with the packed reply. `timeout`: this call's deadline, else the
/// node's `call_timeout`.
///
/// Fails at once for a node marked down, or absent with `__nowaiting`; a node absent
/// without it is waited for (until the deadline). A refused connection, a connection lost
/// while the call is in flight, or an error reply are [`CallError::Failed`] naming the
/// node and its address.
pub async fn call_packed(
    ctx: &Context,
    node: &str,
    target: impl Into<Target>,
    payload: Bytes,
    timeout: Option<Duration>,
) -> Result<Bytes, CallError> {
    let cluster = Cluster::of(&ctx.node());
    let deadline = timeout
        .or_else(|| ctx.node().call_timeout())
        .map(|d| Instant::now() + d);
    let out = Outgoing {
        target: target.into(),
        payload,
        push: false,
        deadline,
    };
    let sender = cluster.sender(&ctx.node(), node)?;
    let mut call = ctx.call_msg(sender, Ptype::LUA, Payload::value(out));
    if let Some(d) = timeout {
        call = call.timeout(d);
    }
    match call.await {
        Ok(msg) => reply_bytes(sender, msg),
        Err(e @ (CallError::Dead(_) | CallError::Unknown(_))) => {
            // The sender is gone (killed): the next call starts another.
            cluster.drop_sender(node, sender);
            Err(e)
        }
        Err(e) => Err(e),
    }
}

/// Sends a packed payload to `target` on `node`, no reply wanted (skynet's
/// `cluster.send`). Errors only when the node is down or absent with `__nowaiting`; a push
/// that cannot be delivered later is dropped, as in skynet.
pub fn send_packed(
    ctx: &Context,
    node: &str,
    target: impl Into<Target>,
    payload: Bytes,
) -> Result<(), CallError> {
    let cluster = Cluster::of(&ctx.node());
    let sender = cluster.sender(&ctx.node(), node)?;
    let out = Outgoing {
        target: target.into(),
        payload,
        push: true,
        deadline: None,
    };
    match ctx.send_msg(sender, Ptype::LUA, Payload::value(out)) {
        Ok(()) => Ok(()),
        Err(e) => {
            cluster.drop_sender(node, sender);
            Err(e.reason)
        }
    }
}
