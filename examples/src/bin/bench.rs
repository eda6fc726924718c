//! `bench NAME [ARGS]`: runs one benchmark and prints one JSON line.
//!
//! Names: call, send, pairs, spawn, timers (the runtime); echo, hold (the load client);
//! netpack (framing decode); flood (socket throughput); cluster (calls between two nodes);
//! ws, http (the web layer: WebSocket echo, HTTP requests); lua (Lua services: call,
//! pairs, send, spawn);
//! summary (medians of JSON lines read on stdin).

use skynet_examples::bench;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let name = args.first().map(String::as_str).unwrap_or("");
    let rest = args.get(1..).unwrap_or(&[]);
    match name {
        "call" => bench::runtime::call(rest),
        "send" => bench::runtime::send(rest),
        "pairs" => bench::runtime::pairs(rest),
        "spawn" => bench::runtime::spawn(rest),
        "timers" => bench::runtime::timers(rest),
        "echo" => bench::echo::echo(rest),
        "hold" => bench::echo::hold(rest),
        "netpack" => bench::netpack::run(rest),
        "flood" => bench::flood::run(rest),
        "summary" => bench::summary::run(rest),
        "ws" => bench::web::ws(rest),
        "http" => bench::web::http(rest),
        "cluster" => bench::cluster::run(rest),
        "lua" => bench::lua::run(rest),
        "cluster-server" => bench::cluster::server(rest),
        _ => {
            eprintln!(
                "usage: bench <call|send|pairs|spawn|timers|echo|hold|netpack|flood|cluster|lua|ws|http|summary> [ARGS]"
            );
            eprintln!("unknown benchmark {name:?}");
            std::process::exit(2);
        }
    }
}
