//! `bench lua MODE`: Lua services (issue 18): `call` (one ping/pong pair of Lua services),
//! `pairs` (1,000 pairs at once), `send` (one-way sends between two Lua services), `spawn`
//! (10,000 idle Lua services started by a Lua service: time and memory per service).
//! One JSON line each; `--no-profile` as the runtime benches; `--n N`, `--pairs P`.

use std::time::Instant;

use skynet_runtime::{Addr, Config, Context, Message, Node, Service};
use skynet_seri::LuaValue;

use super::args::{arg, flag};
use super::json::{rss_now_kb, JsonLine};

/// Where the bench scripts are.
const SCRIPTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/lua/bench/?.lua");

fn node(args: &[String]) -> Node {
    let mut config = Config::new();
    config.set("luaservice", SCRIPTS);
    config.set("lua_path", SCRIPTS);
    skynet_lua::register(
        Node::builder()
            .threads(arg(args, "--threads", 2usize))
            .profile(!flag(args, "--no-profile"))
            .config(config),
    )
    .build()
    .expect("node starts")
}

/// Tells a channel about every message it gets (how a Lua service reports "done").
struct Done(crossbeam_channel::Sender<()>);
impl Service for Done {
    async fn dispatch(&mut self, _ctx: &mut Context, _msg: Message) {
        let _ = self.0.send(());
    }
}

fn lua(node: &Node, args: &[&str]) -> Addr {
    node.newservice("snlua", args).expect("Lua service starts")
}

fn send(node: &Node, to: Addr, values: Vec<LuaValue>) {
    node.send(to, values).expect("send");
}

/// Runs `bench lua MODE`.
pub fn run(args: &[String]) {
    let mode = args.first().map(String::as_str).unwrap_or("call");
    let node = node(args);
    let (tx, rx) = crossbeam_channel::unbounded();
    let done = node.launch(Done(tx)).expect("launch");
    let mut line = JsonLine::new("lua");
    line.str("mode", mode)
        .num("profile", f64::from(u8::from(!flag(args, "--no-profile"))));
    match mode {
        "call" | "pairs" => {
            let pairs = if mode == "call" {
                1
            } else {
                arg(args, "--pairs", 1000usize)
            };
            let n = arg(args, "--n", if mode == "call" { 200_000i64 } else { 500 });
            let mut pings = Vec::new();
            for _ in 0..pairs {
                let pong = lua(&node, &["pong"]);
                pings.push((lua(&node, &["ping"]), pong));
            }
            let start = Instant::now();
            for (ping, pong) in &pings {
                send(
                    &node,
                    *ping,
                    vec!["run".into(), pong.0.into(), n.into(), done.0.into()],
                );
            }
            for _ in 0..pairs {
                rx.recv().expect("a pair finishes");
            }
            let secs = start.elapsed().as_secs_f64();
            let total = pairs as f64 * n as f64;
            line.num("pairs", pairs as f64)
                .num("calls", total)
                .num("ops_per_sec", total / secs)
                .num("us_per_call", secs * 1e6 / total);
        }
        "send" => {
            let n = arg(args, "--n", 1_000_000i64);
            let count = n.to_string();
            let done_s = done.0.to_string();
            let sink = lua(&node, &["sink", &count, &done_s]);
            let sender = lua(&node, &["sender"]);
            let start = Instant::now();
            send(&node, sender, vec!["run".into(), sink.0.into(), n.into()]);
            rx.recv().expect("the sink counts them all");
            let secs = start.elapsed().as_secs_f64();
            line.num("sends", n as f64)
                .num("ops_per_sec", n as f64 / secs);
        }
        "spawn" => {
            let n = arg(args, "--n", 10_000i64);
            let spawner = lua(&node, &["spawner"]);
            let rss_before = rss_now_kb().unwrap_or(0);
            let start = Instant::now();
            send(&node, spawner, vec!["run".into(), n.into(), done.0.into()]);
            rx.recv().expect("the spawner finishes");
            let secs = start.elapsed().as_secs_f64();
            let rss_after = rss_now_kb().unwrap_or(0);
            line.num("spawned", n as f64)
                .num("ops_per_sec", n as f64 / secs)
                .num(
                    "kb_per_service",
                    rss_after.saturating_sub(rss_before) as f64 / n as f64,
                );
        }
        other => {
            eprintln!("bench lua: unknown mode {other:?} (call, pairs, send, spawn)");
            std::process::exit(2);
        }
    }
    println!("{}", line.finish());
    node.shutdown();
}
