//! Rust services talking to Lua services: typed arguments and replies through
//! `skynet-seri`'s conversions, the same for a call from Lua, from the cluster or from
//! Rust; and the launcher that lets Lua's `skynet.launch` start registered Rust types.

use skynet_runtime::{
    Addr, CallError, Context, Message, NoSession, Payload, Ptype, Service, Target,
};
use skynet_seri::{from_lua_args, unpack_args_bytes, FromLuaArgs, IntoLuaArgs, LuaValue};

/// The arguments of a LUA message as `T` (a tuple, `()` or `Vec<LuaValue>`): unpacked
/// values (what a Lua service, the cluster or [`call`] sends a Rust service) or packed
/// bytes. `None` when the message carries neither.
///
/// ```no_run
/// # use skynet_runtime::{Context, Message, Service};
/// struct Adder;
/// impl Service for Adder {
///     async fn dispatch(&mut self, ctx: &mut Context, msg: Message) {
///         if let Some(Ok((a, b))) = skynet_lua::args::<(i64, i64)>(&msg) {
///             let _ = skynet_lua::ret(ctx, (a + b,));
///         }
///     }
/// }
/// ```
pub fn args<T: FromLuaArgs>(msg: &Message) -> Option<Result<T, skynet_seri::Error>> {
    if let Some(values) = msg.downcast_ref::<Vec<LuaValue>>() {
        return Some(from_lua_args(values.clone()));
    }
    msg.bytes().map(unpack_args_bytes)
}

/// Answers the current request with an argument list (any tuple): a Lua caller gets the
/// values as `skynet.call`'s results.
pub fn ret<A: IntoLuaArgs>(ctx: &mut Context, values: A) -> Result<(), NoSession> {
    match values.into_lua_args() {
        Ok(v) => ctx.ret(v),
        Err(e) => ctx.ret_error(CallError::Failed(
            ctx.self_addr(),
            format!("cannot pack the reply: {e}"),
        )),
    }
}

/// Reads a reply (from Lua: unpacked values; or packed bytes) as `R`.
pub fn reply<R: FromLuaArgs>(msg: Message) -> Result<R, CallError> {
    let source = msg.source;
    if msg.ptype == Ptype::ERROR {
        return Err(msg
            .take::<CallError>()
            .unwrap_or_else(|m| CallError::Failed(source, error_text(&m))));
    }
    let bad = |e: skynet_seri::Error| CallError::Failed(source, format!("reply: {e}"));
    match msg.take::<Vec<LuaValue>>() {
        Ok(values) => from_lua_args(values).map_err(bad),
        Err(m) => match m.payload {
            Payload::Bytes(b) => unpack_args_bytes(&b).map_err(bad),
            Payload::Empty => from_lua_args(Vec::new()).map_err(bad),
            _ => Err(CallError::BadReply(source)),
        },
    }
}

fn error_text(m: &Message) -> String {
    m.bytes()
        .filter(|b| !b.is_empty())
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .unwrap_or_else(|| "error".to_string())
}

/// Calls a service (Lua or Rust) with an argument list and reads the reply as `R`, as
/// `skynet.call(addr, "lua", ...)` does.
///
/// ```no_run
/// # async fn f(ctx: &skynet_runtime::Context, kv: skynet_runtime::Addr) -> Result<(), skynet_runtime::CallError> {
/// let (v,): (Option<String>,) = skynet_lua::call(ctx, kv, ("get", "a")).await?;
/// # let _ = v; Ok(()) }
/// ```
pub async fn call<'a, A: IntoLuaArgs, R: FromLuaArgs>(
    ctx: &Context,
    dest: impl Into<Target<'a>>,
    args: A,
) -> Result<R, CallError> {
    let values = args
        .into_lua_args()
        .map_err(|e| CallError::Failed(Addr::SYSTEM, format!("cannot pack the arguments: {e}")))?;
    let msg = ctx
        .call_msg(dest, Ptype::LUA, Payload::value(values))
        .await?;
    reply(msg)
}

/// Sends a service an argument list, no reply wanted.
pub fn send<'a, A: IntoLuaArgs>(
    ctx: &Context,
    dest: impl Into<Target<'a>>,
    args: A,
) -> Result<(), CallError> {
    let values = args
        .into_lua_args()
        .map_err(|e| CallError::Failed(Addr::SYSTEM, format!("cannot pack the arguments: {e}")))?;
    ctx.send_msg(dest, Ptype::LUA, Payload::value(values))
        .map_err(|e| e.reason)
}

/// The local name of the launcher service.
pub const LAUNCHER: &str = ".lua_launcher";

/// The service behind Lua's `skynet.launch(name, ...)` for registered Rust types (skynet's
/// C services): `("LAUNCH", name, args...)` launches `name` with `args` and answers its
/// address once its `init` succeeded. Registered as `lua_launcher` by [`crate::register`];
/// [`crate::install`] starts it.
#[derive(Debug, Default)]
pub struct LuaLauncher;

impl Service for LuaLauncher {
    async fn init(&mut self, ctx: &mut Context) -> Result<(), skynet_runtime::Error> {
        ctx.register(LAUNCHER)?;
        Ok(())
    }

    async fn dispatch(&mut self, ctx: &mut Context, msg: Message) {
        let parsed = args::<Vec<LuaValue>>(&msg);
        let Some(responder) = ctx.response() else {
            return;
        };
        let words: Vec<String> = match parsed {
            Some(Ok(v)) => v.iter().map(word).collect(),
            _ => Vec::new(),
        };
        if words.first().map(String::as_str) != Some("LAUNCH") || words.len() < 2 {
            responder.error(CallError::Failed(
                ctx.self_addr(),
                "expected (\"LAUNCH\", name, args...)".into(),
            ));
            return;
        }
        let c = ctx.clone();
        // A fork: a launch whose init calls back here must not wait behind this one.
        ctx.fork(async move {
            let name = &words[1];
            let args: Vec<&str> = words[2..].iter().map(String::as_str).collect();
            // false: the caller is gone; nothing to do.
            let _ = match c.newservice(name, &args).await {
                Ok(a) => responder.send(vec![LuaValue::from(a.0)]),
                Err(e) => responder.error(e),
            };
        });
    }
}

/// A launch argument as text (skynet passes words).
fn word(v: &LuaValue) -> String {
    match v {
        LuaValue::Str(s) => String::from_utf8_lossy(s).into_owned(),
        other => other.to_string(),
    }
}
