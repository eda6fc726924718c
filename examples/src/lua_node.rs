//! The Lua example node (`examples/config/lua.toml`): the standard service types, the Lua
//! host, and `counter`, a Rust service that Lua calls.

use skynet_runtime::{CallError, Context, Message, NodeBuilder, Service};

/// A Rust service for Lua: `("add", n)` adds `n` to its total and answers the total.
#[derive(Debug, Default)]
pub struct Counter(i64);

impl Service for Counter {
    async fn dispatch(&mut self, ctx: &mut Context, msg: Message) {
        match skynet_lua::args::<(String, i64)>(&msg) {
            Some(Ok((cmd, n))) if cmd == "add" => {
                self.0 += n;
                let _ = skynet_lua::ret(ctx, (self.0,));
            }
            _ => {
                let _ = ctx.ret_error(CallError::Failed(
                    ctx.self_addr(),
                    "expected (\"add\", n)".into(),
                ));
            }
        }
    }
}

/// A builder with the standard types (Lua host included) and `counter`.
pub fn builder() -> NodeBuilder {
    skynet_services::register_standard(skynet_runtime::Node::builder())
        .service("counter", |_| Ok(Counter::default()))
}
