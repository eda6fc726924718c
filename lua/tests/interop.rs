//! Lua and Rust side by side: a Lua service calls a Rust one (started with
//! `skynet.launch`) and a Rust service calls a Lua one (started by script name), each
//! reading the other's values with the typed helpers.

mod util;

use skynet_runtime::{CallError, Context, Message, Node, Service};
use skynet_seri::{LuaTable, LuaValue};

/// A Rust service for Lua to call: ("add", a, b) -> a + b + base; ("greet", name) ->
/// ("hello " .. name, 2); ("table") -> {1, 2, 3, name = "x"}; ("fail") -> an error.
struct Adder(i64);

impl Service for Adder {
    async fn dispatch(&mut self, ctx: &mut Context, msg: Message) {
        let Some(Ok((cmd, a, b))) =
            skynet_lua::args::<(String, Option<LuaValue>, Option<i64>)>(&msg)
        else {
            let _ = ctx.ret_error(CallError::Failed(ctx.self_addr(), "bad request".into()));
            return;
        };
        let _ = match cmd.as_str() {
            "add" => {
                let a = a.and_then(|v| v.as_int()).unwrap_or(0);
                skynet_lua::ret(ctx, (a + b.unwrap_or(0) + self.0,))
            }
            "greet" => {
                let name = a
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default();
                skynet_lua::ret(ctx, (format!("hello {name}"), 2))
            }
            "table" => {
                let mut t = LuaTable::from_array(vec![1.into(), 2.into(), 3.into()]);
                let _ = t.set("name", "x");
                skynet_lua::ret(ctx, (LuaValue::from(t),))
            }
            _ => ctx.ret_error(CallError::Failed(ctx.self_addr(), "no such command".into())),
        };
    }
}

fn node_with_adder() -> (Node, skynet_runtime::LogCapture) {
    let mut config = skynet_runtime::Config::new();
    config.set("luaservice", util::scripts());
    config.set("lua_path", util::scripts());
    config.set("call_timeout", "30");
    let log = skynet_runtime::LogCapture::new();
    let builder = Node::builder()
        .threads(2)
        .config(config)
        .logger(log.logger())
        .service("adder", |args: &[String]| {
            let base = args.first().and_then(|a| a.parse().ok()).unwrap_or(0);
            Ok(Adder(base))
        });
    let node = skynet_lua::register(builder).build().expect("node starts");
    skynet_lua::install(&node).expect("launcher");
    (node, log)
}

#[test]
fn lua_launches_and_calls_a_rust_service() {
    let (node, log) = node_with_adder();
    let t = node
        .newservice("snlua", &["interop"])
        .expect("interop starts");
    let r = util::call(&node, t, vec!["run".into(), "rust".into()]);
    assert_eq!(
        r,
        Ok(vec![LuaValue::from("ok")]),
        "log:\n{}",
        log.lines().join("\n")
    );
    let bad = util::unexpected_warnings(&log, &["no_such_type"]);
    assert!(bad.is_empty(), "{bad:#?}");
    node.shutdown();
}

/// Launches a Lua service by script name and calls it with typed arguments.
struct Driver;

impl Service for Driver {
    async fn dispatch(&mut self, ctx: &mut Context, _msg: Message) {
        let r = async {
            let echo = ctx
                .newservice("snlua", &["echo", "from-rust"])
                .await
                .map_err(|e| e.to_string())?;
            let (sum,): (i64,) = skynet_lua::call(ctx, echo, ("add", 40, 2))
                .await
                .map_err(|e| e.to_string())?;
            let (mode,): (String,) = skynet_lua::call(ctx, echo, ("mode",))
                .await
                .map_err(|e| e.to_string())?;
            let (a, b, c): (String, Option<i64>, f64) =
                skynet_lua::call(ctx, echo, ("echo", "s", None::<i64>, 1.5))
                    .await
                    .map_err(|e| e.to_string())?;
            let failed = skynet_lua::call::<_, ()>(ctx, echo, ("fail", "expected")).await;
            skynet_lua::send(ctx, echo, ("add", 1, 1)).map_err(|e| e.to_string())?;
            ctx.kill(echo);
            Ok::<_, String>(format!("{sum} {mode} {a} {b:?} {c} {}", failed.is_err()))
        }
        .await;
        let _ = ctx.ret(r);
    }
}

#[test]
fn rust_launches_a_lua_service_by_name_and_calls_it() {
    let (node, log) = node_with_adder();
    let driver = node.launch(Driver).expect("driver");
    let r = node
        .call(driver, ())
        .expect("driver answers")
        .into_value::<Result<String, String>>()
        .expect("a result");
    assert_eq!(
        r,
        Ok("42 from-rust s None 1.5 true".to_string()),
        "log:\n{}",
        log.lines().join("\n")
    );
    let bad = util::unexpected_warnings(&log, &["expected"]);
    assert!(bad.is_empty(), "{bad:#?}");
    node.shutdown();
}
