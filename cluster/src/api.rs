//! The typed API for Rust services: arguments and results are Rust values, packed and
//! unpacked with `skynet-seri` (`("GET", "a")` in, `(String,)` or `Option<String>` out).

use std::time::Duration;

use bytes::Bytes;
use skynet_runtime::{Addr, CallError, Context, NoSession, NodeHandle};
use skynet_seri::{pack_args, unpack_args_bytes, FromLuaArgs, IntoLuaArgs, LuaValue};

use crate::raw::{call_packed, send_packed};
use crate::state::Cluster;
use crate::wire::Target;

fn packed<A: IntoLuaArgs>(args: A) -> Result<Bytes, CallError> {
    pack_args(args)
        .map(Bytes::from)
        .map_err(|e| CallError::Failed(Addr::SYSTEM, format!("cannot pack the arguments: {e}")))
}

fn typed<R: FromLuaArgs>(node: &str, reply: &Bytes) -> Result<R, CallError> {
    unpack_args_bytes(reply).map_err(|e| {
        CallError::Failed(
            Addr::SYSTEM,
            format!("reply from cluster node [{node}]: {e}"),
        )
    })
}

/// Calls `addr` on cluster node `node` (skynet's `cluster.call`) and reads the results as
/// `R` (a tuple, `()`, or `Vec<LuaValue>` for all of them). `addr` is `"@name"` (registered
/// there with [`register`]), `".name"` or `":0000000a"` (its local names), or a handle
/// (`u32`/[`Addr`], as [`query`] returns). The deadline is the node's `call_timeout`;
/// [`call_timeout`] sets one per call.
///
/// ```no_run
/// # async fn f(ctx: &skynet_runtime::Context) -> Result<(), skynet_runtime::CallError> {
/// let (v,): (Option<String>,) = skynet_cluster::call(ctx, "db", "@kv", ("GET", "a")).await?;
/// # let _ = v; Ok(()) }
/// ```
pub async fn call<A: IntoLuaArgs, R: FromLuaArgs>(
    ctx: &Context,
    node: &str,
    addr: impl Into<Target>,
    args: A,
) -> Result<R, CallError> {
    let reply = call_packed(ctx, node, addr, packed(args)?, None).await?;
    typed(node, &reply)
}

/// [`call`] with its own deadline.
pub async fn call_timeout<A: IntoLuaArgs, R: FromLuaArgs>(
    ctx: &Context,
    node: &str,
    addr: impl Into<Target>,
    args: A,
    timeout: Duration,
) -> Result<R, CallError> {
    let reply = call_packed(ctx, node, addr, packed(args)?, Some(timeout)).await?;
    typed(node, &reply)
}

/// Sends to `addr` on `node`, no reply wanted (skynet's `cluster.send`).
pub fn send<A: IntoLuaArgs>(
    ctx: &Context,
    node: &str,
    addr: impl Into<Target>,
    args: A,
) -> Result<(), CallError> {
    send_packed(ctx, node, addr, packed(args)?)
}

/// The handle registered as `@name` on `node` (skynet's `cluster.query`); call it by
/// handle afterwards to skip the name lookup there.
pub async fn query(ctx: &Context, node: &str, name: &str) -> Result<Addr, CallError> {
    let name = name.strip_prefix('@').unwrap_or(name);
    let reply = call_packed(ctx, node, Target::QUERY, packed((name,))?, None).await?;
    let (handle,): (u32,) = typed(node, &reply)?;
    Ok(Addr(handle))
}

/// Registers `addr` as `@name` for the cluster (skynet's `cluster.register`); the name is
/// removed when the service ends. A name belongs to one service, a service has one name.
pub fn register(node: &NodeHandle, name: &str, addr: Addr) -> Result<(), String> {
    Cluster::of(node).register(name, addr)
}

/// Removes `@name`; false if it was not registered.
pub fn unregister(node: &NodeHandle, name: &str) -> bool {
    Cluster::of(node).unregister(name)
}

/// Re-reads the node table from the file named by the config key `cluster` (skynet's
/// `cluster.reload`).
pub fn reload(node: &NodeHandle) -> Result<(), String> {
    Cluster::of(node).reload(node)
}

/// Answers the current request of a service reached from the cluster with an argument
/// list (any tuple): `skynet_cluster::ret(ctx, ("foobar", 1))`.
pub fn ret<A: IntoLuaArgs>(ctx: &mut Context, values: A) -> Result<(), NoSession> {
    match values.into_lua_args() {
        Ok(v) => ctx.ret(v),
        Err(e) => ctx.ret_error(CallError::Failed(
            ctx.self_addr(),
            format!("cannot pack the reply: {e}"),
        )),
    }
}

/// The arguments of a LUA message from the cluster (or a proxy), read as `T`; `None` when
/// the message does not carry unpacked values.
pub fn args<T: FromLuaArgs>(
    msg: &skynet_runtime::Message,
) -> Option<Result<T, skynet_seri::Error>> {
    let values = msg.downcast_ref::<Vec<LuaValue>>()?;
    Some(skynet_seri::from_lua_args(values.clone()))
}
