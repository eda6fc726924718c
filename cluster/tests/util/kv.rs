//! The key-value service of the capture (`cap_db.lua`), in Rust: what a service reached
//! from the cluster looks like.

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use skynet_runtime::{CallError, Context, Message, Responder, Service};
use skynet_seri::LuaValue;

/// `GET k` -> the value (nil if none); `SET k v` -> nil; `NONE` -> nothing; `FAIL` -> an
/// error; `PING x` (a push) -> counted; `PINGS` -> (count, last x). Starts with
/// `a = "foobar"`, as the capture's did. For the tests: `DELAY ms x` answers x after ms
/// milliseconds (other requests go on meanwhile), `HANG` never answers, `PANIC` panics.
pub struct Kv {
    store: HashMap<Bytes, LuaValue>,
    pings: i64,
    last: LuaValue,
    hung: Vec<Responder>,
}

/// The message `PANIC` panics with (tests silence it).
pub const PANIC_TEXT: &str = "kv panics on purpose";

impl Default for Kv {
    fn default() -> Kv {
        let mut store = HashMap::new();
        store.insert(Bytes::from_static(b"a"), LuaValue::from("foobar"));
        Kv {
            store,
            pings: 0,
            last: LuaValue::Nil,
            hung: Vec::new(),
        }
    }
}

impl Service for Kv {
    async fn dispatch(&mut self, ctx: &mut Context, msg: Message) {
        let Ok(args) = msg.take::<Vec<LuaValue>>() else {
            return;
        };
        let cmd = args.first().and_then(LuaValue::as_bytes).unwrap_or(b"");
        let key = args
            .get(1)
            .and_then(LuaValue::as_bytes)
            .map(Bytes::copy_from_slice)
            .unwrap_or_default();
        let _ = match cmd {
            b"GET" => ctx.ret(vec![self.store.get(&key).cloned().unwrap_or_default()]),
            b"SET" => {
                self.store
                    .insert(key, args.get(2).cloned().unwrap_or_default());
                ctx.ret(vec![LuaValue::Nil])
            }
            b"NONE" => ctx.ret(Vec::<LuaValue>::new()),
            b"PING" => {
                self.pings += 1;
                self.last = args.get(1).cloned().unwrap_or_default();
                Ok(())
            }
            b"DELAY" => {
                let ms = args.get(1).and_then(LuaValue::as_int).unwrap_or(0);
                let x = args.get(2).cloned().unwrap_or_default();
                if let Some(r) = ctx.response() {
                    let c = ctx.clone();
                    ctx.fork(async move {
                        c.sleep(Duration::from_millis(ms.max(0) as u64)).await;
                        r.send(vec![x]);
                    });
                }
                Ok(())
            }
            b"HANG" => {
                self.hung.extend(ctx.response());
                Ok(())
            }
            b"PANIC" => panic!("{PANIC_TEXT}"),
            b"PINGS" => ctx.ret(vec![LuaValue::Int(self.pings), self.last.clone()]),
            _ => ctx.ret_error(CallError::Failed(ctx.self_addr(), "unknown command".into())),
        };
    }
}
