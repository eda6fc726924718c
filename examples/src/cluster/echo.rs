//! The `echo` service of the interop check (`@echo` and `.echo`): what each node of a
//! mixed cluster answers, the Rust one and the skynet one alike.

use std::time::Duration;

use skynet_cluster::Cluster;
use skynet_runtime::{CallError, Context, Message, Service};
use skynet_seri::{LuaTable, LuaValue};

/// `1, "hello", {1,2,x=3}, true, nil, 3.5, 1<<40, -2, ("s"):rep(40), {nested={deep={}}},
/// false, 0`: integers and reals distinct, a nil inside, tables of both parts.
pub fn sample() -> Vec<LuaValue> {
    let mut t = LuaTable::from_array(vec![LuaValue::Int(1), LuaValue::Int(2)]);
    let _ = t.set("x", 3);
    let mut deep = LuaTable::new();
    let _ = deep.set("deep", LuaValue::Table(Box::new(LuaTable::new())));
    let mut nested = LuaTable::new();
    let _ = nested.set("nested", LuaValue::Table(Box::new(deep)));
    vec![
        LuaValue::Int(1),
        LuaValue::from("hello"),
        LuaValue::Table(Box::new(t)),
        LuaValue::Bool(true),
        LuaValue::Nil,
        LuaValue::Real(3.5),
        LuaValue::Int(1 << 40),
        LuaValue::Int(-2),
        LuaValue::from("s".repeat(40)),
        LuaValue::Table(Box::new(nested)),
        LuaValue::Bool(false),
        LuaValue::Int(0),
    ]
}

/// Answers, with payload `pack(cmd, args...)`: `echo, ...` -> the args exactly;
/// `echo_delay, ms, ...` -> the args after ms milliseconds (other requests go on);
/// `sample`; `check_sample, ...` -> whether the args are the sample; `push, x` (a push) ->
/// counted; `pushed` -> (count, last x); `traces` -> trace frames seen; `fail` -> an
/// error; `add, a, b` -> a + b; `report, passed, failed, results` -> printed, true.
#[derive(Debug, Default)]
pub struct Echo {
    pushes: i64,
    last_push: LuaValue,
}

impl Service for Echo {
    async fn dispatch(&mut self, ctx: &mut Context, msg: Message) {
        let Ok(args) = msg.take::<Vec<LuaValue>>() else {
            return;
        };
        let cmd = args.first().and_then(LuaValue::as_str).unwrap_or("");
        let rest = args.get(1..).unwrap_or(&[]).to_vec();
        let _ = match cmd {
            "echo" => ctx.ret(rest),
            "echo_delay" => {
                let ms = rest.first().and_then(LuaValue::as_int).unwrap_or(0).max(0);
                let values = rest.get(1..).unwrap_or(&[]).to_vec();
                if let Some(r) = ctx.response() {
                    let c = ctx.clone();
                    ctx.fork(async move {
                        c.sleep(Duration::from_millis(ms as u64)).await;
                        r.send(values);
                    });
                }
                Ok(())
            }
            "sample" => ctx.ret(sample()),
            "check_sample" => ctx.ret(vec![LuaValue::Bool(rest == sample())]),
            "push" => {
                self.pushes += 1;
                self.last_push = rest.first().cloned().unwrap_or_default();
                Ok(())
            }
            "pushed" => ctx.ret(vec![LuaValue::Int(self.pushes), self.last_push.clone()]),
            "traces" => {
                let n = Cluster::of(&ctx.node()).traces();
                ctx.ret(vec![LuaValue::Int(n as i64)])
            }
            "fail" => ctx.ret_error(CallError::Failed(ctx.self_addr(), "fail as asked".into())),
            "add" => {
                let n = |i: usize| rest.get(i).and_then(LuaValue::as_int).unwrap_or(0);
                ctx.ret(vec![LuaValue::Int(n(0).wrapping_add(n(1)))])
            }
            "report" => {
                println!(
                    "report from the other node: passed {} failed {}: {}",
                    rest.first().map(ToString::to_string).unwrap_or_default(),
                    rest.get(1).map(ToString::to_string).unwrap_or_default(),
                    rest.get(2).map(ToString::to_string).unwrap_or_default(),
                );
                ctx.ret(vec![LuaValue::Bool(true)])
            }
            other => ctx.ret_error(CallError::Failed(
                ctx.self_addr(),
                format!("unknown command {other:?}"),
            )),
        };
    }
}
