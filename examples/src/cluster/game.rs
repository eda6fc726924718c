//! The game node's service (`examples/config/cluster-game.toml`): calls `@kv` on the `db`
//! node, by name, through a proxy, and every second counts a visit there.

use std::time::Duration;

use skynet_runtime::{Context, Error, Message, Service};
use skynet_seri::{IntoLuaArgs, LuaValue};

/// Logs what the db node answers.
#[derive(Debug, Default)]
pub struct Game;

impl Service for Game {
    async fn init(&mut self, ctx: &mut Context) -> Result<(), Error> {
        let c = ctx.clone();
        ctx.fork(async move {
            loop {
                match skynet_cluster::call::<_, (Option<String>,)>(
                    &c,
                    "db",
                    "@kv",
                    ("SET", "hello", "world"),
                )
                .await
                {
                    Ok(_) => break,
                    Err(e) => log::info!("db not there yet: {e}"),
                }
                c.sleep(Duration::from_secs(1)).await;
            }
            let got = skynet_cluster::call::<_, (String,)>(&c, "db", "@kv", ("GET", "hello")).await;
            log::info!("db says hello = {got:?}");
            // The same service through a proxy: an ordinary local call.
            if let Ok(kv) = skynet_cluster::proxy(&c.node(), "db", "@kv") {
                if let Ok(args) = ("GET", "hello").into_lua_args() {
                    let r = c
                        .call(kv, args)
                        .await
                        .map(|m| m.take::<Vec<LuaValue>>().ok());
                    log::info!("through a proxy: {r:?}");
                }
            }
            loop {
                match skynet_cluster::call::<_, (i64,)>(&c, "db", "@kv", ("INCR", "visits")).await {
                    Ok((n,)) => log::info!("visits = {n}"),
                    Err(e) => log::warn!("INCR failed: {e}"),
                }
                c.sleep(Duration::from_secs(1)).await;
            }
        });
        Ok(())
    }

    async fn dispatch(&mut self, _ctx: &mut Context, _msg: Message) {}
}
