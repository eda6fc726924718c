//! The debug console's `cluster` and `cluster reload` commands.

mod util;

use std::io::{BufRead, BufReader};
use std::net::TcpStream;

use skynet_runtime::{Config, Node};
use util::LONG;

/// Sends one command that must work; returns its output (up to `<CMD OK>`).
fn cmd(r: &mut BufReader<TcpStream>, w: &mut TcpStream, line: &str) -> String {
    let (out, ok) = util::console_cmd(r, w, line);
    assert!(ok, "{line:?} failed: {out}");
    out
}

/// Sends one command that must fail; returns its output (up to `<CMD Error>`).
fn cmd_err(r: &mut BufReader<TcpStream>, w: &mut TcpStream, line: &str) -> String {
    let (out, ok) = util::console_cmd(r, w, line);
    assert!(!ok, "{line:?} worked: {out}");
    assert!(out.starts_with("error:"), "{out}");
    out
}

#[test]
fn cluster_lists_the_table_and_reload_rereads_it() {
    let table = std::env::temp_dir().join(format!("skynet-console-{}.toml", std::process::id()));
    std::fs::write(&table, "db = \"127.0.0.1:1\"\n").expect("write the table");
    let text = format!(
        "thread = 2\ndebug_address = \"127.0.0.1:0\"\ncluster = \"{}\"\n",
        table.display()
    );
    let node = skynet_services::register_standard(Node::builder())
        .config(Config::parse(&text, None).expect("config"))
        .build()
        .expect("node");
    node.newservice("debug_console", &[]).expect("console");
    let (_, at) = skynet_cluster::open(&node.handle(), "127.0.0.1:0").expect("listens");
    let addr = node
        .handle()
        .getenv("debug_console_address")
        .expect("address");
    let s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(LONG)).expect("timeout");
    let mut w = s.try_clone().expect("clone");
    let mut r = BufReader::new(s);
    let mut welcome = String::new();
    r.read_line(&mut welcome).expect("welcome");

    let out = cmd(&mut r, &mut w, "cluster");
    assert!(out.contains("db") && out.contains("127.0.0.1:1"), "{out}");
    assert!(
        out.contains("outgoing") && out.contains("incoming"),
        "{out}"
    );

    std::fs::write(&table, format!("db = \"{at}\"\nbattle = false\n")).expect("rewrite");
    assert!(cmd(&mut r, &mut w, "cluster reload").contains("reloaded"));
    let out = cmd(&mut r, &mut w, "cluster");
    assert!(
        out.contains(&at.to_string()) && out.contains("battle"),
        "{out}"
    );
    assert!(cmd(&mut r, &mut w, "help").contains("cluster reload"));
    assert!(cmd_err(&mut r, &mut w, "cluster nonsense").starts_with("error"));
    node.shutdown();
    let _ = std::fs::remove_file(&table);
}
