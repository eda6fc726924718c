//! The console with Lua services: `start` by script name, `list` shows the script, `mem`
//! and `gc` per Lua service, `inject`, `signal`; and a node whose `start` is a Lua script.

mod util;

use std::io::{BufRead, BufReader};
use std::net::TcpStream;

use skynet_runtime::{Config, LogCapture, Node};
use util::*;

fn lua_dir() -> String {
    format!("{}/../lua/tests/lua", env!("CARGO_MANIFEST_DIR"))
}

/// Sends one command that must work; returns its output (up to `<CMD OK>`).
fn cmd(r: &mut BufReader<TcpStream>, w: &mut TcpStream, line: &str) -> String {
    let (out, ok) = console_cmd(r, w, line);
    assert!(ok, "{line:?} failed: {out}");
    out
}

/// Sends one command that must fail; returns its output (up to `<CMD Error>`).
fn cmd_err(r: &mut BufReader<TcpStream>, w: &mut TcpStream, line: &str) -> String {
    let (out, ok) = console_cmd(r, w, line);
    assert!(!ok, "{line:?} worked: {out}");
    out
}

#[test]
fn console_starts_lists_measures_and_injects_lua_services() {
    let text = format!(
        "thread = 2\ndebug_address = \"127.0.0.1:0\"\nluaservice = \"{0}/?.lua\"\nlua_path = \"{0}/?.lua\"\n",
        lua_dir()
    );
    let log = LogCapture::new();
    let node = skynet_services::register_standard(Node::builder())
        .config(Config::parse(&text, None).unwrap())
        .logger(log.logger())
        .build()
        .unwrap();
    node.newservice("debug_console", &[]).unwrap();
    let addr = node.handle().getenv("debug_console_address").unwrap();
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(LONG)).unwrap();
    let mut w = s.try_clone().unwrap();
    let mut r = BufReader::new(s);
    let mut welcome = String::new();
    r.read_line(&mut welcome).unwrap();

    let started = cmd(&mut r, &mut w, "start echo hello");
    let a = started.trim().to_string();
    assert!(a.starts_with(':'), "{started}");
    let list = cmd(&mut r, &mut w, "list");
    assert!(list.contains("snlua echo hello"), "{list}");
    let mem = cmd(&mut r, &mut w, "mem");
    assert!(mem.contains("Kb (snlua echo hello)"), "{mem}");
    let gc = cmd(&mut r, &mut w, "gc");
    assert!(gc.contains("->") && gc.contains(&a), "{gc}");
    let out = cmd(
        &mut r,
        &mut w,
        &format!("inject {a} {}/inject_me.lua", lua_dir()),
    );
    assert!(out.contains(&format!("injected into\t{a}")), "{out}");
    assert!(cmd(&mut r, &mut w, &format!("signal {a}")).contains("idle"));
    assert!(cmd(&mut r, &mut w, &format!("ping {a}")).contains("answered"));
    assert!(cmd_err(&mut r, &mut w, "inject .nosuch x").starts_with("error:"));
    assert!(cmd_err(&mut r, &mut w, "start no_such_script").starts_with("error:"));
    let bad: Vec<String> = log
        .lines()
        .into_iter()
        .filter(|l| l.contains("WARN") || l.contains("ERROR"))
        .collect();
    assert!(bad.is_empty(), "{bad:#?}");
    node.shutdown();
}

#[test]
fn a_node_starts_a_lua_script_named_by_start() {
    let text = format!(
        "thread = 2\nstart = \"main_quit a b\"\nluaservice = \"{0}/?.lua\"\nlua_path = \"{0}/?.lua\"\n",
        lua_dir()
    );
    let log = LogCapture::new();
    let builder = skynet_services::register_standard(Node::builder()).logger(log.logger());
    skynet_services::run_with(builder, Config::parse(&text, None).unwrap()).expect("runs");
    assert!(
        log.wait_for(&["lua main started: a b"], LONG).is_some(),
        "{:#?}",
        log.lines()
    );
}
