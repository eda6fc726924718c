//! The db node's service (`examples/config/cluster-db.toml`): opens the cluster port named
//! by `cluster_name` and serves a key-value store as `@kv`.

use std::collections::HashMap;

use skynet_runtime::{CallError, Context, Error, Message, Service};
use skynet_seri::LuaValue;

/// `GET k` -> the value or nil; `SET k v` -> the old value; `INCR k` -> the new count.
#[derive(Debug, Default)]
pub struct Kv {
    store: HashMap<Vec<u8>, LuaValue>,
}

impl Service for Kv {
    async fn init(&mut self, ctx: &mut Context) -> Result<(), Error> {
        let name = ctx
            .getenv("cluster_name")
            .ok_or("config key `cluster_name` is not set")?;
        let (_, at) = skynet_cluster::open(&ctx.node(), &name)?;
        skynet_cluster::register(&ctx.node(), "kv", ctx.self_addr())?;
        log::info!("cluster node {name}: @kv on {at}");
        Ok(())
    }

    async fn dispatch(&mut self, ctx: &mut Context, msg: Message) {
        let Ok(args) = msg.take::<Vec<LuaValue>>() else {
            return;
        };
        let cmd = args.first().and_then(LuaValue::as_str).unwrap_or("");
        let key = args
            .get(1)
            .and_then(LuaValue::as_bytes)
            .unwrap_or(b"")
            .to_vec();
        let _ = match cmd {
            "GET" => ctx.ret(vec![self.store.get(&key).cloned().unwrap_or_default()]),
            "SET" => {
                let v = args.get(2).cloned().unwrap_or_default();
                ctx.ret(vec![self.store.insert(key, v).unwrap_or_default()])
            }
            "INCR" => {
                let n = self.store.get(&key).and_then(LuaValue::as_int).unwrap_or(0) + 1;
                self.store.insert(key, LuaValue::Int(n));
                ctx.ret(vec![LuaValue::Int(n)])
            }
            other => ctx.ret_error(CallError::Failed(
                ctx.self_addr(),
                format!("unknown command {other:?}"),
            )),
        };
    }
}
