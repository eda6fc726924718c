//! What a debug console asks of Lua services: their heaps (`mem`), a collection (`gc`),
//! a script run inside one (`inject`, skynet's hot fix), and `signal`. Each goes through
//! the debug protocol that the Lua library answers, so the console needs no Lua of its own.

use std::fmt::Write;
use std::time::Duration;

use skynet_runtime::{Addr, CallError, Context, Payload, Ptype};
use skynet_seri::{pack_args, FromLuaArgs, IntoLuaArgs};

use crate::interop::reply;
use crate::node::LuaNode;

/// How long the console waits for one Lua service to answer.
const DEBUG_DEADLINE: Duration = Duration::from_secs(2);

/// Calls `addr` on the debug protocol with `args`.
pub async fn debug_call<A: IntoLuaArgs, R: FromLuaArgs>(
    ctx: &Context,
    addr: Addr,
    args: A,
) -> Result<R, CallError> {
    let packed = pack_args(args)
        .map_err(|e| CallError::Failed(Addr::SYSTEM, format!("cannot pack: {e}")))?;
    let msg = ctx
        .call_msg(addr, Ptype::DEBUG, Payload::Bytes(packed.into()))
        .timeout(DEBUG_DEADLINE)
        .await?;
    reply(msg)
}

/// `mem`: each Lua service's heap in KiB (skynet's console `mem`).
pub async fn mem(ctx: &Context) -> String {
    let mut out = String::new();
    for (a, script) in LuaNode::of(&ctx.node()).services() {
        let line = match debug_call::<_, (f64,)>(ctx, a, ("MEM",)).await {
            Ok((kb,)) => format!("{a} {kb:>10.2} Kb (snlua {script})"),
            Err(e) => format!("{a} error: {e} (snlua {script})"),
        };
        let _ = writeln!(out, "{line}");
    }
    if out.is_empty() {
        out.push_str("no Lua services\n");
    }
    out
}

/// `gc`: a full collection in every Lua service; each one's heap before and after.
pub async fn gc(ctx: &Context) -> String {
    let mut out = String::new();
    for (a, script) in LuaNode::of(&ctx.node()).services() {
        let line = match debug_call::<_, (f64, f64)>(ctx, a, ("GC",)).await {
            Ok((before, after)) => {
                format!("{a} {before:>10.2} Kb -> {after:.2} Kb (snlua {script})")
            }
            Err(e) => format!("{a} error: {e} (snlua {script})"),
        };
        let _ = writeln!(out, "{line}");
    }
    if out.is_empty() {
        out.push_str("no Lua services\n");
    }
    out
}

/// `inject ADDR FILE`: runs the script in `file` inside Lua service `addr`; returns what
/// it printed, or its error.
pub async fn inject(ctx: &Context, addr: Addr, file: &str) -> Result<String, String> {
    if !LuaNode::of(&ctx.node()).is_lua(addr) {
        return Err(format!("{addr} is not a Lua service"));
    }
    let source = std::fs::read(file).map_err(|e| format!("cannot read {file}: {e}"))?;
    let source = bytes::Bytes::from(source);
    let (out, err): (Option<String>, Option<String>) = debug_call(ctx, addr, ("RUN", source, file))
        .await
        .map_err(|e| e.to_string())?;
    match (out, err) {
        (_, Some(e)) => Err(e),
        (Some(o), None) => Ok(o),
        (None, None) => Ok(String::new()),
    }
}

/// `signal ADDR`: interrupts what Lua service `addr` is running (an endless loop).
pub fn signal(ctx: &Context, addr: Addr) -> Result<String, String> {
    let lua = LuaNode::of(&ctx.node());
    if !lua.is_lua(addr) {
        Err(format!("{addr} is not a Lua service"))
    } else if lua.signal(addr) {
        Ok(format!("{addr} signalled"))
    } else {
        Ok(format!("{addr} is idle: nothing to interrupt"))
    }
}
